"""Tokens: card applets as the Cryptoki engine sees them.

:func:`open_tokens` finds out which applets a card carries and which profile fits
each, and returns their :class:`Token` s (none for a card cardki does not know,
which the engine reports as CKR_TOKEN_NOT_RECOGNIZED); the engine shows each in a
slot of its own. What every token shares is here (:mod:`.sharing`, :mod:`.attributes`,
:mod:`.card_errors`, :mod:`.card_results`, :mod:`.profiles`); each applet is a
folder (:mod:`.piv`, :mod:`.openpgp`) with an entry in :mod:`.registry`.
"""

from __future__ import annotations

from cardki.transport import CardTransport

from .base import MechanismInfo, Token, TokenInfo, TokenObject
from .openpgp.token import OpenPgpToken
from .piv import PivToken
from .piv.profile import PivProfile as Profile
from .profiles import candidates, load_profile
from .registry import DRIVERS, open_tokens

__all__ = ["open_token", "open_tokens", "DRIVERS", "Token", "TokenInfo", "TokenObject", "MechanismInfo",
           "PivToken", "OpenPgpToken", "Profile", "load_profile", "candidates"]


def open_token(transport: CardTransport) -> Token | None:
    """The first token of :func:`open_tokens` (the reader slot's), or None: for callers
    that drive one applet (the others found are released)."""
    tokens = open_tokens(transport)
    for extra in tokens[1:]:
        extra.close()
    return tokens[0] if tokens else None
