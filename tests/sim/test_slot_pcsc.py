"""The slot layer through the real stack: pcscd -> vpcd -> a virtual card.

The card is the stack's stand-in card (SELECT -> 9000, ECHO, ...), not the
YubiKey, so these tests fail only for slot-layer (or stack) bugs.
"Another program" is a real second process using PC/SC, because transactions
and resets are arbitrated by pcscd between processes.
"""

from __future__ import annotations

import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cardki.apdu import SmartCardProtocol
from cardki.slot import (
    CardRemovedError,
    CardResetError,
    PcscTransport,
    ReaderUnavailableError,
    SlotManager,
    WaitCancelledError,
)

pytestmark = pytest.mark.sim

PIV_AID = bytes.fromhex("A000000308")
SELECT_PIV = bytes.fromhex("00A4040005A000000308")
STANDIN_CARD = f"{Path(__file__).resolve().parent / 'stack_standin_card.py'}:StandInCard"
READER = 0


@pytest.fixture
def virtual_card(virtual_card_factory):
    """The stand-in card in reader 0 (overrides the YubiKey default of conftest)."""
    return virtual_card_factory(card=STANDIN_CARD, reader=READER)


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_stray_processes():
    """A failed test must not leave its "other program" running."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
        process.wait(10)
        process.stdout.close()
        process.stdin.close()


def other_program(reader: str, body: str) -> subprocess.Popen:
    """A second process connected (shared) to ``reader`` that runs ``body``
    (with ``card`` = its handle) and prints a line for every step."""
    code = f"""
import sys
from smartcard import scard
def step(text):
    print(text, flush=True)
rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
rv, card, proto = scard.SCardConnect(ctx, {reader!r}, scard.SCARD_SHARE_SHARED,
                                     scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
assert rv == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(rv)
step("connected")
{body}
"""
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    _started.append(process)
    return process


def read_line(process: subprocess.Popen, timeout: float) -> str | None:
    """The next stdout line of ``process``, or None if none came within ``timeout``."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline().strip() if ready else None


@pytest.fixture
def manager():
    manager = SlotManager()
    yield manager
    manager.cancel()
    manager.close()


def slot_of(manager: SlotManager, reader_name: str) -> int:
    [entry] = [e for e in manager.slots() if e.reader_name == reader_name]
    return entry.slot_id


def test_readers_are_slots_with_stable_ids(virtual_card, manager):
    first = {e.reader_name: e for e in manager.slots()}
    assert virtual_card.reader_name in first
    entry = first[virtual_card.reader_name]
    assert entry.card_present and entry.atr == virtual_card.atr and not entry.virtual
    virtual_card.remove()
    second = {e.reader_name: e for e in manager.slots()}
    assert {n: e.slot_id for n, e in second.items()} == {n: e.slot_id for n, e in first.items()}
    assert not second[virtual_card.reader_name].card_present
    assert second[virtual_card.reader_name].atr == b""
    assert len({e.slot_id for e in second.values()}) == len(second)


def test_unknown_slot_id_is_refused(manager):
    with pytest.raises(ReaderUnavailableError):
        manager.connect(10_000)


def test_select_piv_through_pcsc(virtual_card, manager):
    transport = manager.connect(slot_of(manager, virtual_card.reader_name))
    try:
        assert isinstance(transport, PcscTransport)
        assert transport.atr == virtual_card.atr
        protocol = SmartCardProtocol(transport)
        assert protocol.select(PIV_AID) == b""
        assert protocol.send_apdu(0x00, 0xEE, 0x00, 0x00, b"ping") == b"ping"
        assert protocol.apdu_count == 2
    finally:
        transport.close()


# pcscd makes even SCardConnect wait while another program holds a transaction,
# so the other program connects first and starts its attempt when told "go".
TRY_TRANSACTION = """
sys.stdin.readline()
rv = scard.SCardBeginTransaction(card)
step("began" if rv == scard.SCARD_S_SUCCESS else f"error {rv:x}")
scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD)
"""


def go(process: subprocess.Popen) -> None:
    process.stdin.write("go\n")
    process.stdin.flush()


def test_transaction_keeps_another_process_out(virtual_card):
    other = other_program(virtual_card.reader_name, TRY_TRANSACTION)
    assert read_line(other, 10) == "connected"
    with PcscTransport(virtual_card.reader_name) as transport:
        with transport.transaction():
            go(other)
            transport.transmit(SELECT_PIV)  # ours still works inside the transaction
            assert read_line(other, 1.0) is None, "the other process got in during our transaction"
        assert read_line(other, 10) == "began"
    other.wait(10)


def test_nested_transactions_end_only_at_the_outermost(virtual_card):
    other = other_program(virtual_card.reader_name, TRY_TRANSACTION)
    assert read_line(other, 10) == "connected"
    with PcscTransport(virtual_card.reader_name) as transport:
        with transport.transaction():
            with transport.transaction():
                assert transport.transaction_depth == 2
            go(other)
            assert read_line(other, 1.0) is None, "inner end released the PC/SC transaction"
        assert transport.transaction_depth == 0
        assert read_line(other, 10) == "began"
    other.wait(10)


def test_lone_transmits_do_not_hold_the_card(virtual_card):
    other = other_program(virtual_card.reader_name, TRY_TRANSACTION)
    assert read_line(other, 10) == "connected"
    with PcscTransport(virtual_card.reader_name) as transport:
        transport.transmit(SELECT_PIV)
        go(other)
        assert read_line(other, 10) == "began"
    other.wait(10)


def test_removal_raises_card_removed(virtual_card):
    transport = PcscTransport(virtual_card.reader_name)
    try:
        transport.transmit(SELECT_PIV)
        virtual_card.remove()
        with pytest.raises(CardRemovedError):
            transport.transmit(SELECT_PIV)
        virtual_card.insert()
        with pytest.raises(CardRemovedError):  # that connection belonged to the old insertion
            transport.transmit(SELECT_PIV)
    finally:
        transport.close()
    with PcscTransport(virtual_card.reader_name) as fresh:
        assert fresh.transmit(SELECT_PIV) == b"\x90\x00"


RESET = """
rv, proto = scard.SCardReconnect(card, scard.SCARD_SHARE_SHARED,
                                 scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1, scard.SCARD_RESET_CARD)
step("reset" if rv == scard.SCARD_S_SUCCESS else f"error {rv:x}")
"""


def test_reset_by_another_program_then_working_again(virtual_card):
    transport = PcscTransport(virtual_card.reader_name)
    try:
        protocol = SmartCardProtocol(transport)
        protocol.select(PIV_AID)
        other = other_program(virtual_card.reader_name, RESET)
        assert read_line(other, 10) == "connected"
        assert read_line(other, 10) == "reset"
        other.wait(10)
        with pytest.raises(CardResetError):
            protocol.select(PIV_AID)
        assert protocol.select(PIV_AID) == b""
        assert transport.atr == virtual_card.atr
    finally:
        transport.close()


def test_reset_is_reported_when_our_transaction_begins(virtual_card):
    # Another program cannot reset the card inside our transaction (pcscd makes it
    # wait), so a reset shows up at the next begin: reported once, then we go on.
    with PcscTransport(virtual_card.reader_name) as transport:
        transport.transmit(SELECT_PIV)
        other = other_program(virtual_card.reader_name, RESET)
        assert read_line(other, 10) == "connected"
        assert read_line(other, 10) == "reset"
        other.wait(10)
        with pytest.raises(CardResetError):
            transport.begin_transaction()
        assert transport.transaction_depth == 0
        with transport.transaction():
            assert transport.transmit(SELECT_PIV) == b"\x90\x00"


def test_wait_for_slot_event_non_blocking(virtual_card, manager):
    slot_id = slot_of(manager, virtual_card.reader_name)
    drain_events(manager)
    assert manager.wait_for_slot_event(block=False) is None
    virtual_card.remove()
    assert manager.wait_for_slot_event(block=False) == slot_id
    assert manager.wait_for_slot_event(block=False) is None
    generation = manager.card_generation(slot_id)
    virtual_card.insert()
    assert manager.wait_for_slot_event(block=False) == slot_id
    assert manager.card_generation(slot_id) != generation


def drain_events(manager: SlotManager) -> None:
    """Forget events from the fixture's card set-up (it may still be settling)."""
    while manager.wait_for_slot_event(block=True, timeout=0.5) is not None:
        pass


def test_connecting_is_not_a_slot_event(virtual_card, manager):
    drain_events(manager)
    with PcscTransport(virtual_card.reader_name) as transport:
        transport.transmit(SELECT_PIV)
    assert manager.wait_for_slot_event(block=True, timeout=0.5) is None


def test_wait_for_slot_event_blocks_until_removal(virtual_card, manager):
    slot_id = slot_of(manager, virtual_card.reader_name)
    drain_events(manager)
    remover = threading.Timer(0.3, virtual_card.control.remove)
    remover.start()
    try:
        assert manager.wait_for_slot_event(block=True, timeout=10) == slot_id
    finally:
        remover.join()


def test_blocking_wait_times_out_and_can_be_cancelled(virtual_card, manager):
    drain_events(manager)
    assert manager.wait_for_slot_event(block=True, timeout=0.2) is None
    outcome = []

    def wait():
        try:
            outcome.append(manager.wait_for_slot_event(block=True))
        except WaitCancelledError as error:
            outcome.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.2)
    manager.cancel()
    waiter.join(5)
    assert not waiter.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], WaitCancelledError)


def test_threads_sharing_a_transport_do_not_interleave_transactions(virtual_card):
    # PUT DATA then GET DATA inside one transaction: another thread's PUT in
    # between would show up as the wrong value.
    errors: list[str] = []
    with PcscTransport(virtual_card.reader_name) as transport:
        protocol = SmartCardProtocol(transport)

        def worker(tag: bytes) -> None:
            for i in range(30):
                value = tag + bytes([i])
                with transport.transaction():
                    protocol.send_apdu(0x00, 0xDA, 0x00, 0x00, value)
                    got = protocol.send_apdu(0x00, 0xCA, 0x00, 0x00)
                if got != value:
                    errors.append(f"{value!r} read back as {got!r}")

        threads = [threading.Thread(target=worker, args=(bytes([t]) * 4,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)
        assert transport.transaction_depth == 0
    assert errors == []
