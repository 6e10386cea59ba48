"""cardki.certificate's DER reader against cryptography, which read every certificate
before it: on generated certificates the attribute values are the same bytes as
cryptography's (the old code's, kept here as the reference), and on damaged or
hostile bytes the reader never takes what cryptography refuses (read_certificate),
never raises, and read_certificate_fields refuses exactly what cryptography refuses."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any, Dict, List

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hostile_answers import tlvs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardki.certificate import (
    KEY_USAGE_BITS,
    CertificateFields,
    read_certificate,
    read_certificate_fields,
    read_plain_certificate,
)
from cardki.constants import CKA, CKC, CKO
from cardki.der import der_integer
from cardki.token.attributes import certificate_attributes

_KEYS: Dict[str, Any] = {
    "rsa1024": rsa.generate_private_key(65537, 1024),
    "rsa2048": rsa.generate_private_key(65537, 2048),
    "p256": ec.generate_private_key(ec.SECP256R1()),
    "p384": ec.generate_private_key(ec.SECP384R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate(),
    "x25519": x25519.X25519PrivateKey.generate(),
}
_SIGNERS = ("rsa2048", "p256", "p384", "ed25519")
_PRINTABLE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
_ATTRIBUTES = (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME,
               NameOID.LOCALITY_NAME, NameOID.SERIAL_NUMBER, NameOID.EMAIL_ADDRESS, NameOID.COUNTRY_NAME)
#: String types the reader takes (the others go to cryptography).
_PLAIN_TYPES = (x509.name._ASN1Type.UTF8String, x509.name._ASN1Type.PrintableString, x509.name._ASN1Type.IA5String)
_OTHER_TYPES = (x509.name._ASN1Type.BMPString, x509.name._ASN1Type.T61String, x509.name._ASN1Type.UniversalString)


@st.composite
def _attribute(draw: Any, plain: bool) -> x509.NameAttribute:
    oid = draw(st.sampled_from(_ATTRIBUTES))
    kind = draw(st.sampled_from(_PLAIN_TYPES if plain else _PLAIN_TYPES + _OTHER_TYPES))
    alphabet = _PRINTABLE if kind in (x509.name._ASN1Type.PrintableString, x509.name._ASN1Type.IA5String) \
        else st.characters(codec="utf-8")
    if kind is x509.name._ASN1Type.T61String:
        alphabet = st.characters(codec="ascii")
    if oid == NameOID.COUNTRY_NAME:  # two characters, as the builder insists
        return x509.NameAttribute(oid, draw(st.text(_PRINTABLE, min_size=2, max_size=2)), kind)
    value = draw(st.text(alphabet, min_size=1, max_size=16))  # a CN: at most 64 bytes
    return x509.NameAttribute(oid, value, kind)


@st.composite
def _name(draw: Any, plain: bool) -> x509.Name:
    rdns = []
    for _ in range(draw(st.integers(0, 4))):
        count = 1 if plain else draw(st.integers(1, 2))
        attributes = draw(st.lists(_attribute(plain), min_size=count, max_size=count,
                                   unique_by=lambda a: (a.oid, a.value)))
        rdns.append(x509.RelativeDistinguishedName(attributes))
    return x509.Name(rdns)


@st.composite
def _key_usage(draw: Any) -> x509.KeyUsage:
    bits = {name: draw(st.booleans()) for name in KEY_USAGE_BITS[:7]}
    agreement = bits["key_agreement"]
    return x509.KeyUsage(**bits, encipher_only=agreement and draw(st.booleans()),
                         decipher_only=agreement and draw(st.booleans()))


_MOMENTS = st.datetimes(min_value=datetime.datetime(1950, 1, 1), max_value=datetime.datetime(2200, 12, 31),
                        timezones=st.just(datetime.UTC))


@st.composite
def certificates(draw: Any, plain: bool = True) -> bytes:
    """A certificate of one of PIV's and OpenPGP's key types, from a CA key of any of
    them; ``plain``: only what the DER reader takes itself (else also BMPString and
    T61String names, multi-valued RDNs, SubjectAltName, ExtendedKeyUsage)."""
    key = _KEYS[draw(st.sampled_from(sorted(_KEYS)))].public_key()
    signer_name = draw(st.sampled_from(_SIGNERS))
    signer = _KEYS[signer_name]
    hash_algorithm = None if signer_name == "ed25519" else draw(
        st.sampled_from([hashes.SHA256(), hashes.SHA384(), hashes.SHA512()]))
    start, end = sorted([draw(_MOMENTS), draw(_MOMENTS)])
    builder = (x509.CertificateBuilder().subject_name(draw(_name(plain))).issuer_name(draw(_name(plain)))
               .public_key(key).serial_number(draw(st.integers(1, 2**159 - 1)))
               .not_valid_before(start).not_valid_after(end))
    if draw(st.booleans()):
        builder = builder.add_extension(draw(_key_usage()), critical=draw(st.booleans()))
    if draw(st.booleans()):
        ca = draw(st.booleans())
        path = draw(st.one_of(st.none(), st.integers(0, 127))) if ca else None
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path), critical=draw(st.booleans()))
    if draw(st.booleans()):
        builder = builder.add_extension(x509.SubjectKeyIdentifier(draw(st.binary(min_size=1, max_size=32))),
                                        critical=False)
    if not plain and draw(st.booleans()):
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("card.example")]), critical=False)
    if not plain and draw(st.booleans()):
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(signer, hash_algorithm).public_bytes(serialization.Encoding.DER)


def _spki(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _old_attributes(der: bytes, cert: x509.Certificate) -> Dict[int, Any]:
    """What token/attributes.certificate_attributes made from cryptography's certificate
    before the DER reader (its code as it was)."""
    return {
        CKA.CLASS: int(CKO.CERTIFICATE), CKA.TOKEN: True, CKA.PRIVATE: False, CKA.MODIFIABLE: False,
        CKA.COPYABLE: False, CKA.DESTROYABLE: True, CKA.LABEL: "label", CKA.ID: b"\x01",
        CKA.CERTIFICATE_TYPE: int(CKC.X_509), CKA.CERTIFICATE_CATEGORY: 1,
        CKA.TRUSTED: False, CKA.CHECK_VALUE: hashlib.sha1(der).digest()[:3],  # nosec - spec-mandated
        CKA.VALUE: der, CKA.SUBJECT: cert.subject.public_bytes(), CKA.ISSUER: cert.issuer.public_bytes(),
        CKA.SERIAL_NUMBER: der_integer(cert.serial_number), CKA.PUBLIC_KEY_INFO: _spki(cert.public_key()),
        CKA.START_DATE: None, CKA.END_DATE: None, CKA.URL: "",
        CKA.HASH_OF_SUBJECT_PUBLIC_KEY: b"", CKA.HASH_OF_ISSUER_PUBLIC_KEY: b"",
        CKA.JAVA_MIDP_SECURITY_DOMAIN: 0,
    }


def _old_key_usage(cert: x509.Certificate) -> List[str] | None:
    """The KeyUsage bits as the old certificate_key_usage/usage_allows saw them."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    return [bit for bit in KEY_USAGE_BITS
            if (usage.key_agreement or bit not in ("encipher_only", "decipher_only")) and getattr(usage, bit)]


def _same_as_cryptography(der: bytes, fields: CertificateFields) -> None:
    cert = read_certificate(der)
    assert cert is not None, der.hex()
    assert certificate_attributes(fields, cka_id=b"\x01", label="label", holder=True) == _old_attributes(der, cert)
    assert fields.version == cert.version.value
    assert fields.key_usage == (None if (old := _old_key_usage(cert)) is None else frozenset(old))
    assert _spki(fields.public_key) == _spki(cert.public_key())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(certificates())
def test_the_reader_takes_plain_certificates_and_reads_what_cryptography_reads(der: bytes) -> None:
    fields = read_plain_certificate(der)
    assert fields is not None, der.hex()
    _same_as_cryptography(der, fields)
    assert read_certificate_fields(der) == fields


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(certificates(plain=False))
def test_other_certificates_get_the_same_attributes_through_cryptography(der: bytes) -> None:
    fields = read_certificate_fields(der)
    assert fields is not None
    _same_as_cryptography(der, fields)


def _agrees_with_cryptography(data: bytes) -> None:
    """The reader takes only what cryptography reads, and then reads the same; the
    fields are refused exactly when cryptography refuses."""
    plain = read_plain_certificate(data)
    if plain is not None:
        _same_as_cryptography(data, plain)
    fields = read_certificate_fields(data)
    assert (fields is None) == (read_certificate(data) is None)
    if fields is not None:
        _same_as_cryptography(data, fields)


_MUTATIONS = st.sampled_from(["set", "flip", "truncate", "delete", "insert", "duplicate"])


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(certificates(), certificates(plain=False)), _MUTATIONS, st.data())
def test_damaged_certificates_are_refused_as_cryptography_refuses_them(der: bytes, mutation: str,
                                                                       data: st.DataObject) -> None:
    # (The warnings filtered: cryptography's about damaged certificates it still reads, a
    # serial that is not positive, a country name of other than two characters.)
    # Damage lands as often in the first 200 bytes (names, times, the key's header) as
    # anywhere. The draws do not depend on der's length: an ECDSA signature's varies.
    position = data.draw(st.integers(0, 2**20)) % (min(len(der), 200) if data.draw(st.booleans()) else len(der))
    if mutation == "set":
        damaged = der[:position] + bytes([data.draw(st.integers(0, 255))]) + der[position + 1:]
    elif mutation == "flip":
        damaged = der[:position] + bytes([der[position] ^ (1 << data.draw(st.integers(0, 7)))]) + der[position + 1:]
    elif mutation == "truncate":
        damaged = der[:position]
    elif mutation == "delete":
        damaged = der[:position] + der[position + data.draw(st.integers(1, 4)):]
    elif mutation == "insert":
        damaged = der[:position] + data.draw(st.binary(min_size=1, max_size=4)) + der[position:]
    else:
        damaged = der[:position] + der[position:position + data.draw(st.integers(1, 40))] + der[position:]
    _agrees_with_cryptography(damaged)


#: The tags of a certificate's parts, for hostile TLV trees of its shape.
_CERTIFICATE_TAGS = (0x30, 0x31, 0x02, 0x03, 0x04, 0x05, 0x06, 0x01, 0x0C, 0x13, 0x16, 0x17, 0x18, 0xA0, 0xA3)


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tlvs(_CERTIFICATE_TAGS, leaf_size=12, depth=4))
def test_hostile_tlv_trees_are_refused_as_cryptography_refuses_them(data: bytes) -> None:
    _agrees_with_cryptography(data)


def _edited(old: bytes, new: bytes) -> Any:
    return lambda der: der.replace(old, new, 1)


def _without_version(der: bytes) -> bytes:
    """The certificate as version 1 writes it: no version field (and no extensions)."""
    from cardki.der import der_tlv, read_element

    _, body, _ = read_element(der)
    _, tbs, tbs_end = read_element(der, body)
    version_end = read_element(der, tbs)[2]
    tbs_content = der[version_end:tbs_end]
    fields, offset = [], 0
    while offset < len(tbs_content):
        tag, _, end = read_element(tbs_content, offset)
        if tag != 0xA3:
            fields.append(tbs_content[offset:end])
        offset = end
    return der_tlv(0x30, der_tlv(0x30, b"".join(fields)) + der[tbs_end:])


@pytest.mark.parametrize("edit, readable", [
    (lambda der: der + b"\x00", False),                             # a byte after the certificate
    (_without_version, True),                                        # version 1
    (lambda der: der[:1] + bytes([der[1] + 1, 0]) + der[2:], False),  # a length not in its shortest form
    (_edited(b"\x13\x02DE", b"\x13\x02D*"), False),                 # a PrintableString with a '*'
    (_edited(b"\x0c\x02me", b"\x0c\x02\xc3\x28"), False),          # a UTF8String that is no UTF-8
    (_edited(b"\x0c\x02me", b"\x1e\x02\xd8\x00"), False),          # a BMPString of half a surrogate pair
    (_edited(bytes.fromhex("a003020102"), bytes.fromhex("a003020101")), False),  # version 2
    (_edited(bytes.fromhex("a003020102"), bytes.fromhex("a003020100")), False),  # version 1, written out
    (_edited(b"260101000000Z", b"260101240000Z"), False),            # hour 24
    (_edited(b"260101000000Z", b"260101000060Z"), False),            # second 60
    (_edited(b"260101000000Z", b"260229000000Z"), False),            # 29 February 2026
    (_edited(b"260101000000Z", b"240229000000Z"), True),             # 29 February 2024
    (_edited(bytes.fromhex("0603551d0f0101ff"), bytes.fromhex("0603551d0f010100")), False),  # critical FALSE written
    (_edited(bytes.fromhex("0603551d0f0101ff04040302020c"), bytes.fromhex("0603551d0f0101ff040403020001")),
     True),                                                          # encipher only, without key agreement
    (_edited(bytes.fromhex("0603551d0f0101ff04040302020c"), bytes.fromhex("0603551d0f0101ff04040302020d")),
     True),                                                          # a KeyUsage with padding bits set
])
def test_an_edited_field_is_read_as_cryptography_reads_it(edit: Any, readable: bool) -> None:
    key = _KEYS["p256"]
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE", x509.name._ASN1Type.PrintableString),
                      x509.NameAttribute(NameOID.COMMON_NAME, "me")])
    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    usage = x509.KeyUsage(False, False, False, False, True, True, False, False, False)
    der = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
           .serial_number(7).not_valid_before(moment).not_valid_after(moment)
           .add_extension(usage, critical=True)
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    assert read_plain_certificate(der) is not None
    edited = edit(der)
    assert edited != der
    assert (read_certificate(edited) is not None) is readable
    _agrees_with_cryptography(edited)


def test_a_certificate_with_a_duplicated_extension_is_listed_and_narrows_nothing() -> None:
    """cryptography reads such a certificate but raises DuplicateExtension (no ValueError)
    at its extensions, which the listing let out: now its KeyUsage is unreadable, as for
    any extension list cryptography cannot read, and the key keeps what its slot allows."""
    from cardki.token.piv.objects import ALGORITHM_BY_NAME, SlotContents, key_objects
    from cardki.token.profiles import candidates

    key = _KEYS["p256"]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "me")])
    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    usage = x509.KeyUsage(False, False, False, False, True, False, False, False, False)
    der = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
           .serial_number(7).not_valid_before(moment).not_valid_after(moment)
           .add_extension(usage, critical=True)
           .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00"), critical=False)
           .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.5"), b"\x05\x00"), critical=False)
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    der = der.replace(bytes.fromhex("06032a0305"), bytes.fromhex("06032a0304"))  # 1.2.3.4 twice
    cert = read_certificate(der)
    assert cert is not None
    with pytest.raises(x509.DuplicateExtension):
        cert.extensions  # noqa: B018 - parsed at first access
    spec = next(s for s in candidates()[0].slots if s.key == 0x9D)
    objects = key_objects(SlotContents(spec, ALGORITHM_BY_NAME["ECCP256"], key.public_key(), der))
    assert [o.attributes[CKA.CLASS] for o in objects] == [CKO.PRIVATE_KEY, CKO.PUBLIC_KEY, CKO.CERTIFICATE]
    assert objects[0].attributes[CKA.SIGN] is True  # the KeyUsage (key agreement only) narrows nothing
