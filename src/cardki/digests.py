"""The hash functions cardki knows, once: their Cryptoki names and what goes with each.

A digest mechanism (CKM_SHA256) comes with its MGF1 generator (CKG_MGF1_SHA256,
for PSS and OAEP), its X9.63 KDF (CKD_SHA256_KDF, for ECDH), its length, and the
DER DigestInfo prefix that PKCS#1 v1.5 signatures wrap a digest in (RFC 8017
section 9.2, note 1). Everything that maps one of these to another reads it
here. Hashing itself is hashlib's (no cryptography import on the way to a
signature); :func:`cryptography_hash` gives pyca's object where pyca wants one.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Dict, NamedTuple, Tuple

from .constants import CKD, CKG, CKM

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.hashes import HashAlgorithm


class Digest(NamedTuple):
    """One hash function under all the names Cryptoki gives it."""

    mechanism: CKM
    name: str                    # hashlib's (and cryptography's) name
    size: int                    # bytes
    mgf: CKG
    kdf: CKD
    digest_info_prefix: bytes

    def new(self) -> hashlib._Hash:
        return hashlib.new(self.name)

    def digest_info(self, digest: bytes) -> bytes:
        """The DER DigestInfo that PKCS#1 v1.5 signs for ``digest``."""
        return self.digest_info_prefix + digest


DIGESTS: Tuple[Digest, ...] = (
    Digest(CKM.SHA_1, "sha1", 20, CKG.MGF1_SHA1, CKD.SHA1_KDF, bytes.fromhex("3021300906052b0e03021a05000414")),
    Digest(CKM.SHA224, "sha224", 28, CKG.MGF1_SHA224, CKD.SHA224_KDF,
           bytes.fromhex("302d300d06096086480165030402040500041c")),
    Digest(CKM.SHA256, "sha256", 32, CKG.MGF1_SHA256, CKD.SHA256_KDF,
           bytes.fromhex("3031300d060960864801650304020105000420")),
    Digest(CKM.SHA384, "sha384", 48, CKG.MGF1_SHA384, CKD.SHA384_KDF,
           bytes.fromhex("3041300d060960864801650304020205000430")),
    Digest(CKM.SHA512, "sha512", 64, CKG.MGF1_SHA512, CKD.SHA512_KDF,
           bytes.fromhex("3051300d060960864801650304020305000440")),
)

BY_MECHANISM: Dict[int, Digest] = {d.mechanism: d for d in DIGESTS}
BY_MGF: Dict[int, Digest] = {d.mgf: d for d in DIGESTS}
BY_KDF: Dict[int, Digest] = {d.kdf: d for d in DIGESTS}
BY_NAME: Dict[str, Digest] = {d.name: d for d in DIGESTS}
BY_SIZE: Dict[int, Digest] = {d.size: d for d in DIGESTS}


def cryptography_hash(digest: Digest) -> HashAlgorithm:
    """pyca's hash object for ``digest`` (imported here: only host-side checks need it)."""
    from cryptography.hazmat.primitives import hashes

    algorithm: HashAlgorithm = getattr(hashes, digest.name.upper())()
    return algorithm


__all__ = ["Digest", "DIGESTS", "BY_MECHANISM", "BY_MGF", "BY_KDF", "BY_NAME", "BY_SIZE", "cryptography_hash"]
