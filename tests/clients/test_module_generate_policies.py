"""C_GenerateKeyPair through the module's C ABI (a cffi host, as a C program calls it)
with ykcs11's policy attributes, for every algorithm a YubiKey 5.7 has: RSA 1024 to
4096, P-256, P-384, Ed25519, X25519; and C_CreateObject of Ed25519 and X25519 private
keys from their CKA_ values (pkcs11-tool 0.23 writes only RSA and EC keys). The card is the module's virtual card kept in a
file, so the test reads what the card stored there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cardki.capi import module_path
from hosts import CFFI_HOST, module_env
from hwsim import statefile

pytestmark = pytest.mark.clients

SCRIPT = CFFI_HOST + r"""
from cardki.constants import CKA, CKK, CKM, CKO, CKU
from cardki.curves import curve_by_name

MGMT = b"010203040506070801020304050607080102030405060708"
ulong = lambda v: int(v).to_bytes(8, "little")
true = b"\x01"

out = {"init": f.C_Initialize(ffi.NULL)}
count = ffi.new("CK_ULONG *", 4)
slots = ffi.new("CK_SLOT_ID[4]")
f.C_GetSlotList(1, slots, count)
session = ffi.new("CK_SESSION_HANDLE *")
f.C_OpenSession(slots[0], 6, ffi.NULL, ffi.NULL, session)
h = session[0]
out["so"] = f.C_Login(h, CKU.SO, MGMT, len(MGMT))
# (CKA_ID, mechanism, public template, PIN policy, touch policy)
plans = [
    (0x01, CKM.RSA_PKCS_KEY_PAIR_GEN, [(CKA.MODULUS_BITS, ulong(1024))], 1, 1),
    (0x02, CKM.RSA_PKCS_KEY_PAIR_GEN, [(CKA.MODULUS_BITS, ulong(2048)), (CKA.PUBLIC_EXPONENT, b"\x01\x00\x01")], 2, 3),
    (0x03, CKM.RSA_PKCS_KEY_PAIR_GEN, [(CKA.MODULUS_BITS, ulong(3072))], 3, 2),
    (0x04, CKM.RSA_PKCS_KEY_PAIR_GEN, [(CKA.MODULUS_BITS, ulong(4096))], 1, 1),
    (0x05, CKM.EC_KEY_PAIR_GEN, [(CKA.EC_PARAMS, curve_by_name("secp256r1").ec_params)], 2, 3),
    (0x06, CKM.EC_KEY_PAIR_GEN, [(CKA.EC_PARAMS, curve_by_name("secp384r1").ec_params)], 3, 1),
    (0x07, CKM.EC_EDWARDS_KEY_PAIR_GEN, [(CKA.EC_PARAMS, curve_by_name("ed25519").ec_params)], 1, 2),
    (0x08, CKM.EC_MONTGOMERY_KEY_PAIR_GEN, [(CKA.EC_PARAMS, curve_by_name("x25519").ec_params)], 2, 3),
]
out["generated"] = []
for key_id, mechanism, public, pin_policy, touch_policy in plans:
    pub = template((CKA.TOKEN, true), (CKA.ID, bytes([key_id])), *public)
    priv = template((CKA.TOKEN, true), (CKA.ID, bytes([key_id])), (CKA.YUBICO_PIN_POLICY, bytes([pin_policy])),
                    (CKA.YUBICO_TOUCH_POLICY, bytes([touch_policy])))
    mech = ffi.new("CK_MECHANISM *", [mechanism, ffi.NULL, 0])
    handles = ffi.new("CK_OBJECT_HANDLE[2]")
    out["generated"].append(f.C_GenerateKeyPair(h, mech, *pub, *priv, handles, handles + 1))
# a policy value that is not one byte is refused before the card is asked
pub = template((CKA.TOKEN, true), (CKA.ID, b"\x09"), (CKA.EC_PARAMS, curve_by_name("secp256r1").ec_params))
priv = template((CKA.TOKEN, true), (CKA.ID, b"\x09"), (CKA.YUBICO_PIN_POLICY, ulong(2)))
mech = ffi.new("CK_MECHANISM *", [CKM.EC_KEY_PAIR_GEN, ffi.NULL, 0])
handles = ffi.new("CK_OBJECT_HANDLE[2]")
out["wide_policy"] = f.C_GenerateKeyPair(h, mech, *pub, *priv, handles, handles + 1)
# C_CreateObject of 25519 private keys from their CKA_ values, with policies (9E, 82->retired 9: 0x8A)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
raw = serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
out["imported"] = []
for key_id, key_type, name, key in ((0x0A, CKK.EC_EDWARDS, "ed25519", ed25519.Ed25519PrivateKey.generate()),
                                    (0x0B, CKK.EC_MONTGOMERY, "x25519", x25519.X25519PrivateKey.generate())):
    attrs = template((CKA.CLASS, ulong(CKO.PRIVATE_KEY)), (CKA.TOKEN, true), (CKA.PRIVATE, true),
                     (CKA.KEY_TYPE, ulong(key_type)), (CKA.ID, bytes([key_id])),
                     (CKA.EC_PARAMS, curve_by_name(name).ec_params), (CKA.VALUE, key.private_bytes(*raw)),
                     (CKA.YUBICO_PIN_POLICY, b"\x01"), (CKA.YUBICO_TOUCH_POLICY, b"\x01"))
    handle = ffi.new("CK_OBJECT_HANDLE *")
    out["imported"].append(f.C_CreateObject(h, *attrs, handle))
f.C_Logout(h)
out["user"] = f.C_Login(h, CKU.USER, b"123456", 6)
policies = {}
for key_id, *_ in plans:
    f.C_FindObjectsInit(h, *template((CKA.CLASS, ulong(CKO.PRIVATE_KEY)), (CKA.ID, bytes([key_id]))))
    found, n = ffi.new("CK_OBJECT_HANDLE[2]"), ffi.new("CK_ULONG *")
    f.C_FindObjects(h, found, 2, n)
    f.C_FindObjectsFinal(h)
    values = ffi.new("CK_BYTE[2]")
    t = ffi.new("CK_ATTRIBUTE[2]")
    t[0].type, t[0].pValue, t[0].ulValueLen = CKA.YUBICO_PIN_POLICY, values, 1
    t[1].type, t[1].pValue, t[1].ulValueLen = CKA.YUBICO_TOUCH_POLICY, values + 1, 1
    rv = f.C_GetAttributeValue(h, found[0], t, 2)
    policies[key_id] = [n[0], rv, values[0], values[1], t[0].ulValueLen, t[1].ulValueLen]
out["policies"] = policies
out["finalize"] = f.C_Finalize(ffi.NULL)
print(json.dumps(out))
"""


def test_every_algorithm_of_a_yubikey_5_7_with_pin_and_touch_policies(tmp_path: Path) -> None:
    state = tmp_path / "card.json"
    done = subprocess.run([sys.executable, "-c", SCRIPT, module_path()], capture_output=True, text=True,
                          timeout=300, env=module_env(CARDKI_VIRTUAL_STATE=str(state)))
    assert done.returncode == 0 and done.stderr == "", done.stdout[-2000:] + done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["init"] == out["so"] == out["user"] == out["finalize"] == 0
    assert out["generated"] == [0] * 8
    assert out["wide_policy"] == 0x13  # CKR_ATTRIBUTE_VALUE_INVALID: a CK_BYTE is one byte
    assert out["imported"] == [0, 0]
    expected = {1: (1, 1), 2: (2, 3), 3: (3, 2), 4: (1, 1), 5: (2, 3), 6: (3, 1), 7: (1, 2), 8: (2, 3)}
    assert out["policies"] == {str(k): [1, 0, pin, touch, 1, 1] for k, (pin, touch) in expected.items()}
    saved = statefile.load_state(state)
    assert saved is not None
    keys = saved["piv"]["keys"]
    slots = {1: "9a", 2: "9c", 3: "9d", 4: "9e", 5: "82", 6: "83", 7: "84", 8: "85"}
    algorithms = {1: 0x06, 2: 0x07, 3: 0x05, 4: 0x16, 5: 0x11, 6: 0x14, 7: 0xE0, 8: 0xE1}
    for key_id, (pin, touch) in expected.items():
        key = keys[slots[key_id]]
        assert (key["algorithm"], key["pin_policy"], key["touch_policy"], key["origin"]) == (
            algorithms[key_id], pin, touch, 1), key_id
    for slot, algorithm in (("87", 0xE0), ("88", 0xE1)):  # ids 0A and 0B: retired keys 6 and 7
        key = keys[slot]
        assert (key["algorithm"], key["pin_policy"], key["touch_policy"], key["origin"]) == (algorithm, 1, 1, 2)
