"""Faults a test can inject while the card sits in the reader.

Real cards and readers misbehave: a card answers an error SW, answers slowly,
or a response arrives cut short. Tests switch these on through the control
channel to see cardki cope. Each fault is counted down per APDU and switches
itself off when used up, so a test says "the next 2 GET DATA fail" and the
third works.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass
class InjectedStatus:
    """Answer ``count`` APDUs with ``sw`` instead of letting the card run them."""
    sw: int
    count: int
    ins: int | None = None
    """Only APDUs with this INS are answered (and counted); None = any APDU."""


@dataclass
class Truncation:
    """Cut the next ``count`` responses to their first ``length`` bytes."""
    length: int
    count: int


@dataclass
class FaultPlan:
    statuses: list = field(default_factory=list)
    delay_seconds: float = 0.0
    truncation: Truncation | None = None


class FaultInjector:
    """Wraps a card's ``execute`` with the faults currently armed."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()
        self._sleep = sleep

    def inject_status(self, sw: int, count: int = 1, ins: int | None = None) -> None:
        if not 0 <= sw <= 0xFFFF:
            raise ValueError("sw must be a 16-bit status word")
        if count < 1:
            raise ValueError("count must be at least 1")
        if ins is not None and not 0 <= ins <= 0xFF:
            raise ValueError("ins must be one byte")
        with self._lock:
            self._plan.statuses.append(InjectedStatus(sw, count, ins))

    def set_delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("delay must not be negative")
        with self._lock:
            self._plan.delay_seconds = float(seconds)

    def truncate(self, length: int, count: int = 1) -> None:
        if length < 0 or count < 1:
            raise ValueError("length must be >= 0 and count >= 1")
        with self._lock:
            self._plan.truncation = Truncation(length, count)

    def clear(self) -> None:
        with self._lock:
            self._plan = FaultPlan()

    def describe(self) -> dict:
        with self._lock:
            return asdict(self._plan)

    def _take_status(self, apdu: bytes) -> int | None:
        ins = apdu[1] if len(apdu) > 1 else None
        for status in self._plan.statuses:
            if status.ins is None or status.ins == ins:
                status.count -= 1
                if status.count <= 0:
                    self._plan.statuses.remove(status)
                return status.sw
        return None

    def _take_truncation(self) -> int | None:
        truncation = self._plan.truncation
        if truncation is None:
            return None
        truncation.count -= 1
        if truncation.count <= 0:
            self._plan.truncation = None
        return truncation.length

    def run(self, apdu: bytes, execute: Callable[[bytes], bytes]) -> bytes:
        """Answer ``apdu`` through ``execute`` with the armed faults applied."""
        with self._lock:
            delay = self._plan.delay_seconds
            status = self._take_status(apdu)
        if delay:
            self._sleep(delay)
        if status is not None:
            return status.to_bytes(2, "big")
        response = execute(apdu)
        with self._lock:
            length = self._take_truncation()
        return response if length is None else response[:length]
