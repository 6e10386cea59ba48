"""PIV card commands (SP 800-73-4 part 2 plus Yubico's extensions), one method per APDU.

This module only formats commands and parses answers; it knows nothing of
Cryptoki, retries or card sharing (that is :mod:`cardki.token.piv`). Every
method is one exchange (plus chaining/GET RESPONSE done by the protocol) and
lets :class:`cardki.apdu.ApduError` subclasses through. An answer that cannot be
what the command asks for (a missing or short field) raises
:class:`cardki.apdu.MalformedResponseError`, never an IndexError or KeyError.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Dict, Tuple

from cardki.apdu import MalformedResponseError, SmartCardProtocol, Tlv, WrongPinError, tlv_dict, unpack_tlv
from cardki.apdu.errors import AuthBlockedError

logger = logging.getLogger(__name__)

PIV_AID = bytes.fromhex("A000000308")

INS_VERIFY = 0x20
INS_CHANGE_REFERENCE = 0x24
INS_GENERATE = 0x47
INS_AUTHENTICATE = 0x87
INS_GET_DATA = 0xCB
INS_PUT_DATA = 0xDB
INS_MOVE_KEY = 0xF6
INS_GET_METADATA = 0xF7
INS_GET_SERIAL = 0xF8
INS_GET_VERSION = 0xFD

PIN_REF = 0x80
MGMT_SLOT = 0x9B
DISCOVERY_TAG = 0x7E

# GENERAL AUTHENTICATE dynamic authentication template tags.
TAG_DYN_AUTH = 0x7C
TAG_WITNESS = 0x80
TAG_CHALLENGE = 0x81
TAG_RESPONSE = 0x82
TAG_EXPONENTIATION = 0x85

ORIGIN_GENERATED = 1
ORIGIN_IMPORTED = 2
#: GET METADATA PIN policy byte -> name (0 = "default": the slot's default).
PIN_POLICIES = {1: "never", 2: "once", 3: "always"}
#: Yubico serial numbers are 32-bit (GET SERIAL answers 4 bytes).
SERIAL_MAX_BYTES = 4


@dataclass(frozen=True)
class KeyMetadata:
    """GET METADATA for a key slot (YubiKey 5.3+)."""

    algorithm: int
    pin_policy: str | None  # None = the slot default
    touch_policy: int
    origin: int | None
    public_key: Dict[int, bytes]  # 81/82 for RSA, 86 for EC and 25519


@dataclass(frozen=True)
class PinMetadata:
    default: bool
    total: int
    remaining: int


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
        data = self.protocol.send_apdu(0x00, INS_GET_VERSION, 0x00, 0x00, le=self.le_max)
        if len(data) < 3:
            raise MalformedResponseError(f"GET VERSION answered {len(data)} bytes, expected 3")
        return (data[0], data[1], data[2])

    def get_serial(self) -> int:
        data = self.protocol.send_apdu(0x00, INS_GET_SERIAL, 0x00, 0x00, le=self.le_max)
        if not 1 <= len(data) <= SERIAL_MAX_BYTES:
            raise MalformedResponseError(f"GET SERIAL answered {len(data)} bytes, expected {SERIAL_MAX_BYTES}")
        return int.from_bytes(data, "big")

    # ---------------------------------------------------------------- data
    def get_data(self, tag: int, *, sensitive: bool = False) -> bytes:
        """The content of a data object (inside its 53 wrapper; the discovery
        object comes back as its own 7E TLV)."""
        request = bytes(Tlv(0x5C, object_id_bytes(tag)))
        data = self.protocol.send_apdu(0x00, INS_GET_DATA, 0x3F, 0xFF, request, le=self.le_max,
                                       sensitive_response=sensitive)
        if tag == DISCOVERY_TAG:
            return unpack_tlv(DISCOVERY_TAG, data)
        return unpack_tlv(0x53, data)

    def put_data(self, tag: int, value: bytes) -> None:
        request = bytes(Tlv(0x5C, object_id_bytes(tag))) + bytes(Tlv(0x53, value))
        self.protocol.send_apdu(0x00, INS_PUT_DATA, 0x3F, 0xFF, request)

    # ---------------------------------------------------------------- PINs
    def verify_pin(self, padded_pin: bytes) -> None:
        """VERIFY the PIN (already padded to 8 bytes); raises WrongPinError / AuthBlockedError."""
        self.protocol.send_apdu(0x00, INS_VERIFY, 0x00, PIN_REF, padded_pin, sensitive=True)

    def pin_status(self) -> int | None:
        """Empty VERIFY: None when the PIN is verified, else the tries left (0 = blocked)."""
        try:
            self.protocol.send_apdu(0x00, INS_VERIFY, 0x00, PIN_REF)
        except WrongPinError as exc:
            return exc.tries_left
        except AuthBlockedError:
            return 0
        return None

    def reset_pin_status(self) -> None:
        """VERIFY P1=FF: drop the PIN's security status (SP 800-73-4 3.2.1)."""
        self.protocol.send_apdu(0x00, INS_VERIFY, 0xFF, PIN_REF)

    def change_pin(self, old_padded: bytes, new_padded: bytes) -> None:
        self.protocol.send_apdu(0x00, INS_CHANGE_REFERENCE, 0x00, PIN_REF, old_padded + new_padded,
                                sensitive=True)

    # ------------------------------------------------------------ metadata
    def get_metadata(self, ref: int) -> Dict[int, bytes]:
        return tlv_dict(self.protocol.send_apdu(0x00, INS_GET_METADATA, 0x00, ref, le=self.le_max))

    def key_metadata(self, slot: int) -> KeyMetadata:
        raw = self.get_metadata(slot)
        what = f"GET METADATA {slot:02X}"
        policy = raw.get(0x02, b"\x00\x00")
        origin = raw.get(0x03)
        if not policy:
            raise MalformedResponseError(f"{what}: the policy field is empty")
        return KeyMetadata(
            algorithm=field(raw, 0x01, what, min_length=1)[0],
            pin_policy=PIN_POLICIES.get(policy[0]),
            touch_policy=policy[1] if len(policy) > 1 else 0,
            origin=origin[0] if origin else None,
            public_key=tlv_dict(field(raw, 0x04, what)),
        )

    def pin_metadata(self) -> PinMetadata:
        raw = self.get_metadata(PIN_REF)
        retries = field(raw, 0x06, "GET METADATA 80 (PIN)", min_length=2)
        return PinMetadata(default=raw.get(0x05, b"\x00") == b"\x01", total=retries[0], remaining=retries[1])

    def management_key_algorithm(self) -> int:
        return field(self.get_metadata(MGMT_SLOT), 0x01, "GET METADATA 9B", min_length=1)[0]

    # ------------------------------------------------ GENERAL AUTHENTICATE
    def authenticate(self, algorithm: int, slot: int, payload: bytes, *, secret_result: bool = False) -> bytes:
        """GENERAL AUTHENTICATE with ``payload`` (81 challenge or 85 point) and an
        empty 82 asking for the response; returns the 82 value. ``secret_result``
        keeps it out of traces and transcripts (decrypted data, shared secrets)."""
        template = Tlv(TAG_DYN_AUTH, bytes(Tlv(TAG_RESPONSE)) + payload)
        answer = self.protocol.send_apdu(0x00, INS_AUTHENTICATE, algorithm, slot, bytes(template), le=self.le_max,
                                         sensitive_response=secret_result)
        return field(tlv_dict(unpack_tlv(TAG_DYN_AUTH, answer)), TAG_RESPONSE, "GENERAL AUTHENTICATE")

    def sign_raw(self, algorithm: int, slot: int, data: bytes, *, secret_result: bool = False) -> bytes:
        """The private-key operation on ``data`` (a signature, or with ``secret_result`` a decryption)."""
        return self.authenticate(algorithm, slot, bytes(Tlv(TAG_CHALLENGE, data)), secret_result=secret_result)

    def ecdh(self, algorithm: int, slot: int, peer_point: bytes) -> bytes:
        return self.authenticate(algorithm, slot, bytes(Tlv(TAG_EXPONENTIATION, peer_point)), secret_result=True)

    def management_witness(self, algorithm: int) -> bytes:
        """Step 1 of mutual authentication: the card's encrypted witness."""
        template = Tlv(TAG_DYN_AUTH, bytes(Tlv(TAG_WITNESS)))
        answer = self.protocol.send_apdu(0x00, INS_AUTHENTICATE, algorithm, MGMT_SLOT, bytes(template), le=self.le_max)
        return field(tlv_dict(unpack_tlv(TAG_DYN_AUTH, answer)), TAG_WITNESS, "GENERAL AUTHENTICATE 9B (witness)")

    def management_respond(self, algorithm: int, decrypted_witness: bytes, challenge: bytes) -> bytes:
        """Step 2: prove we decrypted the witness and challenge the card back."""
        template = Tlv(TAG_DYN_AUTH, bytes(Tlv(TAG_WITNESS, decrypted_witness)) + bytes(Tlv(TAG_CHALLENGE, challenge)))
        answer = self.protocol.send_apdu(0x00, INS_AUTHENTICATE, algorithm, MGMT_SLOT, bytes(template), le=self.le_max,
                                         sensitive=True)
        return field(tlv_dict(unpack_tlv(TAG_DYN_AUTH, answer)), TAG_RESPONSE, "GENERAL AUTHENTICATE 9B (response)")

    # ---------------------------------------------------------- key management
    def generate(self, slot: int, algorithm: int, pin_policy: int = 0, touch_policy: int = 0) -> Dict[int, bytes]:
        """GENERATE ASYMMETRIC KEY PAIR; returns the 7F49 public key template's contents."""
        body = bytes(Tlv(0x80, bytes([algorithm])))
        if pin_policy:
            body += bytes(Tlv(0xAA, bytes([pin_policy])))
        if touch_policy:
            body += bytes(Tlv(0xAB, bytes([touch_policy])))
        answer = self.protocol.send_apdu(0x00, INS_GENERATE, 0x00, slot, bytes(Tlv(0xAC, body)), le=self.le_max)
        return tlv_dict(unpack_tlv(0x7F49, answer))

    def delete_key(self, slot: int) -> None:
        """YubiKey 5.7 MOVE KEY with destination FF: delete the key in ``slot``."""
        self.protocol.send_apdu(0x00, INS_MOVE_KEY, 0xFF, slot)
