"""``cardki``: look at cards and tokens, sign a file, find the PKCS#11 module.

With no arguments it prints a report of every slot, token, object and
mechanism. With no card in any reader (or no pcscd at all) it shows cardki's
in-process virtual YubiKey instead, labelled as such, so a first run works with
nothing plugged in.

Errors are one line on stderr (``cardki: error: CKR_PIN_INCORRECT: ...``) and
exit status 1; usage errors exit 2 and never repeat a value from the command
line (a PIN typed in the wrong place must not be echoed): they name the option
or the position instead. ``--debug`` shows the traceback. Output into a pipe
that closes early (``cardki | head -3``) ends quietly with status 141, as if
SIGPIPE had ended the process. The PIN comes from ``--pin``, ``CARDKI_PIN`` or
a no-echo prompt and is never printed or logged.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import logging
import os
import re
import signal
import sys
from typing import Any, Callable, Dict, List, NoReturn, Sequence, Set, TextIO

from . import __version__

PIN_ENV = "CARDKI_PIN"
LOG_LEVELS = ("trace", "debug", "info", "warning", "error")


class CliError(Exception):
    """A failure worth one line to the user (no traceback)."""


class UsageError(Exception):
    """A command line the parser cannot take; :func:`main` reports it without its values."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error goes to :func:`main` (which knows the command line)
    instead of being printed here with the offending value quoted."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


# --------------------------------------------------------------------------- arguments

def _hex_id(text: str) -> bytes:
    cleaned = text.replace(":", "").replace(" ", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError("not a hex key ID") from None


def _mechanism(text: str) -> int:
    from .api import parse_mechanism

    try:
        return parse_mechanism(text)
    except ValueError:
        raise argparse.ArgumentTypeError("unknown mechanism (see `cardki mechanisms`)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cardki",
        description="PKCS#11 for PIV and OpenPGP smart cards and YubiKeys. Without a command: "
                    "a report of slots, tokens, objects and mechanisms.")
    parser.add_argument("--version", action="version", version=f"cardki {__version__}")
    parser.add_argument("--virtual", action="store_true",
                        help="use only the in-process virtual card, never a reader")
    parser.add_argument("--virtual-state", metavar="FILE",
                        help="keep the virtual card in FILE across runs (implies --virtual)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=None,
                        help="log to stderr; 'trace' shows APDUs (PINs and keys redacted)")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks for errors (implies --log-level debug)")

    slot_opt = _Parser(add_help=False)
    slot_opt.add_argument("--slot", type=int, metavar="N",
                          help="slot ID (default: the first slot with a token)")
    pin_opt = _Parser(add_help=False)
    pin_opt.add_argument("--pin", help=f"user PIN (safer: ${PIN_ENV} or the prompt)")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("report", parents=[slot_opt, pin_opt],
                        help="the default: slots, tokens, objects, mechanisms").add_argument(
        "--login", action="store_true", help="log in to list private objects too")
    commands.add_parser("slots", help="list slots (readers)")
    commands.add_parser("token", parents=[slot_opt], help="show the token in a slot")
    objects = commands.add_parser("objects", parents=[slot_opt, pin_opt],
                                  help="list keys, certificates and data objects")
    objects.add_argument("--login", action="store_true", help="log in to list private objects too")
    commands.add_parser("mechanisms", parents=[slot_opt], help="list the token's mechanisms")
    sign = commands.add_parser("sign", parents=[slot_opt, pin_opt], help="sign a file")
    sign.add_argument("--key-id", type=_hex_id, required=True, metavar="HEX",
                      help="CKA_ID of the private key (01 = PIV 9A, 02 = 9C, 03 = 9D, 04 = 9E)")
    sign.add_argument("--in", dest="input", required=True, metavar="FILE",
                      help="data to sign ('-' for stdin)")
    sign.add_argument("--out", dest="output", required=True, metavar="FILE",
                      help="where the signature goes ('-' for stdout)")
    sign.add_argument("--mechanism", type=_mechanism, metavar="MECH",
                      help="e.g. SHA256_RSA_PKCS, SHA256_RSA_PKCS_PSS, ECDSA_SHA384, EDDSA "
                           "(default by key type)")
    sign.add_argument("--der", action="store_true",
                      help="write ECDSA signatures DER-encoded instead of raw r||s")
    commands.add_parser("module-path", help="print the path of the PKCS#11 shared library")
    commands.add_parser("p11kit-module", help="print a p11-kit module file for cardki")
    return parser


def _vocabulary(parser: argparse.ArgumentParser) -> Set[str]:
    """Every word the parser itself defines (options, commands, choices): the only
    command-line words a usage error may repeat."""
    words: Set[str] = set()
    for action in parser._actions:
        words.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                words.add(name)
                words |= _vocabulary(subparser)
        elif action.choices:
            words.update(str(choice) for choice in action.choices)
    return words


def usage_message(message: str, argv: Sequence[str], vocabulary: Set[str]) -> str:
    """argparse's ``message`` with each value from ``argv`` replaced by its position
    ("[argument 3]"). argparse quotes values (``invalid choice: '123456'``) except in
    two lists it prints as typed (unrecognized arguments, an ambiguous option)."""
    positions: Dict[str, str] = {}
    for index, word in enumerate(argv, 1):
        values = [word]
        if word.startswith("-") and "=" in word:
            values.append(word.split("=", 1)[1])  # --login=123456: argparse quotes '123456'
        elif re.match(r"^-[^-]", word) and len(word) > 2:
            values.append(word[2:])  # -h123456
        for value in values:
            if value and value not in vocabulary:
                positions.setdefault(value, f"[argument {index}]")
    for value in sorted(positions, key=len, reverse=True):
        message = message.replace(repr(value), positions[value])
    head, separator, listed = message.partition(": ")
    if head in ("unrecognized arguments", "ambiguous option"):
        message = head + separator + " ".join(positions.get(word, word) for word in listed.split(" "))
    return message


# --------------------------------------------------------------------------- helpers

def _configure_logging(level_name: str | None, debug: bool) -> None:
    """Logging is off unless asked for: a PKCS#11 tool's stderr is for errors."""
    from .apdu.trace import TRACE

    if level_name is None and not debug:
        logging.getLogger("cardki").addHandler(logging.NullHandler())
        logging.getLogger("cardki").propagate = False
        return
    level = TRACE if level_name == "trace" else getattr(logging, (level_name or "debug").upper())
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _read_pin(args: argparse.Namespace) -> str:
    """--pin, then $CARDKI_PIN, then a no-echo prompt on a terminal."""
    if getattr(args, "pin", None):
        return str(args.pin)
    env = os.environ.get(PIN_ENV)
    if env:
        return env
    if sys.stdin.isatty():
        pin = getpass.getpass("PIN: ")
        if pin:
            return pin
    raise CliError(f"a PIN is needed: give --pin, set {PIN_ENV}, or run on a terminal")


def _choose_slot(lib: Any, slot_id: int | None) -> Any:
    if slot_id is not None:
        return lib.slot(slot_id)
    for slot in lib.slots(token_present=True):
        return slot
    raise CliError("no token in any slot (plug in a card, or try --virtual)")


def _open_token_session(lib: Any, args: argparse.Namespace, login: bool) -> Any:
    slot = _choose_slot(lib, args.slot)
    token = slot.token
    if not login:
        return token.open()
    pin = _read_pin(args)
    # The CLI asks once: the same PIN serves keys that need it again for each use (9C).
    return token.open(user_pin=pin, context_pin=pin)


def _virtual_note(slot: Any) -> str:
    return "  [virtual card in this process: no card in any reader]" if slot.is_virtual else ""


def _flag_names(flags: Any) -> str:
    names = [member.name for member in type(flags) if member.value and member in flags]
    return ", ".join(n for n in names if n) or "-"


# --------------------------------------------------------------------------- printers

def _print_slots(lib: Any, out: TextIO) -> None:
    slots = lib.slots()
    if not slots:
        print("No slots (no reader attached, pcscd not running?).", file=out)
        return
    for slot in slots:
        state = "token present" if slot.token_present else "empty"
        print(f"Slot {slot.slot_id}: {slot.description} ({state}){_virtual_note(slot)}", file=out)


def _print_token(slot: Any, out: TextIO, indent: str = "") -> None:
    token = slot.token
    info = token.info
    lines = [
        f"Token in slot {slot.slot_id}{_virtual_note(slot)}",
        f"  label:        {token.label}",
        f"  manufacturer: {token.manufacturer}",
        f"  model:        {token.model}",
        f"  serial:       {token.serial}",
        f"  firmware:     {info.firmware_version[0]}.{info.firmware_version[1]}",
        f"  PIN length:   {info.min_pin_len}-{info.max_pin_len}",
        f"  flags:        {_flag_names(token.flags)}",
    ]
    for line in lines:
        print(indent + line, file=out)


def _describe_object(obj: Any) -> str:
    from .api import CKA, CKK, Certificate, Key, PublicKey
    from .constants import constant_name

    kind = type(obj).__name__
    parts = [f"{kind:<12}", f"id={obj.id.hex() or '-':<4}", f"label={obj.label!r}"]
    if isinstance(obj, Key):
        key_type = obj.key_type
        desc = constant_name(CKK, key_type) if isinstance(key_type, int) else "?"
        bits = obj.key_length
        if isinstance(obj, PublicKey) and obj.curve:
            desc += f" {obj.curve}"
        elif bits:
            desc += f" {bits}"
        parts.append(desc)
        caps = [cap for cap in ("sign", "decrypt", "derive", "verify", "encrypt") if hasattr(obj, cap)]
        if caps:
            parts.append("(" + ", ".join(caps) + ")")
        if obj.get(CKA.ALWAYS_AUTHENTICATE):
            parts.append("[PIN for each use]")
    elif isinstance(obj, Certificate):
        try:
            parts.append(f"subject={obj.subject}")
        except ValueError:
            parts.append("subject=<unparsable>")
    return "  ".join(parts)


def _print_objects(session: Any, out: TextIO, indent: str = "") -> None:
    objects = session.objects()
    for obj in objects:
        print(indent + _describe_object(obj), file=out)
    if not objects:
        print(indent + "(no objects)", file=out)
    if session.info.state not in (1, 3):  # not CKS_R*_USER_FUNCTIONS
        print(indent + "(not logged in: private keys are listed with --login)", file=out)


def _print_mechanisms(token: Any, out: TextIO, indent: str = "") -> None:
    for _mechanism, info in sorted(token.mechanisms.items(), key=lambda item: int(item[0])):
        if not info.max_key_size:
            sizes = "-"
        elif info.min_key_size == info.max_key_size:
            sizes = str(info.max_key_size)
        else:
            sizes = f"{info.min_key_size}-{info.max_key_size}"
        print(f"{indent}{info.name:<32} keys {sizes:<10} {_flag_names(info.flags)}", file=out)


# --------------------------------------------------------------------------- commands

def cmd_report(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    """Everything at once; a token that fails one section gets an inline error
    line and the report goes on (exit status 1 at the end)."""
    from .errors import CryptokiError

    info = lib.info
    print(f"cardki {__version__}: {info.library_description.rstrip()} "
          f"(Cryptoki {info.cryptoki_version[0]}.{info.cryptoki_version[1]})", file=out)
    _print_slots(lib, out)
    slots = [lib.slot(args.slot)] if args.slot is not None else lib.slots(token_present=True)
    status = 0
    for slot in slots:
        print(file=out)
        sections: List[Any] = [
            ("", functools.partial(_print_token, slot, out)),
            ("  objects:", functools.partial(_report_objects, lib, slot, args, out)),
            ("  mechanisms:", lambda slot=slot: _print_mechanisms(slot.token, out, indent="    ")),
        ]
        for heading, section in sections:
            if heading:
                print(heading, file=out)
            try:
                section()
            except CryptokiError as exc:
                print(f"    error: {exc}", file=out)
                status = 1
    return status


def _report_objects(lib: Any, slot: Any, args: argparse.Namespace, out: TextIO) -> None:
    slot_args = argparse.Namespace(slot=slot.slot_id, pin=args.pin)
    with _open_token_session(lib, slot_args, args.login) as session:
        _print_objects(session, out, indent="    ")


def cmd_slots(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    _print_slots(lib, out)
    return 0


def cmd_token(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    _print_token(_choose_slot(lib, args.slot), out)
    return 0


def cmd_objects(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    with _open_token_session(lib, args, args.login) as session:
        _print_objects(session, out)
    return 0


def cmd_mechanisms(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    _print_mechanisms(_choose_slot(lib, args.slot).token, out)
    return 0


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def _write_output(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None


def cmd_sign(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    from .api import CKO

    data = args.data
    with _open_token_session(lib, args, login=True) as session:
        key = session.get_key(object_class=CKO.PRIVATE_KEY, id=args.key_id)
        if not hasattr(key, "sign"):
            raise CliError(f"the private key with ID {args.key_id.hex()} cannot sign")
        signature = key.sign(data, args.mechanism, to_der=args.der)
    _write_output(args.output, signature)
    if args.output != "-":
        print(f"wrote {len(signature)}-byte signature to {args.output}", file=out)
    return 0


def cmd_module_path(args: argparse.Namespace, out: TextIO) -> int:
    from . import capi

    finder = getattr(capi, "module_path", None)
    if finder is None:
        raise CliError("the PKCS#11 module is not built (cardki.capi has no module_path yet)")
    try:
        path = finder()
    except (FileNotFoundError, OSError, LookupError) as exc:
        raise CliError(str(exc)) from None
    if not path:
        raise CliError("the PKCS#11 module is not built")
    print(os.path.abspath(str(path)), file=out)
    return 0


def cmd_p11kit_module(args: argparse.Namespace, out: TextIO) -> int:
    from . import capi

    maker = getattr(capi, "p11kit_module_file", None)
    if maker is None:
        raise CliError("the PKCS#11 module is not built (cardki.capi has no p11kit_module_file yet)")
    try:
        text = maker()
    except (FileNotFoundError, OSError, LookupError) as exc:
        raise CliError(str(exc)) from None
    out.write(text if text.endswith("\n") else text + "\n")
    return 0


LIBRARY_COMMANDS: Dict[str, Callable[[Any, argparse.Namespace, TextIO], int]] = {
    "report": cmd_report,
    "slots": cmd_slots,
    "token": cmd_token,
    "objects": cmd_objects,
    "mechanisms": cmd_mechanisms,
    "sign": cmd_sign,
}
STANDALONE_COMMANDS: Dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "module-path": cmd_module_path,
    "p11kit-module": cmd_p11kit_module,
}


def _run(args: argparse.Namespace, out: TextIO) -> int:
    command = args.command or "report"
    if command in STANDALONE_COMMANDS:
        return STANDALONE_COMMANDS[command](args, out)
    if command == "report" and not hasattr(args, "pin"):
        args.pin, args.login, args.slot = None, False, None
    if command == "sign":
        args.data = _read_input(args.input)  # a wrong path is reported before touching any card
    from .api import Library

    with Library(virtual=args.virtual, virtual_state=args.virtual_state) as lib:
        return LIBRARY_COMMANDS[command](lib, args, out)


#: Exit status after the reader of stdout went away: what a shell reports for SIGPIPE.
BROKEN_PIPE_STATUS = 128 + int(signal.SIGPIPE)


def _error_line(exc: BaseException) -> str:
    """One line: the error and what happened after it (a virtual card that was not saved)."""
    return "; ".join([str(exc), *getattr(exc, "__notes__", ())])


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    try:
        return parser.parse_args(argv)
    except UsageError as exc:
        exc.parser.print_usage(sys.stderr)
        print(f"{exc.parser.prog}: error: {usage_message(str(exc), argv, _vocabulary(parser))}", file=sys.stderr)
        raise SystemExit(2) from None


def _quiet_broken_pipe() -> int:
    """The reader of stdout is gone (``cardki | head``): nothing more to say to anyone.
    stdout goes to /dev/null so that the interpreter's final flush stays quiet too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return BROKEN_PIPE_STATUS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cardki`` console script; returns the exit status."""
    parser = build_parser()
    args = _parse(parser, sys.argv[1:] if argv is None else list(argv))
    _configure_logging(args.log_level, args.debug)
    from .api import MultipleObjectsReturned, NoSuchKey, VirtualStateError
    from .errors import CryptokiError

    try:
        status = _run(args, sys.stdout)
        sys.stdout.flush()  # here, where a closed pipe is still ours to handle
        return status
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        print("cardki: interrupted", file=sys.stderr)
        return 130
    except (CryptokiError, CliError, NoSuchKey, MultipleObjectsReturned, VirtualStateError) as exc:
        if args.debug:
            raise
        print(f"cardki: error: {_error_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if args.debug:
            raise
        print(f"cardki: error: {type(exc).__name__}: {_error_line(exc)} (run with --debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
