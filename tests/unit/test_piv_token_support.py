"""Helpers for the PIV token tests (no tests here): provision the in-process
virtual YubiKey the way another tool would (keys and certificates straight into
the applet's storage), and open a token on it."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hw-sim"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from cardki.apdu import Tlv  # noqa: E402
from cardki.slot.inprocess import InProcessSlot, InProcessTransport  # noqa: E402
from cardki.token import PivToken, open_token  # noqa: E402
from hwsim.card import VirtualCard  # noqa: E402
from hwsim.piv import CERT_OBJECTS, SlotKey  # noqa: E402
from hwsim.piv_crypto import algorithm_of  # noqa: E402
from hwsim.yubikey import VirtualYubiKey  # noqa: E402

PIN = b"123456"
MGMT_HEX = b"010203040506070801020304050607080102030405060708"
POLICY_DEFAULT, POLICY_NEVER, POLICY_ONCE, POLICY_ALWAYS = 0, 1, 2, 3
GENERATED, IMPORTED = 1, 2

_RSA_CACHE: dict = {}


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """RSA keys are slow to make: one per size per test run."""
    if bits not in _RSA_CACHE:
        _RSA_CACHE[bits] = rsa.generate_private_key(65537, bits)
    return _RSA_CACHE[bits]


def put_key(card: VirtualYubiKey, slot: int, key, *, pin_policy: int = POLICY_DEFAULT,
            origin: int = IMPORTED) -> None:
    """Place a private key in a slot as an import (or generation) would."""
    from hwsim.piv import _default_pin_policy

    policy = pin_policy or _default_pin_policy(slot)
    card.piv.keys[slot] = SlotKey(key, algorithm_of(key), policy, 1, origin)


def make_cert(key, common_name: str = "cardki test", key_usage: Sequence[str] | None = None) -> x509.Certificate:
    """A self-signed certificate for ``key`` (X25519 keys get one signed by a throwaway EC key),
    with a KeyUsage extension holding the ``key_usage`` bits (cryptography's names) if given."""
    signer = key if not isinstance(key, x25519.X25519PrivateKey) else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name + " CA")]))
        .public_key(key.public_key()).serial_number(0x1234567890ABCDEF)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365)))
    if key_usage is not None:
        bits = {name: name in key_usage for name in (
            "digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
            "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")}
        builder = builder.add_extension(x509.KeyUsage(**bits), critical=True)
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm)


def put_cert(card: VirtualYubiKey, slot: int, cert: x509.Certificate) -> bytes:
    der = cert.public_bytes(serialization.Encoding.DER)
    card.piv.objects[CERT_OBJECTS[slot]] = bytes(Tlv(0x70, der) + Tlv(0x71, b"\x00") + Tlv(0xFE, b""))
    return der


def open_piv(card: VirtualYubiKey, slot: InProcessSlot | None = None) -> Tuple[PivToken, InProcessTransport]:
    transport = InProcessTransport(slot or card)
    token = open_token(transport)
    assert isinstance(token, PivToken)
    return token, transport


def find(token: PivToken, kind: str, slot: int):
    for obj in token.objects():
        if obj.ref == (kind, slot):
            return obj
    raise LookupError((kind, hex(slot)))


class NoAppletCard(VirtualCard):
    """A card with no applet cardki knows: every SELECT fails."""

    atr = bytes.fromhex("3B00")

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...

    def execute(self, apdu: bytes) -> bytes:
        return b"\x6a\x82"


class GenericPivCard(VirtualCard):
    """A PIV card without Yubico's extensions: the virtual YubiKey with INS F6..FF refused."""

    def __init__(self) -> None:
        self.inner = VirtualYubiKey(firmware=(5, 7, 2))

    @property
    def atr(self) -> bytes:
        return bytes.fromhex("3B8080018080")

    def power_on(self) -> None:
        self.inner.power_on()

    def power_off(self) -> None:
        self.inner.power_off()

    def execute(self, apdu: bytes) -> bytes:
        if apdu[1] >= 0xF6:
            return b"\x6d\x00"
        return self.inner.execute(apdu)
