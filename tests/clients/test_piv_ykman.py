"""ykman's PIV commands against the virtual YubiKey through pcscd + vpcd, in
both releases users have: Debian's 4.0.9 and the current 5.x from PyPI (see
_ykman.py). The card must satisfy the real clients unchanged."""

from __future__ import annotations

import subprocess

import _ykman
import pytest
from _ykman import words
from cryptography import x509
from cryptography.hazmat.primitives import serialization

pytestmark = [pytest.mark.clients, pytest.mark.sim]

MGMT = "010203040506070801020304050607080102030405060708"


@pytest.fixture
def card(virtual_card_factory):
    """A factory-fresh YubiKey 5.7.2."""
    return virtual_card_factory()


def ykman(release: str, reader: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _ykman.run(release, reader, *args, check=check)


def test_ykman_identifies_the_device(release, card):
    out = words(ykman(release, card.reader_name, "info").stdout)
    assert "Serial number: 12345678" in out
    assert "Firmware version: 5.7.2" in out
    assert "PIV" in out and "Enabled" in out


def test_piv_info_on_a_factory_fresh_card(release, card):
    out = words(ykman(release, card.reader_name, "piv", "info").stdout)
    assert "PIV version: 5.7.2" in out
    assert "WARNING: Using default PIN!" in out
    assert "PIN tries remaining: 3/3" in out
    assert "Management key algorithm: AES192" in out
    assert "CHUID: No data available" in out


def test_piv_info_on_firmware_5_4_uses_tdes(release, virtual_card_factory):
    card = virtual_card_factory(firmware="5.4.3")
    out = words(ykman(release, card.reader_name, "piv", "info").stdout)
    assert "PIV version: 5.4.3" in out
    assert "Management key algorithm: TDES" in out


def test_generate_certificate_export_and_attest(release, card, tmp_path):
    reader = card.reader_name
    pub_path, cert_path = tmp_path / "pub.pem", tmp_path / "cert.pem"
    ykman(release, reader, "piv", "keys", "generate", "-m", MGMT, "-a", "ECCP256", "9a", str(pub_path))
    ykman(release, reader, "piv", "certificates", "generate", "-m", MGMT, "-P", "123456", "-s", "CN=hwsim", "9a", str(pub_path))
    ykman(release, reader, "piv", "certificates", "export", "9a", str(cert_path))
    public = serialization.load_pem_public_key(pub_path.read_bytes())
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert cert.public_key() == public
    cert.verify_directly_issued_by(cert)  # self-signed on the card with the 9a key

    att_path, f9_path = tmp_path / "att.pem", tmp_path / "f9.pem"
    ykman(release, reader, "piv", "keys", "attest", "9a", str(att_path))
    ykman(release, reader, "piv", "certificates", "export", "f9", str(f9_path))
    attestation = x509.load_pem_x509_certificate(att_path.read_bytes())
    f9 = x509.load_pem_x509_certificate(f9_path.read_bytes())
    attestation.verify_directly_issued_by(f9)
    assert attestation.public_key() == public
    extensions = {e.oid.dotted_string: e.value.value for e in attestation.extensions}
    assert extensions["1.3.6.1.4.1.41482.3.3"] == bytes([5, 7, 2])
    assert extensions["1.3.6.1.4.1.41482.3.8"] == bytes([2, 1])  # PIN once, touch never

    info = ykman(release, reader, "piv", "info").stdout
    assert "slot 9a" in info.lower() and "CN=hwsim" in info  # 4: "Slot 9a:", 5: "Slot 9A (AUTHENTICATION):"


def test_importing_a_certificate_of_another_key_type_is_refused_cleanly(release, card, tmp_path):
    """ykman's pairing check signs with the certificate's algorithm; the card's
    6A80 for a slot holding another type is its "does not match"."""
    import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    reader = card.reader_name
    ykman(release, reader, "piv", "keys", "generate", "-m", MGMT, "-a", "ECCP256", "9a", str(tmp_path / "pub.pem"))
    other = rsa.generate_private_key(65537, 1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(other.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(other, hashes.SHA256()))
    cert_path = tmp_path / "other.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    refused = ykman(release, reader, "piv", "certificates", "import", "--verify", "-m", MGMT, "-P", "123456",
                    "9a", str(cert_path), check=False)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert "not tied to the private key" in refused.stderr or "does not match the private key" in refused.stderr


def test_rsa2048_in_signature_slot_with_pin_always(release, card, tmp_path):
    reader = card.reader_name
    pub_path = tmp_path / "pub9c.pem"
    ykman(release, reader, "piv", "keys", "generate", "-m", MGMT, "-a", "RSA2048", "9c", str(pub_path))
    ykman(release, reader, "piv", "certificates", "generate", "-m", MGMT, "-P", "123456", "-s", "CN=sig", "9c", str(pub_path))
    cert_path = tmp_path / "c9c.pem"
    ykman(release, reader, "piv", "certificates", "export", "9c", str(cert_path))
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cert.verify_directly_issued_by(cert)
    assert cert.public_key().key_size == 2048


def test_change_pin_and_wrong_pin_counts_down(release, card):
    reader = card.reader_name
    ykman(release, reader, "piv", "access", "change-pin", "-P", "123456", "-n", "654321")
    info = ykman(release, reader, "piv", "info").stdout
    assert "WARNING: Using default PIN!" not in info
    wrong = ykman(release, reader, "piv", "access", "change-pin", "-P", "123456", "-n", "111111", check=False)
    assert wrong.returncode != 0
    assert "2 tries left" in wrong.stderr
    assert "PIN tries remaining: 2/3" in words(ykman(release, reader, "piv", "info").stdout)


def test_touch_timeout_fails_like_a_real_key(release, card, tmp_path):
    reader = card.reader_name
    pub_path = tmp_path / "pub.pem"
    ykman(release, reader, "piv", "keys", "generate", "-m", MGMT, "-a", "ECCP256", "--touch-policy", "ALWAYS", "9a", str(pub_path))
    card.control.touch(mode="timeout", delay=0.0)
    failed = ykman(
        release, reader, "piv", "certificates", "generate", "-m", MGMT, "-P", "123456", "-s", "CN=t", "9a", str(pub_path),
        check=False,
    )
    assert failed.returncode != 0
    card.control.touch(mode="confirm", delay=0.0)
    ykman(release, reader, "piv", "certificates", "generate", "-m", MGMT, "-P", "123456", "-s", "CN=t", "9a", str(pub_path))


def test_trace_of_a_real_session_holds_no_pin_or_management_key(release, card, tmp_path):
    trace = tmp_path / "apdu.trace"
    card.control.trace(True, trace)
    try:
        ykman(release, card.reader_name, "piv", "access", "change-pin", "-P", "123456", "-n", "654321")
        ykman(release, card.reader_name, "piv", "access", "change-management-key", "-m", MGMT, "-a", "AES256", "-f",
              "-n", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
    finally:
        card.control.trace(False)
    text = trace.read_text().replace(" ", "").upper()
    assert "A4040005A000000308" in text  # the trace did record the session
    for secret in (b"123456", b"654321", bytes.fromhex(MGMT), bytes.fromhex("00112233445566778899aabbccddeeff")):
        assert secret.hex().upper() not in text
