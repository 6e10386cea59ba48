"""Card removal and reset in-process: the failing call reports DEVICE_REMOVED,
the slot's sessions die, a reinserted card works with new sessions; a reset by
another program is absorbed and keeps handles stable."""

from __future__ import annotations

import pytest
from engine_support import PIN, RO, RW, EngineRig

from cardki import CKA, CKM, CKO, CKU, errors


def test_removal_between_sign_init_and_sign(rig: EngineRig) -> None:
    session, other = rig.open(RO), rig.open(RW)
    rig.lib.login(session, CKU.USER, PIN)
    key = rig.private_key(session, b"\x01")
    note = rig.lib.create_object(other, {CKA.CLASS: CKO.DATA, CKA.LABEL: "note"})
    rig.lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
    rig.reader.remove()
    with pytest.raises(errors.DeviceRemoved):
        rig.lib.sign(session, b"data")
    for handle in (session, other):
        with pytest.raises(errors.SessionHandleInvalid):
            rig.lib.get_session_info(handle)
    with pytest.raises(errors.TokenNotPresent):
        rig.open(RO)

    rig.reader.insert()
    fresh = rig.open(RO)
    assert rig.lib.get_session_info(fresh).state == 0  # public: the login went with the card
    with pytest.raises(errors.ObjectHandleInvalid):
        rig.lib.get_attribute_value(fresh, note, [CKA.LABEL])
    rig.lib.login(fresh, CKU.USER, PIN)
    new_key = rig.private_key(fresh, b"\x01")
    assert new_key != key  # a new insertion gets new handles
    rig.lib.sign_init(fresh, CKM.SHA256_RSA_PKCS, new_key)
    assert len(rig.lib.sign(fresh, b"data")) == 256


def test_slot_list_notices_an_empty_reader(rig: EngineRig) -> None:
    session = rig.open(RO)
    slot = rig.slot_id
    rig.reader.remove()
    assert rig.lib.get_slot_list(True) == []
    assert slot in rig.lib.get_slot_list(False)
    with pytest.raises(errors.SessionHandleInvalid):
        rig.lib.get_session_info(session)
    with pytest.raises(errors.TokenNotPresent):
        rig.lib.get_token_info(slot)


def test_reset_by_another_program_keeps_login_and_handles(rig: EngineRig) -> None:
    session = rig.open(RO)
    rig.lib.login(session, CKU.USER, PIN)
    key = rig.private_key(session, b"\x01")
    before = rig.find(session, {})
    rig.reader.reset()
    rig.lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
    assert len(rig.lib.sign(session, b"data")) == 256
    assert rig.find(session, {}) == before
    assert rig.lib.get_session_info(session).state == 1  # still RO user


def test_a_swapped_card_is_noticed_by_the_slot_list(rig: EngineRig) -> None:
    session = rig.open(RO)
    rig.reader.remove()
    rig.reader.insert()  # out and in again between two calls: a new insertion
    assert rig.lib.get_slot_list(True)[0] == rig.slot_id  # (the YubiKey's OpenPGP slot follows)
    with pytest.raises(errors.SessionHandleInvalid):
        rig.lib.get_session_info(session)
    assert rig.lib.get_session_info(rig.open(RO)).state == 0
