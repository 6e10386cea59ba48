"""PIV card constants (SP 800-73-4, SP 800-78-4 and Yubico's PIV extensions) as enums.

A leaf (of cardki it imports only :mod:`cardki.constants`' fast enum build,
``built_as``: ~0.7 ms less of every first card use for these 11 enums), so the
profile loader, the card commands and the object builder can all name the same
values. The numbers are the card's; what they mean for Cryptoki is decided in
:mod:`cardki.token.piv.objects` and :mod:`cardki.token.piv.token`.
"""

from __future__ import annotations

from enum import IntEnum

from cardki.constants import IntEnumBody, built_as


@built_as(IntEnum)
class Ins(IntEnumBody):
    """Instruction bytes of the PIV applet (SP 800-73-4 part 2; F6..FF are Yubico's)."""

    VERIFY = 0x20
    CHANGE_REFERENCE = 0x24
    RESET_RETRY = 0x2C
    GENERATE = 0x47
    AUTHENTICATE = 0x87
    GET_DATA = 0xCB
    PUT_DATA = 0xDB
    MOVE_KEY = 0xF6
    GET_METADATA = 0xF7
    GET_SERIAL = 0xF8
    ATTEST = 0xF9
    SET_PIN_RETRIES = 0xFA
    RESET = 0xFB
    GET_VERSION = 0xFD
    IMPORT_KEY = 0xFE
    SET_MANAGEMENT_KEY = 0xFF


@built_as(IntEnum)
class KeyRef(IntEnumBody):
    """Key references that are not key slots: the PIN, the PUK and the management key,
    plus the YubiKey's attestation key slot and MOVE KEY's "nowhere" (delete)."""

    PIN = 0x80
    PUK = 0x81
    MANAGEMENT = 0x9B
    ATTESTATION = 0xF9
    DELETE = 0xFF


@built_as(IntEnum)
class KeyFamily(IntEnumBody):
    """What a PIV key algorithm is, as far as Cryptoki cares (its CKK_ and mechanisms)."""

    RSA = 1
    EC = 2
    ED25519 = 3
    X25519 = 4


@built_as(IntEnum)
class PivAlgorithm(IntEnumBody):
    """Key algorithm identifiers (SP 800-78-4 table 6-2, Yubico's E0/E1). The member
    names are the names the profiles use (``algorithms = ["RSA2048", ...]``)."""

    RSA1024 = 0x06
    RSA2048 = 0x07
    RSA3072 = 0x05
    RSA4096 = 0x16
    ECCP256 = 0x11
    ECCP384 = 0x14
    ED25519 = 0xE0
    X25519 = 0xE1

    @classmethod
    def known(cls, value: int) -> PivAlgorithm | None:
        """The algorithm for a card's byte, or None for one this cardki does not know."""
        try:
            return cls(value)
        except ValueError:
            return None


@built_as(IntEnum)
class ManagementKeyAlgorithm(IntEnumBody):
    """Management key (9B) algorithms: 3DES everywhere, AES on YubiKey 5.4+."""

    TDES = 0x03
    AES128 = 0x08
    AES192 = 0x0A
    AES256 = 0x0C

    @property
    def key_length(self) -> int:
        return {0x03: 24, 0x08: 16, 0x0A: 24, 0x0C: 32}[self.value]

    @property
    def block_length(self) -> int:
        return 8 if self is ManagementKeyAlgorithm.TDES else 16


@built_as(IntEnum)
class PinPolicy(IntEnumBody):
    """When a key needs the PIN (tag AA, GET METADATA 02[0]). DEFAULT is "the slot's
    default" (9C always, 9E and F9 never, the rest once). MATCH_* are the YubiKey
    Bio's fingerprint policies."""

    DEFAULT = 0
    NEVER = 1
    ONCE = 2
    ALWAYS = 3
    MATCH_ONCE = 4
    MATCH_ALWAYS = 5

    @classmethod
    def from_card(cls, value: int) -> PinPolicy:
        """A card's policy byte; one this cardki does not know counts as the slot default."""
        try:
            return cls(value)
        except ValueError:
            return cls.DEFAULT


@built_as(IntEnum)
class TouchPolicy(IntEnumBody):
    """When a key needs a touch of the YubiKey (tag AB, GET METADATA 02[1]); CACHED
    counts a touch of the last 15 seconds (firmware 4.3+)."""

    DEFAULT = 0
    NEVER = 1
    ALWAYS = 2
    CACHED = 3

    @classmethod
    def from_card(cls, value: int) -> TouchPolicy:
        """A card's touch byte; an unknown one is taken as ALWAYS (the cautious reading:
        the operation may wait for the button)."""
        try:
            return cls(value)
        except ValueError:
            return cls.ALWAYS


@built_as(IntEnum)
class Origin(IntEnumBody):
    """Where a key came from (GET METADATA 03)."""

    GENERATED = 1
    IMPORTED = 2


@built_as(IntEnum)
class ImportTag(IntEnumBody):
    """Tags of IMPORT ASYMMETRIC KEY's data (Yubico): the RSA CRT parts, the EC
    private scalar, the 25519 seeds; policies use AA/AB as GENERATE does."""

    PRIME_P = 0x01
    PRIME_Q = 0x02
    EXPONENT_P = 0x03
    EXPONENT_Q = 0x04
    COEFFICIENT = 0x05
    EC_SCALAR = 0x06
    ED25519_SEED = 0x07
    X25519_SCALAR = 0x08
    PIN_POLICY = 0xAA
    TOUCH_POLICY = 0xAB


@built_as(IntEnum)
class MetadataTag(IntEnumBody):
    """Fields of a GET METADATA answer (YubiKey 5.3+)."""

    ALGORITHM = 0x01
    POLICY = 0x02
    ORIGIN = 0x03
    PUBLIC_KEY = 0x04
    DEFAULT_VALUE = 0x05
    RETRIES = 0x06


@built_as(IntEnum)
class DataObject(IntEnumBody):
    """Data object tags the token code names itself (the full list of what is shown as
    CKO_DATA is profile data)."""

    CHUID = 0x5FC102
    PRINTED_INFORMATION = 0x5FC109
    DISCOVERY = 0x7E
    ATTESTATION_CERTIFICATE = 0x5FFF01


#: The longest PIN or PUK a PIV card takes, in bytes (shorter ones are 0xFF padded).
PIN_LENGTH = 8
#: The PIN or PUK value ykman sends to use up tries when it resets the applet: eight
#: 0xFF bytes, which no valid PIN or PUK can equal (they are 6-8 non-FF bytes).
NEVER_A_PIN = b"\xff" * PIN_LENGTH
