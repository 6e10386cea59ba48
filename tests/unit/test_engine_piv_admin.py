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
