"""The three DER encodings cardki writes for object attributes.

CKA_OBJECT_ID (OBJECT IDENTIFIER), CKA_SERIAL_NUMBER (INTEGER) and
CKA_EC_POINT (OCTET STRING) are simple enough to write by hand, and the
point inside a CKA_EC_POINT simple enough to read back. The PIV token
uses them when it lists objects and the engine for session certificates; doing so
keeps asn1crypto (about 12 ms to import) off the path from C_Initialize to the
first signature. Each has exactly one DER form, so these agree byte for byte
with asn1crypto's ``dump()`` (the unit tests check that).
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


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


def der_integer(value: int) -> bytes:
    """INTEGER: the shortest two's-complement big-endian form (-128 is one byte, 80)."""
    magnitude = value if value >= 0 else ~value  # the bits a sign bit must stay clear of
    length = magnitude.bit_length() // 8 + 1
    return _tlv(0x02, value.to_bytes(length, "big", signed=True))


def der_octet_string(value: bytes) -> bytes:
    """OCTET STRING."""
    return _tlv(0x04, bytes(value))


def unwrap_octet_string(value: bytes) -> bytes:
    """The content of a DER OCTET STRING (CKA_EC_POINT); a value that is not one
    (some modules give the raw point) comes back unchanged."""
    value = bytes(value)
    if len(value) >= 2 and value[0] == 0x04:
        first = value[1]
        if first < 0x80:
            header, length = 2, first
        else:
            header = 2 + (first & 0x7F)
            length = int.from_bytes(value[2:header], "big")
        if header + length == len(value):
            return value[header:]
    return value


def der_oid(dotted: str) -> bytes:
    """OBJECT IDENTIFIER from its dotted form ("2.16.840.1.101.3.7.2.96.80")."""
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
    return _tlv(0x06, bytes(content))
