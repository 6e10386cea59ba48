"""A shared-mode PC/SC connection to one card, through pyscard's ``scard``.

Other programs (gpg-agent, ykman, browsers) share the card with us, so every
exchange sits inside a PC/SC transaction: explicitly via :meth:`transaction`
for multi-APDU operations, or implicitly around a lone :meth:`transmit`.
When another program resets the card, PC/SC tells us once (SCARD_W_RESET_CARD);
we reconnect without resetting again and raise :class:`CardResetError` so the
applet layer restores its state.
"""

from __future__ import annotations

import threading
from typing import Optional, Tuple

from smartcard import scard

from .errors import CardRemovedError, CardResetError, PcscError, error_for_pcsc
from .transport import CardTransport, LockedTransactions

PROTOCOLS = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
_PCI = {scard.SCARD_PROTOCOL_T0: scard.SCARD_PCI_T0, scard.SCARD_PROTOCOL_T1: scard.SCARD_PCI_T1}


def establish_context() -> int:
    """A fresh PC/SC context (one per transport / waiter, so a blocking
    SCardGetStatusChange never stalls APDUs on another context)."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise error_for_pcsc(hresult, "SCardEstablishContext")
    return context


def release_context(context: int) -> None:
    scard.SCardReleaseContext(context)


class PcscTransport(LockedTransactions, CardTransport):
    """One shared-mode connection (T=0 or T=1) to the card in ``reader``.

    Thread-safe: one lock per transport serialises transmits and transaction
    bookkeeping. Transactions nest: only the outermost begin/end reach PC/SC.
    """

    def __init__(self, reader: str, *, share_mode: int = scard.SCARD_SHARE_SHARED) -> None:
        self._reader = reader
        self._share_mode = share_mode
        self._lock = threading.RLock()
        self._depth = 0
        self._dead: Optional[PcscError] = None
        self._context = establish_context()
        try:
            hresult, self._card, self._protocol = scard.SCardConnect(
                self._context, reader, share_mode, PROTOCOLS
            )
            if hresult != scard.SCARD_S_SUCCESS:
                raise error_for_pcsc(hresult, f"SCardConnect({reader})")
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

    def _check(self, hresult: int, operation: str) -> None:
        """Raise for a failed call; on a reset by someone else, reconnect first."""
        if hresult == scard.SCARD_S_SUCCESS:
            return
        error = error_for_pcsc(hresult, operation)
        if isinstance(error, CardResetError):
            self._recover_from_reset()
        elif isinstance(error, CardRemovedError):
            self._dead = error
        raise error

    def _recover_from_reset(self) -> None:
        """Reconnect leaving the card as it is, and take back a transaction we held."""
        hresult, protocol = scard.SCardReconnect(
            self._card, self._share_mode, PROTOCOLS, scard.SCARD_LEAVE_CARD
        )
        if hresult != scard.SCARD_S_SUCCESS:
            error = error_for_pcsc(hresult, "SCardReconnect")
            if isinstance(error, CardRemovedError):
                self._dead = error
            raise error
        self._protocol = protocol
        self._atr = self._read_atr()
        if self._depth > 0:
            hresult = scard.SCardBeginTransaction(self._card)
            if hresult != scard.SCARD_S_SUCCESS:
                raise error_for_pcsc(hresult, "SCardBeginTransaction after reconnect")

    def _ensure_alive(self) -> None:
        if self._card is None:
            raise PcscError(scard.SCARD_E_INVALID_HANDLE, "transmit", "transport is closed")
        if self._dead is not None:
            raise CardRemovedError(self._dead.code, self._dead.operation)

    # -- CardTransport ------------------------------------------------------

    def _check_usable(self, operation: str) -> None:
        self._ensure_alive()

    def _open_transaction(self) -> None:
        self._check(scard.SCardBeginTransaction(self._card), "SCardBeginTransaction")

    def _close_transaction(self) -> None:
        if self._dead is not None or self._card is None:
            return
        hresult = scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)
        # A card removed or reset inside the transaction already
        # ended it; the caller hears about that from transmit.
        if hresult not in (
            scard.SCARD_S_SUCCESS,
            scard.SCARD_W_REMOVED_CARD,
            scard.SCARD_W_RESET_CARD,
            scard.SCARD_E_NO_SMARTCARD,
        ):
            raise error_for_pcsc(hresult, "SCardEndTransaction")

    def transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            self._ensure_alive()
            if self._depth > 0:
                return self._transmit(apdu)
            with self.transaction():
                return self._transmit(apdu)

    def _transmit(self, apdu: bytes) -> bytes:
        hresult, response = scard.SCardTransmit(self._card, _PCI[self._protocol], list(apdu))
        self._check(hresult, "SCardTransmit")
        return bytes(response)

    def reconnect(self, *, reset: bool = False) -> None:
        """Reconnect to the card, resetting it when ``reset`` (our own reset:
        other programs then see SCARD_W_RESET_CARD)."""
        with self._lock:
            self._ensure_alive()
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

    def __enter__(self) -> "PcscTransport":
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
