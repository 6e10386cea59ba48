"""RFC 7512 PKCS#11 URIs as the CLI takes them (cardki.uri): a parser of untrusted
text, so every malformed form is a ValueError that names the problem, never a
crash or a silently different URI."""

from __future__ import annotations

import pytest

from cardki import uri


def test_path_and_query_attributes_are_decoded() -> None:
    parsed = uri.parse("pkcs11:token=YubiKey%20PIV%20%2312345678;id=%01%9a;type=private;slot-id=4"
                       "?pin-value=12%2634&module-name=cardki")
    assert parsed.path == {"token": "YubiKey PIV #12345678", "type": "private", "slot-id": "4"}
    assert parsed.id == b"\x01\x9a"
    assert parsed.query == {"pin-value": "12&34", "module-name": "cardki"}
    assert parsed.slot_id == 4 and parsed.object_type == "private"
    assert parsed.names_token and parsed.names_object
    assert parsed.matches_token({"label": "YubiKey PIV #12345678   "})
    assert not parsed.matches_token({"label": "YubiKey OpenPGP #12345678"})


def test_vendor_attributes_are_checked_for_form_and_left_out() -> None:
    parsed = uri.parse("pkcs11:x-vendor=a%20b;object=Signature%20key?x-other=1")
    assert parsed.path == {"object": "Signature key"} and parsed.query == {}
    assert parsed.label == "Signature key" and not parsed.names_token


@pytest.mark.parametrize("text, problem", [
    ("pkcs12:id=%01", "starts with 'pkcs11:'"),
    ("pkcs11:id", "name=value"),
    ("pkcs11:?pin-value", "name=value"),
    ("pkcs11:colour=blue", "unknown PKCS#11 URI attribute 'colour'"),
    ("pkcs11:\x00=1", "unknown PKCS#11 URI attribute"),
    ("pkcs11:?colour=blue", "unknown PKCS#11 URI query attribute 'colour'"),
    ("pkcs11:id=%01;id=%02", "gives id twice"),
    ("pkcs11:token=a;token=b", "gives token twice"),
    ("pkcs11:?pin-value=1&pin-value=2", "gives pin-value twice"),
    ("pkcs11:id=%0", "bad percent-encoding"),
    ("pkcs11:id=%zz", "bad percent-encoding"),
    ("pkcs11:x-vendor=%g1", "bad percent-encoding"),
    ("pkcs11:token=%ff", "not UTF-8"),
    ("pkcs11:type=key", "one of cert, data, private, public, secret-key"),
    ("pkcs11:slot-id=four", "slot-id is a number"),
])
def test_a_malformed_uri_is_a_value_error_that_says_why(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(")) as caught:
        uri.parse(text)
    assert "\x00" not in str(caught.value)


def test_the_scheme_is_case_insensitive() -> None:
    assert uri.is_uri("PKCS11:id=%01") and uri.parse("PKCS11:id=%01").id == b"\x01"
