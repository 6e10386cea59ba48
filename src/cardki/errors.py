"""One exception class per CKR_ code, written out so that type checkers and IDEs see them.

Every failure inside cardki that reaches a Cryptoki caller is a
:class:`CryptokiError` whose ``.rv`` is the spec's CKR_ value; the C ABI returns
exactly that number. Class names are the CKR_ names in CamelCase
(``CKR_PIN_INCORRECT`` -> :class:`PinIncorrect`), so ``except PinIncorrect``
reads like the spec. Messages never carry a PIN, a key or a management key.
"""

from __future__ import annotations

from typing import Any, Dict, List, Type

from .constants import CKR


class CryptokiError(Exception):
    """A Cryptoki call failed; ``rv`` is the CKR_ code the spec assigns."""

    rv: int = CKR.GENERAL_ERROR
    partial: Dict[int, Any] | None = None
    """For C_GetAttributeValue's errors (ATTRIBUTE_SENSITIVE, ATTRIBUTE_TYPE_INVALID) in
    the Python API: the values that could be read."""

    def __init__(self, message: str | None = None) -> None:
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


class Cancel(CryptokiError):
    """The application's notify callback asked to cancel."""

    rv = CKR.CANCEL


class HostMemory(CryptokiError):
    """The host ran out of memory."""

    rv = CKR.HOST_MEMORY


class SlotIdInvalid(CryptokiError):
    """No slot with this ID."""

    rv = CKR.SLOT_ID_INVALID


class GeneralError(CryptokiError):
    """An unrecoverable error occurred."""

    rv = CKR.GENERAL_ERROR


class FunctionFailed(CryptokiError):
    """The function could not be performed."""

    rv = CKR.FUNCTION_FAILED


class ArgumentsBad(CryptokiError):
    """The arguments passed are inappropriate."""

    rv = CKR.ARGUMENTS_BAD


class NoEvent(CryptokiError):
    """No slot event is pending (C_WaitForSlotEvent with CKF_DONT_BLOCK)."""

    rv = CKR.NO_EVENT


class NeedToCreateThreads(CryptokiError):
    """The library needs to create threads but was told it may not."""

    rv = CKR.NEED_TO_CREATE_THREADS


class CantLock(CryptokiError):
    """The locking the application asked for cannot be provided."""

    rv = CKR.CANT_LOCK


class AttributeReadOnly(CryptokiError):
    """The attribute cannot be set or modified."""

    rv = CKR.ATTRIBUTE_READ_ONLY


class AttributeSensitive(CryptokiError):
    """The attribute's value is sensitive and cannot be revealed."""

    rv = CKR.ATTRIBUTE_SENSITIVE


class AttributeTypeInvalid(CryptokiError):
    """The attribute type is not valid for this object."""

    rv = CKR.ATTRIBUTE_TYPE_INVALID


class AttributeValueInvalid(CryptokiError):
    """The attribute value is not valid."""

    rv = CKR.ATTRIBUTE_VALUE_INVALID


class ActionProhibited(CryptokiError):
    """The action is prohibited by policy."""

    rv = CKR.ACTION_PROHIBITED


class DataInvalid(CryptokiError):
    """The input data is not valid for this operation."""

    rv = CKR.DATA_INVALID


class DataLenRange(CryptokiError):
    """The input data has the wrong length."""

    rv = CKR.DATA_LEN_RANGE


class DeviceError(CryptokiError):
    """The card or reader reported an error."""

    rv = CKR.DEVICE_ERROR


class DeviceMemory(CryptokiError):
    """The token has not enough memory."""

    rv = CKR.DEVICE_MEMORY


class DeviceRemoved(CryptokiError):
    """The token was removed during the function."""

    rv = CKR.DEVICE_REMOVED


class EncryptedDataInvalid(CryptokiError):
    """The ciphertext is not valid."""

    rv = CKR.ENCRYPTED_DATA_INVALID


class EncryptedDataLenRange(CryptokiError):
    """The ciphertext has the wrong length."""

    rv = CKR.ENCRYPTED_DATA_LEN_RANGE


class AeadDecryptFailed(CryptokiError):
    """AEAD decryption failed."""

    rv = CKR.AEAD_DECRYPT_FAILED


class FunctionCanceled(CryptokiError):
    """The function was canceled."""

    rv = CKR.FUNCTION_CANCELED


class FunctionNotParallel(CryptokiError):
    """No function executes in parallel in this session."""

    rv = CKR.FUNCTION_NOT_PARALLEL


class FunctionNotSupported(CryptokiError):
    """The function is not supported by this library."""

    rv = CKR.FUNCTION_NOT_SUPPORTED


class KeyHandleInvalid(CryptokiError):
    """The key handle is not valid."""

    rv = CKR.KEY_HANDLE_INVALID


class KeySizeRange(CryptokiError):
    """The key size is outside the supported range."""

    rv = CKR.KEY_SIZE_RANGE


class KeyTypeInconsistent(CryptokiError):
    """The key type does not fit the mechanism."""

    rv = CKR.KEY_TYPE_INCONSISTENT


class KeyNotNeeded(CryptokiError):
    """A key was given where none is needed."""

    rv = CKR.KEY_NOT_NEEDED


class KeyChanged(CryptokiError):
    """The key changed."""

    rv = CKR.KEY_CHANGED


class KeyNeeded(CryptokiError):
    """A key is needed."""

    rv = CKR.KEY_NEEDED


class KeyIndigestible(CryptokiError):
    """The key cannot be digested."""

    rv = CKR.KEY_INDIGESTIBLE


class KeyFunctionNotPermitted(CryptokiError):
    """The key's attributes do not allow this operation."""

    rv = CKR.KEY_FUNCTION_NOT_PERMITTED


class KeyNotWrappable(CryptokiError):
    """The key cannot be wrapped."""

    rv = CKR.KEY_NOT_WRAPPABLE


class KeyUnextractable(CryptokiError):
    """The key is not extractable."""

    rv = CKR.KEY_UNEXTRACTABLE


class MechanismInvalid(CryptokiError):
    """The mechanism is not supported for this operation or token."""

    rv = CKR.MECHANISM_INVALID


class MechanismParamInvalid(CryptokiError):
    """The mechanism parameter is not valid."""

    rv = CKR.MECHANISM_PARAM_INVALID


class ObjectHandleInvalid(CryptokiError):
    """The object handle is not valid."""

    rv = CKR.OBJECT_HANDLE_INVALID


class OperationActive(CryptokiError):
    """An operation of this kind is already active in the session."""

    rv = CKR.OPERATION_ACTIVE


class OperationNotInitialized(CryptokiError):
    """No operation of this kind is active in the session."""

    rv = CKR.OPERATION_NOT_INITIALIZED


class PinIncorrect(CryptokiError):
    """The PIN is incorrect; ``tries_left`` says how many attempts the card still allows."""

    rv = CKR.PIN_INCORRECT

    def __init__(self, tries_left: int | None = None, message: str | None = None) -> None:
        self.tries_left = tries_left
        if message is None:
            message = "The PIN is incorrect" + (
                f"; {tries_left} tries left before it is locked" if tries_left is not None else "")
        super().__init__(message)


class PinInvalid(CryptokiError):
    """The PIN contains characters that are not allowed."""

    rv = CKR.PIN_INVALID


class PinLenRange(CryptokiError):
    """The PIN is too long or too short."""

    rv = CKR.PIN_LEN_RANGE


class PinExpired(CryptokiError):
    """The PIN has expired."""

    rv = CKR.PIN_EXPIRED


class PinLocked(CryptokiError):
    """The PIN is locked (blocked)."""

    rv = CKR.PIN_LOCKED


class SessionClosed(CryptokiError):
    """The session was closed during the function."""

    rv = CKR.SESSION_CLOSED


class SessionCount(CryptokiError):
    """Too many sessions are open."""

    rv = CKR.SESSION_COUNT


class SessionHandleInvalid(CryptokiError):
    """The session handle is not valid."""

    rv = CKR.SESSION_HANDLE_INVALID


class SessionParallelNotSupported(CryptokiError):
    """Parallel sessions are not supported (CKF_SERIAL_SESSION missing)."""

    rv = CKR.SESSION_PARALLEL_NOT_SUPPORTED


class SessionReadOnly(CryptokiError):
    """The session is read-only."""

    rv = CKR.SESSION_READ_ONLY


class SessionExists(CryptokiError):
    """A session with the token exists."""

    rv = CKR.SESSION_EXISTS


class SessionReadOnlyExists(CryptokiError):
    """A read-only session exists, so the SO cannot log in."""

    rv = CKR.SESSION_READ_ONLY_EXISTS


class SessionReadWriteSoExists(CryptokiError):
    """A read/write SO session exists, so a read-only session cannot be opened."""

    rv = CKR.SESSION_READ_WRITE_SO_EXISTS


class SignatureInvalid(CryptokiError):
    """The signature is invalid."""

    rv = CKR.SIGNATURE_INVALID


class SignatureLenRange(CryptokiError):
    """The signature has the wrong length."""

    rv = CKR.SIGNATURE_LEN_RANGE


class TemplateIncomplete(CryptokiError):
    """The template lacks attributes needed to create the object."""

    rv = CKR.TEMPLATE_INCOMPLETE


class TemplateInconsistent(CryptokiError):
    """The template's attributes conflict."""

    rv = CKR.TEMPLATE_INCONSISTENT


class TokenNotPresent(CryptokiError):
    """No token is present in the slot."""

    rv = CKR.TOKEN_NOT_PRESENT


class TokenNotRecognized(CryptokiError):
    """The token in the slot is not recognized."""

    rv = CKR.TOKEN_NOT_RECOGNIZED


class TokenWriteProtected(CryptokiError):
    """The token is write-protected."""

    rv = CKR.TOKEN_WRITE_PROTECTED


class UnwrappingKeyHandleInvalid(CryptokiError):
    """The unwrapping key handle is not valid."""

    rv = CKR.UNWRAPPING_KEY_HANDLE_INVALID


class UnwrappingKeySizeRange(CryptokiError):
    """The unwrapping key size is out of range."""

    rv = CKR.UNWRAPPING_KEY_SIZE_RANGE


class UnwrappingKeyTypeInconsistent(CryptokiError):
    """The unwrapping key type does not fit the mechanism."""

    rv = CKR.UNWRAPPING_KEY_TYPE_INCONSISTENT


class UserAlreadyLoggedIn(CryptokiError):
    """This user is already logged in."""

    rv = CKR.USER_ALREADY_LOGGED_IN


class UserNotLoggedIn(CryptokiError):
    """The operation needs a logged-in user."""

    rv = CKR.USER_NOT_LOGGED_IN


class UserPinNotInitialized(CryptokiError):
    """The user PIN is not initialized."""

    rv = CKR.USER_PIN_NOT_INITIALIZED


class UserTypeInvalid(CryptokiError):
    """The user type is not valid."""

    rv = CKR.USER_TYPE_INVALID


class UserAnotherAlreadyLoggedIn(CryptokiError):
    """Another user is already logged in."""

    rv = CKR.USER_ANOTHER_ALREADY_LOGGED_IN


class UserTooManyTypes(CryptokiError):
    """Too many distinct users are logged in."""

    rv = CKR.USER_TOO_MANY_TYPES


class WrappedKeyInvalid(CryptokiError):
    """The wrapped key is not valid."""

    rv = CKR.WRAPPED_KEY_INVALID


class WrappedKeyLenRange(CryptokiError):
    """The wrapped key has the wrong length."""

    rv = CKR.WRAPPED_KEY_LEN_RANGE


class WrappingKeyHandleInvalid(CryptokiError):
    """The wrapping key handle is not valid."""

    rv = CKR.WRAPPING_KEY_HANDLE_INVALID


class WrappingKeySizeRange(CryptokiError):
    """The wrapping key size is out of range."""

    rv = CKR.WRAPPING_KEY_SIZE_RANGE


class WrappingKeyTypeInconsistent(CryptokiError):
    """The wrapping key type does not fit the mechanism."""

    rv = CKR.WRAPPING_KEY_TYPE_INCONSISTENT


class RandomSeedNotSupported(CryptokiError):
    """The token's generator does not accept seed material."""

    rv = CKR.RANDOM_SEED_NOT_SUPPORTED


class RandomNoRng(CryptokiError):
    """The token has no random number generator."""

    rv = CKR.RANDOM_NO_RNG


class DomainParamsInvalid(CryptokiError):
    """The domain parameters are invalid or unsupported."""

    rv = CKR.DOMAIN_PARAMS_INVALID


class CurveNotSupported(CryptokiError):
    """The elliptic curve is not supported."""

    rv = CKR.CURVE_NOT_SUPPORTED


class BufferTooSmall(CryptokiError):
    """The output buffer is too small; ``required`` is the length the output needs.

    The operation stays active, so the caller can retry with a larger buffer."""

    rv = CKR.BUFFER_TOO_SMALL

    def __init__(self, required: int, message: str | None = None) -> None:
        self.required = required
        super().__init__(message or f"The output needs {required} bytes")


class SavedStateInvalid(CryptokiError):
    """The saved state is invalid."""

    rv = CKR.SAVED_STATE_INVALID


class InformationSensitive(CryptokiError):
    """The information is sensitive."""

    rv = CKR.INFORMATION_SENSITIVE


class StateUnsaveable(CryptokiError):
    """The state cannot be saved."""

    rv = CKR.STATE_UNSAVEABLE


class CryptokiNotInitialized(CryptokiError):
    """C_Initialize has not been called."""

    rv = CKR.CRYPTOKI_NOT_INITIALIZED


class CryptokiAlreadyInitialized(CryptokiError):
    """C_Initialize was already called."""

    rv = CKR.CRYPTOKI_ALREADY_INITIALIZED


class MutexBad(CryptokiError):
    """The mutex is bad."""

    rv = CKR.MUTEX_BAD


class MutexNotLocked(CryptokiError):
    """The mutex is not locked."""

    rv = CKR.MUTEX_NOT_LOCKED


class NewPinMode(CryptokiError):
    """A new PIN is needed."""

    rv = CKR.NEW_PIN_MODE


class NextOtp(CryptokiError):
    """The next OTP is needed."""

    rv = CKR.NEXT_OTP


class ExceededMaxIterations(CryptokiError):
    """The maximum number of iterations was exceeded."""

    rv = CKR.EXCEEDED_MAX_ITERATIONS


class FipsSelfTestFailed(CryptokiError):
    """A FIPS self-test failed."""

    rv = CKR.FIPS_SELF_TEST_FAILED


class LibraryLoadFailed(CryptokiError):
    """A library could not be loaded."""

    rv = CKR.LIBRARY_LOAD_FAILED


class PinTooWeak(CryptokiError):
    """The PIN is too weak."""

    rv = CKR.PIN_TOO_WEAK


class PublicKeyInvalid(CryptokiError):
    """The public key is invalid."""

    rv = CKR.PUBLIC_KEY_INVALID


class FunctionRejected(CryptokiError):
    """The function was rejected."""

    rv = CKR.FUNCTION_REJECTED


class TokenResourceExceeded(CryptokiError):
    """The token's resources were exceeded."""

    rv = CKR.TOKEN_RESOURCE_EXCEEDED


class OperationCancelFailed(CryptokiError):
    """The operation could not be canceled."""

    rv = CKR.OPERATION_CANCEL_FAILED


def _all_error_classes() -> List[Type[CryptokiError]]:
    found: List[Type[CryptokiError]] = []
    pending = list(CryptokiError.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls.__module__ == __name__:
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


#: CKR code -> its class (every class of this module; tests/unit/test_errors_table.py checks
#: that each CKR_ code but OK and VENDOR_DEFINED has exactly one, named after it).
_BY_RV: Dict[int, Type[CryptokiError]] = {int(cls.rv): cls for cls in _all_error_classes()}


def error_class(rv: int) -> Type[CryptokiError]:
    """The exception class for a CKR_ code (a generic one for unknown/vendor codes)."""
    cls = _BY_RV.get(int(rv))
    if cls is not None:
        return cls
    return type(f"VendorError_{int(rv):08X}", (CryptokiError,), {"rv": int(rv)})


def raise_for_rv(rv: int, message: str | None = None) -> None:
    """Raise the exception for ``rv`` unless it is CKR_OK."""
    if rv != CKR.OK:
        raise error_class(rv)(message)


__all__ = [
    "CryptokiError", "error_class", "raise_for_rv",
    "Cancel",
    "HostMemory",
    "SlotIdInvalid",
    "GeneralError",
    "FunctionFailed",
    "ArgumentsBad",
    "NoEvent",
    "NeedToCreateThreads",
    "CantLock",
    "AttributeReadOnly",
    "AttributeSensitive",
    "AttributeTypeInvalid",
    "AttributeValueInvalid",
    "ActionProhibited",
    "DataInvalid",
    "DataLenRange",
    "DeviceError",
    "DeviceMemory",
    "DeviceRemoved",
    "EncryptedDataInvalid",
    "EncryptedDataLenRange",
    "AeadDecryptFailed",
    "FunctionCanceled",
    "FunctionNotParallel",
    "FunctionNotSupported",
    "KeyHandleInvalid",
    "KeySizeRange",
    "KeyTypeInconsistent",
    "KeyNotNeeded",
    "KeyChanged",
    "KeyNeeded",
    "KeyIndigestible",
    "KeyFunctionNotPermitted",
    "KeyNotWrappable",
    "KeyUnextractable",
    "MechanismInvalid",
    "MechanismParamInvalid",
    "ObjectHandleInvalid",
    "OperationActive",
    "OperationNotInitialized",
    "PinIncorrect",
    "PinInvalid",
    "PinLenRange",
    "PinExpired",
    "PinLocked",
    "SessionClosed",
    "SessionCount",
    "SessionHandleInvalid",
    "SessionParallelNotSupported",
    "SessionReadOnly",
    "SessionExists",
    "SessionReadOnlyExists",
    "SessionReadWriteSoExists",
    "SignatureInvalid",
    "SignatureLenRange",
    "TemplateIncomplete",
    "TemplateInconsistent",
    "TokenNotPresent",
    "TokenNotRecognized",
    "TokenWriteProtected",
    "UnwrappingKeyHandleInvalid",
    "UnwrappingKeySizeRange",
    "UnwrappingKeyTypeInconsistent",
    "UserAlreadyLoggedIn",
    "UserNotLoggedIn",
    "UserPinNotInitialized",
    "UserTypeInvalid",
    "UserAnotherAlreadyLoggedIn",
    "UserTooManyTypes",
    "WrappedKeyInvalid",
    "WrappedKeyLenRange",
    "WrappingKeyHandleInvalid",
    "WrappingKeySizeRange",
    "WrappingKeyTypeInconsistent",
    "RandomSeedNotSupported",
    "RandomNoRng",
    "DomainParamsInvalid",
    "CurveNotSupported",
    "BufferTooSmall",
    "SavedStateInvalid",
    "InformationSensitive",
    "StateUnsaveable",
    "CryptokiNotInitialized",
    "CryptokiAlreadyInitialized",
    "MutexBad",
    "MutexNotLocked",
    "NewPinMode",
    "NextOtp",
    "ExceededMaxIterations",
    "FipsSelfTestFailed",
    "LibraryLoadFailed",
    "PinTooWeak",
    "PublicKeyInvalid",
    "FunctionRejected",
    "TokenResourceExceeded",
    "OperationCancelFailed",
]
