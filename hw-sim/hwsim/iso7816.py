"""ISO 7816-4 building blocks shared by every virtual card.

Status words live here as named constants and travel as one exception,
``SwError``, so a handler never builds a response by hand to report an error.
Command APDU parsing (short and extended Lc/Le) and BER-TLV encoding are here
too because both the card level and the applets need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, List, Tuple


class SW:
    """Status words the simulated cards answer with (ISO 7816-4 names)."""

    OK = 0x9000
    MORE_DATA = 0x6100  # low byte: how many bytes GET RESPONSE can fetch
    WARNING_NO_CHANGE = 0x6200
    VERIFY_FAIL = 0x63C0  # low nibble: retries left
    MEMORY_FAILURE = 0x6581
    WRONG_LENGTH = 0x6700
    CLA_FUNCTION_NOT_SUPPORTED = 0x6881
    LAST_COMMAND_EXPECTED = 0x6883
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCE_DATA_NOT_USABLE = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    COMMAND_NOT_ALLOWED = 0x6986
    INCORRECT_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    NOT_ENOUGH_MEMORY = 0x6A84
    INCORRECT_P1P2 = 0x6A86
    REFERENCE_NOT_FOUND = 0x6A88
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00


class SwError(Exception):
    """Raised by a handler to answer with status word ``sw`` and no data."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"SW {sw:04X}")
        self.sw = sw


INS_SELECT = 0xA4
INS_GET_RESPONSE = 0xC0
CLA_CHAINING = 0x10


@dataclass(frozen=True)
class Command:
    """A parsed C-APDU. ``ne`` is the number of response bytes the host accepts
    (an absent Le counts as the maximum, as YubiKeys treat it)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    ne: int
    extended: bool

    @property
    def chained(self) -> bool:
        """True for a non-final part of a command chain (CLA bit 0x10)."""
        return bool(self.cla & CLA_CHAINING)


def parse_command(apdu: bytes) -> Command:
    """Parse a C-APDU in any of the ISO cases 1, 2S/2E, 3S/3E, 4S/4E.

    Raises SwError(6700) if the length fields do not add up.
    """
    if len(apdu) < 4:
        raise SwError(SW.WRONG_LENGTH)
    cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
    body = apdu[4:]
    if not body:  # case 1
        return Command(cla, ins, p1, p2, b"", 256, False)
    if len(body) == 1:  # case 2S
        return Command(cla, ins, p1, p2, b"", body[0] or 256, False)
    if body[0] != 0:  # short Lc
        lc = body[0]
        if len(body) == 1 + lc:  # case 3S
            return Command(cla, ins, p1, p2, bytes(body[1:]), 256, False)
        if len(body) == 2 + lc:  # case 4S
            return Command(cla, ins, p1, p2, bytes(body[1 : 1 + lc]), body[-1] or 256, False)
        raise SwError(SW.WRONG_LENGTH)
    # body[0] == 0 and at least 2 bytes: extended
    if len(body) == 3:  # case 2E
        le = int.from_bytes(body[1:3], "big")
        return Command(cla, ins, p1, p2, b"", le or 65536, True)
    lc = int.from_bytes(body[1:3], "big")
    rest = body[3:]
    if lc == 0:
        raise SwError(SW.WRONG_LENGTH)
    if len(rest) == lc:  # case 3E
        return Command(cla, ins, p1, p2, bytes(rest), 65536, True)
    if len(rest) == lc + 2:  # case 4E
        le = int.from_bytes(rest[-2:], "big")
        return Command(cla, ins, p1, p2, bytes(rest[:lc]), le or 65536, True)
    raise SwError(SW.WRONG_LENGTH)


def body_offset(apdu: bytes) -> Tuple[int, int]:
    """Where the command data sits in a raw C-APDU: (start, length).

    Used by trace redaction, which must keep the header and length bytes and
    blank only the data. Returns (len(apdu), 0) when there is no data.
    """
    try:
        cmd = parse_command(apdu)
    except SwError:
        return len(apdu), 0
    if not cmd.data:
        return len(apdu), 0
    start = 7 if cmd.extended else 5
    return start, len(cmd.data)


# ---------------------------------------------------------------- BER-TLV


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    if length < 0x100:
        return bytes([0x81, length])
    if length < 0x10000:
        return bytes([0x82]) + length.to_bytes(2, "big")
    return bytes([0x83]) + length.to_bytes(3, "big")


def tag_bytes(tag: int) -> bytes:
    """The encoded form of a tag given as an int (0x7F49 -> b'\\x7f\\x49')."""
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def tlv(tag: int, value: bytes = b"") -> bytes:
    """Encode one BER-TLV with definite length."""
    return tag_bytes(tag) + _encode_length(len(value)) + value


def _read_tag(buf: bytes, pos: int) -> Tuple[int, int]:
    first = buf[pos]
    pos += 1
    tag = first
    if first & 0x1F == 0x1F:
        while True:
            if pos >= len(buf):
                raise SwError(SW.INCORRECT_DATA)
            b = buf[pos]
            pos += 1
            tag = (tag << 8) | b
            if not b & 0x80:
                break
    return tag, pos


def _read_length(buf: bytes, pos: int) -> Tuple[int, int]:
    if pos >= len(buf):
        raise SwError(SW.INCORRECT_DATA)
    first = buf[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0 or count > 3 or pos + count > len(buf):
        raise SwError(SW.INCORRECT_DATA)
    return int.from_bytes(buf[pos : pos + count], "big"), pos + count


def iter_tlv(buf: bytes) -> Iterator[Tuple[int, bytes, int, int]]:
    """Yield (tag, value, value_start, value_end) for each TLV in ``buf``.

    Malformed input raises SwError(6A80), which is what a card answers.
    """
    pos = 0
    while pos < len(buf):
        tag, pos = _read_tag(buf, pos)
        length, pos = _read_length(buf, pos)
        if pos + length > len(buf):
            raise SwError(SW.INCORRECT_DATA)
        yield tag, bytes(buf[pos : pos + length]), pos, pos + length
        pos += length


def parse_tlvs(buf: bytes) -> List[Tuple[int, bytes]]:
    """All top-level TLVs of ``buf`` in order."""
    return [(tag, value) for tag, value, _, _ in iter_tlv(buf)]


def parse_tlv_dict(buf: bytes) -> Dict[int, bytes]:
    """Top-level TLVs as a dict (last one wins for repeated tags)."""
    return {tag: value for tag, value in parse_tlvs(buf)}


def unwrap(tag: int, buf: bytes) -> bytes:
    """The value of ``buf`` if it is exactly one TLV with ``tag``, else 6A80."""
    items = parse_tlvs(buf)
    if len(items) != 1 or items[0][0] != tag:
        raise SwError(SW.INCORRECT_DATA)
    return items[0][1]


def find_value(tag: int, buf: bytes) -> bytes | None:
    """The value of the first top-level TLV with ``tag`` in ``buf``, or None."""
    for found, value in parse_tlvs(buf):
        if found == tag:
            return value
    return None


def sw_bytes(sw: int) -> bytes:
    return sw.to_bytes(2, "big")
