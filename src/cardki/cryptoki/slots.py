"""The slot table: which cards are in, the token of each insertion, and every call to it.

It owns the slot source (readers), one :class:`SlotState` per slot, and the
rule that every token call passes :meth:`SlotTable.call`, which turns a
vanished card into DEVICE_REMOVED (the slot's sessions close) and notices a
card reset or replaced by another program. What else must happen when a card
leaves or changes (sessions closed, object handles dropped or re-read) belongs
to the session and object tables; they are told through the two callbacks the
engine facade wires in (:attr:`SlotTable.on_card_gone`, :attr:`SlotTable.on_token_changed`).

The token package (and with it cryptography) is imported at the first card,
not at C_Initialize: hosts that only probe modules never pay for it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Sequence, TypeVar

from .. import errors
from ..constants import CKR, SlotFlag, TokenFlag, WaitFlag
from ..log import get_logger
from ..transport import CardRemovedError, CardResetError, SlotError, WaitCancelledError
from .info import MANUFACTURER_ID, SlotInfo
from .mechanisms import mechanism_name
from .ports import SlotEntryView, SlotSource, TokenFactory

if TYPE_CHECKING:
    from ..token.base import MechanismInfo, Token, TokenInfo

log = get_logger(__name__)
T = TypeVar("T")

#: Longest time a blocking C_WaitForSlotEvent takes to notice C_Finalize (seconds).
WAIT_SLICE = 0.5


class SlotState:
    """What the engine knows of one slot: the token of the card now in it."""

    __slots__ = ("slot_id", "token", "token_generation", "card_generation", "write_protected", "mechanisms")

    def __init__(self, slot_id: int) -> None:
        self.slot_id = slot_id
        self.token: Token | None = None
        self.token_generation: int | None = None  # token.presence_generation when last seen
        self.card_generation: int | None = None   # the slot source's insertion count at opening
        self.write_protected: bool | None = None  # asked once per insertion
        self.mechanisms: Dict[int, MechanismInfo] | None = None  # asked once per insertion

    def __repr__(self) -> str:
        return f"SlotState({self.slot_id}, token={self.token!r})"


def _default_token_factory() -> TokenFactory:
    from ..token import open_token
    return open_token


class SlotTable:
    """The slots, their tokens, and the one path every token call takes."""

    def __init__(self, lock: threading.RLock, token_factory: TokenFactory | None = None) -> None:
        self._lock = lock
        self._token_factory = token_factory
        self._source: SlotSource | None = None
        self._owns_source = False
        self._states: Dict[int, SlotState] = {}
        self._epoch = 0  # bumped by detach(): waits that began before it end
        self.on_card_gone: Callable[[int], None] = lambda slot_id: None
        """Called with the slot id when a card left (before its token is released)."""
        self.on_token_changed: Callable[[SlotState], None] = lambda state: None
        """Called when another program reset or changed the card (objects may differ)."""

    # ------------------------------------------------------------------ the source

    def attach(self, source: SlotSource, *, owned: bool) -> None:
        """Use ``source`` until :meth:`detach`; ``owned``: detach cancels and closes it."""
        self._source, self._owns_source = source, owned

    def detach(self) -> None:
        """Forget every slot (no card I/O); release the source if it is ours. Ends the
        blocked waits of other threads at their next slice."""
        self._states.clear()
        self._epoch += 1
        source, self._source = self._source, None
        if source is not None and self._owns_source:
            for step in (source.cancel, source.close):
                try:
                    step()
                except Exception:  # noqa: BLE001 - finalizing anyway
                    log.debug("slot source %s failed", step.__name__, exc_info=True)

    @property
    def source(self) -> SlotSource:
        if self._source is None:
            raise errors.CryptokiNotInitialized()
        return self._source

    # ------------------------------------------------------------------ slots and presence

    def entries(self) -> List[SlotEntryView]:
        try:
            return list(self.source.slots())
        except SlotError:
            log.debug("no readers", exc_info=True)
            return []

    def entry(self, slot_id: int) -> SlotEntryView:
        for entry in self.entries():
            if entry.id == slot_id:
                return entry
        raise errors.SlotIdInvalid(f"no slot {slot_id}")

    def state(self, slot_id: int) -> SlotState:
        """The slot's state (made at first use)."""
        state = self._states.get(slot_id)
        if state is None:
            state = self._states[slot_id] = SlotState(slot_id)
        return state

    def states(self) -> List[SlotState]:
        return list(self._states.values())

    def _card_generation(self, slot_id: int) -> int | None:
        try:
            return int(self.source.card_generation(slot_id))
        except SlotError:
            return None

    def sync(self, entry: SlotEntryView) -> SlotState:
        """The slot's state, its token dropped if the card is gone or was swapped for
        another insertion since the token was opened."""
        state = self.state(entry.id)
        if state.token is None:
            return state
        if not entry.card_present:
            self.card_gone(state)
        elif state.card_generation is not None and self._card_generation(entry.id) not in (
                None, state.card_generation):
            self.card_gone(state)
        return state

    def present(self, slot_id: int) -> SlotState:
        """The slot's state with a token, opened for a newly inserted card
        (SLOT_ID_INVALID, TOKEN_NOT_PRESENT, TOKEN_NOT_RECOGNIZED)."""
        entry = self.entry(slot_id)
        state = self.sync(entry)
        if state.token is None:
            if not entry.card_present:
                raise errors.TokenNotPresent()
            self._open_token(state)
        return state

    def _open_token(self, state: SlotState) -> None:
        if self._token_factory is None:
            self._token_factory = _default_token_factory()
        generation = self._card_generation(state.slot_id)
        try:
            transport = self.source.connect(state.slot_id)
        except CardRemovedError as error:
            raise errors.TokenNotPresent() from error
        except SlotError as error:
            raise errors.DeviceError(str(error)) from error
        try:
            token = self._token_factory(transport)
        except CardRemovedError as error:
            transport.close()
            raise errors.TokenNotPresent() from error
        except SlotError as error:
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
        state.token_generation = token.presence_generation
        state.write_protected = None
        state.mechanisms = None

    def release(self, state: SlotState) -> None:
        """Close the slot's token (the card left, or the library finalizes)."""
        token, state.token = state.token, None
        state.write_protected = None
        state.mechanisms = None
        if token is not None:
            try:
                token.close()
            except Exception:  # noqa: BLE001 - the card may be gone already
                log.debug("token close failed", exc_info=True)

    def card_gone(self, state: SlotState) -> None:
        """The card left: the slot's sessions close, its handles die, the token goes."""
        log.info("card removed from slot %d", state.slot_id)
        self.on_card_gone(state.slot_id)
        self.release(state)

    def forget_vanished(self, entries: Sequence[SlotEntryView]) -> None:
        """Close the sessions of slots whose reader went away (a USB token pulled out
        takes its reader with it; pcscd stopped takes them all). The in-process
        virtual slot is only listed while no reader has a card: it stays."""
        listed = {entry.id for entry in entries}
        for state in self.states():
            if state.slot_id in listed or state.token is None:
                continue
            try:
                self.source.slot(state.slot_id)
            except SlotError:
                self.card_gone(state)

    # ------------------------------------------------------------------ token calls

    @staticmethod
    def token(state: SlotState) -> Token:
        if state.token is None:
            raise errors.DeviceRemoved("the card left the slot")
        return state.token

    def call(self, state: SlotState, operation: Callable[[Token], T]) -> T:
        """Run ``operation`` on the slot's token: a vanished card is DEVICE_REMOVED (and the
        slot's sessions closed), a reset that escapes the token is retried once, other
        slot errors are DEVICE_ERROR; a card another program reset or changed makes the
        object table re-read what it holds."""
        for attempt in (1, 2):
            try:
                result = operation(self.token(state))
                break
            except CardRemovedError as error:
                self.card_gone(state)
                raise errors.DeviceRemoved() from error
            except CardResetError as error:
                # The token restores itself on reset; if one still escapes, retry once.
                if attempt == 2:
                    raise errors.DeviceError("card reset repeatedly") from error
            except SlotError as error:
                raise errors.DeviceError(str(error)) from error
            except errors.CryptokiError as error:
                if error.rv == CKR.DEVICE_REMOVED and state.token is not None:
                    self.card_gone(state)
                raise
        token = state.token
        if token is not None and token.presence_generation != state.token_generation:
            state.token_generation = token.presence_generation
            self.on_token_changed(state)
        return result

    def read(self, state: SlotState, operation: Callable[[Token], T]) -> T:
        """:meth:`call` for reading the card's objects, which is what a change makes the
        object table do: no retry and no change notice (that would recurse)."""
        try:
            return operation(self.token(state))
        except CardRemovedError as error:
            self.card_gone(state)
            raise errors.DeviceRemoved() from error
        except SlotError as error:
            raise errors.DeviceError(str(error)) from error
        except errors.CryptokiError as error:
            if error.rv == CKR.DEVICE_REMOVED and state.token is not None:
                self.card_gone(state)
            raise

    # ------------------------------------------------------------------ queries

    def slot_list(self, token_present: bool) -> List[int]:
        """C_GetSlotList: every slot, or those with a card; presence is synced and the
        slots of readers that went away are closed."""
        result = []
        entries = self.entries()
        for entry in entries:
            self.sync(entry)
            if entry.card_present or not token_present:
                result.append(int(entry.id))
        self.forget_vanished(entries)
        return result

    def slot_info(self, slot_id: int) -> SlotInfo:
        entry = self.entry(slot_id)
        self.sync(entry)
        flags = SlotFlag.REMOVABLE_DEVICE
        if not entry.virtual:
            flags |= SlotFlag.HW_SLOT
        if entry.card_present:
            flags |= SlotFlag.TOKEN_PRESENT
        return SlotInfo(entry.reader_name, MANUFACTURER_ID, int(flags), (0, 0), (0, 0))

    def token_info(self, state: SlotState) -> TokenInfo:
        return self.call(state, lambda token: token.info())

    def write_protected(self, state: SlotState) -> bool:
        """Whether the token refuses writes (asked once per insertion: info() may cost APDUs)."""
        if state.write_protected is None:
            state.write_protected = bool(self.token_info(state).flags & TokenFlag.WRITE_PROTECTED)
        return state.write_protected

    def mechanisms(self, state: SlotState) -> Mapping[int, MechanismInfo]:
        """The token's mechanisms (what the card can do), asked once per insertion: every
        C_SignInit / C_DecryptInit checks its mechanism against them, and a token builds
        the table anew when asked (50 us of a ~300 us signature for the PIV token)."""
        if state.mechanisms is None or state.token is None:
            state.mechanisms = {int(m): info for m, info in self.call(state, lambda token: token.mechanisms()).items()}
        return state.mechanisms

    def mechanism_info(self, state: SlotState, mechanism: int) -> MechanismInfo:
        info = self.mechanisms(state).get(int(mechanism))
        if info is None:
            raise errors.MechanismInvalid(mechanism_name(int(mechanism)))
        return info

    def wait_for_event(self, flags: int) -> int:
        """C_WaitForSlotEvent; blocks without holding the library lock (the caller must
        not hold it either). Blocking waits run in slices, so C_Finalize ends them even
        with a slot source the caller owns (which finalize leaves uncancelled)."""
        with self._lock:
            source, epoch = self.source, self._epoch
        block = not flags & WaitFlag.DONT_BLOCK
        while True:
            try:
                slot_id = source.wait_for_slot_event(block=block, timeout=WAIT_SLICE if block else None)
            except WaitCancelledError as error:
                raise errors.CryptokiNotInitialized("C_Finalize ended the wait") from error
            except SlotError as error:
                raise errors.DeviceError(str(error)) from error
            with self._lock:
                if self._epoch != epoch or self._source is None:
                    raise errors.CryptokiNotInitialized("C_Finalize ended the wait")
                if slot_id is None:
                    if block:
                        continue
                    raise errors.NoEvent()
                for entry in self.entries():
                    if entry.id == slot_id:
                        self.sync(entry)
                return int(slot_id)


__all__ = ["SlotState", "SlotTable", "WAIT_SLICE"]
