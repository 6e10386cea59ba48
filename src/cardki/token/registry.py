"""The applets cardki drives, in the order detection tries them, and detection itself.

:func:`open_tokens` walks :data:`DRIVERS`: each driver's ``detect`` SELECTs its
applet and probes it; an applet whose profile a previous one named in
``also_carries`` (a YubiKey's PIV profile names its OpenPGP profile) gets its token
without an APDU (OpenPGP's is built at its first use, :mod:`.deferred`). The order is the slot order too: the first token found takes the
reader's slot, every further one a slot of its own (:mod:`cardki.cryptoki.slots`).
PIV comes first, as in OpenSC, so a YubiKey's PIV token keeps the reader's slot
and its APDU budget.

A new applet is a folder with its card, profile, token and driver modules, and one
entry here.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

from cardki import errors
from cardki.apdu import MalformedResponseError
from cardki.transport import CardResetError, CardTransport, SlotError

from .applet import AppletDriver
from .base import Token
from .openpgp.driver import OPENPGP_DRIVER
from .piv.driver import PIV_DRIVER
from .profiles import profile_applet
from .sharing import CardToken, SharedCard

#: Every applet cardki drives, in detection (and slot) order.
DRIVERS: Tuple[AppletDriver, ...] = (PIV_DRIVER, OPENPGP_DRIVER)


def _detect(card: SharedCard) -> List[CardToken]:
    tokens: List[CardToken] = []
    carried: Dict[str, str] = {}  # applet -> the profile another applet's profile names for it
    for driver in DRIVERS:
        if driver.applet in carried:
            tokens.append(driver.carried(card, carried[driver.applet]))
            continue
        found = driver.detect(card)
        if found is None:
            continue
        tokens.append(found.token)
        for name in found.also_carries:
            carried.setdefault(profile_applet(name), name)
    return tokens


def open_tokens(transport: CardTransport) -> List[Token]:
    """The tokens of the card behind ``transport``, one per applet cardki knows on it,
    sharing the connection (empty when it knows none: CKR_TOKEN_NOT_RECOGNIZED).

    Costs the SELECTs and probes of :data:`DRIVERS`, in one transaction (a YubiKey
    over USB: SELECT PIV, as its ATR names it, or SELECT and GET VERSION with another
    ATR; nothing for its OpenPGP application, which its profile names; a plain OpenPGP card: SELECT PIV, refused, and SELECT
    OpenPGP). Card I/O failures other than "not this applet" propagate as slot-layer
    exceptions; an answer that breaks the protocol (no status word, a response chain
    without end, a short version) raises :class:`errors.DeviceError`."""
    for attempt in range(2):
        card = SharedCard(transport)
        try:
            with transport.transaction():
                return list(_detect(card))
        except CardResetError:
            if attempt:
                raise
        except SlotError:
            raise
        except MalformedResponseError as error:
            raise errors.DeviceError(str(error)) from None
    return []


__all__ = ["DRIVERS", "open_tokens"]
