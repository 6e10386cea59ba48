"""A virtual card kept in a file and saved after every command that changed it (what the
C module uses, cardki.virtual.VirtualCardFile.saved_on_change)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cardki.virtual import VirtualCardFile

SELECT_PIV = bytes.fromhex("00a4040009a00000030800001000")
WRONG_PIN = bytes.fromhex("0020008008") + b"000000\xff\xff"
CHANGE_PIN = bytes.fromhex("0024008010") + b"123456\xff\xff" + b"654321\xff\xff"


def test_every_change_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    card = VirtualCardFile(str(path)).saved_on_change()
    card.power_on()
    assert card.execute(SELECT_PIV)[-2:] == b"\x90\x00"
    written = path.stat().st_mtime_ns  # a new card is written at its first command
    assert card.execute(SELECT_PIV)[-2:] == b"\x90\x00"
    assert path.stat().st_mtime_ns == written  # nothing changed, nothing written
    assert card.execute(CHANGE_PIN) == b"\x90\x00"
    again = VirtualCardFile(str(path)).saved_on_change()  # another process, as it were
    again.power_on()
    again.execute(SELECT_PIV)
    assert again.execute(bytes.fromhex("0020008008") + b"654321\xff\xff") == b"\x90\x00"


def test_a_change_that_cannot_be_written_answers_memory_failure(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "cards"
    path = folder / "card.json"
    first = VirtualCardFile(str(path)).saved_on_change()
    first.power_on()
    first.execute(SELECT_PIV)
    card = VirtualCardFile(str(path)).saved_on_change()
    card.power_on()
    folder.rename(tmp_path / "moved")
    folder.write_text("a file where the folder was")
    with caplog.at_level(logging.WARNING, logger="cardki.virtual"):
        assert card.execute(SELECT_PIV)[-2:] == b"\x90\x00"  # no change: nothing to write
        assert card.execute(WRONG_PIN) == b"\x63\xc2"        # a failure stays what it was
        assert card.execute(CHANGE_PIN) == b"\x65\x81"       # a success not kept is not one
    messages = [record.getMessage() for record in caplog.records]
    assert messages and all(f"the virtual card was not saved to {path}" in message for message in messages)
    assert not any("123456" in message for message in messages)
