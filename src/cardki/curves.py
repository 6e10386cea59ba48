"""The elliptic curves cardki's cards know, in one table.

Each curve appears under several names: cryptography's (``secp256r1``), the
X.509 / PKCS#11 OBJECT IDENTIFIER that CKA_EC_PARAMS carries (RFC 5480, and RFC
8410 for the 25519 curves), and the OID an OpenPGP card stores in its algorithm
attributes, which for Ed25519 and X25519 is the older GnuPG one
(1.3.6.1.4.1.11591.15.1, 1.3.6.1.4.1.3029.1.5.1; OpenSC converts the same way).
Field size and group order are here too: a card's scalar, point and ECDSA
answer are checked against them.

A leaf: it imports only :mod:`cardki.der`, and cryptography only when
:meth:`Curve.ec_curve` is called, so listing curves costs no heavy import.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Dict, Tuple, Type

from cardki.named_tuple import NamedTuple

from .der import der_oid

if TYPE_CHECKING:  # cryptography is imported where a curve object is needed
    from cryptography.hazmat.primitives.asymmetric import ec


class CurveKind(enum.Enum):
    """How keys on the curve are used: ECDSA/ECDH, EdDSA, or X25519-style ECDH."""

    WEIERSTRASS = "weierstrass"
    EDWARDS = "edwards"
    MONTGOMERY = "montgomery"


class Curve(NamedTuple):
    """One named curve and every name it goes by."""

    name: str
    """cryptography's name (``ec.SECP256R1.name``), or ``ed25519`` / ``x25519``."""
    oid: str
    """The dotted OID of X.509 and of PKCS#11's CKA_EC_PARAMS."""
    kind: CurveKind
    bits: int
    """Key size as PKCS#11 reports it (CK_MECHANISM_INFO, CKA_MODULUS_BITS' EC cousin)."""
    field_bytes: int
    """Length of a coordinate, a private scalar and an ECDH secret."""
    order: int | None = None
    """The group order n (Weierstrass curves): an ECDSA r and s lie in 1..n-1."""
    openpgp_oid: str | None = None
    """The OID OpenPGP cards use, when it is not :attr:`oid`."""
    aliases: Tuple[str, ...] = ()
    """Other spellings users and tools write (``P-256``, ``nistp256``, ``prime256v1``)."""

    @property
    def ec_params(self) -> bytes:
        """CKA_EC_PARAMS: the DER OBJECT IDENTIFIER."""
        return der_oid(self.oid)

    @property
    def openpgp_oid_bytes(self) -> bytes:
        """The OID's content bytes, as an OpenPGP card's algorithm attributes hold it
        (no tag, no length)."""
        return der_oid(self.openpgp_oid or self.oid)[2:]

    @property
    def point_length(self) -> int:
        """Length of a public point as cards send it: 04 || X || Y, or 32 raw bytes."""
        if self.kind is CurveKind.WEIERSTRASS:
            return 1 + 2 * self.field_bytes
        return self.field_bytes

    def ec_curve(self) -> ec.EllipticCurve:
        """cryptography's curve object (Weierstrass curves only; ValueError otherwise)."""
        if self.kind is not CurveKind.WEIERSTRASS:
            raise ValueError(f"{self.name} is not a curve of cryptography's ec module")
        from cryptography.hazmat.primitives.asymmetric import ec

        curve_class: Type[ec.EllipticCurve] = getattr(ec, _EC_CLASS_NAMES[self.name])
        return curve_class()


#: cryptography's class name for each Weierstrass curve (looked up when first needed).
_EC_CLASS_NAMES = {
    "secp256r1": "SECP256R1",
    "secp384r1": "SECP384R1",
    "secp521r1": "SECP521R1",
    "secp256k1": "SECP256K1",
    "brainpoolP256r1": "BrainpoolP256R1",
    "brainpoolP384r1": "BrainpoolP384R1",
    "brainpoolP512r1": "BrainpoolP512R1",
}

_W = CurveKind.WEIERSTRASS

#: Group orders from SEC 2 and RFC 5639 (a unit test pins each with cryptography).
CURVES: Tuple[Curve, ...] = (
    Curve("secp256r1", "1.2.840.10045.3.1.7", _W, 256, 32,
          0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
          aliases=("p-256", "p256", "nistp256", "prime256v1")),
    Curve("secp384r1", "1.3.132.0.34", _W, 384, 48,
          0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
          aliases=("p-384", "p384", "nistp384")),
    Curve("secp521r1", "1.3.132.0.35", _W, 521, 66,
          0x1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
          aliases=("p-521", "p521", "nistp521")),
    Curve("secp256k1", "1.3.132.0.10", _W, 256, 32,
          0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141),
    Curve("brainpoolP256r1", "1.3.36.3.3.2.8.1.1.7", _W, 256, 32,
          0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7),
    Curve("brainpoolP384r1", "1.3.36.3.3.2.8.1.1.11", _W, 384, 48,
          0x8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B31F166E6CAC0425A7CF3AB6AF6B7FC3103B883202E9046565),
    Curve("brainpoolP512r1", "1.3.36.3.3.2.8.1.1.13", _W, 512, 64,
          0xAADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA70330870553E5C414CA92619418661197FAC10471DB1D381085DDADDB58796829CA90069),
    Curve("ed25519", "1.3.101.112", CurveKind.EDWARDS, 256, 32,
          openpgp_oid="1.3.6.1.4.1.11591.15.1", aliases=("edwards25519",)),
    Curve("x25519", "1.3.101.110", CurveKind.MONTGOMERY, 256, 32,
          openpgp_oid="1.3.6.1.4.1.3029.1.5.1", aliases=("curve25519", "cv25519")),
)

#: The PrintableString names PKCS#11 3.0 gives the 25519 curves (and the spelling some callers use).
_PRINTABLE_NAMES: Dict[str, Tuple[str, ...]] = {"ed25519": ("edwards25519", "Ed25519"), "x25519": ("curve25519",)}

_BY_NAME: Dict[str, Curve] = {
    spelling.lower(): curve for curve in CURVES for spelling in (curve.name, *curve.aliases)}
_BY_OID: Dict[str, Curve] = {
    oid: curve for curve in CURVES for oid in (curve.oid, curve.openpgp_oid) if oid is not None}
_BY_EC_PARAMS: Dict[bytes, Curve] = {der_oid(oid): curve for oid, curve in _BY_OID.items()}
_BY_OPENPGP_OID: Dict[bytes, Curve] = {curve.openpgp_oid_bytes: curve for curve in CURVES}
#: PKCS#11 3.0 also lets CKA_EC_PARAMS name the 25519 curves as a DER PrintableString.
_BY_PRINTABLE_NAME: Dict[bytes, Curve] = {
    bytes([0x13, len(name)]) + name.encode("ascii"): curve
    for curve in CURVES for name in _PRINTABLE_NAMES.get(curve.name, ())}
#: A client's misspelling, taken for what it means: OpenSC's pkcs11-tool up to 0.23
#: (Debian 12's) sends X25519's PrintableString "curve25519" with a length byte of 11
#: for its 10 characters (OpenSC fixed its table in 0.24).
_BY_PRINTABLE_NAME[bytes.fromhex("130b") + b"curve25519"] = _BY_NAME["x25519"]


def curve_by_name(name: str) -> Curve | None:
    """The curve called ``name`` (any spelling in the table, case-insensitive)."""
    return _BY_NAME.get(name.lower())


def curve_by_oid(dotted: str) -> Curve | None:
    """The curve with this dotted OID (X.509 or OpenPGP's)."""
    return _BY_OID.get(dotted)


def curve_by_ec_params(ec_params: bytes) -> Curve | None:
    """The curve CKA_EC_PARAMS names: a DER OBJECT IDENTIFIER (either OID of the 25519
    curves), or PKCS#11 3.0's PrintableString name of a 25519 curve."""
    value = bytes(ec_params)
    return _BY_EC_PARAMS.get(value) or _BY_PRINTABLE_NAME.get(value)


def curve_by_openpgp_oid(content: bytes) -> Curve | None:
    """The curve whose OID content bytes an OpenPGP card's algorithm attributes hold."""
    return _BY_OPENPGP_OID.get(bytes(content))
