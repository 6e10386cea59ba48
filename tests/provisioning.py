"""Cards with keys on them, shared by the unit, sim and client tests.

A factory-new YubiKey has no keys, so the API tests provision one the way a
factory (or ``ykman piv keys import``) would: keys and certificates placed
in the PIV applet's slots. The API is then exercised through APDUs like any
card. ``provisioned_yubikey()`` returns the card and the host-side private
keys, so a test can check a signature or an ECDH secret independently.

Slots (CKA_ID, what the key may do): 9A RSA-2048 (01, sign and decrypt, PIN
once), 9C P-256 (02, sign, PIN always: no derive), 9D P-256 (03, sign and
derive), 9E Ed25519 (04, sign, PIN never), 82 X25519 (05, derive), 83 P-384
(06, sign and derive). A test CA signs all the certificates (an X25519 key cannot sign
its own).
"""

from __future__ import annotations

import datetime
from typing import Any, Dict, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID

from hwsim import piv as piv_applet
from hwsim.iso7816 import tlv
from hwsim.piv_crypto import algorithm_of
from hwsim.yubikey import VirtualYubiKey

PIN = "123456"
MANAGEMENT_KEY = "010203040506070801020304050607080102030405060708"

#: PIV slot -> CKA_ID in cardki/ykcs11 numbering.
KEY_IDS = {0x9A: b"\x01", 0x9C: b"\x02", 0x9D: b"\x03", 0x9E: b"\x04", 0x82: b"\x05",
           0x83: b"\x06"}

_CA_KEY = ec.generate_private_key(ec.SECP256R1())
_KEYS_CACHE: Dict[int, Any] = {}


def host_keys() -> Dict[int, Any]:
    """Host-side private keys, made once per test run (RSA generation is slow)."""
    if not _KEYS_CACHE:
        _KEYS_CACHE.update({
            0x9A: rsa.generate_private_key(65537, 2048),
            0x9C: ec.generate_private_key(ec.SECP256R1()),
            0x9D: ec.generate_private_key(ec.SECP256R1()),
            0x9E: ed25519.Ed25519PrivateKey.generate(),
            0x82: x25519.X25519PrivateKey.generate(),
            0x83: ec.generate_private_key(ec.SECP384R1()),
        })
    return _KEYS_CACHE


def _certificate(slot: int, private_key: Any) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"cardki test {slot:02X}")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cardki test CA")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
            .public_key(private_key.public_key()).serial_number(slot)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(_CA_KEY, hashes.SHA256()))
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def provision(card: VirtualYubiKey) -> Dict[int, Any]:
    """Put the test keys and their certificates into ``card``'s PIV slots."""
    keys = host_keys()
    for slot, key in keys.items():
        policy = {0x9C: piv_applet.PIN_POLICY_ALWAYS, 0x9E: piv_applet.PIN_POLICY_NEVER}.get(
            slot, piv_applet.PIN_POLICY_ONCE)
        card.piv.keys[slot] = piv_applet.SlotKey(key, algorithm_of(key), policy,
                                                 piv_applet.TOUCH_POLICY_NEVER,
                                                 piv_applet.ORIGIN_IMPORTED)
        der = _certificate(slot, key)
        card.piv.objects[piv_applet.CERT_OBJECTS[slot]] = tlv(0x70, der) + tlv(0x71, b"\x00") + tlv(0xFE)
    card.mark_changed()
    return keys


def provisioned_yubikey() -> Tuple[VirtualYubiKey, Dict[int, Any]]:
    """A YubiKey 5.7.2 with the test keys, and those keys (slot -> private key)."""
    card = VirtualYubiKey()
    return card, provision(card)


def provisioned_state() -> Dict[str, Any]:
    """The same card as a state dict (for ``virtual_card_factory(state=...)`` or a state file)."""
    card, _ = provisioned_yubikey()
    return card.to_state()
