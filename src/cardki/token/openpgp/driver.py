"""Finding the OpenPGP application on a card: SELECT its AID. Which profile fits
(the AID's manufacturer, a YubiKey's firmware) is the token's first operation's
to find out, from DO 6E, so detection costs one APDU.

This module loads none of the driver (:mod:`.application` only): the token
module is imported when a plain OpenPGP card is detected, and for the OpenPGP
application a YubiKey's PIV profile names (no APDU at detection) when its
:class:`CarriedOpenPgpToken` is first used; the profile module and the profile
that PIV profile names are read then too, or when a profile of the applet is
first checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cardki.apdu import ApduError, SmartCardProtocol

from ..applet import AppletDriver, Detected
from ..deferred import DeferredToken
from ..sharing import CardToken, SharedCard
from .application import APPLET, APPLET_NAME, select

if TYPE_CHECKING:
    from ..profiles import ProfileSchema
    from .profile import OpenPgpProfile
    from .token import OpenPgpToken


class CarriedOpenPgpToken(DeferredToken["OpenPgpToken"]):
    """The OpenPGP token of a card another applet's profile says carries it, built at
    its first use (:mod:`cardki.token.deferred`) with the profile that one names
    (``profile_name``: loaded then, unresolved, as the firmware version may not be read yet)."""

    applet = APPLET
    applet_name = APPLET_NAME
    others_keep_selected = True  # as OpenPgpToken's: gpg's scdaemon expects it to stay selected

    def __init__(self, card: SharedCard, profile_name: str) -> None:
        super().__init__(card)
        self.profile_name = profile_name

    @property
    def profile(self) -> OpenPgpProfile:
        """The profile named for it, unresolved (read at the first ask)."""
        from .profile import load_openpgp_profile

        return load_openpgp_profile(self.profile_name)

    def _select_applet(self) -> None:
        """SELECT, to give the card back to another program that had the application
        selected (what :class:`OpenPgpToken` sends; the verified state it drops is
        nobody's here: only the built token verifies)."""
        select(SmartCardProtocol(self.transport))

    def _build(self) -> OpenPgpToken:
        from .token import OpenPgpToken  # the driver: card commands, parsers, serialization

        # The profile resolved for the firmware another token read (detection's probe, or
        # the PIV token's first need); none read yet: the token resolves it with the
        # version it reads itself (GET VERSION) at its first operation.
        version = self.shared.version
        if version is None:
            return OpenPgpToken(self.shared, None, replacing=self, unresolved=self.profile)
        return OpenPgpToken(self.shared, self.profile.for_firmware(version), replacing=self)


def detect(card: SharedCard) -> Detected | None:
    """The OpenPGP token of the card, or None when the application does not answer
    SELECT (or answers it terminated: only a factory reset brings it back)."""
    try:
        select(SmartCardProtocol(card.transport))
    except ApduError:
        return None
    from .token import OpenPgpToken  # a card whose reader slot is the OpenPGP token's: it is used at once

    card.selected = APPLET
    return Detected(OpenPgpToken(card))


def carried(card: SharedCard, profile: str) -> CardToken:
    """The OpenPGP token of a card another applet's profile says carries it (a
    YubiKey's PIV profile), built at its first use."""
    return CarriedOpenPgpToken(card, profile)


def _schema() -> ProfileSchema:
    from .profile import OPENPGP_SCHEMA

    return OPENPGP_SCHEMA


OPENPGP_DRIVER = AppletDriver(applet=APPLET, name=APPLET_NAME, load_schema=_schema, detect=detect, carried=carried)

__all__ = ["OPENPGP_DRIVER", "CarriedOpenPgpToken", "carried", "detect"]
