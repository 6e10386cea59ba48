"""yubico-piv-tool (2.2.0, Debian's) as the client tests run it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TOOL = shutil.which("yubico-piv-tool") or "/usr/bin/yubico-piv-tool"


def piv_tool(reader: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``yubico-piv-tool -r READER ARGS``; a failure raises with its output (a missing
    tool is a failure, never a skip)."""
    if not Path(TOOL).exists():
        pytest.fail("yubico-piv-tool is not installed")
    result = subprocess.run([TOOL, "-r", reader, *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"yubico-piv-tool {' '.join(args[:4])} failed: {result.stdout}{result.stderr}")
    return result
