"""Card removal through the real stack: pulling the card between sign_init and
sign gives DEVICE_REMOVED and closes the slot's sessions; the reinserted card
works again with new sessions; slot events reach C_WaitForSlotEvent and
C_Finalize ends a blocked wait."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any, List

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from engine_stack import RO, RW, find, reader_slot

from cardki import CKA, CKM, CKO, CKS, CKU, Cryptoki, errors
from cardki.constants import CKR, SlotFlag, WaitFlag
from hwsim import stack
from provisioning import PIN, host_keys

pytestmark = pytest.mark.sim


def sign_and_check(lib: Cryptoki, session: int) -> int:
    (key,) = find(lib, session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: b"\x01"})
    lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
    signature = lib.sign(session, b"through pcscd")
    host_keys()[0x9A].public_key().verify(signature, b"through pcscd", padding.PKCS1v15(), hashes.SHA256())
    return key


def test_removal_mid_operation_then_reinsertion(lib: Cryptoki, provisioned_card: Any) -> None:
    slot = reader_slot(lib, provisioned_card.reader_name)
    info = lib.get_slot_info(slot)
    assert info.flags & SlotFlag.HW_SLOT and info.flags & SlotFlag.TOKEN_PRESENT
    session, bystander = lib.open_session(slot, RO), lib.open_session(slot, RW)
    lib.login(session, CKU.USER, PIN)
    key = sign_and_check(lib, session)

    lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
    provisioned_card.remove()
    with pytest.raises(errors.DeviceRemoved):
        lib.sign(session, b"too late")
    for handle in (session, bystander):
        with pytest.raises(errors.SessionHandleInvalid):
            lib.sign(handle, b"x")
        with pytest.raises(errors.SessionHandleInvalid):
            lib.get_session_info(handle)
    assert slot not in lib.get_slot_list(True)
    with pytest.raises(errors.TokenNotPresent):
        lib.open_session(slot, RO)

    provisioned_card.insert()
    assert slot in lib.get_slot_list(True)
    fresh = lib.open_session(slot, RO)
    assert lib.get_session_info(fresh).state == CKS.RO_PUBLIC_SESSION
    lib.login(fresh, CKU.USER, PIN)
    sign_and_check(lib, fresh)


def test_slot_list_notices_removal_without_any_card_call(lib: Cryptoki, provisioned_card: Any) -> None:
    slot = reader_slot(lib, provisioned_card.reader_name)
    session = lib.open_session(slot, RO)
    provisioned_card.remove()
    assert slot not in lib.get_slot_list(True)
    with pytest.raises(errors.SessionHandleInvalid):
        lib.get_session_info(session)
    provisioned_card.insert()


def test_wait_for_slot_event_reports_the_reader_then_the_cards_applet_slot(lib: Cryptoki,
                                                                            provisioned_card: Any) -> None:
    """A YubiKey has two slots (PIV in the reader's, OpenPGP in its own): its removal and
    its insertion are an event of each, the reader's first; the OpenPGP slot keeps its id."""
    slot = reader_slot(lib, provisioned_card.reader_name)
    openpgp = reader_slot(lib, provisioned_card.reader_name + " (OpenPGP)")
    while True:  # drain what happened before (the fixture's own insertion)
        try:
            lib.wait_for_slot_event(WaitFlag.DONT_BLOCK)
        except errors.NoEvent:
            break
    provisioned_card.remove()
    assert lib.wait_for_slot_event() == slot
    assert lib.wait_for_slot_event(WaitFlag.DONT_BLOCK) == openpgp
    assert openpgp not in lib.get_slot_list(False)  # listed only while a card with OpenPGP is in
    assert not lib.get_slot_info(openpgp).flags & SlotFlag.TOKEN_PRESENT  # its id stays valid
    provisioned_card.insert()
    assert lib.wait_for_slot_event() == slot
    assert lib.wait_for_slot_event(WaitFlag.DONT_BLOCK) == openpgp
    listed = lib.get_slot_list(True)
    assert listed.index(openpgp) == listed.index(slot) + 1  # right after its reader's slot


def test_finalize_ends_a_blocked_wait(lib: Cryptoki, provisioned_card: Any) -> None:
    outcome: List[BaseException] = []

    def wait() -> None:
        try:
            while True:
                lib.wait_for_slot_event()
        except errors.CryptokiError as error:
            outcome.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive()  # blocked, not holding the library lock:
    assert lib.get_slot_list(False)
    lib.finalize()
    waiter.join(10)
    assert not waiter.is_alive()
    assert isinstance(outcome[0], errors.CryptokiNotInitialized)


def test_a_swapped_card_closes_the_old_sessions(lib: Cryptoki, provisioned_card: Any) -> None:
    slot = reader_slot(lib, provisioned_card.reader_name)
    session = lib.open_session(slot, RO)
    provisioned_card.remove()
    provisioned_card.insert()  # out and in again with no call in between
    assert slot in lib.get_slot_list(True)
    with pytest.raises(errors.SessionHandleInvalid):
        lib.get_session_info(session)
    fresh = lib.open_session(slot, RO)
    lib.login(fresh, CKU.USER, PIN)
    sign_and_check(lib, fresh)


def test_a_card_swapped_for_another_is_a_new_token(lib: Cryptoki, provisioned_card: Any, tmp_path: Any) -> None:
    """An operation begun on the first card answers DEVICE_REMOVED once another card sits in
    the reader; new sessions see the new card (its serial, its objects), none of the old one."""
    slot = reader_slot(lib, provisioned_card.reader_name)
    session = lib.open_session(slot, RO)
    lib.login(session, CKU.USER, PIN)
    key = sign_and_check(lib, session)
    lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
    provisioned_card.remove()
    provisioned_card.control.new_card(serial=4242, state=str(tmp_path / "another-card.json"))
    provisioned_card.insert()
    with pytest.raises(errors.DeviceRemoved):
        lib.sign(session, b"meant for the first card")
    with pytest.raises(errors.SessionHandleInvalid):
        lib.get_session_info(session)
    assert lib.get_token_info(slot).serial_number == "4242"
    fresh = lib.open_session(slot, RO)
    lib.login(fresh, CKU.USER, PIN)
    assert find(lib, fresh, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: b"\x01"}) == []  # factory-new: no 9A key


def test_a_reset_by_another_program_is_absorbed(lib: Cryptoki, provisioned_card: Any) -> None:
    from cardki.slot import PcscTransport

    slot = reader_slot(lib, provisioned_card.reader_name)
    session = lib.open_session(slot, RO)
    lib.login(session, CKU.USER, PIN)
    key = sign_and_check(lib, session)
    objects = find(lib, session, {})
    other = PcscTransport(provisioned_card.reader_name)  # another PC/SC client resets the card
    try:
        other.reconnect(reset=True)
    finally:
        other.close()
    assert slot in lib.get_slot_list(True)  # a reset is no new insertion
    assert lib.get_session_info(session).state == CKS.RO_USER_FUNCTIONS
    assert sign_and_check(lib, session) == key  # the token re-selected and re-verified
    assert find(lib, session, {}) == objects


def test_a_card_pulled_while_its_objects_are_read_closes_the_sessions(lib: Cryptoki, provisioned_card: Any) -> None:
    slot = reader_slot(lib, provisioned_card.reader_name)
    session, bystander = lib.open_session(slot, RO), lib.open_session(slot, RO)
    lib.login(session, CKU.USER, PIN)
    provisioned_card.control.remove()  # PC/SC has not noticed yet: the next exchange fails first
    with pytest.raises(errors.DeviceRemoved):
        find(lib, session, {CKA.ID: b"\x01"})  # the first find reads the key's slot from the card
    for handle in (session, bystander):
        with pytest.raises(errors.SessionHandleInvalid):
            lib.get_session_info(handle)
    with pytest.raises(errors.TokenNotPresent):
        lib.open_session(slot, RO)
    provisioned_card.insert()


#: What a call may answer once the card is pulled: the call that finds out, DEVICE_REMOVED;
#: a session the removal already closed, SESSION_HANDLE_INVALID; a new session, TOKEN_NOT_PRESENT.
REMOVAL_CODES = (CKR.DEVICE_REMOVED, CKR.SESSION_HANDLE_INVALID, CKR.TOKEN_NOT_PRESENT)


def test_a_card_pulled_at_random_points_of_a_signing_loop_always_reads_as_removed(
        lib: Cryptoki, provisioned_card: Any) -> None:
    """Each round pulls the card from another thread after a random delay while this one
    opens a session, logs in, finds the key and signs, over and over: whatever call is hit,
    it answers a removal code (never DEVICE_ERROR, GENERAL_ERROR or a hang); right after it,
    new sessions see no token; and once the card is back a new session signs."""
    slot = reader_slot(lib, provisioned_card.reader_name)
    rng = random.Random(20261201)
    seen: Counter = Counter()
    for round_number in range(6):
        puller = threading.Timer(rng.uniform(0.0, 0.03), provisioned_card.control.remove)
        puller.start()
        deadline = time.monotonic() + 10
        session = None
        try:
            while True:
                assert time.monotonic() < deadline, "the card was pulled, yet every call kept working"
                session = lib.open_session(slot, RO)
                lib.login(session, CKU.USER, PIN)
                (key,) = find(lib, session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: b"\x01"})
                lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
                lib.sign(session, b"signed while the card leaves")
                lib.close_session(session)
        except errors.CryptokiError as error:
            assert error.rv in REMOVAL_CODES, f"round {round_number}: {error.rv_name} ({error})"
            seen[error.rv_name] += 1
        finally:
            puller.join()
        # At once, not after PC/SC caught up: the slot's sessions are gone and it has no token.
        if session is not None:
            with pytest.raises(errors.SessionHandleInvalid):
                lib.get_session_info(session)
        with pytest.raises(errors.TokenNotPresent):
            lib.open_session(slot, RO)
        assert slot not in lib.get_slot_list(True)
        provisioned_card.insert()
    assert seen["CKR_DEVICE_REMOVED"] or seen["CKR_TOKEN_NOT_PRESENT"], seen
    fresh = lib.open_session(slot, RO)
    lib.login(fresh, CKU.USER, PIN)
    sign_and_check(lib, fresh)


@pytest.mark.parametrize("first", ["operation", "slot list"])
def test_a_reader_that_vanishes_takes_its_sessions_and_returns_as_a_new_slot(
        lib: Cryptoki, pcsc_stack: Any, provisioned_card: Any, first: str) -> None:
    """Stopping pcscd makes every reader vanish, as a USB token pulled out takes its reader
    with it. Whichever call notices first -- the operation under way (DEVICE_REMOVED) or a
    listing that lacks the reader -- closes the slot's sessions; the old slot id is then
    invalid, and the reader comes back under a new id (ids are never reused) that works."""
    assert pcsc_stack.started_pcscd, "this test stops pcscd: stop the pcscd started outside the test run first"
    slot = reader_slot(lib, provisioned_card.reader_name)
    openpgp = reader_slot(lib, provisioned_card.reader_name + " (OpenPGP)")  # the YubiKey's second slot
    busy, idle = lib.open_session(slot, RO), lib.open_session(slot, RO)
    other = lib.open_session(openpgp, RO)
    lib.login(busy, CKU.USER, PIN)
    key = sign_and_check(lib, busy)
    lib.sign_init(busy, CKM.SHA256_RSA_PKCS, key)
    stack.stop_pcscd()
    try:
        if first == "operation":
            with pytest.raises(errors.DeviceRemoved):
                lib.sign(busy, b"the reader is gone")
        listed = lib.get_slot_list(False)
        assert slot not in listed and openpgp not in listed
        for handle in (busy, idle, other):
            with pytest.raises(errors.SessionHandleInvalid):
                lib.get_session_info(handle)
        for gone in (slot, openpgp):
            with pytest.raises(errors.SlotIdInvalid):
                lib.open_session(gone, RO)
    finally:
        stack.ensure_pcscd()
        stack.wait_for_card(provisioned_card.reader_name, present=True, timeout=10)
    back = reader_slot(lib, provisioned_card.reader_name)
    assert back != slot
    assert reader_slot(lib, provisioned_card.reader_name + " (OpenPGP)") not in (openpgp, back)
    fresh = lib.open_session(back, RO)
    lib.login(fresh, CKU.USER, PIN)
    sign_and_check(lib, fresh)
