"""Slots and tokens: which cards are in, one token per insertion, and the card's objects.

Why a part of its own: every other part reaches the card through here. It
follows card presence (a removed or swapped card closes the slot's sessions and
invalidates its handles), opens and releases the token of each insertion, runs
every token call through :meth:`SlotTokens._call` (which turns a vanished card
into DEVICE_REMOVED and notices resets by other programs), and registers the
card's objects under handles that last while the card stays in. It also answers
the slot, token and mechanism queries, and C_WaitForSlotEvent.

Closing a session is the session part's job: a removed card closes its slot's
sessions through ``_discard_session``. The slot errors (pyscard) and the token
package (cryptography) are imported at first need, which keeps C_Initialize and
C_GetSlotList cheap.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, List, Mapping, Optional, Set, Tuple, Type

from .. import errors
from .boundary import api_boundary
from ..constants import CK_EFFECTIVELY_INFINITE, CK_UNAVAILABLE_INFORMATION, CKA, CKR, SlotFlag, WaitFlag
from .engine_state import EngineState, SlotState
from .info import MANUFACTURER_ID, SlotInfo, TokenInfoFull
from .mechanisms import mechanism_name
from .objects import ObjectRecord, next_handle

log = logging.getLogger(__name__)

#: Longest time a blocking C_WaitForSlotEvent takes to notice C_Finalize (seconds).
_WAIT_SLICE = 0.5


def _cka_id(attributes: Mapping[int, Any]) -> Optional[bytes]:
    """An object's CKA_ID as bytes (None without one, as for PIV data objects)."""
    value = attributes.get(CKA.ID)
    return None if value is None else bytes(value)


def _slot_errors() -> Tuple[Type[Exception], Type[Exception], Type[Exception], Type[Exception]]:
    """(CardRemovedError, CardResetError, SlotError, WaitCancelledError), imported late so
    the engine can run without pyscard when a custom slot manager is used."""
    from ..transport import CardRemovedError, CardResetError, SlotError, WaitCancelledError
    return CardRemovedError, CardResetError, SlotError, WaitCancelledError


class SlotTokens(EngineState):
    """Cryptoki mixin: slots, the token of each insertion, and the card's objects."""

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
        raise errors.SlotIdInvalid(f"no slot {slot_id}")

    def _slot_state(self, slot_id: int) -> SlotState:
        state = self._slots.get(slot_id)
        if state is None:
            state = self._slots[slot_id] = SlotState(slot_id)
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

    def _sync_presence(self, entry: Any) -> SlotState:
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

    def _present_token(self, slot_id: int) -> SlotState:
        """The slot's state with a token, opening one for a newly inserted card."""
        entry = self._slot_entry(slot_id)
        state = self._sync_presence(entry)
        if state.token is None:
            if not entry.card_present:
                raise errors.TokenNotPresent()
            self._open_token(state)
        return state

    def _open_token(self, state: SlotState) -> None:
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
            raise errors.TokenNotPresent() from error
        except slot_error as error:
            raise errors.DeviceError(str(error)) from error
        try:
            token = self._token_factory(transport)  # type: ignore[misc]
        except removed as error:
            transport.close()
            raise errors.TokenNotPresent() from error
        except slot_error as error:
            transport.close()
            raise errors.DeviceError(str(error)) from error
        except errors.CryptokiError:
            transport.close()
            raise
        if token is None:
            transport.close()
            raise errors.TokenNotRecognized()
        state.token = token
        state.card_generation = generation
        state.generation = token.presence_generation
        state.objects_loaded = False
        state.loaded_ids = set()
        state.login = None
        state.write_protected = None
        state.token_handles = {}

    def _release_token(self, state: SlotState) -> None:
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

    def _card_gone(self, state: SlotState) -> None:
        """The card left: every session of the slot is closed, every handle dies."""
        log.info("card removed from slot %d: closing %d sessions", state.slot_id, len(state.sessions))
        for handle in list(state.sessions):
            self._discard_session(handle)
        self._release_token(state)

    def _call(self, state: SlotState, function: Callable, *args: Any) -> Any:
        """Run a token call, turning a vanished card into DEVICE_REMOVED (and the
        slot's sessions closed) and noticing a replaced/reset card."""
        removed, reset, slot_error, _ = _slot_errors()
        for attempt in (1, 2):
            try:
                result = function(*args)
                break
            except removed as error:
                self._card_gone(state)
                raise errors.DeviceRemoved() from error
            except reset as error:
                # The token restores itself on reset; if one still escapes, retry once.
                if attempt == 2:
                    raise errors.DeviceError("card reset repeatedly") from error
            except slot_error as error:
                raise errors.DeviceError(str(error)) from error
            except errors.CryptokiError as error:
                if error.rv == CKR.DEVICE_REMOVED and state.token is not None:
                    self._card_gone(state)
                raise
        if state.token is not None and state.token.presence_generation != state.generation:
            state.generation = state.token.presence_generation
            self._refresh_token_objects(state)
        return result

    def _refresh_token_objects(self, state: SlotState) -> None:
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

    def _load_token_objects(self, state: SlotState, ids: Optional[frozenset] = None) -> None:
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

    def _call_raw_objects(self, state: SlotState, function: Callable[..., Any], *args: Any) -> List[Any]:
        """Read the card's objects (no refresh afterwards: that is what the caller does);
        a vanished card closes the slot's sessions, as in :meth:`_call`."""
        removed, _, slot_error, _ = _slot_errors()
        try:
            return list(function(*args))
        except removed as error:
            self._card_gone(state)
            raise errors.DeviceRemoved() from error
        except slot_error as error:
            raise errors.DeviceError(str(error)) from error
        except errors.CryptokiError as error:
            if error.rv == CKR.DEVICE_REMOVED and state.token is not None:
                self._card_gone(state)
            raise

    def _ensure_objects(self, state: SlotState, template: Mapping[int, bytes]) -> None:
        """Register the card objects a find with ``template`` (encoded) can match: with a
        CKA_ID, only that id's objects (a PIV token then reads one slot, not all 25)."""
        if state.token is None or state.objects_loaded:
            return
        cka_id = template.get(CKA.ID)
        if cka_id is None or not hasattr(state.token, "objects_with_id"):
            self._load_token_objects(state)
        elif cka_id not in state.loaded_ids:
            self._load_token_objects(state, frozenset([bytes(cka_id)]))

    def _register_token_object(self, state: SlotState, token_object: Any) -> int:
        handle = state.token_handles.get(token_object.ref) or next_handle()
        state.token_handles[token_object.ref] = handle
        self._objects[handle] = ObjectRecord(handle, state.slot_id, dict(token_object.attributes),
                                             frozenset(int(t) for t in token_object.sensitive),
                                             token_object=token_object)
        return handle

    def _after_token_write(self, state: SlotState, token_object: Any) -> int:
        """The handle of an object the card just stored. Other objects may have
        changed with it (a new key replaces the slot's certificate and public key),
        so the list is re-read; handles of unchanged objects stay."""
        self._load_token_objects(state)
        handle = state.token_handles.get(token_object.ref)
        if handle is None:
            handle = self._register_token_object(state, token_object)
        return handle

    def _forget_vanished_slots(self, entries: List[Any]) -> None:
        """Close the sessions of slots whose reader went away (a USB token pulled out
        takes its reader with it; pcscd stopped takes them all). The in-process
        virtual slot is only listed while no reader has a card: it stays."""
        listed = {entry.id for entry in entries}
        _, _, slot_error, _ = _slot_errors()
        for slot_id, state in list(self._slots.items()):
            if slot_id in listed or (state.token is None and not state.sessions):
                continue
            try:
                self._slot_manager.slot(slot_id)
            except slot_error:
                self._card_gone(state)

    @api_boundary
    def get_slot_list(self, token_present: bool) -> List[int]:
        result = []
        entries = self._slot_entries()
        for entry in entries:
            self._sync_presence(entry)
            if entry.card_present or not token_present:
                result.append(int(entry.id))
        self._forget_vanished_slots(entries)
        return result

    @api_boundary
    def get_slot_info(self, slot: int) -> SlotInfo:
        entry = self._slot_entry(slot)
        self._sync_presence(entry)
        flags = SlotFlag.REMOVABLE_DEVICE
        if not (getattr(entry, "virtual", False) or getattr(entry, "is_virtual", False)):
            flags |= SlotFlag.HW_SLOT
        if entry.card_present:
            flags |= SlotFlag.TOKEN_PRESENT
        return SlotInfo(entry.reader_name, MANUFACTURER_ID, int(flags), (0, 0), (0, 0))

    @api_boundary
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
                raise errors.CryptokiNotInitialized("C_Finalize ended the wait") from error
            except slot_error as error:
                raise errors.DeviceError(str(error)) from error
            with self._lock:
                if self._epoch != epoch:
                    raise errors.CryptokiNotInitialized("C_Finalize ended the wait")
                self._check_initialized()
                if slot_id is None:
                    if block:
                        continue
                    raise errors.NoEvent()
                for entry in self._slot_entries():
                    if entry.id == slot_id:
                        self._sync_presence(entry)
                return int(slot_id)

    @api_boundary
    def get_mechanism_list(self, slot: int) -> List[int]:
        state = self._present_token(slot)
        return sorted(int(m) for m in self._call(state, state.token.mechanisms))

    @api_boundary
    def get_mechanism_info(self, slot: int, mech: int) -> Any:
        state = self._present_token(slot)
        mechanisms = self._call(state, state.token.mechanisms)
        info = mechanisms.get(int(mech))
        if info is None:
            raise errors.MechanismInvalid(mechanism_name(int(mech)))
        return info

    @api_boundary
    def init_token(self, slot: int, so_pin: Any, label: str) -> None:
        state = self._present_token(slot)
        if state.sessions:
            raise errors.SessionExists()
        raise errors.FunctionNotSupported("PIV cards are initialized with their own tools")


__all__ = ["SlotTokens"]
