"""A shared-mode PC/SC connection to one card, through pyscard's ``scard``.

Other programs (gpg-agent, ykman, browsers) share the card with us, so every
exchange sits inside a PC/SC transaction: explicitly via :meth:`transaction`
for multi-APDU operations, or implicitly around a lone :meth:`transmit`.
When another program resets the card, PC/SC tells us once (SCARD_W_RESET_CARD);
we reconnect without resetting again and raise :class:`CardResetError` so the
applet layer restores its state.

A card pulled out makes the next exchange fail, but not always with "removed":
until pcscd polls the reader, it answers "transaction failed" (or a communication
error) and still reports the card present. So when an exchange fails for any
other reason, :func:`card_left` asks PC/SC whether the card is still there,
waiting up to :data:`REMOVAL_GRACE` for pcscd to make up its mind; a card that
left raises :class:`CardRemovedError` (CKR_DEVICE_REMOVED), and by then every
later listing sees the reader empty (CKR_TOKEN_NOT_PRESENT for new sessions).
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
import time
from typing import Tuple

from ..transport import CardTransport, LockedTransactions
from .errors import CardRemovedError, CardResetError, PcscError, SharingViolationError, error_for_pcsc
from .pyscard import scard

PROTOCOLS = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
_PCI = {scard.SCARD_PROTOCOL_T0: scard.SCARD_PCI_T0, scard.SCARD_PROTOCOL_T1: scard.SCARD_PCI_T1}

#: How long a failed exchange waits for PC/SC to say whether the card left (seconds).
#: pcscd polls readers that do not report card events themselves every 0.4 s
#: (PCSCLITE_STATUS_POLL_RATE); a loaded machine takes longer. Only failures wait:
#: a card still present after this long really is, and the failure is reported as it is.
REMOVAL_GRACE = 2.0
_GONE_STATES = scard.SCARD_STATE_EMPTY | scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE
_EVENT_COUNTER_SHIFT = 16  # pcsc-lite counts card insertions/removals in the state's high word
#: What SCardEndTransaction may answer when the transaction is over: done, or the card
#: was removed or reset inside it (which ended it already).
_TRANSACTION_ENDED = frozenset({scard.SCARD_S_SUCCESS, scard.SCARD_W_REMOVED_CARD, scard.SCARD_W_RESET_CARD,
                                scard.SCARD_E_NO_SMARTCARD})


def establish_context() -> int:
    """A fresh PC/SC context (one per transport / waiter, so a blocking
    SCardGetStatusChange never stalls APDUs on another context)."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise error_for_pcsc(hresult, "SCardEstablishContext")
    return context


def release_context(context: int) -> None:
    scard.SCardReleaseContext(context)


def card_left(context: int, reader: str, card: int | None = None, timeout: float = REMOVAL_GRACE) -> bool:
    """After a failed exchange: has the card left ``reader`` (pulled out, swapped for
    another, or the reader or pcscd gone)? ``card`` is our handle, if connected.

    Waits, at most ``timeout`` seconds, for pcscd to notice a removal it has not
    polled yet. A card that is still there therefore costs the whole wait; only
    failed exchanges ask, so the common path never does."""
    if card is not None:
        hresult = scard.SCardStatus(card)[0]
        if hresult != scard.SCARD_S_SUCCESS and not isinstance(error_for_pcsc(hresult, "SCardStatus"), CardResetError):
            return True  # removed since we connected (or the reader went away)
    deadline = time.monotonic() + timeout
    known = scard.SCARD_STATE_UNAWARE
    while True:
        wait_ms = 0 if known == scard.SCARD_STATE_UNAWARE else int(max(0.0, deadline - time.monotonic()) * 1000)
        hresult, states = scard.SCardGetStatusChange(context, wait_ms, [(reader, known)])
        if hresult == scard.SCARD_E_TIMEOUT:
            return False
        if hresult != scard.SCARD_S_SUCCESS:
            return True  # the reader, or pcscd itself, is gone
        event_state = states[0][1]
        if event_state & _GONE_STATES or not event_state & scard.SCARD_STATE_PRESENT:
            return True
        if known != scard.SCARD_STATE_UNAWARE and event_state >> _EVENT_COUNTER_SHIFT != known >> _EVENT_COUNTER_SHIFT:
            return True  # out and in again: another insertion
        known = event_state & ~scard.SCARD_STATE_CHANGED
        if time.monotonic() >= deadline:
            return False


class PcscTransport(LockedTransactions, CardTransport):
    """One shared-mode connection (T=0 or T=1) to the card in ``reader``.

    Thread-safe: one lock per transport serialises transmits and transaction
    bookkeeping. Transactions nest: only the outermost begin/end reach PC/SC.
    """

    def __init__(self, reader: str, *, share_mode: int = scard.SCARD_SHARE_SHARED) -> None:
        self._reader = reader
        self._share_mode = share_mode
        self._lock = _thread.RLock()
        self._depth = 0
        self._dead: PcscError | None = None
        self._context = establish_context()
        try:
            hresult, self._card, self._protocol = scard.SCardConnect(
                self._context, reader, share_mode, PROTOCOLS
            )
            if hresult != scard.SCARD_S_SUCCESS:
                raise self._removal_or(error_for_pcsc(hresult, f"SCardConnect({reader})"), None)
            self._atr = self._read_atr()
        except BaseException:
            release_context(self._context)
            raise

    # -- identity -----------------------------------------------------------

    @property
    def reader_name(self) -> str:
        return self._reader

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def protocol(self) -> int:
        """SCARD_PROTOCOL_T0 or SCARD_PROTOCOL_T1, as negotiated."""
        return self._protocol

    def _read_atr(self) -> bytes:
        hresult, _reader, _state, _protocol, atr = scard.SCardStatus(self._card)
        if hresult != scard.SCARD_S_SUCCESS:
            raise error_for_pcsc(hresult, "SCardStatus")
        return bytes(atr)

    # -- error handling -----------------------------------------------------

    def _removal_or(self, error: PcscError, card: int | None) -> PcscError:
        """``error``, or a :class:`CardRemovedError` when the failure may be a card pulled
        out that pcscd has not noticed yet (any failure but those that say what happened:
        reset, removed, held by another) and :func:`card_left` confirms it left."""
        if isinstance(error, (CardResetError, CardRemovedError, SharingViolationError)):
            return error
        if card_left(self._context, self._reader, card):
            return CardRemovedError(error.code, error.operation, "the card left the reader")
        return error

    def _check(self, hresult: int, operation: str) -> None:
        """Raise for a failed call; on a reset by someone else, reconnect first; on a
        failure that may be a removal, ask PC/SC (:func:`card_left`)."""
        if hresult == scard.SCARD_S_SUCCESS:
            return
        error = error_for_pcsc(hresult, operation)
        if isinstance(error, CardResetError):
            self._recover_from_reset()
        error = self._removal_or(error, self._card)
        if isinstance(error, CardRemovedError):
            self._dead = error
        raise error

    def _recover_from_reset(self) -> None:
        """Reconnect leaving the card as it is, and take back a transaction we held."""
        hresult, protocol = scard.SCardReconnect(
            self._card, self._share_mode, PROTOCOLS, scard.SCARD_LEAVE_CARD
        )
        if hresult != scard.SCARD_S_SUCCESS:
            error = self._removal_or(error_for_pcsc(hresult, "SCardReconnect"), self._card)
            if isinstance(error, CardRemovedError):
                self._dead = error
            raise error
        self._protocol = protocol
        self._atr = self._read_atr()
        if self._depth > 0:
            hresult = scard.SCardBeginTransaction(self._card)
            if hresult != scard.SCARD_S_SUCCESS:
                raise error_for_pcsc(hresult, "SCardBeginTransaction after reconnect")

    # -- CardTransport ------------------------------------------------------

    def _check_usable(self, operation: str = "transmit") -> None:
        if self._card is None:
            raise PcscError(scard.SCARD_E_INVALID_HANDLE, "transmit", "transport is closed")
        if self._dead is not None:
            raise CardRemovedError(self._dead.code, self._dead.operation)

    def _open_transaction(self) -> None:
        hresult = scard.SCardBeginTransaction(self._card)
        if hresult != scard.SCARD_S_SUCCESS:
            self._check(hresult, "SCardBeginTransaction")

    def _close_transaction(self) -> None:
        if self._dead is not None or self._card is None:
            return
        hresult = scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)
        # A card removed or reset inside the transaction already
        # ended it; the caller hears about that from transmit.
        if hresult not in _TRANSACTION_ENDED:
            raise error_for_pcsc(hresult, "SCardEndTransaction")

    def transmit(self, apdu: bytes) -> bytes:
        return self.transmit_marked(apdu)

    def transmit_marked(self, apdu: bytes, *, secret: Tuple[int, int] | None = None,
                        secret_response: bool = False) -> bytes:
        """:meth:`transmit` (nothing here records or logs an APDU), here rather than
        there: every APDU the protocol sends comes this way, and the base class's
        ``transmit_marked`` is one more call."""
        with self._lock:
            self._check_usable()
            if self._depth > 0:
                return self._transmit(apdu)
            with self.transaction():
                return self._transmit(apdu)

    def _transmit(self, apdu: bytes) -> bytes:
        hresult, response = scard.SCardTransmit(self._card, _PCI[self._protocol], list(apdu))
        if hresult != scard.SCARD_S_SUCCESS:
            self._check(hresult, "SCardTransmit")
        if len(response) < 2 and card_left(self._context, self._reader, self._card):
            # A reader whose card is pulled mid-exchange can pass on what arrived: nothing.
            self._dead = CardRemovedError(scard.SCARD_W_REMOVED_CARD, "SCardTransmit", "the card left the reader")
            raise self._dead
        return bytes(response)

    def reconnect(self, *, reset: bool = False) -> None:
        """Reconnect to the card, resetting it when ``reset`` (our own reset:
        other programs then see SCARD_W_RESET_CARD)."""
        with self._lock:
            self._check_usable("reconnect")
            disposition = scard.SCARD_RESET_CARD if reset else scard.SCARD_LEAVE_CARD
            hresult, protocol = scard.SCardReconnect(
                self._card, self._share_mode, PROTOCOLS, disposition
            )
            self._check(hresult, "SCardReconnect")
            self._protocol = protocol
            self._atr = self._read_atr()

    def close(self) -> None:
        with self._lock:
            if self._card is None:
                return
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            self._card = None
            release_context(self._context)

    def __enter__(self) -> PcscTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PcscTransport({self._reader!r})"


def read_status(context: int, reader: str) -> Tuple[int, bytes]:
    """(event state, ATR) of ``reader`` right now, without connecting."""
    hresult, states = scard.SCardGetStatusChange(
        context, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
    )
    if hresult != scard.SCARD_S_SUCCESS:
        raise error_for_pcsc(hresult, f"SCardGetStatusChange({reader})")
    _name, event_state, atr = states[0]
    return event_state, bytes(atr)
