"""The three DER encodings cardki writes for object attributes, and a strict DER reader.

CKA_OBJECT_ID (OBJECT IDENTIFIER), CKA_SERIAL_NUMBER (INTEGER) and
CKA_EC_POINT (OCTET STRING) are simple enough to write by hand, and the
point inside a CKA_EC_POINT simple enough to read back. The PIV token
uses them when it lists objects and the engine for session certificates; doing so
keeps asn1crypto (about 12 ms to import) off the path from C_Initialize to the
first signature. Each has exactly one DER form, so these agree byte for byte
with asn1crypto's ``dump()`` (the unit tests check that). :func:`read_element`
reads DER from outside (:mod:`cardki.certificate` reads a card's certificates with
it) and takes exactly one form of each length.
"""

from __future__ import annotations

# ISO 7816-4 allows longer lengths, but 4 length bytes already address 4 GiB:
# anything above is corrupt data, not a card object.
MAX_LENGTH_BYTES = 4


def encode_length(length: int) -> bytes:
    """BER definite length: short form below 0x80, else 0x81..0x84 + bytes."""
    if length < 0:
        raise ValueError(f"TLV length must not be negative: {length}")
    if length < 0x80:
        return bytes([length])
    n = (length.bit_length() + 7) // 8
    if n > MAX_LENGTH_BYTES:
        raise ValueError(f"TLV length too large: {length}")
    return bytes([0x80 | n]) + length.to_bytes(n, "big")


def read_element(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """The DER element at ``offset`` of ``data``: (tag byte, content start, end).

    Strict DER, for data from outside (a card's certificate): a one-byte tag (no
    high-tag-number form), a definite length in its shortest form, content within
    ``data``. Anything else raises ValueError. The end is always past ``offset``,
    so a loop that reads element after element always moves on."""
    if offset + 2 > len(data):
        raise ValueError("DER element truncated")
    tag, first = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("DER tag in the high-tag-number form")
    start = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > MAX_LENGTH_BYTES or start + count > len(data):
            raise ValueError("DER length indefinite, too long or truncated")
        length = int.from_bytes(data[start:start + count], "big")
        if length < 0x80 or length >> (8 * (count - 1)) == 0:
            raise ValueError("DER length not in its shortest form")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("DER element longer than its data")
    return tag, start, end


def der_tlv(tag: int, content: bytes) -> bytes:
    """One DER element: ``tag``, the definite length, ``content``."""
    return bytes([tag]) + encode_length(len(content)) + content


def der_integer(value: int) -> bytes:
    """INTEGER: the shortest two's-complement big-endian form (-128 is one byte, 80)."""
    magnitude = value if value >= 0 else ~value  # the bits a sign bit must stay clear of
    length = magnitude.bit_length() // 8 + 1
    return der_tlv(0x02, value.to_bytes(length, "big", signed=True))


def der_octet_string(value: bytes) -> bytes:
    """OCTET STRING."""
    return der_tlv(0x04, bytes(value))


def _point_shaped(content: bytes) -> bool:
    """Whether ``content`` looks like an EC point: uncompressed 04 || x || y, compressed
    02/03 || x, or a raw 32-byte 25519 key."""
    if len(content) == 32:
        return True
    if content[:1] == b"\x04":
        return len(content) % 2 == 1 and len(content) > 1
    return content[:1] in (b"\x02", b"\x03") and len(content) > 1


def unwrap_octet_string(value: bytes) -> bytes:
    """The point inside CKA_EC_POINT's DER OCTET STRING. PKCS#11 says the attribute is
    one, but some modules and callers give the raw point, which also starts with 04:
    the value is unwrapped only when its DER length covers it exactly and what is inside
    is point-shaped; anything else (a raw point, garbage) comes back unchanged, and the
    caller checks its length for the curve."""
    value = bytes(value)
    if len(value) < 2 or value[0] != 0x04:
        return value
    first = value[1]
    if first < 0x80:
        header, length = 2, first
    elif 0x81 <= first <= 0x80 + MAX_LENGTH_BYTES:
        header = 2 + (first & 0x7F)
        length = int.from_bytes(value[2:header], "big")
    else:
        return value
    if header + length != len(value) or not _point_shaped(value[header:]):
        return value
    return value[header:]


def der_oid(dotted: str) -> bytes:
    """OBJECT IDENTIFIER from its dotted form ("2.16.840.1.101.3.7.2.96.80")."""
    return der_tlv(0x06, oid_content(dotted))


def oid_content(dotted: str) -> bytes:
    """The content octets of :func:`der_oid` (no tag, no length)."""
    arcs = [int(part) for part in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        raise ValueError(f"not an object identifier: {dotted!r}")
    content = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        content += bytes(reversed(chunk))
    return bytes(content)


def decode_oid(value: bytes) -> str:
    """The dotted form of a DER OBJECT IDENTIFIER (the whole of ``value``); ValueError
    when it is not exactly one."""
    value = bytes(value)
    if len(value) < 3 or value[0] != 0x06 or value[1] >= 0x80 or value[1] != len(value) - 2:
        raise ValueError("not a DER OBJECT IDENTIFIER")
    arcs = []
    arc = 0
    for byte in value[2:]:
        if arc == 0 and byte == 0x80:
            raise ValueError("an OID arc starts with a padding byte")
        arc = (arc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(arc)
            arc = 0
    if value[-1] & 0x80:
        raise ValueError("the OID's last arc is cut off")
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(part) for part in [*head, *arcs[1:]])
