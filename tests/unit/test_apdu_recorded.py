"""A transcript recorded from the simulated YubiKey, replayed through the protocol.

The same operation (``piv_session``) runs against the replay, against the
in-process simulator (the transcript must still be what the card says) and, in
tests/sim/test_slot_transcript.py, through pcscd + vpcd.
Re-record with ``CARDKI_RECORD_TRANSCRIPTS=1 pytest tests/unit/test_apdu_recorded.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cardki.apdu import (
    NotFoundError,
    RecordingTransport,
    ReplayTransport,
    SmartCardProtocol,
    Transcript,
    TranscriptMismatchError,
    WrongPinError,
)
from cardki.slot import InProcessTransport

TRANSCRIPT = Path(__file__).resolve().parents[2] / "apdu" / "piv" / "yubikey-5.7.2-select-version-serial-verify.apdu"
HEADER = """PIV on a YubiKey 5.7.2 (hwsim, serial 12345678): SELECT, version, serial,
PIN retries, a wrong PIN, the right PIN (both redacted), PIN status, a missing CHUID.
Recorded by tests/unit/test_apdu_recorded.py (CARDKI_RECORD_TRANSCRIPTS=1)."""


def piv_session(protocol: SmartCardProtocol) -> dict:
    """What a PIV token does when it opens a session and logs in."""
    result = {"select": protocol.select(bytes.fromhex("A000000308"))}
    result["version"] = tuple(protocol.send_apdu(0x00, 0xFD, 0x00, 0x00))
    result["serial"] = int.from_bytes(protocol.send_apdu(0x00, 0xF8, 0x00, 0x00), "big")
    try:
        protocol.send_apdu(0x00, 0x20, 0x00, 0x80)
    except WrongPinError as error:
        result["tries_before"] = error.tries_left
    try:
        protocol.send_apdu(0x00, 0x20, 0x00, 0x80, b"000000\xff\xff", sensitive=True)
    except WrongPinError as error:
        result["tries_after_wrong"] = error.tries_left
    protocol.send_apdu(0x00, 0x20, 0x00, 0x80, b"123456\xff\xff", sensitive=True)
    protocol.send_apdu(0x00, 0x20, 0x00, 0x80)  # 9000: verified
    try:
        protocol.send_apdu(0x00, 0xCB, 0x3F, 0xFF, bytes.fromhex("5C035FC102"), le=0)
    except NotFoundError:
        result["chuid"] = None
    return result


EXPECTED = {
    "select": bytes.fromhex("61114F0600001000010079074F05A000000308"),
    "version": (5, 7, 2),
    "serial": 12345678,
    "tries_before": 3,
    "tries_after_wrong": 2,
    "chuid": None,
}


def record_in_process() -> RecordingTransport:
    from hwsim.yubikey import VirtualYubiKey

    recorder = RecordingTransport(InProcessTransport(VirtualYubiKey(firmware=(5, 7, 2), serial=12345678)))
    assert piv_session(SmartCardProtocol(recorder)) == EXPECTED
    return recorder


def exchange_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:1] in "<>"]


def test_replay_gives_the_recorded_answers():
    transport = ReplayTransport(TRANSCRIPT)
    assert piv_session(SmartCardProtocol(transport)) == EXPECTED
    transport.assert_finished()


def test_transcript_holds_no_pin():
    text = TRANSCRIPT.read_text()
    assert "31 32 33 34 35 36" not in text and "30 30 30 30 30 30" not in text
    assert text.count("<redacted 8 bytes>") == 2


def test_replay_notices_a_changed_operation():
    protocol = SmartCardProtocol(ReplayTransport(TRANSCRIPT))
    protocol.select(bytes.fromhex("A000000308"))
    with pytest.raises(TranscriptMismatchError, match="expected > 00 FD 00 00"):
        protocol.send_apdu(0x00, 0xF8, 0x00, 0x00)


def test_transcript_is_what_the_simulator_says():
    recorder = record_in_process()
    if os.environ.get("CARDKI_RECORD_TRANSCRIPTS") == "1":
        TRANSCRIPT.parent.mkdir(parents=True, exist_ok=True)
        recorder.save(TRANSCRIPT, header=HEADER)
    assert exchange_lines(recorder.text()) == exchange_lines(TRANSCRIPT.read_text())
    assert Transcript.load(TRANSCRIPT).atr == recorder.atr
