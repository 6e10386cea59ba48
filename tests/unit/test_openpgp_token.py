"""The OpenPGP token (cardki.token.openpgp.token) against the simulator in process:
the YubiKey's OpenPGP application beside its PIV one, and the plain OpenPGP 3.4
card. APDUs are counted by the in-process reader; every signature, decryption and
ECDH secret is checked here with cryptography against the host's copy of the key."""

from __future__ import annotations

import hashlib
from typing import Any, List, Tuple

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from cardki import errors
from cardki.constants import CKA, CKK, CKM, CKO, CKU, TokenFlag
from cardki.curves import curve_by_name
from cardki.slot.inprocess import InProcessSlot, InProcessTransport
from cardki.token import OpenPgpToken, PivToken, Token, open_tokens
from cardki.token.base import TokenObject
from cardki.token.deferred import DeferredToken
from cardki.token.openpgp import Kdf, KeyRef, OpenPgpCard, Pw
from cardki.token.openpgp.driver import CarriedOpenPgpToken
from cardki.token.openpgp.keys import v4_fingerprint
from cardki.token.rsa_padding import digest_info
from hwsim.openpgp import Uif
from hwsim.openpgp_card import VirtualOpenPgpCard
from hwsim.openpgp_keys import KeyRef as SimKeyRef
from hwsim.yubikey import VirtualYubiKey
from provisioning import OPENPGP_ADMIN, OPENPGP_PIN, PIN, provision, provision_openpgp

DIGEST = hashlib.sha256(b"signed on the OpenPGP application").digest()


def open_card(card: Any) -> Tuple[InProcessSlot, List[Any]]:
    slot = InProcessSlot(card)
    return slot, list(open_tokens(InProcessTransport(slot)))


def yubikey(layout: str = "ec", **options: Any) -> Tuple[InProcessSlot, PivToken, OpenPgpToken, dict]:
    card = VirtualYubiKey()
    provision(card)
    keys = provision_openpgp(card, layout, **options)
    slot, tokens = open_card(card)
    piv, openpgp = tokens
    assert isinstance(piv, PivToken) and isinstance(openpgp, CarriedOpenPgpToken)
    return slot, piv, openpgp.built(), keys


def plain(layout: str = "ec", **options: Any) -> Tuple[InProcessSlot, OpenPgpToken, dict]:
    card = VirtualOpenPgpCard()
    keys = provision_openpgp(card, layout, **options)
    slot, tokens = open_card(card)
    (token,) = tokens
    assert isinstance(token, OpenPgpToken)
    return slot, token, keys


def find(token: Any, kind: int, key_id: int) -> TokenObject:
    (found,) = [obj for obj in token.objects() if obj.attributes[CKA.CLASS] == kind
                and obj.attributes[CKA.ID] == bytes([key_id])]
    return found


def verify_ecdsa(public: ec.EllipticCurvePrivateKey, digest: bytes, raw: bytes) -> None:
    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    public.public_key().verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def apdus(slot: InProcessSlot, action: Any) -> Tuple[Any, int]:
    before = slot.apdu_count
    result = action()
    return result, slot.apdu_count - before


# ------------------------------------------------------------------ detection and info

def test_a_yubikey_has_a_piv_and_an_openpgp_token_for_the_cost_of_piv_detection() -> None:
    card = VirtualYubiKey()
    slot = InProcessSlot(card)
    tokens, cost = apdus(slot, lambda: open_tokens(InProcessTransport(slot)))
    assert [type(token) for token in tokens] == [PivToken, CarriedOpenPgpToken]
    # SELECT PIV (the ATR names a YubiKey: no GET VERSION; the serial and the version are
    # read when asked): the YubiKey profile names its OpenPGP profile
    assert cost == 1
    carried = tokens[1]
    assert isinstance(carried, CarriedOpenPgpToken) and not carried.is_built
    assert carried.profile.id == "yubikey-openpgp" and carried.profile.firmware is None  # resolved at the first use
    assert (carried.applet, carried.applet_name, carried.presence_generation) == ("openpgp", "OpenPGP", 0)


def test_a_yubikeys_openpgp_token_is_built_at_its_first_use_without_an_apdu() -> None:
    """It takes the stand-in's place on the card (the keeper gpg's scdaemon needs),
    with the profile detection resolved; its first use costs what it always did."""
    slot = InProcessSlot(VirtualYubiKey())
    piv, carried = open_tokens(InProcessTransport(slot))
    assert isinstance(carried, CarriedOpenPgpToken)
    assert carried.shared.tokens == [piv, carried] and carried.shared.keeper is carried
    token, cost = apdus(slot, carried.built)
    assert cost == 0 and isinstance(token, OpenPgpToken) and carried.built() is token
    assert token.profile is None  # the version is not read yet: resolved at the first operation
    assert carried.shared.tokens == [piv, token] and carried.shared.keeper is token
    info, cost = apdus(slot, carried.info)
    assert cost == 3  # SELECT OpenPGP (PIV was selected), GET DATA 6E, GET VERSION (detection read none)
    assert token.profile is not None and token.profile.id == carried.profile.id
    assert token.profile.firmware == (5, 7, 2)
    assert info.label == "YubiKey OpenPGP #12345678"


def test_the_stand_in_answers_for_every_token_method() -> None:
    """Every call the engine makes on a token reaches the built one (none falls back
    to Token's defaults, which would answer CKR_FUNCTION_NOT_SUPPORTED)."""
    token_methods = {name for name, value in vars(Token).items() if callable(value) and not name.startswith("_")}
    assert token_methods - set(vars(DeferredToken)) == set()


def test_a_plain_openpgp_card_has_one_token() -> None:
    slot = InProcessSlot(VirtualOpenPgpCard())
    tokens, cost = apdus(slot, lambda: open_tokens(InProcessTransport(slot)))
    assert [type(token) for token in tokens] == [OpenPgpToken]
    assert cost == 2  # SELECT PIV (not there), SELECT OpenPGP
    info = tokens[0].info()
    assert tokens[0].profile is not None and tokens[0].profile.id == "generic-openpgp"
    assert (info.label, info.manufacturer_id, info.model, info.serial_number) == (
        "OpenPGP card #12345678", "test card", "OpenPGP 3.4", "12345678")
    assert info.hardware_version == info.firmware_version == (3, 4)


def test_token_info_names_the_yubikey_and_shows_the_pin_counters() -> None:
    slot, piv, token, _ = yubikey()
    info = token.info()
    assert (info.label, info.manufacturer_id, info.serial_number) == ("YubiKey OpenPGP #12345678", "Yubico",
                                                                       "12345678")
    assert (info.min_pin_len, info.max_pin_len, info.firmware_version) == (6, 127, (5, 72))
    flags = TokenFlag(info.flags)
    assert TokenFlag.LOGIN_REQUIRED in flags and TokenFlag.RNG in flags
    assert not flags & (TokenFlag.USER_PIN_COUNT_LOW | TokenFlag.SO_PIN_COUNT_LOW)
    with pytest.raises(errors.PinIncorrect) as wrong:
        token.login(CKU.USER, b"654321")
    assert wrong.value.tries_left == 2  # a YubiKey answers 6982: the count comes from C4
    assert TokenFlag.USER_PIN_COUNT_LOW in TokenFlag(token.info().flags)
    with pytest.raises(errors.PinIncorrect):
        token.login(CKU.USER, b"654321")
    assert TokenFlag.USER_PIN_FINAL_TRY in TokenFlag(token.info().flags)
    with pytest.raises(errors.PinLocked):
        token.login(CKU.USER, b"654321")
    assert TokenFlag.USER_PIN_LOCKED in TokenFlag(token.info().flags)
    with pytest.raises(errors.PinIncorrect):
        token.login(CKU.SO, b"87654321")
    assert TokenFlag.SO_PIN_COUNT_LOW in TokenFlag(token.info().flags)
    _, cost = apdus(slot, token.info)
    assert cost == 1  # GET DATA C4 (fresh every time)


def test_pin_lengths_are_checked_before_anything_is_sent() -> None:
    slot, _, token, _ = yubikey()
    token.info()
    for user, pin in ((CKU.USER, b"12345"), (CKU.SO, b"1234567"), (CKU.USER, b"1" * 128)):
        before = slot.apdu_count
        with pytest.raises(errors.PinLenRange):
            token.login(user, pin)
        assert slot.apdu_count == before
    with pytest.raises(errors.UserTypeInvalid):
        token.login(7, b"123456")


# ------------------------------------------------------------------ objects

def test_keys_and_certificates_with_their_ids_labels_and_uses() -> None:
    _, _, token, keys = yubikey()
    objects = token.objects()
    labels = {(obj.attributes[CKA.CLASS], obj.attributes[CKA.ID]): obj.attributes[CKA.LABEL] for obj in objects}
    for key_id, label in ((1, "Signature key"), (2, "Encryption key"), (3, "Authentication key")):
        for kind in (CKO.PRIVATE_KEY, CKO.PUBLIC_KEY, CKO.CERTIFICATE):
            assert labels[(kind, bytes([key_id]))] == label
    uses = {obj.attributes[CKA.ID]: (obj.attributes[CKA.SIGN], obj.attributes[CKA.DECRYPT], obj.attributes[CKA.DERIVE])
            for obj in objects if obj.attributes[CKA.CLASS] == CKO.PRIVATE_KEY}
    assert uses == {b"\x01": (True, False, False), b"\x02": (False, False, True), b"\x03": (True, False, False)}
    signature_key = find(token, CKO.PRIVATE_KEY, 1)
    assert signature_key.attributes[CKA.ALWAYS_AUTHENTICATE] is False  # a YubiKey says FF: several
    assert signature_key.attributes[CKA.KEY_TYPE] == CKK.EC and signature_key.attributes[CKA.SENSITIVE]
    assert signature_key.attributes[CKA.LOCAL] is False  # imported
    public = find(token, CKO.PUBLIC_KEY, 2)
    expected = keys["dec"].public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    assert public.attributes[CKA.PUBLIC_KEY_INFO] == expected
    assert public.attributes[CKA.EC_PARAMS] == curve_by_name("secp256r1").ec_params  # type: ignore[union-attr]


def test_listing_costs_one_read_per_key_and_certificate_and_finding_one_id_reads_that_key() -> None:
    slot, _, token, _ = yubikey()
    _, cost = apdus(slot, lambda: token.objects_with_id(b"\x01"))
    # SELECT (PIV had the card), 6E, GET VERSION (detection read none: the ATR named the
    # YubiKey), READ PUBLIC KEY, SELECT DATA + GET DATA
    assert cost == 1 + 1 + 1 + 1 + 2
    _, cost = apdus(slot, token.objects)
    assert cost == 2 * 3  # the other two keys; 01 is cached
    _, cost = apdus(slot, token.objects)
    assert cost == 0


def test_a_factory_fresh_card_lists_nothing_and_reads_no_public_key() -> None:
    slot, tokens = open_card(VirtualOpenPgpCard())
    objects, cost = apdus(slot, tokens[0].objects)
    assert objects == []
    assert cost == 1 + 3 * 2  # 6E (DE: no keys), three SELECT DATA + GET DATA 7F21


# ------------------------------------------------------------------ signing, decrypting, deriving

def test_signature_key_gets_verify_81_once_and_the_authentication_key_uses_82() -> None:
    slot, _, token, keys = yubikey()
    sig, aut = find(token, CKO.PRIVATE_KEY, 1), find(token, CKO.PRIVATE_KEY, 3)
    _, cost = apdus(slot, lambda: token.login(CKU.USER, OPENPGP_PIN.encode()))
    assert cost == 2  # GET DATA F9 (the KDF this card has: off), VERIFY 82
    signature, cost = apdus(slot, lambda: token.sign(sig, CKM.ECDSA, None, DIGEST))
    assert cost == 2  # VERIFY 81, PSO:CDS
    verify_ecdsa(keys["sig"], DIGEST, signature)
    signature, cost = apdus(slot, lambda: token.sign(sig, CKM.ECDSA, None, DIGEST))
    assert cost == 1  # still verified: the YubiKey allows several signatures
    verify_ecdsa(keys["sig"], DIGEST, signature)
    signature, cost = apdus(slot, lambda: token.sign(aut, CKM.ECDSA, None, DIGEST))
    assert cost == 1  # INTERNAL AUTHENTICATE after the login's VERIFY 82
    verify_ecdsa(keys["aut"], DIGEST, signature)


def test_pw1_valid_for_one_signature_is_always_authenticate() -> None:
    slot, token, keys = plain(pw1_once=True)
    token.login(CKU.USER, OPENPGP_PIN.encode())
    sig = find(token, CKO.PRIVATE_KEY, 1)
    assert sig.attributes[CKA.ALWAYS_AUTHENTICATE] is True
    assert find(token, CKO.PRIVATE_KEY, 3).attributes[CKA.ALWAYS_AUTHENTICATE] is False
    _, cost = apdus(slot, lambda: pytest.raises(errors.UserNotLoggedIn, token.sign, sig, CKM.ECDSA, None, DIGEST))
    assert cost == 0  # never the stored PIN for a key that wants it again
    for _ in range(2):
        _, cost = apdus(slot, lambda: token.login(CKU.CONTEXT_SPECIFIC, OPENPGP_PIN.encode()))
        assert cost == 1  # VERIFY 81 with the PIN just given
        signature, cost = apdus(slot, lambda: token.sign(sig, CKM.ECDSA, None, DIGEST))
        assert cost == 1
        verify_ecdsa(keys["sig"], DIGEST, signature)
    with pytest.raises(errors.UserNotLoggedIn):  # the card forgot 81 with the signature
        token.sign(sig, CKM.ECDSA, None, DIGEST)


def test_rsa_signature_and_decryption_and_no_pss_oaep_or_raw_rsa() -> None:
    _, token, keys = plain("rsa")
    token.login(CKU.USER, OPENPGP_PIN.encode())
    sig, dec = find(token, CKO.PRIVATE_KEY, 1), find(token, CKO.PRIVATE_KEY, 2)
    assert (dec.attributes[CKA.DECRYPT], dec.attributes[CKA.SIGN], sig.attributes[CKA.DECRYPT]) == (True, False, False)
    signature = token.sign(sig, CKM.RSA_PKCS, None, digest_info("sha256", DIGEST))
    keys["sig"].public_key().verify(signature, DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    ciphertext = keys["dec"].public_key().encrypt(b"a secret for the card", padding.PKCS1v15())
    assert token.decrypt(dec, CKM.RSA_PKCS, None, ciphertext) == b"a secret for the card"
    with pytest.raises(errors.EncryptedDataLenRange):
        token.decrypt(dec, CKM.RSA_PKCS, None, ciphertext[1:])
    for mechanism in (CKM.RSA_PKCS_PSS, CKM.RSA_X_509):
        with pytest.raises(errors.MechanismInvalid):
            token.sign(sig, mechanism, None, DIGEST)
    with pytest.raises(errors.MechanismInvalid):
        token.decrypt(dec, CKM.RSA_PKCS_OAEP, None, ciphertext)
    mechanisms = token.mechanisms()
    assert CKM.RSA_PKCS in mechanisms and CKM.SHA256_RSA_PKCS in mechanisms
    assert not {CKM.RSA_PKCS_PSS, CKM.SHA256_RSA_PKCS_PSS, CKM.RSA_PKCS_OAEP, CKM.RSA_X_509} & set(mechanisms)


def test_ecdh_with_nist_and_x25519_keys_and_eddsa_signatures() -> None:
    _, token, keys = plain()
    token.login(CKU.USER, OPENPGP_PIN.encode())
    peer = ec.generate_private_key(ec.SECP256R1())
    point = peer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    dec = find(token, CKO.PRIVATE_KEY, 2)
    assert token.derive(dec, CKM.ECDH1_DERIVE, point) == peer.exchange(ec.ECDH(), keys["dec"].public_key())
    with pytest.raises(errors.MechanismParamInvalid):
        token.derive(dec, CKM.ECDH1_DERIVE, point[:-1])
    _, token, keys = plain("25519")
    token.login(CKU.USER, OPENPGP_PIN.encode())
    x_peer = x25519.X25519PrivateKey.generate()
    raw = x_peer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    dec = find(token, CKO.PRIVATE_KEY, 2)
    assert dec.attributes[CKA.KEY_TYPE] == CKK.EC_MONTGOMERY and dec.attributes[CKA.DERIVE]
    assert token.derive(dec, CKM.ECDH1_DERIVE, raw) == x_peer.exchange(keys["dec"].public_key())
    sig = find(token, CKO.PRIVATE_KEY, 1)
    signature = token.sign(sig, CKM.EDDSA, None, b"pure Ed25519")
    keys["sig"].public_key().verify(signature, b"pure Ed25519")
    assert CKM.EDDSA in token.mechanisms()


def test_ecdsa_takes_a_hash_only() -> None:
    _, token, _ = plain()
    token.login(CKU.USER, OPENPGP_PIN.encode())
    with pytest.raises(errors.DataLenRange):
        token.sign(find(token, CKO.PRIVATE_KEY, 1), CKM.ECDSA, None, b"not a hash")


def test_a_touch_nobody_gives_is_function_canceled_and_not_retried() -> None:
    card = VirtualYubiKey()
    provision_openpgp(card)
    card.openpgp.keys[SimKeyRef.SIG].uif = Uif.ON
    card.touch_mode = "timeout"
    _, tokens = open_card(card)
    token = tokens[1]
    token.login(CKU.USER, OPENPGP_PIN.encode())
    with pytest.raises(errors.FunctionCanceled):
        token.sign(find(token, CKO.PRIVATE_KEY, 1), CKM.ECDSA, None, DIGEST)
    assert card.touch_count == 1
    card.touch_mode = "confirm"
    token.sign(find(token, CKO.PRIVATE_KEY, 1), CKM.ECDSA, None, DIGEST)


# ------------------------------------------------------------------ PINs and the KDF

def test_a_kdf_card_gets_its_pins_hashed() -> None:
    card = VirtualOpenPgpCard()
    provision_openpgp(card)
    driver = OpenPgpCard(InProcessTransport_protocol(card))
    driver.select()
    driver.verify(Pw.PW3, OPENPGP_ADMIN.encode())
    driver.put_kdf(Kdf.iterated_salted_s2k(iteration_count=65536))  # PINs back to the defaults, as hashes
    _, tokens = open_card(card)
    token = tokens[0]
    token.login(CKU.USER, OPENPGP_PIN.encode())
    token.sign(find(token, CKO.PRIVATE_KEY, 1), CKM.ECDSA, None, DIGEST)
    token.logout()
    with pytest.raises(errors.PinIncorrect):
        token.login(CKU.USER, b"654321")
    token.set_pin(CKU.USER, OPENPGP_PIN.encode(), b"24681357")
    token.login(CKU.USER, b"24681357")


def InProcessTransport_protocol(card: Any) -> Any:  # noqa: N802 - reads as the thing it makes
    from cardki.apdu import SmartCardProtocol

    return SmartCardProtocol(InProcessTransport(card), extended=True)


def test_set_pin_for_pw1_and_pw3_and_init_pin_as_so() -> None:
    _, token, _ = plain()
    token.login(CKU.USER, OPENPGP_PIN.encode())
    token.set_pin(CKU.USER, OPENPGP_PIN.encode(), b"135790")
    token.sign(find(token, CKO.PRIVATE_KEY, 1), CKM.ECDSA, None, DIGEST)  # the new PIN is the one kept
    with pytest.raises(errors.PinIncorrect):
        token.set_pin(CKU.USER, OPENPGP_PIN.encode(), b"111111")
    token.logout()
    token.login(CKU.SO, OPENPGP_ADMIN.encode())
    token.set_pin(CKU.SO, OPENPGP_ADMIN.encode(), b"87654321")
    token.init_pin(b"246802")
    token.logout()
    token.login(CKU.USER, b"246802")
    token.logout()
    token.login(CKU.SO, b"87654321")
    with pytest.raises(errors.PinLenRange):
        token.init_pin(b"123")


# ------------------------------------------------------------------ administration

def test_generation_into_each_key_writes_fingerprint_and_time_and_the_key_signs() -> None:
    slot, token, _ = plain(certificates=False)
    with pytest.raises(errors.UserNotLoggedIn):
        token.generate_key_pair(CKM.EC_KEY_PAIR_GEN, {CKA.ID: b"\x01"}, {})
    token.login(CKU.SO, OPENPGP_ADMIN.encode())
    p256 = curve_by_name("secp256r1").ec_params  # type: ignore[union-attr]
    x25519_params = curve_by_name("x25519").ec_params  # type: ignore[union-attr]
    public, private = token.generate_key_pair(CKM.EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: p256}, {CKA.ID: b"\x01"})
    assert (private.attributes[CKA.ID], private.attributes[CKA.LABEL], private.attributes[CKA.LOCAL]) == (
        b"\x01", "Signature key", True)
    token.generate_key_pair(CKM.EC_MONTGOMERY_KEY_PAIR_GEN, {CKA.EC_PARAMS: x25519_params}, {CKA.ID: b"\x02"})
    token.generate_key_pair(CKM.EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: p256}, {CKA.ID: b"\x03"})
    with pytest.raises(errors.TemplateInconsistent):  # X25519 only decrypts
        token.generate_key_pair(CKM.EC_MONTGOMERY_KEY_PAIR_GEN, {CKA.EC_PARAMS: x25519_params}, {CKA.ID: b"\x01"})
    with pytest.raises(errors.TemplateInconsistent):
        token.generate_key_pair(CKM.EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: p256}, {CKA.ID: b"\x04"})
    data = token.card.application_related_data()
    point = public.attributes[CKA.EC_POINT][2:]
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    created = data.generation_time(KeyRef.SIG)
    assert created is not None
    assert data.fingerprint(KeyRef.SIG) == v4_fingerprint(key, created, data.algorithm_attributes[KeyRef.SIG])
    assert data.fingerprint(KeyRef.DEC) is not None and data.fingerprint(KeyRef.AUT) is not None
    token.logout()
    token.login(CKU.USER, OPENPGP_PIN.encode())
    signature = token.sign(find(token, CKO.PRIVATE_KEY, 1), CKM.ECDSA, None, DIGEST)
    half = len(signature) // 2
    key.verify(encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")),
               DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_key_import_and_certificates_as_so() -> None:
    from test_piv_token_support import make_cert

    _, token, _ = plain(certificates=False)
    key = ec.generate_private_key(ec.SECP384R1())
    template = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.EC, CKA.ID: b"\x03",
                CKA.EC_PARAMS: curve_by_name("secp384r1").ec_params,  # type: ignore[union-attr]
                CKA.VALUE: key.private_numbers().private_value.to_bytes(48, "big")}
    with pytest.raises(errors.UserNotLoggedIn):
        token.create_object(template)
    token.login(CKU.SO, OPENPGP_ADMIN.encode())
    private = token.create_object(template)
    assert private.attributes[CKA.LOCAL] is False and private.attributes[CKA.LABEL] == "Authentication key"
    der = make_cert(key, "imported").public_bytes(serialization.Encoding.DER)
    certificate = token.create_object({CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x03", CKA.VALUE: der})
    assert certificate.attributes[CKA.VALUE] == der and certificate.attributes[CKA.LABEL] == "Authentication key"
    token.destroy_object(certificate)
    assert [obj for obj in token.objects() if obj.attributes[CKA.CLASS] == CKO.CERTIFICATE] == []
    with pytest.raises(errors.ActionProhibited):
        token.destroy_object(private)
    token.logout()
    token.login(CKU.USER, OPENPGP_PIN.encode())
    digest = hashlib.sha384(b"imported").digest()
    signature = token.sign(find(token, CKO.PRIVATE_KEY, 3), CKM.ECDSA, None, digest)
    key.public_key().verify(encode_dss_signature(int.from_bytes(signature[:48], "big"),
                                                 int.from_bytes(signature[48:], "big")),
                            digest, ec.ECDSA(Prehashed(hashes.SHA384())))


def test_generate_random_comes_from_the_card() -> None:
    slot, token, _ = plain()
    random, cost = apdus(slot, lambda: token.generate_random(100))
    assert len(random) == 100 and cost >= 1


# ------------------------------------------------------------------ sharing the card

def test_switching_applets_reselects_and_reverifies_only_for_a_logged_in_application() -> None:
    slot, piv, token, keys = yubikey()
    piv_key = next(obj for obj in piv.objects_with_id(b"\x03") if obj.attributes[CKA.CLASS] == CKO.PRIVATE_KEY)
    piv.login(CKU.USER, PIN.encode())
    _, cost = apdus(slot, lambda: piv.sign(piv_key, CKM.ECDSA, None, DIGEST))
    assert cost == 1  # PIV had the card: no switch
    sig = find(token, CKO.PRIVATE_KEY, 1)
    token.login(CKU.USER, OPENPGP_PIN.encode())
    _, cost = apdus(slot, lambda: token.sign(sig, CKM.ECDSA, None, DIGEST))
    assert cost == 2  # VERIFY 81, PSO:CDS (the login selected OpenPGP)
    _, cost = apdus(slot, lambda: piv.sign(piv_key, CKM.ECDSA, None, DIGEST))
    # SELECT PIV, VERIFY PIN, GENERAL AUTHENTICATE, and SELECT OpenPGP: the card goes back to
    # the application programs such as gpg's scdaemon 2.2 expect to stay selected.
    assert cost == 4
    signature, cost = apdus(slot, lambda: token.sign(sig, CKM.ECDSA, None, DIGEST))
    assert cost == 2  # no SELECT (the card is on OpenPGP), VERIFY 81 (that SELECT dropped it), PSO:CDS
    verify_ecdsa(keys["sig"], DIGEST, signature)
    _, cost = apdus(slot, lambda: token.sign(sig, CKM.ECDSA, None, DIGEST))
    assert cost == 1  # no switch: no extra APDU
    piv.logout()
    token.logout()
    _, cost = apdus(slot, piv.info)
    # SELECT PIV (nothing to re-verify: logged out), GET SERIAL (its first ask: the label
    # names it), GET METADATA, SELECT OpenPGP, all in one transaction.
    assert cost == 1 + 1 + 1 + 1
    _, cost = apdus(slot, token.info)
    assert cost == 1  # GET DATA C4: the card is on OpenPGP


def test_a_reset_by_another_program_reaches_both_tokens() -> None:
    slot, piv, token, keys = yubikey()
    token.login(CKU.USER, OPENPGP_PIN.encode())
    sig = find(token, CKO.PRIVATE_KEY, 1)
    generations = piv.presence_generation, token.presence_generation
    slot.reset()
    piv.info()  # PIV's exchange reports the reset
    signature = token.sign(sig, CKM.ECDSA, None, DIGEST)  # OpenPGP learns it from the shared card
    verify_ecdsa(keys["sig"], DIGEST, signature)
    assert piv.presence_generation != generations[0] and token.presence_generation != generations[1]


def test_another_programs_select_is_noticed_and_the_operation_retried_once() -> None:
    slot, piv, token, keys = yubikey()
    token.login(CKU.USER, OPENPGP_PIN.encode())
    sig = find(token, CKO.PRIVATE_KEY, 1)
    token.sign(sig, CKM.ECDSA, None, DIGEST)
    other = InProcessTransport(slot)  # another program selects PIV behind our back
    other.transmit(bytes.fromhex("00A4040005A000000308"))
    signature, cost = apdus(slot, lambda: token.sign(sig, CKM.ECDSA, None, DIGEST))
    assert cost == 4  # PSO (6D00 from PIV), SELECT OpenPGP, VERIFY 81, PSO
    verify_ecdsa(keys["sig"], DIGEST, signature)


def test_a_pin_changed_by_another_program_logs_out_and_is_not_retried() -> None:
    slot, piv, token, _ = yubikey()
    token.login(CKU.USER, OPENPGP_PIN.encode())
    sig = find(token, CKO.PRIVATE_KEY, 1)
    driver = OpenPgpCard(InProcessTransport_protocol(slot))
    driver.select()
    driver.change_reference_data(Pw.PW1_SIGN, OPENPGP_PIN.encode(), b"999999")
    with pytest.raises(errors.UserNotLoggedIn):
        token.sign(sig, CKM.ECDSA, None, DIGEST)
    assert driver.pw_status().pw1_tries_left == 2  # one wrong VERIFY 81, never a second
    with pytest.raises(errors.UserNotLoggedIn):
        token.sign(sig, CKM.ECDSA, None, DIGEST)  # logged out: nothing more is sent
    assert driver.pw_status().pw1_tries_left == 2


def test_close_releases_the_shared_connection_with_the_last_token() -> None:
    _, piv, token, _ = yubikey()
    closed: List[bool] = []
    original = piv.transport.close
    piv.transport.close = lambda: closed.append(True) or original()  # type: ignore[method-assign]
    piv.close()
    assert closed == []
    token.close()
    assert closed == [True]


def test_the_fingerprint_is_the_openpgp_v4_one() -> None:
    """A P-256 ECDSA key's packet body, laid out by hand from RFC 4880 and RFC 6637."""
    from cardki.token.openpgp import EcAttributes
    from cardki.token.openpgp.constants import AlgorithmId
    from cardki.token.openpgp.keys import public_key_packet_body

    key = ec.derive_private_key(0x1234, ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    curve = curve_by_name("secp256r1")
    assert curve is not None
    attributes = EcAttributes(AlgorithmId.ECDSA, curve)
    body = public_key_packet_body(key, 0x5F000000, attributes)
    assert body == (b"\x04\x5f\x00\x00\x00\x13\x08" + bytes.fromhex("2A8648CE3D030107")
                    + (515).to_bytes(2, "big") + point)
    assert v4_fingerprint(key, 0x5F000000, attributes) == hashlib.sha1(
        b"\x99" + len(body).to_bytes(2, "big") + body).digest()
    ecdh = public_key_packet_body(key, 0x5F000000, EcAttributes(AlgorithmId.ECDH, curve))
    assert ecdh[5] == 0x12 and ecdh.endswith(b"\x03\x01\x08\x07")  # SHA-256, AES-128 as gpg writes
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    ed_curve = curve_by_name("ed25519")
    assert ed_curve is not None
    ed_body = public_key_packet_body(ed, 1, EcAttributes(AlgorithmId.EDDSA, ed_curve))
    assert ed_body[-35:-33] == (263).to_bytes(2, "big") and ed_body[-33] == 0x40  # 0x40 || native point
    rsa_key = rsa.RSAPublicNumbers(65537, (1 << 2047) | 1).public_key()
    from cardki.token.openpgp import RsaAttributes

    rsa_body = public_key_packet_body(rsa_key, 1, RsaAttributes(2048))
    assert rsa_body[6:8] == (2048).to_bytes(2, "big") and rsa_body[-5:] == b"\x00\x11\x01\x00\x01"


def test_the_card_goes_back_to_openpgp_for_a_program_that_left_it_there() -> None:
    """scdaemon 2.2 never re-selects: after cardki's PIV token found the card on OpenPGP
    (another program's SELECT, seen through GET DATA 4F), OpenPGP is selected again."""
    slot, piv, token, _ = yubikey()
    card = slot.card
    piv_key = next(obj for obj in piv.objects_with_id(b"\x03") if obj.attributes[CKA.CLASS] == CKO.PRIVATE_KEY)
    piv.login(CKU.USER, PIN.encode())
    _, cost = apdus(slot, lambda: piv.sign(piv_key, CKM.ECDSA, None, DIGEST))
    assert cost == 1 and card.selected is card.piv  # nobody else: the card stays on PIV
    InProcessTransport(slot).transmit(bytes.fromhex("00A4040006D27600012401"))  # "scdaemon" selects OpenPGP
    _, cost = apdus(slot, lambda: piv.sign(piv_key, CKM.ECDSA, None, DIGEST))
    assert cost == 6  # GA (6D00), GET DATA 4F (OpenPGP answers), SELECT PIV, VERIFY, GA, SELECT OpenPGP
    assert card.selected is card.openpgp


def test_closing_the_card_gives_it_back_to_openpgp_and_a_piv_only_card_is_left_alone() -> None:
    slot, piv, token, _ = yubikey()
    card = slot.card
    piv.info()
    assert card.selected is card.piv
    piv.close()
    token.close()
    assert card.selected is card.openpgp  # the last token closing leaves the card as scdaemon expects
    generic_slot = InProcessSlot(VirtualYubiKey())
    from cardki.token import open_token

    only_piv = open_token(InProcessTransport(generic_slot))  # one token: the card's OpenPGP one is not shown
    assert only_piv is not None
    only_piv.info()
    only_piv.close()
    assert generic_slot.card.selected is generic_slot.card.piv
