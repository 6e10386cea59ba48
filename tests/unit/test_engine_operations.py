"""Operations through the real PIV token: hash-then-sign, host-side verify and
encrypt, card decrypt, digests, ECDH derive, and the operation state machine
(OPERATION_ACTIVE / NOT_INITIALIZED, length queries, BUFFER_TOO_SMALL)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from engine_support import PIN, RO, EngineRig

from cardki import (
    CKA,
    CKD,
    CKG,
    CKK,
    CKM,
    CKO,
    CKS,
    CKU,
    CKZ,
    Ecdh1DeriveParams,
    MechanismSpec,
    RsaOaepParams,
    RsaPssParams,
    errors,
)

MESSAGE = b"the quick brown fox" * 10
PSS256 = RsaPssParams(CKM.SHA256, CKG.MGF1_SHA256, 32)


@pytest.fixture
def user(rig: EngineRig) -> int:
    session = rig.open(RO)
    rig.lib.login(session, CKU.USER, PIN)
    return session


def sign(rig: EngineRig, session: int, mech, key: int, data: bytes = MESSAGE) -> bytes:
    rig.lib.sign_init(session, mech, key)
    return rig.lib.sign(session, data)


@pytest.mark.parametrize("mech, algorithm", [
    (CKM.SHA1_RSA_PKCS, hashes.SHA1()), (CKM.SHA224_RSA_PKCS, hashes.SHA224()),
    (CKM.SHA256_RSA_PKCS, hashes.SHA256()), (CKM.SHA384_RSA_PKCS, hashes.SHA384()),
    (CKM.SHA512_RSA_PKCS, hashes.SHA512())])
def test_hashed_rsa_pkcs_signatures_verify_on_the_host(rig: EngineRig, user: int, mech, algorithm) -> None:
    signature = sign(rig, user, mech, rig.private_key(user, b"\x01"))
    rig.keys[0x9A].public_key().verify(signature, MESSAGE, padding.PKCS1v15(), algorithm)
    rig.lib.verify_init(user, mech, rig.public_key(user, b"\x01"))
    rig.lib.verify(user, MESSAGE, signature)


def test_pss_signature_and_hash_mismatch(rig: EngineRig, user: int) -> None:
    key = rig.private_key(user, b"\x01")
    signature = sign(rig, user, (CKM.SHA256_RSA_PKCS_PSS, PSS256), key)
    rig.keys[0x9A].public_key().verify(signature, MESSAGE, padding.PSS(padding.MGF1(hashes.SHA256()), 32),
                                       hashes.SHA256())
    with pytest.raises(errors.MechanismParamInvalid):
        rig.lib.sign_init(user, (CKM.SHA384_RSA_PKCS_PSS, PSS256), key)
    with pytest.raises(errors.MechanismParamInvalid):
        rig.lib.sign_init(user, CKM.SHA256_RSA_PKCS_PSS, key)
    # raw PSS over a digest made elsewhere
    digest = hashlib.sha256(MESSAGE).digest()
    raw = sign(rig, user, MechanismSpec(CKM.RSA_PKCS_PSS, PSS256), key, digest)
    rig.lib.verify_init(user, (CKM.SHA256_RSA_PKCS_PSS, PSS256), rig.public_key(user, b"\x01"))
    rig.lib.verify(user, MESSAGE, raw)


def test_multi_part_sign_equals_single_part(rig: EngineRig, user: int) -> None:
    key = rig.private_key(user, b"\x01")
    rig.lib.sign_init(user, CKM.SHA256_RSA_PKCS, key)
    rig.lib.sign_update(user, MESSAGE[:7])
    rig.lib.sign_update(user, MESSAGE[7:])
    with pytest.raises(errors.OperationActive):
        rig.lib.sign(user, MESSAGE)  # single-part call in the middle of a multi-part one
    assert rig.lib.sign_final(user) == sign(rig, user, CKM.SHA256_RSA_PKCS, key)  # PKCS#1 v1.5 is deterministic


def test_ecdsa_with_always_authenticate_key(rig: EngineRig, user: int) -> None:
    key = rig.private_key(user, b"\x02")  # 9C: PIN always
    assert rig.lib.get_attribute_value(user, key, [CKA.ALWAYS_AUTHENTICATE])[CKA.ALWAYS_AUTHENTICATE]
    with pytest.raises(errors.OperationNotInitialized):
        rig.lib.login(user, CKU.CONTEXT_SPECIFIC, PIN)
    rig.lib.sign_init(user, CKM.ECDSA_SHA256, key)
    with pytest.raises(errors.UserNotLoggedIn):
        rig.lib.sign(user, MESSAGE)  # no context-specific login: the operation ends
    with pytest.raises(errors.OperationNotInitialized):
        rig.lib.sign(user, MESSAGE)
    rig.lib.sign_init(user, CKM.ECDSA_SHA256, key)
    rig.lib.login(user, CKU.CONTEXT_SPECIFIC, PIN)
    signature = rig.lib.sign(user, MESSAGE)
    assert len(signature) == 64
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    rig.keys[0x9C].public_key().verify(utils.encode_dss_signature(r, s), MESSAGE, ec.ECDSA(hashes.SHA256()))
    rig.lib.verify_init(user, CKM.ECDSA_SHA256, rig.public_key(user, b"\x02"))
    rig.lib.verify(user, MESSAGE, signature)
    rig.lib.verify_init(user, CKM.ECDSA, rig.public_key(user, b"\x02"))
    rig.lib.verify(user, hashlib.sha256(MESSAGE).digest(), signature)


def test_p384_and_ed25519(rig: EngineRig, user: int) -> None:
    signature = sign(rig, user, CKM.ECDSA_SHA384, rig.private_key(user, b"\x06"))
    rig.lib.verify_init(user, CKM.ECDSA_SHA384, rig.public_key(user, b"\x06"))
    rig.lib.verify(user, MESSAGE, signature)
    ed = sign(rig, user, CKM.EDDSA, rig.private_key(user, b"\x04"))
    rig.keys[0x9E].public_key().verify(ed, MESSAGE)
    rig.lib.verify_init(user, CKM.EDDSA, rig.public_key(user, b"\x04"))
    with pytest.raises(errors.SignatureInvalid):
        rig.lib.verify(user, MESSAGE + b"!", ed)


def test_verify_failures_end_the_operation(rig: EngineRig, user: int) -> None:
    public = rig.public_key(user, b"\x01")
    rig.lib.verify_init(user, CKM.SHA256_RSA_PKCS, public)
    with pytest.raises(errors.SignatureLenRange):
        rig.lib.verify(user, MESSAGE, b"short")
    with pytest.raises(errors.OperationNotInitialized):
        rig.lib.verify(user, MESSAGE, b"short")
    rig.lib.verify_init(user, CKM.SHA256_RSA_PKCS, public)
    with pytest.raises(errors.SignatureInvalid):
        rig.lib.verify(user, MESSAGE, bytes(256))


def test_init_checks(rig: EngineRig, user: int) -> None:
    rsa_key, attestation = rig.private_key(user, b"\x01"), rig.private_key(user, b"\x19")
    with pytest.raises(errors.MechanismInvalid):
        rig.lib.sign_init(user, CKM.SHA256, rsa_key)
    with pytest.raises(errors.KeyTypeInconsistent):
        rig.lib.sign_init(user, CKM.ECDSA, rsa_key)
    with pytest.raises(errors.KeyFunctionNotPermitted):
        rig.lib.sign_init(user, CKM.SHA256_RSA_PKCS, attestation)  # it would forge attestations
    with pytest.raises(errors.KeyHandleInvalid):
        rig.lib.sign_init(user, CKM.ECDSA, 987654)
    with pytest.raises(errors.KeyTypeInconsistent):
        rig.lib.verify_init(user, CKM.SHA256_RSA_PKCS, rsa_key)  # a private key cannot verify here
    rig.lib.sign_init(user, CKM.SHA256_RSA_PKCS, rsa_key)
    with pytest.raises(errors.OperationActive):
        rig.lib.sign_init(user, CKM.SHA256_RSA_PKCS, rsa_key)
    with pytest.raises(errors.OperationNotInitialized):
        rig.lib.sign_final(rig.open(RO))


def test_a_signature_length_is_told_without_the_card_and_a_short_buffer_keeps_the_operation(
        rig: EngineRig, user: int) -> None:
    key = rig.private_key(user, b"\x06")  # ECDSA P-384: r || s is always 96 bytes
    rig.lib.sign_init(user, CKM.ECDSA_SHA256, key)
    before = rig.apdus
    assert rig.lib.sign(user, MESSAGE, length_only=True) == 96
    with pytest.raises(errors.BufferTooSmall) as caught:
        rig.lib.sign(user, MESSAGE, max_length=10)
    assert caught.value.required == 96
    assert rig.apdus == before  # the length comes from the key
    signature = rig.lib.sign(user, MESSAGE, max_length=96)
    r, s = int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
    rig.keys[0x83].public_key().verify(utils.encode_dss_signature(r, s), MESSAGE, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(errors.OperationNotInitialized):
        rig.lib.sign(user, MESSAGE)
    for key_id, length in ((b"\x01", 256), (b"\x04", 64)):  # RSA-2048, Ed25519
        rig.lib.sign_init(user, CKM.SHA256_RSA_PKCS if key_id == b"\x01" else CKM.EDDSA,
                          rig.private_key(user, key_id))
        assert rig.lib.sign(user, MESSAGE, length_only=True) == length
        assert len(rig.lib.sign(user, MESSAGE)) == length


def test_card_errors_end_the_operation(rig: EngineRig, user: int) -> None:
    key = rig.private_key(user, b"\x01")
    rig.lib.sign_init(user, CKM.RSA_X_509, key)
    with pytest.raises(errors.CryptokiError) as caught:
        rig.lib.sign(user, b"\xff" * 256)  # not below the modulus
    assert not isinstance(caught.value, errors.BufferTooSmall)
    with pytest.raises(errors.OperationNotInitialized):
        rig.lib.sign(user, b"\x01")


@pytest.mark.parametrize("mech", [
    CKM.RSA_PKCS,
    (CKM.RSA_PKCS_OAEP, RsaOaepParams(CKM.SHA256, CKG.MGF1_SHA256)),
    (CKM.RSA_PKCS_OAEP, RsaOaepParams(CKM.SHA_1, CKG.MGF1_SHA1, CKZ.DATA_SPECIFIED, b"label")),
])
def test_host_encrypt_card_decrypt_round_trip(rig: EngineRig, user: int, mech) -> None:
    rig.lib.encrypt_init(user, mech, rig.public_key(user, b"\x01"))
    ciphertext = rig.lib.encrypt(user, b"secret message")
    assert len(ciphertext) == 256
    rig.lib.decrypt_init(user, mech, rig.private_key(user, b"\x01"))
    assert rig.lib.decrypt(user, ciphertext, length_only=True) == len(b"secret message")
    assert rig.lib.decrypt(user, ciphertext, max_length=14) == b"secret message"


def test_oaep_parameter_checks(rig: EngineRig, user: int) -> None:
    with pytest.raises(errors.MechanismParamInvalid):
        rig.lib.encrypt_init(user, CKM.RSA_PKCS_OAEP, rig.public_key(user, b"\x01"))
    with pytest.raises(errors.MechanismParamInvalid):
        rig.lib.encrypt_init(user, (CKM.RSA_PKCS_OAEP, RsaOaepParams(CKM.SHA256, 0x77)),
                             rig.public_key(user, b"\x01"))


@pytest.mark.parametrize("mech, name", [(CKM.SHA_1, "sha1"), (CKM.SHA224, "sha224"), (CKM.SHA256, "sha256"),
                                        (CKM.SHA384, "sha384"), (CKM.SHA512, "sha512")])
def test_digests_single_and_multi_part(rig: EngineRig, mech, name: str) -> None:
    session = rig.open(RO)
    rig.lib.digest_init(session, mech)
    assert rig.lib.digest(session, MESSAGE) == hashlib.new(name, MESSAGE).digest()
    rig.lib.digest_init(session, mech)
    rig.lib.digest_update(session, MESSAGE[:3])
    rig.lib.digest_update(session, MESSAGE[3:])
    with pytest.raises(errors.BufferTooSmall):
        rig.lib.digest_final(session, max_length=1)
    assert rig.lib.digest_final(session) == hashlib.new(name, MESSAGE).digest()


def test_digest_key(rig: EngineRig, user: int) -> None:
    secret = rig.lib.create_object(user, {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET,
                                          CKA.VALUE: b"k" * 20, CKA.PRIVATE: False})
    rig.lib.digest_init(user, CKM.SHA256)
    rig.lib.digest_update(user, b"a")
    rig.lib.digest_key(user, secret)
    assert rig.lib.digest_final(user) == hashlib.sha256(b"a" + b"k" * 20).digest()
    rig.lib.digest_init(user, CKM.SHA256)
    with pytest.raises(errors.KeyIndigestible):
        rig.lib.digest_key(user, rig.public_key(user, b"\x01"))


def _peer_point(curve: ec.EllipticCurve):
    peer = ec.generate_private_key(curve)
    return peer, peer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def test_ecdh_derive_null_kdf_and_x963(rig: EngineRig, user: int) -> None:
    key = rig.private_key(user, b"\x03")
    peer, point = _peer_point(ec.SECP256R1())
    shared = peer.exchange(ec.ECDH(), rig.keys[0x9D].public_key())
    plain = rig.lib.derive_key(user, (CKM.ECDH1_DERIVE, Ecdh1DeriveParams(CKD.NULL, b"", point)), key,
                               {CKA.SENSITIVE: False})
    values = rig.lib.get_attribute_value(user, plain, [CKA.VALUE, CKA.KEY_TYPE, CKA.CLASS, CKA.TOKEN])
    assert values == {CKA.VALUE: shared, CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.CLASS: CKO.SECRET_KEY,
                      CKA.TOKEN: False}
    der_point = b"\x04\x41" + point  # DER OCTET STRING form accepted too
    aes = rig.lib.derive_key(user, (CKM.ECDH1_DERIVE, Ecdh1DeriveParams(CKD.SHA256_KDF, b"info", der_point)),
                             key, {CKA.KEY_TYPE: CKK.AES, CKA.VALUE_LEN: 32, CKA.SENSITIVE: False})
    expected = X963KDF(hashes.SHA256(), 32, b"info").derive(shared)
    assert rig.lib.get_attribute_value(user, aes, [CKA.VALUE])[CKA.VALUE] == expected
    hidden = rig.lib.derive_key(user, (CKM.ECDH1_DERIVE, Ecdh1DeriveParams(CKD.NULL, b"", point)), key,
                                {CKA.SENSITIVE: True})
    with pytest.raises(errors.AttributeSensitive):
        rig.lib.get_attribute_value(user, hidden, [CKA.VALUE])


def test_derive_checks(rig: EngineRig, user: int) -> None:
    _, point = _peer_point(ec.SECP256R1())
    with pytest.raises(errors.KeyFunctionNotPermitted):
        rig.lib.derive_key(user, (CKM.ECDH1_DERIVE, Ecdh1DeriveParams(CKD.NULL, b"", point)),
                           rig.private_key(user, b"\x02"), {})
    with pytest.raises(errors.MechanismParamInvalid):
        rig.lib.derive_key(user, (CKM.ECDH1_DERIVE, Ecdh1DeriveParams(0x99, b"", point)),
                           rig.private_key(user, b"\x03"), {})
    with pytest.raises(errors.TemplateIncomplete):
        rig.lib.derive_key(user, (CKM.ECDH1_DERIVE, Ecdh1DeriveParams(CKD.NULL, b"", point)),
                           rig.private_key(user, b"\x03"), {CKA.KEY_TYPE: CKK.AES})


def test_unsupported_key_management(rig: EngineRig, user: int) -> None:
    with pytest.raises(errors.MechanismInvalid):
        rig.lib.wrap_key(user, CKM.RSA_PKCS, 1, 2)
    with pytest.raises(errors.MechanismInvalid):
        rig.lib.sign_recover_init(user, CKM.RSA_PKCS, rig.private_key(user, b"\x01"))


def test_raw_rsa_mechanisms(rig: EngineRig, user: int) -> None:
    from cardki.digests import BY_MECHANISM

    key, public = rig.private_key(user, b"\x01"), rig.public_key(user, b"\x01")
    digest_info = BY_MECHANISM[CKM.SHA256].digest_info(hashlib.sha256(MESSAGE).digest())
    raw = sign(rig, user, CKM.RSA_PKCS, key, digest_info)
    assert raw == sign(rig, user, CKM.SHA256_RSA_PKCS, key)  # the engine wraps exactly this DigestInfo
    rig.lib.verify_init(user, CKM.RSA_PKCS, public)
    rig.lib.verify(user, digest_info, raw)
    block = b"\x00\x01" + b"\xff" * 200 + b"\x00" + b"x" * 53
    x509 = sign(rig, user, CKM.RSA_X_509, key, block)
    rig.lib.verify_init(user, CKM.RSA_X_509, public)
    rig.lib.verify(user, block, x509)
    rig.lib.sign_init(user, CKM.RSA_PKCS, key)  # raw mechanisms buffer the parts
    rig.lib.sign_update(user, digest_info[:10])
    rig.lib.sign_update(user, digest_info[10:])
    assert rig.lib.sign_final(user) == raw


def test_raw_ecdsa_truncates_a_long_digest_like_the_card(rig: EngineRig, user: int) -> None:
    long_digest = hashlib.sha512(MESSAGE).digest()
    signature = sign(rig, user, CKM.ECDSA, rig.private_key(user, b"\x06"), long_digest)
    rig.lib.verify_init(user, CKM.ECDSA, rig.public_key(user, b"\x06"))
    rig.lib.verify(user, long_digest, signature)
    rig.lib.verify_init(user, CKM.ECDSA_SHA512, rig.public_key(user, b"\x06"))
    rig.lib.verify(user, MESSAGE, signature)


def test_eddsa_multi_part_signs_the_whole_message(rig: EngineRig, user: int) -> None:
    key = rig.private_key(user, b"\x04")
    rig.lib.sign_init(user, CKM.EDDSA, key)
    rig.lib.sign_update(user, MESSAGE[:5])
    rig.lib.sign_update(user, MESSAGE[5:])
    signature = rig.lib.sign_final(user)
    rig.keys[0x9E].public_key().verify(signature, MESSAGE)


# ------------------------------------------------------------------ what a call may follow, what ends an operation

def _secret(rig: EngineRig, session: int) -> int:
    return rig.lib.create_object(session, {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET,
                                           CKA.VALUE: b"k" * 20, CKA.PRIVATE: False})


def _operations(rig: EngineRig, session: int):
    """Per kind: (init, single-part call, [update calls], final call), all on one session."""
    lib = rig.lib
    ciphertext = rig.keys[0x9A].public_key().encrypt(b"secret", padding.PKCS1v15())
    secret = _secret(rig, session)
    return {
        "sign": (lambda: lib.sign_init(session, CKM.SHA256_RSA_PKCS, rig.private_key(session, b"\x01")),
                 lambda **o: lib.sign(session, MESSAGE, **o), [lambda: lib.sign_update(session, b"x")],
                 lambda **o: lib.sign_final(session, **o)),
        "encrypt": (lambda: lib.encrypt_init(session, CKM.RSA_PKCS, rig.public_key(session, b"\x01")),
                    lambda **o: lib.encrypt(session, b"plain", **o), [lambda: lib.encrypt_update(session, b"x")],
                    lambda **o: lib.encrypt_final(session, **o)),
        "decrypt": (lambda: lib.decrypt_init(session, CKM.RSA_PKCS, rig.private_key(session, b"\x01")),
                    lambda **o: lib.decrypt(session, ciphertext, **o),
                    [lambda: lib.decrypt_update(session, ciphertext)], lambda **o: lib.decrypt_final(session, **o)),
        "digest": (lambda: lib.digest_init(session, CKM.SHA256), lambda **o: lib.digest(session, MESSAGE, **o),
                   [lambda: lib.digest_update(session, b"x"), lambda: lib.digest_key(session, secret)],
                   lambda **o: lib.digest_final(session, **o)),
    }


@pytest.mark.parametrize("kind", ["sign", "encrypt", "decrypt", "digest"])
def test_after_a_single_part_length_query_only_that_call_may_follow(rig: EngineRig, user: int, kind: str) -> None:
    init, single, updates, final = _operations(rig, user)[kind]
    init()
    length = single(length_only=True)
    for update in updates:  # C_EncryptUpdate used to answer OK here and drop its data
        with pytest.raises(errors.OperationActive):
            update()
    with pytest.raises(errors.OperationActive):
        final()  # C_DigestFinal used to hand out the one-shot C_Digest's result
    output = single(max_length=length)
    assert len(output) <= length
    with pytest.raises(errors.OperationNotInitialized):
        single()


@pytest.mark.parametrize("kind", ["sign", "encrypt", "decrypt", "digest"])
def test_after_a_final_length_query_only_the_final_call_may_follow(rig: EngineRig, user: int, kind: str) -> None:
    init, single, updates, final = _operations(rig, user)[kind]
    init()
    updates[0]()
    length = final(length_only=True)
    for update in updates:
        with pytest.raises(errors.OperationActive):
            update()
    with pytest.raises(errors.OperationActive):
        single()  # C_Sign used to return C_SignFinal's signature of other data
    assert len(final(max_length=length)) <= length
    with pytest.raises(errors.OperationNotInitialized):
        final()


@pytest.mark.parametrize("kind", ["sign", "encrypt", "decrypt", "digest"])
def test_a_single_part_call_after_an_update_is_refused_and_changes_nothing(rig: EngineRig, user: int,
                                                                           kind: str) -> None:
    init, single, updates, final = _operations(rig, user)[kind]
    init()
    updates[0]()
    with pytest.raises(errors.OperationActive):
        single()
    assert final()
    with pytest.raises(errors.OperationNotInitialized):
        final()


def test_an_update_length_query_takes_no_data(rig: EngineRig, user: int) -> None:
    public = rig.public_key(user, b"\x01")
    rig.lib.encrypt_init(user, CKM.RSA_X_509, public)
    for part in (b"\x00" * 100, b"\x01" * 156):
        assert rig.lib.encrypt_update(user, part, length_only=True) == 0  # a C caller's "how long?" first
        assert rig.lib.encrypt_update(user, part) == b""
    ciphertext = rig.lib.encrypt_final(user)
    rig.lib.decrypt_init(user, CKM.RSA_X_509, rig.private_key(user, b"\x01"))
    assert rig.lib.decrypt(user, ciphertext) == b"\x00" * 100 + b"\x01" * 156


def test_a_failed_update_ends_the_operation(rig: EngineRig, user: int) -> None:
    rig.lib.digest_init(user, CKM.SHA256)
    with pytest.raises(errors.KeyHandleInvalid):
        rig.lib.digest_key(user, 987654)
    with pytest.raises(errors.OperationNotInitialized):
        rig.lib.digest_final(user)


# ------------------------------------------------------------------ CKA_ALWAYS_AUTHENTICATE (9C)

def test_a_wrong_context_pin_does_not_jam_the_session(rig: EngineRig, user: int) -> None:
    """C_SignInit(9C), C_Login(CONTEXT_SPECIFIC) fails, the application gives up on
    that key (ssh does): signing with another key in the same session must work."""
    rig.lib.sign_init(user, CKM.ECDSA_SHA256, rig.private_key(user, b"\x02"))
    with pytest.raises(errors.PinIncorrect):
        rig.lib.login(user, CKU.CONTEXT_SPECIFIC, "000000")
    signature = sign(rig, user, CKM.SHA256_RSA_PKCS, rig.private_key(user, b"\x01"))
    rig.keys[0x9A].public_key().verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())


def test_an_abandoned_context_login_does_not_jam_the_session(rig: EngineRig, user: int) -> None:
    """ssh-agent cannot ask for a PIN: C_SignInit(9C), then nothing, then the next key."""
    rig.lib.sign_init(user, CKM.ECDSA_SHA256, rig.private_key(user, b"\x02"))
    rig.lib.sign_init(user, CKM.ECDSA_SHA256, rig.private_key(user, b"\x06"))
    signature = rig.lib.sign(user, MESSAGE)
    rig.lib.verify_init(user, CKM.ECDSA_SHA256, rig.public_key(user, b"\x06"))
    rig.lib.verify(user, MESSAGE, signature)


def test_a_context_login_may_be_retried_after_a_wrong_pin(rig: EngineRig, user: int) -> None:
    """The spec: a failed re-authentication leaves things "as if C_Login had not been
    called" (GnuTLS asks again)."""
    rig.lib.sign_init(user, CKM.ECDSA_SHA256, rig.private_key(user, b"\x02"))
    with pytest.raises(errors.PinIncorrect):
        rig.lib.login(user, CKU.CONTEXT_SPECIFIC, "000000")
    rig.lib.login(user, CKU.CONTEXT_SPECIFIC, PIN)
    signature = rig.lib.sign(user, MESSAGE)
    rig.lib.verify_init(user, CKM.ECDSA_SHA256, rig.public_key(user, b"\x02"))
    rig.lib.verify(user, MESSAGE, signature)


def test_lengths_come_before_the_context_login(rig: EngineRig, user: int) -> None:
    """pkcs11-tool --test: C_SignInit, C_Sign with a 1-byte buffer, C_Sign with NULL,
    then C_Login(CONTEXT_SPECIFIC), then C_Sign."""
    rig.lib.sign_init(user, CKM.ECDSA_SHA256, rig.private_key(user, b"\x02"))
    with pytest.raises(errors.BufferTooSmall):
        rig.lib.sign(user, MESSAGE, max_length=1)
    assert rig.lib.sign(user, MESSAGE, length_only=True) == 64
    rig.lib.login(user, CKU.CONTEXT_SPECIFIC, PIN)
    assert len(rig.lib.sign(user, MESSAGE, max_length=64)) == 64


@pytest.mark.parametrize("use", ["sign", "sign_update", "sign_final"])
def test_using_the_key_without_the_context_login_ends_the_operation(rig: EngineRig, user: int, use: str) -> None:
    rig.lib.sign_init(user, CKM.ECDSA_SHA256, rig.private_key(user, b"\x02"))
    call = {"sign": lambda: rig.lib.sign(user, MESSAGE), "sign_update": lambda: rig.lib.sign_update(user, b"x"),
            "sign_final": lambda: rig.lib.sign_final(user)}[use]
    with pytest.raises(errors.UserNotLoggedIn):
        call()
    with pytest.raises(errors.OperationNotInitialized):
        rig.lib.sign_final(user)


def test_a_context_login_answered_pin_locked_logs_the_user_out(rig: EngineRig, user: int) -> None:
    rig.lib.sign_init(user, CKM.ECDSA_SHA256, rig.private_key(user, b"\x02"))
    for _ in range(3):
        with pytest.raises(errors.PinIncorrect):
            rig.lib.login(user, CKU.CONTEXT_SPECIFIC, "000000")
    with pytest.raises(errors.PinLocked):
        rig.lib.login(user, CKU.CONTEXT_SPECIFIC, "000000")
    assert rig.lib.get_session_info(user).state == CKS.RO_PUBLIC_SESSION
    with pytest.raises(errors.UserNotLoggedIn):
        rig.lib.sign(user, MESSAGE)
