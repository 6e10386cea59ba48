"""Public-key operations the host does itself (no card involved).

Verifying and encrypting only need a public key, and digests and KDFs need no
key at all, so they run here with pyca/cryptography: faster than the card and
usable while no PIN is entered. Signature checks take the *base* mechanism and
the data exactly as a token would receive it (DigestInfo for RSA_PKCS, the
digest for PSS and ECDSA), so the engine's hash-then-X logic is shared by
sign and verify.
"""

from __future__ import annotations

from typing import Any, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils, x25519
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from .. import errors
from ..constants import CKA, CKD, CKK, CKM, CKO, CKZ
from ..curves import Curve, CurveKind, curve_by_ec_params
from ..der import unwrap_octet_string
from ..digests import BY_KDF, BY_MECHANISM, BY_MGF, BY_SIZE, DIGESTS, cryptography_hash
from .limits import MAX_EC_PARAMS_LENGTH, check_rsa_public_key
from .mechanisms import MechanismSpec, RsaOaepParams, RsaPssParams

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey


def _hash(mechanism: int) -> hashes.HashAlgorithm:
    return cryptography_hash(BY_MECHANISM[mechanism])


def _mgf_hash(mgf: int) -> hashes.HashAlgorithm:
    return cryptography_hash(BY_MGF[mgf])


def curve_from_params(ec_params: bytes) -> Curve:
    """The curve CKA_EC_PARAMS names (a DER OID or, for the 25519 curves, a
    PrintableString name)."""
    if len(ec_params) > MAX_EC_PARAMS_LENGTH:
        raise errors.CurveNotSupported(f"CKA_EC_PARAMS longer than any named curve ({len(ec_params)} bytes)")
    curve = curve_by_ec_params(bytes(ec_params))
    if curve is None:
        raise errors.CurveNotSupported("unsupported CKA_EC_PARAMS")
    return curve


def public_key_from_attributes(attributes: Mapping[int, Any], *, spki_first: bool = False) -> PublicKey:
    """A pyca public key from a public-key object's (or certificate's) attributes:
    RSA modulus and exponent (within :mod:`.limits`), or the curve and point (for the
    25519 curves the key type says which; CKA_EC_PARAMS may be left out).
    ``spki_first``: CKA_PUBLIC_KEY_INFO, where present, wins over the parts (the
    Python API reads card objects, which carry both). KEY_TYPE_INCONSISTENT when
    nothing usable is there."""
    try:
        if attributes.get(CKA.CLASS) == CKO.CERTIFICATE:
            key: Any = x509.load_der_x509_certificate(attributes[CKA.VALUE]).public_key()
        elif spki_first and attributes.get(CKA.PUBLIC_KEY_INFO):
            key = serialization.load_der_public_key(bytes(attributes[CKA.PUBLIC_KEY_INFO]))
        else:
            key = _key_from_parts(attributes)
    except (KeyError, ValueError, UnsupportedAlgorithm) as error:
        raise errors.KeyTypeInconsistent("the object holds no usable public key") from error
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey,
                            x25519.X25519PublicKey)):
        raise errors.KeyTypeInconsistent("unsupported key")
    return key


def _key_from_parts(attributes: Mapping[int, Any]) -> PublicKey:
    key_type = attributes.get(CKA.KEY_TYPE)
    if key_type == CKK.RSA:
        check_rsa_public_key(attributes[CKA.MODULUS], attributes[CKA.PUBLIC_EXPONENT], errors.KeySizeRange)
        n = int.from_bytes(attributes[CKA.MODULUS], "big")
        e = int.from_bytes(attributes[CKA.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    point = unwrap_octet_string(bytes(attributes[CKA.EC_POINT]))
    if key_type == CKK.EC_EDWARDS:
        return ed25519.Ed25519PublicKey.from_public_bytes(point)
    if key_type == CKK.EC_MONTGOMERY:
        return x25519.X25519PublicKey.from_public_bytes(point)
    if key_type == CKK.EC:
        curve = curve_from_params(bytes(attributes[CKA.EC_PARAMS]))
        if curve.kind is CurveKind.EDWARDS:  # an Edwards key may come as CKK_EC too
            return ed25519.Ed25519PublicKey.from_public_bytes(point)
        return ec.EllipticCurvePublicKey.from_encoded_point(curve.ec_curve(), point)
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
    if len(data) > order_bytes and len(data) not in BY_SIZE:
        data = data[:order_bytes]
    for digest in sorted(DIGESTS, key=lambda d: d.size):
        if len(data) == digest.size:
            return data, cryptography_hash(digest)
        if len(data) < digest.size and digest.size <= max(order_bytes, 20):
            return data.rjust(digest.size, b"\x00"), cryptography_hash(digest)
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
                           padding.PSS(mgf=padding.MGF1(_mgf_hash(params.mgf)),
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
            return key.encrypt(data, padding.OAEP(mgf=padding.MGF1(_mgf_hash(params.mgf)),
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
    algorithm = cryptography_hash(BY_KDF[kdf])
    out_length = algorithm.digest_size if length is None else length
    return X963KDF(algorithm=algorithm, length=out_length, sharedinfo=shared_data or None).derive(secret)


__all__ = [
    "PublicKey", "public_key_from_attributes", "curve_from_params", "verify",
    "encrypt", "ecdh_kdf",
]
