"""``cardki``: look at cards and tokens, sign, verify, encrypt and decrypt files,
administer PIV cards (``cardki piv ...``, :mod:`cardki.cli_piv`), find the PKCS#11
module.

With no arguments it prints a report of every slot, token, object and
mechanism. With no card in any reader (or no pcscd at all) it shows cardki's
in-process virtual YubiKey instead, labelled as such, so a first run works with
nothing plugged in.

Errors are one line on stderr (``cardki: error: CKR_PIN_INCORRECT: ...``) and
exit status 1; usage errors exit 2 and never repeat a value from the command
line (a PIN typed in the wrong place must not be echoed): they name the option
or the position instead. ``--debug`` shows the traceback. Output into a pipe
that closes early (``cardki | head -3``) ends quietly with status 141, as if
SIGPIPE had ended the process. The PIN comes from ``-P``/``--pin``, ``CARDKI_PIN``
or a no-echo prompt and is never printed or logged (the PUK and the management
key likewise: :mod:`cardki.cli_common`). Every command's ``--help`` ends with an
example.
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import re
import signal
import sys
from typing import Any, Callable, Dict, List, NoReturn, Sequence, Set, TextIO

from . import __version__
from .cli_common import (
    PIN_ENV,
    CliError,
    choose_slot,
    find_key,
    parse_uri_argument,
    piv_slot,
    read_input,
    secret,
    write_output,
)

LOG_LEVELS = ("trace", "debug", "info", "warning", "error")


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


def _command(commands: Any, name: str, help_text: str, example: str,
             parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does and ends with an example."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, parents=list(parents), help=help_text, description=help_text, epilog=f"Example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


def _key_options(parser: argparse.ArgumentParser) -> None:
    """--slot / --key-id / --key: the key a sign, verify, encrypt or decrypt uses."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--slot", type=piv_slot, metavar="SLOT",
                       help="the key's PIV slot: 9a, 9c, 9d, 9e, 82-95")
    which.add_argument("--key-id", type=_hex_id, metavar="HEX",
                       help="the key's CKA_ID (01 = PIV 9A, 02 = 9C, 03 = 9D, 04 = 9E)")
    which.add_argument("--key", type=parse_uri_argument, metavar="URI",
                       help="a pkcs11: URI (RFC 7512), e.g. 'pkcs11:id=%%01;type=private'")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given ``argv`` without ``piv`` in it, the ``piv`` commands
    are only named (their thirty parsers would cost every other command's start)."""
    parser = _Parser(
        prog="cardki",
        description="PKCS#11 for PIV and OpenPGP smart cards and YubiKeys. Without a command: "
                    "a report of slots, tokens, objects and mechanisms.",
        epilog="Example:\n  cardki --virtual-state card.json piv keys generate 9a -a ECCP256",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cardki {__version__}")
    parser.add_argument("--virtual", action="store_true",
                        help="use only the in-process virtual card, never a reader")
    parser.add_argument("--virtual-state", metavar="FILE",
                        help="keep the virtual card in FILE across runs (implies --virtual)")
    parser.add_argument("-r", "--token", "--reader", dest="token", metavar="TOKEN",
                        help="which token: a slot number, a pkcs11: URI, or text in the reader's name or the "
                             "token's label (default: the first token; for `piv`, the first PIV token)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=None,
                        help="log to stderr; 'trace' shows APDUs (PINs and keys redacted)")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks for errors (implies --log-level debug)")

    slot_opt = _Parser(add_help=False)
    slot_opt.add_argument("--slot", type=int, metavar="N",
                          help="slot ID (default: --token, else the first slot with a token)")
    pin_opt = _Parser(add_help=False)
    pin_opt.add_argument("-P", "--pin", help=f"user PIN (safer: ${PIN_ENV} or the prompt)")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _command(commands, "report", "the default: slots, tokens, objects, mechanisms", "cardki report --login",
             [slot_opt, pin_opt]).add_argument("--login", action="store_true", help="log in to list private objects too")
    _command(commands, "slots", "list slots (readers)", "cardki slots")
    _command(commands, "token", "show the token in a slot", "cardki token --slot 0", [slot_opt])
    objects = _command(commands, "objects", "list keys, certificates and data objects", "cardki objects --login",
                       [slot_opt, pin_opt])
    objects.add_argument("--login", action="store_true", help="log in to list private objects too")
    _command(commands, "mechanisms", "list the token's mechanisms", "cardki mechanisms", [slot_opt])

    sign = _command(commands, "sign", "sign a file with a key on the card",
                    "cardki sign --slot 9a --in doc.pdf --out doc.sig", [pin_opt])
    _key_options(sign)
    sign.add_argument("--in", dest="input", required=True, metavar="FILE", help="data to sign ('-' for stdin)")
    sign.add_argument("--out", dest="output", required=True, metavar="FILE",
                      help="where the signature goes ('-' for stdout)")
    sign.add_argument("--mechanism", type=_mechanism, metavar="MECH",
                      help="e.g. SHA256_RSA_PKCS, SHA256_RSA_PKCS_PSS, ECDSA_SHA384, EDDSA (default by key type)")
    form = sign.add_mutually_exclusive_group()
    form.add_argument("--raw", action="store_true", help="ECDSA signatures as PKCS#11's r||s instead of DER")
    form.add_argument("--der", action="store_true", help=argparse.SUPPRESS)  # DER is the default now

    verify = _command(commands, "verify", "check a signature with a public key on the card (on the host)",
                      "cardki verify --slot 9a --in doc.pdf --signature doc.sig")
    _key_options(verify)
    verify.add_argument("--in", dest="input", required=True, metavar="FILE", help="the signed data ('-' for stdin)")
    verify.add_argument("--signature", required=True, metavar="FILE", help="the signature")
    verify.add_argument("--mechanism", type=_mechanism, metavar="MECH", help="as for sign (default by key type)")
    verify.add_argument("--raw", action="store_true", help="an ECDSA signature given as r||s (DER is read too)")

    encrypt = _command(commands, "encrypt", "encrypt a file for an RSA key on the card (on the host)",
                       "cardki encrypt --slot 9d --in secret.txt --out secret.bin")
    _key_options(encrypt)
    decrypt = _command(commands, "decrypt", "decrypt a file with an RSA key on the card",
                       "cardki decrypt --slot 9d --in secret.bin --out secret.txt", [pin_opt])
    _key_options(decrypt)
    for cipher in (encrypt, decrypt):
        cipher.add_argument("--in", dest="input", required=True, metavar="FILE", help="input ('-' for stdin)")
        cipher.add_argument("--out", dest="output", required=True, metavar="FILE", help="output ('-' for stdout)")
        cipher.add_argument("--mechanism", type=_mechanism, default=None, metavar="MECH",
                            help="RSA_PKCS (the default, as openssl pkeyutl) or RSA_PKCS_OAEP (SHA-256)")

    if argv is None or "piv" in argv:
        from . import cli_piv

        cli_piv.add_commands(commands, _Parser)
    else:
        commands.add_parser("piv", help="PIV administration (as `ykman piv`)")
    _command(commands, "module-path", "print the path of the PKCS#11 shared library",
             "pkcs11-tool --module \"$(cardki module-path)\" -L")
    _command(commands, "p11kit-module", "print a p11-kit module file for cardki",
             "cardki p11kit-module > ~/.config/pkcs11/modules/cardki.module")
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
    """-P/--pin, then the pkcs11: URI's pin-value, then $CARDKI_PIN, then a no-echo prompt."""
    uri = getattr(args, "key", None)
    given = getattr(args, "pin", None) or (uri.query.get("pin-value") if uri is not None else None)
    return secret(given, PIN_ENV, "PIN", "-P")


def _choose_slot(lib: Any, slot_id: int | None, args: argparse.Namespace | None = None) -> Any:
    """``--slot N`` where a listing command has it, else what --token (or --key's URI) names."""
    if slot_id is not None:
        return lib.slot(slot_id)
    return choose_slot(lib, getattr(args, "token", None), getattr(args, "key", None))


def _open_token_session(lib: Any, args: argparse.Namespace, login: bool) -> Any:
    slot = _choose_slot(lib, args.slot, args)
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
    slot_args = argparse.Namespace(slot=slot.slot_id, pin=args.pin, token=None)
    with _open_token_session(lib, slot_args, args.login) as session:
        _print_objects(session, out, indent="    ")


def cmd_slots(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    _print_slots(lib, out)
    return 0


def cmd_token(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    _print_token(_choose_slot(lib, args.slot, args), out)
    return 0


def cmd_objects(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    with _open_token_session(lib, args, args.login) as session:
        _print_objects(session, out)
    return 0


def cmd_mechanisms(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    _print_mechanisms(_choose_slot(lib, args.slot, args).token, out)
    return 0


def _key_session(lib: Any, args: argparse.Namespace, login: bool) -> Any:
    """A session with the token the command names; for ``--slot 9a``, a PIV token."""
    slot = choose_slot(lib, args.token, args.key, piv=args.slot is not None)
    token = slot.token
    if not login:
        return token.open()
    pin = _read_pin(args)
    return token.open(user_pin=pin, context_pin=pin)


def _key(session: Any, args: argparse.Namespace, object_class: int) -> Any:
    return find_key(session, object_class, piv_slot=args.slot, key_id=args.key_id, uri=args.key)


def _key_name(args: argparse.Namespace) -> str:
    if args.slot is not None:
        return f"in slot {args.slot}"
    if args.key_id is not None:
        return f"with ID {args.key_id.hex()}"
    return "the URI names"


def cmd_sign(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    from .api import CKO

    data = args.data
    with _key_session(lib, args, login=True) as session:
        key = _key(session, args, CKO.PRIVATE_KEY)
        if not hasattr(key, "sign"):
            raise CliError(f"the private key {_key_name(args)} cannot sign")
        signature = key.sign(data, args.mechanism, to_der=not args.raw)
    write_output(args.output, signature)
    if args.output != "-":
        print(f"wrote {len(signature)}-byte signature to {args.output}", file=out)
    return 0


def cmd_verify(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    from .api import CKO

    with _key_session(lib, args, login=False) as session:
        key = _key(session, args, CKO.PUBLIC_KEY)
        if not hasattr(key, "verify"):
            raise CliError(f"the public key {_key_name(args)} cannot verify")
        good = key.verify(args.data, read_input(args.signature), args.mechanism)
    if not good:
        raise CliError("the signature does not verify")
    print("the signature verifies", file=out)
    return 0


def _cipher_mechanism(args: argparse.Namespace) -> int:
    from .api import CKM

    mechanism = CKM.RSA_PKCS if args.mechanism is None else args.mechanism
    if mechanism not in (CKM.RSA_PKCS, CKM.RSA_PKCS_OAEP, CKM.RSA_X_509):
        raise CliError("encrypt and decrypt take RSA_PKCS, RSA_PKCS_OAEP or RSA_X_509")
    return int(mechanism)


def cmd_encrypt(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    from .api import CKO

    mechanism = _cipher_mechanism(args)
    with _key_session(lib, args, login=False) as session:
        key = _key(session, args, CKO.PUBLIC_KEY)
        if not hasattr(key, "encrypt"):
            raise CliError(f"the public key {_key_name(args)} cannot encrypt (only RSA keys do)")
        result = key.encrypt(args.data, mechanism)
    write_output(args.output, result)
    if args.output != "-":
        print(f"wrote {len(result)} encrypted bytes to {args.output}", file=out)
    return 0


def cmd_decrypt(lib: Any, args: argparse.Namespace, out: TextIO) -> int:
    from .api import CKO

    mechanism = _cipher_mechanism(args)
    with _key_session(lib, args, login=True) as session:
        key = _key(session, args, CKO.PRIVATE_KEY)
        if not hasattr(key, "decrypt"):
            raise CliError(f"the private key {_key_name(args)} cannot decrypt (only RSA keys do)")
        result = key.decrypt(args.data, mechanism)
    write_output(args.output, result)
    if args.output != "-":
        print(f"wrote {len(result)} decrypted bytes to {args.output}", file=out)
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
    "verify": cmd_verify,
    "encrypt": cmd_encrypt,
    "decrypt": cmd_decrypt,
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
    if command in ("sign", "verify", "encrypt", "decrypt"):
        args.data = read_input(args.input)  # a wrong path is reported before touching any card
    handler = getattr(args, "handler", None) or LIBRARY_COMMANDS[command]
    from .api import Library

    with Library(virtual=args.virtual, virtual_state=args.virtual_state) as lib:
        return handler(lib, args, out)


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
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(words)
    args = _parse(parser, words)
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


def script() -> None:
    """The ``cardki`` console script: :func:`main`, then an exit in which the interpreter
    does not take apart what the command imported. Every card, session and file the
    command opened is closed by then, so the collector's last passes over the ~25,000
    objects of cardki, cryptography and hwsim would only cost time: tearing them down
    took ~10 ms of each command's exit (14 -> 3.4 ms for the imports alone, measured).
    ``gc.freeze`` leaves them to the operating system; the atexit handlers (logging's
    flush) and the standard streams' flush still run. Not in :func:`main`, which tests
    and other programs may call in a process that goes on."""
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    script()
