"""The two ykman releases tests/clients run against the virtual cards:
Debian's 4.0.9 (/usr/bin/ykman) and ykman 5 from PyPI, which hw-sim/bootstrap
installs into a venv named by the hash of ykman5-requirements.txt."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest

REQUIREMENTS = Path(__file__).with_name("ykman5-requirements.txt")
YKMAN4 = shutil.which("ykman", path="/usr/bin") or "/usr/bin/ykman"


def ykman5_venv() -> Path:
    """Where hw-sim/bootstrap puts ykman 5 (the same path its shell code computes)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    return Path("/usr/local/lib/cardki") / f"ykman5-{digest}"


def ykman5() -> str:
    venv = ykman5_venv()
    if not (venv / ".installed").is_file():
        pytest.fail(f"ykman 5 is not installed in {venv}: run hw-sim/bootstrap")
    return str(venv / "bin" / "ykman")


def ykman4() -> str:
    if not Path(YKMAN4).exists():
        pytest.fail("ykman 4 is not installed (apt-get install yubikey-manager)")
    return YKMAN4


RELEASES = ("4", "5")
"""Parametrize client tests with these; ``executable(release)`` gives the program."""


def executable(release: str) -> str:
    return {"4": ykman4, "5": ykman5}[release]()


def run(release: str, reader: str, *args: str, check: bool = True, timeout: float = 120,
        env: Dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``ykman --reader READER ARGS`` of that release; a failure raises with its output."""
    result = subprocess.run([executable(release), "--reader", reader, *args], capture_output=True, text=True,
                            timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"ykman {release} {' '.join(args[:3])} failed: {result.stdout}{result.stderr}")
    return result


@pytest.fixture(params=RELEASES, ids=lambda release: f"ykman{release}")
def release(request: pytest.FixtureRequest) -> str:
    """Parametrizes a test over ykman 4 and ykman 5 (import it into the test module)."""
    return str(request.param)


def words(text: str) -> str:
    """``text`` with every run of white space made one blank: the releases
    align their tables differently (4: "Key: value", 5: "Key:    value")."""
    return " ".join(text.split())
