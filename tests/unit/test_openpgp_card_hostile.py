"""The OpenPGP driver on answers a card should never give.

Card answers are untrusted input: whatever the bytes, a parser of them returns a
value or raises MalformedResponseError (which the token reports as
CKR_DEVICE_ERROR), never IndexError, KeyError, a bare ValueError or a hang. The
samples are real answers of the simulator's cards, mutated by hypothesis; the
named cases below pin the shapes a broken or hostile card would choose.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Callable, Dict, List, Tuple

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_piv_token_support import rsa_key

from cardki.apdu import ApduError, MalformedResponseError, Tlv
from cardki.curves import curve_by_name
from cardki.slot.inprocess import InProcessTransport
from cardki.token.openpgp import (
    AlgorithmInformation,
    ApduLimits,
    ApplicationRelatedData,
    CardCapabilities,
    CardholderData,
    CardQuirks,
    EcAttributes,
    ExtendedLengthInformation,
    Kdf,
    KdfHash,
    KeyRef,
    OpenPgpCard,
    Password,
    Pw,
    PwStatus,
    RsaAttributes,
    UnknownAttributes,
    attributes_for_private_key,
    parse_algorithm_attributes,
    parse_public_key,
)
from cardki.token.openpgp.data import historical_bytes_from_atr, parse_signature_counter, parse_uif, parse_version
from cardki.transport import CardTransport
from hwsim.openpgp_card import VirtualOpenPgpCard
from hwsim.yubikey import VirtualYubiKey

PW1, PW3 = b"123456", b"12345678"


def curve(name: str) -> Any:
    found = curve_by_name(name)
    assert found is not None
    return found


ATTRIBUTES = {
    "rsa2048": RsaAttributes(2048),
    "p256": EcAttributes.for_key(KeyRef.SIG, curve("secp256r1")),
    "ed25519": EcAttributes.for_key(KeyRef.SIG, curve("ed25519")),
    "x25519": EcAttributes.for_key(KeyRef.DEC, curve("x25519")),
}


def _driver(card: Any) -> OpenPgpCard:
    transport = InProcessTransport(card)
    driver = OpenPgpCard(ApduLimits.from_atr(transport.atr).protocol(transport))
    driver.select()
    return driver


def _collect() -> Dict[str, List[bytes]]:
    """Real answers of each kind, from cards with keys, data and a KDF set."""
    samples: Dict[str, List[bytes]] = {name: [] for name in (
        "6E", "FA", "C4", "7A", "65", "F9", "5F52", "7F66", "D6", "F1", "ATR", "attributes")}
    samples.update({f"7F49-{name}": [] for name in ATTRIBUTES})
    for card in (VirtualYubiKey(), VirtualYubiKey(firmware=(5, 2, 7)), VirtualYubiKey(firmware=(4, 3, 7)),
                 VirtualOpenPgpCard()):
        driver = _driver(card)
        samples["ATR"].append(card.atr)
        samples["6E"].append(driver.get_data(0x6E))
        samples["C4"].append(driver.get_data(0xC4))
        samples["7A"].append(driver.get_data(0x7A))
        samples["5F52"].append(driver.get_data(0x5F52))
        if isinstance(card, VirtualYubiKey):
            samples["F1"].append(driver.protocol.send_apdu(0x00, 0xF1, 0x00, 0x00))
            samples["D6"].append(driver.get_data(0xD6))
        if card.firmware >= (5, 2, 0) or not isinstance(card, VirtualYubiKey):
            samples["FA"].append(driver.get_data(0xFA))
            samples["7F66"].append(driver.get_data(0x7F66))
    driver = _driver(VirtualYubiKey(firmware=(5, 2, 7)))  # EC attributes with the trailing 00
    driver.verify(Pw.PW3, PW3)
    keys = {"rsa2048": (KeyRef.SIG, rsa_key(2048)), "p256": (KeyRef.AUT, ec.generate_private_key(ec.SECP256R1())),
            "x25519": (KeyRef.DEC, x25519.X25519PrivateKey.generate())}
    for name, (ref, key) in keys.items():
        attributes = attributes_for_private_key(ref, key)
        driver.set_algorithm_attributes(ref, attributes)
        driver.import_key(ref, attributes, key)
        samples[f"7F49-{name}"].append(driver.protocol.send_apdu(0x00, 0x47, 0x81, 0x00, ref.crt))
    driver.put_data(0x5B, b"Doe<<John")
    driver.put_data(0x5F35, b"1")
    driver.put_data(0xC7, bytes(range(20)))
    samples["6E"].append(driver.get_data(0x6E))
    samples["65"].append(driver.get_data(0x65))
    samples["attributes"] += [value.encode() for value in ATTRIBUTES.values()] + [b"\x13\x2b\x81\x04\x00\x22\x00"]
    plain = _driver(VirtualOpenPgpCard())
    plain.verify(Pw.PW3, PW3)
    plain.set_algorithm_attributes(KeyRef.SIG, ATTRIBUTES["ed25519"])
    samples["7F49-ed25519"].append(plain.generate_key(KeyRef.SIG, ATTRIBUTES["ed25519"]) and
                                   plain.protocol.send_apdu(0x00, 0x47, 0x81, 0x00, KeyRef.SIG.crt))
    plain.put_kdf(Kdf.iterated_salted_s2k(KdfHash.SHA256, 4096))
    samples["F9"].append(plain.get_data(0xF9))
    samples["6E"].append(plain.get_data(0x6E))
    return samples


SAMPLES: Dict[str, List[bytes]] = {}


def samples() -> Dict[str, List[bytes]]:
    if not SAMPLES:
        SAMPLES.update(_collect())
    return SAMPLES


def _use_6e(data: ApplicationRelatedData) -> None:
    data.apdu_limits, data.has_button, data.aid.serial_number, data.aid.display_serial  # noqa: B018
    for ref in data.keys:
        data.fingerprint(ref), data.generation_time(ref)  # noqa: B018


def _use_kdf(kdf: Kdf) -> None:
    if kdf.iteration_count <= 1 << 16:
        kdf.derive(Password.ADMIN, PW3)
    kdf.encode()


#: What each kind of answer is given to (a parser, and the properties a token reads).
def _parse_public_key_with(attributes: Any, data: bytes) -> object:
    return parse_public_key(data, attributes)


PARSERS: Dict[str, Callable[[bytes], object]] = {
    "6E": lambda data: _use_6e(ApplicationRelatedData.parse(data)),
    "FA": lambda data: AlgorithmInformation.parse(data).without_curve25519_errors(),
    "C4": PwStatus.parse,
    "7A": parse_signature_counter,
    "65": lambda data: CardholderData.parse(data).display_name,
    "F9": lambda data: _use_kdf(Kdf.parse(data)),
    "5F52": CardCapabilities.from_historical_bytes,
    "7F66": ExtendedLengthInformation.parse,
    "D6": parse_uif,
    "F1": parse_version,
    "ATR": lambda data: CardCapabilities.from_historical_bytes(historical_bytes_from_atr(data)),
    "attributes": parse_algorithm_attributes,
    **{f"7F49-{name}": functools.partial(_parse_public_key_with, attributes)
       for name, attributes in ATTRIBUTES.items()},
}

#: One edit of a sample: (kind, position, bytes).
EDIT = st.tuples(st.sampled_from(("set", "insert", "delete", "truncate")), st.integers(0, 400),
                 st.binary(min_size=1, max_size=4))


def mutate(data: bytes, edits: List[Tuple[str, int, bytes]]) -> bytes:
    buffer = bytearray(data)
    for kind, position, value in edits:
        at = position % (len(buffer) + 1)
        if kind == "set" and buffer:
            buffer[at % len(buffer)] = value[0]
        elif kind == "insert":
            buffer[at:at] = value
        elif kind == "delete":
            del buffer[at:at + len(value)]
        elif kind == "truncate":
            del buffer[at:]
    return bytes(buffer)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(PARSERS)), st.integers(0, 10), st.lists(EDIT, min_size=1, max_size=4))
def test_mutated_answers_raise_only_malformed_response(kind: str, pick: int, edits: List[Tuple[str, int, bytes]]
                                                      ) -> None:
    options = samples()[kind]
    data = mutate(options[pick % len(options)], edits)
    try:
        PARSERS[kind](data)
    except MalformedResponseError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=300))
def test_random_bytes_raise_only_malformed_response(kind: str, data: bytes) -> None:
    try:
        PARSERS[kind](data)
    except MalformedResponseError:
        pass


def test_every_sample_parses_unchanged() -> None:
    """The mutations start from answers the parsers accept (else the test proves little)."""
    for kind, options in samples().items():
        assert options, kind
        for data in options:
            PARSERS[kind](data)


# ------------------------------------------------ the card, answering badly


class MutatingTransport(CardTransport):
    """The in-process card, with the data of chosen commands' answers changed."""

    def __init__(self, inner: InProcessTransport, ins: Tuple[int, ...],
                 change: Callable[[bytes], bytes]) -> None:
        self.inner, self.ins, self.change = inner, ins, change

    @property
    def reader_name(self) -> str:
        return self.inner.reader_name

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    def transmit(self, apdu: bytes) -> bytes:
        answer = self.inner.transmit(apdu)
        if apdu[1] in self.ins and answer[-2:] == b"\x90\x00":
            return self.change(answer[:-2]) + b"\x90\x00"
        return answer

    def begin_transaction(self) -> None:
        self.inner.begin_transaction()

    def end_transaction(self) -> None:
        self.inner.end_transaction()

    def close(self) -> None:
        self.inner.close()


_PREPARED: Dict[str, Any] = {}


def prepared_card() -> Any:
    """A YubiKey with an EC signature key, a certificate and PW1 verified state to lose."""
    if "state" not in _PREPARED:
        card = VirtualYubiKey()
        driver = _driver(card)
        driver.verify(Pw.PW3, PW3)
        attributes = ATTRIBUTES["p256"]
        driver.set_algorithm_attributes(KeyRef.SIG, attributes)
        driver.generate_key(KeyRef.SIG, attributes)
        driver.put_certificate(KeyRef.SIG, b"\x30\x03\x02\x01\x01")
        _PREPARED["state"] = card.to_state()
    return VirtualYubiKey(state=_PREPARED["state"])


OPERATIONS: Dict[str, Tuple[Tuple[int, ...], Callable[[OpenPgpCard], object]]] = {
    "6E": ((0xCA,), lambda d: _use_6e(d.application_related_data())),
    "FA": ((0xCA,), lambda d: d.algorithm_information()),
    "C4": ((0xCA,), lambda d: d.pw_status()),
    "pin status": ((0x20, 0xCA), lambda d: d.pin_status(Pw.PW1)),
    "7A": ((0xCA,), lambda d: d.signature_counter()),
    "F9": ((0xCA,), lambda d: d.kdf()),
    "65": ((0xCA,), lambda d: d.cardholder_data()),
    "D6": ((0xCA,), lambda d: d.uif(KeyRef.SIG)),
    "7F21": ((0xA5, 0xCA), lambda d: d.certificate(KeyRef.SIG)),
    "read key": ((0x47,), lambda d: d.read_public_key(KeyRef.SIG, ATTRIBUTES["p256"])),
    "challenge": ((0x84,), lambda d: d.get_challenge(16)),
    "version": ((0xF1,), lambda d: d.get_version()),
    "sign": ((0x2A, 0x20), lambda d: (d.verify(Pw.PW1_SIGN, PW1), d.sign(bytes(32)))),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(OPERATIONS)), st.lists(EDIT, max_size=4), st.binary(max_size=40), st.booleans())
def test_card_methods_on_changed_answers(name: str, edits: List[Tuple[str, int, bytes]], replacement: bytes,
                                         replace_all: bool) -> None:
    ins, operation = OPERATIONS[name]

    def change(data: bytes) -> bytes:
        return replacement if replace_all else mutate(data, edits)

    transport = MutatingTransport(InProcessTransport(prepared_card()), ins, change)
    driver = OpenPgpCard(ApduLimits(True, True, 3061).protocol(transport), quirks=CardQuirks.for_yubikey((5, 7, 2)))
    try:
        driver.select()
        operation(driver)
    except (MalformedResponseError, ApduError):
        pass


# ------------------------------------------------------------ named cases


def _ard(card: Any = None) -> bytes:
    return _driver(card or VirtualOpenPgpCard()).get_data(0x6E)


def _replace_in_73(data: bytes, tag: int, value: bytes | None) -> bytes:
    """6E with DO ``tag`` inside 73 replaced by ``value`` (None: removed)."""
    outer = Tlv(data)
    parts = []
    for item in _tlvs(outer.value):
        if item.tag == 0x73:
            inner = [Tlv(i.tag, value) if i.tag == tag and value is not None else i
                     for i in _tlvs(item.value) if i.tag != tag or value is not None]
            item = Tlv(0x73, b"".join(inner))
        parts.append(item)
    return bytes(Tlv(0x6E, b"".join(parts)))


def _tlvs(data: bytes) -> List[Tlv]:
    from cardki.apdu import parse_tlvs

    return parse_tlvs(data)


@pytest.mark.parametrize("case,tag,value", [
    ("PW status of 6 bytes", 0xC4, bytes(6)),
    ("no signature key attributes", 0xC1, None),
    ("fingerprints of 50 bytes", 0xC5, bytes(50)),
    ("fingerprints for 5 keys", 0xC5, bytes(100)),
    ("generation times of 13 bytes", 0xCD, bytes(13)),
    ("key information with an odd length", 0xDE, b"\x01\x00\x02"),
    ("key information with status 07", 0xDE, b"\x01\x07"),
    ("extended capabilities of 9 bytes", 0xC0, bytes(9)),
    ("extended length information of 0 bytes", 0x7F66, bytes(Tlv(0x02, b"\x00\x00")) * 2),
    ("extended length information with one number", 0x7F66, bytes(Tlv(0x02, b"\x0b\xfe"))),
])
def test_broken_application_related_data(case: str, tag: int, value: bytes | None) -> None:
    with pytest.raises(MalformedResponseError):
        ApplicationRelatedData.parse(_replace_in_73(_ard(VirtualYubiKey()), tag, value))  # all of them in 73


def test_what_6e_tolerates() -> None:
    """An unknown algorithm or key, and a UIF absent, leave the card usable."""
    data = _replace_in_73(_ard(), 0xC2, b"\x42\x01\x02")
    data = _replace_in_73(data, 0xDE, b"\x01\x00\x02\x00\x03\x00\x77\x01")
    parsed = ApplicationRelatedData.parse(data)
    assert parsed.algorithm_attributes[KeyRef.DEC] == UnknownAttributes(b"\x42\x01\x02")
    assert set(parsed.key_information) == {KeyRef.SIG, KeyRef.DEC, KeyRef.AUT}
    assert ApplicationRelatedData.parse(Tlv(_ard()).value) == ApplicationRelatedData.parse(_ard())  # no 6E around


def test_an_aid_that_is_not_openpgp() -> None:
    outer = Tlv(_ard())
    for aid in (bytes(15), bytes.fromhex("D27600012402") + bytes(10), bytes.fromhex("D276000124010A04") + bytes(8)):
        parts = [Tlv(0x4F, aid) if item.tag == 0x4F else item for item in _tlvs(outer.value)]
        with pytest.raises(MalformedResponseError):
            ApplicationRelatedData.parse(bytes(Tlv(0x6E, b"".join(parts))))


def test_public_keys_that_do_not_fit_the_slot() -> None:
    big = ((1 << 4095) | 1).to_bytes(512, "big")
    cases = [
        (RsaAttributes(2048), Tlv(0x7F49, bytes(Tlv(0x81, big) + Tlv(0x82, b"\x01\x00\x01")))),
        (RsaAttributes(2048), Tlv(0x7F49, bytes(Tlv(0x81, ((1 << 2047) | 1).to_bytes(256, "big"))
                                                + Tlv(0x82, b"\x02")))),  # an even exponent
        (RsaAttributes(2048), Tlv(0x7F49, bytes(Tlv(0x81, big)))),  # no exponent
        (ATTRIBUTES["p256"], Tlv(0x7F49, bytes(Tlv(0x86, b"\x04" + b"\x01" * 64)))),  # off the curve
        (ATTRIBUTES["p256"], Tlv(0x7F49, bytes(Tlv(0x86, b"\x04")))),
        (ATTRIBUTES["p256"], Tlv(0x7F49, bytes(Tlv(0x86, b"\x02" + bytes(32))))),  # compressed
        (ATTRIBUTES["ed25519"], Tlv(0x7F49, bytes(Tlv(0x86, bytes(31))))),
        (ATTRIBUTES["x25519"], Tlv(0x7F49, b"")),
    ]
    for attributes, template in cases:
        with pytest.raises(MalformedResponseError):
            parse_public_key(bytes(template), attributes)
    with pytest.raises(ValueError):  # the caller's mistake, not the card's
        parse_public_key(bytes(Tlv(0x7F49, bytes(Tlv(0x86, bytes(32))))), UnknownAttributes(b"\x42"))
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes_raw()
    assert parse_public_key(bytes(Tlv(0x7F49, bytes(Tlv(0x86, raw)))), ATTRIBUTES["ed25519"]) == key


def test_a_kdf_that_would_hash_for_ever_is_refused() -> None:
    """A count of 4 GiB would hold the caller for minutes: above RFC 4880's largest
    coded count the KDF-DO is malformed, and so is an unknown algorithm (its PIN form
    is unknown: sending one would burn a try)."""
    body = (Tlv(0x81, b"\x03") + Tlv(0x82, b"\x08") + Tlv(0x83, b"\xff\xff\xff\xff") + Tlv(0x84, bytes(8)))
    with pytest.raises(MalformedResponseError):
        Kdf.parse(bytes(Tlv(0xF9, bytes(body))))
    with pytest.raises(MalformedResponseError):
        Kdf.parse(bytes(Tlv(0xF9, bytes(Tlv(0x81, b"\x05")))))
    largest = (Tlv(0x81, b"\x03") + Tlv(0x82, b"\x08") + Tlv(0x83, (65011712).to_bytes(4, "big"))
               + Tlv(0x84, bytes(8)))
    assert Kdf.parse(bytes(Tlv(0xF9, bytes(largest)))).iteration_count == 65011712


def test_fa_with_the_yubikey_length_and_worse() -> None:
    entry = bytes(Tlv(0xC1, RsaAttributes(2048).encode()))
    for declared, accepted in ((len(entry), True), (len(entry) + 2, True), (len(entry) + 3, False)):
        data = b"\xfa" + bytes([declared]) + entry
        if accepted:
            assert AlgorithmInformation.parse(data).for_key(KeyRef.SIG) == (RsaAttributes(2048),)
        else:
            with pytest.raises(MalformedResponseError):
                AlgorithmInformation.parse(data)


def test_a_short_challenge_answer() -> None:
    transport = MutatingTransport(InProcessTransport(VirtualOpenPgpCard()), (0x84,), lambda data: data[:-1])
    driver = OpenPgpCard(ApduLimits(True, True, 3061).protocol(transport))
    driver.select()
    with pytest.raises(MalformedResponseError):
        driver.get_challenge(8)


def test_sign_answer_is_passed_through_for_the_token_to_check() -> None:
    """The driver does not judge a signature (the token checks it against the public
    key, card_results); it only hands the card's bytes on."""
    transport = MutatingTransport(InProcessTransport(prepared_card()), (0x2A,), lambda data: b"\x01" * 7)
    driver = OpenPgpCard(ApduLimits(True, True, 3061).protocol(transport))
    driver.select()
    driver.verify(Pw.PW1_SIGN, PW1)
    assert driver.sign(hashlib.sha256(b"x").digest()) == b"\x01" * 7
