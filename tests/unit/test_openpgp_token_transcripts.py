"""Replay recorded OpenPGP sessions (apdu/openpgp/*.txt): the token must send exactly
the recorded commands, and the signatures it makes of the answers must verify with
the public keys it read from the same transcript.

One transcript is a plain OpenPGP 3.4 card (detection, objects, PW1 login, a
signature with the signature key and one with the authentication key); the other a
YubiKey 5.7.2 whose PIV and OpenPGP tokens take turns on the one card, so the
applet switches (SELECT, VERIFY again only where logged in, the card given back to
OpenPGP after PIV) are there to read and are pinned command by command.

Regenerate them after a deliberate change in the APDU flow with
``CARDKI_RECORD_OPENPGP=1 python -m pytest tests/unit/test_openpgp_token_transcripts.py``
and read the diff: they are recorded from the simulator in process (the same APDUs
as through pcscd), with the PINs redacted by the recorder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, List, Tuple

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from cardki.apdu import RecordingTransport, ReplayTransport
from cardki.constants import CKA, CKM, CKO, CKU
from cardki.slot.inprocess import InProcessTransport
from cardki.token import OpenPgpToken, PivToken, open_tokens
from cardki.token.base import TokenObject
from cardki.token.openpgp.driver import CarriedOpenPgpToken
from hwsim.openpgp_card import VirtualOpenPgpCard
from hwsim.yubikey import VirtualYubiKey
from provisioning import OPENPGP_PIN, PIN, provision, provision_openpgp

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "apdu" / "openpgp"
PLAIN = TRANSCRIPTS / "openpgp34-login-sign-authenticate.txt"
SWITCH = TRANSCRIPTS / "yubikey572-piv-and-openpgp-take-turns.txt"
DIGEST = hashlib.sha256(b"replayed").digest()


def _find(token: Any, kind: int, key_id: int) -> TokenObject:
    (found,) = [obj for obj in token.objects() if obj.attributes[CKA.CLASS] == kind
                and obj.attributes[CKA.ID] == bytes([key_id])]
    return found


def _plain_session(transport: Any, note: Any = lambda text: None) -> List[bytes]:
    (token,) = open_tokens(transport)
    assert isinstance(token, OpenPgpToken)
    note("objects: application data (6E), each key's public key, certificates (SELECT DATA + 7F21)")
    token.objects()
    note("login as the user: VERIFY 82 (PW1, redacted)")
    token.login(CKU.USER, OPENPGP_PIN.encode())
    note("the signature key (01): VERIFY 81 (redacted), PSO:COMPUTE DIGITAL SIGNATURE")
    signature = token.sign(_find(token, CKO.PRIVATE_KEY, 1), CKM.ECDSA, None, DIGEST)
    note("the authentication key (03): INTERNAL AUTHENTICATE, under the login's VERIFY 82")
    authentication = token.sign(_find(token, CKO.PRIVATE_KEY, 3), CKM.ECDSA, None, DIGEST)
    return [signature, authentication]


def _switch_session(transport: Any, note: Any = lambda text: None) -> Tuple[PivToken, OpenPgpToken, List[bytes]]:
    piv, openpgp = open_tokens(transport)  # the OpenPGP token is built at its first use, here the login
    assert isinstance(piv, PivToken) and isinstance(openpgp, CarriedOpenPgpToken)
    note("PIV: log in, sign with 9C (P-256, CKA_ID 02)")
    piv.login(CKU.USER, PIN.encode())
    piv_key = _find(piv, CKO.PRIVATE_KEY, 2)
    first = piv.sign(piv_key, CKM.ECDSA, None, DIGEST)
    note("OpenPGP: log in (the card goes to OpenPGP), sign with 01")
    openpgp.login(CKU.USER, OPENPGP_PIN.encode())
    openpgp_key = _find(openpgp, CKO.PRIVATE_KEY, 1)
    second = openpgp.sign(openpgp_key, CKM.ECDSA, None, DIGEST)
    note("PIV again: SELECT PIV, VERIFY (logged in), GENERAL AUTHENTICATE, SELECT OpenPGP (given back)")
    third = piv.sign(piv_key, CKM.ECDSA, None, DIGEST)
    note("OpenPGP again: the card is on OpenPGP already; VERIFY 81, PSO:CDS")
    fourth = openpgp.sign(openpgp_key, CKM.ECDSA, None, DIGEST)
    return piv, openpgp.built(), [first, second, third, fourth]


def _record() -> None:
    card = VirtualOpenPgpCard()
    provision_openpgp(card, "ec")
    recorder = RecordingTransport(InProcessTransport(card))
    _plain_session(recorder, recorder.note)
    recorder.save(PLAIN, "OpenPGP 3.4 card (hwsim, P-256 keys in 01/02/03 with certificates): detect, list\n"
                  "objects, log in, sign with 01 and 03. Recorded in process; PW1 is redacted.")
    card = VirtualYubiKey(firmware=(5, 7, 2), serial=12345678)
    provision(card)
    provision_openpgp(card, "ec")
    recorder = RecordingTransport(InProcessTransport(card))
    _switch_session(recorder, recorder.note)
    recorder.save(SWITCH, "YubiKey 5.7.2 (hwsim): its PIV and OpenPGP tokens sign in turns on one card.\n"
                  "Recorded in process; the PIV PIN and PW1 are redacted.")


if os.environ.get("CARDKI_RECORD_OPENPGP"):
    _record()


def _verify(token: Any, key_id: int, signature: bytes) -> None:
    public = serialization.load_der_public_key(_find(token, CKO.PUBLIC_KEY, key_id).attributes[CKA.PUBLIC_KEY_INFO])
    assert isinstance(public, ec.EllipticCurvePublicKey)
    half = len(signature) // 2
    der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
    public.verify(der, DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_a_plain_cards_session_replays_and_its_signatures_verify() -> None:
    replay = ReplayTransport(PLAIN)
    signature, authentication = _plain_session(replay)
    replay.assert_finished()
    (token,) = open_tokens(ReplayTransport(PLAIN))  # the public keys, as the same answers give them
    _verify(token, 1, signature)
    _verify(token, 3, authentication)


def test_a_yubikeys_two_tokens_take_turns_as_recorded() -> None:
    replay = ReplayTransport(SWITCH)
    piv, openpgp, (first, second, third, fourth) = _switch_session(replay)
    replay.assert_finished()
    for token, key_id, signature in ((piv, 2, first), (openpgp, 1, second), (piv, 2, third), (openpgp, 1, fourth)):
        _verify(token, key_id, signature)  # the objects are listed already: no APDU (the replay would refuse one)


@pytest.mark.parametrize("path", [PLAIN, SWITCH])
def test_transcripts_hold_no_pin(path: Path) -> None:
    text = path.read_text().replace(" ", "").lower()
    for pin in {OPENPGP_PIN, PIN}:
        assert pin.encode().hex() not in text
