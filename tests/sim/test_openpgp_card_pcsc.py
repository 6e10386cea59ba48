"""The OpenPGP card driver through the real stack: pcscd -> vpcd -> the virtual
card, on the plain OpenPGP 3.4 card and on the YubiKey (where PIV sits next to
it): open the card in its reader, generate a key, sign once, check the
signature with cryptography."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from cardki.curves import curve_by_name
from cardki.slot.pcsc import PcscTransport
from cardki.token.openpgp import ApduLimits, CardQuirks, EcAttributes, KeyRef, OpenPgpCard, Pw

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("card", ("openpgp", "yubikey"))
def test_open_generate_and_sign_through_pcscd(virtual_card_factory, card: str) -> None:
    handle = virtual_card_factory(card=card)
    with PcscTransport(handle.reader_name) as transport, transport.transaction():
        driver = OpenPgpCard(ApduLimits.from_atr(transport.atr).protocol(transport))
        driver.select()
        if card == "yubikey":
            driver.quirks = CardQuirks.for_yubikey(driver.get_version())
        data = driver.application_related_data()
        assert data.aid.serial_number == handle.serial
        assert data.apdu_limits.extended and driver.protocol.extended
        driver.verify(Pw.PW3, b"12345678")
        p256 = curve_by_name("secp256r1")
        assert p256 is not None
        attributes = EcAttributes.for_key(KeyRef.SIG, p256)
        driver.set_algorithm_attributes(KeyRef.SIG, attributes)
        public = driver.generate_key(KeyRef.SIG, attributes)
        assert isinstance(public, ec.EllipticCurvePublicKey)
        driver.verify(Pw.PW1_SIGN, b"123456")
        digest = hashlib.sha256(b"signed through pcscd").digest()
        raw = driver.sign(digest)
        assert driver.signature_counter() == 1
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
