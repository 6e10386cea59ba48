"""What the token layer knows of each applet it drives: one :class:`AppletDriver`
per applet, listed in :mod:`cardki.token.registry`, whose order detection walks."""

from __future__ import annotations

from typing import Callable, Tuple

from .base import SlotRecord
from .profiles import ProfileSchema
from .sharing import CardToken, SharedCard


class Detected(SlotRecord):
    """An applet detection found on the card: its token, and the profiles of further
    applets the card carries for sure (the matched profile's ``also_carries``). A plain
    class, as AppletDriver is: each named tuple costs a process's first card use
    0.1 to 0.3 ms to make."""

    __slots__ = ("token", "also_carries")

    def __init__(self, token: CardToken, also_carries: Tuple[str, ...] = ()) -> None:
        self.token = token
        self.also_carries = also_carries


class AppletDriver(SlotRecord):
    """One applet: its name in profiles, its name for people, its profile schema, and
    how to find it on a card.

    ``load_schema`` gives the schema (:mod:`cardki.token.profiles` asks for it when it
    first reads a profile of the applet: PIV detection reads no OpenPGP profile, so a
    card used through PIV alone never imports OpenPGP's profile module).

    ``detect`` runs inside the caller's PC/SC transaction: SELECT and the profiles'
    probes; it returns None when the card does not answer the applet's SELECT (any
    other failure propagates) and records on the :class:`SharedCard` which applet it
    left selected and what it learnt of the device. ``carried`` makes the token of an
    applet another applet's profile says the card carries, without an APDU, from the
    profile it names (or a stand-in that builds it at its first use:
    :class:`~cardki.token.deferred.DeferredToken`). OpenPGP's driver imports its token
    module only inside these two, so a card used through PIV alone never loads it."""

    __slots__ = ("applet", "name", "load_schema", "detect", "carried")

    def __init__(self, *, applet: str, name: str, load_schema: Callable[[], ProfileSchema],
                 detect: Callable[[SharedCard], Detected | None], carried: Callable[[SharedCard, str], CardToken]) -> None:
        self.applet = applet
        self.name = name
        self.load_schema = load_schema
        self.detect = detect
        self.carried = carried


__all__ = ["AppletDriver", "Detected"]
