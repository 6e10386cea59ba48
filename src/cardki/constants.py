"""Cryptoki constants as documented enums (PKCS#11 v2.40 and the v3.0 additions we use).

Every value is the spec's own number, so an ``int`` from a C caller and an enum
member compare equal; the engine accepts either wherever it takes one of these.
"""

from __future__ import annotations

import enum
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Any, Callable, TypeVar

_Class = TypeVar("_Class")


def built_as(kind: type) -> Callable[[_Class], _Class]:
    """The class below made an enum of ``kind`` the fast way CPython builds its own
    plain enums (http.HTTPStatus, re.RegexFlag): ``enum._simple_enum``, which skips
    the metaclass's per-member checks. Built the usual way, these 320 members took
    ~8 ms of every C module start, half of it that work. The result is the same
    enum (tests/unit/test_constants_enums.py checks each with the standard library's
    own ``_test_simple_enum``). A Python without the helper builds the class the usual
    way. The PIV constants are built so too (cardki.token.piv.constants)."""
    fast = getattr(enum, "_simple_enum", None)
    if fast is not None:
        def simple(namespace: Any) -> Any:
            made = fast(kind)(namespace)
            _members_in_place(made)
            return made
        return simple

    def usual(namespace: Any) -> Any:
        body: Any = type(kind).__prepare__(namespace.__name__, (kind,))
        for name, value in vars(namespace).items():
            if name not in ("__dict__", "__weakref__"):
                body[name] = value
        return type(kind)(namespace.__name__, (kind,), body)
    return usual


def _members_in_place(made: Any) -> None:
    """Each member in the class itself, where the metaclass puts it too: _simple_enum
    reaches every member through a descriptor, three times slower (0.45 against
    0.14 us), and the engine reaches members on every call. A name a base class has
    (int's ``real``, say) keeps its descriptor, as the metaclass does."""
    taken = set().union(*(vars(base) for base in made.__mro__[1:]))
    for name, member in made._member_map_.items():
        if name not in taken:
            type.__setattr__(made, name, member)


if TYPE_CHECKING:  # what the checker sees: the enums they are
    IntEnumBody = IntEnum
    IntFlagBody = IntFlag
else:  # what is built: plain classes that built_as turns into those enums
    IntEnumBody = IntFlagBody = object

#: ``CK_UNAVAILABLE_INFORMATION``: ~0 as a 64-bit CK_ULONG (the only ABI we build).
CK_UNAVAILABLE_INFORMATION = 0xFFFFFFFFFFFFFFFF
#: ``CK_EFFECTIVELY_INFINITE`` for session counts.
CK_EFFECTIVELY_INFINITE = 0
#: ``CK_INVALID_HANDLE``: no object or session has handle 0.
CK_INVALID_HANDLE = 0
#: Cryptoki version this module implements (C_GetInfo, CK_FUNCTION_LIST).
CRYPTOKI_VERSION = (2, 40)
#: Cryptoki version of the 3.0 interface (C_GetInterface).
CRYPTOKI_VERSION_3 = (3, 0)


@built_as(IntEnum)
class CKR(IntEnumBody):
    """Return values (``CK_RV``)."""

    OK = 0x0
    CANCEL = 0x1
    HOST_MEMORY = 0x2
    SLOT_ID_INVALID = 0x3
    GENERAL_ERROR = 0x5
    FUNCTION_FAILED = 0x6
    ARGUMENTS_BAD = 0x7
    NO_EVENT = 0x8
    NEED_TO_CREATE_THREADS = 0x9
    CANT_LOCK = 0xA
    ATTRIBUTE_READ_ONLY = 0x10
    ATTRIBUTE_SENSITIVE = 0x11
    ATTRIBUTE_TYPE_INVALID = 0x12
    ATTRIBUTE_VALUE_INVALID = 0x13
    ACTION_PROHIBITED = 0x1B
    DATA_INVALID = 0x20
    DATA_LEN_RANGE = 0x21
    DEVICE_ERROR = 0x30
    DEVICE_MEMORY = 0x31
    DEVICE_REMOVED = 0x32
    ENCRYPTED_DATA_INVALID = 0x40
    ENCRYPTED_DATA_LEN_RANGE = 0x41
    AEAD_DECRYPT_FAILED = 0x42
    FUNCTION_CANCELED = 0x50
    FUNCTION_NOT_PARALLEL = 0x51
    FUNCTION_NOT_SUPPORTED = 0x54
    KEY_HANDLE_INVALID = 0x60
    KEY_SIZE_RANGE = 0x62
    KEY_TYPE_INCONSISTENT = 0x63
    KEY_NOT_NEEDED = 0x64
    KEY_CHANGED = 0x65
    KEY_NEEDED = 0x66
    KEY_INDIGESTIBLE = 0x67
    KEY_FUNCTION_NOT_PERMITTED = 0x68
    KEY_NOT_WRAPPABLE = 0x69
    KEY_UNEXTRACTABLE = 0x6A
    MECHANISM_INVALID = 0x70
    MECHANISM_PARAM_INVALID = 0x71
    OBJECT_HANDLE_INVALID = 0x82
    OPERATION_ACTIVE = 0x90
    OPERATION_NOT_INITIALIZED = 0x91
    PIN_INCORRECT = 0xA0
    PIN_INVALID = 0xA1
    PIN_LEN_RANGE = 0xA2
    PIN_EXPIRED = 0xA3
    PIN_LOCKED = 0xA4
    SESSION_CLOSED = 0xB0
    SESSION_COUNT = 0xB1
    SESSION_HANDLE_INVALID = 0xB3
    SESSION_PARALLEL_NOT_SUPPORTED = 0xB4
    SESSION_READ_ONLY = 0xB5
    SESSION_EXISTS = 0xB6
    SESSION_READ_ONLY_EXISTS = 0xB7
    SESSION_READ_WRITE_SO_EXISTS = 0xB8
    SIGNATURE_INVALID = 0xC0
    SIGNATURE_LEN_RANGE = 0xC1
    TEMPLATE_INCOMPLETE = 0xD0
    TEMPLATE_INCONSISTENT = 0xD1
    TOKEN_NOT_PRESENT = 0xE0
    TOKEN_NOT_RECOGNIZED = 0xE1
    TOKEN_WRITE_PROTECTED = 0xE2
    UNWRAPPING_KEY_HANDLE_INVALID = 0xF0
    UNWRAPPING_KEY_SIZE_RANGE = 0xF1
    UNWRAPPING_KEY_TYPE_INCONSISTENT = 0xF2
    USER_ALREADY_LOGGED_IN = 0x100
    USER_NOT_LOGGED_IN = 0x101
    USER_PIN_NOT_INITIALIZED = 0x102
    USER_TYPE_INVALID = 0x103
    USER_ANOTHER_ALREADY_LOGGED_IN = 0x104
    USER_TOO_MANY_TYPES = 0x105
    WRAPPED_KEY_INVALID = 0x110
    WRAPPED_KEY_LEN_RANGE = 0x112
    WRAPPING_KEY_HANDLE_INVALID = 0x113
    WRAPPING_KEY_SIZE_RANGE = 0x114
    WRAPPING_KEY_TYPE_INCONSISTENT = 0x115
    RANDOM_SEED_NOT_SUPPORTED = 0x120
    RANDOM_NO_RNG = 0x121
    DOMAIN_PARAMS_INVALID = 0x130
    CURVE_NOT_SUPPORTED = 0x140
    BUFFER_TOO_SMALL = 0x150
    SAVED_STATE_INVALID = 0x160
    INFORMATION_SENSITIVE = 0x170
    STATE_UNSAVEABLE = 0x180
    CRYPTOKI_NOT_INITIALIZED = 0x190
    CRYPTOKI_ALREADY_INITIALIZED = 0x191
    MUTEX_BAD = 0x1A0
    MUTEX_NOT_LOCKED = 0x1A1
    NEW_PIN_MODE = 0x1B0
    NEXT_OTP = 0x1B1
    EXCEEDED_MAX_ITERATIONS = 0x1B5
    FIPS_SELF_TEST_FAILED = 0x1B6
    LIBRARY_LOAD_FAILED = 0x1B7
    PIN_TOO_WEAK = 0x1B8
    PUBLIC_KEY_INVALID = 0x1B9
    FUNCTION_REJECTED = 0x200
    TOKEN_RESOURCE_EXCEEDED = 0x201
    OPERATION_CANCEL_FAILED = 0x202
    VENDOR_DEFINED = 0x80000000


@built_as(IntEnum)
class CKO(IntEnumBody):
    """Object classes (``CKA_CLASS`` values)."""

    DATA = 0x0
    CERTIFICATE = 0x1
    PUBLIC_KEY = 0x2
    PRIVATE_KEY = 0x3
    SECRET_KEY = 0x4
    HW_FEATURE = 0x5
    DOMAIN_PARAMETERS = 0x6
    MECHANISM = 0x7
    OTP_KEY = 0x8
    PROFILE = 0x9
    VENDOR_DEFINED = 0x80000000


@built_as(IntEnum)
class CKK(IntEnumBody):
    """Key types (``CKA_KEY_TYPE`` values)."""

    RSA = 0x0
    DSA = 0x1
    DH = 0x2
    EC = 0x3
    X9_42_DH = 0x4
    GENERIC_SECRET = 0x10
    DES = 0x13
    DES2 = 0x14
    DES3 = 0x15
    AES = 0x1F
    EC_EDWARDS = 0x40
    EC_MONTGOMERY = 0x41
    VENDOR_DEFINED = 0x80000000


@built_as(IntEnum)
class CKC(IntEnumBody):
    """Certificate types (``CKA_CERTIFICATE_TYPE`` values)."""

    X_509 = 0x0
    X_509_ATTR_CERT = 0x1
    WTLS = 0x2


@built_as(IntEnum)
class CKU(IntEnumBody):
    """User types for ``C_Login``."""

    SO = 0
    USER = 1
    CONTEXT_SPECIFIC = 2


@built_as(IntEnum)
class CKS(IntEnumBody):
    """Session states (``CK_SESSION_INFO.state``)."""

    RO_PUBLIC_SESSION = 0
    RO_USER_FUNCTIONS = 1
    RW_PUBLIC_SESSION = 2
    RW_USER_FUNCTIONS = 3
    RW_SO_FUNCTIONS = 4


@built_as(IntEnum)
class CKH(IntEnumBody):
    """Hardware feature types."""

    MONOTONIC_COUNTER = 1
    CLOCK = 2
    USER_INTERFACE = 3


@built_as(IntEnum)
class CKA(IntEnumBody):
    """Attribute types."""

    CLASS = 0x0
    TOKEN = 0x1
    PRIVATE = 0x2
    LABEL = 0x3
    UNIQUE_ID = 0x4
    APPLICATION = 0x10
    VALUE = 0x11
    OBJECT_ID = 0x12
    CERTIFICATE_TYPE = 0x80
    ISSUER = 0x81
    SERIAL_NUMBER = 0x82
    AC_ISSUER = 0x83
    OWNER = 0x84
    ATTR_TYPES = 0x85
    TRUSTED = 0x86
    CERTIFICATE_CATEGORY = 0x87
    JAVA_MIDP_SECURITY_DOMAIN = 0x88
    URL = 0x89
    HASH_OF_SUBJECT_PUBLIC_KEY = 0x8A
    HASH_OF_ISSUER_PUBLIC_KEY = 0x8B
    NAME_HASH_ALGORITHM = 0x8C
    CHECK_VALUE = 0x90
    KEY_TYPE = 0x100
    SUBJECT = 0x101
    ID = 0x102
    SENSITIVE = 0x103
    ENCRYPT = 0x104
    DECRYPT = 0x105
    WRAP = 0x106
    UNWRAP = 0x107
    SIGN = 0x108
    SIGN_RECOVER = 0x109
    VERIFY = 0x10A
    VERIFY_RECOVER = 0x10B
    DERIVE = 0x10C
    START_DATE = 0x110
    END_DATE = 0x111
    MODULUS = 0x120
    MODULUS_BITS = 0x121
    PUBLIC_EXPONENT = 0x122
    PRIVATE_EXPONENT = 0x123
    PRIME_1 = 0x124
    PRIME_2 = 0x125
    EXPONENT_1 = 0x126
    EXPONENT_2 = 0x127
    COEFFICIENT = 0x128
    PUBLIC_KEY_INFO = 0x129
    PRIME = 0x130
    SUBPRIME = 0x131
    BASE = 0x132
    PRIME_BITS = 0x133
    SUBPRIME_BITS = 0x134
    VALUE_BITS = 0x160
    VALUE_LEN = 0x161
    EXTRACTABLE = 0x162
    LOCAL = 0x163
    NEVER_EXTRACTABLE = 0x164
    ALWAYS_SENSITIVE = 0x165
    KEY_GEN_MECHANISM = 0x166
    MODIFIABLE = 0x170
    COPYABLE = 0x171
    DESTROYABLE = 0x172
    EC_PARAMS = 0x180
    EC_POINT = 0x181
    SECONDARY_AUTH = 0x200
    AUTH_PIN_FLAGS = 0x201
    ALWAYS_AUTHENTICATE = 0x202
    WRAP_WITH_TRUSTED = 0x210
    WRAP_TEMPLATE = 0x40000211
    UNWRAP_TEMPLATE = 0x40000212
    DERIVE_TEMPLATE = 0x40000213
    HW_FEATURE_TYPE = 0x300
    RESET_ON_INIT = 0x301
    HAS_RESET = 0x302
    MECHANISM_TYPE = 0x500
    ALLOWED_MECHANISMS = 0x40000600
    PROFILE_ID = 0x601
    VENDOR_DEFINED = 0x80000000
    # ykcs11's vendor attributes (yubico-piv-tool's pkcs11y.h: CKA_VENDOR_DEFINED +
    # 0x59554200 + 1 / + 2), reused so templates written for ykcs11 work unchanged.
    # A one-byte value (CK_BYTE), the card's policy: PIN 0 default, 1 never, 2 once,
    # 3 always; touch 0 default, 1 never, 2 always, 3 cached. On a PIV private key,
    # and in C_GenerateKeyPair / C_CreateObject private-key templates.
    YUBICO_TOUCH_POLICY = 0xD9554201
    YUBICO_PIN_POLICY = 0xD9554202


@built_as(IntEnum)
class CKM(IntEnumBody):
    """Mechanism types."""

    RSA_PKCS_KEY_PAIR_GEN = 0x0
    RSA_PKCS = 0x1
    RSA_9796 = 0x2
    RSA_X_509 = 0x3
    MD5_RSA_PKCS = 0x5
    SHA1_RSA_PKCS = 0x6
    RSA_PKCS_OAEP = 0x9
    RSA_PKCS_PSS = 0xD
    SHA1_RSA_PKCS_PSS = 0xE
    SHA256_RSA_PKCS = 0x40
    SHA384_RSA_PKCS = 0x41
    SHA512_RSA_PKCS = 0x42
    SHA256_RSA_PKCS_PSS = 0x43
    SHA384_RSA_PKCS_PSS = 0x44
    SHA512_RSA_PKCS_PSS = 0x45
    SHA224_RSA_PKCS = 0x46
    SHA224_RSA_PKCS_PSS = 0x47
    MD5 = 0x210
    SHA_1 = 0x220
    SHA256 = 0x250
    SHA224 = 0x255
    SHA384 = 0x260
    SHA512 = 0x270
    GENERIC_SECRET_KEY_GEN = 0x350
    EC_KEY_PAIR_GEN = 0x1040
    ECDSA = 0x1041
    ECDSA_SHA1 = 0x1042
    ECDSA_SHA224 = 0x1043
    ECDSA_SHA256 = 0x1044
    ECDSA_SHA384 = 0x1045
    ECDSA_SHA512 = 0x1046
    ECDH1_DERIVE = 0x1050
    ECDH1_COFACTOR_DERIVE = 0x1051
    EC_EDWARDS_KEY_PAIR_GEN = 0x1055
    EC_MONTGOMERY_KEY_PAIR_GEN = 0x1056
    EDDSA = 0x1057
    AES_KEY_GEN = 0x1080
    VENDOR_DEFINED = 0x80000000


@built_as(IntEnum)
class CKG(IntEnumBody):
    """Mask generation functions for PSS and OAEP (``CK_RSA_PKCS_MGF_TYPE``)."""

    MGF1_SHA1 = 0x1
    MGF1_SHA256 = 0x2
    MGF1_SHA384 = 0x3
    MGF1_SHA512 = 0x4
    MGF1_SHA224 = 0x5


@built_as(IntEnum)
class CKZ(IntEnumBody):
    """OAEP encoding parameter source."""

    DATA_SPECIFIED = 0x1


@built_as(IntEnum)
class CKD(IntEnumBody):
    """Key derivation functions for ECDH1_DERIVE."""

    NULL = 0x1
    SHA1_KDF = 0x2
    SHA224_KDF = 0x5
    SHA256_KDF = 0x6
    SHA384_KDF = 0x7
    SHA512_KDF = 0x8


@built_as(IntEnum)
class CKP(IntEnumBody):
    """Profile IDs (v3.0, ``CKO_PROFILE`` objects)."""

    INVALID_ID = 0
    BASELINE_PROVIDER = 1
    EXTENDED_PROVIDER = 2
    AUTHENTICATION_TOKEN = 3
    PUBLIC_CERTIFICATES_TOKEN = 4


@built_as(IntFlag)
class TokenFlag(IntFlagBody):
    """``CK_TOKEN_INFO.flags`` (CKF_*)."""

    RNG = 0x1
    WRITE_PROTECTED = 0x2
    LOGIN_REQUIRED = 0x4
    USER_PIN_INITIALIZED = 0x8
    RESTORE_KEY_NOT_NEEDED = 0x20
    CLOCK_ON_TOKEN = 0x40
    PROTECTED_AUTHENTICATION_PATH = 0x100
    DUAL_CRYPTO_OPERATIONS = 0x200
    TOKEN_INITIALIZED = 0x400
    SECONDARY_AUTHENTICATION = 0x800
    USER_PIN_COUNT_LOW = 0x10000
    USER_PIN_FINAL_TRY = 0x20000
    USER_PIN_LOCKED = 0x40000
    USER_PIN_TO_BE_CHANGED = 0x80000
    SO_PIN_COUNT_LOW = 0x100000
    SO_PIN_FINAL_TRY = 0x200000
    SO_PIN_LOCKED = 0x400000
    SO_PIN_TO_BE_CHANGED = 0x800000
    ERROR_STATE = 0x1000000


@built_as(IntFlag)
class SlotFlag(IntFlagBody):
    """``CK_SLOT_INFO.flags``."""

    TOKEN_PRESENT = 0x1
    REMOVABLE_DEVICE = 0x2
    HW_SLOT = 0x4


@built_as(IntFlag)
class SessionFlag(IntFlagBody):
    """``CK_SESSION_INFO.flags`` and ``C_OpenSession`` flags."""

    RW_SESSION = 0x2
    SERIAL_SESSION = 0x4


@built_as(IntFlag)
class MechanismFlag(IntFlagBody):
    """``CK_MECHANISM_INFO.flags``."""

    HW = 0x1
    ENCRYPT = 0x100
    DECRYPT = 0x200
    DIGEST = 0x400
    SIGN = 0x800
    SIGN_RECOVER = 0x1000
    VERIFY = 0x2000
    VERIFY_RECOVER = 0x4000
    GENERATE = 0x8000
    GENERATE_KEY_PAIR = 0x10000
    WRAP = 0x20000
    UNWRAP = 0x40000
    DERIVE = 0x80000
    EC_F_P = 0x100000
    EC_F_2M = 0x200000
    EC_ECPARAMETERS = 0x400000
    EC_OID = 0x800000
    EC_UNCOMPRESS = 0x1000000
    EC_COMPRESS = 0x2000000
    EC_CURVENAME = 0x4000000
    EXTENSION = 0x80000000


@built_as(IntFlag)
class InitializeFlag(IntFlagBody):
    """``CK_C_INITIALIZE_ARGS.flags``."""

    LIBRARY_CANT_CREATE_OS_THREADS = 0x1
    OS_LOCKING_OK = 0x2


@built_as(IntFlag)
class WaitFlag(IntFlagBody):
    """``C_WaitForSlotEvent`` flags."""

    DONT_BLOCK = 0x1


@built_as(IntFlag)
class InterfaceFlag(IntFlagBody):
    """``CK_INTERFACE.flags`` (v3.0)."""

    FORK_SAFE = 0x1


def constant_name(enum: type[IntEnum], value: int) -> str:
    """The spec's name of ``value`` in ``enum`` (``CKK.EC`` -> ``"EC"``), hex for vendor values."""
    try:
        return enum(value).name
    except ValueError:
        return f"0x{int(value):08X}"


def mechanism_name(mechanism: int) -> str:
    """``0x1044`` -> ``"CKM_ECDSA_SHA256"``; a vendor mechanism stays hex (``0x80001234``)."""
    try:
        return "CKM_" + CKM(mechanism).name
    except ValueError:
        return f"0x{int(mechanism):08X}"

