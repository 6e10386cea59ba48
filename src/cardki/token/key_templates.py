"""Private keys from Cryptoki templates (C_CreateObject of a CKO_PRIVATE_KEY), for
every token that imports keys.

Pure functions over the caller's values (no card I/O): a template that cannot
become a key raises the Cryptoki error the spec names (TEMPLATE_INCOMPLETE,
TEMPLATE_INCONSISTENT, ATTRIBUTE_VALUE_INVALID, CURVE_NOT_SUPPORTED), never a
ValueError; no message holds a key value. RSA keys come from their primes
(CKA_PRIME_1, CKA_PRIME_2) and the public exponent; every other part given is
checked against them. EC keys come from CKA_EC_PARAMS and CKA_VALUE (the private
scalar; 32 bytes for Ed25519 and X25519), a CKA_EC_POINT given with them must be
their public point. Which curves and exponents a card takes is its token's to say.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, FrozenSet, Mapping

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

from .. import errors
from ..constants import CKA, CKK
from ..curves import Curve, CurveKind, curve_by_ec_params
from ..der import unwrap_octet_string
from ..spki import point_bytes

if TYPE_CHECKING:  # cryptography's rsa module is imported where an RSA key is made (rsa_private_key)
    from cryptography.hazmat.primitives.asymmetric import rsa

    PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey

#: The usual RSA public exponent (F4): a template without CKA_PUBLIC_EXPONENT means it.
RSA_EXPONENT = 65537
#: The curve kind each EC key type lives on.
CURVE_KINDS = {CKK.EC: CurveKind.WEIERSTRASS, CKK.EC_EDWARDS: CurveKind.EDWARDS, CKK.EC_MONTGOMERY: CurveKind.MONTGOMERY}


def template_bytes(template: Mapping[int, Any], attribute: CKA) -> bytes | None:
    value = template.get(attribute)
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise errors.AttributeValueInvalid(f"CKA_{attribute.name} must be a byte array")


def template_integer(template: Mapping[int, Any], attribute: CKA) -> int | None:
    value = template_bytes(template, attribute)
    return None if value is None else int.from_bytes(value, "big")


def key_type(template: Mapping[int, Any], holder: str = "this card") -> CKK:
    """CKA_KEY_TYPE of a private key template (RSA, EC, EC_EDWARDS, EC_MONTGOMERY)."""
    value = template.get(CKA.KEY_TYPE)
    if value is None:
        raise errors.TemplateIncomplete("a private key needs CKA_KEY_TYPE")
    if isinstance(value, (bytes, bytearray)):
        value = int.from_bytes(bytes(value), "little")
    if not isinstance(value, int) or value not in (CKK.RSA, *CURVE_KINDS):
        raise errors.TemplateInconsistent(f"{holder} holds RSA, EC, Ed25519 and X25519 keys")
    return CKK(value)


def template_curve(template: Mapping[int, Any], kind: CKK) -> Curve:
    """The curve CKA_EC_PARAMS names, which must fit the key type."""
    params = template_bytes(template, CKA.EC_PARAMS)
    if params is None:
        raise errors.TemplateIncomplete("CKA_EC_PARAMS is missing")
    curve = curve_by_ec_params(params)
    if curve is None:
        raise errors.CurveNotSupported()
    if curve.kind is not CURVE_KINDS[kind]:
        raise errors.TemplateInconsistent("CKA_EC_PARAMS does not fit CKA_KEY_TYPE")
    return curve


def ec_private_key(template: Mapping[int, Any], curve: Curve) -> PrivateKey:
    """The EC, Ed25519 or X25519 key from CKA_VALUE on ``curve`` (checked against CKA_EC_POINT)."""
    value = template_bytes(template, CKA.VALUE)
    if value is None:
        raise errors.TemplateIncomplete("CKA_VALUE (the private key) is missing")
    try:
        key: PrivateKey
        if curve.kind is CurveKind.WEIERSTRASS:
            if not value or len(value) > curve.field_bytes:
                raise errors.AttributeValueInvalid("CKA_VALUE is not a private scalar of this curve")
            key = ec.derive_private_key(int.from_bytes(value, "big"), curve.ec_curve())
        elif len(value) != 32:
            raise errors.AttributeValueInvalid("an Ed25519 or X25519 CKA_VALUE has 32 bytes")
        elif curve.kind is CurveKind.EDWARDS:
            key = ed25519.Ed25519PrivateKey.from_private_bytes(value)
        else:
            key = x25519.X25519PrivateKey.from_private_bytes(value)
    except ValueError:
        raise errors.AttributeValueInvalid("CKA_VALUE is not a private key of this curve") from None
    check_point(template, key)
    return key


def check_point(template: Mapping[int, Any], key: PrivateKey) -> None:
    """A CKA_EC_POINT given with the private key must be its public point."""
    given = template.get(CKA.EC_POINT)
    if given is None:
        return
    point = point_bytes(key.public_key())
    given = bytes(given)
    if point not in (given, unwrap_octet_string(given)):
        raise errors.TemplateInconsistent("CKA_EC_POINT is not the public point of CKA_VALUE")


def rsa_private_key(template: Mapping[int, Any], *, exponents: FrozenSet[int] | None = None,
                    holder: str = "this card") -> rsa.RSAPrivateKey:
    """The RSA key from CKA_PRIME_1, CKA_PRIME_2 and CKA_PUBLIC_EXPONENT (65537 when
    absent; one of ``exponents`` when given), every other given part checked."""
    p, q = template_integer(template, CKA.PRIME_1), template_integer(template, CKA.PRIME_2)
    if p is None or q is None:
        raise errors.TemplateIncomplete(f"{holder} imports RSA keys from CKA_PRIME_1 and CKA_PRIME_2")
    e = template_integer(template, CKA.PUBLIC_EXPONENT)
    if e is None:
        e = RSA_EXPONENT
    if exponents is not None and e not in exponents:
        allowed = ", ".join(str(value) for value in sorted(exponents))
        raise errors.TemplateInconsistent(f"{holder} takes RSA keys with e = {allowed} only")
    if e < 3 or not e & 1:
        raise errors.AttributeValueInvalid("CKA_PUBLIC_EXPONENT is not an odd number of at least 3")
    if p < 3 or q < 3 or p == q:
        raise errors.AttributeValueInvalid("CKA_PRIME_1 and CKA_PRIME_2 are not the primes of an RSA key")
    n = p * q
    modulus = template_integer(template, CKA.MODULUS)
    if modulus is not None and modulus != n:
        raise errors.TemplateInconsistent("CKA_MODULUS is not CKA_PRIME_1 x CKA_PRIME_2")
    try:
        d = pow(e, -1, (p - 1) * (q - 1) // _gcd(p - 1, q - 1))
        dp, dq, qinv = d % (p - 1), d % (q - 1), pow(q, -1, p)
    except ValueError:  # e has no inverse: p or q is not a prime of such a key
        raise errors.AttributeValueInvalid("CKA_PRIME_1 and CKA_PRIME_2 are not the primes of an RSA key") from None
    given_d = template_integer(template, CKA.PRIVATE_EXPONENT)
    if given_d is not None and pow(pow(2, e, n), given_d, n) != 2:
        raise errors.TemplateInconsistent("CKA_PRIVATE_EXPONENT does not belong to these primes")
    for attribute, expected in ((CKA.EXPONENT_1, dp), (CKA.EXPONENT_2, dq), (CKA.COEFFICIENT, qinv)):
        value = template_integer(template, attribute)
        if value is not None and value != expected:
            raise errors.TemplateInconsistent(f"CKA_{attribute.name} does not belong to these primes")
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateNumbers, RSAPublicNumbers

    try:
        return RSAPrivateNumbers(p, q, d, dp, dq, qinv, RSAPublicNumbers(e, n)).private_key()
    except ValueError:
        raise errors.AttributeValueInvalid("these values are not an RSA private key") from None


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def private_key_from_template(template: Mapping[int, Any], *, rsa_exponents: FrozenSet[int] | None = None,
                              holder: str = "this card") -> PrivateKey:
    """The private key a C_CreateObject template describes (any curve cardki knows)."""
    kind = key_type(template, holder)
    if kind == CKK.RSA:
        return rsa_private_key(template, exponents=rsa_exponents, holder=holder)
    return ec_private_key(template, template_curve(template, kind))


__all__ = ["PrivateKey", "RSA_EXPONENT", "check_point", "ec_private_key", "key_type", "private_key_from_template",
           "rsa_private_key", "template_bytes", "template_curve", "template_integer"]
