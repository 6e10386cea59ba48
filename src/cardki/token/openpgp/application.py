"""What the rest of cardki names of the OpenPGP application without loading its driver.

A YubiKey's PIV profile says the card carries an OpenPGP application, so the
engine lists an OpenPGP slot; a host that only signs with PIV needs no more of
OpenPGP than that. This module holds exactly that much, and imports nothing of
the driver: the AID SELECT names, the applet's names, and SELECT itself (card
sharing gives the card back to the application with it). Its profiles
(:mod:`.profile`, with the quirks a profile can set and the keys its labels name),
the card's commands, parsers and key handling (:mod:`.card`, :mod:`.data`,
:mod:`.keys`, with cryptography's serialization) and the token (:mod:`.token`) load
when a token is first used.
"""

from __future__ import annotations

from cardki.apdu import SW_OK, Command, SmartCardProtocol, error_for_sw

#: RID D2 76 00 01 24 (FSFE) and application 01: what SELECT names. The full AID
#: (DO 4F) adds version, manufacturer, serial and two RFU bytes.
OPENPGP_AID = bytes.fromhex("D27600012401")
#: The applet as profiles and slot ids name it, and as people call it.
APPLET = "openpgp"
APPLET_NAME = "OpenPGP"
#: SELECT by the RID + application byte, P2 = 00 and no Le, as GnuPG sends it (a
#: YubiKey answers no FCI). It drops every password's verified state.
SELECT = Command(0x00, 0xA4, 0x04, 0x00, OPENPGP_AID)


def select(protocol: SmartCardProtocol) -> None:
    """Send :data:`SELECT`; a refusal raises the status word's ApduError
    (:meth:`.card.OpenPgpCard.select` adds what a refusal means to a token)."""
    response = protocol.send_raw(SELECT)
    if response.sw != SW_OK:
        raise error_for_sw(response.sw)


__all__ = ["APPLET", "APPLET_NAME", "OPENPGP_AID", "SELECT", "select"]
