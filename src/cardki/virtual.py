"""The virtual card policy: when cardki shows an in-process virtual YubiKey, and how it is made.

The one module of cardki that knows the simulator (hwsim): the Python API, the
C layer and the CLI all make their virtual card and its slot source here, so
the engine, the slot layer and the tokens never import it.

Modes (:class:`VirtualMode`): ``OFF`` shows the readers only; ``FALLBACK`` adds
the virtual card as one more slot whenever no reader has a card (also when
pcscd is not running); ``ONLY`` shows the virtual card alone and never touches
PC/SC. A virtual card may live in a state file (:class:`VirtualCardFile`): its
keys and PINs survive the process. The Python API and the CLI save it when they
close; the C module, whose host may exit without C_Finalize, drives the card
through :meth:`VirtualCardFile.saved_on_change`, which writes it after every
command that changed it (:func:`state_file_slot_source_factory`).
"""

from __future__ import annotations

import os
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable

from .log import get_logger

if TYPE_CHECKING:
    from .cryptoki.ports import SlotSource
    from .slot.inprocess import EmulatedCard


logger = get_logger(__name__)

#: What a command whose change could not be written answers: 6581, memory failure.
_MEMORY_FAILURE = b"\x65\x81"


class VirtualMode(Enum):
    """Whether, and how, the in-process virtual card is shown."""

    OFF = "off"
    FALLBACK = "fallback"
    ONLY = "only"


class VirtualStateError(Exception):
    """The file that keeps the virtual card cannot be read, is not a card this version
    understands, or cannot be written; the message names the file and says what is
    wrong (never what the file holds: it has the card's keys and PINs)."""


def new_virtual_card() -> EmulatedCard:
    """A factory-fresh virtual YubiKey (firmware 5.7.2, the simulator's default)."""
    from hwsim.yubikey import VirtualYubiKey
    return VirtualYubiKey()


class VirtualCardFile:
    """A virtual YubiKey kept in ``path``: loaded now (a missing file is a factory-new
    card), saved by :meth:`save_if_changed`. Errors are :class:`VirtualStateError`."""

    def __init__(self, path: str) -> None:
        from hwsim.statefile import StateError, StateKeeper, load_state
        from hwsim.yubikey import VirtualYubiKey

        self.path = os.path.expanduser(str(path))
        try:
            state = load_state(self.path)
            self.card: EmulatedCard = VirtualYubiKey(state=state)
        except OSError as error:
            why = f"cannot be read: {error.strerror or error}"
        except StateError as error:
            why = f"cannot be used: {error}"
        except Exception:  # noqa: BLE001 - a field missing or of the wrong kind; its text may quote the file
            why = "cannot be used: it is not a complete virtual YubiKey state"
        else:
            self._keeper = StateKeeper(self.path)
            if state is not None:
                self._keeper.mark_saved(self.card)
            return
        raise VirtualStateError(f"the virtual card state {self.path} {why}")

    def save_if_changed(self) -> None:
        """Write the card (atomically: temporary file, fsync, rename; readable by its
        owner only) if it changed since it was loaded or last saved."""
        try:
            self._keeper.save_if_changed(self.card)
        except OSError as error:
            raise VirtualStateError(f"the virtual card was not saved to {self.path}: "
                                    f"{error.strerror or error}") from error

    def saved_on_change(self) -> EmulatedCard:
        """The card as a reader drives it, written to the file after every command that
        changed it (as a YubiKey writes its flash before it answers). A command whose
        change cannot be written answers 6581 (memory failure) instead of success, so
        the caller learns it (the module answers CKR_DEVICE_ERROR); the failure is
        logged with the file's name and why, never with the card's contents."""
        return _SavedOnChange(self)


class _SavedOnChange:
    """An :class:`~cardki.slot.inprocess.EmulatedCard` that saves its card's file
    after each command that changed the card."""

    def __init__(self, state_file: VirtualCardFile) -> None:
        self._file = state_file
        self._card = state_file.card

    @property
    def atr(self) -> bytes:
        return self._card.atr

    def power_on(self) -> None:
        self._card.power_on()

    def power_off(self) -> None:
        self._card.power_off()

    def reset(self) -> None:
        self._card.reset()

    def execute(self, apdu: bytes) -> bytes:
        response = self._card.execute(apdu)
        try:
            self._file.save_if_changed()
        except VirtualStateError as failed:
            logger.warning("%s", failed)
            if response[-2:] == b"\x90\x00" or response[-2:-1] == b"\x61":
                return _MEMORY_FAILURE
        return response


def attestation_root(card: Any) -> bytes | None:
    """The DER root certificate a virtual YubiKey's attestations chain to (the
    simulator's own CA, made with the card), or None for a card without one. A real
    YubiKey's chain ends at Yubico's PIV root CA instead."""
    piv = getattr(card, "piv", None)
    root = getattr(piv, "attestation_root", None) if piv is not None else None
    if root is None:
        return None
    from cryptography.hazmat.primitives.serialization import Encoding

    return bytes(root.public_bytes(Encoding.DER))


def slot_source_factory(mode: VirtualMode,
                        card_factory: Callable[[], Any] | None = None) -> Callable[[], SlotSource]:
    """What the engine calls at each C_Initialize to get its slots under ``mode``;
    ``card_factory`` makes the virtual card (by default a factory-fresh YubiKey)."""
    make_card = card_factory or new_virtual_card

    def make() -> SlotSource:
        from .slot.manager import SlotManager

        if mode is VirtualMode.OFF:
            return SlotManager()
        return SlotManager(virtual_fallback=make_card, use_pcsc=mode is VirtualMode.FALLBACK)

    return make


def state_file_slot_source_factory(mode: VirtualMode, path: str) -> Callable[[], SlotSource]:
    """:func:`slot_source_factory` for a virtual card kept in ``path`` (the C module's
    ``CARDKI_VIRTUAL_STATE``): the file is read at each C_Initialize, so another
    process's changes are seen, and the card is saved after every command that
    changed it (:meth:`VirtualCardFile.saved_on_change`). A file that cannot be used
    raises :class:`VirtualStateError` when the engine asks for its slots."""

    def make() -> SlotSource:
        card = VirtualCardFile(path).saved_on_change()
        return slot_source_factory(mode, lambda: card)()

    return make


__all__ = ["VirtualMode", "VirtualStateError", "VirtualCardFile", "attestation_root", "new_virtual_card",
           "slot_source_factory", "state_file_slot_source_factory"]
