"""APDU layer: BER-TLV, status words -> exceptions, and the ISO 7816-4 protocol
(short/extended formatting, chaining, GET RESPONSE) over a :class:`CardTransport`."""

from typing import TYPE_CHECKING, Any

from .errors import (
    SW_OK,
    ApduError,
    ApplicationNotFoundError,
    AuthBlockedError,
    ClaNotSupportedError,
    CommandAbortedError,
    ConditionsNotSatisfiedError,
    FunctionNotSupportedError,
    IncorrectParametersError,
    InsNotSupportedError,
    MalformedResponseError,
    MemoryFailureError,
    NotEnoughMemoryError,
    NotFoundError,
    ReferenceDataUnusableError,
    ReferenceNotFoundError,
    SecurityStatusError,
    TerminatedError,
    TouchTimeoutError,
    WrongLengthError,
    WrongPinError,
    error_for_sw,
    sw_meaning,
)
from .protocol import (
    ApduFormatter,
    ApduProcessor,
    ChainingProcessor,
    Command,
    GetResponseProcessor,
    Response,
    SmartCardProtocol,
    WrongLeProcessor,
)
from .tlv import Tlv, encode_length, encode_tag, encode_tlv, parse_tlvs, tlv_dict, unpack_tlv
from .trace import TRACE, format_command, format_response

if TYPE_CHECKING:
    from .transcript import RecordingTransport, ReplayTransport, Transcript, TranscriptMismatchError

# Recorded transcripts serve tests and recordings, not a card in use: loaded when named.
_TRANSCRIPT_NAMES = frozenset({"RecordingTransport", "ReplayTransport", "Transcript", "TranscriptMismatchError"})


def __getattr__(name: str) -> Any:
    if name in _TRANSCRIPT_NAMES:
        from . import transcript

        return getattr(transcript, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SW_OK",
    "ApduError",
    "ApplicationNotFoundError",
    "AuthBlockedError",
    "ClaNotSupportedError",
    "CommandAbortedError",
    "ConditionsNotSatisfiedError",
    "FunctionNotSupportedError",
    "IncorrectParametersError",
    "InsNotSupportedError",
    "MalformedResponseError",
    "MemoryFailureError",
    "NotEnoughMemoryError",
    "NotFoundError",
    "ReferenceDataUnusableError",
    "ReferenceNotFoundError",
    "SecurityStatusError",
    "TerminatedError",
    "TouchTimeoutError",
    "WrongLengthError",
    "WrongPinError",
    "error_for_sw",
    "sw_meaning",
    "ApduFormatter",
    "ApduProcessor",
    "ChainingProcessor",
    "Command",
    "GetResponseProcessor",
    "Response",
    "SmartCardProtocol",
    "WrongLeProcessor",
    "Tlv",
    "encode_length",
    "encode_tag",
    "encode_tlv",
    "parse_tlvs",
    "tlv_dict",
    "unpack_tlv",
    "TRACE",
    "format_command",
    "format_response",
    "RecordingTransport",
    "ReplayTransport",
    "Transcript",
    "TranscriptMismatchError",
]
