"""Client for a card server's control socket (JSON lines over a Unix socket).

Tests and benchmarks steer a card that sits in a real reader with this::

    control = CardControl("hw-sim/run/reader0.sock")
    control.inject_sw(0x6982, count=1, ins=0x87)   # next GENERAL AUTHENTICATE fails
    control.remove(); ...; control.insert()
    control.reset_count(); <operation>; control.count()   # APDUs per operation

Wire format: one JSON object per line, ``{"cmd": "<name>", ...arguments}``;
the reply is one line ``{"ok": true, ...results}`` or
``{"ok": false, "error": "..."}``. Each call opens its own short connection,
so a client survives server restarts.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Dict


class ControlError(Exception):
    """The server refused a command, or could not be reached."""


class CardControl:
    """Steers one card server. Every method is one request/reply."""

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self.path = str(path)
        self.timeout = timeout

    def request(self, cmd: str, **arguments: Any) -> Dict[str, Any]:
        """Send one command; return the reply without its ``ok`` field."""
        message = json.dumps({"cmd": cmd, **arguments}).encode() + b"\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                sock.sendall(message)
                reply_line = sock.makefile("rb").readline()
        except OSError as error:
            raise ControlError(f"card server at {self.path} unreachable: {error}") from error
        if not reply_line:
            raise ControlError(f"card server at {self.path} closed without answering {cmd!r}")
        reply = json.loads(reply_line)
        if not reply.pop("ok", False):
            raise ControlError(f"{cmd}: {reply.get('error', 'failed')}")
        return reply

    def ping(self) -> bool:
        """True when the server answers."""
        try:
            self.request("status")
        except ControlError:
            return False
        return True

    def status(self) -> Dict[str, Any]:
        """present, inserted, powered, reader, reader_name, port, connects, card,
        firmware ("5.7.2"), serial, apdu_count, total_apdus, state_path,
        state_version, state_saves, touch_mode, touch_delay, trace, trace_path,
        faults, pid."""
        return self.request("status")

    def remove(self) -> None:
        """Pull the card out of the reader (disconnect from vpcd)."""
        self.request("remove")

    def insert(self) -> None:
        """Put the card back (reconnect to vpcd; the card is powered on)."""
        self.request("insert")

    def inject_sw(self, sw: int, count: int = 1, ins: int | None = None) -> None:
        """Answer the next ``count`` APDUs (only those with ``ins``, if given)
        with status word ``sw``; the card does not see them."""
        self.request("inject_sw", sw=sw, count=count, ins=ins)

    def delay(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each APDU (0 switches it off)."""
        self.request("delay", seconds=seconds)

    def truncate(self, length: int, count: int = 1) -> None:
        """Cut the next ``count`` responses to their first ``length`` bytes."""
        self.request("truncate", length=length, count=count)

    def clear_faults(self) -> None:
        """Switch off every injected fault."""
        self.request("clear_faults")

    def touch(self, mode: str | None = None, delay: float | None = None) -> Dict[str, Any]:
        """Set the touch sensor: mode "confirm" (touched after ``delay`` s) or
        "timeout" (never touched); returns the resulting settings."""
        return self.request("touch", mode=mode, delay=delay)

    def trace(self, on: bool = True, path: str | Path | None = None) -> Dict[str, Any]:
        """Start (to ``path``, or the previous file) or stop the redacted APDU trace."""
        return self.request("trace", on=on, path=None if path is None else str(path))

    def count(self) -> int:
        """APDUs the card saw since the last :meth:`reset_count` (or new card)."""
        return int(self.request("count")["count"])

    def reset_count(self) -> None:
        self.request("reset_count")

    def new_card(self, firmware: str | None = None, serial: int | None = None,
                 state: str | Path | None = None,
                 card: str | None = None) -> Dict[str, Any]:
        """Swap in another card without leaving the reader: factory-new when
        ``state`` does not exist yet, else loaded from it. Clears faults and
        the APDU count. Returns ``{"atr_changed": bool, "atr": hex}``."""
        return self.request("new_card", firmware=firmware, serial=serial,
                            state=None if state is None else str(state), card=card)

    def shutdown(self) -> None:
        """Stop the server process (the card leaves the reader)."""
        self.request("shutdown")
