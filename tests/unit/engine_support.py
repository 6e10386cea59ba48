"""Shared set-up for the engine tests: the real engine over the real PIV token
over an in-process virtual YubiKey (no pcscd), with the test keys provisioned.

``EngineRig`` bundles the library, the in-process slot (to pull or reset the
card) and the host-side private keys (to check signatures independently).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List

from cardki import CKA, CKO, Cryptoki
from cardki.constants import SessionFlag
from cardki.slot import InProcessSlot, SlotManager
from provisioning import MANAGEMENT_KEY, PIN, provisioned_yubikey  # noqa: F401  (re-exported)

RO = SessionFlag.SERIAL_SESSION
RW = SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION


@dataclass
class EngineRig:
    lib: Cryptoki
    manager: SlotManager
    card: Any
    keys: Dict[int, Any]

    @property
    def slot_id(self) -> int:
        """The virtual reader's slot (listed with or without a card)."""
        return self.lib.get_slot_list(False)[0]

    @property
    def reader(self) -> InProcessSlot:
        slot = self.manager.virtual_slot
        assert slot is not None
        return slot

    @property
    def apdus(self) -> int:
        """APDUs the card has answered so far (to show that a call did not reach the card)."""
        return self.reader.apdu_count

    def open(self, flags: int = RO) -> int:
        return self.lib.open_session(self.slot_id, flags)

    def find(self, session: int, template: Dict[int, Any]) -> List[int]:
        self.lib.find_objects_init(session, template)
        try:
            return self.lib.find_objects(session, 1000)
        finally:
            self.lib.find_objects_final(session)

    def key(self, session: int, object_class: int, key_id: bytes) -> int:
        (handle,) = self.find(session, {CKA.CLASS: object_class, CKA.ID: key_id})
        return handle

    def private_key(self, session: int, key_id: bytes) -> int:
        return self.key(session, CKO.PRIVATE_KEY, key_id)

    def public_key(self, session: int, key_id: bytes) -> int:
        return self.key(session, CKO.PUBLIC_KEY, key_id)


def make_rig() -> EngineRig:
    card, keys = provisioned_yubikey()
    manager = SlotManager(virtual_fallback=lambda: card, use_pcsc=False)
    lib = Cryptoki(slot_manager=manager)
    lib.initialize()
    return EngineRig(lib, manager, card, keys)
