"""The card's persistent state survives a server restart, through the real stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwsim import statefile
from hwsim.stack import pcsc_connect as connect

STANDIN_CARD = f"{Path(__file__).with_name('stack_standin_card.py')}:StandInCard"

pytestmark = pytest.mark.sim

PUT_DATA = [0x00, 0xDA, 0x00, 0x00, 5, *b"hello"]
GET_DATA = [0x00, 0xCA, 0x00, 0x00, 0x00]


def test_state_survives_server_restart(pcsc_stack, tmp_path):
    state_path = tmp_path / "card.json"
    info = pcsc_stack.restart_server(0, card=STANDIN_CARD, state=state_path, firmware="1.0.0")
    assert json.loads(state_path.read_text()) == {"stored": {"$bytes": ""}}  # factory state

    connection = connect(info.reader_name)
    try:
        assert connection.transmit(PUT_DATA) == ([], 0x90, 0x00)
    finally:
        connection.disconnect()
    assert statefile.load_state(state_path) == {"stored": b"hello"}

    first_pid = info.pid
    info = pcsc_stack.restart_server(0, card=STANDIN_CARD, state=state_path, firmware="1.0.0")
    assert info.pid != first_pid
    connection = connect(info.reader_name)
    try:
        assert connection.transmit(GET_DATA) == (list(b"hello"), 0x90, 0x00)
    finally:
        connection.disconnect()


def test_state_written_only_when_the_card_changed(standin_card):
    saves = standin_card.control.status()["state_saves"]
    connection = connect(standin_card.reader_name)
    try:
        connection.transmit(GET_DATA)
        assert standin_card.control.status()["state_saves"] == saves
        connection.transmit(PUT_DATA)
        assert standin_card.control.status()["state_saves"] == saves + 1
    finally:
        connection.disconnect()


def test_new_card_is_factory_fresh(virtual_card_factory):
    card = virtual_card_factory(card=STANDIN_CARD, firmware="1.0.0")
    connection = connect(card.reader_name)
    try:
        connection.transmit(PUT_DATA)
        virtual_card_factory(card=STANDIN_CARD, firmware="1.0.0", state=card.state_path.with_name("other.json"))
        assert connection.transmit(GET_DATA) == ([], 0x90, 0x00)
    finally:
        connection.disconnect()


def test_state_file_round_trips_bytes_and_is_replaced_atomically(tmp_path):
    path = tmp_path / "s.json"
    statefile.save_state(path, {"key": b"\x00\x01", "nested": {"list": [b"\xff", 1, "x"]}})
    statefile.save_state(path, {"key": b"\x02"})
    assert statefile.load_state(path) == {"key": b"\x02"}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary file left behind
    assert statefile.load_state(tmp_path / "missing.json") is None
