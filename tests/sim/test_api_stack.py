"""The Python API through the whole real stack: cardki -> pyscard -> pcscd ->
vpcd -> the virtual YubiKey in its own process. The card is provisioned with
the test keys (tests/unit/test_api_cards.py); results are checked with
:mod:`cryptography` against the host copy of each key."""

from __future__ import annotations

from typing import Any, Iterator, Tuple

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, x25519

from cardki import api, errors
from cardki.api import CKM, CKO
from provisioning import PIN, host_keys

pytestmark = pytest.mark.sim


@pytest.fixture
def token(provisioned_card: Any) -> Iterator[Tuple[api.Library, api.Token]]:
    with api.open(virtual_fallback=False) as lib:
        slots = [slot for slot in lib.slots() if slot.description == provisioned_card.reader_name]
        assert slots, [slot.description for slot in lib.slots()]
        assert not slots[0].is_virtual and slots[0].token_present
        yield lib, slots[0].token


def test_the_reader_slot_holds_the_provisioned_yubikey(token: Tuple[api.Library, api.Token]) -> None:
    _, tok = token
    assert tok.serial == "12345678" and tok.manufacturer == "Yubico"
    with tok.open() as session:
        subjects = {cert.subject for cert in session.certificates()}
    assert "CN=cardki test 9A" in subjects and "CN=cardki test 82" in subjects


def test_sign_with_every_key_type_through_pcscd(token: Tuple[api.Library, api.Token]) -> None:
    _, tok = token
    keys = host_keys()
    message = b"through the real stack"
    with tok.open(user_pin=PIN, context_pin=PIN) as session:
        def private(key_id: bytes) -> Any:
            return session.get_key(object_class=CKO.PRIVATE_KEY, id=key_id)

        keys[0x9A].public_key().verify(private(b"\x01").sign(message), message,
                                       padding.PKCS1v15(), hashes.SHA256())
        pss = private(b"\x01").sign(message, CKM.SHA256_RSA_PKCS_PSS)
        keys[0x9A].public_key().verify(pss, message, padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                                       hashes.SHA256())
        keys[0x9C].public_key().verify(private(b"\x02").sign(message, to_der=True), message,
                                       ec.ECDSA(hashes.SHA256()))
        keys[0x83].public_key().verify(private(b"\x06").sign(message, CKM.ECDSA_SHA384, to_der=True),
                                       message, ec.ECDSA(hashes.SHA384()))
        keys[0x9E].public_key().verify(private(b"\x04").sign(message), message)


def test_decrypt_and_derive_through_pcscd(token: Tuple[api.Library, api.Token]) -> None:
    _, tok = token
    keys = host_keys()
    with tok.open(user_pin=PIN) as session:
        rsa_key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x01")
        oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        assert rsa_key.decrypt(keys[0x9A].public_key().encrypt(b"secret", oaep), CKM.RSA_PKCS_OAEP) == b"secret"
        peer = ec.generate_private_key(ec.SECP256R1())
        ec_key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x03")
        assert ec_key.derive(peer.public_key()) == peer.exchange(ec.ECDH(), keys[0x9D].public_key())


def test_x25519_derive_through_pcscd(token: Tuple[api.Library, api.Token]) -> None:
    _, tok = token
    with tok.open(user_pin=PIN) as session:
        key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x05")
        peer = x25519.X25519PrivateKey.generate()
        assert key.derive(peer.public_key()) == peer.exchange(host_keys()[0x82].public_key())


def test_wrong_pin_through_pcscd(token: Tuple[api.Library, api.Token]) -> None:
    _, tok = token
    with pytest.raises(errors.PinIncorrect) as info:
        tok.open(user_pin="000000")
    assert info.value.tries_left == 2


def test_card_removed_mid_session_is_a_cryptoki_error(token: Tuple[api.Library, api.Token],
                                                      provisioned_card: Any) -> None:
    _, tok = token
    with tok.open(user_pin=PIN) as session:
        key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x04")
        provisioned_card.remove()
        with pytest.raises(errors.CryptokiError) as info:
            key.sign(b"gone")
        assert info.value.rv in (0x32, 0xB0, 0xB3, 0xE0)  # DEVICE_REMOVED / SESSION_* / TOKEN_NOT_PRESENT
    provisioned_card.insert()
