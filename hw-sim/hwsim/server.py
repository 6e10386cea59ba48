"""One virtual card in one vpcd reader, steered through a control socket.

``CardServer`` glues the pieces: the card (any :class:`~hwsim.card.VirtualCard`),
wrapped by :class:`ServedCard` which counts APDUs, applies injected faults,
writes the redacted trace and saves persistent state; the
:class:`~hwsim.vpcd.VpcdBridge` that keeps it in the reader; and a Unix socket
speaking JSON lines (see :mod:`hwsim.control`) that tests use to pull the card,
inject faults or swap in a fresh card.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import socketserver
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

from hwsim import statefile
from hwsim.card import VirtualCard
from hwsim.faults import FaultInjector
from hwsim.trace import ApduTrace
from hwsim.vpcd import DEFAULT_HOST, VpcdBridge, port_for_reader, reader_name

log = logging.getLogger(__name__)

DEFAULT_CARD = "hwsim.yubikey:VirtualYubiKey"

CARD_KINDS: Dict[str, str] = {
    "yubikey": DEFAULT_CARD,
    "openpgp": "hwsim.openpgp_card:VirtualOpenPgpCard",
}
"""Short names for ``--card`` and ``new_card``: the cards this package ships."""
DEFAULT_FIRMWARE = (5, 7, 2)
DEFAULT_SERIAL = 12345678

Firmware = Tuple[int, int, int]


def parse_firmware(text: str) -> Firmware:
    """``"5.7.2"`` -> ``(5, 7, 2)``."""
    parts = tuple(int(part) for part in str(text).split("."))
    if len(parts) != 3 or any(part < 0 or part > 255 for part in parts):
        raise ValueError(f"firmware must look like 5.7.2, not {text!r}")
    return parts


def format_firmware(firmware: Firmware) -> str:
    return ".".join(str(part) for part in firmware)


def load_card_class(spec: str) -> Callable[..., VirtualCard]:
    """Resolve ``"package.module:Class"`` or ``"path/to/file.py:Class"``.

    The file form lets tests serve a stand-in card that lives next to them
    without making the tests directory importable. A short name from
    ``CARD_KINDS`` ("yubikey", ...) stands for the class it names.
    """
    spec = CARD_KINDS.get(spec, spec)
    module_name, _, class_name = spec.rpartition(":")
    if not module_name or not class_name:
        raise ValueError(f"card must be MODULE:CLASS or FILE.py:CLASS, not {spec!r}")
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        unique = "hwsim_card_" + path.stem + "_" + str(abs(hash(str(path))))
        file_spec = importlib.util.spec_from_file_location(unique, path)
        if file_spec is None or file_spec.loader is None:
            raise ValueError(f"cannot load card module from {path}")
        module = importlib.util.module_from_spec(file_spec)
        file_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    return getattr(module, class_name)


def make_card(spec: str, firmware: Firmware, serial: int, state: dict | None) -> VirtualCard:
    """Build a card from its class spec; every card type takes these three arguments."""
    return load_card_class(spec)(firmware=firmware, serial=serial, state=state)


class ServedCard(VirtualCard):
    """The card as the reader sees it, with counting, faults, trace and persistence.

    The inner card can be swapped (``replace``) while the reader keeps its
    connection: that is how a test gets a factory-fresh card in milliseconds.
    """

    def __init__(self, card: VirtualCard, keeper: statefile.StateKeeper,
                 trace: ApduTrace, faults: FaultInjector) -> None:
        self.card = card
        self.keeper = keeper
        self.trace = trace
        self.faults = faults
        self._count_lock = threading.Lock()
        self.apdu_count = 0
        """APDUs seen since the last ``reset_count`` (benchmarks count per operation)."""
        self.total_apdus = 0
        self.powered = False

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> None:
        self.card.power_on()
        self.powered = True
        self.trace.note("power on")

    def power_off(self) -> None:
        self.card.power_off()
        self.powered = False
        self.trace.note("power off")

    def reset(self) -> None:
        self.card.reset()
        self.powered = True
        self.trace.note("reset")

    def reset_count(self) -> None:
        with self._count_lock:
            self.apdu_count = 0

    def replace(self, card: VirtualCard, keeper: statefile.StateKeeper) -> None:
        """Swap in another card; it is powered like the one it replaces."""
        old = self.card
        if self.powered:
            old.power_off()
        self.card = card
        self.keeper = keeper
        if self.powered:
            card.power_on()
        self.trace.note("card replaced")

    def execute(self, apdu: bytes) -> bytes:
        card = self.card
        with self._count_lock:
            self.apdu_count += 1
            self.total_apdus += 1
        self.trace.command(card, apdu)
        try:
            response = self.faults.run(apdu, card.execute)
        except Exception:  # noqa: BLE001 - a card bug must not kill the reader
            log.exception("card raised while executing INS %02X", apdu[1] if len(apdu) > 1 else 0)
            response = b"\x6f\x00"
        self.trace.response(card, apdu, response)
        try:
            self.keeper.save_if_changed(card)
        except OSError as error:  # the card answered; a full disk must not pull it
            log.error("could not save card state to %s: %s", self.keeper.path, error)
        return response


class _ControlHandler(socketserver.StreamRequestHandler):
    """One client connection: JSON requests in, JSON replies out, one per line."""

    server: _ControlSocketServer

    def handle(self) -> None:
        for line in self.rfile:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("request must be a JSON object")
                reply: Dict[str, Any] = {"ok": True, **self.server.card_server.handle(request)}
            except (ValueError, TypeError, KeyError, OSError, ImportError, AttributeError) as error:
                reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            self.wfile.flush()


class _ControlSocketServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, card_server: CardServer) -> None:
        self.card_server = card_server
        super().__init__(path, _ControlHandler)


class CardServer:
    """Runs one card in one reader until :meth:`stop`."""

    def __init__(
        self,
        reader: int = 0,
        card_spec: str = DEFAULT_CARD,
        firmware: Firmware = DEFAULT_FIRMWARE,
        serial: int = DEFAULT_SERIAL,
        state_path: str | None = None,
        trace_path: str | None = None,
        control_path: str | None = None,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        low_latency: bool = True,
    ) -> None:
        self.reader = reader
        self.card_spec = card_spec
        self.firmware = firmware
        self.serial = serial
        self.control_path = control_path
        self.trace = ApduTrace(trace_path)
        self.faults = FaultInjector()
        card, keeper = self._build_card(card_spec, firmware, serial, state_path)
        self.served = ServedCard(card, keeper, self.trace, self.faults)
        self.bridge = VpcdBridge(self.served, port if port is not None else port_for_reader(reader),
                                 host, low_latency=low_latency)
        self._threads: list = []
        self._control: _ControlSocketServer | None = None
        self.stop_requested = threading.Event()
        """Set by the ``shutdown`` command or a signal; the process's main loop then calls stop()."""
        self._stop_lock = threading.Lock()
        self._stopped = False
        self._handlers: Dict[str, Callable[[dict], dict]] = {
            "status": self._status,
            "remove": self._remove,
            "insert": self._insert,
            "inject_sw": self._inject_sw,
            "delay": self._delay,
            "truncate": self._truncate,
            "clear_faults": self._clear_faults,
            "touch": self._touch,
            "trace": self._trace,
            "count": self._count,
            "reset_count": self._reset_count,
            "new_card": self._new_card,
            "shutdown": self._shutdown,
        }

    @staticmethod
    def _build_card(spec: str, firmware: Firmware, serial: int,
                    state_path: str | None) -> Tuple[VirtualCard, statefile.StateKeeper]:
        """A card from its saved state (or factory-new), with the keeper for that file."""
        state = statefile.load_state(state_path) if state_path else None
        card = make_card(spec, firmware, serial, state)
        keeper = statefile.StateKeeper(state_path)
        if state is None:
            keeper.save(card)
        else:
            keeper.mark_saved(card)
        return card, keeper

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        if self.control_path:
            path = Path(self.control_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.unlink()  # a stale socket from a server that died
            self._control = _ControlSocketServer(str(path), self)
            control_thread = threading.Thread(
                target=self._control.serve_forever, kwargs={"poll_interval": 0.05},
                name="control", daemon=True)
            control_thread.start()
            self._threads.append(control_thread)
        bridge_thread = threading.Thread(target=self.bridge.run, name="vpcd", daemon=True)
        bridge_thread.start()
        self._threads.append(bridge_thread)

    def stop(self) -> None:
        """Take the card out and close everything; safe to call twice."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self.stop_requested.set()
        self.bridge.stop()
        if self._control is not None:
            self._control.shutdown()
            self._control.server_close()
            if self.control_path:
                try:
                    os.unlink(self.control_path)
                except FileNotFoundError:
                    pass
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)
        self.served.keeper.save_if_changed(self.served.card)
        self.trace.stop()

    # -- control commands ----------------------------------------------------------

    def handle(self, request: dict) -> dict:
        """Run one control command; raises ValueError for unknown ones."""
        command = request.get("cmd")
        handler = self._handlers.get(str(command))
        if handler is None:
            raise ValueError(f"unknown command {command!r}; known: {sorted(self._handlers)}")
        return handler(request)

    def _status(self, request: dict) -> dict:
        card = self.served.card
        return {
            "present": self.bridge.present,
            "inserted": self.bridge.inserted,
            "powered": self.served.powered,
            "reader": self.reader,
            "reader_name": reader_name(self.reader),
            "port": self.bridge.port,
            "connects": self.bridge.connects,
            "card": self.card_spec,
            "firmware": format_firmware(self.firmware),
            "serial": self.serial,
            "apdu_count": self.served.apdu_count,
            "total_apdus": self.served.total_apdus,
            "state_path": str(self.served.keeper.path) if self.served.keeper.path else None,
            "state_version": getattr(card, "state_version", None),
            "state_saves": self.served.keeper.saves,
            "touch_mode": getattr(card, "touch_mode", None),
            "touch_delay": getattr(card, "touch_delay", None),
            "trace": self.trace.enabled,
            "trace_path": str(self.trace.path) if self.trace.path else None,
            "faults": self.faults.describe(),
            "pid": os.getpid(),
        }

    def _remove(self, request: dict) -> dict:
        self.trace.note("removed")
        self.bridge.remove()
        return {}

    def _insert(self, request: dict) -> dict:
        self.trace.note("inserted")
        self.bridge.insert()
        return {}

    def _inject_sw(self, request: dict) -> dict:
        sw = request["sw"]
        sw = int(sw, 16) if isinstance(sw, str) else int(sw)
        ins = request.get("ins")
        self.faults.inject_status(sw, int(request.get("count", 1)),
                                  None if ins is None else int(ins))
        return {}

    def _delay(self, request: dict) -> dict:
        self.faults.set_delay(float(request["seconds"]))
        return {}

    def _truncate(self, request: dict) -> dict:
        self.faults.truncate(int(request["length"]), int(request.get("count", 1)))
        return {}

    def _clear_faults(self, request: dict) -> dict:
        self.faults.clear()
        return {}

    def _touch(self, request: dict) -> dict:
        card = self.served.card
        if "mode" in request and request["mode"] is not None:
            if request["mode"] not in ("confirm", "timeout"):
                raise ValueError("touch mode must be 'confirm' or 'timeout'")
            if not hasattr(card, "touch_mode"):
                raise ValueError("this card has no touch sensor")
            card.touch_mode = request["mode"]
        if "delay" in request and request["delay"] is not None:
            if not hasattr(card, "touch_delay"):
                raise ValueError("this card has no touch sensor")
            card.touch_delay = float(request["delay"])
        return {"touch_mode": getattr(card, "touch_mode", None),
                "touch_delay": getattr(card, "touch_delay", None)}

    def _trace(self, request: dict) -> dict:
        if request.get("on", True):
            self.trace.start(request.get("path"))
        else:
            self.trace.stop()
        return {"trace": self.trace.enabled,
                "trace_path": str(self.trace.path) if self.trace.path else None}

    def _count(self, request: dict) -> dict:
        return {"count": self.served.apdu_count}

    def _reset_count(self, request: dict) -> dict:
        self.served.reset_count()
        return {}

    def _new_card(self, request: dict) -> dict:
        """Swap in another card without leaving the reader (fresh per test).

        ``state``: the state file for the new card; loaded when it exists,
        else the card starts factory-new and the file is created.
        """
        spec = request.get("card") or self.card_spec
        firmware = parse_firmware(request["firmware"]) if request.get("firmware") else self.firmware
        serial = int(request["serial"]) if request.get("serial") is not None else self.serial
        old_atr = self.served.atr
        card, keeper = self._build_card(spec, firmware, serial, request.get("state"))
        self.served.replace(card, keeper)
        self.card_spec, self.firmware, self.serial = spec, firmware, serial
        self.faults.clear()
        self.served.reset_count()
        return {"atr_changed": card.atr != old_atr, "atr": card.atr.hex()}

    def _shutdown(self, request: dict) -> dict:
        self.stop_requested.set()
        return {}
