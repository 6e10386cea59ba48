"""Card profiles: what a card type can do, kept as data in ``profiles/*.toml``.

Vendor differences (algorithms per firmware, PIN limits, which commands exist,
how logout works, where a card departs from its spec) live in the TOML files, so
token code asks a profile instead of testing vendor names.

Every file has the same header, read here: ``[profile]`` (``id``, ``applet``,
``aid``, ``label``, ``manufacturer``, ``model``, ``priority``, ``extends``,
``also_carries``) and ``[match]`` (``probe``: how detection tells the profile's
cards apart; ``atrs``: ATRs that name the profile's cards without the probe, each
with the lowest firmware it implies). The rest belongs to the applet's driver: its schema (which tables
and keys it reads, how it resolves ``[[firmware]]`` ranges) sits in the driver's
folder (:mod:`cardki.token.piv.profile`, :mod:`cardki.token.openpgp.profile`), and
the driver registry (:mod:`cardki.token.registry`) says which schema an
``applet`` names.

A profile may ``extends`` another one of its applet: tables are merged key by key
(the child wins); the applet's schema says what else is inherited. ``[[firmware]]``
ranges apply in order to every version at or above their ``from``; the applet's
profile resolves them for the card at hand (``for_firmware``).

Each file is checked against the header and its applet's schema when loaded: a
key cardki does not know, a feature or quirk it does not read, or a value of the
wrong kind is a :class:`ProfileError` naming the file and the key, never a setting
silently ignored.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, List, Mapping, Protocol, Tuple, TypeVar

from . import profile_cache
from .base import SlotRecord

if TYPE_CHECKING:
    from .openpgp.profile import OpenPgpProfile
    from .piv.profile import PivProfile

Version = Tuple[int, int, int]
_Profile = TypeVar("_Profile", bound="ProfileHeader")
PROFILE_PACKAGE = "cardki.profiles"


class ProfileError(ValueError):
    """A profile file is missing or malformed."""


class Probe(StrEnum):
    """How detection tells this profile's cards from others once the applet answers SELECT."""

    NONE = "none"                 # any card with the applet
    GET_VERSION = "get_version"   # YubiKey: Yubico's GET VERSION answers (the firmware version)


#: The header every profile file has, whatever its applet.
HEADER_TABLES: Dict[str, FrozenSet[str]] = {
    "profile": frozenset({"id", "extends", "applet", "aid", "label", "manufacturer", "model", "priority",
                          "also_carries"}),
    "match": frozenset({"probe", "atrs"}),
}
_ATR_KEYS = frozenset({"atr", "firmware"})


class ProfileHeader(SlotRecord):
    """The part of a profile every applet has; each applet's profile extends it.

    Profiles are frozen values (:class:`~.base.SlotRecord` s): each class lists its
    fields in ``__slots__`` and takes them as keywords; :meth:`replace` copies one with
    some changed; the repr leaves out the unresolved firmware rules."""

    __slots__ = ("id", "applet", "aid", "label", "manufacturer", "model", "priority", "probe", "also_carries",
                 "atrs")

    id: str
    applet: str
    aid: bytes
    label: str
    manufacturer: str
    model: str
    priority: int
    probe: Probe
    also_carries: Tuple[str, ...]
    """Profiles of further applets every card this profile matches carries (a YubiKey's
    PIV: its OpenPGP application). Their tokens open without a probe of their own,
    with this profile's facts (firmware version, serial)."""
    atrs: Dict[bytes, Version]
    """ATRs that name this profile's cards without the probe, each with the lowest
    firmware version a card answering with it has (``[match] atrs``)."""

    def __init__(self, *, id: str, applet: str, aid: bytes, label: str, manufacturer: str,  # noqa: A002
                 model: str, priority: int, probe: Probe, also_carries: Tuple[str, ...],
                 atrs: Dict[bytes, Version] | None = None) -> None:
        self._set(id=id, applet=applet, aid=aid, label=label, manufacturer=manufacturer, model=model,
                  priority=priority, probe=probe, also_carries=also_carries, atrs=dict(atrs or {}))

    def firmware_floor(self, atr: bytes) -> Version | None:
        """The lowest firmware a card with this ATR has, if the ATR names this profile's cards."""
        return self.atrs.get(bytes(atr))

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def replace(self: _Profile, **changes: Any) -> _Profile:
        """A copy with ``changes`` (field names as keywords)."""
        return type(self)(**{**self.values(), **changes})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.values().items() if name != "firmware_rules")
        return f"{type(self).__name__}({shown})"

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> Dict[str, Any]:
        """The header's fields from a merged profile file, as keyword arguments."""
        head = raw["profile"]
        return dict(
            id=str(head["id"]), applet=str(head["applet"]), aid=bytes.fromhex(head["aid"]),
            label=str(head.get("label", "")), manufacturer=str(head.get("manufacturer", "")),
            model=str(head.get("model", "")), priority=int(head.get("priority", 0)),
            probe=Probe(raw.get("match", {}).get("probe", "none")),
            also_carries=tuple(str(name) for name in head.get("also_carries", ())),
            atrs=_read_atrs(head["id"], raw.get("match", {}).get("atrs", [])),
        )


def _read_atrs(name: str, entries: Any) -> Dict[bytes, Version]:
    """``[match] atrs``: a list of ``{ atr = "<hex>", firmware = "<version>" }``."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProfileError(f"profile {name!r}: [match] atrs is a list of {{ atr, firmware }} tables")
    atrs: Dict[bytes, Version] = {}
    for entry in entries:
        if set(entry) != _ATR_KEYS:
            raise ProfileError(f"profile {name!r}: [match] atrs entries have exactly the keys atr and firmware")
        try:
            atrs[bytes.fromhex(str(entry["atr"]))] = parse_version(str(entry["firmware"]))
        except (ValueError, IndexError) as exc:
            raise ProfileError(f"profile {name!r}: [match] atrs entry {entry!r} is malformed") from exc
    return atrs


class ProfileSchema(Protocol):
    """What an applet's driver says about its part of a profile file."""

    applet: str
    tables: Mapping[str, FrozenSet[str] | None]
    """Its tables (besides the header) and their keys; None: a list of tables, whose
    keys :attr:`list_keys` gives. ``match`` adds to the header's ``[match]``."""
    list_keys: Mapping[str, FrozenSet[str]]

    def check_entry(self, name: str, table: str, entry: Mapping[str, Any]) -> None:
        """ProfileError for a value the applet does not allow (the keys are checked already)."""

    def merge_child(self, base: Dict[str, Any], child: Dict[str, Any]) -> Dict[str, Any]:
        """``child`` over its parent ``base``: :func:`merge`, plus what the applet
        inherits its own way."""

    def build(self, name: str, raw: Dict[str, Any]) -> PivProfile | OpenPgpProfile:
        """The applet's profile from the merged file (KeyError/TypeError/ValueError
        for a value of the wrong kind: the loader names the file)."""


def _applets() -> List[str]:
    """Every applet with a driver, in the registry's order (imported here, at the first
    load: the drivers' modules import this one)."""
    from .registry import DRIVERS

    return [driver.applet for driver in DRIVERS]


@cache
def _schema(applet: str) -> ProfileSchema:
    """The schema of ``applet`` (one of :func:`_applets`), loaded by its driver when a
    profile of the applet is first read."""
    from .registry import DRIVERS

    return next(driver for driver in DRIVERS if driver.applet == applet).load_schema()


def parse_version(text: str) -> Version:
    parts = [int(p) for p in str(text).split(".")]
    parts += [0] * (3 - len(parts))
    return (parts[0], parts[1], parts[2])


def applies(rule: Mapping[str, Any], version: Version | None) -> bool:
    """Whether a ``[[firmware]]`` range covers ``version`` (None: no version known, none does)."""
    return version is not None and version >= parse_version(rule["from"])


def merge(base: Dict[str, Any], child: Dict[str, Any]) -> Dict[str, Any]:
    """``child`` over ``base``: tables key by key, everything else replaced; the
    parent's ``[[firmware]]`` ranges are not inherited (a child lists its own)."""
    merged = {key: value for key, value in base.items() if key != "firmware"}
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _check_schema(name: str, raw: Dict[str, Any], applet: str | None = None) -> None:
    """ProfileError for any table or key the header and the applet's schema do not
    know. ``applet``: the file's, once known (a file that ``extends`` another may
    leave it to its parent); without one, a table passes if some applet has it."""
    applets = _applets()
    applet = applet or raw.get("profile", {}).get("applet")
    if applet is not None and applet not in applets:
        raise ProfileError(f"profile {name!r}: no driver for applet {applet!r} (known: {sorted(applets)})")
    chosen = [_schema(applet)] if applet is not None else [_schema(known) for known in applets]
    for table, value in raw.items():
        keys: FrozenSet[str] | None
        owners = [schema for schema in chosen if table in schema.tables]
        if table in HEADER_TABLES:
            keys = HEADER_TABLES[table].union(*(schema.tables[table] or () for schema in owners))
        elif owners:
            keys = None if owners[0].tables[table] is None else frozenset().union(
                *(schema.tables[table] or () for schema in owners))
        else:
            raise ProfileError(f"profile {name!r}: unknown table [{table}]")
        entries = [value] if keys is not None else value
        if keys is None:
            keys = frozenset().union(*(schema.list_keys[table] for schema in owners))
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ProfileError(f"profile {name!r}: [{table}] has the wrong shape")
        for entry in entries:
            unknown = set(entry) - keys
            if unknown:
                raise ProfileError(f"profile {name!r}: unknown key(s) {sorted(unknown)} in [{table}]")
            for schema in owners:
                schema.check_entry(name, table, entry)


@cache
def _profile_directory() -> str:
    """Where the profile files are: the directory of the cardki.profiles package (a
    directory in a checkout and in a wheel alike; importlib.resources would find it too,
    at ~9 ms of imports, pathlib and tempfile among them, at every card's first use)."""
    import importlib

    try:
        package = importlib.import_module(PROFILE_PACKAGE)
    except ModuleNotFoundError as exc:
        raise ProfileError(f"the profile package {PROFILE_PACKAGE} is missing") from exc
    return list(package.__path__)[0]


def _read_file(name: str) -> Dict[str, Any]:
    if os.sep in name or (os.altsep and os.altsep in name) or name.startswith("."):
        raise ProfileError(f"no profile named {name!r}")
    path = os.path.join(_profile_directory(), f"{name}.toml")
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as exc:
        raise ProfileError(f"no profile named {name!r}") from exc
    return profile_cache.parsed(path, text, lambda text: _parse(name, text))


def _parse(name: str, text: str) -> Dict[str, Any]:
    """The file's tables (tomllib is imported here: kept entries need none, see profile_cache)."""
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {name!r}: {exc}") from exc


@cache
def _read_raw(name: str) -> Dict[str, Any]:
    """The file with its ``extends`` chain merged in, checked against its applet's schema
    (once per process: a parent is read for itself and for each child; the schemas'
    ``merge_child`` and ``build`` only read it)."""
    raw = _read_file(name)
    parent = raw.get("profile", {}).get("extends")
    if not parent:
        _check_schema(name, raw)
        return raw
    base = _read_raw(parent)
    applet = base["profile"]["applet"]
    if raw.get("profile", {}).get("applet", applet) != applet:
        raise ProfileError(f"profile {name!r} extends {parent!r}, a profile of another applet")
    _check_schema(name, raw, applet)
    return _schema(applet).merge_child(base, raw)


@cache
def load_profile(name: str) -> PivProfile | OpenPgpProfile:
    """Load ``profiles/<name>.toml`` (with its ``extends`` chain), unresolved: the
    applet's profile type (``for_firmware`` resolves it for one card)."""
    raw = _read_raw(name)
    try:
        return _schema(raw["profile"]["applet"]).build(name, raw)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(f"profile {name!r} is malformed: {exc!r}") from exc


@cache
def _declared_applet(name: str) -> str | None:
    """The applet profile ``name``'s file (or the file it ``extends``) names, from the
    parsed tables alone (None: none named, or a file that cannot be read; loading the
    profile then says what is wrong)."""
    seen = set()
    while name not in seen:
        seen.add(name)
        try:
            head = _read_file(name).get("profile", {})
        except ProfileError:
            return None
        applet, parent = (head.get("applet"), head.get("extends")) if isinstance(head, dict) else (None, None)
        if isinstance(applet, str):
            return applet
        if not isinstance(parent, str):
            return None
        name = parent
    return None


def profile_applet(name: str) -> str:
    """The applet of profile ``name``, without building the profile (another applet's
    profile names it in ``also_carries``: its driver loads it when its token is used)."""
    return _declared_applet(name) or load_profile(name).applet


def available_profiles() -> List[str]:
    """Names of every shipped profile file."""
    return sorted(entry[:-5] for entry in os.listdir(_profile_directory()) if entry.endswith(".toml"))


def candidates(applet: str | None = None) -> List[PivProfile | OpenPgpProfile]:
    """Profiles to try during detection: by applet in the registry's order (PIV before
    OpenPGP), then most specific (highest priority) first. Only ``applet``'s files are
    built (by the applet their header names), so PIV detection loads no OpenPGP profile."""
    order = {name: index for index, name in enumerate(_applets())}
    names = available_profiles()
    if applet is not None:
        names = [name for name in names if _declared_applet(name) in (applet, None)]
    profiles = [load_profile(name) for name in names]
    if applet is not None:
        profiles = [p for p in profiles if p.applet == applet]
    return sorted(profiles, key=lambda p: (order.get(p.applet, len(order)), -p.priority, p.id))


__all__ = ["HEADER_TABLES", "Probe", "ProfileError", "ProfileHeader", "ProfileSchema", "Version",
           "applies", "available_profiles", "candidates", "load_profile", "merge", "parse_version", "profile_applet"]
