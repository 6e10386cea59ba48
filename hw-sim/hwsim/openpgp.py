"""The OpenPGP card application (OpenPGP smart card spec 3.4) as a YubiKey 5
carries it next to PIV, or as a plain OpenPGP card has it on its own;
faithful enough for GnuPG's scdaemon, ykman and OpenSC.

What the card does and this one mirrors:
- three PINs: PW1 (user, default 123456) verified for signing (81) or for
  everything else (82), PW3 (admin, default 12345678) and the optional
  resetting code; wrong ones count down (6982), blocked ones answer 6983; the
  status lives for one selection;
- PW1 status byte C4[0] = 00 makes a VERIFY 81 good for one signature only;
- keys are generated on the card or imported (extended header list 4D); the
  algorithm attributes (C1/C2/C3, DA) say what a slot holds and changing them
  deletes its key; DE tells generated/imported;
- the YubiKey parts: touch (UIF D6-D9) asks the card's button, attestation key
  81 with ATTEST (CLA 80, INS FB) on 5.2+, GET VERSION, SET PIN RETRIES, and
  the quirks clients work around (see ``OpenPgpProfile``).
Status words not confirmed on hardware are listed in the hwsim README.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Tuple

from cryptography import x509

from . import attestation
from .applet import Applet, CardServices, blank_data, blank_response
from .iso7816 import SW, Command, SwError, parse_command, parse_tlv_dict, tlv
from .openpgp_keys import (
    AlgorithmId,
    Attributes,
    KeyRef,
    decipher,
    generate,
    import_key,
    key_ref_from_crt,
    parse_import,
    public_key_template,
    sign,
)
from .piv_crypto import PrivateKey, StoredKey, serialize_private

Firmware = Tuple[int, int, int]

AID_PREFIX = bytes.fromhex("D27600012401")
"""RID + PIX application byte: what clients SELECT (the rest is version, maker, serial)."""
SPEC_VERSION = bytes([0x03, 0x04])

MANUFACTURER_YUBICO = 0x0006
MANUFACTURER_TEST = 0xFFFF
"""GnuPG and OpenSC name 0000 and FFFF "test card": honest for a virtual card."""

DEFAULT_PW1 = b"123456"
DEFAULT_PW3 = b"12345678"
DEFAULT_TRIES = 3
MIN_PW1, MIN_PW3, MIN_RC = 6, 8, 8
MAX_PIN = 127
MAX_SPECIAL_DO = 255
MAX_CERTIFICATE = 2048
MAX_CHALLENGE = 3070
MAX_APDU = 3070
"""What C0 and 7F66 announce: a YubiKey 5's values."""

SW_TOUCH_TIMEOUT = 0x6600
"""GnuPG's SW_ACK_TIMEOUT ("OpenPGPcard: Ack timeout"): the answer when nobody touches."""
SW_TERMINATED = 0x6285
"""SELECT of a terminated application (ykman then sends ACTIVATE)."""


class Ins(enum.IntEnum):
    VERIFY = 0x20
    CHANGE_REFERENCE = 0x24
    PSO = 0x2A
    RESET_RETRY = 0x2C
    ACTIVATE = 0x44
    GENERATE = 0x47
    GET_CHALLENGE = 0x84
    INTERNAL_AUTHENTICATE = 0x88
    SELECT_DATA = 0xA5
    GET_DATA = 0xCA
    GET_NEXT_DATA = 0xCC
    PUT_DATA = 0xDA
    PUT_DATA_ODD = 0xDB
    TERMINATE = 0xE6
    GET_VERSION = 0xF1
    SET_PIN_RETRIES = 0xF2
    ATTEST = 0xFB


class Pw(enum.IntEnum):
    """VERIFY references: PW1 for PSO:CDS, PW1 for the rest, PW3."""

    PW1_SIGN = 0x81
    PW1 = 0x82
    PW3 = 0x83


class Uif(enum.IntEnum):
    """User interaction flag (touch policy) values, first byte of D6-D9."""

    OFF = 0x00
    ON = 0x01
    FIXED = 0x02
    CACHED = 0x03
    CACHED_FIXED = 0x04


UIF_BUTTON = 0x20  # second byte of D6-D9 and 7F74: the feature is a button
UIF_TAGS = {KeyRef.SIG: 0xD6, KeyRef.DEC: 0xD7, KeyRef.AUT: 0xD8, KeyRef.ATT: 0xD9}
ATTRIBUTE_TAGS = {KeyRef.SIG: 0xC1, KeyRef.DEC: 0xC2, KeyRef.AUT: 0xC3, KeyRef.ATT: 0xDA}
FINGERPRINT_TAGS = {KeyRef.SIG: 0xC7, KeyRef.DEC: 0xC8, KeyRef.AUT: 0xC9, KeyRef.ATT: 0xDB}
CA_FINGERPRINT_TAGS = {KeyRef.SIG: 0xCA, KeyRef.DEC: 0xCB, KeyRef.AUT: 0xCC, KeyRef.ATT: 0xDC}
TIME_TAGS = {KeyRef.SIG: 0xCE, KeyRef.DEC: 0xCF, KeyRef.AUT: 0xD0, KeyRef.ATT: 0xDD}
CERT_OCCURRENCE = {KeyRef.AUT: 0, KeyRef.DEC: 1, KeyRef.SIG: 2}
"""Which 7F21 instance belongs to a key (SELECT DATA P1)."""

TAG_CARDHOLDER_CERT = 0x7F21
TAG_KDF = 0xF9
TAG_ATT_CERT = 0xFC
TAG_RESETTING_CODE = 0xD3
TAG_PW_STATUS = 0xC4
SELECT_DATA_7F21 = tlv(0x60, tlv(0x5C, b"\x7f\x21"))

#: Simple DOs a client may write (with PW3 unless noted) and their largest size.
WRITABLE_DOS: Dict[int, int] = {
    0x5B: 39, 0x5F2D: 8, 0x5F35: 1, 0x5E: MAX_SPECIAL_DO, 0x5F50: MAX_SPECIAL_DO,
    0x0101: MAX_SPECIAL_DO, 0x0102: MAX_SPECIAL_DO, 0x0103: MAX_SPECIAL_DO, 0x0104: MAX_SPECIAL_DO,
}
PRIVATE_DO_READ = {0x0103: Pw.PW1, 0x0104: Pw.PW3}
PRIVATE_DO_WRITE = {0x0101: Pw.PW1, 0x0103: Pw.PW1}

KEY_STATUS_NONE, KEY_STATUS_GENERATED, KEY_STATUS_IMPORTED = 0, 1, 2

_RSA = tuple(Attributes.rsa(bits) for bits in (2048, 3072, 4096))
_WEIERSTRASS = ("nistp256", "nistp384", "nistp521", "secp256k1",
                "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1")


def _algorithms(ref: KeyRef, with_ecc: bool) -> Tuple[Attributes, ...]:
    """What a slot takes: RSA 2048/3072/4096, and on 5.2+ the NIST, secp256k1
    and brainpool curves (ECDH for DEC, ECDSA otherwise), Ed25519 for signing
    keys, X25519 for DEC (Yubico's "5.2.3 enhancements to OpenPGP 3.4")."""
    if not with_ecc:
        return _RSA
    ec_algorithm = AlgorithmId.ECDH if ref == KeyRef.DEC else AlgorithmId.ECDSA
    curves = tuple(Attributes.ec(ec_algorithm, name) for name in _WEIERSTRASS)
    if ref == KeyRef.DEC:
        return _RSA + curves + (Attributes.ec(AlgorithmId.ECDH, "cv25519"),)
    return _RSA + curves + (Attributes.ec(AlgorithmId.EDDSA, "ed25519"),)


@dataclass(frozen=True)
class OpenPgpProfile:
    """What differs between the YubiKey's applet (by firmware) and a plain 3.4 card."""

    manufacturer: int
    yubikey: bool
    historical_bytes: bytes
    pw1_status_factory: int
    """C4[0] after a reset: 01 (a VERIFY 81 is good for many signatures), or FF
    as some YubiKey 5 units report (any non-zero means "many")."""
    empty_verify_sw: int | None
    """VERIFY with no data: None is the spec's status check (9000 / 63Cx); a
    YubiKey 5.4.3 answers 6A80 instead (OpenSC issue 2565)."""
    select_data_length_byte: bool
    """YubiKey <= 5.4.3 takes SELECT DATA only with an extra leading length byte."""
    fa_length_bug: bool
    """YubiKey 5: DO FA's outer length is 2 more than its content."""
    fa_curve25519_bug: bool
    """YubiKey < 5.6.1: FA lists X25519 as EdDSA for every key, Ed25519 for DEC
    and ATT, and no X25519 ECDH (ykman patches the list back)."""
    ec_trailing_zero: bool
    """YubiKey 5.2/5.3 end EC attributes with a 00 byte (GnuPG's comment)."""
    algorithms: Dict[KeyRef, Tuple[Attributes, ...]] = field(default_factory=dict)
    kdf: bool = True
    unverify: bool = True
    """VERIFY P1=FF (drop the PIN status): spec 3.x; YubiKey 5.6.0+ (ykman)."""
    has_key_information: bool = True
    algorithm_information: bool = True
    """DO FA: 3.4 cards; YubiKey 5.2+."""
    extended_length_in_73: bool = False
    """YubiKey 5: 7F66 sits inside 73, not directly in 6E as the spec draws it."""
    button: bool = False
    cached_uif: bool = False
    attestation: bool = False
    set_pin_retries: bool = False

    @property
    def key_refs(self) -> Tuple[KeyRef, ...]:
        return tuple(self.algorithms)


YUBIKEY_HISTORICAL = bytes.fromhex("0073 0000E0 059000".replace(" ", ""))
"""A YubiKey 5's DO 5F52: category 00, card capabilities 73 (chaining, extended
Lc/Le, extended length information), status 05 (operational) + 9000."""


def yubikey_profile(firmware: Firmware) -> OpenPgpProfile:
    with_ecc = firmware >= (5, 2, 0)
    refs = (KeyRef.SIG, KeyRef.DEC, KeyRef.AUT) + ((KeyRef.ATT,) if with_ecc else ())
    return OpenPgpProfile(
        manufacturer=MANUFACTURER_YUBICO,
        yubikey=True,
        historical_bytes=YUBIKEY_HISTORICAL,
        pw1_status_factory=0xFF if firmware >= (5, 0, 0) else 0x01,
        empty_verify_sw=SW.INCORRECT_DATA if firmware >= (5, 0, 0) else None,
        select_data_length_byte=firmware <= (5, 4, 3),
        fa_length_bug=firmware >= (5, 2, 0),
        fa_curve25519_bug=(5, 2, 0) <= firmware < (5, 6, 1),
        ec_trailing_zero=(5, 2, 0) <= firmware < (5, 4, 0),
        algorithms={ref: (_RSA if ref == KeyRef.ATT else _algorithms(ref, with_ecc)) for ref in refs},
        kdf=firmware >= (5, 2, 0),
        unverify=firmware >= (5, 6, 0),
        has_key_information=with_ecc,
        algorithm_information=with_ecc,
        extended_length_in_73=firmware >= (5, 0, 0),
        button=firmware >= (4, 2, 0),
        cached_uif=firmware >= (5, 2, 1),
        attestation=with_ecc,
        set_pin_retries=firmware >= (4, 3, 1),
    )


def plain_profile(historical_bytes: bytes) -> OpenPgpProfile:
    """A generic OpenPGP 3.4 card: spec behaviour, no YubiKey parts."""
    refs = (KeyRef.SIG, KeyRef.DEC, KeyRef.AUT)
    return OpenPgpProfile(
        manufacturer=MANUFACTURER_TEST,
        yubikey=False,
        historical_bytes=historical_bytes,
        pw1_status_factory=0x01,
        empty_verify_sw=None,
        select_data_length_byte=False,
        fa_length_bug=False,
        fa_curve25519_bug=False,
        ec_trailing_zero=False,
        algorithms={ref: _algorithms(ref, True) for ref in refs},
    )


@dataclass
class Password:
    """PW1, PW3 or the resetting code: its value (None: not set) and tries."""

    value: bytes | None
    total: int
    left: int

    @property
    def blocked(self) -> bool:
        return self.value is None or self.left == 0

    def to_state(self) -> Dict[str, Any]:
        return {"value": None if self.value is None else self.value.hex(), "total": self.total, "left": self.left}

    @classmethod
    def from_state(cls, data: Dict[str, Any]) -> Password:
        value = data["value"]
        return cls(None if value is None else bytes.fromhex(value), int(data["total"]), int(data["left"]))


class KeySlot:
    """One key reference: what it may hold (attributes) and what it holds. The key
    is parsed when the card first uses it (:class:`~hwsim.piv_crypto.StoredKey`)."""

    def __init__(self, attributes: Attributes, key: PrivateKey | None = None, status: int = KEY_STATUS_NONE,
                 uif: int = Uif.OFF) -> None:
        self.attributes = attributes
        self._stored: StoredKey | None = None if key is None else StoredKey(key)
        self.status = status
        self.uif = uif

    @property
    def has_key(self) -> bool:
        return self._stored is not None

    @property
    def key(self) -> PrivateKey | None:
        return None if self._stored is None else self._stored.key

    @key.setter
    def key(self, key: PrivateKey | None) -> None:
        self._stored = None if key is None else StoredKey(key)

    def key_state(self) -> str | None:
        """The key as the state file keeps it (PKCS#8 DER, hex), None for none."""
        return None if self._stored is None else self._stored.to_state()

    def restore_key(self, pkcs8_hex: str) -> None:
        """The key of a saved state, parsed when first used; it must fit the attributes."""
        self._stored = StoredKey.from_state(pkcs8_hex, self.attributes.matches_key)


def bcd_serial(serial: int) -> bytes:
    """The AID's 4-byte serial: the decimal digits in BCD, as a YubiKey puts the
    number the Management applet reports (scdaemon and ykman read it so)."""
    return bytes.fromhex(f"{serial % 100_000_000:08d}")


class OpenPgpApplet(Applet):
    """OpenPGP card 3.4; ``profile`` decides the YubiKey parts and quirks."""

    min_select_length = len(AID_PREFIX)
    name = "OpenPGP"
    state_key = "openpgp"

    def __init__(self, card: CardServices, profile: OpenPgpProfile,
                 state: Dict[str, Any] | None = None) -> None:
        super().__init__(card)
        self.profile = profile
        self.aid = (AID_PREFIX + SPEC_VERSION + profile.manufacturer.to_bytes(2, "big")
                    + bcd_serial(card.serial) + b"\x00\x00")
        self.handlers = {
            Ins.VERIFY: self._verify,
            Ins.CHANGE_REFERENCE: self._change_reference,
            Ins.RESET_RETRY: self._reset_retry,
            Ins.PSO: self._pso,
            Ins.INTERNAL_AUTHENTICATE: self._internal_authenticate,
            Ins.GENERATE: self._generate,
            Ins.GET_CHALLENGE: self._get_challenge,
            Ins.SELECT_DATA: self._select_data,
            Ins.GET_DATA: self._get_data,
            Ins.GET_NEXT_DATA: self._get_next_data,
            Ins.PUT_DATA: self._put_data,
            Ins.PUT_DATA_ODD: self._import_key,
            Ins.TERMINATE: self._terminate,
            Ins.ACTIVATE: self._activate,
        }
        if profile.yubikey:
            self.handlers[Ins.GET_VERSION] = self._get_version
        if profile.set_pin_retries:
            self.handlers[Ins.SET_PIN_RETRIES] = self._set_pin_retries
        if profile.attestation:
            self.handlers[Ins.ATTEST] = self._attest
        self.attestation_root_der: bytes | None = None
        self._attestation_root_key: str | None = None
        self._factory_reset()
        if state is not None:
            self._load_state(state)
        self._clear_session()
        self._secret_chain = False
        self._last_response_secret = False

    # ---------------------------------------------------------------- state
    def _factory_reset(self) -> None:
        """Factory values (ACTIVATE after TERMINATE): the attestation key and
        its certificate survive, as ykman's reset help says."""
        kept = getattr(self, "keys", {}).get(KeyRef.ATT)
        kept_cert = getattr(self, "dos", {}).get(TAG_ATT_CERT)
        self.pw1 = Password(DEFAULT_PW1, DEFAULT_TRIES, DEFAULT_TRIES)
        self.pw3 = Password(DEFAULT_PW3, DEFAULT_TRIES, DEFAULT_TRIES)
        self.rc = Password(None, DEFAULT_TRIES, 0)
        self.pw1_status = self.profile.pw1_status_factory
        self.keys: Dict[KeyRef, KeySlot] = {
            ref: KeySlot(Attributes.rsa(2048)) for ref in self.profile.key_refs}
        if kept is not None:
            self.keys[KeyRef.ATT] = kept
        elif KeyRef.ATT in self.keys:
            # Shipped with the card (DE says "imported"); made on first use.
            self.keys[KeyRef.ATT].status = KEY_STATUS_IMPORTED
        self.dos: Dict[int, bytes] = {}
        if kept_cert is not None:
            self.dos[TAG_ATT_CERT] = kept_cert
        self.certificates: List[bytes] = [b"", b"", b""]
        self.signature_counter = 0
        self.kdf = b"\x81\x01\x00"
        self.terminated = False

    def _load_state(self, state: Dict[str, Any]) -> None:
        self.pw1 = Password.from_state(state["pw1"])
        self.pw3 = Password.from_state(state["pw3"])
        self.rc = Password.from_state(state["rc"])
        self.pw1_status = int(state["pw1_status"])
        self.keys = {}
        for name, data in state["keys"].items():
            ref = KeyRef[name]
            slot = KeySlot(Attributes.parse(bytes.fromhex(data["attributes"])), None, int(data["status"]),
                           int(data["uif"]))
            if data.get("private_key"):
                slot.restore_key(data["private_key"])
            self.keys[ref] = slot
        self.dos = {int(tag, 16): bytes.fromhex(value) for tag, value in state["dos"].items()}
        self.certificates = [bytes.fromhex(value) for value in state["certificates"]]
        self.signature_counter = int(state["signature_counter"])
        self.kdf = bytes.fromhex(state["kdf"])
        self.terminated = bool(state["terminated"])
        root = state.get("attestation_root")
        if root:
            self.attestation_root_der = bytes.fromhex(root["certificate"])
            self._attestation_root_key = root["private_key"]

    def to_state(self) -> Dict[str, Any]:
        """JSON-friendly (bytes as hex), as PIV's: the card's memory, secrets included."""
        return {
            "pw1": self.pw1.to_state(),
            "pw3": self.pw3.to_state(),
            "rc": self.rc.to_state(),
            "pw1_status": self.pw1_status,
            "keys": {
                ref.name: {
                    "attributes": slot.attributes.encode().hex(),
                    "status": slot.status,
                    "uif": slot.uif,
                    "private_key": slot.key_state(),
                }
                for ref, slot in self.keys.items()
            },
            "dos": {f"{tag:04x}": value.hex() for tag, value in sorted(self.dos.items())},
            "certificates": [value.hex() for value in self.certificates],
            "signature_counter": self.signature_counter,
            "kdf": self.kdf.hex(),
            "terminated": self.terminated,
            "attestation_root": None if self.attestation_root_der is None else {
                "certificate": self.attestation_root_der.hex(), "private_key": self._attestation_root_key},
        }

    def _changed(self) -> None:
        self.card.mark_changed()

    # -------------------------------------------------------------- session
    def _clear_session(self) -> None:
        self.verified: Dict[Pw, bool] = {Pw.PW1_SIGN: False, Pw.PW1: False, Pw.PW3: False}
        self.occurrence = 0

    def select(self, cmd: Command) -> bytes:
        self._clear_session()
        if self.terminated:
            raise SwError(SW_TERMINATED)
        return b""

    def deselect(self) -> None:
        self._clear_session()

    def accepts_class(self, cla: int, ins: int) -> bool:
        return cla == 0x80 and ins == Ins.ATTEST and self.profile.attestation

    def process(self, cmd: Command) -> bytes:
        if self.terminated and cmd.ins != Ins.ACTIVATE:
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        return super().process(cmd)

    def _require(self, pw: Pw) -> None:
        if not self.verified[pw]:
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)

    # ----------------------------------------------------------- passwords
    def _password(self, pw: Pw) -> Password:
        return self.pw3 if pw == Pw.PW3 else self.pw1

    def _kdf_on(self) -> bool:
        return parse_tlv_dict(self.kdf).get(0x81, b"\x00") != b"\x00"

    def _check(self, password: Password, value: bytes) -> None:
        """Compare, spending a try when wrong (6982, as YubiKeys since 4.0 answer)."""
        if password.blocked:
            raise SwError(SW.AUTH_METHOD_BLOCKED)
        if not value or len(value) > MAX_PIN:
            raise SwError(SW.INCORRECT_DATA)
        if self._kdf_on() and password.value is not None and len(value) != len(password.value):
            raise SwError(SW.INCORRECT_DATA)  # a KDF card rejects wrong lengths without counting
        if value != password.value:
            password.left -= 1
            self._changed()
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
        if password.left != password.total:
            password.left = password.total
            self._changed()

    def _verify(self, cmd: Command) -> bytes:
        if cmd.p1 == 0xFF and self.profile.unverify:
            if cmd.p2 not in tuple(Pw) or cmd.data:
                raise SwError(SW.INCORRECT_P1P2)
            self.verified[Pw(cmd.p2)] = False
            return b""
        if cmd.p1 != 0x00 or cmd.p2 not in tuple(Pw):
            raise SwError(SW.WRONG_P1P2)
        pw = Pw(cmd.p2)
        password = self._password(pw)
        if not cmd.data:
            if self.profile.empty_verify_sw is not None:
                raise SwError(self.profile.empty_verify_sw)
            if password.blocked:
                raise SwError(SW.AUTH_METHOD_BLOCKED)
            if self.verified[pw]:
                return b""
            raise SwError(SW.VERIFY_FAIL | min(password.left, 15))
        try:
            self._check(password, cmd.data)
        except SwError:
            self.verified[pw] = False
            raise
        self.verified[pw] = True
        return b""

    def _new_value_ok(self, value: bytes, minimum: int) -> bool:
        if self._kdf_on():
            return len(value) in (32, 64)
        return minimum <= len(value) <= MAX_PIN

    def _change_reference(self, cmd: Command) -> bytes:
        if cmd.p1 != 0x00 or cmd.p2 not in (Pw.PW1_SIGN, Pw.PW3):
            raise SwError(SW.WRONG_P1P2)
        password = self._password(Pw(cmd.p2))
        if password.blocked:
            raise SwError(SW.AUTH_METHOD_BLOCKED)
        assert password.value is not None
        old, new = cmd.data[:len(password.value)], cmd.data[len(password.value):]
        self._check(password, old)
        if not self._new_value_ok(new, MIN_PW3 if cmd.p2 == Pw.PW3 else MIN_PW1):
            raise SwError(SW.INCORRECT_DATA)
        password.value = new
        password.left = password.total
        self._changed()
        return b""

    def _reset_retry(self, cmd: Command) -> bytes:
        if cmd.p2 != Pw.PW1_SIGN or cmd.p1 not in (0x00, 0x02):
            raise SwError(SW.WRONG_P1P2)
        if cmd.p1 == 0x02:  # by PW3
            self._require(Pw.PW3)
            new = cmd.data
        else:  # by the resetting code
            if self.rc.blocked:
                raise SwError(SW.AUTH_METHOD_BLOCKED)
            assert self.rc.value is not None
            code, new = cmd.data[:len(self.rc.value)], cmd.data[len(self.rc.value):]
            self._check(self.rc, code)
        if not self._new_value_ok(new, MIN_PW1):
            raise SwError(SW.INCORRECT_DATA)
        self.pw1.value = new
        self.pw1.left = self.pw1.total
        self._changed()
        return b""

    def _set_pin_retries(self, cmd: Command) -> bytes:
        """Yubico's SET PIN RETRIES: PW1, RC, PW3 tries; the PINs stay (4.0+)."""
        self._require(Pw.PW3)
        if len(cmd.data) != 3 or not all(1 <= tries <= 99 for tries in cmd.data):
            raise SwError(SW.INCORRECT_DATA)
        for password, tries in zip((self.pw1, self.rc, self.pw3), cmd.data, strict=True):
            password.total = tries
            password.left = tries if password.value is not None else 0
        self._changed()
        return b""

    # ------------------------------------------------------------- touch
    def _touch(self, ref: KeyRef) -> None:
        uif = self.keys[ref].uif
        if uif == Uif.OFF:
            return
        try:
            self.card.require_touch(cacheable=uif in (Uif.CACHED, Uif.CACHED_FIXED))
        except SwError:
            raise SwError(SW_TOUCH_TIMEOUT) from None

    # ------------------------------------------------------ key operations
    def _slot_key(self, ref: KeyRef) -> PrivateKey:
        slot = self.keys.get(ref)
        if slot is None or slot.key is None:
            raise SwError(SW.REFERENCE_NOT_FOUND)
        return slot.key

    def _pso(self, cmd: Command) -> bytes:
        if (cmd.p1, cmd.p2) == (0x9E, 0x9A):
            self._require(Pw.PW1_SIGN)
            key = self._slot_key(KeyRef.SIG)
            self._touch(KeyRef.SIG)
            signature = sign(key, cmd.data)
            self.signature_counter = min(self.signature_counter + 1, 0xFFFFFF)
            if self.pw1_status == 0x00:
                self.verified[Pw.PW1_SIGN] = False  # valid for one signature only
            self._changed()
            return signature
        if (cmd.p1, cmd.p2) == (0x80, 0x86):
            self._require(Pw.PW1)
            key = self._slot_key(KeyRef.DEC)
            self._touch(KeyRef.DEC)
            return decipher(key, cmd.data)
        raise SwError(SW.INCORRECT_P1P2)

    def _internal_authenticate(self, cmd: Command) -> bytes:
        if (cmd.p1, cmd.p2) != (0x00, 0x00):
            raise SwError(SW.INCORRECT_P1P2)
        self._require(Pw.PW1)
        key = self._slot_key(KeyRef.AUT)
        self._touch(KeyRef.AUT)
        return sign(key, cmd.data)

    def _generate(self, cmd: Command) -> bytes:
        if cmd.p1 not in (0x80, 0x81) or cmd.p2 != 0x00:
            raise SwError(SW.INCORRECT_P1P2)
        ref = key_ref_from_crt(cmd.data)
        if ref not in self.keys:
            raise SwError(SW.INCORRECT_DATA)
        if ref == KeyRef.ATT:
            self._ensure_attestation()
        slot = self.keys[ref]
        if cmd.p1 == 0x81:  # read the public key
            if slot.key is None:
                raise SwError(SW.REFERENCE_NOT_FOUND)
            return public_key_template(slot.key)
        self._require(Pw.PW3)
        if ref == KeyRef.ATT:
            raise SwError(SW.INCORRECT_DATA)  # the attestation key is imported, never generated
        slot.key = generate(slot.attributes)
        slot.status = KEY_STATUS_GENERATED
        self._changed()
        return public_key_template(slot.key)

    def _import_key(self, cmd: Command) -> bytes:
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF):
            raise SwError(SW.INCORRECT_P1P2)
        self._require(Pw.PW3)
        ref, parts = parse_import(cmd.data)
        slot = self.keys.get(ref)
        if slot is None:
            raise SwError(SW.INCORRECT_DATA)
        slot.key = import_key(slot.attributes, parts)
        slot.status = KEY_STATUS_IMPORTED
        self._changed()
        return b""

    def _get_challenge(self, cmd: Command) -> bytes:
        if cmd.p1 or cmd.p2:
            raise SwError(SW.INCORRECT_P1P2)
        return os.urandom(min(cmd.ne, MAX_CHALLENGE))

    # --------------------------------------------------------- attestation
    @property
    def attestation_root(self) -> x509.Certificate | None:
        """The simulator's root CA that the attestation key's certificate (FC) chains to."""
        self._ensure_attestation()
        if self.attestation_root_der is None:
            return None
        return x509.load_der_x509_certificate(self.attestation_root_der)

    def _ensure_attestation(self) -> None:
        """Make the root CA and attestation key 81 the first time they are needed
        (a real key ships with them; lazily keeps fresh test cards fast)."""
        if not self.profile.attestation or self.attestation_root_der is not None:
            return
        root_key, root_der, key, cert_der = attestation.make_openpgp_root_and_attestation_key(self.card.serial)
        self.attestation_root_der = root_der
        self._attestation_root_key = serialize_private(root_key)
        slot = self.keys[KeyRef.ATT]
        if not slot.has_key and slot.status == KEY_STATUS_IMPORTED:
            slot.key = key
            self.dos[TAG_ATT_CERT] = cert_der
        self._changed()

    def _attest(self, cmd: Command) -> bytes:
        if cmd.p2 != 0x00 or cmd.p1 not in (KeyRef.SIG, KeyRef.DEC, KeyRef.AUT):
            raise SwError(SW.INCORRECT_P1P2)
        if not (self.verified[Pw.PW1_SIGN] or self.verified[Pw.PW1]):
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
        ref = KeyRef(cmd.p1)
        slot = self.keys[ref]
        if slot.key is None:
            raise SwError(SW.REFERENCE_NOT_FOUND)
        if slot.status != KEY_STATUS_GENERATED:
            raise SwError(SW.INCORRECT_DATA)  # only keys generated on the card
        self._ensure_attestation()
        signer = self.keys[KeyRef.ATT]
        signer_cert = self.dos.get(TAG_ATT_CERT)
        if signer.key is None or not signer_cert:
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        self._touch(KeyRef.ATT)
        statement = attestation.attest_openpgp(
            ref.name, slot.key.public_key(), generated=True, firmware=self.card.firmware,
            serial=self.card.serial, fingerprint=self.dos.get(FINGERPRINT_TAGS[ref], bytes(20)),
            generation_time=self.dos.get(TIME_TAGS[ref], bytes(4)), signature_counter=self.signature_counter,
            uif=slot.uif, cardholder=self.dos.get(0x5B, b""), signer=signer.key, signer_cert_der=signer_cert)
        self.certificates[CERT_OCCURRENCE[ref]] = statement
        self._changed()
        return b""

    # --------------------------------------------------------- data objects
    def _get_version(self, cmd: Command) -> bytes:
        return bytes(int(str(part), 16) for part in self.card.firmware)  # BCD, as ykman reads it

    def _pw_status(self) -> bytes:
        return bytes([self.pw1_status, MAX_PIN, MAX_PIN, MAX_PIN,
                      self.pw1.left, self.rc.left if self.rc.value is not None else 0, self.pw3.left])

    def _extended_capabilities(self) -> bytes:
        flags = 0x40 | 0x20 | 0x10 | 0x08 | 0x04  # GET CHALLENGE, import, C4 changeable, private DOs, attributes
        if self.profile.kdf:
            flags |= 0x01
        return (bytes([flags, 0x00]) + MAX_CHALLENGE.to_bytes(2, "big") + MAX_CERTIFICATE.to_bytes(2, "big")
                + MAX_SPECIAL_DO.to_bytes(2, "big") + b"\x00\x00")

    def _attributes_value(self, ref: KeyRef) -> bytes:
        attributes = self.keys[ref].attributes
        return attributes.encode(trailing_zero=self.profile.ec_trailing_zero and attributes.curve is not None)

    def _concatenated(self, tags: Dict[KeyRef, int], size: int) -> bytes:
        return b"".join(self.dos.get(tags[ref], bytes(size)) for ref in self.profile.key_refs)

    def _key_information(self) -> bytes:
        return b"".join(bytes([ref, slot.status]) for ref, slot in self.keys.items())

    def _extended_length_information(self) -> bytes:
        return tlv(0x7F66, tlv(0x02, MAX_APDU.to_bytes(2, "big")) + tlv(0x02, MAX_APDU.to_bytes(2, "big")))

    def _application_related_data(self) -> bytes:
        """6E: on a YubiKey everything but AID, historical bytes and 7F74 sits in
        73 (7F66 too); a plain card has 7F66 directly in 6E, as the spec draws it."""
        refs = self.profile.key_refs
        discretionary = self._tlv(0xC0) + b"".join(tlv(ATTRIBUTE_TAGS[ref], self._attributes_value(ref))
                                                    for ref in refs)
        discretionary += (self._tlv(TAG_PW_STATUS) + tlv(0xC5, self._concatenated(FINGERPRINT_TAGS, 20))
                          + tlv(0xC6, self._concatenated(CA_FINGERPRINT_TAGS, 20))
                          + tlv(0xCD, self._concatenated(TIME_TAGS, 4)))
        if self.profile.has_key_information:
            discretionary += tlv(0xDE, self._key_information())
        outer = tlv(0x4F, self.aid) + tlv(0x5F52, self.profile.historical_bytes)
        if self.profile.yubikey:
            if self.profile.button:
                outer += tlv(0x7F74, tlv(0x81, bytes([UIF_BUTTON])))
                discretionary += b"".join(tlv(UIF_TAGS[ref], self._uif(ref)) for ref in refs)
        if self.profile.extended_length_in_73:
            discretionary += self._extended_length_information()
        elif not self.profile.yubikey:
            outer += self._extended_length_information()
        return tlv(0x6E, outer + tlv(0x73, discretionary))

    def _uif(self, ref: KeyRef) -> bytes:
        return bytes([self.keys[ref].uif, UIF_BUTTON])

    def _tlv(self, tag: int) -> bytes:
        return tlv(tag, self._value(tag))

    def _algorithm_information(self) -> bytes:
        entries = b""
        for ref, choices in self.profile.algorithms.items():
            listed = list(choices)
            if self.profile.fa_curve25519_bug:
                listed = [a for a in listed if not (a.curve is not None and a.curve.kind == "x25519")]
                listed.append(Attributes.ec(AlgorithmId.EDDSA, "cv25519"))
                if ref in (KeyRef.DEC, KeyRef.ATT) and Attributes.ec(AlgorithmId.EDDSA, "ed25519") not in listed:
                    listed.append(Attributes.ec(AlgorithmId.EDDSA, "ed25519"))
            entries += b"".join(tlv(ATTRIBUTE_TAGS[ref], a.encode()) for a in listed)
        if self.profile.fa_length_bug:
            return b"\xfa\x82" + (len(entries) + 2).to_bytes(2, "big") + entries
        return tlv(0xFA, entries)

    def _value(self, tag: int) -> bytes:
        """The value of a DO as GET DATA gives it (without its own tag for simple DOs)."""
        if tag == 0x4F:
            return self.aid
        if tag == 0x5F52:
            return self.profile.historical_bytes
        if tag == 0xC0:
            return self._extended_capabilities()
        if tag == TAG_PW_STATUS:
            return self._pw_status()
        if tag in (0x5B, 0x5F2D, 0x5F35, 0x5E, 0x5F50, 0x0101, 0x0102, 0x0103, 0x0104):
            return self.dos.get(tag, b"")
        if tag in UIF_TAGS.values() and self.profile.button:
            ref = next(r for r, t in UIF_TAGS.items() if t == tag)
            if ref in self.keys:
                return self._uif(ref)
        if tag == TAG_KDF and self.profile.kdf:
            return self.kdf
        if tag == TAG_ATT_CERT and self.profile.attestation:
            self._ensure_attestation()
            return self.dos.get(TAG_ATT_CERT, b"")
        if tag == TAG_CARDHOLDER_CERT:
            return self.certificates[self.occurrence]
        raise SwError(SW.REFERENCE_NOT_FOUND)

    def _get_data(self, cmd: Command) -> bytes:
        tag = (cmd.p1 << 8) | cmd.p2
        required = PRIVATE_DO_READ.get(tag)
        if required is not None:
            self._require(required)
        if tag == 0x6E:
            return self._application_related_data()
        if tag == 0x65:
            return tlv(0x65, b"".join(tlv(t, self.dos.get(t, b"")) for t in (0x5B, 0x5F2D, 0x5F35)))
        if tag == 0x7A:
            return tlv(0x7A, tlv(0x93, self.signature_counter.to_bytes(3, "big")))
        if tag == 0xFA and self.profile.algorithm_information:
            return self._algorithm_information()
        if tag == 0x7F74 and self.profile.button:
            return tlv(0x7F74, tlv(0x81, bytes([UIF_BUTTON])))
        if tag == 0x7F66:
            return self._extended_length_information()
        return self._value(tag)

    def _get_next_data(self, cmd: Command) -> bytes:
        if (cmd.p1 << 8) | cmd.p2 != TAG_CARDHOLDER_CERT:
            raise SwError(SW.REFERENCE_NOT_FOUND)
        if self.occurrence >= len(self.certificates) - 1:
            raise SwError(SW.REFERENCE_NOT_FOUND)
        self.occurrence += 1
        return self.certificates[self.occurrence]

    def _select_data(self, cmd: Command) -> bytes:
        if cmd.p2 != 0x04 or cmd.p1 > 2:
            raise SwError(SW.INCORRECT_P1P2)
        expected = (bytes([len(SELECT_DATA_7F21)]) if self.profile.select_data_length_byte else b"") + SELECT_DATA_7F21
        if cmd.data != expected:
            raise SwError(SW.INCORRECT_DATA)
        self.occurrence = cmd.p1
        return b""

    def _put_data(self, cmd: Command) -> bytes:
        tag = (cmd.p1 << 8) | cmd.p2
        value = cmd.data
        self._require(PRIVATE_DO_WRITE.get(tag, Pw.PW3))
        if tag in WRITABLE_DOS:
            if len(value) > WRITABLE_DOS[tag]:
                raise SwError(SW.WRONG_LENGTH)
            self._store(tag, value)
        elif tag == TAG_PW_STATUS:
            if len(value) != 1 or value[0] not in (0x00, 0x01):
                raise SwError(SW.INCORRECT_DATA)
            self.pw1_status = value[0]
        elif tag in ATTRIBUTE_TAGS.values():
            self._put_attributes(next(r for r, t in ATTRIBUTE_TAGS.items() if t == tag), value)
        elif any(tag in tags.values() for tags in (FINGERPRINT_TAGS, CA_FINGERPRINT_TAGS, TIME_TAGS)):
            size = 4 if tag in TIME_TAGS.values() else 20
            if len(value) != size:
                raise SwError(SW.WRONG_LENGTH)
            self._store(tag, value)
        elif tag == TAG_RESETTING_CODE:
            self._put_resetting_code(value)
        elif tag in UIF_TAGS.values() and self.profile.button:
            self._put_uif(next(r for r, t in UIF_TAGS.items() if t == tag), value)
        elif tag == TAG_KDF and self.profile.kdf:
            self._put_kdf(value)
        elif tag == TAG_CARDHOLDER_CERT:
            if len(value) > MAX_CERTIFICATE:
                raise SwError(SW.NOT_ENOUGH_MEMORY)
            self.certificates[self.occurrence] = value
        elif tag == TAG_ATT_CERT and self.profile.attestation:
            if len(value) > MAX_CERTIFICATE:
                raise SwError(SW.NOT_ENOUGH_MEMORY)
            self._ensure_attestation()
            self._store(tag, value)
        else:
            raise SwError(SW.REFERENCE_NOT_FOUND)
        self._changed()
        return b""

    def _store(self, tag: int, value: bytes) -> None:
        if value:
            self.dos[tag] = value
        else:
            self.dos.pop(tag, None)

    def _put_attributes(self, ref: KeyRef, value: bytes) -> None:
        """New attributes delete the slot's key, even unchanged ones (ykman's
        delete_key writes RSA 4096, then RSA 2048)."""
        if ref not in self.keys:
            raise SwError(SW.REFERENCE_NOT_FOUND)
        attributes = Attributes.parse(value)
        plain = replace(attributes, import_with_public=False)
        if plain not in self.profile.algorithms[ref]:
            raise SwError(SW.INCORRECT_DATA)
        if ref == KeyRef.ATT:
            self._ensure_attestation()
        self.keys[ref] = KeySlot(attributes, None, KEY_STATUS_NONE, self.keys[ref].uif)
        for tags in (FINGERPRINT_TAGS, TIME_TAGS):
            self.dos.pop(tags[ref], None)

    def _put_resetting_code(self, value: bytes) -> None:
        if not value:
            self.rc = Password(None, self.rc.total, 0)
            return
        if not self._new_value_ok(value, MIN_RC):
            raise SwError(SW.INCORRECT_DATA)
        self.rc = Password(value, self.rc.total, self.rc.total)

    def _put_uif(self, ref: KeyRef, value: bytes) -> None:
        if ref not in self.keys:
            raise SwError(SW.REFERENCE_NOT_FOUND)
        if len(value) != 2 or value[1] != UIF_BUTTON or value[0] > Uif.CACHED_FIXED:
            raise SwError(SW.INCORRECT_DATA)
        if value[0] in (Uif.CACHED, Uif.CACHED_FIXED) and not self.profile.cached_uif:
            raise SwError(SW.INCORRECT_DATA)
        if self.keys[ref].uif in (Uif.FIXED, Uif.CACHED_FIXED):
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)  # fixed until the next reset
        self.keys[ref].uif = value[0]

    def _put_kdf(self, value: bytes) -> None:
        """Setting the KDF puts PW1 and PW3 back to their defaults (as hashes when
        a KDF is on) and deletes the resetting code (ykman's set_kdf)."""
        fields = parse_tlv_dict(value)
        algorithm = fields.get(0x81)
        if algorithm == b"\x00":
            self.pw1.value, self.pw3.value = DEFAULT_PW1, DEFAULT_PW3
        elif algorithm == b"\x03" and 0x87 in fields and 0x88 in fields:
            self.pw1.value, self.pw3.value = fields[0x87], fields[0x88]
        else:
            raise SwError(SW.INCORRECT_DATA)
        self.pw1.left, self.pw3.left = self.pw1.total, self.pw3.total
        self.rc = Password(None, self.rc.total, 0)
        self.kdf = value

    # ------------------------------------------------------------ life cycle
    def _terminate(self, cmd: Command) -> bytes:
        if not (self.verified[Pw.PW3] or self.pw3.left == 0):
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        self.terminated = True
        self._clear_session()
        self._changed()
        return b""

    def _activate(self, cmd: Command) -> bytes:
        if self.terminated:
            self._factory_reset()
            self._clear_session()
            self._changed()
        return b""

    # ------------------------------------------------------------- redaction
    def redact_command(self, apdu: bytes) -> bytes:
        """PINs and resetting codes (VERIFY, CHANGE REFERENCE DATA, RESET RETRY
        COUNTER, PUT DATA D3) and imported keys (PUT DATA odd with 4D, also the
        chained parts after the first) never reach a trace."""
        if len(apdu) < 4:
            return apdu
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        continues = self._secret_chain and ins == Ins.PUT_DATA_ODD
        self._secret_chain = False
        secret = (
            ins in (Ins.VERIFY, Ins.CHANGE_REFERENCE, Ins.RESET_RETRY)
            or (ins == Ins.PUT_DATA and (p1 << 8 | p2) == TAG_RESETTING_CODE)
            or (ins == Ins.PUT_DATA_ODD and (p1, p2) == (0x3F, 0xFF) and (continues or _data_starts_with(apdu, 0x4D)))
        )
        if secret and ins == Ins.PUT_DATA_ODD and apdu[0] & 0x10:
            self._secret_chain = True
        return blank_data(apdu) if secret else apdu

    def redact_response(self, apdu: bytes, rapdu: bytes) -> bytes:
        """A deciphered session key (PSO:DECIPHER, and the GET RESPONSE parts after it)."""
        if len(apdu) < 4:
            return rapdu
        secret = (apdu[1], apdu[2], apdu[3]) == (Ins.PSO, 0x80, 0x86) or (
            apdu[1] == 0xC0 and self._last_response_secret)
        self._last_response_secret = secret and len(rapdu) >= 2 and rapdu[-2] == 0x61
        return blank_response(rapdu) if secret else rapdu


def _data_starts_with(apdu: bytes, first: int) -> bool:
    try:
        data = parse_command(apdu).data
    except SwError:
        return False
    return bool(data) and data[0] == first

