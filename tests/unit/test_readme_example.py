"""The README's worked PIV example stays true: its Python program, run against the
virtual card, prints what the README shows, and the CLI commands after it answer as
shown (the lines that do not change from run to run)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
CARDKI = shutil.which("cardki")


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"^#{2,3} ", text[start + len(heading):], re.M)
    return text[start:start + len(heading) + following.start()] if following else text[start:]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_worked_piv_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    text = README.read_text()
    program = _blocks(_section(text, "### PIV administration from Python"), "python")[0]
    transcript = next(block for block in _blocks(_section(text, "## The `cardki` command"), "")
                      if block.startswith("$ python3 example.py"))
    (tmp_path / "example.py").write_text(program)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDKI_")}
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr
    steps: list[tuple[str, list[str]]] = []
    for row in transcript.splitlines():
        if row.startswith("$ "):
            steps.append((row[2:], []))
        else:
            steps[-1][1].append(row)
    assert steps[0][0] == "python3 example.py" and done.stdout.splitlines() == steps[0][1]
    assert CARDKI is not None
    for line, expected in steps[1:]:
        command = re.sub(r"(^|\s)cardki ", rf"\g<1>{CARDKI} ", line, count=1)
        done = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env=env)
        output = [re.sub(r"\d+-byte", "N-byte", row) for row in (done.stdout + done.stderr).splitlines()]
        expected = [re.sub(r"\d+-byte", "N-byte", row) for row in expected]  # a DER ECDSA signature has 70-72
        steady = [row for row in expected if not re.search(r"Serial:|Fingerprint:|Not before:|Not after:|\.\.\.", row)]
        assert all(row in output for row in steady), (line, output)
