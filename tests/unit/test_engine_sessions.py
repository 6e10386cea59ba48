"""Library, slot and session state: initialization, login states shared by the
application's sessions, the SO/R-O exclusions, logout on last close, fork."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from engine_support import MANAGEMENT_KEY, PIN, RO, RW, EngineRig, make_rig

from cardki import CKA, CKO, CKS, CKU, Cryptoki, errors
from cardki.constants import SessionFlag, SlotFlag, TokenFlag, WaitFlag


@pytest.fixture
def rig() -> EngineRig:
    rig = make_rig()
    yield rig
    try:
        rig.lib.finalize()
    except errors.CryptokiNotInitialized:
        pass


def state(rig: EngineRig, session: int) -> int:
    return rig.lib.get_session_info(session).state


def test_calls_before_initialize_fail() -> None:
    lib = Cryptoki(slot_manager=object())
    with pytest.raises(errors.CryptokiNotInitialized):
        lib.get_slot_list(False)
    with pytest.raises(errors.CryptokiNotInitialized):
        lib.finalize()


def test_initialize_twice_and_finalize_twice(rig: EngineRig) -> None:
    with pytest.raises(errors.CryptokiAlreadyInitialized):
        rig.lib.initialize()
    rig.lib.finalize()
    with pytest.raises(errors.CryptokiNotInitialized):
        rig.lib.finalize()
    rig.lib.initialize()  # again usable
    assert rig.lib.get_slot_list(True)


def test_get_info(rig: EngineRig) -> None:
    info = rig.lib.get_info()
    assert info.cryptoki_version == (2, 40)
    assert info.manufacturer_id == "cardki"


def test_virtual_slot_is_listed_with_its_flags(rig: EngineRig) -> None:
    slots = rig.lib.get_slot_list(False)
    assert slots == rig.lib.get_slot_list(True)
    info = rig.lib.get_slot_info(slots[0])
    assert "virtual" in info.slot_description
    assert info.flags & SlotFlag.TOKEN_PRESENT and info.flags & SlotFlag.REMOVABLE_DEVICE
    assert not info.flags & SlotFlag.HW_SLOT  # in-process virtual reader, not hardware
    with pytest.raises(errors.SlotIdInvalid):
        rig.lib.get_slot_info(999)


def test_token_info_counts_this_applications_sessions(rig: EngineRig) -> None:
    rig.open(RO)
    rig.open(RW)
    info = rig.lib.get_token_info(rig.slot_id)
    assert info.session_count == 2 and info.rw_session_count == 1
    assert info.serial_number == "12345678"
    assert info.flags & TokenFlag.TOKEN_INITIALIZED


def test_serial_session_flag_is_required(rig: EngineRig) -> None:
    with pytest.raises(errors.SessionParallelNotSupported):
        rig.lib.open_session(rig.slot_id, SessionFlag.RW_SESSION)


def test_session_states_follow_the_applications_login(rig: EngineRig) -> None:
    ro, rw = rig.open(RO), rig.open(RW)
    assert (state(rig, ro), state(rig, rw)) == (CKS.RO_PUBLIC_SESSION, CKS.RW_PUBLIC_SESSION)
    rig.lib.login(ro, CKU.USER, PIN)
    assert (state(rig, ro), state(rig, rw)) == (CKS.RO_USER_FUNCTIONS, CKS.RW_USER_FUNCTIONS)
    later = rig.open(RO)
    assert state(rig, later) == CKS.RO_USER_FUNCTIONS
    rig.lib.logout(rw)
    assert (state(rig, ro), state(rig, rw), state(rig, later)) == (
        CKS.RO_PUBLIC_SESSION, CKS.RW_PUBLIC_SESSION, CKS.RO_PUBLIC_SESSION)
    with pytest.raises(errors.UserNotLoggedIn):
        rig.lib.logout(rw)


def test_login_errors(rig: EngineRig) -> None:
    rw = rig.open(RW)
    with pytest.raises(errors.UserTypeInvalid):
        rig.lib.login(rw, 7, PIN)
    rig.lib.login(rw, CKU.USER, PIN)
    with pytest.raises(errors.UserAlreadyLoggedIn):
        rig.lib.login(rw, CKU.USER, PIN)
    with pytest.raises(errors.UserAnotherAlreadyLoggedIn):
        rig.lib.login(rw, CKU.SO, MANAGEMENT_KEY)


def test_wrong_pin_reports_tries_left_and_is_not_retried(rig: EngineRig) -> None:
    rw = rig.open(RW)
    with pytest.raises(errors.PinIncorrect) as caught:
        rig.lib.login(rw, CKU.USER, "654321")
    assert caught.value.tries_left == 2
    with pytest.raises(errors.PinIncorrect) as caught:
        rig.lib.login(rw, CKU.USER, "654321")
    assert caught.value.tries_left == 1
    assert state(rig, rw) == CKS.RW_PUBLIC_SESSION
    rig.lib.login(rw, CKU.USER, PIN)  # resets the counter on the card
    assert state(rig, rw) == CKS.RW_USER_FUNCTIONS


def test_so_login_refused_while_a_read_only_session_exists(rig: EngineRig) -> None:
    ro, rw = rig.open(RO), rig.open(RW)
    with pytest.raises(errors.SessionReadOnlyExists):
        rig.lib.login(rw, CKU.SO, MANAGEMENT_KEY)
    rig.lib.close_session(ro)
    rig.lib.login(rw, CKU.SO, MANAGEMENT_KEY)
    assert state(rig, rw) == CKS.RW_SO_FUNCTIONS
    with pytest.raises(errors.SessionReadWriteSoExists):
        rig.open(RO)
    assert state(rig, rig.open(RW)) == CKS.RW_SO_FUNCTIONS


def test_private_objects_visible_only_to_the_user(rig: EngineRig) -> None:
    session = rig.open(RO)
    assert rig.find(session, {CKA.CLASS: CKO.PRIVATE_KEY}) == []
    rig.lib.login(session, CKU.USER, PIN)
    private = rig.find(session, {CKA.CLASS: CKO.PRIVATE_KEY})
    assert len(private) >= 6
    public = rig.find(session, {CKA.CLASS: CKO.PUBLIC_KEY})
    rig.lib.logout(session)
    with pytest.raises(errors.ObjectHandleInvalid):
        rig.lib.get_attribute_value(session, private[0], [CKA.LABEL])
    # the spec: handles to private objects stay invalid even after a new login
    rig.lib.login(session, CKU.USER, PIN)
    again = rig.find(session, {CKA.CLASS: CKO.PRIVATE_KEY})
    assert len(again) == len(private) and not set(again) & set(private)
    with pytest.raises(errors.ObjectHandleInvalid):
        rig.lib.get_attribute_value(session, private[0], [CKA.LABEL])
    assert rig.find(session, {CKA.CLASS: CKO.PUBLIC_KEY}) == public  # public handles are stable


def test_closing_the_last_session_logs_the_application_out(rig: EngineRig) -> None:
    first, second = rig.open(RO), rig.open(RO)
    rig.lib.login(first, CKU.USER, PIN)
    rig.lib.close_session(first)
    assert state(rig, second) == CKS.RO_USER_FUNCTIONS  # one still open: still logged in
    rig.lib.close_session(second)
    fresh = rig.open(RO)
    assert state(rig, fresh) == CKS.RO_PUBLIC_SESSION
    assert rig.find(fresh, {CKA.CLASS: CKO.PRIVATE_KEY}) == []
    with pytest.raises(errors.SessionHandleInvalid):
        rig.lib.get_session_info(first)


def test_close_all_sessions_closes_and_logs_out(rig: EngineRig) -> None:
    sessions = [rig.open(RO), rig.open(RW)]
    rig.lib.login(sessions[0], CKU.USER, PIN)
    rig.lib.close_all_sessions(rig.slot_id)
    for session in sessions:
        with pytest.raises(errors.SessionHandleInvalid):
            rig.lib.get_session_info(session)
    assert state(rig, rig.open(RO)) == CKS.RO_PUBLIC_SESSION


def test_finalize_closes_every_session(rig: EngineRig) -> None:
    session = rig.open(RW)
    rig.lib.login(session, CKU.USER, PIN)
    rig.lib.finalize()
    rig.lib.initialize()
    with pytest.raises(errors.SessionHandleInvalid):
        rig.lib.get_session_info(session)
    assert state(rig, rig.open(RO)) == CKS.RO_PUBLIC_SESSION


def test_session_handles_are_never_reused(rig: EngineRig) -> None:
    seen = set()
    for _ in range(5):
        session = rig.open(RO)
        assert session not in seen and session != 0
        seen.add(session)
        rig.lib.close_session(session)


def test_wait_for_slot_event_without_blocking_reports_no_event(rig: EngineRig) -> None:
    with pytest.raises(errors.NoEvent):
        rig.lib.wait_for_slot_event(WaitFlag.DONT_BLOCK)


def test_legacy_and_unsupported_functions(rig: EngineRig) -> None:
    session = rig.open(RO)
    with pytest.raises(errors.FunctionNotParallel):
        rig.lib.get_function_status(session)
    with pytest.raises(errors.FunctionNotParallel):
        rig.lib.cancel_function(session)
    with pytest.raises(errors.RandomSeedNotSupported):
        rig.lib.seed_random(session, b"x")
    with pytest.raises(errors.FunctionNotSupported):
        rig.lib.get_operation_state(session)
    with pytest.raises(errors.SessionExists):
        rig.lib.init_token(rig.slot_id, MANAGEMENT_KEY, "x")
    assert len(rig.lib.generate_random(session, 32)) == 32


def _child_sees_not_initialized(lib: Cryptoki, queue: multiprocessing.Queue[str]) -> None:
    try:
        lib.get_slot_list(True)
        queue.put("initialized")
    except errors.CryptokiNotInitialized:
        queue.put("not initialized")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_must_initialize_again(rig: EngineRig) -> None:
    rig.open(RO)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_sees_not_initialized, args=(rig.lib, queue))
    child.start()
    child.join(20)
    assert queue.get(timeout=5) == "not initialized"
    assert rig.lib.get_slot_list(True)  # the parent is untouched


def test_a_card_without_a_known_applet_is_not_recognized() -> None:
    from cardki.slot import SlotManager
    from hwsim.card import VirtualCard

    class UnknownCard(VirtualCard):
        """Answers every command with 6A82 (file or application not found)."""

        @property
        def atr(self) -> bytes:
            return bytes.fromhex("3B8080010101")

        def power_on(self) -> None:
            pass

        def power_off(self) -> None:
            pass

        def execute(self, apdu: bytes) -> bytes:
            return b"\x6a\x82"

    lib = Cryptoki(slot_manager=SlotManager(virtual_fallback=UnknownCard, use_pcsc=False))
    lib.initialize()
    try:
        (slot,) = lib.get_slot_list(True)  # a card is present ...
        with pytest.raises(errors.TokenNotRecognized):  # ... but no token cardki knows
            lib.get_token_info(slot)
        with pytest.raises(errors.TokenNotRecognized):
            lib.open_session(slot, RO)
    finally:
        lib.finalize()


def test_finalize_ends_a_blocked_wait_and_leaves_a_given_slot_manager_usable(rig: EngineRig) -> None:
    import threading

    outcome: list = []

    def wait() -> None:
        try:
            rig.lib.wait_for_slot_event()
            outcome.append("event")
        except errors.CryptokiError as error:
            outcome.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()
    rig.lib.finalize()
    waiter.join(5)
    assert not waiter.is_alive() and isinstance(outcome[0], errors.CryptokiNotInitialized)
    rig.lib.initialize()  # the same (caller's) slot manager, not cancelled for good
    with pytest.raises(errors.NoEvent):
        rig.lib.wait_for_slot_event(WaitFlag.DONT_BLOCK)
