"""The PIV token: a PIV applet (generic or YubiKey) as the Cryptoki engine sees it.

Card sharing
    As every card token (:mod:`cardki.token.sharing`): each operation is one PC/SC
    transaction, and if the card shows it lost our state (another program reset it
    -> ``CardResetError``; another applet is selected -> 6D00/6E00, and PIV's 6A88;
    the PIN status is gone while we are logged in -> 6982), or this process used
    the card's other applet since (a YubiKey's OpenPGP token), it re-SELECTs PIV,
    re-verifies the PIN or re-authenticates the management key *only if this
    application is logged in*, and retries the operation exactly once. In the
    common case this costs no extra APDU.

PIN handling
    The PIN is kept (in a ``bytearray``) only while the user is logged in,
    because restoring the card's state after another program reset it needs
    it; logout overwrites it with zeros. A wrong PIN is never retried: VERIFY
    answering 63Cx raises :class:`errors.PinIncorrect` with the tries left,
    6983 raises :class:`errors.PinLocked`. Logout drops the card's security
    status with VERIFY P1=FF where the profile says the card has it, else by
    re-selecting the applet.

SO login
    As ykcs11: CKU_SO's "PIN" is the management key, as hex (32/48/64 digits)
    or raw bytes; its algorithm comes from GET METADATA 9B where the card has
    metadata, else the profile's default. Mutual authentication checks the card
    too.

Administration (see the methods for the details)
    Writing needs the SO: key generation and import (with PIN and touch policy,
    ykcs11's CKA_YUBICO_PIN_POLICY / CKA_YUBICO_TOUCH_POLICY), certificates, data
    objects, deletion, a new management key (C_SetPIN as SO), SET PIN RETRIES.
    The PUK needs no login: C_SetPIN with ykcs11's prefixes -- old "puk:<PUK>" and
    new "pin:<new PIN>" unblocks the PIN, old "puk:<PUK>" and new "<new PUK>" (or
    "puk:<new PUK>") changes the PUK -- and the typed :meth:`PivToken.change_puk`
    / :meth:`PivToken.unblock_pin`. C_InitPIN stays unsupported: on PIV only the
    PUK resets the PIN, and the SO (the management key) does not know it.
    C_InitToken checks the SO PIN (the management key), resets the applet as
    ``ykman piv reset`` does (PIN and PUK blocked first) and sets the management
    key back to the SO PIN (so the SO PIN is unchanged, as the spec says); the
    PIN and PUK are then the factory ones. PIV has nowhere to keep a token label:
    the label is checked and otherwise ignored (CK_TOKEN_INFO keeps the profile's).

Attestation
    A generated key's attestation certificate (ATTEST) is made only when a find
    names its CKA_ID (the key's id + 100, :data:`~.objects.ATTESTATION_ID_OFFSET`):
    SELECT + ATTEST, once per key; it is then listed with the other objects until
    the key changes. Listing the card never attests.

Firmware version, read when first needed
    A card whose ATR a profile lists (a YubiKey over USB) is that profile without a
    probe, with the lowest firmware its ATR implies (``[match] atrs``): the exact
    version (GET VERSION) is read only when something asks for a value that differs
    between that floor and some firmware above it (:attr:`PivToken.profile`). Until
    then a value that is equal at the floor and at every ``[[firmware]]`` ``from``
    above it is settled without the version (:meth:`PivToken._settled`), and the
    card's answers narrow the range: GET METADATA answering proves the firmware that
    brought it, a 6D00 to it right after PIV answered proves one below. So the first
    signature costs SELECT, VERIFY, the slot's certificate and GET METADATA, GENERAL
    AUTHENTICATE; the token info reads the version with the serial and the PIN
    counter; CKA_DESTROYABLE of a key (MOVE/DELETE KEY, 5.7) is an attribute the
    engine asks for when someone reads it (:meth:`PivToken.settle`).

Random numbers
    PIV has no GET CHALLENGE for applications, so :meth:`generate_random`
    returns the host CSPRNG (``os.urandom``), as ykcs11 does; CKF_RNG is set
    because C_GenerateRandom works.
"""

from __future__ import annotations

import os
from functools import cache
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Dict,
    FrozenSet,
    List,
    Mapping,
    Tuple,
    Type,
    TypeVar,
)

from cardki import errors
from cardki.apdu import (
    ApduError,
    AuthBlockedError,
    ClaNotSupportedError,
    InsNotSupportedError,
    NotFoundError,
    ReferenceNotFoundError,
    SecurityStatusError,
    SmartCardProtocol,
    WrongPinError,
    tlv_dict,
)
from cardki.apdu.errors import ConditionsNotSatisfiedError, IncorrectParametersError
from cardki.certificate import read_certificate_fields
from cardki.constants import CKA, CKM, CKO, CKU, CKZ, MechanismFlag, TokenFlag
from cardki.der import oid_content
from cardki.named_tuple import NamedTuple
from cardki.transport import CardTransport

from ...log import get_logger
from .. import card_results, rsa_padding
from ..attributes import ecdh_peer_point
from ..base import MechanismInfo, ObjectKind, ObjectRef, TokenInfo, TokenObject
from ..profiles import Version
from ..sharing import CardToken, SharedCard, wipe
from .card import KeyMetadata, ManagementKeyMetadata, PinMetadata, PivCard
from .constants import DataObject, KeyFamily, ManagementKeyAlgorithm, Origin, PinPolicy, PivAlgorithm, TouchPolicy
from .objects import (
    ALGORITHM_BY_NAME,
    KEY_ALGORITHMS,
    KeyAlgorithm,
    SlotContents,
    algorithm_of,
    algorithm_of_params,
    attestation_id,
    attestation_object,
    certificate_container,
    data_object,
    is_public_key,
    key_capabilities,
    key_objects,
    oid_der,
    parse_certificate_container,
    public_key_from_card,
    verify_allowed,
)
from .profile import DataObjectSpec, PivProfile, Profile, SlotSpec

if TYPE_CHECKING:
    from ..key_templates import PrivateKey
    from .mgmt import ManagementKey

logger = get_logger(__name__)
T = TypeVar("T")


_HW = MechanismFlag.HW
#: What GET METADATA of a key slot answers when the slot holds no key.
_NO_KEY_METADATA = (NotFoundError, ReferenceNotFoundError, IncorrectParametersError)
_EC_FLAGS = MechanismFlag.EC_F_P | MechanismFlag.EC_OID | MechanismFlag.EC_UNCOMPRESS
_DIGESTS = (CKM.SHA_1, CKM.SHA224, CKM.SHA256, CKM.SHA384, CKM.SHA512)
_HASHED_RSA = (CKM.SHA1_RSA_PKCS, CKM.SHA224_RSA_PKCS, CKM.SHA256_RSA_PKCS, CKM.SHA384_RSA_PKCS,
               CKM.SHA512_RSA_PKCS)
_HASHED_PSS = (CKM.SHA1_RSA_PKCS_PSS, CKM.SHA224_RSA_PKCS_PSS, CKM.SHA256_RSA_PKCS_PSS,
               CKM.SHA384_RSA_PKCS_PSS, CKM.SHA512_RSA_PKCS_PSS)
# What every signature compares with, looked up once (a member's lookup on its enum class
# is a Python call: the enum metaclass has a __getattr__).
_CKA_SIGN, _CKM_ECDSA = int(CKA.SIGN), int(CKM.ECDSA)
_RSA_FAMILY, _EC_FAMILY = KeyFamily.RSA, KeyFamily.EC
_HASHED_ECDSA = (CKM.ECDSA_SHA1, CKM.ECDSA_SHA224, CKM.ECDSA_SHA256, CKM.ECDSA_SHA384, CKM.ECDSA_SHA512)


class AccessStatus(NamedTuple):
    """PIN, PUK and management key as the card reports them (``cardki piv info``).
    The metadata parts are None on cards without GET METADATA (before YubiKey 5.3)."""

    pin_tries_left: int | None  # None: unknown (the PIN is verified, no metadata)
    pin: PinMetadata | None
    puk: PinMetadata | None
    management_key: ManagementKeyMetadata | None


class PivToken(CardToken):
    """One PIV applet in one slot. Build it with :func:`cardki.token.open_token`
    (``card``: the card's connection, or the :class:`SharedCard` it shares with the
    tokens of the card's other applets)."""

    applet: ClassVar[str] = "piv"
    applet_name: ClassVar[str] = "PIV"
    #: PIV also answers 6A88 to its own commands when another applet has the card.
    lost_selection: ClassVar[Tuple[Type[Exception], ...]] = (
        InsNotSupportedError, ClaNotSupportedError, ReferenceNotFoundError)

    def __init__(self, card: SharedCard | CardTransport, profile: Profile, *,
                 version: Tuple[int, int, int] | None = None, serial: int | None = None,
                 floor: Version | None = None) -> None:
        """``profile``: resolved for ``version``; or, with ``floor`` (the lowest firmware
        the card's ATR implies) and no ``version``, unresolved: the version is read when
        a value needs it (see the module doc)."""
        super().__init__(card)
        self._version = version
        self._unresolved: PivProfile | None = None
        self._exact: PivProfile | None = profile
        self._floor: Version = (0, 0, 0)
        self._ceiling: Version | None = None
        self._steps: Tuple[PivProfile, ...] | None = None  # the profile at each firmware step of the range
        fixed = profile
        if floor is not None and version is None:
            self._unresolved, self._exact, self._floor = profile, None, floor
            fixed = profile.for_firmware(floor)
        self._fixed: PivProfile = fixed
        """The profile's values no ``[[firmware]]`` range changes (AID, PIN limits,
        labels, data objects, quirks): read without the version."""
        self._serial = serial
        self._serial_read = serial is not None
        self.protocol = SmartCardProtocol(self.transport, extended=fixed.quirks.extended_apdus)
        self.card = PivCard(self.protocol, fixed.aid)
        self._user: int | None = None  # CKU.USER or CKU.SO while logged in
        self._pin: bytearray | None = None  # padded PIN, only while the user is logged in
        self._mgmt: ManagementKey | None = None  # only while the SO is logged in
        self._context_pending = False  # a CKU_CONTEXT_SPECIFIC login awaits its one use
        self._slots: Dict[int, SlotContents] | None = None
        self._public_data: List[TokenObject] | None = None
        self._private_data: List[TokenObject] | None = None
        self._objects_stale = False
        # Slots read one at a time by objects_with_id(): key -> (read epoch, contents or None).
        # An entry is current while its epoch equals _read_epoch (bumped by a reset).
        self._single_slots: Dict[int, Tuple[int, SlotContents | None]] = {}
        self._read_epoch = 0
        self._chuid: bytes | None = None
        self._last_pin_tries: int | None = None
        # Attestation certificates made so far: key slot -> (read epoch, object).
        # None: the slot has no attestation (an imported key, no key), so a second find
        # costs no APDU either.
        self._attestations: Dict[int, Tuple[int, TokenObject | None]] = {}

    # ----------------------------------------------------------- firmware
    @property
    def profile(self) -> PivProfile:
        """The profile resolved for the card's firmware (reads the version first where
        the card was named by its ATR and nothing needed it yet)."""
        if self._exact is None:
            self._learn_version()
            assert self._exact is not None
        return self._exact

    @property
    def version(self) -> Version | None:
        """The card's firmware version (a YubiKey's GET VERSION; None for a generic PIV
        card), read at the first ask where detection did not."""
        if self._exact is None:
            self._learn_version()
        return self._version

    def _learn_version(self) -> None:
        """Read the version: inside the operation running now, or in a transaction of its own."""
        if self._transactions:
            self._read_version()
        else:
            self._run(self._read_version, relogin_on_6982=False)

    def _read_version(self) -> None:
        """Inside a transaction: GET VERSION (or what the card's other token read), and
        the profile resolved for it."""
        if self._exact is not None or self._unresolved is None:
            return
        version = self.shared.version
        if version is None:
            try:
                version = self.card.get_version()
            except self.lost_selection:
                raise  # another applet has the card: _run restores and asks again
            except ApduError:
                raise errors.DeviceError("the card's ATR names a YubiKey, but it does not tell its firmware") from None
            self.shared.version = version
        self._version = version
        self._exact = self._unresolved.for_firmware(version)
        self._steps = None

    def _settled(self, read: Callable[[PivProfile], T]) -> List[T]:
        """``[read(profile)]`` where that is the same on every firmware the card may have
        (or the version is read); the differing values where the range leaves it open."""
        if self._exact is not None:
            return [read(self._exact)]
        if self._steps is None:
            assert self._unresolved is not None
            self._steps = tuple(self._unresolved.for_firmware(version)
                                for version in self._unresolved.firmware_steps(self._floor, self._ceiling))
        values = [read(profile) for profile in self._steps]
        if all(value == values[0] for value in values[1:]):
            return values[:1]
        return values

    def _firmware_value(self, read: Callable[[PivProfile], T]) -> T:
        """``read(profile)`` for the card's firmware: without the version where settled."""
        values = self._settled(read)
        return values[0] if len(values) == 1 else read(self.profile)

    def _feature(self, name: str) -> bool:
        """Whether the card has feature ``name``: without the version where settled."""
        return self._firmware_value(lambda profile: profile.feature(name))

    def _known_feature(self, name: str) -> bool | None:
        """Whether the card has feature ``name``, or None where the range leaves it open."""
        values = self._settled(lambda profile: profile.feature(name))
        return values[0] if len(values) == 1 else None

    def _narrow(self, *, floor: Version | None = None, ceiling: Version | None = None) -> None:
        """The card's answers showed its firmware is at least ``floor`` / below ``ceiling``."""
        if self._exact is not None:
            return
        new_floor = max(self._floor, floor) if floor is not None else self._floor
        new_ceiling = ceiling if ceiling is not None and (self._ceiling is None or ceiling < self._ceiling) \
            else self._ceiling
        if new_ceiling is not None and new_ceiling <= new_floor:
            self._read_version()  # the answers contradict each other: ask the card
            return
        self._floor, self._ceiling, self._steps = new_floor, new_ceiling, None

    # ----------------------------------------------------------- sharing
    def _state_lost(self) -> None:
        """The card was reset: another program may have changed keys, so re-read at the
        next objects(). The old slot table stays for looking up keys the engine already
        handed us."""
        self._objects_stale = True
        self._read_epoch += 1
        self._private_data = None

    def _select_applet(self) -> None:
        self.card.select()

    def _logged_in(self) -> bool:
        return self._user is not None

    def _relogin(self) -> None:
        """Re-establish this application's login (PIN or management key) after a SELECT."""
        if self._user == CKU.USER and self._pin is not None:
            try:
                self.card.verify_pin(bytes(self._pin))
            except (WrongPinError, AuthBlockedError):
                # The PIN changed or was blocked by someone else: we are no longer logged in.
                self._forget_credentials()
                raise errors.UserNotLoggedIn("the card no longer accepts this application's PIN") from None
        elif self._user == CKU.SO and self._mgmt is not None:
            self._mgmt.authenticate(self.card)

    def _touch_timed_out(self) -> bool:
        """One empty VERIFY (only on this error path): the PIN still verified means the
        6982 was the touch timing out."""
        return self._user == CKU.USER and self._pin_still_verified()

    def _pin_still_verified(self) -> bool:
        try:
            return self.card.pin_status() is None
        except ApduError:
            return False

    # -------------------------------------------------------------- info
    @property
    def serial(self) -> int | None:
        """The card's serial number (GET SERIAL where the profile says the card has
        it), read at the first ask and kept: detection does not read it, because a
        signature never needs it (the token info's serial and label do). None where
        the card has no serial or does not tell."""
        if not self._serial_read and self._feature("serial"):
            self._run(self._read_serial, relogin_on_6982=False)
        return self._serial

    def _read_serial(self) -> None:
        """Inside a transaction: GET SERIAL, once per token (the card's other tokens
        share what it answered through :class:`SharedCard`)."""
        if self._serial_read or not self._feature("serial"):
            return
        if self.shared.serial is None:
            try:
                self.shared.serial = self.card.get_serial()
            except self.lost_selection:
                raise  # another applet has the card: _run restores and asks again
            except ApduError:
                pass  # the card does not tell
        self._serial = self.shared.serial
        self._serial_read = True

    def info(self) -> TokenInfo:
        flags = (TokenFlag.RNG | TokenFlag.LOGIN_REQUIRED | TokenFlag.USER_PIN_INITIALIZED
                 | TokenFlag.TOKEN_INITIALIZED)

        def read() -> Tuple[int | None, int | None]:
            self._read_version()  # the model and firmware below; what the serial and counter need
            self._read_serial()  # the label and serial below need it: one transaction for all three
            return self._read_pin_tries()

        tries, total = self._run(read, relogin_on_6982=False)
        if tries is not None:
            if tries == 0:
                flags |= TokenFlag.USER_PIN_LOCKED
            elif tries == 1:
                flags |= TokenFlag.USER_PIN_FINAL_TRY | TokenFlag.USER_PIN_COUNT_LOW
            elif total is not None and tries < total:
                flags |= TokenFlag.USER_PIN_COUNT_LOW
        version = self.version or (0, 0, 0)
        return TokenInfo(
            label=self._format(self.profile.label),
            manufacturer_id=self.profile.manufacturer,
            model=self._format(self.profile.model),
            serial_number=self._serial_text(),
            flags=int(flags),
            min_pin_len=self.profile.pin_min,
            max_pin_len=self.profile.pin_max,
            hardware_version=(0, 0),
            # CK_VERSION has two numbers: 5.7.2 becomes 5.72, as ykcs11 reports it.
            firmware_version=(version[0], min(255, version[1] * 10 + version[2])),
        )

    def _pin_tries(self) -> Tuple[int | None, int | None]:
        """:meth:`_read_pin_tries` in a transaction of its own."""
        return self._run(self._read_pin_tries, relogin_on_6982=False)

    def _read_pin_tries(self) -> Tuple[int | None, int | None]:
        """(tries left, total) from GET METADATA 80 where supported, else an empty VERIFY
        (which cannot tell while the PIN is verified: then the last known count is kept)."""
        if self.profile.feature("metadata"):
            meta = self.card.pin_metadata()
            return meta.remaining, meta.total
        tries = self.card.pin_status()
        if tries is not None:
            self._last_pin_tries = tries
        return self._last_pin_tries, None

    def _format(self, template: str) -> str:
        version = self.version or (0, 0, 0)
        return template.format(serial=self.serial if self.serial is not None else "", major=version[0],
                               minor=version[1], patch=version[2])

    def _serial_text(self) -> str:
        if self.serial is not None:
            return str(self.serial)
        chuid = self._read_chuid()
        if chuid:
            try:
                fields = tlv_dict(chuid)
            except ValueError:
                return "0"  # a CHUID that is not TLV names no card: as if there were none
            for tag in (0x34, 0x30):  # GUID, then FASC-N
                value = fields.get(tag, b"")
                if value.strip(b"\x00"):
                    return value.hex().upper()[:16]
        return "0"

    def _read_chuid(self) -> bytes | None:
        if self._chuid is None:
            def read() -> bytes:
                try:
                    return self.card.get_data(DataObject.CHUID)
                except NotFoundError:
                    return b""
            try:
                self._chuid = self._run(read, relogin_on_6982=False)
            except errors.CryptokiError:
                return None
        return self._chuid

    # -------------------------------------------------------- mechanisms
    def mechanisms(self) -> Dict[int, MechanismInfo]:
        return dict(_mechanism_table(self.profile.algorithms))

    def mechanism_flags(self, mechanism: int) -> int | None:
        """One mechanism's flags (C_SignInit's check), without the version where every
        firmware the card may have agrees (e.g. ECDSA and RSA sign on every YubiKey,
        only the largest RSA key grows with 5.7)."""
        def flags(profile: PivProfile) -> int | None:
            info = _mechanism_table(profile.algorithms).get(int(mechanism))
            return None if info is None else int(info.flags)

        return self._firmware_value(flags)

    # ----------------------------------------------------------- objects
    def objects(self) -> List[TokenObject]:
        """All objects, read at the first call after insertion (or after a reset by
        someone else) and cached: SELECT, one GET DATA per certificate container and
        public data object, and GET METADATA per key slot where the card has
        metadata. PIN-protected data objects are read (and listed) only while the
        user is logged in. Attestation certificates are listed once a find by their
        CKA_ID made them (:meth:`objects_with_id`); listing never attests."""
        with self._lock:
            if self._slots is None or self._public_data is None or self._objects_stale:
                self._slots, self._public_data = self._run(self._read_all)
                self._objects_stale = False
            if self._user == CKU.USER and self._private_data is None:
                self._private_data = self._run(lambda: self._read_data_objects(private=True))
            result: List[TokenObject] = []
            for contents in self._slots.values():
                result.extend(self._key_objects(contents))
            result.extend(self._public_data)
            if self._user == CKU.USER and self._private_data:
                result.extend(self._private_data)
            for slot, (epoch, attestation) in sorted(self._attestations.items()):
                if attestation is not None and epoch == self._read_epoch and slot in self._slots:
                    result.append(attestation)
            return result

    def _key_objects(self, contents: SlotContents) -> List[TokenObject]:
        return key_objects(contents, self._fixed.labels, policies=self._feature("policies"),
                           destroyable=self._key_destroyable(contents.spec))

    def _key_destroyable(self, spec: SlotSpec) -> bool | None:
        """Whether the key in ``spec`` can be deleted (MOVE/DELETE KEY; F9's never is);
        None where only the version tells (the key objects then name CKA_DESTROYABLE
        late: :meth:`settle`)."""
        if not spec.usage:
            return False
        return self._known_feature("move_delete")

    def _key_deletable(self, spec: SlotSpec) -> bool:
        """Whether the card deletes the key in ``spec`` (what :meth:`_key_destroyable`
        leaves open decided: the version read where needed)."""
        return bool(spec.usage) and self._feature("move_delete")

    def settle(self, obj: TokenObject) -> Dict[int, Any]:
        """CKA_DESTROYABLE of a key object made before the version was known."""
        kind, slot = obj.ref
        if CKA.DESTROYABLE not in obj.late or kind not in (ObjectKind.PRIVATE_KEY, ObjectKind.PUBLIC_KEY):
            return {}
        spec = self.profile.slot(slot)  # the version read here, if nothing read it yet
        return {CKA.DESTROYABLE: spec is not None and self._key_deletable(spec)}

    def _key_slots(self, cka_id: bytes | None = None) -> List[SlotSpec]:
        """The card's key slots (those whose CKA_ID is ``cka_id``): a slot that needs a
        feature only if the card has it, which is asked only of the slots wanted."""
        if self._exact is not None:
            return [spec for spec in self._exact.slots if cka_id is None or spec.cka_id == cka_id]
        assert self._unresolved is not None
        return [spec for spec in self._unresolved.slots
                if (cka_id is None or spec.cka_id == cka_id)
                and (spec.requires is None or self._feature(spec.requires))]

    def objects_with_id(self, cka_id: bytes) -> List[TokenObject]:
        """Exactly the objects of :meth:`objects` whose CKA_ID is ``cka_id``, reading
        only the slot(s) with that id: its certificate container and GET METADATA (2
        APDUs instead of 56 on a YubiKey; SELECT and VERIFY again only when the card may
        have lost our state, or when the slot reads empty, see ``read`` below), then
        cached like the full list. Data objects have no CKA_ID, so they are never among them.
        The CKA_ID of an attestation certificate (a key's id + 100) makes it: SELECT
        (+ VERIFY when logged in) and ATTEST, or nothing for a key the card did not
        generate."""
        cka_id = bytes(cka_id)
        specs = self._key_slots(cka_id)
        attested = [spec for spec in self._attestable_slots(cka_id) if attestation_id(spec) == cka_id]
        if attested:
            return [obj for spec in attested for obj in self._attestation_objects(spec)]
        with self._lock:
            if self._slots is not None and not self._objects_stale:
                found = [self._slots[spec.key] for spec in specs if spec.key in self._slots]
            else:
                missing = [spec for spec in specs
                           if self._single_slots.get(spec.key, (None, None))[0] != self._read_epoch]
                if missing:
                    epoch = self._read_epoch

                    def read() -> List[Tuple[SlotSpec, SlotContents | None]]:
                        # No SELECT first: _run restores after a reset or this process's use of
                        # another applet, and another program's applet answers PIV's GET DATA or
                        # GET METADATA with 6D00/6E00 (a lost selection: restore, retry). Only
                        # "nothing there" is ambiguous (another applet's 6A82 would read as an
                        # empty slot): a read that found nothing is repeated after our own
                        # SELECT (+ VERIFY when logged in, as the SELECT drops the PIN status).
                        # One answer that shows a key proves PIV had the card for the whole
                        # transaction (nobody else's APDU comes between ours).
                        found = [(spec, self._read_slot(spec)) for spec in missing]
                        if all(contents is None for _, contents in found) and not self._restored_in_transaction:
                            self._restore()
                            found = [(spec, self._read_slot(spec)) for spec in missing]
                        return found

                    for spec, contents in self._run(read):
                        self._single_slots[spec.key] = (epoch, contents)
                found = [entry for entry in (self._single_slots[spec.key][1] for spec in specs)
                         if entry is not None]
            result: List[TokenObject] = []
            for contents in found:
                result.extend(self._key_objects(contents))
            return result

    def _attestable_slots(self, cka_id: bytes) -> List[SlotSpec]:
        """The key slots whose generated keys ATTEST certifies (not F9 itself), where
        ``cka_id`` is the attestation id of one of them (whether the card attests is
        asked only then)."""
        slots = [spec for spec in self._fixed.slots if spec.usage and attestation_id(spec) == cka_id]
        if not slots or not self._feature("attestation"):
            return []
        return slots

    def _attestation_objects(self, spec: SlotSpec) -> List[TokenObject]:
        """The attestation certificate object of ``spec``'s key, made at the first ask
        and kept until the key changes (or another program resets the card)."""
        with self._lock:
            cached = self._attestations.get(spec.key)
            if cached is not None and cached[0] == self._read_epoch:
                return [cached[1]] if cached[1] is not None else []
            epoch = self._read_epoch

            def read() -> bytes | None:
                self._restore_once()  # another applet's 6A82 must not read as "no key" (see objects_with_id)
                try:
                    return self.card.attest(spec.key)
                except (IncorrectParametersError, NotFoundError, ReferenceNotFoundError,
                        ConditionsNotSatisfiedError):
                    return None  # an imported key, an empty slot, or no attestation key

            der = self._run(read)
            if der is None:
                self._attestations[spec.key] = (epoch, None)
                return []
            cert = read_certificate_fields(der)
            assert cert is not None  # PivCard.attest answers only readable certificates
            obj = attestation_object(spec, cert, self._fixed.labels)
            self._attestations[spec.key] = (epoch, obj)
            return [obj]

    def _read_all(self) -> Tuple[Dict[int, SlotContents], List[TokenObject]]:
        # Another program may have selected another applet since our last
        # transaction; one SELECT here makes the listing trustworthy.
        self.card.select()
        slots: Dict[int, SlotContents] = {}
        for spec in self._key_slots():
            # A slot objects_with_id() read since the last reset is not read again (a write
            # of ours drops those reads: _slot_changed, destroy_object).
            known = self._single_slots.get(spec.key)
            contents = known[1] if known is not None and known[0] == self._read_epoch else self._read_slot(spec)
            if contents is not None:
                slots[spec.key] = contents
        return slots, self._read_data_objects(private=False)

    def _read_slot(self, spec: SlotSpec) -> SlotContents | None:
        """One key slot: its certificate container, plus GET METADATA where the card
        has it (for keys without a certificate it is the only way to see them; for
        keys with one it tells PIN policy and origin, so ALWAYS_AUTHENTICATE, LOCAL
        and NEVER_EXTRACTABLE are right: one APDU per populated slot)."""
        cert_der: bytes | None = None
        try:
            cert_der = parse_certificate_container(self.card.get_data(spec.container))
        except NotFoundError:
            pass
        meta = None
        metadata = self._known_feature("metadata")
        if metadata is None:
            meta = self._probe_key_metadata(spec, piv_answered=cert_der is not None)
        elif metadata:
            try:
                meta = self.card.key_metadata(spec.key)
            except _NO_KEY_METADATA:
                meta = None
        if meta is not None and meta.algorithm in KEY_ALGORITHMS:
            algorithm = KEY_ALGORITHMS[meta.algorithm]
            return SlotContents(spec, algorithm, public_key_from_card(algorithm, meta.public_key), cert_der,
                                pin_policy=meta.pin_policy, origin=meta.origin, touch_policy=meta.touch_policy)
        if cert_der is None:
            return None
        return self._certificate_only(spec, cert_der)

    def _probe_key_metadata(self, spec: SlotSpec, *, piv_answered: bool) -> KeyMetadata | None:
        """GET METADATA of ``spec``'s key where the firmware range leaves open whether the
        card has it; its answer narrows the range. ``piv_answered``: PIV answered a read
        of this transaction (nobody's APDU comes between ours), so a 6D00 now means the
        card lacks the command rather than that another applet has the card; without
        that the version decides (GET VERSION here)."""
        assert self._unresolved is not None
        brought = self._unresolved.first_firmware_with("metadata")
        try:
            meta = self.card.key_metadata(spec.key)
        except _NO_KEY_METADATA:
            return None  # no key there (says nothing of the firmware: another applet may answer so)
        except InsNotSupportedError:
            if piv_answered and brought is not None:
                self._narrow(ceiling=brought)
                return None
            self._read_version()
            if self.profile.feature("metadata"):
                raise  # the card has the command: another applet has the card (restore, retry)
            return None
        self._narrow(floor=brought)
        return meta

    @staticmethod
    def _certificate_only(spec: SlotSpec, cert_der: bytes) -> SlotContents | None:
        """Slot contents known only from the certificate (cards without metadata)."""
        cert = read_certificate_fields(cert_der)
        if cert is None:
            return None
        public_key = cert.public_key
        algorithm = algorithm_of(public_key)
        if algorithm is None:
            return None
        assert is_public_key(public_key), "algorithm_of knows only these"
        return SlotContents(spec, algorithm, public_key, cert_der)

    def _read_data_objects(self, *, private: bool) -> List[TokenObject]:
        found = []
        for spec in self._fixed.data_objects:
            if spec.private != private:
                continue
            try:
                value = self.card.get_data(spec.tag, sensitive=private)
            except NotFoundError:
                continue
            except SecurityStatusError:
                if private:
                    raise
                continue  # a card that PIN-protects more than SP 800-73 says: skip it
            if spec.tag == DataObject.CHUID:
                self._chuid = value
            found.append(data_object(spec, value))
        return found

    def _contents(self, key: TokenObject) -> SlotContents:
        kind, slot = key.ref
        if self._slots is None:
            single = self._single_slots.get(slot)
            if single is not None and single[1] is not None:
                return single[1]  # listed by objects_with_id(); kept across resets like the full table
            self.objects()
        contents = (self._slots or {}).get(slot)
        if contents is None:
            raise errors.KeyHandleInvalid()
        return contents

    # ------------------------------------------------------------- login
    def login(self, user_type: int, pin: bytes) -> None:
        """CKU_USER: VERIFY the PIN (length checked first, nothing sent if out of range).
        CKU_SO: management key mutual authentication. CKU_CONTEXT_SPECIFIC: VERIFY now;
        the next private-key operation uses it. Never retries a wrong PIN."""
        pin = pin.encode() if isinstance(pin, str) else bytes(pin)
        if user_type == CKU.SO:
            self._login_so(pin)
            return
        if user_type not in (CKU.USER, CKU.CONTEXT_SPECIFIC):
            raise errors.UserTypeInvalid()
        if not self._fixed.pin_min <= len(pin) <= self._fixed.pin_max:
            raise errors.PinLenRange()
        padded = bytearray(pin.ljust(8, bytes([self._fixed.pin_pad])))
        try:
            # 6982 here cannot mean "lost login": never re-verify a PIN being checked.
            self._run(lambda: self.card.verify_pin(bytes(padded)), relogin_on_6982=False)
        except errors.PinIncorrect:
            self._wipe(padded)
            if user_type == CKU.USER:
                self._forget_credentials()
            raise
        except errors.CryptokiError:
            self._wipe(padded)
            raise
        if user_type == CKU.CONTEXT_SPECIFIC:
            # The card now allows one use of a PIN-always key; the PIN itself is not
            # kept beyond the user login's copy.
            self._context_pending = True
            self._wipe(padded)
            return
        self._forget_credentials()
        self._pin = padded
        self._user = CKU.USER
        self._private_data = None
        self._private_objects_changed()

    def _private_objects_changed(self) -> None:
        """PIN-protected data objects appear at login and vanish at logout: bump
        the generation so the engine re-reads :meth:`objects` (it keeps the handles
        of objects that still exist, and nothing but these data objects is re-read)."""
        if any(spec.private for spec in self._fixed.data_objects):
            self._generation += 1

    def _login_so(self, secret: bytes) -> None:
        from .mgmt import parse_management_key  # the SO's: a signature never loads it

        def authenticate() -> ManagementKey:
            algorithm = self.profile.management_key_default
            if self.profile.feature("metadata"):
                algorithm = self.card.management_key_algorithm()
            key = parse_management_key(secret, algorithm, self.profile.management_key_algorithms)
            key.authenticate(self.card)
            return key

        key = self._run(authenticate, relogin_on_6982=False)
        self._forget_credentials()
        self._mgmt = key
        self._user = CKU.SO

    def logout(self) -> None:
        """Forget the PIN / management key and drop the card's security status."""
        was_user = self._user == CKU.USER
        was_logged_in = self._user is not None
        self._forget_credentials()
        self._private_data = None
        if was_user:
            self._private_objects_changed()
        if was_logged_in:
            self._end_card_login(self._drop_security_status)

    def _drop_security_status(self) -> None:
        if self._fixed.verify_reset:
            try:
                self.card.reset_pin_status()
                return
            except (IncorrectParametersError, ReferenceNotFoundError, InsNotSupportedError):
                pass  # the card does not know P1=FF after all
        self.card.select()

    def _forget_credentials(self) -> None:
        if self._pin is not None:
            self._wipe(self._pin)
        if self._mgmt is not None:
            self._mgmt.wipe()
        self._pin = None
        self._mgmt = None
        self._user = None
        self._context_pending = False

    @staticmethod
    def _wipe(buffer: bytearray) -> None:
        wipe(buffer)

    # ------------------------------------------------------ key operations
    def _use_key(self, contents: SlotContents, payload: Callable[[], bytes]) -> bytes:
        """One private-key operation; PIN-always keys need a pending context login
        before we would re-verify after a lost state."""
        always = contents.always_authenticate
        allow_relogin = not always or self._context_pending
        try:
            return self._run(payload, relogin_on_6982=allow_relogin, touch=contents.needs_touch)
        finally:
            if always:
                self._context_pending = False

    def sign(self, key: TokenObject, mechanism: int, parameter: Any, data: bytes) -> bytes:
        contents = self._contents(key)
        if not key.attributes.get(_CKA_SIGN):
            raise errors.KeyFunctionNotPermitted()
        algorithm = contents.algorithm
        slot = contents.spec.key
        # Every result is checked against the public key before it is returned
        # (card_results): a faulty or hostile card never hands out a bad signature.
        family = algorithm.family
        if family == _RSA_FAMILY:
            block = self._rsa_sign_block(contents, int(mechanism), parameter, bytes(data))
            result = self._use_key(contents, lambda: self.card.sign_raw(algorithm.ident, slot, block))
            payload = bytes(data) if mechanism == CKM.RSA_PKCS else None  # block is PKCS#1 v1.5 around it
            return card_results.rsa_private_result(contents.rsa_key, block, result,
                                                   "signature", pkcs1_payload=payload)
        if family == _EC_FAMILY:
            if mechanism != _CKM_ECDSA:
                raise errors.MechanismInvalid()
            size = algorithm.byte_length
            digest = bytes(data)[:size].rjust(size, b"\x00")
            der = self._use_key(contents, lambda: self.card.sign_raw(algorithm.ident, slot, digest))
            return card_results.ecdsa_signature(contents.ec_key, digest, der)
        if family == KeyFamily.ED25519:
            if mechanism != CKM.EDDSA:
                raise errors.MechanismInvalid()
            if parameter is not None and (getattr(parameter, "phflag", False) or getattr(parameter, "context", b"")):
                raise errors.MechanismParamInvalid("only pure Ed25519 is supported")
            message = bytes(data)
            signature = self._use_key(contents, lambda: self.card.sign_raw(algorithm.ident, slot, message))
            return card_results.eddsa_signature(contents.ed25519_key, message, signature)
        raise errors.KeyFunctionNotPermitted()

    @staticmethod
    def _rsa_sign_block(contents: SlotContents, mechanism: int, parameter: Any, data: bytes) -> bytes:
        k = contents.algorithm.byte_length
        if mechanism == CKM.RSA_PKCS:
            return rsa_padding.pkcs1_v15_sign_pad(data, k)
        if mechanism == CKM.RSA_X_509:
            return _raw_rsa_input(contents, data)
        if mechanism == CKM.RSA_PKCS_PSS:
            if parameter is None:
                raise errors.MechanismParamInvalid("RSA_PKCS_PSS needs CK_RSA_PKCS_PSS_PARAMS")
            name = rsa_padding.hash_name(parameter.hash_alg)
            return rsa_padding.pss_encode(data, contents.algorithm.bits, name,
                                          rsa_padding.mgf_hash_name(parameter.mgf), int(parameter.salt_len))
        raise errors.MechanismInvalid()

    def decrypt(self, key: TokenObject, mechanism: int, parameter: Any, data: bytes) -> bytes:
        contents = self._contents(key)
        if not key.attributes.get(CKA.DECRYPT) or contents.algorithm.family != KeyFamily.RSA:
            raise errors.KeyFunctionNotPermitted()
        if mechanism not in (CKM.RSA_PKCS, CKM.RSA_X_509, CKM.RSA_PKCS_OAEP):
            raise errors.MechanismInvalid()
        k = contents.algorithm.byte_length
        data = bytes(data)
        if len(data) != k:
            raise errors.EncryptedDataLenRange()
        if mechanism == CKM.RSA_PKCS_OAEP:
            if parameter is None:
                raise errors.MechanismParamInvalid("RSA_PKCS_OAEP needs CK_RSA_PKCS_OAEP_PARAMS")
            hash_name = rsa_padding.hash_name(parameter.hash_alg)
            mgf_name = rsa_padding.mgf_hash_name(parameter.mgf)
            source = int(getattr(parameter, "source", 0) or 0)
            if source not in (0, CKZ.DATA_SPECIFIED):
                raise errors.MechanismParamInvalid("unknown OAEP source")
            label = bytes(getattr(parameter, "source_data", b"") or b"")
        if int.from_bytes(data, "big") >= int.from_bytes(_modulus(contents), "big"):
            raise errors.EncryptedDataInvalid()
        algorithm, slot = contents.algorithm, contents.spec.key
        answer = self._use_key(contents, lambda: self.card.sign_raw(algorithm.ident, slot, data, secret_result=True))
        block = card_results.rsa_private_result(contents.rsa_key, data, answer, "decryption")
        if mechanism == CKM.RSA_X_509:
            return block
        if mechanism == CKM.RSA_PKCS:
            return rsa_padding.pkcs1_v15_decrypt_unpad(block, k)
        return rsa_padding.oaep_decode(block, k, hash_name, mgf_name, label)

    def derive(self, key: TokenObject, mechanism: int, parameter: Any) -> bytes:
        contents = self._contents(key)
        if not key.attributes.get(CKA.DERIVE):
            raise errors.KeyFunctionNotPermitted()
        point = ecdh_peer_point(mechanism, parameter, _point_length(contents.algorithm))
        algorithm, slot = contents.algorithm, contents.spec.key
        secret = self._use_key(contents, lambda: self.card.ecdh(algorithm.ident, slot, point))
        return card_results.ecdh_secret(secret, algorithm.byte_length)

    def generate_random(self, length: int) -> bytes:
        """Host CSPRNG: the PIV applet offers no random numbers to applications."""
        return os.urandom(length)

    # ----------------------------------------------------- PINs and the PUK
    def _padded(self, value: bytes, what: str) -> bytes:
        """A PIN or PUK padded for the card; PIN_LEN_RANGE (nothing sent) when its
        length is outside the profile's limits."""
        value = bytes(value)
        fixed = self._fixed
        if not fixed.pin_min <= len(value) <= fixed.pin_max:
            raise errors.PinLenRange(f"a {what} has {fixed.pin_min} to {fixed.pin_max} characters")
        return value.ljust(8, bytes([fixed.pin_pad]))

    def set_pin(self, user_type: int, old_pin: bytes, new_pin: bytes) -> None:
        """C_SetPIN.

        CKU_USER (or not logged in): the PIN (CHANGE REFERENCE DATA), or with
        ykcs11's prefixes the PUK: old ``puk:<PUK>`` and new ``pin:<new PIN>``
        unblocks the PIN (:meth:`unblock_pin`); old ``puk:<PUK>`` and new ``<new
        PUK>`` or ``puk:<new PUK>`` changes the PUK (:meth:`change_puk`).

        CKU_SO (logged in as SO): the management key. ``old_pin`` is the current
        key as at the SO login (checked here, no card I/O); ``new_pin`` is hex, its
        algorithm the current one unless its length says otherwise
        (:func:`~.mgmt.new_management_key`); the touch flag is kept."""
        old_pin = old_pin.encode() if isinstance(old_pin, str) else bytes(old_pin)
        new_pin = new_pin.encode() if isinstance(new_pin, str) else bytes(new_pin)
        if user_type == CKU.SO:
            from .mgmt import parse_management_key  # see _login_so

            self._require_so()
            assert self._mgmt is not None
            old = parse_management_key(old_pin, self._mgmt.algorithm, self.profile.management_key_algorithms)
            try:
                if not old.same_key(self._mgmt):
                    raise errors.PinIncorrect(None, "the old management key is not the one logged in")
            finally:
                old.wipe()
            self.change_management_key(new_pin)
            return
        if user_type != CKU.USER:
            raise errors.FunctionNotSupported()
        if old_pin.startswith(b"puk:"):
            if new_pin.startswith(b"pin:"):
                self.unblock_pin(old_pin[4:], new_pin[4:])
            else:
                self.change_puk(old_pin[4:], new_pin[4:] if new_pin.startswith(b"puk:") else new_pin)
            return
        old_padded, new_padded = self._padded(old_pin, "PIN"), self._padded(new_pin, "PIN")
        self._run(lambda: self.card.change_pin(old_padded, new_padded), relogin_on_6982=False)
        self._pin_changed(new_padded)

    def _pin_changed(self, new_padded: bytes) -> None:
        """The PIN is now ``new_padded``: a logged-in user's kept copy follows, so a later
        restore after someone else's reset verifies the right PIN (not a wrong try)."""
        self._last_pin_tries = None
        if self._pin is not None:
            self._wipe(self._pin)
            self._pin = bytearray(new_padded)

    def change_puk(self, old_puk: bytes, new_puk: bytes) -> None:
        """Change the PUK (CHANGE REFERENCE DATA 81); no login needed. A wrong PUK raises
        PinIncorrect with the PUK's tries left, a blocked one PinLocked."""
        old_padded, new_padded = self._padded(old_puk, "PUK"), self._padded(new_puk, "PUK")
        self._run(lambda: self.card.change_puk(old_padded, new_padded), relogin_on_6982=False)

    def unblock_pin(self, puk: bytes, new_pin: bytes) -> None:
        """Set a new PIN with the PUK (RESET RETRY COUNTER), with all its tries again; no
        login needed. A wrong PUK raises PinIncorrect with the PUK's tries left."""
        puk_padded, new_padded = self._padded(puk, "PUK"), self._padded(new_pin, "PIN")
        self._run(lambda: self.card.unblock_pin(puk_padded, new_padded), relogin_on_6982=False)
        self._pin_changed(new_padded)

    def init_pin(self, new_pin: bytes) -> None:
        """C_InitPIN: not on PIV. Only the PUK resets the PIN, and the SO (the management
        key) does not hold it; unblock with C_SetPIN("puk:<PUK>", "pin:<new PIN>")."""
        raise errors.FunctionNotSupported("PIV resets the PIN with the PUK: C_SetPIN('puk:<PUK>', 'pin:<PIN>')")

    def _require_so(self) -> None:
        if self._user != CKU.SO:
            raise errors.UserNotLoggedIn("this needs the SO (management key) login")

    def _require_feature(self, name: str, what: str) -> None:
        if not self.profile.feature(name):
            raise errors.FunctionNotSupported(f"this card cannot {what}")

    def access_status(self) -> AccessStatus:
        """PIN, PUK and management key status (tries, default values, algorithm,
        touch), from GET METADATA where the card has it (3 APDUs), else the PIN's tries
        from an empty VERIFY."""
        if not self.profile.feature("metadata"):
            tries, _ = self._pin_tries()
            return AccessStatus(tries, None, None, None)

        def read() -> AccessStatus:
            pin = self.card.pin_metadata()
            return AccessStatus(pin.remaining, pin, self.card.puk_metadata(), self.card.management_key_metadata())

        return self._run(read, relogin_on_6982=False)

    def change_management_key(self, new_key: bytes, algorithm: ManagementKeyAlgorithm | None = None,
                              require_touch: bool | None = None) -> None:
        """SET MANAGEMENT KEY, as the logged-in SO. ``new_key``: hex digits;
        ``algorithm``: None keeps the current one unless the length says otherwise;
        ``require_touch``: None keeps the current key's touch flag. The SO stays
        logged in with the new key."""
        self._require_so()
        self._require_feature("set_management_key", "change its management key")
        assert self._mgmt is not None
        from .mgmt import new_management_key  # see _login_so

        key = new_management_key(new_key, self._mgmt.algorithm, self.profile.management_key_algorithms, algorithm)

        def change() -> None:
            touch = require_touch
            if touch is None:
                touch = (self.profile.feature("metadata")
                         and self.card.management_key_metadata().touch_policy == TouchPolicy.ALWAYS)
            key.set_on(self.card, require_touch=bool(touch))

        try:
            self._run(change)
        except errors.CryptokiError:
            key.wipe()
            raise
        if self._mgmt is not None:
            self._mgmt.wipe()
        self._mgmt = key

    def set_pin_retries(self, pin_tries: int, puk_tries: int, pin: bytes) -> None:
        """SET PIN RETRIES as the logged-in SO, with the PIN (the card needs both). The
        YubiKey then puts PIN and PUK back to 123456 / 12345678."""
        self._require_so()
        self._require_feature("set_pin_retries", "set the PIN and PUK retries")
        if not (1 <= int(pin_tries) <= 255 and 1 <= int(puk_tries) <= 255):
            raise errors.ArgumentsBad("PIN and PUK tries are 1 to 255")
        padded = self._padded(pin, "PIN")

        def change() -> None:
            self.card.verify_pin(padded)
            self.card.set_pin_retries(int(pin_tries), int(puk_tries))

        self._run(change, relogin_on_6982=False)
        self._last_pin_tries = None

    # ---------------------------------------------------------------- reset
    def factory_reset(self) -> None:
        """``ykman piv reset``: block the PIN and the PUK (wrong tries until the card says
        blocked), then RESET. No login needed. Keys, certificates and data objects are
        gone; PIN 123456, PUK 12345678, the factory management key; F9 stays. A card
        without RESET raises FunctionNotSupported before anything is spent."""
        self._require_feature("reset", "be reset (no RESET instruction)")
        self._forget_credentials()
        try:
            self._run(self.card.factory_reset, relogin_on_6982=False)
        finally:
            self._after_own_reset()

    def init_token(self, so_pin: bytes, label: str) -> None:
        """C_InitToken (the engine checks that no session is open): ``so_pin`` is the
        current management key (hex or raw, as at the SO login), checked first (a
        wrong one resets nothing). Then :meth:`factory_reset`, and the management key
        is set back to ``so_pin`` (algorithm and touch flag as before): after
        C_InitToken the SO PIN is ``so_pin``, as the spec says. ``label`` (at most 32
        bytes of UTF-8; the C layer has stripped its blank padding) has no place on a
        PIV card: it is checked and ignored, CK_TOKEN_INFO keeps the profile's label."""
        if len(str(label).encode("utf-8")) > 32:
            raise errors.ArgumentsBad("a token label has at most 32 bytes")
        self._require_feature("reset", "be reset (no RESET instruction)")
        secret = so_pin.encode() if isinstance(so_pin, str) else bytes(so_pin)
        factory = self.profile.management_key_factory
        from .mgmt import ManagementKey, parse_management_key  # see _login_so

        def reinitialize() -> None:
            algorithm = self.profile.management_key_default
            if self.profile.feature("metadata"):
                algorithm = self.card.management_key_algorithm()
            key = parse_management_key(secret, algorithm, self.profile.management_key_algorithms)
            try:
                key.authenticate(self.card)
                touch = (self.profile.feature("metadata")
                         and self.card.management_key_metadata().touch_policy == TouchPolicy.ALWAYS)
                self.card.factory_reset()
                default_algorithm = self.profile.management_key_default
                if self.profile.feature("metadata"):
                    default_algorithm = self.card.management_key_algorithm()
                if factory is None:
                    raise errors.FunctionFailed("the card was reset, but its factory management key is unknown")
                default = ManagementKey(default_algorithm, factory)
                if not (key.same_key(default) and not touch):
                    default.authenticate(self.card)
                    key.set_on(self.card, require_touch=bool(touch))
            finally:
                key.wipe()

        self._forget_credentials()
        try:
            self._run(reinitialize, relogin_on_6982=False)
        finally:
            self._after_own_reset()
        logger.debug("C_InitToken: the label has no place on a PIV card and is ignored")

    def _after_own_reset(self) -> None:
        """We reset the applet (or tried to): every cached object and count is stale."""
        self._forget_credentials()
        self._generation += 1
        self._objects_stale = True
        self._read_epoch += 1
        self._private_data = None
        self._chuid = None
        self._last_pin_tries = None
        self._attestations.clear()

    # ------------------------------------------------------- key management
    def _slot_for_key(self, slot: int, *, generate: bool = False) -> SlotSpec:
        spec = self.profile.slot(slot)
        if spec is None or (generate and not spec.usage):
            raise errors.ArgumentsBad(f"{slot:02X} is not a PIV key slot {'for generation' if generate else ''}")
        return spec

    def _effective_policies(self, spec: SlotSpec, pin_policy: PinPolicy, touch_policy: TouchPolicy,
                            not_always: bool) -> Tuple[PinPolicy, TouchPolicy, PinPolicy, TouchPolicy]:
        """(PIN, touch policy to send; PIN, touch policy the key then has). On a card
        without policies only the slot's own defaults pass; CKA_ALWAYS_AUTHENTICATE
        FALSE in a slot whose default is "always" (9C) asks for PIN policy once."""
        pin_policy, touch_policy = PinPolicy(pin_policy), TouchPolicy(touch_policy)
        if not_always and pin_policy == PinPolicy.DEFAULT and spec.pin_policy == PinPolicy.ALWAYS:
            pin_policy = PinPolicy.ONCE
        if not self.profile.feature("policies"):
            if pin_policy not in (PinPolicy.DEFAULT, spec.pin_policy) or touch_policy != TouchPolicy.DEFAULT:
                raise errors.AttributeValueInvalid("this card has no PIN or touch policies")
            return PinPolicy.DEFAULT, TouchPolicy.DEFAULT, PinPolicy.DEFAULT, TouchPolicy.DEFAULT
        if pin_policy not in (PinPolicy.DEFAULT, PinPolicy.NEVER, PinPolicy.ONCE, PinPolicy.ALWAYS):
            raise errors.AttributeValueInvalid(f"PIN policy {pin_policy.name} needs a YubiKey Bio")
        if touch_policy == TouchPolicy.CACHED and not self.profile.feature("touch_cached"):
            raise errors.AttributeValueInvalid("the touch policy 'cached' needs YubiKey firmware 4.3")
        return (pin_policy, touch_policy, pin_policy or spec.pin_policy,
                touch_policy or TouchPolicy.NEVER)

    def _check_algorithm(self, algorithm: KeyAlgorithm) -> None:
        if algorithm.name not in self.profile.algorithms:
            raise errors.KeySizeRange() if algorithm.family == KeyFamily.RSA else errors.CurveNotSupported()

    def _check_template_uses(self, spec: SlotSpec, algorithm: KeyAlgorithm, pin_policy: PinPolicy,
                             private_template: Dict[int, Any], public_template: Dict[int, Any] | None) -> None:
        from .keys import check_capabilities  # key generation and import only: a signature never loads them

        capabilities = key_capabilities(spec, algorithm, None, pin_policy == PinPolicy.ALWAYS)
        check_capabilities(capabilities, verify_allowed(algorithm, None), private_template, public_template,
                           where=f"a {algorithm.name} key in {spec.name}")

    def _slot_changed(self, slot: int, contents: SlotContents | None) -> None:
        """Our own write changed ``slot``: the full slot table learns it (read first if
        needed), single-slot reads and the slot's attestation are dropped."""
        if self._slots is None:
            self.objects()
        assert self._slots is not None
        if contents is None:
            self._slots.pop(slot, None)
        else:
            self._slots[slot] = contents
        self._single_slots.clear()
        self._attestations.pop(slot, None)

    def _key_pair_objects(self, contents: SlotContents) -> Tuple[TokenObject, TokenObject]:
        objects = {obj.ref: obj for obj in self._key_objects(contents)}
        return (objects[ObjectRef(ObjectKind.PUBLIC_KEY, contents.spec.key)],
                objects[ObjectRef(ObjectKind.PRIVATE_KEY, contents.spec.key)])

    def _current_certificate(self, slot: int) -> bytes | None:
        """The certificate the slot table knows for ``slot`` (a new key does not remove
        it from the card: the listing shows what the card holds)."""
        known = (self._slots or {}).get(slot)
        return known.certificate if known is not None else None

    def generate_key_pair(self, mechanism: int, public_template: Dict[int, Any],
                          private_template: Dict[int, Any]) -> Tuple[TokenObject, TokenObject]:
        """C_GenerateKeyPair, as the SO, in the slot CKA_ID names (as ykcs11), with
        CKA_YUBICO_PIN_POLICY / CKA_YUBICO_TOUCH_POLICY / CKA_ALWAYS_AUTHENTICATE from
        the templates. Usage flags the key will not honour are refused
        (:func:`~.keys.check_capabilities`)."""
        from .keys import requested_policies  # see _check_template_uses

        self._require_so()
        cka_id = private_template.get(CKA.ID, public_template.get(CKA.ID))
        spec = self.profile.slot_by_id(bytes(cka_id)) if cka_id is not None else None
        if spec is None or not spec.usage:
            raise errors.TemplateInconsistent("CKA_ID must name a PIV key slot")
        algorithm = _generation_algorithm(int(mechanism), public_template)
        self._check_algorithm(algorithm)
        pin_policy, touch_policy = requested_policies(private_template, public_template)
        not_always = private_template.get(CKA.ALWAYS_AUTHENTICATE) is False
        return self._generate(spec, algorithm, pin_policy, touch_policy, not_always, private_template,
                              public_template)

    def generate(self, slot: int, algorithm: PivAlgorithm, pin_policy: PinPolicy = PinPolicy.DEFAULT,
                 touch_policy: TouchPolicy = TouchPolicy.DEFAULT) -> Tuple[TokenObject, TokenObject]:
        """Generate a key pair in ``slot`` (a key reference: 0x9A ...) as the SO; returns
        the (public, private) key objects."""
        self._require_so()
        spec = self._slot_for_key(slot, generate=True)
        chosen = KEY_ALGORITHMS[PivAlgorithm(algorithm)]
        self._check_algorithm(chosen)
        return self._generate(spec, chosen, pin_policy, touch_policy, False, {}, None)

    def _generate(self, spec: SlotSpec, algorithm: KeyAlgorithm, pin_policy: PinPolicy, touch_policy: TouchPolicy,
                  not_always: bool, private_template: Dict[int, Any],
                  public_template: Dict[int, Any] | None) -> Tuple[TokenObject, TokenObject]:
        send_pin, send_touch, pin, touch = self._effective_policies(spec, pin_policy, touch_policy, not_always)
        self._check_template_uses(spec, algorithm, pin, private_template, public_template)

        def generate() -> SlotContents:
            fields = self.card.generate(spec.key, algorithm.ident, send_pin, send_touch)
            return SlotContents(spec, algorithm, public_key_from_card(algorithm, fields),
                                self._current_certificate(spec.key), pin_policy=pin, origin=Origin.GENERATED,
                                touch_policy=touch)

        contents = self._run(generate)
        self._slot_changed(spec.key, contents)
        return self._key_pair_objects(contents)

    def import_key(self, slot: int, key: PrivateKey, pin_policy: PinPolicy = PinPolicy.DEFAULT,
                   touch_policy: TouchPolicy = TouchPolicy.DEFAULT) -> TokenObject:
        """Import ``key`` (a ``cryptography`` RSA, P-256/P-384, Ed25519 or X25519
        private key) into ``slot`` as the SO; returns the private key object."""
        self._require_so()
        return self._import(self._slot_for_key(slot), key, pin_policy, touch_policy, False, {})

    def _import(self, spec: SlotSpec, key: PrivateKey, pin_policy: PinPolicy, touch_policy: TouchPolicy,
                not_always: bool, template: Dict[int, Any]) -> TokenObject:
        if not self.profile.feature("key_import"):
            raise errors.TemplateInconsistent("this card imports no private keys")
        from .keys import importable_key, key_algorithm  # see _check_template_uses

        algorithm = key_algorithm(key)
        self._check_algorithm(algorithm)
        send_pin, send_touch, pin, touch = self._effective_policies(spec, pin_policy, touch_policy, not_always)
        if spec.usage:
            self._check_template_uses(spec, algorithm, pin, template, None)
        parts = importable_key(key, algorithm)
        self._run(lambda: self.card.import_key(spec.key, parts, send_pin, send_touch))
        contents = SlotContents(spec, algorithm, key.public_key(), self._current_certificate(spec.key),
                                pin_policy=pin, origin=Origin.IMPORTED, touch_policy=touch)
        self._slot_changed(spec.key, contents)
        return self._key_pair_objects(contents)[1]

    def move_key(self, source: int, destination: int) -> None:
        """YubiKey 5.7 MOVE KEY as the SO: the key (not the certificate: containers
        stay) goes from ``source`` to ``destination``; both slots are re-read."""
        self._require_so()
        self._require_feature("move_delete", "move keys (YubiKey 5.7)")
        specs = [self._slot_for_key(source, generate=True), self._slot_for_key(destination, generate=True)]

        def move() -> List[Tuple[SlotSpec, SlotContents | None]]:
            self.card.move_key(source, destination)
            return [(spec, self._read_slot(spec)) for spec in specs]

        for spec, contents in self._run(move):
            self._slot_changed(spec.key, contents)

    # ------------------------------------------------------------ attestation
    def attest(self, slot: int) -> bytes:
        """The DER attestation certificate of the key in ``slot`` (ATTEST). A key the
        card did not generate raises KeyFunctionNotPermitted, an empty slot
        KeyHandleInvalid."""
        self._require_feature("attestation", "attest keys")
        spec = self._slot_for_key(slot, generate=True)

        def attest() -> bytes:
            try:
                return self.card.attest(spec.key)
            except IncorrectParametersError:
                raise errors.KeyFunctionNotPermitted("only a key the card generated has an attestation") from None
            except (NotFoundError, ReferenceNotFoundError):
                raise errors.KeyHandleInvalid(f"slot {spec.key:02X} holds no key") from None

        return self._run(attest)

    def attestation_certificate(self) -> bytes:
        """The DER certificate of the attestation key F9 (object 5FFF01), which the
        attestations chain to (:func:`~.attestation.verify_attestation`)."""
        self._require_feature("attestation", "attest keys")

        def read() -> bytes | None:
            try:
                return self.card.attestation_certificate()
            except NotFoundError:
                return None

        der = self._run(read)
        if der is None:
            raise errors.FunctionFailed("the card holds no attestation certificate (F9)")
        return der

    # ----------------------------------------------------------- objects
    def create_object(self, template: Dict[int, Any]) -> TokenObject:
        """C_CreateObject as the SO: an X.509 certificate into the container of the slot
        CKA_ID names; a private key (CKA_KEY_TYPE RSA / EC / EC_EDWARDS / EC_MONTGOMERY
        with its CKA_ values, :func:`~.keys.private_key_from_template`) imported into
        that slot, with the policies of the template; a CKO_DATA whose CKA_OBJECT_ID
        names a writable PIV data object, CKA_VALUE its content."""
        self._require_so()
        object_class = template.get(CKA.CLASS)
        if object_class == CKO.PRIVATE_KEY:
            return self._create_private_key(template)
        if object_class == CKO.DATA:
            return self._create_data_object(template)
        if object_class != CKO.CERTIFICATE:
            raise errors.TemplateInconsistent("a PIV card stores certificates, private keys and data objects")
        value = template.get(CKA.VALUE)
        cka_id = template.get(CKA.ID)
        if value is None or cka_id is None:
            raise errors.TemplateIncomplete()
        spec = self.profile.slot_by_id(bytes(cka_id))
        if spec is None:
            raise errors.TemplateInconsistent("CKA_ID must name a PIV key slot")
        cert = read_certificate_fields(bytes(value))
        if cert is None:
            raise errors.AttributeValueInvalid("CKA_VALUE is not a readable DER X.509 certificate")
        der = bytes(value)
        self._run(lambda: self.card.put_data(spec.container, certificate_container(der)))
        if self._slots is None:
            self.objects()
        assert self._slots is not None
        self._single_slots.clear()  # the full table now knows better
        current = self._slots.get(spec.key)
        public_key = cert.public_key
        algorithm = algorithm_of(public_key)
        if current is not None:
            current.certificate = der
        elif algorithm is not None:
            assert is_public_key(public_key), "algorithm_of knows only these"
            self._slots[spec.key] = SlotContents(spec, algorithm, public_key, der)
        for obj in self.objects():
            if obj.ref == ObjectRef(ObjectKind.CERTIFICATE, spec.key):
                return obj
        raise errors.FunctionFailed()

    def _create_private_key(self, template: Dict[int, Any]) -> TokenObject:
        cka_id = template.get(CKA.ID)
        if cka_id is None:
            raise errors.TemplateIncomplete("CKA_ID names the PIV slot of the key")
        spec = self.profile.slot_by_id(bytes(cka_id))
        if spec is None:
            raise errors.TemplateInconsistent("CKA_ID must name a PIV key slot")
        for attribute, required in ((CKA.SENSITIVE, True), (CKA.EXTRACTABLE, False)):
            if attribute in template and bool(template[attribute]) != required:
                raise errors.TemplateInconsistent(f"a key on a PIV card is never extractable (CKA_{attribute.name})")
        from .keys import private_key_from_template, requested_policies  # see _check_template_uses

        key = private_key_from_template(template)
        pin_policy, touch_policy = requested_policies(template)
        not_always = template.get(CKA.ALWAYS_AUTHENTICATE) is False
        return self._import(spec, key, pin_policy, touch_policy, not_always, template)

    def _create_data_object(self, template: Dict[int, Any]) -> TokenObject:
        oid = template.get(CKA.OBJECT_ID)
        if oid is None:
            raise errors.TemplateIncomplete("CKA_OBJECT_ID names the PIV data object")
        # A DER OBJECT IDENTIFIER, as PKCS#11 says; OpenSC's pkcs11-tool (--application-id)
        # sends only its content octets, which name the object as well.
        wanted = bytes(oid)
        spec = next((d for d in self.profile.data_objects
                     if wanted in (oid_der(d.oid), oid_content(d.oid))), None)
        if spec is None:
            raise errors.TemplateInconsistent("CKA_OBJECT_ID names no PIV data object of this card")
        if not self.profile.data_object_writable(spec.tag):
            raise errors.TemplateInconsistent(f"{spec.name} is read-only on this card")
        value = template.get(CKA.VALUE)
        if not isinstance(value, (bytes, bytearray)) or not value:
            raise errors.TemplateIncomplete("CKA_VALUE holds the data object's content")
        if CKA.PRIVATE in template and bool(template[CKA.PRIVATE]) != spec.private:
            raise errors.TemplateInconsistent(
                f"the card {'protects' if spec.private else 'does not protect'} {spec.name} with the PIN")
        application = template.get(CKA.APPLICATION)
        if application not in (None, "PIV", b"PIV"):
            raise errors.TemplateInconsistent("CKA_APPLICATION of a PIV data object is 'PIV'")
        written = self.write_data_object(spec.tag, bytes(value))
        assert written is not None
        return written

    def _data_spec_writable(self, tag: int) -> DataObjectSpec | None:
        if any(tag == slot.container for slot in self.profile.slots):
            raise errors.ArgumentsBad("certificate containers are written as certificates")
        if not self.profile.data_object_writable(tag):
            raise errors.ActionProhibited(f"data object {tag:X} is not writable on this card")
        return self.profile.data_object(tag)

    def write_data_object(self, tag: int, value: bytes) -> TokenObject | None:
        """PUT DATA ``value`` into data object ``tag`` as the SO, where the card lets the
        management key write it (the profile's writable range, not the read-only ones);
        returns the CKO_DATA object when the profile lists the tag, else None."""
        self._require_so()
        spec = self._data_spec_writable(int(tag))
        value = bytes(value)
        secret = (spec is not None and spec.private) or tag == DataObject.PRINTED_INFORMATION
        self._run(lambda: self.card.put_data(int(tag), value, sensitive=secret))
        return self._data_changed(int(tag), spec, value)

    def delete_data_object(self, tag: int) -> None:
        """Empty PUT DATA for ``tag`` (which deletes it on a YubiKey), as the SO."""
        self._require_so()
        spec = self._data_spec_writable(int(tag))
        self._run(lambda: self.card.put_data(int(tag), b""))
        self._data_changed(int(tag), spec, None)

    def _data_changed(self, tag: int, spec: DataObjectSpec | None, value: bytes | None) -> TokenObject | None:
        if tag == DataObject.CHUID:
            self._chuid = value or b""
        if spec is None:
            return None
        obj = data_object(spec, value) if value else None
        table = self._private_data if spec.private else self._public_data
        if table is not None:
            table[:] = [entry for entry in table if entry.ref != ObjectRef(ObjectKind.DATA, tag)] + ([obj] if obj else [])
        return obj

    def destroy_object(self, obj: TokenObject) -> None:
        """As the SO: a certificate (empty PUT DATA), a writable data object (empty PUT
        DATA), or on YubiKey 5.7+ a key (MOVE KEY to FF, with the slot's certificate).
        Attestation certificates are made, not stored: ActionProhibited."""
        self._require_so()
        kind, slot = obj.ref
        if kind is ObjectKind.ATTESTATION:
            raise errors.ActionProhibited("an attestation certificate is made by the card, not stored")
        if kind is ObjectKind.DATA:
            if not obj.attributes.get(CKA.DESTROYABLE):
                raise errors.ActionProhibited()
            self.delete_data_object(slot)
            return
        if self._slots is None:
            self.objects()  # the slot table below is the full one
        contents = self._contents(obj)
        self._single_slots.pop(slot, None)  # changed below: only the card knows now
        self._attestations.pop(slot, None)
        if kind is ObjectKind.CERTIFICATE:
            self._run(lambda: self.card.put_data(contents.spec.container, b""))
            contents.certificate = None
            if self.profile.feature("metadata"):
                refreshed = self._run(lambda: self._read_slot(contents.spec))
                assert self._slots is not None
                if refreshed is None:
                    self._slots.pop(slot, None)
                else:
                    self._slots[slot] = refreshed
            return
        if kind in (ObjectKind.PRIVATE_KEY, ObjectKind.PUBLIC_KEY) and self._key_deletable(contents.spec):
            self._run(lambda: self.card.delete_key(slot))
            assert self._slots is not None
            if contents.certificate is not None:
                self._run(lambda: self.card.put_data(contents.spec.container, b""))
            self._slots.pop(slot, None)
            return
        raise errors.ActionProhibited()

    def close(self) -> None:
        self._forget_credentials()
        super().close()


# ----------------------------------------------------------------- helpers
@cache
def _mechanism_table(names: FrozenSet[str]) -> Mapping[int, MechanismInfo]:
    """The mechanisms of a PIV card with the algorithms ``names`` (a profile's, resolved):
    built once per set of algorithms."""
    algorithms = [ALGORITHM_BY_NAME[name] for name in names]
    result: Dict[int, MechanismInfo] = {}
    rsa_bits = [a.bits for a in algorithms if a.family == KeyFamily.RSA]
    if rsa_bits:
        lo, hi = min(rsa_bits), max(rsa_bits)
        sign_verify = _HW | MechanismFlag.SIGN | MechanismFlag.VERIFY
        crypt = _HW | MechanismFlag.DECRYPT | MechanismFlag.ENCRYPT
        result[CKM.RSA_PKCS] = MechanismInfo(lo, hi, int(sign_verify | crypt))
        result[CKM.RSA_X_509] = MechanismInfo(lo, hi, int(sign_verify | crypt))
        result[CKM.RSA_PKCS_PSS] = MechanismInfo(lo, hi, int(sign_verify))
        result[CKM.RSA_PKCS_OAEP] = MechanismInfo(lo, hi, int(crypt))
        for mech in _HASHED_RSA + _HASHED_PSS:
            result[mech] = MechanismInfo(lo, hi, int(sign_verify))
        result[CKM.RSA_PKCS_KEY_PAIR_GEN] = MechanismInfo(lo, hi, int(_HW | MechanismFlag.GENERATE_KEY_PAIR))
    ec_bits = [a.bits for a in algorithms if a.family == KeyFamily.EC]
    derive_bits = list(ec_bits) + [a.bits for a in algorithms if a.family == KeyFamily.X25519]
    if ec_bits:
        lo, hi = min(ec_bits), max(ec_bits)
        ecdsa = int(_HW | MechanismFlag.SIGN | MechanismFlag.VERIFY | _EC_FLAGS)
        result[CKM.ECDSA] = MechanismInfo(lo, hi, ecdsa)
        for mech in _HASHED_ECDSA:
            result[mech] = MechanismInfo(lo, hi, ecdsa)
        result[CKM.EC_KEY_PAIR_GEN] = MechanismInfo(lo, hi, int(_HW | MechanismFlag.GENERATE_KEY_PAIR | _EC_FLAGS))
    if derive_bits:
        result[CKM.ECDH1_DERIVE] = MechanismInfo(min(derive_bits), max(derive_bits),
                                                 int(_HW | MechanismFlag.DERIVE | _EC_FLAGS))
    if "ED25519" in names:
        result[CKM.EDDSA] = MechanismInfo(256, 256, int(_HW | MechanismFlag.SIGN | MechanismFlag.VERIFY
                                                         | MechanismFlag.EC_OID))
        result[CKM.EC_EDWARDS_KEY_PAIR_GEN] = MechanismInfo(256, 256, int(_HW | MechanismFlag.GENERATE_KEY_PAIR))
    if "X25519" in names:
        result[CKM.EC_MONTGOMERY_KEY_PAIR_GEN] = MechanismInfo(256, 256, int(_HW | MechanismFlag.GENERATE_KEY_PAIR))
    for mech in _DIGESTS:
        result[mech] = MechanismInfo(0, 0, int(MechanismFlag.DIGEST))
    return result


def _modulus(contents: SlotContents) -> bytes:
    return contents.rsa_key.public_numbers().n.to_bytes(contents.algorithm.byte_length, "big")


def _raw_rsa_input(contents: SlotContents, data: bytes) -> bytes:
    k = contents.algorithm.byte_length
    if len(data) > k:
        raise errors.DataLenRange()
    block = data.rjust(k, b"\x00")
    if int.from_bytes(block, "big") >= int.from_bytes(_modulus(contents), "big"):
        raise errors.DataInvalid("input is not smaller than the modulus")
    return block


def _point_length(algorithm: KeyAlgorithm) -> int:
    """A public point's length: 04 || X || Y, or 32 bytes (X25519)."""
    return 1 + 2 * algorithm.byte_length if algorithm.family == KeyFamily.EC else 32


def _generation_algorithm(mechanism: int, template: Dict[int, Any]) -> KeyAlgorithm:
    if mechanism == CKM.RSA_PKCS_KEY_PAIR_GEN:
        bits = template.get(CKA.MODULUS_BITS)
        algorithm = ALGORITHM_BY_NAME.get(f"RSA{bits}")
        if algorithm is None:
            raise errors.KeySizeRange()
        exponent = template.get(CKA.PUBLIC_EXPONENT)
        if exponent is not None and int.from_bytes(bytes(exponent), "big") != 65537:
            raise errors.TemplateInconsistent("PIV cards generate RSA keys with e = 65537")
        return algorithm
    if mechanism in _FAMILY_OF_MECHANISM:
        algorithm = algorithm_of_params(template.get(CKA.EC_PARAMS))
        if algorithm is None:
            raise errors.CurveNotSupported()
        if algorithm.family != _FAMILY_OF_MECHANISM[mechanism]:
            raise errors.TemplateInconsistent("CKA_EC_PARAMS does not fit the mechanism")
        return algorithm
    raise errors.MechanismInvalid()


_FAMILY_OF_MECHANISM: Dict[int, KeyFamily] = {
    CKM.EC_KEY_PAIR_GEN: KeyFamily.EC, CKM.EC_EDWARDS_KEY_PAIR_GEN: KeyFamily.ED25519,
    CKM.EC_MONTGOMERY_KEY_PAIR_GEN: KeyFamily.X25519}
