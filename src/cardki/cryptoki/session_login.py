"""Sessions and login state: opening and closing sessions, login and logout, PINs.

Why a part of its own: the login state belongs to the slot (all of the
application's sessions there share it), and its rules -- who may log in when,
what a logout invalidates, that closing the last session logs out -- are the
spec's session model, whatever the card or the operation. The spec's functions
that PIV cannot do (operation state, parallel functions) are answered here too.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Tuple

from .. import errors
from .boundary import api_boundary
from ..constants import CKU, SessionFlag, TokenFlag
from .engine_state import EngineState, SlotState
from .info import SessionInfo
from .objects import next_handle
from .sessions import SessionRecord

log = logging.getLogger(__name__)


def _pin_bytes(pin: Any) -> Optional[bytes]:
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


class SessionLogin(EngineState):
    """Cryptoki mixin: sessions and the slot's login state."""

    # ------------------------------------------------------------------ sessions

    def _session(self, handle: int) -> SessionRecord:
        session = self._sessions.get(int(handle)) if isinstance(handle, int) else None
        if session is None:
            raise errors.SessionHandleInvalid()
        return session

    def _session_state(self, handle: int) -> Tuple[SessionRecord, SlotState]:
        session = self._session(handle)
        return session, self._slots[session.slot_id]

    @api_boundary
    def open_session(self, slot: int, flags: int, application: Any = None, notify: Any = None) -> int:
        if not flags & SessionFlag.SERIAL_SESSION:
            raise errors.SessionParallelNotSupported()
        state = self._present_token(slot)
        read_write = bool(flags & SessionFlag.RW_SESSION)
        if not read_write and state.login == CKU.SO:
            raise errors.SessionReadWriteSoExists()
        if read_write:
            if state.write_protected is None:  # asked once per insertion: info() may cost APDUs
                state.write_protected = bool(self._call(state, state.token.info).flags
                                             & TokenFlag.WRITE_PROTECTED)
            if state.write_protected:
                raise errors.TokenWriteProtected()
        # No object is read here: the first find reads what it needs (see _ensure_objects).
        handle = next_handle()
        self._sessions[handle] = SessionRecord(handle, state.slot_id,
                                               int(flags) & (SessionFlag.RW_SESSION | SessionFlag.SERIAL_SESSION),
                                               application, notify)
        state.sessions.add(handle)
        return handle

    def _discard_session(self, handle: int) -> None:
        """Forget a session and its session objects (no card I/O)."""
        session = self._sessions.pop(handle, None)
        if session is None:
            return
        state = self._slots.get(session.slot_id)
        if state is not None:
            state.sessions.discard(handle)
        for object_handle, record in list(self._objects.items()):
            if record.owner_session == handle:
                del self._objects[object_handle]

    def _close_session(self, handle: int) -> None:
        session = self._session(handle)
        state = self._slots[session.slot_id]
        self._discard_session(handle)
        if not state.sessions and state.login is not None:
            self._logout_token(state)

    def _forget_private_objects(self, state: SlotState) -> None:
        """After a logout the spec invalidates every handle to a private object for
        good (a later login hands out new ones) and destroys private session objects."""
        for handle, record in list(self._objects.items()):
            if record.slot_id != state.slot_id or not record.is_private:
                continue
            del self._objects[handle]
            if record.token_object is not None:
                state.token_handles.pop(record.token_object.ref, None)
                state.objects_loaded = False  # re-listed (with new handles) when next needed

    def _logout_token(self, state: SlotState) -> None:
        state.login = None
        self._forget_private_objects(state)
        if state.token is None:
            return
        try:
            self._call(state, state.token.logout)
        except errors.CryptokiError:
            log.debug("logout on the card failed", exc_info=True)

    def _close_slot_sessions(self, state: SlotState) -> None:
        for handle in list(state.sessions):
            self._discard_session(handle)
        if state.login is not None:
            self._logout_token(state)

    @api_boundary
    def close_session(self, session: int) -> None:
        self._close_session(session)

    @api_boundary
    def close_all_sessions(self, slot: int) -> None:
        self._slot_entry(slot)
        state = self._slots.get(slot)
        if state is None:
            return
        self._close_slot_sessions(state)

    @api_boundary
    def get_session_info(self, session: int) -> SessionInfo:
        record, state = self._session_state(session)
        return SessionInfo(record.slot_id, int(record.state(state.login)), record.flags, 0)

    @api_boundary
    def get_operation_state(self, session: int) -> bytes:
        self._session(session)
        raise errors.FunctionNotSupported()

    @api_boundary
    def set_operation_state(self, session: int, state: bytes, encryption_key: int = 0,
                            authentication_key: int = 0) -> None:
        self._session(session)
        raise errors.FunctionNotSupported()

    @api_boundary
    def get_function_status(self, session: int) -> None:
        self._session(session)
        raise errors.FunctionNotParallel()

    @api_boundary
    def cancel_function(self, session: int) -> None:
        self._session(session)
        raise errors.FunctionNotParallel()

    # ------------------------------------------------------------------ login

    @api_boundary
    def login(self, session: int, user_type: int, pin: Any) -> None:
        self._login(session, user_type, pin)

    @api_boundary
    def login_user(self, session: int, user_type: int, pin: Any, username: Any = None) -> None:
        """C_LoginUser (3.0): PIV has no user names, so the name is not used."""
        self._login(session, user_type, pin)

    def _login(self, handle: int, user_type: int, pin: Any) -> None:
        session, state = self._session_state(handle)
        pin_bytes = _pin_bytes(pin)
        if user_type not in (CKU.SO, CKU.USER, CKU.CONTEXT_SPECIFIC):
            raise errors.UserTypeInvalid()
        if pin_bytes is None:
            info = self._call(state, state.token.info)
            if not info.flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH:
                raise errors.ArgumentsBad("a PIN is required")
            pin_bytes = b""
        if user_type == CKU.CONTEXT_SPECIFIC:
            pending = [op for op in session.operations.values() if op.context_login_pending]
            if state.login != CKU.USER:
                raise errors.UserNotLoggedIn()
            if not pending:
                raise errors.OperationNotInitialized("no operation needs a context-specific login")
            try:
                self._call(state, state.token.login, CKU.CONTEXT_SPECIFIC, pin_bytes)
            except errors.PinLocked:
                # The spec: a re-authentication answered PIN_LOCKED also logs the user out.
                self._logout_token(state)
                raise
            # Any other failure leaves the operation waiting, "as if C_Login had not been
            # called": the application may try again, or go on and get USER_NOT_LOGGED_IN.
            for op in pending:
                op.context_login_pending = False
            return
        if state.login == user_type:
            raise errors.UserAlreadyLoggedIn()
        if state.login is not None:
            raise errors.UserAnotherAlreadyLoggedIn()
        if user_type == CKU.SO and any(not self._sessions[h].read_write for h in state.sessions):
            raise errors.SessionReadOnlyExists()
        self._call(state, state.token.login, int(user_type), pin_bytes)
        state.login = int(user_type)
        if user_type == CKU.USER:
            self._refresh_token_objects(state)  # PIN-protected objects are listed only now

    @api_boundary
    def logout(self, session: int) -> None:
        _, state = self._session_state(session)
        if state.login is None:
            raise errors.UserNotLoggedIn()
        state.login = None
        self._forget_private_objects(state)
        self._call(state, state.token.logout)

    @api_boundary
    def init_pin(self, session: int, pin: Any) -> None:
        _, state = self._session_state(session)
        if state.login != CKU.SO:
            raise errors.UserNotLoggedIn("C_InitPIN needs the SO")
        self._call(state, state.token.init_pin, _pin_bytes(pin) or b"")

    @api_boundary
    def set_pin(self, session: int, old_pin: Any, new_pin: Any) -> None:
        record, state = self._session_state(session)
        if not record.read_write:
            raise errors.SessionReadOnly()
        user_type = CKU.SO if state.login == CKU.SO else CKU.USER
        self._call(state, state.token.set_pin, int(user_type), _pin_bytes(old_pin) or b"",
                   _pin_bytes(new_pin) or b"")


__all__ = ["SessionLogin"]
