"""The tiny interface every virtual card implements.

The vpcd bridge, the in-process transport and the fault injector only ever talk
to a card through this interface, so they know nothing about PIV or OpenPGP,
and a card type knows nothing about sockets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class VirtualCard(ABC):
    """A card as a reader sees it: an ATR, power, and APDUs in, responses out."""

    @property
    @abstractmethod
    def atr(self) -> bytes:
        """The Answer To Reset the card presents at power on."""

    @abstractmethod
    def power_on(self) -> None:
        """Cold start: volatile state (selected applet, PIN status) is cleared."""

    @abstractmethod
    def power_off(self) -> None:
        """Remove power: volatile state is lost, persistent state stays."""

    def reset(self) -> None:
        """Warm reset: the same as a power cycle for our cards."""
        self.power_off()
        self.power_on()

    @abstractmethod
    def execute(self, apdu: bytes) -> bytes:
        """Process one C-APDU (header, Lc, data, Le as sent) and return the R-APDU
        (response data followed by SW1 SW2). Never raises for bad input: a
        malformed APDU is answered with the matching status word."""
