"""The Cryptoki engine: the one implementation of the PKCS#11 model.

Both the Python API (``cardki.Cryptoki``) and the C ABI (``cardki.capi``) call
this class; the C layer only marshals. It owns everything Cryptoki-shaped:
slots (from the :class:`~cardki.slot.SlotManager`), one token object per card
insertion (from the token factory), sessions and their login state, object
handles, templates, the operation state machines with the spec's output-length
rules, hash-then-sign, and host-side public-key operations. Cards are reached
only through the :class:`~cardki.token.base.Token` interface.

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
* A key with CKA_ALWAYS_AUTHENTICATE needs ``login(CKU_CONTEXT_SPECIFIC)``
  between ``*_init`` and the operation; without it the operation ends with
  USER_NOT_LOGGED_IN.
* Calling the single-part function (``sign``, ``digest``, ...) after an
  ``*_update`` gives OPERATION_ACTIVE and leaves the operation as it was.
* Private keys exist only on the card: a session private key is refused with
  TEMPLATE_INCONSISTENT; verify/encrypt take CKO_PUBLIC_KEY objects.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from . import errors
from .attributes import decode_attribute, encode_attribute, normalize_template
from .constants import (CK_EFFECTIVELY_INFINITE, CK_UNAVAILABLE_INFORMATION, CKA, CKK, CKM, CKO, CKR,
                        CKU, CRYPTOKI_VERSION, MechanismFlag, SessionFlag, SlotFlag, TokenFlag, WaitFlag)
from .mechanisms import (CIPHER_MECHANISMS, DERIVE_MECHANISMS, DIGEST_INFO_PREFIX, DIGESTS, HASHED_SIGN,
                         SIGN_MECHANISMS, Ecdh1DeriveParams, MechanismSpec, as_spec, check_parameter,
                         key_type_for, mechanism_name, new_hash)
from .objects import (MODIFIABLE_ATTRIBUTES, ObjectRecord, build_session_object, next_handle,
                      secret_key_defaults, secret_value_sensitivity)
from .sessions import Operation, OperationKind, SessionRecord

log = logging.getLogger(__name__)

MANUFACTURER_ID = "cardki"
LIBRARY_DESCRIPTION = "cardki PKCS#11 for PIV smart cards"
LIBRARY_VERSION = (0, 1)
#: Longest time a blocking C_WaitForSlotEvent takes to notice C_Finalize (seconds).
_WAIT_SLICE = 0.5


@dataclass(frozen=True)
class LibraryInfo:
    """``CK_INFO``."""

    cryptoki_version: Tuple[int, int]
    manufacturer_id: str
    flags: int
    library_description: str
    library_version: Tuple[int, int]


@dataclass(frozen=True)
class SlotInfo:
    """``CK_SLOT_INFO``."""

    slot_description: str
    manufacturer_id: str
    flags: int
    hardware_version: Tuple[int, int]
    firmware_version: Tuple[int, int]


@dataclass(frozen=True)
class TokenInfoFull:
    """``CK_TOKEN_INFO``: the card's part from the token plus the engine's counts."""

    label: str
    manufacturer_id: str
    model: str
    serial_number: str
    flags: int
    max_session_count: int
    session_count: int
    max_rw_session_count: int
    rw_session_count: int
    max_pin_len: int
    min_pin_len: int
    total_public_memory: int
    free_public_memory: int
    total_private_memory: int
    free_private_memory: int
    hardware_version: Tuple[int, int]
    firmware_version: Tuple[int, int]
    utc_time: str


@dataclass(frozen=True)
class SessionInfo:
    """``CK_SESSION_INFO``."""

    slot_id: int
    state: int
    flags: int
    device_error: int


@dataclass
class _SlotState:
    """What the engine knows about one slot: its token (per insertion), the
    application's login state there, its sessions and token objects."""

    slot_id: int
    token: Any = None
    generation: Any = None
    objects_loaded: bool = False                                  # the card's whole object list is registered
    loaded_ids: Set[bytes] = field(default_factory=set)           # else: CKA_IDs registered one by one
    login: Optional[int] = None
    write_protected: Optional[bool] = None
    card_generation: Optional[int] = None                         # slot manager's insertion count
    sessions: Set[int] = field(default_factory=set)
    token_handles: Dict[Any, int] = field(default_factory=dict)   # TokenObject.ref -> handle


def _api(method: Callable) -> Callable:
    """Every public call: take the library lock, check initialization and pid,
    and let only CryptokiError out (anything else is a bug -> GENERAL_ERROR)."""

    @functools.wraps(method)
    def wrapper(self: "Cryptoki", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._check_initialized()
            try:
                return method(self, *args, **kwargs)
            except errors.CryptokiError:
                raise
            except Exception as error:  # noqa: BLE001 - the API boundary: report, never leak
                log.exception("internal error in %s", method.__name__)
                raise errors.GeneralError(f"internal error in {method.__name__}: "  # type: ignore[attr-defined]
                                          f"{type(error).__name__}") from error

    return wrapper


def _pin_bytes(pin: Any) -> Optional[bytes]:
    if pin is None:
        return None
    if isinstance(pin, str):
        return pin.encode("utf-8")
    if isinstance(pin, (bytes, bytearray, memoryview)):
        return bytes(pin)
    raise errors.ArgumentsBad("a PIN is bytes or str")  # type: ignore[attr-defined]


def _cka_id(attributes: Mapping[int, Any]) -> Optional[bytes]:
    """An object's CKA_ID as bytes (None without one, as for PIV data objects)."""
    value = attributes.get(CKA.ID)
    return None if value is None else bytes(value)


def _hostcrypto() -> Any:
    """The host-side crypto module (verify, encrypt, ECDH KDF), imported at first use:
    it pulls in cryptography.x509 and asn1crypto (~40 ms), which opening a session
    and signing on the card never need."""
    from . import hostcrypto
    return hostcrypto


def _slot_errors() -> Tuple[type, type, type, type]:
    """(CardRemovedError, CardResetError, SlotError, WaitCancelledError), imported late so
    the engine can run without pyscard when a custom slot manager is used."""
    from ..slot.errors import CardRemovedError, CardResetError, SlotError, WaitCancelledError
    return CardRemovedError, CardResetError, SlotError, WaitCancelledError


_KIND_FLAG = {
    OperationKind.SIGN: MechanismFlag.SIGN, OperationKind.VERIFY: MechanismFlag.VERIFY,
    OperationKind.ENCRYPT: MechanismFlag.ENCRYPT, OperationKind.DECRYPT: MechanismFlag.DECRYPT,
    OperationKind.DIGEST: MechanismFlag.DIGEST,
}
_KIND_MECHANISMS = {
    OperationKind.SIGN: SIGN_MECHANISMS, OperationKind.VERIFY: SIGN_MECHANISMS,
    OperationKind.ENCRYPT: CIPHER_MECHANISMS, OperationKind.DECRYPT: CIPHER_MECHANISMS,
    OperationKind.DIGEST: frozenset(DIGESTS),
}
_KIND_KEY_ATTRIBUTE = {
    OperationKind.SIGN: CKA.SIGN, OperationKind.VERIFY: CKA.VERIFY,
    OperationKind.ENCRYPT: CKA.ENCRYPT, OperationKind.DECRYPT: CKA.DECRYPT,
}
#: Operations the card performs (the rest run on the host).
_CARD_KINDS = (OperationKind.SIGN, OperationKind.DECRYPT)


class Cryptoki:
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
        self._slots: Dict[int, _SlotState] = {}
        self._sessions: Dict[int, SessionRecord] = {}
        self._objects: Dict[int, ObjectRecord] = {}

    # ------------------------------------------------------------------ general

    def _check_initialized(self) -> None:
        if self._initialized and self._pid != os.getpid():
            # A forked child: the parent's cards and sessions are not ours. Forget them
            # without touching the card (the parent still uses those connections).
            self._forget_everything()
        if not self._initialized:
            raise errors.CryptokiNotInitialized()  # type: ignore[attr-defined]

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
                raise errors.CryptokiAlreadyInitialized()  # type: ignore[attr-defined]
            try:
                if self._given_slot_manager is not None:
                    self._slot_manager = self._given_slot_manager
                elif self._slot_manager is None:
                    self._slot_manager = self._default_slot_manager()
            except errors.CryptokiError:
                raise
            except Exception as error:  # noqa: BLE001 - PC/SC or import trouble at startup
                raise errors.GeneralError(f"cannot start the slot layer: {error}") from error  # type: ignore[attr-defined]
            self._pid = os.getpid()
            self._initialized = True

    @_api
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

    @_api
    def get_info(self) -> LibraryInfo:
        return LibraryInfo(CRYPTOKI_VERSION, MANUFACTURER_ID, 0, LIBRARY_DESCRIPTION, LIBRARY_VERSION)

    # ------------------------------------------------------------------ slots and tokens

    def _slot_entries(self) -> List[Any]:
        _, _, slot_error, _ = _slot_errors()
        try:
            return list(self._slot_manager.slots())
        except slot_error:
            log.debug("no readers", exc_info=True)
            return []

    def _slot_entry(self, slot_id: int) -> Any:
        for entry in self._slot_entries():
            if entry.id == slot_id:
                return entry
        raise errors.SlotIdInvalid(f"no slot {slot_id}")  # type: ignore[attr-defined]

    def _slot_state(self, slot_id: int) -> _SlotState:
        state = self._slots.get(slot_id)
        if state is None:
            state = self._slots[slot_id] = _SlotState(slot_id)
        return state

    def _card_generation(self, slot_id: int) -> Optional[int]:
        """The slot manager's insertion counter for the slot (None if it has none)."""
        reader = getattr(self._slot_manager, "card_generation", None)
        if reader is None:
            return None
        _, _, slot_error, _ = _slot_errors()
        try:
            return int(reader(slot_id))
        except slot_error:
            return None

    def _sync_presence(self, entry: Any) -> _SlotState:
        """Drop the token of a slot whose card is gone, or was swapped for another
        insertion since the token was opened (closing the slot's sessions)."""
        state = self._slot_state(entry.id)
        if state.token is None:
            return state
        if not entry.card_present:
            self._card_gone(state)
        elif state.card_generation is not None and self._card_generation(entry.id) not in (
                None, state.card_generation):
            self._card_gone(state)
        return state

    def _present_token(self, slot_id: int) -> _SlotState:
        """The slot's state with a token, opening one for a newly inserted card."""
        entry = self._slot_entry(slot_id)
        state = self._sync_presence(entry)
        if state.token is None:
            if not entry.card_present:
                raise errors.TokenNotPresent()  # type: ignore[attr-defined]
            self._open_token(state)
        return state

    def _open_token(self, state: _SlotState) -> None:
        removed, _, slot_error, _ = _slot_errors()
        if self._token_factory is None:
            # Imported at the first card, not in C_Initialize: the token package brings
            # cryptography with it, and hosts that only probe modules never need it.
            from ..token import open_token
            self._token_factory = open_token
        generation = self._card_generation(state.slot_id)
        try:
            transport = self._slot_manager.connect(state.slot_id)
        except removed as error:
            raise errors.TokenNotPresent() from error  # type: ignore[attr-defined]
        except slot_error as error:
            raise errors.DeviceError(str(error)) from error  # type: ignore[attr-defined]
        try:
            token = self._token_factory(transport)  # type: ignore[misc]
        except removed as error:
            transport.close()
            raise errors.TokenNotPresent() from error  # type: ignore[attr-defined]
        except slot_error as error:
            transport.close()
            raise errors.DeviceError(str(error)) from error  # type: ignore[attr-defined]
        except errors.CryptokiError:
            transport.close()
            raise
        if token is None:
            transport.close()
            raise errors.TokenNotRecognized()  # type: ignore[attr-defined]
        state.token = token
        state.card_generation = generation
        state.generation = token.presence_generation
        state.objects_loaded = False
        state.loaded_ids = set()
        state.login = None
        state.write_protected = None
        state.token_handles = {}

    def _release_token(self, state: _SlotState) -> None:
        token, state.token = state.token, None
        if token is not None:
            try:
                token.close()
            except Exception:  # noqa: BLE001 - the card may be gone already
                log.debug("token close failed", exc_info=True)
        for handle in list(state.token_handles.values()):
            self._objects.pop(handle, None)
        state.token_handles = {}
        state.objects_loaded = False
        state.loaded_ids = set()
        state.login = None

    def _card_gone(self, state: _SlotState) -> None:
        """The card left: every session of the slot is closed, every handle dies."""
        log.info("card removed from slot %d: closing %d sessions", state.slot_id, len(state.sessions))
        for handle in list(state.sessions):
            self._discard_session(handle)
        self._release_token(state)

    def _call(self, state: _SlotState, function: Callable, *args: Any) -> Any:
        """Run a token call, turning a vanished card into DEVICE_REMOVED (and the
        slot's sessions closed) and noticing a replaced/reset card."""
        removed, reset, slot_error, _ = _slot_errors()
        for attempt in (1, 2):
            try:
                result = function(*args)
                break
            except removed as error:
                self._card_gone(state)
                raise errors.DeviceRemoved() from error  # type: ignore[attr-defined]
            except reset as error:
                # The token restores itself on reset; if one still escapes, retry once.
                if attempt == 2:
                    raise errors.DeviceError("card reset repeatedly") from error  # type: ignore[attr-defined]
            except slot_error as error:
                raise errors.DeviceError(str(error)) from error  # type: ignore[attr-defined]
            except errors.CryptokiError as error:
                if error.rv == CKR.DEVICE_REMOVED and state.token is not None:
                    self._card_gone(state)
                raise
        if state.token is not None and state.token.presence_generation != state.generation:
            state.generation = state.token.presence_generation
            self._refresh_token_objects(state)
        return result

    def _refresh_token_objects(self, state: _SlotState) -> None:
        """Re-read what is registered of the card's objects (after a login, or a reset by
        another program): the full list if it was loaded or if handles from it remain,
        else only the CKA_IDs listed so far, else nothing until a find needs it."""
        if state.objects_loaded or any(
                record.slot_id == state.slot_id and record.is_token_object
                and _cka_id(record.attributes) not in state.loaded_ids
                for record in self._objects.values()):
            self._load_token_objects(state)
        elif state.loaded_ids:
            self._load_token_objects(state, frozenset(state.loaded_ids))

    def _load_token_objects(self, state: _SlotState, ids: Optional[frozenset] = None) -> None:
        """(Re)read the card's objects -- all of them, or only those whose CKA_ID is in
        ``ids`` -- keeping the handles of objects that still exist."""
        if ids is None:
            token_objects = self._call_raw_objects(state, state.token.objects)
        else:
            token_objects = [obj for cka_id in sorted(ids)
                             for obj in self._call_raw_objects(state, state.token.objects_with_id, cka_id)]
        seen: Set[int] = set()
        for token_object in token_objects:
            handle = state.token_handles.get(token_object.ref)
            if handle is None:
                handle = next_handle()
                state.token_handles[token_object.ref] = handle
            self._objects[handle] = ObjectRecord(handle, state.slot_id, dict(token_object.attributes),
                                                 frozenset(int(t) for t in token_object.sensitive),
                                                 token_object=token_object)
            seen.add(handle)
        for ref, handle in list(state.token_handles.items()):
            record = self._objects.get(handle)
            in_scope = ids is None or record is None or _cka_id(record.attributes) in ids
            if handle not in seen and in_scope:
                del state.token_handles[ref]
                self._objects.pop(handle, None)
        if ids is None:
            state.objects_loaded = True
            state.loaded_ids = set()
        else:
            state.loaded_ids |= ids

    def _call_raw_objects(self, state: _SlotState, function: Callable[..., Any], *args: Any) -> List[Any]:
        removed, _, slot_error, _ = _slot_errors()
        try:
            return list(function(*args))
        except removed as error:
            self._card_gone(state)
            raise errors.DeviceRemoved() from error  # type: ignore[attr-defined]
        except slot_error as error:
            raise errors.DeviceError(str(error)) from error  # type: ignore[attr-defined]

    def _ensure_objects(self, state: _SlotState, template: Mapping[int, bytes]) -> None:
        """Register the card objects a find with ``template`` (encoded) can match: with a
        CKA_ID, only that id's objects (a PIV token then reads one slot, not all 25)."""
        if state.token is None or state.objects_loaded:
            return
        cka_id = template.get(CKA.ID)
        if cka_id is None or not hasattr(state.token, "objects_with_id"):
            self._load_token_objects(state)
        elif cka_id not in state.loaded_ids:
            self._load_token_objects(state, frozenset([bytes(cka_id)]))

    def _register_token_object(self, state: _SlotState, token_object: Any) -> int:
        handle = state.token_handles.get(token_object.ref) or next_handle()
        state.token_handles[token_object.ref] = handle
        self._objects[handle] = ObjectRecord(handle, state.slot_id, dict(token_object.attributes),
                                             frozenset(int(t) for t in token_object.sensitive),
                                             token_object=token_object)
        return handle

    def _after_token_write(self, state: _SlotState, token_object: Any) -> int:
        """The handle of an object the card just stored. Other objects may have
        changed with it (a new key replaces the slot's certificate and public key),
        so the list is re-read; handles of unchanged objects stay."""
        self._load_token_objects(state)
        handle = state.token_handles.get(token_object.ref)
        if handle is None:
            handle = self._register_token_object(state, token_object)
        return handle

    @_api
    def get_slot_list(self, token_present: bool) -> List[int]:
        result = []
        for entry in self._slot_entries():
            self._sync_presence(entry)
            if entry.card_present or not token_present:
                result.append(int(entry.id))
        return result

    @_api
    def get_slot_info(self, slot: int) -> SlotInfo:
        entry = self._slot_entry(slot)
        self._sync_presence(entry)
        flags = SlotFlag.REMOVABLE_DEVICE
        if not (getattr(entry, "virtual", False) or getattr(entry, "is_virtual", False)):
            flags |= SlotFlag.HW_SLOT
        if entry.card_present:
            flags |= SlotFlag.TOKEN_PRESENT
        return SlotInfo(entry.reader_name, MANUFACTURER_ID, int(flags), (0, 0), (0, 0))

    @_api
    def get_token_info(self, slot: int) -> TokenInfoFull:
        state = self._present_token(slot)
        info = self._call(state, state.token.info)
        sessions = [self._sessions[h] for h in state.sessions]
        return TokenInfoFull(
            label=info.label, manufacturer_id=info.manufacturer_id, model=info.model,
            serial_number=info.serial_number, flags=int(info.flags),
            max_session_count=CK_EFFECTIVELY_INFINITE, session_count=len(sessions),
            max_rw_session_count=CK_EFFECTIVELY_INFINITE, rw_session_count=sum(s.read_write for s in sessions),
            max_pin_len=info.max_pin_len, min_pin_len=info.min_pin_len,
            total_public_memory=CK_UNAVAILABLE_INFORMATION, free_public_memory=CK_UNAVAILABLE_INFORMATION,
            total_private_memory=CK_UNAVAILABLE_INFORMATION, free_private_memory=CK_UNAVAILABLE_INFORMATION,
            hardware_version=tuple(info.hardware_version), firmware_version=tuple(info.firmware_version),
            utc_time="")

    def wait_for_slot_event(self, flags: int = 0) -> int:
        """C_WaitForSlotEvent; blocks without holding the library lock."""
        with self._lock:
            self._check_initialized()
            manager, epoch = self._slot_manager, self._epoch
        _, _, slot_error, cancelled = _slot_errors()
        block = not flags & WaitFlag.DONT_BLOCK
        while True:
            # Blocking waits run in slices, so C_Finalize ends them even with a slot
            # manager the caller owns (which finalize must leave usable, uncancelled).
            try:
                slot_id = manager.wait_for_slot_event(block=block, timeout=_WAIT_SLICE if block else None)
            except cancelled as error:
                raise errors.CryptokiNotInitialized("C_Finalize ended the wait") from error  # type: ignore[attr-defined]
            except slot_error as error:
                raise errors.DeviceError(str(error)) from error  # type: ignore[attr-defined]
            with self._lock:
                if self._epoch != epoch:
                    raise errors.CryptokiNotInitialized("C_Finalize ended the wait")  # type: ignore[attr-defined]
                self._check_initialized()
                if slot_id is None:
                    if block:
                        continue
                    raise errors.NoEvent()  # type: ignore[attr-defined]
                for entry in self._slot_entries():
                    if entry.id == slot_id:
                        self._sync_presence(entry)
                return int(slot_id)

    @_api
    def get_mechanism_list(self, slot: int) -> List[int]:
        state = self._present_token(slot)
        return sorted(int(m) for m in self._call(state, state.token.mechanisms))

    @_api
    def get_mechanism_info(self, slot: int, mech: int) -> Any:
        state = self._present_token(slot)
        mechanisms = self._call(state, state.token.mechanisms)
        info = mechanisms.get(int(mech))
        if info is None:
            raise errors.MechanismInvalid(mechanism_name(int(mech)))  # type: ignore[attr-defined]
        return info

    @_api
    def init_token(self, slot: int, so_pin: Any, label: str) -> None:
        state = self._present_token(slot)
        if state.sessions:
            raise errors.SessionExists()  # type: ignore[attr-defined]
        raise errors.FunctionNotSupported("PIV cards are initialized with their own tools")  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ sessions

    def _session(self, handle: int) -> SessionRecord:
        session = self._sessions.get(int(handle)) if isinstance(handle, int) else None
        if session is None:
            raise errors.SessionHandleInvalid()  # type: ignore[attr-defined]
        return session

    def _session_state(self, handle: int) -> Tuple[SessionRecord, _SlotState]:
        session = self._session(handle)
        return session, self._slots[session.slot_id]

    @_api
    def open_session(self, slot: int, flags: int, application: Any = None, notify: Any = None) -> int:
        if not flags & SessionFlag.SERIAL_SESSION:
            raise errors.SessionParallelNotSupported()  # type: ignore[attr-defined]
        state = self._present_token(slot)
        read_write = bool(flags & SessionFlag.RW_SESSION)
        if not read_write and state.login == CKU.SO:
            raise errors.SessionReadWriteSoExists()  # type: ignore[attr-defined]
        if read_write:
            if state.write_protected is None:  # asked once per insertion: info() may cost APDUs
                state.write_protected = bool(self._call(state, state.token.info).flags
                                             & TokenFlag.WRITE_PROTECTED)
            if state.write_protected:
                raise errors.TokenWriteProtected()  # type: ignore[attr-defined]
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

    def _forget_private_objects(self, state: _SlotState) -> None:
        """After a logout the spec invalidates every handle to a private object for
        good (a later login hands out new ones) and destroys private session objects."""
        for handle, record in list(self._objects.items()):
            if record.slot_id != state.slot_id or not record.is_private:
                continue
            del self._objects[handle]
            if record.token_object is not None:
                state.token_handles.pop(record.token_object.ref, None)
                state.objects_loaded = False  # re-listed (with new handles) when next needed

    def _logout_token(self, state: _SlotState) -> None:
        state.login = None
        self._forget_private_objects(state)
        if state.token is None:
            return
        try:
            self._call(state, state.token.logout)
        except errors.CryptokiError:
            log.debug("logout on the card failed", exc_info=True)

    def _close_slot_sessions(self, state: _SlotState) -> None:
        for handle in list(state.sessions):
            self._discard_session(handle)
        if state.login is not None:
            self._logout_token(state)

    @_api
    def close_session(self, session: int) -> None:
        self._close_session(session)

    @_api
    def close_all_sessions(self, slot: int) -> None:
        self._slot_entry(slot)
        state = self._slots.get(slot)
        if state is None:
            return
        self._close_slot_sessions(state)

    @_api
    def get_session_info(self, session: int) -> SessionInfo:
        record, state = self._session_state(session)
        return SessionInfo(record.slot_id, int(record.state(state.login)), record.flags, 0)

    @_api
    def get_operation_state(self, session: int) -> bytes:
        self._session(session)
        raise errors.FunctionNotSupported()  # type: ignore[attr-defined]

    @_api
    def set_operation_state(self, session: int, state: bytes, encryption_key: int = 0,
                            authentication_key: int = 0) -> None:
        self._session(session)
        raise errors.FunctionNotSupported()  # type: ignore[attr-defined]

    @_api
    def get_function_status(self, session: int) -> None:
        self._session(session)
        raise errors.FunctionNotParallel()  # type: ignore[attr-defined]

    @_api
    def cancel_function(self, session: int) -> None:
        self._session(session)
        raise errors.FunctionNotParallel()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ login

    @_api
    def login(self, session: int, user_type: int, pin: Any) -> None:
        self._login(session, user_type, pin)

    @_api
    def login_user(self, session: int, user_type: int, pin: Any, username: Any = None) -> None:
        """C_LoginUser (3.0): PIV has no user names, so the name is not used."""
        self._login(session, user_type, pin)

    def _login(self, handle: int, user_type: int, pin: Any) -> None:
        session, state = self._session_state(handle)
        pin_bytes = _pin_bytes(pin)
        if user_type not in (CKU.SO, CKU.USER, CKU.CONTEXT_SPECIFIC):
            raise errors.UserTypeInvalid()  # type: ignore[attr-defined]
        if pin_bytes is None:
            info = self._call(state, state.token.info)
            if not info.flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH:
                raise errors.ArgumentsBad("a PIN is required")  # type: ignore[attr-defined]
            pin_bytes = b""
        if user_type == CKU.CONTEXT_SPECIFIC:
            pending = [op for op in session.operations.values() if op.context_login_pending]
            if state.login != CKU.USER:
                raise errors.UserNotLoggedIn()  # type: ignore[attr-defined]
            if not pending:
                raise errors.OperationNotInitialized("no operation needs a context-specific login")  # type: ignore[attr-defined]
            self._call(state, state.token.login, CKU.CONTEXT_SPECIFIC, pin_bytes)
            for op in pending:
                op.context_login_pending = False
            return
        if state.login == user_type:
            raise errors.UserAlreadyLoggedIn()  # type: ignore[attr-defined]
        if state.login is not None:
            raise errors.UserAnotherAlreadyLoggedIn()  # type: ignore[attr-defined]
        if user_type == CKU.SO and any(not self._sessions[h].read_write for h in state.sessions):
            raise errors.SessionReadOnlyExists()  # type: ignore[attr-defined]
        self._call(state, state.token.login, int(user_type), pin_bytes)
        state.login = int(user_type)
        if user_type == CKU.USER:
            self._refresh_token_objects(state)  # PIN-protected objects are listed only now

    @_api
    def logout(self, session: int) -> None:
        _, state = self._session_state(session)
        if state.login is None:
            raise errors.UserNotLoggedIn()  # type: ignore[attr-defined]
        state.login = None
        self._forget_private_objects(state)
        self._call(state, state.token.logout)

    @_api
    def init_pin(self, session: int, pin: Any) -> None:
        _, state = self._session_state(session)
        if state.login != CKU.SO:
            raise errors.UserNotLoggedIn("C_InitPIN needs the SO")  # type: ignore[attr-defined]
        self._call(state, state.token.init_pin, _pin_bytes(pin) or b"")

    @_api
    def set_pin(self, session: int, old_pin: Any, new_pin: Any) -> None:
        record, state = self._session_state(session)
        if not record.read_write:
            raise errors.SessionReadOnly()  # type: ignore[attr-defined]
        user_type = CKU.SO if state.login == CKU.SO else CKU.USER
        self._call(state, state.token.set_pin, int(user_type), _pin_bytes(old_pin) or b"",
                   _pin_bytes(new_pin) or b"")

    # ------------------------------------------------------------------ objects

    def _visible(self, record: ObjectRecord, state: _SlotState) -> bool:
        return record.slot_id == state.slot_id and (not record.is_private or state.login == CKU.USER)

    def _object(self, state: _SlotState, handle: int, error: type = None) -> ObjectRecord:  # type: ignore[assignment]
        record = self._objects.get(int(handle)) if isinstance(handle, int) else None
        if record is None or not self._visible(record, state):
            raise (error or errors.ObjectHandleInvalid)()  # type: ignore[attr-defined]
        return record

    def _key(self, state: _SlotState, handle: int) -> ObjectRecord:
        return self._object(state, handle, errors.KeyHandleInvalid)  # type: ignore[attr-defined]

    def _check_token_write(self, session: SessionRecord, state: _SlotState, attributes: Mapping[int, Any]) -> None:
        if not session.read_write:
            raise errors.SessionReadOnly()  # type: ignore[attr-defined]
        if attributes.get(CKA.PRIVATE) and state.login != CKU.USER:
            raise errors.UserNotLoggedIn()  # type: ignore[attr-defined]

    def _add_session_object(self, session: SessionRecord, state: _SlotState, attributes: Dict[int, Any],
                            sensitive: Iterable[int]) -> int:
        if attributes.get(CKA.PRIVATE) and state.login != CKU.USER:
            raise errors.UserNotLoggedIn("private objects need a user login")  # type: ignore[attr-defined]
        handle = next_handle()
        self._objects[handle] = ObjectRecord(handle, state.slot_id, attributes, frozenset(sensitive),
                                             owner_session=session.handle)
        return handle

    @_api
    def create_object(self, session: int, template: Mapping[int, Any]) -> int:
        record, state = self._session_state(session)
        values = normalize_template(template)
        if values.get(CKA.TOKEN):
            self._check_token_write(record, state, values)
            token_object = self._call(state, state.token.create_object, values)
            return self._after_token_write(state, token_object)
        attributes, sensitive = build_session_object(values)
        return self._add_session_object(record, state, attributes, sensitive)

    @_api
    def copy_object(self, session: int, obj: int, template: Mapping[int, Any]) -> int:
        record, state = self._session_state(session)
        source = self._object(state, obj)
        values = normalize_template(template)
        if source.is_token_object or not source.attributes.get(CKA.COPYABLE, True):
            raise errors.ActionProhibited("object is not copyable")  # type: ignore[attr-defined]
        for attribute_type in values:
            if attribute_type not in MODIFIABLE_ATTRIBUTES | {CKA.TOKEN, CKA.PRIVATE, CKA.MODIFIABLE}:
                raise errors.AttributeReadOnly()  # type: ignore[attr-defined]
        attributes = {**source.attributes, **values}
        if attributes.get(CKA.TOKEN):
            self._check_token_write(record, state, attributes)
            token_object = self._call(state, state.token.create_object, attributes)
            return self._after_token_write(state, token_object)
        return self._add_session_object(record, state, attributes, source.sensitive)

    @_api
    def destroy_object(self, session: int, obj: int) -> None:
        record, state = self._session_state(session)
        target = self._object(state, obj)
        if not target.attributes.get(CKA.DESTROYABLE, True):
            raise errors.ActionProhibited("object is not destroyable")  # type: ignore[attr-defined]
        if target.is_token_object:
            if not record.read_write:
                raise errors.SessionReadOnly()  # type: ignore[attr-defined]
            self._call(state, state.token.destroy_object, target.token_object)
            state.token_handles.pop(target.token_object.ref, None)
            self._objects.pop(target.handle, None)
            self._load_token_objects(state)  # e.g. deleting a PIV key also deletes its certificate
            return
        self._objects.pop(target.handle, None)

    @_api
    def get_object_size(self, session: int, obj: int) -> int:
        _, state = self._session_state(session)
        return self._object(state, obj).size()

    def _attribute_lookup(self, session: int, obj: int, types: Sequence[int]) -> Tuple[int, List[Optional[bytes]]]:
        """The one path behind both get_attribute_value forms."""
        _, state = self._session_state(session)
        record = self._object(state, obj)
        rv = CKR.OK
        values: List[Optional[bytes]] = []
        for attribute_type in types:
            status, encoded = record.lookup(int(attribute_type))
            values.append(encoded)
            if status == "sensitive" and rv == CKR.OK:
                rv = CKR.ATTRIBUTE_SENSITIVE
            elif status == "invalid" and rv == CKR.OK:
                rv = CKR.ATTRIBUTE_TYPE_INVALID
        return int(rv), values

    @_api
    def get_attribute_value_encoded(self, session: int, obj: int,
                                    types: Sequence[int]) -> Tuple[int, List[Optional[bytes]]]:
        """For the C ABI: (rv, encoded value or None per type); rv is OK,
        ATTRIBUTE_SENSITIVE or ATTRIBUTE_TYPE_INVALID (the first problem met)."""
        return self._attribute_lookup(session, obj, types)

    @_api
    def get_attribute_value(self, session: int, obj: int, types: Sequence[int]) -> Dict[int, Any]:
        """Values of ``types``; if any is unavailable, raises the spec's error with
        ``.partial`` holding the available ones."""
        rv, values = self._attribute_lookup(session, obj, types)
        result = {int(t): decode_attribute(int(t), v) for t, v in zip(types, values) if v is not None}
        if rv != CKR.OK:
            error = errors.error_class(rv)()
            error.partial = result  # type: ignore[attr-defined]
            raise error
        return result

    @_api
    def set_attribute_value(self, session: int, obj: int, template: Mapping[int, Any]) -> None:
        record, state = self._session_state(session)
        target = self._object(state, obj)
        values = normalize_template(template)
        if target.is_token_object:
            if not record.read_write:
                raise errors.SessionReadOnly()  # type: ignore[attr-defined]
            raise errors.AttributeReadOnly("card objects cannot be modified")  # type: ignore[attr-defined]
        if not target.attributes.get(CKA.MODIFIABLE, True):
            raise errors.AttributeReadOnly("object is not modifiable")  # type: ignore[attr-defined]
        for attribute_type in values:
            if attribute_type not in target.attributes:
                raise errors.AttributeTypeInvalid()  # type: ignore[attr-defined]
            if attribute_type not in MODIFIABLE_ATTRIBUTES:
                raise errors.AttributeReadOnly()  # type: ignore[attr-defined]
        target.attributes.update(values)

    @_api
    def find_objects_init(self, session: int, template: Mapping[int, Any]) -> None:
        record, state = self._session_state(session)
        record.check_idle(OperationKind.FIND)
        wanted = {t: encode_attribute(t, v) for t, v in normalize_template(template).items()}
        self._ensure_objects(state, wanted)
        found = [h for h, o in sorted(self._objects.items())
                 if self._visible(o, state) and o.matches(wanted)]
        record.begin(Operation(OperationKind.FIND, found=found))

    @_api
    def find_objects(self, session: int, max_count: int) -> List[int]:
        record, state = self._session_state(session)
        operation = record.active(OperationKind.FIND)
        result: List[int] = []
        while operation.found and len(result) < max_count:
            handle = operation.found.pop(0)
            live = self._objects.get(handle)
            if live is not None and self._visible(live, state):
                result.append(handle)
        return result

    @_api
    def find_objects_final(self, session: int) -> None:
        record = self._session(session)
        record.active(OperationKind.FIND)
        record.end(OperationKind.FIND)

    # ------------------------------------------------------------------ operations: common

    def _deliver(self, record: SessionRecord, kind: OperationKind, operation: Operation,
                 compute: Callable[[], bytes], length_only: bool, max_length: Optional[int]) -> bytes:
        """The spec's output rules: compute once; a length query or a too-small
        buffer keeps the operation; anything else (success or error) ends it."""
        if operation.result is None:
            try:
                operation.result = compute()
            except BaseException:
                record.end(kind)
                raise
        result = operation.result
        if length_only:
            return result
        if max_length is not None and len(result) > max_length:
            raise errors.BufferTooSmall(len(result))
        record.end(kind)
        return result

    def _token_mechanisms(self, state: _SlotState) -> Dict[int, Any]:
        return {int(m): info for m, info in self._call(state, state.token.mechanisms).items()}

    def _check_mechanism(self, state: _SlotState, kind: OperationKind, spec: MechanismSpec) -> MechanismSpec:
        if spec.type not in _KIND_MECHANISMS[kind]:
            raise errors.MechanismInvalid(mechanism_name(spec.type))  # type: ignore[attr-defined]
        if kind in _CARD_KINDS:
            info = self._token_mechanisms(state).get(spec.type)
            if info is None or (info.flags and not info.flags & _KIND_FLAG[kind]):
                raise errors.MechanismInvalid(f"{mechanism_name(spec.type)} not on this token")  # type: ignore[attr-defined]
        return spec

    def _check_key(self, kind: OperationKind, spec: MechanismSpec, key: ObjectRecord) -> None:
        wanted_class = CKO.PRIVATE_KEY if kind in (*_CARD_KINDS,) else CKO.PUBLIC_KEY
        if key.object_class != wanted_class or key.attributes.get(CKA.KEY_TYPE) != key_type_for(spec.type):
            raise errors.KeyTypeInconsistent()  # type: ignore[attr-defined]
        if kind in _CARD_KINDS and not key.is_token_object:
            raise errors.KeyTypeInconsistent("private keys live on the card")  # type: ignore[attr-defined]
        if not key.attributes.get(_KIND_KEY_ATTRIBUTE[kind], False):
            raise errors.KeyFunctionNotPermitted()  # type: ignore[attr-defined]

    def _init_key_operation(self, handle: int, kind: OperationKind, mech: Any, key_handle: int) -> Operation:
        record, state = self._session_state(handle)
        record.check_idle(kind)
        spec = self._check_mechanism(state, kind, as_spec(mech))
        key = self._key(state, key_handle)
        self._check_key(kind, spec, key)
        spec = check_parameter(spec)
        operation = Operation(kind, mechanism=spec, key=key)
        if spec.type in HASHED_SIGN:
            base, digest = HASHED_SIGN[spec.type]
            operation.base_mechanism = MechanismSpec(base, spec.parameter)
            operation.digest_mechanism = digest
            operation.hash_context = new_hash(digest)
        else:
            operation.base_mechanism = spec
        if kind in (OperationKind.VERIFY, OperationKind.ENCRYPT):
            operation.public_key = _hostcrypto().public_key_from_attributes(key.attributes)
        if kind in _CARD_KINDS and key.attributes.get(CKA.ALWAYS_AUTHENTICATE):
            operation.context_login_pending = True
        return record.begin(operation)

    def _signature_input(self, operation: Operation, data: Optional[bytes]) -> bytes:
        """What the base mechanism gets: DigestInfo for RSA_PKCS, the digest for
        PSS/ECDSA, the data itself for raw mechanisms."""
        if operation.digest_mechanism is None:
            return bytes(operation.buffer) if data is None else bytes(data)
        if data is not None:
            operation.hash_context.update(bytes(data))
        digest = operation.hash_context.finalize()
        if operation.base_mechanism.type == CKM.RSA_PKCS:  # type: ignore[union-attr]
            return DIGEST_INFO_PREFIX[operation.digest_mechanism] + digest
        return digest

    def _absorb(self, operation: Operation, data: bytes) -> None:
        operation.multipart = True
        if operation.hash_context is not None:
            operation.hash_context.update(bytes(data))
        else:
            operation.buffer += bytes(data)

    def _single_part(self, record: SessionRecord, kind: OperationKind) -> Operation:
        operation = record.active(kind)
        if operation.multipart and operation.result is None:
            raise errors.OperationActive("a multi-part operation is under way")  # type: ignore[attr-defined]
        return operation

    def _require_context_login(self, record: SessionRecord, kind: OperationKind, operation: Operation) -> None:
        if operation.context_login_pending and operation.result is None:
            record.end(kind)
            raise errors.UserNotLoggedIn("this key needs CKU_CONTEXT_SPECIFIC login first")  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ sign

    @_api
    def sign_init(self, session: int, mech: Any, key: int) -> None:
        self._init_key_operation(session, OperationKind.SIGN, mech, key)

    def _card_sign(self, state: _SlotState, operation: Operation, data: Optional[bytes]) -> bytes:
        payload = self._signature_input(operation, data)
        base = operation.base_mechanism
        return bytes(self._call(state, state.token.sign, operation.key.token_object, base.type,  # type: ignore[union-attr]
                                base.parameter, payload))  # type: ignore[union-attr]

    @_api
    def sign(self, session: int, data: bytes, *, length_only: bool = False, max_length: Optional[int] = None) -> bytes:
        record, state = self._session_state(session)
        operation = self._single_part(record, OperationKind.SIGN)
        self._require_context_login(record, OperationKind.SIGN, operation)
        return self._deliver(record, OperationKind.SIGN, operation,
                             lambda: self._card_sign(state, operation, data), length_only, max_length)

    @_api
    def sign_update(self, session: int, data: bytes) -> None:
        """Multi-part sign. Raw mechanisms (RSA_PKCS, X_509, PSS, ECDSA, EDDSA)
        buffer the parts and sign the concatenation at sign_final."""
        record = self._session(session)
        operation = record.active(OperationKind.SIGN)
        if operation.result is not None:
            raise errors.OperationActive()  # type: ignore[attr-defined]
        self._absorb(operation, data)

    @_api
    def sign_final(self, session: int, *, length_only: bool = False, max_length: Optional[int] = None) -> bytes:
        record, state = self._session_state(session)
        operation = record.active(OperationKind.SIGN)
        self._require_context_login(record, OperationKind.SIGN, operation)
        return self._deliver(record, OperationKind.SIGN, operation,
                             lambda: self._card_sign(state, operation, None), length_only, max_length)

    @_api
    def sign_recover_init(self, session: int, mech: Any, key: int) -> None:
        self._session(session)
        raise errors.MechanismInvalid("no sign-with-recovery mechanism")  # type: ignore[attr-defined]

    @_api
    def sign_recover(self, session: int, data: bytes, **out: Any) -> bytes:
        self._session(session)
        raise errors.OperationNotInitialized()  # type: ignore[attr-defined]

    @_api
    def verify_recover_init(self, session: int, mech: Any, key: int) -> None:
        self._session(session)
        raise errors.MechanismInvalid("no verify-with-recovery mechanism")  # type: ignore[attr-defined]

    @_api
    def verify_recover(self, session: int, signature: bytes, **out: Any) -> bytes:
        self._session(session)
        raise errors.OperationNotInitialized()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ verify (host)

    @_api
    def verify_init(self, session: int, mech: Any, key: int) -> None:
        self._init_key_operation(session, OperationKind.VERIFY, mech, key)

    def _host_verify(self, record: SessionRecord, operation: Operation, data: Optional[bytes],
                     signature: bytes) -> None:
        try:
            payload = self._signature_input(operation, data)
            _hostcrypto().verify(operation.public_key, operation.base_mechanism, operation.digest_mechanism,  # type: ignore[arg-type]
                              payload, bytes(signature))
        finally:
            record.end(OperationKind.VERIFY)

    @_api
    def verify(self, session: int, data: bytes, signature: bytes) -> None:
        record = self._session(session)
        operation = self._single_part(record, OperationKind.VERIFY)
        self._host_verify(record, operation, data, signature)

    @_api
    def verify_update(self, session: int, data: bytes) -> None:
        record = self._session(session)
        self._absorb(record.active(OperationKind.VERIFY), data)

    @_api
    def verify_final(self, session: int, signature: bytes) -> None:
        record = self._session(session)
        operation = record.active(OperationKind.VERIFY)
        self._host_verify(record, operation, None, signature)

    # ------------------------------------------------------------------ encrypt (host) / decrypt (card)

    @_api
    def encrypt_init(self, session: int, mech: Any, key: int) -> None:
        self._init_key_operation(session, OperationKind.ENCRYPT, mech, key)

    @_api
    def encrypt(self, session: int, data: bytes, *, length_only: bool = False,
                max_length: Optional[int] = None) -> bytes:
        record = self._session(session)
        operation = self._single_part(record, OperationKind.ENCRYPT)
        return self._deliver(record, OperationKind.ENCRYPT, operation,
                             lambda: _hostcrypto().encrypt(operation.public_key, operation.mechanism, bytes(data)),  # type: ignore[arg-type]
                             length_only, max_length)

    @_api
    def encrypt_update(self, session: int, data: bytes, *, length_only: bool = False,
                       max_length: Optional[int] = None) -> bytes:
        """RSA has no streaming form: parts are buffered and encrypted at encrypt_final."""
        record = self._session(session)
        self._absorb(record.active(OperationKind.ENCRYPT), data)
        return b""

    @_api
    def encrypt_final(self, session: int, *, length_only: bool = False,
                      max_length: Optional[int] = None) -> bytes:
        record = self._session(session)
        operation = record.active(OperationKind.ENCRYPT)
        return self._deliver(record, OperationKind.ENCRYPT, operation,
                             lambda: _hostcrypto().encrypt(operation.public_key, operation.mechanism,  # type: ignore[arg-type]
                                                        bytes(operation.buffer)),
                             length_only, max_length)

    @_api
    def decrypt_init(self, session: int, mech: Any, key: int) -> None:
        self._init_key_operation(session, OperationKind.DECRYPT, mech, key)

    def _card_decrypt(self, state: _SlotState, operation: Operation, data: bytes) -> bytes:
        spec = operation.mechanism
        return bytes(self._call(state, state.token.decrypt, operation.key.token_object, spec.type,  # type: ignore[union-attr]
                                spec.parameter, bytes(data)))  # type: ignore[union-attr]

    @_api
    def decrypt(self, session: int, data: bytes, *, length_only: bool = False,
                max_length: Optional[int] = None) -> bytes:
        record, state = self._session_state(session)
        operation = self._single_part(record, OperationKind.DECRYPT)
        self._require_context_login(record, OperationKind.DECRYPT, operation)
        return self._deliver(record, OperationKind.DECRYPT, operation,
                             lambda: self._card_decrypt(state, operation, data), length_only, max_length)

    @_api
    def decrypt_update(self, session: int, data: bytes, *, length_only: bool = False,
                       max_length: Optional[int] = None) -> bytes:
        """RSA has no streaming form: parts are buffered and decrypted at decrypt_final."""
        record = self._session(session)
        self._absorb(record.active(OperationKind.DECRYPT), data)
        return b""

    @_api
    def decrypt_final(self, session: int, *, length_only: bool = False,
                      max_length: Optional[int] = None) -> bytes:
        record, state = self._session_state(session)
        operation = record.active(OperationKind.DECRYPT)
        self._require_context_login(record, OperationKind.DECRYPT, operation)
        return self._deliver(record, OperationKind.DECRYPT, operation,
                             lambda: self._card_decrypt(state, operation, bytes(operation.buffer)),
                             length_only, max_length)

    # ------------------------------------------------------------------ digest (host)

    @_api
    def digest_init(self, session: int, mech: Any) -> None:
        record, state = self._session_state(session)
        record.check_idle(OperationKind.DIGEST)
        spec = check_parameter(self._check_mechanism(state, OperationKind.DIGEST, as_spec(mech)))
        record.begin(Operation(OperationKind.DIGEST, mechanism=spec, digest_mechanism=spec.type,
                               hash_context=new_hash(spec.type)))

    @_api
    def digest(self, session: int, data: bytes, *, length_only: bool = False,
               max_length: Optional[int] = None) -> bytes:
        record = self._session(session)
        operation = self._single_part(record, OperationKind.DIGEST)

        def compute() -> bytes:
            operation.hash_context.update(bytes(data))
            return operation.hash_context.finalize()

        return self._deliver(record, OperationKind.DIGEST, operation, compute, length_only, max_length)

    @_api
    def digest_update(self, session: int, data: bytes) -> None:
        record = self._session(session)
        operation = record.active(OperationKind.DIGEST)
        if operation.result is not None:
            raise errors.OperationActive()  # type: ignore[attr-defined]
        self._absorb(operation, data)

    @_api
    def digest_key(self, session: int, key: int) -> None:
        record, state = self._session_state(session)
        operation = record.active(OperationKind.DIGEST)
        target = self._key(state, key)
        value = target.attributes.get(CKA.VALUE)
        if target.object_class != CKO.SECRET_KEY or not isinstance(value, bytes):
            record.end(OperationKind.DIGEST)
            raise errors.KeyIndigestible()  # type: ignore[attr-defined]
        self._absorb(operation, value)

    @_api
    def digest_final(self, session: int, *, length_only: bool = False,
                     max_length: Optional[int] = None) -> bytes:
        record = self._session(session)
        operation = record.active(OperationKind.DIGEST)
        return self._deliver(record, OperationKind.DIGEST, operation, operation.hash_context.finalize,
                             length_only, max_length)

    # ------------------------------------------------------------------ keys

    @_api
    def generate_key_pair(self, session: int, mech: Any, public_template: Mapping[int, Any],
                          private_template: Mapping[int, Any]) -> Tuple[int, int]:
        record, state = self._session_state(session)
        spec = as_spec(mech)
        info = self._token_mechanisms(state).get(spec.type)
        if info is None or (info.flags and not info.flags & MechanismFlag.GENERATE_KEY_PAIR):
            raise errors.MechanismInvalid(mechanism_name(spec.type))  # type: ignore[attr-defined]
        public_values = normalize_template(public_template)
        private_values = normalize_template(private_template)
        if not record.read_write:
            raise errors.SessionReadOnly()  # type: ignore[attr-defined]
        public, private = self._call(state, state.token.generate_key_pair, spec.type, public_values,
                                     private_values)
        return self._after_token_write(state, public), self._after_token_write(state, private)

    @_api
    def generate_key(self, session: int, mech: Any, template: Mapping[int, Any]) -> int:
        self._session(session)
        raise errors.MechanismInvalid("no secret-key generation on this token")  # type: ignore[attr-defined]

    @_api
    def wrap_key(self, session: int, mech: Any, wrapping_key: int, key: int, **out: Any) -> bytes:
        self._session(session)
        raise errors.MechanismInvalid("no key wrapping mechanism")  # type: ignore[attr-defined]

    @_api
    def unwrap_key(self, session: int, mech: Any, unwrapping_key: int, wrapped_key: bytes,
                   template: Mapping[int, Any]) -> int:
        self._session(session)
        raise errors.MechanismInvalid("no key unwrapping mechanism")  # type: ignore[attr-defined]

    @_api
    def derive_key(self, session: int, mech: Any, base_key: int, template: Mapping[int, Any]) -> int:
        """ECDH1_DERIVE on the card, KDF on the host; the result is a session secret key."""
        record, state = self._session_state(session)
        spec = as_spec(mech)
        if spec.type not in DERIVE_MECHANISMS:
            raise errors.MechanismInvalid(mechanism_name(spec.type))  # type: ignore[attr-defined]
        info = self._token_mechanisms(state).get(spec.type)
        if info is None or (info.flags and not info.flags & MechanismFlag.DERIVE):
            raise errors.MechanismInvalid(f"{mechanism_name(spec.type)} not on this token")  # type: ignore[attr-defined]
        key = self._key(state, base_key)
        if key.object_class != CKO.PRIVATE_KEY or not key.is_token_object \
                or key.attributes.get(CKA.KEY_TYPE) not in (CKK.EC, CKK.EC_MONTGOMERY):
            raise errors.KeyTypeInconsistent()  # type: ignore[attr-defined]
        if not key.attributes.get(CKA.DERIVE, False):
            raise errors.KeyFunctionNotPermitted()  # type: ignore[attr-defined]
        spec = check_parameter(spec)
        params: Ecdh1DeriveParams = spec.parameter
        values = normalize_template(template)
        if values.get(CKA.TOKEN):
            raise errors.TemplateInconsistent("derived keys are session objects")  # type: ignore[attr-defined]
        if values.get(CKA.CLASS, CKO.SECRET_KEY) != CKO.SECRET_KEY:
            raise errors.TemplateInconsistent("ECDH derives secret keys")  # type: ignore[attr-defined]
        key_type = values.get(CKA.KEY_TYPE, CKK.GENERIC_SECRET)
        length = values.get(CKA.VALUE_LEN)
        if key_type == CKK.AES:
            if length is None:
                raise errors.TemplateIncomplete("AES keys need CKA_VALUE_LEN")  # type: ignore[attr-defined]
            if length not in (16, 24, 32):
                raise errors.AttributeValueInvalid("AES keys are 16, 24 or 32 bytes")  # type: ignore[attr-defined]
        elif key_type != CKK.GENERIC_SECRET:
            raise errors.TemplateInconsistent("unsupported derived key type")  # type: ignore[attr-defined]
        for attribute_type in values:
            if attribute_type in (CKA.VALUE, CKA.ALWAYS_SENSITIVE, CKA.NEVER_EXTRACTABLE, CKA.LOCAL):
                raise errors.TemplateInconsistent()  # type: ignore[attr-defined]
        # The token takes the peer's point raw or DER-wrapped (it knows the curve's point size).
        secret = bytes(self._call(state, state.token.derive, key.token_object, CKM.ECDH1_DERIVE, params))
        value = _hostcrypto().ecdh_kdf(params.kdf, secret, params.shared_data, length)
        attributes = secret_key_defaults(value, local=False)
        attributes.update({CKA.PRIVATE: True, CKA.MODIFIABLE: True, CKA.COPYABLE: True, CKA.DESTROYABLE: True,
                           CKA.TOKEN: False, CKA.LABEL: "", CKA.KEY_GEN_MECHANISM: CKM.ECDH1_DERIVE})
        attributes.update(values)
        attributes[CKA.VALUE] = value
        attributes[CKA.VALUE_LEN] = len(value)
        attributes[CKA.KEY_TYPE] = key_type
        attributes[CKA.ALWAYS_SENSITIVE] = bool(attributes[CKA.SENSITIVE]) and bool(
            key.attributes.get(CKA.ALWAYS_SENSITIVE, True))
        attributes[CKA.NEVER_EXTRACTABLE] = not attributes[CKA.EXTRACTABLE] and bool(
            key.attributes.get(CKA.NEVER_EXTRACTABLE, True))
        return self._add_session_object(record, state, attributes, secret_value_sensitivity(attributes))

    # ------------------------------------------------------------------ random

    @_api
    def seed_random(self, session: int, seed: bytes) -> None:
        self._session(session)
        raise errors.RandomSeedNotSupported()  # type: ignore[attr-defined]

    @_api
    def generate_random(self, session: int, length: int) -> bytes:
        _, state = self._session_state(session)
        if length < 0:
            raise errors.ArgumentsBad()  # type: ignore[attr-defined]
        if length == 0:
            return b""
        return bytes(self._call(state, state.token.generate_random, int(length)))


__all__ = ["Cryptoki", "LibraryInfo", "SlotInfo", "TokenInfoFull", "SessionInfo"]
