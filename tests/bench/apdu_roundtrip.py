#!/usr/bin/env python3
"""Benchmark (not a test): one APDU round trip through pcscd + vpcd + hwsim.

    python3 tests/bench/apdu_roundtrip.py [--count 2000] [--reader 0] [--card SPEC]

Starts pcscd and a card server the way the fixtures do (stopping only what it
started), sends ``--count`` SELECTs through pyscard and prints mean, median and
p95 in milliseconds, plus the APDU count the card server saw (it must equal
the number sent: nothing is retried or duplicated on the way).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hw-sim"))

from hwsim import stack  # noqa: E402

SELECT_PIV = [0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08]


def measure(reader_name: str, count: int) -> list:
    from smartcard.System import readers

    (reader,) = [r for r in readers() if str(r) == reader_name]
    connection = reader.createConnection()
    connection.connect()
    try:
        for _ in range(50):  # warm up caches and the TCP path
            connection.transmit(SELECT_PIV)
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            _, sw1, sw2 = connection.transmit(SELECT_PIV)
            timings.append(time.perf_counter() - started)
            if (sw1, sw2) != (0x90, 0x00):
                raise RuntimeError(f"SELECT answered {sw1:02X}{sw2:02X}")
        return timings
    finally:
        connection.disconnect()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--reader", type=int, default=0,
                        help="reader index: 0, 1 Virtual PCD; 2, 3 Yubico YubiKey CCID (hwsim)")
    parser.add_argument("--card", default=None, help="card class (default: the virtual YubiKey)")
    parser.add_argument("--no-low-latency", dest="low_latency", action="store_false",
                        help="serve without TCP_NODELAY/TCP_QUICKACK, to see what they buy")
    args = parser.parse_args()

    with stack.exclusive_stack(on_wait=lambda: print("waiting for a test run to finish ...")):
        return run(args)


def run(args: argparse.Namespace) -> int:
    started_pcscd = stack.ensure_pcscd()
    stack.ensure_reader(args.reader, may_restart_pcscd=started_pcscd)  # 2, 3: the Yubico-named pair
    own_server = stack.running_server(args.reader) is None or not args.low_latency
    extra = [] if args.low_latency else ["--no-low-latency"]
    info = (stack.start_server(args.reader, card=args.card, parent_pid=os.getpid(), extra_args=extra)
            if own_server else stack.running_server(args.reader))
    try:
        info.control.reset_count()
        timings = measure(info.reader_name, args.count)
        seen = info.control.count()
    finally:
        if own_server:
            stack.stop_server(args.reader)
        if started_pcscd:
            stack.stop_pcscd()
    ms = sorted(t * 1000 for t in timings)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    tuning = "" if args.low_latency else " WITHOUT low-latency TCP"
    print(f"APDU round trip through pcscd+vpcd{tuning} ({args.count} SELECTs, card saw {seen - 50}):"
          f" mean {statistics.fmean(ms):.3f} ms, median {statistics.median(ms):.3f} ms,"
          f" p95 {p95:.3f} ms, max {ms[-1]:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
