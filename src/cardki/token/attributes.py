"""The Cryptoki attributes of what a card holds, the same for every applet.

A token knows, for each key of its card, the public key, the certificate that may
go with it, and what the card lets the key do; these functions make the key's
private key, public key and certificate objects from that (pure functions, no card
I/O). The choices, for every token:

* the objects of one key share its CKA_ID and one label (GnuTLS finds a private
  key's public half by the id *and* label of its URL);
* private keys are SENSITIVE and never EXTRACTABLE; ALWAYS_SENSITIVE,
  NEVER_EXTRACTABLE and LOCAL only for keys the card generated itself;
* the private key carries the public parts too (CKA_MODULUS/CKA_PUBLIC_EXPONENT,
  CKA_EC_PARAMS/CKA_EC_POINT, CKA_PUBLIC_KEY_INFO), as OpenSC and ykcs11 give them:
  GnuTLS and NSS read the public key from the private key object;
* a certificate's KeyUsage extension narrows what the key may do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, FrozenSet, List, Mapping, TypeGuard

from cryptography.hazmat.primitives.asymmetric import ec

from cardki.named_tuple import NamedTuple

from .. import errors, spki
from ..constants import CK_UNAVAILABLE_INFORMATION, CKA, CKC, CKK, CKM, CKO
from ..curves import curve_by_name
from ..der import der_octet_string, unwrap_octet_string
from ..digests import hash_of
from .base import ObjectKind, ObjectRef, SlotRecord, TokenObject

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, x25519

    from ..certificate import CertificateFields

    #: The public key types a card key can have.
    PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey

def is_public_key(key: object) -> TypeGuard[PublicKey]:
    """Whether ``key`` has one of the public key types a card key can have (the types
    but EC's asked without importing their modules: cardki.spki.is_rsa_public_key)."""
    return (isinstance(key, ec.EllipticCurvePublicKey) or spki.is_ed25519_public_key(key)
            or spki.is_x25519_public_key(key) or spki.is_rsa_public_key(key))

RSA_PRIVATE_PARTS = frozenset({CKA.PRIVATE_EXPONENT, CKA.PRIME_1, CKA.PRIME_2, CKA.EXPONENT_1,
                               CKA.EXPONENT_2, CKA.COEFFICIENT})
EC_PRIVATE_PARTS = frozenset({CKA.VALUE})

#: KeyUsage bits that allow each capability (RFC 5280 4.2.1.3).
SIGNING_USAGE = ("digital_signature", "content_commitment", "key_cert_sign", "crl_sign")
DECRYPTING_USAGE = ("key_encipherment", "data_encipherment")
AGREEING_USAGE = ("key_agreement",)

#: The key pair generation mechanism of each key type.
KEYGEN_MECHANISMS: Dict[int, CKM] = {CKK.RSA: CKM.RSA_PKCS_KEY_PAIR_GEN, CKK.EC: CKM.EC_KEY_PAIR_GEN,
                                     CKK.EC_EDWARDS: CKM.EC_EDWARDS_KEY_PAIR_GEN,
                                     CKK.EC_MONTGOMERY: CKM.EC_MONTGOMERY_KEY_PAIR_GEN}


class KeyCapabilities(NamedTuple):
    """What the card lets a private key do (its CKA_SIGN, CKA_DECRYPT, CKA_DERIVE)."""

    sign: bool
    decrypt: bool
    derive: bool


def key_type_of(public_key: PublicKey) -> CKK:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return CKK.EC
    if spki.is_ed25519_public_key(public_key):
        return CKK.EC_EDWARDS
    if spki.is_rsa_public_key(public_key):
        return CKK.RSA
    return CKK.EC_MONTGOMERY


def curve_name_of(public_key: PublicKey) -> str:
    """The name of the key's curve in :mod:`cardki.curves` (not for RSA keys)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.curve.name
    if spki.is_ed25519_public_key(public_key):
        return "ed25519"
    if spki.is_x25519_public_key(public_key):
        return "x25519"
    raise ValueError("an RSA key has no curve")


def public_key_attributes(public_key: PublicKey) -> Dict[int, Any]:
    """Key-type specific public attributes shared by public and private key objects
    (the private key carries them all: clients read its public key from it)."""
    attributes: Dict[int, Any] = {CKA.KEY_TYPE: int(key_type_of(public_key)),
                                  CKA.PUBLIC_KEY_INFO: spki.encode(public_key)}
    if spki.is_rsa_public_key(public_key):
        numbers = public_key.public_numbers()
        attributes[CKA.MODULUS] = numbers.n.to_bytes((public_key.key_size + 7) // 8, "big")
        attributes[CKA.MODULUS_BITS] = public_key.key_size
        attributes[CKA.PUBLIC_EXPONENT] = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return attributes
    point = spki.point_bytes(public_key)
    curve = curve_by_name(curve_name_of(public_key))
    if curve is None:
        raise ValueError(f"no curve {curve_name_of(public_key)} in cardki.curves")
    attributes[CKA.EC_PARAMS] = curve.ec_params
    attributes[CKA.EC_POINT] = der_octet_string(point)
    return attributes


def ecdh_peer_point(mechanism: int, parameter: Any, point_length: int) -> bytes:
    """The peer's point of a CKM_ECDH1_DERIVE (MECHANISM_INVALID for another mechanism):
    CK_ECDH1_DERIVE_PARAMS.public_data (or the bare value), given raw (04 || X || Y, or
    32 bytes for X25519) or as a DER OCTET STRING (as CKA_EC_POINT holds it), of the
    length the key's curve has (MECHANISM_PARAM_INVALID otherwise)."""
    if mechanism != CKM.ECDH1_DERIVE:
        raise errors.MechanismInvalid()
    peer = getattr(parameter, "public_data", parameter)
    if not isinstance(peer, (bytes, bytearray)) or not peer:
        raise errors.MechanismParamInvalid("ECDH1_DERIVE needs the peer's public point")
    peer = bytes(peer)
    if len(peer) == point_length:
        return peer
    point = unwrap_octet_string(peer)
    if len(point) != point_length:
        raise errors.MechanismParamInvalid("the peer's public point has the wrong size")
    return point


def usage_allows(key_usage: frozenset[str] | None, bits: tuple[str, ...]) -> bool:
    """Whether a certificate's KeyUsage (None: no certificate, or none in it) has any of
    ``bits`` (:attr:`cardki.certificate.CertificateFields.key_usage`)."""
    return key_usage is None or any(bit in key_usage for bit in bits)


def keygen_mechanism(public_key: PublicKey, local: bool) -> int:
    """CKA_KEY_GEN_MECHANISM: how the card made the key (unknown unless it did)."""
    if not local:
        return CK_UNAVAILABLE_INFORMATION
    return int(KEYGEN_MECHANISMS[key_type_of(public_key)])


def certificate_attributes(cert: CertificateFields, *, cka_id: bytes, label: str, holder: bool) -> Dict[int, Any]:
    """A certificate object's attributes; ``holder``: the matching private key is on
    this token (CKA_CERTIFICATE_CATEGORY 1, "token user"; else 0, unspecified)."""
    return {
        CKA.CLASS: int(CKO.CERTIFICATE), CKA.TOKEN: True, CKA.PRIVATE: False, CKA.MODIFIABLE: False,
        CKA.COPYABLE: False, CKA.DESTROYABLE: True,
        CKA.LABEL: label, CKA.ID: cka_id,
        CKA.CERTIFICATE_TYPE: int(CKC.X_509),
        CKA.CERTIFICATE_CATEGORY: 1 if holder else 0,
        CKA.TRUSTED: False, CKA.CHECK_VALUE: hash_of("sha1", cert.der)[:3],  # nosec - spec-mandated
        CKA.VALUE: cert.der, CKA.SUBJECT: cert.subject, CKA.ISSUER: cert.issuer,
        CKA.SERIAL_NUMBER: cert.serial_number, CKA.PUBLIC_KEY_INFO: spki.encode(cert.public_key),
        CKA.START_DATE: None, CKA.END_DATE: None, CKA.URL: "",
        CKA.HASH_OF_SUBJECT_PUBLIC_KEY: b"", CKA.HASH_OF_ISSUER_PUBLIC_KEY: b"",
        CKA.JAVA_MIDP_SECURITY_DOMAIN: 0,
    }


class KeyPair(SlotRecord):
    """What a token knows of one key on its card, to make its objects from (a plain
    class: a named tuple of ten fields costs a first card use ~0.3 ms to make).

    ``key`` is the token's name for the key (ObjectRef.key): a PIV slot, an OpenPGP key
    reference; ``verify``: the public key verifies (a signing key, unless its
    certificate says otherwise); ``local``: the card generated the key itself;
    ``subject``: the certificate's subject (DER), b"" without one; ``destroyable``: None
    when the token settles CKA_DESTROYABLE late (:attr:`~.base.TokenObject.late`)."""

    __slots__ = ("key", "cka_id", "public_key", "capabilities", "verify", "local", "always_authenticate",
                 "destroyable", "subject")

    def __init__(self, *, key: int, cka_id: bytes, public_key: PublicKey, capabilities: KeyCapabilities, verify: bool,
                 local: bool = False, always_authenticate: bool = False, destroyable: bool | None = False,
                 subject: bytes = b"") -> None:
        self.key = key
        self.cka_id = cka_id
        self.public_key = public_key
        self.capabilities = capabilities
        self.verify = verify
        self.local = local
        self.always_authenticate = always_authenticate
        self.destroyable = destroyable
        self.subject = subject


_LATE_DESTROYABLE = frozenset({int(CKA.DESTROYABLE)})


def key_pair_objects(pair: KeyPair, *, private_label: str, public_label: str,
                     private_extra: Mapping[int, Any] | None = None) -> List[TokenObject]:
    """The key's private and public key objects (``private_extra``: vendor attributes
    of the private key, e.g. ykcs11's PIN and touch policy)."""
    common: Dict[int, Any] = {CKA.TOKEN: True, CKA.MODIFIABLE: False, CKA.ID: pair.cka_id, CKA.SUBJECT: pair.subject,
                              CKA.START_DATE: None, CKA.END_DATE: None, CKA.COPYABLE: False}
    late: FrozenSet[int] = frozenset()
    if pair.destroyable is None:
        late = _LATE_DESTROYABLE
    else:
        common[CKA.DESTROYABLE] = pair.destroyable
    capabilities = pair.capabilities
    key_common = {**public_key_attributes(pair.public_key), CKA.LOCAL: pair.local,
                  CKA.KEY_GEN_MECHANISM: keygen_mechanism(pair.public_key, pair.local),
                  CKA.DERIVE: capabilities.derive}
    private: Dict[int, Any] = {
        **common, **key_common, CKA.CLASS: int(CKO.PRIVATE_KEY), CKA.PRIVATE: True,
        CKA.LABEL: private_label,
        CKA.SENSITIVE: True, CKA.EXTRACTABLE: False, CKA.ALWAYS_SENSITIVE: pair.local,
        CKA.NEVER_EXTRACTABLE: pair.local, CKA.SIGN: capabilities.sign, CKA.SIGN_RECOVER: False,
        CKA.DECRYPT: capabilities.decrypt, CKA.UNWRAP: capabilities.decrypt,
        CKA.ALWAYS_AUTHENTICATE: pair.always_authenticate, CKA.WRAP_WITH_TRUSTED: False,
        **(private_extra or {}),
    }
    sensitive = RSA_PRIVATE_PARTS if spki.is_rsa_public_key(pair.public_key) else EC_PRIVATE_PARTS
    public: Dict[int, Any] = {
        **common, **key_common, CKA.CLASS: int(CKO.PUBLIC_KEY), CKA.PRIVATE: False,
        CKA.LABEL: public_label,
        CKA.VERIFY: pair.verify, CKA.VERIFY_RECOVER: False,
        CKA.ENCRYPT: capabilities.decrypt, CKA.WRAP: capabilities.decrypt, CKA.TRUSTED: False,
    }
    public[CKA.DERIVE] = False
    return [
        TokenObject(ObjectRef(ObjectKind.PRIVATE_KEY, pair.key), private, frozenset(int(a) for a in sensitive),
                    late=late),
        TokenObject(ObjectRef(ObjectKind.PUBLIC_KEY, pair.key), public, late=late),
    ]


__all__ = ["AGREEING_USAGE", "DECRYPTING_USAGE", "EC_PRIVATE_PARTS", "KEYGEN_MECHANISMS", "KeyCapabilities",
           "KeyPair", "RSA_PRIVATE_PARTS", "SIGNING_USAGE", "is_public_key",
           "certificate_attributes", "curve_name_of", "ecdh_peer_point", "key_pair_objects",
           "key_type_of", "keygen_mechanism", "public_key_attributes", "usage_allows"]
