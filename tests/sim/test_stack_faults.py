"""Faults injected through the control channel reach a real PC/SC client."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hwsim.stack import pcsc_connect as connect

STANDIN_CARD = f"{Path(__file__).with_name('stack_standin_card.py')}:StandInCard"

SELECT_PIV = [0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08]

pytestmark = pytest.mark.sim

GET_DATA = [0x00, 0xCA, 0x00, 0x00, 0x00]


@pytest.fixture
def connection(standin_card):
    connection = connect(standin_card.reader_name)
    yield connection
    connection.disconnect()


def test_injected_status_answers_the_next_apdus_then_stops(standin_card, connection):
    standin_card.control.inject_sw(0x6A82, count=2)
    assert connection.transmit(SELECT_PIV) == ([], 0x6A, 0x82)
    assert connection.transmit(SELECT_PIV) == ([], 0x6A, 0x82)
    assert connection.transmit(SELECT_PIV) == ([], 0x90, 0x00)


def test_injected_status_for_one_ins_leaves_others_alone(standin_card, connection):
    standin_card.control.inject_sw(0x6982, count=1, ins=0xCA)
    assert connection.transmit(SELECT_PIV) == ([], 0x90, 0x00)
    assert connection.transmit(GET_DATA) == ([], 0x69, 0x82)
    assert connection.transmit(GET_DATA) == ([], 0x90, 0x00)


def test_injected_status_accepts_hex_text_over_the_wire(standin_card, connection):
    standin_card.control.request("inject_sw", sw="6A80")
    assert connection.transmit(SELECT_PIV) == ([], 0x6A, 0x80)


def test_truncated_response(standin_card, connection):
    standin_card.control.truncate(length=3, count=1)
    echo = [0x00, 0xEE, 0x00, 0x00, 4, 0x11, 0x22, 0x33, 0x44]
    data, sw1, sw2 = connection.transmit(echo)
    assert bytes(data + [sw1, sw2]) == bytes([0x11, 0x22, 0x33])
    assert connection.transmit(echo) == ([0x11, 0x22, 0x33, 0x44], 0x90, 0x00)


def test_delay_slows_every_apdu_until_switched_off(standin_card, connection):
    standin_card.control.delay(0.25)
    started = time.monotonic()
    assert connection.transmit(SELECT_PIV) == ([], 0x90, 0x00)
    assert time.monotonic() - started >= 0.25
    standin_card.control.delay(0)
    assert standin_card.control.status()["faults"]["delay_seconds"] == 0


def test_clear_faults_and_new_card_disarm_everything(standin_card, connection, virtual_card_factory):
    standin_card.control.inject_sw(0x6F00, count=5)
    standin_card.control.clear_faults()
    assert connection.transmit(SELECT_PIV) == ([], 0x90, 0x00)
    standin_card.control.inject_sw(0x6F00, count=5)
    virtual_card_factory(card=STANDIN_CARD, firmware="1.0.0")
    assert connection.transmit(SELECT_PIV) == ([], 0x90, 0x00)


def test_bad_control_requests_are_refused(standin_card):
    from hwsim.control import ControlError

    with pytest.raises(ControlError, match="unknown command"):
        standin_card.control.request("explode")
    with pytest.raises(ControlError, match="16-bit"):
        standin_card.control.inject_sw(0x1FFFF)
    with pytest.raises(ControlError, match="touch sensor"):
        standin_card.control.touch(mode="timeout")


def test_touch_settings_reach_the_card_and_reset_with_a_new_card(virtual_card_factory):
    card = virtual_card_factory()
    assert card.control.touch(mode="timeout", delay=0.5) == {"touch_mode": "timeout", "touch_delay": 0.5}
    status = card.control.status()
    assert (status["touch_mode"], status["touch_delay"]) == ("timeout", 0.5)
    with pytest.raises(Exception, match="confirm"):
        card.control.touch(mode="sometimes")
    fresh = virtual_card_factory()
    assert fresh.control.status()["touch_mode"] == "confirm"
