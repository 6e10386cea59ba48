"""The PIV part of a card profile (``profiles/*-piv.toml``): its schema and its type.

Under the common header (:mod:`cardki.token.profiles`) a PIV profile says which
algorithms the card has by firmware, its management key types, PIN limits and
padding, which commands exist (``[features]``), how it speaks (``[quirks]``), its
key slots and their CKA_IDs (``[[slots]]``, ``[retired_slots]``, ``[[extra_slots]]``),
the data objects shown as CKO_DATA and the labels of its objects.

Inheritance (``extends``): tables merge key by key, ``slots`` and ``data_objects``
are inherited, ``extra_slots`` are appended. :meth:`PivProfile.for_firmware`
resolves the ``[[firmware]]`` ranges into one flat profile for the card at hand.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Mapping, Tuple

from cardki.named_tuple import NamedTuple

from ..profiles import ProfileError, ProfileHeader, Version, applies, load_profile, merge, parse_version
from .constants import PinPolicy, PivAlgorithm

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


class PivFeatures(NamedTuple):
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


class PivQuirks(NamedTuple):
    """How the card differs in the way it speaks."""

    extended_apdus: bool = False  # accepts extended APDUs (an RSA-2048 signature in one exchange)


_FEATURE_NAMES = frozenset(PivFeatures._fields)
_SLOT_KEYS = frozenset({"key", "id", "name", "container", "usage", "pin_policy", "requires"})
#: A slot's default PIN policy as the profile writes it.
_PIN_POLICY_BY_NAME = {"never": PinPolicy.NEVER, "once": PinPolicy.ONCE, "always": PinPolicy.ALWAYS}
_PIN_POLICIES = frozenset(_PIN_POLICY_BY_NAME)
_USAGES = frozenset({"sign", "decrypt"})


class PivSchema:
    """The PIV tables of a profile file (see the module doc)."""

    applet = "piv"
    tables: Mapping[str, FrozenSet[str] | None] = {
        "pin": frozenset({"min", "max", "pad", "verify_reset"}),
        "management_key": frozenset({"default_algorithm", "algorithms", "factory_key"}),
        "features": frozenset({"algorithms"}) | _FEATURE_NAMES,
        "quirks": frozenset(PivQuirks._fields),
        "labels": frozenset(DEFAULT_LABELS),
        "data_write": frozenset({"first", "last"}),
        "retired_slots": frozenset({"first_key", "count", "first_id", "first_container", "name", "usage",
                                    "pin_policy"}),
        "slots": None, "extra_slots": None, "data_objects": None, "firmware": None,
    }
    list_keys: Mapping[str, FrozenSet[str]] = {
        "slots": _SLOT_KEYS, "extra_slots": _SLOT_KEYS,
        "data_objects": frozenset({"name", "tag", "oid", "private", "writable"}),
        "firmware": frozenset({"from", "add_algorithms", "algorithms", "management_key_default",
                               "management_key_algorithms"}) | _FEATURE_NAMES,
    }

    def check_entry(self, name: str, table: str, entry: Mapping[str, Any]) -> None:
        if entry.get("pin_policy", "once") not in _PIN_POLICIES:
            raise ProfileError(f"profile {name!r}: pin_policy must be one of {sorted(_PIN_POLICIES)}")
        if not set(entry.get("usage", ())) <= _USAGES:
            raise ProfileError(f"profile {name!r}: usage may only list {sorted(_USAGES)}")

    def merge_child(self, base: Dict[str, Any], child: Dict[str, Any]) -> Dict[str, Any]:
        merged = merge(base, child)
        if "extra_slots" in child:
            merged["extra_slots"] = list(base.get("extra_slots", [])) + list(child["extra_slots"])
        return merged

    def build(self, name: str, raw: Dict[str, Any]) -> PivProfile:
        pin = raw.get("pin", {})
        mgmt = raw.get("management_key", {})
        slots = [_slot(e) for e in raw.get("slots", [])]
        if "retired_slots" in raw:
            slots += _retired_slots(raw["retired_slots"])
        slots += [_slot(e) for e in raw.get("extra_slots", [])]
        features = dict(raw.get("features", {}))
        algorithms = frozenset(features.pop("algorithms", ()))
        feature_values = {key: bool(value) for key, value in features.items()}
        return PivProfile(
            **ProfileHeader.read(raw),
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


PIV_SCHEMA = PivSchema()


class SlotSpec(NamedTuple):
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


class DataObjectSpec(NamedTuple):
    """One PIV data object shown as CKO_DATA."""

    name: str
    tag: int
    oid: str
    private: bool
    writable: bool = True  # PUT DATA with the management key replaces it (the discovery object: no)


class PivProfile(ProfileHeader):
    """A PIV card profile, resolved for one firmware version by :meth:`for_firmware`."""

    __slots__ = ("pin_min", "pin_max", "pin_pad", "verify_reset", "management_key_default",
                 "management_key_algorithms", "management_key_factory", "algorithms", "features", "quirks",
                 "slots", "data_objects", "labels", "writable_data", "firmware_rules", "firmware")

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
    labels: Dict[str, str]
    writable_data: Tuple[int, int]
    """First and last tag PUT DATA writes (with the management key), inclusive."""
    firmware_rules: Tuple[Dict[str, Any], ...]
    firmware: Version | None

    def __init__(self, *, pin_min: int, pin_max: int, pin_pad: int, verify_reset: bool,
                 management_key_default: int, management_key_algorithms: Tuple[int, ...],
                 management_key_factory: bytes | None, algorithms: FrozenSet[str], features: PivFeatures,
                 quirks: PivQuirks, slots: Tuple[SlotSpec, ...], data_objects: Tuple[DataObjectSpec, ...],
                 labels: Dict[str, str] | None = None, writable_data: Tuple[int, int] = (0x5FC101, 0x5FC123),
                 firmware_rules: Tuple[Dict[str, Any], ...] = (), firmware: Version | None = None,
                 **header: Any) -> None:
        super().__init__(**header)
        self._set(pin_min=pin_min, pin_max=pin_max, pin_pad=pin_pad, verify_reset=verify_reset,
                  management_key_default=management_key_default,
                  management_key_algorithms=management_key_algorithms,
                  management_key_factory=management_key_factory, algorithms=algorithms, features=features,
                  quirks=quirks, slots=slots, data_objects=data_objects,
                  labels={} if labels is None else labels, writable_data=writable_data,
                  firmware_rules=firmware_rules, firmware=firmware)

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

    def firmware_steps(self, floor: Version, ceiling: Version | None = None) -> Tuple[Version, ...]:
        """The versions in [``floor``, ``ceiling``) at which this unresolved profile can
        differ: ``floor`` and every ``[[firmware]]`` ``from`` above it (below ``ceiling``).
        A value that is equal resolved at each of them is that value on every firmware
        in the range, so a token may settle it without reading the card's version."""
        return (floor,) + tuple(v for v in self._firmware_froms() if v > floor and (ceiling is None or v < ceiling))

    def first_firmware_with(self, name: str) -> Version | None:
        """The lowest ``[[firmware]]`` ``from`` at which feature ``name`` is on (this
        profile unresolved): what a card that shows the feature has at least."""
        for version in self._firmware_froms():
            if self.for_firmware(version).feature(name):
                return version
        return None

    def _firmware_froms(self) -> List[Version]:
        """The ``from`` versions of this unresolved profile's ``[[firmware]]`` ranges, lowest first."""
        return sorted({parse_version(rule["from"]) for rule in self.firmware_rules})

    def for_firmware(self, version: Version | None) -> PivProfile:
        """This profile with every ``[[firmware]]`` range at or below ``version`` applied,
        and slots whose required feature is off removed."""
        algorithms = set(self.algorithms)
        features = {name: getattr(self.features, name) for name in _FEATURE_NAMES}
        mgmt_default = self.management_key_default
        mgmt_algorithms = self.management_key_algorithms
        for rule in self.firmware_rules:
            if not applies(rule, version):
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
        return self.replace(
            algorithms=frozenset(algorithms), features=PivFeatures(**features), slots=slots,
            management_key_default=mgmt_default, management_key_algorithms=mgmt_algorithms,
            firmware=version, firmware_rules=(),
        )


#: The name PIV code has always used for its profile.
Profile = PivProfile


def load_piv_profile(name: str) -> PivProfile:
    """``profiles/<name>.toml``, which must be a PIV profile (unresolved)."""
    profile = load_profile(name)
    if not isinstance(profile, PivProfile):
        raise ProfileError(f"profile {name!r} is not a PIV profile")
    return profile


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


__all__ = ["DEFAULT_LABELS", "PIV_ALGORITHMS", "PIV_SCHEMA", "DataObjectSpec", "PivFeatures", "PivProfile",
           "PivQuirks", "Profile", "SlotSpec", "load_piv_profile"]
