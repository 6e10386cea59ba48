"""Finding a PIV applet on a card: SELECT by each PIV profile's AID, then the
profiles' probes, most specific first (a YubiKey answers GET VERSION; a generic
card needs none). A profile that lists the card's ATR (``[match] atrs``: a YubiKey
over USB) needs no probe: its token reads the version when something needs it."""

from __future__ import annotations

from typing import Any, Dict, List

from cardki.apdu import ApduError, SmartCardProtocol

from ..applet import AppletDriver, Detected
from ..profiles import Probe, candidates
from ..sharing import CardToken, SharedCard
from .card import PivCard
from .profile import PIV_SCHEMA, PivProfile, load_piv_profile
from .token import PivToken


def _probe(card: PivCard, profile: PivProfile) -> Dict[str, Any] | None:
    """Run the profile's vendor probe on the selected applet: facts about the card, or
    None. The serial is not among them: the token reads it when someone asks
    (:attr:`PivToken.serial`), which a signature never does."""
    if profile.probe is Probe.NONE:
        return {}
    try:
        version = card.get_version()
    except ApduError:
        return None
    return {"version": version}


def detect(card: SharedCard) -> Detected | None:
    """The PIV token of the card (SELECT + the winning profile's probe: a YubiKey named
    by its ATR costs SELECT alone, another one SELECT, GET VERSION), or None when no
    PIV AID answers SELECT."""
    protocol = SmartCardProtocol(card.transport)
    by_aid: Dict[bytes, List[PivProfile]] = {}
    for profile in candidates("piv"):
        if isinstance(profile, PivProfile):
            by_aid.setdefault(profile.aid, []).append(profile)
    for aid, profiles in by_aid.items():
        piv = PivCard(protocol, aid)
        try:
            piv.select()
        except ApduError:
            continue
        card.selected = PivToken.applet
        atr = card.transport.atr
        for profile in profiles:
            floor = profile.firmware_floor(atr)
            if floor is not None and card.version is None:
                return Detected(PivToken(card, profile, floor=floor), profile.also_carries)
            facts = _probe(piv, profile)
            if facts is None:
                continue
            version = facts.get("version")
            card.version = card.version or version
            resolved = profile.for_firmware(version)
            return Detected(PivToken(card, resolved, version=version), resolved.also_carries)
    return None


def carried(card: SharedCard, profile: str) -> CardToken:
    """The PIV token of a card another applet's profile says carries PIV."""
    resolved = load_piv_profile(profile).for_firmware(card.version)
    return PivToken(card, resolved, version=card.version, serial=card.serial)


PIV_DRIVER = AppletDriver(applet=PivToken.applet, name=PivToken.applet_name, load_schema=lambda: PIV_SCHEMA,
                          detect=detect, carried=carried)

__all__ = ["PIV_DRIVER", "carried", "detect"]
