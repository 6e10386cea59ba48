"""Key material for the virtual PIV applet: algorithms, generation, import,
the private-key operations GENERAL AUTHENTICATE performs, and the
management-key block ciphers.

Kept apart from ``piv.py`` so the applet reads as APDU rules and this module
reads as cryptography; the applet never touches ``cryptography`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Tuple

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .iso7816 import SW, SwError, tlv

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey


@dataclass(frozen=True)
class KeyAlgorithm:
    """One PIV algorithm identifier as the YubiKey knows it."""

    ident: int
    name: str
    family: str  # "rsa", "ec", "ed25519", "x25519"
    size: int  # RSA modulus bits or curve bits
    min_firmware: Tuple[int, int, int]

    @property
    def byte_length(self) -> int:
        return (self.size + 7) // 8


KEY_ALGORITHMS: Dict[int, KeyAlgorithm] = {
    a.ident: a
    for a in (
        KeyAlgorithm(0x06, "RSA1024", "rsa", 1024, (0, 0, 0)),
        KeyAlgorithm(0x07, "RSA2048", "rsa", 2048, (0, 0, 0)),
        KeyAlgorithm(0x05, "RSA3072", "rsa", 3072, (5, 7, 0)),
        KeyAlgorithm(0x16, "RSA4096", "rsa", 4096, (5, 7, 0)),
        KeyAlgorithm(0x11, "ECCP256", "ec", 256, (0, 0, 0)),
        KeyAlgorithm(0x14, "ECCP384", "ec", 384, (4, 0, 0)),
        KeyAlgorithm(0xE0, "ED25519", "ed25519", 256, (5, 7, 0)),
        KeyAlgorithm(0xE1, "X25519", "x25519", 256, (5, 7, 0)),
    )
}

_CURVES = {256: ec.SECP256R1, 384: ec.SECP384R1}
_PREHASH = {256: hashes.SHA256, 384: hashes.SHA384}


def key_algorithm(ident: int, firmware: Tuple[int, int, int]) -> KeyAlgorithm:
    """The algorithm for ``ident`` if this firmware has it, else SwError(6A80)."""
    algorithm = KEY_ALGORITHMS.get(ident)
    if algorithm is None or firmware < algorithm.min_firmware:
        raise SwError(SW.INCORRECT_DATA)
    return algorithm


def generate_key(algorithm: KeyAlgorithm) -> PrivateKey:
    if algorithm.family == "rsa":
        return rsa.generate_private_key(65537, algorithm.size)
    if algorithm.family == "ec":
        return ec.generate_private_key(_CURVES[algorithm.size]())
    if algorithm.family == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return x25519.X25519PrivateKey.generate()


def algorithm_of(key: PrivateKey) -> KeyAlgorithm:
    """The PIV algorithm of a private key (used when restoring state)."""
    if isinstance(key, rsa.RSAPrivateKey):
        family, size = "rsa", key.key_size
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        family, size = "ec", key.curve.key_size
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        family, size = "ed25519", 256
    else:
        family, size = "x25519", 256
    for algorithm in KEY_ALGORITHMS.values():
        if (algorithm.family, algorithm.size) == (family, size):
            return algorithm
    raise ValueError("key type not representable in PIV")


def encode_public_key(key: PrivateKey) -> bytes:
    """The public key as the YubiKey returns it inside 7F49 and in metadata:
    81 modulus + 82 exponent for RSA, 86 point (or raw 32 bytes) otherwise."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        n = numbers.n.to_bytes((public.key_size + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return tlv(0x81, n) + tlv(0x82, e)
    if isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return tlv(0x86, point)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return tlv(0x86, raw)


def serialize_private(key: PrivateKey) -> str:
    """PKCS#8 DER, hex: how keys sit in the state file."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).hex()


def load_private(hex_der: str) -> PrivateKey:
    """A key as the state file holds it (:func:`serialize_private`).

    Every key came onto the card generated or imported through ``cryptography``,
    which checked it then; so OpenSSL's check when it is read back, which tests the
    primes and costs 46 ms for an RSA-2048 key and 340 ms for RSA-4096 on the
    project's machines, is skipped. What a damaged or edited file could break is
    checked instead: that an RSA key's numbers fit together (ValueError if not).
    """
    key = serialization.load_der_private_key(bytes.fromhex(hex_der), password=None,
                                             unsafe_skip_rsa_key_validation=True)
    if isinstance(key, rsa.RSAPrivateKey):
        _check_rsa_numbers(key.private_numbers())
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                            x25519.X25519PrivateKey)):
        raise ValueError("a state file key of a kind no card holds")
    return key


def _check_rsa_numbers(numbers: rsa.RSAPrivateNumbers) -> None:
    p, q, e, n = numbers.p, numbers.q, numbers.public_numbers.e, numbers.public_numbers.n
    fits = (p * q == n and p > 1 and q > 1 and e > 1
            and numbers.dmp1 == numbers.d % (p - 1) and numbers.dmq1 == numbers.d % (q - 1)
            and e * numbers.dmp1 % (p - 1) == 1 and e * numbers.dmq1 % (q - 1) == 1
            and numbers.iqmp * q % p == 1)
    if not fits:
        raise ValueError("an RSA key whose numbers do not fit together")


class StoredKey:
    """A private key in the card's memory, kept as the state file has it (PKCS#8
    DER, hex) and parsed the first time the card uses it; a key the card made or
    took in is kept as it is and serialized once, when the card is first saved.

    So loading a card parses no key and saving one serializes none again: a card
    with keys in all its slots loads in milliseconds. A stored key that does not
    parse answers 6F00 where it is used, as a card with damaged memory would; the
    rest of the card works.
    """

    __slots__ = ("_key", "_pkcs8_hex", "_fits")

    def __init__(self, key: PrivateKey | None = None, pkcs8_hex: str | None = None,
                 fits: Callable[[PrivateKey], bool] | None = None) -> None:
        if (key is None) == (pkcs8_hex is None):
            raise ValueError("a stored key is a key or its PKCS#8 hex, one of the two")
        self._key = key
        self._pkcs8_hex = pkcs8_hex
        self._fits = fits

    @classmethod
    def from_state(cls, pkcs8_hex: str, fits: Callable[[PrivateKey], bool]) -> StoredKey:
        """The key of a state file (ValueError, at once, when it is not hex). ``fits``
        tells whether the parsed key is what the state says the slot holds."""
        bytes.fromhex(pkcs8_hex)
        return cls(pkcs8_hex=pkcs8_hex, fits=fits)

    @property
    def key(self) -> PrivateKey:
        if self._key is None:
            try:
                key = load_private(self._pkcs8_hex)  # type: ignore[arg-type]
            except ValueError:
                raise SwError(SW.NO_PRECISE_DIAGNOSIS) from None
            if self._fits is not None and not self._fits(key):
                raise SwError(SW.NO_PRECISE_DIAGNOSIS)
            self._key = key
        return self._key

    def to_state(self) -> str:
        if self._pkcs8_hex is None:
            self._pkcs8_hex = serialize_private(self._key)  # type: ignore[arg-type]
        return self._pkcs8_hex


def import_key(algorithm: KeyAlgorithm, parts: Dict[int, bytes]) -> PrivateKey:
    """Build a private key from IMPORT ASYMMETRIC KEY components (tags 01-05
    RSA CRT, 06 EC scalar, 07 Ed25519 seed, 08 X25519 scalar)."""
    try:
        if algorithm.family == "rsa":
            half = algorithm.byte_length // 2
            if any(tag not in parts for tag in (1, 2, 3, 4, 5)):
                raise SwError(SW.INCORRECT_DATA)
            if any(len(parts[tag]) > half for tag in (1, 2, 3, 4, 5)):
                raise SwError(SW.INCORRECT_DATA)
            p, q, dp, dq, qinv = (int.from_bytes(parts[tag], "big") for tag in (1, 2, 3, 4, 5))
            e = 65537
            n = p * q
            if n.bit_length() != algorithm.size:
                raise SwError(SW.INCORRECT_DATA)
            d = pow(e, -1, (p - 1) * (q - 1))
            public = rsa.RSAPublicNumbers(e, n)
            return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qinv, public).private_key()
        if algorithm.family == "ec":
            scalar = parts.get(6)
            if scalar is None or len(scalar) != algorithm.byte_length:
                raise SwError(SW.INCORRECT_DATA)
            return ec.derive_private_key(int.from_bytes(scalar, "big"), _CURVES[algorithm.size]())
        if algorithm.family == "ed25519":
            seed = parts.get(7)
            if seed is None or len(seed) != 32:
                raise SwError(SW.INCORRECT_DATA)
            return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        scalar = parts.get(8)
        if scalar is None or len(scalar) != 32:
            raise SwError(SW.INCORRECT_DATA)
        return x25519.X25519PrivateKey.from_private_bytes(scalar)
    except ValueError:
        raise SwError(SW.INCORRECT_DATA) from None


def sign_or_decrypt(key: PrivateKey, algorithm: KeyAlgorithm, data: bytes) -> bytes:
    """GENERAL AUTHENTICATE with tag 81: raw RSA, ECDSA over a hash, or Ed25519
    over the message itself."""
    if isinstance(key, rsa.RSAPrivateKey):
        if len(data) != algorithm.byte_length:
            raise SwError(SW.INCORRECT_DATA)
        numbers = key.private_numbers()
        n = numbers.public_numbers.n
        value = int.from_bytes(data, "big")
        if value >= n:
            raise SwError(SW.INCORRECT_DATA)
        # Chinese remainder theorem: four times faster than pow(value, d, n).
        m1 = pow(value, numbers.dmp1, numbers.p)
        m2 = pow(value, numbers.dmq1, numbers.q)
        h = (numbers.iqmp * (m1 - m2)) % numbers.p
        return (m2 + h * numbers.q).to_bytes(algorithm.byte_length, "big")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = algorithm.byte_length
        # Like the YubiKey: a longer hash keeps its leftmost bytes, a shorter one
        # is left-padded with zeros to the curve size.
        digest = data[:size].rjust(size, b"\0")
        return key.sign(digest, ec.ECDSA(Prehashed(_PREHASH[algorithm.size]())))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise SwError(SW.INCORRECT_DATA)  # X25519 cannot sign


def derive(key: PrivateKey, algorithm: KeyAlgorithm, peer: bytes) -> bytes:
    """GENERAL AUTHENTICATE with tag 85: ECDH / X25519 shared secret."""
    try:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if len(peer) != 1 + 2 * algorithm.byte_length:
                raise SwError(SW.INCORRECT_DATA)
            public = ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[algorithm.size](), peer)
            return key.exchange(ec.ECDH(), public)
        if isinstance(key, x25519.X25519PrivateKey):
            if len(peer) != 32:
                raise SwError(SW.INCORRECT_DATA)
            return key.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
    except ValueError:
        raise SwError(SW.INCORRECT_DATA) from None
    raise SwError(SW.INCORRECT_DATA)


# ------------------------------------------------------------ management key


@dataclass(frozen=True)
class ManagementKeyType:
    ident: int
    name: str
    key_length: int
    block_length: int
    min_firmware: Tuple[int, int, int]


MANAGEMENT_KEY_TYPES: Dict[int, ManagementKeyType] = {
    t.ident: t
    for t in (
        ManagementKeyType(0x03, "TDES", 24, 8, (0, 0, 0)),
        ManagementKeyType(0x08, "AES128", 16, 16, (5, 4, 0)),
        ManagementKeyType(0x0A, "AES192", 24, 16, (5, 4, 0)),
        ManagementKeyType(0x0C, "AES256", 32, 16, (5, 4, 0)),
    )
}

DEFAULT_MANAGEMENT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")


def _cipher(key_type: ManagementKeyType, key: bytes) -> Cipher:
    if key_type.ident == 0x03:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

        return Cipher(TripleDES(key), modes.ECB())  # nosec - the PIV protocol's own choice
    return Cipher(algorithms.AES(key), modes.ECB())  # nosec - one block, as PIV specifies


def block_encrypt(key_type: ManagementKeyType, key: bytes, block: bytes) -> bytes:
    encryptor = _cipher(key_type, key).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def block_decrypt(key_type: ManagementKeyType, key: bytes, block: bytes) -> bytes:
    decryptor = _cipher(key_type, key).decryptor()
    return decryptor.update(block) + decryptor.finalize()


def public_key_of(key: PrivateKey) -> PublicKey:
    return key.public_key()


def optional_private(hex_der: str | None) -> PrivateKey | None:
    return None if hex_der is None else load_private(hex_der)
