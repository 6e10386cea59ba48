"""Layers that point one way: what each part of cardki may import, read from the
source (every import statement, top-level, deferred or TYPE_CHECKING-only).

From the bottom: the spec's constants and errors, DER, curves and digests are
leaves; the card seam (transport) needs nothing; the APDU layer needs only the
seam; tokens speak APDUs; the slot layer (pyscard) implements the seam; the
engine sees tokens and slots only through their interfaces; the virtual card
policy is the one module that knows the simulator; the Python API, the CLI and
the C layer sit on top."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, Tuple

import cardki

SRC = Path(cardki.__file__).resolve().parent

LEAVES = frozenset({"cardki.constants", "cardki.errors", "cardki.der", "cardki.curves", "cardki.digests",
                    "cardki.spki", "cardki.certificate", "cardki.log"})

#: What every part may import, as it may import typing: typing.NamedTuple's class syntax
#: made cheaper (each host start makes some thirty of them), itself importing nothing of cardki.
EVERYWHERE = frozenset({"cardki.named_tuple"})

#: part (module or package) -> the parts of cardki it may import (besides itself).
ALLOWED: Dict[str, FrozenSet[str]] = {
    "cardki.named_tuple": frozenset(),
    "cardki.constants": frozenset(),
    "cardki.der": frozenset(),
    # reading a card's certificate: its DER reader uses cardki.der's, its key cardki.spki
    "cardki.certificate": frozenset({"cardki.der", "cardki.spki"}),
    # public keys to and from SubjectPublicKeyInfo without cryptography's serialization
    "cardki.spki": frozenset({"cardki.der", "cardki.curves"}),
    "cardki.transport": frozenset(),
    # the loggers that load logging only when someone can listen: usable from every layer
    "cardki.log": frozenset(),
    "cardki.errors": frozenset({"cardki.constants"}),
    "cardki.digests": frozenset({"cardki.constants"}),
    "cardki.curves": frozenset({"cardki.der"}),
    "cardki.uri": frozenset(),  # RFC 7512 parsing: text in, values out
    # certificates and requests the host builds and a card key signs (through a callable)
    "cardki.card_x509": frozenset({"cardki.der"}),
    "cardki.apdu": frozenset({"cardki.transport", "cardki.der", "cardki.log"}),
    "cardki.token": LEAVES | {"cardki.apdu", "cardki.transport", "cardki.profiles"},
    "cardki.slot": frozenset({"cardki.transport"}),
    # the engine: tokens by their interface (and open_tokens as the default factory, imported
    # at the first card); its default slot source comes from the virtual card policy
    "cardki.cryptoki": LEAVES | {"cardki.transport", "cardki.token.base", "cardki.token.open_tokens",
                                 "cardki.virtual"},
    "cardki.virtual": frozenset({"cardki.slot", "cardki.cryptoki.ports", "cardki.log"}),
}
#: The parts on top may use everything below (but not the simulator: see the last test).
TOP = ("cardki.api", "cardki.api_objects", "cardki.api_piv", "cardki.api_util", "cardki.cli", "cardki.cli_common",
       "cardki.cli_piv", "cardki.capi", "cardki")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports() -> Iterator[Tuple[str, str]]:
    """(importing module, imported module) for every import in cardki's source."""
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                # "from cardki import errors" imports cardki.errors; "from x.y import Z", x.y
                names = [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                yield module, name


def _part(module: str) -> str | None:
    """The entry of ALLOWED a module belongs to (the longest prefix)."""
    found = [part for part in ALLOWED if module == part or module.startswith(part + ".")]
    return max(found, key=len) if found else None


def _within(name: str, parts: FrozenSet[str]) -> bool:
    return any(name == part or name.startswith(part + ".") for part in parts)


def test_every_import_points_down() -> None:
    wrong = []
    for module, name in imports():
        if not name.startswith("cardki"):
            continue
        part = _part(module)
        if part is None:
            assert module.startswith(TOP), f"{module} belongs to no layer: add it to ALLOWED or TOP"
            continue
        if _within(name, frozenset({part})) or _within(name, ALLOWED[part] | EVERYWHERE):
            continue
        wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_only_the_virtual_card_policy_knows_the_simulator() -> None:
    knowing = sorted({module for module, name in imports() if name == "hwsim" or name.startswith("hwsim.")})
    assert knowing == ["cardki.virtual"]


def test_pyscard_lives_in_the_slot_layer_alone() -> None:
    using = sorted({module for module, name in imports() if name.split(".")[0] == "smartcard"})
    assert using and all(module.startswith("cardki.slot.") for module in using), using
