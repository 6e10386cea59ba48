"""objects_with_id(): the PIV token lists one CKA_ID's objects by reading only
that slot, and they are exactly the objects the full listing gives for that id
(same refs, same attributes), before and after login, and after a reset."""

from __future__ import annotations

from typing import Dict, List

from cryptography.hazmat.primitives.asymmetric import ec
from test_piv_token_support import (
    PIN,
    GenericPivCard,
    find,
    make_cert,
    open_piv,
    put_cert,
    put_key,
    rsa_key,
)

from cardki.constants import CKA, CKM, CKU
from cardki.slot.inprocess import InProcessSlot
from cardki.token.base import TokenObject
from hwsim.yubikey import VirtualYubiKey  # noqa: E402


def by_ref(objects: List[TokenObject]) -> Dict[object, dict]:
    return {obj.ref: dict(obj.attributes) for obj in objects}


def mixed_card(firmware=(5, 7, 2)) -> VirtualYubiKey:
    """A key with a certificate (9a), a key without (9c), a certificate without a key (9d)."""
    card = VirtualYubiKey(firmware=firmware)
    key = rsa_key(2048)
    put_key(card, 0x9A, key)
    put_cert(card, 0x9A, make_cert(key))
    put_key(card, 0x9C, ec.generate_private_key(ec.SECP256R1()))
    put_cert(card, 0x9D, make_cert(ec.generate_private_key(ec.SECP384R1()), "certificate only"))
    return card


def test_each_id_lists_exactly_what_the_full_listing_has_for_it() -> None:
    card = mixed_card()
    full, _ = open_piv(card)
    everything = full.objects()
    staged, _ = open_piv(card)
    for spec in full.profile.slots:  # not staged's profile: that would read its version, which a find does not
        expected = by_ref([obj for obj in everything if obj.attributes.get(CKA.ID) == spec.cka_id])
        assert by_ref(staged.objects_with_id(spec.cka_id)) == expected, hex(spec.key)
    assert staged.objects_with_id(b"\x77") == []
    assert by_ref(staged.objects()) == by_ref(everything)


def test_one_id_costs_two_reads_then_nothing() -> None:
    token, _ = open_piv(mixed_card())
    before = token.protocol.apdu_count
    objects = token.objects_with_id(b"\x01")
    assert {obj.ref for obj in objects} == {("private", 0x9A), ("public", 0x9A), ("certificate", 0x9A)}
    # Certificate container, GET METADATA: no SELECT, PIV has had the card since detection.
    assert token.protocol.apdu_count - before == 2
    before = token.protocol.apdu_count
    assert by_ref(token.objects_with_id(b"\x01")) == by_ref(objects)
    assert token.protocol.apdu_count == before  # cached


def test_a_listing_after_a_find_does_not_read_the_found_slot_again() -> None:
    card = mixed_card()
    fresh, _ = open_piv(card)
    before = fresh.protocol.apdu_count
    everything = fresh.objects()
    listing_cost = fresh.protocol.apdu_count - before
    token, _ = open_piv(card)
    token.objects_with_id(b"\x01")
    before = token.protocol.apdu_count
    assert by_ref(token.objects()) == by_ref(everything)
    assert token.protocol.apdu_count - before == listing_cost - 2  # 9A's certificate and GET METADATA


class PivOnlyCard(GenericPivCard):
    """A plain PIV card: no Yubico extensions, no other applet; counts its commands
    (a response fetched with GET RESPONSE or a command chained in parts is one)."""

    def __init__(self) -> None:
        super().__init__()
        self.commands = 0

    def execute(self, apdu: bytes) -> bytes:
        if apdu[1] != 0xC0 and not apdu[0] & 0x10:
            self.commands += 1
        if apdu[1] == 0xA4 and apdu[5:10] != bytes.fromhex("A000000308"):
            return b"\x6a\x82"
        return super().execute(apdu)


def test_first_signature_on_a_plain_piv_card() -> None:
    """A PIV card without Yubico's extensions, from opening to the first signature."""
    card = PivOnlyCard()
    key = rsa_key(2048)
    put_key(card.inner, 0x9A, key)
    put_cert(card.inner, 0x9A, make_cert(key))
    token, _ = open_piv(card)
    token.login(CKU.USER, PIN)
    (private,) = [obj for obj in token.objects_with_id(b"\x01") if obj.ref == ("private", 0x9A)]
    assert len(token.sign(private, CKM.RSA_PKCS, None, b"\x00" * 35)) == 256
    # SELECT PIV, GET VERSION (refused: no YubiKey), SELECT OpenPGP (refused) + VERIFY +
    # the certificate container (no metadata on this card) + GENERAL AUTHENTICATE. It was
    # 8: SELECT and VERIFY again in the find's transaction.
    assert card.commands == 3 + 1 + 1 + 1


def test_after_a_full_listing_no_id_costs_an_apdu() -> None:
    token, _ = open_piv(mixed_card())
    everything = token.objects()
    before = token.protocol.apdu_count
    assert by_ref(token.objects_with_id(b"\x03")) == by_ref(
        [obj for obj in everything if obj.attributes.get(CKA.ID) == b"\x03"])
    assert token.protocol.apdu_count == before


def test_a_logged_in_user_stays_logged_in_and_can_sign() -> None:
    card = mixed_card()
    token, _ = open_piv(card)
    token.login(CKU.USER, PIN)
    (private,) = [obj for obj in token.objects_with_id(b"\x01") if obj.ref == ("private", 0x9A)]
    assert card.piv.pin_verified  # the find sent no SELECT, which would have dropped it
    before = token.protocol.apdu_count
    signature = token.sign(private, CKM.RSA_PKCS, None, b"\x00" * 35)
    assert len(signature) == 256
    assert token.protocol.apdu_count - before == 1  # just the GENERAL AUTHENTICATE


def test_a_reset_by_another_program_makes_the_next_call_read_again() -> None:
    card = mixed_card()
    slot = InProcessSlot(card)
    token, _ = open_piv(card, slot)
    first = by_ref(token.objects_with_id(b"\x02"))
    del card.piv.keys[0x9C]  # another program deletes the key ...
    slot.reset()  # ... and resets the card
    token.info()  # any card I/O notices the reset
    assert token.objects_with_id(b"\x02") == []
    assert first and ("private", 0x9C) in first


def test_a_generic_piv_card_without_metadata() -> None:
    card = GenericPivCard()
    token, _ = open_piv(card)
    everything = token.objects()
    staged, _ = open_piv(card)
    for spec in staged.profile.slots:
        assert by_ref(staged.objects_with_id(spec.cka_id)) == by_ref(
            [obj for obj in everything if obj.attributes.get(CKA.ID) == spec.cka_id])


def test_sign_with_a_key_listed_by_id_reads_no_other_slot() -> None:
    token, _ = open_piv(mixed_card())
    token.login(CKU.USER, PIN)
    (private,) = [obj for obj in token.objects_with_id(b"\x01") if obj.ref == ("private", 0x9A)]
    before = token.protocol.apdu_count
    token.sign(private, CKM.RSA_PKCS, None, b"\x01" * 35)
    assert token.protocol.apdu_count - before == 1
    assert find(token, "private", 0x9A).attributes == private.attributes
