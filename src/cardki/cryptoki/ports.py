"""What the engine needs from the layers below it, as types the checker can see.

The engine never imports the slot layer (pyscard) or a token implementation:
it is handed a :class:`SlotSource` (readers as slots; :class:`cardki.slot.manager.SlotManager`
is one) and a :data:`TokenFactory` (a card's transport -> the token for its
applet; :func:`cardki.token.open_token` is one). Tests hand it fakes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Protocol, Sequence

if TYPE_CHECKING:
    from ..token.base import Token
    from ..transport import CardTransport


class SlotEntryView(Protocol):
    """One slot as the slot source lists it."""

    @property
    def id(self) -> int: ...

    @property
    def reader_name(self) -> str: ...

    @property
    def card_present(self) -> bool: ...

    @property
    def virtual(self) -> bool: ...


class SlotSource(Protocol):
    """Readers as slots, with card presence and events (PKCS#11's slot model).

    Errors are :mod:`cardki.transport`'s: SlotError for "cannot tell",
    CardRemovedError when the card is gone, WaitCancelledError when a wait ends
    because :meth:`cancel` was called."""

    def slots(self) -> Sequence[SlotEntryView]:
        """Every slot now, with presence (readers that appeared are listed)."""

    def slot(self, slot_id: int) -> SlotEntryView:
        """One slot; SlotError if the reader is gone."""

    def connect(self, slot_id: int) -> CardTransport:
        """A shared connection to the card in the slot."""

    def card_generation(self, slot_id: int) -> int:
        """Changes whenever a card is inserted into the slot (tells one insertion from the next)."""

    def wait_for_slot_event(self, block: bool = True, timeout: float | None = None) -> int | None:
        """The id of a slot whose presence changed, or None (no event within ``timeout``)."""

    def cancel(self) -> None:
        """End every blocked wait, for good."""

    def close(self) -> None:
        """Release the PC/SC context and every connection."""


#: A card's transport -> the token for its applet, or None for a card no profile knows.
TokenFactory = Callable[["CardTransport"], Optional["Token"]]

__all__ = ["SlotEntryView", "SlotSource", "TokenFactory"]
