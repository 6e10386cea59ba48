"""The one narrow seam between cardki and a card: ``transmit`` raw APDUs.

Everything above (APDU formatting, chaining, GET RESPONSE, applets, Cryptoki)
sees only a :class:`CardTransport`. Below it sit PC/SC through pyscard
(:mod:`cardki.slot.pcsc`) or a virtual card in the same process
(:mod:`cardki.slot.inprocess`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple


class CardTransport(ABC):
    """A connection to one card in one reader."""

    @property
    @abstractmethod
    def reader_name(self) -> str:
        """The reader's name, as PC/SC reports it."""

    @property
    @abstractmethod
    def atr(self) -> bytes:
        """The card's ATR."""

    @abstractmethod
    def transmit(self, apdu: bytes) -> bytes:
        """Send one raw C-APDU, return the raw R-APDU (data + SW1 SW2).

        Raises :class:`cardki.slot.errors.CardRemovedError` when the card is
        gone and :class:`cardki.slot.errors.CardResetError` when another program
        reset it since our last exchange (we have reconnected by then; the
        caller must restore its applet state)."""

    def transmit_marked(
        self,
        apdu: bytes,
        *,
        secret: Optional[Tuple[int, int]] = None,
        secret_response: bool = False,
    ) -> bytes:
        """:meth:`transmit`, told which bytes are secret.

        ``secret`` is (offset, length) of the secret part of ``apdu`` (a PIN,
        a key); ``secret_response`` says the response data is secret too.
        Transports that record or log (``RecordingTransport``) redact them;
        the rest just transmit."""
        return self.transmit(apdu)

    @abstractmethod
    def begin_transaction(self) -> None:
        """Take exclusive use of the card until :meth:`end_transaction`."""

    @abstractmethod
    def end_transaction(self) -> None:
        """Let other programs use the card again (without resetting it)."""

    @abstractmethod
    def close(self) -> None:
        """Disconnect, leaving the card as it is."""

    @contextmanager
    def transaction(self) -> Iterator["CardTransport"]:
        """Every multi-APDU card operation runs inside one of these, so another
        program cannot interleave its APDUs with ours."""
        self.begin_transaction()
        try:
            yield self
        finally:
            self.end_transaction()
