"""What the Cryptoki engine needs from a card: the :class:`Token` interface.

A token turns the engine's requests into card operations for one applet (PIV,
OpenPGP); a card with several applets has one token per applet. The engine owns everything Cryptoki-shaped (sessions, handles,
login state per application, templates, multi-part hashing, host-side public
key operations); a token owns everything card-shaped (APDUs, which slot holds
which key, PIN verification, what the card can do).

Private-key operations reach the token only with *base* mechanisms: the engine
hashes for ``CKM_SHA256_RSA_PKCS`` and friends and then calls
``sign(key, CKM_RSA_PKCS, None, digest_info)``, so each token handles a short
list (RSA_PKCS, RSA_X_509, RSA_PKCS_PSS, ECDSA, EDDSA for sign; RSA_PKCS,
RSA_X_509, RSA_PKCS_OAEP for decrypt; ECDH1_DERIVE for derive).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import StrEnum
from typing import Any, ClassVar, Dict, FrozenSet, List, Tuple

from cardki.named_tuple import NamedTuple

from .. import errors
from ..constants import CKA

Version = Tuple[int, int]


class TokenInfo(NamedTuple):
    """The card-derived part of ``CK_TOKEN_INFO``; the engine fills session counts."""

    label: str
    manufacturer_id: str
    model: str
    serial_number: str
    flags: int
    min_pin_len: int
    max_pin_len: int
    hardware_version: Version = (0, 0)
    firmware_version: Version = (0, 0)


class MechanismInfo(NamedTuple):
    """``CK_MECHANISM_INFO``: key sizes in bits (curve size for EC) and CKF_ flags."""

    min_key_size: int
    max_key_size: int
    flags: int


class ObjectKind(StrEnum):
    """What a card-side thing is, as the token's :class:`ObjectRef` names it."""

    PRIVATE_KEY = "private"
    PUBLIC_KEY = "public"
    CERTIFICATE = "certificate"
    DATA = "data"
    ATTESTATION = "attestation"  # PIV: a generated key's attestation certificate (made, not stored)

    # A member is its text (Enum would hash the member's name), so an ObjectRef is
    # equal to, and hashes like, the plain ("private", 0x9A) pair it replaces.
    __hash__ = str.__hash__


class ObjectRef(NamedTuple):
    """The token's own name for a card-side thing: what it is, and the card's key for
    it (a PIV key slot 0x9A or data object tag 0x5FC102; an OpenPGP key role). Frozen
    and hashable: the engine keys object handles by it and hands it back unchanged."""

    kind: ObjectKind
    key: int


class SlotRecord:
    """A value class whose fields are the ``__slots__`` of its classes (a base class's
    first): equal to another of its own class with equal fields, unhashable (its fields
    may change or hold dicts), shown field by field. The token layer's values are such
    plain classes, or named tuples, rather than dataclasses: importing dataclasses (with
    the inspect it brings) and decorating them cost ~20 ms at a card's first use."""

    __slots__ = ()

    @classmethod
    def field_names(cls) -> Tuple[str, ...]:
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = tuple(name for klass in reversed(cls.__mro__)
                                              for name in klass.__dict__.get("__slots__", ()))
        return names

    def values(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in self.field_names()}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, SlotRecord)
        return self.values() == other.values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.values().items())
        return f"{type(self).__name__}({shown})"


_FIELD_NAMES: Dict[type, Tuple[str, ...]] = {}


class TokenObject(SlotRecord):
    """An object the card holds, described by its Cryptoki attributes.

    ``ref`` is the token's own name for the card-side thing (e.g.
    ``ObjectRef(ObjectKind.PRIVATE_KEY, 0x9A)``); the engine hands the object back
    unchanged in sign/decrypt/derive. ``attributes`` maps CKA_* -> Python value: bool for CK_BBOOL,
    int for CK_ULONG, bytes for byte arrays, str for UTF-8 strings (CKA_LABEL),
    :class:`datetime.date` or None for dates, list[int] for mechanism lists.
    Attributes whose value is sensitive are simply absent; the engine answers
    CKR_ATTRIBUTE_SENSITIVE for the ones listed in ``sensitive``.

    ``late`` names attributes the token settles only when someone reads them (a value
    that would cost an APDU no signature needs: a PIV key's CKA_DESTROYABLE depends on
    the firmware version): they are absent from ``attributes``, and the engine asks
    :meth:`Token.settle` for them at their first read.
    """

    __slots__ = ("ref", "attributes", "sensitive", "late")

    def __init__(self, ref: ObjectRef, attributes: Dict[int, Any], sensitive: FrozenSet[int] = frozenset(),
                 late: FrozenSet[int] = frozenset()) -> None:
        self.ref = ref
        self.attributes = attributes
        self.sensitive = sensitive
        self.late = late


class Token(ABC):
    """One card (one applet) in one slot, as the engine sees it.

    Token methods run card I/O inside a PC/SC transaction, restore applet state
    after another program used the card, and raise
    :class:`cardki.errors.CryptokiError` subclasses with the spec's
    code (PinIncorrect with ``tries_left``, PinLocked, DeviceRemoved,
    KeyFunctionNotPermitted, MechanismInvalid, DataLenRange, ...).
    """

    applet: ClassVar[str] = ""
    """Which applet the token is ("piv", "openpgp"): with the reader, what keeps a slot's id."""
    applet_name: ClassVar[str] = ""
    """The applet as people call it ("PIV", "OpenPGP"): the engine names a card's
    further slots by it ("<reader> (OpenPGP)")."""

    @abstractmethod
    def info(self) -> TokenInfo:
        """Token info with fresh PIN-counter flags (USER_PIN_COUNT_LOW etc.)."""

    @abstractmethod
    def mechanisms(self) -> Dict[int, MechanismInfo]:
        """Every mechanism usable with this card, including the hashed variants
        and host-side ones (digests, verify/encrypt with public keys)."""

    def mechanism_flags(self, mechanism: int) -> int | None:
        """One mechanism's flags (None: not on this token), for the check at an operation's
        init; a token that knows them without building its whole table may answer cheaper."""
        info = self.mechanisms().get(int(mechanism))
        return None if info is None else int(info.flags)

    def settle(self, obj: TokenObject) -> Dict[int, Any]:
        """The values of ``obj``'s :attr:`~TokenObject.late` attributes (card I/O where
        needed); a token that names none has nothing to settle."""
        return {}

    @abstractmethod
    def objects(self) -> List[TokenObject]:
        """The card's objects (keys, certificates, data objects), read once per
        insertion and cached; private ones included (the engine filters by login)."""

    def objects_with_id(self, cka_id: bytes) -> List[TokenObject]:
        """Exactly those of :meth:`objects` whose CKA_ID is ``cka_id``. The engine asks
        this for a find that names CKA_ID, so a token that can read one key's objects
        without the rest (PIV: one slot) should; this default reads everything."""
        return [obj for obj in self.objects() if obj.attributes.get(CKA.ID) == bytes(cka_id)]

    @abstractmethod
    def login(self, user_type: int, pin: bytes) -> None:
        """Authenticate CKU_USER (PIN), CKU_SO (management key, hex or raw) or
        CKU_CONTEXT_SPECIFIC (PIN again, for the next ALWAYS_AUTHENTICATE use).
        Never retries a wrong PIN."""

    @abstractmethod
    def logout(self) -> None:
        """Drop the card's security status for this application (and forget the PIN)."""

    @abstractmethod
    def sign(self, key: TokenObject, mechanism: int, parameter: Any, data: bytes) -> bytes:
        """Sign with a private key using a base mechanism (see module doc)."""

    @abstractmethod
    def decrypt(self, key: TokenObject, mechanism: int, parameter: Any, data: bytes) -> bytes:
        """Decrypt with a private key (RSA_PKCS, RSA_X_509, RSA_PKCS_OAEP)."""

    @abstractmethod
    def derive(self, key: TokenObject, mechanism: int, parameter: Any) -> bytes:
        """ECDH1_DERIVE: return the raw shared secret (the engine applies the KDF
        and creates the secret-key object)."""

    @abstractmethod
    def generate_random(self, length: int) -> bytes:
        """Random bytes from the token (or the host CSPRNG if the card has no RNG)."""

    def set_pin(self, user_type: int, old_pin: bytes, new_pin: bytes) -> None:
        """C_SetPIN: ``user_type`` is CKU_SO when the SO is logged in (its PIN changes:
        PIV's management key), else CKU_USER (the user's PIN, whether or not the user
        is logged in; a token may read vendor prefixes in the values, PIV ykcs11's
        "puk:" for PUK operations)."""
        raise errors.FunctionNotSupported()

    def init_pin(self, new_pin: bytes) -> None:
        """C_InitPIN by the SO (for PIV: needs the PUK, so usually unsupported)."""
        raise errors.FunctionNotSupported()

    def init_token(self, so_pin: bytes, label: str) -> None:
        """C_InitToken, with no session open (the engine checks): ``so_pin`` is checked
        against the token's SO PIN (PIV: the management key) before anything changes,
        the token goes back to its initial state, and the SO PIN is ``so_pin``
        afterwards. ``label`` is the decoded CK_TOKEN_INFO label (its 32 bytes of blank
        padding stripped); a token with nowhere to keep it says so in its docs."""
        raise errors.FunctionNotSupported()

    def generate_key_pair(self, mechanism: int, public_template: Dict[int, Any],
                          private_template: Dict[int, Any]) -> Tuple[TokenObject, TokenObject]:
        """On-card key pair generation (SO/management key on PIV)."""
        raise errors.FunctionNotSupported()

    def create_object(self, template: Dict[int, Any]) -> TokenObject:
        """Store a token object (certificate, data object, imported key)."""
        raise errors.FunctionNotSupported()

    def destroy_object(self, obj: TokenObject) -> None:
        """Remove a token object from the card."""
        raise errors.FunctionNotSupported()

    def close(self) -> None:  # noqa: B027 - optional hook: most tokens have nothing to release
        """The card left the slot or the library is finalizing: release the connection."""

    @property
    def presence_generation(self) -> int | None:
        """Changes whenever the card was replaced or reset by someone else, so the
        engine knows its object handles may need refreshing."""
        return None
