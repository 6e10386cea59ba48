"""Attribute values between Python and the C ABI: one table, type -> codec.

The engine keeps attribute values as Python values (bool, int, bytes, str,
``datetime.date``/None, list[int]) and compares or exports them through the
*encoded* form, exactly the bytes a C caller receives in ``pValue``. Doing
template matching on encoded bytes means ``{CKA_CLASS: CKO.PRIVATE_KEY}`` and
``{CKA_CLASS: 3}`` and a raw 8-byte C value all match the same objects.

Encoding (x86_64 LP64, the only ABI cardki builds): CK_BBOOL one byte,
CK_ULONG 8 bytes little-endian, byte arrays raw, UTF-8 strings, CK_DATE eight
ASCII digits (or empty), CK_MECHANISM_TYPE arrays packed ulongs, CK_BYTE one
byte (ykcs11's vendor policy attributes, kept as a one-byte ``bytes``: an int is
accepted). Unknown and other vendor types are raw bytes.
"""

from __future__ import annotations

import struct
from enum import Enum
from typing import Any, Callable, Dict, Tuple

from .. import errors
from ..constants import CKA
from .limits import MAX_MECHANISM_LIST_LENGTH

ULONG_SIZE = 8
_ULONG = struct.Struct("<Q")


class AttributeKind(Enum):
    """How an attribute's value is laid out in memory."""

    BOOL = "CK_BBOOL"
    ULONG = "CK_ULONG"
    BYTES = "byte array"
    STRING = "UTF-8 string"
    DATE = "CK_DATE"
    MECHANISMS = "CK_MECHANISM_TYPE array"
    BYTE = "CK_BYTE"


_BOOL_TYPES = (
    CKA.TOKEN, CKA.PRIVATE, CKA.TRUSTED, CKA.SENSITIVE, CKA.ENCRYPT, CKA.DECRYPT, CKA.WRAP,
    CKA.UNWRAP, CKA.SIGN, CKA.SIGN_RECOVER, CKA.VERIFY, CKA.VERIFY_RECOVER, CKA.DERIVE,
    CKA.EXTRACTABLE, CKA.LOCAL, CKA.NEVER_EXTRACTABLE, CKA.ALWAYS_SENSITIVE, CKA.MODIFIABLE,
    CKA.COPYABLE, CKA.DESTROYABLE, CKA.ALWAYS_AUTHENTICATE, CKA.WRAP_WITH_TRUSTED,
    CKA.RESET_ON_INIT, CKA.HAS_RESET, CKA.SECONDARY_AUTH,
)
_ULONG_TYPES = (
    CKA.CLASS, CKA.CERTIFICATE_TYPE, CKA.CERTIFICATE_CATEGORY, CKA.JAVA_MIDP_SECURITY_DOMAIN,
    CKA.NAME_HASH_ALGORITHM, CKA.KEY_TYPE, CKA.MODULUS_BITS, CKA.PRIME_BITS, CKA.SUBPRIME_BITS,
    CKA.VALUE_BITS, CKA.VALUE_LEN, CKA.KEY_GEN_MECHANISM, CKA.HW_FEATURE_TYPE,
    CKA.MECHANISM_TYPE, CKA.PROFILE_ID, CKA.AUTH_PIN_FLAGS,
)
_STRING_TYPES = (CKA.LABEL, CKA.APPLICATION, CKA.URL, CKA.UNIQUE_ID)
_DATE_TYPES = (CKA.START_DATE, CKA.END_DATE)
_BYTE_TYPES = (CKA.YUBICO_TOUCH_POLICY, CKA.YUBICO_PIN_POLICY)

#: The one table: attribute type -> layout. Types not listed are byte arrays.
ATTRIBUTE_KINDS: Dict[int, AttributeKind] = {
    **{int(t): AttributeKind.BOOL for t in _BOOL_TYPES},
    **{int(t): AttributeKind.ULONG for t in _ULONG_TYPES},
    **{int(t): AttributeKind.STRING for t in _STRING_TYPES},
    **{int(t): AttributeKind.DATE for t in _DATE_TYPES},
    **{int(t): AttributeKind.BYTE for t in _BYTE_TYPES},
    int(CKA.ALLOWED_MECHANISMS): AttributeKind.MECHANISMS,
}


def attribute_kind(attribute_type: int) -> AttributeKind:
    """The layout of ``attribute_type`` (byte array when unknown or vendor-defined)."""
    return ATTRIBUTE_KINDS.get(int(attribute_type), AttributeKind.BYTES)


def _name(attribute_type: int) -> str:
    try:
        return "CKA_" + CKA(attribute_type).name
    except ValueError:
        return f"attribute 0x{int(attribute_type):X}"


def _invalid(attribute_type: int, why: str) -> errors.CryptokiError:
    return errors.AttributeValueInvalid(f"{_name(attribute_type)}: {why}")


def _encode_bool(attribute_type: int, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == 1:
        return bytes(value)
    if isinstance(value, (bool, int)):
        return b"\x01" if value else b"\x00"
    raise _invalid(attribute_type, "expected a boolean")


def _encode_ulong(attribute_type: int, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == ULONG_SIZE:
        return bytes(value)
    if isinstance(value, int) and 0 <= value <= 0xFFFFFFFFFFFFFFFF:
        return _ULONG.pack(int(value))
    raise _invalid(attribute_type, "expected an unsigned long")


def _utf8(attribute_type: int, text: str) -> bytes:
    """``text`` as UTF-8; a str that has none (a lone surrogate, e.g. from an undecodable
    file name or argv) is an invalid value. The message does not repeat the text."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass  # raised below, outside the handler, without the encoder's error (it quotes the text)
    raise _invalid(attribute_type, "a string that UTF-8 cannot encode (a lone surrogate)")


def _encode_bytes(attribute_type: int, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return _utf8(attribute_type, value)
    raise _invalid(attribute_type, "expected a byte string")


def _encode_string(attribute_type: int, value: Any) -> bytes:
    if isinstance(value, str):
        return _utf8(attribute_type, value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise _invalid(attribute_type, "expected a string")


def _encode_date(attribute_type: int, value: Any) -> bytes:
    if value is None:
        return b""
    import datetime  # here: only dates need it (1.5 ms at every start otherwise)

    if isinstance(value, datetime.date):
        return value.strftime("%Y%m%d").encode("ascii")
    if isinstance(value, str):
        value = value.encode("ascii", errors="replace")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if raw == b"" or (len(raw) == 8 and raw.isdigit()):
            return raw
    raise _invalid(attribute_type, "expected a date (YYYYMMDD) or nothing")


def _encode_mechanisms(attribute_type: int, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) % ULONG_SIZE == 0:
        return bytes(value)
    try:
        return b"".join(_ULONG.pack(int(m)) for m in value)
    except (TypeError, ValueError, struct.error) as error:
        raise _invalid(attribute_type, "expected a list of mechanism types") from error


def _encode_byte(attribute_type: int, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == 1:
        return bytes(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFF:
        return bytes([value])
    raise _invalid(attribute_type, "expected one byte (CK_BYTE)")


def _decode_byte(attribute_type: int, raw: bytes) -> bytes:
    if len(raw) != 1:
        raise _invalid(attribute_type, f"CK_BYTE must be 1 byte, got {len(raw)}")
    return raw


def _decode_bool(attribute_type: int, raw: bytes) -> bool:
    if len(raw) != 1:
        raise _invalid(attribute_type, f"CK_BBOOL must be 1 byte, got {len(raw)}")
    return raw != b"\x00"


def _decode_ulong(attribute_type: int, raw: bytes) -> int:
    if len(raw) != ULONG_SIZE:
        raise _invalid(attribute_type, f"CK_ULONG must be {ULONG_SIZE} bytes, got {len(raw)}")
    return int(_ULONG.unpack(raw)[0])


def _decode_string(attribute_type: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _invalid(attribute_type, "not valid UTF-8") from error


def _decode_date(attribute_type: int, raw: bytes) -> Any:
    if raw == b"":
        return None
    if len(raw) != 8 or not raw.isdigit():
        raise _invalid(attribute_type, "CK_DATE must be 8 ASCII digits or empty")
    import datetime

    try:
        return datetime.date(int(raw[0:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError as error:
        raise _invalid(attribute_type, "not a calendar date") from error


def _decode_mechanisms(attribute_type: int, raw: bytes) -> list:
    if len(raw) % ULONG_SIZE:
        raise _invalid(attribute_type, "length is not a multiple of CK_ULONG")
    if len(raw) > MAX_MECHANISM_LIST_LENGTH * ULONG_SIZE:
        raise _invalid(attribute_type, f"more than {MAX_MECHANISM_LIST_LENGTH} mechanisms")
    return [int(m) for (m,) in _ULONG.iter_unpack(raw)]


_CODECS: Dict[AttributeKind, Tuple[Callable[[int, Any], bytes], Callable[[int, bytes], Any]]] = {
    AttributeKind.BOOL: (_encode_bool, _decode_bool),
    AttributeKind.ULONG: (_encode_ulong, _decode_ulong),
    AttributeKind.BYTES: (_encode_bytes, lambda _t, raw: bytes(raw)),
    AttributeKind.STRING: (_encode_string, _decode_string),
    AttributeKind.DATE: (_encode_date, _decode_date),
    AttributeKind.MECHANISMS: (_encode_mechanisms, _decode_mechanisms),
    AttributeKind.BYTE: (_encode_byte, _decode_byte),
}


def encode_attribute(attribute_type: int, value: Any) -> bytes:
    """The bytes a C caller sees for ``value`` (raises AttributeValueInvalid)."""
    return _CODECS[attribute_kind(attribute_type)][0](int(attribute_type), value)


def decode_attribute(attribute_type: int, raw: bytes) -> Any:
    """The Python value of C bytes ``raw`` (raises AttributeValueInvalid on a wrong length)."""
    return _CODECS[attribute_kind(attribute_type)][1](int(attribute_type), bytes(raw))


def normalize_attribute(attribute_type: int, value: Any) -> Any:
    """``value`` in its canonical Python form (what get_attribute_value returns):
    ints for enums, bytes for byte arrays, str for strings, ``date``/None for dates."""
    return decode_attribute(attribute_type, encode_attribute(attribute_type, value))


def normalize_template(template: Any) -> Dict[int, Any]:
    """A template (mapping or pairs) as ``{int type: canonical value}``; a later
    duplicate wins, as in most modules (the spec leaves duplicates undefined)."""
    items = template.items() if hasattr(template, "items") else template
    return {int(t): normalize_attribute(int(t), v) for t, v in items}


__all__ = [
    "AttributeKind", "ATTRIBUTE_KINDS", "attribute_kind", "encode_attribute", "decode_attribute",
    "normalize_attribute", "normalize_template", "ULONG_SIZE",
]
