"""A virtual YubiKey that answers chosen commands badly on purpose.

Card answers are untrusted input: tests serve this card (in-process, or through
pcscd + vpcd with ``card=HOSTILE_CARD``) to check that cardki answers a
malformed, endless or wrong answer with CKR_DEVICE_ERROR, never with
CKR_GENERAL_ERROR, a hang, or a wrong result with CKR_OK.

Everything else is the ordinary simulated YubiKey. The misbehaviour is a list of
rules kept in the card's state under ``"hostile"`` (JSON, so a state file carries
it to a card server). A rule names the commands it takes -- ``ins`` and optionally
``p1``, ``p2`` and ``data_prefix`` (hex) -- and one of:

``"answer": HEX``
    the whole response APDU, as sent (it may be one byte, or have no status word);
``"flood": true``
    256 bytes and 61 00, now and for every GET RESPONSE that follows;
``"data": HEX``
    the applet's response data replaced (the card chains it as usual, 90 00);
``"tamper": NAME``
    the applet's real response data changed by ``TAMPERS[NAME]``.

``"count": N`` makes a rule take only the next N matching commands (default: all).
"""

from __future__ import annotations

import zlib
from typing import Any, Callable, Dict, List, Tuple

from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from hwsim.iso7816 import Command, SwError, parse_command, parse_tlv_dict, tlv, unwrap
from hwsim.piv import PivApplet
from hwsim.yubikey import VirtualYubiKey

INS_GET_RESPONSE = 0xC0
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: What the bomb inflates to: 60 MiB of zeros in about 60 KB of gzip (it fits one GET DATA).
BOMB_SIZE = 60 * 1024 * 1024

Rule = Dict[str, Any]


def _bomb() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    chunk = bytes(1024 * 1024)
    return b"".join(compressor.compress(chunk) for _ in range(BOMB_SIZE // len(chunk))) + compressor.flush()


_BOMB: List[bytes] = []


def gzip_bomb() -> bytes:
    """The compressed bomb (made once per process: compressing 60 MiB takes a moment)."""
    if not _BOMB:
        _BOMB.append(_bomb())
    return _BOMB[0]


def _with_result(data: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """A GENERAL AUTHENTICATE answer (7C { 82 result }) with its result changed."""
    result = parse_tlv_dict(unwrap(0x7C, data))[0x82]
    return tlv(0x7C, tlv(0x82, change(result)))


def _flip_last_bit(value: bytes) -> bytes:
    return value[:-1] + bytes([value[-1] ^ 0x01])


def _metadata_with(data: bytes, **fields: bytes) -> bytes:
    """A GET METADATA answer with some fields replaced (tag given as ``t01`` etc.)."""
    items = parse_tlv_dict(data)
    for name, value in fields.items():
        items[int(name[1:], 16)] = value
    return b"".join(tlv(tag, value) for tag, value in items.items())


def _modulus_4096(data: bytes) -> bytes:
    public = parse_tlv_dict(parse_tlv_dict(data)[0x04])
    public[0x81] = ((1 << 4095) | 1).to_bytes(512, "big")
    return _metadata_with(data, t04=b"".join(tlv(tag, value) for tag, value in public.items()))


TAMPERS: Dict[str, Callable[[bytes], bytes]] = {
    # GENERAL AUTHENTICATE results (signatures, decryptions, ECDH secrets)
    "signature_1000_bytes": lambda data: _with_result(data, lambda _: b"\x01" * 1000),
    "flip_last_bit": lambda data: _with_result(data, _flip_last_bit),
    "ecdsa_r_is_the_order": lambda data: _with_result(data, lambda _: encode_dss_signature(P256_ORDER, 1)),
    "ecdsa_oversized": lambda data: _with_result(data, lambda _: encode_dss_signature(1 << 300, 1)),
    "ecdsa_not_der": lambda data: _with_result(data, lambda _: b"\x30\x03\x02\x01"),
    "empty_result": lambda data: _with_result(data, lambda _: b""),
    "half_result": lambda data: _with_result(data, lambda value: value[:len(value) // 2]),
    # GET METADATA answers
    "modulus_4096": _modulus_4096,
    "empty_algorithm": lambda data: _metadata_with(data, t01=b""),
    "empty_policy": lambda data: _metadata_with(data, t02=b""),
    "one_byte_pin_retries": lambda data: _metadata_with(data, t06=b"\x03"),
    # GET DATA answers
    "gzip_bomb": lambda data: tlv(0x53, tlv(0x70, gzip_bomb()) + tlv(0x71, b"\x01") + tlv(0xFE)),
}


def _matches(rule: Rule, cmd: Command) -> bool:
    if rule["ins"] != cmd.ins:
        return False
    if "p1" in rule and rule["p1"] != cmd.p1:
        return False
    if "p2" in rule and rule["p2"] != cmd.p2:
        return False
    return cmd.data.startswith(bytes.fromhex(rule.get("data_prefix", "")))


class _Rules:
    """The rules and their counts; ``take`` finds (and uses up) the first that fits."""

    def __init__(self, rules: List[Rule]) -> None:
        self.rules = [dict(rule) for rule in rules]

    def take(self, cmd: Command, kinds: Tuple[str, ...]) -> Rule | None:
        for rule in self.rules:
            if any(kind in rule for kind in kinds) and _matches(rule, cmd):
                if "count" in rule:
                    rule["count"] -= 1
                    if rule["count"] <= 0:
                        self.rules.remove(rule)
                return rule
        return None


class HostilePiv(PivApplet):
    """The PIV applet, with the rules that change its response data applied."""

    def __init__(self, card: Any, state: Dict[str, Any] | None, rules: _Rules) -> None:
        super().__init__(card, state)
        self.rules = rules

    def process(self, cmd: Command) -> bytes:
        rule = self.rules.take(cmd, ("data", "tamper"))
        if rule is not None and "data" in rule:
            return bytes.fromhex(rule["data"])
        data = super().process(cmd)
        return data if rule is None else TAMPERS[rule["tamper"]](data)


class HostileYubiKey(VirtualYubiKey):
    """A YubiKey 5 that breaks the rules in its state's ``"hostile"`` list (see the module doc)."""

    def __init__(self, firmware: Tuple[int, int, int] = (5, 7, 2), serial: int = 12345678,
                 state: Dict[str, Any] | None = None) -> None:
        state = dict(state or {})
        self.hostile: List[Rule] = list(state.pop("hostile", []))
        piv_state = state.pop("piv", None)
        super().__init__(firmware, serial, state or None)  # a PIV applet without keys, replaced here:
        self.rules = _Rules(self.hostile)
        self.piv = HostilePiv(self, piv_state, self.rules)
        self.applets = [self.piv, self.management, self.otp]
        self._flooding = False

    def set_rules(self, rules: List[Rule]) -> None:
        """Misbehave by ``rules`` from now on (tests reuse one card: loading its keys takes a while)."""
        self.hostile = list(rules)
        self.rules.rules = _Rules(self.hostile).rules
        self._flooding = False

    def execute(self, apdu: bytes) -> bytes:
        try:
            cmd = parse_command(apdu)
        except SwError:
            return super().execute(apdu)
        if self._flooding and cmd.ins == INS_GET_RESPONSE:
            return b"\xA5" * 256 + b"\x61\x00"
        self._flooding = False
        rule = self.rules.take(cmd, ("answer", "flood"))
        if rule is None:
            return super().execute(apdu)
        if rule.get("flood"):
            self._flooding = True
            return b"\xA5" * 256 + b"\x61\x00"
        return bytes.fromhex(rule["answer"])

    def to_state(self) -> Dict[str, Any]:
        return {**super().to_state(), "hostile": self.hostile}


def hostile_state(state: Dict[str, Any], *rules: Rule) -> Dict[str, Any]:
    """``state`` (a YubiKey state dict) with ``rules`` added."""
    return {**state, "hostile": list(rules)}
