"""Private-key operations, PINs and card sharing of the PIV token, against the
in-process virtual YubiKey; every result is checked with `cryptography`."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, x25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from test_piv_token_support import (
    MGMT_HEX,
    PIN,
    POLICY_NEVER,
    GenericPivCard,
    find,
    make_cert,
    open_piv,
    put_cert,
    put_key,
    rsa_key,
)

from cardki import errors
from cardki.constants import CKA, CKD, CKG, CKM, CKO, CKU, CKZ, TokenFlag
from cardki.cryptoki.mechanisms import Ecdh1DeriveParams, EddsaParams, RsaOaepParams, RsaPssParams
from cardki.slot.inprocess import InProcessSlot, InProcessTransport
from cardki.token import open_token, rsa_padding
from hwsim.yubikey import VirtualYubiKey


def ecdsa_der(raw: bytes) -> bytes:
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


@pytest.fixture
def rsa_card():
    card = VirtualYubiKey()
    key = rsa_key(2048)
    put_key(card, 0x9A, key)
    put_cert(card, 0x9A, make_cert(key))
    token, transport = open_piv(card)
    token.login(CKU.USER, PIN)
    return token, key, card


@pytest.fixture
def ec_card():
    card = VirtualYubiKey()
    p256 = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    put_key(card, 0x9A, p256)
    put_key(card, 0x9D, p384)
    put_key(card, 0x9E, ec.generate_private_key(ec.SECP256R1()))
    token, _ = open_piv(card)
    token.login(CKU.USER, PIN)
    return token, p256, p384, card


# ------------------------------------------------------------------- RSA
def test_rsa_pkcs_sign_of_a_digest_info_verifies(rsa_card) -> None:
    token, key, _ = rsa_card
    message = b"hello PIV"
    info = rsa_padding.digest_info("sha256", hashlib.sha256(message).digest())
    private = find(token, "private", 0x9A)
    before = token.protocol.apdu_count
    start = time.perf_counter()
    signature = token.sign(private, CKM.RSA_PKCS, None, info)
    elapsed = time.perf_counter() - start
    assert token.protocol.apdu_count - before == 1  # one extended GENERAL AUTHENTICATE
    print(f"RSA-2048 sign: 1 APDU, {elapsed * 1000:.1f} ms in-process")
    key.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_rsa_pkcs_sign_rejects_data_too_long_without_touching_the_card(rsa_card) -> None:
    token, _, _ = rsa_card
    private = find(token, "private", 0x9A)
    before = token.protocol.apdu_count
    with pytest.raises(errors.DataLenRange):  # type: ignore[attr-defined]
        token.sign(private, CKM.RSA_PKCS, None, b"x" * 246)
    assert token.protocol.apdu_count == before


def test_rsa_x509_sign_is_raw(rsa_card) -> None:
    token, key, _ = rsa_card
    block = b"\x00\x01" + os.urandom(254)
    signature = token.sign(find(token, "private", 0x9A), CKM.RSA_X_509, None, block)
    numbers = key.public_key().public_numbers()
    assert pow(int.from_bytes(signature, "big"), numbers.e, numbers.n) == int.from_bytes(block, "big")


@pytest.mark.parametrize("hash_mech, mgf, salt, hash_cls", [
    (CKM.SHA256, CKG.MGF1_SHA256, 32, hashes.SHA256),
    (CKM.SHA384, CKG.MGF1_SHA1, 0, hashes.SHA384),
])
def test_rsa_pss_sign_verifies(rsa_card, hash_mech, mgf, salt, hash_cls) -> None:
    token, key, _ = rsa_card
    message = b"pss message"
    digest = hashlib.new(hash_cls.name, message).digest()
    signature = token.sign(find(token, "private", 0x9A), CKM.RSA_PKCS_PSS, RsaPssParams(hash_mech, mgf, salt), digest)
    mgf_hash = hashes.SHA256() if mgf == CKG.MGF1_SHA256 else hashes.SHA1()
    key.public_key().verify(signature, message, padding.PSS(padding.MGF1(mgf_hash), salt), hash_cls())


def test_rsa_decrypt_pkcs1_oaep_and_raw(rsa_card) -> None:
    token, key, _ = rsa_card
    private = find(token, "private", 0x9A)
    public = key.public_key()
    assert token.decrypt(private, CKM.RSA_PKCS, None, public.encrypt(b"secret", padding.PKCS1v15())) == b"secret"
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), b"label")
    params = RsaOaepParams(CKM.SHA256, CKG.MGF1_SHA256, CKZ.DATA_SPECIFIED, b"label")
    assert token.decrypt(private, CKM.RSA_PKCS_OAEP, params, public.encrypt(b"oaep secret", oaep)) == b"oaep secret"
    raw = public.encrypt(b"x", padding.PKCS1v15())
    block = token.decrypt(private, CKM.RSA_X_509, None, raw)
    assert len(block) == 256 and block[:2] == b"\x00\x02" and block.endswith(b"\x00x")
    with pytest.raises(errors.EncryptedDataInvalid):  # type: ignore[attr-defined]
        token.decrypt(private, CKM.RSA_PKCS, None, public.encrypt(b"x", oaep))
    with pytest.raises(errors.EncryptedDataLenRange):  # type: ignore[attr-defined]
        token.decrypt(private, CKM.RSA_PKCS, None, b"short")


# -------------------------------------------------------------------- EC
def test_ecdsa_p256_sign_verifies_in_one_apdu(ec_card) -> None:
    token, p256, _, _ = ec_card
    digest = hashlib.sha256(b"ec message").digest()
    private = find(token, "private", 0x9A)
    before = token.protocol.apdu_count
    start = time.perf_counter()
    signature = token.sign(private, CKM.ECDSA, None, digest)
    elapsed = time.perf_counter() - start
    assert token.protocol.apdu_count - before == 1
    print(f"P-256 sign: 1 APDU, {elapsed * 1000:.1f} ms in-process")
    assert len(signature) == 64
    p256.public_key().verify(ecdsa_der(signature), digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_ecdsa_with_a_longer_hash_is_truncated_like_fips_186(ec_card) -> None:
    token, p256, _, _ = ec_card
    digest = hashlib.sha512(b"long").digest()
    signature = token.sign(find(token, "private", 0x9A), CKM.ECDSA, None, digest)
    p256.public_key().verify(ecdsa_der(signature), digest, ec.ECDSA(Prehashed(hashes.SHA512())))


def test_card_authentication_key_signs_without_pin(ec_card) -> None:
    token, _, _, card = ec_card
    token.logout()
    signature = token.sign(find(token, "private", 0x9E), CKM.ECDSA, None, b"\x11" * 32)
    assert len(signature) == 64


@pytest.mark.parametrize("wrap", [False, True])
def test_ecdh_p384_matches_the_host(ec_card, wrap) -> None:
    token, _, p384, _ = ec_card
    peer = ec.generate_private_key(ec.SECP384R1())
    point = peer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    public_data = b"\x04" + bytes([len(point)]) + point if wrap else point
    secret = token.derive(find(token, "private", 0x9D), CKM.ECDH1_DERIVE, Ecdh1DeriveParams(CKD.NULL, b"", public_data))
    assert secret == peer.exchange(ec.ECDH(), p384.public_key())


def test_sign_with_a_key_agreement_only_key_is_refused() -> None:
    card = VirtualYubiKey()
    key = ec.generate_private_key(ec.SECP256R1())
    put_key(card, 0x9D, key)
    put_cert(card, 0x9D, make_cert(key, key_usage=["key_agreement"]))
    token, _ = open_piv(card)
    token.login(CKU.USER, PIN)
    with pytest.raises(errors.KeyFunctionNotPermitted):  # type: ignore[attr-defined]
        token.sign(find(token, "private", 0x9D), CKM.ECDSA, None, b"\x00" * 32)


def test_ed25519_and_x25519() -> None:
    card = VirtualYubiKey(firmware=(5, 7, 2))
    ed = ed25519.Ed25519PrivateKey.generate()
    xk = x25519.X25519PrivateKey.generate()
    put_key(card, 0x9A, ed)
    put_key(card, 0x9D, xk)
    token, _ = open_piv(card)
    token.login(CKU.USER, PIN)
    message = b"ed25519 message, not a hash"
    signature = token.sign(find(token, "private", 0x9A), CKM.EDDSA, None, message)
    ed.public_key().verify(signature, message)
    with pytest.raises(errors.MechanismParamInvalid):  # type: ignore[attr-defined]
        token.sign(find(token, "private", 0x9A), CKM.EDDSA, EddsaParams(True, b""), message)
    peer = x25519.X25519PrivateKey.generate()
    peer_raw = peer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    secret = token.derive(find(token, "private", 0x9D), CKM.ECDH1_DERIVE, Ecdh1DeriveParams(CKD.NULL, b"", peer_raw))
    assert secret == peer.exchange(xk.public_key())


# ------------------------------------------------------------------ PINs
def test_wrong_pins_count_down_are_never_retried_and_lock() -> None:
    card = VirtualYubiKey()
    token, _ = open_piv(card)
    for left, flag in ((2, TokenFlag.USER_PIN_COUNT_LOW), (1, TokenFlag.USER_PIN_FINAL_TRY)):
        before = token.protocol.apdu_count
        with pytest.raises(errors.PinIncorrect) as raised:
            token.login(CKU.USER, b"999999")
        assert raised.value.tries_left == left
        assert token.protocol.apdu_count - before == 1  # exactly one VERIFY
        assert token.info().flags & flag
    with pytest.raises(errors.PinIncorrect) as raised:
        token.login(CKU.USER, b"999999")
    assert raised.value.tries_left == 0
    assert token.info().flags & TokenFlag.USER_PIN_LOCKED
    with pytest.raises(errors.PinLocked):  # type: ignore[attr-defined]
        token.login(CKU.USER, PIN)


def test_pin_length_is_checked_before_anything_is_sent() -> None:
    token, _ = open_piv(VirtualYubiKey())
    before = token.protocol.apdu_count
    for pin in (b"12345", b"123456789"):
        with pytest.raises(errors.PinLenRange):  # type: ignore[attr-defined]
            token.login(CKU.USER, pin)
    assert token.protocol.apdu_count == before


def test_pin_counter_flags_without_metadata_come_from_an_empty_verify() -> None:
    card = VirtualYubiKey(firmware=(5, 2, 7))
    token, _ = open_piv(card)
    with pytest.raises(errors.PinIncorrect):
        token.login(CKU.USER, b"000000")
    assert token.info().flags & TokenFlag.USER_PIN_COUNT_LOW == 0  # the total is unknown without metadata
    with pytest.raises(errors.PinIncorrect):
        token.login(CKU.USER, b"000000")
    assert token.info().flags & TokenFlag.USER_PIN_FINAL_TRY


def test_logout_drops_the_card_pin_status_and_forgets_the_pin(ec_card) -> None:
    token, _, _, card = ec_card
    assert card.piv.pin_verified
    token.logout()
    assert not card.piv.pin_verified
    assert token._pin is None
    with pytest.raises(errors.UserNotLoggedIn):  # type: ignore[attr-defined]
        token.sign(find(token, "private", 0x9A), CKM.ECDSA, None, b"\x00" * 32)


def test_digital_signature_key_needs_a_context_specific_login_each_time() -> None:
    card = VirtualYubiKey()
    key = ec.generate_private_key(ec.SECP256R1())
    put_key(card, 0x9C, key)
    token, _ = open_piv(card)
    token.login(CKU.USER, PIN)
    private = find(token, "private", 0x9C)
    token.login(CKU.CONTEXT_SPECIFIC, PIN)
    signature = token.sign(private, CKM.ECDSA, None, b"\x01" * 32)
    key.public_key().verify(ecdsa_der(signature), b"\x01" * 32, ec.ECDSA(Prehashed(hashes.SHA256())))
    # the second use without a new context login must not be "rescued" with the cached PIN
    with pytest.raises(errors.UserNotLoggedIn):  # type: ignore[attr-defined]
        token.sign(private, CKM.ECDSA, None, b"\x01" * 32)


# -------------------------------------------------------------------- SO
@pytest.mark.parametrize("firmware", [(5, 7, 2), (5, 2, 7)])
def test_so_login_with_the_management_key_and_key_generation(firmware) -> None:
    card = VirtualYubiKey(firmware=firmware)
    token, _ = open_piv(card)
    with pytest.raises(errors.PinIncorrect):
        token.login(CKU.SO, b"00" * 24)
    with pytest.raises(errors.PinLenRange):  # type: ignore[attr-defined]
        token.login(CKU.SO, b"0102")
    token.login(CKU.SO, MGMT_HEX)
    public, private = token.generate_key_pair(
        CKM.EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107")}, {CKA.ID: b"\x05"})
    assert private.ref == ("private", 0x82) and private.attributes[CKA.LOCAL] is True
    assert public.attributes[CKA.CLASS] == CKO.PUBLIC_KEY
    with pytest.raises(errors.KeySizeRange):  # type: ignore[attr-defined]
        token.generate_key_pair(CKM.RSA_PKCS_KEY_PAIR_GEN, {CKA.MODULUS_BITS: 1000}, {CKA.ID: b"\x01"})
    token.logout()
    token.login(CKU.USER, PIN)
    signature = token.sign(private, CKM.ECDSA, None, b"\x02" * 32)
    loaded = serialization.load_der_public_key(public.attributes[CKA.PUBLIC_KEY_INFO])
    loaded.verify(ecdsa_der(signature), b"\x02" * 32, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_so_stores_and_deletes_a_certificate() -> None:
    card = VirtualYubiKey()
    key = ec.generate_private_key(ec.SECP256R1())
    put_key(card, 0x9A, key)
    token, _ = open_piv(card)
    token.objects()
    with pytest.raises(errors.UserNotLoggedIn):  # type: ignore[attr-defined]
        token.create_object({CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x01", CKA.VALUE: b"x"})
    token.login(CKU.SO, MGMT_HEX)
    der = make_cert(key, "bob").public_bytes(serialization.Encoding.DER)
    cert = token.create_object({CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x01", CKA.VALUE: der})
    assert cert.ref == ("certificate", 0x9A) and cert.attributes[CKA.VALUE] == der
    assert card.piv.objects[0x5FC105]
    token.destroy_object(cert)
    assert 0x5FC105 not in card.piv.objects
    assert ("certificate", 0x9A) not in {obj.ref for obj in token.objects()}
    assert ("private", 0x9A) in {obj.ref for obj in token.objects()}


# --------------------------------------------------------------- sharing
def test_another_program_selecting_another_applet_is_recovered_transparently(ec_card) -> None:
    token, p256, _, card = ec_card
    slot = token.transport.slot
    other = InProcessTransport(slot)
    private = find(token, "private", 0x9A)
    other.transmit(bytes.fromhex("00A4040008A000000527471117"))  # the management applet
    before = token.protocol.apdu_count
    signature = token.sign(private, CKM.ECDSA, None, b"\x03" * 32)
    # failed GA (6D00) + SELECT + VERIFY (we are logged in) + GA again
    assert token.protocol.apdu_count - before == 4
    p256.public_key().verify(ecdsa_der(signature), b"\x03" * 32, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_a_reset_by_another_program_restores_login_and_bumps_the_generation() -> None:
    card = VirtualYubiKey()
    key = ec.generate_private_key(ec.SECP256R1())
    put_key(card, 0x9A, key)
    slot = InProcessSlot(card)
    token, _ = open_piv(card, slot)
    private = find(token, "private", 0x9A)
    token.login(CKU.USER, PIN)
    generation = token.presence_generation
    slot.reset()
    signature = token.sign(private, CKM.ECDSA, None, b"\x04" * 32)
    key.public_key().verify(ecdsa_der(signature), b"\x04" * 32, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert token.presence_generation != generation
    assert card.piv.pin_verified
    before = token.protocol.apdu_count
    assert ("private", 0x9A) in {obj.ref for obj in token.objects()}
    assert token.protocol.apdu_count > before  # another program may have changed keys: re-read


def test_after_a_reset_the_pin_is_not_sent_when_we_are_not_logged_in() -> None:
    card = VirtualYubiKey()
    put_key(card, 0x9E, ec.generate_private_key(ec.SECP256R1()), pin_policy=POLICY_NEVER)
    slot = InProcessSlot(card)
    token, transport = open_piv(card, slot)
    private = find(token, "private", 0x9E)
    sent = []
    original = transport.transmit
    transport.transmit = lambda apdu: sent.append(bytes(apdu)) or original(apdu)  # type: ignore[method-assign]
    slot.reset()
    token.sign(private, CKM.ECDSA, None, b"\x05" * 32)
    assert [apdu[1] for apdu in sent] == [0xA4, 0x87]  # SELECT, GENERAL AUTHENTICATE: no VERIFY


def test_removed_card_is_device_removed(ec_card) -> None:
    token, _, _, _ = ec_card
    token.transport.slot.remove()
    with pytest.raises(errors.DeviceRemoved):  # type: ignore[attr-defined]
        token.sign(find(token, "private", 0x9A), CKM.ECDSA, None, b"\x00" * 32)


def test_generate_random_is_the_host_csprng() -> None:
    token, _ = open_piv(VirtualYubiKey())
    before = token.protocol.apdu_count
    assert len(token.generate_random(33)) == 33 and token.generate_random(16) != token.generate_random(16)
    assert token.protocol.apdu_count == before


@pytest.mark.parametrize("generic", [True, False])
def test_logout_uses_verify_reset_on_generic_piv_and_reselect_on_yubikey(generic) -> None:
    outer = GenericPivCard() if generic else VirtualYubiKey()
    card = outer.inner if generic else outer
    transport = InProcessTransport(outer)
    token = open_token(transport)
    token.login(CKU.USER, PIN)
    sent = []
    original = transport.transmit
    transport.transmit = lambda apdu: sent.append(bytes(apdu)) or original(apdu)  # type: ignore[method-assign]
    token.logout()
    assert not card.piv.pin_verified
    expected = bytes.fromhex("0020FF80") if generic else bytes.fromhex("00A40400")
    assert [apdu[:4] for apdu in sent] == [expected]


def test_wrong_pin_error_text_holds_no_pin() -> None:
    token, _ = open_piv(VirtualYubiKey())
    with pytest.raises(errors.PinIncorrect) as raised:
        token.login(CKU.USER, b"314159")
    assert "314159" not in str(raised.value) and "3331343135" not in str(raised.value)


def test_a_touch_that_never_comes_is_canceled_not_retried_with_the_pin() -> None:
    card = VirtualYubiKey()
    key = ec.generate_private_key(ec.SECP256R1())
    put_key(card, 0x9A, key)
    card.piv.keys[0x9A].touch_policy = 2  # always
    token, _ = open_piv(card)
    token.login(CKU.USER, PIN)
    private = find(token, "private", 0x9A)
    card.touch_mode = "timeout"
    before = token.protocol.apdu_count
    with pytest.raises(errors.FunctionCanceled):  # type: ignore[attr-defined]
        token.sign(private, CKM.ECDSA, None, b"\x06" * 32)
    assert token.protocol.apdu_count - before == 2  # GA (6982), empty VERIFY (9000): no re-VERIFY, no retry
    assert card.touch_count == 1
    card.touch_mode = "confirm"
    signature = token.sign(private, CKM.ECDSA, None, b"\x06" * 32)
    key.public_key().verify(ecdsa_der(signature), b"\x06" * 32, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_generic_piv_card_uses_short_apdus_with_chaining_for_rsa_2048() -> None:
    outer = GenericPivCard()
    key = rsa_key(2048)
    put_key(outer.inner, 0x9A, key)
    put_cert(outer.inner, 0x9A, make_cert(key))
    token = open_token(InProcessTransport(outer))
    assert not token.protocol.extended
    token.login(CKU.USER, PIN)
    private = find(token, "private", 0x9A)
    digest = hashlib.sha256(b"generic").digest()
    before = token.protocol.apdu_count
    signature = token.sign(private, CKM.RSA_PKCS, None, rsa_padding.digest_info("sha256", digest))
    # 2 chained command APDUs + the answer in 256 bytes + one GET RESPONSE
    assert token.protocol.apdu_count - before == 3
    key.public_key().verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
