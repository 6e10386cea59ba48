"""What the engine needs from the layers below it, as types the checker can see.

The engine never imports the slot layer (pyscard) or a token implementation:
it is handed a :class:`SlotSource` (readers as slots; :class:`cardki.slot.manager.SlotManager`
is one) and a :data:`TokenFactory` (a card's transport -> the tokens of its
applets; :func:`cardki.token.open_tokens` is one). Tests hand it fakes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol, Sequence

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

    def reserve_slot_id(self) -> int:
        """A slot id of the source's numbering that no reader has or will get: the
        engine's slot for a further applet of the card in a reader."""

    def wait_for_slot_event(self, block: bool = True, timeout: float | None = None) -> int | None:
        """The id of a slot whose presence changed, or None (no event within ``timeout``)."""

    def cancel(self) -> None:
        """End every blocked wait, for good."""

    def close(self) -> None:
        """Release the PC/SC context and every connection."""


#: A card's transport -> the tokens of its applets cardki knows, the reader's slot's
#: first; none for a card no profile knows (they share the transport).
TokenFactory = Callable[["CardTransport"], Sequence["Token"]]

__all__ = ["SlotEntryView", "SlotSource", "TokenFactory"]
