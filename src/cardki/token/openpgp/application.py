"""What the rest of cardki names of the OpenPGP application without loading its driver.

A YubiKey's PIV profile says the card carries an OpenPGP application, so PIV
detection reads the OpenPGP profiles and the engine lists an OpenPGP slot; a host
that only signs with PIV needs no more of OpenPGP than that. This module holds
exactly that much, and imports nothing of the driver: the AID SELECT names, the
applet's names, the card's keys (:class:`KeyRef`, which profile labels name), the
quirks a profile can set (:class:`CardQuirks`), and SELECT itself (card sharing
gives the card back to the application with it). The card's commands, parsers and
key handling (:mod:`.card`, :mod:`.data`, :mod:`.keys`, with cryptography's
serialization) and the token (:mod:`.token`) load when a token is first used.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Tuple

from cardki.apdu import SW_OK, Command, SmartCardProtocol, error_for_sw
from cardki.named_tuple import NamedTuple

if TYPE_CHECKING:
    from .constants import KeyDataObjects, Pw

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


class KeyRef(enum.IntEnum):
    """The card's keys: signature, decryption, authentication, and Yubico's
    attestation key. The value is the key reference (DE key information, ATTEST P1).
    Its data objects are :mod:`.constants`' (``KEY_DATA_OBJECTS``), looked up when
    first asked: a profile names keys without the application's numbers."""

    SIG = 0x01
    DEC = 0x02
    AUT = 0x03
    ATT = 0x81

    @property
    def dos(self) -> KeyDataObjects:
        """The data objects that describe this key."""
        from .constants import KEY_DATA_OBJECTS  # the table of every DO tag: the driver's, not a profile's

        return KEY_DATA_OBJECTS[self]

    @property
    def crt(self) -> bytes:
        """The control reference template that names the key in GENERATE and import."""
        return self.dos.crt

    @property
    def verify_reference(self) -> Pw:
        """The VERIFY its use needs: 81 for the signature key, 82 for the others."""
        from .constants import Pw  # see dos

        return Pw.PW1_SIGN if self is KeyRef.SIG else Pw.PW1

    @property
    def certificate_occurrence(self) -> int | None:
        """SELECT DATA P1 for the key's 7F21 instance (AUT 0, DEC 1, SIG 2); None for ATT."""
        return self.dos.certificate_occurrence


class CardQuirks(NamedTuple):
    """Where a card departs from the spec in ways the driver must work around, by
    name. Parsers tolerate the harmless departures on every card (see
    :mod:`cardki.token.openpgp.data`); these change what is sent or what an answer means."""

    select_data_length_byte: bool = False
    """SELECT DATA needs an extra leading length byte (06 60 04 5C 02 7F 21) and
    refuses the standard form with 6A80: YubiKey up to 5.4.3 (yubikit, yubikey-manager #403)."""
    empty_verify_status: bool = True
    """An empty VERIFY answers the password's status (spec 3.1+). False: it answers
    6A80 (YubiKey 5.4.3, OpenSC #2565; assumed for all of 5.x), so the tries left
    come from C4 and whether the password is verified is unknown."""
    fa_curve25519_errors: bool = False
    """DO FA lists X25519 as EdDSA for every key, Ed25519 for DEC and ATT, and no
    X25519 ECDH: YubiKey 5.2.0 up to 5.6.0 (yubikit patches the list the same way)."""

    @classmethod
    def for_yubikey(cls, version: Tuple[int, int, int]) -> CardQuirks:
        """A YubiKey's quirks by firmware version (from GET VERSION), as its profile
        (profiles/yubikey-openpgp.toml, their one home) gives them."""
        from .profile import load_openpgp_profile  # the profile module imports this one

        return load_openpgp_profile("yubikey-openpgp").for_firmware(version).quirks


__all__ = ["APPLET", "APPLET_NAME", "OPENPGP_AID", "SELECT", "CardQuirks", "KeyRef", "select"]
