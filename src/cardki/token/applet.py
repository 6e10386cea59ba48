"""What the token layer knows of each applet it drives: one :class:`AppletDriver`
per applet, listed in :mod:`cardki.token.registry`, whose order detection walks."""

from __future__ import annotations

from typing import Callable, NamedTuple, Tuple

from .profiles import ProfileSchema
from .sharing import CardToken, SharedCard


class Detected(NamedTuple):
    """An applet detection found on the card: its token, and the profiles of further
    applets the card carries for sure (the matched profile's ``also_carries``)."""

    token: CardToken
    also_carries: Tuple[str, ...] = ()


class AppletDriver(NamedTuple):
    """One applet: its name in profiles, its name for people, its profile schema, and
    how to find it on a card.

    ``detect`` runs inside the caller's PC/SC transaction: SELECT and the profiles'
    probes; it returns None when the card does not answer the applet's SELECT (any
    other failure propagates) and records on the :class:`SharedCard` which applet it
    left selected and what it learnt of the device. ``carried`` makes the token of an
    applet another applet's profile says the card carries, without an APDU, from the
    profile it names (or a stand-in that builds it at its first use:
    :class:`~cardki.token.deferred.DeferredToken`). OpenPGP's driver imports its token
    module only inside these two, so a card used through PIV alone never loads it."""

    applet: str
    name: str
    schema: ProfileSchema
    detect: Callable[[SharedCard], Detected | None]
    carried: Callable[[SharedCard, str], CardToken]


__all__ = ["AppletDriver", "Detected"]
