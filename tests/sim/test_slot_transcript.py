"""The recorded PIV transcript is also what the YubiKey says through pcscd + vpcd:
PC/SC (T=1, shared mode, transactions) adds nothing and loses nothing."""

import importlib.util
from pathlib import Path

import pytest

from cardki.apdu import RecordingTransport, SmartCardProtocol
from cardki.slot import PcscTransport

# One definition of the operation and its transcript: the unit test's.
_spec = importlib.util.spec_from_file_location(
    "test_apdu_recorded", Path(__file__).resolve().parents[1] / "unit" / "test_apdu_recorded.py")
recorded = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recorded)

pytestmark = pytest.mark.sim


def test_piv_session_through_pcsc_matches_the_transcript(virtual_card_factory):
    card = virtual_card_factory(firmware="5.7.2", serial=12345678)
    with PcscTransport(card.reader_name) as transport:
        recorder = RecordingTransport(transport)
        with recorder.transaction():
            assert recorded.piv_session(SmartCardProtocol(recorder)) == recorded.EXPECTED
    assert recorded.exchange_lines(recorder.text()) == recorded.exchange_lines(
        recorded.TRANSCRIPT.read_text())
    assert recorder.atr == card.atr
