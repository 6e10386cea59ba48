"""The virtual card's keys in its state file: a card loads without parsing them,
parses a key when it first uses it, and saves without parsing either.

Parsing is what loading cost (OpenSSL checks an RSA key's primes each time it is
read: 46 ms for RSA-2048, 340 ms for RSA-4096 here); the test counts parses, not
time (tests/bench/state_load.py has the figures)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, List, Tuple

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hwsim_helpers import apdu, select_piv, send, transmit, verify

from hwsim import piv as piv_applet
from hwsim.iso7816 import parse_tlv_dict, tlv, unwrap
from hwsim.openpgp_keys import AlgorithmId, Attributes, KeyRef
from hwsim.piv_crypto import PrivateKey, algorithm_of
from hwsim.yubikey import VirtualYubiKey

OPENPGP_AID = bytes.fromhex("D27600012401")
RSA_KEY = rsa.generate_private_key(65537, 2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def card_with_keys() -> VirtualYubiKey:
    """PIV 9A RSA-2048 and 9C P-256, OpenPGP SIG Ed25519 and DEC X25519."""
    card = VirtualYubiKey()
    for slot, key in ((0x9A, RSA_KEY), (0x9C, EC_KEY)):
        card.piv.keys[slot] = piv_applet.SlotKey(key, algorithm_of(key), piv_applet.PIN_POLICY_ONCE,
                                                 piv_applet.TOUCH_POLICY_NEVER, piv_applet.ORIGIN_IMPORTED)
    openpgp: List[Tuple[KeyRef, Attributes, PrivateKey]] = [
        (KeyRef.SIG, Attributes.ec(AlgorithmId.EDDSA, "ed25519"), ed25519.Ed25519PrivateKey.generate()),
        (KeyRef.DEC, Attributes.ec(AlgorithmId.ECDH, "cv25519"), x25519.X25519PrivateKey.generate())]
    for ref, attributes, openpgp_key in openpgp:
        slot = card.openpgp.keys[ref]
        slot.attributes, slot.key, slot.status = attributes, openpgp_key, 2  # 2: imported
    card.mark_changed()
    return card


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """Every private key cryptography parses from DER from now on (its length)."""
    seen: List[int] = []
    real = serialization.load_der_private_key

    def counting(data: bytes, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(serialization, "load_der_private_key", counting)
    return seen


def rsa_sign(card: VirtualYubiKey, digest: bytes) -> bytes:
    info = bytes.fromhex("3031300D060960864801650304020105000420") + digest
    block = b"\x00\x01" + b"\xff" * (256 - 3 - len(info)) + b"\x00" + info
    data, sw = transmit(card, apdu(0, 0x87, 0x07, 0x9A, tlv(0x7C, tlv(0x82) + tlv(0x81, block)), le=0,
                                   extended=True))
    assert sw == 0x9000
    return parse_tlv_dict(unwrap(0x7C, data))[0x82]


def test_a_card_loads_and_saves_its_state_without_parsing_a_key(parses: List[int]) -> None:
    state = json.loads(json.dumps(card_with_keys().to_state()))
    loaded = VirtualYubiKey(state=state)
    assert parses == []
    assert loaded.to_state() == state  # a save writes the keys back as they were read
    assert parses == []
    assert [loaded.piv.keys[slot].algorithm.name for slot in (0x9A, 0x9C)] == ["RSA2048", "ECCP256"]


def test_a_key_is_parsed_once_when_the_card_first_uses_it(parses: List[int]) -> None:
    card = VirtualYubiKey(state=json.loads(json.dumps(card_with_keys().to_state())))
    card.power_on()
    select_piv(card)
    assert verify(card) == 0x9000
    digest = hashlib.sha256(b"lazy").digest()
    for _ in range(2):
        RSA_KEY.public_key().verify(rsa_sign(card, digest), digest, padding.PKCS1v15(),
                                    Prehashed(hashes.SHA256()))
    assert len(parses) == 1  # the 9A key, once; 9C and the OpenPGP keys still wait
    meta = parse_tlv_dict(send(card, 0xF7, 0, 0x9C)[0])  # GET METADATA needs the public key
    assert parse_tlv_dict(meta[0x04])[0x86] == EC_KEY.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert len(parses) == 2
    transmit(card, apdu(0, 0xA4, 4, 0, OPENPGP_AID))
    public, sw = send(card, 0x47, 0x81, 0, tlv(0xB6))  # read the SIG public key
    assert sw == 0x9000 and public.startswith(b"\x7f\x49") and len(parses) == 3


def test_a_damaged_key_fails_where_it_is_used_and_the_rest_of_the_card_works() -> None:
    numbers = RSA_KEY.private_numbers()
    damaged = rsa.RSAPrivateNumbers(numbers.p, numbers.q, numbers.d, numbers.dmp1 + 2, numbers.dmq1, numbers.iqmp,
                                    numbers.public_numbers).private_key(unsafe_skip_rsa_key_validation=True)
    state = json.loads(json.dumps(card_with_keys().to_state()))
    state["piv"]["keys"]["9a"]["private_key"] = damaged.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).hex()
    card = VirtualYubiKey(state=state)
    card.power_on()
    select_piv(card)
    assert verify(card) == 0x9000
    block = b"\x00\x01" + b"\xff" * 221 + b"\x00" + bytes(32)
    command = apdu(0, 0x87, 0x07, 0x9A, tlv(0x7C, tlv(0x82) + tlv(0x81, block)), le=0, extended=True)
    assert transmit(card, command)[1] == 0x6F00  # what a card with damaged memory answers
    assert send(card, 0xF7, 0, 0x9A)[1] == 0x6F00
    assert send(card, 0xF7, 0, 0x9C)[1] == 0x9000
    assert card.to_state()["piv"]["keys"]["9a"] == state["piv"]["keys"]["9a"]  # kept as it was


def test_a_state_whose_key_is_not_hex_is_refused_when_loaded() -> None:
    state = json.loads(json.dumps(card_with_keys().to_state()))
    state["piv"]["keys"]["9c"]["private_key"] = "not hex"
    with pytest.raises(ValueError):
        VirtualYubiKey(state=state)
