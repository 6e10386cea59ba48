"""A plain OpenPGP 3.4 card: the card OS hosting only the OpenPGP applet,
with its own ATR and none of a YubiKey's parts (no PIV, no button, no
Management applet, no Yubico instructions or quirks)."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Tuple

from .cardos import AppletCard, atr_with_checksum, read_state
from .openpgp import OpenPgpApplet, plain_profile

HISTORICAL_BYTES = bytes.fromhex("0031F573C001E0059000")
"""Category 00; card service data 31 F5; card capabilities 73 C0 01 E0 (select
by full/partial DF name, command chaining, extended Lc/Le, extended length
information); status 05 (operational) + 9000. DO 5F52 answers the same bytes."""

ATR = atr_with_checksum(bytes.fromhex("3B8A8001") + HISTORICAL_BYTES)
"""T=1 ATR with those historical bytes: matches no real card's entry in OpenSC's
table, so OpenSC finds the applet by SELECT, as for any unlisted OpenPGP card."""


class VirtualOpenPgpCard(AppletCard):
    """``firmware`` is the card's own version (it changes nothing the applet
    does); ``serial`` goes into the AID (BCD), as on any OpenPGP card."""

    kind: ClassVar[str] = "openpgp"

    def __init__(
        self,
        firmware: Tuple[int, int, int] = (3, 4, 0),
        serial: int = 12345678,
        state: Dict[str, Any] | None = None,
    ) -> None:
        firmware, serial, saved = read_state(state, self.kind, firmware, serial)
        super().__init__(firmware, serial)
        self.openpgp = OpenPgpApplet(self, plain_profile(HISTORICAL_BYTES), saved.get(OpenPgpApplet.state_key))
        self.install(self.openpgp)

    @property
    def atr(self) -> bytes:
        return ATR
