"""Card removal through the real stack: pulling the card between sign_init and
sign gives DEVICE_REMOVED and closes the slot's sessions; the reinserted card
works again with new sessions; slot events reach C_WaitForSlotEvent and
C_Finalize ends a blocked wait."""

from __future__ import annotations

import threading
from typing import Any, Iterator, List

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from cardki import CKA, CKM, CKO, CKS, CKU, Cryptoki, errors
from cardki.cryptoki.constants import SessionFlag, SlotFlag, WaitFlag
from provisioning import PIN, host_keys

pytestmark = pytest.mark.sim

RO = int(SessionFlag.SERIAL_SESSION)
RW = int(SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION)


@pytest.fixture
def lib() -> Iterator[Cryptoki]:
    library = Cryptoki()
    library.initialize()
    yield library
    try:
        library.finalize()
    except errors.CryptokiNotInitialized:
        pass


def reader_slot(lib: Cryptoki, reader_name: str) -> int:
    slots = [s for s in lib.get_slot_list(False) if lib.get_slot_info(s).slot_description == reader_name]
    assert slots
    return slots[0]


def find(lib: Cryptoki, session: int, template: dict) -> List[int]:
    lib.find_objects_init(session, template)
    try:
        return lib.find_objects(session, 100)
    finally:
        lib.find_objects_final(session)


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


def test_wait_for_slot_event_reports_the_reader(lib: Cryptoki, provisioned_card: Any) -> None:
    slot = reader_slot(lib, provisioned_card.reader_name)
    while True:  # drain what happened before (the fixture's own insertion)
        try:
            lib.wait_for_slot_event(WaitFlag.DONT_BLOCK)
        except errors.NoEvent:
            break
    provisioned_card.remove()
    assert lib.wait_for_slot_event() == slot
    provisioned_card.insert()
    assert lib.wait_for_slot_event() == slot


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
