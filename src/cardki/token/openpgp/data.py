"""The OpenPGP card's data objects, parsed into frozen values.

Everything here reads bytes a card sent, and a card is untrusted input: each
``parse`` raises :class:`MalformedResponseError` (a ``ValueError``, which the
token reports as CKR_DEVICE_ERROR) when the bytes cannot be what the spec says,
and never IndexError, KeyError or a bare ValueError. Lengths are checked before
they are used; values come only from the answer, so they are bounded by it.

Where real cards differ from the spec in harmless ways the parsers accept both
forms, as GnuPG does: a constructed DO with or without its own outer tag, the
YubiKey's 7F66 and UIF DOs inside 73, four fingerprints in C5 (ATT as the 4th),
a trailing 00 after an EC OID (YubiKey 5.2/5.3), DO FA's outer length two bytes
too long (YubiKey 5), and historical bytes that GnuPG would only warn about.
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Tuple

from cardki.apdu import MalformedResponseError, SmartCardProtocol, Tlv, parse_tlvs
from cardki.curves import Curve, CurveKind, curve_by_name, curve_by_openpgp_oid
from cardki.digests import BY_NAME
from cardki.named_tuple import NamedTuple
from cardki.transport import CardTransport

from .constants import (
    FEATURE_BUTTON,
    KEY_ORDER,
    OPENPGP_AID,
    AlgorithmId,
    Do,
    EcImportFormat,
    ExtendedCapability,
    KdfAlgorithm,
    KdfHash,
    KeyRef,
    KeyStatus,
    Password,
    RsaImportFormat,
    Uif,
    manufacturer_name,
)

FINGERPRINT_LENGTH = 20
GENERATION_TIME_LENGTH = 4
PW_STATUS_LENGTH = 7
AID_LENGTH = 16
SIGNATURE_COUNTER_LENGTH = 3
#: The most bytes RFC 4880's iterated and salted S2K can be told to hash (its
#: largest coded count). A card asking for more is broken or wants to stall us.
MAX_KDF_ITERATION_COUNT = 65011712
#: What ykman writes (about 8 MB hashed per PIN).
DEFAULT_KDF_ITERATION_COUNT = 0x780000
#: The spec's factory PINs: a KDF-DO carries their hashes as the new PW1 and PW3.
DEFAULT_PW1, DEFAULT_PW3 = b"123456", b"12345678"
#: RSA moduli and public exponents cardki accepts from algorithm attributes;
#: outside them the attributes are "unknown" (the key is not offered).
RSA_MODULUS_BITS = range(1024, 16384 + 1)
RSA_EXPONENT_BITS = range(2, 64 + 1)


# ---------------------------------------------------------------- helpers


def tlv_fields(data: bytes, what: str) -> Dict[int, bytes]:
    """Tag -> value of the TLVs in ``data`` (MalformedResponseError naming ``what``)."""
    try:
        return {tlv.tag: tlv.value for tlv in parse_tlvs(data)}
    except ValueError as exc:
        raise MalformedResponseError(f"{what}: {exc}") from None


def constructed_value(tag: int, data: bytes, what: str) -> bytes:
    """The content of constructed DO ``tag``: ``data`` is that one TLV, or (as some
    cards answer GET DATA, and GnuPG accepts) already its content."""
    try:
        tlv = Tlv(data)
    except ValueError:
        return bytes(data)
    return tlv.value if tlv.tag == tag else bytes(data)


def _required(fields: Mapping[int, bytes], tag: int, what: str) -> bytes:
    value = fields.get(tag)
    if value is None:
        raise MalformedResponseError(f"{what}: tag {tag:02X} is missing")
    return value


def _bcd(byte: int, what: str) -> int:
    high, low = byte >> 4, byte & 0x0F
    if high > 9 or low > 9:
        raise MalformedResponseError(f"{what}: {byte:02X} is not a BCD number")
    return high * 10 + low


def _by_key(value: bytes, size: int, what: str) -> Dict[KeyRef, bytes]:
    """C5/C6/CD: ``size``-byte entries for SIG, DEC, AUT (and ATT on a YubiKey)."""
    count, rest = divmod(len(value), size)
    if rest or not 3 <= count <= len(KEY_ORDER):
        raise MalformedResponseError(f"{what}: {len(value)} bytes are not 3 or 4 entries of {size}")
    return {ref: value[i * size:(i + 1) * size] for i, ref in zip(range(count), KEY_ORDER, strict=False)}


# -------------------------------------------------------------------- AID


class Aid(NamedTuple):
    """DO 4F: RID + application, spec version, manufacturer, serial, RFU."""

    raw: bytes
    version: Tuple[int, int]
    manufacturer: int
    serial: bytes
    """The 4 serial bytes (BCD on a YubiKey: the number the Management applet reports)."""

    @classmethod
    def parse(cls, value: bytes) -> Aid:
        what = "AID (4F)"
        if len(value) != AID_LENGTH or value[:len(OPENPGP_AID)] != OPENPGP_AID:
            raise MalformedResponseError(f"{what}: {len(value)} bytes that are not an OpenPGP AID")
        return cls(bytes(value), (_bcd(value[6], what), _bcd(value[7], what)),
                   int.from_bytes(value[8:10], "big"), bytes(value[10:14]))

    @property
    def serial_hex(self) -> str:
        """The serial as ``gpg --card-status`` prints it ("Serial number"): 8 hex digits."""
        return self.serial.hex().upper()

    @property
    def serial_number(self) -> int | None:
        """The serial read as the decimal number its BCD digits spell (a YubiKey's
        serial); None when the bytes are not BCD."""
        text = self.serial_hex
        return int(text) if text.isdigit() else None

    @property
    def display_serial(self) -> str:
        """GnuPG's display form for an OpenPGP card: manufacturer and serial, "0006 12345678"."""
        return f"{self.manufacturer:04X} {self.serial_hex}"

    @property
    def application_id(self) -> str:
        """The whole AID in hex, as gpg's "Application ID" line shows it."""
        return self.raw.hex().upper()

    @property
    def manufacturer_name(self) -> str:
        return manufacturer_name(self.manufacturer)


# ------------------------------------------------- historical bytes, lengths


class CardCapabilities(NamedTuple):
    """The card capabilities in the historical bytes (ISO 7816-4 8.1.1.2.7, third byte)."""

    command_chaining: bool = False
    extended_lengths: bool = False
    extended_length_information: bool = False
    """The card has DO 7F66 with its largest command and response."""

    @classmethod
    def from_historical_bytes(cls, historical: bytes) -> CardCapabilities:
        """Parse them leniently, as GnuPG does (it only warns): bytes that do not hold
        card capabilities mean none are announced; nothing here raises."""
        if not historical:
            return cls()
        category, body = historical[0], historical[1:]
        if category == 0x00:
            body = body[:-3]  # status indicator + SW1 SW2 end the compact TLVs
        elif category != 0x80:
            return cls()
        offset = 0
        while offset < len(body):
            tag, length = body[offset] >> 4, body[offset] & 0x0F
            value = body[offset + 1:offset + 1 + length]
            if len(value) != length:
                return cls()
            if tag == 0x7 and length == 3:
                third = value[2]
                return cls(bool(third & 0x80), bool(third & 0x40), bool(third & 0x20))
            offset += 1 + length
        return cls()


def historical_bytes_from_atr(atr: bytes) -> bytes:
    """The historical bytes of an ATR (ISO 7816-3 8.2): T0's low nibble counts them,
    after the interface bytes that T0 and each TDi announce."""
    if len(atr) < 2:
        raise MalformedResponseError(f"ATR of {len(atr)} bytes")
    count = atr[1] & 0x0F
    indicator, offset = atr[1], 2
    while True:
        present = bin(indicator >> 4).count("1")
        has_next = bool(indicator & 0x80)
        offset += present
        if not has_next:
            break
        if offset > len(atr):
            raise MalformedResponseError("ATR truncated in its interface bytes")
        indicator = atr[offset - 1]
    if offset + count > len(atr):
        raise MalformedResponseError("ATR truncated in its historical bytes")
    return bytes(atr[offset:offset + count])


class ExtendedLengthInformation(NamedTuple):
    """DO 7F66: the largest command and response APDU, in bytes."""

    max_command: int
    max_response: int

    @classmethod
    def parse(cls, value: bytes) -> ExtendedLengthInformation:
        what = "extended length information (7F66)"
        try:
            items = parse_tlvs(constructed_value(Do.EXTENDED_LENGTH_INFORMATION, value, what))
        except ValueError as exc:
            raise MalformedResponseError(f"{what}: {exc}") from None
        if len(items) != 2 or any(item.tag != 0x02 or not 1 <= item.length <= 2 for item in items):
            raise MalformedResponseError(f"{what}: not two 1-2 byte integers")
        command, response = (int.from_bytes(item.value, "big") for item in items)
        if not command or not response:
            raise MalformedResponseError(f"{what}: a maximum of 0 bytes")
        return cls(command, response)


#: ISO 7816-4 extended APDU overhead around the command data: header 4, Lc 3, Le 2.
EXTENDED_APDU_OVERHEAD = 9
SHORT_MAX_DATA = 255
EXTENDED_MAX_DATA = 65535


class ApduLimits(NamedTuple):
    """How to talk to the card: extended APDUs or short ones (chained), and the most
    command data one APDU may carry. What :class:`cardki.apdu.SmartCardProtocol`
    must be told (``extended=``, ``max_extended=``)."""

    extended: bool
    command_chaining: bool
    max_command_data: int

    @classmethod
    def of(cls, capabilities: CardCapabilities,
           lengths: ExtendedLengthInformation | None = None) -> ApduLimits:
        if not capabilities.extended_lengths:
            return cls(False, capabilities.command_chaining, SHORT_MAX_DATA)
        if lengths is None:
            return cls(True, capabilities.command_chaining, EXTENDED_MAX_DATA)
        data = min(EXTENDED_MAX_DATA, lengths.max_command - EXTENDED_APDU_OVERHEAD)
        if data <= SHORT_MAX_DATA:  # extended APDUs that fit less than a short one: use short ones
            return cls(False, capabilities.command_chaining, SHORT_MAX_DATA)
        return cls(True, capabilities.command_chaining, data)

    @classmethod
    def from_atr(cls, atr: bytes) -> ApduLimits:
        """What the ATR alone says (before any APDU): the card capabilities in its
        historical bytes, without 7F66's lengths."""
        return cls.of(CardCapabilities.from_historical_bytes(historical_bytes_from_atr(atr)))

    def protocol(self, transport: CardTransport) -> SmartCardProtocol:
        """A protocol for ``transport`` that formats APDUs within these limits."""
        protocol = SmartCardProtocol(transport)
        self.apply(protocol)
        return protocol

    def apply(self, protocol: SmartCardProtocol) -> None:
        """Make ``protocol`` format APDUs within these limits from now on (what 6E says
        refines what the ATR said, without a new protocol)."""
        protocol.configure(extended=self.extended,
                           max_extended=self.max_command_data if self.extended else EXTENDED_MAX_DATA)


# ------------------------------------------------- extended capabilities


class ExtendedCapabilities(NamedTuple):
    """DO C0 (10 bytes since spec 2.0; bytes 6-9 changed meaning in 3.0)."""

    flags: ExtendedCapability
    sm_algorithm: int
    max_challenge_length: int
    max_certificate_length: int
    max_special_do_length: int
    """3.x: the largest login data, URL and private DO."""
    pin_block_2_format: bool
    mse: bool
    """MANAGE SECURITY ENVIRONMENT (swap the DEC and AUT keys' roles)."""

    @classmethod
    def parse(cls, value: bytes, version: Tuple[int, int]) -> ExtendedCapabilities:
        what = "extended capabilities (C0)"
        if not value:
            raise MalformedResponseError(f"{what}: empty")
        flags = ExtendedCapability(value[0])
        if version < (2, 0):
            return cls(flags, 0, 0, 0, 0, False, False)
        if len(value) < 10:
            raise MalformedResponseError(f"{what}: {len(value)} bytes, expected 10")
        v3 = version >= (3, 0)
        return cls(flags, value[1], int.from_bytes(value[2:4], "big"), int.from_bytes(value[4:6], "big"),
                   int.from_bytes(value[6:8], "big") if v3 else 0,
                   v3 and bool(value[8] & 0x01), v3 and bool(value[9] & 0x01))

    def has(self, capability: ExtendedCapability) -> bool:
        return bool(self.flags & capability)


# ---------------------------------------------------- algorithm attributes


class RsaAttributes(NamedTuple):
    """RSA: modulus and public exponent sizes and the key import format."""

    modulus_bits: int
    exponent_bits: int = 17
    """17 is e = 65537, what YubiKeys take (some reject 32, OpenSC issue 1949)."""
    import_format: RsaImportFormat = RsaImportFormat.STANDARD

    @property
    def algorithm(self) -> AlgorithmId:
        return AlgorithmId.RSA

    def encode(self) -> bytes:
        return (bytes([AlgorithmId.RSA]) + self.modulus_bits.to_bytes(2, "big")
                + self.exponent_bits.to_bytes(2, "big") + bytes([self.import_format]))


class EcAttributes(NamedTuple):
    """ECDH, ECDSA or EdDSA on a named curve, and whether import sends the public key."""

    algorithm: AlgorithmId
    curve: Curve
    import_format: EcImportFormat = EcImportFormat.STANDARD

    @classmethod
    def for_key(cls, ref: KeyRef, curve: Curve) -> EcAttributes:
        """What a key on ``curve`` in ``ref`` is written as: EdDSA for Ed25519, ECDH for
        the decryption key (X25519 included), ECDSA for the other keys."""
        if curve.kind is CurveKind.EDWARDS:
            return cls(AlgorithmId.EDDSA, curve)
        return cls(AlgorithmId.ECDH if ref is KeyRef.DEC else AlgorithmId.ECDSA, curve)

    def encode(self) -> bytes:
        value = bytes([self.algorithm]) + self.curve.openpgp_oid_bytes
        if self.import_format is EcImportFormat.WITH_PUBLIC_KEY:
            value += bytes([EcImportFormat.WITH_PUBLIC_KEY])
        return value


class UnknownAttributes(NamedTuple):
    """Attributes cardki cannot use (another algorithm, an unknown curve, sizes out of
    range, a curve that does not fit the algorithm): kept, so the slot shows no key
    instead of breaking the whole card."""

    raw: bytes

    @property
    def algorithm(self) -> int:
        return self.raw[0] if self.raw else 0

    def encode(self) -> bytes:
        return self.raw


AlgorithmAttributes = RsaAttributes | EcAttributes | UnknownAttributes

#: The curve kinds each EC algorithm works on.
_CURVE_KINDS = {
    AlgorithmId.ECDSA: (CurveKind.WEIERSTRASS,),
    AlgorithmId.ECDH: (CurveKind.WEIERSTRASS, CurveKind.MONTGOMERY),
    AlgorithmId.EDDSA: (CurveKind.EDWARDS,),
}


def parse_algorithm_attributes(value: bytes) -> AlgorithmAttributes:
    """One C1/C2/C3/DA value (or an FA entry). Never raises: what cardki cannot use
    is :class:`UnknownAttributes`."""
    value = bytes(value)
    if not value:
        return UnknownAttributes(value)
    if value[0] == AlgorithmId.RSA:
        if len(value) not in (5, 6):
            return UnknownAttributes(value)
        bits, e_bits = int.from_bytes(value[1:3], "big"), int.from_bytes(value[3:5], "big")
        fmt = value[5] if len(value) == 6 else RsaImportFormat.STANDARD
        if bits not in RSA_MODULUS_BITS or bits % 8 or e_bits not in RSA_EXPONENT_BITS or fmt > 3:
            return UnknownAttributes(value)
        return RsaAttributes(bits, e_bits, RsaImportFormat(fmt))
    try:
        algorithm = AlgorithmId(value[0])
    except ValueError:
        return UnknownAttributes(value)
    oid, import_format = value[1:], EcImportFormat.STANDARD
    curve = curve_by_openpgp_oid(oid)
    if curve is None and len(oid) > 1 and oid[-1] in (0x00, EcImportFormat.WITH_PUBLIC_KEY):
        # FF: the import carries the public key; 00: YubiKey 5.2/5.3's stray format byte.
        curve = curve_by_openpgp_oid(oid[:-1])
        if oid[-1] == EcImportFormat.WITH_PUBLIC_KEY:
            import_format = EcImportFormat.WITH_PUBLIC_KEY
    if curve is None or curve.kind not in _CURVE_KINDS[algorithm]:
        return UnknownAttributes(value)
    return EcAttributes(algorithm, curve, import_format)


# ---------------------------------------------------------- PW status C4


class PwStatus(NamedTuple):
    """DO C4: how long PW1's signature verification lasts, the passwords' maximum
    lengths and formats, and the tries left."""

    pw1_valid_for_several_signatures: bool
    """False: a VERIFY 81 is good for one PSO:CDS only (C4[0] = 00; a YubiKey says FF, "several")."""
    pw1_max_length: int
    rc_max_length: int
    pw3_max_length: int
    pw1_pin_block_2: bool
    pw3_pin_block_2: bool
    pw1_tries_left: int
    rc_tries_left: int
    """0 also when no resetting code is set."""
    pw3_tries_left: int

    @classmethod
    def parse(cls, value: bytes) -> PwStatus:
        if len(value) != PW_STATUS_LENGTH:
            raise MalformedResponseError(f"PW status (C4): {len(value)} bytes, expected {PW_STATUS_LENGTH}")
        return cls(value[0] != 0x00, value[1] & 0x7F, value[2], value[3] & 0x7F,
                   bool(value[1] & 0x80), bool(value[3] & 0x80), value[4], value[5], value[6])

    def tries_left(self, password: Password) -> int:
        return {Password.USER: self.pw1_tries_left, Password.RESETTING_CODE: self.rc_tries_left,
                Password.ADMIN: self.pw3_tries_left}[password]

    def max_length(self, password: Password) -> int:
        return {Password.USER: self.pw1_max_length, Password.RESETTING_CODE: self.rc_max_length,
                Password.ADMIN: self.pw3_max_length}[password]


# ------------------------------------------------ application related data


def _uif(value: bytes, what: str) -> Uif:
    if not 1 <= len(value) <= 2:
        raise MalformedResponseError(f"{what}: {len(value)} bytes, expected 2")
    try:
        return Uif(value[0])
    except ValueError:
        raise MalformedResponseError(f"{what}: unknown touch policy {value[0]:02X}") from None


def parse_uif(value: bytes) -> Uif:
    """One D6-D9 value: the touch policy (its second byte names the button)."""
    return _uif(value, "user interaction flag")


_KEY_REFS = frozenset(int(ref) for ref in KeyRef)


def _key_information(value: bytes) -> Dict[KeyRef, KeyStatus]:
    what = "key information (DE)"
    if len(value) % 2:
        raise MalformedResponseError(f"{what}: {len(value)} bytes are not pairs")
    result: Dict[KeyRef, KeyStatus] = {}
    for offset in range(0, len(value), 2):
        try:
            status = KeyStatus(value[offset + 1])
        except ValueError:
            raise MalformedResponseError(f"{what}: unknown key status {value[offset + 1]:02X}") from None
        if value[offset] in _KEY_REFS:  # a key cardki does not know is left out
            result[KeyRef(value[offset])] = status
    return result


def _general_feature_management(value: bytes) -> int:
    what = "general feature management (7F74)"
    features = tlv_fields(constructed_value(Do.GENERAL_FEATURE_MANAGEMENT, value, what), what)
    feature = features.get(0x81, b"")
    if len(feature) != 1:
        raise MalformedResponseError(f"{what}: no one-byte feature list (81)")
    return feature[0]


class ApplicationRelatedData(NamedTuple):
    """DO 6E: what a token needs to know about the card, in one GET DATA."""

    aid: Aid
    historical_bytes: bytes
    card_capabilities: CardCapabilities
    extended_length_information: ExtendedLengthInformation | None
    general_feature_management: int | None
    """7F74's feature byte: 20 = a button (touch policies exist); None without 7F74."""
    extended_capabilities: ExtendedCapabilities
    algorithm_attributes: Mapping[KeyRef, AlgorithmAttributes]
    """C1, C2, C3 (and DA on a YubiKey): what each key slot holds or would generate."""
    pw_status: PwStatus
    fingerprints: Mapping[KeyRef, bytes]
    ca_fingerprints: Mapping[KeyRef, bytes]
    generation_times: Mapping[KeyRef, int]
    key_information: Mapping[KeyRef, KeyStatus]
    """DE (3.3+): empty when the card has none."""
    uif: Mapping[KeyRef, Uif]
    """D6-D9 inside 6E (a YubiKey; other cards answer them to GET DATA only)."""

    @classmethod
    def parse(cls, data: bytes) -> ApplicationRelatedData:
        what = "application related data (6E)"
        outer = tlv_fields(constructed_value(Do.APPLICATION_RELATED_DATA, data, what), what)
        aid = Aid.parse(_required(outer, Do.AID, what))
        # Spec 3.x nests the discretionary DOs in 73; older cards put them in 6E itself.
        inner = (tlv_fields(outer[Do.DISCRETIONARY_DATA], f"{what} 73") if Do.DISCRETIONARY_DATA in outer
                 else outer)

        def find(tag: int) -> bytes | None:
            return inner.get(tag, outer.get(tag))  # the YubiKey puts 7F66 and D6-D9 in 73

        historical = outer.get(Do.HISTORICAL_BYTES, b"")
        lengths = find(Do.EXTENDED_LENGTH_INFORMATION)
        features = find(Do.GENERAL_FEATURE_MANAGEMENT)
        attributes = {ref: parse_algorithm_attributes(value) for ref in KEY_ORDER
                      if (value := inner.get(ref.dos.attributes)) is not None}
        for ref in (KeyRef.SIG, KeyRef.DEC, KeyRef.AUT):
            if ref not in attributes:
                raise MalformedResponseError(f"{what}: no algorithm attributes for {ref.name}")
        ca_fingerprints = inner.get(Do.CA_FINGERPRINTS)
        times = inner.get(Do.GENERATION_TIMES)
        uif: Dict[KeyRef, Uif] = {}
        for ref in KEY_ORDER:
            value = find(ref.dos.uif)
            if value is not None:
                uif[ref] = _uif(value, f"{what} {ref.dos.uif:02X}")
        return cls(
            aid=aid,
            historical_bytes=historical,
            card_capabilities=CardCapabilities.from_historical_bytes(historical),
            extended_length_information=None if lengths is None else ExtendedLengthInformation.parse(lengths),
            general_feature_management=None if features is None else _general_feature_management(features),
            extended_capabilities=ExtendedCapabilities.parse(_required(inner, Do.EXTENDED_CAPABILITIES, what),
                                                             aid.version),
            algorithm_attributes=attributes,
            pw_status=PwStatus.parse(_required(inner, Do.PW_STATUS, what)),
            fingerprints=_by_key(_required(inner, Do.FINGERPRINTS, what), FINGERPRINT_LENGTH, f"{what} C5"),
            ca_fingerprints={} if ca_fingerprints is None else _by_key(ca_fingerprints, FINGERPRINT_LENGTH,
                                                                       f"{what} C6"),
            generation_times={} if times is None else {
                ref: int.from_bytes(value, "big")
                for ref, value in _by_key(times, GENERATION_TIME_LENGTH, f"{what} CD").items()},
            key_information=_key_information(inner.get(Do.KEY_INFORMATION, b"")),
            uif=uif,
        )

    @property
    def keys(self) -> Tuple[KeyRef, ...]:
        """The key references the card has (SIG, DEC, AUT, and ATT on a YubiKey 5.2+)."""
        return tuple(self.algorithm_attributes)

    @property
    def has_button(self) -> bool:
        return self.general_feature_management is not None and bool(
            self.general_feature_management & FEATURE_BUTTON)

    @property
    def apdu_limits(self) -> ApduLimits:
        return ApduLimits.of(self.card_capabilities, self.extended_length_information)

    def fingerprint(self, ref: KeyRef) -> bytes | None:
        """The key's fingerprint (C7-C9, DB), None when unset (all zeros)."""
        value = self.fingerprints.get(ref)
        return value if value is not None and any(value) else None

    def generation_time(self, ref: KeyRef) -> int | None:
        """Seconds since 1970 (CE-D0, DD), None when unset (zero)."""
        return self.generation_times.get(ref) or None


# ------------------------------------------------------ other data objects


class CardholderData(NamedTuple):
    """DO 65: name (ISO 8859-1, "Surname<<Given"), language preferences, salutation."""

    name: bytes
    language: bytes
    sex: int | None
    """ISO 5218 as ASCII: 0x31 male, 0x32 female, 0x39 not announced; None when unset."""

    @classmethod
    def parse(cls, data: bytes) -> CardholderData:
        what = "cardholder related data (65)"
        fields = tlv_fields(constructed_value(Do.CARDHOLDER_RELATED_DATA, data, what), what)
        sex = fields.get(Do.SEX, b"")
        if len(sex) > 1:
            raise MalformedResponseError(f"{what}: salutation of {len(sex)} bytes")
        return cls(fields.get(Do.NAME, b""), fields.get(Do.LANGUAGE, b""), sex[0] if sex else None)

    @property
    def display_name(self) -> str:
        """The name as a person reads it ("Given Surname"), as GnuPG shows it."""
        text = self.name.decode("latin-1")
        surname, _, given = text.partition("<<")
        return " ".join(part.replace("<", " ") for part in (given, surname) if part)


def parse_signature_counter(data: bytes) -> int:
    """DO 7A (security support template): the digital signature counter 93, 3 bytes."""
    what = "security support template (7A)"
    fields = tlv_fields(constructed_value(Do.SECURITY_SUPPORT_TEMPLATE, data, what), what)
    counter = _required(fields, Do.SIGNATURE_COUNTER, what)
    if len(counter) != SIGNATURE_COUNTER_LENGTH:
        raise MalformedResponseError(f"{what}: a signature counter of {len(counter)} bytes, expected 3")
    return int.from_bytes(counter, "big")


def parse_version(data: bytes) -> Tuple[int, int, int]:
    """Yubico's GET VERSION answer: major, minor, patch in BCD."""
    if len(data) != 3:
        raise MalformedResponseError(f"GET VERSION: {len(data)} bytes, expected 3")
    what = "GET VERSION"
    return (_bcd(data[0], what), _bcd(data[1], what), _bcd(data[2], what))


class AlgorithmInformation(NamedTuple):
    """DO FA (3.4): every algorithm attribute value each key accepts; what the
    token's mechanism list and key generation offer."""

    entries: Mapping[KeyRef, Tuple[AlgorithmAttributes, ...]]

    @classmethod
    def parse(cls, data: bytes) -> AlgorithmInformation:
        what = "algorithm information (FA)"
        content = _fa_content(bytes(data), what)
        entries: Dict[KeyRef, List[AlgorithmAttributes]] = {}
        by_tag: Dict[int, KeyRef] = {ref.dos.attributes: ref for ref in KEY_ORDER}
        try:
            items = parse_tlvs(content)
        except ValueError as exc:
            raise MalformedResponseError(f"{what}: {exc}") from None
        for item in items:
            ref = by_tag.get(item.tag)
            if ref is not None:  # other tags (a future key) are left out
                entries.setdefault(ref, []).append(parse_algorithm_attributes(item.value))
        return cls({ref: tuple(values) for ref, values in entries.items()})

    def for_key(self, ref: KeyRef) -> Tuple[AlgorithmAttributes, ...]:
        return self.entries.get(ref, ())

    def without_curve25519_errors(self) -> AlgorithmInformation:
        """The list a YubiKey before 5.6.1 means (yubikit patches it the same way): it
        lists X25519 as EdDSA for every key, Ed25519 for DEC and ATT, and no X25519 ECDH."""
        ed25519, x25519 = curve_by_name("ed25519"), curve_by_name("x25519")
        assert ed25519 is not None and x25519 is not None
        wrong = UnknownAttributes(bytes([AlgorithmId.EDDSA]) + x25519.openpgp_oid_bytes)
        eddsa = EcAttributes(AlgorithmId.EDDSA, ed25519)
        ecdh = EcAttributes(AlgorithmId.ECDH, x25519)
        fixed: Dict[KeyRef, Tuple[AlgorithmAttributes, ...]] = {}
        for ref, values in self.entries.items():
            kept = [value for value in values if value != wrong
                    and not (value == eddsa and ref in (KeyRef.DEC, KeyRef.ATT))]
            if ref is KeyRef.DEC and ecdh not in kept:
                kept.append(ecdh)
            fixed[ref] = tuple(kept)
        return AlgorithmInformation(fixed)


def _fa_content(data: bytes, what: str) -> bytes:
    """FA's content; a YubiKey 5 declares an outer length 2 more than it sends."""
    try:
        tlv = Tlv(data)
    except ValueError:
        tlv = None
    if tlv is not None:
        return tlv.value if tlv.tag == Do.ALGORITHM_INFORMATION else data
    try:
        padded: Tlv | None = Tlv(data + b"\x00\x00")
    except ValueError:
        padded = None
    if padded is not None and padded.tag == Do.ALGORITHM_INFORMATION:
        return padded.value[:-2]
    return data  # the entries without FA around them (tlv parsing decides)


# --------------------------------------------------------------- KDF-DO


class Kdf(NamedTuple):
    """DO F9: whether PINs go to the card as themselves or as an iterated and salted
    S2K hash (RFC 4880 3.7.1.3), and its parameters."""

    algorithm: KdfAlgorithm = KdfAlgorithm.NONE
    hash_algorithm: KdfHash | None = None
    iteration_count: int = 0
    """Bytes to hash (RFC 4880's "count", not a number of rounds)."""
    salt_pw1: bytes = b""
    salt_rc: bytes | None = None
    salt_pw3: bytes | None = None
    initial_hash_pw1: bytes | None = None
    initial_hash_pw3: bytes | None = None

    @classmethod
    def parse(cls, data: bytes) -> Kdf:
        what = "KDF-DO (F9)"
        fields = tlv_fields(constructed_value(Do.KDF, data, what), what)
        algorithm = fields.get(0x81, b"\x00")
        if algorithm == b"\x00":
            return cls()
        if algorithm != bytes([KdfAlgorithm.ITERSALTED_S2K]):
            # Sending a PIN the card cannot compare would burn a try: refuse instead.
            raise MalformedResponseError(f"{what}: unknown KDF algorithm {algorithm.hex()}")
        hash_id, count = _required(fields, 0x82, what), _required(fields, 0x83, what)
        try:
            hash_algorithm = KdfHash(hash_id[0]) if len(hash_id) == 1 else None
        except ValueError:
            hash_algorithm = None
        if hash_algorithm is None:
            raise MalformedResponseError(f"{what}: unknown hash {hash_id.hex()}")
        iterations = int.from_bytes(count, "big")
        if len(count) != 4 or not 1 <= iterations <= MAX_KDF_ITERATION_COUNT:
            raise MalformedResponseError(f"{what}: iteration count out of range")
        salt = _required(fields, 0x84, what)
        if not salt:
            raise MalformedResponseError(f"{what}: an empty salt")
        return cls(KdfAlgorithm.ITERSALTED_S2K, hash_algorithm, iterations, salt,
                   fields.get(0x85), fields.get(0x86), fields.get(0x87), fields.get(0x88))

    @classmethod
    def iterated_salted_s2k(cls, hash_algorithm: KdfHash = KdfHash.SHA256,
                            iteration_count: int = DEFAULT_KDF_ITERATION_COUNT) -> Kdf:
        """A new KDF-DO with fresh 8-byte salts and the initial hashes of the default
        PINs, which the card takes as PW1 and PW3 when it is written (as ykman sets it)."""
        bare = cls(KdfAlgorithm.ITERSALTED_S2K, hash_algorithm, iteration_count, os.urandom(8), os.urandom(8),
                   os.urandom(8))
        return bare._replace(initial_hash_pw1=bare.derive(Password.USER, DEFAULT_PW1),
                       initial_hash_pw3=bare.derive(Password.ADMIN, DEFAULT_PW3))

    @property
    def active(self) -> bool:
        return self.algorithm is not KdfAlgorithm.NONE

    def encode(self) -> bytes:
        """The value PUT DATA F9 writes."""
        value = bytes(Tlv(0x81, bytes([self.algorithm])))
        if not self.active:
            return value
        assert self.hash_algorithm is not None
        value += bytes(Tlv(0x82, bytes([self.hash_algorithm])))
        value += bytes(Tlv(0x83, self.iteration_count.to_bytes(4, "big")))
        for tag, part in ((0x84, self.salt_pw1), (0x85, self.salt_rc), (0x86, self.salt_pw3),
                          (0x87, self.initial_hash_pw1), (0x88, self.initial_hash_pw3)):
            if part:
                value += bytes(Tlv(tag, part))
        return value

    def salt(self, password: Password) -> bytes:
        """The password's salt; RC and PW3 use PW1's when the card has none of their own."""
        own = {Password.USER: self.salt_pw1, Password.RESETTING_CODE: self.salt_rc,
               Password.ADMIN: self.salt_pw3}[password]
        return own or self.salt_pw1

    def derive(self, password: Password, pin: bytes | bytearray) -> bytes:
        """What VERIFY (and CHANGE REFERENCE DATA, RESET RETRY COUNTER) send for ``pin``:
        the PIN itself without a KDF, else the S2K hash of salt || PIN."""
        if not pin:
            raise ValueError("an empty PIN has no KDF value (and an empty VERIFY asks for the status)")
        if not self.active:
            return bytes(pin)
        assert self.hash_algorithm is not None
        digest = BY_NAME["sha256" if self.hash_algorithm is KdfHash.SHA256 else "sha512"].new()
        data = self.salt(password) + bytes(pin)
        # RFC 4880: hash `count` bytes of salt||PIN repeated, but at least all of it once.
        remaining = max(self.iteration_count, len(data))
        block = data * max(1, 65536 // len(data))
        while remaining >= len(block):
            digest.update(block)
            remaining -= len(block)
        digest.update(block[:remaining])
        return digest.digest()
