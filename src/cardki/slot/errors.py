"""PC/SC return codes mapped onto the transport's errors, in one place.

The error classes live with the card seam (:mod:`cardki.transport`), so layers
above it need no pyscard; this module holds what only pyscard knows: the
codes' table and their messages.
"""

from __future__ import annotations

from ..transport import (
    CardRemovedError,
    CardResetError,
    NoReaderError,
    PcscError,
    ReaderUnavailableError,
    ServiceUnavailableError,
    SharingViolationError,
    SlotError,
    WaitCancelledError,
)
from .pyscard import scard


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
    return _PCSC_TABLE.get(code, PcscError)(code, operation, describe_pcsc_code(code))


__all__ = [
    "SlotError", "PcscError", "CardRemovedError", "CardResetError", "NoReaderError", "ReaderUnavailableError",
    "SharingViolationError", "ServiceUnavailableError", "WaitCancelledError", "describe_pcsc_code",
    "error_for_pcsc",
]
