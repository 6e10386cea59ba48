"""What a card computed with a private key, checked before it leaves cardki.

A card is untrusted input like any other: a faulty, worn-out, swapped or hostile
card can answer a signature that is too long, not DER, or simply wrong. Each
result is therefore checked against the key's public key, which cardki already
holds (from GET METADATA or the certificate), so the check costs no APDU:

* RSA (signatures and decryptions): the answer has at most the modulus' length,
  is below the modulus, and raised to ``e`` gives back exactly what was sent. For
  signatures this also stops the RSA-CRT fault attack (one faulty CRT signature
  reveals a factor of the modulus); for decryptions it stops a fault from turning
  into a wrong plaintext.
* RSA decryptions a card unpads itself (OpenPGP's PSO:DECIPHER answers the
  plaintext): the answer fits in a PKCS#1 v1.5 block (the padding was the card's
  to check; without the block nothing more can be).
* ECDSA: the answer (a DER SEQUENCE of two INTEGERs from PIV, r || s from
  OpenPGP) holds two integers in 1..n-1, and it verifies for the digest that was
  sent. PKCS#11 wants r || s; either way it leaves in that form.
* EdDSA: 64 bytes that verify for the message.
* ECDH: a shared secret of the curve's field size (nothing more can be checked
  without the private key).

A failed check raises :class:`errors.DeviceError` and the value is dropped; the
message never carries it (a decrypted block or a shared secret is secret).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature

from .. import errors
from ..curves import curve_by_name
from ..digests import BY_SIZE, cryptography_hash

if TYPE_CHECKING:  # RSA keys' results import it (padding imports rsa): an EC card's process never does
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa  # ed25519: loaded with any such key

#: Ed25519 signatures are R || S, 32 bytes each (RFC 8032).
ED25519_SIGNATURE_LENGTH = 64


def rsa_private_result(public_key: rsa.RSAPublicKey, sent: bytes, answer: bytes, what: str, *,
                       pkcs1_payload: bytes | None = None) -> bytes:
    """The card's raw RSA private-key result for ``sent`` (a padded signature block,
    or a ciphertext), left-padded to the modulus length, once ``answer ** e mod n``
    gives back ``sent``. ``what`` ("signature", "decryption") names it in the error.

    ``pkcs1_payload``: ``sent`` is the PKCS#1 v1.5 signature block around these bytes
    (CKM_RSA_PKCS, and so every CKM_SHAx_RSA_PKCS); OpenSSL then does the check,
    about 7 times faster than Python's ``pow`` (25 against 180 us for RSA-2048)."""
    numbers = public_key.public_numbers()
    length = (public_key.key_size + 7) // 8
    if len(answer) > length:
        raise errors.DeviceError(f"the card's RSA {what} has {len(answer)} bytes; the key has {length}")
    value = int.from_bytes(answer, "big")
    result = answer.rjust(length, b"\x00")
    if value < numbers.n:
        if pkcs1_payload is not None:
            from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

            try:
                if public_key.recover_data_from_signature(result, PKCS1v15(), None) == pkcs1_payload:
                    return result
            except InvalidSignature:
                pass
        elif pow(value, numbers.e, numbers.n) == int.from_bytes(sent, "big"):
            return result
    raise errors.DeviceError(f"the card's RSA {what} does not match the key's public key")


def rsa_plaintext(answer: bytes, modulus_length: int) -> bytes:
    """What a card that removes the PKCS#1 v1.5 padding itself decrypted: at most
    ``modulus_length`` - 11 bytes (the shortest padding), else a DeviceError."""
    if len(answer) > modulus_length - 11:
        raise errors.DeviceError(f"the card's RSA decryption has {len(answer)} bytes; a "
                                 f"{modulus_length}-byte key's PKCS#1 v1.5 block holds at most {modulus_length - 11}")
    return answer


def ecdsa_signature(public_key: ec.EllipticCurvePublicKey, digest: bytes, der: bytes) -> bytes:
    """The card's DER ECDSA signature over ``digest`` (field-size bytes) as PKCS#11's
    r || s, once it is two integers in 1..n-1 that verify under ``public_key``."""
    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        raise errors.DeviceError("the card's ECDSA signature is not a DER pair of integers") from None
    return _checked_ecdsa(public_key, digest, r, s, der)


def ecdsa_raw_signature(public_key: ec.EllipticCurvePublicKey, digest: bytes, raw: bytes) -> bytes:
    """The card's r || s ECDSA signature over ``digest`` (a hash), once it has twice
    the field length and is two integers in 1..n-1 that verify under ``public_key``."""
    size = (public_key.curve.key_size + 7) // 8
    if len(raw) != 2 * size:
        raise errors.DeviceError(f"the card's ECDSA signature has {len(raw)} bytes, not {2 * size}")
    return _checked_ecdsa(public_key, digest, int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big"))


#: Curve name -> (group order, field size in bytes), for the curves met so far.
_GROUPS: dict[str, tuple[int, int]] = {}
#: Digest length -> the ECDSA algorithm that verifies such a digest as it is (Prehashed).
_PREHASHED: dict[int, ec.ECDSA] = {}


def _group(public_key: ec.EllipticCurvePublicKey) -> tuple[int, int]:
    """(order, field size) of the key's curve, looked up once per curve."""
    name = public_key.curve.name
    known = _GROUPS.get(name)
    if known is None:
        curve = curve_by_name(name)
        if curve is None or curve.order is None:
            raise errors.DeviceError(f"no group order known for {name}")
        known = _GROUPS[name] = (curve.order, (public_key.curve.key_size + 7) // 8)
    return known


class _VerifyingEcdsa(ec.ECDSA):
    """ECDSA over a digest as it is, for verifying only. ``ec.ECDSA()`` imports
    cryptography's OpenSSL backend module, and the cipher classes with it (4 to 7 ms
    of a process's first signature), only to ask whether deterministic signing is
    available, which a verification never uses; OpenSSL's verify reads just
    ``algorithm`` (and checks that this is an ``ec.ECDSA``): a slot here, read
    without the Python call a property is, at every verification."""

    __slots__ = ("algorithm",)

    def __init__(self, algorithm: Prehashed) -> None:  # no super().__init__(): see above
        object.__setattr__(self, "algorithm", algorithm)  # the slot (to a type checker, ECDSA's read-only property)

    @property
    def deterministic_signing(self) -> bool:
        return False


def _prehashed(digest_length: int) -> ec.ECDSA:
    """The ECDSA algorithm for a digest of this length, made once per length."""
    algorithm = _PREHASHED.get(digest_length)
    if algorithm is None:
        algorithm = _PREHASHED[digest_length] = _VerifyingEcdsa(Prehashed(cryptography_hash(BY_SIZE[digest_length])))
    return algorithm


def _checked_ecdsa(public_key: ec.EllipticCurvePublicKey, digest: bytes, r: int, s: int,
                   der: bytes | None = None) -> bytes:
    """r || s once both are in 1..n-1 and verify for ``digest``. ``der``: the card's DER
    of (r, s), verified as it came: ``decode_dss_signature`` takes only strict DER, so it
    is exactly what encoding (r, s) again would give."""
    # The tables' usual hit read here, the helpers asked on a miss: every signature comes here.
    order, size = _GROUPS.get(public_key.curve.name) or _group(public_key)
    if not (0 < r < order and 0 < s < order):
        raise errors.DeviceError("the card's ECDSA signature has an integer outside 1..n-1")
    algorithm = _PREHASHED.get(len(digest)) or _prehashed(len(digest))
    try:
        public_key.verify(der if der is not None else encode_dss_signature(r, s), digest, algorithm)
    except InvalidSignature:
        raise errors.DeviceError("the card's ECDSA signature does not verify with the key's public key") from None
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def eddsa_signature(public_key: ed25519.Ed25519PublicKey, message: bytes, signature: bytes) -> bytes:
    """The card's Ed25519 signature over ``message``, once it verifies under ``public_key``."""
    if len(signature) != ED25519_SIGNATURE_LENGTH:
        raise errors.DeviceError(f"the card's Ed25519 signature has {len(signature)} bytes, not 64")
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        raise errors.DeviceError("the card's Ed25519 signature does not verify with the key's public key") from None
    return signature


def ecdh_secret(secret: bytes, field_length: int) -> bytes:
    """The card's ECDH shared secret (the x-coordinate, or the X25519 output), once it
    has the curve's field length."""
    if len(secret) != field_length:
        raise errors.DeviceError(f"the card's ECDH secret has {len(secret)} bytes, not {field_length}")
    return secret
