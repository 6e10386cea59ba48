"""What a card or reader failure means to a Cryptoki caller: one table for every token.

The APDU layer turns status words into exceptions (:mod:`cardki.apdu.errors`), the
slot layer turns PC/SC failures into :class:`cardki.transport.SlotError`s; here each
of them becomes the :class:`cardki.errors.CryptokiError` the engine returns. A
token's driver decides what an answer means for its applet before it gets here
(PIV: a 6982 with the PIN still verified is a touch that timed out; OpenPGP: 6600
is :class:`~cardki.apdu.TouchTimeoutError`), so the mapping itself is the same for
every applet. Messages name status words and their meaning, never command data.
"""

from __future__ import annotations

from cardki import errors
from cardki.apdu import (
    ApduError,
    AuthBlockedError,
    SecurityStatusError,
    TerminatedError,
    TouchTimeoutError,
    WrongPinError,
)
from cardki.apdu.errors import (
    ConditionsNotSatisfiedError,
    IncorrectParametersError,
    NotEnoughMemoryError,
    ReferenceDataUnusableError,
    WrongLengthError,
)
from cardki.transport import CardRemovedError, SlotError


def card_error(exc: Exception) -> errors.CryptokiError:
    """A card/slot exception as the Cryptoki error the engine returns (the one table;
    the first matching row wins)."""
    if isinstance(exc, errors.CryptokiError):
        return exc
    if isinstance(exc, CardRemovedError):
        return errors.DeviceRemoved()
    if isinstance(exc, SlotError):
        return errors.DeviceError(str(exc))
    if isinstance(exc, WrongPinError):
        return errors.PinIncorrect(exc.tries_left)
    if isinstance(exc, AuthBlockedError):
        return errors.PinLocked()
    if isinstance(exc, SecurityStatusError):
        return errors.UserNotLoggedIn()
    if isinstance(exc, TouchTimeoutError):
        return errors.FunctionCanceled("the key's touch was not confirmed")
    if isinstance(exc, NotEnoughMemoryError):
        return errors.DeviceMemory()
    if isinstance(exc, (IncorrectParametersError, WrongLengthError)):
        return errors.DataInvalid(str(exc))
    if isinstance(exc, (ConditionsNotSatisfiedError, ReferenceDataUnusableError)):
        return errors.FunctionFailed(str(exc))
    if isinstance(exc, TerminatedError):
        return errors.DeviceError("the card's application is terminated (a factory reset brings it back)")
    if isinstance(exc, (ApduError, ValueError, KeyError)):
        return errors.DeviceError(str(exc))
    return errors.GeneralError(str(exc))


__all__ = ["card_error"]
