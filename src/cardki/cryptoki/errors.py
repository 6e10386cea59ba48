"""One exception class per CKR_ code, built from one table.

Every failure inside cardki that reaches a Cryptoki caller is a
:class:`CryptokiError` whose ``.rv`` is the spec's CKR_ value; the C ABI returns
exactly that number. Class names are the CKR_ names in CamelCase
(``CKR_PIN_INCORRECT`` -> :class:`PinIncorrect`), so ``except PinIncorrect``
reads like the spec. Messages never carry a PIN, a key or a management key.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

from .constants import CKR


class CryptokiError(Exception):
    """A Cryptoki call failed; ``rv`` is the CKR_ code the spec assigns."""

    rv: int = CKR.GENERAL_ERROR

    def __init__(self, message: Optional[str] = None) -> None:
        super().__init__(message or self.__doc__ or CKR(self.rv).name)

    @property
    def rv_name(self) -> str:
        """The spec's name of the code, e.g. ``CKR_PIN_INCORRECT``."""
        try:
            return "CKR_" + CKR(self.rv).name
        except ValueError:
            return f"CKR_0x{self.rv:08X}"

    def __str__(self) -> str:
        return f"{self.rv_name}: {self.args[0]}"


# CKR code -> the meaning the spec gives it (becomes the class docstring).
_MEANINGS: Dict[CKR, str] = {
    CKR.CANCEL: "The application's notify callback asked to cancel.",
    CKR.HOST_MEMORY: "The host ran out of memory.",
    CKR.SLOT_ID_INVALID: "No slot with this ID.",
    CKR.GENERAL_ERROR: "An unrecoverable error occurred.",
    CKR.FUNCTION_FAILED: "The function could not be performed.",
    CKR.ARGUMENTS_BAD: "The arguments passed are inappropriate.",
    CKR.NO_EVENT: "No slot event is pending (C_WaitForSlotEvent with CKF_DONT_BLOCK).",
    CKR.NEED_TO_CREATE_THREADS: "The library needs to create threads but was told it may not.",
    CKR.CANT_LOCK: "The locking the application asked for cannot be provided.",
    CKR.ATTRIBUTE_READ_ONLY: "The attribute cannot be set or modified.",
    CKR.ATTRIBUTE_SENSITIVE: "The attribute's value is sensitive and cannot be revealed.",
    CKR.ATTRIBUTE_TYPE_INVALID: "The attribute type is not valid for this object.",
    CKR.ATTRIBUTE_VALUE_INVALID: "The attribute value is not valid.",
    CKR.ACTION_PROHIBITED: "The action is prohibited by policy.",
    CKR.DATA_INVALID: "The input data is not valid for this operation.",
    CKR.DATA_LEN_RANGE: "The input data has the wrong length.",
    CKR.DEVICE_ERROR: "The card or reader reported an error.",
    CKR.DEVICE_MEMORY: "The token has not enough memory.",
    CKR.DEVICE_REMOVED: "The token was removed during the function.",
    CKR.ENCRYPTED_DATA_INVALID: "The ciphertext is not valid.",
    CKR.ENCRYPTED_DATA_LEN_RANGE: "The ciphertext has the wrong length.",
    CKR.AEAD_DECRYPT_FAILED: "AEAD decryption failed.",
    CKR.FUNCTION_CANCELED: "The function was canceled.",
    CKR.FUNCTION_NOT_PARALLEL: "No function executes in parallel in this session.",
    CKR.FUNCTION_NOT_SUPPORTED: "The function is not supported by this library.",
    CKR.KEY_HANDLE_INVALID: "The key handle is not valid.",
    CKR.KEY_SIZE_RANGE: "The key size is outside the supported range.",
    CKR.KEY_TYPE_INCONSISTENT: "The key type does not fit the mechanism.",
    CKR.KEY_NOT_NEEDED: "A key was given where none is needed.",
    CKR.KEY_CHANGED: "The key changed.",
    CKR.KEY_NEEDED: "A key is needed.",
    CKR.KEY_INDIGESTIBLE: "The key cannot be digested.",
    CKR.KEY_FUNCTION_NOT_PERMITTED: "The key's attributes do not allow this operation.",
    CKR.KEY_NOT_WRAPPABLE: "The key cannot be wrapped.",
    CKR.KEY_UNEXTRACTABLE: "The key is not extractable.",
    CKR.MECHANISM_INVALID: "The mechanism is not supported for this operation or token.",
    CKR.MECHANISM_PARAM_INVALID: "The mechanism parameter is not valid.",
    CKR.OBJECT_HANDLE_INVALID: "The object handle is not valid.",
    CKR.OPERATION_ACTIVE: "An operation of this kind is already active in the session.",
    CKR.OPERATION_NOT_INITIALIZED: "No operation of this kind is active in the session.",
    CKR.PIN_INCORRECT: "The PIN is incorrect.",
    CKR.PIN_INVALID: "The PIN contains characters that are not allowed.",
    CKR.PIN_LEN_RANGE: "The PIN is too long or too short.",
    CKR.PIN_EXPIRED: "The PIN has expired.",
    CKR.PIN_LOCKED: "The PIN is locked (blocked).",
    CKR.SESSION_CLOSED: "The session was closed during the function.",
    CKR.SESSION_COUNT: "Too many sessions are open.",
    CKR.SESSION_HANDLE_INVALID: "The session handle is not valid.",
    CKR.SESSION_PARALLEL_NOT_SUPPORTED: "Parallel sessions are not supported (CKF_SERIAL_SESSION missing).",
    CKR.SESSION_READ_ONLY: "The session is read-only.",
    CKR.SESSION_EXISTS: "A session with the token exists.",
    CKR.SESSION_READ_ONLY_EXISTS: "A read-only session exists, so the SO cannot log in.",
    CKR.SESSION_READ_WRITE_SO_EXISTS: "A read/write SO session exists, so a read-only session cannot be opened.",
    CKR.SIGNATURE_INVALID: "The signature is invalid.",
    CKR.SIGNATURE_LEN_RANGE: "The signature has the wrong length.",
    CKR.TEMPLATE_INCOMPLETE: "The template lacks attributes needed to create the object.",
    CKR.TEMPLATE_INCONSISTENT: "The template's attributes conflict.",
    CKR.TOKEN_NOT_PRESENT: "No token is present in the slot.",
    CKR.TOKEN_NOT_RECOGNIZED: "The token in the slot is not recognized.",
    CKR.TOKEN_WRITE_PROTECTED: "The token is write-protected.",
    CKR.UNWRAPPING_KEY_HANDLE_INVALID: "The unwrapping key handle is not valid.",
    CKR.UNWRAPPING_KEY_SIZE_RANGE: "The unwrapping key size is out of range.",
    CKR.UNWRAPPING_KEY_TYPE_INCONSISTENT: "The unwrapping key type does not fit the mechanism.",
    CKR.USER_ALREADY_LOGGED_IN: "This user is already logged in.",
    CKR.USER_NOT_LOGGED_IN: "The operation needs a logged-in user.",
    CKR.USER_PIN_NOT_INITIALIZED: "The user PIN is not initialized.",
    CKR.USER_TYPE_INVALID: "The user type is not valid.",
    CKR.USER_ANOTHER_ALREADY_LOGGED_IN: "Another user is already logged in.",
    CKR.USER_TOO_MANY_TYPES: "Too many distinct users are logged in.",
    CKR.WRAPPED_KEY_INVALID: "The wrapped key is not valid.",
    CKR.WRAPPED_KEY_LEN_RANGE: "The wrapped key has the wrong length.",
    CKR.WRAPPING_KEY_HANDLE_INVALID: "The wrapping key handle is not valid.",
    CKR.WRAPPING_KEY_SIZE_RANGE: "The wrapping key size is out of range.",
    CKR.WRAPPING_KEY_TYPE_INCONSISTENT: "The wrapping key type does not fit the mechanism.",
    CKR.RANDOM_SEED_NOT_SUPPORTED: "The token's generator does not accept seed material.",
    CKR.RANDOM_NO_RNG: "The token has no random number generator.",
    CKR.DOMAIN_PARAMS_INVALID: "The domain parameters are invalid or unsupported.",
    CKR.CURVE_NOT_SUPPORTED: "The elliptic curve is not supported.",
    CKR.BUFFER_TOO_SMALL: "The output buffer is too small.",
    CKR.SAVED_STATE_INVALID: "The saved state is invalid.",
    CKR.INFORMATION_SENSITIVE: "The information is sensitive.",
    CKR.STATE_UNSAVEABLE: "The state cannot be saved.",
    CKR.CRYPTOKI_NOT_INITIALIZED: "C_Initialize has not been called.",
    CKR.CRYPTOKI_ALREADY_INITIALIZED: "C_Initialize was already called.",
    CKR.MUTEX_BAD: "The mutex is bad.",
    CKR.MUTEX_NOT_LOCKED: "The mutex is not locked.",
    CKR.NEW_PIN_MODE: "A new PIN is needed.",
    CKR.NEXT_OTP: "The next OTP is needed.",
    CKR.EXCEEDED_MAX_ITERATIONS: "The maximum number of iterations was exceeded.",
    CKR.FIPS_SELF_TEST_FAILED: "A FIPS self-test failed.",
    CKR.LIBRARY_LOAD_FAILED: "A library could not be loaded.",
    CKR.PIN_TOO_WEAK: "The PIN is too weak.",
    CKR.PUBLIC_KEY_INVALID: "The public key is invalid.",
    CKR.FUNCTION_REJECTED: "The function was rejected.",
    CKR.TOKEN_RESOURCE_EXCEEDED: "The token's resources were exceeded.",
    CKR.OPERATION_CANCEL_FAILED: "The operation could not be canceled.",
}


def _class_name(code: CKR) -> str:
    return "".join(part.capitalize() for part in code.name.split("_"))


_BY_RV: Dict[int, Type[CryptokiError]] = {}
for _code, _meaning in _MEANINGS.items():
    _cls = type(_class_name(_code), (CryptokiError,), {"rv": int(_code), "__doc__": _meaning,
                                                        "__module__": __name__})
    _BY_RV[int(_code)] = _cls
    globals()[_cls.__name__] = _cls


class PinIncorrect(_BY_RV[CKR.PIN_INCORRECT]):  # type: ignore[misc, valid-type]
    """The PIN is incorrect; ``tries_left`` says how many attempts the card still allows."""

    def __init__(self, tries_left: Optional[int] = None, message: Optional[str] = None) -> None:
        self.tries_left = tries_left
        if message is None:
            message = "The PIN is incorrect" + (
                f"; {tries_left} tries left before it is locked" if tries_left is not None else "")
        super().__init__(message)


class BufferTooSmall(_BY_RV[CKR.BUFFER_TOO_SMALL]):  # type: ignore[misc, valid-type]
    """The output buffer is too small; ``required`` is the length the output needs.

    The operation stays active, so the caller can retry with a larger buffer."""

    def __init__(self, required: int, message: Optional[str] = None) -> None:
        self.required = required
        super().__init__(message or f"The output needs {required} bytes")


_BY_RV[CKR.PIN_INCORRECT] = PinIncorrect
_BY_RV[CKR.BUFFER_TOO_SMALL] = BufferTooSmall


def error_class(rv: int) -> Type[CryptokiError]:
    """The exception class for a CKR_ code (a generic one for unknown/vendor codes)."""
    cls = _BY_RV.get(int(rv))
    if cls is not None:
        return cls
    return type(f"VendorError_{int(rv):08X}", (CryptokiError,), {"rv": int(rv)})


def raise_for_rv(rv: int, message: Optional[str] = None) -> None:
    """Raise the exception for ``rv`` unless it is CKR_OK."""
    if rv != CKR.OK:
        raise error_class(rv)(message)


__all__ = ["CryptokiError", "PinIncorrect", "BufferTooSmall", "error_class", "raise_for_rv"] + [
    cls.__name__ for cls in _BY_RV.values() if cls.__name__ not in ("PinIncorrect", "BufferTooSmall")
]
