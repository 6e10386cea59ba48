"""ISO 7816-4 command/response handling as small stacked processors.

The transport only moves raw bytes. On top of it, each concern is one class:

* :class:`ApduFormatter` encodes a :class:`Command` as a short or extended
  APDU, transmits it, traces it, and counts it;
* :class:`WrongLeProcessor` re-sends a command with the Le the card asked for (6Cxx);
* :class:`ChainingProcessor` splits long data with CLA|0x10 (command chaining);
* :class:`GetResponseProcessor` collects 61xx continuations with GET RESPONSE.

:class:`SmartCardProtocol` stacks them, and turns the final status word into
an exception from :mod:`cardki.apdu.errors`.

What the card answers is untrusted: every loop here is bounded by the card's
answers as well as by our own data (one 6Cxx re-send; at most
:data:`MAX_GET_RESPONSES` GET RESPONSEs and :data:`MAX_RESPONSE_LENGTH` bytes per
command), and an answer outside them raises :class:`MalformedResponseError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Tuple

from cardki.named_tuple import NamedTuple
from cardki.transport import CardTransport

from .errors import SW_OK, ApplicationNotFoundError, MalformedResponseError, NotFoundError, error_for_sw
from .trace import TRACE, format_command, format_response, logger

INS_SELECT = 0xA4
INS_GET_RESPONSE = 0xC0
CLA_CHAINING = 0x10
SHORT_MAX_LE = 256
#: The most response data one command may collect, in bytes: what one extended APDU
#: can ask for (Le = 0000). The largest PIV object is about 12 KB (the facial image),
#: a certificate a few KB; a card that keeps sending more is broken or hostile.
MAX_RESPONSE_LENGTH = 65536
#: The most GET RESPONSEs one command may take: MAX_RESPONSE_LENGTH in 256-byte pieces.
MAX_GET_RESPONSES = MAX_RESPONSE_LENGTH // SHORT_MAX_LE


class Command(NamedTuple):
    """One logical command, before formatting (a named tuple: one is made per APDU).

    ``le`` None means no Le field; 0 means "Le = 00" (as much as possible).
    ``sensitive`` marks the data as secret, ``sensitive_response`` the answer.
    """

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    sensitive: bool = False
    sensitive_response: bool = False


class Response(NamedTuple):
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF


#: A named tuple made as its generated ``__new__`` makes it (all fields given), without that
#: Python call: every APDU makes a Command and a Response.
_new_tuple = tuple.__new__


class ApduProcessor(ABC):
    """One layer of the stack: takes a command, returns the card's response."""

    @abstractmethod
    def send(self, command: Command) -> Response:
        """Send ``command`` (possibly as several APDUs) and return the response."""


class ApduFormatter(ApduProcessor):
    """Encodes commands as bytes (short, or extended when allowed and needed)."""

    def __init__(self, transport: CardTransport, *, extended: bool = False) -> None:
        self.transport = transport
        self.extended = extended
        self.apdu_count = 0

    def encode(self, command: Command) -> Tuple[bytes, int]:
        """Return (APDU bytes, offset of the command data): the header and the length
        fields made in one ``bytes`` each (every APDU is encoded here)."""
        data, le = command.data, command.le
        length = len(data)
        if (length > 255 or (le is not None and le > SHORT_MAX_LE)) and self.extended:
            if length > 65535:
                raise ValueError(f"{length} data bytes do not fit an extended APDU; chain them")
            # Lc: 00 and two bytes; Le: two bytes after the data, else 00 and two (65536 is 0000).
            le_field = b"" if le is None else (le if le < 65536 else 0).to_bytes(2, "big")
            if data:
                return bytes((command.cla, command.ins, command.p1, command.p2, 0, length >> 8, length & 0xFF)) \
                    + data + le_field, 7
            return bytes((command.cla, command.ins, command.p1, command.p2)) + (b"\x00" + le_field if le_field else b""), 7
        if length > 255:
            raise ValueError(f"{length} data bytes do not fit a short APDU; chain them")
        header = bytes((command.cla, command.ins, command.p1, command.p2, length)) if data else \
            bytes((command.cla, command.ins, command.p1, command.p2))
        if le is None:
            return header + data, 5
        return header + data + bytes((min(le, SHORT_MAX_LE) & 0xFF,)), 5

    def send(self, command: Command) -> Response:
        apdu, data_offset = self.encode(command)
        secret = (data_offset, len(command.data)) if command.sensitive and command.data else None
        tracing = logger.isEnabledFor(TRACE)  # asked once per APDU, for the command and its response
        if tracing:
            logger.log(TRACE, "%s", format_command(apdu, secret))
        self.apdu_count += 1
        rapdu = self.transport.transmit_marked(
            apdu, secret=secret, secret_response=command.sensitive_response
        )
        if len(rapdu) < 2:
            raise MalformedResponseError(f"response of {len(rapdu)} bytes has no status word")
        if tracing:
            logger.log(TRACE, "%s", format_response(rapdu, command.sensitive_response))
        return _new_tuple(Response, (bytes(rapdu[:-2]), int.from_bytes(rapdu[-2:], "big")))


class WrongLeProcessor(ApduProcessor):
    """On 6Cxx the card tells the right Le: send the same command once more with it."""

    def __init__(self, inner: ApduProcessor) -> None:
        self.inner = inner

    def send(self, command: Command) -> Response:
        response = self.inner.send(command)
        if response.sw >> 8 == 0x6C:  # sw1, without the property's call on every APDU
            response = self.inner.send(command._replace(le=response.sw2 or SHORT_MAX_LE))
        return response


class ChainingProcessor(ApduProcessor):
    """Splits data longer than one APDU into a CLA|0x10 chain (ISO 7816-4 5.1.1.1)."""

    def __init__(self, inner: ApduProcessor, chunk_size: int) -> None:
        self.inner = inner
        self.chunk_size = chunk_size

    def send(self, command: Command) -> Response:
        data = command.data
        if len(data) <= self.chunk_size:
            return self.inner.send(command)
        offset = 0
        while len(data) - offset > self.chunk_size:
            chunk = data[offset:offset + self.chunk_size]
            response = self.inner.send(
                command._replace(cla=command.cla | CLA_CHAINING, data=chunk, le=None, sensitive_response=False)
            )
            if response.sw != SW_OK:
                return response  # the card refused the chain; the caller raises
            offset += self.chunk_size
        return self.inner.send(command._replace(data=data[offset:]))


class GetResponseProcessor(ApduProcessor):
    """Follows 61xx with GET RESPONSE until the card has no more data, or until it
    has sent more than any command may collect (then :class:`MalformedResponseError`:
    a card answering 61xx forever must not hold the caller, nor fill its memory)."""

    def __init__(self, inner: ApduProcessor, get_response_cla: int = 0x00) -> None:
        self.inner = inner
        self.get_response_cla = get_response_cla

    def send(self, command: Command) -> Response:
        response = self.inner.send(command)
        if response.sw >> 8 != 0x61 and type(response.data) is bytes and len(response.data) <= MAX_RESPONSE_LENGTH:
            return response  # all of it in one answer (the usual case): what the loop below gives
        data = bytearray(response.data)
        rounds = 0
        while True:
            if len(data) > MAX_RESPONSE_LENGTH:
                raise MalformedResponseError(f"the card sent more than {MAX_RESPONSE_LENGTH} response bytes")
            if response.sw1 != 0x61:
                return Response(bytes(data), response.sw)
            rounds += 1
            if rounds > MAX_GET_RESPONSES:
                raise MalformedResponseError(f"the card still had more data after {MAX_GET_RESPONSES} GET RESPONSEs")
            response = self.inner.send(
                Command(self.get_response_cla, INS_GET_RESPONSE, 0, 0, le=response.sw2 or SHORT_MAX_LE,
                        sensitive_response=command.sensitive_response)
            )
            data += response.data


class SmartCardProtocol:
    """ISO 7816-4 exchanges with one card: format, chain, collect, raise.

    ``extended`` is chosen by the caller from what the card reports (ATR,
    profile); without it long data is chained in ``max_short_chunk`` pieces.
    """

    def __init__(
        self,
        transport: CardTransport,
        *,
        extended: bool = False,
        max_short_chunk: int = 255,
        max_extended: int = 65535,
    ) -> None:
        if not 1 <= max_short_chunk <= 255:
            raise ValueError("max_short_chunk must be in 1..255")
        self.transport = transport
        self._max_short_chunk = max_short_chunk
        self._formatter = ApduFormatter(transport, extended=extended)
        self._chaining = ChainingProcessor(WrongLeProcessor(self._formatter), max_short_chunk)
        self._stack: ApduProcessor = GetResponseProcessor(self._chaining)
        self.configure(extended=extended, max_extended=max_extended)

    def configure(self, *, extended: bool, max_extended: int = 65535) -> None:
        """Change the APDU format for the next commands, as yubikit's
        ``SmartCardProtocol.configure`` does once a card says what it takes (an
        OpenPGP card's 6E: extended lengths and the largest command, 7F66). The APDU
        count and everything above the protocol stay as they are."""
        if not 1 <= max_extended <= 65535:
            raise ValueError("max_extended must be in 1..65535")
        self._formatter.extended = extended
        self._chaining.chunk_size = max_extended if extended else self._max_short_chunk

    @property
    def extended(self) -> bool:
        return self._formatter.extended

    @property
    def apdu_count(self) -> int:
        """Raw APDUs exchanged so far (GET RESPONSE and chain links included)."""
        return self._formatter.apdu_count

    def send_apdu(
        self,
        cla: int,
        ins: int,
        p1: int,
        p2: int,
        data: bytes = b"",
        le: int | None = None,
        *,
        sensitive: bool = False,
        sensitive_response: bool = False,
    ) -> bytes:
        """Send one command and return its response data.

        Raises the :class:`ApduError` subclass for the final status word
        unless it is 9000. ``sensitive`` keeps ``data`` out of the trace,
        ``sensitive_response`` the response data.
        """
        return self.send_command(
            _new_tuple(Command, (cla, ins, p1, p2, bytes(data), le, sensitive, sensitive_response))
        )

    def send_command(self, command: Command) -> bytes:
        response = self._stack.send(command)
        if response.sw != SW_OK:
            raise error_for_sw(response.sw)
        return response.data

    def send_raw(self, command: Command) -> Response:
        """Like :meth:`send_command`, but return the status word instead of raising
        (for callers that treat some SWs as answers, e.g. an empty VERIFY)."""
        return self._stack.send(command)

    def select(self, aid: bytes) -> bytes:
        """SELECT an application by AID; return the FCI / application property template."""
        try:
            return self.send_apdu(0x00, INS_SELECT, 0x04, 0x00, aid)
        except NotFoundError as exc:
            raise ApplicationNotFoundError(
                exc.sw, f"SW {exc.sw:04X}: application {aid.hex().upper()} not found"
            ) from None
