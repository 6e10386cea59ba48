"""SmartCardProtocol against hand-written transcripts replayed by ReplayTransport."""

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardki.apdu import (
    TRACE,
    ApduError,
    ApplicationNotFoundError,
    MalformedResponseError,
    ReplayTransport,
    SecurityStatusError,
    SmartCardProtocol,
    Transcript,
    WrongPinError,
)
from cardki.apdu.protocol import MAX_GET_RESPONSES, MAX_RESPONSE_LENGTH, ApduFormatter, Command
from cardki.slot.inprocess import InProcessTransport
from hwsim.card import VirtualCard

PIV_AID = bytes.fromhex("A000000308")


def replay(text: str) -> ReplayTransport:
    return ReplayTransport(Transcript.parse(text, name="test"))


def test_select_returns_data_after_get_response():
    transport = replay(
        """
        > 00 A4 04 00 05 A0 00 00 03 08
        < 61 03
        > 00 C0 00 00 03
        < AA BB CC 61 02
        > 00 C0 00 00 02
        < DD EE 90 00
        """
    )
    protocol = SmartCardProtocol(transport)
    assert protocol.select(PIV_AID) == bytes.fromhex("AABBCCDDEE")
    assert protocol.apdu_count == 3
    transport.assert_finished()


def test_select_of_a_missing_applet_raises_application_not_found():
    protocol = SmartCardProtocol(replay("> 00 A4 04 00 05 A0 00 00 03 08\n< 6A 82"))
    with pytest.raises(ApplicationNotFoundError, match="A000000308 not found"):
        protocol.select(PIV_AID)


def test_wrong_le_is_resent_with_the_length_the_card_names():
    transport = replay(
        """
        > 00 CA 00 6E 00
        < 6C 02
        > 00 CA 00 6E 02
        < 01 02 90 00
        """
    )
    assert SmartCardProtocol(transport).send_apdu(0x00, 0xCA, 0x00, 0x6E, le=0) == b"\x01\x02"
    transport.assert_finished()


def test_long_data_is_chained_with_cla_0x10():
    data = bytes(range(256)) * 2 + bytes(88)  # 600 bytes -> 255 + 255 + 90
    transport = replay(
        f"""
        > 10 DB 3F FF FF {data[:255].hex()}
        < 90 00
        > 10 DB 3F FF FF {data[255:510].hex()}
        < 90 00
        > 00 DB 3F FF 5A {data[510:].hex()}
        < 90 00
        """
    )
    SmartCardProtocol(transport).send_apdu(0x00, 0xDB, 0x3F, 0xFF, data)
    transport.assert_finished()


def test_chain_stops_when_the_card_refuses_a_link():
    transport = replay(f"> 10 DB 3F FF 10 {bytes(16).hex()}\n< 69 82")
    protocol = SmartCardProtocol(transport, max_short_chunk=16)
    with pytest.raises(SecurityStatusError):
        protocol.send_apdu(0x00, 0xDB, 0x3F, 0xFF, bytes(40))


def test_extended_apdu_instead_of_chaining_when_the_card_supports_it():
    data = bytes(300)
    transport = replay(
        f"""
        > 00 DB 3F FF 00 01 2C {data.hex()} 00 00
        < 90 00
        > 00 CB 3F FF 00 04 00
        < 90 00
        """
    )
    protocol = SmartCardProtocol(transport, extended=True)
    protocol.send_apdu(0x00, 0xDB, 0x3F, 0xFF, data, le=0)
    protocol.send_apdu(0x00, 0xCB, 0x3F, 0xFF, le=1024)
    transport.assert_finished()


def test_short_mode_clamps_a_large_le_to_00():
    transport = replay("> 00 CB 3F FF 00\n< 90 00")
    SmartCardProtocol(transport).send_apdu(0x00, 0xCB, 0x3F, 0xFF, le=1024)


def test_63cx_raises_wrong_pin_with_tries():
    transport = replay("> 00 20 00 80 08 <redacted 8 bytes>\n< 63 C2")
    with pytest.raises(WrongPinError) as info:
        SmartCardProtocol(transport).send_apdu(0x00, 0x20, 0x00, 0x80, b"123456\xff\xff", sensitive=True)
    assert info.value.tries_left == 2
    assert "123456" not in str(info.value)


def test_trace_shows_hex_and_redacts_secrets(caplog):
    transport = replay(
        """
        > 00 A4 04 00 05 A0 00 00 03 08
        < 90 00
        > 00 20 00 80 08 <redacted 8 bytes>
        < 90 00
        > 00 87 07 9A 03 7C 01 82 00
        < 7C 02 82 00 90 00
        """
    )
    protocol = SmartCardProtocol(transport)
    with caplog.at_level(TRACE, logger="cardki.apdu"):
        protocol.select(PIV_AID)
        protocol.send_apdu(0x00, 0x20, 0x00, 0x80, b"1234\xff\xff\xff\xff", sensitive=True)
        protocol.send_apdu(0x00, 0x87, 0x07, 0x9A, bytes.fromhex("7C0182"), le=0,
                           sensitive_response=True)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "> 00 A4 04 00 05 A0 00 00 03 08",
        "< 90 00",
        "> 00 20 00 80 08 <redacted 8 bytes>",
        "< 90 00",
        "> 00 87 07 9A 03 7C 01 82 00",
        "< <redacted 4 bytes> 90 00",
    ]
    assert all(r.levelno == TRACE and r.levelname == "TRACE" for r in caplog.records)


def test_trace_is_silent_at_debug(caplog):
    transport = replay("> 00 A4 04 00 05 A0 00 00 03 08\n< 90 00")
    with caplog.at_level(logging.DEBUG, logger="cardki.apdu"):
        SmartCardProtocol(transport).select(PIV_AID)
    assert caplog.records == []


def test_sensitive_data_stays_redacted_in_every_chain_link(caplog):
    secret = bytes(range(1, 21))
    transport = replay(
        """
        > 10 DB 3F FF 08 <redacted 8 bytes>
        < 90 00
        > 10 DB 3F FF 08 <redacted 8 bytes>
        < 90 00
        > 00 DB 3F FF 04 <redacted 4 bytes>
        < 90 00
        """
    )
    with caplog.at_level(TRACE, logger="cardki.apdu"):
        SmartCardProtocol(transport, max_short_chunk=8).send_apdu(0x00, 0xDB, 0x3F, 0xFF, secret,
                                                                  sensitive=True)
    transport.assert_finished()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert secret[:8].hex(" ").upper() not in text
    assert text.count("<redacted") == 3


def test_get_response_that_itself_needs_a_corrected_le():
    transport = replay(
        """
        > 00 CB 3F FF 05 5C 03 5F C1 05 00
        < 01 02 61 00
        > 00 C0 00 00 00
        < 6C 03
        > 00 C0 00 00 03
        < 03 04 05 90 00
        """
    )
    data = SmartCardProtocol(transport).send_apdu(0x00, 0xCB, 0x3F, 0xFF, bytes.fromhex("5C035FC105"), le=0)
    assert data == bytes([1, 2, 3, 4, 5])
    transport.assert_finished()


def test_extended_le_of_65536_is_encoded_as_0000():
    transport = replay("> 00 CB 3F FF 00 00 00\n< 90 00")
    SmartCardProtocol(transport, extended=True).send_apdu(0x00, 0xCB, 0x3F, 0xFF, le=65536)


def test_a_response_without_status_word_is_an_error():
    transport = replay("> 00 A4 04 00 05 A0 00 00 03 08\n< 90 00")
    transport.transcript.exchanges[0].response.parts = [b"\x90"]
    with pytest.raises(ValueError, match="no status word"):
        SmartCardProtocol(transport).select(PIV_AID)


class EndlessCard(VirtualCard):
    """Answers every APDU with ``answer``; after ``patience`` APDUs it gives up and
    answers 90 00, so a protocol without bounds ends (and the test fails) instead of hanging."""

    def __init__(self, answer: bytes, patience: int = 4 * MAX_GET_RESPONSES) -> None:
        self.answer = answer
        self.patience = patience
        self.count = 0

    @property
    def atr(self) -> bytes:
        return bytes.fromhex("3B8080010101")

    def power_on(self) -> None:
        pass

    def power_off(self) -> None:
        pass

    def execute(self, apdu: bytes) -> bytes:
        self.count += 1
        return self.answer if self.count <= self.patience else b"\x90\x00"


@pytest.mark.parametrize("answer", [b"\xA5" * 256 + b"\x61\x00", b"\x61\x01", b"\x61\x00"],
                         ids=["256-bytes-each", "no-data", "no-data-256"])
@pytest.mark.parametrize("extended", [False, True])
def test_a_card_answering_61xx_forever_is_cut_off(answer: bytes, extended: bool):
    card = EndlessCard(answer)
    protocol = SmartCardProtocol(InProcessTransport(card), extended=extended)
    with pytest.raises(MalformedResponseError, match="GET RESPONSE|response bytes"):
        protocol.send_apdu(0x00, 0xCB, 0x3F, 0xFF, bytes.fromhex("5C017E"), le=0)
    assert card.count <= MAX_GET_RESPONSES + 1


def test_a_card_whose_chain_outgrows_the_cap_is_cut_off_by_length():
    card = EndlessCard(b"\xA5" * 4096 + b"\x61\x00")  # more per answer than the Le asked for
    protocol = SmartCardProtocol(InProcessTransport(card))
    with pytest.raises(MalformedResponseError, match="more than 65536 response bytes"):
        protocol.send_apdu(0x00, 0xCB, 0x3F, 0xFF, le=0)
    assert card.count == MAX_RESPONSE_LENGTH // 4096 + 1


def test_the_longest_allowed_chain_still_arrives_whole():
    pieces = MAX_RESPONSE_LENGTH // 256
    lines = ["> 00 CB 3F FF 00", f"< {'11' * 256} 61 00"]
    for index in range(1, pieces):
        lines += ["> 00 C0 00 00 00", f"< {'11' * 256} {'61 00' if index < pieces - 1 else '90 00'}"]
    transport = replay("\n".join(lines))
    assert SmartCardProtocol(transport).send_apdu(0x00, 0xCB, 0x3F, 0xFF, le=0) == b"\x11" * MAX_RESPONSE_LENGTH
    transport.assert_finished()


def test_a_card_answering_6cxx_forever_gets_one_resend():
    card = EndlessCard(b"\x6C\x10")
    with pytest.raises(ApduError, match="6C10"):
        SmartCardProtocol(InProcessTransport(card)).send_apdu(0x00, 0xCB, 0x3F, 0xFF, le=0)
    assert card.count == 2


def test_a_card_answering_a_chain_link_with_61xx_forever_is_cut_off():
    card = EndlessCard(b"\x61\x00")
    with pytest.raises(MalformedResponseError):
        SmartCardProtocol(InProcessTransport(card), max_short_chunk=16).send_apdu(0x00, 0xDB, 0x3F, 0xFF, bytes(4000))
    assert card.count <= MAX_GET_RESPONSES + 1


def test_a_one_byte_answer_is_a_malformed_response():
    card = EndlessCard(b"\x90")
    with pytest.raises(MalformedResponseError, match="no status word"):
        SmartCardProtocol(InProcessTransport(card)).select(PIV_AID)


def test_configure_changes_the_apdu_format_of_a_protocol_in_use():
    """Short APDUs with chaining until the card says it takes extended ones (an OpenPGP
    card's 6E), then one extended APDU: the same protocol, its count going on."""
    data = bytes(300)
    transport = replay(
        "> 10 DA 01 01 FF " + " ".join(["00"] * 255) + "\n< 90 00\n"
        + "> 00 DA 01 01 2D " + " ".join(["00"] * 45) + "\n< 90 00\n"
        + "> 00 DA 01 01 00 01 2C " + " ".join(["00"] * 300) + "\n< 90 00\n")
    protocol = SmartCardProtocol(transport)
    protocol.send_apdu(0x00, 0xDA, 0x01, 0x01, data)
    protocol.configure(extended=True)
    assert protocol.extended
    protocol.send_apdu(0x00, 0xDA, 0x01, 0x01, data)
    assert protocol.apdu_count == 3
    transport.assert_finished()
    with pytest.raises(ValueError):
        protocol.configure(extended=True, max_extended=0)


def _iso7816_encoding(cla: int, ins: int, p1: int, p2: int, data: bytes, le: int | None, extended: bool) -> bytes:
    """ISO 7816-4's cases, written out plainly: short unless extended lengths are allowed
    and needed; Lc and Le of an extended APDU take two bytes, and Le is preceded by 00
    when there is no data; Le = 256 (short) and 65536 (extended) are encoded as zeros."""
    header = bytes([cla, ins, p1, p2])
    if extended and (len(data) > 255 or (le is not None and le > 256)):
        lc = b"\x00" + len(data).to_bytes(2, "big") if data else b""
        le_field = b"" if le is None else (b"" if data else b"\x00") + (le % 65536 if le <= 65536 else 0).to_bytes(2, "big")
        return header + lc + data + le_field
    lc = bytes([len(data)]) if data else b""
    return header + lc + data + (b"" if le is None else bytes([min(le, 256) % 256]))


@given(st.tuples(*[st.integers(0, 255)] * 4), st.binary(max_size=300), st.none() | st.integers(0, 70000), st.booleans())
def test_the_formatter_encodes_every_iso7816_case(header, data, le, extended):
    formatter = ApduFormatter(replay(""), extended=extended)  # encode sends nothing
    command = Command(*header, data=data, le=le)
    if len(data) > 255 and not extended:
        with pytest.raises(ValueError, match="do not fit a short APDU"):
            formatter.encode(command)
        return
    apdu, data_offset = formatter.encode(command)
    assert apdu == _iso7816_encoding(*header, data, le, extended)
    assert apdu[data_offset:data_offset + len(data)] == data
