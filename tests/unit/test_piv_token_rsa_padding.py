"""Host-side RSA encodings, cross-checked against `cryptography` with a raw RSA
private-key operation standing in for the card."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from cardki import errors
from cardki.constants import CKG, CKM
from cardki.token import rsa_padding

KEY = rsa.generate_private_key(65537, 1024)
K = 128
N = KEY.private_numbers().public_numbers.n
D = KEY.private_numbers().d

HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
          "sha512": hashes.SHA512}


def card_raw(block: bytes) -> bytes:
    """What the card's GENERAL AUTHENTICATE does with an RSA key."""
    assert len(block) == K
    return pow(int.from_bytes(block, "big"), D, N).to_bytes(K, "big")


@settings(max_examples=40, deadline=None)
@given(message=st.binary(max_size=200), name=st.sampled_from(sorted(HASHES)))
def test_pkcs1_v15_signature_verifies_with_cryptography(message: bytes, name: str) -> None:
    info = rsa_padding.digest_info(name, hashlib.new(name, message).digest())
    signature = card_raw(rsa_padding.pkcs1_v15_sign_pad(info, K))
    KEY.public_key().verify(signature, message, padding.PKCS1v15(), HASHES[name]())


def test_pkcs1_v15_sign_pad_rejects_data_that_does_not_fit() -> None:
    rsa_padding.pkcs1_v15_sign_pad(b"x" * (K - 11), K)
    with pytest.raises(errors.DataLenRange):  # type: ignore[attr-defined]
        rsa_padding.pkcs1_v15_sign_pad(b"x" * (K - 10), K)


@settings(max_examples=40, deadline=None)
@given(message=st.binary(max_size=200), name=st.sampled_from(["sha1", "sha256", "sha384"]),
       mgf=st.sampled_from(["sha1", "sha256"]), salt_len=st.integers(0, 20))
def test_pss_signature_verifies_with_cryptography(message: bytes, name: str, mgf: str, salt_len: int) -> None:
    m_hash = hashlib.new(name, message).digest()
    signature = card_raw(rsa_padding.pss_encode(m_hash, 1024, name, mgf, salt_len))
    KEY.public_key().verify(signature, message, padding.PSS(padding.MGF1(HASHES[mgf]()), salt_len),
                            HASHES[name]())


def test_pss_rejects_a_salt_that_does_not_fit() -> None:
    with pytest.raises(errors.MechanismParamInvalid):  # type: ignore[attr-defined]
        rsa_padding.pss_encode(b"\0" * 64, 1024, "sha512", "sha512", 64)


@settings(max_examples=40, deadline=None)
@given(message=st.binary(max_size=K - 11))
def test_pkcs1_v15_decryption_recovers_what_cryptography_encrypted(message: bytes) -> None:
    ciphertext = KEY.public_key().encrypt(message, padding.PKCS1v15())
    assert rsa_padding.pkcs1_v15_decrypt_unpad(card_raw(ciphertext), K) == message


@settings(max_examples=40, deadline=None)
@given(message=st.binary(max_size=K - 2 * 32 - 2), label=st.binary(max_size=16),
       name=st.sampled_from(["sha1", "sha256"]))
def test_oaep_decryption_recovers_what_cryptography_encrypted(message: bytes, label: bytes, name: str) -> None:
    ciphertext = KEY.public_key().encrypt(
        message, padding.OAEP(padding.MGF1(HASHES[name]()), HASHES[name](), label or None))
    assert rsa_padding.oaep_decode(card_raw(ciphertext), K, name, name, label) == message


def test_oaep_with_the_wrong_label_is_invalid() -> None:
    ciphertext = KEY.public_key().encrypt(b"secret", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(),
                                                                 b"right"))
    with pytest.raises(errors.EncryptedDataInvalid):  # type: ignore[attr-defined]
        rsa_padding.oaep_decode(card_raw(ciphertext), K, "sha256", "sha256", b"wrong")


@settings(max_examples=60, deadline=None)
@given(block=st.binary(min_size=K, max_size=K))
def test_decoders_never_raise_anything_but_encrypted_data_invalid(block: bytes) -> None:
    for decode in (lambda: rsa_padding.pkcs1_v15_decrypt_unpad(block, K),
                   lambda: rsa_padding.oaep_decode(block, K, "sha256", "sha256")):
        try:
            decode()
        except errors.EncryptedDataInvalid:  # type: ignore[attr-defined]
            pass


@pytest.mark.parametrize("block", [
    b"\x00\x01" + b"\xff" * 8 + b"\x00" + b"m" * (K - 11),  # block type 1 is for signatures
    b"\x00\x02" + b"\x01" * 7 + b"\x00" + b"m" * (K - 10),  # only 7 padding bytes
    b"\x00\x02" + b"\x01" * (K - 2),  # no separator
    b"\x01\x02" + b"\x01" * 8 + b"\x00" + b"m" * (K - 11),  # first byte not zero
])
def test_malformed_pkcs1_v15_blocks_are_rejected(block: bytes) -> None:
    with pytest.raises(errors.EncryptedDataInvalid):  # type: ignore[attr-defined]
        rsa_padding.pkcs1_v15_decrypt_unpad(block, K)


def test_hash_and_mgf_names_reject_unknown_values() -> None:
    assert rsa_padding.hash_name(CKM.SHA384) == "sha384"
    assert rsa_padding.mgf_hash_name(CKG.MGF1_SHA224) == "sha224"
    with pytest.raises(errors.MechanismParamInvalid):  # type: ignore[attr-defined]
        rsa_padding.hash_name(CKM.MD5)
    with pytest.raises(errors.MechanismParamInvalid):  # type: ignore[attr-defined]
        rsa_padding.mgf_hash_name(0x99)
