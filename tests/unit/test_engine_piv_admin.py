"""PIV administration as far as today's engine reaches the token (the engine's own
wiring of the rest comes with issue 11): C_GenerateKeyPair with ykcs11's policy
attributes, C_SetPIN as SO (management key) and with ykcs11's "puk:" prefixes,
C_InitPIN refused, and an attestation certificate found by its own CKA_ID."""

from __future__ import annotations

import pytest
from engine_support import MANAGEMENT_KEY, PIN, RW, make_rig

from cardki import CKA, CKM, CKO, CKU, errors
from cardki.curves import CURVES

#: CKA_EC_PARAMS by curve name (cardki.curves is the one table).
EC_PARAMS_OF = {curve.name: curve.ec_params for curve in CURVES}


def test_generate_key_pair_through_the_engine_takes_the_vendor_policy_attributes() -> None:
    rig = make_rig()
    session = rig.open(RW)
    rig.lib.login(session, CKU.SO, MANAGEMENT_KEY)
    rig.lib.generate_key_pair(session, CKM.EC_KEY_PAIR_GEN, {CKA.TOKEN: True, CKA.EC_PARAMS: EC_PARAMS_OF["secp256r1"]},
                              {CKA.TOKEN: True, CKA.ID: b"\x07", CKA.YUBICO_PIN_POLICY: b"\x01",
                               CKA.YUBICO_TOUCH_POLICY: b"\x03"})
    assert (rig.card.piv.keys[0x84].pin_policy, rig.card.piv.keys[0x84].touch_policy) == (1, 3)
    rig.lib.logout(session)
    rig.lib.login(session, CKU.USER, PIN)
    private = rig.private_key(session, b"\x07")
    values = rig.lib.get_attribute_value(session, private, [CKA.YUBICO_PIN_POLICY, CKA.YUBICO_TOUCH_POLICY])
    assert values == {CKA.YUBICO_PIN_POLICY: b"\x01", CKA.YUBICO_TOUCH_POLICY: b"\x03"}


def test_set_pin_as_so_and_with_puk_prefixes_through_the_engine() -> None:
    rig = make_rig()
    session = rig.open(RW)
    rig.lib.login(session, CKU.SO, MANAGEMENT_KEY)
    with pytest.raises(errors.FunctionNotSupported):
        rig.lib.init_pin(session, "123456")
    rig.lib.set_pin(session, MANAGEMENT_KEY, "22" * 24)
    assert rig.card.piv.mgmt_key == b"\x22" * 24
    rig.lib.logout(session)
    rig.lib.set_pin(session, "puk:12345678", "puk:87654321")
    assert rig.card.piv.puk.value == b"87654321"
    rig.card.piv.pin.left = 0  # blocked
    rig.lib.set_pin(session, "puk:87654321", "pin:246810")
    rig.lib.login(session, CKU.USER, "246810")


def test_an_attestation_is_found_by_its_own_cka_id() -> None:
    rig = make_rig()
    session = rig.open(RW)
    rig.lib.login(session, CKU.SO, MANAGEMENT_KEY)
    rig.lib.generate_key_pair(session, CKM.EC_KEY_PAIR_GEN, {CKA.TOKEN: True, CKA.EC_PARAMS: EC_PARAMS_OF["secp256r1"]},
                              {CKA.TOKEN: True, CKA.ID: b"\x07"})
    rig.lib.finalize()
    rig.lib.initialize()  # a new process, as it were: nothing listed yet
    session = rig.open()
    (handle,) = rig.find(session, {CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x6b"})  # 07 + 100
    assert rig.lib.get_attribute_value(session, handle, [CKA.LABEL, CKA.TOKEN]) == {
        CKA.LABEL: "Attestation of Retired Key 3", CKA.TOKEN: False}
    assert rig.find(session, {CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x07"}) == []  # never the key's id


def _generate_9a(rig) -> None:
    session = rig.open(RW)
    rig.lib.login(session, CKU.SO, MANAGEMENT_KEY)
    rig.lib.generate_key_pair(session, CKM.EC_KEY_PAIR_GEN, {CKA.TOKEN: True, CKA.EC_PARAMS: EC_PARAMS_OF["secp256r1"]},
                              {CKA.TOKEN: True, CKA.ID: b"\x01"})
    rig.lib.close_session(session)


def test_an_attestation_is_found_by_its_cka_id_after_the_full_listing_too() -> None:
    """Finds by CKA_ID work in any order: after a full listing, the attestation's id
    (made on demand, never listed by itself) is still asked of the token. Ids the full
    list covers, and ids no object has, cost the card nothing."""
    rig = make_rig()
    _generate_9a(rig)
    rig.lib.finalize()
    rig.lib.initialize()
    session = rig.open()
    listed = rig.find(session, {})
    assert listed and rig.find(session, {CKA.ID: b"\x65"}) != []  # 01 + 100
    before = rig.apdus
    assert len(rig.find(session, {CKA.ID: b"\x01"})) == 2            # public key, certificate-less 9A
    assert rig.find(session, {CKA.ID: b"\x7f"}) == []
    assert rig.find(session, {CKA.ID: b"\x65"}) != []
    assert rig.apdus == before
    (attestation,) = rig.find(session, {CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x65"})
    assert rig.lib.get_attribute_value(session, attestation, [CKA.LABEL])[CKA.LABEL].startswith("Attestation")
    assert attestation in rig.find(session, {})  # and the full list shows it from now on


def test_an_attestation_find_before_the_listing_costs_two_apdus_once() -> None:
    rig = make_rig()
    _generate_9a(rig)
    rig.lib.finalize()
    rig.lib.initialize()
    session = rig.open()
    before = rig.apdus
    (attestation,) = rig.find(session, {CKA.ID: b"\x65"})
    assert rig.apdus - before == 2  # SELECT + ATTEST
    assert rig.find(session, {CKA.ID: b"\x65"}) == [attestation]
    assert rig.apdus - before == 2


def _p256_import_template(key_id: bytes) -> dict:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return {CKA.CLASS: CKO.PRIVATE_KEY, CKA.TOKEN: True, CKA.PRIVATE: True, CKA.SENSITIVE: True,
            CKA.KEY_TYPE: 3, CKA.ID: key_id, CKA.EC_PARAMS: EC_PARAMS_OF["secp256r1"],
            CKA.VALUE: key.private_numbers().private_value.to_bytes(32, "big")}


def test_the_so_imports_a_private_key_marked_private_as_pkcs11_tool_sends_it() -> None:
    """pkcs11-tool --write-object --type privkey sends CKA_PRIVATE TRUE. On PIV only the
    SO (management key) writes keys, so the SO may create private objects (it cannot
    see them afterwards); without a login it is USER_NOT_LOGGED_IN, and the user may
    not write keys at all."""
    rig = make_rig()
    session = rig.open(RW)
    template = _p256_import_template(b"\x03")
    with pytest.raises(errors.UserNotLoggedIn):
        rig.lib.create_object(session, template)
    rig.lib.login(session, CKU.USER, PIN)
    with pytest.raises(errors.UserNotLoggedIn):
        rig.lib.create_object(session, template)
    rig.lib.logout(session)
    rig.lib.login(session, CKU.SO, MANAGEMENT_KEY)
    handle = rig.lib.create_object(session, template)
    with pytest.raises(errors.ObjectHandleInvalid):  # private: the SO's session cannot see it
        rig.lib.get_attribute_value(session, handle, [CKA.LABEL])
    assert rig.card.piv.keys[0x9D].origin == 2  # imported
    rig.lib.logout(session)
    rig.lib.login(session, CKU.USER, PIN)  # the SO's logout ended that handle: the user finds the key anew
    private = rig.private_key(session, b"\x03")
    assert private != handle
    assert rig.lib.get_attribute_value(session, private, [CKA.LOCAL]) == {CKA.LOCAL: False}


def test_init_token_through_the_engine_follows_the_spec_and_resets_the_card() -> None:
    rig = make_rig()
    session = rig.open(RW)
    old = rig.find(session, {CKA.CLASS: CKO.CERTIFICATE})
    with pytest.raises(errors.SessionExists):
        rig.lib.init_token(rig.slot_id, MANAGEMENT_KEY, "cardki")
    rig.lib.close_session(session)
    for label in ("x" * 33, b"cardki\x00" + b" " * 25, b"\xff" + b" " * 31, "é" * 17):
        with pytest.raises(errors.ArgumentsBad):
            rig.lib.init_token(rig.slot_id, MANAGEMENT_KEY, label)
    with pytest.raises(errors.ArgumentsBad):
        rig.lib.init_token(rig.slot_id, None, "cardki")
    with pytest.raises(errors.PinIncorrect):
        rig.lib.init_token(rig.slot_id, "22" * 24, "cardki")
    assert 0x9A in rig.card.piv.keys  # a wrong SO PIN resets nothing
    rig.lib.init_token(rig.slot_id, MANAGEMENT_KEY, b"cardki".ljust(32))
    assert set(rig.card.piv.keys) == {0xF9}  # the attestation key stays
    session = rig.open(RW)
    assert rig.find(session, {CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x01"}) == []
    for handle in old:
        with pytest.raises(errors.ObjectHandleInvalid):
            rig.lib.get_attribute_value(session, handle, [CKA.LABEL])
    rig.lib.login(session, CKU.SO, MANAGEMENT_KEY)  # the SO PIN is what C_InitToken was given
    rig.lib.logout(session)
    rig.lib.login(session, CKU.USER, "123456")      # the PIN is the factory one


def test_opensc_0_23s_misspelt_curve25519_generates_an_x25519_key() -> None:
    """pkcs11-tool 0.23 (Debian 12) names X25519 by a PrintableString whose length byte
    says 11 for "curve25519"'s 10 characters; it still means X25519."""
    rig = make_rig()
    session = rig.open(RW)
    rig.lib.login(session, CKU.SO, MANAGEMENT_KEY)
    rig.lib.generate_key_pair(session, CKM.EC_MONTGOMERY_KEY_PAIR_GEN,
                              {CKA.TOKEN: True, CKA.EC_PARAMS: bytes.fromhex("130b") + b"curve25519"},
                              {CKA.TOKEN: True, CKA.ID: b"\x08", CKA.DERIVE: True})
    assert rig.card.piv.keys[0x85].algorithm.ident == 0xE1
