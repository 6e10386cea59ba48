"""The Cryptoki engine: the one implementation of the PKCS#11 model.

Both the Python API (``cardki.Cryptoki``, :mod:`cardki.api`) and the C ABI
(:mod:`cardki.capi`) call this class; the C layer only marshals. Cards are
reached only through the :class:`~cardki.token.base.Token` interface, readers
only through a :class:`~cardki.cryptoki.ports.SlotSource`.

This class is a facade: every public method takes the library lock, checks
C_Initialize (and the pid, after a fork) and the error boundary
(:mod:`.boundary`), then hands the call to the part that owns what it is
about. The C layer's calls on an operation (C_Sign, C_Encrypt, their updates and
finals, ...) take that boundary once, in :meth:`Cryptoki.operation_call`, and use
the operations part it gives: their facade methods are the Python API's. The
parts, wired together in :meth:`Cryptoki.__init__`:

* :class:`~.slots.SlotTable` (:mod:`.slots`): readers as slots, a slot per applet of
  a card (a YubiKey's PIV and OpenPGP), and the one path every token call takes
  (removal, resets);
* :class:`~.object_table.ObjectTable` (:mod:`.object_table`): handles, who may see
  which object, the card's list read as far as a find needs it, session objects;
* :class:`~.session_table.SessionTable` (:mod:`.session_table`): sessions and the
  login state of each slot;
* :class:`~.operations.OperationRunner` (:mod:`.operations`): the *_Init / *_Update /
  *_Final state machines (their sequencing rules are in :mod:`.sessions`).

Each depends only on those listed before it; what must happen when a card
leaves or another program changes it reaches the session and object tables
through two callbacks on the slot table, set here.

Thread safety: one library-wide ``RLock`` serializes every call except the
blocking part of :meth:`Cryptoki.wait_for_slot_event`.

Choices where the spec leaves room (so callers know what to expect):

* Session and object handles come from one process-wide counter and are never
  reused, so a stale handle can never name a newer session or object.
* Card objects keep their handles while the card stays in (across resets by
  other programs); a new insertion gets new handles. After a logout, handles
  of private objects are invalid for good, as the spec requires.
* The card's objects are read when a find first needs them (see
  :mod:`.object_table`), not at C_OpenSession or C_Login.
* Raw single-part mechanisms (RSA_PKCS, RSA_X_509, RSA_PKCS_PSS, ECDSA, EDDSA)
  accept ``sign_update``: the parts are buffered and signed at ``sign_final``.
  RSA encrypt/decrypt ``*_update`` buffer likewise and output nothing.
* Operation state (the rules live in :mod:`.sessions`, one place for every
  operation and both APIs): a failed call ends its operation, except
  BUFFER_TOO_SMALL, a successful length query, and a call refused with
  OPERATION_ACTIVE because it cannot come now (a single-part call after an
  ``*_update``; anything but the asking call after a length query or a
  too-small buffer), which leaves the operation as it was. A NULL pointer the
  C layer finds (ARGUMENTS_BAD) is a failed call too.
* Output lengths: a signature's length is fixed by the key, so a length query
  or a too-small buffer for ``sign``/``sign_final`` is answered without the
  card; other outputs (a decryption's length is known only afterwards) are
  computed once and wait in the session for the call that asked.
  ``length_only=True`` returns the length (an int).
* A key with CKA_ALWAYS_AUTHENTICATE needs ``login(CKU_CONTEXT_SPECIFIC)``
  after ``sign_init``/``decrypt_init``. A call that uses the key before that
  login succeeded (``sign``, ``sign_update``, ``sign_final``, ``decrypt...``
  that needs the card) fails with USER_NOT_LOGGED_IN, ending the operation;
  length questions may come before the login. A failed context login leaves
  the operation waiting, so it may be retried (the spec: "as if C_Login had
  not been called"), except PIN_LOCKED, which also logs the user out. Until
  the login succeeds nothing has reached the card, so a new ``*_init`` of the
  same kind replaces such an operation rather than answering OPERATION_ACTIVE:
  ssh-agent, which cannot ask for a PIN, gives up on a 9C key exactly that
  way and must go on signing with the others.
* Private keys exist only on the card: a session private key is refused with
  TEMPLATE_INCONSISTENT; verify/encrypt take CKO_PUBLIC_KEY objects.
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
import os
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ContextManager,
    Dict,
    List,
    Mapping,
    Sequence,
    Tuple,
    TypeVar,
)

from cardki.named_tuple import NamedTuple

from .. import errors
from ..constants import CK_EFFECTIVELY_INFINITE, CK_UNAVAILABLE_INFORMATION, CRYPTOKI_VERSION
from ..log import get_logger
from .boundary import api_boundary
from .info import (
    LIBRARY_DESCRIPTION,
    LIBRARY_VERSION,
    MANUFACTURER_ID,
    LibraryInfo,
    SessionInfo,
    SlotInfo,
    TokenInfoFull,
    token_label,
)
from .object_table import ObjectTable
from .operations import OperationRunner
from .ports import SlotSource, TokenFactory
from .session_table import SessionTable, pin_bytes
from .sessions import OperationKind
from .slots import SlotTable

if TYPE_CHECKING:
    from ..token.base import MechanismInfo, Token

log = get_logger(__name__)
T = TypeVar("T")
_new_tuple = tuple.__new__


def pcsc_slot_source() -> SlotSource:
    """The default slot source: the machine's PC/SC readers, no virtual card (made by
    :mod:`cardki.virtual`, the one place that decides; imported at C_Initialize, as
    pyscard is not needed before)."""
    from ..virtual import VirtualMode, slot_source_factory
    return slot_source_factory(VirtualMode.OFF)()


class _OperationCall(NamedTuple):
    """:meth:`Cryptoki.operation_call`: the library lock around one C call on an
    operation, and the operation's failure rule for what fails in it. A named tuple
    made without its Python ``__new__`` rather than a generator-based context manager
    or a class with an ``__init__``: every signature takes two."""

    engine: Cryptoki
    session: int
    kind: OperationKind

    def __enter__(self) -> OperationRunner:
        engine = self.engine
        engine._lock.acquire()
        if not engine._initialized or engine._pid != os.getpid():  # the usual answer without a call
            try:
                engine._check_initialized()  # CRYPTOKI_NOT_INITIALIZED (a forked child forgets first)
            except BaseException:
                engine._lock.release()
                raise
        return engine._operations

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        try:
            if error is not None:
                self.engine._operations.call_failed(self.session, self.kind, error)
        finally:
            self.engine._lock.release()


class Cryptoki:
    """A PKCS#11 library instance (one per process, normally).

    ``slot_manager``: a slot source the caller owns (used as it is, never closed).
    ``slot_source_factory``: makes the slot source at each C_Initialize (closed at
    C_Finalize); by default the PC/SC readers. :mod:`cardki.virtual` makes the ones
    with the in-process virtual card. ``token_factory``: a card's transport -> the
    tokens of its applets (by default :func:`cardki.token.open_tokens`, imported at
    the first card).
    """

    def __init__(self, *, slot_manager: SlotSource | None = None,
                 slot_source_factory: Callable[[], SlotSource] | None = None,
                 token_factory: TokenFactory | None = None) -> None:
        self._lock = _thread.RLock()
        self._given_source = slot_manager
        self._source_factory = slot_source_factory or pcsc_slot_source
        self._initialized = False
        self._pid: int | None = None
        self._slots = SlotTable(self._lock, token_factory)
        self._objects = ObjectTable(self._slots)
        self._sessions = SessionTable(self._slots, self._objects)
        self._operations = OperationRunner(self._slots, self._objects, self._sessions)
        self._slots.on_card_gone = self._card_gone
        self._slots.on_token_changed = self._objects.refresh

    def _card_gone(self, slot_id: int) -> None:
        """A card left its slot: the slot's sessions close, every handle of it dies."""
        self._sessions.discard_slot(slot_id)
        self._objects.drop_slot(slot_id)

    # ------------------------------------------------------------------ life cycle

    def _check_initialized(self) -> None:
        if self._initialized and self._pid != os.getpid():
            # A forked child: the parent's cards and sessions are not ours. Forget them
            # without touching the card (the parent still uses those connections).
            self._forget_everything()
        if not self._initialized:
            raise errors.CryptokiNotInitialized()

    def check_initialized(self) -> None:
        """CRYPTOKI_NOT_INITIALIZED unless C_Initialize ran in this process: what the C
        layer asks first on every call, before it reads an argument. A flag and the pid,
        no lock unless the answer is no (the call itself checks again under the lock)."""
        if not self._initialized or self._pid != os.getpid():
            with self._lock:
                self._check_initialized()

    def _forget_everything(self) -> None:
        self._initialized = False
        self._sessions.clear()
        self._objects.clear()
        self._slots.detach()

    def initialize(self, flags: int = 0) -> None:
        """C_Initialize (mutex callbacks and CKR_CANT_LOCK are the C layer's part)."""
        with self._lock:
            if self._initialized and self._pid != os.getpid():
                self._forget_everything()
            if self._initialized:
                raise errors.CryptokiAlreadyInitialized()
            try:
                if self._given_source is not None:
                    self._slots.attach(self._given_source, owned=False)
                else:
                    self._slots.attach(self._source_factory(), owned=True)
            except errors.CryptokiError:
                raise
            except Exception as error:  # noqa: BLE001 - PC/SC or import trouble at startup
                raise errors.GeneralError(f"cannot start the slot layer: {error}") from error
            self._pid = os.getpid()
            self._initialized = True

    @api_boundary
    def finalize(self) -> None:
        """C_Finalize: close every session (logging out), release cards, wake a
        blocked C_WaitForSlotEvent. The object table is emptied first, as nothing reads
        it again: a logout that finds the card reset by another program would otherwise
        re-read the objects listed so far (a certificate and its key's metadata, parsed
        at a host's exit, where a late C_Finalize may no longer import anything)."""
        self._objects.clear()
        for state in self._slots.states():
            self._sessions.close_slot(state.slot_id)
            self._slots.release(state)
        self._sessions.clear()
        self._objects.clear()  # what the logouts above noted of their cards
        self._initialized = False
        self._slots.detach()

    @api_boundary
    def get_info(self) -> LibraryInfo:
        return LibraryInfo(CRYPTOKI_VERSION, MANUFACTURER_ID, 0, LIBRARY_DESCRIPTION, LIBRARY_VERSION)

    # ------------------------------------------------------------------ slots and tokens

    @api_boundary
    def get_slot_list(self, token_present: bool) -> List[int]:
        return self._slots.slot_list(token_present)

    @api_boundary
    def get_slot_info(self, slot: int) -> SlotInfo:
        return self._slots.slot_info(slot)

    @api_boundary
    def get_token_info(self, slot: int) -> TokenInfoFull:
        state = self._slots.present(slot)
        info = self._slots.token_info(state)
        sessions, rw_sessions = self._sessions.counts(slot)
        return TokenInfoFull(
            label=info.label, manufacturer_id=info.manufacturer_id, model=info.model,
            serial_number=info.serial_number, flags=int(info.flags),
            max_session_count=CK_EFFECTIVELY_INFINITE, session_count=sessions,
            max_rw_session_count=CK_EFFECTIVELY_INFINITE, rw_session_count=rw_sessions,
            max_pin_len=info.max_pin_len, min_pin_len=info.min_pin_len,
            total_public_memory=CK_UNAVAILABLE_INFORMATION, free_public_memory=CK_UNAVAILABLE_INFORMATION,
            total_private_memory=CK_UNAVAILABLE_INFORMATION, free_private_memory=CK_UNAVAILABLE_INFORMATION,
            hardware_version=info.hardware_version, firmware_version=info.firmware_version,
            utc_time="")

    def wait_for_slot_event(self, flags: int = 0) -> int:
        """C_WaitForSlotEvent; blocks without holding the library lock."""
        with self._lock:
            self._check_initialized()
        return self._slots.wait_for_event(flags)

    @api_boundary
    def get_mechanism_list(self, slot: int) -> List[int]:
        return sorted(self._slots.mechanisms(self._slots.present(slot)))

    @api_boundary
    def get_mechanism_info(self, slot: int, mech: int) -> MechanismInfo:
        return self._slots.mechanism_info(self._slots.present(slot), mech)

    @api_boundary
    def init_token(self, slot: int, so_pin: Any, label: str | bytes) -> None:
        """C_InitToken: the token back to its initial state, with ``so_pin`` as its SO PIN.

        The spec's rules: no session of this application may be open with the token
        (SESSION_EXISTS); ``so_pin`` is required (no token here has a protected
        authentication path); ``label`` is the token's 32-byte CK_UTF8CHAR field, blank
        padded (or the text itself), so at most 32 bytes of UTF-8 once the padding is
        stripped and without NULs (else ARGUMENTS_BAD). The token checks the SO PIN
        before it changes anything (PIN_INCORRECT). Afterwards the card holds other
        objects: their handles die and the list is read again at the next find."""
        state = self._slots.present(slot)
        if self._sessions.of_slot(slot):
            raise errors.SessionExists()
        secret = pin_bytes(so_pin)
        if secret is None:
            raise errors.ArgumentsBad("C_InitToken needs the SO PIN")
        text = token_label(label)
        if self._slots.write_protected(state):
            raise errors.TokenWriteProtected()
        # Every object is about to change (even a refused SO PIN makes the token drop what
        # it read): forget the slot's objects first, so nothing is re-read until a find.
        self._objects.drop_slot(slot)
        self._slots.call(state, lambda token: token.init_token(secret, text))

    # ------------------------------------------------------------------ sessions and login

    @api_boundary
    def open_session(self, slot: int, flags: int, application: Any = None, notify: Any = None) -> int:
        return self._sessions.open(slot, flags, application, notify)

    @api_boundary
    def close_session(self, session: int) -> None:
        self._sessions.close(session)

    @api_boundary
    def close_all_sessions(self, slot: int) -> None:
        self._slots.entry(slot)  # SLOT_ID_INVALID for a slot that does not exist
        self._sessions.close_slot(slot)

    @api_boundary
    def get_session_info(self, session: int) -> SessionInfo:
        return self._sessions.info(session)

    @api_boundary
    def get_operation_state(self, session: int) -> bytes:
        self._sessions.get(session)
        raise errors.FunctionNotSupported()

    @api_boundary
    def set_operation_state(self, session: int, state: bytes, encryption_key: int = 0,
                            authentication_key: int = 0) -> None:
        self._sessions.get(session)
        raise errors.FunctionNotSupported()

    @api_boundary
    def get_function_status(self, session: int) -> None:
        self._sessions.get(session)
        raise errors.FunctionNotParallel()

    @api_boundary
    def cancel_function(self, session: int) -> None:
        self._sessions.get(session)
        raise errors.FunctionNotParallel()

    @api_boundary
    def login(self, session: int, user_type: int, pin: Any) -> None:
        self._sessions.login(session, user_type, pin)

    @api_boundary
    def login_user(self, session: int, user_type: int, pin: Any, username: Any = None) -> None:
        """C_LoginUser (3.0): PIV has no user names, so the name is not used."""
        self._sessions.login(session, user_type, pin)

    @api_boundary
    def logout(self, session: int) -> None:
        self._sessions.logout(session)

    @api_boundary
    def init_pin(self, session: int, pin: Any) -> None:
        self._sessions.init_pin(session, pin)

    @api_boundary
    def set_pin(self, session: int, old_pin: Any, new_pin: Any) -> None:
        self._sessions.set_pin(session, old_pin, new_pin)

    # ------------------------------------------------------------------ beyond Cryptoki

    @api_boundary
    def token_call(self, session: int, operation: Callable[[Token], T], *, writes: bool = False) -> T:
        """Run ``operation`` on the token of ``session``'s slot: for what Cryptoki has no
        call for (the Python API's PIV administration: the PUK, PIN retries, a reset, an
        attestation, moving a key). It takes the path every token call takes (a card
        pulled out is DEVICE_REMOVED, a reset by another program is noticed), and the
        token sees the login the session's slot has. ``writes``: the operation changes
        the card, so it needs a read/write session, and what the object table registered
        of the card is read again afterwards (handles of unchanged objects stay)."""
        context = self._sessions.context(session)
        if writes and not context.record.read_write:
            raise errors.SessionReadOnly()
        result = self._slots.call(context.slot, operation)
        if writes:
            self._objects.refresh(context.slot)
        return result

    # ------------------------------------------------------------------ objects

    @api_boundary
    def create_object(self, session: int, template: Mapping[int, Any]) -> int:
        return self._objects.create(self._sessions.context(session), template)

    @api_boundary
    def copy_object(self, session: int, obj: int, template: Mapping[int, Any]) -> int:
        return self._objects.copy(self._sessions.context(session), obj, template)

    @api_boundary
    def destroy_object(self, session: int, obj: int) -> None:
        self._objects.destroy(self._sessions.context(session), obj)

    @api_boundary
    def get_object_size(self, session: int, obj: int) -> int:
        return self._objects.size(self._sessions.context(session), obj)

    @api_boundary
    def get_attribute_value_encoded(self, session: int, obj: int,
                                    types: Sequence[int]) -> Tuple[int, List[bytes | None]]:
        """For the C ABI: (rv, encoded value or None per type); rv is OK,
        ATTRIBUTE_SENSITIVE or ATTRIBUTE_TYPE_INVALID (the first problem met)."""
        return self._objects.lookup(self._sessions.context(session), obj, types)

    @api_boundary
    def get_attribute_value(self, session: int, obj: int, types: Sequence[int]) -> Dict[int, Any]:
        """Values of ``types``; if any is unavailable, raises the spec's error with
        ``.partial`` holding the available ones."""
        return self._objects.values(self._sessions.context(session), obj, types)

    @api_boundary
    def set_attribute_value(self, session: int, obj: int, template: Mapping[int, Any]) -> None:
        self._objects.set_values(self._sessions.context(session), obj, template)

    @api_boundary
    def find_objects_init(self, session: int, template: Mapping[int, Any]) -> None:
        self._objects.find_init(self._sessions.context(session), template)

    @api_boundary
    def find_objects(self, session: int, max_count: int) -> List[int]:
        return self._objects.find(self._sessions.context(session), max_count)

    @api_boundary
    def find_objects_final(self, session: int) -> None:
        self._objects.find_final(self._sessions.context(session))

    # ------------------------------------------------------------------ operations

    def operation_call(self, session: int, kind: OperationKind) -> ContextManager[OperationRunner]:
        """For the C layer: one ``C_*`` call on ``kind``'s operation, its argument
        checks included. A NULL pointer or an absurd length the C layer finds is a
        failed call like any other, so it ends the operation by the same rule.

        Entering it takes the library lock and checks C_Initialize (and the pid) under
        it, so the call needs no :meth:`check_initialized` before: CRYPTOKI_NOT_INITIALIZED
        still comes first when the call reads its arguments inside. It gives the
        operations part, whose methods (:meth:`sign` and the other operation calls
        here, by the same names and arguments) the call then uses directly: this is
        their API boundary, so they do not take the lock and check again each (a
        boundary call is ~15% of a C_Sign's own Python). What escapes other than a
        CryptokiError the C layer's guard logs and answers as CKR_GENERAL_ERROR, as
        the boundary would."""
        return _new_tuple(_OperationCall, (self, session, kind))

    @api_boundary
    def sign_init(self, session: int, mech: Any, key: int) -> None:
        self._operations.sign_init(session, mech, key)

    @api_boundary
    def sign(self, session: int, data: bytes, *, length_only: bool = False, max_length: int | None = None) -> Any:
        return self._operations.sign(session, data, length_only=length_only, max_length=max_length)

    @api_boundary
    def sign_update(self, session: int, data: bytes) -> None:
        """Multi-part sign. Raw mechanisms (RSA_PKCS, X_509, PSS, ECDSA, EDDSA)
        buffer the parts and sign the concatenation at sign_final."""
        self._operations.sign_update(session, data)

    @api_boundary
    def sign_final(self, session: int, *, length_only: bool = False, max_length: int | None = None) -> Any:
        return self._operations.sign_final(session, length_only=length_only, max_length=max_length)

    @api_boundary
    def sign_recover_init(self, session: int, mech: Any, key: int) -> None:
        self._operations.sign_recover_init(session, mech, key)

    @api_boundary
    def sign_recover(self, session: int, data: bytes, **out: Any) -> bytes:
        return self._operations.sign_recover(session, data, **out)

    @api_boundary
    def verify_recover_init(self, session: int, mech: Any, key: int) -> None:
        self._operations.verify_recover_init(session, mech, key)

    @api_boundary
    def verify_recover(self, session: int, signature: bytes, **out: Any) -> bytes:
        return self._operations.verify_recover(session, signature, **out)

    @api_boundary
    def verify_init(self, session: int, mech: Any, key: int) -> None:
        self._operations.verify_init(session, mech, key)

    @api_boundary
    def verify(self, session: int, data: bytes, signature: bytes) -> None:
        self._operations.verify(session, data, signature)

    @api_boundary
    def verify_update(self, session: int, data: bytes) -> None:
        self._operations.verify_update(session, data)

    @api_boundary
    def verify_final(self, session: int, signature: bytes) -> None:
        self._operations.verify_final(session, signature)

    @api_boundary
    def encrypt_init(self, session: int, mech: Any, key: int) -> None:
        self._operations.encrypt_init(session, mech, key)

    @api_boundary
    def encrypt(self, session: int, data: bytes, *, length_only: bool = False,
                max_length: int | None = None) -> Any:
        return self._operations.encrypt(session, data, length_only=length_only, max_length=max_length)

    @api_boundary
    def encrypt_update(self, session: int, data: bytes, *, length_only: bool = False,
                       max_length: int | None = None) -> Any:
        return self._operations.encrypt_update(session, data, length_only=length_only, max_length=max_length)

    @api_boundary
    def encrypt_final(self, session: int, *, length_only: bool = False,
                      max_length: int | None = None) -> Any:
        return self._operations.encrypt_final(session, length_only=length_only, max_length=max_length)

    @api_boundary
    def decrypt_init(self, session: int, mech: Any, key: int) -> None:
        self._operations.decrypt_init(session, mech, key)

    @api_boundary
    def decrypt(self, session: int, data: bytes, *, length_only: bool = False,
                max_length: int | None = None) -> Any:
        return self._operations.decrypt(session, data, length_only=length_only, max_length=max_length)

    @api_boundary
    def decrypt_update(self, session: int, data: bytes, *, length_only: bool = False,
                       max_length: int | None = None) -> Any:
        return self._operations.decrypt_update(session, data, length_only=length_only, max_length=max_length)

    @api_boundary
    def decrypt_final(self, session: int, *, length_only: bool = False,
                      max_length: int | None = None) -> Any:
        return self._operations.decrypt_final(session, length_only=length_only, max_length=max_length)

    @api_boundary
    def digest_init(self, session: int, mech: Any) -> None:
        self._operations.digest_init(session, mech)

    @api_boundary
    def digest(self, session: int, data: bytes, *, length_only: bool = False,
               max_length: int | None = None) -> Any:
        return self._operations.digest(session, data, length_only=length_only, max_length=max_length)

    @api_boundary
    def digest_update(self, session: int, data: bytes) -> None:
        self._operations.digest_update(session, data)

    @api_boundary
    def digest_key(self, session: int, key: int) -> None:
        self._operations.digest_key(session, key)

    @api_boundary
    def digest_final(self, session: int, *, length_only: bool = False,
                     max_length: int | None = None) -> Any:
        return self._operations.digest_final(session, length_only=length_only, max_length=max_length)

    @api_boundary
    def generate_key_pair(self, session: int, mech: Any, public_template: Mapping[int, Any],
                          private_template: Mapping[int, Any]) -> Tuple[int, int]:
        return self._operations.generate_key_pair(session, mech, public_template, private_template)

    @api_boundary
    def generate_key(self, session: int, mech: Any, template: Mapping[int, Any]) -> int:
        return self._operations.generate_key(session, mech, template)

    @api_boundary
    def wrap_key(self, session: int, mech: Any, wrapping_key: int, key: int, **out: Any) -> bytes:
        return self._operations.wrap_key(session, mech, wrapping_key, key, **out)

    @api_boundary
    def unwrap_key(self, session: int, mech: Any, unwrapping_key: int, wrapped_key: bytes,
                   template: Mapping[int, Any]) -> int:
        return self._operations.unwrap_key(session, mech, unwrapping_key, wrapped_key, template)

    @api_boundary
    def derive_key(self, session: int, mech: Any, base_key: int, template: Mapping[int, Any]) -> int:
        """ECDH1_DERIVE on the card, KDF on the host; the result is a session secret key."""
        return self._operations.derive_key(session, mech, base_key, template)

    @api_boundary
    def seed_random(self, session: int, seed: bytes) -> None:
        self._operations.seed_random(session, seed)

    @api_boundary
    def generate_random(self, session: int, length: int) -> bytes:
        return self._operations.generate_random(session, length)


__all__ = ["Cryptoki", "LibraryInfo", "SlotInfo", "TokenInfoFull", "SessionInfo", "pcsc_slot_source"]
