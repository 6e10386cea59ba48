"""APDU budget to the first signature through pcscd, counted by the card: what a
PKCS#11 client does first (slot list, open session, log in, find the key by
class and CKA_ID, sign) must not read the whole card. It used to cost 65 APDUs
(all 25 certificate containers, 25 GET METADATA, 9 data objects); a find that
names CKA_ID now reads only that slot, so a regression shows up here."""

from __future__ import annotations

from typing import Any

import pytest

from cardki import CKA, CKM, CKO, CKU, Cryptoki
from cardki.constants import SessionFlag, TokenFlag
from provisioning import PIN

pytestmark = pytest.mark.sim

#: SELECT (token detection: the ATR names a YubiKey 5, so no GET VERSION; the version and
#: the serial are read when the token info asks) + VERIFY (login) + certificate container,
#: GET METADATA (slot 9a; no SELECT: PIV has had the card since the login; its answer
#: proves firmware 5.3+, which settles what the find and C_SignInit ask) + GENERAL
#: AUTHENTICATE (the signature). It was 9: GET SERIAL at detection, and SELECT + VERIFY
#: again in the find's transaction; then 6, with GET VERSION at detection.
FIRST_SIGNATURE_APDUS = 1 + 1 + 2 + 1


def test_first_signature_reads_only_the_key_it_uses(provisioned_card: Any) -> None:
    provisioned_card.control.reset_count()
    lib = Cryptoki()
    lib.initialize()
    try:
        slot = [s for s in lib.get_slot_list(True)
                if lib.get_slot_info(s).slot_description == provisioned_card.reader_name][0]
        session = lib.open_session(slot, SessionFlag.SERIAL_SESSION)
        lib.login(session, CKU.USER, PIN)
        lib.find_objects_init(session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: b"\x01"})
        (key,) = lib.find_objects(session, 2)
        lib.find_objects_final(session)
        lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
        assert len(lib.sign(session, b"first")) == 256
        assert provisioned_card.control.count() == FIRST_SIGNATURE_APDUS

        # Listing everything afterwards still shows every object, the key under the same handle.
        lib.find_objects_init(session, {})
        everything = lib.find_objects(session, 1000)
        lib.find_objects_final(session)
        assert key in everything and len(everything) > 3
    finally:
        lib.finalize()


def _reader_slot(lib: Cryptoki, reader_name: str) -> int:
    return next(s for s in lib.get_slot_list(True) if lib.get_slot_info(s).slot_description == reader_name)


#: SELECT: what C_GetSlotList costs to open a YubiKey's tokens (PIV, and its OpenPGP
#: application for nothing: the YubiKey profile names it). No GET VERSION: the USB ATR
#: names a YubiKey 5 (it was 2 with that probe).
OPEN_YUBIKEY_APDUS = 1


def test_the_serial_is_read_when_the_token_info_asks(provisioned_card: Any) -> None:
    """Detection leaves GET VERSION and GET SERIAL out (a signature needs neither);
    C_GetTokenInfo reads them once, for the model, firmware, label and serial number, in
    the transaction of its PIN counter."""
    provisioned_card.control.reset_count()
    lib = Cryptoki()
    lib.initialize()
    try:
        slot = _reader_slot(lib, provisioned_card.reader_name)
        assert provisioned_card.control.count() == OPEN_YUBIKEY_APDUS
        info = lib.get_token_info(slot)
        assert (info.label.strip(), info.serial_number.strip()) == ("YubiKey PIV #12345678", "12345678")
        major, minor, patch = (int(part) for part in provisioned_card.firmware.split("."))
        assert info.model.strip() == f"YubiKey {major} PIV"
        assert tuple(info.firmware_version) == (major, minor * 10 + patch)
        # GET VERSION, GET SERIAL, GET METADATA 80
        assert provisioned_card.control.count() == OPEN_YUBIKEY_APDUS + 3
        provisioned_card.control.reset_count()
        assert lib.get_token_info(slot).label == info.label
        assert provisioned_card.control.count() == 1  # the PIN counter only: the serial is kept
    finally:
        lib.finalize()


def _find_and_sign(lib: Cryptoki, session: int) -> bytes:
    lib.find_objects_init(session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: b"\x01"})
    found = lib.find_objects(session, 2)
    lib.find_objects_final(session)
    assert len(found) == 1, "the find by CKA_ID did not find the key in 9A"
    lib.sign_init(session, CKM.SHA256_RSA_PKCS, found[0])
    return lib.sign(session, b"after another program")


def _select_openpgp_elsewhere(reader_name: str) -> None:
    """Another program (its own PC/SC connection) selects the OpenPGP application and
    leaves the card as it is (no reset at its disconnect, as scdaemon keeps it)."""
    from smartcard.scard import SCARD_LEAVE_CARD
    from smartcard.System import readers

    other = next(reader for reader in readers() if str(reader) == reader_name).createConnection()
    other.connect(disposition=SCARD_LEAVE_CARD)
    try:
        assert other.transmit(list(bytes.fromhex("00A4040006D27600012401")))[1:] == (0x90, 0x00)
    finally:
        other.disconnect()


def test_the_token_info_sees_another_programs_wrong_pin(provisioned_card: Any) -> None:
    """Why every C_GetTokenInfo asks the card for the PIN counter (pkcs11-tool asks twice,
    microseconds apart): between two calls the card is free, and another program's
    VERIFY with a wrong PIN, on a connection that leaves the card as it is, shows in
    nothing but the counter (no reset, no other sign on the card)."""
    from smartcard.scard import SCARD_LEAVE_CARD
    from smartcard.System import readers

    lib = Cryptoki()
    lib.initialize()
    try:
        slot = _reader_slot(lib, provisioned_card.reader_name)
        low = TokenFlag.USER_PIN_COUNT_LOW | TokenFlag.USER_PIN_FINAL_TRY | TokenFlag.USER_PIN_LOCKED
        assert lib.get_token_info(slot).flags & low == 0
        other = next(reader for reader in readers() if str(reader) == provisioned_card.reader_name).createConnection()
        other.connect(disposition=SCARD_LEAVE_CARD)
        try:
            assert other.transmit(list(bytes.fromhex("00A4040009A00000030800001000")))[1:] == (0x90, 0x00)
            wrong = list(bytes.fromhex("0020008008") + b"999999\xff\xff")
            assert other.transmit(wrong)[1:] == (0x63, 0xC2)
        finally:
            other.disconnect()
        provisioned_card.control.reset_count()
        assert lib.get_token_info(slot).flags & low == TokenFlag.USER_PIN_COUNT_LOW
        assert provisioned_card.control.count() == 1  # GET METADATA 80
    finally:
        lib.finalize()


def test_another_programs_select_between_login_and_find_is_recovered(provisioned_card: Any) -> None:
    """The find sends no SELECT of its own any more: another program that selected the
    OpenPGP application after our login makes PIV's GET DATA answer 6D00, which restores
    the selection and the login (SELECT, VERIFY) and reads again."""
    lib = Cryptoki()
    lib.initialize()
    try:
        session = lib.open_session(_reader_slot(lib, provisioned_card.reader_name), SessionFlag.SERIAL_SESSION)
        lib.login(session, CKU.USER, PIN)
        _select_openpgp_elsewhere(provisioned_card.reader_name)
        provisioned_card.control.reset_count()
        assert len(_find_and_sign(lib, session)) == 256
        # The find: GET DATA (6D00), GET DATA 4F (OpenPGP's harmless probe: another program
        # has it), SELECT PIV, VERIFY, GET DATA, GET METADATA, SELECT OpenPGP (given back, see
        # cardki.token.sharing); the signature: SELECT PIV, VERIFY, GENERAL AUTHENTICATE,
        # SELECT OpenPGP.
        assert provisioned_card.control.count() == 7 + 4
    finally:
        lib.finalize()


def test_a_slot_that_reads_empty_is_read_again_after_a_select(provisioned_card: Any) -> None:
    """Another program's applet may answer PIV's reads "not found" (6A82) rather than
    6D00: a find whose slot reads empty is repeated after our own SELECT (+ VERIFY), so
    the key is not missed."""
    lib = Cryptoki()
    lib.initialize()
    try:
        session = lib.open_session(_reader_slot(lib, provisioned_card.reader_name), SessionFlag.SERIAL_SESSION)
        lib.login(session, CKU.USER, PIN)
        provisioned_card.control.inject_sw(0x6A82, ins=0xCB)  # the certificate container
        provisioned_card.control.inject_sw(0x6A82, ins=0xF7)  # GET METADATA 9A
        provisioned_card.control.reset_count()
        assert len(_find_and_sign(lib, session)) == 256
        # GET DATA, GET METADATA (both "not found"), SELECT, VERIFY, GET DATA, GET METADATA,
        # GENERAL AUTHENTICATE.
        assert provisioned_card.control.count() == 7
    finally:
        lib.finalize()


def _reset_elsewhere(reader_name: str) -> None:
    """Another program connects and resets the card as it lets go of it."""
    from smartcard import scard

    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hresult == scard.SCARD_S_SUCCESS
    try:
        hresult, card, _protocol = scard.SCardConnect(context, reader_name, scard.SCARD_SHARE_SHARED,
                                                      scard.SCARD_PROTOCOL_ANY)
        assert hresult == scard.SCARD_S_SUCCESS
        assert scard.SCardDisconnect(card, scard.SCARD_RESET_CARD) == scard.SCARD_S_SUCCESS
    finally:
        scard.SCardReleaseContext(context)


def test_finalize_after_another_programs_reset_reads_no_objects(provisioned_card: Any, tmp_path: Any) -> None:
    """C_Finalize logs the application out; when another program has reset the card, that
    logout finds the reset. It used to re-read the objects listed so far for a table that
    C_Finalize throws away the moment after (the certificate and GET METADATA of 9a: a
    certificate parsed at a host's exit). Now it sends only SELECTs: PIV's, to restore and
    drop the security status, and OpenPGP's, given back (see cardki.token.sharing)."""
    lib = Cryptoki()
    lib.initialize()
    session = lib.open_session(_reader_slot(lib, provisioned_card.reader_name), SessionFlag.SERIAL_SESSION)
    lib.login(session, CKU.USER, PIN)
    assert len(_find_and_sign(lib, session)) == 256
    _reset_elsewhere(provisioned_card.reader_name)
    trace = tmp_path / "finalize.trace"
    provisioned_card.control.trace(on=True, path=trace)
    try:
        lib.finalize()
    finally:
        provisioned_card.control.trace(on=False)
    sent = [line.split("> ", 1)[1].split() for line in trace.read_text().splitlines() if " > " in line]
    assert sent, "C_Finalize logged out without a word to the card"
    assert {(command[0], command[1]) for command in sent} == {("00", "A4")}, sent
