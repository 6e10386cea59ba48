"""A virtual YubiKey: the card level that hosts the PIV, Management and OTP
applets, as pcscd sees it through vpcd.

This module owns everything between the reader and an applet: APDU parsing
(short and extended), command chaining (CLA bit 0x10), response chaining
(61xx + GET RESPONSE), SELECT by AID, touch simulation, persistence and trace
redaction. Applets only see complete commands.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

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
from .management import ManagementApplet, OtpApplet
from .piv import PivApplet
from .statefile import StateError

STATE_FORMAT = 1

# ATRs of real keys: YubiKey 5 series and YubiKey 4 (OpenSC matches on them).
ATR_YUBIKEY5 = bytes.fromhex("3BFD1300008131FE158073C021C057597562694B657940")
ATR_YUBIKEY4 = bytes.fromhex("3BF81300008131FE15597562696B657934D4")

TOUCH_MODES = ("confirm", "timeout")
#: How long a "cached" touch stays valid on a real YubiKey.
TOUCH_CACHE_SECONDS = 15.0


class VirtualYubiKey(VirtualCard):
    """A YubiKey 5 (or an older firmware, selectable) with its PIV applet.

    ``state`` (from ``to_state()``) restores a previous card; its firmware and
    serial then win over the arguments.
    """

    def __init__(
        self,
        firmware: Tuple[int, int, int] = (5, 7, 2),
        serial: int = 12345678,
        state: Optional[Dict[str, Any]] = None,
    ) -> None:
        if state is not None:
            found = state.get("format")
            if isinstance(found, int) and found > STATE_FORMAT:
                raise StateError(f"its format {found} is newer than this version reads ({STATE_FORMAT})")
            if found != STATE_FORMAT:
                raise StateError(f"no virtual YubiKey state of format {STATE_FORMAT}")
            firmware = tuple(state["firmware"])  # type: ignore[assignment]
            serial = int(state["serial"])
        self.firmware: Tuple[int, int, int] = (int(firmware[0]), int(firmware[1]), int(firmware[2]))
        self.serial = serial
        self.state_version = 0
        self.touch_mode = "confirm"
        self.touch_delay = 0.0
        self.touch_count = 0  # how many touches were asked for: tests read it
        self._last_touch: Optional[float] = None
        self.piv = PivApplet(self, state.get("piv") if state else None)
        self.management = ManagementApplet(self)
        self.otp = OtpApplet(self)
        self.applets: List[Applet] = [self.piv, self.management, self.otp]
        self._current: Optional[Applet] = None
        self._pending = b""  # response bytes waiting for GET RESPONSE
        self._chain: Optional[Tuple[int, int, int, bytearray]] = None

    # ------------------------------------------------------------ VirtualCard
    @property
    def atr(self) -> bytes:
        return ATR_YUBIKEY5 if self.firmware >= (5, 0, 0) else ATR_YUBIKEY4

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
        self._last_touch = None

    def execute(self, apdu: bytes) -> bytes:
        try:
            return self._execute(apdu)
        except SwError as e:
            self._pending = b""
            return sw_bytes(e.sw)

    # ---------------------------------------------------------- card services
    def mark_changed(self) -> None:
        self.state_version += 1

    def require_touch(self, cacheable: bool = False) -> None:
        """Simulate the button: "confirm" touches after ``touch_delay`` seconds,
        "timeout" never touches, and the YubiKey then answers 6982."""
        now = time.monotonic()
        if cacheable and self._last_touch is not None and now - self._last_touch < TOUCH_CACHE_SECONDS:
            return
        self.touch_count += 1
        if self.touch_mode not in TOUCH_MODES:
            raise ValueError(f"touch_mode must be one of {TOUCH_MODES}")
        if self.touch_delay > 0:
            time.sleep(self.touch_delay)
        if self.touch_mode == "timeout":
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
        self._last_touch = time.monotonic()

    # ------------------------------------------------------------ persistence
    def to_state(self) -> Dict[str, Any]:
        """Everything a power cycle keeps, JSON-serialisable."""
        return {
            "format": STATE_FORMAT,
            "kind": "yubikey",
            "firmware": list(self.firmware),
            "serial": self.serial,
            "piv": self.piv.to_state(),
        }

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
    def _execute(self, apdu: bytes) -> bytes:
        cmd = parse_command(apdu)
        if cmd.cla & ~0x10 & 0xFF:
            self._chain = None
            raise SwError(SW.CLA_NOT_SUPPORTED)
        if cmd.ins == INS_GET_RESPONSE and not cmd.chained:
            return self._get_response(cmd)
        self._pending = b""
        cmd = self._reassemble(cmd)
        if cmd is None:
            return sw_bytes(SW.OK)
        if cmd.ins == INS_SELECT and cmd.p1 == 0x04:
            data = self._select(cmd)
        elif cmd.ins == INS_SELECT:
            raise SwError(SW.FILE_NOT_FOUND)  # no file system on a YubiKey
        elif self._current is None:
            raise SwError(SW.INS_NOT_SUPPORTED)
        else:
            data = self._current.process(cmd)
        return self._respond(data, cmd.ne)

    def _reassemble(self, cmd: Command) -> Optional[Command]:
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
                return b"" if cmd.p2 & 0x0C == 0x0C else data
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
