"""The session table: open sessions, and the login state of each slot.

The login state belongs to the slot (all of the application's sessions there
share it), and its rules -- who may log in when, what a logout invalidates,
that closing the last session logs out, the context-specific login of
CKA_ALWAYS_AUTHENTICATE keys -- are the spec's session model, whatever the
card or the operation. The table reaches the card through the slot table and
tells the object table what a session's end or a logout invalidates.
"""

from __future__ import annotations

from typing import Any, Dict, List, Set, Tuple

from .. import errors
from ..constants import CKU, SessionFlag, TokenFlag
from ..log import get_logger
from .info import SessionInfo
from .object_table import ObjectTable
from .objects import next_handle
from .sessions import SessionContext, SessionRecord
from .slots import SlotState, SlotTable

log = get_logger(__name__)
_new_tuple = tuple.__new__


def pin_bytes(pin: Any) -> bytes | None:
    """A PIN as the card gets it: bytes as given, str as UTF-8 (PIN_INVALID if it cannot be)."""
    if pin is None:
        return None
    if isinstance(pin, str):
        try:
            return pin.encode("utf-8")
        except UnicodeEncodeError:
            pass  # raised below, outside the handler: the encoder's error holds the PIN
        raise errors.PinInvalid("a PIN that UTF-8 cannot encode (a lone surrogate)")
    if isinstance(pin, (bytes, bytearray, memoryview)):
        return bytes(pin)
    raise errors.ArgumentsBad("a PIN is bytes or str")


class SessionTable:
    """The application's sessions and its login state per slot."""

    def __init__(self, slots: SlotTable, objects: ObjectTable) -> None:
        self._slots = slots
        self._objects = objects
        self._sessions: Dict[int, SessionRecord] = {}
        self._by_slot: Dict[int, Set[int]] = {}
        self._login: Dict[int, int] = {}     # slot id -> CKU_USER / CKU_SO

    def clear(self) -> None:
        self._sessions.clear()
        self._by_slot.clear()
        self._login.clear()

    # ------------------------------------------------------------------ lookups

    def get(self, handle: int) -> SessionRecord:
        session = self._sessions.get(int(handle)) if isinstance(handle, int) else None
        if session is None:
            raise errors.SessionHandleInvalid()
        return session

    def find(self, handle: int) -> SessionRecord | None:
        """The session, or None (no error: for calls that clean up after a failure)."""
        return self._sessions.get(int(handle)) if isinstance(handle, int) else None

    def login_of(self, slot_id: int) -> int | None:
        return self._login.get(slot_id)

    def context(self, handle: int) -> SessionContext:
        """The session, its slot and the slot's login state, as one call sees them (every
        call on a session asks: the usual plain-int handle is looked up directly)."""
        record = self._sessions.get(handle) if type(handle) is int else None
        if record is None:
            record = self.get(handle)
        # The named tuple made as its generated __new__ makes it, without that Python call.
        return _new_tuple(SessionContext, (record, record.slot, self._login.get(record.slot_id)))

    def of_slot(self, slot_id: int) -> List[SessionRecord]:
        return [self._sessions[h] for h in sorted(self._by_slot.get(slot_id, ()))]

    def counts(self, slot_id: int) -> Tuple[int, int]:
        """(sessions, read/write sessions) open with the slot's token."""
        sessions = self.of_slot(slot_id)
        return len(sessions), sum(s.read_write for s in sessions)

    def info(self, handle: int) -> SessionInfo:
        record = self.get(handle)
        return SessionInfo(record.slot_id, int(record.state(self._login.get(record.slot_id))), record.flags, 0)

    # ------------------------------------------------------------------ open and close

    def open(self, slot_id: int, flags: int, application: Any = None, notify: Any = None) -> int:
        if not flags & SessionFlag.SERIAL_SESSION:
            raise errors.SessionParallelNotSupported()
        state = self._slots.present(slot_id)
        read_write = bool(flags & SessionFlag.RW_SESSION)
        if not read_write and self._login.get(slot_id) == CKU.SO:
            raise errors.SessionReadWriteSoExists()
        if read_write and self._slots.write_protected(state):
            raise errors.TokenWriteProtected()
        # No object is read here: the first find reads what it needs.
        handle = next_handle()
        self._sessions[handle] = SessionRecord(handle, state,
                                               int(flags) & (SessionFlag.RW_SESSION | SessionFlag.SERIAL_SESSION),
                                               application, notify)
        self._by_slot.setdefault(slot_id, set()).add(handle)
        return handle

    def _discard(self, handle: int) -> None:
        """Forget a session and its session objects (no card I/O)."""
        session = self._sessions.pop(handle, None)
        if session is None:
            return
        self._by_slot.get(session.slot_id, set()).discard(handle)
        self._objects.drop_session(handle)

    def close(self, handle: int) -> None:
        """C_CloseSession; closing the slot's last session logs the application out."""
        slot_id = self.get(handle).slot_id
        self._discard(handle)
        if not self._by_slot.get(slot_id) and slot_id in self._login:
            self._logout_token(self._slots.state(slot_id))

    def close_slot(self, slot_id: int) -> None:
        """C_CloseAllSessions (and C_Finalize): every session of the slot, then logout."""
        for handle in list(self._by_slot.get(slot_id, ())):
            self._discard(handle)
        if slot_id in self._login:
            self._logout_token(self._slots.state(slot_id))

    def discard_slot(self, slot_id: int) -> None:
        """The card left: its sessions end and its login is gone (no card I/O)."""
        for handle in list(self._by_slot.get(slot_id, ())):
            self._discard(handle)
        self._login.pop(slot_id, None)

    # ------------------------------------------------------------------ login

    def _logout_token(self, state: SlotState) -> None:
        """End the slot's login: private handles die, the card drops its security status."""
        self._login.pop(state.slot_id, None)
        self._objects.forget_private(state.slot_id)
        if state.token is None:
            return
        try:
            self._slots.call(state, lambda token: token.logout())
        except errors.CryptokiError:
            log.debug("logout on the card failed", exc_info=True)

    def login(self, handle: int, user_type: int, pin: Any) -> None:
        """C_Login (and C_LoginUser: PIV and OpenPGP have no user names)."""
        context = self.context(handle)
        session, state = context.record, context.slot
        secret = pin_bytes(pin)
        if user_type not in (CKU.SO, CKU.USER, CKU.CONTEXT_SPECIFIC):
            raise errors.UserTypeInvalid()
        if secret is None:
            if not self._slots.token_info(state).flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH:
                raise errors.ArgumentsBad("a PIN is required")
            secret = b""
        given = secret
        if user_type == CKU.CONTEXT_SPECIFIC:
            pending = [op for op in session.operations.values() if op.context_login_pending]
            if context.login != CKU.USER:
                raise errors.UserNotLoggedIn()
            if not pending:
                raise errors.OperationNotInitialized("no operation needs a context-specific login")
            try:
                self._slots.call(state, lambda token: token.login(CKU.CONTEXT_SPECIFIC, given))
            except errors.PinLocked:
                # The spec: a re-authentication answered PIN_LOCKED also logs the user out.
                self._logout_token(state)
                raise
            # Any other failure leaves the operation waiting, "as if C_Login had not been
            # called": the application may try again, or go on and get USER_NOT_LOGGED_IN.
            for op in pending:
                op.context_login_pending = False
            return
        if context.login == user_type:
            raise errors.UserAlreadyLoggedIn()
        if context.login is not None:
            raise errors.UserAnotherAlreadyLoggedIn()
        if user_type == CKU.SO and any(not s.read_write for s in self.of_slot(state.slot_id)):
            raise errors.SessionReadOnlyExists()
        self._slots.call(state, lambda token: token.login(int(user_type), given))
        self._login[state.slot_id] = int(user_type)
        if user_type == CKU.USER:
            self._objects.refresh(state)  # PIN-protected objects are listed only now

    def logout(self, handle: int) -> None:
        context = self.context(handle)
        if context.login is None:
            raise errors.UserNotLoggedIn()
        state = context.slot
        self._login.pop(state.slot_id, None)
        self._objects.forget_private(state.slot_id)
        self._slots.call(state, lambda token: token.logout())

    def init_pin(self, handle: int, pin: Any) -> None:
        context = self.context(handle)
        if context.login != CKU.SO:
            raise errors.UserNotLoggedIn("C_InitPIN needs the SO")
        new = pin_bytes(pin) or b""
        self._slots.call(context.slot, lambda token: token.init_pin(new))

    def set_pin(self, handle: int, old_pin: Any, new_pin: Any) -> None:
        context = self.context(handle)
        if not context.record.read_write:
            raise errors.SessionReadOnly()
        user_type = CKU.SO if context.login == CKU.SO else CKU.USER
        old, new = pin_bytes(old_pin) or b"", pin_bytes(new_pin) or b""
        self._slots.call(context.slot, lambda token: token.set_pin(int(user_type), old, new))


__all__ = ["SessionTable", "pin_bytes"]
