"""Everyday PKCS#11 hosts load the cardki module: GnuTLS p11tool, OpenSSH, OpenSSL's pkcs11 engine, NSS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from _module_card import PIN, SERIAL, ModuleCard, module_env, module_card
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

pytestmark = [pytest.mark.clients, pytest.mark.sim]

OPENSSL_ENGINE = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"


@pytest.fixture
def card(virtual_card_factory) -> ModuleCard:
    return module_card(virtual_card_factory)


def run(*command: str, env=None, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, env=env or module_env())
    assert done.returncode == 0, f"{command[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def certificate(card: ModuleCard, slot: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(card.certificates[slot])


def test_p11tool_lists_everything(card: ModuleCard) -> None:
    out = run("p11tool", "--provider", card.module, "--list-all", f"pkcs11:serial={SERIAL}").stdout
    assert "Type: X.509 Certificate" in out
    assert "Certificate for PIV Authentication" in out
    assert "Type: Public key" in out


@pytest.mark.parametrize("key_id", ["01", "02", "03", "04"])
def test_p11tool_test_sign_with_every_key(card: ModuleCard, key_id: str) -> None:
    """GnuTLS signs on the card and checks the signature against the private key's
    public parts and the token's public key: 9A RSA, 9C P-256 with the
    context-specific login after C_SignInit, 9D (Key Management) and 9E P-256."""
    out = run("p11tool", "--provider", card.module, "--batch", "--login", f"--set-pin={PIN}", "--test-sign",
              f"pkcs11:serial={SERIAL};id=%{key_id};type=private")
    text = out.stdout + out.stderr
    assert "Verifying against private key parameters... ok" in text, text
    assert "Verifying against public key in the token... ok" in text, text


def test_ssh_keygen_lists_the_public_keys(card: ModuleCard) -> None:
    out = run("ssh-keygen", "-D", card.module).stdout
    keys = {" ".join(line.split()[:2]) for line in out.splitlines() if line.strip()}
    for slot in ("9a", "9c", "9d"):
        openssh = certificate(card, slot).public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        assert openssh in keys, slot


def test_openssl_engine_signs_with_a_pkcs11_uri(card: ModuleCard, tmp_path: Path) -> None:
    config = tmp_path / "openssl.cnf"
    config.write_text(
        "openssl_conf = openssl_init\n"
        "[openssl_init]\nengines = engine_section\n"
        "[engine_section]\npkcs11 = pkcs11_section\n"
        f"[pkcs11_section]\nengine_id = pkcs11\ndynamic_path = {OPENSSL_ENGINE}\n"
        f"MODULE_PATH = {card.module}\ninit = 0\n")
    data = tmp_path / "data"
    data.write_bytes(b"signed by openssl through cardki")
    signature = tmp_path / "signature"
    uri = f"pkcs11:serial={SERIAL};id=%01;type=private;pin-value={PIN}"
    run("openssl", "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", uri,
        "-out", str(signature), str(data), env=module_env(OPENSSL_CONF=str(config)))
    certificate(card, "9a").public_key().verify(signature.read_bytes(), data.read_bytes(), padding.PKCS1v15(),
                                                hashes.SHA256())


def test_nss_lists_the_certificates(card: ModuleCard, tmp_path: Path) -> None:
    db = f"sql:{tmp_path}"
    run("certutil", "-N", "-d", db, "--empty-password")
    run("modutil", "-dbdir", db, "-add", "cardki", "-libfile", card.module, "-force")
    # (modutil -list exits non-zero if any slot's token cannot be described, e.g. a card
    # another test run left in the second reader; only our slot matters here)
    listed = subprocess.run(["modutil", "-dbdir", db, "-list", "cardki"], capture_output=True, text=True,
                            timeout=120, env=module_env()).stdout
    assert "Name: cardki" in listed and f"Token Serial Number: {SERIAL}" in listed, listed
    out = run("certutil", "-L", "-d", db, "-h", "all").stdout
    for label in ("Certificate for PIV Authentication", "Certificate for Digital Signature",
                  "Certificate for Key Management"):
        assert label in out, out
