"""Transcript format, replay mismatches, and recording with redaction."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardki.apdu import (
    RecordingTransport,
    ReplayTransport,
    SmartCardProtocol,
    Transcript,
    TranscriptMismatchError,
    WrongPinError,
)

TEXT = """
# a comment
! reader Test Reader 00
! atr 3B 80 80 01 01
> 00 A4 04 00 05 A0 00 00 03 08
< 90 00
> 00 20 00 80 08 <redacted 8 bytes>
< 63 C1
"""


def test_parse_reads_identity_and_exchanges():
    transcript = Transcript.parse(TEXT)
    assert transcript.reader == "Test Reader 00"
    assert transcript.atr == bytes.fromhex("3B80800101")
    assert len(transcript.exchanges) == 2
    assert transcript.exchanges[1].command.redacted


def test_redacted_command_matches_any_secret_of_that_length():
    transport = ReplayTransport(Transcript.parse(TEXT))
    transport.transmit(bytes.fromhex("00A4040005A000000308"))
    assert transport.transmit(bytes.fromhex("0020008008") + b"12345678") == b"\x63\xC1"
    transport.assert_finished()


def test_a_different_command_fails_with_both_lines():
    transport = ReplayTransport(Transcript.parse(TEXT, name="t.apdu"))
    with pytest.raises(TranscriptMismatchError) as info:
        transport.transmit(bytes.fromhex("00A4040005A000000309"))
    message = str(info.value)
    assert "t.apdu:5" in message
    assert "expected > 00 A4 04 00 05 A0 00 00 03 08" in message
    assert "got      > 00 A4 04 00 05 A0 00 00 03 09" in message


def test_a_secret_of_another_length_does_not_match():
    transport = ReplayTransport(Transcript.parse(TEXT))
    transport.transmit(bytes.fromhex("00A4040005A000000308"))
    with pytest.raises(TranscriptMismatchError):
        transport.transmit(bytes.fromhex("0020008006") + b"123456")


def test_commands_beyond_the_end_and_unfinished_replays_fail():
    transport = ReplayTransport(Transcript.parse(TEXT))
    with pytest.raises(TranscriptMismatchError, match="expects more commands"):
        transport.assert_finished()
    transport.transmit(bytes.fromhex("00A4040005A000000308"))
    transport.transmit(bytes.fromhex("0020008008") + bytes(8))
    with pytest.raises(TranscriptMismatchError, match="transcript ended"):
        transport.transmit(b"\x00\xA4\x04\x00")


@pytest.mark.parametrize(
    "text, message",
    [
        ("> 00 A4\n> 00 A4\n< 90 00", "t:2: command without a response"),
        ("< 90 00", "t:1: response without a command"),
        ("> 00 A4 04 00", "t:1: last command has no response"),
        ("> 00 A4\n< 90", "t:2: response has no status word"),
        ("> 00 ZZ\n< 90 00", "t:1: not hex"),
        ("! colour blue", "unknown directive"),
        ("hello", "must start with"),
    ],
)
def test_malformed_transcripts_name_the_line(text, message):
    with pytest.raises(ValueError, match=message):
        Transcript.parse(text, name="t")


def test_recording_redacts_secrets_and_replays():
    card = ReplayTransport(Transcript.parse(TEXT))
    recorder = RecordingTransport(card)
    protocol = SmartCardProtocol(recorder)
    recorder.note("select PIV, then a wrong PIN")
    protocol.select(bytes.fromhex("A000000308"))
    with pytest.raises(WrongPinError):
        protocol.send_apdu(0x00, 0x20, 0x00, 0x80, b"87654321", sensitive=True)
    text = recorder.text(header="recorded by a test")
    assert b"87654321".hex() not in text.replace(" ", "").lower()
    assert "> 00 20 00 80 08 <redacted 8 bytes>" in text
    assert text.startswith("# recorded by a test\n! reader Test Reader 00\n! atr 3B 80 80 01 01\n")
    replayed = ReplayTransport(Transcript.parse(text))
    SmartCardProtocol(replayed).select(bytes.fromhex("A000000308"))
    replayed.transmit(bytes.fromhex("0020008008") + bytes(8))
    replayed.assert_finished()


@given(st.text(max_size=200))
def test_parsing_arbitrary_text_raises_only_value_error(text):
    try:
        Transcript.parse(text)
    except ValueError:
        pass


@given(st.binary(max_size=40), st.integers(0, 40), st.integers(0, 40), st.booleans())
def test_formatted_lines_parse_back(apdu, start, length, secret_response):
    from cardki.apdu.trace import format_command, format_response, parse_apdu_text

    secret = (min(start, len(apdu)), min(length, len(apdu) - min(start, len(apdu))))
    pattern = parse_apdu_text(format_command(apdu, secret)[1:])
    assert pattern.matches(apdu)
    if len(apdu) >= 2:
        response = parse_apdu_text(format_response(apdu, secret_response)[1:])
        assert response.length == len(apdu)
        assert response.fill()[-2:] == apdu[-2:]
