"""The OpenPGP card driver (cardki.token.openpgp) against the simulator's OpenPGP
applet in process: the YubiKey's (5.7.2, and 5.4.3 with its SELECT DATA quirk)
and the plain OpenPGP 3.4 card. Every command the driver has is sent to a card
that implements it; signatures, decryptions and ECDH results are checked with
cryptography, not with the card."""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Iterator, Tuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from test_piv_token_support import make_cert, rsa_key

from cardki.apdu import (
    ApplicationNotFoundError,
    AuthBlockedError,
    ConditionsNotSatisfiedError,
    IncorrectParametersError,
    RecordingTransport,
    ReferenceNotFoundError,
    SecurityStatusError,
    SmartCardProtocol,
    Tlv,
    WrongPinError,
    tlv_dict,
)
from cardki.curves import CURVES, CurveKind, curve_by_ec_params, curve_by_name, curve_by_oid, curve_by_openpgp_oid
from cardki.slot.inprocess import InProcessTransport
from cardki.token.openpgp import (
    AlgorithmId,
    ApduLimits,
    CardQuirks,
    EcAttributes,
    EcImportFormat,
    ExtendedCapability,
    Kdf,
    KdfAlgorithm,
    KdfHash,
    KeyRef,
    KeyStatus,
    OpenPgpCard,
    Password,
    Pw,
    RsaAttributes,
    RsaImportFormat,
    TerminatedError,
    TouchTimeoutError,
    Uif,
    UnknownAttributes,
    attributes_for_private_key,
)
from cardki.token.openpgp.data import historical_bytes_from_atr
from cardki.token.openpgp.keys import import_template, point_bytes
from cardki.token.rsa_padding import digest_info
from hwsim.openpgp_card import VirtualOpenPgpCard
from hwsim.yubikey import VirtualYubiKey

PW1 = b"123456"
PW3 = b"12345678"
CARDS = ("yubikey-5.7.2", "yubikey-5.4.3", "openpgp")


def make_card(kind: str) -> Any:
    if kind == "openpgp":
        return VirtualOpenPgpCard()
    return VirtualYubiKey(firmware=tuple(int(part) for part in kind.split("-")[1].split(".")))  # type: ignore[arg-type]


def connect(card: Any, *, limits: Any = None, quirks: Any = None) -> Tuple[OpenPgpCard, InProcessTransport]:
    """An OpenPgpCard on ``card``, its APDU format from the card's ATR (as a token
    opens it before its first APDU) and its quirks from GET VERSION on a YubiKey."""
    transport = InProcessTransport(card)
    protocol = (limits or ApduLimits.from_atr(transport.atr)).protocol(transport)
    driver = OpenPgpCard(protocol)
    driver.select()
    if quirks is None:
        quirks = CardQuirks.for_yubikey(driver.get_version()) if isinstance(card, VirtualYubiKey) else CardQuirks()
    driver.quirks = quirks
    return driver, transport


@pytest.fixture(params=CARDS)
def any_card(request: Any) -> Iterator[Tuple[OpenPgpCard, Any]]:
    card = make_card(request.param)
    driver, _ = connect(card)
    yield driver, card


def ecdsa_der(raw: bytes) -> bytes:
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def admin(driver: OpenPgpCard) -> None:
    driver.verify(Pw.PW3, PW3)


def curve(name: str) -> Any:
    found = curve_by_name(name)
    assert found is not None
    return found


# ------------------------------------------------------------------ curves


def test_curve_orders_are_the_groups_orders() -> None:
    """Each table order n is the curve's: cryptography takes n-1 as a private key and refuses n."""
    for entry in CURVES:
        if entry.kind is not CurveKind.WEIERSTRASS:
            assert entry.order is None
            continue
        assert entry.order is not None
        ec.derive_private_key(entry.order - 1, entry.ec_curve())
        with pytest.raises(ValueError):
            ec.derive_private_key(entry.order, entry.ec_curve())
        assert entry.field_bytes == (entry.ec_curve().key_size + 7) // 8


def test_curve_names_and_oids() -> None:
    from asn1crypto.core import ObjectIdentifier

    for entry in CURVES:
        assert entry.ec_params == ObjectIdentifier(entry.oid).dump()
        assert curve_by_ec_params(entry.ec_params) is entry and curve_by_oid(entry.oid) is entry
        assert curve_by_openpgp_oid(entry.openpgp_oid_bytes) is entry
    # OpenPGP cards keep GnuPG's OIDs for the 25519 curves (research 6.2's table), X.509 RFC 8410's.
    assert curve("ed25519").openpgp_oid_bytes.hex().upper() == "2B06010401DA470F01"
    assert curve("cv25519").openpgp_oid_bytes.hex().upper() == "2B060104019755010501"
    assert curve("x25519").ec_params.hex() == "06032b656e"
    assert curve_by_ec_params(bytes.fromhex("060a2b060104019755010501")) is curve("x25519")
    assert curve("P-256").name == "secp256r1" and curve("brainpoolP512r1").openpgp_oid_bytes.hex().upper() == \
        "2B240303020801010D"
    assert curve_by_name("secp224r1") is None


# ------------------------------------------------------- selection and 6E


def test_application_related_data(any_card: Tuple[OpenPgpCard, Any]) -> None:
    driver, card = any_card
    data = driver.application_related_data()
    yubikey = isinstance(card, VirtualYubiKey)
    assert data.aid.version == (3, 4)
    assert data.aid.manufacturer == (0x0006 if yubikey else 0xFFFF)
    assert data.aid.manufacturer_name == ("Yubico" if yubikey else "test card")
    assert data.aid.serial_hex == "12345678" and data.aid.serial_number == 12345678
    assert data.aid.display_serial == ("0006 12345678" if yubikey else "FFFF 12345678")
    assert data.aid.application_id == data.aid.raw.hex().upper() == driver.aid().hex().upper()
    caps = data.extended_capabilities
    for flag in (ExtendedCapability.KEY_IMPORT, ExtendedCapability.GET_CHALLENGE, ExtendedCapability.KDF,
                 ExtendedCapability.PW_STATUS_CHANGEABLE, ExtendedCapability.ALGORITHM_ATTRIBUTES_CHANGEABLE):
        assert caps.has(flag)
    assert not caps.has(ExtendedCapability.SECURE_MESSAGING)
    assert (caps.max_challenge_length, caps.max_certificate_length, caps.max_special_do_length) == (3070, 2048, 255)
    assert data.keys == ((KeyRef.SIG, KeyRef.DEC, KeyRef.AUT, KeyRef.ATT) if yubikey
                         else (KeyRef.SIG, KeyRef.DEC, KeyRef.AUT))
    assert all(attributes == RsaAttributes(2048) for attributes in data.algorithm_attributes.values())
    status = data.pw_status
    assert status.pw1_valid_for_several_signatures  # a YubiKey 5 says FF, the plain card 01
    assert (status.pw1_max_length, status.rc_max_length, status.pw3_max_length) == (127, 127, 127)
    assert (status.pw1_tries_left, status.rc_tries_left, status.pw3_tries_left) == (3, 0, 3)
    assert all(data.fingerprint(ref) is None and data.generation_time(ref) is None for ref in data.keys)
    assert data.key_information[KeyRef.SIG] is KeyStatus.NONE
    if yubikey:
        assert data.key_information[KeyRef.ATT] is KeyStatus.IMPORTED  # shipped with the key
    # extended APDUs and chaining, at most 3070 bytes a command (7F66: in 73 on a YubiKey, in 6E elsewhere)
    assert data.card_capabilities.extended_lengths and data.card_capabilities.command_chaining
    assert data.extended_length_information is not None
    assert data.extended_length_information.max_command == 3070
    assert data.apdu_limits == ApduLimits(True, True, 3061)
    assert data.has_button is yubikey
    assert data.uif == ({ref: Uif.OFF for ref in data.keys} if yubikey else {})


def test_apdu_limits_from_the_atr() -> None:
    yubikey5, yubikey4, plain = VirtualYubiKey(), VirtualYubiKey(firmware=(4, 3, 7)), VirtualOpenPgpCard()
    assert historical_bytes_from_atr(yubikey5.atr).hex() == "8073c021c057597562694b6579"
    assert historical_bytes_from_atr(plain.atr).hex() == "0031f573c001e0059000"
    assert ApduLimits.from_atr(yubikey5.atr) == ApduLimits(True, True, 65535)
    assert ApduLimits.from_atr(plain.atr) == ApduLimits(True, True, 65535)
    # A YubiKey 4's ATR has no card capabilities (OpenSC #1551): short APDUs until 6E says more.
    assert ApduLimits.from_atr(yubikey4.atr) == ApduLimits(False, False, 255)
    protocol = ApduLimits(True, True, 3061).protocol(InProcessTransport(plain))
    assert protocol.extended


def test_select_on_a_card_without_openpgp() -> None:
    card = VirtualYubiKey()
    card.applets.remove(card.openpgp)  # a YubiKey with the OpenPGP application disabled
    driver = OpenPgpCard(SmartCardProtocol(InProcessTransport(card)))
    with pytest.raises(ApplicationNotFoundError):
        driver.select()


def test_selecting_the_application_drops_the_pin_status() -> None:
    driver, _ = connect(VirtualOpenPgpCard())
    driver.verify(Pw.PW1, PW1)
    assert driver.pin_status(Pw.PW1).verified is True
    driver.select()
    assert driver.pin_status(Pw.PW1).verified is False


# ----------------------------------------------------------- data objects


def test_cardholder_login_url_and_private_data(any_card: Tuple[OpenPgpCard, Any]) -> None:
    driver, _ = any_card
    assert driver.cardholder_data().name == b"" and driver.cardholder_data().sex is None
    admin(driver)
    driver.put_data(0x5B, b"Doe<<John")
    driver.put_data(0x5F2D, b"ende")
    driver.put_data(0x5F35, b"9")
    driver.put_data(0x5E, b"jdoe")
    driver.put_data(0x5F50, b"https://example.org/key.asc")
    driver.put_data(0x0102, b"private 2")
    holder = driver.cardholder_data()
    assert (holder.name, holder.language, holder.sex, holder.display_name) == (b"Doe<<John", b"ende", 0x39,
                                                                                "John Doe")
    assert driver.login_data() == b"jdoe" and driver.url() == b"https://example.org/key.asc"
    assert driver.get_data(0x0102) == b"private 2"


def test_pw_status_alone_matches_6e(any_card: Tuple[OpenPgpCard, Any]) -> None:
    driver, _ = any_card
    assert driver.pw_status() == driver.application_related_data().pw_status


def test_algorithm_information(any_card: Tuple[OpenPgpCard, Any]) -> None:
    driver, _ = any_card
    information = driver.algorithm_information()
    assert information is not None
    p256 = curve("secp256r1")
    for ref in (KeyRef.SIG, KeyRef.DEC, KeyRef.AUT):
        values = information.for_key(ref)
        assert {RsaAttributes(bits) for bits in (2048, 3072, 4096)} <= set(values)
        assert not any(isinstance(value, UnknownAttributes) for value in values)
        assert EcAttributes.for_key(ref, p256) in values
        expected_25519 = EcAttributes.for_key(ref, curve("x25519" if ref is KeyRef.DEC else "ed25519"))
        assert expected_25519 in values
        assert (EcAttributes(AlgorithmId.EDDSA, curve("ed25519")) in values) is (ref is not KeyRef.DEC)


def test_fa_before_5_6_1_is_corrected_by_the_quirk() -> None:
    """A YubiKey 5.2-5.6.0 lists X25519 as EdDSA for every key (and Ed25519 for DEC and
    ATT); with its quirk the driver reads the same list as from a 5.7 key."""
    old, _ = connect(VirtualYubiKey(firmware=(5, 2, 7)))
    new, _ = connect(VirtualYubiKey(firmware=(5, 7, 2)))
    assert old.quirks.fa_curve25519_errors and not new.quirks.fa_curve25519_errors
    fixed, current = old.algorithm_information(), new.algorithm_information()
    assert fixed is not None and current is not None
    assert {ref: set(values) for ref, values in fixed.entries.items()} == \
        {ref: set(values) for ref, values in current.entries.items()}
    old.quirks = CardQuirks()
    raw = old.algorithm_information()
    assert raw is not None
    wrong = UnknownAttributes(bytes([AlgorithmId.EDDSA]) + curve("x25519").openpgp_oid_bytes)
    assert wrong in raw.for_key(KeyRef.SIG) and EcAttributes(AlgorithmId.ECDH, curve("x25519")) \
        not in raw.for_key(KeyRef.DEC)


def test_a_card_without_fa_or_kdf() -> None:
    driver, _ = connect(VirtualYubiKey(firmware=(4, 3, 7)))
    assert driver.algorithm_information() is None
    assert not driver.kdf().active
    assert driver.application_related_data().key_information == {}


# ---------------------------------------------------------------- passwords


def test_verify_wrong_right_and_the_tries_left(any_card: Tuple[OpenPgpCard, Any]) -> None:
    driver, card = any_card
    with pytest.raises(WrongPinError) as wrong:
        driver.verify(Pw.PW1, b"654321")
    assert wrong.value.sw == 0x6982  # the YubiKey convention, on both cards
    assert driver.pw_status().pw1_tries_left == 2
    status = driver.pin_status(Pw.PW1)
    assert status.tries_left == 2 and status.verified in (False, None)
    driver.verify(Pw.PW1, bytearray(PW1))  # a buffer the caller wipes
    assert driver.pw_status().pw1_tries_left == 3
    verified = driver.pin_status(Pw.PW1)
    if isinstance(card, VirtualYubiKey):
        assert verified == driver.pin_status(Pw.PW1) and verified.verified is None and verified.tries_left == 3
    else:
        assert verified.verified is True and verified.tries_left is None
        assert driver.pin_status(Pw.PW1_SIGN).verified is False  # 81 and 82 are two states


def test_empty_verify_on_a_yubikey_reads_c4_instead() -> None:
    """A YubiKey 5 answers an empty VERIFY with 6A80 (OpenSC #2565): with its quirk the
    driver asks C4 right away (one APDU), without it after the 6A80 (two)."""
    driver, transport = connect(VirtualYubiKey())
    before = driver.protocol.apdu_count
    assert driver.pin_status(Pw.PW3).tries_left == 3
    assert driver.protocol.apdu_count - before == 1
    driver.quirks = CardQuirks()
    before = driver.protocol.apdu_count
    assert driver.pin_status(Pw.PW3).tries_left == 3
    assert driver.protocol.apdu_count - before == 2


def test_a_blocked_password(any_card: Tuple[OpenPgpCard, Any]) -> None:
    driver, _ = any_card
    for _ in range(3):
        with pytest.raises(WrongPinError):
            driver.verify(Pw.PW3, b"00000000")
    with pytest.raises(AuthBlockedError):
        driver.verify(Pw.PW3, PW3)
    assert driver.pin_status(Pw.PW3).blocked and driver.pw_status().pw3_tries_left == 0


def test_unverify() -> None:
    for card in (VirtualOpenPgpCard(), VirtualYubiKey()):
        driver, _ = connect(card)
        driver.verify(Pw.PW3, PW3)
        driver.unverify(Pw.PW3)
        with pytest.raises(SecurityStatusError):
            driver.put_data(0x5E, b"x")
    old, _ = connect(VirtualYubiKey(firmware=(5, 4, 3)))
    with pytest.raises(IncorrectParametersError):  # before 5.6.0: re-SELECT instead
        old.unverify(Pw.PW1)


def test_change_reference_data(any_card: Tuple[OpenPgpCard, Any]) -> None:
    driver, _ = any_card
    driver.change_reference_data(Pw.PW1, PW1, b"24681357")
    with pytest.raises(WrongPinError):
        driver.change_reference_data(Pw.PW1, PW1, b"13572468")
    driver.verify(Pw.PW1_SIGN, b"24681357")
    driver.change_reference_data(Pw.PW3, bytearray(PW3), bytearray(b"87654321"))
    with pytest.raises(WrongPinError):
        driver.verify(Pw.PW3, PW3)
    driver.verify(Pw.PW3, b"87654321")


def test_reset_retry_counter_by_pw3_and_by_resetting_code(any_card: Tuple[OpenPgpCard, Any]) -> None:
    driver, _ = any_card
    with pytest.raises(SecurityStatusError):  # by PW3 needs PW3
        driver.reset_retry_counter(b"111111")
    with pytest.raises(AuthBlockedError):  # no resetting code is set
        driver.reset_retry_counter(b"111111", resetting_code=b"resetme1")
    admin(driver)
    driver.reset_retry_counter(b"111111")
    driver.verify(Pw.PW1, b"111111")
    driver.set_resetting_code(bytearray(b"resetme1"))
    assert driver.pw_status().rc_tries_left == 3
    for _ in range(3):
        with pytest.raises(WrongPinError):
            driver.verify(Pw.PW1, b"999999")
    with pytest.raises(WrongPinError):
        driver.reset_retry_counter(b"222222", resetting_code=b"resetmeX")
    assert driver.pw_status().rc_tries_left == 2
    driver.reset_retry_counter(b"222222", resetting_code=b"resetme1")
    assert driver.pw_status().pw1_tries_left == 3
    driver.verify(Pw.PW1_SIGN, b"222222")
    driver.set_resetting_code(b"")
    assert driver.pw_status().rc_tries_left == 0


def test_set_pin_retries_on_a_yubikey() -> None:
    driver, _ = connect(VirtualYubiKey())
    with pytest.raises(SecurityStatusError):
        driver.set_pin_retries(5, 2, 6)
    admin(driver)
    driver.set_pin_retries(5, 2, 6)
    status = driver.pw_status()
    assert (status.pw1_tries_left, status.rc_tries_left, status.pw3_tries_left) == (5, 0, 6)


def test_kdf_pins_go_to_the_card_hashed() -> None:
    """With the KDF-DO set (ykman's iterated and salted S2K), the card compares hashes:
    the plain PIN is refused without a try lost, the derived one opens it."""
    driver, _ = connect(VirtualOpenPgpCard())
    salts = {name: os.urandom(8) for name in ("pw1", "rc", "pw3")}
    count = 0x780000

    def s2k(salt: bytes, pin: bytes) -> bytes:  # RFC 4880 3.7.1.3, written out
        data = salt + pin
        return hashlib.sha256((data * (count // len(data) + 1))[:count]).digest()

    kdf = Kdf(KdfAlgorithm.ITERSALTED_S2K, KdfHash.SHA256, count, salts["pw1"], salts["rc"], salts["pw3"],
              s2k(salts["pw1"], PW1), s2k(salts["pw3"], PW3))
    assert kdf.derive(Password.USER, PW1) == s2k(salts["pw1"], PW1)
    assert kdf.derive(Password.ADMIN, bytearray(PW3)) == s2k(salts["pw3"], PW3)
    admin(driver)
    driver.put_kdf(kdf)
    read = driver.kdf()
    assert read == kdf and read.active
    with pytest.raises(IncorrectParametersError):
        driver.verify(Pw.PW1, PW1)
    assert driver.pw_status().pw1_tries_left == 3
    driver.verify(Pw.PW1, read.derive(Password.USER, PW1))
    driver.verify(Pw.PW3, read.derive(Password.ADMIN, PW3))
    driver.put_kdf(Kdf())
    assert not driver.kdf().active
    driver.verify(Pw.PW1, PW1)
    fresh = Kdf.iterated_salted_s2k()
    assert fresh.iteration_count == count and len({fresh.salt_pw1, fresh.salt_rc, fresh.salt_pw3}) == 3
    assert fresh.initial_hash_pw1 == s2k(fresh.salt_pw1, PW1)
    admin(driver)
    driver.put_kdf(fresh)
    driver.verify(Pw.PW3, driver.kdf().derive(Password.ADMIN, PW3))


# --------------------------------------------------------------------- keys

KEYGEN = [
    (KeyRef.SIG, "ecdsa-secp256r1"),
    (KeyRef.SIG, "eddsa-ed25519"),
    (KeyRef.DEC, "ecdh-x25519"),
    (KeyRef.DEC, "ecdh-brainpoolP384r1"),
    (KeyRef.AUT, "ecdsa-secp521r1"),
    (KeyRef.AUT, "rsa2048"),
]


def attributes_named(ref: KeyRef, name: str) -> Any:
    if name.startswith("rsa"):
        return RsaAttributes(int(name[3:]))
    return EcAttributes.for_key(ref, curve(name.split("-", 1)[1]))


@pytest.mark.parametrize("ref,name", KEYGEN)
def test_generate_and_read_public_key(ref: KeyRef, name: str) -> None:
    driver, _ = connect(VirtualOpenPgpCard())
    attributes = attributes_named(ref, name)
    with pytest.raises(SecurityStatusError):
        driver.generate_key(ref, attributes)
    admin(driver)
    driver.set_algorithm_attributes(ref, attributes)
    data = driver.application_related_data()
    assert data.algorithm_attributes[ref] == attributes
    public = driver.generate_key(ref, attributes)
    assert driver.read_public_key(ref, attributes) == public
    assert driver.application_related_data().key_information[ref] is KeyStatus.GENERATED
    if isinstance(public, rsa.RSAPublicKey):
        assert public.key_size == 2048
    else:
        assert len(point_bytes(public)) == attributes.curve.point_length


def test_reading_an_empty_slot() -> None:
    driver, _ = connect(VirtualOpenPgpCard())
    with pytest.raises(ReferenceNotFoundError):
        driver.read_public_key(KeyRef.SIG, RsaAttributes(2048))


def test_metadata_writes_fingerprint_time_ca_and_attributes_delete_the_key() -> None:
    driver, _ = connect(VirtualYubiKey())
    admin(driver)
    attributes = EcAttributes.for_key(KeyRef.SIG, curve("secp256r1"))
    driver.set_algorithm_attributes(KeyRef.SIG, attributes)
    driver.generate_key(KeyRef.SIG, attributes)
    driver.set_fingerprint(KeyRef.SIG, bytes(range(20)))
    driver.set_ca_fingerprint(KeyRef.DEC, bytes(range(20, 40)))
    driver.set_generation_time(KeyRef.SIG, 1767225600)
    data = driver.application_related_data()
    assert data.fingerprint(KeyRef.SIG) == bytes(range(20)) and data.generation_time(KeyRef.SIG) == 1767225600
    assert data.ca_fingerprints[KeyRef.DEC] == bytes(range(20, 40))
    with pytest.raises(ValueError):
        driver.set_fingerprint(KeyRef.SIG, b"short")
    driver.set_algorithm_attributes(KeyRef.SIG, attributes)  # the same value still deletes the key
    data = driver.application_related_data()
    assert data.key_information[KeyRef.SIG] is KeyStatus.NONE and data.fingerprint(KeyRef.SIG) is None
    with pytest.raises(ReferenceNotFoundError):
        driver.read_public_key(KeyRef.SIG, attributes)


def imported(driver: OpenPgpCard, ref: KeyRef, private_key: Any) -> Any:
    attributes = attributes_for_private_key(ref, private_key)
    driver.set_algorithm_attributes(ref, attributes)
    driver.import_key(ref, attributes, private_key)
    assert driver.read_public_key(ref, attributes) == private_key.public_key()
    assert driver.application_related_data().key_information[ref] is KeyStatus.IMPORTED
    return attributes


@pytest.mark.parametrize("kind", CARDS)
def test_rsa_sign_decipher_and_authenticate(kind: str) -> None:
    driver, card = connect(make_card(kind))
    admin(driver)
    sig, dec, aut = rsa_key(2048), rsa_key(3072), rsa_key(2048)
    for ref, key in ((KeyRef.SIG, sig), (KeyRef.DEC, dec), (KeyRef.AUT, aut)):
        imported(driver, ref, key)
    digest = hashlib.sha256(b"openpgp").digest()
    with pytest.raises(SecurityStatusError):
        driver.sign(digest_info("sha256", digest))
    driver.verify(Pw.PW1_SIGN, PW1)
    signature = driver.sign(digest_info("sha256", digest))
    sig.public_key().verify(signature, b"openpgp", padding.PKCS1v15(), hashes.SHA256())
    assert driver.signature_counter() == 1
    driver.verify(Pw.PW1, PW1)
    ciphertext = dec.public_key().encrypt(b"session key", padding.PKCS1v15())
    assert driver.decipher(ciphertext) == b"session key"
    auth = driver.internal_authenticate(digest_info("sha512", hashlib.sha512(b"ssh").digest()))
    aut.public_key().verify(auth, b"ssh", padding.PKCS1v15(), hashes.SHA512())


@pytest.mark.parametrize("kind", ("yubikey-5.7.2", "openpgp"))
def test_ec_sign_ecdh_and_authenticate(kind: str) -> None:
    driver, _ = connect(make_card(kind))
    admin(driver)
    sig = ec.generate_private_key(ec.SECP384R1())
    dec = ec.generate_private_key(ec.SECP256R1())
    aut = ec.generate_private_key(ec.BrainpoolP256R1())
    for ref, key in ((KeyRef.SIG, sig), (KeyRef.DEC, dec), (KeyRef.AUT, aut)):
        imported(driver, ref, key)
    driver.verify(Pw.PW1_SIGN, PW1)
    digest = hashlib.sha384(b"ecdsa").digest()
    raw = driver.sign(digest)
    assert len(raw) == 96
    sig.public_key().verify(ecdsa_der(raw), digest, ec.ECDSA(Prehashed(hashes.SHA384())))
    driver.verify(Pw.PW1, PW1)
    peer = ec.generate_private_key(ec.SECP256R1())
    assert driver.ecdh(point_bytes(peer.public_key())) == peer.exchange(ec.ECDH(), dec.public_key())
    challenge = hashlib.sha256(b"auth").digest()
    aut.public_key().verify(ecdsa_der(driver.internal_authenticate(challenge)), challenge,
                            ec.ECDSA(Prehashed(hashes.SHA256())))


def test_25519_sign_and_ecdh() -> None:
    driver, _ = connect(VirtualYubiKey())
    admin(driver)
    sig, dec = ed25519.Ed25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    imported(driver, KeyRef.SIG, sig)
    imported(driver, KeyRef.DEC, dec)
    driver.verify(Pw.PW1_SIGN, PW1)
    sig.public_key().verify(driver.sign(b"a message, not a hash"), b"a message, not a hash")
    driver.verify(Pw.PW1, PW1)
    peer = x25519.X25519PrivateKey.generate()
    assert driver.ecdh(point_bytes(peer.public_key())) == peer.exchange(dec.public_key())


def test_p521_ecdh_point_needs_two_length_bytes() -> None:
    """A P-521 point is 133 bytes: the A6/7F49/86 wrapper uses 81 xx lengths."""
    driver, _ = connect(VirtualOpenPgpCard())
    admin(driver)
    dec = ec.generate_private_key(ec.SECP521R1())
    imported(driver, KeyRef.DEC, dec)
    driver.verify(Pw.PW1, PW1)
    peer = ec.generate_private_key(ec.SECP521R1())
    assert driver.ecdh(point_bytes(peer.public_key())) == peer.exchange(ec.ECDH(), dec.public_key())


def test_import_refuses_a_key_that_does_not_fit() -> None:
    driver, _ = connect(VirtualOpenPgpCard())
    with pytest.raises(ValueError):
        import_template(KeyRef.SIG, RsaAttributes(3072), rsa_key(2048))
    with pytest.raises(ValueError):
        import_template(KeyRef.SIG, EcAttributes.for_key(KeyRef.SIG, curve("secp384r1")),
                        ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValueError):
        attributes_for_private_key(KeyRef.SIG, ec.generate_private_key(ec.SECP224R1()))
    admin(driver)
    with pytest.raises(IncorrectParametersError):  # C1 must be listed in FA
        driver.set_algorithm_attributes(KeyRef.SIG, RsaAttributes(1024))


def test_import_template_layouts() -> None:
    """The 4D extended header list in each RSA format and with an EC public key
    (the simulator takes only the formats its FA lists, so the rest is checked here)."""
    key = rsa_key(2048)
    numbers = key.private_numbers()
    for fmt, tags in ((RsaImportFormat.STANDARD, [0x91, 0x92, 0x93]),
                      (RsaImportFormat.STANDARD_WITH_MODULUS, [0x91, 0x92, 0x93, 0x97]),
                      (RsaImportFormat.CRT, [0x91, 0x92, 0x93, 0x94, 0x95, 0x96]),
                      (RsaImportFormat.CRT_WITH_MODULUS, [0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97])):
        parts = parse_import(import_template(KeyRef.DEC, RsaAttributes(2048, 17, fmt), key))
        assert parts["crt"] == bytes.fromhex("B800") and list(parts["parts"]) == tags
        values = parts["parts"]
        assert values[0x91] == b"\x01\x00\x01" and int.from_bytes(values[0x92], "big") == numbers.p
        assert len(values[0x93]) == 128
        if 0x97 in values:
            assert int.from_bytes(values[0x97], "big") == numbers.public_numbers.n
        if 0x94 in values:
            assert int.from_bytes(values[0x94], "big") == numbers.iqmp
    ec_key = ec.generate_private_key(ec.SECP521R1())
    with_public = EcAttributes(AlgorithmId.ECDSA, curve("secp521r1"), EcImportFormat.WITH_PUBLIC_KEY)
    parts = parse_import(import_template(KeyRef.ATT, with_public, ec_key))
    assert parts["crt"] == bytes.fromhex("B6038401 81".replace(" ", ""))
    assert len(parts["parts"][0x92]) == 66 and parts["parts"][0x99] == point_bytes(ec_key.public_key())
    x_key = x25519.X25519PrivateKey.generate()
    raw = x_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                              serialization.NoEncryption())
    parts = parse_import(import_template(KeyRef.DEC, EcAttributes.for_key(KeyRef.DEC, curve("x25519")), x_key))
    assert parts["parts"][0x92] == raw[::-1]  # big-endian, as OpenPGP writes its MPI


def parse_import(template: bytes) -> Dict[str, Any]:
    """Split 4D { CRT, 7F48, 5F48 } back into its parts (an independent reading)."""
    body = Tlv(template)
    assert body.tag == 0x4D
    crt, offset = Tlv.parse_from(body.value)
    rest = tlv_dict(body.value[offset:])
    header, values = rest[0x7F48], rest[0x5F48]
    parts: Dict[int, bytes] = {}
    position = start = 0
    while position < len(header):
        tag, length = header[position], header[position + 1]
        position += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(header[position:position + count], "big")
            position += count
        parts[tag] = values[start:start + length]
        start += length
    assert start == len(values)
    return {"crt": bytes(crt), "parts": parts}


def test_signature_pin_valid_for_one_signature() -> None:
    driver, _ = connect(VirtualOpenPgpCard())
    admin(driver)
    imported(driver, KeyRef.SIG, ec.generate_private_key(ec.SECP256R1()))
    driver.set_signature_pin_policy(valid_for_several_signatures=False)
    assert not driver.pw_status().pw1_valid_for_several_signatures
    driver.verify(Pw.PW1_SIGN, PW1)
    driver.sign(bytes(32))
    with pytest.raises(SecurityStatusError):
        driver.sign(bytes(32))
    driver.set_signature_pin_policy(valid_for_several_signatures=True)
    driver.verify(Pw.PW1_SIGN, PW1)
    driver.sign(bytes(32))
    driver.sign(bytes(32))
    assert driver.signature_counter() == 3


# ------------------------------------------------------------- certificates


@pytest.mark.parametrize("kind", CARDS)
def test_cardholder_certificates_for_each_key(kind: str) -> None:
    """SELECT DATA + 7F21 reach three separate certificates; a YubiKey 5.4.3 needs the
    form with the extra length byte, later ones refuse it."""
    driver, _ = connect(make_card(kind))
    certificates = {ref: make_cert(ec.generate_private_key(ec.SECP256R1()), f"cert {ref.name}")
                    .public_bytes(serialization.Encoding.DER) for ref in (KeyRef.SIG, KeyRef.DEC, KeyRef.AUT)}
    assert all(driver.certificate(ref) == b"" for ref in certificates)
    admin(driver)
    for ref, der in certificates.items():
        driver.put_certificate(ref, der)
    for ref, der in certificates.items():
        assert driver.certificate(ref) == der
    big = os.urandom(2048)  # the most C0 allows: chained or extended, 1 + GET RESPONSEs
    driver.put_certificate(KeyRef.AUT, big)
    assert driver.certificate(KeyRef.AUT) == big
    driver.put_certificate(KeyRef.DEC, b"")
    assert driver.certificate(KeyRef.DEC) == b"" and driver.certificate(KeyRef.SIG) == certificates[KeyRef.SIG]
    with pytest.raises(ValueError):
        driver.select_certificate(KeyRef.ATT)
    quirky = driver.quirks.select_data_length_byte
    assert quirky is (kind == "yubikey-5.4.3")
    driver.quirks = CardQuirks(select_data_length_byte=not quirky)
    with pytest.raises(IncorrectParametersError):
        driver.certificate(KeyRef.SIG)


# ------------------------------------------------------- random, life cycle


@pytest.mark.parametrize("extended", (True, False))
def test_get_challenge(extended: bool) -> None:
    card = VirtualOpenPgpCard()
    driver, _ = connect(card, limits=ApduLimits(extended, True, 3061 if extended else 255))
    answers = [driver.get_challenge(length) for length in (1, 8, 100, 300)]
    assert [len(answer) for answer in answers] == [1, 8, 100, 300]
    assert len(set(answers[1:])) == 3
    with pytest.raises(ValueError):
        driver.get_challenge(0)


def test_terminate_and_activate() -> None:
    driver, _ = connect(VirtualOpenPgpCard())
    driver.change_reference_data(Pw.PW1, PW1, b"999999")
    with pytest.raises(ConditionsNotSatisfiedError):  # needs PW3 verified (or blocked)
        driver.terminate()
    admin(driver)
    driver.terminate()
    with pytest.raises(TerminatedError) as terminated:
        driver.select()
    assert terminated.value.sw == 0x6285
    driver.activate()
    driver.select()
    driver.verify(Pw.PW1, PW1)  # factory values again


@pytest.mark.parametrize("kdf", (False, True))
def test_factory_reset_without_a_pin(kdf: bool) -> None:
    driver, _ = connect(VirtualYubiKey())
    admin(driver)
    imported(driver, KeyRef.SIG, ec.generate_private_key(ec.SECP256R1()))
    if kdf:
        driver.put_kdf(Kdf.iterated_salted_s2k(KdfHash.SHA512, 1024))
    driver.change_reference_data(Pw.PW3, driver.kdf().derive(Password.ADMIN, PW3),
                                 driver.kdf().derive(Password.ADMIN, b"forgotten admin"))
    driver.select()
    driver.factory_reset()
    data = driver.application_related_data()
    assert data.key_information[KeyRef.SIG] is KeyStatus.NONE and data.pw_status.pw3_tries_left == 3
    assert data.key_information[KeyRef.ATT] is KeyStatus.IMPORTED  # the attestation key stays
    assert not driver.kdf().active
    driver.verify(Pw.PW3, PW3)


# --------------------------------------------------------- Yubico's parts


def test_touch_policy() -> None:
    card = VirtualYubiKey()
    driver, _ = connect(card)
    admin(driver)
    imported(driver, KeyRef.SIG, ec.generate_private_key(ec.SECP256R1()))
    driver.set_uif(KeyRef.SIG, Uif.ON)
    assert driver.uif(KeyRef.SIG) is Uif.ON and driver.application_related_data().uif[KeyRef.SIG] is Uif.ON
    driver.verify(Pw.PW1_SIGN, PW1)
    touches = card.touch_count
    driver.sign(bytes(32))
    assert card.touch_count == touches + 1
    card.touch_mode = "timeout"
    with pytest.raises(TouchTimeoutError) as timeout:
        driver.sign(bytes(32))
    assert timeout.value.sw == 0x6600
    card.touch_mode = "confirm"
    driver.set_uif(KeyRef.DEC, Uif.FIXED)
    with pytest.raises(ConditionsNotSatisfiedError):  # fixed until the application is reset
        driver.set_uif(KeyRef.DEC, Uif.OFF)
    assert Uif.FIXED.is_fixed and Uif.CACHED.requires_touch and not Uif.OFF.requires_touch


def test_attest_a_generated_key() -> None:
    card = VirtualYubiKey()
    driver, _ = connect(card)
    admin(driver)
    attributes = EcAttributes.for_key(KeyRef.SIG, curve("secp256r1"))
    driver.set_algorithm_attributes(KeyRef.SIG, attributes)
    public = driver.generate_key(KeyRef.SIG, attributes)
    with pytest.raises(SecurityStatusError):  # after PW1
        driver.attest(KeyRef.SIG)
    driver.verify(Pw.PW1_SIGN, PW1)
    statement = x509.load_der_x509_certificate(driver.attest(KeyRef.SIG))
    assert statement.public_key() == public
    signer = x509.load_der_x509_certificate(driver.attestation_certificate())
    signer_key = signer.public_key()
    assert isinstance(signer_key, rsa.RSAPublicKey)
    assert statement.signature_hash_algorithm is not None
    signer_key.verify(statement.signature, statement.tbs_certificate_bytes, padding.PKCS1v15(),
                      statement.signature_hash_algorithm)
    assert signer.issuer == card.openpgp.attestation_root.subject
    with pytest.raises(ValueError):
        driver.attest(KeyRef.ATT)
    imported(driver, KeyRef.AUT, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(IncorrectParametersError):  # only keys the card generated
        driver.attest(KeyRef.AUT)


def test_get_version_only_on_a_yubikey() -> None:
    from cardki.apdu import InsNotSupportedError

    assert connect(VirtualYubiKey(firmware=(5, 4, 3)))[0].get_version() == (5, 4, 3)
    with pytest.raises(InsNotSupportedError):
        connect(VirtualOpenPgpCard(), quirks=CardQuirks())[0].get_version()


def test_quirks_by_yubikey_firmware() -> None:
    assert CardQuirks.for_yubikey((5, 4, 3)) == CardQuirks(True, False, True)
    assert CardQuirks.for_yubikey((5, 7, 2)) == CardQuirks(False, False, False)
    assert CardQuirks.for_yubikey((4, 3, 7)) == CardQuirks(True, True, False)


# ------------------------------------------------ APDU format and secrets


def test_short_apdus_chain_commands_and_collect_answers() -> None:
    """With short APDUs only, an RSA 3072 import goes as a CLA-chained command and its
    384-byte signature comes back with GET RESPONSE."""
    card = VirtualOpenPgpCard()
    transport = InProcessTransport(card)
    recorder = RecordingTransport(transport)
    driver = OpenPgpCard(SmartCardProtocol(recorder))
    driver.select()
    admin(driver)
    key = rsa_key(3072)
    imported(driver, KeyRef.SIG, key)
    driver.verify(Pw.PW1_SIGN, PW1)
    signature = driver.sign(digest_info("sha256", hashlib.sha256(b"short").digest()))
    key.public_key().verify(signature, b"short", padding.PKCS1v15(), hashes.SHA256())
    commands = [line for line in recorder.text().splitlines() if line.startswith(">")]
    assert any(line.startswith("> 10 DB 3F FF") for line in commands)  # a chain link of the import
    assert any(line.startswith("> 00 C0 00 00") for line in commands)  # GET RESPONSE


def test_secrets_never_reach_a_recording() -> None:
    """PINs, the resetting code, imported keys and what DECIPHER answers are redacted."""
    card = VirtualOpenPgpCard()
    recorder = RecordingTransport(InProcessTransport(card))
    driver = OpenPgpCard(ApduLimits(True, True, 3061).protocol(recorder))
    driver.select()
    driver.verify(Pw.PW3, PW3)
    key = rsa_key(2048)
    imported(driver, KeyRef.DEC, key)
    driver.set_resetting_code(b"R3setC0de")
    driver.change_reference_data(Pw.PW1, PW1, b"S3cretPin")
    driver.verify(Pw.PW1, b"S3cretPin")
    secret_message = b"the session key 0123456789abcdef"
    assert driver.decipher(key.public_key().encrypt(secret_message, padding.PKCS1v15())) == secret_message
    ec_key = ec.generate_private_key(ec.SECP256R1())
    imported(driver, KeyRef.DEC, ec_key)
    driver.verify(Pw.PW1, b"S3cretPin")
    peer = ec.generate_private_key(ec.SECP256R1())
    shared = driver.ecdh(point_bytes(peer.public_key()))
    assert shared == peer.exchange(ec.ECDH(), ec_key.public_key())
    text = recorder.text().replace(" ", "").upper()
    p = key.private_numbers().p.to_bytes(128, "big")
    scalar = ec_key.private_numbers().private_value.to_bytes(32, "big")
    for secret in (PW1, PW3, b"R3setC0de", b"S3cretPin", secret_message, p[:16], scalar[:16], shared[:16]):
        assert secret.hex().upper() not in text
    assert "REDACTED" in text


def test_apdu_counts() -> None:
    """What each step costs a token, in APDUs (extended APDUs, as both cards announce):
    opening a YubiKey (SELECT, GET VERSION, GET DATA 6E), the first signature (VERIFY
    81, PSO:CDS), a certificate (SELECT DATA, GET DATA), an attestation (ATTEST + 2)."""
    card = VirtualYubiKey()
    driver, _ = connect(card)
    driver.application_related_data()
    assert driver.protocol.apdu_count == 3
    admin(driver)
    attributes = EcAttributes.for_key(KeyRef.SIG, curve("secp256r1"))
    driver.set_algorithm_attributes(KeyRef.SIG, attributes)
    driver.generate_key(KeyRef.SIG, attributes)
    driver.put_certificate(KeyRef.AUT, os.urandom(2048))
    assert cost_of(driver, lambda: (driver.verify(Pw.PW1_SIGN, PW1), driver.sign(bytes(32)))) == 2
    assert cost_of(driver, lambda: driver.certificate(KeyRef.AUT)) == 2
    assert cost_of(driver, lambda: driver.attest(KeyRef.SIG)) == 3
    short = OpenPgpCard(SmartCardProtocol(InProcessTransport(card)))  # short APDUs only
    short.select()
    assert cost_of(short, lambda: short.certificate(KeyRef.AUT)) == 2 + 7  # 2048 bytes: 256 + 7 GET RESPONSEs


def cost_of(driver: OpenPgpCard, step: Any) -> int:
    before = driver.protocol.apdu_count
    step()
    return driver.protocol.apdu_count - before
