"""One card, one slot per applet: the engine over the in-process virtual YubiKey
(PIV and OpenPGP, both with keys) and over a plain OpenPGP card. Each slot has its
own token, login state and sessions; using one after the other re-selects on the
card; the card leaving closes both."""

from __future__ import annotations

import hashlib
from typing import Any, Iterator, Tuple

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from engine_support import RO, RW

from cardki import CKA, CKM, CKO, CKU, Cryptoki, errors
from cardki.constants import SlotFlag, WaitFlag
from cardki.slot import SlotManager
from hwsim.openpgp_card import VirtualOpenPgpCard
from hwsim.yubikey import VirtualYubiKey
from provisioning import OPENPGP_ADMIN, OPENPGP_PIN, PIN, provision, provision_openpgp


class Rig:
    def __init__(self, card: Any) -> None:
        self.card = card
        self.manager = SlotManager(virtual_fallback=lambda: card, use_pcsc=False)
        self.lib = Cryptoki(slot_manager=self.manager)
        self.lib.initialize()

    def key(self, session: int, object_class: int, key_id: bytes) -> int:
        self.lib.find_objects_init(session, {CKA.CLASS: object_class, CKA.ID: key_id})
        try:
            (handle,) = self.lib.find_objects(session, 2)
        finally:
            self.lib.find_objects_final(session)
        return handle


@pytest.fixture
def yubikey() -> Iterator[Tuple[Rig, dict, dict]]:
    card = VirtualYubiKey()
    piv_keys = provision(card)
    openpgp_keys = provision_openpgp(card, "rsa")
    rig = Rig(card)
    yield rig, piv_keys, openpgp_keys
    rig.lib.finalize()


def ecdsa_der(raw: bytes) -> bytes:
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def test_a_yubikey_is_two_slots_the_reader_s_and_its_openpgp_one(yubikey: Tuple[Rig, dict, dict]) -> None:
    rig, _, _ = yubikey
    piv, openpgp = rig.lib.get_slot_list(True)
    assert rig.lib.get_slot_list(False) == [piv, openpgp]
    reader = rig.lib.get_slot_info(piv).slot_description
    assert rig.lib.get_slot_info(openpgp).slot_description == f"{reader} (OpenPGP)"
    assert rig.lib.get_slot_info(openpgp).flags & SlotFlag.TOKEN_PRESENT
    assert rig.lib.get_token_info(piv).label == "YubiKey PIV #12345678"
    assert rig.lib.get_token_info(openpgp).label == "YubiKey OpenPGP #12345678"
    assert CKM.RSA_PKCS_PSS in rig.lib.get_mechanism_list(piv)
    assert CKM.RSA_PKCS_PSS not in rig.lib.get_mechanism_list(openpgp)  # the card cannot
    with pytest.raises(errors.MechanismInvalid):
        rig.lib.get_mechanism_info(openpgp, CKM.RSA_PKCS_OAEP)


def test_each_slot_has_its_own_login_and_sessions(yubikey: Tuple[Rig, dict, dict]) -> None:
    rig, piv_keys, openpgp_keys = yubikey
    piv, openpgp = rig.lib.get_slot_list(True)
    a, b = rig.lib.open_session(piv, RO), rig.lib.open_session(openpgp, RO)
    rig.lib.login(a, CKU.USER, PIN)
    assert (rig.lib.get_session_info(a).state, rig.lib.get_session_info(b).state) == (1, 0)  # RO user / RO public
    rig.lib.find_objects_init(b, {CKA.CLASS: CKO.PRIVATE_KEY})
    assert rig.lib.find_objects(b, 10) == []  # the OpenPGP application is not logged in
    rig.lib.find_objects_final(b)
    rig.lib.login(b, CKU.USER, OPENPGP_PIN)
    messages = [b"PIV first", b"then OpenPGP", b"PIV again", b"OpenPGP again"]
    for turn, message in enumerate(messages):
        session, key_id = (a, b"\x01") if turn % 2 == 0 else (b, b"\x01")
        rig.lib.sign_init(session, CKM.SHA256_RSA_PKCS, rig.key(session, CKO.PRIVATE_KEY, key_id))
        signature = rig.lib.sign(session, message)
        public = (piv_keys[0x9A] if session == a else openpgp_keys["sig"]).public_key()
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    rig.lib.logout(a)
    assert rig.lib.get_session_info(b).state == 1  # the OpenPGP slot's login stays
    rig.lib.close_session(b)  # the slot's last session: its application logs out
    b = rig.lib.open_session(openpgp, RW)
    rig.lib.login(b, CKU.SO, OPENPGP_ADMIN)  # SO on the OpenPGP slot while PIV is in use
    rig.lib.login(a, CKU.USER, PIN)
    assert (rig.lib.get_session_info(a).state, rig.lib.get_session_info(b).state) == (1, 4)


def test_the_decryption_key_decrypts_and_the_pw1_once_key_wants_the_pin_again() -> None:
    card = VirtualOpenPgpCard()
    keys = provision_openpgp(card, "rsa", pw1_once=True)
    rig = Rig(card)
    try:
        (slot,) = rig.lib.get_slot_list(True)
        assert rig.lib.get_slot_info(slot).slot_description == rig.manager.slots()[0].reader_name
        session = rig.lib.open_session(slot, RO)
        rig.lib.login(session, CKU.USER, OPENPGP_PIN)
        dec = rig.key(session, CKO.PRIVATE_KEY, b"\x02")
        ciphertext = keys["dec"].public_key().encrypt(b"for the decryption key", padding.PKCS1v15())
        rig.lib.decrypt_init(session, CKM.RSA_PKCS, dec)
        assert rig.lib.decrypt(session, ciphertext) == b"for the decryption key"
        sig = rig.key(session, CKO.PRIVATE_KEY, b"\x01")
        assert rig.lib.get_attribute_value(session, sig, [CKA.ALWAYS_AUTHENTICATE])[CKA.ALWAYS_AUTHENTICATE]
        rig.lib.sign_init(session, CKM.SHA256_RSA_PKCS, sig)
        with pytest.raises(errors.UserNotLoggedIn):
            rig.lib.sign(session, b"without the PIN again")
        for message in (b"once", b"twice"):
            rig.lib.sign_init(session, CKM.SHA256_RSA_PKCS, sig)
            rig.lib.login(session, CKU.CONTEXT_SPECIFIC, OPENPGP_PIN)
            keys["sig"].public_key().verify(rig.lib.sign(session, message), message, padding.PKCS1v15(),
                                            hashes.SHA256())
        aut = rig.key(session, CKO.PRIVATE_KEY, b"\x03")
        rig.lib.sign_init(session, CKM.ECDSA_SHA256, aut)  # the authentication key: no second PIN
        keys["aut"].public_key().verify(ecdsa_der(rig.lib.sign(session, b"aut")), b"aut", ec.ECDSA(hashes.SHA256()))
    finally:
        rig.lib.finalize()


def test_the_card_leaving_closes_the_sessions_of_both_slots(yubikey: Tuple[Rig, dict, dict]) -> None:
    rig, _, _ = yubikey
    piv, openpgp = rig.lib.get_slot_list(True)
    a, b = rig.lib.open_session(piv, RO), rig.lib.open_session(openpgp, RO)
    rig.lib.login(b, CKU.USER, OPENPGP_PIN)
    while True:
        try:
            rig.lib.wait_for_slot_event(WaitFlag.DONT_BLOCK)
        except errors.NoEvent:
            break
    virtual = rig.manager.virtual_slot
    assert virtual is not None
    virtual.remove()
    assert rig.lib.get_slot_list(True) == []
    assert rig.lib.get_slot_list(False) == [piv]  # the OpenPGP slot is listed while a card has it
    for session in (a, b):
        with pytest.raises(errors.SessionHandleInvalid):
            rig.lib.get_session_info(session)
    with pytest.raises(errors.TokenNotPresent):
        rig.lib.open_session(openpgp, RO)
    assert not rig.lib.get_slot_info(openpgp).flags & SlotFlag.TOKEN_PRESENT  # its id stays valid
    virtual.insert()
    assert rig.lib.get_slot_list(True) == [piv, openpgp]  # the same ids again
    session = rig.lib.open_session(openpgp, RO)
    rig.lib.login(session, CKU.USER, OPENPGP_PIN)
    digest = hashlib.sha256(b"after re-insertion").digest()
    rig.lib.sign_init(session, CKM.RSA_PKCS, rig.key(session, CKO.PRIVATE_KEY, b"\x01"))
    assert len(rig.lib.sign(session, bytes.fromhex("3031300d060960864801650304020105000420") + digest)) == 256


def test_an_applet_slot_id_from_another_listing_works_without_c_getslotlist() -> None:
    """A caller that keeps a slot id from another process listing the same cards (the
    CLI's --slot N) may use it before C_GetSlotList: the table lists once to find it."""
    card = VirtualYubiKey()
    provision_openpgp(card)
    first = Rig(card)
    _, openpgp = first.lib.get_slot_list(True)
    first.lib.finalize()
    again = Rig(card)
    try:
        assert again.lib.get_token_info(openpgp).label == "YubiKey OpenPGP #12345678"
        assert again.lib.get_slot_info(openpgp).slot_description.endswith(" (OpenPGP)")
    finally:
        again.lib.finalize()
