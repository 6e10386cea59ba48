"""A virtual card in this process, behind the same :class:`CardTransport` seam.

Unit tests and the embedded default (no reader has a card) drive a card in
process (an :class:`EmulatedCard`, such as hwsim's VirtualYubiKey, made by
:mod:`cardki.virtual`) directly: no pcscd, no sockets. An
:class:`InProcessSlot` plays the reader, including the PC/SC events upper
layers must handle -- removal, re-insertion, and a reset by another program --
so those paths can be tested without the full stack.
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
from typing import Protocol

from ..transport import CardTransport, LockedTransactions
from .errors import CardRemovedError, CardResetError, PcscError
from .pyscard import scard


class EmulatedCard(Protocol):
    """A card as a reader sees it (what an in-process reader drives; hwsim's
    ``VirtualCard`` is one): an ATR, power, and APDUs in, responses out."""

    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...

    def reset(self) -> None: ...

    def execute(self, apdu: bytes) -> bytes: ...


VIRTUAL_READER_NAME = "cardki virtual card (in-process)"


class InProcessSlot:
    """A virtual reader holding one :class:`EmulatedCard` (powered on at construction)."""

    def __init__(self, card: EmulatedCard, *, reader_name: str = VIRTUAL_READER_NAME) -> None:
        self.card = card
        self.reader_name = reader_name
        self.lock = _thread.RLock()
        self.present = False
        self.generation = 0  # counts insertions: a transport belongs to one
        self.reset_count = 0  # resets by "another program"
        self.apdu_count = 0  # APDUs the card answered (as a card server counts them)
        self.insert()

    def insert(self, card: EmulatedCard | None = None) -> None:
        """Insert (a possibly different) card: power on, new generation."""
        with self.lock:
            if card is not None:
                self.card = card
            self.card.power_on()
            self.present = True
            self.generation += 1

    def remove(self) -> None:
        """Pull the card: open transports now raise :class:`CardRemovedError`."""
        with self.lock:
            if self.present:
                self.card.power_off()
                self.present = False

    def reset(self) -> None:
        """Another program reset the card: transports raise :class:`CardResetError` once."""
        with self.lock:
            self.card.reset()
            self.reset_count += 1

    @property
    def atr(self) -> bytes:
        return self.card.atr if self.present else b""

    def connect(self) -> InProcessTransport:
        return InProcessTransport(self)


class InProcessTransport(LockedTransactions, CardTransport):
    """Drives a :class:`EmulatedCard` (or an :class:`InProcessSlot`) in this process.

    Given a bare card it makes a private slot, which powers the card on.
    """

    def __init__(self, card: EmulatedCard | InProcessSlot) -> None:
        self.slot = card if isinstance(card, InProcessSlot) else InProcessSlot(card)
        with self.slot.lock:
            if not self.slot.present:
                raise CardRemovedError(scard.SCARD_E_NO_SMARTCARD, "connect")
            self._generation = self.slot.generation
            self._resets_seen = self.slot.reset_count
        # Transactions hold the slot's lock: exclusive across all transports
        # to this card, as a PC/SC transaction is across programs.
        self._lock = self.slot.lock
        self._depth = 0
        self._closed = False

    @property
    def reader_name(self) -> str:
        return self.slot.reader_name

    @property
    def atr(self) -> bytes:
        return self.slot.card.atr

    def _check_card(self, operation: str) -> None:
        if self._closed:
            raise PcscError(scard.SCARD_E_INVALID_HANDLE, operation, "transport is closed")
        if not self.slot.present or self.slot.generation != self._generation:
            raise CardRemovedError(scard.SCARD_W_REMOVED_CARD, operation)
        if self.slot.reset_count != self._resets_seen:
            self._resets_seen = self.slot.reset_count  # reported once, like PC/SC
            raise CardResetError(scard.SCARD_W_RESET_CARD, operation)

    def transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            self._check_card("transmit")
            self.slot.apdu_count += 1
            return bytes(self.slot.card.execute(bytes(apdu)))

    def _check_usable(self, operation: str) -> None:
        self._check_card(operation)

    def close(self) -> None:
        self._closed = True
