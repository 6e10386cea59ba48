"""Replay recorded PIV sessions (apdu/piv/*.txt): the token must send exactly
the recorded commands, and what it makes of the answers must check out.

Regenerate the transcripts (e.g. after a deliberate change in the APDU flow) with
``CARDKI_RECORD_PIV=1 python -m pytest tests/unit/test_piv_token_transcripts.py``;
they are recorded from the virtual YubiKey 5.7.2 in-process (same APDUs as through
pcscd), with the PIN redacted by the recorder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from test_piv_token_support import PIN, make_cert, put_cert, put_key, rsa_key

from cardki.apdu import RecordingTransport, ReplayTransport
from cardki.constants import CKA, CKM, CKO, CKU
from cardki.slot.inprocess import InProcessTransport
from cardki.token import PivToken, open_token, rsa_padding
from hwsim.yubikey import VirtualYubiKey

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "apdu" / "piv"
LISTING = TRANSCRIPTS / "yubikey572-first-object-listing.txt"
SIGN = TRANSCRIPTS / "yubikey572-login-sign-p256-rsa2048.txt"
DIGEST = bytes.fromhex("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")  # sha256("test")


def _card() -> VirtualYubiKey:
    card = VirtualYubiKey(firmware=(5, 7, 2), serial=12345678)
    key = rsa_key(2048)
    put_key(card, 0x9A, key)
    put_cert(card, 0x9A, make_cert(key, "transcript"))
    put_key(card, 0x9D, ec.generate_private_key(ec.SECP256R1()))
    put_key(card, 0x82, ec.generate_private_key(ec.SECP256R1()))
    return card


def _find(token: PivToken, kind: str, slot: int):
    return next(obj for obj in token.objects() if obj.ref == (kind, slot))


def _record() -> None:
    card = _card()
    recorder = RecordingTransport(InProcessTransport(card))
    token = open_token(recorder)
    assert isinstance(token, PivToken)
    token.objects()
    assert token.serial == 12345678
    recorder.save(LISTING, "PIV: detect a YubiKey 5.7.2 (SELECT; its ATR names it, so no GET VERSION) and\n"
                  "list its objects once: SELECT, one GET DATA per certificate container, GET METADATA\n"
                  "per slot (its first answer proves firmware 5.3+, which settles what the listing\n"
                  "needs without the version), GET DATA per public data object; then the serial (GET\n"
                  "SERIAL, read when first asked). 9A: RSA-2048 + cert, 9D and 82: P-256 without\n"
                  "certificates. Recorded from hwsim in-process.")
    recorder = RecordingTransport(InProcessTransport(card))
    token = open_token(recorder)
    assert isinstance(token, PivToken)
    token.objects()
    recorder.note("login: VERIFY PIN (redacted)")
    token.login(CKU.USER, PIN)
    recorder.note("CKM_ECDSA with the retired key 82 (P-256): one GENERAL AUTHENTICATE")
    token.sign(_find(token, "private", 0x82), CKM.ECDSA, None, DIGEST)
    recorder.note("CKM_RSA_PKCS over a SHA-256 DigestInfo with the 9A key: one extended GENERAL AUTHENTICATE")
    token.sign(_find(token, "private", 0x9A), CKM.RSA_PKCS, None, rsa_padding.digest_info("sha256", DIGEST))
    recorder.save(SIGN, "PIV: detect, list objects, log in and sign with P-256 (retired slot 82) and\n"
                  "RSA-2048 (9A). Recorded from hwsim in-process; the PIN is redacted.")


if os.environ.get("CARDKI_RECORD_PIV"):
    _record()


def test_first_object_listing_replays() -> None:
    replay = ReplayTransport(LISTING)
    token = open_token(replay)
    assert isinstance(token, PivToken)
    objects = token.objects()
    assert token.serial == 12345678  # read at this first ask, not at detection
    replay.assert_finished()
    classes = sorted((obj.ref[0], obj.ref[1]) for obj in objects if obj.ref[0] != "data")
    assert ("certificate", 0x9A) in classes and ("private", 0x9D) in classes and ("public", 0x82) in classes
    print(f"first listing: {len(replay.transcript.exchanges)} APDUs including detection")


def test_login_and_sign_replays_and_the_signatures_verify() -> None:
    replay = ReplayTransport(SIGN)
    token = open_token(replay)
    assert isinstance(token, PivToken)
    token.objects()
    token.login(CKU.USER, PIN)  # the PIN is redacted in the file: any 8 bytes match
    ec_signature = token.sign(_find(token, "private", 0x82), CKM.ECDSA, None, DIGEST)
    rsa_signature = token.sign(_find(token, "private", 0x9A), CKM.RSA_PKCS, None,
                               rsa_padding.digest_info("sha256", DIGEST))
    replay.assert_finished()
    ec_public = serialization.load_der_public_key(_find(token, "public", 0x82).attributes[CKA.PUBLIC_KEY_INFO])
    der = encode_dss_signature(int.from_bytes(ec_signature[:32], "big"), int.from_bytes(ec_signature[32:], "big"))
    ec_public.verify(der, DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))  # type: ignore[union-attr, call-arg]
    rsa_public = serialization.load_der_public_key(_find(token, "public", 0x9A).attributes[CKA.PUBLIC_KEY_INFO])
    rsa_public.verify(rsa_signature, DIGEST, padding.PKCS1v15(), Prehashed(hashes.SHA256()))  # type: ignore[union-attr, call-arg]
    assert _find(token, "certificate", 0x9A).attributes[CKA.CLASS] == CKO.CERTIFICATE


@pytest.mark.parametrize("path", [LISTING, SIGN])
def test_transcripts_hold_no_pin(path: Path) -> None:
    text = path.read_text()
    assert PIN.hex() not in text.replace(" ", "").lower()
