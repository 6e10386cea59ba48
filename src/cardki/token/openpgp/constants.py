"""The OpenPGP card application's numbers (OpenPGP smart card spec 3.4), as enums.

Instructions, key references and the data objects that belong to each key,
password references, data object tags, algorithm ids, touch policies. Sources:
the spec 3.4, checked against GnuPG's scd/app-openpgp.c and yubikit's
openpgp.py (see the research note openpgp-card.md, sections 2-9).
"""

from __future__ import annotations

import enum
from typing import Dict

from cardki.named_tuple import NamedTuple

# The AID is one of the application's light facts (:mod:`.application`: detection needs it
# without this table of every number).
from .application import OPENPGP_AID  # noqa: F401 - re-exported: this module is the numbers' index


class KeyRef(enum.IntEnum):
    """The card's keys: signature, decryption, authentication, and Yubico's
    attestation key. The value is the key reference (DE key information, ATTEST P1).
    Its data objects are :data:`KEY_DATA_OBJECTS`'."""

    SIG = 0x01
    DEC = 0x02
    AUT = 0x03
    ATT = 0x81

    @property
    def dos(self) -> KeyDataObjects:
        """The data objects that describe this key."""
        return KEY_DATA_OBJECTS[self]

    @property
    def crt(self) -> bytes:
        """The control reference template that names the key in GENERATE and import."""
        return self.dos.crt

    @property
    def verify_reference(self) -> Pw:
        """The VERIFY its use needs: 81 for the signature key, 82 for the others."""
        return Pw.PW1_SIGN if self is KeyRef.SIG else Pw.PW1

    @property
    def certificate_occurrence(self) -> int | None:
        """SELECT DATA P1 for the key's 7F21 instance (AUT 0, DEC 1, SIG 2); None for ATT."""
        return self.dos.certificate_occurrence


class Ins(enum.IntEnum):
    """Instructions the driver sends (CLA 00 unless noted)."""

    VERIFY = 0x20
    CHANGE_REFERENCE_DATA = 0x24
    PSO = 0x2A
    RESET_RETRY_COUNTER = 0x2C
    ACTIVATE_FILE = 0x44
    GENERATE_ASYMMETRIC_KEY_PAIR = 0x47
    GET_CHALLENGE = 0x84
    INTERNAL_AUTHENTICATE = 0x88
    SELECT_DATA = 0xA5
    GET_DATA = 0xCA
    PUT_DATA = 0xDA
    PUT_DATA_ODD = 0xDB
    TERMINATE_DF = 0xE6
    GET_VERSION = 0xF1
    """Yubico: the firmware version in BCD."""
    SET_PIN_RETRIES = 0xF2
    """Yubico 4.3.1+: PW1, RC and PW3 tries."""
    ATTEST = 0xFB
    """Yubico 5.2+, with :data:`CLA_YUBICO`."""


CLA_YUBICO = 0x80
"""The class byte of Yubico's ATTEST."""

#: P1-P2 of PSO: COMPUTE DIGITAL SIGNATURE and DECIPHER.
PSO_CDS = (0x9E, 0x9A)
PSO_DECIPHER = (0x80, 0x86)
#: P1 of GENERATE ASYMMETRIC KEY PAIR: make a key, or read the public key.
GENERATE = 0x80
READ_PUBLIC_KEY = 0x81
#: VERIFY P1 that drops a password's verified state (spec 3.x; YubiKey 5.6.0+).
VERIFY_RESET = 0xFF
#: RESET RETRY COUNTER P1: authorised by the resetting code, or by a verified PW3.
RESET_BY_RESETTING_CODE = 0x00
RESET_BY_PW3 = 0x02


class Do(enum.IntEnum):
    """Data object tags (GET DATA / PUT DATA P1-P2)."""

    PRIVATE_USE_1 = 0x0101
    PRIVATE_USE_2 = 0x0102
    PRIVATE_USE_3 = 0x0103
    PRIVATE_USE_4 = 0x0104
    AID = 0x4F
    NAME = 0x5B
    LOGIN_DATA = 0x5E
    LANGUAGE = 0x5F2D
    SEX = 0x5F35
    URL = 0x5F50
    HISTORICAL_BYTES = 0x5F52
    CARDHOLDER_RELATED_DATA = 0x65
    APPLICATION_RELATED_DATA = 0x6E
    DISCRETIONARY_DATA = 0x73
    SECURITY_SUPPORT_TEMPLATE = 0x7A
    SIGNATURE_COUNTER = 0x93
    """Inside 7A: the digital signature counter (3 bytes)."""
    EXTENDED_CAPABILITIES = 0xC0
    ALGORITHM_ATTRIBUTES_SIG = 0xC1
    ALGORITHM_ATTRIBUTES_DEC = 0xC2
    ALGORITHM_ATTRIBUTES_AUT = 0xC3
    PW_STATUS = 0xC4
    FINGERPRINTS = 0xC5
    CA_FINGERPRINTS = 0xC6
    FINGERPRINT_SIG = 0xC7
    FINGERPRINT_DEC = 0xC8
    FINGERPRINT_AUT = 0xC9
    CA_FINGERPRINT_1 = 0xCA
    CA_FINGERPRINT_2 = 0xCB
    CA_FINGERPRINT_3 = 0xCC
    GENERATION_TIMES = 0xCD
    GENERATION_TIME_SIG = 0xCE
    GENERATION_TIME_DEC = 0xCF
    GENERATION_TIME_AUT = 0xD0
    RESETTING_CODE = 0xD3
    UIF_SIG = 0xD6
    UIF_DEC = 0xD7
    UIF_AUT = 0xD8
    UIF_ATT = 0xD9
    ALGORITHM_ATTRIBUTES_ATT = 0xDA
    FINGERPRINT_ATT = 0xDB
    CA_FINGERPRINT_4 = 0xDC
    GENERATION_TIME_ATT = 0xDD
    KEY_INFORMATION = 0xDE
    KDF = 0xF9
    ALGORITHM_INFORMATION = 0xFA
    ATTESTATION_CERTIFICATE = 0xFC
    """Yubico: the certificate of attestation key 81."""
    CARDHOLDER_CERTIFICATE = 0x7F21
    PUBLIC_KEY = 0x7F49
    """The public key template GENERATE ASYMMETRIC KEY PAIR answers."""
    EXTENDED_LENGTH_INFORMATION = 0x7F66
    GENERAL_FEATURE_MANAGEMENT = 0x7F74


class KeyDataObjects(NamedTuple):
    """What belongs to one key: its CRT and its C1../C7../CA../CE../D6.. DOs."""

    crt: bytes
    attributes: Do
    fingerprint: Do
    ca_fingerprint: Do
    generation_time: Do
    uif: Do
    certificate_occurrence: int | None


#: CRT tags: B6 digital signature, B8 confidentiality, A4 authentication.
CRT_SIGNATURE, CRT_CONFIDENTIALITY, CRT_AUTHENTICATION = 0xB6, 0xB8, 0xA4

#: Each key's data objects (what :attr:`KeyRef.dos` answers).
KEY_DATA_OBJECTS: Dict[KeyRef, KeyDataObjects] = {
    KeyRef.SIG: KeyDataObjects(bytes([CRT_SIGNATURE, 0]), Do.ALGORITHM_ATTRIBUTES_SIG, Do.FINGERPRINT_SIG,
                               Do.CA_FINGERPRINT_1, Do.GENERATION_TIME_SIG, Do.UIF_SIG, 2),
    KeyRef.DEC: KeyDataObjects(bytes([CRT_CONFIDENTIALITY, 0]), Do.ALGORITHM_ATTRIBUTES_DEC, Do.FINGERPRINT_DEC,
                               Do.CA_FINGERPRINT_2, Do.GENERATION_TIME_DEC, Do.UIF_DEC, 1),
    KeyRef.AUT: KeyDataObjects(bytes([CRT_AUTHENTICATION, 0]), Do.ALGORITHM_ATTRIBUTES_AUT, Do.FINGERPRINT_AUT,
                               Do.CA_FINGERPRINT_3, Do.GENERATION_TIME_AUT, Do.UIF_AUT, 0),
    # Yubico's attestation key: B6 { 84 01 81 } (yubikit CRT.ATT, Yubico's attestation page).
    KeyRef.ATT: KeyDataObjects(bytes([CRT_SIGNATURE, 3, 0x84, 1, 0x81]), Do.ALGORITHM_ATTRIBUTES_ATT,
                               Do.FINGERPRINT_ATT, Do.CA_FINGERPRINT_4, Do.GENERATION_TIME_ATT, Do.UIF_ATT, None),
}

#: The order of keys in the concatenated DOs C5, C6 and CD (a YubiKey adds ATT as the 4th).
KEY_ORDER = (KeyRef.SIG, KeyRef.DEC, KeyRef.AUT, KeyRef.ATT)


class Pw(enum.IntEnum):
    """VERIFY references: PW1 for PSO:CDS (81), PW1 for everything else (82), PW3 (83).
    81 and 82 are one password with two verified states."""

    PW1_SIGN = 0x81
    PW1 = 0x82
    PW3 = 0x83

    @property
    def password(self) -> Password:
        return Password.ADMIN if self is Pw.PW3 else Password.USER


class Password(enum.IntEnum):
    """The card's three secrets, as PW status (C4) and the KDF-DO (F9) count them."""

    USER = 1
    """PW1, the user PIN."""
    RESETTING_CODE = 2
    """RC: sets a new PW1 without PW3."""
    ADMIN = 3
    """PW3, the admin PIN."""


class AlgorithmId(enum.IntEnum):
    """First byte of an algorithm attribute (RFC 4880 public key algorithm ids)."""

    RSA = 0x01
    ECDH = 0x12
    ECDSA = 0x13
    EDDSA = 0x16


class RsaImportFormat(enum.IntEnum):
    """Last byte of RSA attributes: which parts a key import sends."""

    STANDARD = 0x00
    """e, p, q."""
    STANDARD_WITH_MODULUS = 0x01
    CRT = 0x02
    """e, p, q, 1/q mod p, d mod (p-1), d mod (q-1)."""
    CRT_WITH_MODULUS = 0x03


class EcImportFormat(enum.IntEnum):
    """Optional last byte of EC attributes."""

    STANDARD = 0x00
    """The private scalar only (the byte is absent on the card)."""
    WITH_PUBLIC_KEY = 0xFF


class KeyStatus(enum.IntEnum):
    """DE key information: where a key came from."""

    NONE = 0x00
    GENERATED = 0x01
    IMPORTED = 0x02


class Uif(enum.IntEnum):
    """User interaction flag (touch policy), first byte of D6-D9; FIXED ones hold until a reset."""

    OFF = 0x00
    ON = 0x01
    FIXED = 0x02
    CACHED = 0x03
    """Yubico 5.2.1+: a touch counts for 15 s."""
    CACHED_FIXED = 0x04

    @property
    def is_fixed(self) -> bool:
        return self in (Uif.FIXED, Uif.CACHED_FIXED)

    @property
    def requires_touch(self) -> bool:
        return self is not Uif.OFF


#: Second byte of D6-D9 and the value of 7F74's 81: the feature is a button.
FEATURE_BUTTON = 0x20


class ExtendedCapability(enum.IntFlag):
    """First byte of the extended capabilities (C0)."""

    KDF = 0x01
    PSO_DEC_ENC_AES = 0x02
    ALGORITHM_ATTRIBUTES_CHANGEABLE = 0x04
    PRIVATE_USE_DOS = 0x08
    PW_STATUS_CHANGEABLE = 0x10
    """PUT DATA C4 (PW1 valid for one or several signatures)."""
    KEY_IMPORT = 0x20
    GET_CHALLENGE = 0x40
    SECURE_MESSAGING = 0x80


class KdfAlgorithm(enum.IntEnum):
    """F9 tag 81."""

    NONE = 0x00
    ITERSALTED_S2K = 0x03


class KdfHash(enum.IntEnum):
    """F9 tag 82 (RFC 4880 hash ids)."""

    SHA256 = 0x08
    SHA512 = 0x0A


#: The status word with a meaning of its own on this application (GnuPG's apdu.h),
#: which OpenPgpCard answers as :class:`cardki.apdu.TouchTimeoutError`. (6285, a
#: terminated application, is ISO 7816-4's: the shared SW table has it.)
SW_TOUCH_TIMEOUT = 0x6600
"""Nobody touched the card in time (GnuPG's SW_ACK_TIMEOUT)."""

#: Manufacturer ids in the AID (bytes 8-9), as GnuPG names them (app_openpgp_manufacturer).
MANUFACTURERS: Dict[int, str] = {
    0x0001: "PPC Card Systems",
    0x0002: "Prism",
    0x0003: "OpenFortress",
    0x0004: "Wewid",
    0x0005: "ZeitControl",
    0x0006: "Yubico",
    0x0007: "OpenKMS",
    0x0008: "LogoEmail",
    0x0009: "Fidesmo",
    0x000A: "VivoKey",
    0x000B: "Feitian Technologies",
    0x000D: "Dangerous Things",
    0x000E: "Excelsecu",
    0x000F: "Nitrokey",
    0x0010: "NeoPGP",
    0x0011: "Token2",
    0x002A: "Magrathea",
    0x0042: "GnuPG e.V.",
    0x1337: "Warsaw Hackerspace",
    0x2342: "warpzone",
    0x4354: "Confidential Technologies",
    0x5343: "SSE Carte a puce",
    0x5443: "TIF-IT e.V.",
    0x63AF: "Trustica",
    0xBA53: "c-base e.V.",
    0xBD0E: "Paranoidlabs",
    0xCA05: "Atos CardOS",
    0xF1D0: "CanoKeys",
    0xF517: "FSIJ",
    0xF5EC: "F-Secure",
}
MANUFACTURER_YUBICO = 0x0006


def manufacturer_name(manufacturer: int) -> str:
    """The maker's name; 0000 and FFFF are test cards by the spec, FF00-FFFE cards
    with random serials."""
    if manufacturer in (0x0000, 0xFFFF):
        return "test card"
    if 0xFF00 <= manufacturer < 0xFFFF:
        return "unmanaged S/N range"
    return MANUFACTURERS.get(manufacturer, "unknown")
