"""Fixtures that put virtual cards into real PC/SC readers (pcscd -> vpcd -> hwsim).

Fixtures:

``pcsc_stack`` (session)
    Makes sure pcscd runs (starting it through the same code as ``hw-sim/up``)
    and owns the card servers of the run, one per reader, started on first use.
    Tears down only what it started. Yields a :class:`PcscStack`.

``virtual_card_factory`` (function)
    ``virtual_card_factory(firmware="5.7.2", reader=None, serial=12345678,
    card="hwsim.yubikey:VirtualYubiKey", state=None) -> VirtualCardHandle``:
    a factory-fresh card (or one loaded from ``state``) in that reader, in a
    few milliseconds: the server stays, only the card inside is swapped.
    ``card`` also takes a short name: "yubikey", "openpgp" (a plain OpenPGP
    3.4 card). ``reader=None`` is the card's own place (``hwsim.stack.
    default_reader``): a YubiKey in "Yubico YubiKey CCID (hwsim) 00 00"
    (reader 2), any other card in "Virtual PCD 00 00" (reader 0);
    ``$HWSIM_TEST_READER`` overrides it for every card.

``virtual_card`` (function)
    ``virtual_card_factory()`` with the defaults: a YubiKey 5.7.2 in reader 2.

``openpgp_card`` (function)
    ``virtual_card_factory(card="openpgp")``: a plain OpenPGP 3.4 card in reader 0.

Readers: 0 and 1 are vpcd's "Virtual PCD 00 00"/"00 01"; 2 (``YUBICO_READER``)
and 3 are "Yubico YubiKey CCID (hwsim) 00 00"/"00 01": where a YubiKey sits,
as a real one on USB does (ykman 5 and libykcs11 use no other reader for it).
pcscd knows the latter only if it started after hw-sim/bootstrap installed
them: a pcscd this run started is restarted once if needed; any other pcscd
without them makes the test fail (an error saying how to restart it), never
skip. After a test, cards stay in readers 0, 1 and 2 (the next test finds one
there); a card in reader 3 is taken out (unless the server was borrowed with
it inserted), so clients that pick "the first Yubico reader with a card" are
not steered there.

A :class:`VirtualCardHandle` has ``reader`` (index), ``reader_name``
("Virtual PCD 00 00"), ``control`` (:class:`hwsim.control.CardControl`),
``state_path``, ``firmware`` ("5.7.2"), ``serial``, ``atr``; plus ``remove()``
/ ``insert()`` which also wait until PC/SC has seen the change.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "hw-sim"))  # hwsim importable even before `pip install -e`

from hwsim import stack  # noqa: E402
from hwsim.control import CardControl  # noqa: E402
from hwsim.server import DEFAULT_CARD  # noqa: E402

YUBICO_READER = stack.YUBICO_READER
"""Reader index of "Yubico YubiKey CCID (hwsim) 00 00" (the reader libykcs11 sees)."""
DEFAULT_FIRMWARE = "5.7.2"
DEFAULT_SERIAL = 12345678
KEEP_INSERTED_READERS = (*stack.CLASSIC_READERS, YUBICO_READER)
"""Readers whose card stays in after a test: the places cards live by default."""
STANDIN_CARD = f"{REPO_ROOT / 'tests' / 'sim' / 'stack_standin_card.py'}:StandInCard"
"""A minimal card for tests of the stack itself (not of any card applet)."""


@dataclass
class PcscStack:
    """pcscd plus the card servers this test run uses."""

    started_pcscd: bool
    servers: Dict[int, stack.ServerInfo] = field(default_factory=dict)
    borrowed: Dict[int, stack.ServerInfo] = field(default_factory=dict)
    """Servers started before the run (hw-sim/up, here or in another checkout): used, never stopped."""

    def server(self, reader: int, card: str = DEFAULT_CARD) -> stack.ServerInfo:
        """The card server for ``reader``, started on first use (serving ``card``)."""
        if reader not in stack.CLASSIC_READERS:
            # raises StackError (the test errors with the reason) when pcscd lacks the reader
            stack.ensure_reader(reader, may_restart_pcscd=self.started_pcscd)
        running = stack.running_server(reader) or stack.foreign_server(reader)
        if running is None:
            return self.restart_server(reader, card=card)
        if reader not in self.servers:
            self.borrowed[reader] = running
        return running

    def restart_server(self, reader: int, **options: object) -> stack.ServerInfo:
        """A new server process for ``reader`` (``options`` as for stack.start_server)."""
        self.borrowed.pop(reader, None)
        info = stack.start_server(reader, parent_pid=os.getpid(), **options)  # type: ignore[arg-type]
        self.servers[reader] = info
        return info

    def stop_server(self, reader: int) -> None:
        self.servers.pop(reader, None)
        stack.stop_server(reader)

    def close(self) -> None:
        for reader in list(self.servers):
            self.stop_server(reader)
        if self.started_pcscd:
            stack.stop_pcscd()


@dataclass
class VirtualCardHandle:
    """One card in one reader, as a test sees it."""

    reader: int
    reader_name: str
    control: CardControl
    state_path: Path
    firmware: str
    serial: int
    atr: bytes

    def remove(self, timeout: float = 5.0) -> None:
        """Pull the card and wait until PC/SC reports the reader empty."""
        self.control.remove()
        stack.wait_for_card(self.reader_name, present=False, timeout=timeout)

    def insert(self, timeout: float = 5.0) -> bytes:
        """Put the card back and wait until PC/SC reports it present; returns the ATR."""
        self.control.insert()
        return stack.wait_for_card(self.reader_name, present=True, timeout=timeout) or b""


@pytest.fixture(scope="session")
def pcsc_stack() -> Iterator[PcscStack]:
    """pcscd and the card servers, held alone for this run (other runs queue)."""

    def say_waiting() -> None:
        print("\nwaiting for another test run to release the PC/SC stack ...", file=sys.stderr)

    with stack.exclusive_stack(on_wait=say_waiting):
        stack.ensure_packages()
        handle = PcscStack(started_pcscd=stack.ensure_pcscd())
        try:
            yield handle
        finally:
            handle.close()


@pytest.fixture
def virtual_card_factory(pcsc_stack: PcscStack, tmp_path: Path) -> Iterator[Callable[..., VirtualCardHandle]]:
    used: Dict[int, VirtualCardHandle] = {}
    traced_before: Dict[int, bool] = {}
    leave_inserted: Dict[int, bool] = {}

    def make(firmware: str = DEFAULT_FIRMWARE, reader: int | None = None, serial: int = DEFAULT_SERIAL,
             card: str = DEFAULT_CARD, state: Path | None = None) -> VirtualCardHandle:
        if reader is None:
            override = os.environ.get("HWSIM_TEST_READER")
            reader = int(override) if override else stack.default_reader(card)
        server = pcsc_stack.server(reader, card=card)
        control = server.control
        if reader not in leave_inserted:
            borrowed_with_card = reader in pcsc_stack.borrowed and control.status()["inserted"]
            leave_inserted[reader] = reader in KEEP_INSERTED_READERS or borrowed_with_card
        state_path = Path(state) if state is not None else tmp_path / f"reader{reader}-state.json"
        swapped = control.new_card(firmware=firmware, serial=serial, state=state_path, card=card)
        status = control.status()
        traced_before.setdefault(reader, status["trace"])
        name = server.reader_name
        if swapped["atr_changed"] and status["present"]:
            # PC/SC keeps the ATR it read at insertion: re-insert so it reads the new one.
            control.remove()
            stack.wait_for_card(name, present=False)
        control.insert()
        atr = stack.wait_for_card(name, present=True) or b""
        handle = VirtualCardHandle(reader, name, control, state_path, firmware, serial, atr)
        used[reader] = handle
        return handle

    try:
        yield make
    finally:
        for handle in used.values():
            if not handle.control.ping():
                continue  # a test stopped the server on purpose
            handle.control.clear_faults()
            if leave_inserted[handle.reader]:
                handle.control.insert()  # the next test finds the card in the reader
            else:
                handle.remove()  # a Yubico-named reader goes back to empty
            if not traced_before[handle.reader] and handle.control.status()["trace"]:
                handle.control.trace(on=False)  # a test that failed before switching it off


@pytest.fixture
def virtual_card(virtual_card_factory: Callable[..., VirtualCardHandle]) -> VirtualCardHandle:
    return virtual_card_factory()


@pytest.fixture
def openpgp_card(virtual_card_factory: Callable[..., VirtualCardHandle]) -> VirtualCardHandle:
    """A factory-fresh plain OpenPGP 3.4 card (no PIV, no YubiKey parts) in reader 0:
    PW1 123456, PW3 12345678, no keys."""
    return virtual_card_factory(card="openpgp")


@pytest.fixture
def standin_card_spec() -> str:
    """The ``card=`` value that serves the stand-in card (for virtual_card_factory)."""
    return STANDIN_CARD


@pytest.fixture
def standin_card(virtual_card_factory: Callable[..., VirtualCardHandle]) -> VirtualCardHandle:
    """The minimal stand-in card (tests/sim/stack_standin_card.py) in reader 0,
    for tests of the stack that must not depend on the YubiKey simulation."""
    return virtual_card_factory(card=STANDIN_CARD, firmware="1.0.0", serial=1)


@pytest.fixture
def provisioned_card(virtual_card_factory: Callable[..., VirtualCardHandle], tmp_path: Path) -> VirtualCardHandle:
    """A YubiKey 5.7.2 in its reader (2) holding the keys and certificates of
    ``provisioning.provisioned_yubikey()`` (one per key type, see that module)."""
    from hwsim.statefile import save_state
    from provisioning import provisioned_state

    state = tmp_path / "provisioned.json"
    save_state(state, provisioned_state())
    return virtual_card_factory(state=state)
