"""What tomllib made of a profile file, kept so that the next process need not parse it.

A card's first use reads the profiles (detection chooses among them): parsing
them costs tomllib's import (~4 ms, datetime and string with it) and ~2 ms of
parsing, ~7 ms of a first token in all, in every process that starts. So the
parsed tables are kept in marshal's format (that of .pyc files), together with
the very text they were parsed from. An entry is used only when the file's text
is exactly that text, so it cannot go stale and the TOML file stays the one
source: a changed file, or an entry that is missing, unreadable, from another
Python or not an entry at all, is parsed again.

Where entries are kept, in the order they are looked for:

1. the profile directory's ``__pycache__``, as Python keeps compiled modules
   (written by the first process that may write there, or when the package is
   built: :func:`write_entries`, which ``setup.py`` calls and ``python -m cardki.profiles``
   runs, as ``hw-sim/bootstrap`` does);
2. the user's cache, ``$XDG_CACHE_HOME/cardki/profiles`` (``~/.cache/...`` without
   it), for an install this user cannot write (a root-owned site-packages, a
   read-only image): one entry per profile file, named after the file's whole path,
   so two installs never take turns overwriting one entry.

An entry is written where ``sys.dont_write_bytecode`` allows, into the first of
the two where that works, atomically (a temporary file renamed into place:
readers see the old entry or the whole new one); where neither works, nothing
changes but the time.

marshal is not made for untrusted data (a crafted entry can crash the
interpreter), so an entry is read only from a directory, and as a file, owned by
this user or by root and writable by neither group nor others (checked on the
opened descriptors, so a rename in between changes nothing): whoever can write
such a file can already change what this user runs. A package directory made
group-writable (a umask of 002) is passed over for the user's cache, which is
created private (0700).
"""

from __future__ import annotations

import _thread
import marshal
import os
import stat
import sys
from typing import Any, Callable, Dict, List, Tuple

Parsed = Dict[str, Any]
#: Mode bits that let someone other than the owner change a directory or a file.
_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH
_SUFFIX = ".marshal"


def package_entry(path: str) -> Tuple[str, str] | None:
    """(directory, file name) of the entry for the profile file at ``path`` in its
    directory's ``__pycache__`` (None: this Python keeps no caches)."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, "__pycache__"), f"{name}.{tag}{_SUFFIX}"


def user_entry(path: str) -> Tuple[str, str] | None:
    """(directory, file name) of the entry for the profile file at ``path`` in the
    user's cache (None: no cache tag, or no home directory to put it in). The name is
    the file's absolute path, quoted (``%`` as ``%25``, the separator as ``%2F``)."""
    tag = sys.implementation.cache_tag
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG rule: a relative value is ignored
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    if tag is None:
        return None
    quoted = os.path.abspath(path).replace("%", "%25").replace(os.sep, "%2F")
    return os.path.join(base, "cardki", "profiles"), f"{quoted}.{tag}{_SUFFIX}"


def parsed(path: str, text: str, parse: Callable[[str], Parsed]) -> Parsed:
    """``parse(text)`` for the file at ``path`` (whose content is ``text``), from a
    kept entry when one was made from exactly this text."""
    places = [place for place in (package_entry(path), user_entry(path)) if place is not None]
    for directory, name in places:
        tables = _load(directory, name, text)
        if tables is not None:
            return tables
    tables = parse(text)
    if not sys.dont_write_bytecode:
        data = _dumps(text, tables)
        if data is not None:
            for index, (directory, name) in enumerate(places):
                if _write(directory, name, data, private=index > 0):
                    break
    return tables


def write_entries(directory: str, parse: Callable[[str], Parsed]) -> List[str]:
    """Write the ``__pycache__`` entry of every ``*.toml`` file in ``directory`` (when
    the package is built or installed, so a process that cannot write there never
    parses); returns the entries written. Raises OSError where they cannot be written."""
    written = []
    for file_name in sorted(os.listdir(directory)):
        if not file_name.endswith(".toml"):
            continue
        path = os.path.join(directory, file_name)
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
        place = package_entry(path)
        data = _dumps(text, parse(text))
        if place is None or data is None:
            continue
        if not _write(*place, data, private=False):
            raise OSError(f"cannot write {os.path.join(*place)}")
        written.append(os.path.join(*place))
    return written


def _trusted(status: os.stat_result) -> bool:
    """Whether only this user (or root) can have written what ``status`` describes."""
    return status.st_uid in (os.geteuid(), 0) and not status.st_mode & _WRITABLE_BY_OTHERS


def _load(directory: str, name: str, text: str) -> Parsed | None:
    try:
        directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None  # no such directory: nothing kept there
    try:
        if not _trusted(os.fstat(directory_fd)):
            return None
        with open(os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=directory_fd), "rb") as stream:
            status = os.fstat(stream.fileno())
            if not stat.S_ISREG(status.st_mode) or not _trusted(status):
                return None
            cached_text, tables = marshal.loads(stream.read())
        if cached_text == text and isinstance(tables, dict):
            return tables
    except (OSError, EOFError, ValueError, TypeError):
        pass  # no entry, or not one: parsed by the caller
    finally:
        os.close(directory_fd)
    return None


def _dumps(text: str, tables: Parsed) -> bytes | None:
    try:
        return marshal.dumps((text, tables))
    except ValueError:
        return None  # a value marshal cannot keep (a TOML date): such a file is parsed each time


def _write(directory: str, name: str, data: bytes, private: bool) -> bool:
    """Put ``data`` at ``directory/name`` atomically; False where that cannot be done.
    ``private``: the directory is the user's own cache (created 0700, entries 0600);
    otherwise a ``__pycache__`` (created 0755, entries 0644: never group-writable,
    whatever the umask). A directory that fails the check of a read is not written
    (an entry there would never be read), so the next place is tried."""
    try:
        os.makedirs(directory, mode=0o700 if private else 0o755, exist_ok=True)
        directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    temporary = f"{name}.{os.getpid()}.{_thread.get_ident()}.tmp"  # one writer per name
    try:
        if not _trusted(os.fstat(directory_fd)):
            return False
        file_fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644,
                          dir_fd=directory_fd)
        with open(file_fd, "wb") as stream:
            stream.write(data)
        os.replace(temporary, name, src_dir_fd=directory_fd, dst_dir_fd=directory_fd)
        return True
    except OSError:
        try:
            os.unlink(temporary, dir_fd=directory_fd)
        except OSError:
            pass
        return False
    finally:
        os.close(directory_fd)


__all__ = ["package_entry", "parsed", "user_entry", "write_entries"]
