"""The ``cardki`` CLI against a virtual YubiKey 5.7.2 in a real reader (pcscd + vpcd):
each ``cardki piv`` command, what it wrote read back by ykman (Debian's 4.0.9 and 5.9,
_ykman.py), what ykman wrote read by cardki; sign / verify / encrypt / decrypt with
the card's keys checked by openssl."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import _ykman
import pytest
from _ykman import words
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from hwsim import statefile

pytestmark = [pytest.mark.clients, pytest.mark.sim]

CARDKI = shutil.which("cardki")
MGMT = "010203040506070801020304050607080102030405060708"
NEW_MGMT = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"  # AES-256 by its length
PIN = "123456"


@pytest.fixture
def card(virtual_card_factory):
    """A factory-fresh YubiKey 5.7.2 in the Yubico-named reader."""
    return virtual_card_factory()


def cardki(card, *args: str, env: Dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """The console script with --token naming the card's reader (other readers may hold cards)."""
    assert CARDKI is not None, "the cardki console script is not installed (pip install -e .)"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CARDKI_")}
    full_env.update(env or {})
    done = subprocess.run([CARDKI, "--token", card.reader_name, *args], capture_output=True, text=True,
                          timeout=120, env=full_env, stdin=subprocess.DEVNULL)
    if check:
        assert done.returncode == 0 and "Traceback" not in done.stderr, f"cardki {' '.join(args)}: {done.stderr}"
    return done


def ykman(release: str, card, *args: str) -> str:
    return _ykman.run(release, card.reader_name, *args).stdout


def openssl(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def attestation_root(card, path: Path) -> Path:
    state = statefile.load_state(card.state_path)
    assert state is not None
    der = bytes.fromhex(state["piv"]["attestation_root"]["certificate"])
    path.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
    return path


def key_file(key, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def certificate_file(key, common_name: str, path: Path) -> Path:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(31).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_what_the_cli_wrote_ykman_reads(release, card, tmp_path: Path) -> None:
    pub = tmp_path / "9a.pub.pem"
    cardki(card, "piv", "keys", "generate", "9a", "-a", "ECCP256", "--pin-policy", "never", "--touch-policy", "never",
           "-o", str(pub), "-m", MGMT)
    cardki(card, "piv", "certificates", "generate", "9a", "-s", "CN=made by cardki,O=cardki", "-d", "40",
           "-P", PIN, "-m", MGMT)
    imported = ec.generate_private_key(ec.SECP384R1())
    cardki(card, "piv", "keys", "import", "9d", str(key_file(imported, tmp_path / "9d.key")), "--pin-policy",
           "always", "-m", MGMT)
    cardki(card, "piv", "certificates", "import", "9d",
           str(certificate_file(imported, "imported by cardki", tmp_path / "9d.crt")), "-m", MGMT)
    cardki(card, "piv", "access", "change-pin", "-P", PIN, "-n", "654321")
    cardki(card, "piv", "access", "change-puk", "-p", "12345678", "-n", "87654321")
    cardki(card, "piv", "access", "change-management-key", "-m", MGMT, "-n", NEW_MGMT)
    info = words(ykman(release, card, "piv", "info"))
    assert "Management key algorithm: AES256" in info and "PIN tries remaining: 3/3" in info
    assert "made by cardki" in info and "imported by cardki" in info and "Using default PIN" not in info
    for slot in ("9a", "9d"):  # ykman exports what cardki exports
        mine, theirs = tmp_path / f"{slot}.mine.pem", tmp_path / f"{slot}.theirs.pem"
        cardki(card, "piv", "certificates", "export", slot, "-o", str(mine))
        ykman(release, card, "piv", "certificates", "export", slot, str(theirs))
        assert x509.load_pem_x509_certificate(mine.read_bytes()) == x509.load_pem_x509_certificate(theirs.read_bytes())
        mine_key, theirs_key = tmp_path / f"{slot}.mine.pub", tmp_path / f"{slot}.theirs.pub"
        ykman(release, card, "piv", "keys", "export", slot, str(theirs_key))
        cardki(card, "piv", "keys", "export", slot, "-o", str(mine_key))
        assert mine_key.read_bytes() == theirs_key.read_bytes()
    certificate = x509.load_pem_x509_certificate((tmp_path / "9a.mine.pem").read_bytes())
    certificate.verify_directly_issued_by(certificate)  # signed on the card, by the slot's key
    assert serialization.load_pem_public_key(pub.read_bytes()) == certificate.public_key()
    ykman(release, card, "piv", "access", "change-pin", "-P", "654321", "-n", PIN)
    ykman(release, card, "piv", "access", "change-puk", "-p", "87654321", "-n", "12345678")
    ykman(release, card, "piv", "keys", "generate", "-m", NEW_MGMT, "-a", "ECCP256", "9e", str(tmp_path / "9e.pem"))
    if release == "5":
        key_info = words(ykman(release, card, "piv", "keys", "info", "9d"))
        assert "PIN required for use: ALWAYS" in key_info and "Origin: IMPORTED" in key_info
        key_info = words(ykman(release, card, "piv", "keys", "info", "9a"))
        assert "PIN required for use: NEVER" in key_info and "Origin: GENERATED" in key_info


def test_what_ykman_wrote_the_cli_reads(card, tmp_path: Path) -> None:
    generated, cert = tmp_path / "9c.pem", tmp_path / "9c.crt"
    ykman("5", card, "piv", "keys", "generate", "-m", MGMT, "-a", "ECCP384", "--pin-policy", "ALWAYS",
          "--touch-policy", "CACHED", "9c", str(generated))
    ykman("5", card, "piv", "certificates", "generate", "-m", MGMT, "-P", PIN, "-s", "CN=made by ykman", "9c",
          str(generated))
    ykman("5", card, "piv", "certificates", "export", "9c", str(cert))
    key = rsa.generate_private_key(65537, 2048)
    ykman("5", card, "piv", "keys", "import", "-m", MGMT, "9e", str(key_file(key, tmp_path / "9e.key")))
    new_key = "0f" * 16
    ykman("5", card, "piv", "access", "change-management-key", "-m", MGMT, "-a", "AES128", "-n", new_key, "-f")
    ykman("5", card, "piv", "access", "change-pin", "-P", PIN, "-n", "246810")
    info = cardki(card, "piv", "info").stdout
    assert "Management key algorithm: AES128" in info and "WARNING: the default PIN" not in info
    assert "Slot 9C (Digital Signature):\n  Algorithm:    ECCP384\n  Origin:       generated on the card\n" \
           "  Subject DN:   CN=made by ykman" in info
    assert "Slot 9E (Card Authentication):\n  Algorithm:    RSA2048\n  Origin:       imported" in info
    mine = tmp_path / "9c.mine.pem"
    cardki(card, "piv", "keys", "export", "9c", "-o", str(mine))
    assert mine.read_bytes() == generated.read_bytes()
    cardki(card, "piv", "certificates", "export", "9c", "-o", str(mine))
    assert x509.load_pem_x509_certificate(mine.read_bytes()) == x509.load_pem_x509_certificate(cert.read_bytes())
    root = attestation_root(card, tmp_path / "root.pem")
    attested = cardki(card, "piv", "keys", "attest", "9c", "-o", str(tmp_path / "att.pem"), "--verify",
                      "--root", str(root))
    assert "attestation verified: slot 9C, serial 12345678, firmware 5.7.2, PIN policy ALWAYS, touch policy CACHED" \
        in attested.stdout
    theirs = tmp_path / "att.ykman.pem"
    ykman("5", card, "piv", "keys", "attest", "9c", str(theirs))
    ours = x509.load_pem_x509_certificate((tmp_path / "att.pem").read_bytes())
    assert ours.public_key() == x509.load_pem_x509_certificate(theirs.read_bytes()).public_key()
    data = tmp_path / "data"
    data.write_bytes(b"ykman's key, cardki's command")
    signature = tmp_path / "9e.sig"
    cardki(card, "sign", "--slot", "9e", "--in", str(data), "--out", str(signature), env={"CARDKI_PIN": "246810"})
    (tmp_path / "9e.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                    serialization.PublicFormat.SubjectPublicKeyInfo))
    openssl("dgst", "-sha256", "-verify", str(tmp_path / "9e.pub"), "-signature", str(signature), str(data))
    cardki(card, "piv", "keys", "delete", "9e", "-m", new_key)
    assert "Slot 9E" not in words(ykman("5", card, "piv", "info")).replace("Slot 9E: Empty", "")


def test_sign_verify_encrypt_decrypt_through_pcscd_with_openssl(card, tmp_path: Path) -> None:
    pub_ec, pub_rsa = tmp_path / "9a.pem", tmp_path / "9d.pem"
    cardki(card, "piv", "keys", "generate", "9a", "-a", "ECCP256", "-o", str(pub_ec), "-m", MGMT)
    cardki(card, "piv", "keys", "generate", "9d", "-a", "RSA2048", "-o", str(pub_rsa), "-m", MGMT)
    data = tmp_path / "data"
    data.write_bytes(b"through pcscd")
    pin = {"CARDKI_PIN": PIN}
    for slot, public in (("9a", pub_ec), ("9d", pub_rsa)):
        signature = tmp_path / f"{slot}.sig"
        cardki(card, "sign", "--slot", slot, "--in", str(data), "--out", str(signature), env=pin)
        openssl("dgst", "-sha256", "-verify", str(public), "-signature", str(signature), str(data))
        cardki(card, "verify", "--slot", slot, "--in", str(data), "--signature", str(signature))
    secret = tmp_path / "secret.bin"
    openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(pub_rsa), "-in", str(data), "-out", str(secret))
    assert cardki(card, "decrypt", "--slot", "9d", "--in", str(secret), "--out", "-", env=pin).stdout == \
        "through pcscd"
    cardki(card, "encrypt", "--key", "pkcs11:id=%03;type=public", "--in", str(data), "--out", str(secret))
    wrong = cardki(card, "verify", "--slot", "9a", "--in", str(secret), "--signature", str(tmp_path / "9a.sig"),
                   check=False)
    assert wrong.returncode == 1 and wrong.stderr == "cardki: error: the signature does not verify\n"


def test_retries_unblock_and_reset(release, card, tmp_path: Path) -> None:
    cardki(card, "piv", "keys", "generate", "9a", "-m", MGMT)
    cardki(card, "piv", "access", "set-retries", "4", "5", "-m", MGMT, "-P", PIN, "-f")
    assert "PIN tries remaining: 4/4" in words(ykman(release, card, "piv", "info"))
    for _ in range(4):
        cardki(card, "piv", "access", "change-pin", "-P", "000000", "-n", "111111", check=False)
    blocked = words(ykman(release, card, "piv", "info"))
    assert "PIN tries remaining: 0/4" in blocked
    cardki(card, "piv", "access", "unblock-pin", "-p", "12345678", "-n", "135791")
    ykman(release, card, "piv", "access", "change-pin", "-P", "135791", "-n", PIN)
    reset: List[str] = ["piv", "reset", "-f"]
    assert "the PIV applet is reset" in cardki(card, *reset).stdout
    info = words(ykman(release, card, "piv", "info"))
    assert "PIN tries remaining: 3/3" in info and "Slot 9a" not in info.lower().replace("slot 9a: empty", "")
