"""The OpenPGP applet in-process, on the virtual YubiKey and on the plain
OpenPGP 3.4 card, driven with raw APDUs and checked with `cryptography`."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hwsim_helpers import apdu, send, transmit

from hwsim.iso7816 import parse_tlv_dict, tlv, unwrap
from hwsim.openpgp_card import VirtualOpenPgpCard
from hwsim.yubikey import VirtualYubiKey

AID = bytes.fromhex("D27600012401")
SHA256_INFO = bytes.fromhex("3031300D060960864801650304020105000420")
CRT = {"sig": tlv(0xB6), "dec": tlv(0xB8), "aut": tlv(0xA4)}
ATTR = {"sig": 0xC1, "dec": 0xC2, "aut": 0xC3}


def selected(card):
    card.power_on()
    assert transmit(card, apdu(0, 0xA4, 4, 0, AID)) == (b"", 0x9000)
    return card


@pytest.fixture(params=["yubikey", "plain"])
def card(request):
    return selected(VirtualYubiKey() if request.param == "yubikey" else VirtualOpenPgpCard())


def verify(card, ref, pin):
    return send(card, 0x20, 0, ref, pin.encode())[1]


def admin(card):
    assert verify(card, 0x83, "12345678") == 0x9000


def get(card, tag):
    return send(card, 0xCA, tag >> 8, tag & 0xFF)


def discretionary(card):
    data, sw = get(card, 0x6E)
    assert sw == 0x9000
    outer = parse_tlv_dict(unwrap(0x6E, data))
    return outer, parse_tlv_dict(outer[0x73])


def set_attributes(card, key, value):
    return send(card, 0xDA, 0, ATTR[key], value)[1]


def generate(card, key):
    data, sw = send(card, 0x47, 0x80, 0, CRT[key])
    assert sw == 0x9000, hex(sw)
    return parse_tlv_dict(unwrap(0x7F49, data))


# ------------------------------------------------------------ identification
def test_aid_carries_version_manufacturer_and_bcd_serial():
    yk = selected(VirtualYubiKey(serial=16019180))
    assert get(yk, 0x4F) == (bytes.fromhex("D276000124010304000616019180 0000".replace(" ", "")), 0x9000)
    plain = selected(VirtualOpenPgpCard(serial=42))
    assert get(plain, 0x4F)[0][8:14] == bytes.fromhex("FFFF00000042")


def test_application_related_data_as_a_yubikey_5_lays_it_out():
    outer, inner = discretionary(selected(VirtualYubiKey()))
    assert outer[0x5F52] == bytes.fromhex("00730000E0059000")
    assert outer[0x7F74] == bytes.fromhex("810120") and 0x7F66 not in outer
    assert inner[0xC0] == bytes.fromhex("7D000BFE080000FF0000")
    assert inner[0xC1] == inner[0xC2] == inner[0xC3] == inner[0xDA] == bytes.fromhex("010800001100")
    assert inner[0xC4] == bytes.fromhex("FF7F7F7F030003")
    assert len(inner[0xC5]) == len(inner[0xC6]) == 80 and len(inner[0xCD]) == 16
    assert inner[0xDE] == bytes.fromhex("0100020003008102")  # attestation key 81: imported
    assert inner[0xD6] == bytes.fromhex("0020") and 0x7F66 in inner


def test_plain_card_follows_the_spec_layout_and_has_no_yubikey_parts():
    card = selected(VirtualOpenPgpCard())
    outer, inner = discretionary(card)
    assert 0x7F66 in outer and 0x7F74 not in outer and 0xDA not in inner and 0xD6 not in inner
    assert len(inner[0xC5]) == 60 and inner[0xC4][0] == 0x01
    assert send(card, 0xF1, 0, 0)[1] == 0x6D00  # no Yubico GET VERSION
    assert transmit(card, apdu(0x80, 0xFB, 1, 0))[1] == 0x6E00  # no ATTEST
    assert transmit(card, apdu(0, 0xA4, 0, 0x0C, b"\x3f\x00"))[1] == 0x6A82


def test_cardholder_security_template_and_version(card):
    data, sw = get(card, 0x65)
    assert sw == 0x9000 and parse_tlv_dict(unwrap(0x65, data)) == {0x5B: b"", 0x5F2D: b"", 0x5F35: b""}
    assert get(card, 0x7A) == (tlv(0x7A, tlv(0x93, b"\0\0\0")), 0x9000)
    assert get(card, 0x0102) == (b"", 0x9000)
    assert get(card, 0x0104)[1] == 0x6982 and get(card, 0x1234)[1] == 0x6A88


def test_yubikey_version_and_algorithm_information_with_its_quirks():
    card = selected(VirtualYubiKey(firmware=(5, 4, 3)))
    assert send(card, 0xF1, 0, 0) == (bytes([5, 4, 3]), 0x9000)
    fa, sw = get(card, 0xFA)
    assert sw == 0x9000 and fa[:2] == b"\xfa\x82"
    assert int.from_bytes(fa[2:4], "big") == len(fa) - 4 + 2  # the outer length is 2 too long
    eddsa_x25519 = tlv(0xC2, bytes.fromhex("16") + bytes.fromhex("2B060104019755010501"))
    assert eddsa_x25519 in fa  # before 5.6.1 X25519 is listed as EdDSA (ykman patches it)
    fixed = selected(VirtualYubiKey(firmware=(5, 7, 2)))
    assert eddsa_x25519 not in get(fixed, 0xFA)[0]
    assert tlv(0xC2, bytes.fromhex("12") + bytes.fromhex("2B060104019755010501")) in get(fixed, 0xFA)[0]


# ------------------------------------------------------------------ PINs
def test_verify_wrong_blocked_and_status_check_per_card():
    yk = selected(VirtualYubiKey())
    assert send(yk, 0x20, 0, 0x81)[1] == 0x6A80  # YubiKey 5: empty VERIFY is no status check
    plain = selected(VirtualOpenPgpCard())
    assert send(plain, 0x20, 0, 0x81)[1] == 0x63C3
    assert verify(plain, 0x81, "123456") == 0x9000
    assert send(plain, 0x20, 0, 0x81)[1] == 0x9000
    assert send(plain, 0x20, 0xFF, 0x81)[1] == 0x9000 and send(plain, 0x20, 0, 0x81)[1] == 0x63C3
    for card in (yk, plain):
        assert verify(card, 0x82, "000000") == 0x6982
        assert get(card, 0xC4)[0][4] == 2
        assert verify(card, 0x82, "123456") == 0x9000 and get(card, 0xC4)[0][4] == 3
        for _ in range(3):
            assert verify(card, 0x83, "00000000") == 0x6982
        assert verify(card, 0x83, "12345678") == 0x6983
    assert send(plain, 0x20, 0, 0x83)[1] == 0x6983


def test_change_pins_and_unblock_with_admin_pin_or_resetting_code(card):
    assert send(card, 0x24, 0, 0x81, b"123456" + b"654321")[1] == 0x9000
    assert send(card, 0x24, 0, 0x81, b"123456" + b"111111")[1] == 0x6982  # old PIN wrong now
    assert send(card, 0x24, 0, 0x83, b"12345678" + b"short")[1] == 0x6A80
    assert send(card, 0x24, 0, 0x83, b"12345678" + b"87654321")[1] == 0x9000
    for _ in range(2):
        verify(card, 0x81, "999999")
    assert verify(card, 0x81, "654321") == 0x6983  # blocked after the third wrong try
    assert send(card, 0x2C, 0x02, 0x81, b"246810")[1] == 0x6982  # needs PW3
    assert verify(card, 0x83, "87654321") == 0x9000
    assert send(card, 0x2C, 0x02, 0x81, b"246810")[1] == 0x9000
    assert verify(card, 0x81, "246810") == 0x9000
    assert send(card, 0x2C, 0x00, 0x81, b"resetcod" + b"135791")[1] == 0x6983  # no resetting code yet
    assert send(card, 0xDA, 0, 0xD3, b"resetcod")[1] == 0x9000
    assert get(card, 0xC4)[0][5] == 3
    assert send(card, 0x2C, 0x00, 0x81, b"resetcod" + b"135791")[1] == 0x9000
    assert verify(card, 0x82, "135791") == 0x9000


def test_pw1_valid_for_one_signature_when_c4_says_so(card):
    admin(card)
    assert set_attributes(card, "sig", bytes.fromhex("13") + bytes.fromhex("2A8648CE3D030107")) == 0x9000
    generate(card, "sig")
    assert send(card, 0xDA, 0, 0xC4, b"\x00")[1] == 0x9000
    assert get(card, 0xC4)[0][0] == 0x00
    assert verify(card, 0x81, "123456") == 0x9000
    digest = hashlib.sha256(b"x").digest()
    assert send(card, 0x2A, 0x9E, 0x9A, digest)[1] == 0x9000
    assert send(card, 0x2A, 0x9E, 0x9A, digest)[1] == 0x6982  # the VERIFY was spent
    assert send(card, 0xDA, 0, 0xC4, b"\x01")[1] == 0x9000
    assert verify(card, 0x81, "123456") == 0x9000
    for _ in range(2):
        assert send(card, 0x2A, 0x9E, 0x9A, digest)[1] == 0x9000
    assert get(card, 0x7A)[0] == tlv(0x7A, tlv(0x93, b"\0\0\x03"))


def test_set_pin_retries_on_the_yubikey():
    card = selected(VirtualYubiKey())
    assert send(card, 0xF2, 0, 0, b"\x05\x00\x07")[1] == 0x6982
    admin(card)
    assert send(card, 0xF2, 0, 0, b"\x05\x02\x07")[1] == 0x9000
    assert get(card, 0xC4)[0][4:] == bytes([5, 0, 7])  # no resetting code: 0 tries


# ------------------------------------------------------------- keys
def test_rsa_generation_signature_and_decryption(card):
    assert send(card, 0x47, 0x80, 0, CRT["sig"])[1] == 0x6982  # needs PW3
    assert send(card, 0x47, 0x81, 0, CRT["sig"])[1] == 0x6A88  # no key yet
    admin(card)
    parts = generate(card, "dec")
    public = rsa.RSAPublicNumbers(int.from_bytes(parts[0x82], "big"), int.from_bytes(parts[0x81], "big")).public_key()
    assert public.key_size == 2048
    assert send(card, 0x47, 0x81, 0, CRT["dec"]) == (tlv(0x7F49, tlv(0x81, parts[0x81]) + tlv(0x82, parts[0x82])),
                                                      0x9000)
    ciphertext = public.encrypt(b"session key", padding.PKCS1v15())
    assert send(card, 0x2A, 0x80, 0x86, b"\0" + ciphertext)[1] == 0x6982  # needs PW1 (82)
    assert verify(card, 0x82, "123456") == 0x9000
    assert send(card, 0x2A, 0x80, 0x86, b"\0" + ciphertext) == (b"session key", 0x9000)
    assert send(card, 0x2A, 0x80, 0x86, ciphertext)[1] == 0x6A80  # no padding indicator
    key = rsa.generate_private_key(65537, 2048)
    numbers = key.private_numbers()
    header = bytes.fromhex("9103" "928180" "938180")  # e, p, q (gpg's and ykman's standard format)
    values = b"\x01\x00\x01" + numbers.p.to_bytes(128, "big") + numbers.q.to_bytes(128, "big")
    template = tlv(0x4D, CRT["aut"] + tlv(0x7F48, header) + tlv(0x5F48, values))
    assert send(card, 0xDB, 0x3F, 0xFF, template)[1] == 0x9000
    digest = hashlib.sha256(b"auth me").digest()
    signature, sw = send(card, 0x88, 0, 0, SHA256_INFO + digest)
    assert sw == 0x9000
    key.public_key().verify(signature, b"auth me", padding.PKCS1v15(), hashes.SHA256())
    assert discretionary(card)[1][0xDE][:6] == bytes.fromhex("010002010302")  # none, generated, imported


@pytest.mark.parametrize("curve, oid", [(ec.SECP256R1(), "2A8648CE3D030107"), (ec.SECP384R1(), "2B81040022"),
                                        (ec.BrainpoolP512R1(), "2B240303020801010D")])
def test_ecdsa_signing_and_ecdh_with_the_a6_wrapper(card, curve, oid):
    admin(card)
    assert set_attributes(card, "sig", bytes.fromhex("13" + oid)) == 0x9000
    assert set_attributes(card, "dec", bytes.fromhex("12" + oid)) == 0x9000
    sig_point = generate(card, "sig")[0x86]
    dec_point = generate(card, "dec")[0x86]
    assert verify(card, 0x81, "123456") == 0x9000 and verify(card, 0x82, "123456") == 0x9000
    digest = hashlib.sha256(b"message").digest()
    raw, sw = send(card, 0x2A, 0x9E, 0x9A, digest)
    assert sw == 0x9000
    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    ec.EllipticCurvePublicKey.from_encoded_point(curve, sig_point).verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    peer = ec.generate_private_key(curve)
    peer_point = peer.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    shared, sw = send(card, 0x2A, 0x80, 0x86, tlv(0xA6, tlv(0x7F49, tlv(0x86, peer_point))))
    assert sw == 0x9000
    assert shared == peer.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(curve, dec_point))


def test_ed25519_and_x25519_generated_and_imported(card):
    admin(card)
    assert set_attributes(card, "sig", bytes.fromhex("16" "2B06010401DA470F01")) == 0x9000
    assert set_attributes(card, "dec", bytes.fromhex("12" "2B060104019755010501")) == 0x9000
    assert set_attributes(card, "aut", bytes.fromhex("16" "2B06010401DA470F01")) == 0x9000
    public = ed25519.Ed25519PublicKey.from_public_bytes(generate(card, "sig")[0x86])
    assert verify(card, 0x81, "123456") == 0x9000 and verify(card, 0x82, "123456") == 0x9000
    signature, sw = send(card, 0x2A, 0x9E, 0x9A, b"the message itself")
    assert sw == 0x9000
    public.verify(signature, b"the message itself")
    # Import: X25519 big-endian (as ykman and gpg send it), Ed25519 raw.
    x_key, ed_key = x25519.X25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    for crt, secret in ((CRT["dec"], x_key.private_bytes(*raw)[::-1]), (CRT["aut"], ed_key.private_bytes(*raw))):
        body = tlv(0x4D, crt + tlv(0x7F48, b"\x92\x20") + tlv(0x5F48, secret))
        assert send(card, 0xDB, 0x3F, 0xFF, body)[1] == 0x9000
    peer = x25519.X25519PrivateKey.generate()
    peer_raw = peer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    shared, sw = send(card, 0x2A, 0x80, 0x86, tlv(0xA6, tlv(0x7F49, tlv(0x86, peer_raw))))
    assert (shared, sw) == (peer.exchange(x_key.public_key()), 0x9000)
    auth, sw = send(card, 0x88, 0, 0, b"challenge")
    ed_key.public_key().verify(auth, b"challenge")


def test_changing_attributes_deletes_the_key_and_unknown_ones_are_refused(card):
    admin(card)
    assert set_attributes(card, "sig", bytes.fromhex("13" "2A8648CE3D030107")) == 0x9000
    generate(card, "sig")
    assert send(card, 0xDA, 0, 0xC7, bytes(range(20)))[1] == 0x9000
    assert discretionary(card)[1][0xC5][:20] == bytes(range(20))
    assert set_attributes(card, "sig", bytes.fromhex("13" "2A8648CE3D030107")) == 0x9000  # the same again
    assert send(card, 0x47, 0x81, 0, CRT["sig"])[1] == 0x6A88
    assert discretionary(card)[1][0xC5][:20] == bytes(20)
    assert set_attributes(card, "sig", bytes.fromhex("010800002000")) == 0x6A80  # e of 32 bits: not in FA
    assert set_attributes(card, "dec", bytes.fromhex("16" "2B06010401DA470F01")) == 0x6A80  # EdDSA cannot decrypt


def test_get_challenge_and_private_dos(card):
    first, sw = transmit(card, apdu(0, 0x84, 0, 0, le=100))
    assert sw == 0x9000 and len(first) == 100 and first != transmit(card, apdu(0, 0x84, 0, 0, le=100))[0]
    assert send(card, 0xDA, 0x01, 0x01, b"one")[1] == 0x6982
    assert verify(card, 0x82, "123456") == 0x9000
    assert send(card, 0xDA, 0x01, 0x01, b"one")[1] == 0x9000
    assert get(card, 0x0101) == (b"one", 0x9000)
    assert send(card, 0xDA, 0x01, 0x02, b"two")[1] == 0x6982  # 0102 needs PW3


# --------------------------------------------------------- certificates
def test_cardholder_certificates_through_select_data(card):
    admin(card)
    standard = tlv(0x60, tlv(0x5C, b"\x7f\x21"))
    assert send(card, 0xA5, 2, 4, standard)[1] == 0x9000
    assert send(card, 0xDA, 0x7F, 0x21, b"signature certificate")[1] == 0x9000
    assert send(card, 0xA5, 0, 4, standard)[1] == 0x9000
    assert get(card, 0x7F21) == (b"", 0x9000)  # empty: 9000 with no data
    assert send(card, 0xCC, 0x7F, 0x21) == (b"", 0x9000)
    assert send(card, 0xCC, 0x7F, 0x21) == (b"signature certificate", 0x9000)
    assert send(card, 0xDA, 0x7F, 0x21, bytes(2049))[1] == 0x6A84


def test_select_data_quirk_of_yubikey_5_4_3_and_before():
    card = selected(VirtualYubiKey(firmware=(5, 4, 3)))
    standard = tlv(0x60, tlv(0x5C, b"\x7f\x21"))
    assert send(card, 0xA5, 2, 4, standard)[1] == 0x6A80
    assert send(card, 0xA5, 2, 4, b"\x06" + standard)[1] == 0x9000


# ----------------------------------------------------------- YubiKey parts
def test_touch_policy_asks_the_button_and_times_out_with_6600():
    card = selected(VirtualYubiKey())
    admin(card)
    assert set_attributes(card, "sig", bytes.fromhex("16" "2B06010401DA470F01")) == 0x9000
    generate(card, "sig")
    assert send(card, 0xDA, 0, 0xD6, b"\x01\x20")[1] == 0x9000
    assert verify(card, 0x81, "123456") == 0x9000
    assert send(card, 0x2A, 0x9E, 0x9A, b"m")[1] == 0x9000 and card.touch_count == 1
    card.touch_mode = "timeout"
    assert send(card, 0x2A, 0x9E, 0x9A, b"m")[1] == 0x6600
    card.touch_mode = "confirm"
    assert send(card, 0xDA, 0, 0xD6, b"\x02\x20")[1] == 0x9000  # fixed
    assert send(card, 0xDA, 0, 0xD6, b"\x00\x20")[1] == 0x6985  # ... until a reset
    assert get(card, 0xD6) == (b"\x02\x20", 0x9000)


def test_attestation_of_a_generated_key_chains_to_the_simulator_root():
    card = selected(VirtualYubiKey())
    admin(card)
    assert set_attributes(card, "sig", bytes.fromhex("13" "2A8648CE3D030107")) == 0x9000
    point = generate(card, "sig")[0x86]
    assert transmit(card, apdu(0x80, 0xFB, 1, 0))[1] == 0x6982  # needs PW1
    assert verify(card, 0x81, "123456") == 0x9000
    assert transmit(card, apdu(0x80, 0xFB, 1, 0)) == (b"", 0x9000)
    assert send(card, 0xA5, 2, 4, tlv(0x60, tlv(0x5C, b"\x7f\x21")))[1] == 0x9000
    statement = x509.load_der_x509_certificate(get(card, 0x7F21)[0])
    key81_cert = x509.load_der_x509_certificate(get(card, 0xFC)[0])
    statement.verify_directly_issued_by(key81_cert)
    key81_cert.verify_directly_issued_by(card.openpgp.attestation_root)
    assert statement.public_key() == ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    extensions = {e.oid.dotted_string: e.value.value for e in statement.extensions}
    assert extensions["1.3.6.1.4.1.41482.5.3"] == bytes([5, 7, 2])
    assert extensions["1.3.6.1.4.1.41482.5.2"] == b"\x01"
    assert transmit(card, apdu(0x80, 0xFB, 2, 0))[1] == 0x6A88  # no DEC key


# ----------------------------------------------------------- life cycle
def test_factory_reset_by_terminate_and_activate(card):
    admin(card)
    assert set_attributes(card, "sig", bytes.fromhex("13" "2A8648CE3D030107")) == 0x9000
    generate(card, "sig")
    assert send(card, 0x24, 0, 0x81, b"123456" + b"654321")[1] == 0x9000
    assert send(card, 0xDA, 0, 0x5B, b"Doe<<John")[1] == 0x9000
    card.power_off()
    selected(card)
    assert send(card, 0xE6, 0, 0)[1] == 0x6985  # neither verified nor blocked
    for _ in range(3):
        verify(card, 0x83, "00000000")
    assert send(card, 0xE6, 0, 0)[1] == 0x9000
    assert get(card, 0x4F)[1] == 0x6985
    assert transmit(card, apdu(0, 0xA4, 4, 0, AID))[1] == 0x6285  # selected, but terminated
    assert send(card, 0x44, 0, 0)[1] == 0x9000
    assert transmit(card, apdu(0, 0xA4, 4, 0, AID))[1] == 0x9000
    assert verify(card, 0x81, "123456") == 0x9000 and verify(card, 0x83, "12345678") == 0x9000
    assert send(card, 0x47, 0x81, 0, CRT["sig"])[1] == 0x6A88
    assert discretionary(card)[1][0xC1] == bytes.fromhex("010800001100")
    assert get(card, 0x65)[0] == tlv(0x65, tlv(0x5B) + tlv(0x5F2D) + tlv(0x5F35))


def test_selecting_another_applet_drops_the_pin_status():
    card = selected(VirtualYubiKey())
    admin(card)
    transmit(card, apdu(0, 0xA4, 4, 0, bytes.fromhex("A000000308")))
    transmit(card, apdu(0, 0xA4, 4, 0, AID))
    assert send(card, 0x47, 0x80, 0, CRT["sig"])[1] == 0x6982


def test_state_survives_and_secrets_stay_out_of_traces():
    card = selected(VirtualYubiKey())
    admin(card)
    assert set_attributes(card, "sig", bytes.fromhex("16" "2B06010401DA470F01")) == 0x9000
    point = generate(card, "sig")[0x86]
    assert send(card, 0x24, 0, 0x81, b"123456" + b"654321")[1] == 0x9000
    state = json.loads(json.dumps(card.to_state()))
    restored = selected(VirtualYubiKey(state=VirtualYubiKey(state=card.to_state()).to_state()))
    assert restored.openpgp.to_state() == card.openpgp.to_state()
    assert "openpgp" in state and "piv" in state
    assert verify(restored, 0x81, "654321") == 0x9000
    assert send(restored, 0x47, 0x81, 0, CRT["sig"])[0] == tlv(0x7F49, tlv(0x86, point))
    plain = VirtualOpenPgpCard()
    assert VirtualOpenPgpCard(state=plain.to_state()).to_state() == plain.to_state()
    with pytest.raises(ValueError):
        VirtualOpenPgpCard(state=card.to_state())
    for command in (apdu(0, 0x20, 0, 0x83, b"12345678"), apdu(0, 0x24, 0, 0x81, b"123456654321"),
                    apdu(0, 0x2C, 0, 0x81, b"resetcod135791"), apdu(0, 0xDA, 0, 0xD3, b"resetcod"),
                    apdu(0, 0xDB, 0x3F, 0xFF, tlv(0x4D, CRT["aut"] + tlv(0x7F48, b"\x92\x20") + tlv(0x5F48, b"k" * 32)))):
        redacted = card.redact_command(command)
        assert len(redacted) == len(command) and redacted[:5] == command[:5] and b"123456" not in redacted
        assert set(redacted[5:]) == {0x2A}
    chained = apdu(0x10, 0xDB, 0x3F, 0xFF, b"\x4d\x82\x01\x10" + b"p" * 200)
    assert set(card.redact_command(chained)[5:]) == {0x2A}
    assert set(card.redact_command(apdu(0, 0xDB, 0x3F, 0xFF, b"q" * 100))[5:]) == {0x2A}  # the chain's last part
    decipher = apdu(0, 0x2A, 0x80, 0x86, b"\0" + bytes(256), extended=True)
    assert card.redact_response(decipher, b"session key\x90\x00") == b"*" * 11 + b"\x90\x00"
