"""The hash functions cardki knows, once: their Cryptoki names and what goes with each.

A digest mechanism (CKM_SHA256) comes with its MGF1 generator (CKG_MGF1_SHA256,
for PSS and OAEP), its X9.63 KDF (CKD_SHA256_KDF, for ECDH), its length, and the
DER DigestInfo prefix that PKCS#1 v1.5 signatures wrap a digest in (RFC 8017
section 9.2, note 1). Everything that maps one of these to another reads it
here, and all of cardki's hashing goes through here (:meth:`Digest.new`,
:func:`hash_of`).

The hashing is pyca cryptography's, imported at the first hash, not hashlib's:
hashlib loads the system's libcrypto through _hashlib (3 to 4 ms of every C
module start), while the cryptography a signature needs anyway (to check what
the card signed) carries its own OpenSSL. :func:`cryptography_hash` gives pyca's
algorithm object where pyca wants one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Tuple

from cardki.named_tuple import NamedTuple

from .constants import CKD, CKG, CKM

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.hashes import Hash, HashAlgorithm


class HashContext:
    """A running hash over a cryptography Hash, with the manners cardki uses of
    hashlib's: update, digest (as often as asked: the first finalizes, the rest
    repeat it), copy. Updating after the digest is a ValueError, never a wrong hash."""

    __slots__ = ("_hash", "_digest")

    def __init__(self, running: Hash, digest: bytes | None = None) -> None:
        self._hash = running
        self._digest = digest

    def update(self, data: bytes) -> None:
        if self._digest is not None:
            raise ValueError("a hash updated after its digest was taken")
        self._hash.update(data)

    def digest(self) -> bytes:
        if self._digest is None:
            self._digest = self._hash.finalize()
        return self._digest

    def copy(self) -> HashContext:
        if self._digest is not None:
            return HashContext(self._hash, self._digest)
        return HashContext(self._hash.copy())


class Digest(NamedTuple):
    """One hash function under all the names Cryptoki gives it."""

    mechanism: CKM
    name: str                    # hashlib's (and cryptography's) name
    size: int                    # bytes
    mgf: CKG
    kdf: CKD
    digest_info_prefix: bytes

    def new(self) -> HashContext:
        pristine = _PRISTINE.get(self.name)  # _fresh_hash's usual hit, read here: every C_SignInit hashes
        return HashContext(pristine.copy() if pristine is not None else _fresh_hash(self))

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


def hash_of(name: str, data: bytes) -> bytes:
    """The ``name`` ("sha1", "sha256", ...: a Digest's) hash of ``data``, in one go."""
    running = _fresh_hash(BY_NAME[name])
    running.update(data)
    return running.finalize()


_ALGORITHMS: Dict[str, HashAlgorithm] = {}


def cryptography_hash(digest: Digest) -> HashAlgorithm:
    """pyca's hash object for ``digest`` (made once: they hold no state)."""
    algorithm = _ALGORITHMS.get(digest.name)
    if algorithm is None:
        from cryptography.hazmat.primitives import hashes

        algorithm = _ALGORITHMS[digest.name] = getattr(hashes, digest.name.upper())()
    return algorithm


_PRISTINE: Dict[str, Hash] = {}


def _fresh_hash(digest: Digest) -> Hash:
    """A new running hash of ``digest``: a copy of one made once and never updated, which
    is the same state as a new Hash (0.2 us, where making one checks the algorithm
    object and asks OpenSSL for the digest again: 0.8 us; every C_SignInit makes one)."""
    pristine = _PRISTINE.get(digest.name)
    if pristine is None:
        pristine = _PRISTINE[digest.name] = _hash_class()(cryptography_hash(digest))
    return pristine.copy()


_HASH_CLASS: list[type[Hash]] = []


def _hash_class() -> type[Hash]:
    """cryptography's Hash, imported at the first hash (not with this module; an import
    statement on every hash would cost more than the hash of a digest)."""
    if not _HASH_CLASS:
        from cryptography.hazmat.primitives.hashes import Hash

        _HASH_CLASS.append(Hash)
    return _HASH_CLASS[0]


__all__ = ["Digest", "DIGESTS", "BY_MECHANISM", "BY_MGF", "BY_KDF", "BY_NAME", "BY_SIZE", "HashContext",
           "cryptography_hash", "hash_of"]
