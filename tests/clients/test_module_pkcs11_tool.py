"""OpenSC's pkcs11-tool drives the cardki module against a virtual YubiKey via pcscd + vpcd."""

from __future__ import annotations

from pathlib import Path

import pytest
from _module_card import PIN, ModuleCard, module_card
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

pytestmark = [pytest.mark.clients, pytest.mark.sim]


@pytest.fixture
def card(virtual_card_factory) -> ModuleCard:
    return module_card(virtual_card_factory)


@pytest.fixture
def rsa_9c_card(virtual_card_factory) -> ModuleCard:
    """RSA-2048 in the PIN-always 9c (and in 9d), P-256 in 9a and 9e."""
    return module_card(virtual_card_factory, layout="rsa-9c")


def public_key(card: ModuleCard, slot: str):
    return x509.load_pem_x509_certificate(card.certificates[slot]).public_key()


def test_info_slots_tokens_mechanisms(card: ModuleCard) -> None:
    info = card.pkcs11_tool("-I").stdout
    assert "Cryptoki version" in info and "cardki" in info.lower()
    slots = card.pkcs11_tool("-L").stdout
    assert card.reader_name in slots
    tokens = card.pkcs11_tool("-T").stdout
    assert "7654321" in tokens
    mechanisms = card.pkcs11_tool("-M").stdout
    for name in ("RSA-PKCS", "RSA-PKCS-PSS", "RSA-PKCS-OAEP", "ECDSA", "ECDH1-DERIVE"):
        assert name in mechanisms, name


def test_objects_listed_without_and_with_login(card: ModuleCard) -> None:
    public = card.pkcs11_tool("-O").stdout
    for label in ("PIV Authentication", "Digital Signature", "Key Management"):
        assert f"Certificate Object; type = X.509 cert\n  label:      {label}\n" in public, label
    assert "Public Key Object; RSA 2048" in public
    assert "Public Key Object; EC" in public
    private = card.pkcs11_tool("-O", "--login", "--pin", PIN).stdout
    for key_type, label in (("RSA", "PIV Authentication"), ("EC", "Digital Signature"), ("EC", "Key Management")):
        assert f"Private Key Object; {key_type}" in private
        assert f"  label:      {label}\n" in private, label
    assert "Private Key Object" not in public


def sign(card: ModuleCard, tmp_path: Path, mechanism: str, key_id: str, data: bytes, *extra: str) -> bytes:
    source = tmp_path / "data"
    source.write_bytes(data)
    signature = tmp_path / "signature"
    card.pkcs11_tool("--login", "--pin", PIN, "--sign", "-m", mechanism, "--id", key_id,
                     "-i", str(source), "-o", str(signature), *extra)
    return signature.read_bytes()


def test_rsa_pkcs_signature_verifies(card: ModuleCard, tmp_path: Path) -> None:
    data = b"signed through cardki"
    signature = sign(card, tmp_path, "SHA256-RSA-PKCS", "01", data)
    public_key(card, "9a").verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


#: One whole ``pkcs11-tool --login --sign --id 01`` process through the C module, counted
#: by the card: SELECT, GET VERSION (C_GetSlotList opens the card's tokens) + GET SERIAL,
#: GET METADATA 80 (C_GetTokenInfo: label, serial, PIN counter) + GET METADATA 80
#: (pkcs11-tool asks the token info again; another program may have tried a wrong PIN
#: in between, see tests/sim/test_engine_first_signature_apdus.py) + VERIFY (C_Login) + certificate container,
#: GET METADATA 9A (the find by CKA_ID) + GENERAL AUTHENTICATE (the signature) + SELECT
#: PIV (the last session's end logs the user out: the SELECT drops the PIN status) +
#: SELECT OpenPGP (C_Finalize gives the card back to the application gpg's scdaemon
#: expects, see cardki.token.sharing). It was 13: GET SERIAL at detection did not save
#: the token info's, and the find's transaction sent SELECT + VERIFY again.
PKCS11_TOOL_SIGN_APDUS = 2 + 2 + 1 + 1 + 2 + 1 + 1 + 1


def test_one_signing_process_costs_its_apdu_budget(card: ModuleCard, tmp_path: Path) -> None:
    control = card.handle.control
    control.reset_count()
    data = b"one process"
    signature = sign(card, tmp_path, "SHA256-RSA-PKCS", "01", data)
    assert control.count() == PKCS11_TOOL_SIGN_APDUS
    public_key(card, "9a").verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_rsa_pss_signature_verifies(card: ModuleCard, tmp_path: Path) -> None:
    data = b"pss through cardki"
    signature = sign(card, tmp_path, "SHA256-RSA-PKCS-PSS", "01", data, "--mgf", "MGF1-SHA256",
                     "--salt-len", "32")
    public_key(card, "9a").verify(signature, data, padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                                  hashes.SHA256())


def verify_ecdsa(card: ModuleCard, slot: str, raw: bytes, data: bytes) -> None:
    """Check a PKCS#11 ECDSA signature (r || s) against the slot's certificate."""
    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    public_key(card, slot).verify(der, data, ec.ECDSA(hashes.SHA256()))


def test_ecdsa_signature_verifies(card: ModuleCard, tmp_path: Path) -> None:
    data = b"ecdsa through cardki"
    verify_ecdsa(card, "9c", sign(card, tmp_path, "ECDSA-SHA256", "02", data), data)


@pytest.mark.parametrize("mechanism", ["RSA-PKCS", "RSA-PKCS-OAEP"])
def test_rsa_decrypt(card: ModuleCard, tmp_path: Path, mechanism: str) -> None:
    secret = b"a session key for cardki"
    key = public_key(card, "9a")
    assert isinstance(key, rsa.RSAPublicKey)
    if mechanism == "RSA-PKCS":
        ciphertext = key.encrypt(secret, padding.PKCS1v15())
        extra: tuple = ()
    else:
        ciphertext = key.encrypt(secret, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
        extra = ("--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256")
    source = tmp_path / "ciphertext"
    source.write_bytes(ciphertext)
    plain = tmp_path / "plain"
    card.pkcs11_tool("--login", "--pin", PIN, "--decrypt", "-m", mechanism, "--id", "01",
                     "-i", str(source), "-o", str(plain), *extra)
    assert plain.read_bytes() == secret


def test_ecdh_derive_matches_host(card: ModuleCard, tmp_path: Path) -> None:
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_der = tmp_path / "peer.der"
    peer_der.write_bytes(peer.public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    shared = tmp_path / "shared"
    card.pkcs11_tool("--login", "--pin", PIN, "--derive", "-m", "ECDH1-DERIVE", "--id", "03",
                     "-i", str(peer_der), "-o", str(shared))
    card_public = public_key(card, "9d")
    assert shared.read_bytes() == peer.exchange(ec.ECDH(), card_public)


def test_read_certificate(card: ModuleCard, tmp_path: Path) -> None:
    out = tmp_path / "cert.der"
    card.pkcs11_tool("--read-object", "--type", "cert", "--id", "01", "-o", str(out))
    read = x509.load_der_x509_certificate(out.read_bytes())
    assert read == x509.load_pem_x509_certificate(card.certificates["9a"])


def test_pkcs11_tool_self_test(card: ModuleCard) -> None:
    done = card.pkcs11_tool("--test", "--login", "--pin", PIN, check=False, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "No errors" in output, output


def test_pkcs11_tool_self_test_with_an_rsa_key_in_9c(rsa_9c_card: ModuleCard) -> None:
    """pkcs11-tool --test signs with the first RSA key, here the PIN-always 9C one: it asks
    for the signature's length (a 1-byte buffer, then NULL) before C_Login(CKU_CONTEXT_SPECIFIC)
    and decrypts with every RSA key, 9C included."""
    done = rsa_9c_card.pkcs11_tool("--test", "--login", "--pin", PIN, check=False, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "testing key 1 (Digital Signature) \n  all 4 signature functions seem to work" in output, output
    assert "all 4 signature functions seem to work" in output, output
    assert "No errors" in output, output


def test_9d_ec_key_signs(card: ModuleCard, tmp_path: Path) -> None:
    """The card signs with the Key Management key (OpenSC and ykcs11 let it)."""
    data = b"signed with 9d"
    verify_ecdsa(card, "9d", sign(card, tmp_path, "ECDSA-SHA256", "03", data), data)


def test_9c_rsa_key_decrypts(rsa_9c_card: ModuleCard, tmp_path: Path) -> None:
    """The card decrypts with the Digital Signature key; pkcs11-tool does the context-specific
    login after C_DecryptInit."""
    secret = b"a secret for the 9c key"
    key = public_key(rsa_9c_card, "9c")
    assert isinstance(key, rsa.RSAPublicKey)
    source = tmp_path / "ciphertext"
    source.write_bytes(key.encrypt(secret, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)))
    plain = tmp_path / "plain"
    rsa_9c_card.pkcs11_tool("--login", "--pin", PIN, "--decrypt", "-m", "RSA-PKCS-OAEP", "--hash-algorithm", "SHA256",
                            "--mgf", "MGF1-SHA256", "--id", "02", "-i", str(source), "-o", str(plain))
    assert plain.read_bytes() == secret
