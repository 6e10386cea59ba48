"""Attribute encoding: the bytes a C caller sees, and back."""

from __future__ import annotations

import datetime

import pytest

from cardki import CKA, CKK, CKM, CKO, errors
from cardki.cryptoki.attributes import (
    AttributeKind,
    attribute_kind,
    decode_attribute,
    encode_attribute,
    normalize_template,
)


def test_bool_is_one_byte() -> None:
    assert encode_attribute(CKA.TOKEN, True) == b"\x01"
    assert encode_attribute(CKA.SIGN, False) == b"\x00"
    assert decode_attribute(CKA.PRIVATE, b"\x01") is True
    assert decode_attribute(CKA.PRIVATE, b"\x00") is False


def test_ulong_is_eight_bytes_little_endian() -> None:
    assert encode_attribute(CKA.CLASS, CKO.PRIVATE_KEY) == (3).to_bytes(8, "little")
    assert encode_attribute(CKA.KEY_TYPE, CKK.EC_EDWARDS) == bytes([0x40]) + bytes(7)
    assert decode_attribute(CKA.MODULUS_BITS, (2048).to_bytes(8, "little")) == 2048


def test_enum_and_int_encode_the_same() -> None:
    assert encode_attribute(CKA.CLASS, CKO.CERTIFICATE) == encode_attribute(int(CKA.CLASS), 1)


def test_strings_are_utf8_and_byte_arrays_raw() -> None:
    assert encode_attribute(CKA.LABEL, "clé") == "clé".encode()
    assert decode_attribute(CKA.LABEL, "clé".encode()) == "clé"
    assert encode_attribute(CKA.ID, b"\x01\x02") == b"\x01\x02"
    assert decode_attribute(CKA.MODULUS, b"\x00\xff") == b"\x00\xff"


def test_dates_are_eight_digits_or_empty() -> None:
    assert encode_attribute(CKA.START_DATE, datetime.date(2026, 3, 9)) == b"20260309"
    assert encode_attribute(CKA.END_DATE, None) == b""
    assert decode_attribute(CKA.START_DATE, b"20260309") == datetime.date(2026, 3, 9)
    assert decode_attribute(CKA.START_DATE, b"") is None
    with pytest.raises(errors.AttributeValueInvalid):
        decode_attribute(CKA.START_DATE, b"2026")


def test_mechanism_arrays_are_packed_ulongs() -> None:
    raw = encode_attribute(CKA.ALLOWED_MECHANISMS, [CKM.ECDSA, CKM.ECDSA_SHA256])
    assert raw == (0x1041).to_bytes(8, "little") + (0x1044).to_bytes(8, "little")
    assert decode_attribute(CKA.ALLOWED_MECHANISMS, raw) == [0x1041, 0x1044]
    assert attribute_kind(CKA.ALLOWED_MECHANISMS) is AttributeKind.MECHANISMS


@pytest.mark.parametrize("attribute_type, raw", [(CKA.TOKEN, b""), (CKA.TOKEN, b"\x01\x00"),
                                                 (CKA.CLASS, b"\x01\x00\x00\x00"),
                                                 (CKA.ALLOWED_MECHANISMS, b"\x01\x02\x03")])
def test_wrong_length_is_attribute_value_invalid(attribute_type: int, raw: bytes) -> None:
    with pytest.raises(errors.AttributeValueInvalid) as caught:
        decode_attribute(attribute_type, raw)
    assert caught.value.rv == 0x13


def test_wrong_python_type_is_attribute_value_invalid() -> None:
    with pytest.raises(errors.AttributeValueInvalid):
        encode_attribute(CKA.CLASS, "certificate")
    with pytest.raises(errors.AttributeValueInvalid):
        encode_attribute(CKA.CLASS, -1)
    with pytest.raises(errors.AttributeValueInvalid):
        encode_attribute(CKA.TOKEN, "yes")


def test_vendor_types_are_raw_bytes() -> None:
    assert attribute_kind(0x80001234) is AttributeKind.BYTES
    assert decode_attribute(0x80001234, b"\x00\x01") == b"\x00\x01"


@pytest.mark.parametrize("attribute_type", [CKA.YUBICO_PIN_POLICY, CKA.YUBICO_TOUCH_POLICY])
def test_ykcs11_policy_attributes_are_one_byte(attribute_type: int) -> None:
    """ykcs11's CKA_YUBICO_*_POLICY are CK_BYTEs: one byte from C, one byte back; a
    Python int is taken too; any other length is ATTRIBUTE_VALUE_INVALID."""
    assert attribute_kind(attribute_type) is AttributeKind.BYTE
    assert decode_attribute(attribute_type, b"\x03") == b"\x03"
    assert encode_attribute(attribute_type, 2) == encode_attribute(attribute_type, b"\x02") == b"\x02"
    for raw in (b"", b"\x02\x00\x00\x00\x00\x00\x00\x00"):
        with pytest.raises(errors.AttributeValueInvalid):
            decode_attribute(attribute_type, raw)
    for value in (256, -1, True, "2"):
        with pytest.raises(errors.AttributeValueInvalid):
            encode_attribute(attribute_type, value)


def test_normalize_template_accepts_c_bytes_and_python_values_alike() -> None:
    from_python = normalize_template({CKA.CLASS: CKO.DATA, CKA.TOKEN: False, CKA.LABEL: "x"})
    from_c = normalize_template({0: bytes(8), 1: b"\x00", 3: b"x"})
    assert from_python == from_c == {0: 0, 1: False, 3: "x"}


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st


@given(st.sampled_from([CKA.CLASS, CKA.KEY_TYPE, CKA.VALUE_LEN]), st.integers(0, 2**64 - 1))
def test_ulong_round_trip(attribute_type: int, value: int) -> None:
    raw = encode_attribute(attribute_type, value)
    assert len(raw) == 8 and decode_attribute(attribute_type, raw) == value


@given(st.sampled_from([CKA.ID, CKA.VALUE, CKA.MODULUS, CKA.EC_POINT]), st.binary(max_size=300))
def test_byte_array_round_trip(attribute_type: int, value: bytes) -> None:
    assert decode_attribute(attribute_type, encode_attribute(attribute_type, value)) == value


@given(st.text(max_size=64))
def test_label_round_trip(value: str) -> None:
    assert decode_attribute(CKA.LABEL, encode_attribute(CKA.LABEL, value)) == value


@given(st.lists(st.integers(0, 2**64 - 1), max_size=20))
def test_mechanism_list_round_trip(value: list) -> None:
    assert decode_attribute(CKA.ALLOWED_MECHANISMS, encode_attribute(CKA.ALLOWED_MECHANISMS, value)) == value
