"""The ``cardki piv`` commands against a virtual YubiKey 5.4.3 in a real reader (pcscd +
vpcd), cross-read with yubico-piv-tool 2.2.0 (which knows only 3DES management keys,
hence 5.4.3): what the CLI wrote, the tool reads; what the tool wrote, the CLI reads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest
from _piv_tool import piv_tool
from cryptography import x509
from cryptography.hazmat.primitives import serialization

pytestmark = [pytest.mark.clients, pytest.mark.sim]

CARDKI = shutil.which("cardki")
MGMT = "010203040506070801020304050607080102030405060708"
NEW_MGMT = "1112131415161718212223242526272831323334353637ff"  # 3DES, as the tool needs
PIN = "123456"


@pytest.fixture
def card(virtual_card_factory):
    return virtual_card_factory(firmware="5.4.3")


def cardki(card, *args: str, env: Dict[str, str] | None = None) -> subprocess.CompletedProcess:
    assert CARDKI is not None, "the cardki console script is not installed (pip install -e .)"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CARDKI_")}
    full_env.update(env or {})
    done = subprocess.run([CARDKI, "--token", card.reader_name, *args], capture_output=True, text=True,
                          timeout=120, env=full_env, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "Traceback" not in done.stderr, f"cardki {' '.join(args)}: {done.stderr}"
    return done


def test_what_the_cli_wrote_yubico_piv_tool_reads(card, tmp_path: Path) -> None:
    reader = card.reader_name
    public = tmp_path / "9a.pub.pem"
    cardki(card, "piv", "keys", "generate", "9a", "-a", "RSA2048", "-o", str(public), "-m", MGMT)
    cardki(card, "piv", "certificates", "generate", "9a", "-s", "CN=cardki on 5.4.3", "-P", PIN, "-m", MGMT)
    cardki(card, "piv", "access", "change-pin", "-P", PIN, "-n", "246810")
    cardki(card, "piv", "access", "change-puk", "-p", "12345678", "-n", "13572468")
    cardki(card, "piv", "access", "change-management-key", "-m", MGMT, "-n", NEW_MGMT)
    status = piv_tool(reader, "-a", "status").stdout
    assert "Subject DN:\tCN=cardki on 5.4.3" in status and "PIN tries left:\t3" in status
    back = tmp_path / "back.pem"
    piv_tool(reader, "-a", "read-certificate", "-s", "9a", "-o", str(back))
    ours = tmp_path / "ours.pem"
    cardki(card, "piv", "certificates", "export", "9a", "-o", str(ours))
    certificate = x509.load_pem_x509_certificate(back.read_bytes())
    assert certificate == x509.load_pem_x509_certificate(ours.read_bytes())
    assert certificate.public_key() == serialization.load_pem_public_key(public.read_bytes())
    out = piv_tool(reader, "-a", "verify-pin", "-P", "246810", "-a", "test-signature", "-s", "9a", "-i", str(back))
    assert "Successful" in out.stdout + out.stderr  # the generated key signs, checked against its certificate
    piv_tool(reader, "-a", "change-puk", "-P", "13572468", "-N", "12345678")
    piv_tool(reader, "-a", "generate", "-s", "9e", "-A", "ECCP256", f"-k{NEW_MGMT}")  # the new management key


def test_what_yubico_piv_tool_wrote_the_cli_reads(card, tmp_path: Path) -> None:
    reader = card.reader_name
    generated = piv_tool(reader, "-a", "generate", "-s", "9c", "-A", "ECCP256", "--pin-policy=once",
                         "--touch-policy=never", f"-k{MGMT}").stdout
    piv_tool(reader, "-a", "change-pin", "-P", PIN, "-N", "864200")
    piv_tool(reader, "-a", "change-puk", "-P", "12345678", "-N", "24680135")
    piv_tool(reader, "-a", "set-mgm-key", f"-k{MGMT}", "-n", NEW_MGMT)
    info = cardki(card, "piv", "info").stdout
    assert "PIV version:              5.4.3" in info and "Management key algorithm: TDES" in info
    assert "Slot 9C (Digital Signature):\n  Algorithm:    ECCP256\n  Origin:       generated on the card" in info
    assert "WARNING: the default PIN" not in info and "WARNING: the default management key" not in info
    exported = tmp_path / "9c.pem"
    cardki(card, "piv", "keys", "export", "9c", "-o", str(exported))
    assert serialization.load_pem_public_key(exported.read_bytes()) == serialization.load_pem_public_key(
        generated.encode())
    # (yubico-piv-tool 2.2's selfsign-certificate fails with OpenSSL 3: the CLI makes the certificate)
    cardki(card, "piv", "certificates", "generate", "9c", "-s", "CN=for the tool's key", "-P", "864200",
           "-m", NEW_MGMT)
    tool_read = tmp_path / "tool.pem"
    piv_tool(reader, "-a", "read-certificate", "-s", "9c", "-o", str(tool_read))
    assert x509.load_pem_x509_certificate(tool_read.read_bytes()).subject.rfc4514_string() == \
        "CN=for the tool's key"
    cardki(card, "piv", "access", "change-puk", "-p", "24680135", "-n", "12345678")
    cardki(card, "piv", "access", "unblock-pin", "-p", "12345678", "-n", PIN)
    piv_tool(reader, "-a", "verify-pin", "-P", PIN)
