"""Finding the OpenPGP application on a card: SELECT its AID. Which profile fits
(the AID's manufacturer, a YubiKey's firmware) is the token's first operation's
to find out, from DO 6E, so detection costs one APDU."""

from __future__ import annotations

from cardki.apdu import ApduError, SmartCardProtocol

from ..applet import AppletDriver, Detected
from ..sharing import CardToken, SharedCard
from .card import OpenPgpCard
from .profile import OPENPGP_SCHEMA, load_openpgp_profile
from .token import OpenPgpToken


def detect(card: SharedCard) -> Detected | None:
    """The OpenPGP token of the card, or None when the application does not answer
    SELECT (or answers it terminated: only a factory reset brings it back)."""
    try:
        OpenPgpCard(SmartCardProtocol(card.transport)).select()
    except ApduError:
        return None
    card.selected = OpenPgpToken.applet
    return Detected(OpenPgpToken(card))


def carried(card: SharedCard, profile: str) -> CardToken:
    """The OpenPGP token of a card another applet's profile says carries it (a
    YubiKey's PIV profile): its profile resolved for the firmware detection read."""
    return OpenPgpToken(card, load_openpgp_profile(profile).for_firmware(card.version))


OPENPGP_DRIVER = AppletDriver(applet=OpenPgpToken.applet, name=OpenPgpToken.applet_name, schema=OPENPGP_SCHEMA,
                              detect=detect, carried=carried)

__all__ = ["OPENPGP_DRIVER", "carried", "detect"]
