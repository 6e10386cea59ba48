#!/usr/bin/env python3
"""Benchmark (not a test): loading a virtual card state file with keys in every slot.

    python3 tests/bench/state_load.py [--rounds 20] [--state FILE] [--save FILE]

A virtual YubiKey 5.7.2 with a key in each of the 24 PIV key slots (9A, 9C, 9D,
9E and the 20 retired ones; RSA-2048/3072/4096, P-256, P-384, Ed25519 and
X25519 mixed), a certificate for each, the attestation key F9 and its root CA,
and OpenPGP keys in SIG, DEC, AUT and the attestation key: made here (``--save``
keeps it) or read from ``--state``. Then, in this process, the median and min
over ``--rounds`` of:

* reading and parsing the JSON (``statefile.load_state``);
* ``VirtualYubiKey(state=...)``: the applets taking their state (what every
  ``cardki --virtual-state`` run and every card server start pays);
* the whole load, as ``cardki --virtual-state`` does it;
* ``to_state()`` (every save after a change);
* a first signature with the 9A key after loading, and GET METADATA of every
  PIV slot after loading (what ykcs11 asks at C_OpenSession), which is where a
  key parsed lazily would be paid.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hw-sim"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from hwsim import piv as piv_applet  # noqa: E402
from hwsim.iso7816 import tlv  # noqa: E402
from hwsim.openpgp_keys import AlgorithmId, Attributes, KeyRef, generate  # noqa: E402
from hwsim.piv_crypto import KEY_ALGORITHMS, algorithm_of, generate_key  # noqa: E402
from hwsim.statefile import load_state, save_state  # noqa: E402
from hwsim.yubikey import VirtualYubiKey  # noqa: E402

FIRMWARE = (5, 7, 2)
_BY_NAME = {algorithm.name: algorithm for algorithm in KEY_ALGORITHMS.values()}
#: The retired slots 82..95 cycle through this mix (the four main slots are fixed below).
_RETIRED_MIX = ("RSA2048", "ECCP256", "RSA3072", "ECCP384", "X25519", "RSA4096", "ED25519", "RSA2048", "ECCP256",
                "ECCP384")
MAIN_SLOTS = {0x9A: "RSA2048", 0x9C: "ECCP256", 0x9D: "ECCP384", 0x9E: "ED25519"}


def full_card() -> VirtualYubiKey:
    """A YubiKey with a key and a certificate in every PIV key slot, and OpenPGP keys."""
    card = VirtualYubiKey(firmware=FIRMWARE)
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    slots = dict(MAIN_SLOTS)
    slots.update({0x82 + index: _RETIRED_MIX[index % len(_RETIRED_MIX)] for index in range(20)})
    for slot, name in slots.items():
        key = generate_key(_BY_NAME[name])
        card.piv.keys[slot] = piv_applet.SlotKey(key, algorithm_of(key), piv_applet.PIN_POLICY_ONCE,
                                                 piv_applet.TOUCH_POLICY_NEVER, piv_applet.ORIGIN_GENERATED)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"state bench {slot:02X}")]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "state bench CA")]))
                .public_key(key.public_key()).serial_number(slot)
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                .sign(issuer_key, hashes.SHA256()))
        card.piv.objects[piv_applet.CERT_OBJECTS[slot]] = (
            tlv(0x70, cert.public_bytes(serialization.Encoding.DER)) + tlv(0x71, b"\x00") + tlv(0xFE))
    assert card.piv.attestation_root is not None  # makes the root CA and the F9 key
    openpgp = {KeyRef.SIG: Attributes.rsa(2048), KeyRef.DEC: Attributes.ec(AlgorithmId.ECDH, "cv25519"),
               KeyRef.AUT: Attributes.ec(AlgorithmId.EDDSA, "ed25519")}
    for ref, attributes in openpgp.items():
        slot = card.openpgp.keys[ref]
        slot.attributes, slot.key, slot.status = attributes, generate(attributes), 1  # 1: generated on the card
    assert card.openpgp.attestation_root is not None  # and the OpenPGP attestation key
    card.mark_changed()
    return card


def timed(action: Callable[[], Any], rounds: int) -> Tuple[float, float]:
    """(median, min) milliseconds of ``action``."""
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1e3)
    return statistics.median(timings), min(timings)


def first_use(state: Dict[str, Any]) -> Tuple[float, float]:
    """(ms of a first 9A signature, ms of GET METADATA on every PIV slot) on a card just loaded."""
    card = VirtualYubiKey(state=state)
    card.power_on()
    assert card.execute(bytes.fromhex("00A4040005A000000308"))[-2:] == b"\x90\x00"
    pin = b"123456\xff\xff"
    assert card.execute(bytes([0, 0x20, 0, 0x80, len(pin)]) + pin)[-2:] == b"\x90\x00"
    block = b"\x00\x01" + b"\xff" * (256 - 3 - 32) + b"\x00" + bytes(32)
    body = tlv(0x7C, tlv(0x82) + tlv(0x81, block))
    command = bytes([0, 0x87, 0x07, 0x9A, 0, len(body) >> 8, len(body) & 0xFF]) + body + b"\x00\x00"
    started = time.perf_counter()
    answer = card.execute(command)
    sign_ms = (time.perf_counter() - started) * 1e3
    assert answer[-2:] == b"\x90\x00", answer[-2:].hex()
    started = time.perf_counter()
    for slot in piv_applet.KEY_SLOTS:
        card.execute(bytes([0, 0xF7, 0, slot, 0]))
    return sign_ms, (time.perf_counter() - started) * 1e3


def main(argv: List[str] = None) -> int:  # type: ignore[assignment]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--state", type=Path, help="a state file to load instead of making one")
    parser.add_argument("--save", type=Path, help="keep the state file made here")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cardki-state-") as workdir:
        path = options.state
        if path is None:
            started = time.perf_counter()
            card = full_card()
            path = options.save or Path(workdir) / "full.json"
            save_state(path, card.to_state())
            print(f"made {path} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        state = load_state(path)
        assert state is not None
        card = VirtualYubiKey(state=state)
        piv_keys = len(card.piv.keys)
        openpgp_keys = sum(1 for slot in card.openpgp.keys.values() if slot.key is not None)
        rows = {
            "read and parse the JSON (statefile.load_state)": timed(lambda: load_state(path), options.rounds),
            "VirtualYubiKey(state=...)": timed(lambda: VirtualYubiKey(state=state), options.rounds),
            "the whole load (load_state + VirtualYubiKey)": timed(lambda: VirtualYubiKey(state=load_state(path)),
                                                                   options.rounds),
            "to_state() (each save)": timed(card.to_state, options.rounds),
        }
        uses = [first_use(state) for _ in range(max(3, options.rounds // 4))]
        rows["after loading: the first 9A (RSA-2048) signature"] = (
            statistics.median(u[0] for u in uses), min(u[0] for u in uses))
        rows["after loading: GET METADATA of all 25 PIV key slots"] = (
            statistics.median(u[1] for u in uses), min(u[1] for u in uses))
        size = path.stat().st_size
    print(f"\nState file {path.name}: {size} bytes, {piv_keys} PIV keys (24 slots and F9), "
          f"{openpgp_keys} OpenPGP keys (SIG, DEC, AUT, ATT); {options.rounds} rounds\n")
    print("| step | median (ms) | min (ms) |\n|---|---:|---:|")
    for label, (median, low) in rows.items():
        print(f"| {label} | {median:.2f} | {low:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
