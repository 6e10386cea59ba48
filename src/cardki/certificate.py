"""Reading an X.509 certificate that came from outside (a card's container).

cryptography parses a certificate's names, version and public key lazily, at
their first access, so a certificate that loads can still raise ValueError,
UnsupportedAlgorithm or InvalidVersion later, wherever a field happens to be read
(listing objects, C_GetAttributeValue, the Python API). :func:`read_certificate`
reads every field cardki uses once, up front: a certificate it returns is safe to
use, and one it refuses is simply unreadable.

Listing a card's objects needs only a few of those fields, and importing
cryptography.x509 costs ~25 ms of a process that signs once. So
:func:`read_certificate_fields` first reads them with a small strict DER reader of
its own, which takes only certificates it can vouch that cryptography reads the
same way: DER throughout, a signature algorithm it knows, names of single-valued
RDNs with UTF8String, PrintableString or IA5String values, a positive serial
number, and extensions among KeyUsage, BasicConstraints, SubjectKeyIdentifier and
Yubico's attestation extensions (any other is cryptography's to parse). Every
other certificate (a rarer kind, or a damaged one) goes to cryptography, so the
verdict is always cryptography's: a certificate is refused exactly when
:func:`read_certificate` refuses it, and its fields are the same bytes. The
public key is read from the SubjectPublicKeyInfo by :func:`cardki.spki.decode`
(the forms cards use, without cryptography's serialization package) or else by
``load_der_public_key``, which reads it as ``Certificate.public_key()`` does
(tests/unit/test_certificate.py compares the two readers on generated, damaged
and hostile certificates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cardki.named_tuple import NamedTuple

from .der import der_integer, der_oid, der_tlv, oid_content, read_element
from .spki import decode as decode_spki

if TYPE_CHECKING:  # cryptography.x509 costs ~25 ms to import: only a certificate the reader does not take needs it
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

#: The KeyUsage bits (RFC 5280 4.2.1.3) by bit number, in cryptography's names.
KEY_USAGE_BITS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                  "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


class CertificateFields(NamedTuple):
    """What cardki reads from a certificate to list it and its key."""

    der: bytes
    version: int
    """0 (v1) or 2 (v3), as X.509 numbers them."""
    serial_number: bytes
    """The serial number as a DER INTEGER (CKA_SERIAL_NUMBER)."""
    issuer: bytes
    """The issuer's Name, DER (CKA_ISSUER)."""
    subject: bytes
    """The subject's Name, DER (CKA_SUBJECT)."""
    public_key: PublicKeyTypes
    key_usage: frozenset[str] | None
    """The KeyUsage bits set; None when the certificate has no KeyUsage (or one that
    cannot be read: then it narrows nothing)."""


def read_certificate(der: bytes) -> x509.Certificate | None:
    """``der`` as a certificate whose version, serial number, names and public key
    all parse; None when any of them does not (or when ``der`` is no certificate)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_der_x509_certificate(bytes(der))
        cert.version  # noqa: B018 - parsed at first access
        cert.serial_number  # noqa: B018
        cert.subject.public_bytes()
        cert.issuer.public_bytes()
        cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        return None
    except Exception:  # noqa: BLE001 - untrusted bytes: cryptography also raises e.g. KeyError on some names
        return None
    return cert


def read_certificate_fields(der: bytes) -> CertificateFields | None:
    """The fields of ``der``; None exactly when :func:`read_certificate` refuses it.
    Most certificates are read without cryptography.x509 (see the module's docstring)."""
    der = bytes(der)
    fields = read_plain_certificate(der)
    if fields is not None:
        return fields
    cert = read_certificate(der)  # a kind the reader leaves to cryptography, or a damaged one
    return fields_of(der, cert) if cert is not None else None


def fields_of(der: bytes, cert: x509.Certificate) -> CertificateFields:
    """The fields of a certificate cryptography read (:func:`read_certificate`)."""
    from cryptography import x509 as x509_module

    try:
        usage: x509.KeyUsage | None = cert.extensions.get_extension_for_class(x509_module.KeyUsage).value
    except Exception:  # noqa: BLE001 - none, or extensions cryptography cannot read: the certificate narrows nothing
        usage = None
    key_usage = None
    if usage is not None:
        agreement = usage.key_agreement  # encipher_only/decipher_only raise unless key_agreement is set
        key_usage = frozenset(bit for bit in KEY_USAGE_BITS
                              if (agreement or bit not in ("encipher_only", "decipher_only")) and getattr(usage, bit))
    return CertificateFields(der, cert.version.value, der_integer(cert.serial_number), cert.issuer.public_bytes(),
                             cert.subject.public_bytes(), cert.public_key(), key_usage)


# ---------------------------------------------------------------- the DER reader
_SEQUENCE, _SET, _INTEGER, _BIT_STRING, _OCTET_STRING, _OID, _BOOLEAN = 0x30, 0x31, 0x02, 0x03, 0x04, 0x06, 0x01
_UTF8_STRING, _PRINTABLE_STRING, _IA5_STRING, _UTC_TIME, _GENERALIZED_TIME = 0x0C, 0x13, 0x16, 0x17, 0x18
_VERSION, _EXTENSIONS = 0xA0, 0xA3
_V3 = bytes.fromhex("020102")


def _algorithm(dotted: str, parameters: bytes = b"") -> bytes:
    return der_tlv(_SEQUENCE, der_oid(dotted) + parameters)


#: Signature AlgorithmIdentifiers the reader takes, in their one DER form (RSA
#: PKCS#1 v1.5 with its NULL, ECDSA and Ed25519 without parameters).
_SIGNATURE_ALGORITHMS = frozenset({
    *(_algorithm(f"1.2.840.113549.1.1.{n}", b"\x05\x00") for n in (5, 11, 12, 13)),
    *(_algorithm(f"1.2.840.10045.4.3.{n}") for n in (2, 3, 4)),
    _algorithm("1.3.101.112"),
})
#: The value lengths (UTF-8 bytes) cryptography wants of these name attributes (it
#: warns about others): country names and common names.
_LENGTH_LIMITS = {oid_content("2.5.4.6"): (2, 2), oid_content("1.3.6.1.4.1.311.60.2.1.3"): (2, 2),
                  oid_content("2.5.4.3"): (1, 64)}
#: x500UniqueIdentifier: a BIT STRING value in cryptography, not a string.
_UNIQUE_IDENTIFIER = oid_content("2.5.4.45")
_KEY_USAGE, _BASIC_CONSTRAINTS, _SUBJECT_KEY_IDENTIFIER = (oid_content(f"2.5.29.{n}") for n in (15, 19, 14))
#: Yubico's attestation extensions (firmware, serial, policies, form factor): unknown to
#: cryptography, so it never parses their values.
_YUBICO_EXTENSIONS = frozenset(oid_content(f"1.3.6.1.4.1.41482.3.{n}") for n in (3, 7, 8, 9))
_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
#: Longer OIDs are left to cryptography (which has its own limit).
_MAX_OID_LENGTH = 32


class _Unread(Exception):
    """The reader does not take this certificate (cryptography will judge it)."""


def _element(data: bytes, offset: int, tag: int, end: int | None = None) -> tuple[int, int]:
    """(content start, end) of the element at ``offset``, which must have ``tag``
    and lie within ``end``."""
    try:
        found, start, stop = read_element(data, offset)
    except ValueError:
        raise _Unread() from None
    if found != tag or (end is not None and stop > end):
        raise _Unread()
    return start, stop


def _only(data: bytes, start: int, end: int, tag: int) -> tuple[int, int]:
    """The one element with ``tag`` that fills ``data[start:end]`` exactly."""
    inner, stop = _element(data, start, tag, end)
    if stop != end:
        raise _Unread()
    return inner, stop


def _check_oid(content: bytes) -> None:
    if not 0 < len(content) <= _MAX_OID_LENGTH or content[-1] & 0x80:
        raise _Unread()
    previous = 0x00
    for byte in content:
        if byte == 0x80 and not previous & 0x80:  # an arc padded with a leading 0x80
            raise _Unread()
        previous = byte


def _check_name(data: bytes, start: int, end: int) -> None:
    """A Name: RDNs of one AttributeTypeAndValue each, with a non-empty UTF8String,
    PrintableString or IA5String value."""
    offset = start
    while offset < end:
        rdn, offset = _element(data, offset, _SET, end)
        pair, pair_end = _only(data, rdn, offset, _SEQUENCE)
        oid, value = _element(data, pair, _OID, pair_end)
        _check_oid(data[oid:value])
        try:
            tag, content, stop = read_element(data, value)
        except ValueError:
            raise _Unread() from None
        if stop != pair_end or stop == content:
            raise _Unread()
        text = data[content:stop]
        if tag == _UTF8_STRING:
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                raise _Unread() from None
        elif tag == _PRINTABLE_STRING:
            if not _PRINTABLE.issuperset(text):
                raise _Unread()
        elif tag != _IA5_STRING or not text.isascii():
            raise _Unread()
        oid_bytes = data[oid:value]
        shortest, longest = _LENGTH_LIMITS.get(oid_bytes, (1, len(text)))
        if oid_bytes == _UNIQUE_IDENTIFIER or not shortest <= len(text) <= longest:
            raise _Unread()


_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _check_time(tag: int, content: bytes) -> None:
    """UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ of a real moment."""
    size = 13 if tag == _UTC_TIME else 15
    if tag not in (_UTC_TIME, _GENERALIZED_TIME) or len(content) != size or content[-1:] != b"Z" \
            or not content[:-1].isdigit() or not content.isascii():
        raise _Unread()
    digits = content[:-1].decode("ascii")
    year = int(digits[:size - 11])
    if tag == _UTC_TIME:
        year += 2000 if year < 50 else 1900
    elif year < 1950:
        raise _Unread()
    month, day, hour, minute, second = (int(digits[i:i + 2]) for i in range(size - 11, size - 1, 2))
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= month <= 12 or not 1 <= day <= (_DAYS[month - 1] if month != 2 or leap else 28) \
            or hour > 23 or minute > 59 or second > 59:
        raise _Unread()


def _key_usage(value: bytes) -> frozenset[str]:
    """The bits of a KeyUsage BIT STRING (one or two bytes, unused bits zero)."""
    start, end = _only(value, 0, len(value), _BIT_STRING)
    content = value[start:end]
    if not 1 <= len(content) <= 3 or content[0] > 7 or (len(content) == 1 and content[0]) \
            or (len(content) > 1 and content[-1] & ((1 << content[0]) - 1)):
        raise _Unread()
    bits = int.from_bytes(content[1:].ljust(2, b"\x00"), "big")
    usage = frozenset(name for number, name in enumerate(KEY_USAGE_BITS) if bits & (0x8000 >> number))
    if usage & {"encipher_only", "decipher_only"} and "key_agreement" not in usage:
        raise _Unread()  # cryptography refuses this KeyUsage
    return usage


_BASIC_CONSTRAINTS_FORMS = frozenset({bytes.fromhex("3000"), bytes.fromhex("30030101ff")})


def _check_basic_constraints(value: bytes) -> None:
    """SEQUENCE {}, { TRUE } or { TRUE, a path length below 128 }."""
    if value in _BASIC_CONSTRAINTS_FORMS:
        return
    if len(value) != 8 or value[:7] != bytes.fromhex("30060101ff0201") or value[7] > 0x7F:
        raise _Unread()


def _extensions(data: bytes, start: int, end: int) -> frozenset[str] | None:
    """The KeyUsage of an extension list the reader takes (None: no KeyUsage)."""
    listing, stop = _only(data, start, end, _SEQUENCE)
    if listing == stop:
        raise _Unread()
    seen = set()
    key_usage = None
    offset = listing
    while offset < stop:
        extension, offset = _element(data, offset, _SEQUENCE, stop)
        oid, value = _element(data, extension, _OID, offset)
        identifier = data[oid:value]
        if identifier in seen:
            raise _Unread()
        seen.add(identifier)
        if data[value:value + 1] == bytes([_BOOLEAN]):
            flag, value = _element(data, value, _BOOLEAN, offset)
            if data[flag:value] != b"\xff":  # FALSE is the default: DER leaves it out
                raise _Unread()
        inner, _ = _only(data, value, offset, _OCTET_STRING)
        content = data[inner:offset]
        if identifier == _KEY_USAGE:
            key_usage = _key_usage(content)
        elif identifier == _BASIC_CONSTRAINTS:
            _check_basic_constraints(content)
        elif identifier == _SUBJECT_KEY_IDENTIFIER:
            _only(content, 0, len(content), _OCTET_STRING)
        elif identifier not in _YUBICO_EXTENSIONS:
            raise _Unread()
    return key_usage


def _load_public_key(spki_der: bytes) -> PublicKeyTypes:
    """A SubjectPublicKeyInfo that :func:`cardki.spki.decode` leaves to cryptography."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    return load_der_public_key(spki_der)


def read_plain_certificate(der: bytes) -> CertificateFields | None:
    """The fields of a certificate the DER reader takes; None for any other (which
    may still be a certificate cryptography reads: :func:`read_certificate_fields`)."""
    try:
        body, end = _only(der, 0, len(der), _SEQUENCE)
        offset, tbs_end = _element(der, body, _SEQUENCE, end)
        algorithm_start = tbs_end
        _, algorithm_end = _element(der, algorithm_start, _SEQUENCE, end)
        algorithm = der[algorithm_start:algorithm_end]
        signature, _ = _only(der, algorithm_end, end, _BIT_STRING)
        if algorithm not in _SIGNATURE_ALGORITHMS or der[signature:signature + 1] != b"\x00":
            raise _Unread()
        version = 0
        if der[offset:offset + 1] == bytes([_VERSION]):
            inner, offset = _element(der, offset, _VERSION, tbs_end)
            if der[inner:offset] != _V3:
                raise _Unread()
            version = 2
        serial_start = offset
        serial, offset = _element(der, offset, _INTEGER, tbs_end)
        content = der[serial:offset]
        if not 0 < len(content) <= 21 or content[0] > 0x7F or (content[0] == 0 and (len(content) < 2
                                                                                  or content[1] < 0x80)):
            raise _Unread()  # zero, negative or not minimal: cryptography's to judge
        serial_number = der[serial_start:offset]
        inner_algorithm = offset
        _, offset = _element(der, offset, _SEQUENCE, tbs_end)
        if der[inner_algorithm:offset] != algorithm:
            raise _Unread()
        names = []
        for part in ("issuer", "validity", "subject"):
            start, stop = _element(der, offset, _SEQUENCE, tbs_end)
            if part == "validity":
                not_before, middle = _element_any(der, start, stop)
                not_after, last = _element_any(der, middle, stop)
                if last != stop:
                    raise _Unread()
                _check_time(der[start], der[not_before:middle])
                _check_time(der[middle], der[not_after:last])
            else:
                _check_name(der, start, stop)
                names.append(der[offset:stop])
            offset = stop
        spki_start = offset
        spki, offset = _element(der, offset, _SEQUENCE, tbs_end)
        spki_algorithm, key = _element(der, spki, _SEQUENCE, offset)
        _element(der, spki_algorithm, _OID, key)
        _only(der, key, offset, _BIT_STRING)
        spki_der = der[spki_start:offset]
        key_usage = None
        if offset < tbs_end:
            if version != 2:
                raise _Unread()
            extensions, offset = _element(der, offset, _EXTENSIONS, tbs_end)
            key_usage = _extensions(der, extensions, offset)
        if offset != tbs_end:
            raise _Unread()
        public_key = decode_spki(spki_der) or _load_public_key(spki_der)
    except Exception:  # noqa: BLE001 - _Unread, or a key cryptography does not load: cryptography judges it
        return None
    return CertificateFields(der, version, serial_number, names[0], names[1], public_key, key_usage)


def _element_any(data: bytes, offset: int, end: int) -> tuple[int, int]:
    try:
        _, start, stop = read_element(data, offset)
    except ValueError:
        raise _Unread() from None
    if stop > end:
        raise _Unread()
    return start, stop
