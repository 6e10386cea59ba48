"""A virtual YubiKey: the card OS (:mod:`hwsim.cardos`) with a YubiKey's
ATR, its touch sensor and its applets (PIV, OpenPGP, Management, OTP), as
pcscd sees it through vpcd.

The YubiKey-specific parts live here: the ATR by firmware, the button that
touch policies ask for, the answer to a SELECT by file identifier (a YubiKey
has no file system and answers it 6D00, which is what makes scdaemon probe
the Management applet and treat the card as a YubiKey) and which applets the
key carries.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Dict, Tuple

from .cardos import AppletCard, read_state
from .iso7816 import SW, SwError
from .management import ManagementApplet, OtpApplet, capabilities
from .openpgp import OpenPgpApplet, yubikey_profile
from .piv import PivApplet

# ATRs of real keys: YubiKey 5 series and YubiKey 4 (OpenSC matches on them).
ATR_YUBIKEY5 = bytes.fromhex("3BFD1300008131FE158073C021C057597562694B657940")
ATR_YUBIKEY4 = bytes.fromhex("3BF81300008131FE15597562696B657934D4")

TOUCH_MODES = ("confirm", "timeout")
#: How long a "cached" touch stays valid on a real YubiKey.
TOUCH_CACHE_SECONDS = 15.0


class VirtualYubiKey(AppletCard):
    """A YubiKey 5 (or an older firmware, selectable) with its PIV and OpenPGP applets.

    ``state`` (from ``to_state()``) restores a previous card; its firmware and
    serial then win over the arguments.
    """

    kind: ClassVar[str] = "yubikey"
    select_file_sw: ClassVar[int] = SW.INS_NOT_SUPPORTED
    has_button: ClassVar[bool] = True

    def __init__(
        self,
        firmware: Tuple[int, int, int] = (5, 7, 2),
        serial: int = 12345678,
        state: Dict[str, Any] | None = None,
    ) -> None:
        firmware, serial, saved = read_state(state, self.kind, firmware, serial)
        super().__init__(firmware, serial)
        self.touch_mode = "confirm"
        self.touch_delay = 0.0
        self.touch_count = 0  # how many touches were asked for: tests read it
        self._last_touch: float | None = None
        self.piv = PivApplet(self, saved.get(PivApplet.state_key))
        self.openpgp = OpenPgpApplet(self, yubikey_profile(self.firmware), saved.get(OpenPgpApplet.state_key))
        self.otp = OtpApplet(self)
        self.management = ManagementApplet(self, capabilities((self.piv, self.openpgp, self.otp)))
        for applet in (self.piv, self.openpgp, self.management, self.otp):
            self.install(applet)

    # ------------------------------------------------------------ VirtualCard
    @property
    def atr(self) -> bytes:
        return ATR_YUBIKEY5 if self.firmware >= (5, 0, 0) else ATR_YUBIKEY4

    def _clear_volatile(self) -> None:
        super()._clear_volatile()
        self._last_touch = None

    # ---------------------------------------------------------- card services
    def require_touch(self, cacheable: bool = False) -> None:
        """Simulate the button: "confirm" touches after ``touch_delay`` seconds,
        "timeout" never touches, and the YubiKey then answers 6982."""
        now = time.monotonic()
        if cacheable and self._last_touch is not None and now - self._last_touch < TOUCH_CACHE_SECONDS:
            return
        self.touch_count += 1
        if self.touch_mode not in TOUCH_MODES:
            raise ValueError(f"touch_mode must be one of {TOUCH_MODES}")
        if self.touch_delay > 0:
            time.sleep(self.touch_delay)
        if self.touch_mode == "timeout":
            raise SwError(SW.SECURITY_STATUS_NOT_SATISFIED)
        self._last_touch = time.monotonic()
