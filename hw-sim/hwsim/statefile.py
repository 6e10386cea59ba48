"""The card's persistent state on disk: one JSON file, replaced atomically.

A real YubiKey keeps its keys, PINs and retry counters across unplugging; the
virtual one keeps them in a file so a restarted server (or a re-run of
``hw-sim/up --state FILE``) finds the card as it was. A write goes to a
temporary file in the same directory, is fsync'ed and then renamed over the old
file, so a crash leaves either the old or the new state, never half of one.

JSON cannot hold bytes; cards put key material in their state as bytes, so
bytes values are stored as ``{"$bytes": "<hex>"}`` and come back as bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Union

PathLike = Union[str, "os.PathLike[str]"]

_BYTES_KEY = "$bytes"


def _encode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {_BYTES_KEY: bytes(value).hex()}
    if isinstance(value, dict):
        return {str(key): _encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _decode_object(obj: dict) -> Any:
    if len(obj) == 1 and _BYTES_KEY in obj:
        return bytes.fromhex(obj[_BYTES_KEY])
    return obj


def dumps(state: dict) -> str:
    """Serialize a card state (bytes values allowed) to JSON text."""
    return json.dumps(_encode(state), indent=1, sort_keys=True)


class StateError(ValueError):
    """A state that is no card state this hwsim can use. The message says why and quotes
    nothing of the state (it holds the card's keys and PINs)."""


def loads(text: str) -> dict:
    """Parse JSON text written by :func:`dumps` (StateError if it is not such text)."""
    try:
        state = json.loads(text, object_hook=_decode_object)
    except json.JSONDecodeError as error:
        raise StateError(f"not JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    except ValueError:  # a {"$bytes": ...} that is not hex
        raise StateError("a bytes value is not hex") from None
    if not isinstance(state, dict):
        raise StateError("the file does not hold a JSON object")
    return state


def load_state(path: PathLike) -> dict | None:
    """The saved state, or None when the file does not exist (a factory-new card)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return loads(text)


def save_state(path: PathLike, state: dict) -> None:
    """Write ``state`` to ``path`` atomically (tmp + fsync + rename + dir fsync)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = dumps(state).encode("utf-8")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateKeeper:
    """Saves a card's state whenever its ``state_version`` moved.

    Cards without ``to_state``/``state_version`` (simple stand-ins) have no
    persistent state and are never written.
    """

    def __init__(self, path: PathLike | None) -> None:
        self.path: Path | None = Path(path) if path is not None else None
        self._saved_version: int | None = None
        self.saves = 0

    def mark_saved(self, card: object) -> None:
        """Remember the card's current version as already on disk (after loading)."""
        self._saved_version = getattr(card, "state_version", None)

    def save_if_changed(self, card: object) -> bool:
        """Persist the card if it changed since the last save; True when written."""
        if self.path is None or not hasattr(card, "to_state"):
            return False
        version = getattr(card, "state_version", None)
        if version is not None and version == self._saved_version:
            return False
        save_state(self.path, card.to_state())
        self._saved_version = version
        self.saves += 1
        return True

    def save(self, card: object) -> bool:
        """Persist the card now, whatever its version (a new card's factory state)."""
        self._saved_version = None
        return self.save_if_changed(card)
