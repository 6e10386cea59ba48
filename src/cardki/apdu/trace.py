"""Human-readable APDU lines, shared by the trace log and recorded transcripts.

``> 00 A4 04 00 05 A0 00 00 03 08`` is a command, ``< 61 11`` a response.
Secret bytes (PINs, keys, decrypted data) appear only as
``<redacted N bytes>``, so traces and transcripts can be shared.

The trace goes to logger ``cardki.apdu`` at level :data:`cardki.log.TRACE` (5,
below DEBUG): raw APDUs are too noisy for DEBUG and, redaction aside, describe
what a user did with their card.
"""

from __future__ import annotations

import re
from typing import Tuple

from cardki.log import TRACE as TRACE  # the level is cardki.log's; the APDU layer names it too
from cardki.log import get_logger

logger = get_logger("cardki.apdu")

COMMAND_PREFIX = ">"
RESPONSE_PREFIX = "<"
#: How a transcript line shows hidden bytes; compiled (by re's cache) at the first
#: transcript parsed, not at every start: the only pattern a first signature would compile (~0.2 ms).
_REDACTED = r"<redacted (\d+) bytes?>"


def hex_bytes(data: bytes) -> str:
    """``b'\\x00\\xa4'`` -> ``'00 A4'``."""
    return " ".join(f"{b:02X}" for b in data)


def _redacted(n: int) -> str:
    return f"<redacted {n} byte{'s' if n != 1 else ''}>"


def format_command(apdu: bytes, secret: Tuple[int, int] | None = None) -> str:
    """A command line; ``secret`` = (offset, length) of bytes to hide."""
    if secret is None or secret[1] == 0:
        return f"{COMMAND_PREFIX} {hex_bytes(apdu)}"
    start, length = secret
    parts = [hex_bytes(apdu[:start]), _redacted(length), hex_bytes(apdu[start + length:])]
    return f"{COMMAND_PREFIX} " + " ".join(p for p in parts if p)


def format_response(rapdu: bytes, secret_data: bool = False) -> str:
    """A response line; with ``secret_data`` only the SW stays visible."""
    if secret_data and len(rapdu) > 2:
        return f"{RESPONSE_PREFIX} {_redacted(len(rapdu) - 2)} {hex_bytes(rapdu[-2:])}"
    return f"{RESPONSE_PREFIX} {hex_bytes(rapdu)}"


class ApduPattern:
    """A parsed ``>``/``<`` line: bytes, some of which may be redacted.

    ``parts`` holds ``bytes`` for known bytes and ``int`` n for n redacted
    ones, so a replay can match a command whose PIN was never recorded.
    """

    def __init__(self, parts: list) -> None:
        self.parts = parts

    @property
    def length(self) -> int:
        return sum(p if isinstance(p, int) else len(p) for p in self.parts)

    @property
    def redacted(self) -> bool:
        return any(isinstance(p, int) for p in self.parts)

    def matches(self, data: bytes) -> bool:
        if len(data) != self.length:
            return False
        offset = 0
        for part in self.parts:
            if isinstance(part, int):
                offset += part
            else:
                if data[offset:offset + len(part)] != part:
                    return False
                offset += len(part)
        return True

    def fill(self, filler: int = 0) -> bytes:
        """The bytes, with redacted ones replaced by ``filler``."""
        return b"".join(bytes([filler]) * p if isinstance(p, int) else p for p in self.parts)


def parse_apdu_text(text: str) -> ApduPattern:
    """Parse the hex (plus ``<redacted N bytes>``) part of a trace line."""
    parts: list = []
    pos = 0
    for m in re.finditer(_REDACTED, text):
        parts.append(_parse_hex(text[pos:m.start()]))
        parts.append(int(m.group(1)))
        pos = m.end()
    parts.append(_parse_hex(text[pos:]))
    return ApduPattern([p for p in parts if p != b""])


def _parse_hex(text: str) -> bytes:
    cleaned = "".join(text.split())
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"not hex bytes: {text.strip()!r}") from None
