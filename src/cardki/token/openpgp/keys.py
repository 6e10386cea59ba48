"""Keys as the OpenPGP card moves them: the public key template (7F49) that
GENERATE ASYMMETRIC KEY PAIR answers, the extended header list (4D) that
imports a private key with PUT DATA (odd INS), and the OpenPGP v4 fingerprint a
key's C7-C9 hold.

The public key is checked against the slot's algorithm attributes: a modulus of
another size, a point off the curve or of the wrong length is a
:class:`MalformedResponseError`, because everything later (signature checks,
CKA_MODULUS_BITS, ECDH) relies on the key being what the attributes say.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from cardki.apdu import MalformedResponseError, Tlv, encode_length
from cardki.curves import Curve, CurveKind, curve_by_name
from cardki.digests import hash_of
from cardki.spki import point_bytes

from .constants import AlgorithmId, Do, EcImportFormat, KeyRef, RsaImportFormat
from .data import AlgorithmAttributes, EcAttributes, RsaAttributes, constructed_value, tlv_fields

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | x25519.X25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey

#: Tags of the public key template and of a key import's parts (spec 3.4, 4.4.3.12 and 7.2.14).
TAG_MODULUS, TAG_EXPONENT, TAG_POINT = 0x81, 0x82, 0x86
TAG_E, TAG_P, TAG_Q, TAG_QINV, TAG_DP, TAG_DQ, TAG_N = 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97
TAG_EC_PRIVATE, TAG_EC_PUBLIC = 0x92, 0x99
TAG_EXTENDED_HEADER_LIST, TAG_TEMPLATE, TAG_KEY_DATA = 0x4D, 0x7F48, 0x5F48
#: Largest RSA public exponent a card may answer, in bytes (e is 3 bytes on every known card).
MAX_EXPONENT_BYTES = 8


def parse_public_key(data: bytes, attributes: AlgorithmAttributes) -> PublicKey:
    """The key in a 7F49 template, which must be a key of ``attributes``' kind and size.

    ValueError (not a card error) when ``attributes`` are unknown: the caller decides
    which slots it can use before it reads their keys."""
    what = "public key template (7F49)"
    fields = tlv_fields(constructed_value(Do.PUBLIC_KEY, data, what), what)
    if isinstance(attributes, RsaAttributes):
        return _rsa_public_key(fields, attributes, what)
    if isinstance(attributes, EcAttributes):
        return ec_public_key(attributes.curve, fields.get(TAG_POINT, b""), what)
    raise ValueError("public key of unknown algorithm attributes")


def _rsa_public_key(fields: Dict[int, bytes], attributes: RsaAttributes, what: str) -> rsa.RSAPublicKey:
    n_bytes, e_bytes = fields.get(TAG_MODULUS, b""), fields.get(TAG_EXPONENT, b"")
    if not n_bytes or not 1 <= len(e_bytes) <= MAX_EXPONENT_BYTES:
        raise MalformedResponseError(f"{what}: no modulus (81) or exponent (82) of a sane length")
    n, e = int.from_bytes(n_bytes, "big"), int.from_bytes(e_bytes, "big")
    if n.bit_length() != attributes.modulus_bits:
        raise MalformedResponseError(
            f"{what}: a {n.bit_length()}-bit modulus for an RSA {attributes.modulus_bits} key")
    if e < 3 or not e & 1:
        raise MalformedResponseError(f"{what}: public exponent {e} is not an odd number of at least 3")
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise MalformedResponseError(f"{what}: cryptography refuses the RSA key") from None


def ec_public_key(curve: Curve, point: bytes, what: str = "public key") -> PublicKey:
    """A point on ``curve`` as the card sends it (uncompressed, or 32 raw bytes for the
    25519 curves), checked to be on the curve."""
    if len(point) != curve.point_length or (curve.kind is CurveKind.WEIERSTRASS and point[:1] != b"\x04"):
        raise MalformedResponseError(f"{what}: a point of {len(point)} bytes is not an uncompressed {curve.name} point")
    try:
        if curve.kind is CurveKind.EDWARDS:
            return ed25519.Ed25519PublicKey.from_public_bytes(point)
        if curve.kind is CurveKind.MONTGOMERY:
            return x25519.X25519PublicKey.from_public_bytes(point)
        return ec.EllipticCurvePublicKey.from_encoded_point(curve.ec_curve(), point)
    except ValueError:
        raise MalformedResponseError(f"{what}: the point is not on {curve.name}") from None


# ------------------------------------------------------------- key import


def attributes_for_private_key(ref: KeyRef, private_key: PrivateKey, *,
                               rsa_format: RsaImportFormat = RsaImportFormat.STANDARD) -> AlgorithmAttributes:
    """The attributes a slot must have to take ``private_key`` (ValueError for a curve
    no OpenPGP card has)."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        e = private_key.private_numbers().public_numbers.e
        return RsaAttributes(private_key.key_size, max(17, e.bit_length()), rsa_format)
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        name = "ed25519"
    elif isinstance(private_key, x25519.X25519PrivateKey):
        name = "x25519"
    else:
        name = private_key.curve.name
    curve = curve_by_name(name)
    if curve is None:
        raise ValueError(f"an OpenPGP card has no curve {name}")
    return EcAttributes.for_key(ref, curve)


def import_template(ref: KeyRef, attributes: AlgorithmAttributes, private_key: PrivateKey) -> bytes:
    """PUT DATA 3FFF's extended header list for ``private_key`` in ``ref``, in the format
    ``attributes`` ask for: 4D { CRT, 7F48 { tag and length of each part },
    5F48 { the parts } }. Secret: send it marked sensitive. ValueError when the key
    does not fit the attributes (the card would refuse it after a PW3 check)."""
    parts = _key_parts(attributes, private_key)
    header = b"".join(bytes([tag]) + encode_length(len(value)) for tag, value in parts)
    values = b"".join(value for _, value in parts)
    return bytes(Tlv(TAG_EXTENDED_HEADER_LIST, ref.crt + bytes(Tlv(TAG_TEMPLATE, header))
                     + bytes(Tlv(TAG_KEY_DATA, values))))


def _key_parts(attributes: AlgorithmAttributes, private_key: PrivateKey) -> List[Tuple[int, bytes]]:
    if isinstance(attributes, RsaAttributes):
        if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.key_size != attributes.modulus_bits:
            raise ValueError(f"the slot takes RSA {attributes.modulus_bits} keys")
        numbers = private_key.private_numbers()
        e = numbers.public_numbers.e
        if e.bit_length() > attributes.exponent_bits:
            raise ValueError(f"the slot takes public exponents of up to {attributes.exponent_bits} bits")
        half = attributes.modulus_bits // 16  # bytes of p, q and the CRT values (spec 4.4.3.12)
        parts = [(TAG_E, e.to_bytes((attributes.exponent_bits + 7) // 8, "big")),
                 (TAG_P, numbers.p.to_bytes(half, "big")), (TAG_Q, numbers.q.to_bytes(half, "big"))]
        if attributes.import_format in (RsaImportFormat.CRT, RsaImportFormat.CRT_WITH_MODULUS):
            parts += [(TAG_QINV, numbers.iqmp.to_bytes(half, "big")), (TAG_DP, numbers.dmp1.to_bytes(half, "big")),
                      (TAG_DQ, numbers.dmq1.to_bytes(half, "big"))]
        if attributes.import_format in (RsaImportFormat.STANDARD_WITH_MODULUS, RsaImportFormat.CRT_WITH_MODULUS):
            parts.append((TAG_N, numbers.public_numbers.n.to_bytes(attributes.modulus_bits // 8, "big")))
        return parts
    if not isinstance(attributes, EcAttributes):
        raise ValueError("cannot import into unknown algorithm attributes")
    curve = attributes.curve
    scalar = _private_scalar(curve, private_key)
    parts = [(TAG_EC_PRIVATE, scalar)]
    if attributes.import_format is EcImportFormat.WITH_PUBLIC_KEY:
        parts.append((TAG_EC_PUBLIC, point_bytes(private_key.public_key())))
    return parts


def _private_scalar(curve: Curve, private_key: PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization  # ~15 ms: a key import's cost, not the token's

    raw = serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    if curve.kind is CurveKind.EDWARDS and isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.private_bytes(*raw)
    if curve.kind is CurveKind.MONTGOMERY and isinstance(private_key, x25519.X25519PrivateKey):
        # The card takes the X25519 secret big-endian, as OpenPGP writes its MPI
        # (yubikit reverses the native little-endian bytes; gpg sends the MPI).
        return private_key.private_bytes(*raw)[::-1]
    if (curve.kind is CurveKind.WEIERSTRASS and isinstance(private_key, ec.EllipticCurvePrivateKey)
            and private_key.curve.name == curve.name):
        return private_key.private_numbers().private_value.to_bytes(curve.field_bytes, "big")
    raise ValueError(f"the slot takes {curve.name} keys")


# ------------------------------------------------------ OpenPGP fingerprints

#: ECDH's KDF parameters in the public key packet, by curve size: the hash and the
#: key wrap cipher GnuPG writes (RFC 6637 section 9: SHA-256/AES-128 for 256-bit
#: curves, SHA-384/AES-192, SHA-512/AES-256), as RFC 4880 ids.
_ECDH_KDF: Dict[int, Tuple[int, int]] = {256: (0x08, 0x07), 384: (0x09, 0x08), 512: (0x0A, 0x09),
                                         521: (0x0A, 0x09)}
#: The prefix OpenPGP gives a 25519 point in its MPI ("native" point format).
_NATIVE_POINT = b"\x40"


def _mpi(value: bytes) -> bytes:
    """RFC 4880 3.2: the bit count (2 bytes) and the big-endian value without leading zeros."""
    stripped = value.lstrip(b"\x00")
    bits = (len(stripped) - 1) * 8 + stripped[0].bit_length() if stripped else 0
    return bits.to_bytes(2, "big") + stripped


def public_key_packet_body(public_key: PublicKey, created: int, attributes: AlgorithmAttributes) -> bytes:
    """The body of the version 4 public key packet (RFC 4880 5.5.2, RFC 6637) of a card
    key made at ``created`` (seconds since 1970): what its fingerprint hashes."""
    if not 0 <= created < 1 << 32:
        raise ValueError("a creation time is 4 bytes of seconds since 1970")
    if isinstance(attributes, RsaAttributes) and isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        material = (_mpi(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))
                    + _mpi(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")))
    elif isinstance(attributes, EcAttributes) and not isinstance(public_key, rsa.RSAPublicKey):
        oid = attributes.curve.openpgp_oid_bytes
        point = point_bytes(public_key)
        if attributes.curve.kind is not CurveKind.WEIERSTRASS:
            point = _NATIVE_POINT + point
        material = bytes([len(oid)]) + oid + _mpi(point)
        if attributes.algorithm is AlgorithmId.ECDH:
            hash_id, cipher_id = _ECDH_KDF[attributes.curve.bits]
            material += bytes([3, 1, hash_id, cipher_id])
    else:
        raise ValueError("the key does not fit its algorithm attributes")
    return bytes([4]) + created.to_bytes(4, "big") + bytes([attributes.algorithm]) + material


def v4_fingerprint(public_key: PublicKey, created: int, attributes: AlgorithmAttributes) -> bytes:
    """The key's OpenPGP v4 fingerprint (RFC 4880 12.2): SHA-1 over 0x99, the packet
    body's length and the body. What gpg shows and what the card's C7-C9 hold; OpenSC
    lists only keys that have one."""
    body = public_key_packet_body(public_key, created, attributes)
    return hash_of("sha1", b"\x99" + len(body).to_bytes(2, "big") + body)  # nosec - the spec's hash
