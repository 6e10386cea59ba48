"""The PIV card-level administration commands (cardki.token.piv.card) against the
in-process virtual YubiKey, and what each new parser does with a hostile answer
(MalformedResponseError, never IndexError/KeyError or a loop without end)."""

from __future__ import annotations

from typing import Tuple

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from test_piv_token_support import rsa_key

from cardki.apdu import MalformedResponseError, SmartCardProtocol
from cardki.apdu.errors import (
    AuthBlockedError,
    ConditionsNotSatisfiedError,
    IncorrectParametersError,
    NotFoundError,
    SecurityStatusError,
    WrongPinError,
)
from cardki.certificate import read_certificate
from cardki.slot.inprocess import InProcessTransport
from cardki.token.piv.card import PIV_AID, PivCard
from cardki.token.piv.constants import (
    DataObject,
    ManagementKeyAlgorithm,
    Origin,
    PinPolicy,
    PivAlgorithm,
    TouchPolicy,
)
from cardki.token.piv.keys import importable_key, key_algorithm
from cardki.token.piv.mgmt import ManagementKey
from hostile_card import HostileYubiKey
from hwsim.piv_crypto import DEFAULT_MANAGEMENT_KEY
from hwsim.yubikey import VirtualYubiKey


def pad(value: bytes) -> bytes:
    return value.ljust(8, b"\xff")


PIN, PUK = pad(b"123456"), pad(b"12345678")


def open_card(firmware: Tuple[int, int, int] = (5, 7, 2), card=None) -> Tuple[VirtualYubiKey, PivCard]:
    card = card or VirtualYubiKey(firmware=firmware)
    piv = PivCard(SmartCardProtocol(InProcessTransport(card), extended=True), PIV_AID)
    piv.select()
    return card, piv


def default_key(firmware: Tuple[int, int, int] = (5, 7, 2)) -> ManagementKey:
    algorithm = ManagementKeyAlgorithm.AES192 if firmware >= (5, 7, 0) else ManagementKeyAlgorithm.TDES
    return ManagementKey(algorithm, DEFAULT_MANAGEMENT_KEY)


def authenticated(firmware: Tuple[int, int, int] = (5, 7, 2)) -> Tuple[VirtualYubiKey, PivCard]:
    card, piv = open_card(firmware)
    default_key(firmware).authenticate(piv)
    return card, piv


# ------------------------------------------------------------- keys
@pytest.mark.parametrize("make", [lambda: rsa_key(2048), lambda: ec.generate_private_key(ec.SECP256R1()),
                                  lambda: ec.generate_private_key(ec.SECP384R1()),
                                  ed25519.Ed25519PrivateKey.generate, x25519.X25519PrivateKey.generate],
                         ids=["rsa2048", "p256", "p384", "ed25519", "x25519"])
def test_import_puts_the_very_key_with_its_policies_in_the_slot(make) -> None:
    card, piv = authenticated()
    key = make()
    algorithm = key_algorithm(key)
    piv.import_key(0x9D, importable_key(key, algorithm), PinPolicy.ALWAYS, TouchPolicy.CACHED)
    stored = card.piv.keys[0x9D]
    assert stored.key.public_key() == key.public_key()
    assert (stored.pin_policy, stored.touch_policy, stored.origin) == (3, 3, 2)
    meta = piv.key_metadata(0x9D)
    assert (meta.algorithm, meta.pin_policy, meta.touch_policy, meta.origin) == (
        algorithm.ident, PinPolicy.ALWAYS, TouchPolicy.CACHED, Origin.IMPORTED)


def test_import_data_never_reaches_a_trace() -> None:
    _, piv = authenticated()
    key = ec.generate_private_key(ec.SECP256R1())
    parts = importable_key(key, key_algorithm(key))
    assert "ImportableKey(ECCP256, 1 parts)" == repr(parts)  # no key material in a repr
    sent = []
    real = piv.protocol.send_command

    def spy(command):
        sent.append(command)
        return real(command)

    piv.protocol.send_command = spy  # type: ignore[method-assign]
    piv.import_key(0x9A, parts)
    assert sent[0].sensitive and sent[0].ins == 0xFE and sent[0].p1 == PivAlgorithm.ECCP256


def test_generate_with_policies_and_attest_a_generated_key() -> None:
    card, piv = authenticated()
    fields = piv.generate(0x9A, PivAlgorithm.ECCP256, PinPolicy.NEVER, TouchPolicy.ALWAYS)
    assert fields[0x86][0] == 4
    assert (card.piv.keys[0x9A].pin_policy, card.piv.keys[0x9A].touch_policy) == (1, 2)
    der = piv.attest(0x9A)
    cert = read_certificate(der)
    assert cert is not None and cert.subject.rfc4514_string() == "CN=YubiKey PIV Attestation 9a"
    f9 = read_certificate(piv.attestation_certificate())
    assert f9 is not None and cert.issuer == f9.subject
    cert.verify_directly_issued_by(f9)


def test_attest_refuses_imported_keys_and_empty_slots() -> None:
    _, piv = authenticated()
    key = ec.generate_private_key(ec.SECP256R1())
    piv.import_key(0x9C, importable_key(key, key_algorithm(key)))
    with pytest.raises(IncorrectParametersError):
        piv.attest(0x9C)
    with pytest.raises(NotFoundError):
        piv.attest(0x9E)


def test_move_and_delete_key_on_5_7() -> None:
    card, piv = authenticated()
    piv.generate(0x9A, PivAlgorithm.ED25519)
    piv.move_key(0x9A, 0x85)
    assert 0x9A not in card.piv.keys and 0x85 in card.piv.keys
    piv.delete_key(0x85)
    assert not card.piv.keys


# ------------------------------------------------------- PIN and PUK
def test_puk_change_unblock_and_their_wrong_values() -> None:
    card, piv = open_card()
    piv.change_puk(PUK, pad(b"87654321"))
    with pytest.raises(WrongPinError) as wrong:
        piv.change_puk(PUK, pad(b"11111111"))
    assert wrong.value.tries_left == 2
    for _ in range(3):
        with pytest.raises(WrongPinError):
            piv.verify_pin(pad(b"000000"))
    with pytest.raises(AuthBlockedError):
        piv.verify_pin(PIN)
    piv.unblock_pin(pad(b"87654321"), pad(b"246810"))
    piv.verify_pin(pad(b"246810"))
    assert piv.pin_metadata().remaining == 3
    assert piv.puk_metadata() == type(piv.puk_metadata())(default=False, total=3, remaining=3)
    with pytest.raises(ValueError):
        piv.unblock_pin(b"123", PIN)  # not padded: a programming error, nothing sent


def test_set_pin_retries_needs_management_key_and_pin_and_resets_both() -> None:
    card, piv = authenticated()
    with pytest.raises(SecurityStatusError):
        piv.set_pin_retries(5, 6)
    piv.verify_pin(PIN)
    piv.change_puk(PUK, pad(b"87654321"))
    piv.set_pin_retries(5, 6)
    assert (piv.pin_metadata().total, piv.puk_metadata().total) == (5, 6)
    assert piv.puk_metadata().default  # the YubiKey puts PIN and PUK back to their defaults


def test_reset_needs_pin_and_puk_blocked_and_factory_reset_blocks_them_first() -> None:
    card, piv = authenticated()
    piv.generate(0x9A, PivAlgorithm.ECCP256)
    with pytest.raises(ConditionsNotSatisfiedError):
        piv.reset()
    apdus = piv.protocol.apdu_count
    piv.factory_reset()
    assert piv.protocol.apdu_count - apdus == 3 + 3 + 1  # three wrong PINs, three wrong PUKs, RESET
    assert not card.piv.keys.get(0x9A) and card.piv.pin.left == 3
    assert piv.pin_metadata().default and piv.puk_metadata().default
    piv.verify_pin(PIN)


def test_block_pin_stops_at_an_already_blocked_pin() -> None:
    card, piv = open_card()
    card.piv.pin.left = 0
    apdus = piv.protocol.apdu_count
    piv.block_pin()
    assert piv.protocol.apdu_count - apdus == 1


# ------------------------------------------------------ management key
@pytest.mark.parametrize("algorithm", list(ManagementKeyAlgorithm))
def test_set_management_key_each_algorithm_with_and_without_touch(algorithm) -> None:
    card, piv = authenticated((5, 4, 3))
    new = bytes(range(algorithm.key_length))
    piv.set_management_key(algorithm, new, require_touch=algorithm == ManagementKeyAlgorithm.AES256)
    meta = piv.management_key_metadata()
    expected_touch = TouchPolicy.ALWAYS if algorithm == ManagementKeyAlgorithm.AES256 else TouchPolicy.NEVER
    assert (meta.algorithm, meta.default, meta.touch_policy) == (algorithm, False, expected_touch)
    piv.select()
    ManagementKey(algorithm, new).authenticate(piv)
    with pytest.raises(ValueError):
        piv.set_management_key(algorithm, new + b"\x00")


def test_aes_management_key_is_refused_before_5_4() -> None:
    _, piv = authenticated((5, 3, 0))
    with pytest.raises(IncorrectParametersError):
        piv.set_management_key(ManagementKeyAlgorithm.AES128, bytes(16))
    meta = piv.management_key_metadata()
    assert (meta.algorithm, meta.default) == (ManagementKeyAlgorithm.TDES, True)


# ---------------------------------------------------------- data objects
def test_put_data_writes_yubikey_objects_and_refuses_the_discovery_object() -> None:
    card, piv = authenticated()
    piv.put_data(0x5FC102, b"\x30\x01\x00")
    piv.put_data(0x5FFF00, b"\x80\x01\x01")
    piv.put_data(0x5FC109, b"\x88\x02\x01\x02", sensitive=True)
    assert piv.get_data(0x5FFF00) == b"\x80\x01\x01"
    with pytest.raises(SecurityStatusError):
        piv.put_data(DataObject.DISCOVERY, b"\x4f\x00")
    piv.put_data(0x5FFF00, b"")
    with pytest.raises(NotFoundError):
        piv.get_data(0x5FFF00)


# --------------------------------------------------------- hostile answers
def hostile(*rules) -> PivCard:
    card = HostileYubiKey()
    card.set_rules(list(rules))
    return open_card(card=card)[1]


@pytest.mark.parametrize("answer", ["", "3003020100", "5300", "ff" * 40])
def test_an_attest_answer_that_is_no_certificate_is_malformed(answer: str) -> None:
    piv = hostile({"ins": 0xF9, "data": answer})
    with pytest.raises(MalformedResponseError):
        piv.attest(0x9A)


@pytest.mark.parametrize("data", ["", "0101", "01010c", "0101ff0202000005", "01010a0201000501", "0a"])
def test_management_key_metadata_that_is_short_or_unknown_is_malformed(data: str) -> None:
    piv = hostile({"ins": 0xF7, "p2": 0x9B, "data": data})
    with pytest.raises(MalformedResponseError):
        piv.management_key_metadata()


@pytest.mark.parametrize("data", ["", "0603", "01ff05010006", "30"])
def test_puk_metadata_without_two_retry_bytes_is_malformed(data: str) -> None:
    piv = hostile({"ins": 0xF7, "p2": 0x81, "data": data})
    with pytest.raises(MalformedResponseError):
        piv.puk_metadata()


def test_key_metadata_with_unknown_policy_and_origin_values_reads_cautiously() -> None:
    piv = hostile({"ins": 0xF7, "p2": 0x9A, "data": "010111" + "02020909" + "030107" + "04038601" + "04"})
    meta = piv.key_metadata(0x9A)
    assert (meta.pin_policy, meta.touch_policy, meta.origin) == (PinPolicy.DEFAULT, TouchPolicy.ALWAYS, None)


@pytest.mark.parametrize("answer", ["63c3", "6300", "9000"])
def test_a_pin_that_never_blocks_ends_with_malformed_not_a_loop(answer: str) -> None:
    piv = hostile({"ins": 0x20, "answer": answer})
    with pytest.raises(MalformedResponseError):
        piv.block_pin()
    assert piv.protocol.apdu_count <= 1 + 256


@pytest.mark.parametrize("answer", ["63c2", "9000"])
def test_a_puk_that_never_blocks_ends_with_malformed_not_a_loop(answer: str) -> None:
    piv = hostile({"ins": 0x2C, "answer": answer})
    with pytest.raises(MalformedResponseError):
        piv.block_puk()
