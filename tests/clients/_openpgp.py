"""Plain APDUs to a virtual card's OpenPGP applet through PC/SC, as any client
can send them: to set a card up for a client test (a key in a slot) and to
read back what a client changed, independently of that client."""

from __future__ import annotations

import hashlib
from typing import Dict, Tuple

from hwsim.iso7816 import parse_tlv_dict, tlv, unwrap
from hwsim.stack import pcsc_connect

OPENPGP_AID = bytes.fromhex("D27600012401")
ADMIN = b"12345678"
CRT = {"sig": tlv(0xB6), "dec": tlv(0xB8), "aut": tlv(0xA4)}
ATTRIBUTES = {"sig": 0xC1, "dec": 0xC2, "aut": 0xC3}
FINGERPRINT = {"sig": 0xC7, "dec": 0xC8, "aut": 0xC9}
RSA2048 = bytes.fromhex("010800001100")
P256_ECDSA = bytes.fromhex("13" "2A8648CE3D030107")


def command(ins: int, p1: int, p2: int, data: bytes = b"", le: bool = False) -> bytes:
    """A short APDU (extended when the data needs it)."""
    header = bytes([0, ins, p1, p2])
    if len(data) > 255:
        return header + b"\x00" + len(data).to_bytes(2, "big") + data + (b"\x00\x00" if le else b"")
    return header + ((bytes([len(data)]) + data) if data else b"") + (b"\x00" if le else b"")


def openpgp_apdus(reader: str, *apdus: bytes) -> Tuple[Tuple[bytes, int], ...]:
    """SELECT the OpenPGP applet, then send ``apdus``; (data, SW) of each."""
    connection = pcsc_connect(reader)
    try:
        answers = []
        for apdu in (command(0xA4, 4, 0, OPENPGP_AID),) + apdus:
            data, sw1, sw2 = connection.transmit(list(apdu))
            while sw1 == 0x61:
                more, sw1, sw2 = connection.transmit([0, 0xC0, 0, 0, sw2])
                data += more
            answers.append((bytes(data), sw1 << 8 | sw2))
        assert answers[0][1] == 0x9000, "SELECT of the OpenPGP applet failed"
        return tuple(answers[1:])
    finally:
        connection.disconnect()


def generate_key(reader: str, key: str = "sig", attributes: bytes = RSA2048) -> Dict[int, bytes]:
    """Generate a key on the card as gpg does: attributes, GENERATE, then the
    fingerprint gpg would store (OpenSC lists only keys that have one). Returns
    the public key template's parts (81/82 or 86)."""
    verify, attrs, generated = openpgp_apdus(
        reader, command(0x20, 0, 0x83, ADMIN), command(0xDA, 0, ATTRIBUTES[key], attributes),
        command(0x47, 0x80, 0, CRT[key], le=True))
    assert (verify[1], attrs[1], generated[1]) == (0x9000, 0x9000, 0x9000), (verify, attrs, generated[1])
    fingerprint = hashlib.sha1(generated[0]).digest()
    stored = openpgp_apdus(reader, command(0x20, 0, 0x83, ADMIN), command(0xDA, 0, FINGERPRINT[key], fingerprint))
    assert [sw for _, sw in stored] == [0x9000, 0x9000]
    return parse_tlv_dict(unwrap(0x7F49, generated[0]))
