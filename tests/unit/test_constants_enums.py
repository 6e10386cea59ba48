"""cardki.constants builds its enums with CPython's fast helper (enum._simple_enum):
each must be the enum that subclassing IntEnum / IntFlag makes from the same class
body, as the standard library's own _test_simple_enum checks member by member."""

from __future__ import annotations

import enum
import re
from pathlib import Path

import pytest

import cardki.constants as constants

SOURCE = Path(constants.__file__).read_text(encoding="utf-8")
NAMES = re.findall(r"^@_built_as\(Int(?:Enum|Flag)\)\nclass (\w+)\(", SOURCE, flags=re.M)


def _checked() -> dict:
    """The module's enums built the usual way: each ``@_built_as(IntEnum)`` class
    body as a subclass of IntEnum (IntFlag likewise)."""
    source = re.sub(r"^@_built_as\((Int(?:Enum|Flag))\)\nclass (\w+)\(_Int(?:Enum|Flag)\):", r"class \2(\1):",
                    SOURCE, flags=re.M)
    namespace: dict = {"__name__": constants.__name__}
    exec(compile(source, constants.__file__, "exec"), namespace)  # noqa: S102 - the module's own source
    return namespace


CHECKED = _checked()


def test_every_enum_of_the_module_is_built_the_fast_way() -> None:
    assert len(NAMES) == 20 and {"CKR", "CKA", "CKM", "TokenFlag", "MechanismFlag"} <= set(NAMES)
    assert all(isinstance(getattr(constants, name), enum.EnumType) for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_the_fast_enum_is_the_subclassed_one(name: str) -> None:
    simple, checked = getattr(constants, name), CHECKED[name]
    assert issubclass(checked, (enum.IntEnum, enum.IntFlag)) and type(simple) is type(checked)
    enum._test_simple_enum(checked, simple)  # raises TypeError listing any difference
    assert [(m.name, int(m)) for m in simple] == [(m.name, int(m)) for m in checked]
    assert {name: int(value) for name, value in simple.__members__.items()} == \
        {name: int(value) for name, value in checked.__members__.items()}  # aliases too
    # each member is reached the way the metaclass makes it reachable (in the class itself,
    # unless a base class has the name): _test_simple_enum leaves members' entries out
    for member_name in checked.__members__:
        assert isinstance(simple.__dict__[member_name], enum.Enum) == \
            isinstance(checked.__dict__[member_name], enum.Enum), member_name
