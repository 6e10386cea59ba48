"""A card that answers badly on purpose, at the token level (in-process transport).

Card answers are untrusted input: whatever a card sends, the token raises a
CryptokiError with CKR_DEVICE_ERROR (or the code its status word means), never
an IndexError/ValueError that the engine would report as CKR_GENERAL_ERROR,
never a hang, and never a wrong result with CKR_OK: signatures, decryptions and
ECDH secrets are checked against the key's public key before they are returned.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from typing import Any, Callable, List

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cardki import errors
from cardki.apdu import Tlv
from cardki.constants import CKA, CKD, CKM, CKR, CKU
from cardki.cryptoki.mechanisms import Ecdh1DeriveParams
from cardki.slot.inprocess import InProcessTransport
from cardki.token import PivToken, Token, open_token

P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")  # CKA_EC_PARAMS of P-256

from hostile_answers import card_answers

from cardki.token.piv.objects import (
    ALGORITHM_BY_NAME,
    MAX_CERTIFICATE_LENGTH,
    SlotContents,
    key_objects,
    parse_certificate_container,
)
from cardki.token.profiles import candidates
from cardki.token.rsa_padding import digest_info
from hostile_card import HostileYubiKey, Rule, gzip_bomb
from provisioning import host_keys, provisioned_state

PIN = b"123456"
MANAGEMENT_KEY = b"010203040506070801020304050607080102030405060708"
SHA256_INFO = digest_info("sha256", hashlib.sha256(b"hostile").digest())
_CARD: List[HostileYubiKey] = []
#: PIV slot -> CKA_ID (cardki's numbering).
IDS = {0x9A: b"\x01", 0x9C: b"\x02", 0x9D: b"\x03", 0x9E: b"\x04"}


def open_hostile(*rules: Rule) -> Token | None:
    """open_token on the provisioned YubiKey misbehaving by ``rules``. The card is made
    once and reused (loading its keys is slow); the rules and a fresh power-on are new."""
    if not _CARD:
        _CARD.append(HostileYubiKey(state=provisioned_state()))
    card = _CARD[0]
    card.set_rules(list(rules))
    return open_token(InProcessTransport(card))


def hostile_token(*rules: Rule) -> PivToken:
    token = open_hostile(*rules)
    assert isinstance(token, PivToken)
    return token


def key(token: PivToken, slot: int) -> Any:
    return next(obj for obj in token.objects_with_id(IDS[slot]) if obj.ref == ("private", slot))


def rsa_ciphertext() -> bytes:
    public = host_keys()[0x9A].public_key()
    return public.encrypt(b"secret", padding.PKCS1v15())


def sign_rsa(token: PivToken) -> bytes:
    token.login(CKU.USER, PIN)
    return token.sign(key(token, 0x9A), CKM.RSA_PKCS, None, SHA256_INFO)


def sign_p256(token: PivToken) -> bytes:
    token.login(CKU.USER, PIN)
    token.login(CKU.CONTEXT_SPECIFIC, PIN)  # 9C: PIN always
    return token.sign(key(token, 0x9C), CKM.ECDSA, None, hashlib.sha256(b"hostile").digest())


def sign_ed25519(token: PivToken) -> bytes:
    return token.sign(key(token, 0x9E), CKM.EDDSA, None, b"hostile")


def decrypt_rsa(token: PivToken) -> bytes:
    token.login(CKU.USER, PIN)
    return token.decrypt(key(token, 0x9A), CKM.RSA_PKCS, None, rsa_ciphertext())


def derive_p256(token: PivToken) -> bytes:
    token.login(CKU.USER, PIN)
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = peer.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return token.derive(key(token, 0x9D), CKM.ECDH1_DERIVE, Ecdh1DeriveParams(CKD.NULL, b"", point))


def list_objects(token: PivToken) -> Any:
    return token.objects()


def token_info(token: PivToken) -> Any:
    return token.info()


def so_login(token: PivToken) -> None:
    token.login(CKU.SO, MANAGEMENT_KEY)


def generate_p256(token: PivToken) -> Any:
    token.login(CKU.SO, MANAGEMENT_KEY)
    return token.generate_key_pair(CKM.EC_KEY_PAIR_GEN, {CKA.ID: b"\x01", CKA.EC_PARAMS: P256_PARAMS},
                                   {CKA.ID: b"\x01"})


def generate_rsa2048(token: PivToken) -> Any:
    token.login(CKU.SO, MANAGEMENT_KEY)
    return token.generate_key_pair(CKM.RSA_PKCS_KEY_PAIR_GEN, {CKA.ID: b"\x01", CKA.MODULUS_BITS: 2048},
                                   {CKA.ID: b"\x01"})


def find_attestation(token: PivToken) -> Any:
    return token.objects_with_id(b"\x65")  # 9A's attestation: SELECT and ATTEST


def access_status(token: PivToken) -> Any:
    return token.access_status()  # GET METADATA 80, 81 and 9B


def factory_reset(token: PivToken) -> None:
    token.factory_reset()


def expect_device_error(open_and_run: Callable[[], Any]) -> errors.CryptokiError:
    with pytest.raises(errors.CryptokiError) as caught:
        open_and_run()
    assert caught.value.rv == CKR.DEVICE_ERROR, caught.value
    return caught.value


# (rule, what is done with the token) for every named way a card answers badly.
AUTHENTICATE = 0x87
CASES = {
    "61xx-forever-to-select": ({"ins": 0xA4, "flood": True}, None),
    "61xx-forever-to-verify": ({"ins": 0x20, "flood": True}, sign_rsa),
    "61xx-forever-to-sign": ({"ins": AUTHENTICATE, "flood": True}, sign_rsa),
    "6cxx-forever-to-sign": ({"ins": AUTHENTICATE, "answer": "6C10"}, sign_rsa),
    "one-byte-select-answer": ({"ins": 0xA4, "answer": "90"}, None),
    "empty-answer-to-sign": ({"ins": AUTHENTICATE, "answer": ""}, sign_rsa),
    "short-version": ({"ins": 0xFD, "data": "05"}, token_info),  # read when asked: the ATR names the YubiKey
    "endless-serial": ({"ins": 0xF8, "data": "01" * 3000}, token_info),  # read when asked, not at detection
    "metadata-without-algorithm": ({"ins": 0xF7, "p2": 0x9A, "tamper": "empty_algorithm"}, list_objects),
    "metadata-without-policy": ({"ins": 0xF7, "p2": 0x9C, "tamper": "empty_policy"}, list_objects),
    "metadata-without-public-key": ({"ins": 0xF7, "p2": 0x9E, "data": "0101E0"}, list_objects),
    "rsa-2048-slot-with-4096-bit-modulus": ({"ins": 0xF7, "p2": 0x9A, "tamper": "modulus_4096"}, list_objects),
    "p256-point-off-the-curve": ({"ins": 0xF7, "p2": 0x9C,
                                  "data": "010111020203030102" + "0443" + "8641" + "04" + "01" * 64}, list_objects),
    "pin-retries-one-byte": ({"ins": 0xF7, "p2": 0x80, "tamper": "one_byte_pin_retries"}, token_info),
    "management-key-metadata-empty": ({"ins": 0xF7, "p2": 0x9B, "data": "0100"}, so_login),
    "management-witness-missing": ({"ins": AUTHENTICATE, "p2": 0x9B, "data": "7C00"}, so_login),
    # "data" rules answer instead of the card, so the card keeps its keys for the other cases
    "generated-point-of-one-byte": ({"ins": 0x47, "data": bytes(Tlv(0x7F49, bytes(Tlv(0x86, b"\x04")))).hex()},
                                    generate_p256),
    "generated-rsa-2048-key-of-4096-bits": ({"ins": 0x47, "data": bytes(Tlv(0x7F49, bytes(
        Tlv(0x81, ((1 << 4095) | 1).to_bytes(512, "big")) + Tlv(0x82, b"\x01\x00\x01")))).hex()}, generate_rsa2048),
    "generate-answer-without-public-key": ({"ins": 0x47, "data": "7F4900"}, generate_rsa2048),
    "sign-answer-not-a-template": ({"ins": AUTHENTICATE, "data": "7D028200"}, sign_rsa),
    "sign-answer-without-result": ({"ins": AUTHENTICATE, "data": "7C03810100"}, sign_rsa),
    "rsa-2048-signature-of-1000-bytes": ({"ins": AUTHENTICATE, "tamper": "signature_1000_bytes"}, sign_rsa),
    "rsa-signature-that-does-not-verify": ({"ins": AUTHENTICATE, "tamper": "flip_last_bit"}, sign_rsa),
    "rsa-signature-empty": ({"ins": AUTHENTICATE, "tamper": "empty_result"}, sign_rsa),
    "ecdsa-signature-not-der": ({"ins": AUTHENTICATE, "tamper": "ecdsa_not_der"}, sign_p256),
    "ecdsa-signature-oversized": ({"ins": AUTHENTICATE, "tamper": "ecdsa_oversized"}, sign_p256),
    "ecdsa-r-is-the-curve-order": ({"ins": AUTHENTICATE, "tamper": "ecdsa_r_is_the_order"}, sign_p256),
    "ecdsa-signature-that-does-not-verify": ({"ins": AUTHENTICATE, "tamper": "flip_last_bit"}, sign_p256),
    "ecdsa-signature-of-1000-bytes": ({"ins": AUTHENTICATE, "tamper": "signature_1000_bytes"}, sign_p256),
    "ed25519-signature-that-does-not-verify": ({"ins": AUTHENTICATE, "tamper": "flip_last_bit"}, sign_ed25519),
    "ed25519-signature-cut-short": ({"ins": AUTHENTICATE, "tamper": "half_result"}, sign_ed25519),
    "rsa-decryption-that-does-not-match": ({"ins": AUTHENTICATE, "tamper": "flip_last_bit"}, decrypt_rsa),
    "rsa-decryption-of-1000-bytes": ({"ins": AUTHENTICATE, "tamper": "signature_1000_bytes"}, decrypt_rsa),
    "ecdh-secret-cut-short": ({"ins": AUTHENTICATE, "tamper": "half_result"}, derive_p256),
    "ecdh-secret-of-1000-bytes": ({"ins": AUTHENTICATE, "tamper": "signature_1000_bytes"}, derive_p256),
    "attest-answer-not-a-certificate": ({"ins": 0xF9, "data": "3003020100"}, find_attestation),
    "attest-answer-empty": ({"ins": 0xF9, "data": ""}, find_attestation),
    "puk-retries-one-byte": ({"ins": 0xF7, "p2": 0x81, "data": "01ff0501000601" "03"}, access_status),
    "management-key-of-unknown-algorithm": ({"ins": 0xF7, "p2": 0x9B, "data": "0101ff02020000050101"},
                                            access_status),
    "management-key-metadata-without-policy": ({"ins": 0xF7, "p2": 0x9B, "data": "01010a050101"}, access_status),
    # every VERIFY answered "wrong, 3 tries left" (the card is never reached): the
    # reset's PIN blocking ends with DEVICE_ERROR, not a loop
    "pin-that-never-blocks": ({"ins": 0x20, "answer": "63C3"}, factory_reset),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_answer_is_a_device_error(name: str) -> None:
    rule, operation = CASES[name]
    if operation is None:
        expect_device_error(lambda: hostile_token(rule))
    else:
        token = hostile_token(rule)
        expect_device_error(lambda: operation(token))


def test_the_honest_card_passes_every_operation_above() -> None:
    """The same operations on the same card without a rule work (so the cases above
    fail because of the card's answer, not because of the operation)."""
    token = hostile_token()
    public = host_keys()
    public[0x9A].public_key().verify(sign_rsa(token), b"hostile", padding.PKCS1v15(), hashes.SHA256())
    raw = sign_p256(token)
    der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public[0x9C].public_key().verify(der, b"hostile", ec.ECDSA(hashes.SHA256()))
    public[0x9E].public_key().verify(sign_ed25519(token), b"hostile")
    assert decrypt_rsa(token) == b"secret"
    assert len(derive_p256(token)) == 32
    assert token.info().serial_number == "12345678"
    assert find_attestation(token) == []  # the provisioned keys were imported
    assert access_status(token).puk.remaining == 3
    so_login(token)


class _ProbedYubiKey(HostileYubiKey):
    """An ATR no profile lists (a reader's, as over NFC): detection probes GET VERSION."""

    @property
    def atr(self) -> bytes:
        return bytes.fromhex("3B8080018080")


def test_a_malformed_chuid_leaves_the_serial_unknown() -> None:
    chuid = bytes(Tlv(0x53, b"\x30\x05\x01"))  # a 30 TLV that claims 5 bytes and has 1
    card = _ProbedYubiKey(state=provisioned_state())
    card.set_rules([{"ins": 0xFD, "answer": "6D00"},  # no GET VERSION: a generic PIV card
                    {"ins": 0xCB, "data_prefix": "5C035FC102", "data": chuid.hex()}])
    token = open_token(InProcessTransport(card))
    assert isinstance(token, PivToken) and token.profile.id == "generic-piv"
    assert token.info().serial_number == "0"


def test_a_gzip_bomb_certificate_is_cut_off_at_the_cap_and_treated_as_unreadable() -> None:
    token = hostile_token({"ins": 0xCB, "data_prefix": "5C035FC105", "tamper": "gzip_bomb"})
    tracemalloc.start()
    try:
        objects = token.objects()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"listing took {peak} bytes"  # the bomb inflates to 60 MiB
    refs = {obj.ref for obj in objects}
    assert ("private", 0x9A) in refs and ("certificate", 0x9A) not in refs  # the key stays usable
    assert ("certificate", 0x9C) in refs


def test_compressed_certificates_up_to_the_cap_are_read() -> None:
    import gzip
    import zlib

    cert = bytes(range(256)) * (MAX_CERTIFICATE_LENGTH // 256)
    for compressed in (gzip.compress(cert), zlib.compress(cert)):
        container = bytes(Tlv(0x70, compressed) + Tlv(0x71, b"\x01") + Tlv(0xFE, b""))
        assert parse_certificate_container(container) == cert
    too_long = bytes(Tlv(0x70, gzip.compress(cert + b"x")) + Tlv(0x71, b"\x01"))
    assert parse_certificate_container(too_long) is None
    assert parse_certificate_container(bytes(Tlv(0x70, gzip_bomb()) + Tlv(0x71, b"\x01"))) is None


# ------------------------------------------------------------------ fuzzing
#: Commands cardki sends, as rules without an action: (ins, p2) or (ins, data prefix).
TARGETS: List[Rule] = [
    {"ins": 0xA4}, {"ins": 0xFD}, {"ins": 0xF8}, {"ins": 0x20},
    {"ins": 0xF7, "p2": 0x80}, {"ins": 0xF7, "p2": 0x9B}, {"ins": 0xF7, "p2": 0x9A}, {"ins": 0xF7, "p2": 0x9C},
    {"ins": 0xF7, "p2": 0x9D}, {"ins": 0xF7, "p2": 0x9E}, {"ins": 0xF7, "p2": 0x82},
    {"ins": 0xCB, "data_prefix": "5C035FC105"}, {"ins": 0xCB, "data_prefix": "5C035FC102"},
    {"ins": 0xCB, "data_prefix": "5C035FC107"}, {"ins": 0xCB, "data_prefix": "5C035FFF01"},
    {"ins": AUTHENTICATE, "p2": 0x9A}, {"ins": AUTHENTICATE, "p2": 0x9C}, {"ins": AUTHENTICATE, "p2": 0x9D},
    {"ins": AUTHENTICATE, "p2": 0x9E}, {"ins": AUTHENTICATE, "p2": 0x82}, {"ins": AUTHENTICATE, "p2": 0x9B},
    {"ins": 0xF9}, {"ins": 0xF7, "p2": 0x81},
]
#: Tags that appear in the answers above, so generated TLVs reach the parsers' inner checks.
TAGS = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x30, 0x34, 0x53, 0x70, 0x71, 0x7C, 0x80, 0x81, 0x82, 0x86,
        0xFE, 0x7F49, 0x5FC105]


#: Status words with a meaning to the token (any other comes too).
STATUS_WORDS = [0x6100, 0x6110, 0x6C00, 0x6C10, 0x63C1, 0x6982, 0x6983, 0x6A82, 0x6A80, 0x6D00, 0x6F00]
ANSWERS = card_answers(TAGS, STATUS_WORDS, leaf_size=80, raw_size=300)
RULES = st.builds(lambda target, kind, answer, count: {**target, kind: answer, **({"count": count} if count else {})},
                  st.sampled_from(TARGETS), st.sampled_from(["answer", "data"]), ANSWERS,
                  st.sampled_from([None, 1, 2]))
OPERATIONS = [sign_rsa, sign_p256, sign_ed25519, decrypt_rsa, derive_p256, list_objects, token_info, so_login,
              find_attestation, access_status]

#: What a card's answer may lead to: DEVICE_ERROR for nonsense, else the code its status word means.
CARD_CODES = {CKR.DEVICE_ERROR, CKR.PIN_INCORRECT, CKR.PIN_LOCKED, CKR.USER_NOT_LOGGED_IN, CKR.FUNCTION_FAILED,
              CKR.DATA_INVALID, CKR.DEVICE_MEMORY, CKR.KEY_HANDLE_INVALID, CKR.TOKEN_NOT_RECOGNIZED}


def checked(result: bytes | None, operation: Callable[[PivToken], Any]) -> None:
    """A result that came back despite the hostile card must be right."""
    keys = host_keys()
    if operation is sign_rsa:
        keys[0x9A].public_key().verify(result, b"hostile", padding.PKCS1v15(), hashes.SHA256())
    elif operation is sign_p256:
        assert result is not None
        der = utils.encode_dss_signature(int.from_bytes(result[:32], "big"), int.from_bytes(result[32:], "big"))
        keys[0x9C].public_key().verify(der, b"hostile", ec.ECDSA(hashes.SHA256()))
    elif operation is sign_ed25519:
        keys[0x9E].public_key().verify(result, b"hostile")
    elif operation is decrypt_rsa:
        assert result == b"secret"
    elif operation is derive_p256:
        assert result is not None and len(result) == 32


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=st.lists(RULES, min_size=1, max_size=3), operation=st.sampled_from(OPERATIONS))
def test_whatever_the_card_answers_only_card_errors_escape(rules: List[Rule], operation: Callable) -> None:
    try:
        token = open_hostile(*rules)
        if not isinstance(token, PivToken):
            return  # CKR_TOKEN_NOT_RECOGNIZED: the card answered SELECT PIV with an error
        result = operation(token)
    except errors.CryptokiError as error:
        assert error.rv in CARD_CODES, error
        return
    checked(result, operation)


def a_certificate() -> bytes:
    token = hostile_token()
    return next(obj.attributes[CKA.VALUE] for obj in token.objects_with_id(IDS[0x9A])
                if obj.ref == ("certificate", 0x9A))


@settings(max_examples=300, deadline=None)
@given(changes=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), min_size=1, max_size=3))
@example(changes=[(594, 0)])  # cryptography raised KeyError: 0 reading the damaged subject
def test_a_damaged_certificate_is_unreadable_rather_than_an_error(changes: List[Any]) -> None:
    """cryptography parses names, version and key at first access: a certificate with a
    damaged subject or an unknown key type must be left out when the slot is read, not
    raise later while its objects are listed."""
    der = bytearray(a_certificate())
    for position, value in changes:
        der[position % len(der)] = value
    spec = next(s for s in candidates()[0].slots if s.key == 0x9A)
    contents = PivToken._certificate_only(spec, bytes(der))
    if contents is not None:
        key_objects(contents)
    key_objects(SlotContents(spec, ALGORITHM_BY_NAME["RSA2048"], host_keys()[0x9A].public_key(), bytes(der)))
