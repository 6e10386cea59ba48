"""PIV administration through the Python API (``session.piv``) against the in-process
virtual YubiKey: generate with policies, import, delete, PIN / PUK / management key,
unblock, retries, reset, attest and verify the chain. What the card stored is read
back from the simulator, signatures are checked with :mod:`cryptography`."""

from __future__ import annotations

from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from cardki import api, errors
from cardki.api import CKA
from cardki.api_piv import PinPolicy, PivAlgorithm, TouchPolicy, parse_algorithm, parse_slot
from cardki.constants import CKS
from cardki.token.piv.attestation import AttestationError
from cardki.token.piv.constants import ManagementKeyAlgorithm

MGMT = "010203040506070801020304050607080102030405060708"
PIN = "123456"


@pytest.fixture
def lib() -> Iterator[api.Library]:
    with api.open(virtual=True) as library:
        yield library


def so(lib: api.Library, key: str = MGMT) -> api.Session:
    return lib.get_token().open(rw=True, so_pin=key)


def test_slot_and_algorithm_names() -> None:
    assert [parse_slot(s) for s in ("9a", "9C", "0x9d", 0x9E, "82", "95", "f9", "AUTHENTICATION", "retired20")] == [
        0x9A, 0x9C, 0x9D, 0x9E, 0x82, 0x95, 0xF9, 0x9A, 0x95]
    for wrong in ("9b", "96", "zz", "", True, 0x80):
        with pytest.raises(ValueError):
            parse_slot(wrong)  # type: ignore[arg-type]
    assert parse_algorithm("eccp256") is PivAlgorithm.ECCP256 and parse_algorithm(0x16) is PivAlgorithm.RSA4096
    with pytest.raises(ValueError):
        parse_algorithm("RSA512")


@pytest.mark.parametrize("slot,algorithm", [("9a", "ECCP256"), ("9c", "RSA2048"), ("9d", "ECCP384"),
                                            ("9e", "ED25519"), ("82", "X25519"), ("83", "RSA1024")])
def test_generate_with_policies_and_use_the_key(lib: api.Library, slot: str, algorithm: str) -> None:
    with so(lib) as admin:
        made = admin.piv.generate(slot, algorithm, pin_policy=PinPolicy.NEVER, touch_policy=TouchPolicy.NEVER)
        generated = made.to_cryptography()
    key = lib.virtual_card.piv.keys[parse_slot(slot)]
    assert (key.algorithm.name, key.pin_policy, key.touch_policy) == (algorithm, 1, 1)
    with lib.get_token().open(user_pin=PIN) as session:
        public = session.piv.public_key(slot)
        assert public.to_cryptography() == generated
        private = session.get_key(object_class=api.CKO.PRIVATE_KEY, id=session.piv.key_id(slot))
        assert private[CKA.YUBICO_PIN_POLICY] == b"\x01" and not private.always_authenticate
        if hasattr(private, "sign"):
            assert public.verify(b"made by the API", private.sign(b"made by the API"))


@pytest.mark.parametrize("make", [lambda: ec.generate_private_key(ec.SECP256R1()),
                                  lambda: ec.generate_private_key(ec.SECP384R1()),
                                  lambda: rsa.generate_private_key(65537, 2048),
                                  ed25519.Ed25519PrivateKey.generate, x25519.X25519PrivateKey.generate],
                         ids=["p256", "p384", "rsa2048", "ed25519", "x25519"])
def test_import_a_key_then_a_certificate(lib: api.Library, make) -> None:
    key = make()
    with so(lib) as admin:
        admin.piv.import_key("9d", key, pin_policy=PinPolicy.ALWAYS, touch_policy=TouchPolicy.NEVER)
    stored = lib.virtual_card.piv.keys[0x9D]
    assert (stored.pin_policy, stored.origin) == (3, 2)  # always; imported
    with lib.get_token().open(user_pin=PIN, context_pin=PIN) as session:
        public = session.piv.public_key("9d")
        assert public.to_cryptography() == key.public_key()
        private = session.get_key(object_class=api.CKO.PRIVATE_KEY, id=b"\x03")
        assert private.always_authenticate and not private[CKA.LOCAL]
        if hasattr(private, "sign"):
            assert public.verify(b"imported", private.sign(b"imported"))


def _self_signed(common_name: str) -> x509.Certificate:
    import datetime

    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(9).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=9))
            .sign(key, hashes.SHA256()))


def test_certificates_and_keys_deleted(lib: api.Library) -> None:
    with so(lib) as admin:
        admin.piv.generate("9a", "ECCP256")
        certificate = admin.piv.import_certificate("9a", _self_signed("the API's"))
        assert certificate.subject == "CN=the API's" and admin.piv.certificate("9a").id == b"\x01"
        admin.piv.delete_certificate("9a")
        with pytest.raises(api.NoSuchKey):
            admin.piv.certificate("9a")
        assert 0x9A in lib.virtual_card.piv.keys  # the key stays
        admin.piv.import_certificate("9a", _self_signed("again").public_bytes(serialization.Encoding.DER))
        admin.piv.delete_key("9a")  # YubiKey 5.7: MOVE KEY to FF, the certificate with it
        assert 0x9A not in lib.virtual_card.piv.keys
        with pytest.raises(api.NoSuchKey):
            admin.piv.public_key("9a")
        with pytest.raises(api.NoSuchKey):
            admin.piv.certificate("9a")
        admin.piv.generate("9c", "ECCP256")
        admin.piv.move_key("9c", "82")
        assert 0x82 in lib.virtual_card.piv.keys and 0x9C not in lib.virtual_card.piv.keys
        admin.piv.write_data_object(0x5FC102, b"\x53\x03\x30\x01\x00")
        assert lib.virtual_card.piv.objects[0x5FC102]
        admin.piv.delete_data_object(0x5FC102)
        assert 0x5FC102 not in lib.virtual_card.piv.objects


def test_writes_need_the_so_and_a_read_write_session(lib: api.Library) -> None:
    with lib.get_token().open(user_pin=PIN) as session:
        with pytest.raises(errors.SessionReadOnly):
            session.piv.change_puk("12345678", "87654321")
    with lib.get_token().open(user_pin=PIN, rw=True) as session:
        with pytest.raises(errors.UserNotLoggedIn):
            session.piv.generate("9a")
    with lib.get_token().open(rw=True) as session:
        with pytest.raises(errors.UserNotLoggedIn):
            session.piv.write_data_object(0x5FC102, b"\x53\x00")


def test_pin_puk_unblock_and_retries(lib: api.Library) -> None:
    card = lib.virtual_card.piv
    with lib.get_token().open(rw=True) as session:
        session.piv.change_pin(PIN, "246810")
        session.piv.change_puk("12345678", "97531864")
        with pytest.raises(errors.PinIncorrect) as wrong:
            session.piv.change_puk("00000000", "11111111")
        assert wrong.value.tries_left == 2
        card.pin.left = 0
        with pytest.raises(errors.PinLocked):
            session.login("246810")
        session.piv.unblock_pin("97531864", "135790")
        session.login("135790")
        session.piv.change_pin("135790", "112233")  # logged in as the user: C_SetPIN
        session.logout()
        status = session.piv.status()
    assert status.version == (5, 7, 2) and status.serial == 12345678
    assert status.access.pin is not None and status.access.pin.remaining == 3 and not status.access.pin.default
    assert status.access.puk is not None and status.access.puk.remaining == 3  # the right PUK counted again
    with so(lib) as admin:
        admin.piv.change_pin("112233", "445566")  # an SO session changes the PIN, not the management key
        admin.piv.set_retries(5, 4, pin="445566")
        assert (card.pin.total, card.puk.total) == (5, 4)
        admin.piv.change_management_key("0f" * 32)  # AES-256 by its length
        admin.piv.generate("9e", "ED25519")          # still logged in, with the new key
        admin.piv.change_management_key("11" * 24, "TDES")
        assert lib.virtual_card.piv.mgmt_type.ident == ManagementKeyAlgorithm.TDES
    with so(lib, "11" * 24) as admin:
        assert admin.piv.status().access.management_key is not None


def test_attest_and_verify_the_chain(lib: api.Library) -> None:
    root = lib.virtual_attestation_root
    assert root is not None
    with so(lib) as admin:
        admin.piv.generate("9c", "ECCP256", pin_policy=PinPolicy.ONCE, touch_policy=TouchPolicy.CACHED)
        admin.piv.import_key("9d", ec.generate_private_key(ec.SECP256R1()))
    with lib.get_token().open() as session:
        result = session.piv.verify_attestation("9c", roots=[root])
        assert (result.pin_policy, result.touch_policy, result.serial) == (PinPolicy.ONCE, TouchPolicy.CACHED,
                                                                           12345678)
        assert session.piv.attest("9c").subject.rfc4514_string() == "CN=YubiKey PIV Attestation 9c"
        with pytest.raises(errors.KeyFunctionNotPermitted):
            session.piv.attest("9d")  # imported
        with pytest.raises(errors.KeyHandleInvalid):
            session.piv.attest("9a")  # empty
        stranger = _self_signed("not Yubico").public_bytes(serialization.Encoding.DER)
        with pytest.raises(AttestationError, match="does not chain to a trusted root"):
            session.piv.verify_attestation("9c", roots=[stranger])


def test_reset_logs_out_and_empties_the_card(lib: api.Library) -> None:
    with so(lib) as admin:
        admin.piv.generate("9a", "ECCP256")
        admin.piv.change_management_key("22" * 24)
        admin.piv.reset()
        assert admin.info.state == CKS.RW_PUBLIC_SESSION
        assert admin.objects({CKA.ID: b"\x01"}) == []
    assert set(lib.virtual_card.piv.keys) == {0xF9}
    with so(lib) as admin:  # the factory management key again
        assert admin.piv.status().access.management_key.default


@pytest.mark.parametrize("slot,algorithm,hash_name", [("9a", "ECCP256", "sha256"), ("9c", "RSA2048", "sha384"),
                                                      ("9d", "ECCP384", "sha512"), ("9e", "ED25519", "sha256")])
def test_certificates_and_requests_signed_on_the_card(lib: api.Library, slot: str, algorithm: str,
                                                      hash_name: str) -> None:
    with so(lib) as admin:
        admin.piv.generate(slot, algorithm)
    with lib.get_token().open(user_pin=PIN, context_pin=PIN) as session:
        certificate = session.piv.self_signed_certificate(slot, "CN=signed on the card,O=cardki", days=30,
                                                          hash_name=hash_name)
        request = session.piv.certificate_request(slot, "requested", hash_name=hash_name)
        public = session.piv.public_key(slot).to_cryptography()
    assert certificate.public_key() == public and request.public_key() == public
    certificate.verify_directly_issued_by(certificate)
    assert request.is_signature_valid and request.subject.rfc4514_string() == "CN=requested"
    assert certificate.subject.rfc4514_string() == "CN=signed on the card,O=cardki"
    assert (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days == 30
    if algorithm != "ED25519":
        assert certificate.signature_hash_algorithm.name == hash_name
    with so(lib) as admin:
        admin.piv.import_certificate(slot, certificate)
        assert admin.piv.certificate(slot).to_cryptography() == certificate


def test_an_x25519_key_signs_no_certificate(lib: api.Library) -> None:
    with so(lib) as admin:
        admin.piv.generate("82", "X25519")
    with lib.get_token().open(user_pin=PIN) as session:
        with pytest.raises(errors.KeyFunctionNotPermitted):
            session.piv.self_signed_certificate("82", "CN=x")
        with pytest.raises(ValueError, match="RFC 4514"):
            session.piv.certificate_request("82", "CN=x,,=")
