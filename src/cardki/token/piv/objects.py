"""PIV card contents -> Cryptoki objects with full attribute sets.

Pure functions: given what was read from the card (certificate containers,
GET METADATA answers, data objects) and the profile's slot table, build the
:class:`TokenObject` list. No card I/O here, so every attribute rule is
unit-testable on its own.

Attribute choices follow ykcs11 so existing tools find the same objects (one
CKA_ID byte per slot), except that all objects of a slot share one label, the
slot's name (see the labels in profiles/generic-piv.toml for why); keys
SENSITIVE and not EXTRACTABLE, NEVER_EXTRACTABLE/ALWAYS_SENSITIVE/LOCAL only
for keys the card generated itself (metadata origin), ALWAYS_AUTHENTICATE
from the PIN policy "always". On cards with PIN/touch policies the private key
also carries ykcs11's vendor attributes CKA_YUBICO_PIN_POLICY and
CKA_YUBICO_TOUCH_POLICY (one byte each, the card's policy values).

A generated key's attestation certificate (ATTEST) is an object of its own:
CKA_ID the key's id + :data:`ATTESTATION_ID_OFFSET`, label "Attestation of
<slot>", CKA_TOKEN false (the card makes it on request, it does not store it),
so a client that takes "the" certificate of a key's id or label never gets it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from cryptography.hazmat.primitives.asymmetric import ec

from cardki.apdu.errors import MalformedResponseError
from cardki.constants import CKA, CKK, CKM, CKO
from cardki.named_tuple import NamedTuple

from ... import spki
from ...certificate import CertificateFields, read_certificate_fields
from ...curves import Curve, curve_by_ec_params, curve_by_name
from ...der import der_integer, der_octet_string, der_oid
from .. import attributes as shared
from ..attributes import (  # noqa: F401 - KeyCapabilities, is_public_key: PIV's names for them
    AGREEING_USAGE,
    DECRYPTING_USAGE,
    SIGNING_USAGE,
    KeyCapabilities,
    KeyPair,
    is_public_key,
    key_pair_objects,
    usage_allows,
)
from ..base import ObjectKind, ObjectRef, SlotRecord, TokenObject
from .card import MAX_CERTIFICATE_LENGTH, certificate_container, field, parse_certificate_container  # noqa: F401
from .constants import KeyFamily, Origin, PinPolicy, PivAlgorithm, TouchPolicy
from .profile import DEFAULT_LABELS, DataObjectSpec, SlotSpec

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    from ..attributes import PublicKey


class KeyAlgorithm(NamedTuple):
    """A PIV algorithm identifier and what it means for Cryptoki."""

    ident: PivAlgorithm
    family: KeyFamily
    bits: int
    curve: str | None = None   # the curve's name in cardki.curves

    @property
    def name(self) -> str:
        """The profile's name of the algorithm: RSA2048, ECCP256, ED25519, ..."""
        return self.ident.name

    @property
    def curve_info(self) -> Curve:
        """The curve (EC, Ed25519 and X25519 algorithms only)."""
        curve = curve_by_name(self.curve or "")
        assert curve is not None, f"{self.name} names no curve"
        return curve

    @property
    def key_type(self) -> int:
        return {KeyFamily.RSA: CKK.RSA, KeyFamily.EC: CKK.EC, KeyFamily.ED25519: CKK.EC_EDWARDS,
                KeyFamily.X25519: CKK.EC_MONTGOMERY}[self.family]

    @property
    def byte_length(self) -> int:
        return (self.bits + 7) // 8


KEY_ALGORITHMS: Dict[int, KeyAlgorithm] = {
    a.ident: a
    for a in (
        KeyAlgorithm(PivAlgorithm.RSA1024, KeyFamily.RSA, 1024),
        KeyAlgorithm(PivAlgorithm.RSA2048, KeyFamily.RSA, 2048),
        KeyAlgorithm(PivAlgorithm.RSA3072, KeyFamily.RSA, 3072),
        KeyAlgorithm(PivAlgorithm.RSA4096, KeyFamily.RSA, 4096),
        KeyAlgorithm(PivAlgorithm.ECCP256, KeyFamily.EC, 256, "secp256r1"),
        KeyAlgorithm(PivAlgorithm.ECCP384, KeyFamily.EC, 384, "secp384r1"),
        KeyAlgorithm(PivAlgorithm.ED25519, KeyFamily.ED25519, 256, "ed25519"),
        KeyAlgorithm(PivAlgorithm.X25519, KeyFamily.X25519, 256, "x25519"),
    )
}
ALGORITHM_BY_NAME = {a.name: a for a in KEY_ALGORITHMS.values()}


def algorithm_of_params(ec_params: Any) -> KeyAlgorithm | None:
    """The PIV algorithm of the curve CKA_EC_PARAMS names (an OID, or PKCS#11 3.0's
    PrintableString for the 25519 curves), or None when PIV has no such curve."""
    if not isinstance(ec_params, (bytes, bytearray)):
        return None
    curve = curve_by_ec_params(bytes(ec_params))
    return next((a for a in KEY_ALGORITHMS.values() if curve is not None and a.curve == curve.name), None)


def algorithm_of(public_key: object) -> KeyAlgorithm | None:
    """The PIV algorithm a public (or private) key belongs to (None if PIV has none).
    RSA is asked last: cryptography's rsa module is imported only for a key of no curve."""
    if isinstance(public_key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return {"secp256r1": ALGORITHM_BY_NAME["ECCP256"], "secp384r1": ALGORITHM_BY_NAME["ECCP384"]}.get(
            public_key.curve.name)
    if spki.is_ed25519_key(public_key):
        return ALGORITHM_BY_NAME["ED25519"]
    if spki.is_x25519_key(public_key):
        return ALGORITHM_BY_NAME["X25519"]
    from cryptography.hazmat.primitives.asymmetric import rsa

    if isinstance(public_key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return ALGORITHM_BY_NAME.get(f"RSA{public_key.key_size}")
    return None


def public_key_from_card(algorithm: KeyAlgorithm, fields: Dict[int, bytes]) -> PublicKey:
    """A public key from the card's encoding (7F49 / metadata 04: 81 n, 82 e, or 86 point).

    The card's bytes are checked against ``algorithm``: an RSA-2048 slot whose
    modulus has 4096 bits, or a point that is not on the curve, raises
    :class:`MalformedResponseError` (every later use relies on the key having the
    size the algorithm says)."""
    what = f"{algorithm.name} public key"
    try:
        if algorithm.family == KeyFamily.RSA:
            n = int.from_bytes(field(fields, 0x81, what, min_length=1), "big")
            e = int.from_bytes(field(fields, 0x82, what, min_length=1), "big")
            if n.bit_length() != algorithm.bits:
                raise MalformedResponseError(f"{what}: the modulus has {n.bit_length()} bits")
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

            return RSAPublicNumbers(e, n).public_key()
        point = field(fields, 0x86, what, min_length=1)
        if algorithm.family == KeyFamily.EC:
            return ec.EllipticCurvePublicKey.from_encoded_point(algorithm.curve_info.ec_curve(), point)
        if algorithm.family == KeyFamily.ED25519:
            from cryptography.hazmat.primitives.asymmetric import ed25519  # as spki's decode: a key of the kind

            return ed25519.Ed25519PublicKey.from_public_bytes(point)
        from cryptography.hazmat.primitives.asymmetric import x25519

        return x25519.X25519PublicKey.from_public_bytes(point)
    except MalformedResponseError:
        raise
    except ValueError as error:  # cryptography refused the numbers or the point
        raise MalformedResponseError(f"{what}: {error}") from None


def oid_der(dotted: str) -> bytes:
    return der_oid(dotted)


def _der_integer(value: int) -> bytes:
    return der_integer(value)


def _octet_string(value: bytes) -> bytes:
    return der_octet_string(value)


def public_key_attributes(public_key: PublicKey, algorithm: KeyAlgorithm) -> Dict[int, Any]:
    """Key-type specific public attributes shared by public and private key objects
    (:func:`cardki.token.attributes.public_key_attributes`; ``algorithm`` is the slot's,
    which the key fits)."""
    return shared.public_key_attributes(public_key)


#: Key families that sign (X25519 only agrees on keys).
_SIGNING_FAMILIES = (KeyFamily.RSA, KeyFamily.EC, KeyFamily.ED25519)


def key_capabilities(slot: SlotSpec, algorithm: KeyAlgorithm, key_usage: frozenset[str] | None = None,
                     always_authenticate: bool = False) -> KeyCapabilities:
    """What a private key may do: what the card lets the slot do (the profile's
    ``usage``: "sign", and "decrypt" for key management), as far as the algorithm
    allows (RSA signs and decrypts, EC signs and derives, Ed25519 only signs,
    X25519 only derives), narrowed by the certificate's KeyUsage where there is
    one. A key that needs the PIN for every use does not derive: C_DeriveKey has
    no *Init for the context-specific login to follow."""
    def allowed(bits: Tuple[str, ...]) -> bool:
        return usage_allows(key_usage, bits)

    family = algorithm.family
    sign = "sign" in slot.usage and family in _SIGNING_FAMILIES and allowed(SIGNING_USAGE)
    management = "decrypt" in slot.usage
    decrypt = management and family == KeyFamily.RSA and allowed(DECRYPTING_USAGE)
    derive = (management and family in (KeyFamily.EC, KeyFamily.X25519) and allowed(AGREEING_USAGE)
              and not always_authenticate)
    return KeyCapabilities(sign=sign, decrypt=decrypt, derive=derive)


def verify_allowed(algorithm: KeyAlgorithm, key_usage: frozenset[str] | None) -> bool:
    """Whether the public key may verify: any signing algorithm the certificate does
    not rule out, whatever the slot (the attestation key's signatures verify too)."""
    return algorithm.family in _SIGNING_FAMILIES and usage_allows(key_usage, SIGNING_USAGE)


#: The key pair generation mechanism of each key family.
KEYGEN_MECHANISMS = {KeyFamily.RSA: CKM.RSA_PKCS_KEY_PAIR_GEN, KeyFamily.EC: CKM.EC_KEY_PAIR_GEN,
                     KeyFamily.ED25519: CKM.EC_EDWARDS_KEY_PAIR_GEN, KeyFamily.X25519: CKM.EC_MONTGOMERY_KEY_PAIR_GEN}


# The policies each signature asks about, looked up once (a member's lookup on its enum
# class is a Python call: the enum metaclass has a __getattr__).
_TOUCH_POLICIES_THAT_TOUCH = frozenset({TouchPolicy.ALWAYS, TouchPolicy.CACHED})
_DEFAULT_PIN_POLICY, _ALWAYS_PIN_POLICY = PinPolicy.DEFAULT, PinPolicy.ALWAYS


class SlotContents(SlotRecord):
    """What the card holds for one key slot (the certificate changes when one is
    written or deleted)."""

    __slots__ = ("spec", "algorithm", "public_key", "certificate", "pin_policy", "origin", "touch_policy")

    def __init__(self, spec: SlotSpec, algorithm: KeyAlgorithm, public_key: PublicKey,
                 certificate: bytes | None = None, pin_policy: PinPolicy = PinPolicy.DEFAULT,
                 origin: Origin | None = None,
                 touch_policy: TouchPolicy = TouchPolicy.DEFAULT) -> None:
        self.spec = spec
        self.algorithm = algorithm
        self.public_key = public_key
        self.certificate = certificate  # DER
        self.pin_policy = pin_policy  # from metadata or what we set; DEFAULT = the slot's
        self.origin = origin  # None: unknown (no metadata)
        self.touch_policy = touch_policy  # from metadata or what we set

    @property
    def needs_touch(self) -> bool:
        return self.touch_policy in _TOUCH_POLICIES_THAT_TOUCH

    @property
    def effective_pin_policy(self) -> PinPolicy:
        return self.pin_policy if self.pin_policy != _DEFAULT_PIN_POLICY else self.spec.pin_policy

    @property
    def rsa_key(self) -> rsa.RSAPublicKey:
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

        assert isinstance(self.public_key, RSAPublicKey), f"{self.algorithm.name} is no RSA key"
        return self.public_key

    @property
    def ec_key(self) -> ec.EllipticCurvePublicKey:
        assert isinstance(self.public_key, ec.EllipticCurvePublicKey), f"{self.algorithm.name} is no EC key"
        return self.public_key

    @property
    def ed25519_key(self) -> ed25519.Ed25519PublicKey:
        assert spki.is_ed25519_public_key(self.public_key), f"{self.algorithm.name} is no Ed25519 key"
        return self.public_key

    @property
    def always_authenticate(self) -> bool:
        return self.effective_pin_policy == _ALWAYS_PIN_POLICY


def key_objects(contents: SlotContents, labels: Dict[str, str] | None = None, *,
                policies: bool = False, destroyable: bool | None = False) -> List[TokenObject]:
    """Private key, public key and (if present) certificate objects of one slot
    (the shared rules: :mod:`cardki.token.attributes`); ``labels`` are the profile's
    label templates (``{slot}`` = the slot's name); ``policies``: the card has
    PIN/touch policies, so the private key shows them in CKA_YUBICO_PIN_POLICY /
    CKA_YUBICO_TOUCH_POLICY (as ykcs11 does); ``destroyable``: the card deletes the key
    (None: not known yet, the key objects name CKA_DESTROYABLE late)."""
    spec, algorithm = contents.spec, contents.algorithm
    templates = {**DEFAULT_LABELS, **(labels or {})}
    cert = read_certificate_fields(contents.certificate) if contents.certificate is not None else None
    key_usage = cert.key_usage if cert is not None else None
    pair = KeyPair(
        key=spec.key, cka_id=spec.cka_id, public_key=contents.public_key,
        capabilities=key_capabilities(spec, algorithm, key_usage, contents.always_authenticate),
        verify=verify_allowed(algorithm, key_usage), local=contents.origin == Origin.GENERATED,
        always_authenticate=contents.always_authenticate, destroyable=destroyable,
        subject=cert.subject if cert is not None else b"")
    # One byte each, as ykcs11's CK_BYTE: what the card reports (or what cardki set);
    # 0 where neither is known.
    extra: Dict[int, Any] | None = ({CKA.YUBICO_PIN_POLICY: bytes([contents.pin_policy]),
              CKA.YUBICO_TOUCH_POLICY: bytes([contents.touch_policy])} if policies else None)
    objects = key_pair_objects(pair, private_label=templates["private_key"].format(slot=spec.name),
                               public_label=templates["public_key"].format(slot=spec.name), private_extra=extra)
    if cert is not None:
        attributes = certificate_attributes(spec, cert)
        attributes[CKA.LABEL] = templates["certificate"].format(slot=spec.name)
        objects.append(TokenObject(ObjectRef(ObjectKind.CERTIFICATE, spec.key), attributes))
    return objects


def certificate_attributes(spec: SlotSpec, cert: CertificateFields) -> Dict[int, Any]:
    """A slot's certificate; category "token user" when the slot's key may be used."""
    return shared.certificate_attributes(cert, cka_id=spec.cka_id, label=spec.name, holder=bool(spec.usage))


def data_object(spec: DataObjectSpec, value: bytes) -> TokenObject:
    """A PIV data object as CKO_DATA (application "PIV", the SP 800-73 OID); the
    writable ones are destroyable (an empty PUT DATA)."""
    return TokenObject(ObjectRef(ObjectKind.DATA, spec.tag), {
        CKA.CLASS: int(CKO.DATA), CKA.TOKEN: True, CKA.PRIVATE: spec.private, CKA.MODIFIABLE: False,
        CKA.COPYABLE: False, CKA.DESTROYABLE: spec.writable,
        CKA.LABEL: spec.name, CKA.APPLICATION: DATA_APPLICATION, CKA.OBJECT_ID: oid_der(spec.oid), CKA.VALUE: value,
    })


#: CKA_APPLICATION of every PIV data object.
DATA_APPLICATION = "PIV"
#: An attestation certificate's CKA_ID is its key's id plus this (0x65 for 9A's 0x01,
#: 0x7C for retired key 20's 0x18): one byte, no key slot's id (01..19). A Yubico
#: maintainer proposed "add, say, 100" for ykcs11 in yubico-piv-tool#449.
ATTESTATION_ID_OFFSET = 100


def attestation_id(spec: SlotSpec) -> bytes:
    """The CKA_ID of the attestation certificate of the key in ``spec``'s slot."""
    return bytes([spec.id + ATTESTATION_ID_OFFSET])


def attestation_object(spec: SlotSpec, cert: CertificateFields,
                       labels: Dict[str, str] | None = None) -> TokenObject:
    """The attestation certificate of the key in ``spec``'s slot (what ATTEST
    answered) as a CKO_CERTIFICATE of its own: its own CKA_ID and label, CKA_TOKEN
    false (made on request, not stored: NSS, which lists token certificates, never
    offers it), category unspecified, not destroyable."""
    templates = {**DEFAULT_LABELS, **(labels or {})}
    attributes = certificate_attributes(spec, cert)
    attributes.update({
        CKA.ID: attestation_id(spec), CKA.LABEL: templates["attestation"].format(slot=spec.name),
        CKA.TOKEN: False, CKA.DESTROYABLE: False, CKA.CERTIFICATE_CATEGORY: 0,
    })
    return TokenObject(ObjectRef(ObjectKind.ATTESTATION, spec.key), attributes)
