"""The card OS (hwsim.cardos) apart from any real applet: a test card with an
echo applet, plus the YubiKey built on it (state per applet, old state files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest
from hwsim_helpers import apdu, select_piv, transmit, verify

from hwsim.applet import Applet, CardServices
from hwsim.cardos import STATE_FORMAT, AppletCard, atr_with_checksum
from hwsim.iso7816 import Command
from hwsim.statefile import StateError, load_state
from hwsim.yubikey import VirtualYubiKey

FORMAT_1_STATE = Path(__file__).with_name("data") / "hwsim_state_format1.json"
"""Written by the YubiKey before the card OS was split out (format 1): PIN
654321 with one wrong try, an ECCP256 key in 9a, object 5FC102."""

ECHO_AID = bytes.fromhex("F0000000EC")


class EchoApplet(Applet):
    """Answers INS 01 with the command data; remembers the last one in its state."""

    aid = ECHO_AID
    name = "echo"
    state_key = "echo"

    def __init__(self, card: CardServices, state: Dict[str, Any] | None = None) -> None:
        super().__init__(card)
        self.handlers = {0x01: self._echo}
        self.last = (state or {}).get("last", "")
        self.selects = 0

    def select(self, cmd: Command) -> bytes:
        self.selects += 1
        return b"selected"

    def accepts_class(self, cla: int, ins: int) -> bool:
        return cla == 0x80 and ins == 0x01

    def _echo(self, cmd: Command) -> bytes:
        self.last = cmd.data.hex()
        self.card.mark_changed()
        return cmd.data

    def to_state(self) -> Dict[str, Any]:
        return {"last": self.last}


class EchoCard(AppletCard):
    kind = "echo-card"

    def __init__(self, firmware=(1, 2, 3), serial: int = 7, state: Dict[str, Any] | None = None) -> None:
        super().__init__(firmware, serial)
        self.echo = EchoApplet(self, state.get("echo") if state else None)
        self.install(self.echo)

    @property
    def atr(self) -> bytes:
        return atr_with_checksum(bytes.fromhex("3B8180"))


def selected_echo_card() -> EchoCard:
    card = EchoCard()
    card.power_on()
    assert transmit(card, apdu(0, 0xA4, 4, 0, ECHO_AID)) == (b"selected", 0x9000)
    return card


def test_select_with_p2_0c_gives_no_data_and_unknown_aids_are_6a82():
    card = EchoCard()
    assert transmit(card, apdu(0, 0xA4, 4, 0x0C, ECHO_AID)) == (b"", 0x9000)
    assert transmit(card, apdu(0, 0xA4, 4, 0, bytes.fromhex("F000000001")))[1] == 0x6A82
    assert transmit(card, apdu(0, 0x01, 0, 0, b"x")) == (b"x", 0x9000)  # still selected


def test_select_by_file_id_answers_the_cards_own_status_word():
    select_mf = apdu(0, 0xA4, 0, 0x0C, b"\x3f\x00")
    assert transmit(EchoCard(), select_mf)[1] == 0x6A82  # plain card: no such file
    assert transmit(VirtualYubiKey(), select_mf)[1] == 0x6D00  # YubiKey: what makes scdaemon probe it


def test_chaining_and_get_response_serve_any_applet():
    card = selected_echo_card()
    body = (bytes(range(256)) * 3)[:700]
    for offset in (0, 255):
        assert transmit(card, apdu(0x10, 0x01, 0, 0, body[offset:offset + 255]))[1] == 0x9000
    rest = body[510:]
    first = card.execute(apdu(0, 0x01, 0, 0, rest, le=0))
    assert first[-2:] == b"\x61\x00" and first[:-2] == body[:256]
    second = card.execute(bytes.fromhex("00C0000000"))
    assert second[-2:] == b"\x61\xbc" and second[:-2] == body[256:512]
    assert card.execute(bytes.fromhex("00C00000BC")) == body[512:] + b"\x90\x00"


def test_proprietary_class_reaches_only_the_instructions_the_applet_takes():
    card = selected_echo_card()
    assert transmit(card, apdu(0x80, 0x01, 0, 0, b"ok")) == (b"ok", 0x9000)
    assert transmit(card, apdu(0x80, 0x02, 0, 0))[1] == 0x6E00
    assert transmit(card, apdu(0x84, 0x01, 0, 0, b"no"))[1] == 0x6E00
    card.power_off()
    card.power_on()
    assert transmit(card, apdu(0x80, 0x01, 0, 0, b"no"))[1] == 0x6E00  # nothing selected


def test_state_has_one_section_per_applet_and_round_trips():
    card = selected_echo_card()
    before = card.state_version
    transmit(card, apdu(0, 0x01, 0, 0, b"keep"))
    assert card.state_version == before + 1
    state = json.loads(json.dumps(card.to_state()))
    assert state == {"format": STATE_FORMAT, "kind": "echo-card", "firmware": [1, 2, 3], "serial": 7,
                     "echo": {"last": b"keep".hex()}}
    assert EchoCard(state=state).echo.last == b"keep".hex()


def test_a_state_of_another_kind_or_format_is_refused():
    echo_state = EchoCard().to_state()
    with pytest.raises(StateError, match="echo-card card, not a yubikey"):
        VirtualYubiKey(state=echo_state)
    with pytest.raises(StateError, match="its format 99 is newer than this version reads"):
        VirtualYubiKey(state={**VirtualYubiKey().to_state(), "format": 99})
    with pytest.raises(StateError, match="no virtual card state of format 1/2"):
        VirtualYubiKey(state={**VirtualYubiKey().to_state(), "format": "x"})


def test_a_state_file_written_before_the_card_os_split_still_loads():
    state = load_state(FORMAT_1_STATE)
    assert state is not None and state["format"] == 1
    card = VirtualYubiKey(state=state)
    assert (card.firmware, card.serial) == ((5, 7, 2), 12345678)
    card.power_on()
    select_piv(card)
    assert transmit(card, apdu(0, 0x20, 0, 0x80))[1] == 0x63C2  # the wrong try was kept
    assert verify(card, "654321") == 0x9000
    assert 0x9A in card.piv.keys and card.piv.keys[0x9A].algorithm.name == "ECCP256"
    assert card.to_state()["format"] == STATE_FORMAT
    assert card.to_state()["piv"] == VirtualYubiKey(state=card.to_state()).to_state()["piv"]


def test_a_yubikey_goes_into_the_yubico_named_reader_other_cards_into_virtual_pcd():
    from hwsim import stack

    assert stack.default_reader(None) == stack.default_reader("yubikey") == stack.YUBICO_READER
    assert stack.reader_name(stack.default_reader()) == "Yubico YubiKey CCID (hwsim) 00 00"
    assert stack.default_reader(f"{__file__}:EchoCard") == 0
