"""PIV administration in the Python API: what ``ykman piv`` does, as typed methods of a
session (``session.piv``, a :class:`PivSession`).

Slots are named as ykman names them (``"9a"``, ``0x9C``, ``"82"``, ``"f9"``, or
``"AUTHENTICATION"``, ``"SIGNATURE"``, ``"KEY_MANAGEMENT"``, ``"CARD_AUTH"``,
``"RETIRED1"``..); algorithms by the card's names (``"RSA2048"``, ``"ECCP256"``,
``"ED25519"``, ...: :class:`PivAlgorithm`); policies by :class:`PinPolicy` and
:class:`TouchPolicy`::

    with token.open(rw=True, so_pin=MANAGEMENT_KEY) as so:
        public = so.piv.generate("9a", "ECCP256", pin_policy=PinPolicy.ONCE, touch_policy=TouchPolicy.NEVER)
        so.piv.import_certificate("9a", certificate)
    with token.open(rw=True) as session:
        session.piv.change_pin("123456", "654321")
        result = session.piv.verify_attestation("9a", roots=[yubico_root])

What Cryptoki can say goes through the engine's Cryptoki calls, exactly as a C
caller's would (key generation with ykcs11's policy attributes, C_CreateObject,
C_DestroyObject, C_SetPIN); the rest -- the PUK, the management key's algorithm,
PIN retries, a reset, attestation -- through :meth:`Cryptoki.token_call` to the
PIV token's own methods. Writes need a read/write session; key and certificate
writes need the SO (the management key), as on the card. Errors are the engine's
:class:`~cardki.errors.CryptokiError` subclasses; an unknown slot or algorithm
name is a ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Sequence, Tuple, TypeVar

from . import errors
from .api_objects import Certificate, PublicKey, SignMixin, only
from .api_util import Pin, private_key_template
from .constants import CKA, CKK, CKM, CKO, CKS, CKU
from .cryptoki.session_table import pin_bytes
from .token.piv.constants import ManagementKeyAlgorithm, PinPolicy, PivAlgorithm, TouchPolicy

if TYPE_CHECKING:
    from cryptography import x509

    from .api import Session
    from .token.base import Token
    from .token.piv.attestation import Attestation
    from .token.piv.keys import PrivateKey as CryptographyPrivateKey
    from .token.piv.token import AccessStatus, PivToken

T = TypeVar("T")

#: ykman's names of the PIV key slots (``ykman piv keys generate AUTHENTICATION``).
SLOT_NAMES: Dict[str, int] = {
    "AUTHENTICATION": 0x9A, "SIGNATURE": 0x9C, "KEY_MANAGEMENT": 0x9D, "CARD_AUTH": 0x9E, "ATTESTATION": 0xF9,
    **{f"RETIRED{n}": 0x81 + n for n in range(1, 21)},
}

#: Key slot -> what the algorithm is as a Cryptoki key: (CKK, RSA bits, curve name).
_KEY_SHAPES: Dict[PivAlgorithm, Tuple[int, int | None, str | None]] = {
    PivAlgorithm.RSA1024: (CKK.RSA, 1024, None), PivAlgorithm.RSA2048: (CKK.RSA, 2048, None),
    PivAlgorithm.RSA3072: (CKK.RSA, 3072, None), PivAlgorithm.RSA4096: (CKK.RSA, 4096, None),
    PivAlgorithm.ECCP256: (CKK.EC, None, "secp256r1"), PivAlgorithm.ECCP384: (CKK.EC, None, "secp384r1"),
    PivAlgorithm.ED25519: (CKK.EC_EDWARDS, None, None), PivAlgorithm.X25519: (CKK.EC_MONTGOMERY, None, None),
}


def parse_slot(slot: str | int) -> int:
    """A PIV key slot's key reference from ``0x9A``, ``"9a"``, ``"0x9a"`` or ykman's name
    (``"AUTHENTICATION"``, ``"RETIRED3"``); ValueError for anything else."""
    if isinstance(slot, int) and not isinstance(slot, bool):
        value = slot
    elif isinstance(slot, str):
        text = slot.strip().upper().replace("-", "_")
        if text in SLOT_NAMES:
            return SLOT_NAMES[text]
        try:
            value = int(text[2:] if text.startswith("0X") else text, 16)
        except ValueError:
            raise ValueError("not a PIV slot (9a, 9c, 9d, 9e, 82..95, f9)") from None
    else:
        raise ValueError("a PIV slot is a name or a number")
    if value in (0x9A, 0x9C, 0x9D, 0x9E, 0xF9) or 0x82 <= value <= 0x95:
        return value
    raise ValueError("not a PIV slot (9a, 9c, 9d, 9e, 82..95, f9)")


def parse_algorithm(algorithm: str | int) -> PivAlgorithm:
    """:class:`PivAlgorithm` from its name (``"ECCP256"``, ``"rsa2048"``) or number."""
    if isinstance(algorithm, int) and not isinstance(algorithm, bool):
        try:
            return PivAlgorithm(algorithm)
        except ValueError:
            pass
    elif isinstance(algorithm, str):
        try:
            return PivAlgorithm[algorithm.strip().upper().replace("-", "")]
        except KeyError:
            pass
    raise ValueError(f"not a PIV algorithm (one of {', '.join(a.name for a in PivAlgorithm)})")


def _secret(value: Pin) -> bytes:
    """A PIN, PUK or management key as the token takes it (str as UTF-8, PIN_INVALID if
    it cannot be; the message never holds the value)."""
    secret = pin_bytes(value)
    if secret is None:
        raise errors.ArgumentsBad("a PIN, PUK or management key is needed")
    return secret


def _piv(token: Token) -> PivToken:
    from .token.piv.token import PivToken

    if not isinstance(token, PivToken):
        raise errors.FunctionNotSupported("this token is not a PIV applet")
    return token


@dataclass(frozen=True)
class PivStatus:
    """What ``cardki piv info`` shows of the applet: firmware and serial (None where the
    card does not say), and the PIN, PUK and management key as the card reports them
    (their ``pin``/``puk``/``management_key`` parts are None on cards without GET
    METADATA, before YubiKey 5.3)."""

    version: Tuple[int, int, int] | None
    serial: int | None
    access: AccessStatus


@dataclass(frozen=True)
class PivSession:
    """PIV administration through one session (``session.piv``)."""

    session: Session

    # ---------------------------------------------------------------- plumbing
    def _call(self, operation: Callable[[PivToken], T], *, writes: bool = False) -> T:
        return self.session.library.engine.token_call(self.session.handle, lambda token: operation(_piv(token)),
                                                      writes=writes)

    def key_id(self, slot: str | int) -> bytes:
        """The CKA_ID of ``slot``'s objects (``9a`` -> ``01``), from the card's profile."""
        key = parse_slot(slot)
        spec = self._call(lambda token: token.profile.slot(key))
        if spec is None:
            raise errors.ArgumentsBad(f"this card has no slot {key:02X}")
        return spec.cka_id

    @property
    def available(self) -> bool:
        """Whether the session's token is a PIV applet (no card I/O)."""
        from .token.piv.token import PivToken

        return self.session.library.engine.token_call(self.session.handle,
                                                      lambda token: isinstance(token, PivToken))

    def default_management_key(self) -> str | None:
        """The factory management key of this kind of card, as hex (None if unknown)."""
        key = self._call(lambda token: token.profile.management_key_factory)
        return key.hex() if key is not None else None

    def slot_names(self) -> List[Tuple[int, bytes, str]]:
        """(key reference, CKA_ID, name) of every key slot this card has, in the profile's order."""
        return self._call(lambda token: [(spec.key, spec.cka_id, spec.name) for spec in token.profile.slots])

    # ---------------------------------------------------------------- reading
    def status(self) -> PivStatus:
        """Firmware, serial, and the PIN / PUK / management key status (no login needed)."""
        return self._call(lambda token: PivStatus(token.version, token.serial, token.access_status()))

    def public_key(self, slot: str | int) -> PublicKey:
        """The public key in ``slot`` (NoSuchKey when the slot is empty)."""
        from .api import NoSuchKey

        found = only(PublicKey, self.session.keys(CKO.PUBLIC_KEY, id=self.key_id(slot)))
        if not found:
            raise NoSuchKey(f"slot {parse_slot(slot):02X} holds no key")
        return found[0]

    def certificate(self, slot: str | int) -> Certificate:
        """The certificate in ``slot`` (NoSuchKey when there is none)."""
        from .api import NoSuchKey

        found = self.session.certificates(id=self.key_id(slot))
        if not found:
            raise NoSuchKey(f"slot {parse_slot(slot):02X} holds no certificate")
        return found[0]

    def attest(self, slot: str | int) -> x509.Certificate:
        """The card's attestation of the key in ``slot`` (ATTEST; only for a key the card
        generated: KeyFunctionNotPermitted otherwise, KeyHandleInvalid for an empty slot)."""
        from cryptography import x509

        key = parse_slot(slot)
        return x509.load_der_x509_certificate(self._call(lambda token: token.attest(key)))

    def attestation_certificate(self) -> x509.Certificate:
        """The certificate of the card's attestation key (F9), which attestations chain to."""
        from cryptography import x509

        return x509.load_der_x509_certificate(self._call(lambda token: token.attestation_certificate()))

    def verify_attestation(self, slot: str | int, roots: Sequence[x509.Certificate | bytes],
                           intermediates: Sequence[x509.Certificate | bytes] = ()) -> Attestation:
        """Attest ``slot``'s key and check the chain: the attestation, issued by F9's key,
        for the slot's public key; F9's certificate issued by one of ``roots`` (directly
        or through ``intermediates``). Returns what the attestation says (policies,
        serial, firmware); raises :class:`~cardki.token.piv.attestation.AttestationError`
        naming the link that fails."""
        from cryptography.hazmat.primitives import serialization

        from .token.piv.attestation import verify_attestation

        def der(cert: x509.Certificate | bytes) -> bytes:
            return bytes(cert) if isinstance(cert, (bytes, bytearray)) else cert.public_bytes(
                serialization.Encoding.DER)

        attestation = self.attest(slot)
        device = self.attestation_certificate()
        spki = self.public_key(slot).get(CKA.PUBLIC_KEY_INFO)
        return verify_attestation(der(attestation), der(device), [der(r) for r in roots],
                                  intermediates=[der(c) for c in intermediates],
                                  public_key_info=bytes(spki) if spki else None)

    def _signer(self, slot: str | int) -> Tuple[Any, Callable[[bytes, str], bytes]]:
        """The slot's public key and a signer with its private key (a user session)."""
        from .api import NoSuchKey

        key_id = self.key_id(slot)
        public = self.public_key(slot).to_cryptography()
        found = self.session.private_keys(id=key_id)
        if not found:
            raise NoSuchKey(f"no private key in slot {parse_slot(slot):02X} (is the session logged in?)")
        private = found[0]
        if not isinstance(private, SignMixin):
            raise errors.KeyFunctionNotPermitted(f"the key in slot {parse_slot(slot):02X} cannot sign")
        signer = private

        def sign(data: bytes, hash_name: str) -> bytes:
            mechanism = _SIGN_MECHANISMS[(int(private.key_type), hash_name if private.key_type != CKK.EC_EDWARDS
                                          else "")]
            return signer.sign(data, mechanism, to_der=private.key_type == CKK.EC)

        return public, sign

    def self_signed_certificate(self, slot: str | int, subject: str | x509.Name, *, days: int = 365,
                                hash_name: str = "sha256") -> x509.Certificate:
        """A self-signed certificate for ``slot``'s key, signed on the card (the user logged
        in; a PIN-always key uses the session's ``context_pin``). ``subject`` is an RFC 4514
        string ("CN=me,O=example") or an ``x509.Name``. Store it with :meth:`import_certificate`."""
        from .card_x509 import self_signed_certificate

        name = _name(subject)
        public, sign = self._signer(slot)
        return self_signed_certificate(public, sign, name, days=days, hash_name=hash_name)

    def certificate_request(self, slot: str | int, subject: str | x509.Name, *,
                            hash_name: str = "sha256") -> x509.CertificateSigningRequest:
        """A PKCS#10 certificate request for ``slot``'s key, signed on the card."""
        from .card_x509 import certificate_request

        name = _name(subject)
        public, sign = self._signer(slot)
        return certificate_request(public, sign, name, hash_name=hash_name)

    # ---------------------------------------------------------------- keys and certificates (the SO)
    def generate(self, slot: str | int, algorithm: str | int = PivAlgorithm.ECCP256, *,
                 pin_policy: PinPolicy = PinPolicy.DEFAULT,
                 touch_policy: TouchPolicy = TouchPolicy.DEFAULT) -> PublicKey:
        """Generate a key pair on the card in ``slot`` (C_GenerateKeyPair with ykcs11's
        policy attributes) as the SO; returns the public key. The slot's certificate,
        if any, stays until it is replaced or deleted (as ykman leaves it)."""
        chosen = parse_algorithm(algorithm)
        key_type, bits, curve = _KEY_SHAPES[chosen]
        public, _ = self.session.generate_keypair(key_type, bits, curve=curve, id=self.key_id(slot),
                                                  private_template=_policy_attributes(pin_policy, touch_policy))
        return public

    def import_key(self, slot: str | int, key: CryptographyPrivateKey, *, pin_policy: PinPolicy = PinPolicy.DEFAULT,
                   touch_policy: TouchPolicy = TouchPolicy.DEFAULT) -> None:
        """Import a :mod:`cryptography` private key (RSA 1024-4096 with e = 65537, P-256,
        P-384, Ed25519, X25519) into ``slot`` as the SO (C_CreateObject). The SO cannot
        see private keys afterwards; the user's sessions can."""
        template = private_key_template(key)
        template.update({CKA.TOKEN: True, CKA.ID: self.key_id(slot), **_policy_attributes(pin_policy, touch_policy)})
        self.session.library.engine.create_object(self.session.handle, template)

    def import_certificate(self, slot: str | int, certificate: x509.Certificate | bytes) -> Certificate:
        """Store an X.509 certificate (a ``cryptography`` certificate or DER) in ``slot``'s
        certificate container as the SO (C_CreateObject)."""
        from cryptography.hazmat.primitives import serialization

        der = bytes(certificate) if isinstance(certificate, (bytes, bytearray)) else certificate.public_bytes(
            serialization.Encoding.DER)
        handle = self.session.library.engine.create_object(self.session.handle, {
            CKA.CLASS: CKO.CERTIFICATE, CKA.TOKEN: True, CKA.ID: self.key_id(slot), CKA.VALUE: der})
        made = self.session.object(handle)
        assert isinstance(made, Certificate)
        return made

    def delete_certificate(self, slot: str | int) -> None:
        """Delete ``slot``'s certificate as the SO (C_DestroyObject); NoSuchKey if there is none."""
        self.session.library.engine.destroy_object(self.session.handle, self.certificate(slot).handle)

    def delete_key(self, slot: str | int) -> None:
        """Delete ``slot``'s key (and its certificate) as the SO: MOVE KEY to nowhere,
        YubiKey 5.7 and later (C_DestroyObject of its public key: the SO sees no private
        keys). ACTION_PROHIBITED on cards that cannot delete keys."""
        self.session.library.engine.destroy_object(self.session.handle, self.public_key(slot).handle)

    def move_key(self, source: str | int, destination: str | int) -> None:
        """Move the key in ``source`` to ``destination`` as the SO (YubiKey 5.7; the
        certificates stay where they are)."""
        first, second = parse_slot(source), parse_slot(destination)
        self._call(lambda token: token.move_key(first, second), writes=True)

    def write_data_object(self, tag: int, value: bytes) -> None:
        """PUT DATA into a writable PIV data object (``0x5FC102``, the CHUID) as the SO."""
        self._call(lambda token: token.write_data_object(int(tag), bytes(value)), writes=True)

    def delete_data_object(self, tag: int) -> None:
        """Empty a writable PIV data object as the SO."""
        self._call(lambda token: token.delete_data_object(int(tag)), writes=True)

    # ---------------------------------------------------------------- PIN, PUK, management key
    def change_pin(self, old: Pin, new: Pin) -> None:
        """A new PIN (no login needed; a read/write session). In a session logged in as
        the user this is C_SetPIN; it is the PIN's change in an SO session too, where
        C_SetPIN would change the management key."""
        old_pin, new_pin = _secret(old), _secret(new)
        self._call(lambda token: token.set_pin(int(CKU.USER), old_pin, new_pin), writes=True)

    def change_puk(self, old: Pin, new: Pin) -> None:
        """A new PUK (no login needed; a read/write session). A wrong PUK raises PinIncorrect
        with the PUK's tries left."""
        old_puk, new_puk = _secret(old), _secret(new)
        self._call(lambda token: token.change_puk(old_puk, new_puk), writes=True)

    def unblock_pin(self, puk: Pin, new_pin: Pin) -> None:
        """Set a new PIN with the PUK, with all its tries again (no login needed)."""
        secret, pin = _secret(puk), _secret(new_pin)
        self._call(lambda token: token.unblock_pin(secret, pin), writes=True)

    def change_management_key(self, new_key: str | bytes, algorithm: ManagementKeyAlgorithm | str | None = None, *,
                              require_touch: bool | None = None) -> None:
        """A new management key (hex) as the SO; ``algorithm`` (``"AES192"``, ...) None
        keeps the current one unless the new key's length says otherwise; the session
        stays logged in with the new key."""
        chosen = ManagementKeyAlgorithm[algorithm.upper()] if isinstance(algorithm, str) else algorithm
        secret = _secret(new_key)
        self._call(lambda token: token.change_management_key(secret, chosen, require_touch), writes=True)

    def set_retries(self, pin_tries: int, puk_tries: int, *, pin: Pin) -> None:
        """How many wrong PINs and PUKs the card takes, as the SO with the PIN; the card
        then puts PIN and PUK back to their defaults (123456, 12345678)."""
        secret = _secret(pin)
        self._call(lambda token: token.set_pin_retries(int(pin_tries), int(puk_tries), secret), writes=True)

    def reset(self) -> None:
        """``ykman piv reset``: PIN and PUK blocked, then RESET. Every key, certificate and
        data object is gone; PIN 123456, PUK 12345678, the factory management key. The
        application's login on the token ends first (the card forgets it anyway)."""
        if self.session.info.state in (CKS.RO_USER_FUNCTIONS, CKS.RW_USER_FUNCTIONS, CKS.RW_SO_FUNCTIONS):
            self.session.logout()
        self._call(lambda token: token.factory_reset(), writes=True)


#: (CKK, hash) -> the mechanism that signs a certificate's body (Ed25519 hashes itself).
_SIGN_MECHANISMS: Dict[Tuple[int, str], int] = {
    (CKK.RSA, "sha256"): CKM.SHA256_RSA_PKCS, (CKK.RSA, "sha384"): CKM.SHA384_RSA_PKCS,
    (CKK.RSA, "sha512"): CKM.SHA512_RSA_PKCS, (CKK.EC, "sha256"): CKM.ECDSA_SHA256,
    (CKK.EC, "sha384"): CKM.ECDSA_SHA384, (CKK.EC, "sha512"): CKM.ECDSA_SHA512, (CKK.EC_EDWARDS, ""): CKM.EDDSA,
}


def _name(subject: str | x509.Name) -> x509.Name:
    """An RFC 4514 subject ("CN=me,O=example"; a bare "me" means CN=me, as in ykman)."""
    from cryptography import x509

    if not isinstance(subject, str):
        return subject
    text = subject if "=" in subject else f"CN={subject}"
    try:
        return x509.Name.from_rfc4514_string(text)
    except ValueError:
        raise ValueError("the subject is not an RFC 4514 name (CN=..., O=...)") from None


def _policy_attributes(pin_policy: PinPolicy, touch_policy: TouchPolicy) -> Dict[int, Any]:
    """ykcs11's vendor attributes for the policies asked for (none for the defaults)."""
    attributes: Dict[int, Any] = {}
    if PinPolicy(pin_policy) != PinPolicy.DEFAULT:
        attributes[CKA.YUBICO_PIN_POLICY] = bytes([PinPolicy(pin_policy)])
    if TouchPolicy(touch_policy) != TouchPolicy.DEFAULT:
        attributes[CKA.YUBICO_TOUCH_POLICY] = bytes([TouchPolicy(touch_policy)])
    return attributes


__all__: List[str] = ["PivSession", "PivStatus", "SLOT_NAMES", "parse_slot", "parse_algorithm", "PinPolicy",
                      "TouchPolicy", "PivAlgorithm", "ManagementKeyAlgorithm"]
