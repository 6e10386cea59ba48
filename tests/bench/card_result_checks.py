#!/usr/bin/env python3
"""Benchmark (not a test): what checking a card's result against the public key costs.

    python3 tests/bench/card_result_checks.py [--count 2000]

cardki verifies every signature (and RSA decryption, and the ECDH secret's length)
before returning it (cardki.token.card_results). This times those checks alone,
on the host, for the key types a PIV card holds, and prints the median and p95 in
microseconds per result: the cost each C_Sign / C_Decrypt pays on top of the card.
Then the ECDSA P-256 check step by step, beside the ways of calling OpenSSL that
make fewer objects per call, so a cheaper check can be judged by what it saves.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import statistics
import time
from typing import Callable, Dict, List

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cardki.curves import curve_by_name
from cardki.token import card_results, rsa_padding


def timed(check: Callable[[], object], count: int) -> List[float]:
    for _ in range(50):
        check()
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        check()
        timings.append((time.perf_counter() - started) * 1e6)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    count = parser.parse_args().count
    digest = hashlib.sha256(b"benchmark").digest()
    cases = {}
    for bits in (2048, 3072, 4096):
        key = rsa.generate_private_key(65537, bits)
        k = bits // 8
        block = rsa_padding.pkcs1_v15_sign_pad(rsa_padding.digest_info("sha256", digest), k)
        signature = key.sign(b"benchmark", padding.PKCS1v15(), hashes.SHA256())
        assert pow(int.from_bytes(signature, "big"), 65537, key.public_key().public_numbers().n) == \
            int.from_bytes(block, "big")
        payload = rsa_padding.digest_info("sha256", digest)
        cases[f"RSA-{bits} PKCS#1 v1.5 signature"] = functools.partial(
            card_results.rsa_private_result, key.public_key(), block, signature, "signature", pkcs1_payload=payload)
        cases[f"RSA-{bits} other (PSS, raw, decrypt)"] = functools.partial(
            card_results.rsa_private_result, key.public_key(), block, signature, "signature")
    for curve, algorithm in ((ec.SECP256R1(), hashes.SHA256()), (ec.SECP384R1(), hashes.SHA384())):
        key = ec.generate_private_key(curve)
        field = hashlib.new(algorithm.name, b"benchmark").digest()
        der = key.sign(field, ec.ECDSA(Prehashed(algorithm)))
        cases[f"ECDSA {curve.name} signature"] = functools.partial(
            card_results.ecdsa_signature, key.public_key(), field, der)
    ed = ed25519.Ed25519PrivateKey.generate()
    cases["Ed25519 signature"] = functools.partial(
        card_results.eddsa_signature, ed.public_key(), b"benchmark", ed.sign(b"benchmark"))
    print(f"checking a card's result against the public key, {count} times each (microseconds):")
    print(f"{'result':<36} {'median':>8} {'p95':>8}")
    for name, check in cases.items():
        timings = timed(check, count)
        p95 = statistics.quantiles(timings, n=20)[-1]
        print(f"{name:<36} {statistics.median(timings):8.1f} {p95:8.1f}")
    print()
    print(f"where the ECDSA P-256 check goes ({count} times each, median and p95, microseconds):")
    for name, check in ecdsa_p256_parts(count).items():
        timings = timed(check, count)
        print(f"{name:<64} {statistics.median(timings):8.1f} {statistics.quantiles(timings, n=20)[-1]:8.1f}")
    return 0


def ecdsa_p256_parts(count: int) -> Dict[str, Callable[[], object]]:
    """The P-256 check split into its steps, and the ways of calling OpenSSL's verify that
    build less per call: what a cheaper check could save without checking less."""
    key = ec.generate_private_key(ec.SECP256R1())
    public_key = key.public_key()
    digest = hashlib.sha256(b"benchmark").digest()
    der = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    r, s = decode_dss_signature(der)
    algorithm = ec.ECDSA(Prehashed(hashes.SHA256()))
    curve = curve_by_name("secp256r1")
    assert curve is not None and curve.order is not None
    order = curve.order

    def range_check() -> None:
        r, s = decode_dss_signature(der)
        assert 0 < r < order and 0 < s < order  # noqa: S101
        encode_dss_signature(r, s)
        r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return {
        "card_results.ecdsa_signature (all of it, as each C_Sign runs it)":
            functools.partial(card_results.ecdsa_signature, public_key, digest, der),
        "OpenSSL's verify alone (algorithm object made once)": functools.partial(
            public_key.verify, der, digest, algorithm),
        "the verify as called now (ECDSA(Prehashed(SHA256())) made per call)": lambda: public_key.verify(
            der, digest, ec.ECDSA(Prehashed(hashes.SHA256()))),
        "DER decode, range check 1..n-1, re-encode, r || s": range_check,
        "the algorithm objects alone (ECDSA(Prehashed(SHA256())))": lambda: ec.ECDSA(Prehashed(hashes.SHA256())),
        "the public key rebuilt from its point (what once-per-key saves)": functools.partial(
            ec.EllipticCurvePublicKey.from_encoded_point, ec.SECP256R1(),
            public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)),
        "for scale: an ECDSA P-256 signature made on the host": functools.partial(
            key.sign, digest, algorithm),
        "for scale: the r, s integers from a raw r || s (no DER)": lambda: (
            int.from_bytes(r.to_bytes(32, "big"), "big"), int.from_bytes(s.to_bytes(32, "big"), "big")),
    }


if __name__ == "__main__":
    raise SystemExit(main())
