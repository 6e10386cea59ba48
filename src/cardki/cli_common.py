"""What the ``cardki`` commands share: secrets, files, the token and key a command
names, progress on a terminal. Nothing here is imported before a command runs
(cryptography and the engine load where a command needs them).

Secrets (PIN, PUK, management key) come from an option, then the environment
(CARDKI_PIN, CARDKI_PUK, CARDKI_MANAGEMENT_KEY), then a prompt that does not echo
(only on a terminal); they are never printed, and no error message holds one.
A token is named by ``--token``: a slot number, a ``pkcs11:`` URI (RFC 7512), or
text found in the reader's name or the token's label; a key by ``--slot 9a``,
``--key-id 01`` or ``--key pkcs11:...``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, TextIO

if TYPE_CHECKING:
    from .api import Library, Session, Slot
    from .uri import Pkcs11Uri

PIN_ENV = "CARDKI_PIN"
PUK_ENV = "CARDKI_PUK"
MANAGEMENT_KEY_ENV = "CARDKI_MANAGEMENT_KEY"


class CliError(Exception):
    """A failure worth one line to the user (no traceback)."""


# --------------------------------------------------------------------------- secrets

def _prompt(prompt: str) -> str | None:
    """A no-echo prompt on the terminal, or None when there is none."""
    if not sys.stdin.isatty():
        return None
    return getpass.getpass(prompt)


def secret(given: str | None, env: str, what: str, option: str) -> str:
    """``given`` (the option), else ``$env``, else a no-echo prompt on a terminal."""
    if given:
        return given
    from_env = os.environ.get(env)
    if from_env:
        return from_env
    typed = _prompt(f"{what}: ")
    if typed:
        return typed
    raise CliError(f"a {what} is needed: give {option}, set {env}, or run on a terminal")


def new_secret(given: str | None, what: str, option: str) -> str:
    """A new value: ``given``, else asked twice on a terminal."""
    if given:
        return given
    first = _prompt(f"New {what}: ")
    if first is None:
        raise CliError(f"a new {what} is needed: give {option}, or run on a terminal")
    if _prompt(f"Repeat the new {what}: ") != first:
        raise CliError(f"the two new {what}s differ")
    if not first:
        raise CliError(f"the new {what} is empty")
    return first


def confirm(question: str, force: bool) -> None:
    """Go on only with ``-f`` or a "y" typed on the terminal."""
    if force:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{question}: confirm with -f (--force)")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError("not confirmed")


# --------------------------------------------------------------------------- files

def read_input(path: str) -> bytes:
    """A file's bytes ('-': stdin); one line naming the file when it cannot be read."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def write_output(path: str, data: bytes) -> None:
    """``data`` into a file ('-': stdout)."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None


def pem_or_der(der: bytes, label: str, form: str) -> bytes:
    """DER as PEM (``-----BEGIN label-----``), what openssl reads by default, or as it is."""
    if form == "der":
        return der
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode("ascii")


# --------------------------------------------------------------------------- progress

@contextmanager
def progress(what: str, stream: TextIO | None = None) -> Iterator[None]:
    """On a terminal, "``what``... 1.2 s" on stderr while the block runs (cleared
    afterwards); nothing at all when stderr is not a terminal."""
    out = stream or sys.stderr
    if not out.isatty():
        yield
        return
    done = threading.Event()
    start = time.monotonic()

    def show() -> None:
        while True:
            out.write(f"\r{what}... {time.monotonic() - start:.1f} s")
            out.flush()
            if done.wait(0.1):
                break
        out.write("\r\x1b[K")
        out.flush()

    thread = threading.Thread(target=show, name="cardki-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


# --------------------------------------------------------------------------- tokens and keys

def parse_uri_argument(text: str) -> Pkcs11Uri:
    """An argparse type: a ``pkcs11:`` URI (usage error naming what is wrong, never the value)."""
    from .uri import parse

    try:
        return parse(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None


def piv_slot(text: str) -> str:
    """An argparse type: a PIV slot (9a, 9c, 9d, 9e, 82-95, f9, or ykman's names)."""
    from .api_piv import parse_slot

    try:
        parse_slot(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None
    return text


def _token_fields(slot: Slot) -> Dict[str, str]:
    token = slot.token
    return {"label": token.label, "manufacturer": token.manufacturer, "serial": token.serial,
            "model": token.model}


def _is_piv(slot: Slot) -> bool:
    from . import errors

    try:
        with slot.token.open() as session:
            return session.piv.available
    except errors.CryptokiError:
        return False


def choose_slot(lib: Library, spec: str | None, uri: Pkcs11Uri | None = None, *, piv: bool = False) -> Slot:
    """The slot a command means: ``spec`` (``--token``: a slot number, a ``pkcs11:`` URI,
    or text in the reader's name or the token's label), else the token ``uri`` names,
    else the first slot with a token (with ``piv``: the first PIV token)."""
    from .uri import is_uri, parse

    if spec is not None and spec.strip().isdigit():
        return lib.slot(int(spec))
    if spec is not None and is_uri(spec):
        try:
            uri = parse(spec)
        except ValueError as problem:
            raise CliError(f"--token: {problem}") from None
        spec = None
    candidates: List[Slot] = lib.slots(token_present=True)
    if spec is not None:
        needle = spec.lower()
        candidates = [slot for slot in candidates
                      if needle in slot.description.lower() or needle in slot.token.label.lower()]
        if not candidates:
            raise CliError("no token in a reader of that name or with that label (see `cardki slots`)")
    if uri is not None and uri.names_token:
        candidates = [slot for slot in candidates
                      if uri.matches_slot(slot.slot_id, slot.description, slot.manufacturer)
                      and uri.matches_token(_token_fields(slot))]
        if not candidates:
            raise CliError("no token matches the pkcs11: URI")
    if piv:
        candidates = [slot for slot in candidates if _is_piv(slot)]
        if not candidates:
            raise CliError("no PIV token in any slot (plug in a card, or try --virtual)")
    if not candidates:
        raise CliError("no token in any slot (plug in a card, or try --virtual)")
    return candidates[0]


def describe_search(template: Dict[int, Any]) -> str:
    from .constants import CKA, CKO, constant_name

    parts = []
    if CKA.CLASS in template:
        parts.append(f"class {constant_name(CKO, template[CKA.CLASS])}")
    if CKA.ID in template:
        parts.append(f"id {bytes(template[CKA.ID]).hex() or '(empty)'}")
    if CKA.LABEL in template:
        parts.append("that label")
    return ", ".join(parts) or "(any)"


_URI_CLASSES = {"private": 3, "public": 2, "cert": 1, "data": 0, "secret-key": 4}


def find_key(session: Session, object_class: int, *, piv_slot: str | None, key_id: bytes | None,
             uri: Pkcs11Uri | None) -> Any:
    """The one key of ``object_class`` that ``--slot``, ``--key-id`` or ``--key`` names."""
    from .constants import CKA

    template: Dict[int, Any] = {CKA.CLASS: int(object_class)}
    if piv_slot is not None:
        template[CKA.ID] = session.piv.key_id(piv_slot)
    if key_id is not None:
        template[CKA.ID] = key_id
    if uri is not None:
        wanted = uri.object_type
        if wanted is not None and _URI_CLASSES[wanted] != object_class:
            raise CliError(f"the pkcs11: URI names a {wanted} object; this command uses the "
                           f"{'private' if object_class == 3 else 'public'} key")
        if uri.id is not None:
            template[CKA.ID] = uri.id
        if uri.label is not None:
            template[CKA.LABEL] = uri.label
    found = session.objects(template)
    if not found:
        raise CliError(f"no key matches {describe_search(template)}")
    if len(found) > 1:
        raise CliError(f"{len(found)} keys match {describe_search(template)}: name one by --key-id or --slot")
    return found[0]


__all__ = ["CliError", "PIN_ENV", "PUK_ENV", "MANAGEMENT_KEY_ENV", "secret", "new_secret", "confirm", "read_input",
           "write_output", "pem_or_der", "progress", "parse_uri_argument", "piv_slot", "choose_slot", "find_key",
           "describe_search"]
