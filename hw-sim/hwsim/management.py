"""The YubiKey's Management and OTP applets, just enough for host tools to
identify the device: ykman reads DEVICE INFO (serial, version, form factor,
capabilities: only the applets the card hosts) from Management;
yubico-piv-tool asks the OTP applet for the serial on firmware before 5.0.
"""

from __future__ import annotations

from typing import Iterable

from .applet import Applet, CardServices
from .iso7816 import SW, Command, SwError, tlv

MANAGEMENT_AID = bytes.fromhex("A000000527471117")
OTP_AID = bytes.fromhex("A000000527200101")  # selectable by its 7-byte prefix too

INS_READ_CONFIG = 0x1D
INS_OTP_API = 0x01
OTP_SLOT_SERIAL = 0x10

# Capability bits (as ykman's CAPABILITY enum).
CAP_OTP, CAP_U2F, CAP_OPENPGP, CAP_PIV, CAP_OATH, CAP_HSMAUTH, CAP_FIDO2 = (
    0x01, 0x02, 0x08, 0x10, 0x20, 0x100, 0x200,
)
FORM_FACTOR_USB_A_KEYCHAIN = 0x01

TAG_USB_SUPPORTED = 0x01
TAG_SERIAL = 0x02
TAG_USB_ENABLED = 0x03
TAG_FORM_FACTOR = 0x04
TAG_VERSION = 0x05
TAG_AUTO_EJECT_TIMEOUT = 0x06
TAG_CHALRESP_TIMEOUT = 0x07
TAG_DEVICE_FLAGS = 0x08
TAG_CONFIG_LOCK = 0x0A
TAG_NFC_SUPPORTED = 0x0D
TAG_NFC_ENABLED = 0x0E


#: Which capability bit each applet stands for (by ``Applet.name``).
CAPABILITY_OF_APPLET = {"OTP": CAP_OTP, "OpenPGP": CAP_OPENPGP, "PIV": CAP_PIV}


def capabilities(applets: Iterable[Applet]) -> int:
    """The capability bits of the applets a card really hosts: clients skip
    what is not reported (ykman would otherwise try FIDO2, OATH or YubiHSM
    Auth on a card that has none of them, and fail)."""
    caps = 0
    for applet in applets:
        caps |= CAPABILITY_OF_APPLET.get(applet.name, 0)
    return caps


class ManagementApplet(Applet):
    """SELECT answers the firmware version as text; READ CONFIG the device info."""

    aid = MANAGEMENT_AID
    min_select_length = len(MANAGEMENT_AID)
    name = "Management"

    def __init__(self, card: CardServices, capabilities: int) -> None:
        super().__init__(card)
        self.capabilities = capabilities
        """What READ CONFIG reports as supported and enabled, over USB and NFC."""
        if card.firmware >= (4, 1, 0):
            self.handlers = {INS_READ_CONFIG: self._read_config}

    def select(self, cmd: Command) -> bytes:
        return ".".join(str(part) for part in self.card.firmware).encode()

    def _read_config(self, cmd: Command) -> bytes:
        fw = self.card.firmware
        caps = self.capabilities.to_bytes(2, "big")
        body = (
            tlv(TAG_USB_SUPPORTED, caps)
            + tlv(TAG_SERIAL, self.card.serial.to_bytes(4, "big"))
            + tlv(TAG_USB_ENABLED, caps)
            + tlv(TAG_FORM_FACTOR, bytes([FORM_FACTOR_USB_A_KEYCHAIN]))
            + tlv(TAG_VERSION, bytes(fw))
            + tlv(TAG_AUTO_EJECT_TIMEOUT, b"\x00\x00")
            + tlv(TAG_CHALRESP_TIMEOUT, b"\x0f")
            + tlv(TAG_DEVICE_FLAGS, b"\x00")
            + tlv(TAG_CONFIG_LOCK, b"\x00")
        )
        if fw >= (5, 0, 0):
            body += tlv(TAG_NFC_SUPPORTED, caps) + tlv(TAG_NFC_ENABLED, caps)
        return bytes([len(body)]) + body


class OtpApplet(Applet):
    """Only what PIV tools use: the status on SELECT and the serial number."""

    aid = OTP_AID
    min_select_length = 7
    name = "OTP"

    def __init__(self, card: CardServices) -> None:
        super().__init__(card)
        self.handlers = {INS_OTP_API: self._otp_api}

    def _status(self) -> bytes:
        # version, programming sequence, touch level (little endian)
        return bytes(self.card.firmware) + b"\x00" + b"\x00\x00"

    def select(self, cmd: Command) -> bytes:
        return self._status()

    def _otp_api(self, cmd: Command) -> bytes:
        if cmd.p1 == OTP_SLOT_SERIAL:
            return self.card.serial.to_bytes(4, "big")
        raise SwError(SW.INCORRECT_P1P2)
