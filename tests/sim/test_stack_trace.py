"""The APDU trace is readable and never holds a secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hwsim.stack import pcsc_connect as connect

STANDIN_CARD = f"{Path(__file__).with_name('stack_standin_card.py')}:StandInCard"

SELECT_PIV = [0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08]

pytestmark = pytest.mark.sim

PIN = list(b"123456") + [0xFF, 0xFF]
VERIFY_PIN = [0x00, 0x20, 0x00, 0x80, 0x08, *PIN]
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ([<>#]) (.*)$")


def traced_lines(card, tmp_path, apdus):
    trace_path = tmp_path / "apdu.trace"
    card.control.trace(on=True, path=trace_path)
    connection = connect(card.reader_name)
    try:
        responses = [connection.transmit(apdu) for apdu in apdus]
    finally:
        connection.disconnect()
        card.control.trace(on=False)
    text = trace_path.read_text()
    lines = [LINE.match(line) for line in text.splitlines()]
    assert all(lines), text
    return text, [(m.group(1), m.group(2)) for m in lines], responses


def test_standin_trace_is_readable_and_redacted(standin_card, tmp_path):
    text, lines, responses = traced_lines(standin_card, tmp_path, [SELECT_PIV, VERIFY_PIN])
    assert responses[1] == ([], 0x90, 0x00)
    exchanges = [line for line in lines if line[0] in "<>"]
    assert exchanges == [
        (">", "00 A4 04 00 05 A0 00 00 03 08"), ("<", "90 00"),
        (">", "00 20 00 80 08 FF FF FF FF FF FF FF FF"), ("<", "90 00"),
    ]
    assert "31 32 33 34 35 36" not in text


def test_yubikey_trace_hides_the_pin(virtual_card, tmp_path):
    text, lines, responses = traced_lines(virtual_card, tmp_path, [SELECT_PIV, VERIFY_PIN])
    assert responses[1] == ([], 0x90, 0x00)  # factory PIN 123456 accepted
    verify = [body for kind, body in lines if kind == ">" and body.startswith("00 20 00 80")]
    assert len(verify) == 1
    assert "31 32 33 34 35 36" not in text


def test_trace_can_be_switched_on_at_start(pcsc_stack, tmp_path):
    trace_path = tmp_path / "from-start.trace"
    info = pcsc_stack.restart_server(0, card=STANDIN_CARD, firmware="1.0.0", trace=trace_path)
    assert info.control.status()["trace"] is True
    connection = connect(info.reader_name)
    try:
        connection.transmit(VERIFY_PIN)
    finally:
        connection.disconnect()
    text = trace_path.read_text()
    assert "> 00 20 00 80 08 FF FF" in text and "31 32 33" not in text


def test_a_new_trace_file_takes_over_from_a_running_trace(tmp_path):
    from hwsim.trace import ApduTrace

    first, second = tmp_path / "first.trace", tmp_path / "second.trace"
    trace = ApduTrace(first)
    trace.note("into the first file")
    trace.start(second)
    trace.note("into the second file")
    trace.stop()
    assert "into the second file" not in first.read_text()
    assert "into the second file" in second.read_text()


def test_a_card_without_redaction_gets_only_headers_and_status_words():
    from hwsim.trace import redacted_command, redacted_response

    class Plain:
        pass

    class Broken:
        def redact_command(self, apdu):
            raise RuntimeError("bug")

        def redact_response(self, apdu, rapdu):
            raise RuntimeError("bug")

    verify = bytes(VERIFY_PIN)
    assert redacted_command(Plain(), verify) == "00 20 00 80 [9 bytes not shown]"
    assert redacted_response(Plain(), verify, b"\x31\x32\x90\x00") == "[2 bytes not shown] 90 00"
    assert redacted_command(Broken(), verify) == "00 20 00 80 [9 bytes not shown] [redaction failed]"
    assert "31 32" not in redacted_response(Broken(), verify, b"\x31\x32\x90\x00")
