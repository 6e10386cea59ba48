"""PIV card commands (SP 800-73-4 part 2 plus Yubico's extensions), one method per APDU.

This module only formats commands and parses answers; it knows nothing of
Cryptoki, retries or card sharing (that is :mod:`cardki.token.piv`). Every
method is one exchange (plus chaining/GET RESPONSE done by the protocol) and
lets :class:`cardki.apdu.ApduError` subclasses through. An answer that cannot be
what the command asks for (a missing or short field) raises
:class:`cardki.apdu.MalformedResponseError`, never an IndexError or KeyError.
The exceptions are :meth:`PivCard.block_pin` and :meth:`PivCard.block_puk`,
which repeat one command until the card reports the counter blocked (what ykman
does before a reset), bounded by :data:`MAX_BLOCKING_TRIES`.

Arguments are the caller's (the token checks them against the profile first): a
value the card cannot take at all (a 20-byte PIN, a management key of the wrong
length) is a programming error and raises ``ValueError`` before anything is sent.
Secrets (PINs, PUKs, management keys, imported key parts) are sent ``sensitive``,
so traces and transcripts never hold them.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

from cardki.apdu import (
    MalformedResponseError,
    SmartCardProtocol,
    Tlv,
    WrongPinError,
    encode_tlv,
    tlv_dict,
    unpack_tlv,
)
from cardki.apdu.errors import AuthBlockedError
from cardki.named_tuple import NamedTuple

from ...log import get_logger
from ..base import SlotRecord
from .constants import (
    NEVER_A_PIN,
    PIN_LENGTH,
    DataObject,
    ImportTag,
    Ins,
    KeyRef,
    ManagementKeyAlgorithm,
    MetadataTag,
    Origin,
    PinPolicy,
    PivAlgorithm,
    TouchPolicy,
)

logger = get_logger(__name__)

PIV_AID = bytes.fromhex("A000000308")

# Kept as module names: the rest of the token and its tests use them.
INS_VERIFY = Ins.VERIFY
INS_CHANGE_REFERENCE = Ins.CHANGE_REFERENCE
INS_GENERATE = Ins.GENERATE
INS_AUTHENTICATE = Ins.AUTHENTICATE
INS_GET_DATA = Ins.GET_DATA
INS_PUT_DATA = Ins.PUT_DATA
INS_MOVE_KEY = Ins.MOVE_KEY
INS_GET_METADATA = Ins.GET_METADATA
INS_GET_SERIAL = Ins.GET_SERIAL
INS_GET_VERSION = Ins.GET_VERSION

PIN_REF = KeyRef.PIN
PUK_REF = KeyRef.PUK
MGMT_SLOT = KeyRef.MANAGEMENT
DISCOVERY_TAG = DataObject.DISCOVERY

# GENERAL AUTHENTICATE dynamic authentication template tags.
TAG_DYN_AUTH = 0x7C
TAG_WITNESS = 0x80
TAG_CHALLENGE = 0x81
TAG_RESPONSE = 0x82
TAG_EXPONENTIATION = 0x85
# What every signature's GENERAL AUTHENTICATE sends, made once: the empty 82 that asks for
# the response, and the instruction (a member's lookup on its enum class is a Python call).
_ASK_RESPONSE = encode_tlv(TAG_RESPONSE)
_AUTHENTICATE = Ins.AUTHENTICATE
# GENERATE's control reference template and the public key it answers.
TAG_GENERATE_TEMPLATE = 0xAC
TAG_GENERATE_ALGORITHM = 0x80
TAG_PUBLIC_KEY = 0x7F49
# A data object's wrapper and a certificate container's fields (SP 800-73-4 table 10).
TAG_OBJECT_ID = 0x5C
TAG_OBJECT_DATA = 0x53
TAG_CERTIFICATE = 0x70
TAG_CERTINFO = 0x71
TAG_ERROR_DETECTION = 0xFE

ORIGIN_GENERATED = Origin.GENERATED
ORIGIN_IMPORTED = Origin.IMPORTED
#: Yubico serial numbers are 32-bit (GET SERIAL answers 4 bytes).
SERIAL_MAX_BYTES = 4
#: The most wrong tries :meth:`PivCard.block_pin` / :meth:`PivCard.block_puk` spend:
#: SET PIN RETRIES takes at most 255, so a card still counting after that is lying.
MAX_BLOCKING_TRIES = 256
#: The largest certificate a compressed PIV certificate container may inflate to,
#: in bytes. A certificate is a few KB (a YubiKey stores at most ~3 KB per
#: container); 32 KiB leaves room for long chains of names and extensions while a
#: "gzip bomb" (61 KB inflating to hundreds of MB) stops after 32 KiB of output.
MAX_CERTIFICATE_LENGTH = 32 * 1024


class KeyMetadata(SlotRecord):
    """GET METADATA for a key slot (YubiKey 5.3+). A plain class, as ImportableKey is:
    each named tuple costs a process's first card use 0.1 to 0.3 ms to make."""

    __slots__ = ("algorithm", "pin_policy", "touch_policy", "origin", "public_key")

    def __init__(self, *, algorithm: int, pin_policy: PinPolicy, touch_policy: TouchPolicy, origin: Origin | None,
                 public_key: Dict[int, bytes]) -> None:
        self.algorithm = algorithm  # a PivAlgorithm where cardki knows it (PivAlgorithm.known)
        self.pin_policy = pin_policy  # DEFAULT = the slot default
        self.touch_policy = touch_policy
        self.origin = origin
        self.public_key = public_key  # 81/82 for RSA, 86 for EC and 25519


class PinMetadata(NamedTuple):
    """GET METADATA for the PIN (80) or the PUK (81)."""

    default: bool
    total: int
    remaining: int


class ManagementKeyMetadata(NamedTuple):
    """GET METADATA for the management key (9B)."""

    algorithm: ManagementKeyAlgorithm
    default: bool
    touch_policy: TouchPolicy


class ImportableKey(SlotRecord):
    """A private key as IMPORT ASYMMETRIC KEY sends it: the algorithm and the
    components in order, each already padded to its fixed length (see
    :func:`cardki.token.piv.keys.importable_key`)."""

    __slots__ = ("algorithm", "parts")

    def __init__(self, algorithm: PivAlgorithm, parts: Tuple[Tuple[ImportTag, bytes], ...]) -> None:
        self.algorithm = algorithm
        self.parts = parts

    def __repr__(self) -> str:  # never the key material
        return f"ImportableKey({self.algorithm.name}, {len(self.parts)} parts)"


def object_id_bytes(tag: int) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def field(fields: Dict[int, bytes], tag: int, what: str, *, min_length: int = 0) -> bytes:
    """The value of ``tag`` in a card's answer, at least ``min_length`` bytes long;
    :class:`MalformedResponseError` (naming ``what`` was asked) when the card left it
    out or cut it short."""
    value = fields.get(tag)
    if value is None:
        raise MalformedResponseError(f"{what}: the answer has no tag {tag:02X}")
    if len(value) < min_length:
        raise MalformedResponseError(f"{what}: tag {tag:02X} has {len(value)} bytes, expected {min_length}")
    return value


def _tlv_fields(data: bytes, what: str) -> Dict[int, bytes]:
    try:
        return tlv_dict(data)
    except ValueError:
        raise MalformedResponseError(f"{what}: the answer is not BER-TLV") from None


# ------------------------------------------------------- certificate containers
def parse_certificate_container(content: bytes) -> bytes | None:
    """The DER certificate in a PIV certificate container (70 cert, 71 certinfo,
    FE LRC), decompressed when CertInfo says so (gzip, or zlib, which OpenSC reads
    too); None if empty, unreadable, or inflating beyond :data:`MAX_CERTIFICATE_LENGTH`."""
    try:
        fields = tlv_dict(content)
    except ValueError:
        return None
    cert = fields.get(TAG_CERTIFICATE)
    if not cert:
        return None
    if fields.get(TAG_CERTINFO, b"\x00")[:1] == b"\x01":
        return _inflate_certificate(cert)
    return cert


def _inflate_certificate(compressed: bytes) -> bytes | None:
    """``compressed`` inflated, or None when it is not one complete gzip/zlib stream
    of at most :data:`MAX_CERTIFICATE_LENGTH` bytes (decompression stops there). zlib is
    imported here: few cards compress, and its extension module is ~0.5 ms of a start."""
    import zlib

    inflater = zlib.decompressobj(wbits=32 + zlib.MAX_WBITS)  # 32: gzip or zlib header
    try:
        cert = inflater.decompress(compressed, MAX_CERTIFICATE_LENGTH)
    except zlib.error:
        return None
    if not inflater.eof:  # truncated, or more than MAX_CERTIFICATE_LENGTH bytes inside
        return None
    return cert


def certificate_container(cert_der: bytes) -> bytes:
    """Content of a certificate container for PUT DATA (uncompressed)."""
    return bytes(Tlv(TAG_CERTIFICATE, cert_der)) + bytes(Tlv(TAG_CERTINFO, b"\x00")) + bytes(
        Tlv(TAG_ERROR_DETECTION, b""))


class PivCard:
    """The PIV applet's commands over one :class:`SmartCardProtocol`."""

    def __init__(self, protocol: SmartCardProtocol, aid: bytes = PIV_AID) -> None:
        self.protocol = protocol
        self.aid = aid
        # "As much as you have": with extended APDUs a whole certificate or RSA
        # result comes back in one response instead of 256-byte GET RESPONSE pieces.
        self.le_max = 65536 if protocol.extended else 0

    # ----------------------------------------------------------- selection
    def select(self) -> bytes:
        return self.protocol.select(self.aid)

    def get_version(self) -> Tuple[int, int, int]:
        data = self.protocol.send_apdu(0x00, Ins.GET_VERSION, 0x00, 0x00, le=self.le_max)
        if len(data) < 3:
            raise MalformedResponseError(f"GET VERSION answered {len(data)} bytes, expected 3")
        return (data[0], data[1], data[2])

    def get_serial(self) -> int:
        data = self.protocol.send_apdu(0x00, Ins.GET_SERIAL, 0x00, 0x00, le=self.le_max)
        if not 1 <= len(data) <= SERIAL_MAX_BYTES:
            raise MalformedResponseError(f"GET SERIAL answered {len(data)} bytes, expected {SERIAL_MAX_BYTES}")
        return int.from_bytes(data, "big")

    # ---------------------------------------------------------------- data
    def get_data(self, tag: int, *, sensitive: bool = False) -> bytes:
        """The content of a data object (inside its 53 wrapper; the discovery
        object comes back as its own 7E TLV)."""
        request = bytes(Tlv(TAG_OBJECT_ID, object_id_bytes(tag)))
        data = self.protocol.send_apdu(0x00, Ins.GET_DATA, 0x3F, 0xFF, request, le=self.le_max,
                                       sensitive_response=sensitive)
        if tag == DISCOVERY_TAG:
            return unpack_tlv(DISCOVERY_TAG, data)
        return unpack_tlv(TAG_OBJECT_DATA, data)

    def put_data(self, tag: int, value: bytes, *, sensitive: bool = False) -> None:
        """PUT DATA: ``value`` becomes the content of data object ``tag`` (an empty
        value deletes it on a YubiKey). Needs the management key. ``sensitive`` keeps
        the value out of traces (the printed information object, where ykman keeps a
        PIN-protected management key)."""
        request = bytes(Tlv(TAG_OBJECT_ID, object_id_bytes(tag))) + bytes(Tlv(TAG_OBJECT_DATA, value))
        self.protocol.send_apdu(0x00, Ins.PUT_DATA, 0x3F, 0xFF, request, sensitive=sensitive)

    def get_certificate(self, container: int) -> bytes | None:
        """The DER certificate in ``container`` (None if the container is empty or holds
        no readable certificate); 6A82 (no such object) is raised as NotFoundError."""
        return parse_certificate_container(self.get_data(container))

    def put_certificate(self, container: int, cert_der: bytes) -> None:
        self.put_data(container, certificate_container(cert_der))

    # ---------------------------------------------------------------- PINs
    @staticmethod
    def _check_padded(*values: bytes) -> None:
        for value in values:
            if len(value) != PIN_LENGTH:
                raise ValueError(f"a PIN or PUK is sent as {PIN_LENGTH} padded bytes")

    def verify_pin(self, padded_pin: bytes) -> None:
        """VERIFY the PIN (already padded to 8 bytes); raises WrongPinError / AuthBlockedError."""
        self.protocol.send_apdu(0x00, Ins.VERIFY, 0x00, PIN_REF, padded_pin, sensitive=True)

    def pin_status(self) -> int | None:
        """Empty VERIFY: None when the PIN is verified, else the tries left (0 = blocked)."""
        try:
            self.protocol.send_apdu(0x00, Ins.VERIFY, 0x00, PIN_REF)
        except WrongPinError as exc:
            return exc.tries_left
        except AuthBlockedError:
            return 0
        return None

    def reset_pin_status(self) -> None:
        """VERIFY P1=FF: drop the PIN's security status (SP 800-73-4 3.2.1)."""
        self.protocol.send_apdu(0x00, Ins.VERIFY, 0xFF, PIN_REF)

    def change_pin(self, old_padded: bytes, new_padded: bytes) -> None:
        """CHANGE REFERENCE DATA for the PIN (80)."""
        self._check_padded(old_padded, new_padded)
        self.protocol.send_apdu(0x00, Ins.CHANGE_REFERENCE, 0x00, PIN_REF, old_padded + new_padded,
                                sensitive=True)

    def change_puk(self, old_padded: bytes, new_padded: bytes) -> None:
        """CHANGE REFERENCE DATA for the PUK (81); a wrong old PUK raises WrongPinError."""
        self._check_padded(old_padded, new_padded)
        self.protocol.send_apdu(0x00, Ins.CHANGE_REFERENCE, 0x00, PUK_REF, old_padded + new_padded,
                                sensitive=True)

    def unblock_pin(self, puk_padded: bytes, new_pin_padded: bytes) -> None:
        """RESET RETRY COUNTER (2C) of the PIN with the PUK: the PIN becomes
        ``new_pin_padded`` with all its tries; a wrong PUK raises WrongPinError
        (its tries left), a blocked one AuthBlockedError."""
        self._check_padded(puk_padded, new_pin_padded)
        self.protocol.send_apdu(0x00, Ins.RESET_RETRY, 0x00, PIN_REF, puk_padded + new_pin_padded,
                                sensitive=True)

    def set_pin_retries(self, pin_tries: int, puk_tries: int) -> None:
        """SET PIN RETRIES (Yubico FA): needs the management key and the PIN verified;
        the YubiKey then sets PIN and PUK back to their defaults (123456 / 12345678)."""
        if not (1 <= pin_tries <= 255 and 1 <= puk_tries <= 255):
            raise ValueError("PIN and PUK tries are 1 to 255")
        self.protocol.send_apdu(0x00, Ins.SET_PIN_RETRIES, pin_tries, puk_tries)

    def block_pin(self) -> None:
        """Spend the PIN's tries with a value no PIN can be, until the card says it is
        blocked (ykman's first step of a reset)."""
        self._spend_tries(lambda: self.verify_pin(NEVER_A_PIN), "PIN", "VERIFY")

    def block_puk(self) -> None:
        """Spend the PUK's tries (RESET RETRY COUNTER with a PUK no PUK can be) until
        the card says it is blocked (ykman's second step of a reset)."""
        self._spend_tries(lambda: self.unblock_pin(NEVER_A_PIN, NEVER_A_PIN), "PUK", "RESET RETRY COUNTER")

    @staticmethod
    def _spend_tries(wrong_try: Callable[[], None], what: str, command: str) -> None:
        """Repeat ``wrong_try`` until the card answers "blocked" (63C0 or 6983), at most
        :data:`MAX_BLOCKING_TRIES` times; a card that accepts the value, or never blocks,
        raises MalformedResponseError."""
        for _ in range(MAX_BLOCKING_TRIES):
            try:
                wrong_try()
            except WrongPinError as exc:
                if exc.tries_left == 0:
                    return
                continue
            except AuthBlockedError:
                return
            raise MalformedResponseError(f"{command} accepted a {what} that cannot be valid")
        raise MalformedResponseError(f"the {what} was not blocked after {MAX_BLOCKING_TRIES} wrong tries")

    def reset(self) -> None:
        """YubiKey RESET (FB): factory state for PIN, PUK, management key, keys and data
        objects (the attestation key F9 stays). The card refuses (6985) unless PIN and
        PUK are both blocked: see :meth:`factory_reset`."""
        self.protocol.send_apdu(0x00, Ins.RESET, 0x00, 0x00)

    def factory_reset(self) -> None:
        """Block the PIN, block the PUK, RESET: the whole of ``ykman piv reset``."""
        self.block_pin()
        self.block_puk()
        self.reset()

    # ------------------------------------------------------------ metadata
    def get_metadata(self, ref: int) -> Dict[int, bytes]:
        answer = self.protocol.send_apdu(0x00, Ins.GET_METADATA, 0x00, ref, le=self.le_max)
        return _tlv_fields(answer, f"GET METADATA {ref:02X}")

    def key_metadata(self, slot: int) -> KeyMetadata:
        raw = self.get_metadata(slot)
        what = f"GET METADATA {slot:02X}"
        policy = raw.get(MetadataTag.POLICY, b"\x00\x00")
        origin = raw.get(MetadataTag.ORIGIN)
        if not policy:
            raise MalformedResponseError(f"{what}: the policy field is empty")
        known_origin = origin[0] if origin and origin[0] in Origin._value2member_map_ else None
        return KeyMetadata(
            algorithm=field(raw, MetadataTag.ALGORITHM, what, min_length=1)[0],
            pin_policy=PinPolicy.from_card(policy[0]),
            touch_policy=TouchPolicy.from_card(policy[1]) if len(policy) > 1 else TouchPolicy.DEFAULT,
            origin=Origin(known_origin) if known_origin is not None else None,
            public_key=_tlv_fields(field(raw, MetadataTag.PUBLIC_KEY, what), f"{what} public key"),
        )

    def _counter_metadata(self, ref: int, what: str) -> PinMetadata:
        raw = self.get_metadata(ref)
        retries = field(raw, MetadataTag.RETRIES, what, min_length=2)
        return PinMetadata(default=raw.get(MetadataTag.DEFAULT_VALUE, b"\x00") == b"\x01", total=retries[0],
                           remaining=retries[1])

    def pin_metadata(self) -> PinMetadata:
        return self._counter_metadata(PIN_REF, "GET METADATA 80 (PIN)")

    def puk_metadata(self) -> PinMetadata:
        return self._counter_metadata(PUK_REF, "GET METADATA 81 (PUK)")

    def management_key_algorithm(self) -> int:
        return field(self.get_metadata(MGMT_SLOT), MetadataTag.ALGORITHM, "GET METADATA 9B", min_length=1)[0]

    def management_key_metadata(self) -> ManagementKeyMetadata:
        """Algorithm, default-value flag and touch policy of the management key."""
        what = "GET METADATA 9B"
        raw = self.get_metadata(MGMT_SLOT)
        ident = field(raw, MetadataTag.ALGORITHM, what, min_length=1)[0]
        try:
            algorithm = ManagementKeyAlgorithm(ident)
        except ValueError:
            raise MalformedResponseError(f"{what}: unknown management key algorithm {ident:02X}") from None
        policy = field(raw, MetadataTag.POLICY, what, min_length=2)
        return ManagementKeyMetadata(algorithm, field(raw, MetadataTag.DEFAULT_VALUE, what, min_length=1)[:1] == b"\x01",
                                     TouchPolicy.from_card(policy[1]))

    # ------------------------------------------------ GENERAL AUTHENTICATE
    def authenticate(self, algorithm: int, slot: int, payload: bytes, *, secret_result: bool = False) -> bytes:
        """GENERAL AUTHENTICATE with ``payload`` (81 challenge or 85 point) and an
        empty 82 asking for the response; returns the 82 value. ``secret_result``
        keeps it out of traces and transcripts (decrypted data, shared secrets)."""
        template = encode_tlv(TAG_DYN_AUTH, _ASK_RESPONSE + payload)
        answer = self.protocol.send_apdu(0x00, _AUTHENTICATE, algorithm, slot, template, le=self.le_max,
                                         sensitive_response=secret_result)
        return field(tlv_dict(unpack_tlv(TAG_DYN_AUTH, answer)), TAG_RESPONSE, "GENERAL AUTHENTICATE")

    def sign_raw(self, algorithm: int, slot: int, data: bytes, *, secret_result: bool = False) -> bytes:
        """The private-key operation on ``data`` (a signature, or with ``secret_result`` a decryption)."""
        return self.authenticate(algorithm, slot, encode_tlv(TAG_CHALLENGE, data), secret_result=secret_result)

    def ecdh(self, algorithm: int, slot: int, peer_point: bytes) -> bytes:
        return self.authenticate(algorithm, slot, encode_tlv(TAG_EXPONENTIATION, peer_point), secret_result=True)

    def management_witness(self, algorithm: int) -> bytes:
        """Step 1 of mutual authentication: the card's encrypted witness."""
        template = Tlv(TAG_DYN_AUTH, bytes(Tlv(TAG_WITNESS)))
        answer = self.protocol.send_apdu(0x00, Ins.AUTHENTICATE, algorithm, MGMT_SLOT, bytes(template),
                                         le=self.le_max)
        return field(tlv_dict(unpack_tlv(TAG_DYN_AUTH, answer)), TAG_WITNESS, "GENERAL AUTHENTICATE 9B (witness)")

    def management_respond(self, algorithm: int, decrypted_witness: bytes, challenge: bytes) -> bytes:
        """Step 2: prove we decrypted the witness and challenge the card back."""
        template = Tlv(TAG_DYN_AUTH, bytes(Tlv(TAG_WITNESS, decrypted_witness)) + bytes(Tlv(TAG_CHALLENGE, challenge)))
        answer = self.protocol.send_apdu(0x00, Ins.AUTHENTICATE, algorithm, MGMT_SLOT, bytes(template),
                                         le=self.le_max, sensitive=True)
        return field(tlv_dict(unpack_tlv(TAG_DYN_AUTH, answer)), TAG_RESPONSE, "GENERAL AUTHENTICATE 9B (response)")

    def set_management_key(self, algorithm: ManagementKeyAlgorithm, key: bytes, *, require_touch: bool = False) -> None:
        """SET MANAGEMENT KEY (Yubico FF, P2 FE = the key needs a touch): needs the
        current management key; AES algorithms need firmware 5.4."""
        if len(key) != algorithm.key_length:
            raise ValueError(f"a {algorithm.name} management key has {algorithm.key_length} bytes")
        data = bytes([algorithm]) + bytes(Tlv(MGMT_SLOT, bytes(key)))
        self.protocol.send_apdu(0x00, Ins.SET_MANAGEMENT_KEY, 0xFF, 0xFE if require_touch else 0xFF, data,
                                sensitive=True)

    # ---------------------------------------------------------- key management
    @staticmethod
    def _policy_tlvs(pin_policy: PinPolicy, touch_policy: TouchPolicy) -> bytes:
        """AA/AB for the policies that are not the default (a card without policies,
        before YubiKey 4, refuses the tags even with value 00)."""
        body = b""
        if pin_policy != PinPolicy.DEFAULT:
            body += bytes(Tlv(ImportTag.PIN_POLICY, bytes([pin_policy])))
        if touch_policy != TouchPolicy.DEFAULT:
            body += bytes(Tlv(ImportTag.TOUCH_POLICY, bytes([touch_policy])))
        return body

    def generate(self, slot: int, algorithm: int, pin_policy: PinPolicy = PinPolicy.DEFAULT,
                 touch_policy: TouchPolicy = TouchPolicy.DEFAULT) -> Dict[int, bytes]:
        """GENERATE ASYMMETRIC KEY PAIR; returns the 7F49 public key template's contents."""
        body = bytes(Tlv(TAG_GENERATE_ALGORITHM, bytes([algorithm]))) + self._policy_tlvs(pin_policy, touch_policy)
        answer = self.protocol.send_apdu(0x00, Ins.GENERATE, 0x00, slot, bytes(Tlv(TAG_GENERATE_TEMPLATE, body)),
                                         le=self.le_max)
        return tlv_dict(unpack_tlv(TAG_PUBLIC_KEY, answer))

    def import_key(self, slot: int, key: ImportableKey, pin_policy: PinPolicy = PinPolicy.DEFAULT,
                   touch_policy: TouchPolicy = TouchPolicy.DEFAULT) -> None:
        """IMPORT ASYMMETRIC KEY (Yubico FE, P1 = algorithm, P2 = slot): needs the
        management key; the whole command is secret."""
        body = b"".join(bytes(Tlv(tag, value)) for tag, value in key.parts)
        body += self._policy_tlvs(pin_policy, touch_policy)
        self.protocol.send_apdu(0x00, Ins.IMPORT_KEY, key.algorithm, slot, body, sensitive=True)

    def move_key(self, source: int, destination: int) -> None:
        """YubiKey 5.7 MOVE KEY (P1 = destination, P2 = source); needs the management key."""
        self.protocol.send_apdu(0x00, Ins.MOVE_KEY, destination, source)

    def delete_key(self, slot: int) -> None:
        """YubiKey 5.7 MOVE KEY with destination FF: delete the key in ``slot``."""
        self.move_key(slot, KeyRef.DELETE)

    # ----------------------------------------------------------- attestation
    def attest(self, slot: int) -> bytes:
        """ATTEST (Yubico F9, firmware 4.3+): the DER certificate the F9 key issues for
        the key in ``slot``, which the card must have generated (an imported key: 6A80;
        an empty slot: 6A82). An answer that is no readable certificate raises
        MalformedResponseError."""
        from cardki.certificate import read_certificate_fields

        answer = self.protocol.send_apdu(0x00, Ins.ATTEST, slot, 0x00, le=self.le_max)
        if read_certificate_fields(answer) is None:
            raise MalformedResponseError(f"ATTEST {slot:02X}: the answer is no readable certificate")
        return answer

    def attestation_certificate(self) -> bytes | None:
        """The F9 key's own certificate (object 5FFF01), DER; None if the container
        holds none (a missing object raises NotFoundError)."""
        return self.get_certificate(DataObject.ATTESTATION_CERTIFICATE)

