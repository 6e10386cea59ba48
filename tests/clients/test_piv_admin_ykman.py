"""PIV administration by cardki's token read back by ykman, and what ykman wrote read
by cardki's token, through pcscd + vpcd, in both releases (Debian's 4.0.9 and 5.9,
_ykman.py): keys imported and generated with policies, a certificate, the CHUID,
PIN, PUK and management key, attestation, and C_InitToken's reset."""

from __future__ import annotations

import datetime
import subprocess

import _ykman
import pytest
from _ykman import words
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cardki.constants import CKA, CKM, CKO, CKU
from cardki.curves import CURVES
from cardki.token.piv.attestation import verify_attestation
from cardki.token.piv.constants import ManagementKeyAlgorithm, PinPolicy, TouchPolicy
from hwsim import statefile
from piv_pcsc import pcsc_token

#: CKA_EC_PARAMS by curve name (cardki.curves is the one table).
EC_PARAMS_OF = {curve.name: curve.ec_params for curve in CURVES}

pytestmark = [pytest.mark.clients, pytest.mark.sim]

MGMT = "010203040506070801020304050607080102030405060708"
NEW_MGMT = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"  # AES-256 by its length
CHUID = bytes.fromhex("3019d4e739da739ced39ce739d836858210842108421c84210c3eb3410" + "5a" * 16 + "350832303330303130313e00fe00")


def ykman(release: str, reader: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _ykman.run(release, reader, *args, check=check)


def self_signed(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(77).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))


def pem_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def attestation_root(handle) -> bytes:
    state = statefile.load_state(handle.state_path)
    assert state is not None
    return bytes.fromhex(state["piv"]["attestation_root"]["certificate"])


@pytest.fixture
def card(virtual_card_factory):
    """A factory-fresh YubiKey 5.7.2 in the Yubico-named reader."""
    return virtual_card_factory()


def test_what_cardki_wrote_ykman_reads(release, card, tmp_path):
    reader = card.reader_name
    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed(key, "written by cardki")
    with pcsc_token(reader) as token:
        token.login(CKU.SO, MGMT.encode())
        token.import_key(0x9A, key, PinPolicy.NEVER, TouchPolicy.NEVER)
        token.create_object({CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x01",
                             CKA.VALUE: cert.public_bytes(serialization.Encoding.DER)})
        token.write_data_object(0x5FC102, CHUID)
        token.set_pin(CKU.SO, MGMT.encode(), NEW_MGMT.encode())
        token.logout()
        token.set_pin(CKU.USER, b"123456", b"654321")
        token.change_puk(b"12345678", b"87654321")
    info = words(ykman(release, reader, "piv", "info").stdout)
    assert "PIN tries remaining: 3/3" in info and "Using default PIN" not in info
    assert "Management key algorithm: AES256" in info and "written by cardki" in info
    assert CHUID.hex() in info.replace(" ", "").lower()
    cert_path, public_path = tmp_path / "cert.pem", tmp_path / "public.pem"
    ykman(release, reader, "piv", "certificates", "export", "9a", str(cert_path))
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()) == cert
    ykman(release, reader, "piv", "keys", "export", "9a", str(public_path))
    assert serialization.load_pem_public_key(public_path.read_bytes()) == key.public_key()
    ykman(release, reader, "piv", "access", "change-pin", "-P", "654321", "-n", "123456")
    ykman(release, reader, "piv", "access", "change-puk", "-p", "87654321", "-n", "12345678")
    ykman(release, reader, "piv", "keys", "generate", "-m", NEW_MGMT, "-a", "ECCP256", "9c",
          str(tmp_path / "9c.pem"))
    if release == "5":  # ykman 4 has no `keys info`
        key_info = words(ykman(release, reader, "piv", "keys", "info", "9a").stdout)
        assert "PIN required for use: NEVER" in key_info and "Touch required for use: NEVER" in key_info
        assert "Origin: IMPORTED" in key_info


def test_what_ykman_wrote_cardki_reads(release, card, tmp_path):
    reader = card.reader_name
    generated, imported = tmp_path / "9d.pem", tmp_path / "key.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    imported.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    new_key = "0f" * 16
    ykman(release, reader, "piv", "keys", "generate", "-m", MGMT, "-a", "ECCP384", "--pin-policy", "ALWAYS",
          "--touch-policy", "CACHED", "9d", str(generated))
    ykman(release, reader, "piv", "keys", "import", "-m", MGMT, "--pin-policy", "NEVER", "9e", str(imported))
    ykman(release, reader, "piv", "access", "change-management-key", "-m", MGMT, "-a", "AES128", "-n", new_key, "-f")
    with pcsc_token(reader) as token:
        objects = {obj.ref: obj.attributes for obj in token.objects_with_id(b"\x03") + token.objects_with_id(b"\x04")}
        private_9d, public_9e = objects[("private", 0x9D)], objects[("public", 0x9E)]
        assert private_9d[CKA.LOCAL] and private_9d[CKA.ALWAYS_AUTHENTICATE]
        assert (private_9d[CKA.YUBICO_PIN_POLICY], private_9d[CKA.YUBICO_TOUCH_POLICY]) == (b"\x03", b"\x03")
        public_9d = serialization.load_pem_public_key(generated.read_bytes())
        assert serialization.load_der_public_key(objects[("public", 0x9D)][CKA.PUBLIC_KEY_INFO]) == public_9d
        assert serialization.load_der_public_key(public_9e[CKA.PUBLIC_KEY_INFO]) == key.public_key()
        assert objects[("private", 0x9E)][CKA.YUBICO_PIN_POLICY] == b"\x01"
        assert not objects[("private", 0x9E)][CKA.LOCAL]
        status = token.access_status()
        assert status.management_key.algorithm == ManagementKeyAlgorithm.AES128 and not status.management_key.default
        token.login(CKU.SO, new_key.encode())
        (attestation,) = token.objects_with_id(b"\x67")  # 9D's id 03 + 100
        result = verify_attestation(attestation.attributes[CKA.VALUE], token.attestation_certificate(),
                                    [attestation_root(card)],
                                    public_key_info=objects[("public", 0x9D)][CKA.PUBLIC_KEY_INFO])
        assert (result.pin_policy, result.touch_policy) == (PinPolicy.ALWAYS, TouchPolicy.CACHED)


def test_cardki_generates_with_policies_ykman_attests_and_cardki_reinitializes(card, tmp_path):
    reader = card.reader_name
    with pcsc_token(reader) as token:
        token.login(CKU.SO, MGMT.encode())
        public, _ = token.generate_key_pair(
            CKM.EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: EC_PARAMS_OF["secp256r1"]},
            {CKA.ID: b"\x02", CKA.YUBICO_PIN_POLICY: b"\x03", CKA.YUBICO_TOUCH_POLICY: b"\x03"})
    attestation, f9 = tmp_path / "att.pem", tmp_path / "f9.pem"
    ykman("5", reader, "piv", "keys", "attest", "9c", str(attestation))
    ykman("5", reader, "piv", "certificates", "export", "f9", str(f9))
    der = serialization.Encoding.DER
    result = verify_attestation(x509.load_pem_x509_certificate(attestation.read_bytes()).public_bytes(der),
                                x509.load_pem_x509_certificate(f9.read_bytes()).public_bytes(der),
                                [attestation_root(card)], public_key_info=public.attributes[CKA.PUBLIC_KEY_INFO])
    assert (result.pin_policy, result.touch_policy, result.serial) == (PinPolicy.ALWAYS, TouchPolicy.CACHED, 12345678)
    with pcsc_token(reader) as token:
        token.set_pin(CKU.USER, b"123456", b"777777")
        token.init_token(MGMT.encode(), "ignored label")
    info = words(ykman("4", reader, "piv", "info").stdout)
    assert "Using default PIN" in info and "PIN tries remaining: 3/3" in info
    assert "Slot 9c" not in info and "Management key algorithm: AES192" in info
