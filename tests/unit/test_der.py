"""The token's hand-written DER encoders agree byte for byte with asn1crypto's,
which the object attributes used to be built with (CKA_OBJECT_ID,
CKA_SERIAL_NUMBER, CKA_EC_POINT must not change by a single byte)."""

from __future__ import annotations

import pytest
from asn1crypto import core as asn1
from hypothesis import given
from hypothesis import strategies as st

from cardki.der import der_integer, der_octet_string, der_oid
from cardki.token.profiles import candidates


@given(st.integers(min_value=-(2**2100), max_value=2**2100))
def test_integer_matches_asn1crypto(value: int) -> None:
    assert der_integer(value) == asn1.Integer(value).dump()


@given(st.binary(max_size=70000))
def test_octet_string_matches_asn1crypto(value: bytes) -> None:
    assert der_octet_string(value) == asn1.OctetString(value).dump()


_ARC = st.integers(min_value=0, max_value=2**70)


@given(st.sampled_from([0, 1, 2]), st.integers(min_value=0, max_value=39), st.lists(_ARC, max_size=12))
def test_oid_matches_asn1crypto(first: int, second: int, rest: list) -> None:
    dotted = ".".join(str(arc) for arc in [first, second, *rest])
    assert der_oid(dotted) == asn1.ObjectIdentifier(dotted).dump()


@pytest.mark.parametrize("bits", range(0, 80))
def test_integers_at_every_byte_boundary_match_asn1crypto(bits: int) -> None:
    for value in (2**bits - 1, 2**bits, 2**bits + 1, -(2**bits) - 1, -(2**bits), -(2**bits) + 1):
        assert der_integer(value) == asn1.Integer(value).dump(), value


def test_oid_with_a_large_second_arc_under_2() -> None:
    assert der_oid("2.999.3") == asn1.ObjectIdentifier("2.999.3").dump()


def test_every_profile_data_object_oid_matches_asn1crypto() -> None:
    specs = [spec for profile in candidates("piv") for spec in profile.data_objects]
    assert specs
    for spec in specs:
        assert der_oid(spec.oid) == asn1.ObjectIdentifier(spec.oid).dump(), spec.name


@pytest.mark.parametrize("dotted", ["", "1", "3.1", "1.40", "1.2.-3", "1..2"])
def test_a_malformed_oid_is_refused(dotted: str) -> None:
    with pytest.raises(ValueError):
        der_oid(dotted)
