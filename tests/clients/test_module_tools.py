"""Everyday PKCS#11 hosts load the cardki module: GnuTLS p11tool, OpenSSH, OpenSSL's pkcs11 engine, NSS."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from _module_card import CA_CERTIFICATE, PIN, SERIAL, ModuleCard, module_card, module_env
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

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
    assert "Label: PIV Authentication" in out
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


def test_p11tool_test_sign_with_the_urls_p11tool_lists(card: ModuleCard) -> None:
    """The URL a user copies from `p11tool --list-privkeys` names the key by id *and*
    label; GnuTLS looks for the public half (for EC keys it must) by that same id and
    label, so the objects of a slot share their label. With ykcs11's or OpenSC's labels
    ("Private key for X" / "Public key for X") this fails for every EC key with "Cannot
    import public key", and the RSA key cannot be checked against the token."""
    listing = run("p11tool", "--provider", card.module, "--batch", "--login", f"--set-pin={PIN}",
                  "--list-privkeys", f"pkcs11:serial={SERIAL}").stdout
    urls = [line.split("URL: ", 1)[1].strip() for line in listing.splitlines() if "URL: " in line]
    signing = [url for url in urls if "id=%19" not in url]  # F9 attests, it never signs
    assert len(signing) == 4 and all(";object=" in url for url in signing), listing
    for url in signing:
        out = run("p11tool", "--provider", card.module, "--batch", "--login", f"--set-pin={PIN}",
                  "--test-sign", url)
        text = out.stdout + out.stderr
        assert "Verifying against private key parameters... ok" in text, (url, text)
        assert "Verifying against public key in the token... ok" in text, (url, text)


def test_ssh_keygen_lists_the_public_keys(card: ModuleCard) -> None:
    out = run("ssh-keygen", "-D", card.module).stdout
    keys = {" ".join(line.split()[:2]) for line in out.splitlines() if line.strip()}
    for slot in ("9a", "9c", "9d"):
        openssh = certificate(card, slot).public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        assert openssh in keys, slot


def openssl_engine_sign(card: ModuleCard, tmp_path: Path, key_id: str, data: bytes) -> bytes:
    config = tmp_path / "openssl.cnf"
    config.write_text(
        "openssl_conf = openssl_init\n"
        "[openssl_init]\nengines = engine_section\n"
        "[engine_section]\npkcs11 = pkcs11_section\n"
        f"[pkcs11_section]\nengine_id = pkcs11\ndynamic_path = {OPENSSL_ENGINE}\n"
        f"MODULE_PATH = {card.module}\ninit = 0\n")
    source = tmp_path / f"data-{key_id}"
    source.write_bytes(data)
    signature = tmp_path / f"signature-{key_id}"
    uri = f"pkcs11:serial={SERIAL};id=%{key_id};type=private;pin-value={PIN}"
    # pin-value logs the user in; for a PIN-always key libp11 asks OpenSSL's UI for the PIN again
    # (the context-specific login), which reads it from stdin in a session without a terminal.
    command = ["openssl", "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", uri,
               "-out", str(signature), str(source)]
    done = subprocess.run(command, input=f"{PIN}\n", capture_output=True, text=True, timeout=120,
                          env=module_env(OPENSSL_CONF=str(config)), start_new_session=True)
    assert done.returncode == 0, f"openssl failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return signature.read_bytes()


def test_openssl_engine_signs_with_a_pkcs11_uri(card: ModuleCard, tmp_path: Path) -> None:
    data = b"signed by openssl through cardki"
    signature = openssl_engine_sign(card, tmp_path, "01", data)
    certificate(card, "9a").public_key().verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("slot, key_id", [("9c", "02"), ("9d", "03")])
def test_openssl_engine_signs_with_9c_and_9d(card: ModuleCard, tmp_path: Path, slot: str, key_id: str) -> None:
    """The PIN-always 9C key (libp11 does the context-specific login after C_SignInit),
    and 9D, which the card signs with like any key."""
    data = f"signed by openssl with {slot}".encode()
    signature = openssl_engine_sign(card, tmp_path, key_id, data)
    certificate(card, slot).public_key().verify(signature, data, ec.ECDSA(hashes.SHA256()))


def nss_db(card: ModuleCard, tmp_path: Path) -> str:
    """An NSS database of our own with the cardki module in it."""
    db = f"sql:{tmp_path}"
    run("certutil", "-N", "-d", db, "--empty-password")
    run("modutil", "-dbdir", db, "-add", "cardki", "-libfile", card.module, "-force")
    return db


def test_nss_lists_the_certificates(card: ModuleCard, tmp_path: Path) -> None:
    db = nss_db(card, tmp_path)
    # (modutil -list exits non-zero if any slot's token cannot be described, e.g. a card
    # another test run left in the second reader; only our slot matters here)
    listed = subprocess.run(["modutil", "-dbdir", db, "-list", "cardki"], capture_output=True, text=True,
                            timeout=120, env=module_env()).stdout
    assert "Name: cardki" in listed and f"Token Serial Number: {SERIAL}" in listed, listed
    out = run("certutil", "-L", "-d", db, "-h", "all").stdout
    for label in ("PIV Authentication", "Digital Signature", "Key Management"):
        assert f"YubiKey PIV #{SERIAL}:{label} " in out, out


@pytest.mark.parametrize("slot, label", [("9a", "PIV Authentication"), ("9c", "Digital Signature"),
                                         ("9d", "Key Management")])
def test_nss_cmsutil_signs_with_the_card(card: ModuleCard, tmp_path: Path, slot: str, label: str) -> None:
    """NSS finds the certificate's private key on the card and makes a detached CMS
    signature (9C: NSS logs in context-specifically; 9D: the card signs with it)."""
    db = nss_db(card, tmp_path)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(CA_CERTIFICATE)
    run("certutil", "-A", "-d", db, "-n", "cardki test CA", "-t", "CT,C,C", "-a", "-i", str(ca))
    content = tmp_path / "content"
    content.write_bytes(f"signed by NSS with {slot}".encode())
    signed = tmp_path / "signed.p7s"
    run("cmsutil", "-S", "-d", db, "-N", f"YubiKey PIV #{SERIAL}:{label}", "-H", "SHA256",
        "-T", "-G", "-Y", "NONE", "-p", PIN, "-i", str(content), "-o", str(signed))
    verify_detached_cms(signed.read_bytes(), content.read_bytes(), certificate(card, slot))


def verify_detached_cms(der: bytes, content: bytes, signer: x509.Certificate) -> None:
    """Check a detached CMS SignedData with cryptography: the message digest of the
    content, and the signer's signature over the signed attributes."""
    from asn1crypto import cms

    signed_data = cms.ContentInfo.load(der)["content"]
    (info,) = signed_data["signer_infos"]
    attributes = {attribute["type"].native: attribute["values"][0] for attribute in info["signed_attrs"]}
    assert attributes["message_digest"].native == hashlib.sha256(content).digest()
    signed_attributes = info["signed_attrs"].untag().dump()  # signed as a SET, not [0] IMPLICIT
    signature = info["signature"].native
    key = signer.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, signed_attributes, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(signature, signed_attributes, ec.ECDSA(hashes.SHA256()))
