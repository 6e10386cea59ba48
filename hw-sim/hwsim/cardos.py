"""The card operating system every virtual card here shares: a card that
hosts applets.

Everything between the reader and an applet lives here: APDU parsing (short
and extended), the CLA check, command chaining (CLA bit 0x10), SELECT by AID,
response chaining (61xx + GET RESPONSE), power and volatile state,
persistence per applet and trace redaction. Applets only ever see complete
commands (:mod:`hwsim.applet`). A concrete card (a YubiKey, a plain OpenPGP
card) is this class plus its ATR, its applets and what it does beyond ISO
7816-4 (a YubiKey's touch sensor).

State (``to_state``) is one JSON-friendly dict: the card's kind, firmware and
serial, and one section per applet that keeps anything (``Applet.state_key``).
Format 1, written before the card OS was split out of the YubiKey, had the
same layout with only a ``piv`` section; it still loads.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Tuple

from .applet import Applet
from .card import VirtualCard
from .iso7816 import (
    INS_GET_RESPONSE,
    INS_SELECT,
    SW,
    Command,
    SwError,
    parse_command,
    sw_bytes,
)
from .statefile import StateError

Firmware = Tuple[int, int, int]

STATE_FORMAT = 2
"""What ``to_state`` writes: per-applet sections beside kind/firmware/serial."""
READABLE_STATE_FORMATS = (1, 2)
"""Format 1 (only a ``piv`` section, always a YubiKey) loads as it is."""

SELECT_BY_AID = 0x04
P2_NO_RESPONSE_DATA = 0x0C


def atr_with_checksum(body: bytes) -> bytes:
    """``body`` (TS to the last historical byte) plus its TCK: the XOR of every
    byte after TS, which an ATR offering T=1 must end with."""
    check = 0
    for byte in body[1:]:
        check ^= byte
    return body + bytes([check])


def read_state(state: Dict[str, Any] | None, kind: str, firmware: Firmware,
               serial: int) -> Tuple[Firmware, int, Dict[str, Any]]:
    """(firmware, serial, state) to build a card of ``kind`` from: the saved
    firmware and serial win over the arguments. Raises StateError (a
    ValueError whose message quotes nothing of the state) for a state of an
    unknown or newer format or of another kind of card."""
    if state is None:
        return firmware, serial, {}
    found = state.get("format")
    if isinstance(found, int) and found > STATE_FORMAT:
        raise StateError(f"its format {found} is newer than this version reads ({STATE_FORMAT})")
    if found not in READABLE_STATE_FORMATS:
        raise StateError(f"no virtual card state of format {'/'.join(map(str, READABLE_STATE_FORMATS))}")
    saved_kind = state.get("kind", "yubikey")
    if saved_kind != kind:
        raise StateError(f"the state is of a {saved_kind} card, not a {kind} card")
    saved = state["firmware"]
    return (int(saved[0]), int(saved[1]), int(saved[2])), int(state["serial"]), state


class AppletCard(VirtualCard):
    """An ISO 7816-4 card hosting ``applets``; subclasses add their applets
    (``install``) and say what the card is (``kind``, ``atr``)."""

    kind: ClassVar[str] = "card"
    """Names the card in its state, so a state file is never loaded into another kind."""
    select_file_sw: ClassVar[int] = SW.FILE_NOT_FOUND
    """The answer to a SELECT that is not by AID (P1 != 04): the card has no file system."""
    has_button: ClassVar[bool] = False
    """Whether the card has a touch sensor (``require_touch``)."""

    def __init__(self, firmware: Firmware, serial: int) -> None:
        self.firmware: Firmware = (int(firmware[0]), int(firmware[1]), int(firmware[2]))
        self.serial = serial
        self.state_version = 0
        """+1 on every persistent change: a keeper saves the card when it moves."""
        self.applets: List[Applet] = []
        self._current: Applet | None = None
        self._pending = b""  # response bytes waiting for GET RESPONSE
        self._chain: Tuple[int, int, int, bytearray] | None = None

    def install(self, applet: Applet) -> Applet:
        """Host ``applet``; SELECT tries applets in the order they were installed."""
        self.applets.append(applet)
        return applet

    @property
    def atr(self) -> bytes:
        raise NotImplementedError

    # ------------------------------------------------------------------ power
    def power_on(self) -> None:
        self._clear_volatile()

    def power_off(self) -> None:
        self._clear_volatile()

    def _clear_volatile(self) -> None:
        if self._current is not None:
            self._current.deselect()
        self._current = None
        self._pending = b""
        self._chain = None

    @property
    def selected(self) -> Applet | None:
        """The applet the last successful SELECT chose (None after power on)."""
        return self._current

    # ---------------------------------------------------------- card services
    def mark_changed(self) -> None:
        self.state_version += 1

    def require_touch(self, cacheable: bool = False) -> None:
        """A card without a button cannot be touched: applets that ask anyway
        are refused as a real card refuses an operation it cannot run."""
        raise SwError(SW.CONDITIONS_NOT_SATISFIED)

    # ------------------------------------------------------------ persistence
    def to_state(self) -> Dict[str, Any]:
        """Everything a power cycle keeps, JSON-serialisable: one section per applet."""
        state: Dict[str, Any] = {
            "format": STATE_FORMAT,
            "kind": self.kind,
            "firmware": list(self.firmware),
            "serial": self.serial,
        }
        for applet in self.applets:
            section = applet.to_state()
            if section is not None:
                state[applet.state_key] = section
        return state

    # -------------------------------------------------------------- redaction
    # Every applet's rules are applied, not only the selected one's: a trace
    # must stay clean even for a VERIFY sent before any SELECT, or for a
    # command the card then refuses.
    def redact_command(self, apdu: bytes) -> bytes:
        """``apdu`` with any secret (PIN, PUK, key material) blanked."""
        for applet in self.applets:
            apdu = applet.redact_command(apdu)
        return apdu

    def redact_response(self, apdu: bytes, rapdu: bytes) -> bytes:
        """``rapdu`` with any secret blanked; ``apdu`` is the command it answers."""
        for applet in self.applets:
            rapdu = applet.redact_response(apdu, rapdu)
        return rapdu

    # ----------------------------------------------------------- the pipeline
    def execute(self, apdu: bytes) -> bytes:
        try:
            return self._execute(apdu)
        except SwError as e:
            self._pending = b""
            return sw_bytes(e.sw)

    def _execute(self, apdu: bytes) -> bytes:
        cmd = parse_command(apdu)
        if cmd.cla & ~0x10 & 0xFF and not self._accepts_class(cmd):
            self._chain = None
            raise SwError(SW.CLA_NOT_SUPPORTED)
        if cmd.ins == INS_GET_RESPONSE and not cmd.chained:
            return self._get_response(cmd)
        self._pending = b""
        whole = self._reassemble(cmd)
        if whole is None:
            return sw_bytes(SW.OK)
        if whole.ins == INS_SELECT and whole.p1 == SELECT_BY_AID:
            data = self._select(whole)
        elif whole.ins == INS_SELECT:
            raise SwError(self.select_file_sw)
        elif self._current is None:
            raise SwError(SW.INS_NOT_SUPPORTED)
        else:
            data = self._current.process(whole)
        return self._respond(data, whole.ne)

    def _accepts_class(self, cmd: Command) -> bool:
        """Proprietary classes (CLA 8x) reach the selected applet only if it
        takes that instruction with them (Yubico's OpenPGP ATTEST is CLA 80)."""
        return self._current is not None and self._current.accepts_class(cmd.cla & ~0x10 & 0xFF, cmd.ins)

    def _reassemble(self, cmd: Command) -> Command | None:
        """Collect CLA|0x10 parts; returns the whole command once the last part
        arrives, or None while the chain is still open."""
        if self._chain is not None:
            ins, p1, p2, buf = self._chain
            if (cmd.ins, cmd.p1, cmd.p2) != (ins, p1, p2):
                self._chain = None
                raise SwError(SW.LAST_COMMAND_EXPECTED)
            buf += cmd.data
            if cmd.chained:
                return None
            self._chain = None
            return Command(cmd.cla, cmd.ins, cmd.p1, cmd.p2, bytes(buf), cmd.ne, cmd.extended)
        if cmd.chained:
            self._chain = (cmd.ins, cmd.p1, cmd.p2, bytearray(cmd.data))
            return None
        return cmd

    def _select(self, cmd: Command) -> bytes:
        for applet in self.applets:
            if applet.matches(cmd.data):
                if self._current is not None:
                    self._current.deselect()
                self._current = applet
                data = applet.select(cmd)
                return b"" if cmd.p2 & P2_NO_RESPONSE_DATA == P2_NO_RESPONSE_DATA else data
        raise SwError(SW.FILE_NOT_FOUND)

    def _respond(self, data: bytes, ne: int) -> bytes:
        if len(data) <= ne:
            return data + sw_bytes(SW.OK)
        self._pending = data[ne:]
        return data[:ne] + sw_bytes(SW.MORE_DATA | min(len(self._pending), 256) % 256)

    def _get_response(self, cmd: Command) -> bytes:
        if not self._pending:
            raise SwError(SW.CONDITIONS_NOT_SATISFIED)
        data, self._pending = self._pending, b""
        return self._respond(data, cmd.ne)
