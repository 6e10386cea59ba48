"""Objects registered one CKA_ID at a time (a find naming CKA_ID reads only that
PIV slot) are the same objects, with the same attributes and handle rules, as
when the whole list is read first."""

from __future__ import annotations

from typing import Dict, List

import pytest
from engine_support import PIN, RO, EngineRig

from cardki import CKA, CKO, CKU
from provisioning import KEY_IDS

SHOWN = [CKA.CLASS, CKA.ID, CKA.LABEL, CKA.PRIVATE, CKA.SUBJECT, CKA.KEY_TYPE, CKA.SIGN, CKA.VALUE]


@pytest.fixture
def other_rig(rig: EngineRig) -> EngineRig:
    """A second library over a copy of ``rig``'s card (certificates are signed afresh per card)."""
    from cardki import Cryptoki
    from cardki.slot import SlotManager
    from hwsim.yubikey import VirtualYubiKey

    rig.card.piv._ensure_attestation()  # made lazily by the simulator: copy it, not a second one
    card = VirtualYubiKey(state=rig.card.to_state())
    manager = SlotManager(virtual_fallback=lambda: card, use_pcsc=False)
    lib = Cryptoki(slot_manager=manager)
    lib.initialize()
    other = EngineRig(lib, manager, card, rig.keys)
    yield other
    lib.finalize()


def described(rig: EngineRig, session: int, handles: List[int]) -> List[Dict[int, object]]:
    """What a caller can see of each object (attributes it lacks are simply left out)."""
    result = []
    for handle in handles:
        values = {}
        for attribute in SHOWN:
            try:
                values[attribute] = rig.lib.get_attribute_value(session, handle, [attribute])[attribute]
            except Exception:  # noqa: BLE001 - attribute not on this object class
                continue
        result.append(values)
    return sorted(result, key=repr)


@pytest.mark.parametrize("logged_in", [False, True])
def test_find_by_id_first_sees_what_find_all_first_sees(rig: EngineRig, other_rig: EngineRig,
                                                        logged_in: bool) -> None:
    staged, full = rig.open(RO), other_rig.open(RO)
    if logged_in:
        rig.lib.login(staged, CKU.USER, PIN)
        other_rig.lib.login(full, CKU.USER, PIN)
    everything = other_rig.find(full, {})
    assert everything
    for cka_id in [*KEY_IDS.values(), b"\x7f"]:
        for template in ({CKA.ID: cka_id}, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: cka_id}):
            assert described(rig, staged, rig.find(staged, template)) == described(
                other_rig, full, other_rig.find(full, template)), (cka_id, template)
    assert described(rig, staged, rig.find(staged, {})) == described(other_rig, full, everything)


def test_handles_from_a_find_by_id_stay_in_the_full_list(rig: EngineRig) -> None:
    session = rig.open(RO)
    rig.lib.login(session, CKU.USER, PIN)
    by_id = rig.find(session, {CKA.ID: KEY_IDS[0x9A]})
    assert len(by_id) == 3  # private key, public key, certificate
    everything = rig.find(session, {})
    assert set(by_id) <= set(everything)
    assert rig.find(session, {CKA.ID: KEY_IDS[0x9A]}) == by_id


def test_logout_invalidates_private_handles_listed_by_id_for_good(rig: EngineRig) -> None:
    session = rig.open(RO)
    rig.lib.login(session, CKU.USER, PIN)
    private = rig.private_key(session, KEY_IDS[0x9A])
    public = rig.public_key(session, KEY_IDS[0x9A])
    rig.lib.logout(session)
    assert rig.find(session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: KEY_IDS[0x9A]}) == []
    rig.lib.login(session, CKU.USER, PIN)
    assert rig.private_key(session, KEY_IDS[0x9A]) != private
    assert rig.public_key(session, KEY_IDS[0x9A]) == public


def test_a_key_found_by_id_signs(rig: EngineRig) -> None:
    from cardki import CKM

    session = rig.open(RO)
    rig.lib.login(session, CKU.USER, PIN)
    key = rig.private_key(session, KEY_IDS[0x9A])
    rig.lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
    assert len(rig.lib.sign(session, b"data")) == 256


def test_pin_protected_data_objects_still_appear_after_a_find_by_id(rig: EngineRig) -> None:
    from hwsim.iso7816 import tlv

    rig.card.piv.objects[0x5FC109] = tlv(0x01, b"Jane Doe") + tlv(0xFE)  # Printed Information
    rig.card.mark_changed()
    session = rig.open(RO)
    rig.lib.login(session, CKU.USER, PIN)
    rig.private_key(session, KEY_IDS[0x9A])
    labels = [rig.lib.get_attribute_value(session, handle, [CKA.LABEL])[CKA.LABEL]
              for handle in rig.find(session, {CKA.CLASS: CKO.DATA})]
    assert "Printed Information" in labels
