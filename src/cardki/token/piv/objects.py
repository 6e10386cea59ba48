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
from the PIN policy "always".
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from cardki.apdu.errors import MalformedResponseError
from cardki.constants import CK_UNAVAILABLE_INFORMATION, CKA, CKC, CKK, CKM, CKO

from ...certificate import read_certificate
from ...curves import Curve, curve_by_name
from ...der import der_integer, der_octet_string, der_oid
from ..base import ObjectKind, ObjectRef, TokenObject
from ..profiles import DEFAULT_LABELS, DataObjectSpec, SlotSpec
from .card import field

if TYPE_CHECKING:  # cryptography.x509 is imported where a certificate is parsed (~30 ms at startup)
    from cryptography import x509

#: The public key types a PIV slot can hold.
PUBLIC_KEY_TYPES = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, x25519.X25519PublicKey)
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey

@dataclass(frozen=True)
class KeyAlgorithm:
    """A PIV algorithm identifier and what it means for Cryptoki."""

    ident: int
    name: str  # profile name: RSA2048, ECCP256, ED25519, ...
    family: str  # "rsa", "ec", "ed25519", "x25519"
    bits: int
    curve: str | None = None   # the curve's name in cardki.curves

    @property
    def curve_info(self) -> Curve:
        """The curve (EC, Ed25519 and X25519 algorithms only)."""
        curve = curve_by_name(self.curve or "")
        assert curve is not None, f"{self.name} names no curve"
        return curve

    @property
    def key_type(self) -> int:
        return {"rsa": CKK.RSA, "ec": CKK.EC, "ed25519": CKK.EC_EDWARDS, "x25519": CKK.EC_MONTGOMERY}[self.family]

    @property
    def byte_length(self) -> int:
        return (self.bits + 7) // 8


KEY_ALGORITHMS: Dict[int, KeyAlgorithm] = {
    a.ident: a
    for a in (
        KeyAlgorithm(0x06, "RSA1024", "rsa", 1024),
        KeyAlgorithm(0x07, "RSA2048", "rsa", 2048),
        KeyAlgorithm(0x05, "RSA3072", "rsa", 3072),
        KeyAlgorithm(0x16, "RSA4096", "rsa", 4096),
        KeyAlgorithm(0x11, "ECCP256", "ec", 256, "secp256r1"),
        KeyAlgorithm(0x14, "ECCP384", "ec", 384, "secp384r1"),
        KeyAlgorithm(0xE0, "ED25519", "ed25519", 256, "ed25519"),
        KeyAlgorithm(0xE1, "X25519", "x25519", 256, "x25519"),
    )
}
ALGORITHM_BY_NAME = {a.name: a for a in KEY_ALGORITHMS.values()}


def algorithm_of(public_key: object) -> KeyAlgorithm | None:
    """The PIV algorithm a public key belongs to (None if PIV has none)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return ALGORITHM_BY_NAME.get(f"RSA{public_key.key_size}")
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": ALGORITHM_BY_NAME["ECCP256"], "secp384r1": ALGORITHM_BY_NAME["ECCP384"]}.get(
            public_key.curve.name)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return ALGORITHM_BY_NAME["ED25519"]
    if isinstance(public_key, x25519.X25519PublicKey):
        return ALGORITHM_BY_NAME["X25519"]
    return None


def public_key_from_card(algorithm: KeyAlgorithm, fields: Dict[int, bytes]) -> PublicKey:
    """A public key from the card's encoding (7F49 / metadata 04: 81 n, 82 e, or 86 point).

    The card's bytes are checked against ``algorithm``: an RSA-2048 slot whose
    modulus has 4096 bits, or a point that is not on the curve, raises
    :class:`MalformedResponseError` (every later use relies on the key having the
    size the algorithm says)."""
    what = f"{algorithm.name} public key"
    try:
        if algorithm.family == "rsa":
            n = int.from_bytes(field(fields, 0x81, what, min_length=1), "big")
            e = int.from_bytes(field(fields, 0x82, what, min_length=1), "big")
            if n.bit_length() != algorithm.bits:
                raise MalformedResponseError(f"{what}: the modulus has {n.bit_length()} bits")
            return rsa.RSAPublicNumbers(e, n).public_key()
        point = field(fields, 0x86, what, min_length=1)
        if algorithm.family == "ec":
            return ec.EllipticCurvePublicKey.from_encoded_point(algorithm.curve_info.ec_curve(), point)
        if algorithm.family == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(point)
        return x25519.X25519PublicKey.from_public_bytes(point)
    except MalformedResponseError:
        raise
    except ValueError as error:  # cryptography refused the numbers or the point
        raise MalformedResponseError(f"{what}: {error}") from None


#: The largest certificate a compressed PIV certificate container may inflate to,
#: in bytes. A certificate is a few KB (a YubiKey stores at most ~3 KB per
#: container); 32 KiB leaves room for long chains of names and extensions while a
#: "gzip bomb" (61 KB inflating to hundreds of MB) stops after 32 KiB of output.
MAX_CERTIFICATE_LENGTH = 32 * 1024


def parse_certificate_container(content: bytes) -> bytes | None:
    """The DER certificate in a PIV certificate container (70 cert, 71 certinfo,
    FE LRC), decompressed when CertInfo says so (gzip, or zlib, which OpenSC reads
    too); None if empty, unreadable, or inflating beyond :data:`MAX_CERTIFICATE_LENGTH`."""
    from cardki.apdu import tlv_dict  # local import: keeps this module's deps obvious

    try:
        fields = tlv_dict(content)
    except ValueError:
        return None
    cert = fields.get(0x70)
    if not cert:
        return None
    if fields.get(0x71, b"\x00")[:1] == b"\x01":
        return _inflate_certificate(cert)
    return cert


def _inflate_certificate(compressed: bytes) -> bytes | None:
    """``compressed`` inflated, or None when it is not one complete gzip/zlib stream
    of at most :data:`MAX_CERTIFICATE_LENGTH` bytes (decompression stops there)."""
    inflater = zlib.decompressobj(wbits=32 + zlib.MAX_WBITS)  # 32: gzip or zlib header
    try:
        cert = inflater.decompress(compressed, MAX_CERTIFICATE_LENGTH)
    except zlib.error:
        return None
    if not inflater.eof:  # truncated, or more than MAX_CERTIFICATE_LENGTH bytes inside
        return None
    return cert


def certificate_container(cert_der: bytes) -> bytes:
    """Content of a certificate container for PUT DATA (uncompressed)."""
    from cardki.apdu import Tlv

    return bytes(Tlv(0x70, cert_der)) + bytes(Tlv(0x71, b"\x00")) + bytes(Tlv(0xFE, b""))


def oid_der(dotted: str) -> bytes:
    return der_oid(dotted)


def _der_integer(value: int) -> bytes:
    return der_integer(value)


def _octet_string(value: bytes) -> bytes:
    return der_octet_string(value)


def public_key_attributes(public_key: PublicKey, algorithm: KeyAlgorithm) -> Dict[int, Any]:
    """Key-type specific public attributes shared by public and private key objects
    (the private key carries them all: clients read its public key from it)."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    attributes: Dict[int, Any] = {CKA.KEY_TYPE: int(algorithm.key_type), CKA.PUBLIC_KEY_INFO: spki}
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        attributes[CKA.MODULUS] = numbers.n.to_bytes((public_key.key_size + 7) // 8, "big")
        attributes[CKA.MODULUS_BITS] = public_key.key_size
        attributes[CKA.PUBLIC_EXPONENT] = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return attributes
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        point = public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    else:
        point = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    attributes[CKA.EC_PARAMS] = algorithm.curve_info.ec_params
    attributes[CKA.EC_POINT] = _octet_string(point)
    return attributes


@dataclass(frozen=True)
class KeyCapabilities:
    sign: bool
    decrypt: bool
    derive: bool


#: KeyUsage bits that allow each capability (RFC 5280 4.2.1.3).
_SIGNING_USAGE = ("digital_signature", "content_commitment", "key_cert_sign", "crl_sign")
_DECRYPTING_USAGE = ("key_encipherment", "data_encipherment")
_AGREEING_USAGE = ("key_agreement",)


def key_capabilities(slot: SlotSpec, algorithm: KeyAlgorithm, key_usage: x509.KeyUsage | None = None,
                     always_authenticate: bool = False) -> KeyCapabilities:
    """What a private key may do: what the card lets the slot do (the profile's
    ``usage``: "sign", and "decrypt" for key management), as far as the algorithm
    allows (RSA signs and decrypts, EC signs and derives, Ed25519 only signs,
    X25519 only derives), narrowed by the certificate's KeyUsage where there is
    one. A key that needs the PIN for every use does not derive: C_DeriveKey has
    no *Init for the context-specific login to follow."""
    def allowed(bits: Tuple[str, ...]) -> bool:
        return key_usage is None or any(getattr(key_usage, bit) for bit in bits)

    family = algorithm.family
    sign = "sign" in slot.usage and family in ("rsa", "ec", "ed25519") and allowed(_SIGNING_USAGE)
    management = "decrypt" in slot.usage
    decrypt = management and family == "rsa" and allowed(_DECRYPTING_USAGE)
    derive = (management and family in ("ec", "x25519") and allowed(_AGREEING_USAGE)
              and not always_authenticate)
    return KeyCapabilities(sign=sign, decrypt=decrypt, derive=derive)


def certificate_key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    """The certificate's KeyUsage extension, or None when it has none (or an
    unreadable one: then the certificate narrows nothing)."""
    from cryptography import x509 as x509_module  # only where a certificate was parsed already

    try:
        return cert.extensions.get_extension_for_class(x509_module.KeyUsage).value
    except (x509_module.ExtensionNotFound, ValueError):
        return None


def _verify_allowed(algorithm: KeyAlgorithm, key_usage: x509.KeyUsage | None) -> bool:
    """Whether the public key may verify: any signing algorithm the certificate does
    not rule out, whatever the slot (the attestation key's signatures verify too)."""
    return algorithm.family in ("rsa", "ec", "ed25519") and (
        key_usage is None or any(getattr(key_usage, bit) for bit in _SIGNING_USAGE))


def _keygen_mechanism(algorithm: KeyAlgorithm, local: bool) -> int:
    if not local:
        return CK_UNAVAILABLE_INFORMATION
    return int({"rsa": CKM.RSA_PKCS_KEY_PAIR_GEN, "ec": CKM.EC_KEY_PAIR_GEN,
                "ed25519": CKM.EC_EDWARDS_KEY_PAIR_GEN, "x25519": CKM.EC_MONTGOMERY_KEY_PAIR_GEN}[algorithm.family])


@dataclass
class SlotContents:
    """What the card holds for one key slot."""

    spec: SlotSpec
    algorithm: KeyAlgorithm
    public_key: PublicKey
    certificate: bytes | None = None  # DER
    pin_policy: str | None = None  # from metadata; None = slot default
    origin: int | None = None  # 1 generated, 2 imported, None unknown
    destroyable: bool = False
    touch_policy: int = 0  # from metadata: 0 default, 1 never, 2 always, 3 cached

    @property
    def needs_touch(self) -> bool:
        return self.touch_policy in (2, 3)

    @property
    def rsa_key(self) -> rsa.RSAPublicKey:
        assert isinstance(self.public_key, rsa.RSAPublicKey), f"{self.algorithm.name} is no RSA key"
        return self.public_key

    @property
    def ec_key(self) -> ec.EllipticCurvePublicKey:
        assert isinstance(self.public_key, ec.EllipticCurvePublicKey), f"{self.algorithm.name} is no EC key"
        return self.public_key

    @property
    def ed25519_key(self) -> ed25519.Ed25519PublicKey:
        assert isinstance(self.public_key, ed25519.Ed25519PublicKey), f"{self.algorithm.name} is no Ed25519 key"
        return self.public_key

    @property
    def always_authenticate(self) -> bool:
        return (self.pin_policy or self.spec.pin_policy) == "always"


RSA_PRIVATE_PARTS = frozenset({CKA.PRIVATE_EXPONENT, CKA.PRIME_1, CKA.PRIME_2, CKA.EXPONENT_1,
                               CKA.EXPONENT_2, CKA.COEFFICIENT})
EC_PRIVATE_PARTS = frozenset({CKA.VALUE})


def key_objects(contents: SlotContents, labels: Dict[str, str] | None = None) -> List[TokenObject]:
    """Private key, public key and (if present) certificate objects of one slot;
    ``labels`` are the profile's label templates (``{slot}`` = the slot's name)."""
    spec, algorithm = contents.spec, contents.algorithm
    templates = {**DEFAULT_LABELS, **(labels or {})}
    cert = read_certificate(contents.certificate) if contents.certificate is not None else None
    subject = cert.subject.public_bytes() if cert is not None else b""
    common: Dict[int, Any] = {CKA.TOKEN: True, CKA.MODIFIABLE: False, CKA.ID: spec.cka_id, CKA.SUBJECT: subject,
              CKA.START_DATE: None, CKA.END_DATE: None, CKA.COPYABLE: False,
              CKA.DESTROYABLE: contents.destroyable}
    local = contents.origin == 1
    key_usage = certificate_key_usage(cert) if cert is not None else None
    capabilities = key_capabilities(spec, algorithm, key_usage, contents.always_authenticate)
    key_common = {**public_key_attributes(contents.public_key, algorithm), CKA.LOCAL: local,
                  CKA.KEY_GEN_MECHANISM: _keygen_mechanism(algorithm, local),
                  CKA.DERIVE: capabilities.derive}

    private: Dict[int, Any] = {
        **common, **key_common, CKA.CLASS: int(CKO.PRIVATE_KEY), CKA.PRIVATE: True,
        CKA.LABEL: templates["private_key"].format(slot=spec.name),
        CKA.SENSITIVE: True, CKA.EXTRACTABLE: False, CKA.ALWAYS_SENSITIVE: local,
        CKA.NEVER_EXTRACTABLE: local, CKA.SIGN: capabilities.sign, CKA.SIGN_RECOVER: False,
        CKA.DECRYPT: capabilities.decrypt, CKA.UNWRAP: capabilities.decrypt,
        CKA.ALWAYS_AUTHENTICATE: contents.always_authenticate, CKA.WRAP_WITH_TRUSTED: False,
    }
    # The private key carries the public parts too (CKA_MODULUS/CKA_PUBLIC_EXPONENT,
    # CKA_EC_PARAMS/CKA_EC_POINT, CKA_PUBLIC_KEY_INFO), as OpenSC and ykcs11 give them:
    # GnuTLS and NSS read the public key from the private key object (CKA_EC_POINT is
    # not a private-key attribute in PKCS#11, but clients look for it there).
    sensitive = RSA_PRIVATE_PARTS if algorithm.family == "rsa" else EC_PRIVATE_PARTS
    public: Dict[int, Any] = {
        **common, **key_common, CKA.CLASS: int(CKO.PUBLIC_KEY), CKA.PRIVATE: False,
        CKA.LABEL: templates["public_key"].format(slot=spec.name),
        CKA.VERIFY: _verify_allowed(algorithm, key_usage), CKA.VERIFY_RECOVER: False,
        CKA.ENCRYPT: capabilities.decrypt, CKA.WRAP: capabilities.decrypt, CKA.TRUSTED: False,
    }
    public[CKA.DERIVE] = False
    objects = [
        TokenObject(ObjectRef(ObjectKind.PRIVATE_KEY, spec.key), private, frozenset(int(a) for a in sensitive)),
        TokenObject(ObjectRef(ObjectKind.PUBLIC_KEY, spec.key), public),
    ]
    if cert is not None and contents.certificate is not None:
        attributes = certificate_attributes(spec, contents.certificate, cert)
        attributes[CKA.LABEL] = templates["certificate"].format(slot=spec.name)
        objects.append(TokenObject(ObjectRef(ObjectKind.CERTIFICATE, spec.key), attributes))
    return objects


def certificate_attributes(spec: SlotSpec, der: bytes, cert: x509.Certificate) -> Dict[int, Any]:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        CKA.CLASS: int(CKO.CERTIFICATE), CKA.TOKEN: True, CKA.PRIVATE: False, CKA.MODIFIABLE: False,
        CKA.COPYABLE: False, CKA.DESTROYABLE: True,
        CKA.LABEL: spec.name, CKA.ID: spec.cka_id,
        CKA.CERTIFICATE_TYPE: int(CKC.X_509),
        # 1 = token user: the matching private key is on this token.
        CKA.CERTIFICATE_CATEGORY: 1 if spec.usage else 0,
        CKA.TRUSTED: False, CKA.CHECK_VALUE: hashlib.sha1(der).digest()[:3],  # nosec - spec-mandated
        CKA.VALUE: der, CKA.SUBJECT: cert.subject.public_bytes(), CKA.ISSUER: cert.issuer.public_bytes(),
        CKA.SERIAL_NUMBER: _der_integer(cert.serial_number), CKA.PUBLIC_KEY_INFO: spki,
        CKA.START_DATE: None, CKA.END_DATE: None, CKA.URL: "",
        CKA.HASH_OF_SUBJECT_PUBLIC_KEY: b"", CKA.HASH_OF_ISSUER_PUBLIC_KEY: b"",
        CKA.JAVA_MIDP_SECURITY_DOMAIN: 0,
    }


def data_object(spec: DataObjectSpec, value: bytes) -> TokenObject:
    """A PIV data object as CKO_DATA (application "PIV", the SP 800-73 OID)."""
    return TokenObject(ObjectRef(ObjectKind.DATA, spec.tag), {
        CKA.CLASS: int(CKO.DATA), CKA.TOKEN: True, CKA.PRIVATE: spec.private, CKA.MODIFIABLE: False,
        CKA.COPYABLE: False, CKA.DESTROYABLE: False,
        CKA.LABEL: spec.name, CKA.APPLICATION: "PIV", CKA.OBJECT_ID: oid_der(spec.oid), CKA.VALUE: value,
    })
