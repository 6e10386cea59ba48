"""Hypothesis strategies for what a hostile card answers (the PIV and OpenPGP token
fuzz tests share them): TLV trees of the tags an applet's parsers look for, so
generated answers reach their inner checks, with status words both meaningful and
arbitrary, and answers too short to carry a status word."""

from __future__ import annotations

from typing import Sequence

from hypothesis import strategies as st

from cardki.apdu import Tlv


def tlvs(tags: Sequence[int], leaf_size: int, depth: int = 2) -> st.SearchStrategy[bytes]:
    """Up to four TLVs of ``tags`` side by side, nested up to ``depth`` levels."""
    leaf = st.binary(max_size=leaf_size)
    value = leaf if depth == 0 else st.one_of(leaf, tlvs(tags, leaf_size, depth - 1))
    one = st.builds(lambda tag, data: bytes(Tlv(tag, data)), st.sampled_from(tags), value)
    return st.lists(one, max_size=4).map(b"".join)


def card_answers(tags: Sequence[int], status_words: Sequence[int], *, leaf_size: int,
                 raw_size: int) -> st.SearchStrategy[str]:
    """Whole response APDUs as hex: TLVs or raw bytes with a status word (9000, one of
    ``status_words`` or any), or 0-3 bytes that are no proper response at all."""
    words = st.one_of(st.just(0x9000), st.sampled_from(list(status_words)), st.integers(0, 0xFFFF))
    return st.one_of(
        st.builds(lambda data, sw: (data + sw.to_bytes(2, "big")).hex(),
                  st.one_of(tlvs(tags, leaf_size), st.binary(max_size=raw_size)), words),
        st.binary(max_size=3).map(bytes.hex),
    )
