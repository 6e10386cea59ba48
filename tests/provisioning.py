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

The OpenPGP application gets its keys the same way (``provision_openpgp``): a key
in a key reference, its fingerprint and generation time in C7-C9/CE-D0 (OpenSC and
cardki list a key only with them, as gpg leaves them), its certificate in 7F21.
Layouts (``OPENPGP_LAYOUTS``): "ec" -- signature P-256, decryption P-256 (ECDH),
authentication P-256; "rsa" -- RSA-2048 signature and decryption keys, P-256
authentication; "25519" -- Ed25519 signature, X25519 decryption, Ed25519
authentication.
"""

from __future__ import annotations

import datetime
from typing import Any, Dict, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID

from hwsim import piv as piv_applet
from hwsim.cardos import AppletCard
from hwsim.iso7816 import tlv
from hwsim.openpgp import CERT_OCCURRENCE, FINGERPRINT_TAGS, KEY_STATUS_IMPORTED, TIME_TAGS, KeySlot
from hwsim.openpgp_keys import KeyRef as OpenPgpKey
from hwsim.openpgp_keys import attributes_of
from hwsim.piv_crypto import algorithm_of
from hwsim.yubikey import VirtualYubiKey

PIN = "123456"
MANAGEMENT_KEY = "010203040506070801020304050607080102030405060708"
#: The OpenPGP application's factory PINs: PW1 (the user's, as PIV's PIN) and PW3 (Admin).
OPENPGP_PIN, OPENPGP_ADMIN = "123456", "12345678"
#: When the OpenPGP keys were made (their C_ fingerprints hash it): 2026-01-01.
OPENPGP_KEY_TIME = 1767225600

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


_OPENPGP_CACHE: Dict[str, Any] = {}


def _openpgp_key(name: str) -> Any:
    """One host key per name, made once per run (RSA generation is slow)."""
    if name not in _OPENPGP_CACHE:
        _OPENPGP_CACHE[name] = {
            "p256-sig": lambda: ec.generate_private_key(ec.SECP256R1()),
            "p256-dec": lambda: ec.generate_private_key(ec.SECP256R1()),
            "p256-aut": lambda: ec.generate_private_key(ec.SECP256R1()),
            "rsa-sig": lambda: rsa.generate_private_key(65537, 2048),
            "rsa-dec": lambda: rsa.generate_private_key(65537, 2048),
            "ed25519-sig": ed25519.Ed25519PrivateKey.generate,
            "x25519-dec": x25519.X25519PrivateKey.generate,
            "ed25519-aut": ed25519.Ed25519PrivateKey.generate,
        }[name]()
    return _OPENPGP_CACHE[name]


#: Layout -> key reference -> which host key it holds.
OPENPGP_LAYOUTS: Dict[str, Dict[str, str]] = {
    "ec": {"sig": "p256-sig", "dec": "p256-dec", "aut": "p256-aut"},
    "rsa": {"sig": "rsa-sig", "dec": "rsa-dec", "aut": "p256-aut"},
    "25519": {"sig": "ed25519-sig", "dec": "x25519-dec", "aut": "ed25519-aut"},
}


def openpgp_keys(layout: str = "ec") -> Dict[str, Any]:
    """The host-side private keys of an OpenPGP layout ("sig"/"dec"/"aut" -> key)."""
    return {ref: _openpgp_key(name) for ref, name in OPENPGP_LAYOUTS[layout].items()}


def provision_openpgp(card: AppletCard, layout: str = "ec", *, certificates: bool = True,
                      pw1_once: bool = False) -> Dict[str, Any]:
    """Put the layout's keys into ``card``'s OpenPGP application as an import would
    leave them (DE "imported", a fingerprint and a generation time), with certificates
    from the test CA unless ``certificates`` is False; ``pw1_once``: a VERIFY 81 is
    good for one signature only (C4's first byte 00). Returns the host keys."""
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    applet = card.openpgp
    keys = openpgp_keys(layout)
    for name, key in keys.items():
        ref = OpenPgpKey[name.upper()]
        applet.keys[ref] = KeySlot(attributes_of(key, ref), key, KEY_STATUS_IMPORTED)
        spki = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        applet.dos[FINGERPRINT_TAGS[ref]] = hashlib.sha1(spki).digest()
        applet.dos[TIME_TAGS[ref]] = OPENPGP_KEY_TIME.to_bytes(4, "big")
        if certificates:
            applet.certificates[CERT_OCCURRENCE[ref]] = _certificate(0x100 + ref, key)
    if pw1_once:
        applet.pw1_status = 0x00
    card.mark_changed()
    return keys
