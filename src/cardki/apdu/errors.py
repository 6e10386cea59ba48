"""Status words -> exceptions, decided in exactly one table.

Every layer above the APDU protocol catches these domain exceptions instead of
comparing SW integers, so a status word gets its meaning here and nowhere else.
The message names the SW and its ISO 7816-4 meaning but never command data:
commands may carry PINs.
"""

from __future__ import annotations

from typing import Type

SW_OK = 0x9000


class MalformedResponseError(ValueError):
    """The card's answer breaks ISO 7816-4 or the command's format: no status word,
    a response chain that does not end, data that cannot be what was asked for.

    A ``ValueError``, as every parser of card data raises, so the layers above
    report it as a device error. The message describes the shape of the answer,
    never its content (it may be a decrypted secret)."""


class ApduError(Exception):
    """The card answered with a status word other than 9000."""

    def __init__(self, sw: int, message: str | None = None) -> None:
        self.sw = sw
        super().__init__(message or f"SW {sw:04X}: {sw_meaning(sw)}")


class WrongPinError(ApduError):
    """63Cx: verification failed (or, for an empty VERIFY, not yet done); x tries remain."""

    def __init__(self, tries_left: int | None, sw: int | None = None) -> None:
        self.tries_left = tries_left
        if sw is None:
            sw = 0x63C0 | (tries_left or 0) if tries_left is not None else 0x6300
        left = "unknown" if tries_left is None else str(tries_left)
        super().__init__(sw, f"SW {sw:04X}: verification failed, {left} tries left")


class AuthBlockedError(ApduError):
    """6983: authentication method (PIN, PUK, key) is blocked."""


class SecurityStatusError(ApduError):
    """6982: security status not satisfied (e.g. PIN not verified)."""


class ConditionsNotSatisfiedError(ApduError):
    """6985: conditions of use not satisfied."""


class ReferenceDataUnusableError(ApduError):
    """6984: reference data not usable (e.g. no key in the slot)."""


class NotFoundError(ApduError):
    """6A82: file, data object or application not found."""


class ApplicationNotFoundError(NotFoundError):
    """6A82 in answer to SELECT: the applet is not on the card."""


class ReferenceNotFoundError(ApduError):
    """6A88: referenced data (key reference, data object) not found."""


class IncorrectParametersError(ApduError):
    """6A80 / 6A86 / 6B00: wrong command data or P1/P2."""


class WrongLengthError(ApduError):
    """6700: wrong length (Lc or Le)."""


class InsNotSupportedError(ApduError):
    """6D00: instruction not supported."""


class ClaNotSupportedError(ApduError):
    """6E00: class not supported."""


class FunctionNotSupportedError(ApduError):
    """6A81 / 6884 / 6882: function (e.g. chaining, secure messaging) not supported."""


class NotEnoughMemoryError(ApduError):
    """6A84: not enough memory space in the file."""


class MemoryFailureError(ApduError):
    """6581: memory failure (write to EEPROM failed)."""


class CommandAbortedError(ApduError):
    """6F00 / 6400: no precise diagnosis, execution error."""


class TerminatedError(ApduError):
    """6285: the selected file (an application) is in termination state. An OpenPGP
    application answers SELECT so once TERMINATE DF ran; ACTIVATE FILE brings it back
    in factory state."""


class TouchTimeoutError(ApduError):
    """The card waited for its user to touch it (a key with a touch policy) and
    nobody did. No status word means this by ISO 7816-4 (66xx is "security-related
    issues", left to each application), so it is not in the table: an applet's driver
    raises it for its own SW (OpenPGP on a YubiKey: 6600, GnuPG's SW_ACK_TIMEOUT)."""


# The one table: SW -> (exception class, ISO 7816-4 meaning).
_SW_TABLE: dict[int, tuple[Type[ApduError], str]] = {
    0x6300: (WrongPinError, "verification failed"),
    0x6400: (CommandAbortedError, "execution error, state of non-volatile memory unchanged"),
    0x6285: (TerminatedError, "selected file in termination state"),
    0x6581: (MemoryFailureError, "memory failure"),
    0x6700: (WrongLengthError, "wrong length"),
    0x6881: (FunctionNotSupportedError, "logical channel not supported"),
    0x6882: (FunctionNotSupportedError, "secure messaging not supported"),
    0x6883: (ApduError, "last command of the chain expected"),
    0x6884: (FunctionNotSupportedError, "command chaining not supported"),
    0x6982: (SecurityStatusError, "security status not satisfied"),
    0x6983: (AuthBlockedError, "authentication method blocked"),
    0x6984: (ReferenceDataUnusableError, "reference data not usable"),
    0x6985: (ConditionsNotSatisfiedError, "conditions of use not satisfied"),
    0x6986: (ConditionsNotSatisfiedError, "command not allowed (no current EF)"),
    0x6A80: (IncorrectParametersError, "incorrect parameters in the command data field"),
    0x6A81: (FunctionNotSupportedError, "function not supported"),
    0x6A82: (NotFoundError, "file or application not found"),
    0x6A84: (NotEnoughMemoryError, "not enough memory space in the file"),
    0x6A86: (IncorrectParametersError, "incorrect parameters P1-P2"),
    0x6A88: (ReferenceNotFoundError, "referenced data or reference data not found"),
    0x6B00: (IncorrectParametersError, "wrong parameters P1-P2"),
    0x6D00: (InsNotSupportedError, "instruction code not supported or invalid"),
    0x6E00: (ClaNotSupportedError, "class not supported"),
    0x6F00: (CommandAbortedError, "no precise diagnosis"),
}


def sw_meaning(sw: int) -> str:
    """Human-readable ISO 7816-4 meaning of a status word."""
    if sw == SW_OK:
        return "success"
    if sw in _SW_TABLE:
        return _SW_TABLE[sw][1]
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        return f"{sw2 or 256} more response bytes available"
    if sw1 == 0x6C:
        return f"wrong Le, {sw2 or 256} bytes available"
    if sw & 0xFFF0 == 0x63C0:
        return f"verification failed, {sw2 & 0x0F} tries left"
    if sw1 == 0x62:
        return "warning, state of non-volatile memory unchanged"
    if sw1 == 0x63:
        return "warning, state of non-volatile memory changed"
    if sw1 == 0x64:
        return "execution error, state of non-volatile memory unchanged"
    if sw1 == 0x65:
        return "execution error, state of non-volatile memory changed"
    if sw1 in (0x67, 0x68, 0x69, 0x6A):
        return "checking error"
    return "unknown status word"


def error_for_sw(sw: int) -> ApduError:
    """The exception for a non-9000 status word (not raised, returned)."""
    if sw & 0xFFF0 == 0x63C0:
        return WrongPinError(sw & 0x0F, sw)
    if sw == 0x6300:
        return WrongPinError(None, sw)
    entry = _SW_TABLE.get(sw)
    if entry is not None:
        return entry[0](sw)
    return ApduError(sw)
