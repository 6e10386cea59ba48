"""OpenSC 0.23 (opensc-pkcs11.so through pkcs11-tool) against the virtual
OpenPGP cards: it lists the card's keys and signs with the signature key.

OpenSC takes one driver per card and tries PIV before OpenPGP, so on the
YubiKey it would use PIV; an OPENSC_CONF whose ``card_drivers`` names only
``openpgp`` makes it use the OpenPGP applet instead. The plain OpenPGP card
needs nothing: OpenSC finds its applet by SELECT."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest
from _openpgp import generate_key
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

pytestmark = [pytest.mark.clients, pytest.mark.sim]

PKCS11_TOOL = shutil.which("pkcs11-tool") or "/usr/bin/pkcs11-tool"
MODULE = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
SIGNATURE_TOKEN = "OpenPGP card (User PIN (sig))"
"""OpenSC makes one slot per PIN; the signature key (PW1 for signing) is in this one."""


def pkcs11(*args: str, env: Dict[str, str] | None = None) -> str:
    for path in (PKCS11_TOOL, MODULE):
        if not Path(path).exists():
            pytest.fail(f"{path} is not installed (apt-get install opensc opensc-pkcs11)")
    result = subprocess.run([PKCS11_TOOL, "--module", MODULE, *args], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, f"pkcs11-tool {' '.join(args[:4])}: {result.stdout}{result.stderr}"
    return result.stdout


def openpgp_driver_only(tmp_path: Path) -> Dict[str, str]:
    """An environment whose OpenSC uses only its OpenPGP card driver."""
    conf = tmp_path / "opensc.conf"
    conf.write_text("app default {\n    card_drivers = openpgp;\n}\n")
    return {**os.environ, "OPENSC_CONF": str(conf)}


def signature_slot(reader: str, env: Dict[str, str] | None = None) -> str:
    """The slot id of the card's signature-PIN token in ``reader``: each OpenPGP
    card in any reader has a token of that label, so the label alone is not enough."""
    listing = pkcs11("-L", env=env)
    for match in re.finditer(r"^Slot \d+ \((0x[0-9a-f]+)\): (.*)\n\s+token label\s+: (.*)$", listing, re.M):
        if match.group(2).strip() == reader and match.group(3).strip() == SIGNATURE_TOKEN:
            return match.group(1)
    raise AssertionError(f"no {SIGNATURE_TOKEN!r} token in {reader!r}:\n{listing}")


def sign_and_check(reader: str, public: Dict[int, bytes], tmp_path: Path,
                   env: Dict[str, str] | None = None) -> None:
    message = tmp_path / "message.txt"
    message.write_bytes(b"signed by OpenSC with the card's signature key\n")
    signature = tmp_path / "message.sig"
    pkcs11("--slot", signature_slot(reader, env), "--login", "--pin", "123456", "--sign", "-m", "SHA256-RSA-PKCS",
           "--id", "01", "-i", str(message), "-o", str(signature), env=env)
    key = rsa.RSAPublicNumbers(int.from_bytes(public[0x82], "big"), int.from_bytes(public[0x81], "big")).public_key()
    key.verify(signature.read_bytes(), message.read_bytes(), padding.PKCS1v15(), hashes.SHA256())


def test_plain_openpgp_card_keys_listed_and_signature_key_signs(openpgp_card, tmp_path):
    public = generate_key(openpgp_card.reader_name, "sig")
    slots = pkcs11("-L")
    assert SIGNATURE_TOKEN in slots and "test card" in slots
    objects = pkcs11("--slot", signature_slot(openpgp_card.reader_name), "-O")
    assert "Public Key Object; RSA 2048 bits" in objects and "ID:         01" in objects
    sign_and_check(openpgp_card.reader_name, public, tmp_path)


def test_yubikey_through_the_openpgp_driver(virtual_card, tmp_path):
    env = openpgp_driver_only(tmp_path)
    public = generate_key(virtual_card.reader_name, "sig")
    assert "PIV" in pkcs11("-L")  # left alone, OpenSC picks the YubiKey's PIV applet
    slots = pkcs11("-L", env=env)
    assert SIGNATURE_TOKEN in slots and "Yubico" in slots
    objects = pkcs11("--slot", signature_slot(virtual_card.reader_name, env), "-O", env=env)
    assert "Public Key Object; RSA 2048 bits" in objects
    sign_and_check(virtual_card.reader_name, public, tmp_path, env)
