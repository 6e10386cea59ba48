"""InProcessTransport and the virtual fallback slot, driving a small VirtualCard.

The card is deliberately not the YubiKey: these tests must fail only for
slot-layer bugs, not while the simulator's applets change.
"""

import threading

import pytest

from cardki.apdu import ConditionsNotSatisfiedError, SmartCardProtocol
from cardki.slot import (
    VIRTUAL_READER_NAME,
    CardRemovedError,
    CardResetError,
    InProcessSlot,
    InProcessTransport,
    ReaderUnavailableError,
    SlotManager,
)
from hwsim.card import VirtualCard

PIV_AID = bytes.fromhex("A000000308")


class SelectCard(VirtualCard):
    """Knows one applet (PIV): SELECT answers with a small FCI, after a power-on
    every other command needs the applet selected again (6985)."""

    def __init__(self) -> None:
        self.selected = False
        self.power_ons = 0

    @property
    def atr(self) -> bytes:
        return bytes.fromhex("3B8080010101")

    def power_on(self) -> None:
        self.power_ons += 1
        self.selected = False

    def power_off(self) -> None:
        self.selected = False

    def execute(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xA4:
            if apdu[5:5 + apdu[4]] != PIV_AID:
                return b"\x6A\x82"
            self.selected = True
            return bytes.fromhex("61034F0101") + b"\x90\x00"
        if not self.selected:
            return b"\x69\x85"
        return b"\x90\x00"


def test_transport_powers_the_card_on_and_selects_piv():
    transport = InProcessTransport(SelectCard())
    assert transport.reader_name == VIRTUAL_READER_NAME
    assert transport.atr == SelectCard().atr
    protocol = SmartCardProtocol(transport)
    assert protocol.select(PIV_AID) == bytes.fromhex("61034F0101")
    assert protocol.apdu_count == 1


def test_removal_kills_the_connection_even_after_reinsertion():
    slot = InProcessSlot(SelectCard())
    transport = slot.connect()
    slot.remove()
    with pytest.raises(CardRemovedError):
        transport.transmit(bytes.fromhex("00A4040005A000000308"))
    slot.insert()
    with pytest.raises(CardRemovedError):
        transport.transmit(bytes.fromhex("00A4040005A000000308"))
    SmartCardProtocol(slot.connect()).select(PIV_AID)


def test_reset_by_another_program_is_reported_once():
    slot = InProcessSlot(SelectCard())
    protocol = SmartCardProtocol(slot.connect())
    protocol.select(PIV_AID)
    slot.reset()
    with pytest.raises(CardResetError):
        protocol.send_apdu(0x00, 0xCA, 0x3F, 0xFF)
    with pytest.raises(ConditionsNotSatisfiedError):  # the reset really deselected PIV
        protocol.send_apdu(0x00, 0xCA, 0x3F, 0xFF)
    protocol.select(PIV_AID)
    protocol.send_apdu(0x00, 0xCA, 0x3F, 0xFF)


def test_transaction_excludes_other_threads():
    slot = InProcessSlot(SelectCard())
    mine, other = slot.connect(), slot.connect()
    order = []
    with mine.transaction():
        with mine.transaction():  # nesting is counted
            assert mine.transaction_depth == 2
        thread = threading.Thread(target=lambda: (other.transmit(bytes.fromhex("00A4040005A000000308")),
                                                  order.append("other")))
        thread.start()
        thread.join(0.2)
        order.append("mine done")
    thread.join(5)
    assert order == ["mine done", "other"]


def test_manager_presents_the_virtual_card_as_a_slot():
    manager = SlotManager(virtual_fallback=SelectCard, use_pcsc=False)
    try:
        [entry] = manager.slots()
        assert entry.virtual and entry.card_present
        assert entry.reader_name == VIRTUAL_READER_NAME
        assert entry.atr == SelectCard().atr
        assert [e.slot_id for e in manager.slots()] == [entry.slot_id]  # stable
        transport = manager.connect(entry.slot_id)
        assert isinstance(transport, InProcessTransport)
        SmartCardProtocol(transport).select(PIV_AID)
        generation = manager.card_generation(entry.slot_id)
        assert manager.card_generation(entry.slot_id) == generation
        manager.virtual_slot.remove()
        assert not manager.slot(entry.slot_id).card_present
        manager.virtual_slot.insert()
        assert manager.card_generation(entry.slot_id) != generation
        assert manager.wait_for_slot_event(block=False) is None
    finally:
        manager.close()


def test_manager_without_readers_or_fallback_lists_nothing():
    manager = SlotManager(use_pcsc=False)
    assert manager.slots() == []
    with pytest.raises(ReaderUnavailableError):
        manager.connect(0)
