"""Card profiles: what a card type can do, kept as data in ``profiles/*.toml``.

Vendor differences (algorithms per firmware, management key types, PIN
limits, which commands exist, how logout works) live in the TOML files, so the
PIV token code asks a :class:`Profile` instead of testing vendor names.

A profile may ``extends`` another one: tables are merged key by key (the
child wins), ``slots`` and ``data_objects`` are inherited, ``extra_slots`` are
appended. ``[[firmware]]`` ranges apply in order to every version at or above
their ``from``; :meth:`Profile.for_firmware` resolves them into one flat
profile for the card at hand.

The files are checked against one schema (:data:`_SCHEMA`) when loaded: a key
cardki does not know, a feature or quirk it does not read, or a value of the
wrong kind is a :class:`ProfileError` naming the file and the key, never a
setting silently ignored.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Dict, FrozenSet, List, Tuple

from .piv.constants import PinPolicy, PivAlgorithm

Version = Tuple[int, int, int]
PROFILE_PACKAGE = "cardki.profiles"

#: PIV algorithm identifiers by the names profiles use (SP 800-78-4 table 6-2 plus Yubico's E0/E1).
PIV_ALGORITHMS: Dict[str, int] = {a.name: int(a) for a in PivAlgorithm}


DEFAULT_LABELS = {
    "private_key": "{slot}",
    "public_key": "{slot}",
    "certificate": "{slot}",
    # Not the slot's name: clients that pair a key with "the" certificate of its
    # id or label must never take the attestation (yubico-piv-tool#449).
    "attestation": "Attestation of {slot}",
}


class ProfileError(ValueError):
    """A profile file is missing or malformed."""


class Probe(StrEnum):
    """How detection tells this profile's cards from others once the applet answers SELECT."""

    NONE = "none"                 # any card with the applet
    GET_VERSION = "get_version"   # YubiKey: the GET VERSION instruction answers


@dataclass(frozen=True)
class PivFeatures:
    """What the card can do beyond SP 800-73-4 (set per firmware range)."""

    metadata: bool = False       # GET METADATA: key algorithm, PIN policy, origin, PIN tries
    attestation: bool = False    # ATTEST and the F9 attestation slot
    move_delete: bool = False    # MOVE/DELETE KEY: keys are destroyable
    serial: bool = False         # GET SERIAL
    key_import: bool = False     # IMPORT ASYMMETRIC KEY (Yubico FE)
    policies: bool = False       # PIN and touch policies in GENERATE / IMPORT (tags AA, AB)
    touch_cached: bool = False   # the touch policy "cached" (15 s)
    set_management_key: bool = False  # SET MANAGEMENT KEY (Yubico FF)
    set_pin_retries: bool = False     # SET PIN RETRIES (Yubico FA)
    reset: bool = False          # RESET (Yubico FB), once PIN and PUK are blocked


@dataclass(frozen=True)
class PivQuirks:
    """How the card differs in the way it speaks."""

    extended_apdus: bool = False  # accepts extended APDUs (an RSA-2048 signature in one exchange)


def _bool_fields(kind: type) -> FrozenSet[str]:
    return frozenset(f.name for f in fields(kind))


_FEATURE_NAMES = _bool_fields(PivFeatures)
_SLOT_KEYS = frozenset({"key", "id", "name", "container", "usage", "pin_policy", "requires"})
#: Every table and key a profile file may have (None: a table of tables, checked below).
_SCHEMA: Dict[str, FrozenSet[str] | None] = {
    "profile": frozenset({"id", "extends", "applet", "aid", "label", "manufacturer", "model", "priority"}),
    "match": frozenset({"probe"}),
    "pin": frozenset({"min", "max", "pad", "verify_reset"}),
    "management_key": frozenset({"default_algorithm", "algorithms", "factory_key"}),
    "features": frozenset({"algorithms"}) | _FEATURE_NAMES,
    "quirks": _bool_fields(PivQuirks),
    "labels": frozenset(DEFAULT_LABELS),
    "data_write": frozenset({"first", "last"}),
    "retired_slots": frozenset({"first_key", "count", "first_id", "first_container", "name", "usage", "pin_policy"}),
    "slots": None, "extra_slots": None, "data_objects": None, "firmware": None,
}
_LIST_KEYS: Dict[str, FrozenSet[str]] = {
    "slots": _SLOT_KEYS, "extra_slots": _SLOT_KEYS,
    "data_objects": frozenset({"name", "tag", "oid", "private", "writable"}),
    "firmware": frozenset({"from", "add_algorithms", "algorithms", "management_key_default",
                           "management_key_algorithms"}) | _FEATURE_NAMES,
}
#: A slot's default PIN policy as the profile writes it.
_PIN_POLICY_BY_NAME = {"never": PinPolicy.NEVER, "once": PinPolicy.ONCE, "always": PinPolicy.ALWAYS}
_PIN_POLICIES = frozenset(_PIN_POLICY_BY_NAME)
_USAGES = frozenset({"sign", "decrypt"})


def _check_schema(name: str, raw: Dict[str, Any]) -> None:
    """ProfileError for any table or key the schema does not know."""
    for table, value in raw.items():
        if table not in _SCHEMA:
            raise ProfileError(f"profile {name!r}: unknown table [{table}]")
        allowed = _SCHEMA[table]
        entries = [value] if allowed is not None else value
        keys = allowed if allowed is not None else _LIST_KEYS[table]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ProfileError(f"profile {name!r}: [{table}] has the wrong shape")
        for entry in entries:
            unknown = set(entry) - keys
            if unknown:
                raise ProfileError(f"profile {name!r}: unknown key(s) {sorted(unknown)} in [{table}]")
            if entry.get("pin_policy", "once") not in _PIN_POLICIES:
                raise ProfileError(f"profile {name!r}: pin_policy must be one of {sorted(_PIN_POLICIES)}")
            if not set(entry.get("usage", ())) <= _USAGES:
                raise ProfileError(f"profile {name!r}: usage may only list {sorted(_USAGES)}")


@dataclass(frozen=True)
class SlotSpec:
    """One PIV key slot and the Cryptoki objects it maps to."""

    key: int  # key reference (9A, 9C, ...)
    id: int  # CKA_ID (one byte)
    name: str  # "PIV Authentication"
    container: int  # certificate container tag (5FC105, ...)
    usage: FrozenSet[str]  # what the card lets the key do: "sign", "decrypt" (key management)
    pin_policy: PinPolicy  # NEVER / ONCE / ALWAYS: the slot's default, used when the card cannot say
    requires: str | None = None  # feature flag the slot needs (e.g. "attestation")

    @property
    def cka_id(self) -> bytes:
        return bytes([self.id])


@dataclass(frozen=True)
class DataObjectSpec:
    """One PIV data object shown as CKO_DATA."""

    name: str
    tag: int
    oid: str
    private: bool
    writable: bool = True  # PUT DATA with the management key replaces it (the discovery object: no)


@dataclass(frozen=True)
class Profile:
    """A card profile, resolved for one firmware version by :meth:`for_firmware`."""

    id: str
    applet: str
    aid: bytes
    label: str
    manufacturer: str
    model: str
    priority: int
    probe: Probe
    pin_min: int
    pin_max: int
    pin_pad: int
    verify_reset: bool
    management_key_default: int
    management_key_algorithms: Tuple[int, ...]
    management_key_factory: bytes | None  # the factory-default key (after a reset), where known
    algorithms: FrozenSet[str]
    features: PivFeatures
    quirks: PivQuirks
    slots: Tuple[SlotSpec, ...]
    data_objects: Tuple[DataObjectSpec, ...]
    labels: Dict[str, str] = field(default_factory=dict)
    #: First and last tag PUT DATA writes (with the management key), inclusive.
    writable_data: Tuple[int, int] = (0x5FC101, 0x5FC123)
    firmware_rules: Tuple[Dict[str, Any], ...] = field(default=(), repr=False)
    firmware: Version | None = None

    def object_label(self, kind: str, slot: SlotSpec) -> str:
        """The label of a key slot's ``kind`` ("private_key", "public_key", "certificate") object."""
        template = self.labels.get(kind) or DEFAULT_LABELS[kind]
        return template.format(slot=slot.name)

    def feature(self, name: str) -> bool:
        """Whether a feature (metadata, attestation, move_delete, serial) is on; a name
        :class:`PivFeatures` does not have is a ProfileError, not False."""
        if name not in _FEATURE_NAMES:
            raise ProfileError(f"no profile feature {name!r}")
        return bool(getattr(self.features, name))

    def supports_algorithm(self, name: str) -> bool:
        return name in self.algorithms

    def algorithm_ids(self) -> FrozenSet[int]:
        return frozenset(PIV_ALGORITHMS[name] for name in self.algorithms)

    def slot(self, key: int) -> SlotSpec | None:
        for spec in self.slots:
            if spec.key == key:
                return spec
        return None

    def data_object(self, tag: int) -> DataObjectSpec | None:
        for spec in self.data_objects:
            if spec.tag == tag:
                return spec
        return None

    def data_object_writable(self, tag: int) -> bool:
        """Whether PUT DATA (with the management key) may replace object ``tag``: a tag
        in the card's writable range that the profile does not call read-only."""
        spec = self.data_object(tag)
        first, last = self.writable_data
        return (spec is None or spec.writable) and first <= tag <= last

    def slot_by_id(self, cka_id: bytes) -> SlotSpec | None:
        for spec in self.slots:
            if spec.cka_id == cka_id:
                return spec
        return None

    def for_firmware(self, version: Version | None) -> Profile:
        """This profile with every ``[[firmware]]`` range at or below ``version`` applied,
        and slots whose required feature is off removed."""
        algorithms = set(self.algorithms)
        features = {name: getattr(self.features, name) for name in _FEATURE_NAMES}
        mgmt_default = self.management_key_default
        mgmt_algorithms = self.management_key_algorithms
        for rule in self.firmware_rules:
            if version is None or version < parse_version(rule["from"]):
                continue
            for key, value in rule.items():
                if key == "from":
                    continue
                if key == "add_algorithms":
                    algorithms.update(value)
                elif key == "algorithms":
                    algorithms = set(value)
                elif key == "management_key_default":
                    mgmt_default = int(value)
                elif key == "management_key_algorithms":
                    mgmt_algorithms = tuple(int(v) for v in value)
                else:
                    features[key] = bool(value)
        unknown = algorithms - set(PIV_ALGORITHMS)
        if unknown:
            raise ProfileError(f"profile {self.id}: unknown algorithms {sorted(unknown)}")
        slots = tuple(s for s in self.slots if s.requires is None or features.get(s.requires))
        return replace(
            self, algorithms=frozenset(algorithms), features=PivFeatures(**features), slots=slots,
            management_key_default=mgmt_default, management_key_algorithms=mgmt_algorithms,
            firmware=version, firmware_rules=(),
        )


def parse_version(text: str) -> Version:
    parts = [int(p) for p in str(text).split(".")]
    parts += [0] * (3 - len(parts))
    return (parts[0], parts[1], parts[2])


def _merge(base: Dict[str, Any], child: Dict[str, Any]) -> Dict[str, Any]:
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        elif key == "extra_slots":
            merged[key] = list(merged.get(key, [])) + list(value)
        else:
            merged[key] = value
    return merged


def _read_raw(name: str) -> Dict[str, Any]:
    try:
        text = resources.files(PROFILE_PACKAGE).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise ProfileError(f"no profile named {name!r}") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {name!r}: {exc}") from exc
    _check_schema(name, raw)
    parent = raw.get("profile", {}).get("extends")
    if parent:
        base = _read_raw(parent)
        raw = _merge({k: v for k, v in base.items() if k != "firmware"}, raw)
    return raw


def _slot(entry: Dict[str, Any]) -> SlotSpec:
    return SlotSpec(
        key=int(entry["key"]), id=int(entry["id"]), name=str(entry["name"]),
        container=int(entry["container"]), usage=frozenset(entry.get("usage", ())),
        pin_policy=_PIN_POLICY_BY_NAME[entry.get("pin_policy", "once")], requires=entry.get("requires"),
    )


def _retired_slots(rule: Dict[str, Any]) -> List[SlotSpec]:
    return [
        SlotSpec(
            key=int(rule["first_key"]) + n, id=int(rule["first_id"]) + n,
            name=str(rule["name"]).format(n=n + 1),
            container=int(rule["first_container"]) + n,
            usage=frozenset(rule.get("usage", ())), pin_policy=_PIN_POLICY_BY_NAME[rule.get("pin_policy", "once")],
        )
        for n in range(int(rule["count"]))
    ]


@cache
def load_profile(name: str) -> Profile:
    """Load ``profiles/<name>.toml`` (with its ``extends`` chain), unresolved."""
    raw = _read_raw(name)
    try:
        head = raw["profile"]
        pin = raw.get("pin", {})
        mgmt = raw.get("management_key", {})
        slots = [_slot(e) for e in raw.get("slots", [])]
        if "retired_slots" in raw:
            slots += _retired_slots(raw["retired_slots"])
        slots += [_slot(e) for e in raw.get("extra_slots", [])]
        features = dict(raw.get("features", {}))
        algorithms = frozenset(features.pop("algorithms", ()))
        feature_values = {key: bool(value) for key, value in features.items()}
        return Profile(
            id=str(head["id"]), applet=str(head["applet"]), aid=bytes.fromhex(head["aid"]),
            label=str(head.get("label", "")), manufacturer=str(head.get("manufacturer", "")),
            model=str(head.get("model", "")), priority=int(head.get("priority", 0)),
            probe=Probe(raw.get("match", {}).get("probe", "none")),
            pin_min=int(pin.get("min", 6)), pin_max=int(pin.get("max", 8)),
            pin_pad=int(pin.get("pad", 0xFF)), verify_reset=bool(pin.get("verify_reset", False)),
            management_key_default=int(mgmt.get("default_algorithm", 0x03)),
            management_key_algorithms=tuple(int(a) for a in mgmt.get("algorithms", [0x03])),
            management_key_factory=bytes.fromhex(mgmt["factory_key"]) if "factory_key" in mgmt else None,
            algorithms=algorithms, features=PivFeatures(**feature_values),
            quirks=PivQuirks(**{key: bool(value) for key, value in raw.get("quirks", {}).items()}),
            slots=tuple(slots),
            data_objects=tuple(
                DataObjectSpec(str(d["name"]), int(d["tag"]), str(d["oid"]), bool(d.get("private", False)),
                               bool(d.get("writable", True)))
                for d in raw.get("data_objects", [])
            ),
            labels={str(k): str(v) for k, v in raw.get("labels", {}).items()},
            writable_data=(int(raw.get("data_write", {}).get("first", 0x5FC101)),
                           int(raw.get("data_write", {}).get("last", 0x5FC123))),
            firmware_rules=tuple(raw.get("firmware", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"profile {name!r} is malformed: {exc!r}") from exc


def available_profiles() -> List[str]:
    """Names of every shipped profile file."""
    root = resources.files(PROFILE_PACKAGE)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def candidates(applet: str | None = None) -> List[Profile]:
    """Profiles to try during detection, most specific (highest priority) first."""
    profiles = [load_profile(name) for name in available_profiles()]
    if applet is not None:
        profiles = [p for p in profiles if p.applet == applet]
    return sorted(profiles, key=lambda p: (-p.priority, p.id))
