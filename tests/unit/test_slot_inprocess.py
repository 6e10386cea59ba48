"""InProcessTransport and the virtual fallback slot, with the real simulated YubiKey."""

import threading

import pytest
from hwsim.yubikey import VirtualYubiKey

from cardki.apdu import SmartCardProtocol
from cardki.slot import (
    VIRTUAL_READER_NAME,
    CardRemovedError,
    CardResetError,
    InProcessSlot,
    InProcessTransport,
    SlotManager,
)

PIV_AID = bytes.fromhex("A000000308")


def test_transport_powers_the_card_on_and_selects_piv():
    transport = InProcessTransport(VirtualYubiKey())
    assert transport.reader_name == VIRTUAL_READER_NAME
    assert transport.atr == VirtualYubiKey().atr
    protocol = SmartCardProtocol(transport)
    assert protocol.select(PIV_AID)[:2] == b"\x61\x11"  # application property template
    assert protocol.apdu_count >= 1


def test_removal_kills_the_connection_even_after_reinsertion():
    slot = InProcessSlot(VirtualYubiKey())
    transport = slot.connect()
    slot.remove()
    with pytest.raises(CardRemovedError):
        transport.transmit(bytes.fromhex("00A4040005A000000308"))
    slot.insert()
    with pytest.raises(CardRemovedError):
        transport.transmit(bytes.fromhex("00A4040005A000000308"))
    SmartCardProtocol(slot.connect()).select(PIV_AID)


def test_reset_by_another_program_is_reported_once():
    slot = InProcessSlot(VirtualYubiKey())
    protocol = SmartCardProtocol(slot.connect())
    protocol.select(PIV_AID)
    slot.reset()
    with pytest.raises(CardResetError):
        protocol.select(PIV_AID)
    protocol.select(PIV_AID)


def test_transaction_excludes_other_threads():
    slot = InProcessSlot(VirtualYubiKey())
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


def test_manager_shows_the_virtual_slot_when_no_reader_has_a_card():
    manager = SlotManager(virtual_fallback=VirtualYubiKey)
    try:
        pcsc_cards = [e for e in manager.slots() if not e.virtual and e.card_present]
        virtual = [e for e in manager.slots() if e.virtual]
        if pcsc_cards:
            assert virtual == []
            pytest.skip("a PC/SC reader has a card here: the fallback rightly stays hidden")
        [entry] = virtual
        assert entry.reader_name == VIRTUAL_READER_NAME and entry.card_present
        assert [e.slot_id for e in manager.slots() if e.virtual] == [entry.slot_id]
        transport = manager.connect(entry.slot_id)
        assert isinstance(transport, InProcessTransport)
        SmartCardProtocol(transport).select(PIV_AID)
        generation = manager.card_generation(entry.slot_id)
        manager.virtual_slot.remove()
        manager.virtual_slot.insert()
        assert manager.card_generation(entry.slot_id) != generation
    finally:
        manager.close()
