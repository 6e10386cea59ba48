"""APDU budget to the first signature through pcscd, counted by the card: what a
PKCS#11 client does first (slot list, open session, log in, find the key by
class and CKA_ID, sign) must not read the whole card. It used to cost 65 APDUs
(all 25 certificate containers, 25 GET METADATA, 9 data objects); a find that
names CKA_ID now reads only that slot, so a regression shows up here."""

from __future__ import annotations

from typing import Any

import pytest

from cardki import CKA, CKM, CKO, CKU, Cryptoki
from cardki.constants import SessionFlag
from provisioning import PIN

pytestmark = pytest.mark.sim

#: SELECT, GET VERSION, GET SERIAL (token detection) + VERIFY (login) + SELECT, VERIFY
#: (the SELECT drops the PIN status), certificate container, GET METADATA (slot 9a) +
#: GENERAL AUTHENTICATE (the signature).
FIRST_SIGNATURE_APDUS = 3 + 1 + 4 + 1


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
