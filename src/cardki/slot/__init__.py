"""Slot layer: PC/SC readers as slots, shared connections with transactions,
hotplug and card events, and an in-process virtual card behind the same seam."""

from ..transport import CardTransport
from .errors import (
    CardRemovedError,
    CardResetError,
    NoReaderError,
    PcscError,
    ReaderUnavailableError,
    ServiceUnavailableError,
    SharingViolationError,
    SlotError,
    WaitCancelledError,
    error_for_pcsc,
)
from .inprocess import VIRTUAL_READER_NAME, InProcessSlot, InProcessTransport
from .manager import PNP_NOTIFICATION, SlotEntry, SlotManager
from .pcsc import PcscTransport

__all__ = [
    "CardTransport", "PcscTransport", "InProcessTransport", "InProcessSlot", "SlotManager",
    "SlotEntry", "VIRTUAL_READER_NAME", "PNP_NOTIFICATION", "SlotError", "PcscError",
    "CardRemovedError", "CardResetError", "NoReaderError", "ReaderUnavailableError",
    "ServiceUnavailableError", "SharingViolationError", "WaitCancelledError", "error_for_pcsc",
]
