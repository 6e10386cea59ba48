"""APDU layer: BER-TLV, status words -> exceptions, and the ISO 7816-4 protocol
(short/extended formatting, chaining, GET RESPONSE) over a :class:`CardTransport`."""

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
from .tlv import Tlv, encode_length, encode_tag, parse_tlvs, tlv_dict, unpack_tlv
from .trace import TRACE, format_command, format_response
from .transcript import (
    RecordingTransport,
    ReplayTransport,
    Transcript,
    TranscriptMismatchError,
)

__all__ = [name for name in dir() if not name.startswith("_")]
