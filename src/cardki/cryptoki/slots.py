"""The slot table: which cards are in, the tokens of each insertion, and every call to them.

It owns the slot source (readers), one :class:`SlotState` per slot, and the
rule that every token call passes :meth:`SlotTable.call`, which turns a
vanished card into DEVICE_REMOVED (the slot's sessions close) and notices a
card reset or replaced by another program. What else must happen when a card
leaves or changes (sessions closed, object handles dropped or re-read) belongs
to the session and object tables; they are told through the two callbacks the
engine facade wires in (:attr:`SlotTable.on_card_gone`, :attr:`SlotTable.on_token_changed`).

Slots and applets. A reader is a slot (the source's id and the reader's name),
listed whether or not a card is in. A card may carry several applets cardki knows
(a YubiKey: PIV and OpenPGP): the first token the factory returns (registry order,
PIV first) is the reader's slot's, and each further one gets a slot of its own,
described "<reader> (<applet>)", listed right after the reader's slot while a card
with that applet is in. Its id comes from the source's numbering
(:meth:`SlotSource.reserve_slot_id`) once per (reader, applet) and stays while the
reader stays attached, so the YubiKey's OpenPGP slot keeps its id across
re-insertions. Each slot has its own token, login state and sessions; the tokens
of one card share its connection. To list those slots the card's applets must be
known, so C_GetSlotList opens the tokens of a newly inserted card (the APDUs the
first C_GetTokenInfo or C_OpenSession would send anyway; none afterwards), and
C_WaitForSlotEvent reports a card's applet slots right after its reader's slot.

The token package (and with it cryptography) is imported at the first card,
not at C_Initialize: hosts that only probe modules never pay for it.
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
from collections import deque
from typing import TYPE_CHECKING, Callable, Deque, Dict, List, Mapping, Sequence, Tuple, TypeVar

from cardki.named_tuple import NamedTuple

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

    __slots__ = ("slot_id", "token", "token_generation", "card_generation", "write_protected", "mechanisms",
                 "mechanism_flags", "reader_id", "applet_name")

    def __init__(self, slot_id: int) -> None:
        self.slot_id = slot_id
        self.token: Token | None = None
        self.token_generation: int | None = None  # token.presence_generation when last seen
        self.card_generation: int | None = None   # the slot source's insertion count at opening
        self.write_protected: bool | None = None  # asked once per insertion
        self.mechanisms: Dict[int, MechanismInfo] | None = None  # asked once per insertion
        self.mechanism_flags: Dict[int, int | None] = {}  # one mechanism at a time, as operations ask
        self.reader_id: int | None = None  # an applet slot: the reader's slot (None: a reader's own slot)
        self.applet_name = ""              # an applet slot: its applet, as people call it ("OpenPGP")

    def __repr__(self) -> str:
        return f"SlotState({self.slot_id}, token={self.token!r})"


class AppletSlotEntry(NamedTuple):
    """An applet slot as listed: the slot of a further applet of the card in a reader."""

    id: int
    reader_name: str  # the slot's description: "<reader> (<applet>)"
    card_present: bool
    virtual: bool


#: CK_SLOT_INFO.slotDescription holds 64 bytes.
SLOT_DESCRIPTION_LENGTH = 64


def applet_slot_description(reader_name: str, applet_name: str) -> str:
    """"<reader> (<applet>)", the reader's name shortened so the applet stays visible."""
    suffix = f" ({applet_name})"
    room = SLOT_DESCRIPTION_LENGTH - len(suffix.encode("utf-8"))
    name = reader_name.encode("utf-8")[:max(room, 0)].decode("utf-8", "ignore")
    return name + suffix


def _default_token_factory() -> TokenFactory:
    from ..token import open_tokens
    return open_tokens


class SlotTable:
    """The slots, their tokens, and the one path every token call takes."""

    def __init__(self, lock: _thread.RLock, token_factory: TokenFactory | None = None) -> None:
        self._lock = lock
        self._token_factory = token_factory
        self._source: SlotSource | None = None
        self._owns_source = False
        self._states: Dict[int, SlotState] = {}
        self._applet_ids: Dict[Tuple[int, str], int] = {}  # (reader's slot, applet) -> applet slot
        self._applet_slots: Dict[int, Tuple[int, str]] = {}  # applet slot -> (reader's slot, applet)
        self._siblings: Dict[int, List[int]] = {}  # reader's slot -> applet slots of the card in it
        self._pending_events: Deque[int] = deque()  # applet slots to report after their reader's
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
        self._applet_ids.clear()
        self._applet_slots.clear()
        self._siblings.clear()
        self._pending_events.clear()
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

    def _reader_entries(self) -> List[SlotEntryView]:
        try:
            return list(self.source.slots())
        except SlotError:
            log.debug("no readers", exc_info=True)
            return []

    def entries(self) -> List[SlotEntryView]:
        """Every slot as listed now: each reader's slot, then the applet slots of the card
        in it (whose applets are found out here for a newly inserted card)."""
        result: List[SlotEntryView] = []
        for entry in self._reader_entries():
            result.append(entry)
            state = self.sync(entry)
            if entry.card_present:
                result.extend(self._applet_entries(entry, state))
        return result

    def _applet_entries(self, reader: SlotEntryView, state: SlotState) -> List[AppletSlotEntry]:
        """The applet slots of the card in ``reader``, its tokens opened first if needed
        (quietly: a card that cannot be opened now shows its reader's slot only, and
        C_GetTokenInfo / C_OpenSession there say why)."""
        if state.token is None:
            try:
                self._open_token(state)
            except errors.CryptokiError as error:
                log.debug("the card in slot %d is not open: %s", state.slot_id, error.rv_name)
        entries = []
        for slot_id in self._siblings.get(reader.id, ()):
            sibling = self._states.get(slot_id)
            if sibling is not None and sibling.token is not None:
                entries.append(AppletSlotEntry(slot_id, applet_slot_description(reader.reader_name, sibling.applet_name),
                                               True, reader.virtual))
        return entries

    def _reader_entry(self, slot_id: int) -> SlotEntryView:
        for entry in self._reader_entries():
            if entry.id == slot_id:
                return entry
        raise errors.SlotIdInvalid(f"no slot {slot_id}")

    def _applet_slot(self, slot_id: int) -> Tuple[int, str] | None:
        """(reader's slot, applet) of an applet slot. An id the table does not know yet
        may be one a listing would make (a caller that skipped C_GetSlotList, with an id
        from another process listing the same cards): list once to find out."""
        applet = self._applet_slots.get(slot_id)
        if applet is None and slot_id not in {entry.id for entry in self._reader_entries()}:
            self.entries()
            applet = self._applet_slots.get(slot_id)
        return applet

    def entry(self, slot_id: int) -> SlotEntryView:
        """One slot (SLOT_ID_INVALID if there is none): a reader's, or an applet slot, which
        stays valid (without a token) while its reader is attached."""
        applet = self._applet_slot(slot_id)
        if applet is None:
            return self._reader_entry(slot_id)
        reader = self._reader_entry(applet[0])
        self.sync(reader)
        state = self.state(slot_id)
        return AppletSlotEntry(slot_id, applet_slot_description(reader.reader_name, state.applet_name or applet[1]),
                               reader.card_present and state.token is not None, reader.virtual)

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
        """The slot's state, its tokens dropped if the card is gone or was swapped for
        another insertion since they were opened (an applet slot: its reader's card)."""
        state = self.state(entry.id)
        reader_state = state if state.reader_id is None else self.state(state.reader_id)
        if reader_state.token is None:
            return state
        if state.reader_id is not None:
            entry = self._reader_entry(state.reader_id)
        if not entry.card_present:
            self.card_gone(reader_state)
        elif reader_state.card_generation is not None and self._card_generation(entry.id) not in (
                None, reader_state.card_generation):
            self.card_gone(reader_state)
        return state

    def present(self, slot_id: int) -> SlotState:
        """The slot's state with a token, opened for a newly inserted card
        (SLOT_ID_INVALID, TOKEN_NOT_PRESENT, TOKEN_NOT_RECOGNIZED)."""
        applet = self._applet_slot(slot_id)
        if applet is not None:
            reader = self._reader_entry(applet[0])
            reader_state = self.sync(reader)
            if reader_state.token is None and reader.card_present:
                try:
                    self._open_token(reader_state)
                except errors.TokenNotRecognized:
                    pass  # not even the first applet: this one is not there either
            state = self.state(slot_id)
            if state.token is None:
                raise errors.TokenNotPresent()
            return state
        entry = self._reader_entry(slot_id)
        state = self.sync(entry)
        if state.token is None:
            if not entry.card_present:
                raise errors.TokenNotPresent()
            self._open_token(state)
        return state

    def _applet_slot_id(self, reader_id: int, applet: str) -> int:
        """The slot of ``applet`` on the cards in reader ``reader_id`` (made at first sight)."""
        slot_id = self._applet_ids.get((reader_id, applet))
        if slot_id is None:
            slot_id = self.source.reserve_slot_id()
            self._applet_ids[(reader_id, applet)] = slot_id
            self._applet_slots[slot_id] = (reader_id, applet)
        return slot_id

    def _open_token(self, state: SlotState) -> None:
        """Open the tokens of the card in a reader's slot: the first is the slot's own,
        each further one goes to the slot of its applet."""
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
            tokens = list(self._token_factory(transport))
        except CardRemovedError as error:
            transport.close()
            raise errors.TokenNotPresent() from error
        except SlotError as error:
            transport.close()
            raise errors.DeviceError(str(error)) from error
        except errors.CryptokiError:
            transport.close()
            raise
        if not tokens:
            transport.close()
            raise errors.TokenNotRecognized()
        siblings = []
        for index, token in enumerate(tokens):
            if index == 0:
                target = state
            else:
                target = self.state(self._applet_slot_id(state.slot_id, token.applet))
                target.reader_id, target.applet_name = state.slot_id, token.applet_name
                siblings.append(target.slot_id)
            target.token = token
            target.card_generation = generation
            target.token_generation = token.presence_generation
            target.write_protected = None
            target.mechanisms = None
            target.mechanism_flags = {}
        self._siblings[state.slot_id] = siblings

    def release(self, state: SlotState) -> None:
        """Close the slot's token (the card left, or the library finalizes)."""
        token, state.token = state.token, None
        state.write_protected = None
        state.mechanisms = None
        state.mechanism_flags = {}
        if token is not None:
            try:
                token.close()
            except Exception:  # noqa: BLE001 - the card may be gone already
                log.debug("token close failed", exc_info=True)

    def card_gone(self, state: SlotState) -> None:
        """The card left: the sessions of its slots (the reader's and its applets') close,
        their handles die, the tokens go."""
        reader_state = state if state.reader_id is None else self.state(state.reader_id)
        for slot_id in [reader_state.slot_id, *self._siblings.pop(reader_state.slot_id, [])]:
            gone = self.state(slot_id)
            if gone.token is None and slot_id != reader_state.slot_id:
                continue
            log.info("card removed from slot %d", slot_id)
            self.on_card_gone(slot_id)
            self.release(gone)

    def forget_vanished(self, entries: Sequence[SlotEntryView]) -> None:
        """Close the sessions of slots whose reader went away (a USB token pulled out
        takes its reader with it; pcscd stopped takes them all); their applet slots'
        ids become invalid. The in-process virtual slot is only listed while no reader
        has a card: it stays."""
        listed = {entry.id for entry in entries}
        for state in self.states():
            reader_id = state.slot_id if state.reader_id is None else state.reader_id
            if reader_id in listed:
                continue
            try:
                self.source.slot(reader_id)
            except SlotError:
                if state.token is not None:
                    self.card_gone(state)
                applet = self._applet_slots.pop(state.slot_id, None)
                if applet is not None:
                    self._applet_ids.pop(applet, None)

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
                token = state.token  # self.token(state) only when it has to say why not: every token call passes here
                result = operation(token if token is not None else self.token(state))
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
        """C_GetSlotList: every slot, or those with a card; presence is synced, the tokens
        of a newly inserted card are opened (to list its applet slots), and the slots of
        readers that went away are closed."""
        result = []
        readers = self._reader_entries()
        for entry in self.entries():
            if entry.card_present or not token_present:
                result.append(int(entry.id))
        self.forget_vanished(readers)
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

    def mechanism_flags(self, state: SlotState, mechanism: int) -> int | None:
        """One mechanism's flags (None: not on the token), what an operation's init checks:
        from the table where it was asked, else asked of the token once per insertion
        (which may know it without what the whole table needs: a PIV token, the
        firmware version)."""
        if state.mechanisms is not None and state.token is not None:
            info = state.mechanisms.get(mechanism)
            return None if info is None else int(info.flags)
        known = state.mechanism_flags
        if mechanism not in known or state.token is None:
            known[mechanism] = self.call(state, lambda token: token.mechanism_flags(mechanism))
        return known[mechanism]

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
            with self._lock:
                if self._epoch == epoch and self._pending_events:
                    return self._pending_events.popleft()
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
                self._reader_event(int(slot_id))
                return int(slot_id)

    def _reader_event(self, slot_id: int) -> None:
        """A reader's card came or went: sync it (opening a new card's tokens) and queue
        the applet slots that appeared or went with it, reported by the next waits."""
        before = list(self._siblings.get(slot_id, ()))
        for entry in self._reader_entries():
            if entry.id == slot_id:
                state = self.sync(entry)
                if entry.card_present:
                    self._applet_entries(entry, state)
        after = self._siblings.get(slot_id, [])
        for sibling in before + [s for s in after if s not in before]:
            self._pending_events.append(sibling)


__all__ = ["SlotState", "SlotTable", "WAIT_SLICE"]
