"""The public Python API is typed end to end: a user's script passes ``mypy --strict``
(cardki ships py.typed) and does what its types say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cardki

SCRIPT = Path(__file__).parent / "data" / "typed_user_script.py"


def test_a_user_script_passes_mypy_strict() -> None:
    # An editable install hides the package from mypy; point it at the tree the way a
    # wheel's site-packages would be seen. Errors are reported for the script only.
    package_root = str(Path(cardki.__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                           "--no-incremental", str(SCRIPT)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MYPYPATH": package_root})
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_user_script_runs() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARDKI_")}
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
