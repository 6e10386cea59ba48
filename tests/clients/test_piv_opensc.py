"""OpenSC 0.23 (pkcs11-tool with opensc-pkcs11.so) against the virtual YubiKey:
the PIV driver must recognise the card, list its objects and sign with it.

Keys and certificates are put on the card with ykman (another real client),
signatures are checked with `cryptography` against the certificate read back
through PKCS#11.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from hosts import run_tool

pytestmark = [pytest.mark.clients, pytest.mark.sim]

MODULE = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
PKCS11_TOOL = shutil.which("pkcs11-tool") or "/usr/bin/pkcs11-tool"
YKMAN = shutil.which("ykman") or "/usr/bin/ykman"
MGMT = "010203040506070801020304050607080102030405060708"


def pkcs11(reader: str, *args: str) -> subprocess.CompletedProcess:
    return run_tool(PKCS11_TOOL, "--module", MODULE, "--slot-description", reader, *args)


@pytest.fixture
def provisioned(virtual_card_factory, tmp_path):
    """A 5.7.2 card with ECCP256 in 9a, RSA2048 in 9c and ECCP384 in 9d, each
    with a certificate."""
    card = virtual_card_factory()
    for slot, algorithm, cn in (
        ("9a", "ECCP256", "CN=opensc auth"), ("9c", "RSA2048", "CN=opensc sign"), ("9d", "ECCP384", "CN=opensc km"),
    ):
        pub = tmp_path / f"{slot}.pem"
        run_tool(YKMAN, "--reader", card.reader_name, "piv", "keys", "generate", "-m", MGMT, "-a", algorithm, slot, str(pub))
        run_tool(YKMAN, "--reader", card.reader_name, "piv", "certificates", "generate", "-m", MGMT, "-P", "123456",
            "-s", cn, slot, str(pub))
    return card


def read_certificate(reader: str, key_id: str, out: Path) -> x509.Certificate:
    pkcs11(reader, "--read-object", "--type", "cert", "--id", key_id, "-o", str(out))
    return x509.load_der_x509_certificate(out.read_bytes())


def test_token_and_objects_are_listed(provisioned):
    slots = run_tool(PKCS11_TOOL, "--module", MODULE, "-L").stdout.decode()
    assert provisioned.reader_name in slots
    assert "token initialized, PIN initialized" in slots
    objects = pkcs11(provisioned.reader_name, "-O").stdout.decode()
    assert "Certificate for PIV Authentication" in objects and "CN=opensc auth" in objects
    assert "Certificate for Digital Signature" in objects and "CN=opensc sign" in objects
    assert "EC_POINT 256 bits" in objects and "RSA 2048 bits" in objects


def test_ecdsa_signature_with_the_9a_key(provisioned, tmp_path):
    reader = provisioned.reader_name
    cert = read_certificate(reader, "01", tmp_path / "9a.der")
    message = tmp_path / "message"
    message.write_bytes(b"signed by a virtual YubiKey through OpenSC")
    signature = tmp_path / "sig"
    pkcs11(reader, "--login", "--pin", "123456", "--sign", "--id", "01", "-m", "ECDSA-SHA256",
           "--signature-format", "openssl", "-i", str(message), "-o", str(signature))
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature.read_bytes(), message.read_bytes(), ec.ECDSA(hashes.SHA256()))


def test_rsa_signature_with_the_pin_always_9c_key(provisioned, tmp_path):
    reader = provisioned.reader_name
    cert = read_certificate(reader, "02", tmp_path / "9c.der")
    message = tmp_path / "message"
    message.write_bytes(b"PIN always: OpenSC logs in again right before signing")
    signature = tmp_path / "sig"
    pkcs11(reader, "--login", "--pin", "123456", "--sign", "--id", "02", "-m", "SHA256-RSA-PKCS",
           "-i", str(message), "-o", str(signature))
    cert.public_key().verify(signature.read_bytes(), message.read_bytes(), padding.PKCS1v15(), hashes.SHA256())


def test_ecdh_with_the_9d_key(provisioned, tmp_path):
    reader = provisioned.reader_name
    cert = read_certificate(reader, "03", tmp_path / "9d.der")
    peer = ec.generate_private_key(ec.SECP384R1())
    peer_der = tmp_path / "peer.der"
    peer_der.write_bytes(peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    shared = tmp_path / "shared"
    pkcs11(reader, "--login", "--pin", "123456", "--derive", "--id", "03", "-m", "ECDH1-DERIVE",
           "-i", str(peer_der), "-o", str(shared))
    assert shared.read_bytes() == peer.exchange(ec.ECDH(), cert.public_key())


def test_random_bytes_come_from_the_card(provisioned):
    first = pkcs11(provisioned.reader_name, "--generate-random", "32").stdout
    second = pkcs11(provisioned.reader_name, "--generate-random", "32").stdout
    assert len(first) == 32 and first != second
