"""Fixtures shared by the engine unit tests."""

from __future__ import annotations

from typing import Iterator

import pytest
from engine_support import EngineRig, make_rig


@pytest.fixture
def rig() -> Iterator[EngineRig]:
    """An engine over a provisioned in-process virtual YubiKey, finalized afterwards."""
    rig = make_rig()
    yield rig
    rig.lib.finalize()
