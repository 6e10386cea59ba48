"""RSA encodings done on the host (RFC 8017), because PIV cards only do raw RSA.

GENERAL AUTHENTICATE with an RSA key is the bare private-key operation
``m^d mod n`` over a full modulus-sized block, so the token pads before
signing and strips padding after decrypting. Pure functions over bytes;
failures raise the Cryptoki error the caller must return:

* input too long for the key -> :class:`errors.DataLenRange`
* bad parameters (salt too long, unknown hash/MGF) -> :class:`errors.MechanismParamInvalid`
* a decrypted block whose padding does not check -> :class:`errors.EncryptedDataInvalid`

Decoding checks every byte before deciding, so the time taken does not
say *which* check failed (Bleichenbacher/Manger); Python cannot promise
constant time, hence "constant-time-ish".
"""

from __future__ import annotations

import os

from cardki import errors
from cardki.digests import BY_MECHANISM, BY_MGF, BY_NAME, hash_of


def hash_name(mechanism: int) -> str:
    """The name (cardki.digests') of a CKM_ digest mechanism (MECHANISM_PARAM_INVALID if cardki has none)."""
    digest = BY_MECHANISM.get(int(mechanism))
    if digest is None:
        raise errors.MechanismParamInvalid("unsupported hash algorithm")
    return digest.name


def mgf_hash_name(mgf: int) -> str:
    """The name (cardki.digests') of the hash a CKG_MGF1_ generator uses."""
    digest = BY_MGF.get(int(mgf))
    if digest is None:
        raise errors.MechanismParamInvalid("unsupported mask generation function")
    return digest.name


def digest_info(name: str, digest: bytes) -> bytes:
    """DER DigestInfo for a digest made with algorithm ``name``."""
    return BY_NAME[name].digest_info(digest)


def mgf1(seed: bytes, length: int, name: str) -> bytes:
    """MGF1 (RFC 8017 B.2.1) with hash algorithm ``name``."""
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hash_of(name, seed + counter.to_bytes(4, "big"))
        counter += 1
    return bytes(out[:length])


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------ signing
def pkcs1_v15_sign_pad(data: bytes, k: int) -> bytes:
    """EMSA-PKCS1-v1_5 block type 1 around ``data`` (a DigestInfo, or raw data
    for CKM_RSA_PKCS) for a ``k``-byte modulus: 00 01 FF..FF 00 data."""
    if len(data) > k - 11:
        raise errors.DataLenRange(f"at most {k - 11} bytes fit a {k * 8}-bit key")
    return b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data


def pss_encode(m_hash: bytes, mod_bits: int, hash_alg: str, mgf_hash: str, salt_len: int,
               salt: bytes | None = None) -> bytes:
    """EMSA-PSS-ENCODE (RFC 8017 9.1.1) of an already computed message hash,
    returned left-padded to the modulus length so it can go to the card."""
    h_len = BY_NAME[hash_alg].size
    if len(m_hash) != h_len:
        raise errors.DataLenRange(f"PSS expects a {h_len}-byte hash")
    em_bits = mod_bits - 1
    em_len = (em_bits + 7) // 8
    if salt_len < 0 or em_len < h_len + salt_len + 2:
        raise errors.MechanismParamInvalid("salt too long for this key")
    if salt is None:
        salt = os.urandom(salt_len)
    elif len(salt) != salt_len:
        raise ValueError("salt has the wrong length")
    h = hash_of(hash_alg, b"\x00" * 8 + m_hash + salt)
    db = b"\x00" * (em_len - salt_len - h_len - 2) + b"\x01" + salt
    masked = bytearray(_xor(db, mgf1(h, em_len - h_len - 1, mgf_hash)))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    em = bytes(masked) + h + b"\xbc"
    k = (mod_bits + 7) // 8
    return em.rjust(k, b"\x00")


# --------------------------------------------------------------- decryption
def pkcs1_v15_decrypt_unpad(em: bytes, k: int) -> bytes:
    """Strip EME-PKCS1-v1_5 (block type 2) from a decrypted ``k``-byte block."""
    em = em.rjust(k, b"\x00")
    if len(em) != k or k < 11:
        raise errors.EncryptedDataInvalid()
    good = (em[0] == 0) & (em[1] == 2)
    separator = 0
    for index in range(2, k):  # look at every byte: no early exit
        is_zero = em[index] == 0
        first_zero = is_zero & (separator == 0)
        separator = index if first_zero else separator
    good &= separator >= 10  # at least 8 non-zero padding bytes
    if not good:
        raise errors.EncryptedDataInvalid()
    return em[separator + 1:]


def oaep_decode(em: bytes, k: int, hash_alg: str, mgf_hash: str, label: bytes = b"") -> bytes:
    """EME-OAEP decoding (RFC 8017 7.1.2 step 3) of a decrypted ``k``-byte block."""
    h_len = BY_NAME[hash_alg].size
    em = em.rjust(k, b"\x00")
    if len(em) != k or k < 2 * h_len + 2:
        raise errors.EncryptedDataInvalid()
    l_hash = hash_of(hash_alg, label)
    y, masked_seed, masked_db = em[0], em[1:1 + h_len], em[1 + h_len:]
    seed = _xor(masked_seed, mgf1(masked_db, h_len, mgf_hash))
    db = _xor(masked_db, mgf1(seed, k - h_len - 1, mgf_hash))
    import hmac  # here: hmac loads the system's libcrypto (see cardki.digests)

    good = hmac.compare_digest(db[:h_len], l_hash) & (y == 0)
    separator = 0
    invalid_before_separator = False
    for index in range(h_len, len(db)):  # every byte, no early exit
        byte = db[index]
        found = separator != 0
        separator = index if (not found and byte == 1) else separator
        invalid_before_separator |= (not found) & (byte not in (0, 1))
    good &= (separator != 0) & (not invalid_before_separator)
    if not good:
        raise errors.EncryptedDataInvalid()
    return db[separator + 1:]

