"""The Cryptoki info structures as the engine returns them, and the library's
identity that fills them.

``CK_INFO``, ``CK_SLOT_INFO``, ``CK_TOKEN_INFO`` and ``CK_SESSION_INFO`` are plain
immutable values (named tuples: making one costs a tenth of a frozen dataclass,
paid by every host's start): the C layer packs them into the C structs, the
Python API hands them out. They live apart from the engine because the Python API, the C layer
and every part of the engine name them.
"""

from __future__ import annotations

from typing import Tuple

from cardki.named_tuple import NamedTuple

from .. import errors

MANUFACTURER_ID = "cardki"
LIBRARY_DESCRIPTION = "cardki: PIV and OpenPGP cards"  # CK_INFO holds 32 bytes
LIBRARY_VERSION = (0, 1)


class LibraryInfo(NamedTuple):
    """``CK_INFO``."""

    cryptoki_version: Tuple[int, int]
    manufacturer_id: str
    flags: int
    library_description: str
    library_version: Tuple[int, int]


class SlotInfo(NamedTuple):
    """``CK_SLOT_INFO``."""

    slot_description: str
    manufacturer_id: str
    flags: int
    hardware_version: Tuple[int, int]
    firmware_version: Tuple[int, int]


class TokenInfoFull(NamedTuple):
    """``CK_TOKEN_INFO``: the card's part from the token plus the engine's counts."""

    label: str
    manufacturer_id: str
    model: str
    serial_number: str
    flags: int
    max_session_count: int
    session_count: int
    max_rw_session_count: int
    rw_session_count: int
    max_pin_len: int
    min_pin_len: int
    total_public_memory: int
    free_public_memory: int
    total_private_memory: int
    free_private_memory: int
    hardware_version: Tuple[int, int]
    firmware_version: Tuple[int, int]
    utc_time: str


class SessionInfo(NamedTuple):
    """``CK_SESSION_INFO``."""

    slot_id: int
    state: int
    flags: int
    device_error: int





#: Bytes in CK_TOKEN_INFO's label field (and C_InitToken's pLabel).
LABEL_SIZE = 32


def token_label(label: str | bytes) -> str:
    """C_InitToken's label as text: the 32-byte field (or the text itself) with its
    blank padding stripped; ARGUMENTS_BAD if it is longer, not UTF-8, or holds a NUL.
    The message never quotes it."""
    if isinstance(label, (bytes, bytearray, memoryview)):
        raw = bytes(label).rstrip(b" ")
    elif isinstance(label, str):
        try:
            raw = label.rstrip(" ").encode("utf-8")
        except UnicodeEncodeError:
            raw = b"\xff"  # reported below, outside the handler (its error quotes the text)
    else:
        raise errors.ArgumentsBad("a token label is text")
    if len(raw) > LABEL_SIZE:
        raise errors.ArgumentsBad(f"a token label has at most {LABEL_SIZE} bytes")
    if b"\x00" in raw:
        raise errors.ArgumentsBad("a token label is blank padded, not NUL terminated")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    raise errors.ArgumentsBad("a token label is UTF-8")


__all__ = ["LABEL_SIZE", "LIBRARY_DESCRIPTION", "LIBRARY_VERSION", "MANUFACTURER_ID", "LibraryInfo", "SessionInfo",
           "SlotInfo", "TokenInfoFull", "token_label"]
