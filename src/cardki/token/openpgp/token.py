"""The OpenPGP token: an OpenPGP card application (a plain 3.x card, or a YubiKey's
next to its PIV application) as the Cryptoki engine sees it.

Objects
    The signature, decryption and authentication keys are private + public key
    objects with CKA_ID 01, 02, 03 (OpenSC's, so configurations carry over) and the
    labels of the profile ("Signature key", "Encryption key", "Authentication
    key"); each key's cardholder certificate (DO 7F21, through SELECT DATA) has the
    same id and label. A key is listed when the card says it holds one (DE key
    information; on cards without DE, a fingerprint in C5) and its public key reads
    (GENERATE ASYMMETRIC KEY PAIR, P1 81). What a key may do follows its slot and
    algorithm: 01 and 03 sign (RSA, ECDSA, EdDSA), 02 decrypts (RSA) or derives
    (ECDH on a NIST/brainpool curve, X25519); a certificate's KeyUsage narrows that.
    The signature key has CKA_ALWAYS_AUTHENTICATE when the card says a VERIFY 81
    is good for one signature only (C4's first byte 00).

Users
    CKU_USER is PW1, CKU_SO is PW3 (the Admin PIN). C_Login checks the PIN with
    VERIFY 82 (decryption, authentication); the signature key needs VERIFY 81,
    which is sent before the first signature (and before every one when PW1 is
    good for one signature), with the same PIN, inside :meth:`OpenPgpToken.sign`.
    A context-specific login sends VERIFY 81 with the PIN it is given. PINs go to
    the card through its KDF-DO (F9) when the card has the KDF on. A wrong PIN is
    never retried; its error says how many tries are left (read from C4, since a
    YubiKey answers 6982, not 63Cx). C_SetPIN changes PW1 (or, logged in as SO, PW3);
    C_InitPIN (as SO) sets a new PW1 with RESET RETRY COUNTER.

Card sharing
    As every card token (:mod:`cardki.token.sharing`): after a reset, another
    program's SELECT or this process's use of the card's other applet (a YubiKey's
    PIV), the application is selected again and its VERIFYs are sent again, only
    for this application's login and only as the next operation needs them.

Mechanisms
    As the card reports them (DO FA, else the keys' current attributes):
    CKM_RSA_PKCS and its hashed variants (the card pads PKCS#1 v1.5 itself, so
    there is no CKM_RSA_X_509, no PSS and no OAEP: none is listed), CKM_ECDSA and
    its hashed variants, CKM_EDDSA, CKM_ECDH1_DERIVE (NIST and brainpool curves,
    X25519), key pair generation, digests. Every signature and ECDH secret is
    checked before it is returned (:mod:`cardki.token.card_results`).

Administration (CKU_SO)
    C_GenerateKeyPair into the key CKA_ID names (its algorithm attributes are set
    first when they differ), then the key's OpenPGP v4 fingerprint and generation
    time are written (gpg does the same; OpenSC lists only keys with a
    fingerprint). C_CreateObject stores a certificate for a key (by CKA_ID) or
    imports a private key into it; C_DestroyObject deletes a certificate.

Touch
    A key whose UIF (D6-D8) asks for a touch makes the card wait; when nobody
    touches it, the card answers 6600 and the operation fails with
    CKR_FUNCTION_CANCELED (not retried).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, ClassVar, Dict, List, Set, Tuple, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from cardki import errors
from cardki.apdu import (
    ApduError,
    ApplicationNotFoundError,
    AuthBlockedError,
    MalformedResponseError,
    MemoryFailureError,
    NotFoundError,
    ReferenceNotFoundError,
    SecurityStatusError,
    WrongPinError,
)
from cardki.apdu.errors import IncorrectParametersError
from cardki.certificate import read_certificate_fields
from cardki.constants import CKA, CKK, CKM, CKO, CKU, MechanismFlag, TokenFlag
from cardki.curves import Curve, CurveKind, curve_by_ec_params
from cardki.digests import BY_SIZE
from cardki.transport import CardTransport

from ...log import get_logger
from .. import card_results, rsa_padding
from ..attributes import (
    AGREEING_USAGE,
    DECRYPTING_USAGE,
    SIGNING_USAGE,
    KeyCapabilities,
    KeyPair,
    certificate_attributes,
    ecdh_peer_point,
    key_pair_objects,
    usage_allows,
)
from ..base import MechanismInfo, ObjectKind, ObjectRef, SlotRecord, TokenInfo, TokenObject
from ..profiles import Probe, candidates
from ..sharing import CardToken, SharedCard, wipe
from .application import APPLET, APPLET_NAME
from .card import OpenPgpCard
from .constants import OPENPGP_AID, AlgorithmId, ExtendedCapability, KeyRef, KeyStatus, Password, Pw, Uif
from .data import (
    AlgorithmAttributes,
    ApduLimits,
    ApplicationRelatedData,
    EcAttributes,
    Kdf,
    RsaAttributes,
    UnknownAttributes,
)
from .keys import PublicKey, attributes_for_private_key, v4_fingerprint
from .profile import CardQuirks, OpenPgpProfile

logger = get_logger(__name__)
T = TypeVar("T")

#: The keys a token shows, by CKA_ID (OpenSC's numbering).
KEYS: Tuple[KeyRef, ...] = (KeyRef.SIG, KeyRef.DEC, KeyRef.AUT)
_BY_ID: Dict[bytes, KeyRef] = {bytes([ref]): ref for ref in KEYS}
#: A card's tries for each password, as the spec and every card known start them.
DEFAULT_TRIES = 3

_HW = MechanismFlag.HW
_EC_FLAGS = MechanismFlag.EC_F_P | MechanismFlag.EC_OID | MechanismFlag.EC_UNCOMPRESS
_DIGESTS = (CKM.SHA_1, CKM.SHA224, CKM.SHA256, CKM.SHA384, CKM.SHA512)
_HASHED_RSA = (CKM.SHA1_RSA_PKCS, CKM.SHA224_RSA_PKCS, CKM.SHA256_RSA_PKCS, CKM.SHA384_RSA_PKCS,
               CKM.SHA512_RSA_PKCS)
_HASHED_ECDSA = (CKM.ECDSA_SHA1, CKM.ECDSA_SHA224, CKM.ECDSA_SHA256, CKM.ECDSA_SHA384, CKM.ECDSA_SHA512)
#: The public exponent OpenPGP cards generate (and the only one YubiKeys take).
RSA_EXPONENT = 65537


def key_ref(cka_id: Any) -> KeyRef:
    """The key a CKA_ID names (01 signature, 02 decryption, 03 authentication)."""
    ref = _BY_ID.get(bytes(cka_id)) if isinstance(cka_id, (bytes, bytearray)) else None
    if ref is None:
        raise errors.TemplateInconsistent("CKA_ID must be 01 (signature), 02 (decryption) or 03 (authentication)")
    return ref


class KeyContents(SlotRecord):
    """What the card holds for one key (the certificate changes when one is written
    or deleted)."""

    __slots__ = ("ref", "attributes", "public_key", "certificate", "status", "uif")

    def __init__(self, ref: KeyRef, attributes: RsaAttributes | EcAttributes, public_key: PublicKey | None,
                 certificate: bytes | None = None, status: KeyStatus | None = None, uif: Uif = Uif.OFF) -> None:
        self.ref = ref
        self.attributes = attributes
        self.public_key = public_key
        self.certificate = certificate
        self.status = status  # DE; None on cards without it
        self.uif = uif

    @property
    def key_type(self) -> int:
        if isinstance(self.attributes, RsaAttributes):
            return CKK.RSA
        return {CurveKind.WEIERSTRASS: CKK.EC, CurveKind.EDWARDS: CKK.EC_EDWARDS,
                CurveKind.MONTGOMERY: CKK.EC_MONTGOMERY}[self.attributes.curve.kind]


def _capabilities(ref: KeyRef, attributes: RsaAttributes | EcAttributes,
                  key_usage: frozenset[str] | None) -> KeyCapabilities:
    """What the card lets the key do (its slot and algorithm), narrowed by a certificate's KeyUsage."""
    rsa_key = isinstance(attributes, RsaAttributes)
    signs = rsa_key or attributes.algorithm in (AlgorithmId.ECDSA, AlgorithmId.EDDSA)
    sign = ref in (KeyRef.SIG, KeyRef.AUT) and signs and usage_allows(key_usage, SIGNING_USAGE)
    decrypt = ref is KeyRef.DEC and rsa_key and usage_allows(key_usage, DECRYPTING_USAGE)
    derive = (ref is KeyRef.DEC and not rsa_key and attributes.algorithm is AlgorithmId.ECDH
              and usage_allows(key_usage, AGREEING_USAGE))
    return KeyCapabilities(sign=sign, decrypt=decrypt, derive=derive)


class OpenPgpToken(CardToken):
    """One OpenPGP application in one slot. Build it with :func:`cardki.token.open_tokens`.

    ``profile``: the resolved profile when detection knows it already (a YubiKey's
    PIV profile carries its OpenPGP profile along); else it is chosen from the AID
    (manufacturer) at the first operation. ``replacing``: the stand-in whose first use
    built this token (:class:`~cardki.token.openpgp.driver.CarriedOpenPgpToken`)."""

    applet: ClassVar[str] = APPLET
    applet_name: ClassVar[str] = APPLET_NAME
    #: gpg's scdaemon (2.2, Debian 12) never re-selects the application between commands.
    others_keep_selected: ClassVar[bool] = True

    def __init__(self, card: SharedCard | CardTransport, profile: OpenPgpProfile | None = None, *,
                 replacing: CardToken | None = None, unresolved: OpenPgpProfile | None = None) -> None:
        """``profile``: resolved for the card; None: chosen at the first operation, from
        DO 6E and the version (``unresolved``: the profile to take then, unresolved,
        where another applet's profile named it)."""
        super().__init__(card, replacing=replacing)
        self.profile = profile
        self._unresolved = unresolved
        try:
            limits = ApduLimits.from_atr(self.transport.atr)
        except (MalformedResponseError, ValueError):
            limits = ApduLimits(False, True, 255)  # short APDUs and chaining: every 3.x card
        self.protocol = limits.protocol(self.transport)
        self.card = OpenPgpCard(self.protocol, quirks=profile.quirks if profile is not None else CardQuirks())
        self._data: ApplicationRelatedData | None = None
        self._algorithms: Dict[KeyRef, Tuple[AlgorithmAttributes, ...]] | None = None
        self._kdf: Kdf | None = None
        self._user: int | None = None  # CKU.USER or CKU.SO while logged in
        self._pw1: bytearray | None = None  # PW1 as the card takes it (through the KDF), while logged in
        self._pw3: bytearray | None = None  # PW3 likewise, while the SO is logged in
        self._verified: Set[Pw] = set()  # what VERIFY unlocked since our last SELECT
        self._context_pending = False  # a CKU_CONTEXT_SPECIFIC login awaits its one signature
        self._keys: Dict[KeyRef, KeyContents] = {}
        self._read_epochs: Dict[KeyRef, int] = {}  # key -> _read_epoch when its contents were read
        self._read_epoch = 0
        self._most_tries: Dict[Password, int] = {}

    # ----------------------------------------------------------- sharing
    def _select_applet(self) -> None:
        try:
            self.card.select()
        except ApplicationNotFoundError:
            # A YubiKey whose OpenPGP application was turned off (its PIV profile said it
            # would be there): the slot has no token cardki knows after all.
            raise errors.TokenNotRecognized("the card has no OpenPGP application (turned off?)") from None
        self._verified.clear()

    def _relogin(self) -> None:
        """Nothing right away: each operation sends the VERIFY it needs (:meth:`_ensure`)."""

    def _applet_is_selected(self) -> bool:
        """GET DATA 4F: the OpenPGP application answers its AID (others refuse the command)."""
        try:
            return self.card.aid()[:len(OPENPGP_AID)] == OPENPGP_AID
        except ApduError:
            return False

    def _logged_in(self) -> bool:
        return self._user is not None

    def _state_lost(self) -> None:
        """Another program reset the card, and may have changed it: read it again."""
        self._verified.clear()
        self._data = None
        self._kdf = None
        self._algorithms = None
        self._read_epoch += 1

    # ------------------------------------------------------ what the card says
    def _application_data(self) -> ApplicationRelatedData:
        """DO 6E, read at the first operation (and after a reset): inside :meth:`_run`.
        The first read also picks the profile (the AID names the maker; a YubiKey's
        firmware comes from GET VERSION unless detection knows it) and tells the
        protocol the card's APDU limits."""
        if self._data is None:
            data = self.card.application_related_data()
            data.apdu_limits.apply(self.protocol)
            if self.profile is None:
                self.profile = self._choose_profile(data)
                self.card.quirks = self.profile.quirks
            self._data = data
            self._note_tries(data)
        return self._data

    def _choose_profile(self, data: ApplicationRelatedData) -> OpenPgpProfile:
        named = [self._unresolved] if self._unresolved is not None else []
        for candidate in named + candidates(self.applet):
            if not isinstance(candidate, OpenPgpProfile) or not candidate.matches(data.aid.manufacturer):
                continue
            version = self.shared.version
            if candidate.probe is Probe.GET_VERSION and version is None:
                try:
                    version = self.card.get_version()
                except ApduError:
                    continue
                self.shared.version = version
            return candidate.for_firmware(version)
        raise errors.DeviceError("no OpenPGP profile fits the card")  # generic-openpgp fits every card

    def _resolved_profile(self) -> OpenPgpProfile:
        self._application_data()
        assert self.profile is not None, "6E chose it"
        return self.profile

    def _note_tries(self, data: ApplicationRelatedData) -> None:
        for password in (Password.USER, Password.ADMIN):
            tries = data.pw_status.tries_left(password)
            self._most_tries[password] = max(self._most_tries.get(password, DEFAULT_TRIES), tries)

    def _kdf_of_card(self) -> Kdf:
        """DO F9 where the card has a KDF (C0), read once per insertion."""
        if self._kdf is None:
            data = self._application_data()
            self._kdf = self.card.kdf() if data.extended_capabilities.has(ExtendedCapability.KDF) else Kdf()
        return self._kdf

    def _derive(self, password: Password, pin: bytes) -> bytearray:
        """``pin`` as VERIFY sends it: through the KDF when the card has one on."""
        return bytearray(self._kdf_of_card().derive(password, pin))

    def _key_algorithms(self) -> Dict[KeyRef, Tuple[AlgorithmAttributes, ...]]:
        """What each key accepts: DO FA (3.4), else only what it holds now (C1-C3)."""
        if self._algorithms is None:
            data = self._application_data()
            information = self.card.algorithm_information() if data.aid.version >= (3, 4) else None
            if information is None:
                self._algorithms = {ref: (data.algorithm_attributes[ref],) for ref in KEYS}
            else:
                self._algorithms = {ref: information.for_key(ref) or (data.algorithm_attributes[ref],)
                                    for ref in KEYS}
        return self._algorithms

    @property
    def _pw1_once(self) -> bool:
        """A VERIFY 81 is good for one signature only (C4's first byte is 00)."""
        return self._data is not None and not self._data.pw_status.pw1_valid_for_several_signatures

    # -------------------------------------------------------------- info
    def info(self) -> TokenInfo:
        def read() -> Tuple[ApplicationRelatedData, Any]:
            fresh = self._data is None
            data = self._application_data()
            return data, data.pw_status if fresh else self.card.pw_status()

        data, status = self._run(read, relogin_on_6982=False)
        profile = self._resolved_profile()
        flags = TokenFlag.LOGIN_REQUIRED | TokenFlag.USER_PIN_INITIALIZED | TokenFlag.TOKEN_INITIALIZED
        if data.extended_capabilities.has(ExtendedCapability.GET_CHALLENGE):
            flags |= TokenFlag.RNG
        for password, locked, final, low in (
                (Password.USER, TokenFlag.USER_PIN_LOCKED, TokenFlag.USER_PIN_FINAL_TRY, TokenFlag.USER_PIN_COUNT_LOW),
                (Password.ADMIN, TokenFlag.SO_PIN_LOCKED, TokenFlag.SO_PIN_FINAL_TRY, TokenFlag.SO_PIN_COUNT_LOW)):
            tries = status.tries_left(password)
            most = max(self._most_tries.get(password, DEFAULT_TRIES), tries)
            self._most_tries[password] = most
            if tries == 0:
                flags |= locked
            elif tries == 1:
                flags |= final | low
            elif tries < most:
                flags |= low
        aid = data.aid
        version = self.shared.version
        fields = {"serial": aid.serial_hex, "number": self.shared.serial or aid.serial_number or aid.serial_hex,
                  "maker": aid.manufacturer_name, "version": f"{aid.version[0]}.{aid.version[1]}",
                  "major": version[0] if version else aid.version[0]}
        if version is None:
            firmware = aid.version
        else:  # CK_VERSION has two numbers: 5.7.2 becomes 5.72, as for the YubiKey's PIV token
            firmware = (version[0], min(255, version[1] * 10 + version[2]))
        return TokenInfo(
            label=profile.label.format(**fields), manufacturer_id=profile.manufacturer.format(**fields),
            model=profile.model.format(**fields), serial_number=aid.serial_hex, flags=int(flags),
            min_pin_len=profile.user_pin_min, max_pin_len=status.pw1_max_length,
            hardware_version=aid.version, firmware_version=firmware)

    # -------------------------------------------------------- mechanisms
    def mechanisms(self) -> Dict[int, MechanismInfo]:
        """What the card's keys can be (FA, else their current attributes): see the module doc."""
        algorithms = self._run(self._key_algorithms, relogin_on_6982=False)
        result: Dict[int, MechanismInfo] = {}

        def add(mechanism: int, sizes: List[int], flags: int) -> None:
            if sizes:
                result[mechanism] = MechanismInfo(min(sizes), max(sizes), flags)

        rsa_sign = [a.modulus_bits for ref in (KeyRef.SIG, KeyRef.AUT) for a in algorithms[ref]
                    if isinstance(a, RsaAttributes)]
        rsa_decrypt = [a.modulus_bits for a in algorithms[KeyRef.DEC] if isinstance(a, RsaAttributes)]
        rsa_flags = _HW
        if rsa_sign:
            rsa_flags |= MechanismFlag.SIGN | MechanismFlag.VERIFY
        if rsa_decrypt:
            rsa_flags |= MechanismFlag.DECRYPT | MechanismFlag.ENCRYPT
        add(CKM.RSA_PKCS, rsa_sign + rsa_decrypt, int(rsa_flags))
        for mechanism in _HASHED_RSA:
            add(mechanism, rsa_sign, int(_HW | MechanismFlag.SIGN | MechanismFlag.VERIFY))
        add(CKM.RSA_PKCS_KEY_PAIR_GEN, rsa_sign + rsa_decrypt, int(_HW | MechanismFlag.GENERATE_KEY_PAIR))

        def curves(refs: Tuple[KeyRef, ...], algorithm: AlgorithmId) -> List[Curve]:
            return [a.curve for ref in refs for a in algorithms[ref]
                    if isinstance(a, EcAttributes) and a.algorithm is algorithm]

        ecdsa = [c.bits for c in curves((KeyRef.SIG, KeyRef.AUT), AlgorithmId.ECDSA)]
        ecdh = curves((KeyRef.DEC,), AlgorithmId.ECDH)
        ecdsa_flags = int(_HW | MechanismFlag.SIGN | MechanismFlag.VERIFY | _EC_FLAGS)
        add(CKM.ECDSA, ecdsa, ecdsa_flags)
        for mechanism in _HASHED_ECDSA:
            add(mechanism, ecdsa, ecdsa_flags)
        weierstrass = ecdsa + [c.bits for c in ecdh if c.kind is CurveKind.WEIERSTRASS]
        add(CKM.EC_KEY_PAIR_GEN, weierstrass, int(_HW | MechanismFlag.GENERATE_KEY_PAIR | _EC_FLAGS))
        add(CKM.ECDH1_DERIVE, [c.bits for c in ecdh], int(_HW | MechanismFlag.DERIVE | _EC_FLAGS))
        eddsa = [c.bits for c in curves((KeyRef.SIG, KeyRef.AUT), AlgorithmId.EDDSA)]
        add(CKM.EDDSA, eddsa, int(_HW | MechanismFlag.SIGN | MechanismFlag.VERIFY | MechanismFlag.EC_OID))
        add(CKM.EC_EDWARDS_KEY_PAIR_GEN, eddsa, int(_HW | MechanismFlag.GENERATE_KEY_PAIR))
        add(CKM.EC_MONTGOMERY_KEY_PAIR_GEN, [c.bits for c in ecdh if c.kind is CurveKind.MONTGOMERY],
            int(_HW | MechanismFlag.GENERATE_KEY_PAIR))
        for mechanism in _DIGESTS:
            result[mechanism] = MechanismInfo(0, 0, int(MechanismFlag.DIGEST))
        return result

    # ----------------------------------------------------------- objects
    def objects(self) -> List[TokenObject]:
        """Every key and certificate, read at the first call after insertion (or after
        a reset by someone else) and cached: 6E, then per key READ PUBLIC KEY (keys the
        card holds) and SELECT DATA + GET DATA 7F21."""
        return self._objects_of(KEYS)

    def objects_with_id(self, cka_id: bytes) -> List[TokenObject]:
        """The objects of the one key CKA_ID names (01, 02, 03), reading only that key."""
        ref = _BY_ID.get(bytes(cka_id))
        return [] if ref is None else self._objects_of((ref,))

    def _objects_of(self, refs: Tuple[KeyRef, ...]) -> List[TokenObject]:
        with self._lock:
            missing = tuple(ref for ref in refs if self._read_epochs.get(ref) != self._read_epoch)
            if missing:
                epoch = self._read_epoch
                read = self._run(lambda: [(wanted, self._read_key(wanted)) for wanted in missing])
                for ref, contents in read:
                    self._read_epochs[ref] = epoch
                    if contents is None:
                        self._keys.pop(ref, None)
                    else:
                        self._keys[ref] = contents
            result: List[TokenObject] = []
            for ref in refs:
                contents = self._keys.get(ref)
                if contents is not None:
                    result.extend(self._key_objects(contents))
            return result

    def _read_key(self, ref: KeyRef) -> KeyContents | None:
        data = self._application_data()
        attributes = data.algorithm_attributes[ref]
        if isinstance(attributes, UnknownAttributes):
            return None
        status = data.key_information.get(ref) if data.key_information else None
        present = status not in (None, KeyStatus.NONE) if data.key_information else data.fingerprint(ref) is not None
        public_key = None
        if present:
            try:
                public_key = self.card.read_public_key(ref, attributes)
            except (NotFoundError, ReferenceNotFoundError, SecurityStatusError, MemoryFailureError):
                public_key = None  # empty after all (YubiKeys answer 6982 or 6581 for an empty key)
        certificate = self._read_certificate(ref)
        if public_key is None and certificate is None:
            return None
        return KeyContents(ref, attributes, public_key, certificate, status, data.uif.get(ref, Uif.OFF))

    def _read_certificate(self, ref: KeyRef) -> bytes | None:
        try:
            der = self.card.certificate(ref)
        except (NotFoundError, ReferenceNotFoundError, IncorrectParametersError):
            return None  # no certificate (or a SELECT DATA this card does not take)
        return der if der and read_certificate_fields(der) is not None else None

    def _key_objects(self, contents: KeyContents) -> List[TokenObject]:
        profile = self._resolved_profile()
        label = profile.labels[contents.ref]
        cka_id = bytes([contents.ref])
        cert = read_certificate_fields(contents.certificate) if contents.certificate is not None else None
        objects: List[TokenObject] = []
        if contents.public_key is not None:
            key_usage = cert.key_usage if cert is not None else None
            capabilities = _capabilities(contents.ref, contents.attributes, key_usage)
            always = contents.ref is KeyRef.SIG and self._pw1_once
            pair = KeyPair(key=int(contents.ref), cka_id=cka_id, public_key=contents.public_key,
                           capabilities=capabilities,
                           verify=(capabilities.sign or (contents.ref is not KeyRef.DEC
                                                         and usage_allows(key_usage, SIGNING_USAGE)
                                                         and not isinstance(contents.public_key, x25519.X25519PublicKey))),
                           local=contents.status is KeyStatus.GENERATED, always_authenticate=always,
                           subject=cert.subject if cert is not None else b"")
            objects.extend(key_pair_objects(pair, private_label=label, public_label=label))
        if cert is not None:
            attributes = certificate_attributes(cert, cka_id=cka_id, label=label,
                                                holder=contents.public_key is not None)
            objects.append(TokenObject(ObjectRef(ObjectKind.CERTIFICATE, int(contents.ref)), attributes))
        return objects

    def _contents(self, key: TokenObject) -> KeyContents:
        ref = KeyRef(key.ref.key) if key.ref.key in _BY_ID.values() else None
        if ref is None or ref not in self._read_epochs:
            self.objects()
        contents = self._keys.get(ref) if ref is not None else None
        if contents is None or contents.public_key is None:
            raise errors.KeyHandleInvalid()
        return contents

    # ------------------------------------------------------------- login
    def login(self, user_type: int, pin: bytes) -> None:
        """CKU_USER: VERIFY 82 (PW1). CKU_SO: VERIFY 83 (PW3). CKU_CONTEXT_SPECIFIC: VERIFY
        81 now, for the next signature. Lengths are checked before the PIN is sent
        (the shortest from the profile, the longest from C4); never retried."""
        pin = pin.encode() if isinstance(pin, str) else bytes(pin)
        if user_type == CKU.SO:
            pw = Pw.PW3
        elif user_type == CKU.USER:
            pw = Pw.PW1
        elif user_type == CKU.CONTEXT_SPECIFIC:
            pw = Pw.PW1_SIGN
        else:
            raise errors.UserTypeInvalid()
        derived = self._run(lambda: self._verify_new(pw, pin), relogin_on_6982=False)
        if user_type == CKU.CONTEXT_SPECIFIC:
            wipe(derived)  # the card now allows one signature; the user login's copy stays
            self._context_pending = True
            return
        self._forget_credentials()
        if pw is Pw.PW3:
            self._pw3 = derived
        else:
            self._pw1 = derived
        self._user = int(user_type)

    def _check_length(self, password: Password, pin: bytes) -> None:
        profile = self._resolved_profile()
        shortest = profile.admin_pin_min if password is Password.ADMIN else profile.user_pin_min
        longest = self._application_data().pw_status.max_length(password)
        if not shortest <= len(pin) <= longest:
            raise errors.PinLenRange()

    def _verify_new(self, pw: Pw, pin: bytes) -> bytearray:
        """VERIFY a PIN the caller gives (inside :meth:`_run`): returns it as sent."""
        self._check_length(pw.password, pin)
        derived = self._derive(pw.password, pin)
        try:
            self._send_verify(pw, derived)
        except BaseException:
            wipe(derived)
            raise
        return derived

    def _send_verify(self, pw: Pw, value: bytearray) -> None:
        try:
            self.card.verify(pw, value)
        except WrongPinError as exc:
            raise self._wrong_pin(pw.password, exc) from None
        self._verified.add(pw)

    def _wrong_pin(self, password: Password, exc: WrongPinError) -> errors.CryptokiError:
        """The error for a PIN the card refused, with the tries left from C4 when the
        card's answer (6982 on a YubiKey) does not say."""
        tries = exc.tries_left
        if tries is None:
            try:
                tries = self.card.pw_status().tries_left(password)
            except ApduError:
                tries = None
        if tries == 0:
            return errors.PinLocked()
        return errors.PinIncorrect(tries)

    def _ensure(self, pw: Pw) -> None:
        """Inside an operation: VERIFY ``pw`` with this application's PIN unless the card
        has it verified since our last SELECT. The PIN no longer accepted (another
        program changed or blocked it) logs the application out, never retried."""
        if pw in self._verified:
            return
        secret = self._pw3 if pw is Pw.PW3 else self._pw1
        needed = CKU.SO if pw is Pw.PW3 else CKU.USER
        if secret is None or self._user != needed:
            raise errors.UserNotLoggedIn("this needs the SO (PW3)" if pw is Pw.PW3 else None)
        try:
            self.card.verify(pw, secret)
        except (WrongPinError, AuthBlockedError):
            self._forget_credentials()
            raise errors.UserNotLoggedIn("the card no longer accepts this application's PIN") from None
        self._verified.add(pw)

    def logout(self) -> None:
        """Forget the PINs and drop the card's verified states (VERIFY P1=FF where the
        profile says the card has it, else a new SELECT)."""
        was_logged_in = self._user is not None
        self._forget_credentials()
        if was_logged_in:
            self._end_card_login(self._drop_security_status)

    def _drop_security_status(self) -> None:
        if self._resolved_profile().verify_reset:
            try:
                for pw in sorted(self._verified):
                    self.card.unverify(pw)
                self._verified.clear()
                return
            except ApduError:
                pass  # the card does not know P1=FF after all
        self._select_applet()

    def _forget_credentials(self) -> None:
        wipe(self._pw1)
        wipe(self._pw3)
        self._pw1 = self._pw3 = None
        self._user = None
        self._context_pending = False

    # ------------------------------------------------------ key operations
    def _use_key(self, contents: KeyContents, pw: Pw, payload: Callable[[], bytes]) -> bytes:
        """One private-key operation: the VERIFY it needs, then the command. The
        signature key on a PW1-once card needs a pending context login (C4 read in the
        same transaction, so a policy another program changed counts)."""
        used_context = False

        def operation() -> bytes:
            nonlocal used_context
            once = pw is Pw.PW1_SIGN and not self._application_data().pw_status.pw1_valid_for_several_signatures
            if once:
                if not self._context_pending and pw not in self._verified:
                    raise errors.UserNotLoggedIn("this key needs the PIN again (C_Login CKU_CONTEXT_SPECIFIC)")
                used_context = True
            self._ensure(pw)
            answer = payload()
            if once:
                self._verified.discard(Pw.PW1_SIGN)  # the card forgot it with this signature
            return answer

        try:
            return self._run(operation)
        finally:
            if used_context:
                self._context_pending = False

    def sign(self, key: TokenObject, mechanism: int, parameter: Any, data: bytes) -> bytes:
        contents = self._contents(key)
        if not key.attributes.get(CKA.SIGN) or contents.ref is KeyRef.DEC:
            raise errors.KeyFunctionNotPermitted()
        public = contents.public_key
        data = bytes(data)
        if isinstance(public, rsa.RSAPublicKey):
            if mechanism != CKM.RSA_PKCS:
                raise errors.MechanismInvalid("an OpenPGP card pads RSA itself: CKM_RSA_PKCS and its hashed variants")
            k = (public.key_size + 7) // 8
            if not data or len(data) > k - 11:
                raise errors.DataLenRange()
        elif isinstance(public, ec.EllipticCurvePublicKey):
            if mechanism != CKM.ECDSA:
                raise errors.MechanismInvalid()
            if len(data) not in BY_SIZE:
                raise errors.DataLenRange("CKM_ECDSA signs a hash of 20, 28, 32, 48 or 64 bytes")
        elif isinstance(public, ed25519.Ed25519PublicKey):
            if mechanism != CKM.EDDSA:
                raise errors.MechanismInvalid()
            if parameter is not None and (getattr(parameter, "phflag", False) or getattr(parameter, "context", b"")):
                raise errors.MechanismParamInvalid("only pure Ed25519 is supported")
        else:
            raise errors.KeyFunctionNotPermitted()
        if contents.ref is KeyRef.SIG:
            answer = self._use_key(contents, Pw.PW1_SIGN, lambda: self.card.sign(data))
        else:
            answer = self._use_key(contents, Pw.PW1, lambda: self.card.internal_authenticate(data))
        # Every result is checked against the public key before it is returned.
        if isinstance(public, rsa.RSAPublicKey):
            block = rsa_padding.pkcs1_v15_sign_pad(data, (public.key_size + 7) // 8)
            return card_results.rsa_private_result(public, block, answer, "signature", pkcs1_payload=data)
        if isinstance(public, ec.EllipticCurvePublicKey):
            return card_results.ecdsa_raw_signature(public, data, answer)
        return card_results.eddsa_signature(public, data, answer)

    def decrypt(self, key: TokenObject, mechanism: int, parameter: Any, data: bytes) -> bytes:
        contents = self._contents(key)
        public = contents.public_key
        if not key.attributes.get(CKA.DECRYPT) or not isinstance(public, rsa.RSAPublicKey):
            raise errors.KeyFunctionNotPermitted()
        if mechanism != CKM.RSA_PKCS:
            raise errors.MechanismInvalid("an OpenPGP card removes PKCS#1 v1.5 padding only: CKM_RSA_PKCS")
        k = (public.key_size + 7) // 8
        data = bytes(data)
        if len(data) != k:
            raise errors.EncryptedDataLenRange()
        if int.from_bytes(data, "big") >= public.public_numbers().n:
            raise errors.EncryptedDataInvalid()
        try:
            answer = self._use_key(contents, Pw.PW1, lambda: self.card.decipher(data))
        except errors.DataInvalid:
            raise errors.EncryptedDataInvalid("the card found no PKCS#1 v1.5 padding in the decryption") from None
        return card_results.rsa_plaintext(answer, k)

    def derive(self, key: TokenObject, mechanism: int, parameter: Any) -> bytes:
        contents = self._contents(key)
        if not key.attributes.get(CKA.DERIVE) or not isinstance(contents.attributes, EcAttributes):
            raise errors.KeyFunctionNotPermitted()
        curve = contents.attributes.curve
        point = ecdh_peer_point(mechanism, parameter, curve.point_length)
        secret = self._use_key(contents, Pw.PW1, lambda: self.card.ecdh(point))
        return card_results.ecdh_secret(secret, curve.field_bytes)

    def generate_random(self, length: int) -> bytes:
        """GET CHALLENGE where the card offers it (C0), in pieces of its maximum; else the
        host CSPRNG."""
        def read() -> bytes:
            data = self._application_data()
            capabilities = data.extended_capabilities
            if not capabilities.has(ExtendedCapability.GET_CHALLENGE) or not capabilities.max_challenge_length:
                return os.urandom(length)
            result = b""
            while len(result) < length:
                result += self.card.get_challenge(min(capabilities.max_challenge_length, length - len(result)))
            return result

        return self._run(read, relogin_on_6982=False) if length else b""

    # -------------------------------------------------------- PIN changes
    def set_pin(self, user_type: int, old_pin: bytes, new_pin: bytes) -> None:
        """C_SetPIN: PW1 (CHANGE REFERENCE DATA 81), or PW3 when the SO is logged in (83)."""
        pw = Pw.PW3 if user_type == CKU.SO else Pw.PW1_SIGN
        old_pin, new_pin = bytes(old_pin), bytes(new_pin)

        def change() -> bytearray:
            for value in (old_pin, new_pin):
                self._check_length(pw.password, value)
            old, new = self._derive(pw.password, old_pin), self._derive(pw.password, new_pin)
            try:
                self.card.change_reference_data(pw, old, new)
            except WrongPinError as exc:
                wipe(new)
                raise self._wrong_pin(pw.password, exc) from None
            except BaseException:
                wipe(new)
                raise
            finally:
                wipe(old)
            return new

        new = self._run(change, relogin_on_6982=False)
        if pw is Pw.PW3 and self._pw3 is not None:
            wipe(self._pw3)
            self._pw3 = new
        elif pw is not Pw.PW3 and self._pw1 is not None:
            wipe(self._pw1)
            self._pw1 = new
        else:
            wipe(new)

    def init_pin(self, new_pin: bytes) -> None:
        """C_InitPIN by the SO: a new PW1, its tries restored (RESET RETRY COUNTER with PW3)."""
        new_pin = bytes(new_pin)

        def reset() -> None:
            self._check_length(Password.USER, new_pin)
            self._ensure(Pw.PW3)
            value = self._derive(Password.USER, new_pin)
            try:
                self.card.reset_retry_counter(value)
            finally:
                wipe(value)

        self._require_so()
        self._run(reset)

    def _require_so(self) -> None:
        if self._user != CKU.SO:
            raise errors.UserNotLoggedIn("this needs the SO (PW3, the Admin PIN)")

    # ------------------------------------------------------- administration
    def _allowed(self, ref: KeyRef, wanted: RsaAttributes | EcAttributes) -> bool:
        for entry in self._key_algorithms()[ref]:
            if isinstance(wanted, RsaAttributes) and isinstance(entry, RsaAttributes):
                if entry.modulus_bits == wanted.modulus_bits:
                    return True
            elif isinstance(wanted, EcAttributes) and isinstance(entry, EcAttributes):
                if (entry.algorithm, entry.curve) == (wanted.algorithm, wanted.curve):
                    return True
        return False

    def _store_key(self, ref: KeyRef, wanted: RsaAttributes | EcAttributes,
                   write: Callable[[RsaAttributes | EcAttributes], PublicKey], status: KeyStatus) -> KeyContents:
        """Set the key's attributes where they differ, ``write`` the key, then its
        fingerprint and generation time (inside :meth:`_run`, as SO)."""
        self._ensure(Pw.PW3)
        data = self._application_data()
        if not self._allowed(ref, wanted):
            if isinstance(wanted, RsaAttributes):
                raise errors.KeySizeRange(f"the card's key {ref.name} takes no RSA-{wanted.modulus_bits}")
            raise errors.CurveNotSupported(f"the card's key {ref.name} takes no {wanted.curve.name}")
        current = data.algorithm_attributes[ref]
        if isinstance(wanted, RsaAttributes) and isinstance(current, RsaAttributes):
            # The card's exponent size and import format stay (YubiKeys take e = 17 bits only).
            wanted = RsaAttributes(wanted.modulus_bits, current.exponent_bits, current.import_format)
        if current.encode() != wanted.encode():
            self.card.set_algorithm_attributes(ref, wanted)
        public = write(wanted)
        created = int(time.time())
        self.card.set_fingerprint(ref, v4_fingerprint(public, created, wanted))
        self.card.set_generation_time(ref, created)
        certificate = self._keys[ref].certificate if ref in self._keys else None
        self._data = None  # 6E changed: read again when next needed
        return KeyContents(ref, wanted, public, certificate, status, data.uif.get(ref, Uif.OFF))

    def _key_changed(self, contents: KeyContents) -> Tuple[TokenObject, TokenObject]:
        self._keys[contents.ref] = contents
        self._read_epochs[contents.ref] = self._read_epoch
        objects = {obj.ref.kind: obj for obj in self._key_objects(contents)}
        return objects[ObjectKind.PUBLIC_KEY], objects[ObjectKind.PRIVATE_KEY]

    def generate_key_pair(self, mechanism: int, public_template: Dict[int, Any],
                          private_template: Dict[int, Any]) -> Tuple[TokenObject, TokenObject]:
        """Generate a key on the card into the key CKA_ID names (01, 02, 03), as SO."""
        self._require_so()
        cka_id = private_template.get(CKA.ID, public_template.get(CKA.ID))
        if cka_id is None:
            raise errors.TemplateIncomplete("CKA_ID names the key to generate: 01, 02 or 03")
        ref = key_ref(cka_id)
        wanted = _generation_attributes(ref, int(mechanism), {**public_template, **private_template})
        contents = self._run(lambda: self._store_key(
            ref, wanted, lambda attributes: self.card.generate_key(ref, attributes), KeyStatus.GENERATED))
        return self._key_changed(contents)

    def create_object(self, template: Dict[int, Any]) -> TokenObject:
        """As SO: a certificate for a key (CKA_ID), or a private key imported into it."""
        self._require_so()
        object_class = template.get(CKA.CLASS)
        cka_id = template.get(CKA.ID)
        if cka_id is None:
            raise errors.TemplateIncomplete("CKA_ID names the key: 01, 02 or 03")
        ref = key_ref(cka_id)
        if object_class == CKO.CERTIFICATE:
            return self._store_certificate(ref, template)
        if object_class == CKO.PRIVATE_KEY:
            return self._import_key(ref, template)
        raise errors.TemplateInconsistent("an OpenPGP card stores certificates and private keys of its three keys")

    def _store_certificate(self, ref: KeyRef, template: Dict[int, Any]) -> TokenObject:
        value = template.get(CKA.VALUE)
        if not isinstance(value, (bytes, bytearray)) or not value:
            raise errors.TemplateIncomplete("a certificate needs CKA_VALUE")
        der = bytes(value)
        if read_certificate_fields(der) is None:
            raise errors.AttributeValueInvalid("CKA_VALUE is not a readable DER X.509 certificate")

        def store() -> None:
            limit = self._application_data().extended_capabilities.max_certificate_length
            if limit and len(der) > limit:
                raise errors.DeviceMemory(f"the card keeps certificates of up to {limit} bytes")
            self._ensure(Pw.PW3)
            self.card.put_certificate(ref, der)

        self._run(store)
        contents = self._keys.get(ref)
        if contents is not None and self._read_epochs.get(ref) == self._read_epoch:
            contents.certificate = der
        else:
            self._read_epochs.pop(ref, None)  # read the key and its new certificate
        for obj in self._objects_of((ref,)):
            if obj.ref == ObjectRef(ObjectKind.CERTIFICATE, int(ref)):
                return obj
        raise errors.FunctionFailed("the card did not keep the certificate")

    def _import_key(self, ref: KeyRef, template: Dict[int, Any]) -> TokenObject:
        from ..key_templates import private_key_from_template

        private_key = private_key_from_template(template)
        try:
            wanted = attributes_for_private_key(ref, private_key)
        except ValueError:
            raise errors.CurveNotSupported() from None
        if isinstance(wanted, UnknownAttributes):
            raise errors.CurveNotSupported()
        if isinstance(wanted, EcAttributes) and not _fits(ref, wanted):
            raise errors.TemplateInconsistent(f"the card's key {ref.name} cannot hold a {wanted.curve.name} key")

        def write(attributes: RsaAttributes | EcAttributes) -> PublicKey:
            self.card.import_key(ref, attributes, private_key)
            return private_key.public_key()

        contents = self._run(lambda: self._store_key(ref, wanted, write, KeyStatus.IMPORTED))
        public, private = self._key_changed(contents)
        return private

    def destroy_object(self, obj: TokenObject) -> None:
        """As SO: delete a certificate (PUT DATA 7F21 empty). Keys are not destroyable
        (an OpenPGP card has no command that deletes one)."""
        self._require_so()
        if obj.ref.kind is not ObjectKind.CERTIFICATE or obj.ref.key not in _BY_ID.values():
            raise errors.ActionProhibited()
        ref = KeyRef(obj.ref.key)

        def delete() -> None:
            self._ensure(Pw.PW3)
            self.card.put_certificate(ref, b"")

        self._run(delete)
        contents = self._keys.get(ref)
        if contents is not None:
            contents.certificate = None
            if contents.public_key is None:
                self._keys.pop(ref, None)

    def close(self) -> None:
        self._forget_credentials()
        super().close()


# ----------------------------------------------------------------- helpers
def _fits(ref: KeyRef, attributes: EcAttributes) -> bool:
    """Whether a key of this kind can sit in ``ref``: X25519 only decrypts, Ed25519 never does."""
    if attributes.curve.kind is CurveKind.MONTGOMERY:
        return ref is KeyRef.DEC
    if attributes.curve.kind is CurveKind.EDWARDS:
        return ref is not KeyRef.DEC
    return True


def _generation_attributes(ref: KeyRef, mechanism: int, template: Dict[int, Any]) -> RsaAttributes | EcAttributes:
    """The algorithm attributes a key pair generation asks for (mechanism and template)."""
    if mechanism == CKM.RSA_PKCS_KEY_PAIR_GEN:
        bits = template.get(CKA.MODULUS_BITS)
        if not isinstance(bits, int) or isinstance(bits, bool):
            raise errors.TemplateIncomplete("RSA key generation needs CKA_MODULUS_BITS")
        exponent = template.get(CKA.PUBLIC_EXPONENT)
        if exponent is not None and int.from_bytes(bytes(exponent), "big") != RSA_EXPONENT:
            raise errors.TemplateInconsistent("OpenPGP cards generate RSA keys with e = 65537")
        if bits % 8 or not 1024 <= bits <= 16384:
            raise errors.KeySizeRange()
        return RsaAttributes(bits)
    kinds: Dict[int, CurveKind] = {CKM.EC_KEY_PAIR_GEN: CurveKind.WEIERSTRASS,
                                   CKM.EC_EDWARDS_KEY_PAIR_GEN: CurveKind.EDWARDS,
                                   CKM.EC_MONTGOMERY_KEY_PAIR_GEN: CurveKind.MONTGOMERY}
    kind = kinds.get(mechanism)
    if kind is None:
        raise errors.MechanismInvalid()
    params = template.get(CKA.EC_PARAMS)
    if not isinstance(params, (bytes, bytearray)):
        raise errors.TemplateIncomplete("EC key generation needs CKA_EC_PARAMS")
    curve = curve_by_ec_params(bytes(params))
    if curve is None:
        raise errors.CurveNotSupported()
    if curve.kind is not kind:
        raise errors.TemplateInconsistent("CKA_EC_PARAMS does not fit the mechanism")
    attributes = EcAttributes.for_key(ref, curve)
    if not _fits(ref, attributes):
        raise errors.TemplateInconsistent(f"the card's key {ref.name} cannot hold a {curve.name} key")
    return attributes


__all__ = ["KEYS", "KeyContents", "OpenPgpToken", "key_ref"]
