"""The parsed profiles kept in profiles/__pycache__ (cardki.token.profile_cache):
used only for exactly the text they were parsed from, so an edited file is read
as it is now, whatever its size or time stamp; a broken entry is parsed again."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Dict, List

import pytest

from cardki.token import profile_cache
from cardki.token.profiles import _profile_directory, _read_file, available_profiles


def _counting(calls: List[str]):
    def parse(text: str) -> Dict[str, Any]:
        calls.append(text)
        return tomllib.loads(text)
    return parse


@pytest.fixture
def writable(monkeypatch: pytest.MonkeyPatch) -> None:
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
                                     __import__("marshal").dumps(["[profile]\n", {}, 3]),
                                     __import__("marshal").dumps(("[profile]\nid = 'one'\n", ["a list"]))])
def test_a_broken_entry_is_parsed_again_and_replaced(tmp_path: Path, writable: None, content: bytes) -> None:
    path, text = tmp_path / "card.toml", "[profile]\nid = 'one'\n"
    cache = Path(profile_cache.cache_path(str(path)) or "")
    cache.parent.mkdir()
    cache.write_bytes(content)
    calls: List[str] = []
    assert profile_cache.parsed(str(path), text, _counting(calls)) == {"profile": {"id": "one"}}
    assert profile_cache.parsed(str(path), text, _counting(calls)) == {"profile": {"id": "one"}}
    assert calls == [text]
    assert [entry.name for entry in cache.parent.iterdir()] == [cache.name]  # no temporary file left


def test_nothing_is_written_where_python_writes_no_bytecode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    calls: List[str] = []
    for _ in range(2):
        assert profile_cache.parsed(str(tmp_path / "card.toml"), "a = 1\n", _counting(calls)) == {"a": 1}
    assert len(calls) == 2 and not (tmp_path / "__pycache__").exists()


def test_an_unwritable_directory_costs_time_only(tmp_path: Path, writable: None) -> None:
    (tmp_path / "__pycache__").write_text("a file where the directory would be")
    calls: List[str] = []
    for _ in range(2):
        assert profile_cache.parsed(str(tmp_path / "card.toml"), "a = 1\n", _counting(calls)) == {"a": 1}
    assert len(calls) == 2


def test_what_marshal_cannot_keep_is_parsed_each_time(tmp_path: Path, writable: None) -> None:
    calls: List[str] = []
    text = "day = 2026-12-01\n"  # a TOML date: a datetime.date, which marshal does not hold
    for _ in range(2):
        assert profile_cache.parsed(str(tmp_path / "card.toml"), text, _counting(calls)) == tomllib.loads(text)
    assert len(calls) == 2 and not list(tmp_path.glob("__pycache__/*"))


def test_the_shipped_profiles_read_through_the_cache_are_their_toml(writable: None) -> None:
    for name in available_profiles():
        text = Path(_profile_directory(), f"{name}.toml").read_text(encoding="utf-8")
        _read_file(name)  # writes the entry, if there was none
        assert Path(profile_cache.cache_path(os.path.join(_profile_directory(), f"{name}.toml")) or "").is_file()
        assert _read_file(name) == tomllib.loads(text)
