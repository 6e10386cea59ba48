"""GnuPG 2.2 (gpg, gpg-agent, scdaemon from Debian) against the virtual
OpenPGP cards through pcscd + vpcd: the YubiKey's applet (in the Yubico-named
reader) and the plain OpenPGP 3.4 card (in Virtual PCD 00 00). scdaemon runs
with pcsc-shared on the card's reader in a GNUPGHOME of the test's own, PINs go
through loopback pinentry, and _gpg.gpg_home stops agent and scdaemon after
each test."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.clients, pytest.mark.sim]

PIN, ADMIN = "123456", "12345678"
CURVE25519 = {"cardedit.genkeys.algo": "2", "keygen.curve": "1"}  # ECC, then Curve 25519


def field(status: str, name: str) -> str:
    """The value of one line of gpg --card-status ("Name ....: value")."""
    match = re.search(rf"^{re.escape(name)} ?\.*: ?(.*)$", status, re.M)
    assert match, f"no {name!r} in:\n{status}"
    return match.group(1).strip()


def test_card_status_of_the_yubikey_and_the_plain_card(virtual_card, openpgp_card, gpg_home):
    yubikey = gpg_home(virtual_card.reader_name).card_status()
    assert field(yubikey, "Reader") == "Yubico YubiKey CCID (hwsim) 00 00"
    assert field(yubikey, "Application ID") == "D2760001240103040006123456780000"
    assert field(yubikey, "Manufacturer") == "Yubico"
    assert field(yubikey, "Serial number") == "12345678"
    assert field(yubikey, "Version") == "3.4"
    assert field(yubikey, "Key attributes") == "rsa2048 rsa2048 rsa2048"
    assert field(yubikey, "PIN retry counter") == "3 0 3"
    assert field(yubikey, "Signature counter") == "0"
    plain = gpg_home(openpgp_card.reader_name).card_status()
    assert field(plain, "Reader") == "Virtual PCD 00 00"
    assert field(plain, "Manufacturer") == "test card"
    assert field(plain, "Application ID") == "D276000124010304FFFF123456780000"


def test_rsa2048_keys_made_on_the_card_sign_verify_encrypt_and_decrypt(virtual_card, gpg_home, tmp_path):
    gpg = gpg_home(virtual_card.reader_name)
    status = gpg.card_edit(["admin", "generate"], pins=[PIN, ADMIN, PIN])
    assert any(line.startswith("[GNUPG:] KEY_CREATED B ") for line in status)
    card = gpg.card_status()
    assert field(card, "Key attributes") == "rsa2048 rsa2048 rsa2048"
    assert "card-no: 0006 12345678" in card
    signatures = int(field(card, "Signature counter"))  # gpg's self-signatures
    message = tmp_path / "message.txt"
    message.write_text("signed on a virtual card\n")
    gpg.run("--sign", "--output", str(tmp_path / "message.gpg"), str(message), pin=PIN)
    verified = gpg.run("--verify", str(tmp_path / "message.gpg")).stderr.decode()
    assert 'Good signature from "Card Holder <holder@example.org>"' in verified
    gpg.run("-r", "holder@example.org", "--encrypt", "--output", str(tmp_path / "secret.gpg"), str(message))
    decrypted = gpg.run("--decrypt", str(tmp_path / "secret.gpg"), pin=PIN)
    assert decrypted.stdout == message.read_bytes()
    assert "2048-bit RSA key" in decrypted.stderr.decode()
    assert int(field(gpg.card_status(), "Signature counter")) == signatures + 1


def test_ed25519_and_cv25519_made_on_the_plain_card(openpgp_card, gpg_home, tmp_path):
    gpg = gpg_home(openpgp_card.reader_name)
    gpg.card_edit(["admin", "key-attr"], pins=[ADMIN] * 3, answers=CURVE25519)
    assert field(gpg.card_status(), "Key attributes") == "ed25519 cv25519 ed25519"
    gpg.card_edit(["admin", "generate"], pins=[PIN, ADMIN, PIN])
    message = tmp_path / "message.txt"
    message.write_text("EdDSA from the card\n")
    gpg.run("--detach-sign", "--output", str(tmp_path / "message.sig"), str(message), pin=PIN)
    verified = gpg.run("--verify", str(tmp_path / "message.sig"), str(message)).stderr.decode()
    assert "using EDDSA key" in verified and "Good signature" in verified
    gpg.run("-r", "holder@example.org", "--encrypt", "--output", str(tmp_path / "secret.gpg"), str(message))
    decrypted = gpg.run("--decrypt", str(tmp_path / "secret.gpg"), pin=PIN)
    assert decrypted.stdout == message.read_bytes()
    assert "255-bit ECDH key" in decrypted.stderr.decode()  # cv25519


def test_keytocard_moves_a_host_key_to_the_card(virtual_card, gpg_home, tmp_path):
    gpg = gpg_home(virtual_card.reader_name)
    gpg.run("--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key", "Host Key <host@example.org>",
            "rsa2048", "sign", "never")
    fingerprint = next(line.split(":")[9] for line in gpg.run("--with-colons", "--list-keys").stdout.decode()
                       .splitlines() if line.startswith("fpr:"))
    gpg.card_edit(["keytocard", "save"], pins=[ADMIN], answers={"keyedit.keytocard.use_primary": "y", "cardedit.genkeys.storekeytype": "1"},
                  edit=f"--edit-key {fingerprint}")
    card = gpg.card_status()
    assert re.sub(r"\s", "", field(card, "Signature key")) == fingerprint
    secret = gpg.run("--list-secret-keys").stdout.decode()
    assert "Card serial no. = 0006 12345678" in secret  # the secret key now lives on the card
    message = tmp_path / "message.txt"
    message.write_text("signed by a key that moved\n")
    gpg.run("--detach-sign", "--output", str(tmp_path / "message.sig"), str(message), pin=PIN)
    assert "Good signature" in gpg.run("--verify", str(tmp_path / "message.sig"), str(message)).stderr.decode()
    assert virtual_card.control.status()["apdu_count"] > 0


def test_change_pins_then_unblock_a_blocked_pin_with_the_admin_pin(virtual_card, gpg_home):
    gpg = gpg_home(virtual_card.reader_name)
    gpg.card_edit(["admin", "passwd"], pins=[PIN, "654321", "654321", ADMIN, "87654321", "87654321"],
                  answers={"cardutil.change_pin.menu": ["1", "3", "q"]})
    for _ in range(3):  # the old PIN is wrong now: three tries block it
        status = gpg.card_edit(["verify"], pins=[PIN])
        assert "[GNUPG:] SC_OP_FAILURE 2" in status
    assert field(gpg.card_status(), "PIN retry counter") == "0 0 3"
    gpg.card_edit(["admin", "passwd"], pins=["87654321", "246810", "246810"],
                  answers={"cardutil.change_pin.menu": ["2", "q"]})
    assert field(gpg.card_status(), "PIN retry counter") == "3 0 3"
    status = gpg.card_edit(["verify"], pins=["246810"])
    assert "[GNUPG:] SC_OP_FAILURE 2" not in status


def test_factory_reset(virtual_card, gpg_home):
    gpg = gpg_home(virtual_card.reader_name)
    gpg.card_edit(["admin", "name"], pins=[ADMIN], answers={
        "keygen.smartcard.surname": "Doe", "keygen.smartcard.givenname": "Jane"})
    gpg.card_edit(["admin", "key-attr"], pins=[ADMIN] * 3, answers=CURVE25519)
    card = gpg.card_status()
    assert field(card, "Name of cardholder") == "Jane Doe"
    gpg.card_edit(["admin", "factory-reset"])
    card = gpg.card_status()
    assert field(card, "Name of cardholder") == "[not set]"
    assert field(card, "Key attributes") == "rsa2048 rsa2048 rsa2048"
    assert field(card, "PIN retry counter") == "3 0 3"
    status = gpg.card_edit(["verify"], pins=[PIN])  # the default PIN is back
    assert "[GNUPG:] SC_OP_FAILURE 2" not in status
