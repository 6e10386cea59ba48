"""Key material for the virtual OpenPGP applet: algorithm attributes (DO
C1/C2/C3/DA), generation, import from the extended header list (4D), the
public key template (7F49) and the private-key operations of PSO:CDS,
INTERNAL AUTHENTICATE and PSO:DECIPHER.

Kept apart from ``openpgp.py`` so the applet reads as APDU rules and this
module as cryptography (as ``piv_crypto`` is for PIV).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Dict, Tuple, Type

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from .iso7816 import SW, SwError, parse_tlvs, tlv
from .piv_crypto import PrivateKey


class AlgorithmId(enum.IntEnum):
    """First byte of an algorithm attribute (RFC 4880 public key algorithm ids)."""

    RSA = 0x01
    ECDH = 0x12
    ECDSA = 0x13
    EDDSA = 0x16


class KeyRef(enum.IntEnum):
    """The applet's key slots: signature, decryption, authentication, and the
    YubiKey's attestation key."""

    SIG = 0x01
    DEC = 0x02
    AUT = 0x03
    ATT = 0x81


RSA_EXPONENT_BITS = 17  # e = 65537, what YubiKeys (and ykman) use
RSA_E = 65537


@dataclass(frozen=True)
class Curve:
    """One elliptic curve the card knows, by its OpenPGP OID."""

    name: str
    oid: bytes  # DER contents, no tag/length
    size: int  # field bytes: scalar and coordinate length
    kind: str  # "weierstrass", "ed25519", "x25519"
    ec_curve: Type[ec.EllipticCurve] | None = None


CURVES: Tuple[Curve, ...] = (
    Curve("nistp256", bytes.fromhex("2A8648CE3D030107"), 32, "weierstrass", ec.SECP256R1),
    Curve("nistp384", bytes.fromhex("2B81040022"), 48, "weierstrass", ec.SECP384R1),
    Curve("nistp521", bytes.fromhex("2B81040023"), 66, "weierstrass", ec.SECP521R1),
    Curve("secp256k1", bytes.fromhex("2B8104000A"), 32, "weierstrass", ec.SECP256K1),
    Curve("brainpoolP256r1", bytes.fromhex("2B2403030208010107"), 32, "weierstrass", ec.BrainpoolP256R1),
    Curve("brainpoolP384r1", bytes.fromhex("2B240303020801010B"), 48, "weierstrass", ec.BrainpoolP384R1),
    Curve("brainpoolP512r1", bytes.fromhex("2B240303020801010D"), 64, "weierstrass", ec.BrainpoolP512R1),
    Curve("ed25519", bytes.fromhex("2B06010401DA470F01"), 32, "ed25519"),
    Curve("cv25519", bytes.fromhex("2B060104019755010501"), 32, "x25519"),
)
CURVE_BY_OID: Dict[bytes, Curve] = {curve.oid: curve for curve in CURVES}
CURVE_BY_NAME: Dict[str, Curve] = {curve.name: curve for curve in CURVES}

EC_FORMAT_WITH_PUBLIC_KEY = 0xFF


@dataclass(frozen=True)
class Attributes:
    """An algorithm attribute DO value: RSA (bits, e bits, import format) or an
    EC algorithm with its curve (and whether import carries the public key)."""

    algorithm: AlgorithmId
    rsa_bits: int = 0
    rsa_e_bits: int = RSA_EXPONENT_BITS
    rsa_format: int = 0  # 00 standard (e, p, q), 01 +n, 02 CRT, 03 CRT +n
    curve: Curve | None = None
    import_with_public: bool = False

    @classmethod
    def rsa(cls, bits: int) -> Attributes:
        return cls(AlgorithmId.RSA, rsa_bits=bits)

    @classmethod
    def ec(cls, algorithm: AlgorithmId, curve_name: str) -> Attributes:
        return cls(algorithm, curve=CURVE_BY_NAME[curve_name])

    def encode(self, trailing_zero: bool = False) -> bytes:
        """The DO value. ``trailing_zero``: YubiKey 5.2/5.3 end EC attributes
        with a 00 "format" byte (GnuPG's comment in parse_algorithm_attribute)."""
        if self.algorithm == AlgorithmId.RSA:
            return (bytes([self.algorithm]) + self.rsa_bits.to_bytes(2, "big")
                    + self.rsa_e_bits.to_bytes(2, "big") + bytes([self.rsa_format]))
        assert self.curve is not None
        value = bytes([self.algorithm]) + self.curve.oid
        if self.import_with_public:
            return value + bytes([EC_FORMAT_WITH_PUBLIC_KEY])
        return value + (b"\x00" if trailing_zero else b"")

    @classmethod
    def parse(cls, value: bytes) -> Attributes:
        """Attributes from a PUT DATA value; SwError(6A80) for anything unknown."""
        if not value:
            raise SwError(SW.INCORRECT_DATA)
        try:
            algorithm = AlgorithmId(value[0])
        except ValueError:
            raise SwError(SW.INCORRECT_DATA) from None
        if algorithm == AlgorithmId.RSA:
            if len(value) not in (5, 6):
                raise SwError(SW.INCORRECT_DATA)
            fmt = value[5] if len(value) == 6 else 0
            return cls(algorithm, rsa_bits=int.from_bytes(value[1:3], "big"),
                       rsa_e_bits=int.from_bytes(value[3:5], "big"), rsa_format=fmt)
        oid, with_public = value[1:], False
        if oid and oid[-1] in (0x00, EC_FORMAT_WITH_PUBLIC_KEY) and oid[:-1] in CURVE_BY_OID:
            oid, with_public = oid[:-1], oid[-1] == EC_FORMAT_WITH_PUBLIC_KEY
        curve = CURVE_BY_OID.get(bytes(oid))
        if curve is None:
            raise SwError(SW.INCORRECT_DATA)
        return cls(algorithm, curve=curve, import_with_public=with_public)

    @property
    def label(self) -> str:
        if self.algorithm == AlgorithmId.RSA:
            return f"rsa{self.rsa_bits}"
        assert self.curve is not None
        return f"{self.algorithm.name.lower()}-{self.curve.name}"

    def matches_key(self, key: PrivateKey) -> bool:
        """Whether ``key`` is of the kind these attributes describe."""
        if self.algorithm == AlgorithmId.RSA:
            return isinstance(key, rsa.RSAPrivateKey) and key.key_size == self.rsa_bits
        assert self.curve is not None
        if self.curve.kind == "ed25519":
            return isinstance(key, ed25519.Ed25519PrivateKey)
        if self.curve.kind == "x25519":
            return isinstance(key, x25519.X25519PrivateKey)
        return (isinstance(key, ec.EllipticCurvePrivateKey) and self.curve.ec_curve is not None
                and isinstance(key.curve, self.curve.ec_curve))


def attributes_of(key: PrivateKey, ref: KeyRef) -> Attributes:
    """The attributes that describe a key found in a saved state."""
    if isinstance(key, rsa.RSAPrivateKey):
        return Attributes.rsa(key.key_size)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Attributes.ec(AlgorithmId.EDDSA, "ed25519")
    if isinstance(key, x25519.X25519PrivateKey):
        return Attributes.ec(AlgorithmId.ECDH, "cv25519")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    curve = next(c for c in CURVES if c.ec_curve is not None and isinstance(key.curve, c.ec_curve))
    return Attributes.ec(AlgorithmId.ECDH if ref == KeyRef.DEC else AlgorithmId.ECDSA, curve.name)


# ------------------------------------------------------------------ generation


def generate(attributes: Attributes) -> PrivateKey:
    if attributes.algorithm == AlgorithmId.RSA:
        return rsa.generate_private_key(RSA_E, attributes.rsa_bits)
    curve = attributes.curve
    assert curve is not None
    if curve.kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if curve.kind == "x25519":
        return x25519.X25519PrivateKey.generate()
    assert curve.ec_curve is not None
    return ec.generate_private_key(curve.ec_curve())


def public_key_template(key: PrivateKey) -> bytes:
    """7F49 as GENERATE ASYMMETRIC KEY PAIR answers: 81 n, 82 e for RSA; 86 the
    point (uncompressed for Weierstrass curves, 32 raw bytes for 25519)."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        n = numbers.n.to_bytes((public.key_size + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return tlv(0x7F49, tlv(0x81, n) + tlv(0x82, e))
    if isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return tlv(0x7F49, tlv(0x86, point))
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return tlv(0x7F49, tlv(0x86, raw))


# ---------------------------------------------------------------------- import

CRT_TAGS = {0xB6: KeyRef.SIG, 0xB8: KeyRef.DEC, 0xA4: KeyRef.AUT}


def key_ref_from_crt(crt: bytes) -> KeyRef:
    """The key a control reference template names: B6 00 / B8 00 / A4 00, or the
    YubiKey attestation key B6 03 84 01 81. Anything else: 6A80."""
    items = parse_tlvs(crt)
    if len(items) != 1 or items[0][0] not in CRT_TAGS:
        raise SwError(SW.INCORRECT_DATA)
    tag, value = items[0]
    if not value:
        return CRT_TAGS[tag]
    if tag == 0xB6 and value == b"\x84\x01\x81":
        return KeyRef.ATT
    raise SwError(SW.INCORRECT_DATA)


def parse_import(data: bytes) -> Tuple[KeyRef, Dict[int, bytes]]:
    """Split PUT DATA 3FFF's extended header list: 4D { CRT, 7F48 { tag+length
    per part }, 5F48 { the parts' values, concatenated } } into the key it is for
    and its parts by tag (91 e, 92 p or EC scalar, 93 q, 94 u, 95 dp, 96 dq,
    97 n, 99 EC public key)."""
    items = parse_tlvs(data)
    if len(items) != 1 or items[0][0] != 0x4D:
        raise SwError(SW.INCORRECT_DATA)
    body = items[0][1]
    if len(body) < 2:
        raise SwError(SW.INCORRECT_DATA)
    crt_length = 2 + body[1]
    if body[1] & 0x80:
        raise SwError(SW.INCORRECT_DATA)
    ref = key_ref_from_crt(body[:crt_length])
    rest = dict(parse_tlvs(body[crt_length:]))
    header, values = rest.get(0x7F48), rest.get(0x5F48)
    if header is None or values is None:
        raise SwError(SW.INCORRECT_DATA)
    parts: Dict[int, bytes] = {}
    pos = offset = 0
    while pos < len(header):
        tag = header[pos]
        pos += 1
        if pos >= len(header):
            raise SwError(SW.INCORRECT_DATA)
        length = header[pos]
        pos += 1
        if length & 0x80:
            count = length & 0x7F
            if count not in (1, 2) or pos + count > len(header):
                raise SwError(SW.INCORRECT_DATA)
            length = int.from_bytes(header[pos:pos + count], "big")
            pos += count
        parts[tag] = values[offset:offset + length]
        offset += length
    if offset != len(values):
        raise SwError(SW.INCORRECT_DATA)
    return ref, parts


def import_key(attributes: Attributes, parts: Dict[int, bytes]) -> PrivateKey:
    """A private key from the parts of an import, checked against the slot's
    attributes (a mismatch is 6A80, as the card cannot store it)."""
    try:
        if attributes.algorithm == AlgorithmId.RSA:
            return _import_rsa(attributes, parts)
        curve = attributes.curve
        assert curve is not None
        scalar = parts.get(0x92)
        if scalar is None or not 0 < len(scalar) <= curve.size:
            raise SwError(SW.INCORRECT_DATA)
        scalar = scalar.rjust(curve.size, b"\0")
        if curve.kind == "ed25519":
            return ed25519.Ed25519PrivateKey.from_private_bytes(scalar)
        if curve.kind == "x25519":
            # Sent big-endian, as OpenPGP keeps the Curve25519 secret (ykman
            # reverses the native key; gpg sends its MPI): the card reverses back.
            return x25519.X25519PrivateKey.from_private_bytes(scalar[::-1])
        assert curve.ec_curve is not None
        return ec.derive_private_key(int.from_bytes(scalar, "big"), curve.ec_curve())
    except ValueError:
        raise SwError(SW.INCORRECT_DATA) from None


def _import_rsa(attributes: Attributes, parts: Dict[int, bytes]) -> PrivateKey:
    e_bytes, p_bytes, q_bytes = parts.get(0x91), parts.get(0x92), parts.get(0x93)
    if not e_bytes or not p_bytes or not q_bytes:
        raise SwError(SW.INCORRECT_DATA)
    e, p, q = (int.from_bytes(value, "big") for value in (e_bytes, p_bytes, q_bytes))
    n = p * q
    if n.bit_length() != attributes.rsa_bits or e.bit_length() > attributes.rsa_e_bits or e < 3:
        raise SwError(SW.INCORRECT_DATA)
    if 0x97 in parts and int.from_bytes(parts[0x97], "big") != n:
        raise SwError(SW.INCORRECT_DATA)
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                    rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, n))
    return numbers.private_key()


# ---------------------------------------------------------------- operations

_HASHES_BY_LENGTH: Dict[int, hashes.HashAlgorithm] = {
    20: hashes.SHA1(), 28: hashes.SHA224(), 32: hashes.SHA256(), 48: hashes.SHA384(), 64: hashes.SHA512()}


def _rsa_raw(key: rsa.RSAPrivateKey, block: bytes) -> bytes:
    numbers = key.private_numbers()
    value = int.from_bytes(block, "big")
    if value >= numbers.public_numbers.n:
        raise SwError(SW.INCORRECT_DATA)
    # Chinese remainder theorem, as in piv_crypto: four times faster than pow(value, d, n).
    m1 = pow(value, numbers.dmp1, numbers.p)
    m2 = pow(value, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (m1 - m2)) % numbers.p
    return (m2 + h * numbers.q).to_bytes(len(block), "big")


def sign(key: PrivateKey, data: bytes) -> bytes:
    """PSO:COMPUTE DIGITAL SIGNATURE / INTERNAL AUTHENTICATE: RSA pads the
    DigestInfo it is given (PKCS#1 v1.5 type 1), ECDSA signs the hash it is given
    and answers r || s, EdDSA signs the message itself."""
    if isinstance(key, rsa.RSAPrivateKey):
        k = (key.key_size + 7) // 8
        if not data or len(data) > k - 11:
            raise SwError(SW.WRONG_LENGTH)
        block = b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data
        return _rsa_raw(key, block)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = _HASHES_BY_LENGTH.get(len(data))
        if algorithm is None:
            raise SwError(SW.WRONG_LENGTH)
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(Prehashed(algorithm))))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise SwError(SW.CONDITIONS_NOT_SATISFIED)  # an X25519 key cannot sign


def decipher(key: PrivateKey, data: bytes) -> bytes:
    """PSO:DECIPHER: RSA takes 00 || cryptogram and removes PKCS#1 v1.5 type 2
    padding; ECDH and X25519 take A6 { 7F49 { 86 peer point } } and answer the
    shared secret (the x coordinate for Weierstrass curves)."""
    if isinstance(key, rsa.RSAPrivateKey):
        k = (key.key_size + 7) // 8
        if len(data) != k + 1 or data[0] != 0x00:
            raise SwError(SW.INCORRECT_DATA)
        block = _rsa_raw(key, data[1:])
        separator = block.find(b"\x00", 2)
        if block[:2] != b"\x00\x02" or separator < 10:
            raise SwError(SW.INCORRECT_DATA)
        return block[separator + 1:]
    peer = _peer_point(data)
    try:
        if isinstance(key, x25519.X25519PrivateKey):
            if len(peer) != 32:
                raise SwError(SW.INCORRECT_DATA)
            return key.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            public = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, peer)
            return key.exchange(ec.ECDH(), public)
    except ValueError:
        raise SwError(SW.INCORRECT_DATA) from None
    raise SwError(SW.CONDITIONS_NOT_SATISFIED)  # Ed25519 cannot decipher


def _peer_point(data: bytes) -> bytes:
    items = parse_tlvs(data)
    if len(items) != 1 or items[0][0] != 0xA6:
        raise SwError(SW.INCORRECT_DATA)
    inner = parse_tlvs(items[0][1])
    if len(inner) != 1 or inner[0][0] != 0x7F49:
        raise SwError(SW.INCORRECT_DATA)
    point = parse_tlvs(inner[0][1])
    if len(point) != 1 or point[0][0] != 0x86:
        raise SwError(SW.INCORRECT_DATA)
    return point[0][1]
