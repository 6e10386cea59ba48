"""The opt-in APDU trace: human-readable lines, never a secret.

Each exchange becomes two lines::

    2026-11-22T16:30:01.123Z > 00 20 00 80 08 FF FF FF FF FF FF FF FF
    2026-11-22T16:30:01.124Z < 90 00

The card decides what is secret: every command goes through the card's
``redact_command`` and every response through ``redact_response`` before it is
written (PIN, PUK, management key, key material are replaced there). A card
without those methods gets the safe default: only the 4-byte header and the
length of the rest are written.
"""

from __future__ import annotations

import datetime
import logging
import threading
from pathlib import Path
from typing import IO, Callable

PathLike = str | Path

log = logging.getLogger(__name__)


def hex_bytes(data: bytes) -> str:
    """``b"\\x00\\xa4"`` -> ``"00 A4"``."""
    return " ".join(f"{byte:02X}" for byte in data)


def _timestamp() -> str:
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def redacted_command(card: object, apdu: bytes) -> str:
    """The command as it may be written down: through the card's redaction."""
    redact: Callable[[bytes], bytes] | None = getattr(card, "redact_command", None)
    if redact is None:
        return _header_only(apdu)
    try:
        return hex_bytes(redact(apdu))
    except Exception:  # noqa: BLE001 - a redaction bug must not leak the APDU
        return _header_only(apdu) + " [redaction failed]"


def redacted_response(card: object, apdu: bytes, rapdu: bytes) -> str:
    """The response as it may be written down: through the card's redaction."""
    redact: Callable[[bytes, bytes], bytes] | None = getattr(card, "redact_response", None)
    if redact is None:
        return _status_only(rapdu)
    try:
        return hex_bytes(redact(apdu, rapdu))
    except Exception:  # noqa: BLE001 - a redaction bug must not leak the response
        return _status_only(rapdu) + " [redaction failed]"


def _header_only(apdu: bytes) -> str:
    rest = len(apdu) - 4
    return hex_bytes(apdu[:4]) + (f" [{rest} bytes not shown]" if rest > 0 else "")


def _status_only(rapdu: bytes) -> str:
    data = len(rapdu) - 2
    prefix = f"[{data} bytes not shown] " if data > 0 else ""
    return prefix + hex_bytes(rapdu[-2:])


class ApduTrace:
    """Appends redacted exchanges to a file while enabled; thread-safe."""

    def __init__(self, path: PathLike | None = None) -> None:
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self.path: Path | None = None
        if path is not None:
            self.start(path)

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def start(self, path: PathLike | None = None) -> None:
        """Begin tracing to ``path`` (or the previous path) in append mode.

        A new ``path`` while tracing is already on switches files: the caller
        asked for *this* file, and writing on into the old one would hand it
        an empty trace."""
        with self._lock:
            if path is not None and Path(path) != self.path:
                if self._file is not None:
                    self._file.close()
                    self._file = None
                self.path = Path(path)
            if self.path is None:
                raise ValueError("no trace file given")
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")

    def stop(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def note(self, text: str) -> None:
        """A free-text line (insert, remove, power events): ``# text``."""
        self._write(f"{_timestamp()} # {text}")

    def command(self, card: object, apdu: bytes) -> None:
        if self._file is not None:
            self._write(f"{_timestamp()} > {redacted_command(card, apdu)}")

    def response(self, card: object, apdu: bytes, rapdu: bytes) -> None:
        if self._file is not None:
            self._write(f"{_timestamp()} < {redacted_response(card, apdu, rapdu)}")

    def _write(self, line: str) -> None:
        with self._lock:
            if self._file is None:
                return
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except OSError as error:  # a full disk ends the trace, not the card session
                log.error("APDU trace to %s stopped: %s", self.path, error)
                self._file = None
