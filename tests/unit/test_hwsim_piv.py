"""The virtual YubiKey's PIV applet, driven in-process with raw APDUs and
checked with `cryptography` against the behaviour of a real YubiKey."""

import hashlib
import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hwsim_helpers import (
    DEFAULT_MGMT,
    apdu,
    authenticate,
    fresh_card,
    pin_bytes,
    select_piv,
    send,
    verify,
)

from hwsim.iso7816 import parse_tlv_dict, tlv, unwrap
from hwsim.yubikey import VirtualYubiKey

CERT_9A = bytes.fromhex("5FC105")


def generate(card, slot, algorithm, pin_policy=0, touch_policy=0):
    template = tlv(0x80, bytes([algorithm]))
    if pin_policy:
        template += tlv(0xAA, bytes([pin_policy]))
    if touch_policy:
        template += tlv(0xAB, bytes([touch_policy]))
    data, sw = send(card, 0x47, 0, slot, tlv(0xAC, template))
    assert sw == 0x9000, hex(sw)
    return parse_tlv_dict(unwrap(0x7F49, data))


def general_authenticate(card, algorithm, slot, value, tag=0x81):
    data, sw = send(card, 0x87, algorithm, slot, tlv(0x7C, tlv(0x82) + tlv(tag, value)))
    if sw != 0x9000:
        return None, sw
    return parse_tlv_dict(unwrap(0x7C, data))[0x82], sw


def ec_public(point, curve):
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)


# ------------------------------------------------------------------ PIN/PUK
def test_verify_status_wrong_pin_blocking_and_reset_of_status():
    card = fresh_card()
    assert send(card, 0x20, 0, 0x80)[1] == 0x63C3
    assert verify(card, "654321") == 0x63C2
    assert verify(card) == 0x9000
    assert send(card, 0x20, 0, 0x80)[1] == 0x9000
    assert send(card, 0x20, 0xFF, 0x80)[1] == 0x9000
    assert send(card, 0x20, 0, 0x80)[1] == 0x63C3  # counter was restored by the right PIN
    for expected in (0x63C2, 0x63C1, 0x63C0, 0x6983):
        assert verify(card, "000000") == expected
    assert verify(card) == 0x6983
    assert send(card, 0x20, 0, 0x80)[1] == 0x6983


def test_pin_status_is_lost_on_reselect_and_power_cycle():
    card = fresh_card()
    assert verify(card) == 0x9000
    select_piv(card)
    assert send(card, 0x20, 0, 0x80)[1] == 0x63C3
    assert verify(card) == 0x9000
    card.power_off()
    card.power_on()
    select_piv(card)
    assert send(card, 0x20, 0, 0x80)[1] == 0x63C3


def test_change_pin_puk_and_unblock():
    card = fresh_card()
    assert send(card, 0x24, 0, 0x80, pin_bytes("123456") + pin_bytes("12"))[1] == 0x6A80
    assert send(card, 0x24, 0, 0x80, pin_bytes("123456") + pin_bytes("abcdef"))[1] == 0x9000
    assert verify(card, "abcdef") == 0x9000
    assert send(card, 0x24, 0, 0x81, pin_bytes("12345678") + pin_bytes("87654321"))[1] == 0x9000
    for _ in range(3):
        verify(card, "000000")
    assert verify(card, "abcdef") == 0x6983
    assert send(card, 0x2C, 0, 0x80, pin_bytes("00000000") + pin_bytes("111111"))[1] == 0x63C2
    assert send(card, 0x2C, 0, 0x80, pin_bytes("87654321") + pin_bytes("111111"))[1] == 0x9000
    assert verify(card, "111111") == 0x9000


def test_reset_needs_pin_and_puk_blocked_and_restores_defaults():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    generate(card, 0x9A, 0x11)
    assert send(card, 0xFB)[1] == 0x6985
    for _ in range(3):
        verify(card, "000000")
    assert send(card, 0xFB)[1] == 0x6985
    for _ in range(3):  # ykman's way: wrong PUK with empty new PIN, never 6A80 first
        assert send(card, 0x2C, 0, 0x80, b"\xff" * 16)[1] in (0x63C2, 0x63C1, 0x63C0)
    assert send(card, 0xFB)[1] == 0x9000
    assert verify(card) == 0x9000
    assert send(card, 0xF7, 0, 0x9A)[1] == 0x6A88
    assert authenticate(card) == 0x9000


def test_set_pin_retries_needs_pin_and_management_key_and_resets_pins():
    card = fresh_card()
    assert send(card, 0x24, 0, 0x80, pin_bytes("123456") + pin_bytes("999999"))[1] == 0x9000
    assert authenticate(card) == 0x9000
    assert send(card, 0xFA, 5, 6)[1] == 0x6982
    assert verify(card, "999999") == 0x9000
    assert send(card, 0xFA, 5, 6)[1] == 0x9000
    data, _ = send(card, 0xF7, 0, 0x80)
    meta = parse_tlv_dict(data)
    assert meta[0x06] == bytes([5, 5]) and meta[0x05] == b"\x01"
    assert parse_tlv_dict(send(card, 0xF7, 0, 0x81)[0])[0x06] == bytes([6, 6])


# ---------------------------------------------------------- management key
def test_default_management_key_type_follows_firmware():
    assert parse_tlv_dict(send(fresh_card(), 0xF7, 0, 0x9B)[0])[0x01] == b"\x0a"
    assert parse_tlv_dict(send(fresh_card((5, 4, 3)), 0xF7, 0, 0x9B)[0])[0x01] == b"\x03"


def test_management_key_wrong_key_and_wrong_algorithm():
    card = fresh_card()
    assert authenticate(card, key=bytes(24)) == 0x6982
    assert authenticate(card, key_type=0x03) == 0x6A86
    assert send(card, 0x47, 0, 0x9A, tlv(0xAC, tlv(0x80, b"\x11")))[1] == 0x6982


def test_external_authentication_with_plain_challenge():
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    card = fresh_card()
    data, sw = send(card, 0x87, 0x0A, 0x9B, tlv(0x7C, tlv(0x81)))
    challenge = parse_tlv_dict(unwrap(0x7C, data))[0x81]
    enc = Cipher(algorithms.AES(DEFAULT_MGMT), modes.ECB()).encryptor()
    response = enc.update(challenge) + enc.finalize()
    assert send(card, 0x87, 0x0A, 0x9B, tlv(0x7C, tlv(0x82, response)))[1] == 0x9000
    assert card.piv.mgmt_authenticated


def test_challenge_with_algorithm_zero_gives_random_bytes_as_opensc_asks():
    card = fresh_card()
    first = parse_tlv_dict(unwrap(0x7C, send(card, 0x87, 0x00, 0x9B, tlv(0x7C, tlv(0x81)))[0]))[0x81]
    second = parse_tlv_dict(unwrap(0x7C, send(card, 0x87, 0x00, 0x9B, tlv(0x7C, tlv(0x81)))[0]))[0x81]
    assert len(first) == 16 and first != second


def test_set_management_key_aes_and_touch():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    new = os.urandom(32)
    assert send(card, 0xFF, 0xFF, 0xFE, b"\x0c" + tlv(0x9B, new))[1] == 0x9000
    meta = parse_tlv_dict(send(card, 0xF7, 0, 0x9B)[0])
    assert meta == {0x01: b"\x0c", 0x02: b"\x00\x02", 0x05: b"\x00"}
    select_piv(card)
    card.touch_mode = "timeout"
    assert authenticate(card, key=new, key_type=0x0C) == 0x6982
    card.touch_mode = "confirm"
    assert authenticate(card, key=new, key_type=0x0C) == 0x9000


def test_aes_management_key_not_on_old_firmware():
    card = fresh_card((4, 3, 7))
    assert authenticate(card) == 0x9000
    assert send(card, 0xFF, 0xFF, 0xFF, b"\x08" + tlv(0x9B, bytes(16)))[1] == 0x6A80
    assert send(card, 0xF7, 0, 0x9B)[1] == 0x6D00  # no metadata before 5.3
    assert send(card, 0xF8)[1] == 0x6D00  # no GET SERIAL before 5.0


# ------------------------------------------------------- keys and signatures
def test_rsa2048_generate_sign_and_decrypt():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    pub = generate(card, 0x9A, 0x07)
    public = rsa.RSAPublicNumbers(int.from_bytes(pub[0x82], "big"), int.from_bytes(pub[0x81], "big")).public_key()
    assert public.key_size == 2048
    digest = hashlib.sha256(b"hello").digest()
    # PKCS#1 v1.5 padding done by the host, raw RSA by the card.
    info = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    block = b"\x00\x01" + b"\xff" * (256 - 3 - len(info)) + b"\x00" + info
    assert general_authenticate(card, 0x07, 0x9A, block)[1] == 0x6982  # PIN policy once
    assert verify(card) == 0x9000
    signature, sw = general_authenticate(card, 0x07, 0x9A, block)
    public.verify(signature, b"hello", padding.PKCS1v15(), hashes.SHA256())
    ciphertext = public.encrypt(b"secret", padding.PKCS1v15())
    plain, _ = general_authenticate(card, 0x07, 0x9A, ciphertext)
    assert plain.endswith(b"\x00secret")
    assert general_authenticate(card, 0x07, 0x9A, block[:-1])[1] == 0x6A80
    assert general_authenticate(card, 0x11, 0x9A, digest)[1] == 0x6A80  # wrong algorithm: ykman's "no match"


@pytest.mark.parametrize("algorithm, curve, hash_name", [(0x11, ec.SECP256R1(), "sha256"), (0x14, ec.SECP384R1(), "sha384")])
def test_ecdsa_and_ecdh(algorithm, curve, hash_name):
    card = fresh_card()
    assert authenticate(card) == 0x9000
    public = ec_public(generate(card, 0x9D, algorithm)[0x86], curve)
    assert verify(card) == 0x9000
    digest = hashlib.new(hash_name, b"msg").digest()
    signature, _ = general_authenticate(card, algorithm, 0x9D, digest)
    public.verify(signature, digest, ec.ECDSA(Prehashed(getattr(hashes, hash_name.upper())())))
    peer = ec.generate_private_key(curve)
    point = peer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    secret, _ = general_authenticate(card, algorithm, 0x9D, point, tag=0x85)
    assert secret == peer.exchange(ec.ECDH(), public)


def test_ecdsa_truncates_long_hash_like_the_yubikey():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    public = ec_public(generate(card, 0x9E, 0x11)[0x86], ec.SECP256R1())
    digest = hashlib.sha512(b"x").digest()
    signature, sw = general_authenticate(card, 0x11, 0x9E, digest)  # 9E: PIN policy never
    assert sw == 0x9000
    public.verify(signature, digest[:32], ec.ECDSA(Prehashed(hashes.SHA256())))


def test_ed25519_and_x25519_on_5_7_only():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    public = ed25519.Ed25519PublicKey.from_public_bytes(generate(card, 0x9A, 0xE0)[0x86])
    assert verify(card) == 0x9000
    signature, _ = general_authenticate(card, 0xE0, 0x9A, b"a whole message")
    public.verify(signature, b"a whole message")
    xpub = x25519.X25519PublicKey.from_public_bytes(generate(card, 0x9D, 0xE1)[0x86])
    peer = x25519.X25519PrivateKey.generate()
    peer_raw = peer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    secret, _ = general_authenticate(card, 0xE1, 0x9D, peer_raw, tag=0x85)
    assert secret == peer.exchange(xpub)
    old = fresh_card((5, 4, 3))
    assert authenticate(old) == 0x9000
    assert send(old, 0x47, 0, 0x9A, tlv(0xAC, tlv(0x80, b"\xe0")))[1] == 0x6A80
    assert send(old, 0x47, 0, 0x9A, tlv(0xAC, tlv(0x80, b"\x16")))[1] == 0x6A80


def test_pin_policy_always_needs_verify_before_each_use():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    generate(card, 0x9C, 0x11)  # 9C defaults to PIN policy always
    digest = hashlib.sha256(b"m").digest()
    assert verify(card) == 0x9000
    assert general_authenticate(card, 0x11, 0x9C, digest)[1] == 0x9000
    assert general_authenticate(card, 0x11, 0x9C, digest)[1] == 0x6982
    assert verify(card) == 0x9000
    assert general_authenticate(card, 0x11, 0x9C, digest)[1] == 0x9000


def test_touch_policy_always_and_timeout():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    generate(card, 0x9E, 0x11, touch_policy=2)
    digest = hashlib.sha256(b"m").digest()
    assert general_authenticate(card, 0x11, 0x9E, digest)[1] == 0x9000
    assert card.touch_count == 1
    card.touch_mode = "timeout"
    assert general_authenticate(card, 0x11, 0x9E, digest)[1] == 0x6982


def test_touch_policy_cached_touches_once():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    generate(card, 0x9E, 0x11, touch_policy=3)
    digest = hashlib.sha256(b"m").digest()
    for _ in range(3):
        assert general_authenticate(card, 0x11, 0x9E, digest)[1] == 0x9000
    assert card.touch_count == 1


def test_metadata_for_generated_and_imported_keys():
    card = fresh_card()
    assert send(card, 0xF7, 0, 0x9A)[1] == 0x6A88
    assert authenticate(card) == 0x9000
    pub = generate(card, 0x9A, 0x11, pin_policy=1, touch_policy=3)
    meta = parse_tlv_dict(send(card, 0xF7, 0, 0x9A)[0])
    assert meta[0x01] == b"\x11" and meta[0x02] == b"\x01\x03" and meta[0x03] == b"\x01"
    assert parse_tlv_dict(meta[0x04])[0x86] == pub[0x86]
    key = ec.generate_private_key(ec.SECP384R1())
    scalar = key.private_numbers().private_value.to_bytes(48, "big")
    assert send(card, 0xFE, 0x14, 0x9C, tlv(0x06, scalar))[1] == 0x9000
    meta = parse_tlv_dict(send(card, 0xF7, 0, 0x9C)[0])
    assert meta[0x01] == b"\x14" and meta[0x02] == b"\x03\x01" and meta[0x03] == b"\x02"
    pin_meta = parse_tlv_dict(send(card, 0xF7, 0, 0x80)[0])
    assert pin_meta == {0x01: b"\xff", 0x05: b"\x01", 0x06: b"\x03\x03"}


def test_import_rsa_key_and_use_it():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    key = rsa.generate_private_key(65537, 1024)
    n = key.private_numbers()
    parts = (n.p, n.q, n.dmp1, n.dmq1, n.iqmp)
    body = b"".join(tlv(i + 1, v.to_bytes(64, "big")) for i, v in enumerate(parts)) + tlv(0xAA, b"\x01")
    assert send(card, 0xFE, 0x06, 0x9D, body)[1] == 0x9000
    message = (12345).to_bytes(128, "big")
    result, sw = general_authenticate(card, 0x06, 0x9D, message)
    assert sw == 0x9000
    assert int.from_bytes(result, "big") == pow(12345, n.d, n.public_numbers.n)


def test_attestation_chains_to_the_simulator_root_with_yubico_extensions():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    generate(card, 0x9A, 0x11, pin_policy=2, touch_policy=1)
    der, sw = send(card, 0xF9, 0x9A, 0x00)
    assert sw == 0x9000
    cert = x509.load_der_x509_certificate(der)
    f9_data, sw = send(card, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FFF01")))
    f9 = x509.load_der_x509_certificate(parse_tlv_dict(unwrap(0x53, f9_data))[0x70])
    cert.verify_directly_issued_by(f9)
    f9.verify_directly_issued_by(card.piv.attestation_root)
    ext = {e.oid.dotted_string: e.value.value for e in cert.extensions}
    assert ext["1.3.6.1.4.1.41482.3.3"] == bytes([5, 7, 2])
    assert ext["1.3.6.1.4.1.41482.3.7"] == bytes.fromhex("020400bc614e")
    assert ext["1.3.6.1.4.1.41482.3.8"] == bytes([2, 1])
    assert "YubiKey PIV Attestation 9a" in cert.subject.rfc4514_string()
    # Imported keys and empty slots cannot be attested.
    assert send(card, 0xF9, 0x9C, 0x00)[1] == 0x6A82
    key = ec.generate_private_key(ec.SECP256R1())
    assert send(card, 0xFE, 0x11, 0x9C, tlv(0x06, key.private_numbers().private_value.to_bytes(32, "big")))[1] == 0x9000
    assert send(card, 0xF9, 0x9C, 0x00)[1] == 0x6A80


def test_move_and_delete_key_on_5_7():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    pub = generate(card, 0x9A, 0x11)
    assert send(card, 0xF6, 0x85, 0x9A)[1] == 0x9000
    assert send(card, 0xF7, 0, 0x9A)[1] == 0x6A88
    assert parse_tlv_dict(parse_tlv_dict(send(card, 0xF7, 0, 0x85)[0])[0x04])[0x86] == pub[0x86]
    assert send(card, 0xF6, 0xFF, 0x85)[1] == 0x9000
    assert send(card, 0xF7, 0, 0x85)[1] == 0x6A88
    old = fresh_card((5, 4, 3))
    assert send(old, 0xF6, 0xFF, 0x9A)[1] == 0x6D00


# ------------------------------------------------------------- data objects
def test_data_objects_access_rules():
    card = fresh_card()
    discovery, sw = send(card, 0xCB, 0x3F, 0xFF, tlv(0x5C, b"\x7e"))
    assert sw == 0x9000 and discovery.startswith(b"\x7e\x12\x4f\x0b")
    assert send(card, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC102")))[1] == 0x6A82
    put = tlv(0x5C, bytes.fromhex("5FC109")) + tlv(0x53, b"\x88\x00")
    assert send(card, 0xDB, 0x3F, 0xFF, put)[1] == 0x6982
    assert authenticate(card) == 0x9000
    assert send(card, 0xDB, 0x3F, 0xFF, put)[1] == 0x9000
    assert send(card, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC109")))[1] == 0x6982
    assert verify(card) == 0x9000
    assert send(card, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC109"))) == (tlv(0x53, b"\x88\x00"), 0x9000)
    # An empty 53 deletes the object.
    assert send(card, 0xDB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC109")) + tlv(0x53))[1] == 0x9000
    assert send(card, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC109")))[1] == 0x6A82
    too_big = tlv(0x5C, bytes.fromhex("5FC10A")) + tlv(0x53, bytes(4000))
    assert send(card, 0xDB, 0x3F, 0xFF, too_big)[1] == 0x6A84


def test_any_5fxxxx_object_is_stored_as_on_a_yubikey():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    for object_id in ("5F0001", "5FFF15", "5FC1FF"):
        put = tlv(0x5C, bytes.fromhex(object_id)) + tlv(0x53, b"\x00\x1b[31m" + object_id.encode())
        assert send(card, 0xDB, 0x3F, 0xFF, put)[1] == 0x9000
        data, sw = send(card, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex(object_id)))
        assert (data, sw) == (tlv(0x53, b"\x00\x1b[31m" + object_id.encode()), 0x9000)
    assert send(card, 0xDB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("3FFF01")) + tlv(0x53, b"x"))[1] == 0x6A82


def test_version_and_serial():
    card = fresh_card()
    assert send(card, 0xFD) == (bytes([5, 7, 2]), 0x9000)
    assert send(card, 0xF8) == ((12345678).to_bytes(4, "big"), 0x9000)


# ------------------------------------------------- persistence and redaction
def test_state_round_trip_through_json_keeps_keys_pins_and_objects():
    card = fresh_card()
    start = card.state_version
    assert authenticate(card) == 0x9000
    pub = generate(card, 0x9A, 0x11)
    assert card.state_version > start
    assert send(card, 0x24, 0, 0x80, pin_bytes("123456") + pin_bytes("246810"))[1] == 0x9000
    assert send(card, 0xDB, 0x3F, 0xFF, tlv(0x5C, CERT_9A) + tlv(0x53, b"\x70\x01\x00"))[1] == 0x9000
    verify(card, "000000")
    state = json.loads(json.dumps(card.to_state()))
    assert b"246810".hex() in json.dumps(state)  # state is the card's memory, not a trace
    restored = VirtualYubiKey(state=state)
    assert restored.firmware == (5, 7, 2) and restored.serial == 12345678
    select_piv(restored)
    assert send(restored, 0x20, 0, 0x80)[1] == 0x63C2
    assert verify(restored, "246810") == 0x9000
    meta = parse_tlv_dict(send(restored, 0xF7, 0, 0x9A)[0])
    assert parse_tlv_dict(meta[0x04])[0x86] == pub[0x86]
    assert send(restored, 0xCB, 0x3F, 0xFF, tlv(0x5C, CERT_9A))[0] == tlv(0x53, b"\x70\x01\x00")


def test_volatile_operations_do_not_bump_state_version():
    card = fresh_card()
    version = card.state_version
    verify(card)
    send(card, 0xFD)
    send(card, 0xCB, 0x3F, 0xFF, tlv(0x5C, b"\x7e"))
    assert card.state_version == version


@pytest.mark.parametrize(
    "command",
    [
        apdu(0, 0x20, 0, 0x80, pin_bytes("123456")),
        apdu(0, 0x24, 0, 0x80, pin_bytes("123456") + pin_bytes("654321")),
        apdu(0, 0x2C, 0, 0x80, pin_bytes("12345678") + pin_bytes("654321")),
        apdu(0, 0xFF, 0xFF, 0xFF, b"\x03" + tlv(0x9B, DEFAULT_MGMT)),
        apdu(0, 0xFE, 0x11, 0x9A, tlv(0x06, bytes(range(32)))),
        apdu(0, 0x87, 0x03, 0x9B, tlv(0x7C, tlv(0x80, bytes(range(8))) + tlv(0x81, bytes(8)))),
        apdu(0, 0xDB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC109")) + tlv(0x53, bytes(range(30)))),
    ],
)
def test_redact_command_blanks_secret_data_only(command):
    card = fresh_card()
    redacted = card.redact_command(command)
    assert len(redacted) == len(command)
    assert redacted[:5] == command[:5]
    assert set(redacted[5:]) == {0x2A}


def test_redaction_leaves_public_commands_and_blanks_witness_responses():
    card = fresh_card()
    get_version = apdu(0, 0xFD, 0, 0)
    assert card.redact_command(get_version) == get_version
    ask = apdu(0, 0x87, 0x0A, 0x9B, tlv(0x7C, tlv(0x80)))
    answer = card.execute(ask)
    redacted = card.redact_response(ask, answer)
    assert redacted[-2:] == b"\x90\x00" and set(redacted[:-2]) == {0x2A}
    version_answer = card.execute(get_version)
    assert card.redact_response(get_version, version_answer) == version_answer


def test_pin_is_redacted_even_before_any_select():
    card = VirtualYubiKey()
    command = apdu(0, 0x20, 0, 0x80, pin_bytes("123456"))
    assert card.redact_command(command)[5:] == b"*" * 8


def test_rsa3072_generation_and_ed25519_import_on_5_7():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    pub = generate(card, 0x82, 0x05)
    assert len(pub[0x81]) == 384
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    assert send(card, 0xFE, 0xE0, 0x83, tlv(0x07, seed))[1] == 0x9000
    signature, sw = general_authenticate(card, 0xE0, 0x83, b"m")
    assert sw == 0x6982  # retired slots default to PIN policy once
    assert verify(card) == 0x9000
    signature, sw = general_authenticate(card, 0xE0, 0x83, b"m")
    key.public_key().verify(signature, b"m")


def test_attestation_root_is_made_once_and_survives_restore():
    card = fresh_card()
    assert authenticate(card) == 0x9000
    generate(card, 0x9A, 0x11)
    first, _ = send(card, 0xF9, 0x9A, 0x00)
    root = card.piv.attestation_root
    restored = VirtualYubiKey(state=json.loads(json.dumps(card.to_state())))
    select_piv(restored)
    assert restored.piv.attestation_root == root
    again, sw = send(restored, 0xF9, 0x9A, 0x00)
    assert sw == 0x9000
    f9_data, _ = send(restored, 0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FFF01")))
    f9 = x509.load_der_x509_certificate(parse_tlv_dict(unwrap(0x53, f9_data))[0x70])
    x509.load_der_x509_certificate(again).verify_directly_issued_by(f9)
    x509.load_der_x509_certificate(first).verify_directly_issued_by(f9)


def test_touch_delay_is_waited_before_confirming():
    import time

    card = fresh_card()
    assert authenticate(card) == 0x9000
    generate(card, 0x9E, 0x11, touch_policy=2)
    card.touch_delay = 0.2
    started = time.monotonic()
    assert general_authenticate(card, 0x11, 0x9E, bytes(32))[1] == 0x9000
    assert time.monotonic() - started >= 0.2


def test_chained_put_data_of_a_secret_object_is_redacted_in_every_part():
    card = fresh_card()
    body = tlv(0x5C, bytes.fromhex("5FC109")) + tlv(0x53, bytes(range(250)) * 2)
    first = apdu(0x10, 0xDB, 0x3F, 0xFF, body[:255])
    second = apdu(0x00, 0xDB, 0x3F, 0xFF, body[255:])
    assert set(card.redact_command(first)[5:]) == {0x2A}
    assert set(card.redact_command(second)[5:]) == {0x2A}
    public = apdu(0x00, 0xDB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC102")) + tlv(0x53, b"x"))
    assert card.redact_command(public) == public
