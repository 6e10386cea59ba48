"""Running real host programs from tests: the PKCS#11 module in a hermetic
environment, and checked subprocesses for the external tools.

A developer's CARDKI_* variables or ~/.config/cardki/module.toml must not
change what a test sees, so every host process gets an environment without
them (logging may be kept: it helps debugging and changes no behaviour).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict

import pytest

NO_CONFIG_FILE = "/nonexistent/cardki-module.toml"
_LOGGING = ("CARDKI_LOG", "CARDKI_LOG_FILE")


def module_env(*, virtual_only: bool = False, keep_logging: bool = False, **extra: str) -> Dict[str, str]:
    """This process's environment without the developer's cardki settings; with
    ``virtual_only`` the module sees only its in-process virtual card (no PC/SC)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CARDKI_") or (keep_logging and key in _LOGGING)}
    env["CARDKI_CONFIG"] = NO_CONFIG_FILE
    if virtual_only:
        env["CARDKI_VIRTUAL"] = "only"
    env.update(extra)
    return env


#: Part of a host script that has ``ffi``: ``template(*pairs)``, a CK_ATTRIBUTE array of
#: (type, value) pairs and its length, to pass on as ``*template(...)``. A value is
#: bytes, a bool (CK_BBOOL) or an int (CK_ULONG, little-endian); the buffers live as
#: long as the script.
TEMPLATES = r"""
_kept = []

def template(*pairs):
    attrs = ffi.new("CK_ATTRIBUTE[]", len(pairs))
    for i, (kind, value) in enumerate(pairs):
        if isinstance(value, bool):
            value = b"\x01" if value else b"\x00"
        elif isinstance(value, int):
            value = value.to_bytes(8, "little")
        buffer = ffi.new("char[]", value)
        _kept.append(buffer)
        attrs[i].type, attrs[i].pValue, attrs[i].ulValueLen = kind, buffer, len(value)
    _kept.append(attrs)
    return attrs, len(pairs)
"""

#: The start of a host script for :func:`run_module_script`: ``ffi`` and ``f``, the
#: module's CK_FUNCTION_LIST from C_GetFunctionList, as a C host holds them, and
#: :data:`TEMPLATES`.
CFFI_HOST = r"""
import json, sys
import cffi
from cardki.capi import cdefs

ffi = cffi.FFI()
ffi.cdef(cdefs.TYPES + cdefs.FUNCTION_LISTS + "CK_RV C_GetFunctionList(void *);")
lib = ffi.dlopen(sys.argv[1])
pf = ffi.new("CK_FUNCTION_LIST **")
assert lib.C_GetFunctionList(pf) == 0
f = pf[0]
""" + TEMPLATES


#: What a host script that provisions its own keys does next: C_Initialize, a read-write
#: session ``h`` on the first slot with a token (the in-process virtual card), and the
#: SO logged in with the factory management key.
CFFI_SO_SESSION = r"""
from cardki.constants import CKU

assert f.C_Initialize(ffi.NULL) == 0
slots = ffi.new("CK_SLOT_ID[4]")
count = ffi.new("CK_ULONG *", 4)
assert f.C_GetSlotList(1, slots, count) == 0
handle = ffi.new("CK_SESSION_HANDLE *")
assert f.C_OpenSession(slots[0], 6, ffi.NULL, ffi.NULL, handle) == 0
h = handle[0]
so_pin = b"010203040506070801020304050607080102030405060708"
assert f.C_Login(h, CKU.SO, so_pin, len(so_pin)) == 0
"""


def run_module_script(script: str, *, timeout: float = 120) -> Any:
    """Run a Python host ``script`` (it gets the module's path as argv[1]) against
    the virtual card; it must exit 0 and the module must print nothing on the
    host's stderr. Returns the JSON the script printed."""
    from cardki.capi import module_path

    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), module_path()], capture_output=True,
                          text=True, timeout=timeout, env=module_env(virtual_only=True))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr == "", "the module must not print on the host's stderr"
    return json.loads(done.stdout)


def run_tool(*argv: str) -> subprocess.CompletedProcess:
    """Run an installed external tool; fail the test (never skip) if it is missing
    or exits non-zero."""
    if not Path(argv[0]).exists():
        pytest.fail(f"{argv[0]} is not installed")
    result = subprocess.run(list(argv), capture_output=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:4])} failed: {result.stdout!r}{result.stderr!r}")
    return result
