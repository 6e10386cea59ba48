"""A PKCS#11 3.0 client: C_GetInterface, C_LoginUser and EdDSA through the 3.0 function list.

Runs in a child Python process (cffi ABI host) against the in-process virtual
YubiKey 5.7.2 (CARDKI_VIRTUAL=only): log in as SO with the default management
key, generate an Ed25519 key in 9a, log in as user with C_LoginUser, sign with
CKM_EDDSA (without and with CK_EDDSA_PARAMS), verify here with `cryptography`.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hosts import TEMPLATES, run_module_script

SCRIPT = r"""
import json, sys
import cffi
from cardki.capi import cdefs
from cardki.constants import CKA, CKM, CKU

ffi = cffi.FFI()
ffi.cdef(cdefs.TYPES + cdefs.FUNCTION_LISTS + "CK_RV C_GetInterface(CK_UTF8CHAR_PTR, CK_VERSION_PTR, "
         "CK_INTERFACE_PTR_PTR, CK_FLAGS);")
lib = ffi.dlopen(sys.argv[1])
interface = ffi.new("CK_INTERFACE **")
name = ffi.new("char[]", b"PKCS 11")
version = ffi.new("CK_VERSION *", [3, 0])
out = {"get_interface": lib.C_GetInterface(ffi.cast("CK_UTF8CHAR_PTR", name), version, interface, 0)}
f = ffi.cast("CK_FUNCTION_LIST_3_0 *", interface[0].pFunctionList)
out["version"] = [f.version.major, f.version.minor]
out["init"] = f.C_Initialize(ffi.NULL)
slots = ffi.new("CK_SLOT_ID[4]")
n = ffi.new("CK_ULONG *", 4)
f.C_GetSlotList(1, slots, n)
h = ffi.new("CK_SESSION_HANDLE *")
out["open"] = f.C_OpenSession(slots[0], 6, ffi.NULL, ffi.NULL, h)
h = h[0]
management_key = b"010203040506070801020304050607080102030405060708"
out["login_so"] = f.C_LoginUser(h, CKU.SO, management_key, len(management_key), ffi.NULL, 0)

""" + TEMPLATES + r"""
public_t = template((CKA.EC_PARAMS, bytes.fromhex("06032b6570")), (CKA.ID, b"\x01"), (CKA.TOKEN, b"\x01"))
private_t = template((CKA.ID, b"\x01"), (CKA.TOKEN, b"\x01"), (CKA.SIGN, b"\x01"))
mech = ffi.new("CK_MECHANISM *", [CKM.EC_EDWARDS_KEY_PAIR_GEN, ffi.NULL, 0])
pub = ffi.new("CK_OBJECT_HANDLE *")
priv = ffi.new("CK_OBJECT_HANDLE *")
out["generate"] = f.C_GenerateKeyPair(h, mech, *public_t, *private_t, pub, priv)
point = ffi.new("CK_ATTRIBUTE[1]")
point[0].type, point[0].pValue, point[0].ulValueLen = CKA.EC_POINT, ffi.NULL, 0
f.C_GetAttributeValue(h, pub[0], point, 1)
buf = ffi.new("char[]", point[0].ulValueLen)
point[0].pValue = buf
out["ec_point_rv"] = f.C_GetAttributeValue(h, pub[0], point, 1)
out["ec_point"] = bytes(ffi.buffer(buf, point[0].ulValueLen)).hex()
out["logout"] = f.C_Logout(h)
out["login_user"] = f.C_LoginUser(h, CKU.USER, b"123456", 6, b"", 0)

# the private key handle changed with the logout: find it again
cls = ffi.new("CK_ULONG *", 3)
find = ffi.new("CK_ATTRIBUTE[2]")
key_id = ffi.new("char[]", b"\x01")
find[0].type, find[0].pValue, find[0].ulValueLen = CKA.CLASS, cls, 8
find[1].type, find[1].pValue, find[1].ulValueLen = CKA.ID, key_id, 1
f.C_FindObjectsInit(h, find, 2)
found = ffi.new("CK_OBJECT_HANDLE[1]")
f.C_FindObjects(h, found, 1, n)
f.C_FindObjectsFinal(h)
key = found[0]

data = b"ed25519 through the 3.0 interface"
signature = ffi.new("CK_BYTE[64]")
length = ffi.new("CK_ULONG *", 64)
mech = ffi.new("CK_MECHANISM *", [CKM.EDDSA, ffi.NULL, 0])
out["sign_init"] = f.C_SignInit(h, mech, key)
out["sign"] = f.C_Sign(h, data, len(data), signature, length)
out["signature"] = bytes(ffi.buffer(signature, length[0])).hex()
params = ffi.new("CK_EDDSA_PARAMS *", [0, 0, ffi.NULL])
mech = ffi.new("CK_MECHANISM *", [CKM.EDDSA, params, ffi.sizeof("CK_EDDSA_PARAMS")])
length[0] = 64
out["sign_init_params"] = f.C_SignInit(h, mech, key)
out["sign_params"] = f.C_Sign(h, data, len(data), signature, length)
out["signature_params"] = bytes(ffi.buffer(signature, length[0])).hex()
prehash = ffi.new("CK_EDDSA_PARAMS *", [1, 0, ffi.NULL])
mech = ffi.new("CK_MECHANISM *", [CKM.EDDSA, prehash, ffi.sizeof("CK_EDDSA_PARAMS")])
out["sign_init_prehash"] = f.C_SignInit(h, mech, key)
out["message_sign_init"] = f.C_MessageSignInit(h, mech, key)
out["finalize"] = f.C_Finalize(ffi.NULL)
print(json.dumps(out))
"""

CKR_OK = 0
CKR_FUNCTION_NOT_SUPPORTED = 0x54
CKR_MECHANISM_PARAM_INVALID = 0x71


def test_eddsa_and_login_user_through_the_3_0_interface() -> None:
    out = run_module_script(SCRIPT)
    assert out["get_interface"] == CKR_OK and out["version"] == [3, 0]
    for step in ("init", "open", "login_so", "generate", "ec_point_rv", "logout", "login_user", "sign_init",
                 "sign", "sign_init_params", "sign_params", "finalize"):
        assert out[step] == CKR_OK, step
    point = bytes.fromhex(out["ec_point"])
    if len(point) == 34 and point[:2] == b"\x04\x20":  # DER OCTET STRING around the 32-byte key
        point = point[2:]
    public = Ed25519PublicKey.from_public_bytes(point)
    data = b"ed25519 through the 3.0 interface"
    public.verify(bytes.fromhex(out["signature"]), data)
    public.verify(bytes.fromhex(out["signature_params"]), data)
    assert out["sign_init_prehash"] == CKR_MECHANISM_PARAM_INVALID
    assert out["message_sign_init"] == CKR_FUNCTION_NOT_SUPPORTED
