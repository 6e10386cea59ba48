"""The OpenPGP token against a card that answers chosen commands badly: whatever it
answers, only the Cryptoki errors a card can cause come out (never GENERAL_ERROR,
a Python exception or a hang), and a result that does come out is right."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Dict, List

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from hostile_answers import card_answers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardki import errors
from cardki.constants import CKA, CKM, CKO, CKR, CKU
from cardki.slot.inprocess import InProcessTransport
from cardki.token import OpenPgpToken, open_tokens
from hwsim.card import VirtualCard
from hwsim.openpgp_card import VirtualOpenPgpCard
from provisioning import OPENPGP_PIN, openpgp_keys, provision_openpgp

DIGEST = hashlib.sha256(b"hostile").digest()
Rule = Dict[str, Any]


class HostileOpenPgpCard(VirtualCard):
    """A plain OpenPGP card with keys (layout "ec") that answers the commands a rule
    names (``ins``, optionally ``p1``/``p2``) with the rule's ``answer`` (hex, the whole
    response APDU), ``count`` times (default: always)."""

    def __init__(self) -> None:
        self.inner = VirtualOpenPgpCard()
        provision_openpgp(self.inner)
        self.rules: List[Rule] = []

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    def power_on(self) -> None:
        self.inner.power_on()

    def power_off(self) -> None:
        self.inner.power_off()

    def execute(self, apdu: bytes) -> bytes:
        if len(apdu) >= 4:
            for rule in self.rules:
                if rule["ins"] == apdu[1] and rule.get("p1", apdu[2]) == apdu[2] and rule.get("p2", apdu[3]) == apdu[3]:
                    if rule.get("count") is not None:
                        if rule["count"] == 0:
                            continue
                        rule["count"] -= 1
                    return bytes.fromhex(rule["answer"])
        return self.inner.execute(apdu)


_CARD: List[HostileOpenPgpCard] = []


def open_hostile(rules: List[Rule]) -> OpenPgpToken | None:
    if not _CARD:
        _CARD.append(HostileOpenPgpCard())
    card = _CARD[0]
    card.rules = [dict(rule) for rule in rules]
    tokens = open_tokens(InProcessTransport(card))
    token = tokens[0] if tokens else None
    return token if isinstance(token, OpenPgpToken) else None


def key(token: OpenPgpToken, key_id: int) -> Any:
    """The private key with ``key_id``; a card that answers as if it held none (READ
    PUBLIC KEY 6A82) leaves the client nothing to sign with: KEY_HANDLE_INVALID."""
    found = [obj for obj in token.objects_with_id(bytes([key_id])) if obj.attributes[CKA.CLASS] == CKO.PRIVATE_KEY]
    if not found:
        raise errors.KeyHandleInvalid("the card shows no such key")
    return found[0]


def sign(token: OpenPgpToken) -> bytes:
    token.login(CKU.USER, OPENPGP_PIN.encode())
    return token.sign(key(token, 1), CKM.ECDSA, None, DIGEST)


def authenticate(token: OpenPgpToken) -> bytes:
    token.login(CKU.USER, OPENPGP_PIN.encode())
    return token.sign(key(token, 3), CKM.ECDSA, None, DIGEST)


def derive(token: OpenPgpToken) -> bytes:
    token.login(CKU.USER, OPENPGP_PIN.encode())
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = peer.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return token.derive(key(token, 2), CKM.ECDH1_DERIVE, point)


def list_objects(token: OpenPgpToken) -> Any:
    return token.objects()


def info(token: OpenPgpToken) -> Any:
    return token.info()


def mechanisms(token: OpenPgpToken) -> Any:
    return token.mechanisms()


def random_bytes(token: OpenPgpToken) -> bytes:
    return token.generate_random(40)


OPERATIONS = [sign, authenticate, derive, list_objects, info, mechanisms, random_bytes]
TARGETS: List[Rule] = [
    {"ins": 0xA4}, {"ins": 0xCA, "p2": 0x6E}, {"ins": 0xCA, "p2": 0xC4}, {"ins": 0xCA, "p2": 0xF9},
    {"ins": 0xCA, "p2": 0xFA}, {"ins": 0xCA, "p1": 0x7F, "p2": 0x21}, {"ins": 0xA5}, {"ins": 0x47},
    {"ins": 0x20}, {"ins": 0x2A}, {"ins": 0x88}, {"ins": 0x84}, {"ins": 0xC0},
]
TAGS = [0x4F, 0x5F52, 0x6E, 0x73, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xCD, 0xDE, 0x7F49, 0x86, 0x81, 0x82,
        0xFA, 0xA6, 0x30]


#: Status words with a meaning to the token (any other comes too).
STATUS_WORDS = [0x6100, 0x6110, 0x6C10, 0x63C1, 0x6285, 0x6600, 0x6982, 0x6983, 0x6A80, 0x6A82, 0x6A88,
                0x6D00, 0x6F00]
ANSWERS = card_answers(TAGS, STATUS_WORDS, leaf_size=64, raw_size=200)
RULES = st.builds(lambda target, answer, count: {**target, "answer": answer, "count": count},
                  st.sampled_from(TARGETS), ANSWERS, st.sampled_from([None, 1, 2]))
#: What a card's answer may lead to: DEVICE_ERROR for nonsense, else what its status word means.
CARD_CODES = {CKR.DEVICE_ERROR, CKR.PIN_INCORRECT, CKR.PIN_LOCKED, CKR.USER_NOT_LOGGED_IN, CKR.FUNCTION_FAILED,
              CKR.DATA_INVALID, CKR.DEVICE_MEMORY, CKR.KEY_HANDLE_INVALID, CKR.TOKEN_NOT_RECOGNIZED,
              CKR.FUNCTION_CANCELED, CKR.PIN_LEN_RANGE}


def checked(result: Any, operation: Callable[[OpenPgpToken], Any]) -> None:
    keys = openpgp_keys("ec")
    if operation in (sign, authenticate):
        ref = "sig" if operation is sign else "aut"
        der = encode_dss_signature(int.from_bytes(result[:32], "big"), int.from_bytes(result[32:], "big"))
        keys[ref].public_key().verify(der, DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))
    elif operation is derive:
        assert isinstance(result, bytes) and len(result) == 32
    elif operation is random_bytes:
        assert isinstance(result, bytes) and len(result) == 40


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=st.lists(RULES, min_size=1, max_size=3), operation=st.sampled_from(OPERATIONS))
def test_whatever_the_card_answers_only_card_errors_escape(rules: List[Rule], operation: Callable) -> None:
    try:
        token = open_hostile(rules)
        if token is None:
            return  # CKR_TOKEN_NOT_RECOGNIZED: SELECT refused
        result = operation(token)
    except errors.CryptokiError as error:
        assert error.rv in CARD_CODES, error
        return
    checked(result, operation)


def test_a_signature_the_key_did_not_make_is_a_device_error() -> None:
    bogus = (b"\x01" * 64 + b"\x90\x00").hex()
    token = open_hostile([{"ins": 0x2A, "answer": bogus}])
    assert token is not None
    try:
        sign(token)
    except errors.DeviceError:
        return
    raise AssertionError("a wrong signature came out")
