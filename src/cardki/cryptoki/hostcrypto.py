"""Public-key operations the host does itself (no card involved).

Verifying and encrypting only need a public key, and digests and KDFs need no
key at all, so they run here with pyca/cryptography: faster than the card and
usable while no PIN is entered. Signature checks take the *base* mechanism and
the data exactly as a token would receive it (DigestInfo for RSA_PKCS, the
digest for PSS and ECDSA), so the engine's hash-then-X logic is shared by
sign and verify.
"""

from __future__ import annotations

from typing import Any, Dict

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from .. import errors
from ..constants import CKA, CKD, CKK, CKM, CKO, CKZ
from .limits import MAX_EC_PARAMS_LENGTH, check_rsa_public_key
from .mechanisms import DIGESTS, KDF_DIGESTS, MGF_DIGESTS, MechanismSpec, RsaOaepParams, RsaPssParams

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_ED25519_OID = "1.3.101.112"


def _hash(mechanism: int) -> hashes.HashAlgorithm:
    return DIGESTS[mechanism]()


def unwrap_octet_string(value: bytes) -> bytes:
    """EC_POINT is a DER OCTET STRING per the spec, but some callers pass the raw
    point; accept both and return the raw point."""
    if len(value) >= 2 and value[0] == 0x04:
        try:
            parsed = asn1_core.OctetString.load(value, strict=True)
        except ValueError:
            return value
        inner = parsed.native
        # A raw uncompressed point also starts with 0x04; only unwrap when the
        # DER length covers the whole value and what is inside looks like a point.
        if isinstance(inner, bytes) and inner and (inner[0] in (0x02, 0x03, 0x04) or len(inner) == 32):
            return inner
    return value


def curve_from_params(ec_params: bytes) -> ec.EllipticCurve | str:
    """The curve named by CKA_EC_PARAMS (a DER OID or a PrintableString name);
    ``"ed25519"`` for Edwards25519."""
    if len(ec_params) > MAX_EC_PARAMS_LENGTH:
        raise errors.CurveNotSupported(f"CKA_EC_PARAMS longer than any named curve ({len(ec_params)} bytes)")
    try:
        parsed = asn1_core.load(ec_params)
    except ValueError as error:
        raise errors.DomainParamsInvalid("CKA_EC_PARAMS is not DER") from error
    if isinstance(parsed, asn1_core.ObjectIdentifier):
        dotted = parsed.dotted
        if dotted == _ED25519_OID:
            return "ed25519"
        try:
            return ec.get_curve_for_oid(x509.ObjectIdentifier(dotted))()
        except LookupError as error:
            raise errors.CurveNotSupported(f"curve {dotted}") from error
    if isinstance(parsed, asn1_core.PrintableString) and parsed.native in ("edwards25519", "Ed25519"):
        return "ed25519"
    raise errors.CurveNotSupported("unsupported CKA_EC_PARAMS")


def public_key_from_attributes(attributes: Dict[int, Any]) -> PublicKey:
    """A pyca public key from a public-key object's (or certificate's) attributes."""
    try:
        if attributes.get(CKA.CLASS) == CKO.CERTIFICATE:
            key = x509.load_der_x509_certificate(attributes[CKA.VALUE]).public_key()
            if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
                raise errors.KeyTypeInconsistent("unsupported certificate key")
            return key
        key_type = attributes.get(CKA.KEY_TYPE)
        if key_type == CKK.RSA:
            check_rsa_public_key(attributes[CKA.MODULUS], attributes[CKA.PUBLIC_EXPONENT], errors.KeySizeRange)
            n = int.from_bytes(attributes[CKA.MODULUS], "big")
            e = int.from_bytes(attributes[CKA.PUBLIC_EXPONENT], "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
        if key_type in (CKK.EC, CKK.EC_EDWARDS):
            curve = curve_from_params(attributes[CKA.EC_PARAMS])
            point = unwrap_octet_string(attributes[CKA.EC_POINT])
            if curve == "ed25519":
                return ed25519.Ed25519PublicKey.from_public_bytes(point)
            assert not isinstance(curve, str)
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except (KeyError, ValueError, UnsupportedAlgorithm) as error:
        raise errors.KeyTypeInconsistent("the object holds no usable public key") from error
    raise errors.KeyTypeInconsistent("unsupported key type")


def _rsa_raw(key: rsa.RSAPublicKey, data: bytes) -> bytes:
    """Textbook RSA (CKM_RSA_X_509) with a public key."""
    numbers = key.public_numbers()
    size = (key.key_size + 7) // 8
    value = int.from_bytes(data, "big")
    if len(data) > size or value >= numbers.n:
        raise errors.DataLenRange("input larger than the modulus")
    return pow(value, numbers.e, numbers.n).to_bytes(size, "big")


def _ecdsa_prehashed(data: bytes, curve: ec.EllipticCurve) -> tuple:
    """ECDSA over an arbitrary-length 'hash': left-pad short input (the integer
    stays the same) to a length pyca accepts; truncate long input to the order
    size as X9.62 does."""
    order_bytes = (curve.key_size + 7) // 8
    if len(data) > order_bytes and len(data) not in (20, 28, 32, 48, 64):
        data = data[:order_bytes]
    for size, algorithm in ((20, hashes.SHA1), (28, hashes.SHA224), (32, hashes.SHA256),
                            (48, hashes.SHA384), (64, hashes.SHA512)):
        if len(data) == size:
            return data, algorithm()
        if len(data) < size and size <= max(order_bytes, 20):
            return data.rjust(size, b"\x00"), algorithm()
    raise errors.DataLenRange("ECDSA input length not supported")


def verify(key: PublicKey, mechanism: MechanismSpec, digest_alg: int | None, data: bytes,
           signature: bytes) -> None:
    """Check ``signature`` over ``data`` (already hashed/DigestInfo-wrapped for
    hashed mechanisms). Raises SignatureInvalid / SignatureLenRange."""
    mech = mechanism.type
    try:
        if isinstance(key, rsa.RSAPublicKey):
            size = (key.key_size + 7) // 8
            if len(signature) != size:
                raise errors.SignatureLenRange()
            if mech == CKM.RSA_X_509:
                if _rsa_raw(key, signature) != data.rjust(size, b"\x00"):
                    raise errors.SignatureInvalid()
                return
            if mech == CKM.RSA_PKCS:
                recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
                if recovered != data:
                    raise errors.SignatureInvalid()
                return
            if mech == CKM.RSA_PKCS_PSS:
                params: RsaPssParams = mechanism.parameter
                if len(data) != _hash(params.hash_alg).digest_size:
                    raise errors.DataLenRange("PSS input must be the digest")
                key.verify(signature, data,
                           padding.PSS(mgf=padding.MGF1(_hash(MGF_DIGESTS[params.mgf])),
                                       salt_length=params.salt_len),
                           utils.Prehashed(_hash(params.hash_alg)))
                return
        elif isinstance(key, ec.EllipticCurvePublicKey) and mech == CKM.ECDSA:
            order_bytes = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * order_bytes:
                raise errors.SignatureLenRange()
            r = int.from_bytes(signature[:order_bytes], "big")
            s = int.from_bytes(signature[order_bytes:], "big")
            prepared, algorithm = _ecdsa_prehashed(data, key.curve)
            key.verify(utils.encode_dss_signature(r, s), prepared, ec.ECDSA(utils.Prehashed(algorithm)))
            return
        elif isinstance(key, ed25519.Ed25519PublicKey) and mech == CKM.EDDSA:
            if len(signature) != 64:
                raise errors.SignatureLenRange()
            key.verify(signature, data)
            return
    except InvalidSignature as error:
        raise errors.SignatureInvalid() from error
    except ValueError as error:
        raise errors.SignatureInvalid(str(error)) from error
    raise errors.KeyTypeInconsistent("key does not fit the mechanism")


def encrypt(key: PublicKey, mechanism: MechanismSpec, data: bytes) -> bytes:
    """RSA encryption with a public key (RSA_PKCS, RSA_PKCS_OAEP, RSA_X_509)."""
    if not isinstance(key, rsa.RSAPublicKey):
        raise errors.KeyTypeInconsistent()
    mech = mechanism.type
    try:
        if mech == CKM.RSA_X_509:
            return _rsa_raw(key, data)
        if mech == CKM.RSA_PKCS:
            return key.encrypt(data, padding.PKCS1v15())
        if mech == CKM.RSA_PKCS_OAEP:
            params: RsaOaepParams = mechanism.parameter
            label = params.source_data if params.source == CKZ.DATA_SPECIFIED and params.source_data else None
            return key.encrypt(data, padding.OAEP(mgf=padding.MGF1(_hash(MGF_DIGESTS[params.mgf])),
                                                  algorithm=_hash(params.hash_alg), label=label))
    except ValueError as error:
        raise errors.DataLenRange(str(error)) from error
    raise errors.MechanismInvalid()


def ecdh_kdf(kdf: int, secret: bytes, shared_data: bytes, length: int | None) -> bytes:
    """Key material from an ECDH shared secret: CKD_NULL (the secret itself,
    truncated to ``length``) or the ANSI X9.63 KDF with the named hash."""
    if kdf == CKD.NULL:
        if length is None:
            return secret
        if length > len(secret):
            raise errors.TemplateInconsistent("CKA_VALUE_LEN exceeds the shared secret")
        return secret[:length]
    algorithm = _hash(KDF_DIGESTS[kdf])
    out_length = algorithm.digest_size if length is None else length
    return X963KDF(algorithm=algorithm, length=out_length, sharedinfo=shared_data or None).derive(secret)


__all__ = [
    "PublicKey", "public_key_from_attributes", "curve_from_params", "unwrap_octet_string", "verify",
    "encrypt", "ecdh_kdf",
]
