"""Status words map to exceptions in one table, and messages name the SW."""

import pytest

from cardki.apdu import (
    ApduError,
    AuthBlockedError,
    ClaNotSupportedError,
    ConditionsNotSatisfiedError,
    FunctionNotSupportedError,
    IncorrectParametersError,
    InsNotSupportedError,
    NotEnoughMemoryError,
    NotFoundError,
    ReferenceNotFoundError,
    SecurityStatusError,
    TerminatedError,
    TouchTimeoutError,
    WrongLengthError,
    WrongPinError,
    error_for_sw,
)


@pytest.mark.parametrize(
    "sw, cls",
    [
        (0x6983, AuthBlockedError),
        (0x6982, SecurityStatusError),
        (0x6985, ConditionsNotSatisfiedError),
        (0x6A82, NotFoundError),
        (0x6A88, ReferenceNotFoundError),
        (0x6A80, IncorrectParametersError),
        (0x6A86, IncorrectParametersError),
        (0x6700, WrongLengthError),
        (0x6D00, InsNotSupportedError),
        (0x6E00, ClaNotSupportedError),
        (0x6A84, NotEnoughMemoryError),
        (0x6A81, FunctionNotSupportedError),
        (0x6285, TerminatedError),  # ISO 7816-4: selected file in termination state
    ],
)
def test_sw_maps_to_its_exception(sw, cls):
    error = error_for_sw(sw)
    assert type(error) is cls
    assert error.sw == sw
    assert f"{sw:04X}" in str(error)


@pytest.mark.parametrize("tries", range(16))
def test_63cx_carries_tries_left(tries):
    error = error_for_sw(0x63C0 | tries)
    assert isinstance(error, WrongPinError)
    assert error.tries_left == tries
    assert f"{tries} tries left" in str(error)


def test_wrong_pin_error_built_from_tries():
    assert WrongPinError(3).sw == 0x63C3


def test_unknown_sw_is_a_plain_apdu_error_with_a_meaning():
    error = error_for_sw(0x6999)
    assert type(error) is ApduError
    assert str(error) == "SW 6999: checking error"


def test_6600_has_no_meaning_of_its_own_in_the_shared_table():
    """A touch timeout is 6600 on an OpenPGP card only (GnuPG's SW_ACK_TIMEOUT; ISO leaves
    66xx to each application): the OpenPGP driver maps it, the shared table does not."""
    assert type(error_for_sw(0x6600)) is ApduError
    assert issubclass(TouchTimeoutError, ApduError)
