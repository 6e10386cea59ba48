"""Detection of a YubiKey's PIV applet by its ATR (profiles' ``[match] atrs``): a USB
YubiKey's ATR names it without GET VERSION, which its token reads when something
needs the version; any other ATR (a YubiKey over NFC shows its reader's) is probed
with GET VERSION as before. In-process: the PC/SC stack has no reader that gives a
YubiKey another ATR."""

from __future__ import annotations

from typing import Any

import pytest
from test_piv_token_support import make_cert, open_piv, put_cert, put_key, rsa_key

from cardki.slot.inprocess import InProcessSlot
from cardki.token.profiles import ProfileError, ProfileHeader, load_profile
from hwsim.yubikey import ATR_YUBIKEY4, ATR_YUBIKEY5, VirtualYubiKey


class NfcYubiKey(VirtualYubiKey):
    """A YubiKey 5 seen through an NFC reader: the reader makes up the ATR."""

    @property
    def atr(self) -> bytes:
        return bytes.fromhex("3B8F8001804F0CA000000306030000000000006B")


def test_the_profile_lists_the_usb_atrs_with_their_firmware_floor() -> None:
    profile = load_profile("yubikey-piv")
    assert profile.firmware_floor(ATR_YUBIKEY5) == (5, 0, 0)
    assert profile.firmware_floor(ATR_YUBIKEY4) == (4, 0, 0)
    assert profile.firmware_floor(NfcYubiKey().atr) is None
    assert load_profile("generic-piv").firmware_floor(ATR_YUBIKEY5) is None


def test_a_listed_atr_opens_without_get_version_which_is_read_at_the_first_need() -> None:
    slot = InProcessSlot(VirtualYubiKey(firmware=(5, 4, 3)))
    token, _ = open_piv(slot.card, slot)
    assert slot.apdu_count == 1  # SELECT
    assert token.version == (5, 4, 3)
    assert slot.apdu_count == 2  # GET VERSION, once
    assert token.version == (5, 4, 3) and token.profile.id == "yubikey-piv" and slot.apdu_count == 2
    assert token.info().model.strip() == "YubiKey 5 PIV"


def test_an_atr_no_profile_lists_is_probed_with_get_version() -> None:
    slot = InProcessSlot(NfcYubiKey(firmware=(5, 7, 2)))
    token, _ = open_piv(slot.card, slot)
    assert slot.apdu_count == 2  # SELECT, GET VERSION: the probe tells a YubiKey from a PIV card
    assert token.profile.id == "yubikey-piv" and token.version == (5, 7, 2)
    assert slot.apdu_count == 2
    assert token.profile.feature("move_delete")


@pytest.mark.parametrize("atrs, says", [
    ({"atr": "3B00", "firmware": "5.0.0"}, "a list of"),
    ([{"atr": "3B00"}], "exactly the keys atr and firmware"),
    ([{"atr": "3B00", "firmware": "5.0.0", "serial": 1}], "exactly the keys atr and firmware"),
    ([{"atr": "3BZZ", "firmware": "5.0.0"}], "malformed"),
    ([{"atr": "3B00", "firmware": "five"}], "malformed"),
])
def test_a_malformed_atr_entry_is_a_profile_error(atrs: Any, says: str) -> None:
    raw = {"profile": {"id": "broken", "applet": "piv", "aid": "A000000308"}, "match": {"atrs": atrs}}
    with pytest.raises(ProfileError, match=says):
        ProfileHeader.read(raw)


def test_a_6d00_to_get_metadata_after_the_certificate_proves_old_firmware_without_get_version() -> None:
    """After PIV answered the certificate read in the same transaction, GET METADATA's
    6D00 can only mean the card lacks it (firmware below 5.3): no GET VERSION."""
    card = VirtualYubiKey(firmware=(5, 2, 7))
    key = rsa_key(2048)
    put_key(card, 0x9A, key)
    put_cert(card, 0x9A, make_cert(key))
    slot = InProcessSlot(card)
    token, _ = open_piv(card, slot)
    before = slot.apdu_count
    assert {obj.ref[0] for obj in token.objects_with_id(b"\x01")} == {"private", "public", "certificate"}
    assert slot.apdu_count - before == 2  # GET DATA, GET METADATA (6D00)


def test_an_ambiguous_6d00_to_get_metadata_is_settled_by_the_version() -> None:
    """An empty slot: GET DATA's 6A82 and GET METADATA's 6D00 could be another applet's
    answers, so the version decides (GET VERSION), then the read is repeated after a
    SELECT as every empty-looking slot is."""
    card = VirtualYubiKey(firmware=(5, 2, 7))
    slot = InProcessSlot(card)
    token, _ = open_piv(card, slot)
    before = slot.apdu_count
    assert token.objects_with_id(b"\x02") == []
    # GET DATA (6A82), GET METADATA (6D00), GET VERSION; SELECT, GET DATA (6A82)
    assert slot.apdu_count - before == 5
    assert token.version == (5, 2, 7) and slot.apdu_count - before == 5
