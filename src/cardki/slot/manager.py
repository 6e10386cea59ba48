"""Readers as Cryptoki slots: stable ids, presence, hotplug, and slot events.

PKCS#11 applications hold slot ids across calls, so a reader keeps its id for
as long as it stays attached, a new reader gets a fresh id, and ids are never
reused within the process (an old id must not silently point at another
reader). The slot list is refreshed on each call, so readers plugged in later
appear.

Events (C_WaitForSlotEvent) are tracked on a context of their own, relative to
what the previous wait saw, with the ``\\\\?PnP?\\Notification`` pseudo-reader
for readers coming and going.
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
import collections
import time
from typing import Callable

from cardki.named_tuple import NamedTuple

from ..transport import CardTransport
from .errors import (
    ReaderUnavailableError,
    ServiceUnavailableError,
    WaitCancelledError,
    error_for_pcsc,
)
from .inprocess import EmulatedCard, InProcessSlot, InProcessTransport
from .pcsc import PcscTransport, establish_context, release_context
from .pyscard import scard

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"

# Bits that matter for an event; the others (in use, exclusive, ...) flip
# whenever some program connects and are not slot events.
_PRESENT = scard.SCARD_STATE_PRESENT
_COUNTER_SHIFT = 16  # pcsc-lite keeps a per-reader card event counter in the high word


class SlotEntry(NamedTuple):
    """One slot as listed: a reader (or the in-process virtual card)."""

    slot_id: int
    reader_name: str
    card_present: bool
    atr: bytes
    virtual: bool = False

    @property
    def id(self) -> int:
        return self.slot_id


def _presence_key(event_state: int) -> tuple[bool, int]:
    """What distinguishes one card insertion from another in a reader state."""
    return bool(event_state & _PRESENT), event_state >> _COUNTER_SHIFT


class SlotManager:
    """Enumerates PC/SC readers as slots and connects to their cards.

    ``virtual_fallback``, when given, makes the card it returns appear as one
    extra slot (reader :data:`~cardki.slot.inprocess.VIRTUAL_READER_NAME`)
    whenever no PC/SC reader has a card, including when pcscd is not running.
    ``use_pcsc=False`` leaves PC/SC out entirely (embedded use, unit tests).
    """

    def __init__(
        self,
        virtual_fallback: Callable[[], EmulatedCard] | None = None,
        *,
        use_pcsc: bool = True,
    ) -> None:
        self._use_pcsc = use_pcsc
        self._lock = _thread.RLock()
        self._ids: dict[str, int] = {}
        self._next_id = 0
        self._generations: dict[int, int] = {}
        self._last_seen: dict[int, tuple[bool, int]] = {}
        self._virtual_factory = virtual_fallback
        self._virtual_slot: InProcessSlot | None = None
        self._virtual_id: int | None = None
        self._context: int | None = None
        self._wait_context: int | None = None
        self._wait_states: dict[str, int] = {}
        self._pending: collections.deque[int] = collections.deque()
        self._cancelled = False
        self._closed = False
        self.refresh()
        self._wait_states = self._baseline_states()

    # -- contexts -----------------------------------------------------------

    def _list_context(self) -> int | None:
        """The listing context, or None while pcscd is not running."""
        if not self._use_pcsc:
            return None
        if self._context is None:
            try:
                self._context = establish_context()
            except ServiceUnavailableError:
                return None
        return self._context

    def _list_readers(self) -> list[str]:
        context = self._list_context()
        if context is None:
            return []
        hresult, readers = scard.SCardListReaders(context, [])
        if hresult in (scard.SCARD_E_NO_READERS_AVAILABLE,):
            return []
        if hresult in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED,
                       scard.SCARD_E_INVALID_HANDLE):
            # pcscd restarted: our context died with it; try a fresh one next time.
            self._drop_list_context()
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            raise error_for_pcsc(hresult, "SCardListReaders")
        return list(readers)

    def _drop_list_context(self) -> None:
        if self._context is not None:
            release_context(self._context)
            self._context = None

    def _states(self, context: int, readers: list[str]) -> dict[str, tuple[int, bytes]]:
        if not readers:
            return {}
        hresult, results = scard.SCardGetStatusChange(
            context, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers]
        )
        if hresult == scard.SCARD_E_TIMEOUT:
            return {}
        if hresult != scard.SCARD_S_SUCCESS:
            raise error_for_pcsc(hresult, "SCardGetStatusChange")
        return {name: (state, bytes(atr)) for name, state, atr in results}

    # -- ids ----------------------------------------------------------------

    def _allocate(self) -> int:
        slot_id = self._next_id
        self._next_id += 1
        return slot_id

    def _sync_ids(self, readers: list[str]) -> tuple[list[int], list[int]]:
        """Give new readers ids, forget detached ones; return (added, removed) ids."""
        added, removed = [], []
        for name in readers:
            if name not in self._ids:
                self._ids[name] = self._allocate()
                added.append(self._ids[name])
        for name in [n for n in self._ids if n not in readers]:
            removed.append(self._ids.pop(name))
        return added, removed

    def _observe(self, slot_id: int, event_state: int) -> None:
        """Bump the card generation when presence or pcsc's event counter moved."""
        key = _presence_key(event_state)
        if self._last_seen.get(slot_id) != key:
            if key[0]:
                self._generations[slot_id] = self._generations.get(slot_id, 0) + 1
            self._last_seen[slot_id] = key

    # -- listing ------------------------------------------------------------

    def refresh(self) -> list[SlotEntry]:
        """Re-read the reader list (new readers get new ids) and card states."""
        with self._lock:
            readers = self._list_readers()
            self._sync_ids(readers)
            context = self._context
            states = self._states(context, readers) if context is not None else {}
            entries = []
            for name in readers:
                state, atr = states.get(name, (0, b""))
                slot_id = self._ids[name]
                self._observe(slot_id, state)
                present = bool(state & _PRESENT)
                entries.append(SlotEntry(slot_id, name, present, atr if present else b""))
            if self._virtual_factory is not None and not any(e.card_present for e in entries):
                entries.append(self._virtual_entry())
            return entries

    def slots(self) -> list[SlotEntry]:
        """All slots, refreshed now (C_GetSlotList)."""
        return self.refresh()

    def slot(self, slot_id: int) -> SlotEntry:
        for entry in self.refresh():
            if entry.slot_id == slot_id:
                return entry
        if slot_id == self._virtual_id and self._virtual_slot is not None:
            return self._virtual_entry()
        raise ReaderUnavailableError(scard.SCARD_E_UNKNOWN_READER, f"slot {slot_id}", "no such slot")

    def _virtual_entry(self) -> SlotEntry:
        if self._virtual_slot is None:
            assert self._virtual_factory is not None
            self._virtual_slot = InProcessSlot(self._virtual_factory())
            self._virtual_id = self._allocate()
        slot = self._virtual_slot
        assert self._virtual_id is not None
        self._generations[self._virtual_id] = slot.generation
        return SlotEntry(self._virtual_id, slot.reader_name, slot.present, slot.atr, virtual=True)

    @property
    def virtual_slot(self) -> InProcessSlot | None:
        """The in-process virtual reader, once it has been listed."""
        return self._virtual_slot

    def card_generation(self, slot_id: int) -> int:
        """A number that changes whenever a new card is inserted in the slot,
        so callers can tell "the same insertion" from "a new card"."""
        self.slot(slot_id)  # refreshes the observation
        with self._lock:
            return self._generations.get(slot_id, 0)

    def reserve_slot_id(self) -> int:
        """An id from the same numbering that no reader will get: the engine's slot for
        a further applet of a reader's card (never reused, as reader ids are not)."""
        with self._lock:
            return self._allocate()

    def connect(self, slot_id: int) -> CardTransport:
        """A connection to the card in ``slot_id`` (a :class:`PcscTransport`,
        or an :class:`InProcessTransport` for the virtual slot)."""
        with self._lock:
            if slot_id == self._virtual_id and self._virtual_slot is not None:
                return InProcessTransport(self._virtual_slot)
            reader = next((name for name, known in self._ids.items() if known == slot_id), None)
        if reader is not None:
            # Outside the lock: pcscd makes SCardConnect wait while another
            # program holds a transaction, and listing must not wait with it.
            return PcscTransport(reader)
        raise ReaderUnavailableError(scard.SCARD_E_UNKNOWN_READER, f"slot {slot_id}", "no such slot")

    # -- events -------------------------------------------------------------

    def _baseline_states(self) -> dict[str, int]:
        """Current states of all readers (and the PnP pseudo-reader) to wait against."""
        with self._lock:
            context = self._list_context()
            if context is None:
                return {}
            readers = list(self._ids)
            states = {
                name: state & ~scard.SCARD_STATE_CHANGED
                for name, (state, _atr) in self._states(context, readers).items()
            }
            states[PNP_NOTIFICATION] = len(readers) << _COUNTER_SHIFT
            return states

    def wait_for_slot_event(self, block: bool = True, timeout: float | None = None) -> int | None:
        """The id of a slot whose card was inserted or removed, or whose reader
        appeared or went away, since the previous call (or since construction).

        Returns None when nothing happened and ``block`` is False, or when
        ``timeout`` seconds passed. Raises :class:`WaitCancelledError` after
        :meth:`cancel`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._cancelled:
                raise WaitCancelledError("slot event wait was cancelled")
            with self._lock:
                if self._pending:
                    return self._pending.popleft()
            if block:
                remaining_ms = (
                    scard.INFINITE
                    if deadline is None
                    else max(0, int((deadline - time.monotonic()) * 1000))
                )
            else:
                remaining_ms = 0
            changed = self._poll_states(remaining_ms)
            with self._lock:
                if self._pending:
                    return self._pending.popleft()
            if not changed and (not block or (deadline is not None and time.monotonic() >= deadline)):
                return None

    def _poll_states(self, timeout_ms: int) -> bool:
        """One SCardGetStatusChange round; queue slot events; True if anything changed."""
        if not self._use_pcsc:
            if timeout_ms:
                time.sleep(min(timeout_ms, 500) / 1000)  # nothing can happen: wait it out
            return False
        if self._wait_context is None:
            try:
                self._wait_context = establish_context()
            except ServiceUnavailableError:
                if timeout_ms:
                    time.sleep(min(timeout_ms, 500) / 1000)  # pcscd not running yet
                return False
        if not self._wait_states:
            self._wait_states = self._baseline_states()
        states = list(self._wait_states.items())
        hresult, results = scard.SCardGetStatusChange(self._wait_context, timeout_ms, states)
        if hresult == scard.SCARD_E_TIMEOUT:
            return False
        if hresult == scard.SCARD_E_CANCELLED:
            raise WaitCancelledError("slot event wait was cancelled")
        if hresult in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
            self._reader_list_changed()  # a reader vanished between list and wait
            return True
        if hresult in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED,
                       scard.SCARD_E_INVALID_HANDLE):
            release_context(self._wait_context)
            self._wait_context = None
            self._wait_states = {}
            return False
        if hresult != scard.SCARD_S_SUCCESS:
            raise error_for_pcsc(hresult, "SCardGetStatusChange")
        changed = False
        for name, event_state, _atr in results:
            if not event_state & scard.SCARD_STATE_CHANGED:
                continue
            changed = True
            old = self._wait_states.get(name, 0)
            self._wait_states[name] = event_state & ~scard.SCARD_STATE_CHANGED
            if name == PNP_NOTIFICATION:
                self._reader_list_changed()
            elif _presence_key(old) != _presence_key(event_state):
                with self._lock:
                    slot_id = self._ids.get(name)
                    if slot_id is not None:
                        self._observe(slot_id, event_state)
                        self._pending.append(slot_id)
        return changed

    def _reader_list_changed(self) -> None:
        with self._lock:
            readers = self._list_readers()
            added, removed = self._sync_ids(readers)
            context = self._context
            fresh = self._states(context, readers) if context is not None else {}
            for name in readers:
                if name not in self._wait_states and name in fresh:
                    self._wait_states[name] = fresh[name][0] & ~scard.SCARD_STATE_CHANGED
            for name in [n for n in self._wait_states if n != PNP_NOTIFICATION and n not in readers]:
                del self._wait_states[name]
            self._wait_states[PNP_NOTIFICATION] = len(readers) << _COUNTER_SHIFT
            self._pending.extend(added)
            self._pending.extend(removed)

    def cancel(self) -> None:
        """Make a blocking :meth:`wait_for_slot_event` (in another thread) return
        with :class:`WaitCancelledError`, now and from then on (C_Finalize)."""
        self._cancelled = True
        context = self._wait_context
        if context is not None:
            scard.SCardCancel(context)

    def close(self) -> None:
        """Release the PC/SC contexts (after :meth:`cancel` if a wait may be running)."""
        with self._lock:
            self._drop_list_context()
            if self._wait_context is not None:
                release_context(self._wait_context)
                self._wait_context = None
            self._closed = True

