"""Every entry point of the 3.0 function list, called with NULL pointers and extreme numbers.

Before C_Initialize, after it with a real session handle, and after C_Finalize, each function is
called with every pointer NULL and every number 0, 1 and 2**64-1 (2**64-1
for lengths is what an uninitialised CK_ULONG often holds). The host must
survive, every answer must be a CKR code from the spec, and none may be
CKR_GENERAL_ERROR: that code means a Python exception escaped the marshalling,
i.e. a bug, not a refusal.
"""

from __future__ import annotations

from hosts import run_module_script

SCRIPT = r"""
import json, sys
import cffi
from cardki.capi import cdefs

ffi = cffi.FFI()
ffi.cdef(cdefs.TYPES + cdefs.FUNCTION_LISTS + "CK_RV C_GetInterface(CK_UTF8CHAR_PTR, CK_VERSION_PTR, "
         "CK_INTERFACE_PTR_PTR, CK_FLAGS);")
lib = ffi.dlopen(sys.argv[1])
interface = ffi.new("CK_INTERFACE **")
assert lib.C_GetInterface(ffi.NULL, ffi.NULL, interface, 0) == 0
f = ffi.cast("CK_FUNCTION_LIST_3_0 *", interface[0].pFunctionList)
SKIP = {"C_Initialize", "C_Finalize"}
results = {}

def sweep(stage, session):
    for name in cdefs.FUNCTION_LIST_3_0_ORDER:
        if name in SKIP:
            continue
        function = getattr(f, name)
        params = ffi.typeof(function).args
        for number in (0, 1, (1 << 64) - 1):
            args = []
            for index, param in enumerate(params):
                if param.kind == "pointer" or param.kind == "function":
                    args.append(ffi.NULL)
                elif index == 0 and session is not None and cdefs.SIGNATURES[name].startswith("CK_SESSION_HANDLE"):
                    args.append(session)
                elif param.kind == "primitive" and param.cname == "unsigned char":
                    args.append(number & 0xFF)
                else:
                    args.append(number)
            if name == "C_WaitForSlotEvent":
                args[0] = 1  # CKF_DONT_BLOCK: never wait in a sweep
            results[f"{stage}:{name}:{number}"] = int(function(*args))

sweep("before", None)
assert f.C_Initialize(ffi.NULL) == 0
slots = ffi.new("CK_SLOT_ID[4]")
count = ffi.new("CK_ULONG *", 4)
f.C_GetSlotList(1, slots, count)
handle = ffi.new("CK_SESSION_HANDLE *")
assert f.C_OpenSession(slots[0], 6, ffi.NULL, ffi.NULL, handle) == 0
sweep("session", handle[0])
results["finalize"] = int(f.C_Finalize(ffi.NULL))
sweep("after", None)
print(json.dumps(results))
"""

CKR_OK = 0
CKR_GENERAL_ERROR = 5
CKR_CRYPTOKI_NOT_INITIALIZED = 0x190
# C functions answer without an interpreter, so they need no C_Initialize.
NEEDS_NO_INITIALIZE = {"C_GetFunctionList", "C_GetInterfaceList", "C_GetInterface", "C_SessionCancel"}


def test_null_pointers_and_extreme_numbers_everywhere() -> None:
    from cardki.constants import CKR

    results = run_module_script(SCRIPT, timeout=300)
    assert results.pop("finalize") == CKR_OK
    known = {int(code) for code in CKR}
    assert {key: rv for key, rv in results.items() if rv not in known} == {}
    assert [key for key, rv in results.items() if rv == CKR_GENERAL_ERROR] == []
    # Before C_Initialize, and after C_Finalize (the engine is there, no longer initialized;
    # the calls on an operation find that out as they enter it), every call that needs the
    # library answers CRYPTOKI_NOT_INITIALIZED, before looking at any argument.
    for stage in ("before", "after"):
        answers = {key: rv for key, rv in results.items() if key.startswith(f"{stage}:")}
        assert answers
        wrong = {key: rv for key, rv in answers.items()
                 if key.split(":")[1] not in NEEDS_NO_INITIALIZE and "Message" not in key
                 and rv != CKR_CRYPTOKI_NOT_INITIALIZED}
        assert wrong == {}
    # a NULL output pointer never "succeeds" for the functions whose output is mandatory
    for name in ("C_GetInfo", "C_GetSlotInfo", "C_GetTokenInfo", "C_GetSessionInfo", "C_OpenSession",
                 "C_GetSlotList", "C_GetMechanismList", "C_GetMechanismInfo", "C_Sign", "C_Decrypt"):
        for number in (0, 1, (1 << 64) - 1):
            assert results[f"session:{name}:{number}"] != CKR_OK, (name, number)
