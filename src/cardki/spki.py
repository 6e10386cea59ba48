"""A public key's SubjectPublicKeyInfo both ways, for the key types cards hold,
without cryptography's serialization package.

A listing needs CKA_PUBLIC_KEY_INFO and CKA_EC_POINT of each key, and the key of
each certificate. cryptography makes them with ``public_bytes`` and
``load_der_public_key``, whose package (``cryptography.hazmat.primitives.serialization``)
brings its ssh module, dataclasses, inspect and the cipher classes: ~15 ms at the
first listing of every process. Here they come from the key's numbers and
cardki.der instead.

Each key type has exactly one DER SubjectPublicKeyInfo (RFC 3279 for RSA, RFC 5480
for EC with a named curve, RFC 8410 for Ed25519 and X25519), so :func:`encode`
agrees byte for byte with cryptography's ``public_bytes(DER, SubjectPublicKeyInfo)``.
:func:`decode` takes only the forms it can vouch cryptography reads the same way (a
curve of cardki.curves with an uncompressed point, RSA with NULL parameters and
components cryptography's own checks accept, Ed25519, X25519) and answers None for
every other one, which the caller then gives to cryptography to judge. The unit
tests compare both with cryptography.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TypeGuard

from .curves import CurveKind, curve_by_ec_params, curve_by_name
from .der import der_integer, der_oid, der_tlv, read_element

if TYPE_CHECKING:  # cryptography's key types are loaded already where a key exists
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey

RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
ED25519 = "1.3.101.112"
X25519 = "1.3.101.110"
_SEQUENCE, _BIT_STRING, _INTEGER, _OID = 0x30, 0x03, 0x02, 0x06
_NULL = b"\x05\x00"
_RSA_ENCRYPTION_OID, _EC_PUBLIC_KEY_OID = der_oid(RSA_ENCRYPTION), der_oid(EC_PUBLIC_KEY)
_ED25519_OID, _X25519_OID = der_oid(ED25519), der_oid(X25519)


def ec_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point 04 || X || Y (X9.62), each coordinate as long as the field."""
    numbers = public_key.public_numbers()
    size = (public_key.curve.key_size + 7) // 8
    return b"\x04" + numbers.x.to_bytes(size, "big") + numbers.y.to_bytes(size, "big")


def raw_key(public_key: ed25519.Ed25519PublicKey | x25519.X25519PublicKey) -> bytes:
    """The 32 bytes of an Ed25519 or X25519 public key (RFC 8410)."""
    return public_key.public_bytes_raw()


def point_bytes(public_key: PublicKey) -> bytes:
    """An EC-family public key's point as CKA_EC_POINT wraps it and cards send it:
    04 || X || Y, or the 32 raw bytes of Ed25519 / X25519 (ValueError for RSA)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ec_point(public_key)
    if is_ed25519_public_key(public_key) or is_x25519_public_key(public_key):
        return raw_key(public_key)
    raise ValueError("an RSA key has no point")


def _loaded_key_module(name: str) -> Any:
    """cryptography's module of the key type ``name``, if it is loaded. No key of the type exists before it is (every way to make one imports it:
    from_public_bytes, generate, serialization's loaders, x509), so a type check where
    it is not loaded answers "no" without importing it (~0.2 ms each for ed25519 and
    x25519, ~1.5 ms for rsa, in a process that never meets such a key: a P-256 card's
    signature). ``name`` is the module's last part: ed25519, x25519 or rsa."""
    return sys.modules.get(f"cryptography.hazmat.primitives.asymmetric.{name}")


def is_ed25519_public_key(key: object) -> TypeGuard[ed25519.Ed25519PublicKey]:
    module = _loaded_key_module("ed25519")
    return module is not None and isinstance(key, module.Ed25519PublicKey)


def is_x25519_public_key(key: object) -> TypeGuard[x25519.X25519PublicKey]:
    module = _loaded_key_module("x25519")
    return module is not None and isinstance(key, module.X25519PublicKey)


def is_ed25519_key(key: object) -> bool:
    """Whether ``key`` is an Ed25519 public or private key (see :func:`_loaded_key_module`)."""
    module = _loaded_key_module("ed25519")
    return module is not None and isinstance(key, (module.Ed25519PublicKey, module.Ed25519PrivateKey))


def is_x25519_key(key: object) -> bool:
    """Whether ``key`` is an X25519 public or private key (see :func:`_loaded_key_module`)."""
    module = _loaded_key_module("x25519")
    return module is not None and isinstance(key, (module.X25519PublicKey, module.X25519PrivateKey))


def is_rsa_public_key(public_key: object) -> TypeGuard[rsa.RSAPublicKey]:
    """Whether ``public_key`` is an RSA public key, without importing cryptography's rsa
    module (~1.5 ms, with the random and math it brings) in a process that meets no
    RSA key (see :func:`_loaded_key_module`)."""
    module = _loaded_key_module("rsa")
    return module is not None and isinstance(public_key, module.RSAPublicKey)


def encode(public_key: PublicKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo of ``public_key``: a card's key type from its
    numbers, any other (the key of some certificate, a curve cardki does not know)
    by cryptography."""
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(public_key, ec.EllipticCurvePublicKey) and (curve := curve_by_name(public_key.curve.name)):
        algorithm = der_oid(EC_PUBLIC_KEY) + curve.ec_params
        key = ec_point(public_key)
    elif is_ed25519_public_key(public_key) or is_x25519_public_key(public_key):
        algorithm = der_oid(ED25519 if is_ed25519_public_key(public_key) else X25519)
        key = raw_key(public_key)
    elif is_rsa_public_key(public_key):
        numbers = public_key.public_numbers()
        algorithm = der_oid(RSA_ENCRYPTION) + _NULL
        key = der_tlv(_SEQUENCE, der_integer(numbers.n) + der_integer(numbers.e))
    else:
        from cryptography.hazmat.primitives import serialization

        return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der_tlv(_SEQUENCE, der_tlv(_SEQUENCE, algorithm) + der_tlv(_BIT_STRING, b"\x00" + key))


def decode(spki: bytes) -> PublicKey | None:
    """The public key of a DER SubjectPublicKeyInfo in one of the forms above; None
    for anything else (another form, another algorithm, a broken key: cryptography's
    ``load_der_public_key`` decides those)."""
    try:
        return _decode(spki)
    except ValueError:
        return None


def _decode(spki: bytes) -> PublicKey | None:
    from cryptography.hazmat.primitives.asymmetric import ec

    tag, body, end = read_element(spki)
    if tag != _SEQUENCE or end != len(spki):
        return None
    tag, algorithm, algorithm_end = read_element(spki, body)
    if tag != _SEQUENCE:
        return None
    tag, _, oid_end = read_element(spki, algorithm)
    if tag != _OID:
        return None
    identifier, parameters = spki[algorithm:oid_end], spki[oid_end:algorithm_end]
    tag, bits, bits_end = read_element(spki, algorithm_end)
    if tag != _BIT_STRING or bits_end != end or spki[bits:bits + 1] != b"\x00":
        return None
    key = spki[bits + 1:bits_end]
    if identifier == _EC_PUBLIC_KEY_OID:
        curve = curve_by_ec_params(parameters)
        if (curve is None or curve.kind is not CurveKind.WEIERSTRASS
                or len(key) != 1 + 2 * curve.field_bytes or key[0] != 0x04):
            return None
        return ec.EllipticCurvePublicKey.from_encoded_point(curve.ec_curve(), key)
    if identifier == _RSA_ENCRYPTION_OID:
        if parameters != _NULL:
            return None
        tag, sequence, sequence_end = read_element(key)
        if tag != _SEQUENCE or sequence_end != len(key):
            return None
        n, offset = _positive_integer(key, sequence)
        e, offset = _positive_integer(key, offset)
        if offset != sequence_end or e < 3 or e % 2 == 0 or n % 2 == 0 or e >= n:
            return None
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

        return RSAPublicNumbers(e, n).public_key()
    if identifier in (_ED25519_OID, _X25519_OID) and not parameters and len(key) == 32:
        if identifier == _ED25519_OID:
            from cryptography.hazmat.primitives.asymmetric import ed25519

            return ed25519.Ed25519PublicKey.from_public_bytes(key)
        from cryptography.hazmat.primitives.asymmetric import x25519

        return x25519.X25519PublicKey.from_public_bytes(key)
    return None


def _positive_integer(data: bytes, offset: int) -> tuple[int, int]:
    """A DER INTEGER that is positive and minimally encoded, and where the next element starts."""
    tag, start, end = read_element(data, offset)
    content = data[start:end]
    if tag != _INTEGER or not content or content[0] & 0x80 or (content[0] == 0 and (len(content) == 1
                                                                                  or not content[1] & 0x80)):
        raise ValueError("not a positive DER INTEGER")
    return int.from_bytes(content, "big"), end


__all__ = ["EC_PUBLIC_KEY", "ED25519", "RSA_ENCRYPTION", "X25519", "decode", "ec_point", "encode",
           "is_ed25519_key", "is_ed25519_public_key", "is_rsa_public_key", "is_x25519_key", "is_x25519_public_key",
           "point_bytes", "raw_key"]
