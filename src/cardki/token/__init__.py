"""Tokens: card applets as the Cryptoki engine sees them.

:func:`open_token` finds out which applet a card carries and which profile
fits it, and returns the matching :class:`Token` (or None for a card cardki
does not know, which the engine reports as CKR_TOKEN_NOT_RECOGNIZED).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from cardki import errors
from cardki.apdu import ApduError, MalformedResponseError, SmartCardProtocol
from cardki.transport import CardResetError, CardTransport, SlotError

from .base import MechanismInfo, Token, TokenInfo, TokenObject
from .piv import PivToken
from .piv.card import PivCard
from .profiles import Probe, Profile, candidates, load_profile

logger = logging.getLogger(__name__)

__all__ = ["open_token", "detect_profile", "Token", "TokenInfo", "TokenObject", "MechanismInfo",
           "PivToken", "Profile", "load_profile", "candidates"]


def _probe(card: PivCard, profile: Profile) -> Dict[str, Any] | None:
    """Run the profile's vendor probe on the selected applet: facts about the card, or None."""
    if profile.probe is Probe.NONE:
        return {}
    try:
        version = card.get_version()
    except ApduError:
        return None
    facts: Dict[str, Any] = {"version": version}
    if profile.for_firmware(version).features.serial:
        try:
            facts["serial"] = card.get_serial()
        except ApduError:
            pass
    return facts


def detect_profile(transport: CardTransport) -> tuple | None:
    """(resolved profile, facts) for the card, trying applets and profiles in
    priority order; None when no profile's applet answers SELECT."""
    protocol = SmartCardProtocol(transport)
    by_aid: Dict[bytes, List[Profile]] = {}
    for profile in candidates():
        by_aid.setdefault(profile.aid, []).append(profile)
    for aid, profiles in by_aid.items():
        card = PivCard(protocol, aid)
        try:
            card.select()
        except ApduError:
            continue
        for profile in profiles:
            if profile.applet != "piv":
                continue  # only PIV tokens exist so far
            facts = _probe(card, profile)
            if facts is not None:
                version = facts.get("version")
                return profile.for_firmware(version), facts
    return None


def open_token(transport: CardTransport) -> Token | None:
    """The token for the card behind ``transport``, or None if no profile matches.

    Costs SELECT plus the winning profile's probe (a YubiKey 5: SELECT, GET
    VERSION, GET SERIAL = 3 APDUs), all in one transaction. Card I/O failures
    other than "not this applet" propagate as slot-layer exceptions; an answer
    that breaks the protocol (no status word, a response chain without end, a
    short version) raises :class:`errors.DeviceError`.
    """
    for attempt in range(2):
        try:
            with transport.transaction():
                found = detect_profile(transport)
        except CardResetError:
            if attempt:
                raise
            continue
        except SlotError:
            raise
        except MalformedResponseError as error:
            raise errors.DeviceError(str(error)) from None
        if found is None:
            return None
        profile, facts = found
        return PivToken(transport, profile, version=facts.get("version"),
                        serial=facts.get("serial"))
    return None
