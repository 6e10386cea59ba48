"""The one narrow seam between cardki and a card: ``transmit`` raw APDUs.

Everything above (APDU formatting, chaining, GET RESPONSE, applets, Cryptoki)
sees only a :class:`CardTransport` and the errors below. Below it sit PC/SC
through pyscard (:mod:`cardki.slot.pcsc`) or a virtual card in the same process
(:mod:`cardki.slot.inprocess`). This module imports neither, so the APDU layer,
the tokens and recorded-transcript replay work without pyscard.

The errors say what upper layers must tell apart: the card is gone
(:class:`CardRemovedError`, the token is absent), another program reset it
(:class:`CardResetError`: the transport has reconnected; restore applet state
and retry), and everything else (:class:`PcscError` with the PC/SC code).
:func:`cardki.slot.errors.error_for_pcsc` maps PC/SC's codes onto them.
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Iterator, Tuple

#: SCARD_E_INVALID_HANDLE: what a closed transport answers (PC/SC's code for it).
SCARD_E_INVALID_HANDLE = 0x80100003


class SlotError(Exception):
    """Base of every error from the slot layer."""


class PcscError(SlotError):
    """A PC/SC call failed; ``code`` is the SCARD_E_/SCARD_W_ value."""

    def __init__(self, code: int, operation: str = "PC/SC call", message: str | None = None) -> None:
        self.code = code & 0xFFFFFFFF
        self.operation = operation
        text = message or "PC/SC error"
        super().__init__(f"{operation} failed: {text} (0x{self.code:08X})")


class CardRemovedError(PcscError):
    """The card was removed (or never present); the connection is dead."""


class CardResetError(PcscError):
    """Another program reset the card. We have reconnected (leaving the card as
    it is); the caller must re-select its applet, re-verify if it was logged
    in, and retry the operation."""


class NoReaderError(PcscError):
    """No reader is connected to PC/SC."""


class ReaderUnavailableError(PcscError):
    """The reader is unknown, was unplugged, or its slot id no longer exists."""


class SharingViolationError(PcscError):
    """Another program holds the card exclusively."""


class ServiceUnavailableError(PcscError):
    """The PC/SC service (pcscd) is not running or stopped."""


class WaitCancelledError(SlotError):
    """A blocking wait for slot events was cancelled (C_Finalize)."""


class CardTransport(ABC):
    """A connection to one card in one reader."""

    @property
    @abstractmethod
    def reader_name(self) -> str:
        """The reader's name, as PC/SC reports it."""

    @property
    @abstractmethod
    def atr(self) -> bytes:
        """The card's ATR."""

    @abstractmethod
    def transmit(self, apdu: bytes) -> bytes:
        """Send one raw C-APDU, return the raw R-APDU (data + SW1 SW2).

        Raises :class:`CardRemovedError` when the card is
        gone and :class:`CardResetError` when another program
        reset it since our last exchange (we have reconnected by then; the
        caller must restore its applet state)."""

    def transmit_marked(
        self,
        apdu: bytes,
        *,
        secret: Tuple[int, int] | None = None,
        secret_response: bool = False,
    ) -> bytes:
        """:meth:`transmit`, told which bytes are secret.

        ``secret`` is (offset, length) of the secret part of ``apdu`` (a PIN,
        a key); ``secret_response`` says the response data is secret too.
        Transports that record or log (``RecordingTransport``) redact them;
        the rest just transmit."""
        return self.transmit(apdu)

    @abstractmethod
    def begin_transaction(self) -> None:
        """Take exclusive use of the card until :meth:`end_transaction`."""

    @abstractmethod
    def end_transaction(self) -> None:
        """Let other programs use the card again (without resetting it)."""

    @abstractmethod
    def close(self) -> None:
        """Disconnect, leaving the card as it is."""

    @contextmanager
    def transaction(self) -> Iterator[CardTransport]:
        """Every multi-APDU card operation runs inside one of these, so another
        program cannot interleave its APDUs with ours."""
        self.begin_transaction()
        try:
            yield self
        finally:
            self.end_transaction()


class LockedTransactions:
    """Nested transactions that hold the transport's lock from the outermost
    begin to its matching end, so another thread using the same transport waits
    instead of interleaving its APDUs with ours.

    One implementation for every transport, because the rules are easy to get
    subtly wrong: a failed begin must release the hold it took, and only the
    outermost begin/end reach the card (:meth:`_open_transaction` /
    :meth:`_close_transaction`). A class using it sets ``_lock`` (re-entrant)
    and ``_depth = 0`` and defines :meth:`_check_usable`.
    """

    _lock: _thread.RLock
    _depth: int

    @property
    def transaction_depth(self) -> int:
        """How many begin_transaction calls are still open."""
        return self._depth

    def _check_usable(self, operation: str) -> None:
        """Raise the slot error that says why the card cannot be used now."""
        raise NotImplementedError

    def _open_transaction(self) -> None:
        """The outermost begin: take the card (nothing to do for a card in this process)."""

    def _close_transaction(self) -> None:
        """The outermost end: give the card back."""

    def begin_transaction(self) -> None:
        self._lock.acquire()
        try:
            self._check_usable("begin_transaction")
            if self._depth == 0:
                self._open_transaction()
            self._depth += 1
        except BaseException:
            self._lock.release()
            raise

    def end_transaction(self) -> None:
        with self._lock:
            if self._depth == 0:
                raise RuntimeError("end_transaction without begin_transaction")
            self._depth -= 1
            self._lock.release()  # the hold taken by begin_transaction
            if self._depth == 0:
                self._close_transaction()
