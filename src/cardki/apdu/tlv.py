"""BER-TLV as a bytes value, in the yubikit style.

A :class:`Tlv` *is* its encoding (a ``bytes``), so TLVs nest by plain
concatenation: ``Tlv(0x7C, Tlv(0x81) + Tlv(0x82, challenge))``. Card data
(PIV objects, OpenPGP DOs) arrives from a device we do not control, so every
parser here raises only :class:`ValueError` on malformed input.

Tags are handled as integers whose big-endian bytes are the encoded tag
(``0x5FC105`` is the three tag bytes 5F C1 05), as SP 800-73 writes them.
"""

from __future__ import annotations

from typing import Tuple

from ..der import MAX_LENGTH_BYTES as _MAX_LENGTH_BYTES
from ..der import encode_length


def encode_tag(tag: int) -> bytes:
    """The tag bytes for ``tag`` (0x7F49 -> 7F 49; 0 is the tag byte 00)."""
    if tag < 0:
        raise ValueError(f"TLV tag must not be negative: {tag}")
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def encode_tlv(tag: int, value: bytes = b"") -> bytes:
    """One TLV's encoding as plain bytes: what :class:`Tlv` stores, without making one
    (a command template built for every signature needs no parsed view of itself)."""
    length = len(value)
    if 0 <= tag <= 0xFF and length < 0x80:  # one tag byte, the short length form: a signature's template
        return bytes((tag, length)) + value
    return encode_tag(tag) + encode_length(length) + value


def _read_tag(data: bytes, offset: int) -> Tuple[int, int]:
    """Return (tag, offset after the tag)."""
    if offset >= len(data):
        raise ValueError(f"TLV truncated: no tag byte at offset {offset}")
    first = data[offset]
    tag = first
    offset += 1
    if first & 0x1F == 0x1F:  # multi-byte tag: continue while b8 is set
        while True:
            if offset >= len(data):
                raise ValueError("TLV truncated inside a multi-byte tag")
            b = data[offset]
            tag = (tag << 8) | b
            offset += 1
            if not b & 0x80:
                break
            if tag.bit_length() > 32:
                raise ValueError("TLV tag longer than 4 bytes")
    return tag, offset


def _read_length(data: bytes, offset: int) -> Tuple[int, int]:
    """Return (length, offset after the length field)."""
    if offset >= len(data):
        raise ValueError(f"TLV truncated: no length byte at offset {offset}")
    first = data[offset]
    offset += 1
    if first < 0x80:
        return first, offset
    n = first & 0x7F
    if n == 0:
        raise ValueError("TLV uses the indefinite length form (0x80), which is not supported")
    if n > _MAX_LENGTH_BYTES:
        raise ValueError(f"TLV length field of {n} bytes is not supported")
    if offset + n > len(data):
        raise ValueError("TLV truncated inside the length field")
    return int.from_bytes(data[offset:offset + n], "big"), offset + n


def _read_tlv(data: bytes, offset: int) -> Tuple[int, int, int, int]:
    """Parse one TLV at ``offset``: (tag, value start, value length, end)."""
    if offset + 1 < len(data):
        # One tag byte and the short length form (every TLV of a P-256 signature's answer):
        # what the general path below gives, without its two calls.
        tag, length = data[offset], data[offset + 1]
        if tag & 0x1F != 0x1F and length < 0x80 and offset + 2 + length <= len(data):
            return tag, offset + 2, length, offset + 2 + length
    return _read_any_tlv(data, offset)


def _read_any_tlv(data: bytes, offset: int) -> Tuple[int, int, int, int]:
    """:func:`_read_tlv` for every form (multi-byte tags, long lengths) and every error."""
    tag, offset = _read_tag(data, offset)
    length, offset = _read_length(data, offset)
    end = offset + length
    if end > len(data):
        raise ValueError(
            f"TLV with tag {tag:02X} declares {length} value bytes but only "
            f"{len(data) - offset} remain"
        )
    return tag, offset, length, end


class Tlv(bytes):
    """One BER-TLV, stored as its encoding.

    ``Tlv(tag, value)`` builds one; ``Tlv(data)`` parses ``data``, which must
    hold exactly one TLV (trailing bytes raise :class:`ValueError`).
    """

    _tag: int
    _value_offset: int
    _value_length: int

    def __new__(cls, tag_or_data: int | bytes, value: bytes | None = None) -> Tlv:
        if isinstance(tag_or_data, int):
            value = bytes(value or b"")
            data = encode_tlv(tag_or_data, value)
            self = super().__new__(cls, data)
            self._tag = tag_or_data
            self._value_length = len(value)
            self._value_offset = len(data) - len(value)
            return self
        if value is not None:
            raise TypeError("Tlv(data) parses; pass an int tag to build Tlv(tag, value)")
        data = bytes(tag_or_data)
        tag, start, length, end = _read_tlv(data, 0)
        if end != len(data):
            raise ValueError(f"{len(data) - end} bytes follow the TLV with tag {tag:02X}")
        self = super().__new__(cls, data)
        self._tag = tag
        self._value_offset = start
        self._value_length = length
        return self

    @property
    def tag(self) -> int:
        return self._tag

    @property
    def value(self) -> bytes:
        return bytes(self[self._value_offset:self._value_offset + self._value_length])

    @property
    def length(self) -> int:
        """Length of the value (not of the whole encoding)."""
        return self._value_length

    @classmethod
    def parse_from(cls, data: bytes, offset: int = 0) -> Tuple[Tlv, int]:
        """Parse the TLV starting at ``offset``; return it and the offset after it."""
        data = bytes(data)
        _, _, _, end = _read_tlv(data, offset)
        return cls(data[offset:end]), end

    def __repr__(self) -> str:
        return f"Tlv(tag=0x{self._tag:02X}, value={self.value.hex().upper() or '<empty>'})"


def parse_tlvs(data: bytes) -> list[Tlv]:
    """All TLVs concatenated in ``data``, in order."""
    data = bytes(data)
    result: list[Tlv] = []
    offset = 0
    while offset < len(data):
        tlv, offset = Tlv.parse_from(data, offset)
        result.append(tlv)
    return result


def tlv_dict(data: bytes) -> dict[int, bytes]:
    """Tag -> value of the TLVs in ``data`` (a later duplicate tag wins). Reads the
    encoding in place: no :class:`Tlv` is made (every signature's answer passes here)."""
    data = bytes(data)
    fields: dict[int, bytes] = {}
    offset = 0
    while offset < len(data):
        tag, start, _, offset = _read_tlv(data, offset)
        fields[tag] = data[start:offset]
    return fields


def unpack_tlv(tag: int, data: bytes) -> bytes:
    """The value of ``data``, which must be exactly one TLV with ``tag`` (the checks
    and errors of ``Tlv(data)``, without making one)."""
    data = bytes(data)
    found, start, _, end = _read_tlv(data, 0)
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes follow the TLV with tag {found:02X}")
    if found != tag:
        raise ValueError(f"expected TLV tag {tag:02X}, got {found:02X}")
    return data[start:end]
