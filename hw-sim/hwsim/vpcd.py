"""The vpcd bridge: puts one :class:`~hwsim.card.VirtualCard` into one vpcd reader.

vsmartcard's vpcd is a PC/SC reader driver loaded by pcscd. It listens on TCP
(35963 for reader 0, 35964 for reader 1, ...) and the *card* connects to it as a
client: a connected card is a present card, a closed connection is a removed
card. Every message either way is a 2-byte big-endian length followed by the
payload. A 1-byte payload from vpcd is a control code (power off, power on,
reset, get ATR; only get ATR is answered); anything longer is a C-APDU that is
answered with the R-APDU.

This module knows nothing about what the card is; the card knows nothing about
sockets.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading

from hwsim.card import VirtualCard

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
BASE_PORT = 35963
"""vpcd's port for reader 0; reader N listens on BASE_PORT + N."""

CTRL_POWER_OFF = 0x00
CTRL_POWER_ON = 0x01
CTRL_RESET = 0x02
CTRL_GET_ATR = 0x04

_LENGTH = struct.Struct(">H")


CLASSIC_FRIENDLY_NAME = "Virtual PCD"
"""vpcd's own reader.conf entry: readers 0 and 1."""
YUBICO_FRIENDLY_NAME = "Yubico YubiKey CCID (hwsim)"
"""hw-sim/bootstrap's second entry (a copy of vpcd's driver): readers 2 and 3, for
clients that use only YubiKey-named readers (libykcs11)."""
READERS_PER_ENTRY = 2


def port_for_reader(reader: int) -> int:
    """vpcd's TCP port for reader index ``reader`` (0 -> 35963, ..., 3 -> 35966)."""
    return BASE_PORT + reader


def reader_name(reader: int) -> str:
    """The name pcscd gives reader index ``reader``: "Virtual PCD 00 00" and
    "... 00 01", then "Yubico YubiKey CCID (hwsim) 00 00" and "... 00 01"."""
    entry, slot = divmod(reader, READERS_PER_ENTRY)
    friendly = YUBICO_FRIENDLY_NAME if entry == 1 else CLASSIC_FRIENDLY_NAME
    return f"{friendly} 00 {slot:02d}"


class VpcdClosed(Exception):
    """vpcd closed the connection (pcscd stopped) or we were told to remove the card."""


class VpcdConnection:
    """One TCP connection to vpcd, speaking the length-prefixed framing.

    Latency matters: a card operation is dozens of APDUs, and with delayed ACKs
    every round trip costs ~40 ms. TCP_NODELAY stops Nagle on our side and
    re-arming TCP_QUICKACK before each recv (Linux clears it again after a
    while) makes the kernel ACK at once; together ~0.2 ms per APDU.
    """

    def __init__(self, sock: socket.socket, low_latency: bool = True) -> None:
        self._sock = sock
        self._quickack = getattr(socket, "TCP_QUICKACK", None) if low_latency else None
        if low_latency:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @classmethod
    def open(cls, host: str, port: int, timeout: float = 2.0,
             low_latency: bool = True) -> VpcdConnection:
        """Connect to vpcd; raises OSError when nothing listens (pcscd not running).

        ``low_latency=False`` leaves Nagle and delayed ACKs on: only for
        measuring what the tuning buys."""
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(None)
        return cls(sock, low_latency)

    def _recv_exact(self, count: int) -> bytes:
        """Read exactly ``count`` bytes: TCP may deliver a message in pieces."""
        chunks = []
        remaining = count
        while remaining:
            if self._quickack is not None:
                self._sock.setsockopt(socket.IPPROTO_TCP, self._quickack, 1)
            chunk = self._sock.recv(remaining)
            if not chunk:
                raise VpcdClosed("vpcd closed the connection")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> bytes:
        """The next message's payload; raises VpcdClosed at end of stream."""
        (length,) = _LENGTH.unpack(self._recv_exact(_LENGTH.size))
        return self._recv_exact(length) if length else b""

    def send(self, payload: bytes) -> None:
        """Send one message (payload up to 65535 bytes)."""
        self._sock.sendall(_LENGTH.pack(len(payload)) + payload)

    def shutdown(self) -> None:
        """Wake a thread blocked in :meth:`receive` (it then sees VpcdClosed)."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already disconnected

    def close(self) -> None:
        self.shutdown()
        self._sock.close()


def answer(card: VirtualCard, payload: bytes) -> bytes | None:
    """What the card replies to one vpcd message, or None when vpcd expects no reply."""
    if len(payload) == 1:
        code = payload[0]
        if code == CTRL_GET_ATR:
            return card.atr
        if code == CTRL_POWER_OFF:
            card.power_off()
        elif code == CTRL_POWER_ON:
            card.power_on()
        elif code == CTRL_RESET:
            card.reset()
        else:
            log.warning("vpcd sent unknown control code 0x%02X", code)
        return None
    return card.execute(payload)


class VpcdBridge:
    """Keeps a card in a vpcd reader: connects, serves, and reconnects.

    ``run`` loops until ``stop()``: while the card is "inserted" it connects to
    vpcd (retrying with backoff while pcscd is down or restarting), powers the
    card on and answers vpcd's messages until the connection ends. ``remove``
    and ``insert`` may be called from other threads (the control channel).
    """

    def __init__(
        self,
        card: VirtualCard,
        port: int,
        host: str = DEFAULT_HOST,
        min_backoff: float = 0.05,
        max_backoff: float = 1.0,
        low_latency: bool = True,
    ) -> None:
        self.card = card
        self.low_latency = low_latency
        self.host = host
        self.port = port
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._lock = threading.Condition()
        self._inserted = True
        self._stopping = False
        self._connection: VpcdConnection | None = None
        self.connects = 0
        """How many times we connected to vpcd (tests see reconnects here)."""

    @property
    def present(self) -> bool:
        """True while we hold a connection to vpcd, i.e. the reader has a card."""
        return self._connection is not None

    @property
    def inserted(self) -> bool:
        """True unless the card was removed through :meth:`remove`."""
        return self._inserted

    def remove(self) -> None:
        """Pull the card: drop the connection and stay away until :meth:`insert`."""
        with self._lock:
            self._inserted = False
            connection = self._connection
            self._lock.notify_all()
        if connection is not None:
            connection.shutdown()

    def insert(self) -> None:
        """Put the card back: the run loop reconnects and powers the card on."""
        with self._lock:
            self._inserted = True
            self._lock.notify_all()

    def stop(self) -> None:
        """End :meth:`run` (from any thread)."""
        with self._lock:
            self._stopping = True
            connection = self._connection
            self._lock.notify_all()
        if connection is not None:
            connection.shutdown()

    def _wait(self, seconds: float | None) -> None:
        """Sleep, but wake at once on stop/insert/remove."""
        with self._lock:
            self._lock.wait(seconds)

    def _connect(self) -> VpcdConnection | None:
        """Connect with exponential backoff; None when stopped or removed meanwhile."""
        backoff = self._min_backoff
        while True:
            with self._lock:
                while not self._stopping and not self._inserted:
                    self._lock.wait()
                if self._stopping:
                    return None
            try:
                return VpcdConnection.open(self.host, self.port, low_latency=self.low_latency)
            except OSError as error:
                log.debug("vpcd %s:%d not reachable (%s); retry in %.2fs",
                          self.host, self.port, error, backoff)
            self._wait(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def run(self) -> None:
        """Serve until :meth:`stop`. Never raises for connection trouble."""
        while True:
            connection = self._connect()
            if connection is None:
                return
            with self._lock:
                if self._stopping or not self._inserted:
                    connection.close()
                    continue
                self._connection = connection
                self.connects += 1
            log.info("card inserted into vpcd %s:%d", self.host, self.port)
            self.card.power_on()
            try:
                self._serve(connection)
            except (VpcdClosed, OSError) as error:
                log.info("card left vpcd %s:%d: %s", self.host, self.port, error)
            finally:
                with self._lock:
                    self._connection = None
                connection.close()
                self.card.power_off()

    def _serve(self, connection: VpcdConnection) -> None:
        while True:
            reply = answer(self.card, connection.receive())
            if reply is not None:
                connection.send(reply)
