"""BER-TLV: building, parsing, and robustness against arbitrary card data."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardki.apdu import Tlv, encode_tlv, parse_tlvs, tlv_dict, unpack_tlv
from cardki.apdu.tlv import _read_any_tlv, _read_tlv


def test_build_short_tag_short_length():
    assert Tlv(0x53, b"\x01\x02") == bytes.fromhex("53020102")


def test_build_multibyte_tags():
    assert Tlv(0x5FC105, b"x") == bytes.fromhex("5FC1050178")
    assert Tlv(0x7F49, b"") == bytes.fromhex("7F4900")


@pytest.mark.parametrize(
    "length, header",
    [(0x7F, "7F"), (0x80, "8180"), (0xFF, "81FF"), (0x100, "820100"), (0x10000, "83010000")],
)
def test_long_form_lengths_round_trip(length, header):
    tlv = Tlv(0x53, bytes(length))
    assert tlv[1:1 + len(header) // 2].hex().upper() == header
    parsed = Tlv(bytes(tlv))
    assert (parsed.tag, parsed.length, parsed.value) == (0x53, length, bytes(length))


def test_nested_by_concatenation():
    inner = Tlv(0x81) + Tlv(0x82, b"\xAA")
    outer = Tlv(0x7C, inner)
    assert outer.hex().upper() == "7C0581008201AA"
    assert tlv_dict(Tlv(outer).value) == {0x81: b"", 0x82: b"\xAA"}


def test_parse_tlvs_keeps_order():
    data = Tlv(0x01, b"a") + Tlv(0x5FC102, b"bc") + Tlv(0x01, b"z")
    assert [(t.tag, t.value) for t in parse_tlvs(data)] == [(1, b"a"), (0x5FC102, b"bc"), (1, b"z")]


def test_unpack_tlv_checks_the_tag():
    assert unpack_tlv(0x53, bytes.fromhex("5301FF")) == b"\xFF"
    with pytest.raises(ValueError, match="expected TLV tag 7C, got 53"):
        unpack_tlv(0x7C, bytes.fromhex("5301FF"))


@pytest.mark.parametrize(
    "data, message",
    [
        ("", "no tag"),
        ("53", "no length"),
        ("5305AABB", "declares 5 value bytes but only 2"),
        ("5F", "multi-byte tag"),
        ("5380", "indefinite"),
        ("5385AABBCCDDEE", "5 bytes is not supported"),
        ("5382FF", "inside the length"),
        ("5301AABB", "1 bytes follow"),
    ],
)
def test_malformed_data_raises_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        Tlv(bytes.fromhex(data))


@given(st.binary(max_size=64))
def test_parsers_only_raise_value_error(data):
    for parse in (Tlv, parse_tlvs, tlv_dict, lambda d: unpack_tlv(0x53, d)):
        try:
            parse(data)
        except ValueError:
            pass


@given(st.integers(min_value=0, max_value=0x5FFFFF), st.binary(max_size=300))
def test_build_then_parse_round_trips(tag, value):
    # Only tags whose encoding is a well-formed BER tag round-trip.
    tlv = Tlv(tag, value)
    try:
        parsed = Tlv(bytes(tlv))
    except ValueError:
        return
    if parsed.tag == tag:
        assert parsed.value == value


def _outcome(parse, data):
    try:
        return "ok", parse(data)
    except ValueError as error:
        return "ValueError", str(error)


@given(st.one_of(st.binary(max_size=64),
                 st.lists(st.tuples(st.sampled_from([0x53, 0x7C, 0x81, 0x82, 0x5FC105]), st.binary(max_size=300)),
                          max_size=4).map(lambda items: b"".join(bytes(Tlv(t, v)) for t, v in items))))
def test_the_in_place_readers_answer_what_the_tlv_objects_answer(data):
    # tlv_dict and unpack_tlv read the encoding without making Tlv objects (every
    # signature's answer passes through them): same values, same errors.
    assert _outcome(tlv_dict, data) == _outcome(lambda d: {t.tag: t.value for t in parse_tlvs(d)}, data)

    def by_object(d):
        tlv = Tlv(d)
        if tlv.tag != 0x7C:
            raise ValueError(f"expected TLV tag 7C, got {tlv.tag:02X}")
        return tlv.value

    assert _outcome(lambda d: unpack_tlv(0x7C, d), data) == _outcome(by_object, data)


@given(st.integers(min_value=0, max_value=0x5FFFFF), st.binary(max_size=300))
def test_encode_tlv_is_the_encoding_tlv_keeps(tag, value):
    assert encode_tlv(tag, value) == bytes(Tlv(tag, value))


def _near_misses(draw_tlv):
    """Bytes, then a TLV header whose declared length is near what follows it."""
    prefix, tag, declared, shortfall = draw_tlv
    value = bytes(max(0, declared + shortfall))
    return prefix + bytes([tag, declared]) + value, len(prefix)


@given(st.one_of(
    st.tuples(st.binary(max_size=40), st.integers(min_value=0, max_value=40)),
    st.tuples(st.binary(max_size=3), st.integers(0, 255), st.integers(0, 255), st.integers(-2, 2)).map(_near_misses)))
def test_the_short_form_shortcut_reads_what_the_general_reader_reads(case):
    data, offset = case
    # _read_tlv answers one-byte tags with short lengths (every TLV of a P-256 signature's
    # answer) without _read_tag and _read_length: same tag, bounds and errors as they give.
    assert _outcome(lambda d: _read_tlv(d, offset), data) == _outcome(lambda d: _read_any_tlv(d, offset), data)
