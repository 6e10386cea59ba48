"""OpenPGP card commands (OpenPGP smart card spec 3.4 plus Yubico's extensions),
one method per command.

This module formats commands and parses answers; it knows nothing of Cryptoki,
logins, retries or card sharing (that is the token's). Each method is one
exchange (plus chaining and GET RESPONSE done by the protocol), except where its
docstring says otherwise, and lets :class:`cardki.apdu.ApduError` subclasses
through, with three translations this application needs:

* a wrong PIN: YubiKeys since 4.0 answer 6982, not 63Cx, so VERIFY, CHANGE
  REFERENCE DATA and RESET RETRY COUNTER (by resetting code) raise
  :class:`WrongPinError` for it (with unknown tries left: :meth:`pw_status` reads them);
* 6285 to SELECT: :class:`TerminatedError` (ACTIVATE FILE restores the application);
* 6600: :class:`TouchTimeoutError` (nobody touched the card for a key with a touch policy).

An answer that cannot be what the command asks for raises
:class:`MalformedResponseError`, never IndexError, KeyError or a bare ValueError.
PINs, keys, and what a decipher returns travel marked secret, so traces and
recorded transcripts redact them; PIN arguments may be ``bytearray`` buffers the
caller wipes afterwards (nothing here keeps a copy).
"""

from __future__ import annotations

from typing import Tuple

from cardki.apdu import (
    ApduError,
    ApplicationNotFoundError,
    Command,
    IncorrectParametersError,
    InsNotSupportedError,
    MalformedResponseError,
    NotFoundError,
    ReferenceNotFoundError,
    SecurityStatusError,
    SmartCardProtocol,
    Tlv,
    TouchTimeoutError,
    WrongLengthError,
    WrongPinError,
)
from cardki.apdu.errors import SW_OK, error_for_sw
from cardki.named_tuple import NamedTuple

from ...log import get_logger
from .application import SELECT
from .constants import (
    CLA_YUBICO,
    FEATURE_BUTTON,
    GENERATE,
    PSO_CDS,
    PSO_DECIPHER,
    READ_PUBLIC_KEY,
    RESET_BY_PW3,
    RESET_BY_RESETTING_CODE,
    SW_TOUCH_TIMEOUT,
    VERIFY_RESET,
    Do,
    Ins,
    KdfHash,
    KeyRef,
    Pw,
    Uif,
)
from .data import (
    AlgorithmAttributes,
    AlgorithmInformation,
    ApplicationRelatedData,
    CardholderData,
    Kdf,
    PwStatus,
    parse_signature_counter,
    parse_uif,
    parse_version,
)
from .keys import PrivateKey, PublicKey, import_template, parse_public_key
from .profile import CardQuirks

logger = get_logger(__name__)

Secret = bytes | bytearray
"""PINs and resetting codes: a ``bytearray`` lets the caller wipe its buffer."""

#: SELECT DATA's data: 60 { 5C 02 7F 21 } -- the 7F21 instance to address.
SELECT_DATA_CERTIFICATE = bytes(Tlv(0x60, bytes(Tlv(0x5C, Do.CARDHOLDER_CERTIFICATE.to_bytes(2, "big")))))
#: What blocks a PIN in :meth:`OpenPgpCard.factory_reset` (any wrong value of the right length).
_WRONG_PIN = b"\x00" * 8
#: The most one short GET CHALLENGE may ask for.
_SHORT_LE = 256


#: Status words this application gives a meaning the shared table cannot: 6600 is
#: GnuPG's SW_ACK_TIMEOUT, nobody touched the card for a key with a touch policy.
#: (6285, a terminated application, is ISO 7816-4's and in the shared table.)
_OPENPGP_ERRORS = {SW_TOUCH_TIMEOUT: TouchTimeoutError}


#: The quirks of a card that follows the spec: none.
SPEC_CONFORMING = CardQuirks()


class PinStatus(NamedTuple):
    """What a card says about one password without being sent it."""

    verified: bool | None
    """None when the card cannot say (YubiKey 5: no empty VERIFY)."""
    tries_left: int | None
    """None when the password is verified (the card answers 9000 then, no count)."""

    @property
    def blocked(self) -> bool:
        return self.tries_left == 0


class OpenPgpCard:
    """The OpenPGP application's commands over one :class:`SmartCardProtocol`.

    The protocol decides the APDU format: give it the card's
    :class:`~cardki.token.openpgp.data.ApduLimits` (extended APDUs and how much
    data one may carry; :meth:`ApduLimits.from_atr` before the first APDU, or
    :attr:`ApplicationRelatedData.apdu_limits` from 6E). Without extended APDUs
    long commands go as CLA-chained short APDUs and long answers come with GET
    RESPONSE, which every OpenPGP 3.x card does.
    """

    def __init__(self, protocol: SmartCardProtocol, *, quirks: CardQuirks = SPEC_CONFORMING) -> None:
        self.protocol = protocol
        self.quirks = quirks

    @property
    def le_max(self) -> int:
        """"As much as you have": with extended APDUs a certificate or an RSA 4096
        result comes in one answer instead of 256-byte GET RESPONSE pieces (follows
        :meth:`SmartCardProtocol.configure`)."""
        return 65536 if self.protocol.extended else 0

    # ---------------------------------------------------------------- transport
    def _send(self, command: Command) -> bytes:
        response = self.protocol.send_raw(command)
        if response.sw != SW_OK:
            raise self._error(response.sw)
        return response.data

    @staticmethod
    def _error(sw: int) -> ApduError:
        special = _OPENPGP_ERRORS.get(sw)
        return special(sw) if special is not None else error_for_sw(sw)

    def _command(self, ins: int, p1: int = 0, p2: int = 0, data: bytes = b"", *, le: bool = False,
                 sensitive: bool = False, sensitive_response: bool = False, cla: int = 0x00) -> bytes:
        return self._send(Command(cla, ins, p1, p2, bytes(data), self.le_max if le else None,
                                  sensitive, sensitive_response))

    # --------------------------------------------------------- selection, life
    def select(self) -> None:
        """SELECT the application (:data:`.application.SELECT`: by its RID + application
        byte, as GnuPG sends it). Drops every password's verified state."""
        try:
            self._send(SELECT)
        except NotFoundError as exc:
            raise ApplicationNotFoundError(exc.sw, f"SW {exc.sw:04X}: no OpenPGP application") from None

    def terminate(self) -> None:
        """TERMINATE DF: needs PW3 verified, or PW3 blocked (then anyone may reset the card)."""
        self._command(Ins.TERMINATE_DF)

    def activate(self) -> None:
        """ACTIVATE FILE: a terminated application comes back in factory state
        (default PINs, no keys; a YubiKey keeps its attestation key)."""
        self._command(Ins.ACTIVATE_FILE)

    def factory_reset(self) -> None:
        """Reset the application without knowing a PIN, as ykman and gpg do: block PW1
        and PW3 with wrong values (as many as their tries left in C4; of the KDF's
        hash length on a KDF card, which does not count values of another length),
        then TERMINATE DF and ACTIVATE FILE. Several APDUs."""
        status = self.pw_status()
        kdf = self.kdf()
        wrong = _WRONG_PIN if not kdf.active else bytes(32 if kdf.hash_algorithm is KdfHash.SHA256 else 64)
        for pw, tries in ((Pw.PW1_SIGN, status.pw1_tries_left), (Pw.PW3, status.pw3_tries_left)):
            for _ in range(tries):
                try:
                    self.verify(pw, wrong)
                except ApduError:
                    pass  # wrong (one try less) or blocked already
        self.terminate()
        self.activate()

    def get_version(self) -> Tuple[int, int, int]:
        """Yubico's GET VERSION: the firmware version (a plain card answers 6D00)."""
        return parse_version(self._command(Ins.GET_VERSION, le=True))

    # -------------------------------------------------------------- data objects
    def get_data(self, tag: int, *, sensitive: bool = False) -> bytes:
        """GET DATA: a DO's value as the card answers it (constructed DOs with their tag)."""
        if not 0 <= tag <= 0xFFFF:
            raise ValueError(f"DO tag {tag:X} has more than two bytes")
        return self._command(Ins.GET_DATA, tag >> 8, tag & 0xFF, le=True, sensitive_response=sensitive)

    def put_data(self, tag: int, value: bytes, *, sensitive: bool = False) -> None:
        """PUT DATA (even INS): write a DO (mostly after PW3; an empty value deletes)."""
        if not 0 <= tag <= 0xFFFF:
            raise ValueError(f"DO tag {tag:X} has more than two bytes")
        self._command(Ins.PUT_DATA, tag >> 8, tag & 0xFF, value, sensitive=sensitive)

    def application_related_data(self) -> ApplicationRelatedData:
        return ApplicationRelatedData.parse(self.get_data(Do.APPLICATION_RELATED_DATA))

    def aid(self) -> bytes:
        """DO 4F alone: what OpenSC reads to see whether the application is still selected."""
        return self.get_data(Do.AID)

    def cardholder_data(self) -> CardholderData:
        return CardholderData.parse(self.get_data(Do.CARDHOLDER_RELATED_DATA))

    def login_data(self) -> bytes:
        return self.get_data(Do.LOGIN_DATA)

    def url(self) -> bytes:
        """DO 5F50: where the public keys can be fetched."""
        return self.get_data(Do.URL)

    def signature_counter(self) -> int:
        """The digital signature counter from DO 7A (never cache it: each PSO:CDS counts)."""
        return parse_signature_counter(self.get_data(Do.SECURITY_SUPPORT_TEMPLATE))

    def pw_status(self) -> PwStatus:
        """DO C4 alone (cheaper than 6E): PW1's signature policy, lengths, tries left."""
        return PwStatus.parse(self.get_data(Do.PW_STATUS))

    def uif(self, ref: KeyRef) -> Uif:
        """The key's touch policy (D6-D9; cards with a button)."""
        return parse_uif(self.get_data(ref.dos.uif))

    def algorithm_information(self) -> AlgorithmInformation | None:
        """DO FA: what each key accepts; None when the card has no FA (before 3.4,
        YubiKey before 5.2): the current attributes in 6E are then all it tells."""
        try:
            data = self.get_data(Do.ALGORITHM_INFORMATION)
        except (ReferenceNotFoundError, NotFoundError):
            return None
        information = AlgorithmInformation.parse(data)
        if self.quirks.fa_curve25519_errors:
            information = information.without_curve25519_errors()
        return information

    def kdf(self) -> Kdf:
        """DO F9: how PINs are to be sent; no KDF when the card has no F9."""
        try:
            return Kdf.parse(self.get_data(Do.KDF))
        except (ReferenceNotFoundError, NotFoundError):
            return Kdf()

    def put_kdf(self, kdf: Kdf) -> None:
        """PUT DATA F9 (after PW3): the card sets PW1 and PW3 back to their defaults (as
        hashes when a KDF is on) and deletes the resetting code."""
        self.put_data(Do.KDF, kdf.encode(), sensitive=True)

    # ------------------------------------------------------------ key metadata
    def set_algorithm_attributes(self, ref: KeyRef, attributes: AlgorithmAttributes) -> None:
        """PUT DATA C1/C2/C3/DA (after PW3). Deletes the key in ``ref``, even when the
        attributes do not change (ykman deletes keys this way)."""
        self.put_data(ref.dos.attributes, attributes.encode())

    def set_fingerprint(self, ref: KeyRef, fingerprint: bytes) -> None:
        """PUT DATA C7/C8/C9/DB: the key's OpenPGP fingerprint (20 bytes). OpenSC lists
        only keys with a fingerprint; gpg writes it after generation and import."""
        self.put_data(ref.dos.fingerprint, _exactly(fingerprint, 20, "a fingerprint"))

    def set_ca_fingerprint(self, ref: KeyRef, fingerprint: bytes) -> None:
        self.put_data(ref.dos.ca_fingerprint, _exactly(fingerprint, 20, "a CA fingerprint"))

    def set_generation_time(self, ref: KeyRef, timestamp: int) -> None:
        """PUT DATA CE/CF/D0/DD: seconds since 1970, 4 bytes."""
        if not 0 <= timestamp < 1 << 32:
            raise ValueError("a generation time is 4 bytes of seconds since 1970")
        self.put_data(ref.dos.generation_time, timestamp.to_bytes(4, "big"))

    def set_uif(self, ref: KeyRef, uif: Uif) -> None:
        """PUT DATA D6-D9 (after PW3): the key's touch policy. A FIXED one stays until
        the application is reset (the card answers 6985)."""
        self.put_data(ref.dos.uif, bytes([uif, FEATURE_BUTTON]))

    def set_signature_pin_policy(self, valid_for_several_signatures: bool) -> None:
        """PUT DATA C4 with one byte (after PW3): whether a VERIFY 81 is good for one
        PSO:CDS (00) or several (01)."""
        self.put_data(Do.PW_STATUS, b"\x01" if valid_for_several_signatures else b"\x00")

    # ------------------------------------------------------------- certificates
    def select_certificate(self, ref: KeyRef) -> None:
        """SELECT DATA: address the key's 7F21 instance (AUT 0, DEC 1, SIG 2) for the
        next GET DATA / PUT DATA 7F21. The selection lasts until the next SELECT."""
        occurrence = ref.certificate_occurrence
        if occurrence is None:
            raise ValueError(f"key {ref.name} has no cardholder certificate")
        data = SELECT_DATA_CERTIFICATE
        if self.quirks.select_data_length_byte:
            data = bytes([len(data)]) + data
        self._command(Ins.SELECT_DATA, occurrence, 0x04, data)

    def certificate(self, ref: KeyRef) -> bytes:
        """The key's cardholder certificate (b"" when there is none): SELECT DATA +
        GET DATA 7F21, two APDUs. A card without SELECT DATA (before 3.0) has one 7F21,
        the AUT key's."""
        try:
            self.select_certificate(ref)
        except InsNotSupportedError:
            if ref is not KeyRef.AUT:
                return b""
        return self.get_data(Do.CARDHOLDER_CERTIFICATE)

    def put_certificate(self, ref: KeyRef, der: bytes) -> None:
        """SELECT DATA + PUT DATA 7F21 (after PW3); b"" deletes the certificate."""
        self.select_certificate(ref)
        self.put_data(Do.CARDHOLDER_CERTIFICATE, der)

    # ---------------------------------------------------------------- passwords
    def verify(self, pw: Pw, pin: Secret) -> None:
        """VERIFY ``pin`` (already through the card's KDF, :meth:`Kdf.derive`) for
        ``pw``. A wrong one raises :class:`WrongPinError` (tries left unknown when the
        card answers 6982), a blocked one :class:`AuthBlockedError`."""
        if not pin:
            raise ValueError("an empty VERIFY asks for the status: use pin_status()")
        try:
            self._command(Ins.VERIFY, 0x00, pw, bytes(pin), sensitive=True)
        except SecurityStatusError as exc:
            raise WrongPinError(None, exc.sw) from None

    def pin_status(self, pw: Pw) -> PinStatus:
        """Whether ``pw`` is verified and its tries left, without sending a PIN: an
        empty VERIFY (9000 verified, 63Cx not, 6983 blocked), or the tries from C4 on
        a card whose empty VERIFY does not say (``quirks.empty_verify_status``, or an
        answer of 6A80/6700/6B00)."""
        if self.quirks.empty_verify_status:
            response = self.protocol.send_raw(Command(0x00, Ins.VERIFY, 0x00, pw))
            if response.sw == SW_OK:
                return PinStatus(True, None)
            if response.sw & 0xFFF0 == 0x63C0:
                return PinStatus(False, response.sw & 0x0F)
            if response.sw == 0x6983:
                return PinStatus(False, 0)
            error = self._error(response.sw)
            if not isinstance(error, (IncorrectParametersError, WrongLengthError)):
                raise error
        return PinStatus(None, self.pw_status().tries_left(pw.password))

    def unverify(self, pw: Pw) -> None:
        """VERIFY P1=FF: drop ``pw``'s verified state (spec 3.x; YubiKey 5.6.0+, older
        ones answer 6A86: re-SELECT instead, which drops every password's state)."""
        self._command(Ins.VERIFY, VERIFY_RESET, pw)

    def change_reference_data(self, pw: Pw, old: Secret, new: Secret) -> None:
        """CHANGE REFERENCE DATA for PW1 (81 and 82 are one password) or PW3: old || new
        (the card splits them at the current value's length)."""
        reference = Pw.PW3 if pw is Pw.PW3 else Pw.PW1_SIGN
        if not old or not new:
            raise ValueError("CHANGE REFERENCE DATA needs the old and the new value")
        try:
            self._command(Ins.CHANGE_REFERENCE_DATA, 0x00, reference, bytes(old) + bytes(new), sensitive=True)
        except SecurityStatusError as exc:
            raise WrongPinError(None, exc.sw) from None

    def reset_retry_counter(self, new_pin: Secret, *, resetting_code: Secret | None = None) -> None:
        """RESET RETRY COUNTER: a new PW1 with its tries restored, authorised by the
        resetting code (a wrong one: :class:`WrongPinError`) or, without one, by a
        verified PW3 (else :class:`SecurityStatusError`)."""
        if not new_pin:
            raise ValueError("RESET RETRY COUNTER needs the new PIN")
        if resetting_code is None:
            self._command(Ins.RESET_RETRY_COUNTER, RESET_BY_PW3, Pw.PW1_SIGN, bytes(new_pin), sensitive=True)
            return
        if not resetting_code:
            raise ValueError("an empty resetting code")
        try:
            self._command(Ins.RESET_RETRY_COUNTER, RESET_BY_RESETTING_CODE, Pw.PW1_SIGN,
                          bytes(resetting_code) + bytes(new_pin), sensitive=True)
        except SecurityStatusError as exc:
            raise WrongPinError(None, exc.sw) from None

    def set_resetting_code(self, code: Secret) -> None:
        """PUT DATA D3 (after PW3): the resetting code; b"" deletes it."""
        self.put_data(Do.RESETTING_CODE, bytes(code), sensitive=True)

    def set_pin_retries(self, pw1: int, rc: int, pw3: int) -> None:
        """Yubico's SET PIN RETRIES (4.3.1+, after PW3): tries for PW1, RC and PW3."""
        if not all(0 <= tries <= 0xFF for tries in (pw1, rc, pw3)):
            raise ValueError("tries are one byte each")
        self._command(Ins.SET_PIN_RETRIES, 0x00, 0x00, bytes([pw1, rc, pw3]))

    # --------------------------------------------------------------------- keys
    def generate_key(self, ref: KeyRef, attributes: AlgorithmAttributes) -> PublicKey:
        """GENERATE ASYMMETRIC KEY PAIR (after PW3) in ``ref``, whose current
        ``attributes`` (from 6E, or as just set) decide the key; returns its public key."""
        return parse_public_key(self._command(Ins.GENERATE_ASYMMETRIC_KEY_PAIR, GENERATE, 0x00, ref.crt, le=True),
                                attributes)

    def read_public_key(self, ref: KeyRef, attributes: AlgorithmAttributes) -> PublicKey:
        """The public key in ``ref`` (GENERATE with P1 = 81; always allowed). An empty
        slot answers 6A88 by the spec (YubiKeys were seen with 6982 and 6581)."""
        return parse_public_key(
            self._command(Ins.GENERATE_ASYMMETRIC_KEY_PAIR, READ_PUBLIC_KEY, 0x00, ref.crt, le=True), attributes)

    def import_key(self, ref: KeyRef, attributes: AlgorithmAttributes, private_key: PrivateKey) -> None:
        """PUT DATA 3FFF (odd INS, after PW3): ``private_key`` into ``ref``, whose
        attributes must already be ``attributes`` (set them first). Sent secret."""
        self._command(Ins.PUT_DATA_ODD, 0x3F, 0xFF, import_template(ref, attributes, private_key), sensitive=True)

    # --------------------------------------------------------- private key use
    def sign(self, data: bytes) -> bytes:
        """PSO: COMPUTE DIGITAL SIGNATURE with the signature key (after VERIFY 81):
        ``data`` is a DigestInfo (RSA; the card pads PKCS#1 v1.5), a hash (ECDSA;
        answer r || s) or the message (EdDSA). The card's answer, unchecked."""
        return self._command(Ins.PSO, *PSO_CDS, data, le=True)

    def internal_authenticate(self, data: bytes) -> bytes:
        """INTERNAL AUTHENTICATE with the authentication key (after VERIFY 82); input
        and answer as for :meth:`sign`."""
        return self._command(Ins.INTERNAL_AUTHENTICATE, 0x00, 0x00, data, le=True)

    def decipher(self, cryptogram: bytes) -> bytes:
        """PSO: DECIPHER with an RSA decryption key (after VERIFY 82): 00 (padding
        indicator) || the cryptogram, of exactly the modulus' length. The card removes
        the PKCS#1 v1.5 padding; the answer is secret."""
        return self._command(Ins.PSO, *PSO_DECIPHER, b"\x00" + bytes(cryptogram), le=True,
                             sensitive_response=True)

    def ecdh(self, peer_point: bytes) -> bytes:
        """PSO: DECIPHER with an ECDH or X25519 decryption key (after VERIFY 82): the
        peer's point (04 || X || Y, or 32 raw bytes) in A6 { 7F49 { 86 } }. The answer,
        the shared secret (x coordinate), is secret."""
        template = Tlv(0xA6, bytes(Tlv(Do.PUBLIC_KEY, bytes(Tlv(0x86, peer_point)))))
        return self._command(Ins.PSO, *PSO_DECIPHER, bytes(template), le=True, sensitive_response=True)

    def get_challenge(self, length: int) -> bytes:
        """GET CHALLENGE: ``length`` random bytes from the card (at most C0's maximum;
        short APDUs ask in pieces of 256)."""
        if length < 1:
            raise ValueError("GET CHALLENGE needs a length of at least 1")
        piece = 65536 if self.protocol.extended else _SHORT_LE
        result = b""
        while len(result) < length:
            want = min(piece, length - len(result))
            answer = self._send(Command(0x00, Ins.GET_CHALLENGE, 0x00, 0x00, le=want))
            if len(answer) != want:
                raise MalformedResponseError(f"GET CHALLENGE answered {len(answer)} bytes, asked for {want}")
            result += answer
        return result

    # ------------------------------------------------------------- Yubico parts
    def attest(self, ref: KeyRef) -> bytes:
        """Yubico's ATTEST (CLA 80, 5.2+, after VERIFY 81 or 82): the card signs a
        certificate for the key it generated in ``ref`` with attestation key 81 and
        writes it into the key's 7F21 instance. Returns that certificate (ATTEST,
        SELECT DATA, GET DATA: three APDUs)."""
        if ref is KeyRef.ATT:
            raise ValueError("the attestation key does not attest itself")
        self._command(Ins.ATTEST, ref, 0x00, cla=CLA_YUBICO)
        return self.certificate(ref)

    def attestation_certificate(self) -> bytes:
        """DO FC: attestation key 81's certificate (issued by Yubico's CA on a real key)."""
        return self.get_data(Do.ATTESTATION_CERTIFICATE)


def _exactly(value: bytes, length: int, what: str) -> bytes:
    if len(value) != length:
        raise ValueError(f"{what} is {length} bytes, not {len(value)}")
    return bytes(value)

