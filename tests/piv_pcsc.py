"""cardki's PIV token on a reader through pcscd, for the tests that share the card
with other programs (tests/sim, tests/clients)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from cardki.slot.errors import CardRemovedError
from cardki.slot.pcsc import PcscTransport
from cardki.token import PivToken, open_token


def connect(reader: str, timeout: float = 5.0) -> PcscTransport:
    """PcscTransport to a freshly swapped card. Works around a stack race (reported
    to the stack helper): right after virtual_card_factory swaps the card behind a
    reader that ykman used, the first SCardConnect can fail with "card is unpowered"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return PcscTransport(reader)
        except CardRemovedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def pcsc_token(reader: str) -> Iterator[PivToken]:
    """The PIV token on ``reader``, closed (its PC/SC connection released) afterwards,
    so the next program finds the card as a user's other tools would."""
    token = open_token(connect(reader))
    assert isinstance(token, PivToken)
    try:
        yield token
    finally:
        token.close()
