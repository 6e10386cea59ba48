"""PIV administration at the token level (what the engine and the Python API call)
against the in-process virtual YubiKey: key import and generation with policies,
data objects, deletion, the management key, the PUK, C_InitToken, attestation.
Template and argument errors are checked to cost no APDU."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any, Dict

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from test_piv_token_support import MGMT_HEX, PIN, GenericPivCard, find, make_cert, open_piv, put_cert, rsa_key

from cardki import errors
from cardki.apdu import TRACE
from cardki.constants import CKA, CKK, CKM, CKO, CKU
from cardki.curves import CURVES
from cardki.slot.inprocess import InProcessSlot
from cardki.token.piv.attestation import AttestationError, verify_attestation
from cardki.token.piv.constants import ManagementKeyAlgorithm, PinPolicy, PivAlgorithm, TouchPolicy
from hwsim.piv_crypto import MANAGEMENT_KEY_TYPES
from hwsim.yubikey import VirtualYubiKey

#: CKA_EC_PARAMS by curve name (cardki.curves is the one table).
EC_PARAMS_OF = {curve.name: curve.ec_params for curve in CURVES}

P256 = EC_PARAMS_OF["secp256r1"]
SECP521R1 = bytes.fromhex("06052b81040023")


def so_token(firmware=(5, 7, 2), card=None):
    card = card or VirtualYubiKey(firmware=firmware)
    token, _ = open_piv(card)
    token.login(CKU.SO, MGMT_HEX)
    return token, card


def generic_so():
    """A PIV card without Yubico's extensions, SO logged in (its management key 3DES, as
    the generic profile says: the card double wraps a 5.7 YubiKey, whose default is AES)."""
    card = GenericPivCard()
    card.inner.piv.mgmt_type = MANAGEMENT_KEY_TYPES[0x03]
    token, _ = open_piv(card)
    token.login(CKU.SO, MGMT_HEX)
    return token


def ecdsa_der(raw: bytes) -> bytes:
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def private_template(key: Any, cka_id: bytes, extra: Dict[int, Any] | None = None) -> Dict[int, Any]:
    """The C_CreateObject template pkcs11-tool --write-object --type privkey sends."""
    template: Dict[int, Any] = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.TOKEN: True, CKA.PRIVATE: True,
                                CKA.SENSITIVE: True, CKA.ID: cka_id}
    if hasattr(key, "private_numbers") and hasattr(key.private_numbers(), "p"):
        numbers = key.private_numbers()

        def big(value: int) -> bytes:
            return value.to_bytes((value.bit_length() + 7) // 8, "big")

        template.update({CKA.KEY_TYPE: CKK.RSA, CKA.MODULUS: big(numbers.public_numbers.n),
                         CKA.PUBLIC_EXPONENT: big(numbers.public_numbers.e),
                         CKA.PRIVATE_EXPONENT: big(numbers.d), CKA.PRIME_1: big(numbers.p),
                         CKA.PRIME_2: big(numbers.q), CKA.EXPONENT_1: big(numbers.dmp1),
                         CKA.EXPONENT_2: big(numbers.dmq1), CKA.COEFFICIENT: big(numbers.iqmp)})
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        template.update({CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: EC_PARAMS_OF[key.curve.name],
                         CKA.VALUE: key.private_numbers().private_value.to_bytes(size, "big")})
    else:
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        edwards = isinstance(key, ed25519.Ed25519PrivateKey)
        template.update({CKA.KEY_TYPE: CKK.EC_EDWARDS if edwards else CKK.EC_MONTGOMERY,
                         CKA.EC_PARAMS: EC_PARAMS_OF["ed25519" if edwards else "x25519"], CKA.VALUE: raw})
    template.update(extra or {})
    return template


# ---------------------------------------------------------------- import
@pytest.mark.parametrize("kind", ["rsa2048", "p384", "ed25519", "x25519"])
def test_create_object_imports_a_private_key_into_the_slot_of_its_id(kind: str) -> None:
    token, card = so_token()
    key = {"rsa2048": lambda: rsa_key(2048), "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
           "ed25519": ed25519.Ed25519PrivateKey.generate, "x25519": x25519.X25519PrivateKey.generate}[kind]()
    private = token.create_object(private_template(key, b"\x03", {CKA.YUBICO_PIN_POLICY: b"\x01",
                                                                  CKA.YUBICO_TOUCH_POLICY: 1}))
    assert private.ref == ("private", 0x9D)
    assert card.piv.keys[0x9D].key.public_key() == key.public_key()
    assert (card.piv.keys[0x9D].pin_policy, card.piv.keys[0x9D].origin) == (1, 2)
    attributes = private.attributes
    assert attributes[CKA.YUBICO_PIN_POLICY] == b"\x01" and attributes[CKA.YUBICO_TOUCH_POLICY] == b"\x01"
    assert not attributes[CKA.LOCAL] and not attributes[CKA.NEVER_EXTRACTABLE]
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert attributes[CKA.PUBLIC_KEY_INFO] == spki
    # A fresh token reads the same from the card's metadata.
    again, _ = open_piv(card)
    listed = find(again, "private", 0x9D).attributes
    assert listed[CKA.YUBICO_PIN_POLICY] == b"\x01" and listed[CKA.PUBLIC_KEY_INFO] == spki


def test_an_imported_rsa_key_signs_with_pin_policy_never_and_only_primes_given() -> None:
    token, card = so_token()
    key = rsa_key(2048)
    numbers = key.private_numbers()
    template = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: CKK.RSA, CKA.ID: b"\x01",
                CKA.PRIME_1: numbers.p.to_bytes(128, "big"), CKA.PRIME_2: numbers.q.to_bytes(128, "big"),
                CKA.YUBICO_PIN_POLICY: 1}
    private = token.create_object(template)
    token.logout()
    digest = hashlib.sha256(b"imported").digest()
    from cardki.token import rsa_padding

    signature = token.sign(private, CKM.RSA_PKCS, None, rsa_padding.digest_info("sha256", digest))
    key.public_key().verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


def test_import_keeps_the_slot_certificate_the_card_still_holds() -> None:
    card = VirtualYubiKey()
    old = ec.generate_private_key(ec.SECP256R1())
    put_cert(card, 0x9A, make_cert(old))
    token, _ = so_token(card=card)
    token.objects()
    token.create_object(private_template(ec.generate_private_key(ec.SECP256R1()), b"\x01"))
    assert ("certificate", 0x9A) in {obj.ref for obj in token.objects()}


BAD_TEMPLATES = {
    "no id": ({CKA.ID: None}, errors.TemplateIncomplete),
    "id of no slot": ({CKA.ID: b"\x40"}, errors.TemplateInconsistent),
    "no key type": ({CKA.KEY_TYPE: None}, errors.TemplateIncomplete),
    "a DSA key": ({CKA.KEY_TYPE: CKK.DSA}, errors.TemplateInconsistent),
    "extractable": ({CKA.EXTRACTABLE: True}, errors.TemplateInconsistent),
    "not sensitive": ({CKA.SENSITIVE: False}, errors.TemplateInconsistent),
    "P-521": ({CKA.EC_PARAMS: SECP521R1}, errors.CurveNotSupported),
    "Ed25519 params with an EC key": ({CKA.EC_PARAMS: EC_PARAMS_OF["ed25519"]}, errors.TemplateInconsistent),
    "no value": ({CKA.VALUE: None}, errors.TemplateIncomplete),
    "scalar too long": ({CKA.VALUE: b"\x01" * 33}, errors.AttributeValueInvalid),
    "scalar zero": ({CKA.VALUE: b"\x00" * 32}, errors.AttributeValueInvalid),
    "a wrong public point": ({CKA.EC_POINT: b"\x04\x41\x04" + b"\x01" * 64}, errors.TemplateInconsistent),
    "PIN policy 7": ({CKA.YUBICO_PIN_POLICY: b"\x07"}, errors.AttributeValueInvalid),
    "PIN policy of two bytes": ({CKA.YUBICO_PIN_POLICY: b"\x01\x00"}, errors.AttributeValueInvalid),
    "touch policy 9": ({CKA.YUBICO_TOUCH_POLICY: 9}, errors.AttributeValueInvalid),
    "always authenticate with PIN policy never": ({CKA.ALWAYS_AUTHENTICATE: True, CKA.YUBICO_PIN_POLICY: 1},
                                                  errors.TemplateInconsistent),
    "decrypt with an EC key": ({CKA.DECRYPT: True}, errors.TemplateInconsistent),
    "no signing for a key that signs": ({CKA.SIGN: False}, errors.TemplateInconsistent),
}


@pytest.mark.parametrize("name", list(BAD_TEMPLATES))
def test_a_private_key_template_that_cannot_be_a_piv_key_is_refused_before_any_apdu(name: str) -> None:
    token, card = so_token()
    changes, error = BAD_TEMPLATES[name]
    template = private_template(ec.generate_private_key(ec.SECP256R1()), b"\x01")
    for attribute, value in changes.items():
        if value is None:
            template.pop(attribute, None)
        else:
            template[attribute] = value
    before = token.protocol.apdu_count
    with pytest.raises(error) as raised:
        token.create_object(template)
    assert token.protocol.apdu_count == before and not card.piv.keys
    assert raised.value.rv != errors.GeneralError().rv


RSA_BAD = {
    "e = 3": ({CKA.PUBLIC_EXPONENT: b"\x03"}, errors.TemplateInconsistent),
    "modulus of another key": ({CKA.MODULUS: b"\x01" * 256}, errors.TemplateInconsistent),
    "exponent 1 wrong": ({CKA.EXPONENT_1: b"\x05"}, errors.TemplateInconsistent),
    "private exponent wrong": ({CKA.PRIVATE_EXPONENT: b"\x07"}, errors.TemplateInconsistent),
    "no prime 2": ({CKA.PRIME_2: None}, errors.TemplateIncomplete),
    "primes equal": ({CKA.PRIME_2: "same"}, errors.AttributeValueInvalid),
    "prime given as an int": ({CKA.PRIME_1: 7}, errors.AttributeValueInvalid),
}


@pytest.mark.parametrize("name", list(RSA_BAD))
def test_an_inconsistent_rsa_template_is_refused(name: str) -> None:
    token, card = so_token()
    changes, error = RSA_BAD[name]
    template = private_template(rsa_key(2048), b"\x01")
    for attribute, value in changes.items():
        if value is None:
            template.pop(attribute)
        elif value == "same":
            template[attribute] = template[CKA.PRIME_1]
        else:
            template[attribute] = value
    with pytest.raises(error):
        token.create_object(template)
    assert not card.piv.keys


def test_import_rules_of_login_firmware_and_card() -> None:
    card = VirtualYubiKey()
    token, _ = open_piv(card)
    template = private_template(ec.generate_private_key(ec.SECP256R1()), b"\x01")
    with pytest.raises(errors.UserNotLoggedIn):
        token.create_object(template)
    token.login(CKU.SO, MGMT_HEX)
    with pytest.raises(errors.KeySizeRange):  # PIV has no RSA-1536
        token.create_object(private_template(rsa.generate_private_key(65537, 1536), b"\x01"))
    old, _ = so_token((4, 2, 0))
    with pytest.raises(errors.AttributeValueInvalid):  # cached touch came with 4.3
        old.create_object({**template, CKA.YUBICO_TOUCH_POLICY: 3})
    plain = generic_so()
    with pytest.raises(errors.TemplateInconsistent):  # SP 800-73-4 has no key import
        plain.create_object(template)


# ------------------------------------------------------------ generation
def test_generate_key_pair_with_vendor_policies_and_always_authenticate() -> None:
    token, card = so_token()
    public, private = token.generate_key_pair(
        CKM.EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: P256, CKA.VERIFY: True},
        {CKA.ID: b"\x01", CKA.SIGN: True, CKA.ALWAYS_AUTHENTICATE: True, CKA.YUBICO_TOUCH_POLICY: b"\x03"})
    assert (card.piv.keys[0x9A].pin_policy, card.piv.keys[0x9A].touch_policy) == (3, 3)
    assert private.attributes[CKA.ALWAYS_AUTHENTICATE] and private.attributes[CKA.YUBICO_PIN_POLICY] == b"\x03"
    assert private.attributes[CKA.LOCAL] and public.attributes[CKA.CLASS] == CKO.PUBLIC_KEY


def test_pkcs11_tool_default_usages_work_where_the_key_has_them_and_are_refused_clearly_elsewhere() -> None:
    token, card = so_token()
    ec_public = {CKA.EC_PARAMS: P256, CKA.VERIFY: True, CKA.DERIVE: True}
    ec_private = {CKA.SIGN: True, CKA.DERIVE: True}
    token.generate_key_pair(CKM.EC_KEY_PAIR_GEN, ec_public, {**ec_private, CKA.ID: b"\x01"})
    before = token.protocol.apdu_count
    with pytest.raises(errors.TemplateInconsistent) as refused:  # 9C: PIN always, so no derive
        token.generate_key_pair(CKM.EC_KEY_PAIR_GEN, ec_public, {**ec_private, CKA.ID: b"\x02"})
    assert "CKA_DERIVE" in str(refused.value) and token.protocol.apdu_count == before
    _, private = token.generate_key_pair(CKM.EC_KEY_PAIR_GEN, ec_public, {**ec_private, CKA.ID: b"\x02",
                                                                          CKA.ALWAYS_AUTHENTICATE: False})
    assert card.piv.keys[0x9C].pin_policy == 2 and private.attributes[CKA.DERIVE]  # once, as asked
    rsa_public = {CKA.MODULUS_BITS: 1024, CKA.PUBLIC_EXPONENT: b"\x01\x00\x01", CKA.VERIFY: True,
                  CKA.ENCRYPT: True}
    token.generate_key_pair(CKM.RSA_PKCS_KEY_PAIR_GEN, rsa_public, {CKA.ID: b"\x03", CKA.SIGN: True,
                                                                    CKA.DECRYPT: True})
    with pytest.raises(errors.TemplateInconsistent):
        token.generate_key_pair(CKM.EC_EDWARDS_KEY_PAIR_GEN, {CKA.EC_PARAMS: EC_PARAMS_OF["ed25519"],
                                                              CKA.ENCRYPT: True}, {CKA.ID: b"\x04"})


@pytest.mark.parametrize("algorithm", [PivAlgorithm.ECCP384, PivAlgorithm.ED25519, PivAlgorithm.X25519,
                                       PivAlgorithm.RSA1024])
def test_typed_generate_of_each_algorithm_on_5_7(algorithm: PivAlgorithm) -> None:
    token, card = so_token()
    public, private = token.generate(0x85, algorithm, PinPolicy.ONCE, TouchPolicy.NEVER)
    assert card.piv.keys[0x85].algorithm.ident == algorithm
    assert private.attributes[CKA.ID] == b"\x08" and public.attributes[CKA.KEY_TYPE] == private.attributes[CKA.KEY_TYPE]
    with pytest.raises(errors.ArgumentsBad):
        token.generate(0xF9, algorithm)


def test_ed25519_is_refused_before_5_7() -> None:
    token, _ = so_token((5, 4, 3))
    with pytest.raises(errors.CurveNotSupported):
        token.generate(0x9A, PivAlgorithm.ED25519)


# ---------------------------------------------------------- data objects
def data_oid(token, tag: int) -> bytes:
    spec = token.profile.data_object(tag)
    from cardki.token.piv.objects import oid_der

    return oid_der(spec.oid)


def test_data_objects_are_written_listed_and_destroyed() -> None:
    token, card = so_token()
    listed_before = {obj.ref for obj in token.objects()}
    chuid = bytes.fromhex("3019d4e739da739ced39ce739d836858210842108421c84210c3eb34" "10" + "00" * 16)
    obj = token.create_object({CKA.CLASS: CKO.DATA, CKA.TOKEN: True, CKA.OBJECT_ID: data_oid(token, 0x5FC102),
                               CKA.VALUE: chuid, CKA.APPLICATION: "PIV"})
    assert obj.ref == ("data", 0x5FC102) and obj.attributes[CKA.VALUE] == chuid and obj.attributes[CKA.DESTROYABLE]
    assert card.piv.objects[0x5FC102] == chuid
    assert ("data", 0x5FC102) in {o.ref for o in token.objects()} - listed_before
    printed = token.create_object({CKA.CLASS: CKO.DATA, CKA.OBJECT_ID: data_oid(token, 0x5FC109),
                                   CKA.VALUE: b"\x88\x01\x00", CKA.PRIVATE: True})
    assert printed.attributes[CKA.PRIVATE]
    token.destroy_object(obj)
    assert 0x5FC102 not in card.piv.objects
    assert ("data", 0x5FC102) not in {o.ref for o in token.objects()}
    assert token.write_data_object(0x5FFF00, b"\x80\x01\x01") is None  # not listed, but stored
    assert card.piv.objects[0x5FFF00] == b"\x80\x01\x01"


def test_data_object_refusals() -> None:
    token, _ = so_token()
    template = {CKA.CLASS: CKO.DATA, CKA.OBJECT_ID: data_oid(token, 0x7E), CKA.VALUE: b"\x4f\x00"}
    before = token.protocol.apdu_count
    with pytest.raises(errors.TemplateInconsistent):  # the discovery object is read-only
        token.create_object(template)
    with pytest.raises(errors.TemplateInconsistent):
        token.create_object({**template, CKA.OBJECT_ID: bytes.fromhex("06032a0304")})
    with pytest.raises(errors.TemplateInconsistent):  # printed information is PIN-protected
        token.create_object({**template, CKA.OBJECT_ID: data_oid(token, 0x5FC109), CKA.PRIVATE: False})
    with pytest.raises(errors.TemplateIncomplete):
        token.create_object({CKA.CLASS: CKO.DATA, CKA.OBJECT_ID: data_oid(token, 0x5FC102)})
    with pytest.raises(errors.ArgumentsBad):  # a certificate container: write a certificate
        token.write_data_object(0x5FC105, b"\x70\x00")
    with pytest.raises(errors.ActionProhibited):
        token.write_data_object(0x7E, b"")
    assert token.protocol.apdu_count == before
    generic = generic_so()
    with pytest.raises(errors.ActionProhibited):  # 5FFF00 is a YubiKey object
        generic.write_data_object(0x5FFF00, b"\x00")


# ------------------------------------------------------------- deletion
def test_destroying_a_key_on_5_7_drops_its_attestation_and_certificate() -> None:
    token, card = so_token()
    _, private = token.generate(0x9A, PivAlgorithm.ECCP256)
    (attestation,) = token.objects_with_id(b"\x65")
    with pytest.raises(errors.ActionProhibited):
        token.destroy_object(attestation)
    token.destroy_object(private)
    assert 0x9A not in card.piv.keys
    refs = {obj.ref for obj in token.objects()}
    assert not {("private", 0x9A), ("attestation", 0x9A)} & refs


def test_move_key_moves_the_key_and_leaves_the_certificates() -> None:
    card = VirtualYubiKey()
    token, _ = so_token(card=card)
    token.generate(0x9A, PivAlgorithm.ECCP256)
    token.move_key(0x9A, 0x82)
    refs = {obj.ref for obj in token.objects()}
    assert ("private", 0x82) in refs and ("private", 0x9A) not in refs
    old, _ = so_token((5, 4, 3))
    with pytest.raises(errors.FunctionNotSupported):
        old.move_key(0x9A, 0x82)


# ------------------------------------------------------- management key
@pytest.mark.parametrize("firmware, new, expected", [
    ((5, 7, 2), "11" * 24, ManagementKeyAlgorithm.AES192),  # kept: the length fits
    ((5, 7, 2), "22" * 16, ManagementKeyAlgorithm.AES128),  # the length says otherwise
    ((5, 7, 2), "33" * 32, ManagementKeyAlgorithm.AES256),
    ((5, 4, 3), "44" * 24, ManagementKeyAlgorithm.TDES),
])
def test_set_pin_as_so_changes_the_management_key(firmware, new: str, expected) -> None:
    slot = InProcessSlot(VirtualYubiKey(firmware=firmware))
    token, _ = open_piv(slot.card, slot)
    token.login(CKU.SO, MGMT_HEX)
    token.set_pin(CKU.SO, MGMT_HEX, new.encode())
    assert (slot.card.piv.mgmt_type.ident, slot.card.piv.mgmt_key) == (expected, bytes.fromhex(new))
    slot.reset()  # another program: the token restores the SO login with the new key
    token.generate(0x9A, PivAlgorithm.ECCP256)
    token.logout()
    with pytest.raises((errors.PinIncorrect, errors.PinLenRange)):  # a 48-digit key is no AES-128 key
        token.login(CKU.SO, MGMT_HEX)
    token.login(CKU.SO, new.encode())


def test_management_key_change_keeps_the_touch_flag_and_refuses_bad_values() -> None:
    token, card = so_token()
    card.piv.mgmt_touch = 2  # the key needs a touch (set by ykman --touch)
    before = token.protocol.apdu_count
    with pytest.raises(errors.PinIncorrect):
        token.set_pin(CKU.SO, b"00" * 24, b"11" * 24)
    with pytest.raises(errors.PinInvalid):
        token.set_pin(CKU.SO, MGMT_HEX, b"zz" * 24)
    with pytest.raises(errors.PinLenRange):
        token.set_pin(CKU.SO, MGMT_HEX, b"11" * 20)
    assert token.protocol.apdu_count == before
    token.change_management_key(b"55" * 16, ManagementKeyAlgorithm.AES128)
    assert card.piv.mgmt_touch == 2 and card.piv.mgmt_type.ident == ManagementKeyAlgorithm.AES128
    old, _ = so_token((5, 3, 0))
    with pytest.raises(errors.PinLenRange):  # AES-128 needs 5.4
        old.set_pin(CKU.SO, MGMT_HEX, b"66" * 16)
    plain = generic_so()
    with pytest.raises(errors.FunctionNotSupported):
        plain.set_pin(CKU.SO, MGMT_HEX, b"11" * 24)


# ----------------------------------------------------------- the PUK
def test_set_pin_with_ykcs11_puk_prefixes_changes_the_puk_and_unblocks_the_pin() -> None:
    card = VirtualYubiKey()
    token, _ = open_piv(card)
    token.set_pin(CKU.USER, b"puk:12345678", b"puk:87654321")
    assert card.piv.puk.value == b"87654321"
    token.set_pin(CKU.USER, b"puk:87654321", b"11223344")
    assert card.piv.puk.value == b"11223344"
    for _ in range(3):
        with pytest.raises(errors.PinIncorrect):
            token.login(CKU.USER, b"000000")
    with pytest.raises(errors.PinIncorrect) as wrong:
        token.set_pin(CKU.USER, b"puk:99999999", b"pin:654321")
    assert wrong.value.tries_left == 2 and "99999999" not in str(wrong.value)
    token.set_pin(CKU.USER, b"puk:11223344", b"pin:654321")
    token.login(CKU.USER, b"654321")
    assert card.piv.puk.left == 3
    with pytest.raises(errors.PinLenRange):
        token.change_puk(b"1234", b"12345678")
    with pytest.raises(errors.FunctionNotSupported):
        token.init_pin(b"123456")


def test_unblocking_while_logged_in_keeps_the_restore_from_spending_a_try() -> None:
    slot = InProcessSlot(VirtualYubiKey())
    token, _ = open_piv(slot.card, slot)
    token.login(CKU.USER, PIN)
    token.unblock_pin(b"12345678", b"246810")
    slot.reset()
    token.objects()  # restores the login: VERIFY with the new PIN
    assert slot.card.piv.pin.left == 3 and slot.card.piv.pin_verified


def test_set_pin_retries_and_access_status() -> None:
    token, card = so_token()
    status = token.access_status()
    assert status.pin.default and status.puk.remaining == 3
    assert (status.management_key.algorithm, status.management_key.default) == (ManagementKeyAlgorithm.AES192, True)
    with pytest.raises(errors.ArgumentsBad):
        token.set_pin_retries(0, 3, PIN)
    token.set_pin_retries(5, 4, PIN)
    status = token.access_status()
    assert (status.pin.total, status.puk.total, status.pin_tries_left) == (5, 4, 5)
    old, _ = open_piv(VirtualYubiKey(firmware=(5, 2, 7)))
    assert old.access_status().pin_tries_left == 3 and old.access_status().puk is None


# ------------------------------------------------- reset and C_InitToken
def test_init_token_checks_the_so_pin_resets_and_keeps_it() -> None:
    card = VirtualYubiKey()
    token, _ = so_token(card=card)
    token.generate(0x9A, PivAlgorithm.ECCP256)
    token.set_pin(CKU.SO, MGMT_HEX, b"77" * 24)
    token.logout()
    token.set_pin(CKU.USER, PIN, b"999999")
    generation = token.presence_generation
    with pytest.raises(errors.PinIncorrect):
        token.init_token(MGMT_HEX, "new label")
    assert 0x9A in card.piv.keys and card.piv.pin.left == 3  # nothing was reset
    with pytest.raises(errors.ArgumentsBad):
        token.init_token(b"77" * 24, "x" * 33)
    token.init_token(b"77" * 24, "new label")
    assert 0x9A not in card.piv.keys and card.piv.pin.value == b"123456\xff\xff"
    assert (card.piv.mgmt_type.ident, card.piv.mgmt_key) == (ManagementKeyAlgorithm.AES192, b"\x77" * 24)
    assert token.presence_generation != generation
    assert ("private", 0x9A) not in {obj.ref for obj in token.objects()}
    assert token.info().label == "YubiKey PIV #12345678"  # PIV keeps no label
    token.login(CKU.SO, b"77" * 24)


def test_factory_reset_and_a_card_without_reset() -> None:
    token, card = so_token()
    token.generate(0x9A, PivAlgorithm.ECCP256)
    token.factory_reset()
    assert not {k for k in card.piv.keys if k != 0xF9}
    with pytest.raises(errors.UserNotLoggedIn):  # the reset logged the SO out
        token.generate(0x9A, PivAlgorithm.ECCP256)
    generic = GenericPivCard()
    plain, _ = open_piv(generic)
    before = plain.protocol.apdu_count
    with pytest.raises(errors.FunctionNotSupported):
        plain.init_token(MGMT_HEX, "")
    with pytest.raises(errors.FunctionNotSupported):
        plain.factory_reset()
    assert plain.protocol.apdu_count == before and generic.inner.piv.pin.left == 3  # nothing spent


# ------------------------------------------------------------ attestation
def test_attestation_objects_are_made_on_a_find_by_their_own_id() -> None:
    token, card = so_token()
    public, private = token.generate(0x9A, PivAlgorithm.ECCP256)
    key = ec.generate_private_key(ec.SECP256R1())
    token.import_key(0x9C, key)
    fresh, _ = open_piv(card)
    before = fresh.protocol.apdu_count
    listing = fresh.objects()
    assert not [obj for obj in listing if obj.ref[0] == "attestation"]  # a listing never attests
    assert fresh.protocol.apdu_count - before == 56  # the listing budget (test_piv_token_objects)
    assert all(obj.attributes[CKA.ID] != b"\x65" for obj in fresh.objects_with_id(b"\x01"))
    before = fresh.protocol.apdu_count
    (attestation,) = fresh.objects_with_id(b"\x65")
    assert fresh.protocol.apdu_count - before == 2  # SELECT, ATTEST
    attributes = attestation.attributes
    assert (attributes[CKA.CLASS], attributes[CKA.ID], attributes[CKA.LABEL]) == (
        CKO.CERTIFICATE, b"\x65", "Attestation of PIV Authentication")
    assert attributes[CKA.TOKEN] is False and attributes[CKA.DESTROYABLE] is False
    assert fresh.objects_with_id(b"\x65") == [attestation] and fresh.protocol.apdu_count - before == 2
    assert attestation in fresh.objects()
    before = fresh.protocol.apdu_count
    assert fresh.objects_with_id(b"\x66") == []  # the 9C key was imported
    assert fresh.objects_with_id(b"\x66") == [] and fresh.protocol.apdu_count - before == 2  # asked once
    f9 = fresh.attestation_certificate()
    root = card.piv.attestation_root.public_bytes(serialization.Encoding.DER)
    result = verify_attestation(attributes[CKA.VALUE], f9, [root],
                                public_key_info=public.attributes[CKA.PUBLIC_KEY_INFO])
    assert (result.firmware, result.serial, result.pin_policy, result.touch_policy) == (
        (5, 7, 2), 12345678, PinPolicy.ONCE, TouchPolicy.NEVER)
    assert len(result.chain) == 3


def test_attest_typed_and_its_refusals() -> None:
    token, card = so_token()
    token.generate(0x9E, PivAlgorithm.ECCP256)
    assert token.attest(0x9E)
    token.import_key(0x9D, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(errors.KeyFunctionNotPermitted):
        token.attest(0x9D)
    with pytest.raises(errors.KeyHandleInvalid):
        token.attest(0x9A)
    old, _ = so_token((4, 2, 0))
    with pytest.raises(errors.FunctionNotSupported):
        old.attest(0x9A)
    assert old.objects_with_id(b"\x65") == []


def test_a_regenerated_key_gets_a_new_attestation() -> None:
    token, _ = so_token()
    token.generate(0x9A, PivAlgorithm.ECCP256)
    (first,) = token.objects_with_id(b"\x65")
    _, private = token.generate(0x9A, PivAlgorithm.ECCP256)
    (second,) = token.objects_with_id(b"\x65")
    assert second.attributes[CKA.PUBLIC_KEY_INFO] == private.attributes[CKA.PUBLIC_KEY_INFO]
    assert first.attributes[CKA.PUBLIC_KEY_INFO] != second.attributes[CKA.PUBLIC_KEY_INFO]


def _attested(card=None):
    token, card = so_token(card=card)
    _, private = token.generate(0x9A, PivAlgorithm.ECCP256)
    root = card.piv.attestation_root.public_bytes(serialization.Encoding.DER)
    return token.attest(0x9A), token.attestation_certificate(), root, private.attributes[CKA.PUBLIC_KEY_INFO]


def test_verify_attestation_refuses_every_broken_link() -> None:
    attestation, f9, root, spki = _attested()
    other_attestation, other_f9, other_root, other_spki = _attested()
    verify_attestation(attestation, f9, [other_root, root])
    cases = {
        "another root": dict(roots=[other_root]),
        "no root": dict(roots=[]),
        "another card's F9": dict(device=other_f9),
        "another key": dict(public_key_info=other_spki),
        "expired": dict(at=datetime.datetime(2060, 1, 1, tzinfo=datetime.UTC)),
        "signature flipped": dict(attestation=attestation[:-1] + bytes([attestation[-1] ^ 1])),
        "not a certificate": dict(attestation=b"\x30\x03\x02\x01\x00"),
        "garbage root": dict(roots=[b"root"]),
    }
    for name, change in cases.items():
        arguments = {"attestation": attestation, "device": f9, "roots": [root], "public_key_info": spki, **change}
        with pytest.raises(AttestationError):
            verify_attestation(arguments["attestation"], arguments["device"], arguments["roots"],
                               public_key_info=arguments["public_key_info"], at=arguments.get("at"))
            pytest.fail(name)


def test_verify_attestation_follows_intermediates() -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attestation, f9, _, spki = _attested()
    top = ec.generate_private_key(ec.SECP384R1())
    middle = ec.generate_private_key(ec.SECP384R1())
    f9_cert = x509.load_der_x509_certificate(f9)
    now = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)

    def issue(subject, issuer, public, signer):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=365 * 40)).sign(signer, hashes.SHA384()))

    top_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root")])
    middle_name = f9_cert.issuer
    root = issue(top_name, top_name, top.public_key(), top)
    intermediate = issue(middle_name, top_name, middle.public_key(), top)
    # F9's certificate re-issued by the intermediate (same subject and key).
    device = issue(f9_cert.subject, middle_name, f9_cert.public_key(), middle)
    der = serialization.Encoding.DER
    result = verify_attestation(attestation, device.public_bytes(der), [root.public_bytes(der)],
                                intermediates=[intermediate.public_bytes(der)], public_key_info=spki)
    assert len(result.chain) == 4
    with pytest.raises(AttestationError):
        verify_attestation(attestation, device.public_bytes(der), [root.public_bytes(der)])


# ----------------------------------------------------------- secrets
def test_no_pin_puk_management_key_or_key_material_in_the_trace(caplog) -> None:
    token, card = so_token()
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    with caplog.at_level(TRACE, logger="cardki.apdu"):
        token.import_key(0x9A, key)
        token.set_pin(CKU.SO, MGMT_HEX, b"abcdef0123456789abcdef0123456789abcdef0123456789")
        token.change_puk(b"12345678", b"31415926")
        token.unblock_pin(b"31415926", b"271828")
        token.write_data_object(0x5FC109, b"\x88\x1a\x89\x18" + b"\x5a" * 24)
    text = " ".join(record.getMessage() for record in caplog.records).replace(" ", "")
    assert "00FE119A" in text  # the trace did record the import
    for secret in (scalar, bytes.fromhex("abcdef0123456789abcdef0123456789"), b"12345678", b"31415926", b"271828",
                   b"\x5a" * 24):
        assert secret.hex().upper() not in text
