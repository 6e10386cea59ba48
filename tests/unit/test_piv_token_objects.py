"""Objects the PIV token shows for the in-process virtual YubiKey: detection,
attribute sets, metadata-only keys, data objects, and the APDU budget."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from test_piv_token_support import (
    GENERATED,
    IMPORTED,
    PIN,
    POLICY_ALWAYS,
    GenericPivCard,
    NoAppletCard,
    find,
    make_cert,
    open_piv,
    put_cert,
    put_key,
    rsa_key,
)

from cardki import errors
from cardki.apdu import Tlv
from cardki.constants import CKA, CKC, CKK, CKM, CKO, CKU, TokenFlag
from cardki.slot.inprocess import InProcessTransport
from cardki.token import PivToken, open_token
from hwsim.yubikey import VirtualYubiKey  # noqa: E402

P256_OID = bytes.fromhex("06082a8648ce3d030107")


def spki(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_open_token_detects_a_yubikey_and_reads_its_identity() -> None:
    token, transport = open_piv(VirtualYubiKey(firmware=(5, 7, 2), serial=7654321))
    info = token.info()
    assert token.profile.id == "yubikey-piv"
    assert (info.manufacturer_id, info.model, info.serial_number) == ("Yubico", "YubiKey 5 PIV", "7654321")
    assert info.label == "YubiKey PIV #7654321"
    assert info.firmware_version == (5, 72)
    assert (info.min_pin_len, info.max_pin_len) == (6, 8)
    for flag in (TokenFlag.RNG, TokenFlag.LOGIN_REQUIRED, TokenFlag.USER_PIN_INITIALIZED, TokenFlag.TOKEN_INITIALIZED):
        assert info.flags & flag
    assert not info.flags & (TokenFlag.USER_PIN_COUNT_LOW | TokenFlag.USER_PIN_LOCKED)


def test_a_card_without_piv_is_not_recognized() -> None:
    assert open_token(InProcessTransport(NoAppletCard())) is None


def test_a_piv_card_without_get_version_gets_the_generic_profile_and_a_chuid_serial() -> None:
    card = GenericPivCard()
    guid = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    card.inner.piv.objects[0x5FC102] = bytes(Tlv(0x30, b"\x00" * 25) + Tlv(0x34, guid) + Tlv(0xFE, b""))
    key = ec.generate_private_key(ec.SECP256R1())
    put_key(card.inner, 0x9A, key)
    put_cert(card.inner, 0x9A, make_cert(key))
    put_key(card.inner, 0x9D, ec.generate_private_key(ec.SECP256R1()))  # no cert, no metadata: invisible
    token = open_token(InProcessTransport(card))
    assert isinstance(token, PivToken) and token.profile.id == "generic-piv"
    info = token.info()
    assert info.serial_number == "0011223344556677"
    assert info.manufacturer_id == "Unknown"
    refs = {obj.ref for obj in token.objects()}
    assert ("private", 0x9A) in refs and ("certificate", 0x9A) in refs
    assert not any(ref[1] == 0x9D for ref in refs)
    assert CKM.EDDSA not in token.mechanisms()


def test_rsa_key_with_certificate_has_the_full_attribute_set() -> None:
    card = VirtualYubiKey()
    key = rsa_key(2048)
    put_key(card, 0x9A, key, origin=IMPORTED)
    cert = make_cert(key, "alice")
    der = put_cert(card, 0x9A, cert)
    token, _ = open_piv(card)

    private = find(token, "private", 0x9A)
    a = private.attributes
    assert a[CKA.CLASS] == CKO.PRIVATE_KEY and a[CKA.KEY_TYPE] == CKK.RSA
    assert a[CKA.LABEL] == "PIV Authentication" and a[CKA.ID] == b"\x01"
    assert a[CKA.TOKEN] and a[CKA.PRIVATE] and not a[CKA.MODIFIABLE]
    assert a[CKA.SIGN] and a[CKA.DECRYPT] and a[CKA.UNWRAP] and not a[CKA.DERIVE]
    assert a[CKA.SENSITIVE] and not a[CKA.EXTRACTABLE]
    # imported: neither local nor never-extractable (as ykcs11 says)
    assert not a[CKA.LOCAL] and not a[CKA.NEVER_EXTRACTABLE] and not a[CKA.ALWAYS_SENSITIVE]
    assert not a[CKA.ALWAYS_AUTHENTICATE]
    numbers = key.public_key().public_numbers()
    assert a[CKA.MODULUS] == numbers.n.to_bytes(256, "big") and a[CKA.MODULUS_BITS] == 2048
    assert a[CKA.PUBLIC_EXPONENT] == b"\x01\x00\x01"
    assert a[CKA.PUBLIC_KEY_INFO] == spki(key)
    assert a[CKA.SUBJECT] == cert.subject.public_bytes()
    assert CKA.PRIVATE_EXPONENT in private.sensitive and CKA.PRIVATE_EXPONENT not in a

    public = find(token, "public", 0x9A).attributes
    assert public[CKA.CLASS] == CKO.PUBLIC_KEY and not public[CKA.PRIVATE]
    assert public[CKA.LABEL] == "PIV Authentication"
    assert public[CKA.VERIFY] and public[CKA.ENCRYPT] and public[CKA.MODULUS] == a[CKA.MODULUS]

    c = find(token, "certificate", 0x9A).attributes
    assert c[CKA.CLASS] == CKO.CERTIFICATE and c[CKA.CERTIFICATE_TYPE] == CKC.X_509
    assert c[CKA.LABEL] == "PIV Authentication" and c[CKA.ID] == b"\x01"
    assert c[CKA.VALUE] == der and c[CKA.ISSUER] == cert.issuer.public_bytes()
    assert c[CKA.SERIAL_NUMBER] == bytes.fromhex("02081234567890abcdef")
    assert c[CKA.CHECK_VALUE] == hashlib.sha1(der).digest()[:3]
    assert c[CKA.TRUSTED] is False and c[CKA.START_DATE] is None and c[CKA.END_DATE] is None


def test_generated_key_without_certificate_is_visible_through_metadata() -> None:
    card = VirtualYubiKey()
    key = ec.generate_private_key(ec.SECP256R1())
    put_key(card, 0x9D, key, origin=GENERATED)
    token, _ = open_piv(card)
    refs = {obj.ref for obj in token.objects()}
    assert ("private", 0x9D) in refs and ("public", 0x9D) in refs and ("certificate", 0x9D) not in refs
    a = find(token, "private", 0x9D).attributes
    assert a[CKA.KEY_TYPE] == CKK.EC and a[CKA.ID] == b"\x03" and a[CKA.SUBJECT] == b""
    assert a[CKA.DERIVE] and a[CKA.SIGN] and not a[CKA.DECRYPT]
    assert a[CKA.LOCAL] and a[CKA.NEVER_EXTRACTABLE] and a[CKA.ALWAYS_SENSITIVE]
    assert a[CKA.KEY_GEN_MECHANISM] == CKM.EC_KEY_PAIR_GEN
    assert a[CKA.EC_PARAMS] == P256_OID
    public = find(token, "public", 0x9D).attributes
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert public[CKA.EC_POINT] == b"\x04\x41" + point
    assert public[CKA.PUBLIC_KEY_INFO] == spki(key)


@pytest.mark.parametrize("slot, cka_id, label, sign, derive", [
    (0x9C, b"\x02", "Digital Signature", True, False),  # PIN always: no C_DeriveKey (no *Init to log in after)
    (0x9E, b"\x04", "Card Authentication", True, True),
    (0x82, b"\x05", "Retired Key 1", True, True),
    (0x95, b"\x18", "Retired Key 20", True, True),
])
def test_ec_key_usage_and_names_follow_the_slot(slot, cka_id, label, sign, derive) -> None:
    card = VirtualYubiKey()
    put_key(card, slot, ec.generate_private_key(ec.SECP384R1()))
    token, _ = open_piv(card)
    a = find(token, "private", slot).attributes
    assert (a[CKA.ID], a[CKA.LABEL]) == (cka_id, label)
    assert (a[CKA.SIGN], a[CKA.DERIVE], a[CKA.DECRYPT]) == (sign, derive, False)
    assert a[CKA.EC_PARAMS] == bytes.fromhex("06052b81040022")
    assert a[CKA.ALWAYS_AUTHENTICATE] is (slot == 0x9C)


@pytest.mark.parametrize("private_key", [rsa_key(2048), ec.generate_private_key(ec.SECP256R1()),
                                         ec.generate_private_key(ec.SECP384R1()),
                                         ed25519.Ed25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()],
                         ids=["rsa2048", "p256", "p384", "ed25519", "x25519"])
def test_private_keys_carry_the_public_parts_clients_read(private_key) -> None:
    """GnuTLS (p11tool --test-sign) and NSS read the public key from the private key
    object: every public attribute of the public key object is on the private key too."""
    card = VirtualYubiKey()
    put_key(card, 0x82, private_key)
    token, _ = open_piv(card)
    private = find(token, "private", 0x82).attributes
    public = find(token, "public", 0x82).attributes
    parts = [CKA.PUBLIC_KEY_INFO, CKA.KEY_TYPE]
    parts += [CKA.MODULUS, CKA.PUBLIC_EXPONENT, CKA.MODULUS_BITS] if CKA.MODULUS in public else [CKA.EC_PARAMS,
                                                                                                CKA.EC_POINT]
    assert {a: private.get(a) for a in parts} == {a: public[a] for a in parts}
    assert private[CKA.PUBLIC_KEY_INFO] == spki(private_key)


@pytest.mark.parametrize("slot", [0x9A, 0x9C, 0x9D, 0x9E, 0x82])
@pytest.mark.parametrize("algorithm", ["rsa", "ec"])
def test_every_key_slot_does_what_the_card_does_with_its_algorithm(slot: int, algorithm: str) -> None:
    """The card signs and decrypts (RSA) or signs and derives (EC) with a key in any
    slot, so NSS, ssh and OpenSSL may sign with 9D and decrypt with 9C, as with OpenSC."""
    card = VirtualYubiKey()
    key = rsa_key(2048) if algorithm == "rsa" else ec.generate_private_key(ec.SECP256R1())
    put_key(card, slot, key)
    put_cert(card, slot, make_cert(key))  # no KeyUsage extension: it narrows nothing
    token, _ = open_piv(card)
    a = find(token, "private", slot).attributes
    public = find(token, "public", slot).attributes
    always = slot == 0x9C
    assert a[CKA.ALWAYS_AUTHENTICATE] is always
    if algorithm == "rsa":
        assert (a[CKA.SIGN], a[CKA.DECRYPT], a[CKA.UNWRAP], a[CKA.DERIVE]) == (True, True, True, False)
        assert (public[CKA.VERIFY], public[CKA.ENCRYPT], public[CKA.WRAP]) == (True, True, True)
    else:
        assert (a[CKA.SIGN], a[CKA.DECRYPT], a[CKA.DERIVE]) == (True, False, not always)
        assert (public[CKA.VERIFY], public[CKA.ENCRYPT]) == (True, False)


@pytest.mark.parametrize("algorithm, key_usage, sign, manage", [
    ("rsa", ["key_encipherment"], False, True),
    ("rsa", ["digital_signature"], True, False),
    ("rsa", ["content_commitment"], True, False),
    ("rsa", ["data_encipherment", "key_cert_sign"], True, True),
    ("ec", ["digital_signature"], True, False),
    ("ec", ["key_agreement"], False, True),
    ("ec", ["crl_sign", "key_agreement"], True, True),
])
def test_the_certificate_key_usage_narrows_what_the_key_may_do(algorithm: str, key_usage, sign: bool,
                                                               manage: bool) -> None:
    key = rsa_key(2048) if algorithm == "rsa" else ec.generate_private_key(ec.SECP256R1())
    listing_apdus = []
    for usage in (None, key_usage):
        card = VirtualYubiKey()
        put_key(card, 0x9D, key)
        put_cert(card, 0x9D, make_cert(key, key_usage=usage))
        token, _ = open_piv(card)
        before = token.protocol.apdu_count
        token.objects()
        listing_apdus.append(token.protocol.apdu_count - before)
    assert listing_apdus[0] == listing_apdus[1]  # the KeyUsage comes with the certificate, read anyway
    a = find(token, "private", 0x9D).attributes
    public = find(token, "public", 0x9D).attributes
    managing = CKA.DECRYPT if algorithm == "rsa" else CKA.DERIVE
    assert (a[CKA.SIGN], a[managing]) == (sign, manage)
    assert public[CKA.VERIFY] is sign
    assert public[CKA.ENCRYPT] is (manage and algorithm == "rsa")


def test_the_attestation_key_never_signs_but_its_public_key_verifies() -> None:
    """C_Sign with F9 would forge attestations: no usage in the profile, whatever the algorithm."""
    token, _ = open_piv(VirtualYubiKey())
    a = find(token, "private", 0xF9).attributes
    assert (a[CKA.SIGN], a[CKA.DECRYPT], a[CKA.DERIVE], a[CKA.UNWRAP]) == (False, False, False, False)
    public = find(token, "public", 0xF9).attributes
    assert public[CKA.VERIFY] and not public[CKA.ENCRYPT]
    token.login(CKU.USER, PIN)
    with pytest.raises(errors.KeyFunctionNotPermitted):
        token.sign(find(token, "private", 0xF9), CKM.RSA_PKCS, None, b"\x00" * 51)


def test_pin_policy_always_makes_always_authenticate() -> None:
    card = VirtualYubiKey()
    put_key(card, 0x9A, ec.generate_private_key(ec.SECP256R1()), pin_policy=POLICY_ALWAYS)
    token, _ = open_piv(card)
    assert find(token, "private", 0x9A).attributes[CKA.ALWAYS_AUTHENTICATE] is True


def test_ed25519_signs_only_and_x25519_derives_only() -> None:
    card = VirtualYubiKey()
    put_key(card, 0x9A, ed25519.Ed25519PrivateKey.generate())
    put_key(card, 0x9D, x25519.X25519PrivateKey.generate())
    token, _ = open_piv(card)
    ed = find(token, "private", 0x9A).attributes
    assert ed[CKA.KEY_TYPE] == CKK.EC_EDWARDS and ed[CKA.EC_PARAMS] == bytes.fromhex("06032b6570")
    assert (ed[CKA.SIGN], ed[CKA.DERIVE], ed[CKA.DECRYPT]) == (True, False, False)
    x = find(token, "private", 0x9D).attributes
    assert x[CKA.KEY_TYPE] == CKK.EC_MONTGOMERY and x[CKA.EC_PARAMS] == bytes.fromhex("06032b656e")
    assert (x[CKA.SIGN], x[CKA.DERIVE], x[CKA.DECRYPT]) == (False, True, False)
    assert len(find(token, "public", 0x9D).attributes[CKA.EC_POINT]) == 34


def test_data_objects_and_private_ones_only_after_login() -> None:
    card = VirtualYubiKey()
    chuid = bytes(Tlv(0x34, b"\x01" * 16) + Tlv(0xFE, b""))
    card.piv.objects[0x5FC102] = chuid
    card.piv.objects[0x5FC109] = b"\x01\x02printed"
    token, _ = open_piv(card)
    data = {obj.attributes[CKA.LABEL]: obj.attributes for obj in token.objects() if obj.ref[0] == "data"}
    assert set(data) == {"Card Holder Unique Identifier", "Discovery Object"}
    d = data["Card Holder Unique Identifier"]
    assert d[CKA.CLASS] == CKO.DATA and d[CKA.VALUE] == chuid and not d[CKA.PRIVATE]
    assert d[CKA.APPLICATION] == "PIV"
    assert d[CKA.OBJECT_ID] == bytes.fromhex("060a60864801650307023000")
    generation = token.presence_generation
    token.login(CKU.USER, PIN)
    assert token.presence_generation != generation  # the engine re-reads objects
    printed = [obj for obj in token.objects() if obj.ref == ("data", 0x5FC109)]
    assert printed and printed[0].attributes[CKA.PRIVATE] is True
    assert printed[0].attributes[CKA.VALUE] == b"\x01\x02printed"
    token.logout()
    assert not [obj for obj in token.objects() if obj.ref == ("data", 0x5FC109)]


def test_first_listing_apdu_budget_and_cache() -> None:
    card = VirtualYubiKey()
    key = rsa_key(2048)
    put_key(card, 0x9A, key)
    put_cert(card, 0x9A, make_cert(key))
    put_key(card, 0x9C, ec.generate_private_key(ec.SECP256R1()))
    token, _ = open_piv(card)
    before = token.protocol.apdu_count
    objects = token.objects()
    used = token.protocol.apdu_count - before
    # SELECT + 25 certificate containers + 25 GET METADATA (the only way to see
    # keys without certificates, and the source of PIN policy and origin) + 5
    # public data objects
    assert used == 1 + 25 + 25 + 5, used
    print(f"first object listing: {used} APDUs, {len(objects)} objects")
    before = token.protocol.apdu_count
    assert len(token.objects()) == len(objects)
    assert token.protocol.apdu_count == before  # cached


def test_old_firmware_without_metadata_shows_only_keys_with_certificates() -> None:
    card = VirtualYubiKey(firmware=(4, 3, 5))
    key = ec.generate_private_key(ec.SECP256R1())
    put_key(card, 0x9A, key)
    put_cert(card, 0x9A, make_cert(key))
    put_key(card, 0x9D, ec.generate_private_key(ec.SECP256R1()))
    token, _ = open_piv(card)
    refs = {obj.ref for obj in token.objects()}
    assert ("private", 0x9A) in refs and not any(ref[1] == 0x9D for ref in refs)
    assert token.info().serial_number == "0"  # no GET SERIAL before 5.0, no CHUID
    mechanisms = token.mechanisms()
    assert CKM.EDDSA not in mechanisms and mechanisms[CKM.RSA_PKCS].max_key_size == 2048
    assert mechanisms[CKM.ECDSA].max_key_size == 384


def test_mechanisms_on_572_include_25519_and_big_rsa() -> None:
    token, _ = open_piv(VirtualYubiKey(firmware=(5, 7, 2)))
    mechanisms = token.mechanisms()
    assert mechanisms[CKM.RSA_PKCS].min_key_size == 1024 and mechanisms[CKM.RSA_PKCS].max_key_size == 4096
    assert CKM.EDDSA in mechanisms and CKM.EC_MONTGOMERY_KEY_PAIR_GEN in mechanisms
    assert mechanisms[CKM.ECDH1_DERIVE].max_key_size == 384
    for mech in (CKM.SHA256_RSA_PKCS_PSS, CKM.ECDSA_SHA384, CKM.RSA_PKCS_OAEP, CKM.SHA512):
        assert mech in mechanisms
    assert mechanisms[CKM.ECDSA].flags & 0x1  # CKF_HW
