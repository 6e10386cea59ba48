"""PIV administration by cardki's token read back by yubico-piv-tool 2.2.0, and what
the tool wrote read by cardki's token, through pcscd + vpcd. The tool knows only 3DES
management keys, so the card is a YubiKey 5.4.3 (3DES by default)."""

from __future__ import annotations

import datetime

import pytest
from _piv_tool import piv_tool
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cardki import errors
from cardki.constants import CKA, CKO, CKU
from cardki.token.piv.constants import ManagementKeyAlgorithm, PinPolicy, TouchPolicy
from cardki.token.piv.objects import oid_der
from piv_pcsc import pcsc_token

pytestmark = [pytest.mark.clients, pytest.mark.sim]

MGMT = "010203040506070801020304050607080102030405060708"
NEW_MGMT = "1112131415161718212223242526272831323334353637ff"  # 3DES, as the tool needs
CHUID = bytes.fromhex("3019d4e739da739ced39ce739d836858210842108421c84210c3eb3410" + "a5" * 16 + "fe00")


def certificate(public_key, common_name: str) -> x509.Certificate:
    issuer = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(issuer, hashes.SHA256()))


@pytest.fixture
def card(virtual_card_factory):
    return virtual_card_factory(firmware="5.4.3")


def test_what_cardki_wrote_yubico_piv_tool_reads(card, tmp_path):
    reader = card.reader_name
    key = rsa.generate_private_key(65537, 2048)
    cert = certificate(key.public_key(), "imported by cardki")
    cert_path = tmp_path / "cert.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    with pcsc_token(reader) as token:
        token.login(CKU.SO, MGMT.encode())
        token.import_key(0x9A, key, PinPolicy.ONCE, TouchPolicy.NEVER)
        token.create_object({CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x01",
                             CKA.VALUE: cert.public_bytes(serialization.Encoding.DER)})
        token.create_object({CKA.CLASS: CKO.DATA, CKA.OBJECT_ID: oid_der("2.16.840.1.101.3.7.2.48.0"),
                             CKA.VALUE: CHUID})
        token.set_pin(CKU.SO, MGMT.encode(), NEW_MGMT.encode())
        token.logout()
        for _ in range(3):  # block the PIN, then unblock it with the PUK (ykcs11's prefixes)
            with pytest.raises((errors.PinIncorrect, errors.PinLocked)):
                token.login(CKU.USER, b"000000")
        token.set_pin(CKU.USER, b"puk:12345678", b"pin:246810")
        token.set_pin(CKU.USER, b"puk:12345678", b"puk:13572468")
    status = piv_tool(reader, "-a", "status").stdout
    assert "imported by cardki" in status and "PIN tries left:\t3" in status
    assert CHUID.hex() in piv_tool(reader, "-a", "read-object", "--id", str(0x5FC102)).stdout.lower()
    back = tmp_path / "back.pem"
    piv_tool(reader, "-a", "read-certificate", "-s", "9a", "-o", str(back))
    assert x509.load_pem_x509_certificate(back.read_bytes()) == cert
    out = piv_tool(reader, "-a", "verify-pin", "-P", "246810", "-a", "test-signature", "-s", "9a",
                   "-i", str(cert_path))  # the imported key signs, checked against its certificate
    assert "Successful" in out.stdout + out.stderr
    piv_tool(reader, "-a", "change-puk", "-P", "13572468", "-N", "12345678")
    piv_tool(reader, "-a", "generate", "-s", "9e", "-A", "ECCP256", f"-k{NEW_MGMT}")


def test_what_yubico_piv_tool_wrote_cardki_reads(card, tmp_path):
    reader = card.reader_name
    key = ec.generate_private_key(ec.SECP256R1())
    key_path, chuid_path = tmp_path / "key.pem", tmp_path / "chuid.hex"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    chuid_path.write_text(CHUID.hex())
    generated = piv_tool(reader, "-a", "generate", "-s", "9c", "-A", "ECCP256", "--pin-policy=never",
                         "--touch-policy=never", f"-k{MGMT}").stdout
    piv_tool(reader, "-a", "import-key", "-s", "9d", "-i", str(key_path), "--pin-policy=once", f"-k{MGMT}")
    piv_tool(reader, "-a", "write-object", "--id", str(0x5FC102), "-i", str(chuid_path), f"-k{MGMT}")
    piv_tool(reader, "-a", "change-pin", "-P", "123456", "-N", "864200")
    piv_tool(reader, "-a", "change-puk", "-P", "12345678", "-N", "24680135")
    piv_tool(reader, "-a", "set-mgm-key", f"-k{MGMT}", "-n", NEW_MGMT)
    with pcsc_token(reader) as token:
        objects = {obj.ref: obj.attributes for obj in token.objects()}
        private_9c = objects[("private", 0x9C)]
        assert private_9c[CKA.LOCAL] and private_9c[CKA.YUBICO_PIN_POLICY] == b"\x01"
        assert not private_9c[CKA.ALWAYS_AUTHENTICATE]  # policy never, although 9C's default is always
        public_9c = serialization.load_pem_public_key(generated.encode())
        assert serialization.load_der_public_key(objects[("public", 0x9C)][CKA.PUBLIC_KEY_INFO]) == public_9c
        assert serialization.load_der_public_key(objects[("public", 0x9D)][CKA.PUBLIC_KEY_INFO]) == key.public_key()
        assert not objects[("private", 0x9D)][CKA.LOCAL]
        assert objects[("data", 0x5FC102)][CKA.VALUE] == CHUID
        token.change_puk(b"24680135", b"12345678")
        token.login(CKU.USER, b"864200")
        token.logout()
        with pytest.raises(errors.PinIncorrect):
            token.login(CKU.SO, MGMT.encode())
        token.login(CKU.SO, NEW_MGMT.encode())
        assert token.access_status().management_key.algorithm == ManagementKeyAlgorithm.TDES
