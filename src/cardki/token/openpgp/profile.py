"""The OpenPGP part of a card profile (``profiles/*-openpgp.toml``): its schema and type.

Under the common header (:mod:`cardki.token.profiles`) an OpenPGP profile says
which cards it is for beyond "answers SELECT" (``[match] manufacturer_id``: the
maker in the AID, e.g. 0006 for Yubico), the PIN lengths clients enforce and
whether VERIFY P1=FF drops a PIN's status (``[pin]``), where the card departs from
the spec (``[quirks]``, the names of :class:`CardQuirks`), and the labels of
each key's objects (``[labels]``). ``[[firmware]]`` ranges change ``[pin]`` and
``[quirks]`` values from a version on; :meth:`OpenPgpProfile.for_firmware`
resolves them.

What the card itself reports (algorithms in FA and C1-C3, PIN maximum lengths
and tries in C4, touch policies, KDF) is read from the card, not kept here.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Mapping, Tuple

from cardki.named_tuple import NamedTuple

from ..profiles import ProfileError, ProfileHeader, Version, applies, load_profile, merge
from .constants import KeyRef


class CardQuirks(NamedTuple):
    """Where a card departs from the spec in ways the driver must work around, by
    name. Parsers tolerate the harmless departures on every card (see
    :mod:`cardki.token.openpgp.data`); these change what is sent or what an answer means."""

    select_data_length_byte: bool = False
    """SELECT DATA needs an extra leading length byte (06 60 04 5C 02 7F 21) and
    refuses the standard form with 6A80: YubiKey up to 5.4.3 (yubikit, yubikey-manager #403)."""
    empty_verify_status: bool = True
    """An empty VERIFY answers the password's status (spec 3.1+). False: it answers
    6A80 (YubiKey 5.4.3, OpenSC #2565; assumed for all of 5.x), so the tries left
    come from C4 and whether the password is verified is unknown."""
    fa_curve25519_errors: bool = False
    """DO FA lists X25519 as EdDSA for every key, Ed25519 for DEC and ATT, and no
    X25519 ECDH: YubiKey 5.2.0 up to 5.6.0 (yubikit patches the list the same way)."""

    @classmethod
    def for_yubikey(cls, version: Tuple[int, int, int]) -> CardQuirks:
        """A YubiKey's quirks by firmware version (from GET VERSION), as its profile
        (profiles/yubikey-openpgp.toml, their one home) gives them."""
        return load_openpgp_profile("yubikey-openpgp").for_firmware(version).quirks


_QUIRK_NAMES = frozenset(CardQuirks._fields)
_PIN_KEYS = frozenset({"user_min", "admin_min", "verify_reset"})
#: ``[labels]`` keys -> the key they name.
LABEL_KEYS: Dict[str, KeyRef] = {"signature": KeyRef.SIG, "decryption": KeyRef.DEC,
                                 "authentication": KeyRef.AUT}
DEFAULT_LABELS: Dict[KeyRef, str] = {KeyRef.SIG: "Signature key", KeyRef.DEC: "Encryption key",
                                     KeyRef.AUT: "Authentication key"}


class OpenPgpSchema:
    """The OpenPGP tables of a profile file (see the module doc)."""

    applet = "openpgp"
    tables: Mapping[str, FrozenSet[str] | None] = {
        "match": frozenset({"manufacturer_id"}),
        "pin": _PIN_KEYS,
        "quirks": _QUIRK_NAMES,
        "labels": frozenset(LABEL_KEYS),
        "firmware": None,
    }
    list_keys: Mapping[str, FrozenSet[str]] = {"firmware": frozenset({"from"}) | _PIN_KEYS | _QUIRK_NAMES}

    def check_entry(self, name: str, table: str, entry: Mapping[str, Any]) -> None:
        for key in _QUIRK_NAMES | {"verify_reset"}:
            if key in entry and not isinstance(entry[key], bool):
                raise ProfileError(f"profile {name!r}: {key} in [{table}] is true or false")

    def merge_child(self, base: Dict[str, Any], child: Dict[str, Any]) -> Dict[str, Any]:
        return merge(base, child)

    def build(self, name: str, raw: Dict[str, Any]) -> OpenPgpProfile:
        pin = raw.get("pin", {})
        manufacturer = raw.get("match", {}).get("manufacturer_id")
        labels = dict(DEFAULT_LABELS)
        labels.update({LABEL_KEYS[key]: str(value) for key, value in raw.get("labels", {}).items()})
        return OpenPgpProfile(
            **ProfileHeader.read(raw),
            manufacturer_id=None if manufacturer is None else int(manufacturer),
            user_pin_min=int(pin.get("user_min", 6)), admin_pin_min=int(pin.get("admin_min", 8)),
            verify_reset=bool(pin.get("verify_reset", True)),
            quirks=CardQuirks(**{key: bool(value) for key, value in raw.get("quirks", {}).items()}),
            labels=labels,
            firmware_rules=tuple(raw.get("firmware", [])),
        )


OPENPGP_SCHEMA = OpenPgpSchema()


class OpenPgpProfile(ProfileHeader):
    """An OpenPGP card profile, resolved for one firmware version by :meth:`for_firmware`."""

    __slots__ = ("manufacturer_id", "user_pin_min", "admin_pin_min", "verify_reset", "quirks", "labels",
                 "firmware_rules", "firmware")

    manufacturer_id: int | None
    """The AID's manufacturer this profile is for (None: any card)."""
    user_pin_min: int
    """PW1's shortest length: what gpg and OpenSC refuse to send (6)."""
    admin_pin_min: int
    """PW3's shortest length (8)."""
    verify_reset: bool
    """VERIFY P1=FF drops a password's verified state (spec 3.x); else logout re-selects."""
    quirks: CardQuirks
    labels: Mapping[KeyRef, str]
    firmware_rules: Tuple[Dict[str, Any], ...]
    firmware: Version | None

    def __init__(self, *, manufacturer_id: int | None, user_pin_min: int, admin_pin_min: int, verify_reset: bool,
                 quirks: CardQuirks, labels: Mapping[KeyRef, str], firmware_rules: Tuple[Dict[str, Any], ...] = (),
                 firmware: Version | None = None, **header: Any) -> None:
        super().__init__(**header)
        self._set(manufacturer_id=manufacturer_id, user_pin_min=user_pin_min, admin_pin_min=admin_pin_min,
                  verify_reset=verify_reset, quirks=quirks, labels=labels, firmware_rules=firmware_rules,
                  firmware=firmware)

    def matches(self, manufacturer_id: int) -> bool:
        return self.manufacturer_id is None or self.manufacturer_id == manufacturer_id

    def for_firmware(self, version: Version | None) -> OpenPgpProfile:
        """This profile with every ``[[firmware]]`` range at or below ``version`` applied."""
        quirks = {name: getattr(self.quirks, name) for name in _QUIRK_NAMES}
        verify_reset, user_min, admin_min = self.verify_reset, self.user_pin_min, self.admin_pin_min
        for rule in self.firmware_rules:
            if not applies(rule, version):
                continue
            for key, value in rule.items():
                if key in _QUIRK_NAMES:
                    quirks[key] = bool(value)
                elif key == "verify_reset":
                    verify_reset = bool(value)
                elif key == "user_min":
                    user_min = int(value)
                elif key == "admin_min":
                    admin_min = int(value)
        return self.replace(quirks=CardQuirks(**quirks), verify_reset=verify_reset, user_pin_min=user_min,
                       admin_pin_min=admin_min, firmware=version, firmware_rules=())


def load_openpgp_profile(name: str) -> OpenPgpProfile:
    """``profiles/<name>.toml``, which must be an OpenPGP profile (unresolved)."""
    profile = load_profile(name)
    if not isinstance(profile, OpenPgpProfile):
        raise ProfileError(f"profile {name!r} is not an OpenPGP profile")
    return profile


__all__ = ["DEFAULT_LABELS", "LABEL_KEYS", "OPENPGP_SCHEMA", "OpenPgpProfile", "load_openpgp_profile"]
