"""cardki.constants builds its enums with CPython's fast helper (enum._simple_enum),
and cardki.token.piv.constants its own: each must be the enum that subclassing
IntEnum / IntFlag makes from the same class body, as the standard library's own
_test_simple_enum checks member by member."""

from __future__ import annotations

import enum
import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Tuple

import pytest

MODULES = ("cardki.constants", "cardki.token.piv.constants")


def _names(module: ModuleType) -> List[str]:
    source = Path(module.__file__ or "").read_text(encoding="utf-8")
    return re.findall(r"^@built_as\(Int(?:Enum|Flag)\)\nclass (\w+)\(", source, flags=re.M)


def _checked(module: ModuleType) -> dict:
    """The module's enums built the usual way: each ``@built_as(IntEnum)`` class
    body as a subclass of IntEnum (IntFlag likewise)."""
    source = Path(module.__file__ or "").read_text(encoding="utf-8")
    source = re.sub(r"^@built_as\((Int(?:Enum|Flag))\)\nclass (\w+)\(Int(?:Enum|Flag)Body\):", r"class \2(\1):",
                    source, flags=re.M)
    namespace: dict = {"__name__": module.__name__}
    exec(compile(source, module.__file__ or "", "exec"), namespace)  # noqa: S102 - the module's own source
    return namespace


LOADED = {name: importlib.import_module(name) for name in MODULES}
CHECKED: Dict[str, dict] = {name: _checked(module) for name, module in LOADED.items()}
ENUMS: List[Tuple[str, str]] = [(module, name) for module in MODULES for name in _names(LOADED[module])]


def test_every_enum_of_the_modules_is_built_the_fast_way() -> None:
    names = _names(LOADED["cardki.constants"])
    assert len(names) == 20 and {"CKR", "CKA", "CKM", "TokenFlag", "MechanismFlag"} <= set(names)
    piv = _names(LOADED["cardki.token.piv.constants"])
    assert len(piv) == 11 and {"Ins", "PivAlgorithm", "PinPolicy", "DataObject"} <= set(piv)
    for module, name in ENUMS:
        assert isinstance(getattr(LOADED[module], name), enum.EnumType), name
    source = Path(LOADED["cardki.token.piv.constants"].__file__ or "").read_text(encoding="utf-8")
    assert not re.search(r"^class \w+\(IntEnum\)", source, flags=re.M)  # none built the slow way


@pytest.mark.parametrize("module, name", ENUMS)
def test_the_fast_enum_is_the_subclassed_one(module: str, name: str) -> None:
    simple, checked = getattr(LOADED[module], name), CHECKED[module][name]
    assert issubclass(checked, (enum.IntEnum, enum.IntFlag)) and type(simple) is type(checked)
    for attribute, value in vars(checked).items():  # a method is the same code, compiled twice
        made = vars(simple).get(attribute)
        if isinstance(value, classmethod) and isinstance(made, classmethod):
            assert made.__func__.__code__.co_code == value.__func__.__code__.co_code, attribute
            type.__setattr__(checked, attribute, made)
    enum._test_simple_enum(checked, simple)  # raises TypeError listing any difference
    assert [(m.name, int(m)) for m in simple] == [(m.name, int(m)) for m in checked]
    assert {name: int(value) for name, value in simple.__members__.items()} == \
        {name: int(value) for name, value in checked.__members__.items()}  # aliases too
    # each member is reached the way the metaclass makes it reachable (in the class itself,
    # unless a base class has the name): _test_simple_enum leaves members' entries out
    for member_name in checked.__members__:
        assert isinstance(simple.__dict__[member_name], enum.Enum) == \
            isinstance(checked.__dict__[member_name], enum.Enum), member_name


def test_methods_and_properties_of_the_piv_enums_work() -> None:
    from cardki.token.piv.constants import ManagementKeyAlgorithm, PinPolicy, PivAlgorithm, TouchPolicy

    assert PivAlgorithm.known(0x11) is PivAlgorithm.ECCP256 and PivAlgorithm.known(0x99) is None
    assert PinPolicy.from_card(9) is PinPolicy.DEFAULT and TouchPolicy.from_card(9) is TouchPolicy.ALWAYS
    assert (ManagementKeyAlgorithm.AES192.key_length, ManagementKeyAlgorithm.TDES.block_length) == (24, 8)
