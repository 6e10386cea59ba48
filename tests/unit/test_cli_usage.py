"""The ``cardki`` console script's contract with its user, run for real in a
subprocess: version, usage errors (exit 2), one-line errors (exit 1), no
traceback unless --debug."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import List

import pytest

import cardki

CARDKI = shutil.which("cardki")


def run(args: List[str], **kwargs: object) -> subprocess.CompletedProcess:
    assert CARDKI is not None, "the cardki console script is not installed (pip install -e .)"
    env = dict(os.environ)
    env.pop("CARDKI_PIN", None)
    env.update(kwargs.pop("env", {}) or {})  # type: ignore[arg-type]
    return subprocess.run([CARDKI, *args], capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]


def test_version_prints_the_package_version() -> None:
    result = run(["--version"])
    assert result.returncode == 0
    assert result.stdout.strip() == f"cardki {cardki.__version__}"


def test_help_lists_every_command() -> None:
    result = run(["--help"])
    assert result.returncode == 0
    for command in ("slots", "token", "objects", "mechanisms", "sign", "module-path", "p11kit-module"):
        assert command in result.stdout


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["sign", "--in", "x", "--out", "y"],                      # --key-id missing
    ["sign", "--key-id", "zz", "--in", "x", "--out", "y"],    # not hex
    ["sign", "--key-id", "01", "--in", "x", "--out", "y", "--mechanism", "NOPE"],
    ["--log-level", "loud"],
    ["token", "--slot", "one"],
])
def test_usage_errors_exit_2_without_traceback(args: List[str]) -> None:
    result = run(args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert re.search(r"^cardki( [a-z-]+)?: error: ", result.stderr, re.M)


def test_unknown_mechanism_is_named_in_the_usage_error() -> None:
    result = run(["sign", "--key-id", "01", "--in", "x", "--out", "y", "--mechanism", "NOPE"])
    assert "argument --mechanism: unknown mechanism" in result.stderr
    assert "NOPE" not in result.stderr


SECRET = "7654321"  # a PIN, say, typed where it does not belong


@pytest.mark.parametrize("args, where", [
    (["--virtual", "--pin", SECRET, "objects", "--login"], "argument COMMAND: invalid choice: [argument 3]"),
    (["objects", "--login", SECRET], "unrecognized arguments: [argument 3]"),
    (["objects", f"--login={SECRET}"], "argument --login: ignored explicit argument [argument 2]"),
    ([f"--pi={SECRET}", "slots"], "unrecognized arguments: [argument 1]"),
    (["token", "--slot", SECRET + "x"], "argument --slot: invalid int value: [argument 3]"),
    (["--log-level", SECRET], "argument --log-level: invalid choice: [argument 2]"),
    (["sign", "--key-id", SECRET + "zz", "--in", "x", "--out", "y"], "argument --key-id: not a hex key ID"),
    ([f"-h{SECRET}"], "argument -h/--help: ignored explicit argument [argument 1]"),
])
def test_usage_errors_never_repeat_a_value_from_the_command_line(args: List[str], where: str) -> None:
    result = run(args)
    assert result.returncode == 2
    assert SECRET not in result.stdout + result.stderr
    assert where in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_output_into_a_pipe_that_closed_ends_quietly() -> None:
    """`cardki --virtual | head -3` with the reader gone before cardki writes: no
    BrokenPipeError traceback, and the status a shell reports for SIGPIPE."""
    assert CARDKI is not None
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run([CARDKI, "--virtual"], stdout=write_end, stderr=subprocess.PIPE, text=True,
                                timeout=120, stdin=subprocess.DEVNULL)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141


def test_output_into_head_ends_quietly() -> None:
    if shutil.which("head") is None:
        pytest.fail("head is not installed")
    result = subprocess.run(f"set -o pipefail; {CARDKI} --virtual | head -1", shell=True, executable="/bin/bash",
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("cardki ") and len(result.stdout.splitlines()) == 1
    assert result.stderr == ""
    assert result.returncode in (0, 141)


def test_module_path_prints_one_line() -> None:
    """Either the absolute path of the built module (exit 0) or one error line (exit 1)."""
    result = run(["module-path"])
    assert "Traceback" not in result.stderr
    if result.returncode == 0:
        line = result.stdout.strip()
        assert os.path.isabs(line) and "\n" not in line
        assert os.path.exists(line)
    else:
        assert result.returncode == 1
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith("cardki: error: ") and "not built" in result.stderr


def test_p11kit_module_file_names_the_module_or_says_it_is_not_built() -> None:
    result = run(["p11kit-module"])
    assert "Traceback" not in result.stderr
    if result.returncode == 0:
        assert "module:" in result.stdout
    else:
        assert result.returncode == 1
        assert len(result.stderr.strip().splitlines()) == 1


def test_sign_with_a_missing_input_file_is_one_line(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(str(tmp_path), "absent.bin")
    result = run(["--virtual", "sign", "--key-id", "01", "--in", missing, "--out",
                  os.path.join(str(tmp_path), "sig")])
    assert result.returncode == 1
    assert result.stderr.strip() == f"cardki: error: cannot read {missing}: No such file or directory"


def test_running_as_a_module_works_too() -> None:
    result = subprocess.run([sys.executable, "-m", "cardki.cli", "--version"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("cardki ")
