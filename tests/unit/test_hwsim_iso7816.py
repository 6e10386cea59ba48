"""Card-level APDU handling of the virtual YubiKey: Lc/Le parsing, command and
response chaining, SELECT and the errors real cards answer."""

import pytest
from hwsim_helpers import PIV_AID, apdu, authenticate, select_piv, send, transmit

from hwsim.iso7816 import SwError, parse_command, parse_tlvs, tlv
from hwsim.yubikey import VirtualYubiKey


@pytest.mark.parametrize(
    "raw, data, ne, extended",
    [
        ("00FD0000", b"", 256, False),  # case 1
        ("00FD000000", b"", 256, False),  # case 2S, Le=00 means 256
        ("00FD000010", b"", 16, False),
        ("00A4040003010203", b"\x01\x02\x03", 256, False),  # case 3S
        ("00A404000301020308", b"\x01\x02\x03", 8, False),  # case 4S
        ("00C0000000000000", None, None, None),  # malformed
        ("00C00000000000", b"", 65536, True),  # case 2E, Le=0000 means 65536
        ("00A40400000003010203", b"\x01\x02\x03", 65536, True),  # case 3E
        ("00A404000000030102030100", b"\x01\x02\x03", 256, True),  # case 4E
    ],
)
def test_parse_command_cases(raw, data, ne, extended):
    if data is None:
        with pytest.raises(SwError) as err:
            parse_command(bytes.fromhex(raw))
        assert err.value.sw == 0x6700
        return
    cmd = parse_command(bytes.fromhex(raw))
    assert (cmd.data, cmd.ne, cmd.extended) == (data, ne, extended)


def test_tlv_round_trip_with_long_lengths():
    value = bytes(300)
    encoded = tlv(0x5FC105, value) + tlv(0x7F49, b"\x01") + tlv(0x53, bytes(200))
    assert encoded[:6] == bytes.fromhex("5FC105820" + "12C")
    assert parse_tlvs(encoded) == [(0x5FC105, value), (0x7F49, b"\x01"), (0x53, bytes(200))]


def test_select_answers_application_property_template_for_aid_prefix():
    card = VirtualYubiKey()
    data = select_piv(card)
    assert data == bytes.fromhex("61114F0600001000010079074F05A000000308")
    full, sw = transmit(card, apdu(0, 0xA4, 4, 0, bytes.fromhex("A000000308000010000100")))
    assert (full, sw) == (data, 0x9000)


def test_unknown_aid_wrong_cla_and_unknown_ins():
    card = VirtualYubiKey()
    assert transmit(card, apdu(0, 0xA4, 4, 0, bytes.fromhex("A0000006472F0001")))[1] == 0x6A82
    select_piv(card)
    assert transmit(card, apdu(0x80, 0xFD, 0, 0))[1] == 0x6E00
    assert transmit(card, apdu(0, 0x42, 0, 0))[1] == 0x6D00


def test_no_applet_selected_after_power_on():
    card = VirtualYubiKey()
    card.power_on()
    assert transmit(card, apdu(0, 0xFD, 0, 0))[1] == 0x6D00


def test_response_longer_than_le_is_served_with_61xx_and_get_response():
    card = VirtualYubiKey()
    select_piv(card)
    assert authenticate(card) == 0x9000
    cert = bytes(range(256)) * 4  # 1024 bytes of "certificate"
    put = tlv(0x5C, bytes.fromhex("5FC105")) + tlv(0x53, tlv(0x70, cert) + tlv(0x71, b"\0"))
    assert send(card, 0xDB, 0x3F, 0xFF, put)[1] == 0x9000
    first = card.execute(apdu(0, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC105")), le=0))
    assert len(first) == 258 and first[-2:] == b"\x61\x00"  # more than 256 bytes remain
    data, sw = transmit(card, apdu(0, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC105"))))
    assert sw == 0x9000 and cert in data
    # Extended Le takes it all in one response.
    ext = card.execute(apdu(0, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC105")), le=0, extended=True))
    assert ext[-2:] == b"\x90\x00" and ext[:-2] == data


def test_get_response_without_pending_data_is_refused():
    card = VirtualYubiKey()
    select_piv(card)
    assert card.execute(bytes.fromhex("00C0000000"))[-2:] == b"\x69\x85"


def test_command_chaining_reassembles_and_rejects_interleaving():
    card = VirtualYubiKey()
    select_piv(card)
    assert authenticate(card) == 0x9000
    body = tlv(0x5C, bytes.fromhex("5FC102")) + tlv(0x53, bytes(600))
    assert send(card, 0xDB, 0x3F, 0xFF, body)[1] == 0x9000  # three chained parts
    data, sw = send(card, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC102")))
    assert sw == 0x9000 and data == tlv(0x53, bytes(600))
    assert transmit(card, apdu(0x10, 0xDB, 0x3F, 0xFF, body[:100]))[1] == 0x9000
    assert transmit(card, apdu(0x00, 0x20, 0x00, 0x80))[1] == 0x6883


def test_extended_apdu_commands_are_accepted():
    card = VirtualYubiKey()
    card.execute(apdu(0, 0xA4, 4, 0, PIV_AID))
    rapdu = card.execute(bytes.fromhex("00FD0000000000"))
    assert rapdu == bytes([5, 7, 2, 0x90, 0x00])
