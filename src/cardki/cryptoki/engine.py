"""The Cryptoki engine: the one implementation of the PKCS#11 model.

Both the Python API (``cardki.Cryptoki``) and the C ABI (``cardki.capi``) call
this class; the C layer only marshals. It owns everything Cryptoki-shaped:
slots (from the :class:`~cardki.slot.SlotManager`), one token object per card
insertion (from the token factory), sessions and their login state, object
handles, templates, the operation state machines with the spec's output-length
rules, hash-then-sign, and host-side public-key operations. Cards are reached
only through the :class:`~cardki.token.base.Token` interface.

This module is the facade: construction, C_Initialize/C_Finalize/C_GetInfo and
fork handling. The rest of the class comes from one mixin per job, so the
package reads like a map: :mod:`.slot_tokens` (slots, the token of each
insertion, card objects and removal), :mod:`.session_login` (sessions and
login state), :mod:`.object_store` (objects, attributes, find) and
:mod:`.operations` (sign, verify, encrypt, decrypt, digest, keys, random).
They share the tables named in :mod:`.engine_state`, and every public method
passes the lock, initialization check and error boundary of
:mod:`.boundary`. The info structures live in :mod:`.info` and are
re-exported here.

Thread safety: one library-wide ``RLock`` serializes every call except the
blocking part of :meth:`Cryptoki.wait_for_slot_event`.

Choices where the spec leaves room (so callers know what to expect):

* Session and object handles come from one process-wide counter and are never
  reused, so a stale handle can never name a newer session or object.
* Card objects keep their handles while the card stays in (across resets by
  other programs); a new insertion gets new handles. After a logout, handles
  of private objects are invalid for good, as the spec requires.
* The card's objects are read when a find first needs them, not at
  C_OpenSession or C_Login: a find whose template names CKA_ID reads only the
  objects with that id (one PIV slot, via ``Token.objects_with_id``); any other
  find reads the whole card once per insertion. Either way a find returns what
  the whole list filtered by the template would.
* Raw single-part mechanisms (RSA_PKCS, RSA_X_509, RSA_PKCS_PSS, ECDSA, EDDSA)
  accept ``sign_update``: the parts are buffered and signed at ``sign_final``.
  RSA encrypt/decrypt ``*_update`` buffer likewise and output nothing.
* Operation state (the rules live in :mod:`.sessions`, one place for every
  operation and both APIs): a failed call ends its operation, except
  BUFFER_TOO_SMALL, a successful length query, and a call refused with
  OPERATION_ACTIVE because it cannot come now (a single-part call after an
  ``*_update``; anything but the asking call after a length query or a
  too-small buffer), which leaves the operation as it was. A NULL pointer the
  C layer finds (ARGUMENTS_BAD) is a failed call too.
* Output lengths: a signature's length is fixed by the key, so a length query
  or a too-small buffer for ``sign``/``sign_final`` is answered without the
  card; other outputs (a decryption's length is known only afterwards) are
  computed once and wait in the session for the call that asked.
  ``length_only=True`` returns the length (an int).
* A key with CKA_ALWAYS_AUTHENTICATE needs ``login(CKU_CONTEXT_SPECIFIC)``
  after ``sign_init``/``decrypt_init``. A call that uses the key before that
  login succeeded (``sign``, ``sign_update``, ``sign_final``, ``decrypt...``
  that needs the card) fails with USER_NOT_LOGGED_IN, ending the operation;
  length questions may come before the login. A failed context login leaves
  the operation waiting, so it may be retried (the spec: "as if C_Login had
  not been called"), except PIN_LOCKED, which also logs the user out. Until
  the login succeeds nothing has reached the card, so a new ``*_init`` of the
  same kind replaces such an operation rather than answering OPERATION_ACTIVE:
  ssh-agent, which cannot ask for a PIN, gives up on a 9C key exactly that
  way and must go on signing with the others.
* Private keys exist only on the card: a session private key is refused with
  TEMPLATE_INCONSISTENT; verify/encrypt take CKO_PUBLIC_KEY objects.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Callable, Dict, Optional

from .. import errors
from .boundary import api_boundary
from ..constants import CRYPTOKI_VERSION
from .engine_state import SlotState
from .info import (LIBRARY_DESCRIPTION, LIBRARY_VERSION, MANUFACTURER_ID, LibraryInfo, SessionInfo, SlotInfo,
                   TokenInfoFull)
from .object_store import ObjectStore
from .objects import ObjectRecord
from .operations import Operations
from .session_login import SessionLogin
from .sessions import SessionRecord
from .slot_tokens import SlotTokens

log = logging.getLogger(__name__)


class Cryptoki(SlotTokens, SessionLogin, ObjectStore, Operations):
    """A PKCS#11 library instance (one per process, normally)."""

    def __init__(self, *, slot_manager: Any = None, token_factory: Optional[Callable[[Any], Any]] = None,
                 virtual_fallback: Any = False) -> None:
        self._lock = threading.RLock()
        self._given_slot_manager = slot_manager
        self._token_factory = token_factory
        self._virtual_fallback = virtual_fallback
        self._slot_manager: Any = None
        self._epoch = 0                    # bumped by finalize: waits of an older epoch end
        self._initialized = False
        self._pid: Optional[int] = None
        self._slots: Dict[int, SlotState] = {}
        self._sessions: Dict[int, SessionRecord] = {}
        self._objects: Dict[int, ObjectRecord] = {}

    # ------------------------------------------------------------------ general

    def _check_initialized(self) -> None:
        if self._initialized and self._pid != os.getpid():
            # A forked child: the parent's cards and sessions are not ours. Forget them
            # without touching the card (the parent still uses those connections).
            self._forget_everything()
        if not self._initialized:
            raise errors.CryptokiNotInitialized()

    def _forget_everything(self) -> None:
        self._initialized = False
        self._slots.clear()
        self._sessions.clear()
        self._objects.clear()
        if self._given_slot_manager is None:
            self._slot_manager = None

    def _default_slot_manager(self) -> Any:
        import importlib
        slot_package = importlib.import_module("cardki.slot")  # late: needs pyscard
        slot_manager_class = getattr(slot_package, "SlotManager", None)
        if slot_manager_class is None:
            slot_manager_class = importlib.import_module("cardki.slot.manager").SlotManager
        fallback = self._virtual_fallback
        if fallback is True:
            def fallback() -> Any:
                from hwsim.yubikey import VirtualYubiKey
                return VirtualYubiKey()
        elif fallback is False:
            fallback = None
        return slot_manager_class(virtual_fallback=fallback)

    def initialize(self, flags: int = 0) -> None:
        """C_Initialize (mutex callbacks and CKR_CANT_LOCK are the C layer's part)."""
        with self._lock:
            if self._initialized and self._pid != os.getpid():
                self._forget_everything()
            if self._initialized:
                raise errors.CryptokiAlreadyInitialized()
            try:
                if self._given_slot_manager is not None:
                    self._slot_manager = self._given_slot_manager
                elif self._slot_manager is None:
                    self._slot_manager = self._default_slot_manager()
            except errors.CryptokiError:
                raise
            except Exception as error:  # noqa: BLE001 - PC/SC or import trouble at startup
                raise errors.GeneralError(f"cannot start the slot layer: {error}") from error
            self._pid = os.getpid()
            self._initialized = True

    @api_boundary
    def finalize(self) -> None:
        """C_Finalize: close every session (logging out), release cards, wake a
        blocked C_WaitForSlotEvent."""
        for state in list(self._slots.values()):
            self._close_slot_sessions(state)
            self._release_token(state)
        self._slots.clear()
        self._sessions.clear()
        self._objects.clear()
        self._initialized = False
        self._epoch += 1  # ends waits in other threads (at their next slice)
        if self._given_slot_manager is None:
            # Ours: wake a blocked wait at once, release PC/SC; the next initialize
            # builds a fresh one. A caller's manager stays usable (cancel is for good).
            manager = self._slot_manager
            for step in ("cancel", "close"):
                function = getattr(manager, step, None)
                if function is not None:
                    try:
                        function()
                    except Exception:  # noqa: BLE001 - finalizing anyway
                        log.debug("slot manager %s failed", step, exc_info=True)
            self._slot_manager = None

    @api_boundary
    def get_info(self) -> LibraryInfo:
        return LibraryInfo(CRYPTOKI_VERSION, MANUFACTURER_ID, 0, LIBRARY_DESCRIPTION, LIBRARY_VERSION)


__all__ = ["Cryptoki", "LibraryInfo", "SlotInfo", "TokenInfoFull", "SessionInfo"]

