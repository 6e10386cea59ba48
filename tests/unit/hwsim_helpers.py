"""Small host-side helpers for the in-process hwsim card tests: build APDUs,
follow 61xx with GET RESPONSE, authenticate with the management key.

Deliberately independent of cardki's client code, so a bug there cannot hide
a bug in the simulator (and the other way round).
"""

from __future__ import annotations

import os
from typing import Tuple

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hwsim.iso7816 import parse_tlv_dict, tlv, unwrap
from hwsim.yubikey import VirtualYubiKey

PIV_AID = bytes.fromhex("A000000308")
DEFAULT_MGMT = bytes.fromhex("010203040506070801020304050607080102030405060708")


def apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None,
         extended: bool = False) -> bytes:
    header = bytes([cla, ins, p1, p2])
    if extended:
        body = (b"\x00" + len(data).to_bytes(2, "big") + data) if data else b""
        if le is not None:
            body += (le % 65536).to_bytes(2, "big") if data else b"\x00" + (le % 65536).to_bytes(2, "big")
        return header + body
    body = (bytes([len(data)]) + data) if data else b""
    if le is not None:
        body += bytes([le % 256])
    return header + body


def transmit(card: VirtualYubiKey, command: bytes) -> Tuple[bytes, int]:
    """Send one APDU, collecting a chained response; returns (data, sw)."""
    rapdu = card.execute(command)
    data, sw = rapdu[:-2], int.from_bytes(rapdu[-2:], "big")
    while sw >> 8 == 0x61:
        rapdu = card.execute(bytes([0, 0xC0, 0, 0, sw & 0xFF]))
        data += rapdu[:-2]
        sw = int.from_bytes(rapdu[-2:], "big")
    return data, sw


def send(card: VirtualYubiKey, ins: int, p1: int = 0, p2: int = 0, data: bytes = b"") -> Tuple[bytes, int]:
    """Send with command chaining for long data (as yubico-piv-tool does)."""
    while len(data) > 255:
        chunk, data = data[:255], data[255:]
        _, sw = transmit(card, apdu(0x10, ins, p1, p2, chunk))
        if sw != 0x9000:
            return b"", sw
    return transmit(card, apdu(0, ins, p1, p2, data))


def select_piv(card: VirtualYubiKey) -> bytes:
    data, sw = transmit(card, apdu(0, 0xA4, 0x04, 0x00, PIV_AID))
    assert sw == 0x9000
    return data


def pin_bytes(pin: str) -> bytes:
    return pin.encode().ljust(8, b"\xff")


def verify(card: VirtualYubiKey, pin: str = "123456") -> int:
    return send(card, 0x20, 0x00, 0x80, pin_bytes(pin))[1]


def _cipher(key_type: int, key: bytes) -> Cipher:
    if key_type == 0x03:
        return Cipher(TripleDES(key), modes.ECB())
    return Cipher(algorithms.AES(key), modes.ECB())


def authenticate(card: VirtualYubiKey, key: bytes = DEFAULT_MGMT, key_type: int | None = None) -> int:
    """Mutual authentication as ykman does it; returns the final SW."""
    if key_type is None:
        key_type = 0x0A if card.firmware >= (5, 7, 0) else 0x03
    data, sw = send(card, 0x87, key_type, 0x9B, tlv(0x7C, tlv(0x80)))
    if sw != 0x9000:
        return sw
    witness = parse_tlv_dict(unwrap(0x7C, data))[0x80]
    decryptor = _cipher(key_type, key).decryptor()
    plain = decryptor.update(witness) + decryptor.finalize()
    challenge = os.urandom(len(witness))
    data, sw = send(card, 0x87, key_type, 0x9B, tlv(0x7C, tlv(0x80, plain) + tlv(0x81, challenge)))
    if sw != 0x9000:
        return sw
    encryptor = _cipher(key_type, key).encryptor()
    assert parse_tlv_dict(unwrap(0x7C, data))[0x82] == encryptor.update(challenge) + encryptor.finalize()
    return sw


def fresh_card(firmware=(5, 7, 2)) -> VirtualYubiKey:
    card = VirtualYubiKey(firmware=firmware)
    card.power_on()
    select_piv(card)
    return card
