"""The PIV applet of a virtual YubiKey (NIST SP 800-73-4 plus Yubico's
extensions), faithful enough for yubico-piv-tool, ykman, OpenSC and ykcs11.

What a real key does and this one mirrors:
- security status (PIN verified, management key authenticated) lives for one
  selection: re-SELECT or a power cycle clears it;
- PIN policy "always" needs a VERIFY before each use of the key, "once" one
  per selection, "never" none; touch policy "always"/"cached" asks the card's
  button (``CardServices.require_touch``), which answers 6982 on timeout;
- features appear with the firmware that brought them (metadata 5.3, AES
  management keys 5.4, RSA3072/4096, Ed25519, X25519 and MOVE KEY 5.7, ATTEST
  4.3, GET SERIAL 5.0) and are answered 6D00/6A80 on older firmware.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Tuple

from cryptography import x509

from . import attestation
from .applet import Applet, CardServices, blank_data, blank_response
from .iso7816 import (
    SW,
    Command,
    SwError,
    find_value,
    parse_command,
    parse_tlv_dict,
    parse_tlvs,
    tlv,
    unwrap,
)
from .piv_crypto import (
    DEFAULT_MANAGEMENT_KEY,
    KEY_ALGORITHMS,
    MANAGEMENT_KEY_TYPES,
    KeyAlgorithm,
    ManagementKeyType,
    PrivateKey,
    StoredKey,
    algorithm_of,
    block_decrypt,
    block_encrypt,
    derive,
    encode_public_key,
    generate_key,
    import_key,
    key_algorithm,
    serialize_private,
    sign_or_decrypt,
)
from .statefile import StateError

PIV_AID = bytes.fromhex("A000000308000010000100")

INS_VERIFY = 0x20
INS_CHANGE_REFERENCE = 0x24
INS_RESET_RETRY = 0x2C
INS_GENERATE = 0x47
INS_AUTHENTICATE = 0x87
INS_GET_DATA = 0xCB
INS_PUT_DATA = 0xDB
INS_MOVE_KEY = 0xF6
INS_GET_METADATA = 0xF7
INS_GET_SERIAL = 0xF8
INS_ATTEST = 0xF9
INS_SET_PIN_RETRIES = 0xFA
INS_RESET = 0xFB
INS_GET_VERSION = 0xFD
INS_IMPORT_KEY = 0xFE
INS_SET_MGMKEY = 0xFF

#: Instructions whose whole command data is secret (PIN, PUK, key material).
SECRET_COMMAND_INS = frozenset({INS_VERIFY, INS_CHANGE_REFERENCE, INS_RESET_RETRY, INS_IMPORT_KEY, INS_SET_MGMKEY})

PIN_REF = 0x80
PUK_REF = 0x81
MGMT_SLOT = 0x9B
ATTESTATION_SLOT = 0xF9

PIN_POLICY_DEFAULT, PIN_POLICY_NEVER, PIN_POLICY_ONCE, PIN_POLICY_ALWAYS = 0, 1, 2, 3
TOUCH_POLICY_DEFAULT, TOUCH_POLICY_NEVER, TOUCH_POLICY_ALWAYS, TOUCH_POLICY_CACHED = 0, 1, 2, 3
ORIGIN_GENERATED, ORIGIN_IMPORTED = 1, 2

DEFAULT_PIN = b"123456".ljust(8, b"\xff")
DEFAULT_PUK = b"12345678"
DEFAULT_RETRIES = 3
MAX_OBJECT_SIZE = 3063  # the YubiKey's largest data object

KEY_SLOTS = (0x9A, 0x9C, 0x9D, 0x9E) + tuple(range(0x82, 0x96)) + (ATTESTATION_SLOT,)

#: Slot -> certificate object (SP 800-73-4 table 3, retired 82..95, YubiKey F9).
CERT_OBJECTS: Dict[int, int] = {0x9A: 0x5FC105, 0x9C: 0x5FC10A, 0x9D: 0x5FC10B, 0x9E: 0x5FC101, 0xF9: 0x5FFF01}
CERT_OBJECTS.update({slot: 0x5FC10D + i for i, slot in enumerate(range(0x82, 0x96))})

OBJ_DISCOVERY = 0x7E
OBJ_BIT_GROUP = 0x7F61
OBJ_PRINTED = 0x5FC109
#: Containers that SP 800-73-4 reads only after PIN verification.
PIN_PROTECTED_OBJECTS = frozenset({0x5FC103, 0x5FC108, OBJ_PRINTED, 0x5FC121})
#: Objects whose content is a secret (ykman keeps a PIN-protected management key here).
SECRET_OBJECTS = frozenset({OBJ_PRINTED})

DISCOVERY = tlv(0x7E, tlv(0x4F, PIV_AID) + tlv(0x5F2F, b"\x40\x00"))

# Application Property Template: AID (PIX part) and the coexistent tag
# allocation authority, as a YubiKey answers SELECT.
SELECT_RESPONSE = tlv(0x61, tlv(0x4F, PIV_AID[5:]) + tlv(0x79, tlv(0x4F, PIV_AID[:5])))


def _object_id_allowed(object_id: int) -> bool:
    """Ids a YubiKey stores: any three-byte 5Fxxxx, not only SP 800-73's
    5FC101..5FC123 (ykman's own tests write 5F0001; Yubico keeps 5FFFxx)."""
    return 0x5F0000 <= object_id <= 0x5FFFFF


def _default_pin_policy(slot: int) -> int:
    if slot == 0x9C:
        return PIN_POLICY_ALWAYS
    if slot in (0x9E, ATTESTATION_SLOT):
        return PIN_POLICY_NEVER
    return PIN_POLICY_ONCE


def _pin_value_valid(padded: bytes) -> bool:
    """A new PIN/PUK: 6 to 8 bytes, then 0xFF padding to 8."""
    value = padded.rstrip(b"\xff")
    return 6 <= len(value) <= 8 and b"\xff" not in value


class SlotKey:
    """A private key in a slot and the policies fixed when it got there. The key is
    parsed when the card first uses it (:class:`~hwsim.piv_crypto.StoredKey`): a card
    restored from its state file takes the algorithm from the file."""

    def __init__(self, key: PrivateKey | StoredKey, algorithm: KeyAlgorithm, pin_policy: int,
                 touch_policy: int, origin: int) -> None:
        self._stored = key if isinstance(key, StoredKey) else StoredKey(key)
        self.algorithm = algorithm
        self.pin_policy = pin_policy
        self.touch_policy = touch_policy
        self.origin = origin

    @property
    def key(self) -> PrivateKey:
        return self._stored.key

    def to_state(self) -> Dict[str, Any]:
        return {
            "algorithm": self.algorithm.ident,
            "pin_policy": self.pin_policy,
            "touch_policy": self.touch_policy,
            "origin": self.origin,
            "private_key": self._stored.to_state(),
        }

    @classmethod
    def from_state(cls, data: Dict[str, Any]) -> SlotKey:
        algorithm = KEY_ALGORITHMS.get(int(data["algorithm"]))
        if algorithm is None:
            raise StateError("a PIV key of an algorithm this card does not know")
        stored = StoredKey.from_state(data["private_key"], lambda key: algorithm_of(key) == algorithm)
        return cls(stored, algorithm, int(data["pin_policy"]), int(data["touch_policy"]), int(data["origin"]))


@dataclass
class Counter:
    """A PIN or PUK: its padded value and retry counter."""

    value: bytes
    total: int
    left: int

    @property
    def blocked(self) -> bool:
        return self.left == 0


class PivApplet(Applet):
    """PIV card application with the YubiKey's extra instructions."""

    aid = PIV_AID
    min_select_length = 5
    name = "PIV"
    state_key = "piv"

    def __init__(self, card: CardServices, state: Dict[str, Any] | None = None) -> None:
        super().__init__(card)
        self.handlers = {
            INS_VERIFY: self._verify,
            INS_CHANGE_REFERENCE: self._change_reference,
            INS_RESET_RETRY: self._reset_retry,
            INS_GENERATE: self._generate,
            INS_AUTHENTICATE: self._authenticate,
            INS_GET_DATA: self._get_data,
            INS_PUT_DATA: self._put_data,
            INS_GET_VERSION: self._get_version,
            INS_SET_MGMKEY: self._set_management_key,
            INS_RESET: self._reset,
            INS_SET_PIN_RETRIES: self._set_pin_retries,
        }
        fw = card.firmware
        if fw >= (4, 3, 0):
            self.handlers[INS_ATTEST] = self._attest
        if fw >= (4, 0, 0):
            self.handlers[INS_IMPORT_KEY] = self._import_key
        if fw >= (5, 0, 0):
            self.handlers[INS_GET_SERIAL] = self._get_serial
        if fw >= (5, 3, 0):
            self.handlers[INS_GET_METADATA] = self._get_metadata
        if fw >= (5, 7, 0):
            self.handlers[INS_MOVE_KEY] = self._move_key
        self.keys: Dict[int, SlotKey] = {}
        self.objects: Dict[int, bytes] = {}
        self._clear_session()
        self._factory_reset(keep_attestation=False)
        self.attestation_root_der: bytes | None = None
        self._attestation_root_key: str | None = None
        if state is not None:
            self._load_state(state)
        self._last_response_secret = False
        self._secret_chain_ins: int | None = None

    # ---------------------------------------------------------------- state
    def _factory_reset(self, keep_attestation: bool) -> None:
        self.pin = Counter(DEFAULT_PIN, DEFAULT_RETRIES, DEFAULT_RETRIES)
        self.puk = Counter(DEFAULT_PUK, DEFAULT_RETRIES, DEFAULT_RETRIES)
        self.mgmt_type: ManagementKeyType = MANAGEMENT_KEY_TYPES[0x0A if self.card.firmware >= (5, 7, 0) else 0x03]
        self.mgmt_key = DEFAULT_MANAGEMENT_KEY
        self.mgmt_touch = TOUCH_POLICY_NEVER
        kept_key = self.keys.get(ATTESTATION_SLOT) if keep_attestation else None
        kept_cert = self.objects.get(CERT_OBJECTS[ATTESTATION_SLOT]) if keep_attestation else None
        self.keys = {}
        self.objects = {}
        if kept_key is not None:
            self.keys[ATTESTATION_SLOT] = kept_key
        if kept_cert is not None:
            self.objects[CERT_OBJECTS[ATTESTATION_SLOT]] = kept_cert

    def _load_state(self, state: Dict[str, Any]) -> None:
        self.pin = Counter(bytes.fromhex(state["pin"]), state["pin_retries_total"], state["pin_retries_left"])
        self.puk = Counter(bytes.fromhex(state["puk"]), state["puk_retries_total"], state["puk_retries_left"])
        mgmt = state["management_key"]
        self.mgmt_type = MANAGEMENT_KEY_TYPES[int(mgmt["algorithm"])]
        self.mgmt_key = bytes.fromhex(mgmt["key"])
        self.mgmt_touch = int(mgmt["touch_policy"])
        self.keys = {int(slot, 16): SlotKey.from_state(data) for slot, data in state["keys"].items()}
        self.objects = {int(obj, 16): bytes.fromhex(data) for obj, data in state["objects"].items()}
        root = state.get("attestation_root")
        if root:
            self.attestation_root_der = bytes.fromhex(root["certificate"])
            self._attestation_root_key = root["private_key"]

    def to_state(self) -> Dict[str, Any]:
        state: Dict[str, Any] = {
            "pin": self.pin.value.hex(),
            "pin_retries_total": self.pin.total,
            "pin_retries_left": self.pin.left,
            "puk": self.puk.value.hex(),
            "puk_retries_total": self.puk.total,
            "puk_retries_left": self.puk.left,
            "management_key": {
                "algorithm": self.mgmt_type.ident,
                "key": self.mgmt_key.hex(),
                "touch_policy": self.mgmt_touch,
            },
            "keys": {f"{slot:02x}": key.to_state() for slot, key in sorted(self.keys.items())},
            "objects": {f"{obj:06x}": data.hex() for obj, data in sorted(self.objects.items())},
            "attestation_root": None,
        }
        if self.attestation_root_der is not None:
            state["attestation_root"] = {
                "certificate": self.attestation_root_der.hex(),
                "private_key": self._attestation_root_key,
            }
        return state

    def _changed(self) -> None:
        self.card.mark_changed()

    @property
    def attestation_root(self) -> x509.Certificate | None:
        """The simulator's root CA that the F9 certificate chains to."""
        self._ensure_attestation()
        if self.attestation_root_der is None:
            return None
        return x509.load_der_x509_certificate(self.attestation_root_der)

    def _ensure_attestation(self) -> None:
        """Create the root CA and the F9 key + certificate the first time they
        are needed (a real key ships with them; making them lazily keeps fresh
        test cards fast)."""
        if self.card.firmware < (4, 3, 0) or self.attestation_root_der is not None:
            return
        root_key, root_der, f9_key, f9_der = attestation.make_root_and_device_ca(self.card.serial)
        self.attestation_root_der = root_der
        self._attestation_root_key = serialize_private(root_key)
        if ATTESTATION_SLOT not in self.keys:
            self.keys[ATTESTATION_SLOT] = SlotKey(
                f9_key, algorithm_of(f9_key), PIN_POLICY_NEVER, TOUCH_POLICY_NEVER, ORIGIN_IMPORTED
            )
            self.objects[CERT_OBJECTS[ATTESTATION_SLOT]] = (
                tlv(0x70, f9_der) + tlv(0x71, b"\x00") + tlv(0xFE)
            )
        self._changed()

    # -------------------------------------------------------------- session
    def _clear_session(self) -> None:
        self.pin_verified = False
        self.pin_always_ok = False  # one use of a PIN-always key after VERIFY
        self.mgmt_authenticated = False
        self._witness: bytes | None = None
        self._challenge: bytes | None = None

    def select(self, cmd: Command) -> bytes:
        self._clear_session()
        return SELECT_RESPONSE

    def deselect(self) -> None:
        self._clear_session()

    def _require_mgmt(self) -> None:
        if not self.mgmt_authenticated:
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)

    # ------------------------------------------------------- simple getters
    def _get_version(self, cmd: Command) -> bytes:
        return bytes(self.card.firmware)

    def _get_serial(self, cmd: Command) -> bytes:
        return self.card.serial.to_bytes(4, "big")

    # ---------------------------------------------------------- PIN and PUK
    def _counter(self, ref: int) -> Counter:
        if ref == PIN_REF:
            return self.pin
        if ref == PUK_REF:
            return self.puk
        raise SwError(SW.REFERENCE_NOT_FOUND)

    def _check(self, counter: Counter, value: bytes) -> None:
        """Compare against a PIN/PUK, spending a retry when wrong."""
        if counter.blocked:
            raise SwError(SW.AUTH_METHOD_BLOCKED)
        if value != counter.value:
            counter.left -= 1
            self._changed()
            raise SwError(SW.VERIFY_FAIL | counter.left)
        if counter.left != counter.total:
            counter.left = counter.total
            self._changed()

    def _verify(self, cmd: Command) -> bytes:
        if cmd.p1 == 0xFF:  # reset security status
            if cmd.p2 != PIN_REF or cmd.data:
                raise SwError(SW.INCORRECT_P1P2)
            self.pin_verified = False
            self.pin_always_ok = False
            return b""
        if cmd.p1 != 0x00 or cmd.p2 != PIN_REF:
            raise SwError(SW.REFERENCE_NOT_FOUND)
        if not cmd.data:  # status check
            if self.pin.blocked:
                raise SwError(SW.AUTH_METHOD_BLOCKED)
            if self.pin_verified:
                return b""
            raise SwError(SW.VERIFY_FAIL | self.pin.left)
        if len(cmd.data) != 8:
            raise SwError(SW.INCORRECT_DATA)
        try:
            self._check(self.pin, cmd.data)
        except SwError:
            self.pin_verified = False
            self.pin_always_ok = False
            raise
        self.pin_verified = True
        self.pin_always_ok = True
        return b""

    def _change_reference(self, cmd: Command) -> bytes:
        if cmd.p1 != 0x00:
            raise SwError(SW.INCORRECT_P1P2)
        counter = self._counter(cmd.p2)
        if len(cmd.data) != 16:
            raise SwError(SW.INCORRECT_DATA)
        self._check(counter, cmd.data[:8])
        new = cmd.data[8:]
        if not _pin_value_valid(new):
            raise SwError(SW.INCORRECT_DATA)
        counter.value = new
        counter.left = counter.total
        self._changed()
        return b""

    def _reset_retry(self, cmd: Command) -> bytes:
        if cmd.p1 != 0x00 or cmd.p2 != PIN_REF:
            raise SwError(SW.INCORRECT_P1P2)
        if len(cmd.data) != 16:
            raise SwError(SW.INCORRECT_DATA)
        self._check(self.puk, cmd.data[:8])
        new = cmd.data[8:]
        if not _pin_value_valid(new):
            raise SwError(SW.INCORRECT_DATA)
        self.pin.value = new
        self.pin.left = self.pin.total
        self._changed()
        return b""

    def _set_pin_retries(self, cmd: Command) -> bytes:
        self._require_mgmt()
        if not self.pin_verified:
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
        if not (1 <= cmd.p1 <= 0xFF and 1 <= cmd.p2 <= 0xFF):
            raise SwError(SW.INCORRECT_P1P2)
        # As on a real key, new retry counts put PIN and PUK back to defaults.
        self.pin = Counter(DEFAULT_PIN, cmd.p1, cmd.p1)
        self.puk = Counter(DEFAULT_PUK, cmd.p2, cmd.p2)
        self._changed()
        return b""

    def _reset(self, cmd: Command) -> bytes:
        if not (self.pin.blocked and self.puk.blocked):
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        self._factory_reset(keep_attestation=True)
        self._clear_session()
        self._changed()
        return b""

    # ------------------------------------------------------- management key
    def _set_management_key(self, cmd: Command) -> bytes:
        self._require_mgmt()
        if cmd.p1 != 0xFF or cmd.p2 not in (0xFF, 0xFE):
            raise SwError(SW.INCORRECT_P1P2)
        if len(cmd.data) < 3:
            raise SwError(SW.INCORRECT_DATA)
        key_type = MANAGEMENT_KEY_TYPES.get(cmd.data[0])
        if key_type is None or self.card.firmware < key_type.min_firmware:
            raise SwError(SW.INCORRECT_DATA)
        key = unwrap(MGMT_SLOT, cmd.data[1:])
        if len(key) != key_type.key_length:
            raise SwError(SW.INCORRECT_DATA)
        self.mgmt_type = key_type
        self.mgmt_key = key
        self.mgmt_touch = TOUCH_POLICY_ALWAYS if cmd.p2 == 0xFE else TOUCH_POLICY_NEVER
        self._changed()
        return b""

    def _authenticate_management(self, cmd: Command, template: Dict[int, bytes]) -> bytes:
        """Mutual (witness 80 + challenge 81) or external (81 then 82)
        authentication with the management key."""
        # P1=00 stands for "the management key's own algorithm": OpenSC asks
        # for random data that way (00 87 00 9B 7C{81}) and gets it from real keys.
        if cmd.p1 not in (0x00, self.mgmt_type.ident):
            raise SwError(SW.INCORRECT_P1P2)
        block = self.mgmt_type.block_length
        witness = template.get(0x80)
        challenge = template.get(0x81)
        response = template.get(0x82)
        if witness is not None and not witness and challenge is None:
            # Step 1 of mutual authentication: the card's encrypted witness.
            self.mgmt_authenticated = False
            self._witness = os.urandom(block)
            self._challenge = None
            return tlv(0x7C, tlv(0x80, block_encrypt(self.mgmt_type, self.mgmt_key, self._witness)))
        if witness and challenge is not None:
            # Step 2: host proves it decrypted the witness, card answers the challenge.
            expected, self._witness = self._witness, None
            if expected is None or len(witness) != block or witness != expected or len(challenge) != block:
                self.mgmt_authenticated = False
                raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
            self._touch_for_management()
            self.mgmt_authenticated = True
            return tlv(0x7C, tlv(0x82, block_encrypt(self.mgmt_type, self.mgmt_key, challenge)))
        if challenge is not None and not challenge and witness is None:
            # External authentication, step 1: a plain challenge.
            self.mgmt_authenticated = False
            self._challenge = os.urandom(block)
            self._witness = None
            return tlv(0x7C, tlv(0x81, self._challenge))
        if response and witness is None and challenge is None:
            expected, self._challenge = self._challenge, None
            if expected is None or len(response) != block:
                raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
            if block_decrypt(self.mgmt_type, self.mgmt_key, response) != expected:
                self.mgmt_authenticated = False
                raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
            self._touch_for_management()
            self.mgmt_authenticated = True
            return b""
        raise SwError(SW.INCORRECT_DATA)

    def _touch_for_management(self) -> None:
        if self.mgmt_touch == TOUCH_POLICY_ALWAYS:
            self.card.require_touch()

    # ------------------------------------------------- GENERAL AUTHENTICATE
    def _authenticate(self, cmd: Command) -> bytes:
        template = parse_tlv_dict(unwrap(0x7C, cmd.data)) if cmd.data else None
        if template is None:
            raise SwError(SW.INCORRECT_DATA)
        if cmd.p2 == MGMT_SLOT:
            return self._authenticate_management(cmd, template)
        if cmd.p2 not in KEY_SLOTS:
            raise SwError(SW.INCORRECT_P1P2)
        slot_key = self.keys.get(cmd.p2)
        if slot_key is None:
            raise SwError(SW.FILE_NOT_FOUND)
        if cmd.p1 != slot_key.algorithm.ident:
            # What a YubiKey answers, and what ykman's key/certificate pairing
            # check (ykman.piv.check_key) reads as "does not match".
            raise SwError(SW.INCORRECT_DATA)
        if 0x82 not in template or template[0x82]:
            raise SwError(SW.INCORRECT_DATA)
        self._authorize_key_use(slot_key)
        if 0x81 in template:
            result = sign_or_decrypt(slot_key.key, slot_key.algorithm, template[0x81])
        elif 0x85 in template:
            result = derive(slot_key.key, slot_key.algorithm, template[0x85])
        else:
            raise SwError(SW.INCORRECT_DATA)
        return tlv(0x7C, tlv(0x82, result))

    def _authorize_key_use(self, slot_key: SlotKey) -> None:
        """PIN and touch policy of the key, checked before each private-key use."""
        if slot_key.pin_policy == PIN_POLICY_ALWAYS:
            if not (self.pin_verified and self.pin_always_ok):
                raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
            self.pin_always_ok = False
        elif slot_key.pin_policy == PIN_POLICY_ONCE:
            if not self.pin_verified:
                raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
        if slot_key.touch_policy == TOUCH_POLICY_ALWAYS:
            self.card.require_touch()
        elif slot_key.touch_policy == TOUCH_POLICY_CACHED:
            self.card.require_touch(cacheable=True)

    # ------------------------------------------------------- key management
    def _policies(self, slot: int, template: Dict[int, bytes]) -> Tuple[int, int]:
        pin_policy = template.get(0xAA, b"\x00")
        touch_policy = template.get(0xAB, b"\x00")
        if len(pin_policy) != 1 or len(touch_policy) != 1:
            raise SwError(SW.INCORRECT_DATA)
        pin, touch = pin_policy[0], touch_policy[0]
        if pin > PIN_POLICY_ALWAYS or touch > TOUCH_POLICY_CACHED:
            raise SwError(SW.INCORRECT_DATA)
        if (pin or touch) and self.card.firmware < (4, 0, 0):
            raise SwError(SW.INCORRECT_DATA)
        if touch == TOUCH_POLICY_CACHED and self.card.firmware < (4, 3, 0):
            raise SwError(SW.INCORRECT_DATA)
        return pin or _default_pin_policy(slot), touch or TOUCH_POLICY_NEVER

    def _generate(self, cmd: Command) -> bytes:
        self._require_mgmt()
        if cmd.p1 != 0x00 or cmd.p2 not in KEY_SLOTS or cmd.p2 == ATTESTATION_SLOT:
            raise SwError(SW.INCORRECT_P1P2)
        template = parse_tlv_dict(unwrap(0xAC, cmd.data))
        ident = template.get(0x80)
        if ident is None or len(ident) != 1:
            raise SwError(SW.INCORRECT_DATA)
        algorithm = key_algorithm(ident[0], self.card.firmware)
        pin_policy, touch_policy = self._policies(cmd.p2, template)
        key = generate_key(algorithm)
        self.keys[cmd.p2] = SlotKey(key, algorithm, pin_policy, touch_policy, ORIGIN_GENERATED)
        self._changed()
        return tlv(0x7F49, encode_public_key(key))

    def _import_key(self, cmd: Command) -> bytes:
        self._require_mgmt()
        if cmd.p2 not in KEY_SLOTS:
            raise SwError(SW.INCORRECT_P1P2)
        algorithm = key_algorithm(cmd.p1, self.card.firmware)
        template = parse_tlv_dict(cmd.data)
        pin_policy, touch_policy = self._policies(cmd.p2, template)
        key = import_key(algorithm, template)
        self.keys[cmd.p2] = SlotKey(key, algorithm, pin_policy, touch_policy, ORIGIN_IMPORTED)
        self._changed()
        return b""

    def _move_key(self, cmd: Command) -> bytes:
        """MOVE KEY (P1 = destination, P2 = source) and DELETE KEY (P1 = FF)."""
        self._require_mgmt()
        source, destination = cmd.p2, cmd.p1
        movable = set(KEY_SLOTS) - {ATTESTATION_SLOT}
        if source not in movable or (destination != 0xFF and destination not in movable):
            raise SwError(SW.INCORRECT_P1P2)
        if source not in self.keys:
            raise SwError(SW.FILE_NOT_FOUND)
        slot_key = self.keys.pop(source)
        if destination != 0xFF:
            self.keys[destination] = slot_key
        self._changed()
        return b""

    def _attest(self, cmd: Command) -> bytes:
        if cmd.p2 != 0x00 or cmd.p1 not in KEY_SLOTS or cmd.p1 == ATTESTATION_SLOT:
            raise SwError(SW.INCORRECT_P1P2)
        slot_key = self.keys.get(cmd.p1)
        if slot_key is None:
            raise SwError(SW.FILE_NOT_FOUND)
        if slot_key.origin != ORIGIN_GENERATED:
            raise SwError(SW.INCORRECT_DATA)
        self._ensure_attestation()
        signer = self.keys.get(ATTESTATION_SLOT)
        if signer is None or signer.algorithm.family == "x25519":
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        cert_object = self.objects.get(CERT_OBJECTS[ATTESTATION_SLOT])
        signer_cert = find_value(0x70, cert_object) if cert_object else None
        if signer_cert is None:
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        return attestation.attest(
            cmd.p1,
            slot_key.key.public_key(),
            slot_key.pin_policy,
            slot_key.touch_policy,
            self.card.firmware,
            self.card.serial,
            signer.key,
            signer_cert,
        )

    def _get_metadata(self, cmd: Command) -> bytes:
        if cmd.p1 != 0x00:
            raise SwError(SW.INCORRECT_P1P2)
        ref = cmd.p2
        if ref in (PIN_REF, PUK_REF):
            counter = self._counter(ref)
            default = DEFAULT_PIN if ref == PIN_REF else DEFAULT_PUK
            return (
                tlv(0x01, b"\xff")
                + tlv(0x05, b"\x01" if counter.value == default else b"\x00")
                + tlv(0x06, bytes([counter.total, counter.left]))
            )
        if ref == MGMT_SLOT:
            is_default = self.mgmt_key == DEFAULT_MANAGEMENT_KEY
            return (
                tlv(0x01, bytes([self.mgmt_type.ident]))
                + tlv(0x02, bytes([0x00, self.mgmt_touch]))
                + tlv(0x05, b"\x01" if is_default else b"\x00")
            )
        if ref not in KEY_SLOTS:
            raise SwError(SW.REFERENCE_NOT_FOUND)
        if ref == ATTESTATION_SLOT:
            self._ensure_attestation()
        slot_key = self.keys.get(ref)
        if slot_key is None:
            # An empty slot: 6A88, which ykman's `piv info` expects on every
            # factory-fresh key (it raises on anything else).
            raise SwError(SW.REFERENCE_NOT_FOUND)
        return (
            tlv(0x01, bytes([slot_key.algorithm.ident]))
            + tlv(0x02, bytes([slot_key.pin_policy, slot_key.touch_policy]))
            + tlv(0x03, bytes([slot_key.origin]))
            + tlv(0x04, encode_public_key(slot_key.key))
        )

    # ---------------------------------------------------------- data objects
    @staticmethod
    def _object_id(cmd: Command) -> int:
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF):
            raise SwError(SW.INCORRECT_P1P2)
        items = parse_tlvs(cmd.data)
        if not items or items[0][0] != 0x5C or not 1 <= len(items[0][1]) <= 3:
            raise SwError(SW.INCORRECT_DATA)
        return int.from_bytes(items[0][1], "big")

    def _get_data(self, cmd: Command) -> bytes:
        object_id = self._object_id(cmd)
        if object_id == OBJ_DISCOVERY:
            return DISCOVERY
        if object_id == CERT_OBJECTS[ATTESTATION_SLOT]:
            self._ensure_attestation()
        if object_id != OBJ_BIT_GROUP and not _object_id_allowed(object_id):
            raise SwError(SW.FILE_NOT_FOUND)
        if object_id in PIN_PROTECTED_OBJECTS and not self.pin_verified:
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
        data = self.objects.get(object_id)
        if data is None:
            raise SwError(SW.FILE_NOT_FOUND)
        return tlv(0x53, data)

    def _put_data(self, cmd: Command) -> bytes:
        self._require_mgmt()
        object_id = self._object_id(cmd)
        if not _object_id_allowed(object_id):
            raise SwError(SW.FILE_NOT_FOUND if object_id != OBJ_DISCOVERY else SW.SECURITY_STATUS_NOT_SATISFIED)
        items = parse_tlvs(cmd.data)
        if len(items) != 2 or items[1][0] != 0x53:
            raise SwError(SW.INCORRECT_DATA)
        value = items[1][1]
        if len(value) > MAX_OBJECT_SIZE:
            raise SwError(SW.NOT_ENOUGH_MEMORY)
        if value:
            self.objects[object_id] = value
        else:
            self.objects.pop(object_id, None)
        self._changed()
        return b""

    # -------------------------------------------------------------- redaction
    def redact_command(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return apdu
        ins, p2 = apdu[1], apdu[3]
        # A secret PUT DATA split by command chaining names its object only in
        # the first part: remember it for the parts that follow.
        continues_secret = self._secret_chain_ins == ins
        self._secret_chain_ins = None
        secret = (
            ins in SECRET_COMMAND_INS
            or (ins == INS_AUTHENTICATE and p2 == MGMT_SLOT)
            or (ins == INS_PUT_DATA and (continues_secret or _names_secret_object(apdu)))
        )
        if secret and apdu[0] & 0x10:
            self._secret_chain_ins = ins
        return blank_data(apdu) if secret else apdu

    def redact_response(self, apdu: bytes, rapdu: bytes) -> bytes:
        if len(apdu) < 4:
            return rapdu
        ins, p2 = apdu[1], apdu[3]
        secret = (
            (ins == INS_AUTHENTICATE and p2 == MGMT_SLOT)
            or (ins == INS_GET_DATA and _names_secret_object(apdu))
            or (ins == 0xC0 and self._last_response_secret)
        )
        self._last_response_secret = secret and len(rapdu) >= 2 and rapdu[-2] == 0x61
        return blank_response(rapdu) if secret else rapdu


def _names_secret_object(apdu: bytes) -> bool:
    """Whether a GET/PUT DATA command names an object holding a secret."""
    try:
        data = parse_command(apdu).data
    except SwError:
        return False
    # Only the leading 5C tag matters; the rest may be cut by command chaining.
    if len(data) < 2 or data[0] != 0x5C or data[1] > 3 or len(data) < 2 + data[1]:
        return False
    return int.from_bytes(data[2 : 2 + data[1]], "big") in SECRET_OBJECTS
