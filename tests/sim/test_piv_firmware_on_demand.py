"""The YubiKey's firmware version read only when something needs it (issue 12), through
pcscd: a YubiKey's USB ATR names it without GET VERSION; what the first signature needs
is settled from the firmware range the ATR and the card's answers leave (GET METADATA
answering: 5.3 or later; 6D00 to it after the certificate's 9000: below 5.3), and what
only the version tells (a key's CKA_DESTROYABLE, 5.7; the mechanism table's sizes) is
read when asked, with the same answers as before."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Tuple

import pytest

from cardki import CKA, CKM, CKO, CKU, Cryptoki, errors
from cardki.constants import SessionFlag
from provisioning import PIN, provision

pytestmark = pytest.mark.sim

RW = SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION


def _provisioned(factory: Callable[..., Any], tmp_path: Path, firmware: str) -> Any:
    """The test keys and certificates (``provisioning``) on a YubiKey of ``firmware``."""
    from hwsim.statefile import save_state
    from hwsim.yubikey import VirtualYubiKey

    card = VirtualYubiKey(firmware=tuple(int(part) for part in firmware.split(".")))
    provision(card)
    state = tmp_path / f"provisioned-{firmware}.json"
    save_state(state, card.to_state())
    return factory(firmware=firmware, state=state)


def _slot(lib: Cryptoki, reader_name: str) -> int:
    return next(s for s in lib.get_slot_list(True) if lib.get_slot_info(s).slot_description == reader_name)


@contextmanager
def _session(card: Any, flags: int = SessionFlag.SERIAL_SESSION, *,
             login: bool = True) -> Iterator[Tuple[Cryptoki, int, int]]:
    """The library initialized, the card's slot and a session on it (the user logged in
    unless ``login`` is false); finalized after."""
    lib = Cryptoki()
    lib.initialize()
    try:
        slot = _slot(lib, card.reader_name)
        session = lib.open_session(slot, flags)
        if login:
            lib.login(session, CKU.USER, PIN)
        yield lib, slot, session
    finally:
        lib.finalize()


def _find(lib: Cryptoki, session: int, template: dict) -> list:
    lib.find_objects_init(session, template)
    try:
        return list(lib.find_objects(session, 10))
    finally:
        lib.find_objects_final(session)


#: SELECT (detection: the ATR names the YubiKey series), VERIFY, the certificate
#: container, GET METADATA 9A (6D00: the card has no metadata, which, after the
#: certificate's 9000, proves firmware below 5.3), GENERAL AUTHENTICATE. No GET VERSION:
#: as many APDUs as before (SELECT, GET VERSION, VERIFY, GET DATA, GENERAL AUTHENTICATE).
OLD_YUBIKEY_FIRST_SIGNATURE_APDUS = 5


@pytest.mark.parametrize("firmware", ["5.2.7", "4.3.7"])
def test_a_yubikey_without_metadata_lists_logs_in_and_signs(virtual_card_factory: Callable[..., Any],
                                                           tmp_path: Path, firmware: str) -> None:
    card = _provisioned(virtual_card_factory, tmp_path, firmware)
    card.control.reset_count()
    with _session(card) as (lib, slot, session):
        (key,) = _find(lib, session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: b"\x01"})
        lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
        assert len(lib.sign(session, b"old firmware")) == 256
        assert card.control.count() == OLD_YUBIKEY_FIRST_SIGNATURE_APDUS

        major, minor, patch = (int(part) for part in firmware.split("."))
        info = lib.get_token_info(slot)
        assert info.model.strip() == f"YubiKey {major} PIV"
        assert tuple(info.firmware_version) == (major, minor * 10 + patch)
        everything = _find(lib, session, {})
        assert key in everything and len(everything) > 3
        assert not any(lib.get_attribute_value(session, h, [CKA.DESTROYABLE])[CKA.DESTROYABLE]
                       for h in _find(lib, session, {CKA.CLASS: CKO.PRIVATE_KEY}))


@pytest.mark.parametrize(("firmware", "destroyable"), [("5.7.2", True), ("5.4.3", False)])
def test_a_keys_destroyable_is_read_when_asked(virtual_card_factory: Callable[..., Any], tmp_path: Path,
                                               firmware: str, destroyable: bool) -> None:
    """CKA_DESTROYABLE of a key follows MOVE/DELETE KEY (5.7), which only the version
    tells: the find leaves it to its first read, which costs GET VERSION once."""
    card = _provisioned(virtual_card_factory, tmp_path, firmware)
    with _session(card) as (lib, _, session):
        (key,) = _find(lib, session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: b"\x01"})
        card.control.reset_count()
        assert lib.get_attribute_value(session, key, [CKA.DESTROYABLE]) == {CKA.DESTROYABLE: destroyable}
        assert card.control.count() == 1  # GET VERSION
        assert lib.get_attribute_value(session, key, [CKA.DESTROYABLE]) == {CKA.DESTROYABLE: destroyable}
        assert card.control.count() == 1


@pytest.mark.parametrize(("firmware", "destroyable"), [("5.7.2", True), ("5.4.3", False)])
def test_a_find_naming_destroyable_matches_what_the_card_does(virtual_card_factory: Callable[..., Any],
                                                              tmp_path: Path, firmware: str,
                                                              destroyable: bool) -> None:
    card = _provisioned(virtual_card_factory, tmp_path, firmware)
    with _session(card) as (lib, _, session):
        wanted = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: b"\x01"}
        assert len(_find(lib, session, {**wanted, CKA.DESTROYABLE: destroyable})) == 1
        assert _find(lib, session, {**wanted, CKA.DESTROYABLE: not destroyable}) == []


def test_destroying_a_key_before_5_7_is_prohibited(virtual_card_factory: Callable[..., Any],
                                                   tmp_path: Path) -> None:
    card = _provisioned(virtual_card_factory, tmp_path, "5.4.3")
    with _session(card, RW, login=False) as (lib, _, session):
        (public,) = _find(lib, session, {CKA.CLASS: CKO.PUBLIC_KEY, CKA.ID: b"\x01"})
        with pytest.raises(errors.ActionProhibited):
            lib.destroy_object(session, public)
        assert len(_find(lib, session, {CKA.CLASS: CKO.PUBLIC_KEY, CKA.ID: b"\x01"})) == 1


@pytest.mark.parametrize(("firmware", "rsa_max", "eddsa"), [("5.7.2", 4096, True), ("5.4.3", 2048, False)])
def test_the_mechanism_table_is_the_firmwares(virtual_card_factory: Callable[..., Any], tmp_path: Path,
                                              firmware: str, rsa_max: int, eddsa: bool) -> None:
    """C_SignInit settled its mechanism without the version; the table still tells the
    firmware's sizes and algorithms."""
    card = _provisioned(virtual_card_factory, tmp_path, firmware)
    with _session(card) as (lib, slot, session):
        (key,) = _find(lib, session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: b"\x01"})
        lib.sign_init(session, CKM.SHA256_RSA_PKCS, key)
        lib.sign(session, b"settled")
        mechanisms, rsa_info = lib.get_mechanism_list(slot), lib.get_mechanism_info(slot, CKM.RSA_PKCS)
        assert (rsa_info.min_key_size, rsa_info.max_key_size) == (1024, rsa_max)
        assert (CKM.EDDSA in mechanisms) is eddsa
        assert (CKM.EC_MONTGOMERY_KEY_PAIR_GEN in mechanisms) is eddsa
        assert CKM.ECDSA_SHA256 in mechanisms
        if not eddsa:
            with pytest.raises(errors.MechanismInvalid):
                lib.get_mechanism_info(slot, CKM.EDDSA)
