"""Keys and key templates from outside the card: Cryptoki templates for key
generation and import, checked before anything is sent.

Pure functions over the caller's values (no card I/O): a template that cannot
become a PIV key raises the Cryptoki error the spec names (TEMPLATE_INCOMPLETE,
TEMPLATE_INCONSISTENT, ATTRIBUTE_VALUE_INVALID, KEY_SIZE_RANGE,
CURVE_NOT_SUPPORTED), never a ValueError; no message holds a key value.

- :func:`private_key_from_template`: CKA_ values of a private key (RSA: the
  primes and optionally the rest, EC: CKA_EC_PARAMS + CKA_VALUE, Ed25519/X25519:
  CKA_EC_PARAMS + the 32-byte CKA_VALUE) as a ``cryptography`` key, every given
  part checked against the others.
- :func:`importable_key`: a ``cryptography`` private key as IMPORT ASYMMETRIC
  KEY's components (Yubico's tags 01-08, each padded to its fixed length).
- :func:`requested_policies`: the PIN and touch policy a template asks for
  (ykcs11's CKA_YUBICO_PIN_POLICY / CKA_YUBICO_TOUCH_POLICY, one byte or an int,
  and CKA_ALWAYS_AUTHENTICATE TRUE, which means PIN policy always).
- :func:`check_capabilities`: PIV stores no usage flags (a key's CKA_SIGN /
  DECRYPT / DERIVE follow from its slot, algorithm and PIN policy), so a template
  that asks for a use the key will not have, or withholds one it will have, is
  refused rather than silently not honoured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Tuple

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from cardki import errors
from cardki.constants import CKA, CKK

from ..key_templates import ec_private_key, key_type, rsa_private_key
from .card import ImportableKey
from .constants import ImportTag, KeyFamily, PinPolicy, TouchPolicy
from .objects import KeyAlgorithm, KeyCapabilities, algorithm_of, algorithm_of_params

if TYPE_CHECKING:
    from ..key_templates import PrivateKey

#: The only RSA public exponent a YubiKey takes (and generates).
RSA_EXPONENT = 65537

_FAMILY_OF_KEY_TYPE: Dict[int, KeyFamily] = {CKK.RSA: KeyFamily.RSA, CKK.EC: KeyFamily.EC,
                                              CKK.EC_EDWARDS: KeyFamily.ED25519, CKK.EC_MONTGOMERY: KeyFamily.X25519}


def _key_family(template: Mapping[int, Any]) -> KeyFamily:
    return _FAMILY_OF_KEY_TYPE[key_type(template, "a PIV card")]


def private_key_from_template(template: Mapping[int, Any]) -> PrivateKey:
    """The private key a C_CreateObject template describes (see the module doc): the
    shared template rules (:mod:`cardki.token.key_templates`) with PIV's curves and
    its one RSA exponent."""
    family = _key_family(template)
    if family == KeyFamily.RSA:
        return rsa_private_key(template, exponents=frozenset({RSA_EXPONENT}), holder="a PIV card")
    if template.get(CKA.EC_PARAMS) is None:
        raise errors.TemplateIncomplete("CKA_EC_PARAMS is missing")
    algorithm = algorithm_of_params(template[CKA.EC_PARAMS])
    if algorithm is None:
        raise errors.CurveNotSupported()
    if algorithm.family != family:
        raise errors.TemplateInconsistent("CKA_EC_PARAMS does not fit CKA_KEY_TYPE")
    return ec_private_key(template, algorithm.curve_info)


def importable_key(key: PrivateKey, algorithm: KeyAlgorithm) -> ImportableKey:
    """``key`` as IMPORT ASYMMETRIC KEY's components, each padded to its fixed length
    (RSA: p, q, dp, dq, qinv of half the modulus; EC: the scalar of the curve's size)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey  # a key import's cost, not the token's

    if isinstance(key, RSAPrivateKey):
        numbers = key.private_numbers()
        half = algorithm.byte_length // 2
        values = (numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp)
        tags = (ImportTag.PRIME_P, ImportTag.PRIME_Q, ImportTag.EXPONENT_P, ImportTag.EXPONENT_Q,
                ImportTag.COEFFICIENT)
        parts: Tuple[Tuple[ImportTag, bytes], ...] = tuple(
            (tag, value.to_bytes(half, "big")) for tag, value in zip(tags, values, strict=True))
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        scalar = key.private_numbers().private_value.to_bytes(algorithm.byte_length, "big")
        parts = ((ImportTag.EC_SCALAR, scalar),)
    else:
        from cryptography.hazmat.primitives import serialization  # ~15 ms: a key import's cost, not the token's

        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        tag = ImportTag.ED25519_SEED if isinstance(key, ed25519.Ed25519PrivateKey) else ImportTag.X25519_SCALAR
        parts = ((tag, raw),)
    return ImportableKey(algorithm.ident, parts)


def key_algorithm(key: PrivateKey) -> KeyAlgorithm:
    """The PIV algorithm of ``key``; KEY_SIZE_RANGE / CURVE_NOT_SUPPORTED when PIV has none."""
    algorithm = algorithm_of(key)
    if algorithm is None:
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

        if isinstance(key, RSAPrivateKey):
            raise errors.KeySizeRange(f"PIV has no RSA-{key.key_size}")
        raise errors.CurveNotSupported()
    return algorithm


def _policy_value(value: Any, name: str) -> int:
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 1:
            raise errors.AttributeValueInvalid(f"{name} is one byte")
        return value[0]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise errors.AttributeValueInvalid(f"{name} is one byte")


def requested_policies(*templates: Mapping[int, Any]) -> Tuple[PinPolicy, TouchPolicy]:
    """The PIN and touch policy the templates ask for (DEFAULT where none does):
    CKA_YUBICO_PIN_POLICY, CKA_YUBICO_TOUCH_POLICY and CKA_ALWAYS_AUTHENTICATE (TRUE
    = PIN policy always; FALSE with a policy "always" is inconsistent), as ykcs11
    reads them. Two templates that disagree are inconsistent."""
    pin, touch = PinPolicy.DEFAULT, TouchPolicy.DEFAULT
    for template in templates:
        if CKA.YUBICO_PIN_POLICY in template:
            value = _policy_value(template[CKA.YUBICO_PIN_POLICY], "CKA_YUBICO_PIN_POLICY")
            if value not in (PinPolicy.DEFAULT, PinPolicy.NEVER, PinPolicy.ONCE, PinPolicy.ALWAYS):
                raise errors.AttributeValueInvalid("CKA_YUBICO_PIN_POLICY is 0 (default), 1 never, 2 once, 3 always")
            if value and pin and value != pin:
                raise errors.TemplateInconsistent("the templates ask for two PIN policies")
            pin = PinPolicy(value or pin)
        if CKA.YUBICO_TOUCH_POLICY in template:
            value = _policy_value(template[CKA.YUBICO_TOUCH_POLICY], "CKA_YUBICO_TOUCH_POLICY")
            if value not in TouchPolicy._value2member_map_:
                raise errors.AttributeValueInvalid(
                    "CKA_YUBICO_TOUCH_POLICY is 0 (default), 1 never, 2 always, 3 cached")
            if value and touch and value != touch:
                raise errors.TemplateInconsistent("the templates ask for two touch policies")
            touch = TouchPolicy(value or touch)
    for template in templates:
        always = template.get(CKA.ALWAYS_AUTHENTICATE)
        if always is None:
            continue
        if not isinstance(always, bool):
            raise errors.AttributeValueInvalid("CKA_ALWAYS_AUTHENTICATE is a CK_BBOOL")
        if always and pin not in (PinPolicy.DEFAULT, PinPolicy.ALWAYS):
            raise errors.TemplateInconsistent("CKA_ALWAYS_AUTHENTICATE TRUE needs PIN policy always")
        if always:
            pin = PinPolicy.ALWAYS
        elif pin == PinPolicy.ALWAYS:
            raise errors.TemplateInconsistent("CKA_ALWAYS_AUTHENTICATE FALSE with PIN policy always")
    return pin, touch


#: Private-key attribute -> the capability that decides it.
_PRIVATE_USES: Dict[CKA, str] = {CKA.SIGN: "sign", CKA.DECRYPT: "decrypt", CKA.UNWRAP: "decrypt",
                                 CKA.DERIVE: "derive"}
#: Public-key attribute -> the capability; only a TRUE request is checked (pkcs11-tool
#: asks for a public CKA_DERIVE along with an EC key, which no public key does).
_PUBLIC_USES: Dict[CKA, str] = {CKA.ENCRYPT: "decrypt", CKA.WRAP: "decrypt"}


def check_capabilities(capabilities: KeyCapabilities, verify: bool, private_template: Mapping[int, Any],
                       public_template: Mapping[int, Any] | None = None, *, where: str = "") -> None:
    """TEMPLATE_INCONSISTENT when the private template asks for a use the new key will
    not have (or withholds one it will have: the card cannot restrict it), or the
    public template asks for one its public key will not have. ``where`` names the
    key in the message ("a P-256 key in Digital Signature")."""
    for attribute, use in _PRIVATE_USES.items():
        wanted = private_template.get(attribute)
        if wanted is None:
            continue
        has = bool(getattr(capabilities, use))
        if bool(wanted) != has:
            verb = "cannot" if wanted else "always may"
            raise errors.TemplateInconsistent(
                f"CKA_{attribute.name}: {where or 'this key'} {verb} {use} (PIV stores no usage flags)")
    for attribute, use in (*_PUBLIC_USES.items(), (CKA.VERIFY, "verify")):
        wanted = (public_template or {}).get(attribute)
        has = verify if use == "verify" else bool(getattr(capabilities, use))
        if wanted and not has:
            raise errors.TemplateInconsistent(f"CKA_{attribute.name}: the public key of {where or 'this key'} "
                                              f"cannot {'verify' if use == 'verify' else 'encrypt'}")
