"""libykcs11 2.2.0 (Yubico's PKCS#11 module) against the virtual YubiKey.

ykcs11 only looks at readers whose name starts with "Yubico" (its
is_yubico_reader()), so the card goes into the Yubico-named vpcd reader that
hw-sim/bootstrap installs ("Yubico YubiKey CCID (hwsim) 00 00", reader index
2). Everything -- libykcs11, libykpiv, pcscd, vpcd -- is the real thing,
unchanged. A pcscd that started before that reader was installed (and that
this run did not start) makes the test error with how to restart it.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from hosts import run_tool
from hwsim import stack

pytestmark = [pytest.mark.clients, pytest.mark.sim]

MODULE = "/usr/lib/x86_64-linux-gnu/libykcs11.so"
PKCS11_TOOL = shutil.which("pkcs11-tool") or "/usr/bin/pkcs11-tool"
YKMAN = shutil.which("ykman") or "/usr/bin/ykman"
MGMT = "010203040506070801020304050607080102030405060708"


def ykcs11(reader: str, *args: str) -> subprocess.CompletedProcess:
    return run_tool(PKCS11_TOOL, "--module", MODULE, "--slot-description", reader, *args)


def test_ykcs11_sees_the_token_objects_and_attestation(virtual_card_factory, tmp_path):
    card = virtual_card_factory(reader=stack.YUBICO_READER)
    assert card.reader_name.startswith("Yubico")
    pub = tmp_path / "9a.pem"
    run_tool(YKMAN, "--reader", card.reader_name, "piv", "keys", "generate", "-m", MGMT, "-a", "ECCP256", "9a", str(pub))
    run_tool(YKMAN, "--reader", card.reader_name, "piv", "certificates", "generate", "-m", MGMT, "-P", "123456",
        "-s", "CN=ykcs11", "9a", str(pub))

    slots = run_tool(PKCS11_TOOL, "--module", MODULE, "-L").stdout.decode()
    assert "YubiKey PIV #12345678" in slots and "firmware version   : 5.72" in slots
    objects = ykcs11(card.reader_name, "-O").stdout.decode()
    assert "CN=ykcs11" in objects
    assert "X.509 Certificate for PIV Attestation 9a" in objects  # ykcs11 attests generated keys itself

    message = tmp_path / "message"
    message.write_bytes(b"signed through libykcs11")
    signature = tmp_path / "sig"
    ykcs11(card.reader_name, "--login", "--pin", "123456", "--sign", "--id", "01", "-m", "ECDSA-SHA256",
           "--signature-format", "openssl", "-i", str(message), "-o", str(signature))
    cert_der = tmp_path / "9a.der"
    ykcs11(card.reader_name, "--read-object", "--type", "cert", "--label",
           "X.509 Certificate for PIV Authentication", "-o", str(cert_der))
    public = x509.load_der_x509_certificate(cert_der.read_bytes()).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature.read_bytes(), message.read_bytes(), ec.ECDSA(hashes.SHA256()))
