"""The spec's two-application walk-through (PKCS#11 2.40, section 5.6) through
the real stack: application A in this process (its "threads" A1 and A2 are two
real threads), application B in another process, one virtual YubiKey behind
pcscd + vpcd. Every step of the walk-through is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

from cardki import CKA, CKO, CKR, CKS, CKU, Cryptoki, errors
from cardki.constants import SessionFlag

pytestmark = pytest.mark.sim

PIN = "123456"
MANAGEMENT_KEY = "010203040506070801020304050607080102030405060708"
RO = int(SessionFlag.SERIAL_SESSION)
RW = int(SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION)
PEER = Path(__file__).resolve().parent / "engine_peer.py"


class Peer:
    """Application B: a Cryptoki in its own process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(PEER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def call(self, method: str, *arguments: Any) -> Any:
        """The result, or raise the CryptokiError B got."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps([method, list(arguments)]) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "application B died"
        reply = json.loads(line)
        if not reply["ok"]:
            raise errors.error_class(reply["rv"])()
        return reply["result"]

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(["exit", []]) + "\n")
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def peer() -> Iterator[Peer]:
    b = Peer()
    yield b
    b.close()


def _reader_slot(slots: List[int], description: Callable[[int], str], reader_name: str) -> int:
    matching = [slot for slot in slots if description(slot) == reader_name]
    assert matching, [description(slot) for slot in slots]
    return matching[0]


def test_two_applications_walk_through(virtual_card: Any, peer: Peer) -> None:
    a = Cryptoki()
    thread_a1 = ThreadPoolExecutor(1, thread_name_prefix="A1")
    thread_a2 = ThreadPoolExecutor(1, thread_name_prefix="A2")

    def a1(function: Callable, *arguments: Any) -> Any:
        return thread_a1.submit(function, *arguments).result()

    def a2(function: Callable, *arguments: Any) -> Any:
        return thread_a2.submit(function, *arguments).result()

    def a_state(session: int) -> int:
        return a.get_session_info(session).state

    def b_state(session: int) -> int:
        return peer.call("get_session_info", session)["state"]

    try:
        # 1. A and B each initialize the library.
        a.initialize()
        peer.call("initialize")
        slot = _reader_slot(a.get_slot_list(True), lambda s: a.get_slot_info(s).slot_description,
                            virtual_card.reader_name)
        b_slot = _reader_slot(peer.call("get_slot_list", True),
                              lambda s: peer.call("get_slot_info", s)["slot_description"],
                              virtual_card.reader_name)

        # 2. A1 opens a R/W session (A's "session 7"): a R/W public session.
        a7 = a1(a.open_session, slot, RW)
        assert a_state(a7) == CKS.RW_PUBLIC_SESSION
        # 3. A2 opens a R/O session (A's "session 4"): also public.
        a4 = a2(a.open_session, slot, RO)
        assert a_state(a4) == CKS.RO_PUBLIC_SESSION
        # 4. A2 logs the normal user into session 7: 7 becomes R/W user, 4 becomes R/O user.
        a2(a.login, a7, CKU.USER, PIN)
        assert (a_state(a7), a_state(a4)) == (CKS.RW_USER_FUNCTIONS, CKS.RO_USER_FUNCTIONS)
        # 5. A2 opens a R/W session ("9"): a user session too.
        a9 = a2(a.open_session, slot, RW)
        assert a_state(a9) == CKS.RW_USER_FUNCTIONS
        # 6. A1 closes session 9.
        a1(a.close_session, a9)
        with pytest.raises(errors.SessionHandleInvalid):
            a.get_session_info(a9)
        assert (a_state(a7), a_state(a4)) == (CKS.RW_USER_FUNCTIONS, CKS.RO_USER_FUNCTIONS)
        # 7. B1 tries to log out A's session 4: B has no such session.
        with pytest.raises(errors.SessionHandleInvalid):
            peer.call("logout", a4)
        # 8. B2 tries to close A's session 4: the same error.
        with pytest.raises(errors.SessionHandleInvalid):
            peer.call("close_session", a4)
        assert a_state(a4) == CKS.RO_USER_FUNCTIONS  # untouched
        # 9. B1 opens a R/W session (B's "session 7"), unrelated to any of A's.
        b7 = peer.call("open_session", b_slot, RW)
        assert b_state(b7) == CKS.RW_PUBLIC_SESSION
        # 10. B1 logs the SO into B's session 7: R/W SO for B, no effect on A.
        peer.call("login", b7, CKU.SO, MANAGEMENT_KEY)
        assert b_state(b7) == CKS.RW_SO_FUNCTIONS
        assert (a_state(a7), a_state(a4)) == (CKS.RW_USER_FUNCTIONS, CKS.RO_USER_FUNCTIONS)
        # 11. B2 tries to open a R/O session: an SO session exists.
        with pytest.raises(errors.SessionReadWriteSoExists):
            peer.call("open_session", b_slot, RO)
        # 12. A1 uses session 7 to create a session object O1.
        o1 = a1(a.create_object, a7, {CKA.CLASS: CKO.DATA, CKA.TOKEN: False, CKA.LABEL: "O1",
                                       CKA.VALUE: b"O1 data"})
        assert a.get_attribute_value(a4, o1, [CKA.LABEL]) == {CKA.LABEL: "O1"}
        # 13. B1 uses B's session 7 on "object handle 7" (A's O1): no such object for B.
        peer.call("find_objects_init", b7, {})
        b_objects = peer.call("find_objects", b7, 1000)
        peer.call("find_objects_final", b7)
        assert o1 not in b_objects
        with pytest.raises(errors.ObjectHandleInvalid):
            peer.call("get_attribute_value", b7, o1, [int(CKA.LABEL)])
        # 14. A1 logs out session 4: 4 becomes R/O public, 7 becomes R/W public.
        a1(a.logout, a4)
        assert (a_state(a4), a_state(a7)) == (CKS.RO_PUBLIC_SESSION, CKS.RW_PUBLIC_SESSION)
        assert b_state(b7) == CKS.RW_SO_FUNCTIONS  # B's login is B's own
        # 15. A1 closes session 7, which destroys O1 (created by session 7).
        a1(a.close_session, a7)
        # 16. A2 uses session 4 on O1's handle: no longer any such object.
        with pytest.raises(errors.ObjectHandleInvalid) as caught:
            a2(a.get_attribute_value, a4, o1, [CKA.LABEL])
        assert caught.value.rv == CKR.OBJECT_HANDLE_INVALID
        # 17. A2 closes all sessions: session 4 is closed; a new A session is public.
        a2(a.close_all_sessions, slot)
        with pytest.raises(errors.SessionHandleInvalid):
            a.get_session_info(a4)
        fresh_a = a.open_session(slot, RW)
        assert a_state(fresh_a) == CKS.RW_PUBLIC_SESSION
        a.close_session(fresh_a)
        # 18. B2 closes B's session 7: a new B session is not logged in.
        peer.call("close_session", b7)
        with pytest.raises(errors.SessionHandleInvalid):
            peer.call("get_session_info", b7)
        fresh_b = peer.call("open_session", b_slot, RO)  # R/O is allowed again: no SO session
        assert b_state(fresh_b) == CKS.RO_PUBLIC_SESSION
        # 19. A and B each finalize.
        peer.call("finalize")
        a.finalize()
        with pytest.raises(errors.CryptokiNotInitialized):
            peer.call("get_slot_list", False)
        with pytest.raises(errors.CryptokiNotInitialized):
            a.get_slot_list(False)
    finally:
        thread_a1.shutdown()
        thread_a2.shutdown()
        try:
            a.finalize()
        except errors.CryptokiNotInitialized:
            pass
