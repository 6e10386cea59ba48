"""Reader and card errors, mapped from PC/SC return codes in one place.

Upper layers need to tell three things apart: the card is gone
(:class:`CardRemovedError`, the token is absent), another program reset it
(:class:`CardResetError`: we have reconnected, restore applet state and
retry), and everything else (:class:`PcscError` with the code).
"""

from __future__ import annotations

from typing import Optional

from smartcard import scard


class SlotError(Exception):
    """Base of every error from the slot layer."""


class PcscError(SlotError):
    """A PC/SC call failed; ``code`` is the SCARD_E_/SCARD_W_ value."""

    def __init__(self, code: int, operation: str = "PC/SC call", message: Optional[str] = None) -> None:
        self.code = code & 0xFFFFFFFF
        self.operation = operation
        text = message or describe_pcsc_code(self.code)
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


def describe_pcsc_code(code: int) -> str:
    try:
        return str(scard.SCardGetErrorMessage(code)).strip().rstrip(".")
    except (TypeError, ValueError, OverflowError):
        return "unknown PC/SC error"


# The one table: PC/SC code -> exception class.
_PCSC_TABLE: dict[int, type[PcscError]] = {
    scard.SCARD_W_REMOVED_CARD: CardRemovedError,
    scard.SCARD_E_NO_SMARTCARD: CardRemovedError,
    scard.SCARD_W_UNPOWERED_CARD: CardRemovedError,
    scard.SCARD_W_UNRESPONSIVE_CARD: CardRemovedError,
    scard.SCARD_W_RESET_CARD: CardResetError,
    scard.SCARD_E_NO_READERS_AVAILABLE: NoReaderError,
    scard.SCARD_E_UNKNOWN_READER: ReaderUnavailableError,
    scard.SCARD_E_READER_UNAVAILABLE: ReaderUnavailableError,
    scard.SCARD_E_SHARING_VIOLATION: SharingViolationError,
    scard.SCARD_E_NO_SERVICE: ServiceUnavailableError,
    scard.SCARD_E_SERVICE_STOPPED: ServiceUnavailableError,
}


def error_for_pcsc(code: int, operation: str) -> PcscError:
    """The exception for a failed PC/SC call (returned, not raised)."""
    code &= 0xFFFFFFFF
    return _PCSC_TABLE.get(code, PcscError)(code, operation)
