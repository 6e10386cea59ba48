"""What a wheel ships: pyproject.toml lists the packages explicitly (profiles/
is mapped into cardki.profiles), so a new subpackage that is not listed is
missing from every installed copy while the editable checkout still works."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_cardki_package_is_in_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    source = ROOT / "src"
    packages = {".".join(init.parent.relative_to(source).parts) for init in (source / "cardki").rglob("__init__.py")}
    assert packages - listed == set()
