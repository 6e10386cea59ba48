"""The stack as any PC/SC client sees it: pcscd -> vpcd -> hwsim card server."""

from __future__ import annotations

from pathlib import Path

import pytest
from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.System import readers

from hwsim import stack
from hwsim.stack import pcsc_connect as connect

STANDIN_CARD = f"{Path(__file__).with_name('stack_standin_card.py')}:StandInCard"

pytestmark = pytest.mark.sim

SELECT_PIV = [0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08]


def test_card_present_with_its_atr(standin_card):
    assert standin_card.reader_name in [str(r) for r in readers()]
    assert stack.card_present(standin_card.reader_name) == bytes.fromhex("3B868001 53494D 010000 00")
    connection = connect(standin_card.reader_name)
    try:
        assert bytes(connection.getATR()) == standin_card.atr
    finally:
        connection.disconnect()


def test_select_and_echo_round_trip(standin_card):
    connection = connect(standin_card.reader_name)
    try:
        assert connection.transmit(SELECT_PIV) == ([], 0x90, 0x00)
        payload = list(range(200))
        data, sw1, sw2 = connection.transmit([0x00, 0xEE, 0x00, 0x00, len(payload), *payload])
        assert (data, sw1, sw2) == (payload, 0x90, 0x00)
        assert connection.transmit([0x00, 0x99, 0x00, 0x00]) == ([], 0x6D, 0x00)
    finally:
        connection.disconnect()


def test_count_sees_each_apdu_once(standin_card):
    control = standin_card.control
    connection = connect(standin_card.reader_name)
    try:
        control.reset_count()
        for _ in range(5):
            connection.transmit(SELECT_PIV)
        assert control.count() == 5
        control.reset_count()
        assert control.count() == 0
    finally:
        connection.disconnect()


def test_removal_and_reinsert_are_seen_by_pcsc(standin_card):
    connection = connect(standin_card.reader_name)
    standin_card.remove()
    assert stack.card_present(standin_card.reader_name) is None
    assert standin_card.control.status()["present"] is False
    with pytest.raises(CardConnectionException):
        connection.transmit(SELECT_PIV)
    with pytest.raises((NoCardException, CardConnectionException)):
        connect(standin_card.reader_name)
    connection.disconnect()

    assert standin_card.insert() == standin_card.atr
    connection = connect(standin_card.reader_name)
    try:
        assert connection.transmit(SELECT_PIV) == ([], 0x90, 0x00)
    finally:
        connection.disconnect()


def test_firmware_change_gives_pcsc_the_new_atr(virtual_card_factory):
    first = virtual_card_factory(card=STANDIN_CARD, firmware="1.0.0")
    second = virtual_card_factory(card=STANDIN_CARD, firmware="2.0.0")
    assert first.atr != second.atr
    assert stack.card_present(second.reader_name) == second.atr


def test_second_reader_holds_its_own_card(virtual_card_factory):
    first = virtual_card_factory(card=STANDIN_CARD, firmware="1.0.0", reader=0)
    second = virtual_card_factory(card=STANDIN_CARD, firmware="1.0.1", reader=1)
    assert second.reader_name == "Virtual PCD 00 01"
    first.control.reset_count()
    second.control.reset_count()
    connection = connect(second.reader_name)
    try:
        connection.transmit(SELECT_PIV)
    finally:
        connection.disconnect()
    assert (first.control.count(), second.control.count()) == (0, 1)


def test_card_server_reconnects_after_pcscd_restart(pcsc_stack, standin_card):
    if not pcsc_stack.started_pcscd:
        pytest.skip("pcscd was started outside this test run; we restart only our own")
    connects_before = standin_card.control.status()["connects"]
    stack.restart_pcscd()
    stack.wait_for_card(standin_card.reader_name, present=True, timeout=10)
    assert standin_card.control.status()["connects"] > connects_before
    connection = connect(standin_card.reader_name)
    try:
        assert connection.transmit(SELECT_PIV) == ([], 0x90, 0x00)
    finally:
        connection.disconnect()
