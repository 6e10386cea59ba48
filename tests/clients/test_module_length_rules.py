"""The spec's output-length convention through the C ABI costs the card nothing extra.

C_Sign / C_Decrypt with a NULL buffer (length query), then with a short buffer
(CKR_BUFFER_TOO_SMALL, operation still active), then with a big enough one:
the card must see exactly the APDUs of one plain operation, counted by the
simulator. The host is a Python process using cffi in ABI mode.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _module_card import PIN, ModuleCard, module_card, module_env
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

pytestmark = [pytest.mark.clients, pytest.mark.sim]

#: What both host scripts do first: load the module, find the reader's slot, open a
#: read/write session and log in (``module``, ``reader`` and ``pin`` come from argv).
OPEN_SESSION = r"""
ffi = cffi.FFI()
ffi.cdef(cdefs.TYPES + cdefs.FUNCTION_LISTS + "CK_RV C_GetFunctionList(void *);")
lib = ffi.dlopen(module)
pf = ffi.new("CK_FUNCTION_LIST **")
lib.C_GetFunctionList(pf)
f = pf[0]
assert f.C_Initialize(ffi.NULL) == 0
slots = ffi.new("CK_SLOT_ID[8]")
n = ffi.new("CK_ULONG *", 8)
assert f.C_GetSlotList(1, slots, n) == 0
info = ffi.new("CK_SLOT_INFO *")
slot = None
for i in range(n[0]):
    f.C_GetSlotInfo(slots[i], info)
    if bytes(ffi.buffer(info.slotDescription, 64)).decode().strip() == reader:
        slot = slots[i]
h = ffi.new("CK_SESSION_HANDLE *")
assert f.C_OpenSession(slot, 4, ffi.NULL, ffi.NULL, h) == 0
h = h[0]
assert f.C_Login(h, CKU.USER, pin.encode(), len(pin)) == 0
"""

SCRIPT = r"""
import json, sys
import cffi
from cardki.capi import cdefs
from cardki.constants import CKA, CKM, CKO, CKU
from hwsim.control import CardControl

module, reader, pin, control_path, ciphertext = sys.argv[1:6]
control = CardControl(control_path)
{open_session}
template = ffi.new("CK_ATTRIBUTE[2]")
cls = ffi.new("CK_ULONG *", CKO.PRIVATE_KEY)
key_id = ffi.new("CK_BYTE[1]", [1])
template[0].type, template[0].pValue, template[0].ulValueLen = CKA.CLASS, cls, 8
template[1].type, template[1].pValue, template[1].ulValueLen = CKA.ID, key_id, 1
f.C_FindObjectsInit(h, template, 2)
found = ffi.new("CK_OBJECT_HANDLE[1]")
f.C_FindObjects(h, found, 1, n)
f.C_FindObjectsFinal(h)
key = found[0]
out = {}
data = b"length rules"
buf = ffi.new("CK_BYTE[512]")
length = ffi.new("CK_ULONG *")

def plain(init, op, mech, payload):
    before = control.count()
    assert init(h, mech, key) == 0
    length[0] = 512
    assert op(h, payload, len(payload), buf, length) == 0
    return control.count() - before, bytes(ffi.buffer(buf, length[0]))

def three_calls(init, op, mech, payload):
    before = control.count()
    rvs = [init(h, mech, key)]
    length[0] = 0
    rvs.append(op(h, payload, len(payload), ffi.NULL, length))
    queried = length[0]
    length[0] = 10
    rvs.append(op(h, payload, len(payload), buf, length))
    needed = length[0]
    length[0] = 512
    rvs.append(op(h, payload, len(payload), buf, length))
    result = bytes(ffi.buffer(buf, length[0]))
    rvs.append(op(h, payload, len(payload), buf, length))  # the operation is over now
    return {"rvs": rvs, "queried": queried, "needed": needed, "apdus": control.count() - before,
            "result": result.hex()}

sign_mech = ffi.new("CK_MECHANISM *", [CKM.SHA256_RSA_PKCS, ffi.NULL, 0])
out["sign_plain_apdus"], _ = plain(f.C_SignInit, f.C_Sign, sign_mech, data)
out["sign"] = three_calls(f.C_SignInit, f.C_Sign, sign_mech, data)
decrypt_mech = ffi.new("CK_MECHANISM *", [CKM.RSA_PKCS, ffi.NULL, 0])
encrypted = bytes.fromhex(ciphertext)
out["decrypt_plain_apdus"], _ = plain(f.C_DecryptInit, f.C_Decrypt, decrypt_mech, encrypted)
out["decrypt"] = three_calls(f.C_DecryptInit, f.C_Decrypt, decrypt_mech, encrypted)
f.C_Finalize(ffi.NULL)
print(json.dumps(out))
""".replace("{open_session}", OPEN_SESSION)

CKR_OK = 0
CKR_OPERATION_NOT_INITIALIZED = 0x91
CKR_BUFFER_TOO_SMALL = 0x150


@pytest.fixture
def card(virtual_card_factory) -> ModuleCard:
    return module_card(virtual_card_factory)


def test_length_query_and_short_buffer_ask_the_card_once(card: ModuleCard) -> None:
    public = x509.load_pem_x509_certificate(card.certificates["9a"]).public_key()
    secret = b"twenty-four byte secret!"
    ciphertext = public.encrypt(secret, padding.PKCS1v15())
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), card.module, card.reader_name, PIN,
                           str(card.handle.control.path), ciphertext.hex()],
                          capture_output=True, text=True, timeout=120, env=module_env())
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)

    sign = out["sign"]
    assert sign["rvs"] == [CKR_OK, CKR_OK, CKR_BUFFER_TOO_SMALL, CKR_OK, CKR_OPERATION_NOT_INITIALIZED]
    assert sign["queried"] == 256 and sign["needed"] == 256
    assert sign["apdus"] == out["sign_plain_apdus"] >= 1
    public.verify(bytes.fromhex(sign["result"]), b"length rules", padding.PKCS1v15(), hashes.SHA256())

    decrypt = out["decrypt"]
    assert decrypt["rvs"][:2] == [CKR_OK, CKR_OK]
    # the 24-byte plaintext does not fit 10 bytes; the length query may over-estimate (the spec allows it)
    assert decrypt["rvs"][2:] == [CKR_BUFFER_TOO_SMALL, CKR_OK, CKR_OPERATION_NOT_INITIALIZED]
    assert decrypt["needed"] == len(secret)
    assert decrypt["queried"] >= len(secret)
    assert decrypt["apdus"] == out["decrypt_plain_apdus"] >= 1
    assert bytes.fromhex(decrypt["result"]) == secret


RULES_SCRIPT = r"""
import json, sys
import cffi
from cardki.capi import cdefs
from cardki.constants import CKA, CKK, CKM, CKO, CKU

module, reader, pin = sys.argv[1:4]
{open_session}
def find(object_class, key_id):
    template = ffi.new("CK_ATTRIBUTE[2]")
    cls = ffi.new("CK_ULONG *", object_class)
    ident = ffi.new("CK_BYTE[1]", [key_id])
    template[0].type, template[0].pValue, template[0].ulValueLen = CKA.CLASS, cls, 8
    template[1].type, template[1].pValue, template[1].ulValueLen = CKA.ID, ident, 1
    f.C_FindObjectsInit(h, template, 2)
    found = ffi.new("CK_OBJECT_HANDLE[1]")
    count = ffi.new("CK_ULONG *")
    f.C_FindObjects(h, found, 1, count)
    f.C_FindObjectsFinal(h)
    return found[0]

def mech(m):
    return ffi.new("CK_MECHANISM *", [m, ffi.NULL, 0])

rsa, rsa_public, always = find(CKO.PRIVATE_KEY, 1), find(CKO.PUBLIC_KEY, 1), find(CKO.PRIVATE_KEY, 2)
buf = ffi.new("CK_BYTE[512]")
length = ffi.new("CK_ULONG *")
data = b"operation rules"
out = {}

def fill(size=512):
    length[0] = size
    return length

# A NULL length pointer is a failed call: it ends the operation (digest, sign).
f.C_DigestInit(h, mech(CKM.SHA256))
out["digest_null_length"] = [f.C_Digest(h, data, len(data), buf, ffi.NULL), f.C_DigestFinal(h, buf, fill())]
f.C_DigestInit(h, mech(CKM.SHA256))
out["digest_update_null_data"] = [f.C_DigestUpdate(h, ffi.NULL, 5), f.C_DigestFinal(h, buf, fill())]
f.C_SignInit(h, mech(CKM.SHA256_RSA_PKCS), rsa)
out["sign_null_length"] = [f.C_Sign(h, data, len(data), buf, ffi.NULL), f.C_Sign(h, data, len(data), buf, fill())]
f.C_SignInit(h, mech(CKM.SHA256_RSA_PKCS), rsa)
f.C_SignUpdate(h, data, len(data))
out["sign_final_null_length"] = [f.C_SignFinal(h, buf, ffi.NULL), f.C_SignFinal(h, buf, fill())]
f.C_VerifyInit(h, mech(CKM.SHA256_RSA_PKCS), rsa_public)
out["verify_null_signature"] = [f.C_Verify(h, data, len(data), ffi.NULL, 256),
                                f.C_Verify(h, data, len(data), buf, 256)]

# After a length query only the call that asked may follow.
f.C_DigestInit(h, mech(CKM.SHA256))
out["digest_final_after_digest_query"] = [f.C_Digest(h, data, len(data), ffi.NULL, fill(0)),
                                          f.C_DigestFinal(h, buf, fill()),
                                          f.C_Digest(h, data, len(data), buf, fill())]
out["digest"] = bytes(ffi.buffer(buf, length[0])).hex()
f.C_EncryptInit(h, mech(CKM.RSA_PKCS), rsa_public)
out["encrypt_update_after_encrypt_query"] = [f.C_Encrypt(h, data, len(data), ffi.NULL, fill(0)),
                                             f.C_EncryptUpdate(h, b"dropped", 7, buf, fill()),
                                             f.C_Encrypt(h, data, len(data), buf, fill())]
out["ciphertext"] = bytes(ffi.buffer(buf, length[0])).hex()
f.C_EncryptInit(h, mech(CKM.RSA_PKCS), rsa_public)
rvs = []
for part in (b"multi ", b"part"):  # each part: how long? then the part itself
    rvs.append(f.C_EncryptUpdate(h, part, len(part), ffi.NULL, fill(0)))
    rvs.append(f.C_EncryptUpdate(h, part, len(part), buf, fill()))
rvs.append(f.C_EncryptFinal(h, buf, fill()))
out["encrypt_update_queries"] = rvs
out["multipart_ciphertext"] = bytes(ffi.buffer(buf, length[0])).hex()

# CKA_ALWAYS_AUTHENTICATE: an abandoned or failed context login does not jam the session.
rvs = [f.C_SignInit(h, mech(CKM.ECDSA_SHA256), always), f.C_SignInit(h, mech(CKM.SHA256_RSA_PKCS), rsa),
       f.C_Sign(h, data, len(data), buf, fill())]
rvs += [f.C_SignInit(h, mech(CKM.ECDSA_SHA256), always), f.C_Login(h, CKU.CONTEXT_SPECIFIC, b"000000", 6),
        f.C_SignInit(h, mech(CKM.SHA256_RSA_PKCS), rsa), f.C_Sign(h, data, len(data), buf, fill())]
out["always_authenticate"] = rvs
out["rsa_signature"] = bytes(ffi.buffer(buf, length[0])).hex()
f.C_Finalize(ffi.NULL)
print(json.dumps(out))
""".replace("{open_session}", OPEN_SESSION)

CKR_ARGUMENTS_BAD = 0x7
CKR_PIN_INCORRECT = 0xA0
CKR_OPERATION_ACTIVE = 0x90


def test_operation_rules_through_the_c_abi(card: ModuleCard) -> None:
    public = x509.load_pem_x509_certificate(card.certificates["9a"]).public_key()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(RULES_SCRIPT), card.module, card.reader_name, PIN],
                          capture_output=True, text=True, timeout=120, env=module_env())
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    ended = [CKR_ARGUMENTS_BAD, CKR_OPERATION_NOT_INITIALIZED]
    for case in ("digest_null_length", "digest_update_null_data", "sign_null_length", "sign_final_null_length",
                 "verify_null_signature"):
        assert out[case] == ended, case
    assert out["digest_final_after_digest_query"] == [CKR_OK, CKR_OPERATION_ACTIVE, CKR_OK]
    assert bytes.fromhex(out["digest"]) == hashlib.sha256(b"operation rules").digest()
    assert out["encrypt_update_after_encrypt_query"] == [CKR_OK, CKR_OPERATION_ACTIVE, CKR_OK]
    assert out["encrypt_update_queries"] == [CKR_OK] * 5
    assert out["always_authenticate"] == [CKR_OK, CKR_OK, CKR_OK, CKR_OK, CKR_PIN_INCORRECT, CKR_OK, CKR_OK]
    public.verify(bytes.fromhex(out["rsa_signature"]), b"operation rules", padding.PKCS1v15(), hashes.SHA256())
    # The ciphertexts are checked by decrypting them on the card.
    for key, plain in (("ciphertext", b"operation rules"), ("multipart_ciphertext", b"multi part")):
        source = Path(card.handle.state_path).parent / f"{key}.bin"
        source.write_bytes(bytes.fromhex(out[key]))
        target = source.with_suffix(".plain")
        card.pkcs11_tool("--login", "--pin", PIN, "--decrypt", "-m", "RSA-PKCS", "--id", "01",
                         "-i", str(source), "-o", str(target))
        assert target.read_bytes() == plain, key
