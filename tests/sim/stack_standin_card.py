"""A tiny card for testing the stack itself (vpcd bridge, server, control, trace).

It is deliberately not the YubiKey: stack tests must fail only for stack bugs.
The server loads it by file path (``--card tests/sim/stack_standin_card.py:StandInCard``).

INS table:
  A4 SELECT     -> 90 00
  20 VERIFY     -> 90 00 if data == PIN else 63 C(n)   (data is a secret: redacted)
  DA PUT DATA   -> stores data persistently            -> 90 00
  CA GET DATA   -> the stored data                     + 90 00
  EE ECHO       -> data as sent                         + 90 00
  other         -> 6D 00
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from hwsim.card import VirtualCard

PIN = b"123456\xff\xff"


class StandInCard(VirtualCard):
    def __init__(self, firmware: Tuple[int, int, int] = (1, 0, 0), serial: int = 1,
                 state: Dict[str, Any] | None = None) -> None:
        self.firmware = tuple(firmware)
        self.serial = serial
        self.stored = bytes(state["stored"]) if state else b""
        self.state_version = 0
        self.retries = 3
        self.powered_on = 0

    @property
    def atr(self) -> bytes:
        # Historical bytes carry the firmware, so a firmware change changes the ATR.
        return bytes([0x3B, 0x86, 0x80, 0x01, 0x53, 0x49, 0x4D, *self.firmware, 0x00])

    def power_on(self) -> None:
        self.powered_on += 1

    def power_off(self) -> None:
        pass

    def execute(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return b"\x67\x00"
        ins = apdu[1]
        data = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        if ins == 0xA4:
            return b"\x90\x00"
        if ins == 0x20:
            if data == PIN:
                self.retries = 3
                return b"\x90\x00"
            self.retries = max(0, self.retries - 1)
            return bytes([0x63, 0xC0 | self.retries])
        if ins == 0xDA:
            self.stored = data
            self.state_version += 1
            return b"\x90\x00"
        if ins == 0xCA:
            return self.stored + b"\x90\x00"
        if ins == 0xEE:
            return data + b"\x90\x00"
        return b"\x6d\x00"

    def to_state(self) -> Dict[str, Any]:
        return {"stored": self.stored}

    def redact_command(self, apdu: bytes) -> bytes:
        if len(apdu) > 5 and apdu[1] == 0x20:
            return apdu[:5] + b"\xff" * (len(apdu) - 5)
        return apdu

    def redact_response(self, apdu: bytes, rapdu: bytes) -> bytes:
        return rapdu
