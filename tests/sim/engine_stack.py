"""Helpers of the engine tests through the real stack (their ``lib`` fixture: conftest.py)."""

from __future__ import annotations

from typing import List

from cardki import Cryptoki
from cardki.constants import SessionFlag

RO = int(SessionFlag.SERIAL_SESSION)
RW = int(SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION)


def reader_slot(lib: Cryptoki, reader_name: str) -> int:
    slots = [s for s in lib.get_slot_list(False) if lib.get_slot_info(s).slot_description == reader_name]
    assert slots
    return slots[0]


def find(lib: Cryptoki, session: int, template: dict) -> List[int]:
    lib.find_objects_init(session, template)
    try:
        return lib.find_objects(session, 100)
    finally:
        lib.find_objects_final(session)
