"""PIV administration through the cardki module with OpenSC's pkcs11-tool (0.23), on a
factory-fresh virtual YubiKey 5.7.2 in the Yubico-named reader, via pcscd + vpcd:
key pair generation (its --usage-* options honoured or refused), private keys,
certificates and data objects written, objects deleted, PIN / PUK / management key
through C_SetPIN, C_InitToken, attestation certificates beside the keys' own."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from _module_card import ModuleCard
from _module_card import read_public_key as read_module_public_key
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from cardki.capi import module_path
from cardki.token.piv.attestation import verify_attestation
from hwsim import statefile

pytestmark = [pytest.mark.clients, pytest.mark.sim]

MGMT = "010203040506070801020304050607080102030405060708"
PIN = "123456"
AS_SO = ("--login", "--login-type", "so", "--so-pin", MGMT)
CHUID_OID = "2.16.840.1.101.3.7.2.48.0"


@pytest.fixture
def card(virtual_card_factory) -> ModuleCard:
    handle = virtual_card_factory()
    return ModuleCard(handle=handle, reader_name=handle.reader_name, module=module_path(), certificates={})


def read_public_key(card: ModuleCard, key_id: str, tmp_path: Path):
    return read_module_public_key(card.pkcs11_tool, key_id, tmp_path / f"{key_id}.pub.der")


def read_certificate(card: ModuleCard, key_id: str, tmp_path: Path) -> x509.Certificate:
    out = tmp_path / f"{key_id}.crt.der"
    card.pkcs11_tool("--read-object", "--type", "cert", "--id", key_id, "-o", str(out))
    return x509.load_der_x509_certificate(out.read_bytes())


def sign_and_verify(card: ModuleCard, key_id: str, public, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"made with pkcs11-tool " + key_id.encode())
    signature = tmp_path / f"{key_id}.sig"
    if isinstance(public, rsa.RSAPublicKey):
        card.pkcs11_tool("--login", "--pin", PIN, "--sign", "--id", key_id, "-m", "SHA256-RSA-PKCS",
                         "-i", str(data), "-o", str(signature))
        public.verify(signature.read_bytes(), data.read_bytes(), padding.PKCS1v15(), hashes.SHA256())
        return
    card.pkcs11_tool("--login", "--pin", PIN, "--sign", "--id", key_id, "-m", "ECDSA-SHA256",
                     "-i", str(data), "-o", str(signature))
    raw = signature.read_bytes()
    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    public.verify(der, data.read_bytes(), ec.ECDSA(hashes.SHA256()))


def card_state(card: ModuleCard) -> dict:
    state = statefile.load_state(card.handle.state_path)
    assert state is not None
    return state


def test_keypairgen_ec_in_9a_and_rsa_in_9c_then_sign(card: ModuleCard, tmp_path: Path) -> None:
    made = card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "01").stdout
    assert "Key pair generated" in made and "label:      PIV Authentication" in made
    card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "rsa:2048", "--id", "02")
    ec_public, rsa_public = read_public_key(card, "01", tmp_path), read_public_key(card, "02", tmp_path)
    assert isinstance(ec_public, ec.EllipticCurvePublicKey) and ec_public.curve.name == "secp256r1"
    assert isinstance(rsa_public, rsa.RSAPublicKey) and rsa_public.key_size == 2048
    sign_and_verify(card, "01", ec_public, tmp_path)
    sign_and_verify(card, "02", rsa_public, tmp_path)  # 9C: PIN always, pkcs11-tool logs in again
    keys = card_state(card)["piv"]["keys"]
    assert set(keys) >= {"9a", "9c"}


def test_keypairgen_usage_options_are_honoured_or_refused(card: ModuleCard) -> None:
    """PIV stores no usage flags: a use the key will have is honoured, one it cannot
    have is CKR_TEMPLATE_INCONSISTENT before anything reaches the card. (pkcs11-tool
    itself sends no flag for --usage-decrypt/--usage-wrap with EC keys, nor for
    --usage-derive with RSA keys: those keys get their algorithm's uses.)"""
    card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "03", "--usage-sign")
    card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "04", "--usage-derive")
    card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "rsa:2048", "--id", "05", "--usage-decrypt",
                     "--usage-wrap")
    card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "EC:curve25519", "--id", "06", "--usage-derive")
    card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "EC:edwards25519", "--id", "07", "--usage-sign")
    private = card.pkcs11_tool("--login", "--pin", PIN, "-O", "--type", "privkey").stdout
    for usage in ("Usage:      sign, derive", "Usage:      decrypt, sign, unwrap", "Usage:      derive",
                  "Usage:      sign"):
        assert usage + "\n" in private, usage
    for key_type, key_id, usage in (("EC:curve25519", "08", ()),              # X25519 cannot sign
                                    ("EC:edwards25519", "08", ()),            # pkcs11-tool asks CKA_DERIVE
                                    ("EC:curve25519", "08", ("--usage-sign",)),
                                    ("EC:prime256v1", "02", ()),              # 9C, PIN always: no ECDH
                                    ("EC:prime256v1", "02", ("--usage-derive",))):
        refused = card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", key_type, "--id", key_id, *usage,
                                   check=False)
        assert refused.returncode != 0, (key_type, usage)
        assert "C_GenerateKeyPair failed: rv = CKR_TEMPLATE_INCONSISTENT" in refused.stderr, refused.stderr
    assert set(card_state(card)["piv"]["keys"]) == {"9d", "9e", "82", "83", "84", "f9"}  # 03 to 07 only
    card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--usage-sign")


def _self_signed(key, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(4242).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))


def test_write_object_privkey_cert_and_data_then_delete(card: ModuleCard, tmp_path: Path) -> None:
    keys = {"03": ec.generate_private_key(ec.SECP256R1()), "05": rsa.generate_private_key(65537, 2048)}
    for key_id, key in keys.items():
        der = tmp_path / f"{key_id}.key.der"
        der.write_bytes(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
        written = card.pkcs11_tool(*AS_SO, "--write-object", str(der), "--type", "privkey", "--id", key_id)
        assert "Created private key" in written.stdout
        certificate = tmp_path / f"{key_id}.crt.pem"
        certificate.write_bytes(_self_signed(key, f"imported {key_id}").public_bytes(serialization.Encoding.PEM))
        card.pkcs11_tool(*AS_SO, "--write-object", str(certificate), "--type", "cert", "--id", key_id)
        sign_and_verify(card, key_id, key.public_key(), tmp_path)
        assert read_certificate(card, key_id, tmp_path).subject.rfc4514_string() == f"CN=imported {key_id}"
    assert card_state(card)["piv"]["keys"]["9d"]["origin"] == 2  # imported
    chuid = tmp_path / "chuid"
    chuid.write_bytes(bytes.fromhex("3019d4e739da739ced39ce739d836858210842108421c84210c3eb34105a5a5a5a5a5a5a5a"
                                    "5a5a5a5a5a5a5a5a350832303330303130313e00fe00"))
    card.pkcs11_tool(*AS_SO, "--write-object", str(chuid), "--type", "data", "--application-id", CHUID_OID,
                     "--application-label", "PIV")
    assert card_state(card)["piv"]["objects"]["5fc102"].endswith(chuid.read_bytes().hex())
    listed = card.pkcs11_tool("-O", "--type", "data").stdout
    assert "Card Holder Unique Identifier" in listed

    card.pkcs11_tool(*AS_SO, "--delete-object", "--type", "cert", "--id", "03")
    assert "03" not in card.pkcs11_tool("-O", "--type", "cert").stdout.replace("ID:         01", "")
    # The SO sees no private objects (the spec's rule), so it deletes a key by its public
    # half (MOVE KEY to FF on 5.7), which takes the slot's certificate along.
    card.pkcs11_tool(*AS_SO, "--delete-object", "--type", "pubkey", "--id", "05")
    assert "82" not in card_state(card)["piv"]["keys"]
    # (pkcs11-tool finds by CKA_OBJECT_ID as it spells it, the OID's content octets: by label, then.)
    card.pkcs11_tool(*AS_SO, "--delete-object", "--type", "data", "--label", "Card Holder Unique Identifier")
    assert "5fc102" not in card_state(card)["piv"]["objects"]
    as_user = card.pkcs11_tool("--login", "--pin", PIN, "--delete-object", "--type", "privkey", "--id", "03",
                               check=False)
    assert "C_DestroyObject() failed: rv = CKR_USER_NOT_LOGGED_IN" in as_user.stderr  # keys are the SO's
    assert "9d" in card_state(card)["piv"]["keys"]


def test_pin_puk_and_management_key_through_c_setpin(card: ModuleCard) -> None:
    card.pkcs11_tool("--change-pin", "--pin", PIN, "--new-pin", "246810")
    card.pkcs11_tool("--change-pin", "--so-pin", "puk:12345678", "--new-pin", "87654321")  # the PUK
    for _ in range(3):
        card.pkcs11_tool("--login", "--pin", "000000", "-O", check=False)
    assert card_state(card)["piv"]["pin_retries_left"] == 0
    card.pkcs11_tool("--unlock-pin", "--puk", "puk:87654321", "--new-pin", "pin:135790")
    card.pkcs11_tool("--login", "--pin", "135790", "-O")
    new_key = "00112233445566778899aabbccddeeff"  # AES-128, by its length
    card.pkcs11_tool(*AS_SO, "--change-pin", "--new-pin", new_key)
    assert card_state(card)["piv"]["management_key"]["algorithm"] == 0x08
    card.pkcs11_tool("--login", "--login-type", "so", "--so-pin", new_key, "--change-pin", "--new-pin", MGMT)
    assert card_state(card)["piv"]["management_key"]["algorithm"] == 0x0A  # 48 digits after AES: AES-192
    # OpenSC's own convention (a context-specific login with the PUK) is not PIV's:
    without_prefix = card.pkcs11_tool("--unlock-pin", "--login", "--login-type", "context-specific",
                                      "--puk", "87654321", "--new-pin", "111111", check=False)
    assert without_prefix.returncode != 0 and "CKR_USER_NOT_LOGGED_IN" in without_prefix.stderr


def test_init_token_resets_the_card_and_keeps_the_so_pin(card: ModuleCard, tmp_path: Path) -> None:
    card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "01")
    card.pkcs11_tool("--change-pin", "--pin", PIN, "--new-pin", "777777")
    done = card.pkcs11_tool("--init-token", "--label", "cardki", "--so-pin", MGMT)
    assert "Token successfully initialized" in done.stdout
    piv = card_state(card)["piv"]
    assert set(piv["keys"]) == {"f9"} and piv["pin_retries_left"] == piv["pin_retries_total"]
    card.pkcs11_tool("--login", "--pin", PIN, "-O")  # the factory PIN again
    card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "01")  # the same SO PIN
    wrong = card.pkcs11_tool("--init-token", "--label", "cardki", "--so-pin", "11" * 24, check=False)
    assert "C_InitToken failed: rv = CKR_PIN_INCORRECT" in wrong.stderr


def test_attestations_are_certificates_of_their_own(card: ModuleCard, tmp_path: Path) -> None:
    """The attestation of 9A's key is found by its own CKA_ID (65) and label; a client
    that takes "the certificate with the key's CKA_ID" gets the slot's certificate, not
    the attestation (yubico-piv-tool#449); the chain runs attestation -> F9 -> root."""
    card.pkcs11_tool(*AS_SO, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "01")
    key = ec.generate_private_key(ec.SECP256R1())
    listed = card.pkcs11_tool("-O", "--type", "cert").stdout
    assert "ID:         65" not in listed and "ID:         19" in listed  # listing never attests
    attestation = read_certificate(card, "65", tmp_path)
    assert attestation.subject.rfc4514_string() == "CN=YubiKey PIV Attestation 9a"
    f9 = read_certificate(card, "19", tmp_path)
    public = read_public_key(card, "01", tmp_path)
    root = bytes.fromhex(card_state(card)["piv"]["attestation_root"]["certificate"])
    der = serialization.Encoding.DER
    result = verify_attestation(attestation.public_bytes(der), f9.public_bytes(der), [root],
                                public_key_info=public.public_bytes(der, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert result.serial == card.handle.serial
    # With no certificate in 9A, a find by its CKA_ID finds no certificate at all ...
    missing = card.pkcs11_tool("--read-object", "--type", "cert", "--id", "01", check=False)
    assert missing.returncode != 0
    # ... and with one, that one.
    certificate = tmp_path / "9a.pem"
    certificate.write_bytes(_self_signed(key, "the slot's own").public_bytes(serialization.Encoding.PEM))
    card.pkcs11_tool(*AS_SO, "--write-object", str(certificate), "--type", "cert", "--id", "01")
    assert read_certificate(card, "01", tmp_path).subject.rfc4514_string() == "CN=the slot's own"
    assert json.dumps(card_state(card)["piv"]["objects"]).count("5fc105") == 1
