"""The PKCS#11 library as pip installs it from a wheel, loaded by a real C host.

A wheel is built in one virtualenv and installed into another; the build
environment stays on disk with a marker in its site-packages that records
every interpreter that processes that directory. pkcs11-tool then loads the
installed library: it must run cardki from the install environment and never
touch the build environment (the library used to bake the build
environment's site-packages into itself and add it to every host's sys.path),
and its interpreter runs no .pth file (site.main() is not run: sys.path is set
directly), so a marker .pth in the install environment stays silent too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hosts import module_env

REPO = Path(__file__).resolve().parents[2]
PKCS11_TOOL = "/usr/bin/pkcs11-tool"
# What a wheel is built from (the rest of the checkout is tests and tooling).
SOURCES = ("pyproject.toml", "setup.py", "README.md", "src/cardki", "profiles", "hw-sim/hwsim")


def _run(*argv: object, **options: object) -> subprocess.CompletedProcess:
    done = subprocess.run([str(arg) for arg in argv], capture_output=True, text=True, timeout=300,
                          **options)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


def _venv(path: Path) -> Path:
    """A virtualenv without pip of its own (the base interpreter's pip and setuptools serve it)."""
    _run(sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", path)
    return path / "bin" / "python"


def _site_packages(python: Path) -> Path:
    return Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])").stdout.strip())


def _copy_sources(target: Path) -> Path:
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.so", "*.egg-info"))
        else:
            target.joinpath(name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_an_installed_wheel_imports_from_where_it_is_installed_only(tmp_path: Path) -> None:
    if not Path(PKCS11_TOOL).exists():
        pytest.fail(f"{PKCS11_TOOL} is not installed")
    build_python = _venv(tmp_path / "build-env")
    install_python = _venv(tmp_path / "install-env")
    source = _copy_sources(tmp_path / "source")
    _run(build_python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp_path / "dist", source)
    wheel = next((tmp_path / "dist").glob("cardki-*.whl"))
    _run(install_python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel)

    # The marker: a .pth line runs whenever site processing reaches the build environment.
    touched = tmp_path / "build-env-was-imported"
    build_site = _site_packages(build_python)
    (build_site / "cardki_build_env_marker.py").write_text(
        f"open({str(touched)!r}, 'a').write('imported\\n')\n")
    (build_site / "cardki_build_env_marker.pth").write_text("import cardki_build_env_marker\n")
    _run(build_python, "-c", "pass")
    assert touched.exists(), "the marker must work (the build environment's own Python runs it)"
    touched.unlink()

    install_site = _site_packages(install_python)
    module = next((install_site / "cardki" / "capi").glob("_cardki_pkcs11*.so"))
    # The library's interpreter runs no .pth file at all, not even the install environment's.
    install_touched = tmp_path / "install-env-pth-ran"
    (install_site / "cardki_install_env_marker.py").write_text(
        f"open({str(install_touched)!r}, 'a').write('imported\\n')\n")
    (install_site / "cardki_install_env_marker.pth").write_text("import cardki_install_env_marker\n")
    log = tmp_path / "module.log"
    env = module_env(virtual_only=True, CARDKI_LOG="debug", CARDKI_LOG_FILE=str(log))
    listed = _run(PKCS11_TOOL, "--module", module, "-L", env=env, cwd=tmp_path)
    assert "cardki virtual card" in listed.stdout, listed.stdout
    assert listed.stderr == ""
    assert not touched.exists(), "a host of the installed library processed the build environment"
    assert not install_touched.exists(), "the library's interpreter ran a .pth file"
    loaded_from = re.search(r"cardki \S+ from (\S+), virtual", log.read_text())
    assert loaded_from is not None, log.read_text()
    assert Path(loaded_from.group(1)) == install_site / "cardki"
