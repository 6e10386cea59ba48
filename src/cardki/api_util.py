"""Pure helpers of the Python API: mechanism names and defaults, PSS/OAEP
parameters, ECDSA signature forms, and public keys from Cryptoki attributes.

Nothing here talks to a card, so each rule is testable on its own.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

from . import errors
from .constants import CKA, CKG, CKK, CKM
from .der import unwrap_octet_string

Pin = str | bytes
MechanismArg = int | Tuple[int, Any] | None

#: Hash mechanism -> (MGF1 generator, digest length): the usual PSS/OAEP pairing.
_HASH_PARAMS: Dict[int, Tuple[int, int]] = {
    CKM.SHA_1: (CKG.MGF1_SHA1, 20),
    CKM.SHA224: (CKG.MGF1_SHA224, 28),
    CKM.SHA256: (CKG.MGF1_SHA256, 32),
    CKM.SHA384: (CKG.MGF1_SHA384, 48),
    CKM.SHA512: (CKG.MGF1_SHA512, 64),
}

#: Hashed PSS mechanism -> its hash, so the PSS parameter can be defaulted.
_PSS_HASH: Dict[int, int] = {
    CKM.SHA1_RSA_PKCS_PSS: CKM.SHA_1,
    CKM.SHA224_RSA_PKCS_PSS: CKM.SHA224,
    CKM.SHA256_RSA_PKCS_PSS: CKM.SHA256,
    CKM.SHA384_RSA_PKCS_PSS: CKM.SHA384,
    CKM.SHA512_RSA_PKCS_PSS: CKM.SHA512,
}

_DEFAULT_SIGN: Dict[int, int] = {
    CKK.RSA: CKM.SHA256_RSA_PKCS,
    CKK.EC: CKM.ECDSA_SHA256,
    CKK.EC_EDWARDS: CKM.EDDSA,
}

_ECDSA_MECHANISMS = frozenset({CKM.ECDSA, CKM.ECDSA_SHA1, CKM.ECDSA_SHA224, CKM.ECDSA_SHA256,
                               CKM.ECDSA_SHA384, CKM.ECDSA_SHA512})


def default_sign_mechanism(key_type: int) -> int:
    """The mechanism :meth:`SignMixin.sign` uses when none is given: SHA-256
    PKCS#1 v1.5 for RSA, ECDSA with SHA-256 for EC, pure EdDSA for Ed25519."""
    try:
        return _DEFAULT_SIGN[key_type]
    except KeyError:
        raise errors.MechanismInvalid(
            f"no default signing mechanism for key type {_name(CKK, key_type)}") from None


def parse_mechanism(text: str) -> int:
    """``"SHA256_RSA_PKCS"``, ``"CKM_ECDSA"`` or ``"0x1041"`` -> the mechanism number."""
    name = text.strip().upper()
    if name.startswith("CKM_"):
        name = name[4:]
    name = name.replace("-", "_")
    if name.startswith("0X"):
        return int(name, 16)
    if name.isdigit():
        return int(name)
    try:
        return CKM[name]
    except KeyError:
        raise ValueError(f"unknown mechanism {text!r}") from None


def _name(enum: Any, value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return f"0x{value:08X}"


def mechanism_name(mechanism: int) -> str:
    """``0x1044`` -> ``"CKM_ECDSA_SHA256"`` (hex for vendor mechanisms)."""
    try:
        return "CKM_" + CKM(mechanism).name
    except ValueError:
        return f"0x{mechanism:08X}"


def ecdsa_raw_to_der(signature: bytes) -> bytes:
    """PKCS#11's ECDSA signature (r || s, each the curve's size) -> the DER
    ``ECDSA-Sig-Value`` that X.509, TLS and :mod:`cryptography` expect."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if not signature or len(signature) % 2:
        raise ValueError("a raw ECDSA signature has an even, non-zero length")
    half = len(signature) // 2
    return encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                int.from_bytes(signature[half:], "big"))


def ecdsa_der_to_raw(signature: bytes, field_bytes: int) -> bytes:
    """DER ``ECDSA-Sig-Value`` -> r || s, each ``field_bytes`` long (32 for P-256)."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(signature)
    return r.to_bytes(field_bytes, "big") + s.to_bytes(field_bytes, "big")


def _public_key_from_attributes(attrs: Mapping[int, Any]) -> Any:
    """Build a :mod:`cryptography` public key from Cryptoki public-key attributes."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

    spki = attrs.get(CKA.PUBLIC_KEY_INFO)
    if spki:
        return serialization.load_der_public_key(bytes(spki))
    key_type = attrs.get(CKA.KEY_TYPE)
    if key_type == CKK.RSA:
        n = int.from_bytes(attrs[CKA.MODULUS], "big")
        e = int.from_bytes(attrs[CKA.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    point = unwrap_octet_string(bytes(attrs[CKA.EC_POINT]))
    if key_type == CKK.EC:
        from asn1crypto.keys import ECDomainParameters

        params = ECDomainParameters.load(bytes(attrs[CKA.EC_PARAMS]))
        if params.name != "named":
            raise ValueError("only named curves are supported")
        curve = ec.get_curve_for_oid(_x509_oid(params.chosen.dotted))
        return ec.EllipticCurvePublicKey.from_encoded_point(curve(), point)
    if key_type == CKK.EC_EDWARDS:
        return ed25519.Ed25519PublicKey.from_public_bytes(point)
    if key_type == CKK.EC_MONTGOMERY:
        return x25519.X25519PublicKey.from_public_bytes(point)
    raise ValueError(f"cannot convert a {_name(CKK, key_type or 0)} key")


def _x509_oid(dotted: str) -> Any:
    from cryptography.x509 import ObjectIdentifier

    return ObjectIdentifier(dotted)




def _mechanism_tuple(mechanism: int, param: Any) -> MechanismArg:
    return mechanism if param is None else (mechanism, param)


def _default_pss_params(mechanism: int) -> Any:
    """Salt = hash length and MGF1 with the same hash: what RFC 8017 recommends
    and what :mod:`cryptography`'s ``PSS.DIGEST_LENGTH`` verifies."""
    from .cryptoki.mechanisms import RsaPssParams

    hash_alg = _PSS_HASH[mechanism]
    mgf, length = _HASH_PARAMS[hash_alg]
    return RsaPssParams(hash_alg=hash_alg, mgf=mgf, salt_len=length)


def rsa_pss_params(hash_alg: int = CKM.SHA256, salt_len: int | None = None) -> Any:
    """A ``CK_RSA_PKCS_PSS_PARAMS`` with MGF1 of the same hash; salt defaults to the hash length."""
    from .cryptoki.mechanisms import RsaPssParams

    mgf, length = _HASH_PARAMS[hash_alg]
    return RsaPssParams(hash_alg=hash_alg, mgf=mgf, salt_len=length if salt_len is None else salt_len)


def rsa_oaep_params(hash_alg: int = CKM.SHA256, label: bytes = b"") -> Any:
    """A ``CK_RSA_PKCS_OAEP_PARAMS`` with MGF1 of the same hash and an optional label."""
    from .constants import CKZ
    from .cryptoki.mechanisms import RsaOaepParams

    mgf, _ = _HASH_PARAMS[hash_alg]
    return RsaOaepParams(hash_alg=hash_alg, mgf=mgf, source=CKZ.DATA_SPECIFIED if label else 0,
                         source_data=label)

_CURVE_BITS = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521, "secp224r1": 224}


def _curve_bits(ec_params: bytes | None) -> int | None:
    if not ec_params:
        return None
    from asn1crypto.keys import ECDomainParameters

    try:
        params = ECDomainParameters.load(bytes(ec_params))
        return _CURVE_BITS.get(params.chosen.native) if params.name == "named" else None
    except ValueError:
        return None


def curve_name(ec_params: bytes | None) -> str | None:
    """CKA_EC_PARAMS -> ``"secp256r1"`` (None when it is not a named curve)."""
    if not ec_params:
        return None
    from asn1crypto.keys import ECDomainParameters

    try:
        params = ECDomainParameters.load(bytes(ec_params))
        return str(params.chosen.native) if params.name == "named" else None
    except ValueError:
        return None
