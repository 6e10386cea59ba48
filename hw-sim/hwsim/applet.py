"""The applet seam: a card hosts applets, each one a table INS -> handler.

An applet never touches sockets, chaining or GET RESPONSE; the card OS
(``hwsim.cardos``) does that and hands the applet one complete command at a
time. Handlers return response data or raise ``SwError``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Protocol, Tuple

from .iso7816 import SW, Command, SwError, body_offset

Handler = Callable[[Command], bytes]

REDACTED = 0x2A  # '*': what a secret byte looks like in a trace


class CardServices(Protocol):
    """What an applet may ask of the card that hosts it."""

    firmware: Tuple[int, int, int]
    serial: int

    @property
    def has_button(self) -> bool:
        """Whether ``require_touch`` can ever succeed (a YubiKey's sensor)."""

    def mark_changed(self) -> None:
        """Persistent state changed: the card bumps ``state_version``."""

    def require_touch(self, cacheable: bool = False) -> None:
        """Wait for the user's touch; raises SwError(6982) if it never comes.
        ``cacheable``: a touch in the last 15 s counts (touch policy "cached")."""


def blank_data(apdu: bytes) -> bytes:
    """``apdu`` with its command data replaced by 0x2A bytes of the same length."""
    start, length = body_offset(apdu)
    if not length:
        return apdu
    return apdu[:start] + bytes([REDACTED]) * length + apdu[start + length :]


def blank_response(rapdu: bytes) -> bytes:
    """``rapdu`` with its data (not the SW) replaced by 0x2A bytes."""
    if len(rapdu) <= 2:
        return rapdu
    return bytes([REDACTED]) * (len(rapdu) - 2) + rapdu[-2:]


class Applet:
    """Base class: subclasses set ``aid`` and fill ``handlers`` in __init__."""

    #: The full AID; SELECT accepts any prefix at least ``min_select_length`` long.
    aid: bytes = b""
    min_select_length: int = 5
    name: str = "applet"
    state_key: str = "applet"
    """The applet's section in the card state (``to_state``)."""

    def __init__(self, card: CardServices) -> None:
        self.card = card
        self.handlers: Dict[int, Handler] = {}

    def matches(self, aid: bytes) -> bool:
        """Whether a SELECT with ``aid`` picks this applet."""
        return len(aid) >= self.min_select_length and self.aid.startswith(aid)

    def select(self, cmd: Command) -> bytes:
        """Become the current applet; returns the SELECT response data.
        Subclasses clear their session security state here."""
        return b""

    def deselect(self) -> None:
        """Another applet was selected or power went away."""

    def accepts_class(self, cla: int, ins: int) -> bool:
        """Whether a proprietary class byte (other than 00/10) is valid for
        ``ins``; the card answers 6E00 for any the applet does not take."""
        return False

    def process(self, cmd: Command) -> bytes:
        """Dispatch one complete command to its handler."""
        handler = self.handlers.get(cmd.ins)
        if handler is None:
            raise SwError(SW.INS_NOT_SUPPORTED)
        return handler(cmd)

    # Trace redaction: the default applet holds no secrets.
    def redact_command(self, apdu: bytes) -> bytes:
        return apdu

    def redact_response(self, apdu: bytes, rapdu: bytes) -> bytes:
        return rapdu

    # Persistence: applets with persistent state override both.
    def to_state(self) -> Dict[str, Any] | None:
        return None
