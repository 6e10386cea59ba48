"""The Python API end to end against the in-process virtual YubiKey: the real
engine, PIV token, APDU layer and simulated card, no PC/SC. Every signature is
checked with :mod:`cryptography` against the host copy of the key, every
decryption and ECDH secret against a host computation."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, x25519

import cardki
from cardki import api, errors
from cardki.api import CKA, CKD, CKK, CKM, CKO
from cardki.constants import CKR
from cardki.cryptoki import limits
from provisioning import KEY_IDS, MANAGEMENT_KEY, PIN, provisioned_state, provisioned_yubikey


@pytest.fixture
def card() -> Tuple[Any, Dict[int, Any]]:
    return provisioned_yubikey()


@pytest.fixture
def lib(card: Tuple[Any, Dict[int, Any]]) -> Iterator[api.Library]:
    with api.open(virtual_card=card[0]) as library:
        yield library


@pytest.fixture
def keys(card: Tuple[Any, Dict[int, Any]]) -> Dict[int, Any]:
    return card[1]


@pytest.fixture
def session(lib: api.Library) -> Iterator[api.Session]:
    with lib.get_token().open(user_pin=PIN) as opened:
        yield opened


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


# ------------------------------------------------------------------ library, slot, token

def test_the_virtual_yubikey_shows_its_piv_and_openpgp_slots_and_says_so(lib: api.Library) -> None:
    slots = lib.slots()
    assert len(slots) == 2  # one per applet: PIV in the reader's slot, OpenPGP in its own
    for slot in slots:
        assert slot.is_virtual and slot.token_present
        assert "virtual" in slot.description
    assert slots[1].description == slots[0].description + " (OpenPGP)"
    assert [slot.token.label for slot in slots] == ["YubiKey PIV #12345678", "YubiKey OpenPGP #12345678"]


def test_token_describes_the_yubikey(lib: api.Library) -> None:
    token = lib.get_token()
    assert token.serial.endswith("12345678")
    assert "Yubico" in token.manufacturer
    assert "YubiKey" in token.model
    assert api.TokenFlag.TOKEN_INITIALIZED in token.flags
    assert api.TokenFlag.LOGIN_REQUIRED in token.flags
    assert lib.get_token(serial=token.serial).label == token.label
    with pytest.raises(errors.TokenNotPresent):  # type: ignore[attr-defined]
        lib.get_token(label="no such token")


def test_token_mechanisms_carry_names_and_flags(lib: api.Library) -> None:
    mechanisms = lib.get_token().mechanisms
    for mech in (CKM.SHA256_RSA_PKCS, CKM.ECDSA_SHA256, CKM.EDDSA, CKM.RSA_PKCS_OAEP, CKM.ECDH1_DERIVE):
        assert mech in mechanisms, api.mechanism_name(mech)
    info = mechanisms[CKM.SHA256_RSA_PKCS]
    assert info.name == "CKM_SHA256_RSA_PKCS"
    assert api.MechanismFlag.SIGN in info.flags and info.max_key_size >= 2048
    assert api.MechanismFlag.DERIVE in mechanisms[CKM.ECDH1_DERIVE].flags


def test_session_closes_on_exit(lib: api.Library) -> None:
    token = lib.get_token()
    with token.open() as opened:
        handle = opened.handle
        assert lib.engine.get_session_info(handle).slot_id == token.slot.slot_id
    with pytest.raises(errors.SessionHandleInvalid):  # type: ignore[attr-defined]
        lib.engine.get_session_info(handle)


def test_library_close_finalizes(card: Tuple[Any, Dict[int, Any]]) -> None:
    library = api.Library(virtual_card=card[0])
    library.close()
    with pytest.raises(errors.CryptokiNotInitialized):  # type: ignore[attr-defined]
        library.engine.get_slot_list(False)
    library.close()  # idempotent


def test_cardki_open_is_the_package_entry_point(card: Tuple[Any, Dict[int, Any]]) -> None:
    with cardki.open(virtual_card=card[0]) as library:  # type: ignore[attr-defined]
        assert library.slots()[0].is_virtual


# ------------------------------------------------------------------ objects

def test_certificates_are_public_and_convert_to_cryptography(lib: api.Library, keys: Dict[int, Any]) -> None:
    with lib.get_token().open() as public_session:
        certificates = {cert.id: cert for cert in public_session.certificates()}
        for slot, key_id in KEY_IDS.items():
            cert = certificates[key_id]
            assert isinstance(cert, api.Certificate)
            assert cert.subject == f"CN=cardki test {slot:02X}"
            x509_cert = cert.to_cryptography()
            assert x509_cert.serial_number == slot
            assert _spki(x509_cert.public_key()) == _spki(keys[slot].public_key())
            assert cert.value == x509_cert.public_bytes(serialization.Encoding.DER)


def test_objects_read_through_a_closed_session_fail_with_the_engine_error(lib: api.Library) -> None:
    with lib.get_token().open() as public_session:
        cert = public_session.certificates()[0]
    with pytest.raises(errors.SessionHandleInvalid):
        _ = cert.value


def test_capability_mixins_follow_the_attributes(session: api.Session) -> None:
    def private(key_id: bytes) -> Any:
        return session.get_key(object_class=CKO.PRIVATE_KEY, id=key_id)

    rsa_key = private(b"\x01")
    assert isinstance(rsa_key, api.PrivateKey) and rsa_key.key_type == CKK.RSA
    assert hasattr(rsa_key, "sign") and hasattr(rsa_key, "decrypt") and not hasattr(rsa_key, "derive")
    assert rsa_key.key_length == 2048
    ed = private(b"\x04")
    assert ed.key_type == CKK.EC_EDWARDS and hasattr(ed, "sign") and not hasattr(ed, "derive")
    xk = private(b"\x05")
    assert xk.key_type == CKK.EC_MONTGOMERY and hasattr(xk, "derive") and not hasattr(xk, "sign")
    key_mgmt = private(b"\x03")  # the card signs with 9D too
    assert hasattr(key_mgmt, "derive") and hasattr(key_mgmt, "sign") and not hasattr(key_mgmt, "decrypt")
    always = private(b"\x02")  # PIN always: signs, but no C_DeriveKey (it has no *Init for the PIN)
    assert always.always_authenticate and not rsa_key.always_authenticate
    assert hasattr(always, "sign") and not hasattr(always, "derive")
    attestation = private(b"\x19")
    assert not hasattr(attestation, "sign") and not hasattr(attestation, "decrypt")
    public = session.get_key(object_class=CKO.PUBLIC_KEY, id=b"\x01")
    assert isinstance(public, api.PublicKey)
    assert hasattr(public, "verify") and hasattr(public, "encrypt") and not hasattr(public, "sign")


def test_listing_by_class(session: api.Session) -> None:
    private_ids = {key.id for key in session.private_keys()}
    public_ids = {key.id for key in session.public_keys()}
    assert set(KEY_IDS.values()) <= private_ids
    assert set(KEY_IDS.values()) <= public_ids
    assert all(isinstance(key, api.Key) for key in session.keys())
    every = session.objects()
    assert len(every) >= len(session.keys()) + len(session.certificates())


def test_public_keys_convert_to_cryptography(session: api.Session, keys: Dict[int, Any]) -> None:
    for slot, key_id in KEY_IDS.items():
        public = session.get_key(object_class=CKO.PUBLIC_KEY, id=key_id)
        assert _spki(public.to_cryptography()) == _spki(keys[slot].public_key()), hex(slot)


def test_get_key_reports_none_and_many(session: api.Session) -> None:
    with pytest.raises(api.NoSuchKey, match="id 7f"):
        session.get_key(id=b"\x7f")
    with pytest.raises(api.MultipleObjectsReturned):
        session.get_key(id=b"\x01")  # the private and the public key


# ------------------------------------------------------------------ signing

def test_rsa_sign_default_is_sha256_pkcs1(session: api.Session, keys: Dict[int, Any]) -> None:
    key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x01")
    signature = key.sign(b"hello")
    keys[0x9A].public_key().verify(signature, b"hello", padding.PKCS1v15(), hashes.SHA256())
    assert key.public_key().verify(b"hello", signature)
    assert not key.public_key().verify(b"hellO", signature)


def test_rsa_sign_pss_with_default_and_explicit_parameters(session: api.Session, keys: Dict[int, Any]) -> None:
    key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x01")
    public = keys[0x9A].public_key()
    signature = key.sign(b"data", CKM.SHA256_RSA_PKCS_PSS)
    public.verify(signature, b"data", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    params = api.rsa_pss_params(CKM.SHA384, salt_len=20)
    signature = key.sign(b"data", CKM.SHA384_RSA_PKCS_PSS, params)
    public.verify(signature, b"data", padding.PSS(padding.MGF1(hashes.SHA384()), 20), hashes.SHA384())
    assert key.public_key().verify(b"data", signature, CKM.SHA384_RSA_PKCS_PSS, params)


def test_ecdsa_p256_needs_the_pin_for_each_use(lib: api.Library, keys: Dict[int, Any]) -> None:
    with lib.get_token().open(user_pin=PIN) as opened:
        key = opened.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x02")
        with pytest.raises(errors.CryptokiError) as info:
            key.sign(b"no pin")
        assert info.value.rv == CKR.USER_NOT_LOGGED_IN
        raw = key.sign(b"message", pin=PIN)
        assert len(raw) == 64
        keys[0x9C].public_key().verify(api.ecdsa_raw_to_der(raw), b"message", ec.ECDSA(hashes.SHA256()))
        assert key.public_key().verify(b"message", raw)
    with lib.get_token().open(user_pin=PIN, context_pin=PIN) as opened:
        key = opened.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x02")
        der = key.sign(b"message", to_der=True)
        keys[0x9C].public_key().verify(der, b"message", ec.ECDSA(hashes.SHA256()))
        assert key.public_key().verify(b"message", der)  # DER accepted as well


def test_a_wrong_pin_for_a_pin_always_key_leaves_the_session_usable(session: api.Session,
                                                                   keys: Dict[int, Any]) -> None:
    always = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x02")
    with pytest.raises(errors.PinIncorrect):
        always.sign(b"message", pin="000000")
    rsa = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x01")
    keys[0x9A].public_key().verify(rsa.sign(b"message"), b"message", padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(errors.UserNotLoggedIn):
        always.sign(b"message")
    raw = always.sign(b"message", pin=PIN)
    keys[0x9C].public_key().verify(api.ecdsa_raw_to_der(raw), b"message", ec.ECDSA(hashes.SHA256()))


def test_ecdsa_p384_with_sha384(session: api.Session, keys: Dict[int, Any]) -> None:
    key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x06")
    raw = key.sign(b"p384", CKM.ECDSA_SHA384)
    assert len(raw) == 96
    keys[0x83].public_key().verify(api.ecdsa_raw_to_der(raw), b"p384", ec.ECDSA(hashes.SHA384()))


def test_ed25519_signs_with_eddsa_by_default(session: api.Session, keys: Dict[int, Any]) -> None:
    key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x04")
    signature = key.sign(b"edwards")
    keys[0x9E].public_key().verify(signature, b"edwards")
    assert key.public_key().verify(b"edwards", signature)


def test_signing_needs_a_login(lib: api.Library) -> None:
    with lib.get_token().open() as public_session:
        with pytest.raises((errors.CryptokiError, api.NoSuchKey)) as info:
            public_session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x01").sign(b"x")
        if isinstance(info.value, errors.CryptokiError):
            assert info.value.rv == CKR.USER_NOT_LOGGED_IN


# ------------------------------------------------------------------ decrypt, encrypt, derive

def test_rsa_decrypt_pkcs1_and_oaep(session: api.Session, keys: Dict[int, Any]) -> None:
    key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x01")
    public = keys[0x9A].public_key()
    assert key.decrypt(public.encrypt(b"secret", padding.PKCS1v15())) == b"secret"
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    assert key.decrypt(public.encrypt(b"oaep secret", oaep), CKM.RSA_PKCS_OAEP) == b"oaep secret"


def test_public_key_encrypts_for_the_card(session: api.Session) -> None:
    public = session.get_key(object_class=CKO.PUBLIC_KEY, id=b"\x01")
    private = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x01")
    assert private.decrypt(public.encrypt(b"round trip")) == b"round trip"
    ciphertext = public.encrypt(b"oaep trip", CKM.RSA_PKCS_OAEP)
    assert private.decrypt(ciphertext, CKM.RSA_PKCS_OAEP) == b"oaep trip"


def test_ecdh_p256_matches_the_host(session: api.Session, keys: Dict[int, Any]) -> None:
    key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x03")
    peer = ec.generate_private_key(ec.SECP256R1())
    secret = key.derive(peer.public_key())
    assert secret == peer.exchange(ec.ECDH(), keys[0x9D].public_key())


def test_x25519_derive_as_bytes_and_as_object(session: api.Session, keys: Dict[int, Any]) -> None:
    key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x05")
    peer = x25519.X25519PrivateKey.generate()
    expected = peer.exchange(keys[0x82].public_key())
    assert key.derive(peer.public_key()) == expected
    secret_key = key.derive(peer.public_key(), as_object=True,
                            template={api.CKA.SENSITIVE: False, api.CKA.EXTRACTABLE: True})
    assert isinstance(secret_key, api.SecretKey)
    assert secret_key.value == expected


# ------------------------------------------------------------------ other operations, errors

def test_random_and_digest(session: api.Session) -> None:
    first, second = session.generate_random(32), session.generate_random(32)
    assert len(first) == 32 and first != second
    assert session.digest(b"abc") == hashlib.sha256(b"abc").digest()
    assert session.digest(b"abc", CKM.SHA384) == hashlib.sha384(b"abc").digest()


def test_wrong_pin_raises_pin_incorrect_with_tries_left_and_leaves_no_session(lib: api.Library) -> None:
    token = lib.get_token()
    with pytest.raises(errors.PinIncorrect) as info:
        token.open(user_pin="654321")
    assert info.value.rv == CKR.PIN_INCORRECT
    assert info.value.tries_left == 2
    assert "654321" not in str(info.value)
    assert lib.engine.get_token_info(token.slot.slot_id).session_count == 0


def test_so_login_with_the_management_key(lib: api.Library) -> None:
    from provisioning import MANAGEMENT_KEY

    with lib.get_token().open(rw=True, so_pin=MANAGEMENT_KEY) as so_session:
        assert so_session.info.state == 4  # CKS_RW_SO_FUNCTIONS
    with pytest.raises(ValueError):
        lib.get_token().open(user_pin=PIN, so_pin=MANAGEMENT_KEY)


def test_virtual_state_file_persists_the_card(tmp_path: Path) -> None:
    from hwsim.statefile import load_state, save_state

    path = tmp_path / "card.json"
    save_state(path, provisioned_state())
    with api.open(virtual_state=str(path)) as library:
        with library.get_token().open() as opened:
            assert {cert.id for cert in opened.certificates()} >= set(KEY_IDS.values())
        with pytest.raises(errors.PinIncorrect):
            library.get_token().open(user_pin="000000")
    saved = load_state(path)
    assert saved is not None and saved["piv"]["pin_retries_left"] == 2


def test_an_unusable_virtual_state_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text('{"format": 99}')
    with pytest.raises(api.VirtualStateError) as raised:
        api.open(virtual_state=str(path))
    assert str(raised.value) == (f"the virtual card state {path} cannot be used: "
                                 "its format 99 is newer than this version reads (2)")


def test_a_failed_save_of_the_virtual_state_does_not_hide_the_error_of_the_block() -> None:
    unsavable = "/proc/cardki-no-such-directory/card.json"  # procfs makes no directories
    with pytest.raises(errors.PinIncorrect) as raised:
        with api.open(virtual_state=unsavable) as library:
            library.get_token().open(user_pin="999999")
    assert raised.value.__notes__ == [f"the virtual card was not saved to {unsavable}: No such file or directory"]
    with pytest.raises(api.VirtualStateError):
        with api.open(virtual_state=unsavable):
            pass


def test_generate_keypair_as_so_then_use_as_user() -> None:
    from provisioning import MANAGEMENT_KEY

    with api.open(virtual=True) as library:
        token = library.get_token()
        with token.open(rw=True, so_pin=MANAGEMENT_KEY) as so_session:
            public, private = so_session.generate_keypair(CKK.EC_EDWARDS, id=b"\x04")
            assert isinstance(public, api.PublicKey) and public.id == b"\x04"
            assert isinstance(private, api.PrivateKey) and private.key_type == CKK.EC_EDWARDS
            ec_public, _ = so_session.generate_keypair(CKK.EC, curve="secp384r1", id=b"\x03")
            assert ec_public.curve == "secp384r1" and ec_public.key_length == 384
            host_public = public.to_cryptography()
            host_ec_public = ec_public.to_cryptography()
        with token.open(user_pin=PIN) as user_session:
            key = user_session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x04")
            host_public.verify(key.sign(b"fresh key"), b"fresh key")
            derive_key = user_session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x03")
            peer = ec.generate_private_key(ec.SECP384R1())
            assert derive_key.derive(peer.public_key()) == peer.exchange(ec.ECDH(), host_ec_public)


def test_a_second_session_shares_the_user_login(lib: api.Library, keys: Dict[int, Any]) -> None:
    token = lib.get_token()
    with token.open(user_pin=PIN) as first:
        with token.open(user_pin=PIN) as second:
            assert second.info.state == 1  # CKS_RO_USER_FUNCTIONS
            signature = second.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x04").sign(b"both")
            keys[0x9E].public_key().verify(signature, b"both")
        assert first.info.state == 1  # closing the second session did not log the first out


# ------------------------------------------------------------------ bad arguments, bounds
# The spec's code, never CKR_GENERAL_ERROR; the host computes only within cardki.cryptoki.limits.

LONE_SURROGATE = "card\udc80ki"  # what os.fsdecode makes of an undecodable byte


def test_a_label_that_utf8_cannot_encode_is_an_invalid_attribute_value(lib: api.Library,
                                                                       session: api.Session) -> None:
    searches = [lambda: session.keys(label=LONE_SURROGATE), lambda: session.certificates(label=LONE_SURROGATE),
                lambda: session.objects({CKA.LABEL: LONE_SURROGATE}),
                lambda: session.objects({CKA.APPLICATION: LONE_SURROGATE}),
                lambda: session.objects({CKA.ID: LONE_SURROGATE})]  # a byte array given as str
    for search in searches:
        with pytest.raises(errors.AttributeValueInvalid) as raised:
            search()
        assert "\udc80" not in str(raised.value)
    with pytest.raises(errors.AttributeValueInvalid):
        lib.engine.create_object(session.handle, {CKA.CLASS: CKO.DATA, CKA.LABEL: LONE_SURROGATE})
    assert len(session.private_keys()) > 0, "the session is still usable"


def test_a_generated_key_label_that_utf8_cannot_encode_is_an_invalid_attribute_value(lib: api.Library) -> None:
    with lib.get_token().open(rw=True, so_pin=MANAGEMENT_KEY) as so:
        with pytest.raises(errors.AttributeValueInvalid):
            so.generate_keypair(CKK.EC, curve="secp256r1", id=b"\x05", label=LONE_SURROGATE)


def test_a_pin_that_utf8_cannot_encode_is_pin_invalid_and_not_quoted(lib: api.Library,
                                                                     session: api.Session) -> None:
    token = lib.get_token()
    session.logout()
    with pytest.raises(errors.PinInvalid) as raised:
        token.open(user_pin="12\udc803456")
    assert "\udc80" not in str(raised.value) and "12" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__context__ is None, "no exception holding the PIN"
    session.login(PIN)
    always_pin_key: Any = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x02")
    with pytest.raises(errors.PinInvalid):
        always_pin_key.sign(b"data", pin="\udcff" * 6)


def test_pss_salt_lengths_beyond_any_key_are_a_mechanism_parameter_error(session: api.Session) -> None:
    private: Any = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x01")
    public = private.public_key()
    signature = private.sign(b"data", CKM.SHA256_RSA_PKCS_PSS)
    for salt in (2 ** 63, 2 ** 64 - 1, limits.PSS_MAX_SALT_LENGTH + 1):
        parameter = api.rsa_pss_params(CKM.SHA256, salt_len=salt)
        with pytest.raises(errors.MechanismParamInvalid):
            private.sign(b"data", CKM.SHA256_RSA_PKCS_PSS, parameter)
        with pytest.raises(errors.MechanismParamInvalid):
            public.verify(b"data", signature, CKM.SHA256_RSA_PKCS_PSS, parameter)
    assert public.verify(b"data", signature, CKM.SHA256_RSA_PKCS_PSS)


def test_derived_key_lengths_are_bounded(session: api.Session) -> None:
    key: Any = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x03")
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    for length in (2 ** 37, 256 << 20, limits.MAX_DERIVED_KEY_LENGTH + 1, 0, 2 ** 64 - 1):
        with pytest.raises(errors.AttributeValueInvalid):
            key.derive(peer, kdf=CKD.SHA256_KDF, template={CKA.VALUE_LEN: length})
    longest = key.derive(peer, kdf=CKD.SHA256_KDF, template={CKA.VALUE_LEN: limits.MAX_DERIVED_KEY_LENGTH})
    assert len(longest) == limits.MAX_DERIVED_KEY_LENGTH
    with pytest.raises(errors.MechanismParamInvalid):
        key.derive(peer, kdf=CKD.SHA1_KDF, shared_data=bytes(limits.MAX_KDF_SHARED_DATA_LENGTH + 1))
    assert len(key.derive(peer, kdf=CKD.SHA1_KDF, shared_data=bytes(limits.MAX_KDF_SHARED_DATA_LENGTH))) == 20


def test_random_lengths_are_bounded(session: api.Session) -> None:
    with pytest.raises(errors.ArgumentsBad):
        session.generate_random(limits.MAX_RANDOM_LENGTH + 1)
    with pytest.raises(errors.ArgumentsBad):
        session.generate_random(2 ** 64)
    assert len(session.generate_random(limits.MAX_RANDOM_LENGTH)) == limits.MAX_RANDOM_LENGTH


def _rsa_public_key(modulus: int, exponent: int) -> Dict[int, Any]:
    return {CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: CKK.RSA,
            CKA.MODULUS: modulus.to_bytes((modulus.bit_length() + 7) // 8, "big"),
            CKA.PUBLIC_EXPONENT: exponent.to_bytes((exponent.bit_length() + 7) // 8, "big"), CKA.VERIFY: True}


def test_session_rsa_public_keys_are_bounded(lib: api.Library, session: api.Session) -> None:
    engine = lib.engine
    largest = (1 << (limits.RSA_MAX_MODULUS_BITS - 1)) | 1
    refused = {
        "modulus too long": _rsa_public_key((1 << limits.RSA_MAX_MODULUS_BITS) | 1, 65537),
        "exponent too long": _rsa_public_key(largest, (1 << limits.RSA_MAX_PUBLIC_EXPONENT_BITS) + 1),
        "huge exponent": _rsa_public_key(largest, (1 << 16000) + 1),
        "even exponent": _rsa_public_key(largest, 65536),
        "exponent 1": _rsa_public_key(largest, 1),
        "even modulus": _rsa_public_key(largest - 1, 65537),
    }
    for why, template in refused.items():
        with pytest.raises(errors.AttributeValueInvalid):
            engine.create_object(session.handle, template)
        assert why
    handle = engine.create_object(session.handle, _rsa_public_key(largest, (1 << limits.RSA_MAX_PUBLIC_EXPONENT_BITS) - 1))
    engine.verify_init(session.handle, CKM.RSA_X_509, handle)
    with pytest.raises(errors.SignatureInvalid):
        engine.verify(session.handle, b"data", bytes(limits.RSA_MAX_MODULUS_BITS // 8 - 1) + b"\x02")


def test_ec_parameters_longer_than_any_named_curve_are_not_parsed() -> None:
    from cardki.cryptoki.hostcrypto import curve_from_params

    giant_oid = b"\x06\x83" + (100002).to_bytes(3, "big") + b"\x2a" + b"\xff" * 100000 + b"\x01"
    with pytest.raises(errors.CurveNotSupported):
        curve_from_params(giant_oid)
    assert curve_from_params(bytes.fromhex("06082a8648ce3d030107")).name == "secp256r1"
