"""PIV and OpenPGP attestation as the YubiKey does it (PIV: firmware 4.3+,
OpenPGP: 5.2+).

The card holds an attestation key in slot F9 and its certificate in object
5FFF01. Real keys have theirs issued by Yubico's PIV root CA; the simulator
makes its own root CA instead, once per card, and keeps it in the card state
so a verifier can be given a stable trust anchor (``PivApplet.attestation_root``).

ATTEST returns a certificate for a slot's public key, signed by the F9 key,
carrying the YubiKey extensions under 1.3.6.1.4.1.41482.3: firmware (.3),
serial (.7), PIN/touch policy (.8) and form factor (.9).
"""

from __future__ import annotations

import datetime
from typing import Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from .piv_crypto import PrivateKey, PublicKey

OID_FIRMWARE = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.3")
OID_SERIAL = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.7")
OID_POLICY = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.8")
OID_FORM_FACTOR = x509.ObjectIdentifier("1.3.6.1.4.1.41482.3.9")

FORM_FACTOR_USB_A_KEYCHAIN = 0x01

_NOT_BEFORE = datetime.datetime(2016, 3, 14, tzinfo=datetime.UTC)
_NOT_AFTER = datetime.datetime(2052, 4, 17, tzinfo=datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _signing_key(signer: PrivateKey) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    """The attestation key as one that signs certificates (X25519 keys cannot sign)."""
    if not isinstance(signer, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise ValueError("an attestation key must be able to sign")
    return signer


def _hash_for(signer: PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def make_root_and_device_ca(serial: int) -> Tuple[PrivateKey, bytes, PrivateKey, bytes]:
    """A fresh simulator root CA and an F9 attestation key + certificate under it.

    Returns (root_key, root_cert_der, f9_key, f9_cert_der).
    """
    return _root_and_attestation_key("hwsim PIV Root CA", "Yubico PIV Attestation", serial)


def make_openpgp_root_and_attestation_key(serial: int) -> Tuple[PrivateKey, bytes, PrivateKey, bytes]:
    """The OpenPGP applet's own pair (a real YubiKey has a Yubico OpenPGP CA
    apart from the PIV one): a simulator root CA and the attestation key 81 with
    its certificate (DO FC). Returns (root_key, root_cert_der, key, cert_der)."""
    return _root_and_attestation_key("hwsim OpenPGP Root CA", "YubiKey OpenPGP Attestation", serial)


def _root_and_attestation_key(root_cn: str, key_cn: str, serial: int) -> Tuple[PrivateKey, bytes, PrivateKey, bytes]:
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = _name(root_cn)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(root_key, hashes.SHA384())
    )
    key = rsa.generate_private_key(65537, 2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(key_cn))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root_key, hashes.SHA384())
    )
    return (
        root_key,
        root.public_bytes(serialization.Encoding.DER),
        key,
        cert.public_bytes(serialization.Encoding.DER),
    )


def attest(
    slot: int,
    public_key: PublicKey,
    pin_policy: int,
    touch_policy: int,
    firmware: Tuple[int, int, int],
    serial: int,
    signer: PrivateKey,
    signer_cert_der: bytes,
) -> bytes:
    """The DER attestation certificate for ``slot``'s key, signed by ``signer``."""
    issuer = x509.load_der_x509_certificate(signer_cert_der)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"YubiKey PIV Attestation {slot:02x}"))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(issuer.not_valid_before_utc)
        .not_valid_after(issuer.not_valid_after_utc)
        .add_extension(x509.UnrecognizedExtension(OID_FIRMWARE, bytes(firmware)), critical=False)
    )
    builder = builder.add_extension(
        x509.UnrecognizedExtension(OID_SERIAL, _der_integer(serial)), critical=False
    )
    builder = builder.add_extension(
        x509.UnrecognizedExtension(OID_POLICY, bytes([pin_policy, touch_policy])), critical=False
    )
    if firmware >= (5, 0, 0):
        builder = builder.add_extension(
            x509.UnrecognizedExtension(OID_FORM_FACTOR, bytes([FORM_FACTOR_USB_A_KEYCHAIN])), critical=False
        )
    cert = builder.sign(_signing_key(signer), _hash_for(signer))
    return cert.public_bytes(serialization.Encoding.DER)


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return bytes([0x02, len(body)]) + body


# ------------------------------------------------------------------- OpenPGP

_OPENPGP_ARC = "1.3.6.1.4.1.41482.5."
OPENPGP_EXTENSIONS = {
    "cardholder": _OPENPGP_ARC + "1",
    "source": _OPENPGP_ARC + "2",
    "version": _OPENPGP_ARC + "3",
    "fingerprint": _OPENPGP_ARC + "4",
    "generation_date": _OPENPGP_ARC + "5",
    "signature_counter": _OPENPGP_ARC + "6",
    "serial": _OPENPGP_ARC + "7",
    "uif": _OPENPGP_ARC + "8",
    "form_factor": _OPENPGP_ARC + "9",
}
"""The extensions Yubico's OpenPGP attestation statements carry (OID arc
1.3.6.1.4.1.41482.5, docs.yubico.com "OpenPGP attestation" OIDs)."""


def attest_openpgp(
    key_name: str,
    public_key: PublicKey,
    *,
    generated: bool,
    firmware: Tuple[int, int, int],
    serial: int,
    fingerprint: bytes,
    generation_time: bytes,
    signature_counter: int,
    uif: int,
    cardholder: bytes,
    signer: PrivateKey,
    signer_cert_der: bytes,
) -> bytes:
    """The DER attestation statement for one OpenPGP key, signed by key 81."""
    issuer = x509.load_der_x509_certificate(signer_cert_der)
    values = {
        "cardholder": cardholder,
        "source": b"\x01" if generated else b"\x00",
        "version": bytes(firmware),
        "fingerprint": fingerprint,
        "generation_date": generation_time,
        "serial": _der_integer(serial),
        "uif": bytes([uif]),
        "form_factor": bytes([FORM_FACTOR_USB_A_KEYCHAIN]),
    }
    if key_name == "SIG":
        values["signature_counter"] = signature_counter.to_bytes(4, "big")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"YubiKey OpenPGP Attestation {key_name}"))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(issuer.not_valid_before_utc)
        .not_valid_after(issuer.not_valid_after_utc)
    )
    for name, value in values.items():
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(OPENPGP_EXTENSIONS[name]), value), critical=False
        )
    cert = builder.sign(_signing_key(signer), _hash_for(signer))
    return cert.public_bytes(serialization.Encoding.DER)
