"""What tomllib made of a profile file, kept beside it as Python keeps compiled modules.

A card's first use reads the profiles (detection chooses among them): parsing
them costs tomllib's import (~4 ms, datetime and string with it) and ~2 ms of
parsing in every process that starts. So the parsed tables are kept in the
profile directory's ``__pycache__``, in marshal's format (that of .pyc files),
together with the very text they were parsed from. An entry is used only when
the file's text is exactly that text, so it cannot go stale and the TOML file
stays the one source: a changed file, or a cache that is missing, unreadable,
from another Python or not an entry at all, is parsed again. The entry is then
written (atomically) where the directory is writable and ``sys.dont_write_bytecode``
does not forbid it, as Python writes .pyc files; where it cannot be written,
nothing changes but the time.

The cache holds nothing a .pyc beside it could not: whoever can write it can
write cardki's own compiled modules, so it is trusted as they are.
"""

from __future__ import annotations

import _thread
import marshal
import os
import sys
from typing import Any, Callable, Dict

Parsed = Dict[str, Any]


def cache_path(path: str) -> str | None:
    """Where the entry for the file at ``path`` is kept (None: this Python keeps no caches)."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    directory, name = os.path.split(path)
    return os.path.join(directory, "__pycache__", f"{name}.{tag}.marshal")


def parsed(path: str, text: str, parse: Callable[[str], Parsed]) -> Parsed:
    """``parse(text)`` for the file at ``path`` (whose content is ``text``), from its
    cache entry when the entry was made from exactly this text."""
    cache = cache_path(path)
    if cache is not None:
        try:
            with open(cache, "rb") as stream:
                cached_text, tables = marshal.loads(stream.read())
            if cached_text == text and isinstance(tables, dict):
                return tables
        except (OSError, EOFError, ValueError, TypeError):
            pass  # no entry, or not one: parsed below
    tables = parse(text)
    if cache is not None and not sys.dont_write_bytecode:
        _write(cache, text, tables)
    return tables


def _write(cache: str, text: str, tables: Parsed) -> None:
    try:
        data = marshal.dumps((text, tables))
    except ValueError:
        return  # a value marshal cannot keep (a TOML date): such a file is parsed each time
    temporary = f"{cache}.{os.getpid()}.{_thread.get_ident()}.tmp"  # one writer per name
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(temporary, "wb") as stream:
            stream.write(data)
        os.replace(temporary, cache)  # readers see the old entry or the whole new one
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


__all__ = ["cache_path", "parsed"]
