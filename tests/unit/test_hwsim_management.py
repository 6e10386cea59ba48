"""Management and OTP applets: what ykman and yubico-piv-tool read to identify
the device."""

from hwsim_helpers import apdu, transmit

from hwsim.iso7816 import parse_tlv_dict
from hwsim.yubikey import ATR_YUBIKEY4, ATR_YUBIKEY5, VirtualYubiKey

MANAGEMENT_AID = bytes.fromhex("A000000527471117")
OTP_AID = bytes.fromhex("A0000005272001")


def test_management_select_answers_version_text_and_device_info():
    card = VirtualYubiKey(firmware=(5, 4, 3), serial=7654321)
    data, sw = transmit(card, apdu(0, 0xA4, 4, 0, MANAGEMENT_AID))
    assert (data, sw) == (b"5.4.3", 0x9000)
    info, sw = transmit(card, apdu(0, 0x1D, 0, 0))
    assert sw == 0x9000 and info[0] == len(info) - 1
    tags = parse_tlv_dict(info[1:])
    assert tags[0x02] == (7654321).to_bytes(4, "big")
    assert tags[0x05] == bytes([5, 4, 3])
    assert int.from_bytes(tags[0x03], "big") & 0x10  # PIV enabled over USB
    assert tags[0x04] == b"\x01"


def test_device_info_reports_only_the_applets_the_card_hosts():
    card = VirtualYubiKey()
    transmit(card, apdu(0, 0xA4, 4, 0, MANAGEMENT_AID))
    tags = parse_tlv_dict(transmit(card, apdu(0, 0x1D, 0, 0))[0][1:])
    hosted = 0x10 | 0x08 | 0x01  # PIV, OpenPGP and the OTP stub; no FIDO, OATH or YubiHSM Auth to fail on
    for tag in (0x01, 0x03, 0x0D, 0x0E):  # USB/NFC supported and enabled
        assert int.from_bytes(tags[tag], "big") == hosted, hex(tag)


def test_otp_applet_gives_serial_for_old_firmware_tools():
    card = VirtualYubiKey(firmware=(4, 3, 7), serial=99)
    status, sw = transmit(card, apdu(0, 0xA4, 4, 0, OTP_AID + b"\x01"))
    assert sw == 0x9000 and status[:3] == bytes([4, 3, 7])
    assert transmit(card, apdu(0, 0x01, 0x10, 0)) == ((99).to_bytes(4, "big"), 0x9000)


def test_atr_follows_generation():
    assert VirtualYubiKey().atr == ATR_YUBIKEY5
    assert VirtualYubiKey(firmware=(4, 3, 7)).atr == ATR_YUBIKEY4
