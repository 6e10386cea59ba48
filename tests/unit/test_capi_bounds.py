"""Arguments past what the host will compute, through the C ABI (a cffi host).

CK_ULONGs that become sizes (a PSS salt length, CKA_VALUE_LEN of a derived
key, a C_GenerateRandom length) and session RSA keys with a huge modulus or
exponent get the spec's code for a bad value at once, never CKR_GENERAL_ERROR
and never seconds of work with the library lock held. The bounds are in
cardki.cryptoki.limits. The host provisions its own keys on the in-process
virtual card (an RSA-2048 key in 9A, a P-256 key in 9D).
"""

from __future__ import annotations

from cardki.cryptoki import limits
from hosts import CFFI_HOST, CFFI_SO_SESSION, run_module_script

SCRIPT = CFFI_HOST + r"""
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cardki.cryptoki import limits
from cardki.constants import CKA, CKD, CKG, CKK, CKM, CKO, CKU

keep = []
out = {}

def mechanism(kind, parameter=None, struct=None):
    m = ffi.new("CK_MECHANISM *", [kind, parameter if parameter is not None else ffi.NULL,
                                   ffi.sizeof(struct) if struct else 0])
    keep.append(m)
    return m

""" + CFFI_SO_SESSION + r"""
public, private = ffi.new("CK_OBJECT_HANDLE *"), ffi.new("CK_OBJECT_HANDLE *")
pub_t = template((CKA.ID, b"\x01"), (CKA.MODULUS_BITS, 2048))
priv_t = template((CKA.ID, b"\x01"))
assert f.C_GenerateKeyPair(h, mechanism(CKM.RSA_PKCS_KEY_PAIR_GEN), *pub_t, *priv_t, public, private) == 0
p256 = bytes.fromhex("06082a8648ce3d030107")
pub_t = template((CKA.ID, b"\x03"), (CKA.EC_PARAMS, p256))
priv_t = template((CKA.ID, b"\x03"))
assert f.C_GenerateKeyPair(h, mechanism(CKM.EC_KEY_PAIR_GEN), *pub_t, *priv_t, public, private) == 0
assert f.C_Logout(h) == 0
assert f.C_Login(h, CKU.USER, b"123456", 6) == 0

def find(object_class, key_id):
    assert f.C_FindObjectsInit(h, *template((CKA.CLASS, object_class), (CKA.ID, key_id))) == 0
    found, n = ffi.new("CK_OBJECT_HANDLE[2]"), ffi.new("CK_ULONG *")
    assert f.C_FindObjects(h, found, 2, n) == 0 and n[0] == 1
    assert f.C_FindObjectsFinal(h) == 0
    return found[0]
rsa_public, rsa_private = find(CKO.PUBLIC_KEY, b"\x01"), find(CKO.PRIVATE_KEY, b"\x01")
ec_private = find(CKO.PRIVATE_KEY, b"\x03")

# PSS salt lengths no key has room for: at *Init, before any card or host work
for salt in (2**63, 2**64 - 1, limits.PSS_MAX_SALT_LENGTH + 1):
    pss = ffi.new("CK_RSA_PKCS_PSS_PARAMS *", [CKM.SHA256, CKG.MGF1_SHA256, salt])
    m = mechanism(CKM.SHA256_RSA_PKCS_PSS, pss, "CK_RSA_PKCS_PSS_PARAMS")
    out[f"sign_init_salt_{salt}"] = f.C_SignInit(h, m, rsa_private)
    out[f"verify_init_salt_{salt}"] = f.C_VerifyInit(h, m, rsa_public)
pss = ffi.new("CK_RSA_PKCS_PSS_PARAMS *", [CKM.SHA256, CKG.MGF1_SHA256, 32])
m = mechanism(CKM.SHA256_RSA_PKCS_PSS, pss, "CK_RSA_PKCS_PSS_PARAMS")
out["verify_init_salt_32"] = f.C_VerifyInit(h, m, rsa_public)
out["verify_salt_32"] = f.C_Verify(h, b"data", 4, bytes(256), 256)

# derived key lengths
peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
point = ffi.new("CK_BYTE[]", peer)
def derive(length, shared=b""):
    shared_buffer = ffi.new("CK_BYTE[]", shared or b"\x00")
    params = ffi.new("CK_ECDH1_DERIVE_PARAMS *", [CKD.SHA256_KDF, len(shared), shared_buffer, len(peer), point])
    keep.extend([shared_buffer, params])
    attrs = template((CKA.CLASS, CKO.SECRET_KEY), (CKA.KEY_TYPE, CKK.GENERIC_SECRET), (CKA.VALUE_LEN, length))
    derived = ffi.new("CK_OBJECT_HANDLE *")
    return f.C_DeriveKey(h, mechanism(CKM.ECDH1_DERIVE, params, "CK_ECDH1_DERIVE_PARAMS"), ec_private, *attrs,
                         derived)
for length in (2**37, 256 << 20, limits.MAX_DERIVED_KEY_LENGTH + 1, 0):
    out[f"derive_{length}"] = derive(length)
out["derive_32"] = derive(32)
out["derive_shared_too_long"] = derive(32, bytes(limits.MAX_KDF_SHARED_DATA_LENGTH + 1))

# session RSA public keys
def rsa_key(modulus, exponent):
    made = ffi.new("CK_OBJECT_HANDLE *")
    attrs = template((CKA.CLASS, CKO.PUBLIC_KEY), (CKA.KEY_TYPE, CKK.RSA), (CKA.VERIFY, True),
                     (CKA.MODULUS, modulus.to_bytes((modulus.bit_length() + 7) // 8, "big")),
                     (CKA.PUBLIC_EXPONENT, exponent.to_bytes((exponent.bit_length() + 7) // 8, "big")))
    return f.C_CreateObject(h, *attrs, made), made[0]
largest = (1 << (limits.RSA_MAX_MODULUS_BITS - 1)) | 1
out["rsa_16384_huge_exponent"] = rsa_key(largest, (1 << 16000) + 1)[0]
out["rsa_16392_bits"] = rsa_key((1 << 16391) | 1, 65537)[0]
out["rsa_exponent_65_bits"] = rsa_key(largest, (1 << 64) + 1)[0]
rv, largest_key = rsa_key(largest, (1 << 64) - 1)
out["rsa_largest"] = rv
out["verify_init_largest"] = f.C_VerifyInit(h, mechanism(CKM.RSA_X_509), largest_key)
signature = bytes(limits.RSA_MAX_MODULUS_BITS // 8 - 1) + b"\x02"
out["verify_largest"] = f.C_Verify(h, b"data", 4, signature, len(signature))

# an EC key whose CKA_EC_PARAMS is one giant OID (turning it into an integer is quadratic)
made = ffi.new("CK_OBJECT_HANDLE *")
giant_oid = b"\x06\x83" + (100002).to_bytes(3, "big") + b"\x2a" + b"\xff" * 100000 + b"\x01"
attrs = template((CKA.CLASS, CKO.PUBLIC_KEY), (CKA.KEY_TYPE, CKK.EC), (CKA.VERIFY, True),
                 (CKA.EC_PARAMS, giant_oid), (CKA.EC_POINT, b"\x04\x41" + peer))
out["ec_giant_params"] = f.C_CreateObject(h, *attrs, made)

# a CK_MECHANISM_TYPE array attribute: each entry becomes a Python int
for entries in (limits.MAX_MECHANISM_LIST_LENGTH, limits.MAX_MECHANISM_LIST_LENGTH + 1):
    mechanisms = b"".join(int(CKM.ECDSA).to_bytes(8, "little") for _ in range(entries))
    out[f"find_mechanisms_{entries}"] = f.C_FindObjectsInit(h, *template((CKA.ALLOWED_MECHANISMS, mechanisms)))
    f.C_FindObjectsFinal(h)

# random lengths
buffer = ffi.new("CK_BYTE[16]")
out["random_too_long"] = f.C_GenerateRandom(h, buffer, limits.MAX_RANDOM_LENGTH + 1)
out["random_all_ones"] = f.C_GenerateRandom(h, buffer, 2**64 - 1)
out["random"] = f.C_GenerateRandom(h, buffer, 16)
out["finalize"] = f.C_Finalize(ffi.NULL)
print(json.dumps(out))
"""

CKR_OK = 0
CKR_ARGUMENTS_BAD = 0x7
CKR_ATTRIBUTE_VALUE_INVALID = 0x13
CKR_MECHANISM_PARAM_INVALID = 0x71
CKR_SIGNATURE_INVALID = 0xC0


def test_sizes_and_session_keys_past_the_bounds_get_spec_codes() -> None:
    out = run_module_script(SCRIPT)
    for salt in (2**63, 2**64 - 1, limits.PSS_MAX_SALT_LENGTH + 1):
        assert out[f"sign_init_salt_{salt}"] == CKR_MECHANISM_PARAM_INVALID, salt
        assert out[f"verify_init_salt_{salt}"] == CKR_MECHANISM_PARAM_INVALID, salt
    assert (out["verify_init_salt_32"], out["verify_salt_32"]) == (CKR_OK, CKR_SIGNATURE_INVALID)

    for length in (2**37, 256 << 20, limits.MAX_DERIVED_KEY_LENGTH + 1, 0):
        assert out[f"derive_{length}"] == CKR_ATTRIBUTE_VALUE_INVALID, length
    assert out["derive_32"] == CKR_OK
    assert out["derive_shared_too_long"] == CKR_MECHANISM_PARAM_INVALID

    assert out["rsa_16384_huge_exponent"] == CKR_ATTRIBUTE_VALUE_INVALID
    assert out["rsa_16392_bits"] == CKR_ATTRIBUTE_VALUE_INVALID
    assert out["rsa_exponent_65_bits"] == CKR_ATTRIBUTE_VALUE_INVALID
    assert (out["rsa_largest"], out["verify_init_largest"], out["verify_largest"]) == (
        CKR_OK, CKR_OK, CKR_SIGNATURE_INVALID)

    assert out["ec_giant_params"] == CKR_ATTRIBUTE_VALUE_INVALID
    assert out[f"find_mechanisms_{limits.MAX_MECHANISM_LIST_LENGTH}"] == CKR_OK
    assert out[f"find_mechanisms_{limits.MAX_MECHANISM_LIST_LENGTH + 1}"] == CKR_ATTRIBUTE_VALUE_INVALID

    assert out["random_too_long"] == CKR_ARGUMENTS_BAD
    assert out["random_all_ones"] == CKR_ARGUMENTS_BAD
    assert (out["random"], out["finalize"]) == (CKR_OK, CKR_OK)
