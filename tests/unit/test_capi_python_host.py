"""The built library loaded into a running Python (cffi ABI mode), as python-pkcs11 or PyKCS11 do.

Checks the marshalling a C caller sees that the C harness does not: the
C_GetAttributeValue template rules, mechanism parameter structs, the output
length dance of C_Sign, fixed blank-padded strings. Uses the in-process
virtual card alone (CARDKI_VIRTUAL=only) in a child process, so this pytest process
keeps no engine.
"""

from __future__ import annotations

from hosts import CFFI_HOST, run_module_script

SCRIPT = CFFI_HOST + r"""
from cardki.constants import CKA, CKM, CKO, CKU, CK_UNAVAILABLE_INFORMATION

out = {}
out["init"] = f.C_Initialize(ffi.NULL)
count = ffi.new("CK_ULONG *", 16)
slots = ffi.new("CK_SLOT_ID[16]")
f.C_GetSlotList(1, slots, count)
slot = slots[0]
info = ffi.new("CK_INFO *")
f.C_GetInfo(info)
out["manufacturer"] = bytes(ffi.buffer(info.manufacturerID, 32)).decode()
out["description"] = bytes(ffi.buffer(info.libraryDescription, 32)).decode()
session = ffi.new("CK_SESSION_HANDLE *")
out["open"] = f.C_OpenSession(slot, 6, ffi.NULL, ffi.NULL, session)
h = session[0]
pin = b"123456"
out["login"] = f.C_Login(h, CKU.USER, pin, len(pin))

def find(*pairs):
    assert f.C_FindObjectsInit(h, *template(*pairs)) == 0
    found = ffi.new("CK_OBJECT_HANDLE[64]")
    n = ffi.new("CK_ULONG *")
    assert f.C_FindObjects(h, found, 64, n) == 0
    assert f.C_FindObjectsFinal(h) == 0
    return [found[i] for i in range(n[0])]

ulong = lambda v: int(v).to_bytes(8, "little")
certs = find((CKA.CLASS, ulong(CKO.CERTIFICATE)))
privs = find((CKA.CLASS, ulong(CKO.PRIVATE_KEY)))
out["certificates"] = len(certs)
out["private_keys"] = len(privs)

# C_GetAttributeValue on a certificate: length query, short buffer, unknown type
cert = certs[0]
t = ffi.new("CK_ATTRIBUTE[3]")
t[0].type, t[0].pValue, t[0].ulValueLen = CKA.CLASS, ffi.NULL, 0
t[1].type, t[1].pValue, t[1].ulValueLen = CKA.VALUE, ffi.NULL, 0
t[2].type, t[2].pValue, t[2].ulValueLen = CKA.LABEL, ffi.NULL, 0
out["lengths_rv"] = f.C_GetAttributeValue(h, cert, t, 3)
out["lengths"] = [t[i].ulValueLen for i in range(3)]
cert_len = t[1].ulValueLen
cls = ffi.new("CK_ULONG *")
small = ffi.new("char[4]")
t[0].pValue, t[0].ulValueLen = cls, 8
t[1].pValue, t[1].ulValueLen = small, 4
t[2].type, t[2].pValue, t[2].ulValueLen = 0x7FFFFF00, ffi.NULL, 0
out["mixed_rv"] = f.C_GetAttributeValue(h, cert, t, 3)
out["mixed"] = [cls[0], t[0].ulValueLen, t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION,
                t[2].ulValueLen == CK_UNAVAILABLE_INFORMATION]
t[2].type = CKA.LABEL
t[1].ulValueLen = 4  # the previous call set it to CK_UNAVAILABLE_INFORMATION
out["small_rv"] = f.C_GetAttributeValue(h, cert, t, 2)
out["small_unavailable"] = t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION

# a private key's secret part is sensitive; CKA_CLASS still comes back
key = privs[0]
k = ffi.new("CK_ATTRIBUTE[2]")
kc = ffi.new("CK_ULONG *")
k[0].type, k[0].pValue, k[0].ulValueLen = CKA.CLASS, kc, 8
k[1].type, k[1].pValue, k[1].ulValueLen = CKA.VALUE, ffi.NULL, 0
out["sensitive_rv"] = f.C_GetAttributeValue(h, key, k, 2)
out["sensitive"] = [kc[0], k[1].ulValueLen == CK_UNAVAILABLE_INFORMATION]

# mechanism parameters: wrong sizes are MECHANISM_PARAM_INVALID; EDDSA may omit its parameter
pss = ffi.new("CK_RSA_PKCS_PSS_PARAMS *", [CKM.SHA256, 2, 32])
mech = ffi.new("CK_MECHANISM *", [CKM.SHA256_RSA_PKCS_PSS, pss, ffi.sizeof("CK_RSA_PKCS_PSS_PARAMS") - 1])
out["pss_short"] = f.C_SignInit(h, mech, key)
oaep = ffi.new("CK_RSA_PKCS_OAEP_PARAMS *", [CKM.SHA256, 2, 1, ffi.NULL, 5])
mech = ffi.new("CK_MECHANISM *", [CKM.RSA_PKCS_OAEP, oaep, ffi.sizeof("CK_RSA_PKCS_OAEP_PARAMS")])
out["oaep_null_source"] = f.C_DecryptInit(h, mech, key)
ecdh = ffi.new("CK_ECDH1_DERIVE_PARAMS *", [1, 0, ffi.NULL, 65, ffi.NULL])
mech = ffi.new("CK_MECHANISM *", [CKM.ECDH1_DERIVE, ecdh, ffi.sizeof("CK_ECDH1_DERIVE_PARAMS")])
derived = ffi.new("CK_OBJECT_HANDLE *")
out["ecdh_null_point"] = f.C_DeriveKey(h, mech, key, ffi.NULL, 0, derived)

# the spec's two-call output convention with a digest (host-side, no card)
mech = ffi.new("CK_MECHANISM *", [CKM.SHA256, ffi.NULL, 0])
f.C_DigestInit(h, mech)
n = ffi.new("CK_ULONG *", 0)
out["digest_query"] = f.C_Digest(h, b"abc", 3, ffi.NULL, n)
out["digest_len"] = n[0]
buf = ffi.new("CK_BYTE[32]")
out["digest"] = f.C_Digest(h, b"abc", 3, buf, n)

out["finalize"] = f.C_Finalize(ffi.NULL)
entry = sys.modules.get("cardki.capi.entry")
out["same_interpreter"] = entry is not None
print(json.dumps(out))
"""

CKR_OK = 0
CKR_ATTRIBUTE_SENSITIVE = 0x11
CKR_ATTRIBUTE_TYPE_INVALID = 0x12
CKR_MECHANISM_PARAM_INVALID = 0x71
CKR_BUFFER_TOO_SMALL = 0x150
CKO_CERTIFICATE = 1
CKO_PRIVATE_KEY = 3


def run_script() -> dict:
    return run_module_script(SCRIPT)


def test_marshalling_seen_from_a_python_host() -> None:
    out = run_script()
    assert out["same_interpreter"] is True
    assert (out["init"], out["open"], out["login"]) == (CKR_OK, CKR_OK, CKR_OK)
    assert len(out["manufacturer"]) == 32 and out["manufacturer"].rstrip(" ") and "\x00" not in out["manufacturer"]
    assert len(out["description"]) == 32 and "\x00" not in out["description"]
    assert out["certificates"] >= 1 and out["private_keys"] >= 1

    assert out["lengths_rv"] == CKR_OK
    class_length, value_length, label_length = out["lengths"]
    assert class_length == 8 and value_length > 100 and label_length > 0

    # unknown type wins over the short buffer; the valid entry is still filled
    assert out["mixed_rv"] == CKR_ATTRIBUTE_TYPE_INVALID
    assert out["mixed"] == [CKO_CERTIFICATE, 8, True, True]
    assert out["small_rv"] == CKR_BUFFER_TOO_SMALL and out["small_unavailable"] is True

    assert out["sensitive_rv"] == CKR_ATTRIBUTE_SENSITIVE or out["sensitive_rv"] == CKR_ATTRIBUTE_TYPE_INVALID
    assert out["sensitive"] == [CKO_PRIVATE_KEY, True]

    assert out["pss_short"] == CKR_MECHANISM_PARAM_INVALID
    assert out["oaep_null_source"] == CKR_MECHANISM_PARAM_INVALID
    assert out["ecdh_null_point"] == CKR_MECHANISM_PARAM_INVALID

    assert (out["digest_query"], out["digest_len"], out["digest"]) == (CKR_OK, 32, CKR_OK)
    assert out["finalize"] == CKR_OK
