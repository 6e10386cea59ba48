"""Fixtures of the engine tests through the real stack (the stack itself: tests/conftest.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

from cardki import Cryptoki, errors


@pytest.fixture
def lib() -> Iterator[Cryptoki]:
    """A fresh, initialized ``Cryptoki`` (finalized after the test unless the test did)."""
    library = Cryptoki()
    library.initialize()
    yield library
    try:
        library.finalize()
    except errors.CryptokiNotInitialized:
        pass
