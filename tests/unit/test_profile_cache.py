"""The parsed profiles kept in profiles/__pycache__ or the user's cache
(cardki.token.profile_cache): used only for exactly the text they were parsed
from, so an edited file is read as it is now, whatever its size or time stamp; a
broken entry is parsed again; an entry someone else could have written is never
unmarshalled; an install this user cannot write still parses each profile once."""

from __future__ import annotations

import json
import marshal
import os
import shutil
import site
import stat
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from cardki.token import profile_cache
from cardki.token.profiles import _profile_directory, _read_file, available_profiles

REPO = Path(__file__).resolve().parents[2]
TEXT = "[profile]\nid = 'one'\n"
FORGED = {"profile": {"id": "forged"}}


def _counting(calls: List[str]) -> Callable[[str], Dict[str, Any]]:
    def parse(text: str) -> Dict[str, Any]:
        calls.append(text)
        return tomllib.loads(text)
    return parse


def _package_entry(path: Path) -> Path:
    return Path(*profile_cache.package_entry(str(path)) or ("",))


def _user_entry(path: Path) -> Path:
    return Path(*profile_cache.user_entry(str(path)) or ("",))


@pytest.fixture
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's cache in the test's directory (never the real ~/.cache)."""
    cache = tmp_path / "user-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "cardki" / "profiles"


@pytest.fixture
def writable(monkeypatch: pytest.MonkeyPatch, user_cache: Path) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


def test_an_entry_is_used_for_the_same_text_only(tmp_path: Path, writable: None) -> None:
    path = tmp_path / "card.toml"
    first, second = "[profile]\nid = 'one'\n", "[profile]\nid = 'two'\n"  # the same length
    calls: List[str] = []
    path.write_text(first)
    assert profile_cache.parsed(str(path), first, _counting(calls)) == {"profile": {"id": "one"}}
    assert profile_cache.parsed(str(path), first, _counting(calls)) == {"profile": {"id": "one"}}
    assert calls == [first]  # the second came from the entry
    stamp = path.stat()
    path.write_text(second)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same size, same time: still read anew
    assert profile_cache.parsed(str(path), second, _counting(calls)) == {"profile": {"id": "two"}}
    assert calls == [first, second]


@pytest.mark.parametrize("content", [b"", b"not marshal data", b"\xe9\x00\x00\x00\x00",
                                     marshal.dumps(["[profile]\n", {}, 3]),
                                     marshal.dumps(("[profile]\nid = 'one'\n", ["a list"]))])
def test_a_broken_entry_is_parsed_again_and_replaced(tmp_path: Path, writable: None, content: bytes) -> None:
    path = tmp_path / "card.toml"
    cache = _package_entry(path)
    cache.parent.mkdir()
    cache.write_bytes(content)
    calls: List[str] = []
    assert profile_cache.parsed(str(path), TEXT, _counting(calls)) == {"profile": {"id": "one"}}
    assert profile_cache.parsed(str(path), TEXT, _counting(calls)) == {"profile": {"id": "one"}}
    assert calls == [TEXT]
    assert [entry.name for entry in cache.parent.iterdir()] == [cache.name]  # no temporary file left


def test_nothing_is_written_where_python_writes_no_bytecode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            user_cache: Path) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    calls: List[str] = []
    for _ in range(2):
        assert profile_cache.parsed(str(tmp_path / "card.toml"), "a = 1\n", _counting(calls)) == {"a": 1}
    assert len(calls) == 2 and not (tmp_path / "__pycache__").exists() and not user_cache.exists()


def test_where_the_package_directory_cannot_be_written_the_users_cache_keeps_the_entry(
        tmp_path: Path, writable: None, user_cache: Path) -> None:
    (tmp_path / "__pycache__").write_text("a file where the directory would be")
    calls: List[str] = []
    for _ in range(2):
        assert profile_cache.parsed(str(tmp_path / "card.toml"), "a = 1\n", _counting(calls)) == {"a": 1}
    assert len(calls) == 1
    entry = _user_entry(tmp_path / "card.toml")
    assert entry.parent == user_cache and list(user_cache.iterdir()) == [entry]
    assert stat.S_IMODE(user_cache.stat().st_mode) == 0o700 and stat.S_IMODE(entry.stat().st_mode) == 0o600


def test_the_users_entry_is_named_after_the_files_whole_path(tmp_path: Path, user_cache: Path) -> None:
    """Two installs (two paths) keep two entries; no path quotes to another's name."""
    names = {_user_entry(Path(p)).name for p in ("/a/b%2Fc.toml", "/a/b/c.toml", "/a%2Fb/c.toml", "/a/b%c.toml")}
    assert len(names) == 4 and all("/" not in name for name in names)


def test_what_marshal_cannot_keep_is_parsed_each_time(tmp_path: Path, writable: None, user_cache: Path) -> None:
    calls: List[str] = []
    text = "day = 2026-12-01\n"  # a TOML date: a datetime.date, which marshal does not hold
    for _ in range(2):
        assert profile_cache.parsed(str(tmp_path / "card.toml"), text, _counting(calls)) == tomllib.loads(text)
    assert len(calls) == 2 and not list(tmp_path.glob("__pycache__/*")) and not user_cache.exists()


def test_the_shipped_profiles_read_through_the_cache_are_their_toml(writable: None) -> None:
    for name in available_profiles():
        path = Path(_profile_directory(), f"{name}.toml")
        _read_file(name)  # writes the entry, if there was none
        assert _package_entry(path).is_file()
        assert _read_file(name) == tomllib.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- who may have written an entry

def _forge(entry: Path) -> None:
    """An entry for TEXT that says something else: read, it would be returned."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_bytes(marshal.dumps((TEXT, FORGED)))


@pytest.mark.parametrize("where", ["package", "user"])
@pytest.mark.parametrize("what", ["directory", "file"])
@pytest.mark.parametrize("bit", [stat.S_IWGRP, stat.S_IWOTH], ids=["group-writable", "world-writable"])
def test_an_entry_others_could_have_written_is_not_read(tmp_path: Path, writable: None, where: str, what: str,
                                                        bit: int) -> None:
    path = tmp_path / "profiles" / "card.toml"
    path.parent.mkdir()
    entry = _package_entry(path) if where == "package" else _user_entry(path)
    _forge(entry)
    target = entry.parent if what == "directory" else entry
    target.chmod(stat.S_IMODE(target.stat().st_mode) | bit)
    calls: List[str] = []
    assert profile_cache.parsed(str(path), TEXT, _counting(calls)) == {"profile": {"id": "one"}}
    assert calls == [TEXT]


def test_the_forged_entries_above_are_read_when_only_their_owner_can_write_them(tmp_path: Path,
                                                                                writable: None) -> None:
    """The other half of the test above: the same entries, not writable by others, are used."""
    package, user = tmp_path / "package" / "card.toml", tmp_path / "user" / "card.toml"
    for path, entry in ((package, _package_entry(package)), (user, _user_entry(user))):
        _forge(entry)
        calls: List[str] = []
        assert profile_cache.parsed(str(path), TEXT, _counting(calls)) == FORGED
        assert calls == []


@pytest.mark.parametrize("what", ["directory", "file"])
def test_an_entry_another_user_owns_is_not_read(tmp_path: Path, writable: None, what: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """As root, the entry (or its directory) is given to nobody (65534); as another user, whose
    files only root could give away, this process is told it is someone else (root's files stay
    trusted, so the check is against that user id)."""
    path = tmp_path / "card.toml"
    entry = _package_entry(path)
    _forge(entry)
    target = entry.parent if what == "directory" else entry
    if os.geteuid() == 0:
        os.chown(target, 65534, 65534)
    else:
        monkeypatch.setattr(os, "geteuid", lambda: os.getuid() + 1)
    calls: List[str] = []
    assert profile_cache.parsed(str(path), TEXT, _counting(calls)) == {"profile": {"id": "one"}}
    assert calls == [TEXT]


# --------------------------------------------------------------------------- installs this user cannot write

def _unprivileged(argv: List[str]) -> List[str]:
    """``argv`` run so that a directory's write bits hold for it: as root, without the
    capabilities that override them (root's own files then obey their mode like anyone's)."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner,-linux_immutable", *argv]


def _first_token_reads(profiles: Path, user_cache_home: Path) -> bool:
    """Whether a fresh interpreter, started as the C module starts its own (isolated, no
    site) with ``profiles`` as cardki.profiles, loads tomllib to read every profile."""
    script = textwrap.dedent(f"""
        import json, sys, types
        sys.path[:0] = [{str(REPO / "src")!r}, *{site.getsitepackages()!r}]
        package = types.ModuleType("cardki.profiles")
        package.__path__ = [{str(profiles)!r}]
        sys.modules["cardki.profiles"] = package
        from cardki.token.profiles import available_profiles, load_profile
        for name in available_profiles():
            load_profile(name)
        print(json.dumps("tomllib" in sys.modules))
    """)
    environment = {**os.environ, "XDG_CACHE_HOME": str(user_cache_home)}
    done = subprocess.run(_unprivileged([sys.executable, "-I", "-S", "-c", script]), capture_output=True, text=True,
                          timeout=60, env=environment)
    assert done.returncode == 0, done.stderr
    return bool(json.loads(done.stdout.strip().splitlines()[-1]))


def _read_only_copy(tmp_path: Path, with_entries: bool) -> Path:
    copy = tmp_path / "site-packages" / "cardki" / "profiles"
    shutil.copytree(REPO / "profiles", copy, ignore=shutil.ignore_patterns("__pycache__"))
    if with_entries:
        subprocess.run([sys.executable, "-m", "cardki.profiles", str(copy)], check=True, timeout=60)
    for directory in (copy, *copy.glob("__pycache__")):
        directory.chmod(0o555)
    return copy


def test_an_install_this_user_cannot_write_parses_each_profile_once(tmp_path: Path) -> None:
    """A read-only install without entries: the first process parses (and keeps the
    entries in the user's cache), the next one loads no tomllib; the install is untouched."""
    profiles = _read_only_copy(tmp_path, with_entries=False)
    try:
        assert _first_token_reads(profiles, tmp_path / "cache") is True
        assert _first_token_reads(profiles, tmp_path / "cache") is False
        assert not (profiles / "__pycache__").exists()
        assert len(list((tmp_path / "cache" / "cardki" / "profiles").iterdir())) == len(available_profiles())
    finally:
        profiles.chmod(0o755)


def test_entries_written_at_install_time_serve_a_user_who_cannot_write_there(tmp_path: Path) -> None:
    """``python -m cardki.profiles DIR`` (what bootstrap runs; the wheel's build writes the same):
    with its entries, the first process on a read-only install parses nothing and
    writes nothing to the user's cache."""
    profiles = _read_only_copy(tmp_path, with_entries=True)
    try:
        assert len(list((profiles / "__pycache__").glob("*.marshal"))) == len(available_profiles())
        assert _first_token_reads(profiles, tmp_path / "cache") is False
        assert not (tmp_path / "cache").exists()
    finally:
        for directory in (profiles, profiles / "__pycache__"):
            directory.chmod(0o755)


def test_the_built_package_carries_the_profiles_entries(tmp_path: Path) -> None:
    """setup.py's build_py (what a wheel is made of) writes each profile's entry beside it,
    read back as that profile's TOML."""
    build = tmp_path / "build"
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "-d", str(build)], cwd=REPO, check=True,
                   capture_output=True, timeout=120)
    built = build / "cardki" / "profiles"
    for name in available_profiles():
        text = (built / f"{name}.toml").read_text(encoding="utf-8")
        entry = _package_entry(built / f"{name}.toml")
        assert marshal.loads(entry.read_bytes()) == (text, tomllib.loads(text))
