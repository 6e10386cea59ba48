"""Command line: ``python3 -m hwsim serve ...`` and ``python3 -m hwsim control ...``.

``serve`` runs one virtual card in one vpcd reader until SIGTERM/SIGINT, a
``shutdown`` control command, or the death of ``--parent-pid``.
``control`` sends one control command to a running server and prints the reply.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import List

from hwsim.control import CardControl, ControlError
from hwsim.server import (
    CARD_KINDS,
    DEFAULT_CARD,
    DEFAULT_FIRMWARE,
    DEFAULT_SERIAL,
    CardServer,
    parse_firmware,
)


def _parse_args(argv: List[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hwsim", description="Virtual smart cards for vpcd.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one virtual card in one vpcd reader")
    serve.add_argument("--reader", type=int, default=0,
                       help="reader index: 0/1 -> 'Virtual PCD 00 0N' (ports 35963/35964), "
                            "2/3 -> 'Yubico YubiKey CCID (hwsim) 00 0N' (35965/35966) (default 0)")
    serve.add_argument("--state", help="persistent state file (loaded at start, saved on change)")
    serve.add_argument("--firmware", type=parse_firmware, default=DEFAULT_FIRMWARE,
                       help="firmware version X.Y.Z (default 5.7.2)")
    serve.add_argument("--serial", type=int, default=DEFAULT_SERIAL,
                       help=f"serial number (default {DEFAULT_SERIAL})")
    serve.add_argument("--trace", help="append a redacted APDU trace to this file")
    serve.add_argument("--control", help="Unix socket for the JSON-lines control channel")
    serve.add_argument("--card", default=DEFAULT_CARD,
                       help=f"card: {', '.join(CARD_KINDS)}, or a class as MODULE:CLASS or FILE.py:CLASS"
                            f" (default {DEFAULT_CARD})")
    serve.add_argument("--host", default="127.0.0.1", help="vpcd host (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="vpcd port (default 35963 + reader)")
    serve.add_argument("--parent-pid", type=int,
                       help="exit when this process is gone (test runs use their own pid)")
    serve.add_argument("--no-low-latency", dest="low_latency", action="store_false",
                       help="leave Nagle and delayed ACKs on (to measure what the tuning buys)")
    serve.add_argument("-v", "--verbose", action="store_true", help="log connection events")

    control = commands.add_parser("control", help="send one command to a running card server")
    control.add_argument("socket", help="the server's control socket")
    control.add_argument("cmd", help="status, remove, insert, inject_sw, delay, truncate, "
                                     "clear_faults, touch, trace, count, reset_count, new_card, shutdown")
    control.add_argument("arguments", nargs="?", default="{}",
                         help='JSON object of arguments, e.g. \'{"sw": "6982", "count": 2}\'')
    return parser.parse_args(argv)


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s hwsim[%(process)d] %(levelname)s %(message)s")
    server = CardServer(
        reader=args.reader, card_spec=args.card, firmware=args.firmware, serial=args.serial,
        state_path=args.state, trace_path=args.trace, control_path=args.control,
        host=args.host, port=args.port, low_latency=args.low_latency)

    def request_stop(signum: int, frame: object) -> None:
        server.stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server.start()
    while not server.stop_requested.wait(0.5):
        if args.parent_pid is not None and not _process_exists(args.parent_pid):
            break
    server.stop()
    return 0


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _control(args: argparse.Namespace) -> int:
    arguments = json.loads(args.arguments)
    try:
        reply = CardControl(args.socket).request(args.cmd, **arguments)
    except ControlError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(reply, indent=1))
    return 0


def main(argv: List[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return _control(args)


if __name__ == "__main__":
    sys.exit(main())
