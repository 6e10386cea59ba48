"""Pure helpers of the Python API: mechanism names and defaults, PSS/OAEP
parameters, ECDSA signature forms, and public keys from Cryptoki attributes.

Nothing here talks to a card, so each rule is testable on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Tuple

from . import errors
from .constants import CKA, CKK, CKM, CKO, CKZ, constant_name, mechanism_name
from .cryptoki.mechanisms import HASHED_SIGN, RsaOaepParams, RsaPssParams
from .curves import curve_by_ec_params
from .digests import BY_MECHANISM

if TYPE_CHECKING:
    from .cryptoki.hostcrypto import PublicKey

Pin = str | bytes
MechanismArg = int | Tuple[int, Any] | None

#: Hashed PSS mechanism -> its hash, so the PSS parameter can be defaulted.
PSS_HASH: Dict[int, int] = {mech: digest for mech, (base, digest) in HASHED_SIGN.items() if base == CKM.RSA_PKCS_PSS}

#: The ECDSA mechanisms, whose signatures can be returned as DER.
ECDSA_MECHANISMS = frozenset({CKM.ECDSA} | {mech for mech, (base, _) in HASHED_SIGN.items() if base == CKM.ECDSA})

_DEFAULT_SIGN: Dict[int, int] = {
    CKK.RSA: CKM.SHA256_RSA_PKCS,
    CKK.EC: CKM.ECDSA_SHA256,
    CKK.EC_EDWARDS: CKM.EDDSA,
}


def default_sign_mechanism(key_type: int) -> int:
    """The mechanism :meth:`SignMixin.sign` uses when none is given: SHA-256
    PKCS#1 v1.5 for RSA, ECDSA with SHA-256 for EC, pure EdDSA for Ed25519."""
    try:
        return _DEFAULT_SIGN[key_type]
    except KeyError:
        raise errors.MechanismInvalid(
            f"no default signing mechanism for key type {constant_name(CKK, key_type)}") from None


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


def public_key_from_attributes(attrs: Mapping[int, Any]) -> PublicKey:
    """A :mod:`cryptography` public key from a key object's attributes (CKA_PUBLIC_KEY_INFO
    where present, else the parts); KEY_TYPE_INCONSISTENT when there is none."""
    from .cryptoki.hostcrypto import public_key_from_attributes as from_attributes

    return from_attributes(attrs, spki_first=True)


def private_key_template(key: Any) -> Dict[int, Any]:
    """A C_CreateObject template for a :mod:`cryptography` private key (RSA, EC, Ed25519,
    X25519): class, key type, sensitive and private, and its CKA_ values (RSA: every
    CRT part; EC: CKA_EC_PARAMS and the scalar; the 25519 curves: CKA_EC_PARAMS and the
    32 raw bytes). The caller adds CKA_TOKEN, CKA_ID and the rest; ValueError for a key
    of another kind or curve."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

    from .curves import curve_by_name

    template: Dict[int, Any] = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.PRIVATE: True, CKA.SENSITIVE: True}

    def big(value: int) -> bytes:
        return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")

    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        template.update({CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS: big(numbers.public_numbers.n),
                         CKA.PUBLIC_EXPONENT: big(numbers.public_numbers.e), CKA.PRIVATE_EXPONENT: big(numbers.d),
                         CKA.PRIME_1: big(numbers.p), CKA.PRIME_2: big(numbers.q), CKA.EXPONENT_1: big(numbers.dmp1),
                         CKA.EXPONENT_2: big(numbers.dmq1), CKA.COEFFICIENT: big(numbers.iqmp)})
        return template
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curve = curve_by_name(key.curve.name)
        if curve is None:
            raise ValueError(f"cardki knows no curve {key.curve.name}")
        template.update({CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: curve.ec_params,
                         CKA.VALUE: key.private_numbers().private_value.to_bytes(curve.field_bytes, "big")})
        return template
    for kind, key_type, name in ((ed25519.Ed25519PrivateKey, CKK.EC_EDWARDS, "ed25519"),
                                 (x25519.X25519PrivateKey, CKK.EC_MONTGOMERY, "x25519")):
        if isinstance(key, kind):
            found = curve_by_name(name)
            assert found is not None, "cardki.curves lists both 25519 curves"
            raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
            template.update({CKA.KEY_TYPE: key_type, CKA.EC_PARAMS: found.ec_params, CKA.VALUE: raw})
            return template
    raise ValueError("an RSA, EC, Ed25519 or X25519 private key is needed")


def mechanism_arg(mechanism: int, param: Any) -> MechanismArg:
    """What the engine takes as a mechanism: the number, or (number, parameter)."""
    return mechanism if param is None else (mechanism, param)


def default_pss_params(mechanism: int) -> RsaPssParams:
    """Salt = hash length and MGF1 with the same hash: what RFC 8017 recommends
    and what :mod:`cryptography`'s ``PSS.DIGEST_LENGTH`` verifies."""
    return rsa_pss_params(PSS_HASH[mechanism])


def rsa_pss_params(hash_alg: int = CKM.SHA256, salt_len: int | None = None) -> RsaPssParams:
    """A ``CK_RSA_PKCS_PSS_PARAMS`` with MGF1 of the same hash; salt defaults to the hash length."""
    digest = BY_MECHANISM[hash_alg]
    return RsaPssParams(hash_alg=hash_alg, mgf=digest.mgf, salt_len=digest.size if salt_len is None else salt_len)


def rsa_oaep_params(hash_alg: int = CKM.SHA256, label: bytes = b"") -> RsaOaepParams:
    """A ``CK_RSA_PKCS_OAEP_PARAMS`` with MGF1 of the same hash and an optional label."""
    return RsaOaepParams(hash_alg=hash_alg, mgf=BY_MECHANISM[hash_alg].mgf,
                         source=CKZ.DATA_SPECIFIED if label else 0, source_data=label)


def curve_bits(ec_params: bytes | None) -> int | None:
    """CKA_EC_PARAMS -> the curve's size in bits (None when it names no curve cardki knows)."""
    curve = curve_by_ec_params(bytes(ec_params)) if ec_params else None
    return curve.bits if curve is not None else None


def curve_name(ec_params: bytes | None) -> str | None:
    """CKA_EC_PARAMS -> ``"secp256r1"`` (None when it names no curve cardki knows)."""
    curve = curve_by_ec_params(bytes(ec_params)) if ec_params else None
    return curve.name if curve is not None else None


__all__ = [
    "Pin", "MechanismArg", "PSS_HASH", "ECDSA_MECHANISMS", "default_sign_mechanism", "parse_mechanism",
    "mechanism_name", "constant_name", "ecdsa_raw_to_der", "ecdsa_der_to_raw", "public_key_from_attributes",
    "private_key_template", "mechanism_arg", "default_pss_params", "rsa_pss_params", "rsa_oaep_params", "curve_bits", "curve_name",
]
