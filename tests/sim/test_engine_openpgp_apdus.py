"""APDU budgets of the OpenPGP token through pcscd, counted by the card: the first
signature with the OpenPGP token of a YubiKey (whose PIV token keeps its own budget,
test_engine_first_signature_apdus.py) and of a plain OpenPGP card, and what
switching between a YubiKey's two tokens costs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Tuple

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from cardki import CKA, CKM, CKO, CKU, Cryptoki
from cardki.constants import SessionFlag
from hwsim.openpgp_card import VirtualOpenPgpCard
from hwsim.statefile import save_state
from hwsim.yubikey import VirtualYubiKey
from provisioning import OPENPGP_PIN, PIN, provision, provision_openpgp

pytestmark = pytest.mark.sim

#: SELECT, GET VERSION (PIV detection; the YubiKey profile names its OpenPGP application,
#: so that costs nothing, and the serial is read when asked) + SELECT OpenPGP (PIV had the card), GET DATA 6E,
#: GET DATA F9 (the card has a KDF: off), VERIFY 82 (login) + READ PUBLIC KEY 01, SELECT DATA,
#: GET DATA 7F21 (the find by CKA_ID reads that key only) + GET DATA FA (the mechanisms the
#: card reports, read once, for C_SignInit), VERIFY 81, PSO:CDS (the signature).
FIRST_YUBIKEY_OPENPGP_SIGNATURE_APDUS = 2 + 4 + 3 + 3  # 13 with GET SERIAL at detection
#: SELECT PIV (refused), SELECT OpenPGP (detection) + GET DATA 6E, GET DATA F9, VERIFY 82
#: + READ PUBLIC KEY 01, SELECT DATA, GET DATA 7F21 + GET DATA FA, VERIFY 81, PSO:CDS.
FIRST_PLAIN_OPENPGP_SIGNATURE_APDUS = 2 + 3 + 3 + 3
#: From OpenPGP to PIV, both logged in: SELECT PIV, VERIFY PIN, GENERAL AUTHENTICATE, and
#: SELECT OpenPGP at the end (the card goes back to the application gpg's scdaemon 2.2
#: expects to find selected, see cardki.token.sharing). Every PIV signature costs these 4
#: while the card is given back so.
SWITCH_TO_PIV_SIGNATURE_APDUS = 4
#: Back to OpenPGP: no SELECT (the card is on OpenPGP already), VERIFY 81 (the last SELECT
#: dropped it), PSO:CDS.
SWITCH_TO_OPENPGP_SIGNATURE_APDUS = 2


def _card_with_keys(factory: Callable[..., Any], tmp_path: Path, card: Any) -> Any:
    provision_openpgp(card)
    state = tmp_path / f"{card.kind}-openpgp.json"
    save_state(state, card.to_state())
    return factory(card="openpgp" if card.kind == "openpgp" else "yubikey", state=state)


def _slot(lib: Cryptoki, description: str) -> int:
    return next(s for s in lib.get_slot_list(True) if lib.get_slot_info(s).slot_description == description)


def _first_signature(lib: Cryptoki, slot: int, pin: str, key_id: bytes = b"\x01") -> Tuple[int, int, bytes]:
    session = lib.open_session(slot, SessionFlag.SERIAL_SESSION)
    lib.login(session, CKU.USER, pin)
    lib.find_objects_init(session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: key_id})
    (key,) = lib.find_objects(session, 2)
    lib.find_objects_final(session)
    lib.sign_init(session, CKM.ECDSA_SHA256, key)
    return session, key, lib.sign(session, b"first")


def _verify(public: Any, raw: bytes, data: bytes) -> None:
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, data, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("kind", ["yubikey", "plain"])
def test_first_openpgp_signature(virtual_card_factory: Callable[..., Any], tmp_path: Path, kind: str) -> None:
    card = VirtualYubiKey() if kind == "yubikey" else VirtualOpenPgpCard()
    handle = _card_with_keys(virtual_card_factory, tmp_path, card)
    suffix = " (OpenPGP)" if kind == "yubikey" else ""
    handle.control.reset_count()
    lib = Cryptoki()
    lib.initialize()
    try:
        _, _, signature = _first_signature(lib, _slot(lib, handle.reader_name + suffix), OPENPGP_PIN)
        expected = FIRST_YUBIKEY_OPENPGP_SIGNATURE_APDUS if kind == "yubikey" else FIRST_PLAIN_OPENPGP_SIGNATURE_APDUS
        assert handle.control.count() == expected
        from provisioning import openpgp_keys

        _verify(openpgp_keys("ec")["sig"].public_key(), signature, b"first")
    finally:
        lib.finalize()


def test_switching_between_a_yubikeys_two_tokens(virtual_card_factory: Callable[..., Any], tmp_path: Path) -> None:
    card = VirtualYubiKey()
    provision(card)
    handle = _card_with_keys(virtual_card_factory, tmp_path, card)
    lib = Cryptoki()
    lib.initialize()
    try:
        piv_session, piv_key, _ = _first_signature(lib, _slot(lib, handle.reader_name), PIN, b"\x03")  # 9D, P-256
        openpgp_session, openpgp_key, _ = _first_signature(lib, _slot(lib, handle.reader_name + " (OpenPGP)"),
                                                           OPENPGP_PIN)

        def sign(session: int, key: int) -> int:
            handle.control.reset_count()
            lib.sign_init(session, CKM.ECDSA_SHA256, key)
            assert len(lib.sign(session, b"switch")) == 64
            return handle.control.count()

        assert sign(piv_session, piv_key) == SWITCH_TO_PIV_SIGNATURE_APDUS
        assert sign(openpgp_session, openpgp_key) == SWITCH_TO_OPENPGP_SIGNATURE_APDUS
        assert sign(openpgp_session, openpgp_key) == 1  # no switch, no extra APDU
        assert sign(piv_session, piv_key) == SWITCH_TO_PIV_SIGNATURE_APDUS
        assert sign(piv_session, piv_key) == SWITCH_TO_PIV_SIGNATURE_APDUS  # given back again
    finally:
        lib.finalize()
