"""The API's pure helpers: mechanism names, ECDSA signature forms, public keys
from Cryptoki attributes, default mechanisms."""

from __future__ import annotations

import pytest
from asn1crypto.core import ObjectIdentifier
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from cardki import api, api_objects, api_util, errors
from cardki.api import CKA, CKK, CKM
from cardki.der import der_octet_string


@pytest.mark.parametrize("text, expected", [
    ("SHA256_RSA_PKCS", CKM.SHA256_RSA_PKCS),
    ("CKM_ECDSA_SHA384", CKM.ECDSA_SHA384),
    ("ckm_eddsa", CKM.EDDSA),
    ("sha256-rsa-pkcs-pss", CKM.SHA256_RSA_PKCS_PSS),
    ("0x1041", CKM.ECDSA),
    ("64", 64),
])
def test_parse_mechanism_accepts_names_and_numbers(text: str, expected: int) -> None:
    assert api.parse_mechanism(text) == expected


def test_parse_mechanism_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown mechanism"):
        api.parse_mechanism("SHA3_RSA_MAGIC")


def test_default_sign_mechanism_per_key_type() -> None:
    assert api.default_sign_mechanism(CKK.RSA) == CKM.SHA256_RSA_PKCS
    assert api.default_sign_mechanism(CKK.EC) == CKM.ECDSA_SHA256
    assert api.default_sign_mechanism(CKK.EC_EDWARDS) == CKM.EDDSA
    with pytest.raises(errors.MechanismInvalid) as info:  # type: ignore[attr-defined]
        api.default_sign_mechanism(CKK.EC_MONTGOMERY)
    assert info.value.rv == 0x70


def test_ecdsa_raw_and_der_round_trip_and_verify_with_cryptography() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    der = key.sign(b"data", ec.ECDSA(hashes.SHA384()))
    raw = api.ecdsa_der_to_raw(der, 48)
    assert len(raw) == 96
    assert api.ecdsa_raw_to_der(raw) == der
    key.public_key().verify(api.ecdsa_raw_to_der(raw), b"data", ec.ECDSA(hashes.SHA384()))


def test_ecdsa_raw_to_der_rejects_odd_lengths() -> None:
    with pytest.raises(ValueError):
        api.ecdsa_raw_to_der(b"\x01\x02\x03")


def _octet_string(data: bytes) -> bytes:
    return der_octet_string(data)


def test_public_key_from_rsa_attributes() -> None:
    key = rsa.generate_private_key(65537, 1024).public_key()
    numbers = key.public_numbers()
    attrs = {CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS: numbers.n.to_bytes(128, "big"),
             CKA.PUBLIC_EXPONENT: b"\x01\x00\x01"}
    assert api_util.public_key_from_attributes(attrs).public_numbers() == numbers


def test_public_key_from_ec_attributes_with_and_without_octet_string() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    params = ObjectIdentifier("1.2.840.10045.3.1.7").dump()
    for encoded in (_octet_string(point), point):
        attrs = {CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: params, CKA.EC_POINT: encoded}
        assert api_util.public_key_from_attributes(attrs).public_numbers() == key.public_numbers()
    assert api.curve_name(params) == "secp256r1"
    assert api_util.curve_bits(params) == 256


def test_public_key_from_edwards_and_montgomery_attributes() -> None:
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = ed.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    got = api_util.public_key_from_attributes({CKA.KEY_TYPE: CKK.EC_EDWARDS, CKA.EC_POINT: _octet_string(raw)})
    assert got.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw
    xk = x25519.X25519PrivateKey.generate().public_key()
    raw = xk.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    got = api_util.public_key_from_attributes({CKA.KEY_TYPE: CKK.EC_MONTGOMERY, CKA.EC_POINT: _octet_string(raw)})
    assert got.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw


def test_public_key_info_wins_over_components() -> None:
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    got = api_util.public_key_from_attributes({CKA.KEY_TYPE: CKK.EC, CKA.PUBLIC_KEY_INFO: spki})
    assert got.public_numbers() == key.public_numbers()


def test_peer_point_encoding_for_derive() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = api_objects._encode_public_point(key)
    assert point[0] == 0x04 and len(point) == 65
    xk = x25519.X25519PrivateKey.generate().public_key()
    assert len(api_objects._encode_public_point(xk)) == 32
    assert api_objects._encode_public_point(b"\x01\x02") == b"\x01\x02"
    with pytest.raises(TypeError):
        api_objects._encode_public_point("not a key")


def test_default_pss_parameter_matches_the_hash() -> None:
    params = api_util.default_pss_params(CKM.SHA384_RSA_PKCS_PSS)
    assert (params.hash_alg, params.mgf, params.salt_len) == (CKM.SHA384, api.CKG.MGF1_SHA384, 48)
    oaep = api.rsa_oaep_params(CKM.SHA256, label=b"L")
    assert (oaep.hash_alg, oaep.mgf, oaep.source_data) == (CKM.SHA256, api.CKG.MGF1_SHA256, b"L")
