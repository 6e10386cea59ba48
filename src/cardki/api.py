"""The everyday Python API: library -> slot -> token -> session -> objects.

The Cryptoki engine (:class:`cardki.cryptoki.engine.Cryptoki`) is shaped like
the C specification: handles, templates, ``*_init`` then the operation. This
module is the layer a Python program wants instead (in the manner of
python-pkcs11, but over cardki's own engine, in-process, with no C in
between)::

    import cardki
    from cardki.api import CKO

    with cardki.open() as lib:
        token = lib.get_token()
        with token.open(user_pin="123456") as session:
            key = session.get_key(id=b"\\x01", object_class=CKO.PRIVATE_KEY)
            signature = key.sign(b"hello")
            assert key.public_key().verify(b"hello", signature)

Objects get their methods from their attributes: a private key with
``CKA_SIGN`` has :meth:`SignMixin.sign`, one with ``CKA_DECRYPT`` has
:meth:`DecryptMixin.decrypt`, and so on, so ``hasattr(key, "sign")`` answers
"can this key sign?".

Errors are the engine's :class:`~cardki.errors.CryptokiError`
subclasses (each with ``.rv``); this layer adds only :class:`NoSuchKey` and
:class:`MultipleObjectsReturned` for lookups, which are not Cryptoki failures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Tuple

from . import errors
from .api_objects import (
    Certificate,
    DataObject,
    DecryptMixin,
    DeriveMixin,
    EncryptMixin,
    Key,
    Object,
    PrivateKey,
    PublicKey,
    SecretKey,
    SignMixin,
    VerifyMixin,
    make_object,
    only,
)
from .api_util import (
    Pin,
    constant_name,
    curve_name,
    default_sign_mechanism,
    ecdsa_der_to_raw,
    ecdsa_raw_to_der,
    mechanism_name,
    parse_mechanism,
    rsa_oaep_params,
    rsa_pss_params,
)
from .constants import (
    CKA,
    CKD,
    CKG,
    CKK,
    CKM,
    CKO,
    CKS,
    CKU,
    MechanismFlag,
    SessionFlag,
    SlotFlag,
    TokenFlag,
)
from .curves import CurveKind, curve_by_name
from .virtual import VirtualCardFile, VirtualMode, VirtualStateError, new_virtual_card, slot_source_factory

if TYPE_CHECKING:
    from .api_piv import PivSession
    from .cryptoki.engine import Cryptoki

logger = logging.getLogger(__name__)

__all__ = [
    "open", "Library", "Slot", "Token", "Session", "MechanismInfo",
    "Object", "Key", "PrivateKey", "PublicKey", "SecretKey", "Certificate", "DataObject",
    "SignMixin", "DecryptMixin", "DeriveMixin", "VerifyMixin", "EncryptMixin",
    "NoSuchKey", "MultipleObjectsReturned", "VirtualStateError",
    "ecdsa_raw_to_der", "ecdsa_der_to_raw", "default_sign_mechanism", "parse_mechanism",
    "mechanism_name", "curve_name", "rsa_pss_params", "rsa_oaep_params",
    "CKA", "CKD", "CKG", "CKK", "CKM", "CKO", "CKS", "CKU", "TokenFlag", "SlotFlag", "MechanismFlag",
]


class NoSuchKey(LookupError):
    """:meth:`Session.get_key` found no object matching the search."""


class MultipleObjectsReturned(LookupError):
    """:meth:`Session.get_key` found more than one object; narrow the search
    (add ``object_class``, ``key_type``, ``id`` or ``label``)."""


# --------------------------------------------------------------------------- session

class Session:
    """An open session; a context manager that closes it (and so logs out when
    it was the last one).

    ``context_pin`` is used for keys that need the PIN before every use
    (``CKA_ALWAYS_AUTHENTICATE``) when the call itself gives no ``pin``.
    """

    def __init__(self, token: Token, handle: int, *, rw: bool,
                 context_pin: Pin | None = None) -> None:
        self.token = token
        self.library = token.library
        self.handle = handle
        self.rw = rw
        self.context_pin = context_pin
        self._closed = False

    # ---------------------------------------------------------------- life cycle
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session (idempotent). A session the token already ended
        (card removed: the spec closes every session of the slot) counts as closed,
        so leaving a ``with`` block does not hide the error that ended it."""
        if not self._closed:
            self._closed = True
            try:
                self.library.engine.close_session(self.handle)
            except (errors.SessionHandleInvalid, errors.SessionClosed,
                    errors.DeviceRemoved, errors.TokenNotPresent):
                logger.debug("session %d was already closed by the token", self.handle)

    def login(self, pin: Pin, user_type: int = CKU.USER) -> None:
        """C_Login: the PIN for CKU_USER, the management key (hex) for CKU_SO."""
        self.library.engine.login(self.handle, int(user_type), pin)  # the engine takes str or bytes

    def logout(self) -> None:
        self.library.engine.logout(self.handle)

    @property
    def info(self) -> Any:
        """``CK_SESSION_INFO`` (slot_id, state, flags, device_error)."""
        return self.library.engine.get_session_info(self.handle)

    def reauthenticate(self, pin: Pin | None = None) -> None:
        """C_Login(CKU_CONTEXT_SPECIFIC): the PIN again for the operation just begun with a
        key that wants it for every use (CKA_ALWAYS_AUTHENTICATE, PIV slot 9C); ``pin``
        defaults to the session's ``context_pin``. Key methods do this themselves when
        given ``pin=``; call it when driving the engine's *_init yourself."""
        chosen = pin if pin is not None else self.context_pin
        if chosen is None:
            raise ValueError("no PIN given and the session has no context_pin")
        self.library.engine.login(self.handle, CKU.CONTEXT_SPECIFIC, chosen)

    @property
    def piv(self) -> PivSession:
        """PIV administration through this session (:class:`cardki.api_piv.PivSession`):
        keys, certificates, PIN, PUK, management key, attestation, reset."""
        from .api_piv import PivSession

        return PivSession(self)

    # ---------------------------------------------------------------- objects
    def object(self, handle: int) -> Object:
        """The object ``handle`` names in this session, typed by its attributes."""
        return make_object(self, handle)

    def objects(self, template: Mapping[int, Any] | None = None) -> List[Object]:
        """Every object matching ``template`` (all objects when it is empty).

        The search is finished before this returns, so the session is free for
        other operations while the caller looks at the result."""
        engine = self.library.engine
        engine.find_objects_init(self.handle, dict(template or {}))
        handles: List[int] = []
        try:
            while True:
                batch = engine.find_objects(self.handle, 64)
                if not batch:
                    break
                handles.extend(batch)
        finally:
            engine.find_objects_final(self.handle)
        return [self.object(handle) for handle in handles]

    def keys(self, object_class: int | None = None, key_type: int | None = None,
             id: bytes | None = None, label: str | None = None) -> List[Key]:
        """Keys (private, public and secret unless ``object_class`` says which)."""
        template: Dict[int, Any] = {}
        if object_class is not None:
            template[CKA.CLASS] = int(object_class)
        if key_type is not None:
            template[CKA.KEY_TYPE] = int(key_type)
        if id is not None:
            template[CKA.ID] = bytes(id)
        if label is not None:
            template[CKA.LABEL] = label
        return only(Key, self.objects(template))

    def private_keys(self, key_type: int | None = None, id: bytes | None = None,
                     label: str | None = None) -> List[PrivateKey]:
        return only(PrivateKey, self.keys(CKO.PRIVATE_KEY, key_type, id, label))

    def public_keys(self, key_type: int | None = None, id: bytes | None = None,
                    label: str | None = None) -> List[PublicKey]:
        return only(PublicKey, self.keys(CKO.PUBLIC_KEY, key_type, id, label))

    def certificates(self, id: bytes | None = None, label: str | None = None) -> List[Certificate]:
        template: Dict[int, Any] = {CKA.CLASS: CKO.CERTIFICATE}
        if id is not None:
            template[CKA.ID] = bytes(id)
        if label is not None:
            template[CKA.LABEL] = label
        return only(Certificate, self.objects(template))

    def get_key(self, object_class: int | None = None, key_type: int | None = None,
                id: bytes | None = None, label: str | None = None) -> Key:
        """The one key matching the search; :class:`NoSuchKey` or
        :class:`MultipleObjectsReturned` otherwise."""
        found = self.keys(object_class=object_class, key_type=key_type, id=id, label=label)
        if not found:
            raise NoSuchKey(f"no key matches {_describe_search(object_class, key_type, id, label)}")
        if len(found) > 1:
            raise MultipleObjectsReturned(
                f"{len(found)} keys match {_describe_search(object_class, key_type, id, label)}")
        return found[0]

    # ---------------------------------------------------------------- other operations
    def generate_random(self, length: int) -> bytes:
        return self.library.engine.generate_random(self.handle, int(length))

    def digest(self, data: bytes, mechanism: int = CKM.SHA256) -> bytes:
        engine = self.library.engine
        engine.digest_init(self.handle, int(mechanism))
        return engine.digest(self.handle, bytes(data))

    def generate_keypair(self, key_type: int, key_length: int | None = None, *,
                         curve: str | None = None, id: bytes | None = None,
                         label: str | None = None,
                         public_template: Mapping[int, Any] | None = None,
                         private_template: Mapping[int, Any] | None = None
                         ) -> Tuple[PublicKey, PrivateKey]:
        """Generate a key pair on the card (PIV: needs a read/write session
        logged in as SO with the management key). ``id`` picks the PIV slot
        (01 = 9A, 02 = 9C, 03 = 9D, 04 = 9E); ``curve`` is ``"secp256r1"``
        or ``"secp384r1"`` for ``CKK.EC`` (Ed25519 is ``CKK.EC_EDWARDS``, X25519
        ``CKK.EC_MONTGOMERY``). The SO cannot see private objects, so the
        returned private key is only described (class, type, ID, label); use
        it from a session logged in as the user."""
        mechanism, pub, priv = _keygen_templates(int(key_type), key_length, curve)
        for template in (pub, priv):
            template[CKA.TOKEN] = True
            if id is not None:
                template[CKA.ID] = bytes(id)
            if label is not None:
                template[CKA.LABEL] = label
        pub.update(public_template or {})
        priv.update(private_template or {})
        engine = self.library.engine
        pub_handle, priv_handle = engine.generate_key_pair(self.handle, mechanism, pub, priv)
        public = self.object(pub_handle)
        try:
            private = self.object(priv_handle)
        except errors.ObjectHandleInvalid:
            # A private key is CKA_PRIVATE: an SO session cannot see it (the spec's
            # rule); describe it from the template, and use it from a user session.
            described: Dict[int, Any] = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: int(key_type)}
            described.update({k: v for k, v in priv.items() if k in (CKA.ID, CKA.LABEL)})
            private = PrivateKey(self, priv_handle, described)
        assert isinstance(public, PublicKey) and isinstance(private, PrivateKey)
        return public, private

    def __repr__(self) -> str:
        return f"<Session {self.handle} on {self.token!r}{' rw' if self.rw else ''}>"


def _keygen_templates(key_type: int, key_length: int | None, curve: str | None
                      ) -> Tuple[int, Dict[int, Any], Dict[int, Any]]:
    if key_type == CKK.RSA:
        pub: Dict[int, Any] = {CKA.MODULUS_BITS: key_length or 2048, CKA.PUBLIC_EXPONENT: b"\x01\x00\x01"}
        return CKM.RSA_PKCS_KEY_PAIR_GEN, pub, {}
    by_type: Dict[int, Tuple[int, str, CurveKind]] = {
        CKK.EC: (CKM.EC_KEY_PAIR_GEN, "secp256r1", CurveKind.WEIERSTRASS),
        CKK.EC_EDWARDS: (CKM.EC_EDWARDS_KEY_PAIR_GEN, "ed25519", CurveKind.EDWARDS),
        CKK.EC_MONTGOMERY: (CKM.EC_MONTGOMERY_KEY_PAIR_GEN, "x25519", CurveKind.MONTGOMERY),
    }
    if key_type not in by_type:
        raise ValueError(f"cannot generate keys of type {constant_name(CKK, key_type)}")
    mechanism, default, kind = by_type[key_type]
    found = curve_by_name(curve or default)
    if found is None or found.kind is not kind:
        raise ValueError(f"unknown curve {curve!r}")
    return mechanism, {CKA.EC_PARAMS: found.ec_params}, {}


def _describe_search(object_class: int | None, key_type: int | None, id: bytes | None,
                     label: str | None) -> str:
    parts = []
    if object_class is not None:
        parts.append(f"class {constant_name(CKO, object_class)}")
    if key_type is not None:
        parts.append(f"type {constant_name(CKK, key_type)}")
    if id is not None:
        parts.append(f"id {bytes(id).hex() or '(empty)'}")
    if label is not None:
        parts.append(f"label {label!r}")
    return ", ".join(parts) or "(any)"


# --------------------------------------------------------------------------- token and slot

@dataclass(frozen=True)
class MechanismInfo:
    """What a token can do with one mechanism."""

    mechanism: int
    min_key_size: int
    max_key_size: int
    flags: MechanismFlag

    @property
    def name(self) -> str:
        return mechanism_name(self.mechanism)


class Token:
    """The token in a slot; a snapshot of ``CK_TOKEN_INFO`` taken when read."""

    def __init__(self, slot: Slot, info: Any) -> None:
        self.slot = slot
        self.library = slot.library
        self.info = info

    @property
    def label(self) -> str:
        return self.info.label.rstrip()

    @property
    def serial(self) -> str:
        return self.info.serial_number.rstrip()

    @property
    def manufacturer(self) -> str:
        return self.info.manufacturer_id.rstrip()

    @property
    def model(self) -> str:
        return self.info.model.rstrip()

    @property
    def flags(self) -> TokenFlag:
        return TokenFlag(self.info.flags)

    @property
    def mechanisms(self) -> Dict[int, MechanismInfo]:
        """Mechanism -> :class:`MechanismInfo` (key sizes, CKF_ flags)."""
        engine = self.library.engine
        result: Dict[int, MechanismInfo] = {}
        for mechanism in engine.get_mechanism_list(self.slot.slot_id):
            info = engine.get_mechanism_info(self.slot.slot_id, mechanism)
            try:
                key = CKM(mechanism)
            except ValueError:
                key = mechanism
            result[key] = MechanismInfo(key, info.min_key_size, info.max_key_size,
                                        MechanismFlag(info.flags))
        return result

    def open(self, user_pin: Pin | None = None, rw: bool = False, so_pin: Pin | None = None,
             context_pin: Pin | None = None) -> Session:
        """Open a session, logged in as user (``user_pin``) or SO (``so_pin``:
        for PIV the management key, hex) when given. Use it in ``with``.

        Cryptoki keeps one login per application: when another session is
        already logged in as the user, the new one shares that login (and
        ``user_pin`` is not checked again)."""
        if user_pin is not None and so_pin is not None:
            raise ValueError("give user_pin or so_pin, not both")
        flags = SessionFlag.SERIAL_SESSION | (SessionFlag.RW_SESSION if rw else 0)
        engine = self.library.engine
        handle = engine.open_session(self.slot.slot_id, int(flags))
        session = Session(self, handle, rw=rw, context_pin=context_pin)
        try:
            if user_pin is not None:
                try:
                    session.login(user_pin, CKU.USER)
                except errors.UserAlreadyLoggedIn:
                    # Login state belongs to the application, not the session: another
                    # open session logged in already, so this one is usable as it is.
                    logger.debug("user already logged in; session %d shares that login", handle)
            elif so_pin is not None:
                session.login(so_pin, CKU.SO)
        except BaseException:
            session.close()
            raise
        return session

    def __repr__(self) -> str:
        return f"<Token {self.label!r} serial={self.serial!r} in slot {self.slot.slot_id}>"


class Slot:
    """A reader (or the in-process virtual card)."""

    def __init__(self, library: Library, slot_id: int, info: Any) -> None:
        self.library = library
        self.slot_id = slot_id
        self.info = info

    @property
    def description(self) -> str:
        return self.info.slot_description.rstrip()

    @property
    def manufacturer(self) -> str:
        return self.info.manufacturer_id.rstrip()

    @property
    def flags(self) -> SlotFlag:
        return SlotFlag(self.info.flags)

    @property
    def token_present(self) -> bool:
        return bool(self.info.flags & SlotFlag.TOKEN_PRESENT)

    @property
    def is_virtual(self) -> bool:
        """True for cardki's in-process virtual card (not a reader): the one slot
        without CKF_HW_SLOT."""
        return not self.info.flags & SlotFlag.HW_SLOT

    @property
    def token(self) -> Token:
        """The token in this slot (raises ``TokenNotPresent`` when empty)."""
        return Token(self, self.library.engine.get_token_info(self.slot_id))

    def __repr__(self) -> str:
        return f"<Slot {self.slot_id} {self.description!r}>"


class Library:
    """cardki's engine, initialized; a context manager that finalizes it.

    With no card in any reader (or no PC/SC at all) and ``virtual_fallback``
    on, a virtual YubiKey in this process stands in, so code runs with nothing
    plugged in; ``virtual=True`` uses only the virtual card, never a reader.
    Its slot says so (:attr:`Slot.is_virtual`).

    ``virtual_card`` puts a card you built (an ``hwsim`` VirtualCard, e.g. one
    with keys already on it) in the virtual slot; ``virtual_state`` keeps the
    virtual YubiKey in a file across runs (loaded now, saved by :meth:`close`
    when it changed). Both imply ``virtual=True``.
    """

    def __init__(self, *, virtual: bool = False, virtual_fallback: bool = True,
                 virtual_card: Any = None, virtual_state: str | None = None,
                 engine: Cryptoki | None = None) -> None:
        self._state_file: VirtualCardFile | None = None
        self.virtual_card = virtual_card
        if virtual_state is not None:
            if virtual_card is not None:
                raise ValueError("give virtual_card or virtual_state, not both")
            self._state_file = VirtualCardFile(virtual_state)
            self.virtual_card = self._state_file.card
        if engine is None:
            from .cryptoki.engine import Cryptoki

            if self.virtual_card is not None or virtual:
                if self.virtual_card is None:
                    self.virtual_card = new_virtual_card()
                card = self.virtual_card
                engine = Cryptoki(slot_source_factory=slot_source_factory(VirtualMode.ONLY, lambda: card))
            else:
                mode = VirtualMode.FALLBACK if virtual_fallback else VirtualMode.OFF
                engine = Cryptoki(slot_source_factory=slot_source_factory(mode))
        self.engine: Cryptoki = engine
        self.virtual = virtual or self.virtual_card is not None
        engine.initialize()
        self._finalized = False

    def __enter__(self) -> Library:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> None:
        try:
            self.close()
        except VirtualStateError as failed_save:
            if exc is None:
                raise
            # The block's own error goes on (a wrong PIN must not turn into a file error),
            # carrying the failed save as a note (PEP 678).
            exc.add_note(str(failed_save))

    def close(self) -> None:
        """C_Finalize (idempotent): sessions close, the card is released, and a virtual
        card kept in a file is saved when it changed (VirtualStateError if it cannot be)."""
        if not self._finalized:
            self._finalized = True
            try:
                self.engine.finalize()
            finally:
                if self._state_file is not None:
                    self._state_file.save_if_changed()

    @property
    def virtual_attestation_root(self) -> bytes | None:
        """The DER root certificate the in-process virtual card's PIV attestations chain
        to (None without a virtual card): the trust anchor for
        ``session.piv.verify_attestation`` on that card."""
        if self.virtual_card is None:
            return None
        from .virtual import attestation_root

        return attestation_root(self.virtual_card)

    @property
    def info(self) -> Any:
        """``CK_INFO`` (cryptoki_version, manufacturer_id, library_description, ...)."""
        return self.engine.get_info()

    def slots(self, token_present: bool = False) -> List[Slot]:
        return [Slot(self, slot_id, self.engine.get_slot_info(slot_id))
                for slot_id in self.engine.get_slot_list(token_present)]

    def slot(self, slot_id: int) -> Slot:
        return Slot(self, slot_id, self.engine.get_slot_info(slot_id))

    def tokens(self) -> List[Token]:
        return [slot.token for slot in self.slots(token_present=True)]

    def get_token(self, label: str | None = None, serial: str | None = None) -> Token:
        """The first token matching ``label``/``serial`` (the first token when neither is given);
        ``TokenNotPresent`` when there is none."""
        for token in self.tokens():
            if label is not None and token.label != label:
                continue
            if serial is not None and token.serial != serial:
                continue
            return token
        raise errors.TokenNotPresent(
            "no token" + (f" labelled {label!r}" if label else "") +
            (f" with serial {serial}" if serial else ""))


def open(*, virtual: bool = False, virtual_fallback: bool = True, virtual_card: Any = None,  # noqa: A001
         virtual_state: str | None = None) -> Library:
    """The everyday entry point: ``with cardki.open() as lib: ...`` (see :class:`Library`)."""
    return Library(virtual=virtual, virtual_fallback=virtual_fallback, virtual_card=virtual_card,
                   virtual_state=virtual_state)

