"""Recorded APDU transcripts: a text format, a recorder and a replayer.

A transcript is what a card said, kept under the top-level ``apdu/`` folder
so tests can replay an operation without a card and reviewers can read it::

    # PIV: select and read CHUID
    ! atr 3B FD 13 00 00 81 31 FE 15 80 73 C0 21 C0 57 59 75 62 69 4B 65 79 40
    > 00 A4 04 00 05 A0 00 00 03 08
    < 61 11
    > 00 20 00 80 08 <redacted 8 bytes>
    < 90 00

``#`` lines are comments, ``! atr`` / ``! reader`` set the transport's
identity, ``>`` / ``<`` alternate. A redacted command matches any bytes of
that length; redacted response data replays as zero bytes.
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
import os
from typing import List, Tuple

from cardki.named_tuple import NamedTuple
from cardki.transport import CardTransport

from .trace import (
    COMMAND_PREFIX,
    RESPONSE_PREFIX,
    ApduPattern,
    format_command,
    format_response,
    hex_bytes,
    parse_apdu_text,
)

DEFAULT_READER = "cardki replay"


class TranscriptMismatchError(AssertionError):
    """The code under test sent something other than the transcript expects."""


class Exchange(NamedTuple):
    command: ApduPattern
    response: ApduPattern
    command_text: str
    line: int


class Transcript:
    """The exchanges of one recorded operation and the reader and card they came from."""

    def __init__(self, exchanges: List[Exchange] | None = None, atr: bytes = b"", reader: str = DEFAULT_READER,
                 name: str = "<transcript>") -> None:
        self.exchanges: List[Exchange] = exchanges if exchanges is not None else []
        self.atr = atr
        self.reader = reader
        self.name = name

    def __repr__(self) -> str:
        return f"Transcript({self.name!r}, {len(self.exchanges)} exchanges)"

    @classmethod
    def load(cls, path: str | os.PathLike) -> Transcript:
        with open(path, encoding="utf-8") as f:
            return cls.parse(f.read(), name=os.fspath(path))

    @classmethod
    def parse(cls, text: str, name: str = "<transcript>") -> Transcript:
        transcript = cls(name=name)
        pending: Tuple[ApduPattern, str, int] | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{name}:{number}"
            try:
                if line.startswith("!"):
                    key, _, value = line[1:].strip().partition(" ")
                    if key == "atr":
                        transcript.atr = parse_apdu_text(value).fill()
                    elif key == "reader":
                        transcript.reader = value.strip()
                    else:
                        raise ValueError(f"unknown directive {key!r}")
                elif line.startswith(COMMAND_PREFIX):
                    if pending is not None:
                        raise ValueError("command without a response before it")
                    pending = (parse_apdu_text(line[1:]), line, number)
                elif line.startswith(RESPONSE_PREFIX):
                    if pending is None:
                        raise ValueError("response without a command")
                    response = parse_apdu_text(line[1:])
                    if response.length < 2:
                        raise ValueError("response has no status word")
                    transcript.exchanges.append(Exchange(pending[0], response, pending[1], pending[2]))
                    pending = None
                else:
                    raise ValueError(f"line must start with #, !, > or <: {line!r}")
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        if pending is not None:
            raise ValueError(f"{name}:{pending[2]}: last command has no response")
        return transcript


class ReplayTransport(CardTransport):
    """Plays a card from a transcript; any other command fails the test."""

    def __init__(self, transcript: Transcript | str | os.PathLike) -> None:
        if not isinstance(transcript, Transcript):
            transcript = Transcript.load(transcript)
        self.transcript = transcript
        self.position = 0
        self.transaction_depth = 0
        self.closed = False

    @property
    def reader_name(self) -> str:
        return self.transcript.reader

    @property
    def atr(self) -> bytes:
        return self.transcript.atr

    @property
    def finished(self) -> bool:
        return self.position == len(self.transcript.exchanges)

    def assert_finished(self) -> None:
        """Fail when the code stopped before the transcript did."""
        if not self.finished:
            nxt = self.transcript.exchanges[self.position]
            raise TranscriptMismatchError(
                f"{self.transcript.name}:{nxt.line}: transcript expects more commands, "
                f"next is {nxt.command_text}"
            )

    def transmit(self, apdu: bytes) -> bytes:
        return self.transmit_marked(apdu)

    def transmit_marked(
        self, apdu: bytes, *, secret: Tuple[int, int] | None = None, secret_response: bool = False
    ) -> bytes:
        name = self.transcript.name
        if self.position >= len(self.transcript.exchanges):
            raise TranscriptMismatchError(
                f"{name}: transcript ended, but got {format_command(apdu, secret)}"
            )
        expected = self.transcript.exchanges[self.position]
        if not expected.command.matches(apdu):
            raise TranscriptMismatchError(
                f"{name}:{expected.line}: command differs from the transcript\n"
                f"  expected {expected.command_text}\n"
                f"  got      {format_command(apdu, secret)}"
            )
        self.position += 1
        return expected.response.fill()

    def begin_transaction(self) -> None:
        self.transaction_depth += 1

    def end_transaction(self) -> None:
        self.transaction_depth -= 1

    def close(self) -> None:
        self.closed = True


class RecordingTransport(CardTransport):
    """Wraps a transport and records each exchange as transcript lines.

    Commands marked sensitive (see :meth:`CardTransport.transmit_marked`) are
    recorded with their secret bytes redacted, so transcripts never hold PINs.
    """

    def __init__(self, inner: CardTransport) -> None:
        self.inner = inner
        self._lines: list[str] = []
        self._lock = _thread.allocate_lock()

    @property
    def reader_name(self) -> str:
        return self.inner.reader_name

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    def note(self, comment: str) -> None:
        """Add ``# comment`` lines, e.g. naming the operation that follows."""
        with self._lock:
            self._lines.extend(f"# {line}".rstrip() for line in comment.splitlines())

    def transmit(self, apdu: bytes) -> bytes:
        return self.transmit_marked(apdu)

    def transmit_marked(
        self, apdu: bytes, *, secret: Tuple[int, int] | None = None, secret_response: bool = False
    ) -> bytes:
        rapdu = self.inner.transmit_marked(apdu, secret=secret, secret_response=secret_response)
        with self._lock:
            self._lines.append(format_command(apdu, secret))
            self._lines.append(format_response(rapdu, secret_response))
        return rapdu

    def text(self, header: str = "") -> str:
        """The transcript so far, with ``header`` as leading comments."""
        lines = [f"# {line}".rstrip() for line in header.splitlines()]
        lines.append(f"! reader {self.reader_name}")
        if self.atr:
            lines.append(f"! atr {hex_bytes(self.atr)}")
        with self._lock:
            lines.extend(self._lines)
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike, header: str = "") -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.text(header))

    def begin_transaction(self) -> None:
        self.inner.begin_transaction()

    def end_transaction(self) -> None:
        self.inner.end_transaction()

    def close(self) -> None:
        self.inner.close()
