"""X.509 certificates and certificate requests signed by a key that stays on a card.

:mod:`cryptography` builds and encodes certificates but signs only with keys it
holds. So the body (TBSCertificate / CertificationRequestInfo) is built here,
signed by the caller's ``sign`` (the card, through the engine), and put together
with the signature (RFC 5280 section 4.1, RFC 2986 section 4.2). The result is
loaded back and its signature checked against the card's public key, so a wrong
signature never leaves this module.

A certificate's body comes from :class:`cryptography.x509.CertificateBuilder`
signed with a throw-away key of the same kind (its TBSCertificate names the
signature algorithm, which depends on the kind and the hash only, and carries
the card's public key, which the builder is given); a request's body is written
here, as the request builder takes the public key from its signing key.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Callable

from .der import der_integer, der_oid, der_tlv

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
    from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512

    #: The public keys a PIV slot holds.
    PublicKeyTypes = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey

#: sign(data, hash_name) -> the signature as X.509 carries it (ECDSA as DER).
Signer = Callable[[bytes, str], bytes]

HASHES = ("sha256", "sha384", "sha512")

_RSA_SIGNATURE_OIDS = {"sha256": "1.2.840.113549.1.1.11", "sha384": "1.2.840.113549.1.1.12",
                       "sha512": "1.2.840.113549.1.1.13"}
_ECDSA_SIGNATURE_OIDS = {"sha256": "1.2.840.10045.4.3.2", "sha384": "1.2.840.10045.4.3.3",
                         "sha512": "1.2.840.10045.4.3.4"}
_ED25519_OID = "1.3.101.112"


def _sequence(*parts: bytes) -> bytes:
    return der_tlv(0x30, b"".join(parts))


def _bit_string(value: bytes) -> bytes:
    return der_tlv(0x03, b"\x00" + value)


def signature_algorithm(public_key: PublicKeyTypes, hash_name: str) -> bytes:
    """The DER AlgorithmIdentifier of a signature by ``public_key``'s private half with
    ``hash_name`` (ignored for Ed25519); ValueError for a key that cannot sign."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if hash_name not in HASHES:
        raise ValueError(f"the hash is one of {', '.join(HASHES)}")
    if isinstance(public_key, rsa.RSAPublicKey):
        return _sequence(der_oid(_RSA_SIGNATURE_OIDS[hash_name]), b"\x05\x00")
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return _sequence(der_oid(_ECDSA_SIGNATURE_OIDS[hash_name]))
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return _sequence(der_oid(_ED25519_OID))
    raise ValueError("only RSA, EC and Ed25519 keys sign certificates (an X25519 key cannot sign)")


def _throwaway_key(public_key: PublicKeyTypes) -> CertificateIssuerPrivateKeyTypes:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(public_key, rsa.RSAPublicKey):
        return rsa.generate_private_key(65537, 1024)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ec.generate_private_key(ec.SECP256R1())
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError("only RSA, EC and Ed25519 keys sign certificates (an X25519 key cannot sign)")


def _hash(hash_name: str, public_key: PublicKeyTypes) -> SHA256 | SHA384 | SHA512 | None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return None
    if hash_name == "sha384":
        return hashes.SHA384()
    return hashes.SHA512() if hash_name == "sha512" else hashes.SHA256()


def self_signed_certificate(public_key: PublicKeyTypes, sign: Signer, subject: x509.Name, *, days: int = 365,
                            hash_name: str = "sha256", serial: int | None = None,
                            now: datetime.datetime | None = None) -> x509.Certificate:
    """A certificate for ``public_key`` with ``subject`` as subject and issuer, valid from
    now for ``days`` days, signed by ``sign`` (the key's private half, on the card)."""
    from cryptography import x509

    if days < 1:
        raise ValueError("a certificate is valid for at least one day")
    start = (now or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(public_key)
               .serial_number(serial or x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    draft = builder.sign(_throwaway_key(public_key), _hash(hash_name, public_key))
    tbs = draft.tbs_certificate_bytes
    algorithm = signature_algorithm(public_key, hash_name)
    der = _sequence(tbs, algorithm, _bit_string(sign(tbs, hash_name)))
    certificate = x509.load_der_x509_certificate(der)
    try:
        certificate.verify_directly_issued_by(certificate)
    except Exception as error:  # noqa: BLE001 - InvalidSignature and its kin
        raise ValueError("the card's signature does not verify with the slot's public key") from error
    return certificate


def certificate_request(public_key: PublicKeyTypes, sign: Signer, subject: x509.Name, *,
                        hash_name: str = "sha256") -> x509.CertificateSigningRequest:
    """A PKCS#10 request for ``public_key`` with ``subject``, signed by ``sign``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    info = _sequence(der_integer(0), subject.public_bytes(), spki, b"\xa0\x00")
    algorithm = signature_algorithm(public_key, hash_name)
    request = x509.load_der_x509_csr(_sequence(info, algorithm, _bit_string(sign(info, hash_name))))
    if not request.is_signature_valid:
        raise ValueError("the card's signature does not verify with the slot's public key")
    return request


__all__ = ["HASHES", "Signer", "certificate_request", "self_signed_certificate", "signature_algorithm"]
