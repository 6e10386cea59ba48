"""Fixtures shared by the unit tests: the engine rig, and the C host harness."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from engine_support import EngineRig, make_rig

from cardki.capi import cdefs

HERE = Path(__file__).resolve().parent


@pytest.fixture
def rig() -> Iterator[EngineRig]:
    """An engine over a provisioned in-process virtual YubiKey, finalized afterwards."""
    rig = make_rig()
    yield rig
    rig.lib.finalize()


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/unit/capi_harness.c built: a C host that loads the module like pkcs11-tool."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the C host harness")
    build = tmp_path_factory.mktemp("harness")
    names = ", ".join(f'"{name}"' for name in cdefs.FUNCTION_LIST_ORDER)
    (build / "pkcs11_types.h").write_text(cdefs.TYPES + cdefs.FUNCTION_LISTS + f"\n#define NAMES_2_40 {names}\n")
    binary = build / "capi_harness"
    subprocess.run(["gcc", "-Wall", "-O1", "-I", str(build), "-o", str(binary), str(HERE / "capi_harness.c"),
                    "-ldl", "-lpthread"], check=True)
    return binary
