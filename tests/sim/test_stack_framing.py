"""vpcd's length-prefixed framing over a real TCP connection, delivered in pieces.

vpcd itself always writes whole messages, so the partial-read path cannot be
provoked through pcscd; here the peer is a plain TCP socket that dribbles
bytes, and the bridge under test is the real one.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from hwsim.card import VirtualCard
from hwsim.vpcd import VpcdBridge, VpcdConnection

STANDIN_CARD = f"{Path(__file__).with_name('stack_standin_card.py')}:StandInCard"


class EchoCard(VirtualCard):
    atr = b"\x3b\x00"

    def __init__(self) -> None:
        self.events: list = []

    def power_on(self) -> None:
        self.events.append("on")

    def power_off(self) -> None:
        self.events.append("off")

    def execute(self, apdu: bytes) -> bytes:
        return apdu + b"\x90\x00"


def dribble(sock: socket.socket, data: bytes) -> None:
    for byte in data:
        sock.sendall(bytes([byte]))
        time.sleep(0.001)


def test_messages_split_into_single_bytes_are_reassembled():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    card = EchoCard()
    bridge = VpcdBridge(card, port)
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    try:
        peer, _ = listener.accept()
        vpcd_side = VpcdConnection(peer)
        dribble(peer, b"\x00\x01\x04")  # get ATR
        assert vpcd_side.receive() == b"\x3b\x00"
        apdu = bytes(i % 256 for i in range(300))  # longer than one byte of length
        dribble(peer, len(apdu).to_bytes(2, "big") + apdu)
        assert vpcd_side.receive() == apdu + b"\x90\x00"
        peer.close()  # vpcd went away: the card is powered off and the bridge reconnects
        again, _ = listener.accept()
        deadline = time.monotonic() + 2
        while bridge.connects < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert bridge.connects == 2
        again.close()
    finally:
        bridge.stop()
        thread.join(timeout=3)
        listener.close()
    assert not thread.is_alive()
    assert card.events[:3] == ["on", "off", "on"]


def test_remove_keeps_the_card_out_until_insert():
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.3)
    bridge = VpcdBridge(EchoCard(), listener.getsockname()[1])
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    try:
        first, _ = listener.accept()
        bridge.remove()
        assert first.recv(1) == b""  # the bridge closed its side
        try:
            listener.accept()
            reconnected = True
        except TimeoutError:
            reconnected = False
        assert not reconnected and not bridge.present
        bridge.insert()
        second, _ = listener.accept()
        second.close()
        first.close()
    finally:
        bridge.stop()
        thread.join(timeout=3)
        listener.close()
    assert not thread.is_alive()


def test_server_process_exits_when_its_parent_is_gone(tmp_path):
    """A killed test run must not leave card servers behind (--parent-pid)."""
    import subprocess
    import sys

    from hwsim.control import CardControl

    listener = socket.create_server(("127.0.0.1", 0))  # stands where vpcd would listen
    parent = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                              stdin=subprocess.PIPE)
    socket_path = tmp_path / "control.sock"
    hw_sim = Path(__file__).resolve().parents[2] / "hw-sim"
    server = subprocess.Popen(
        [sys.executable, "-m", "hwsim", "serve", "--port", str(listener.getsockname()[1]),
         "--card", STANDIN_CARD, "--control", str(socket_path), "--parent-pid", str(parent.pid)],
        cwd=hw_sim)
    try:
        deadline = time.monotonic() + 10
        while not CardControl(socket_path).ping():
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.02)
        assert server.poll() is None
        parent.stdin.close()
        parent.wait(timeout=5)
        assert server.wait(timeout=5) == 0
        assert not socket_path.exists()  # it cleaned up its control socket
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        listener.close()
