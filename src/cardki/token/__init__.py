"""Tokens: card applets as the Cryptoki engine sees them.

:func:`open_tokens` finds out which applets a card carries and which profile fits
each, and returns their :class:`Token` s (none for a card cardki does not know,
which the engine reports as CKR_TOKEN_NOT_RECOGNIZED); the engine shows each in a
slot of its own. What every token shares is here (:mod:`.sharing`, :mod:`.attributes`,
:mod:`.card_errors`, :mod:`.card_results`, :mod:`.profiles`); each applet is a
folder (:mod:`.piv`, :mod:`.openpgp`) with an entry in :mod:`.registry`.

:class:`OpenPgpToken` is loaded when first named: a YubiKey's OpenPGP token is
built at its first use (:mod:`.deferred`), and a host that only uses its PIV
token never loads the OpenPGP driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cardki.transport import CardTransport

from .base import MechanismInfo, Token, TokenInfo, TokenObject
from .piv import PivToken
from .piv.profile import PivProfile as Profile
from .profiles import candidates, load_profile
from .registry import DRIVERS, open_tokens

if TYPE_CHECKING:
    from .openpgp.token import OpenPgpToken

__all__ = ["open_token", "open_tokens", "DRIVERS", "Token", "TokenInfo", "TokenObject", "MechanismInfo",
           "PivToken", "OpenPgpToken", "Profile", "load_profile", "candidates"]


def __getattr__(name: str) -> Any:
    if name == "OpenPgpToken":
        from .openpgp.token import OpenPgpToken

        return OpenPgpToken
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_token(transport: CardTransport) -> Token | None:
    """The first token of :func:`open_tokens` (the reader slot's), or None: for callers
    that drive one applet (the others found are released)."""
    tokens = open_tokens(transport)
    for extra in tokens[1:]:
        extra.close()
    return tokens[0] if tokens else None
