"""Bounds on the work a caller can make the host do, in one place.

Every public engine call holds the library lock, so an argument that makes the
host compute for seconds stalls every other thread of the application (and a
length of 2**37 used to end in an exception inside a library). Each bound is
far above what any real client asks for and low enough that the worst case
costs milliseconds; a caller beyond it gets the spec's code for a bad value,
never CKR_GENERAL_ERROR. Hashing is not bounded: its cost grows only with the
data the caller hands over.
"""

from __future__ import annotations

from typing import Type

from .. import errors

#: RSA public keys the host uses (session keys from C_CreateObject, for C_Verify and
#: C_Encrypt): OpenSSL's own limits (OPENSSL_RSA_MAX_MODULUS_BITS, and
#: OPENSSL_RSA_MAX_PUBEXP_BITS for the exponent), so no key that OpenSSL-based
#: clients accept is refused. The exponent is what made textbook RSA (CKM_RSA_X_509)
#: slow: with at most 64 bits, the largest key costs ~40 ms in Python's pow(), where
#: a 16000-bit exponent took 10 s.
RSA_MAX_MODULUS_BITS = 16384
RSA_MAX_PUBLIC_EXPONENT_BITS = 64

#: CK_RSA_PKCS_PSS_PARAMS.sLen: no RSA key within RSA_MAX_MODULUS_BITS has room for more.
PSS_MAX_SALT_LENGTH = RSA_MAX_MODULUS_BITS // 8

#: CKA_VALUE_LEN of a key derived by ECDH (bytes). A generic secret feeds a MAC or a
#: KDF: HMAC keys beyond the hash's block size (128 bytes for SHA-512) are hashed
#: down anyway, and AES keys are 32 bytes at most; 4096 bytes is 32 times that.
MAX_DERIVED_KEY_LENGTH = 4096

#: CK_ECDH1_DERIVE_PARAMS shared data (the X9.63 SharedInfo, bytes). The KDF hashes it
#: once per output block, so together with MAX_DERIVED_KEY_LENGTH it bounds the KDF to
#: about a megabyte of hashing. CMS's ECC-CMS-SharedInfo is some tens of bytes.
MAX_KDF_SHARED_DATA_LENGTH = 4096

#: C_GenerateRandom (bytes per call): 16 MiB, a few milliseconds of the host's CSPRNG.
MAX_RANDOM_LENGTH = 1 << 24

#: Entries of a CK_MECHANISM_TYPE array attribute (CKA_ALLOWED_MECHANISMS). The spec
#: defines some 400 mechanisms; each entry becomes a Python int (~5x the C size).
MAX_MECHANISM_LIST_LENGTH = 1024

#: CKA_EC_PARAMS the host parses (bytes). cardki takes named curves only, whose DER OID
#: or name is at most ~16 bytes; turning one giant OID arc into an integer is quadratic
#: (a 400 KB one took 35 s).
MAX_EC_PARAMS_LENGTH = 128


def check_rsa_public_key(modulus: bytes, exponent: bytes, error: Type[errors.CryptokiError]) -> None:
    """Raise ``error`` unless (modulus, exponent) is an RSA public key within the bounds
    above (odd modulus; odd exponent of at least 3). Looks at lengths before it makes
    integers, so a huge value costs nothing."""
    modulus, exponent = bytes(modulus).lstrip(b"\x00"), bytes(exponent).lstrip(b"\x00")
    if len(modulus) > RSA_MAX_MODULUS_BITS // 8:
        raise error(f"RSA modulus above {RSA_MAX_MODULUS_BITS} bits")
    if len(exponent) > RSA_MAX_PUBLIC_EXPONENT_BITS // 8:
        raise error(f"RSA public exponent above {RSA_MAX_PUBLIC_EXPONENT_BITS} bits")
    n, e = int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big")
    if n % 2 == 0 or e < 3 or e % 2 == 0:
        raise error("not an RSA public key (the modulus and the exponent must be odd, the exponent at least 3)")


__all__ = [
    "RSA_MAX_MODULUS_BITS", "RSA_MAX_PUBLIC_EXPONENT_BITS", "PSS_MAX_SALT_LENGTH", "MAX_DERIVED_KEY_LENGTH",
    "MAX_KDF_SHARED_DATA_LENGTH", "MAX_RANDOM_LENGTH", "MAX_MECHANISM_LIST_LENGTH",
    "MAX_EC_PARAMS_LENGTH", "check_rsa_public_key",
]
