"""A card that answers badly on purpose, through pcscd + vpcd (tests/hostile_card.py).

Each case serves the provisioned YubiKey with one misbehaviour and runs the
Cryptoki call that meets it: the call answers CKR_DEVICE_ERROR -- not
CKR_GENERAL_ERROR, not a hang, not a wrong result with CKR_OK -- and the library
stays usable. The token-level fuzzing of the same card is
tests/unit/test_piv_token_hostile.py.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from engine_stack import RO, find, reader_slot

from cardki import CKA, CKK, CKM, CKO, CKS, CKU, Cryptoki, errors
from cardki.constants import CKD, CKR
from cardki.cryptoki.mechanisms import Ecdh1DeriveParams
from hostile_card import HostileYubiKey, Rule, hostile_state
from hwsim import piv as piv_applet
from hwsim.piv_crypto import algorithm_of
from hwsim.statefile import save_state
from provisioning import KEY_IDS, PIN, host_keys, provision, provisioned_state

pytestmark = pytest.mark.sim

HOSTILE_CARD = f"{Path(__file__).resolve().parents[1] / 'hostile_card.py'}:HostileYubiKey"
AUTHENTICATE = 0x87
_STATE: List[Dict[str, Any]] = []


def provisioned() -> Dict[str, Any]:
    if not _STATE:
        _STATE.append(provisioned_state())
    return _STATE[0]


@pytest.fixture
def hostile(virtual_card_factory: Callable[..., Any], tmp_path: Path) -> Callable[..., Any]:
    """hostile(*rules): the provisioned YubiKey, misbehaving by ``rules``, in reader 0."""

    def make(*rules: Rule) -> Any:
        state = tmp_path / "hostile.json"
        save_state(state, hostile_state(provisioned(), *rules))
        return virtual_card_factory(card=HOSTILE_CARD, state=state)

    return make


def logged_in(lib: Cryptoki, reader_name: str) -> int:
    """A new session of the user (the login is per application: only the first one logs in)."""
    session = lib.open_session(reader_slot(lib, reader_name), RO)
    if lib.get_session_info(session).state == CKS.RO_PUBLIC_SESSION:
        lib.login(session, CKU.USER, PIN)
    return session


def private_key(lib: Cryptoki, session: int, slot: int) -> int:
    (key,) = find(lib, session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: KEY_IDS[slot]})
    return key


def open_session(lib: Cryptoki, reader_name: str) -> Any:
    return lib.open_session(reader_slot(lib, reader_name), RO)


def token_info(lib: Cryptoki, reader_name: str) -> Any:
    return lib.get_token_info(reader_slot(lib, reader_name))


def login(lib: Cryptoki, reader_name: str) -> Any:
    return logged_in(lib, reader_name)


def find_9a(lib: Cryptoki, reader_name: str) -> Any:
    return private_key(lib, logged_in(lib, reader_name), 0x9A)


def sign_rsa(lib: Cryptoki, reader_name: str) -> bytes:
    session = logged_in(lib, reader_name)
    lib.sign_init(session, CKM.SHA256_RSA_PKCS, private_key(lib, session, 0x9A))
    return lib.sign(session, b"hostile")


def sign_p256(lib: Cryptoki, reader_name: str) -> bytes:
    session = logged_in(lib, reader_name)
    lib.sign_init(session, CKM.ECDSA_SHA256, private_key(lib, session, 0x9C))
    lib.login(session, CKU.CONTEXT_SPECIFIC, PIN)  # 9C: PIN always
    return lib.sign(session, b"hostile")


def sign_ed25519(lib: Cryptoki, reader_name: str) -> bytes:
    session = logged_in(lib, reader_name)
    lib.sign_init(session, CKM.EDDSA, private_key(lib, session, 0x9E))
    return lib.sign(session, b"hostile")


def decrypt_rsa(lib: Cryptoki, reader_name: str) -> bytes:
    session = logged_in(lib, reader_name)
    lib.decrypt_init(session, CKM.RSA_PKCS, private_key(lib, session, 0x9A))
    return lib.decrypt(session, host_keys()[0x9A].public_key().encrypt(b"secret", padding.PKCS1v15()))


def derive_p256(lib: Cryptoki, reader_name: str) -> int:
    session = logged_in(lib, reader_name)
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = peer.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return lib.derive_key(session, (CKM.ECDH1_DERIVE, Ecdh1DeriveParams(CKD.NULL, b"", point)),
                          private_key(lib, session, 0x9D), {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET})


CASES: Dict[str, Any] = {
    "61xx-forever-to-select": ({"ins": 0xA4, "flood": True}, open_session),
    "61xx-forever-to-verify": ({"ins": 0x20, "flood": True}, login),
    "61xx-forever-to-sign": ({"ins": AUTHENTICATE, "flood": True}, sign_rsa),
    "one-byte-select-answer": ({"ins": 0xA4, "answer": "90"}, open_session),
    "metadata-without-algorithm": ({"ins": 0xF7, "p2": 0x9A, "tamper": "empty_algorithm"}, find_9a),
    "rsa-2048-slot-with-4096-bit-modulus": ({"ins": 0xF7, "p2": 0x9A, "tamper": "modulus_4096"}, find_9a),
    "pin-retries-one-byte": ({"ins": 0xF7, "p2": 0x80, "tamper": "one_byte_pin_retries"}, token_info),
    "rsa-2048-signature-of-1000-bytes": ({"ins": AUTHENTICATE, "tamper": "signature_1000_bytes"}, sign_rsa),
    "rsa-signature-that-does-not-verify": ({"ins": AUTHENTICATE, "tamper": "flip_last_bit"}, sign_rsa),
    "ecdsa-signature-not-der": ({"ins": AUTHENTICATE, "tamper": "ecdsa_not_der"}, sign_p256),
    "ecdsa-signature-oversized": ({"ins": AUTHENTICATE, "tamper": "ecdsa_oversized"}, sign_p256),
    "ecdsa-r-is-the-curve-order": ({"ins": AUTHENTICATE, "tamper": "ecdsa_r_is_the_order"}, sign_p256),
    "ecdsa-signature-that-does-not-verify": ({"ins": AUTHENTICATE, "tamper": "flip_last_bit"}, sign_p256),
    "ed25519-signature-that-does-not-verify": ({"ins": AUTHENTICATE, "tamper": "flip_last_bit"}, sign_ed25519),
    "rsa-decryption-that-does-not-match": ({"ins": AUTHENTICATE, "tamper": "flip_last_bit"}, decrypt_rsa),
    "ecdh-secret-cut-short": ({"ins": AUTHENTICATE, "tamper": "half_result"}, derive_p256),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_answer_is_a_device_error_and_the_library_carries_on(
        lib: Cryptoki, hostile: Callable[..., Any], name: str) -> None:
    rule, operation = CASES[name]
    card = hostile(rule)
    with pytest.raises(errors.CryptokiError) as caught:
        operation(lib, card.reader_name)
    assert caught.value.rv == CKR.DEVICE_ERROR, caught.value
    assert reader_slot(lib, card.reader_name) in lib.get_slot_list(True)  # nothing else broke


def test_the_same_calls_work_on_the_card_without_misbehaviour(lib: Cryptoki, hostile: Callable[..., Any]) -> None:
    card = hostile()
    keys = host_keys()
    keys[0x9A].public_key().verify(sign_rsa(lib, card.reader_name), b"hostile", padding.PKCS1v15(), hashes.SHA256())
    raw = sign_p256(lib, card.reader_name)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    keys[0x9C].public_key().verify(der, b"hostile", ec.ECDSA(hashes.SHA256()))
    keys[0x9E].public_key().verify(sign_ed25519(lib, card.reader_name), b"hostile")
    assert decrypt_rsa(lib, card.reader_name) == b"secret"
    assert derive_p256(lib, card.reader_name)
    assert token_info(lib, card.reader_name).serial_number == "12345678"


def test_a_gzip_bomb_certificate_is_left_out_without_inflating(lib: Cryptoki, hostile: Callable[..., Any]) -> None:
    card = hostile({"ins": 0xCB, "data_prefix": "5C035FC105", "tamper": "gzip_bomb"})
    session = lib.open_session(reader_slot(lib, card.reader_name), RO)
    tracemalloc.start()
    try:
        certificates = find(lib, session, {CKA.CLASS: CKO.CERTIFICATE})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"listing took {peak} bytes"  # the bomb inflates to 60 MiB
    ids = {bytes(lib.get_attribute_value(session, handle, [CKA.ID])[CKA.ID]) for handle in certificates}
    assert KEY_IDS[0x9A] not in ids and KEY_IDS[0x9C] in ids
    assert find(lib, session, {CKA.CLASS: CKO.PUBLIC_KEY, CKA.ID: KEY_IDS[0x9A]})  # the key is still there


def test_a_card_swapped_unnoticed_never_returns_a_signature_of_the_wrong_key(
        lib: Cryptoki, virtual_card_factory: Callable[..., Any], provisioned_card: Any, tmp_path: Path) -> None:
    """The card is replaced inside the reader without PC/SC seeing a removal (same ATR, same
    PIN): cardki re-selects and re-verifies as after another program's reset, and the new
    card signs with its own 9A key. The signature is checked against the public key cardki
    listed, so the call fails instead of handing out a signature of the wrong key."""
    session = logged_in(lib, provisioned_card.reader_name)
    key = private_key(lib, session, 0x9A)
    lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
    assert len(lib.sign(session, b"the first card")) == 256
    other = HostileYubiKey()  # with no rules: the same YubiKey, with another RSA key in 9A
    provision(other)
    another = rsa.generate_private_key(65537, 2048)
    other.piv.keys[0x9A] = piv_applet.SlotKey(another, algorithm_of(another), piv_applet.PIN_POLICY_ONCE,
                                              piv_applet.TOUCH_POLICY_NEVER, piv_applet.ORIGIN_IMPORTED)
    state = tmp_path / "other.json"
    save_state(state, other.to_state())
    provisioned_card.control.new_card(state=str(state), card=HOSTILE_CARD)
    lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
    with pytest.raises(errors.DeviceError, match="does not match"):
        lib.sign(session, b"the second card")
