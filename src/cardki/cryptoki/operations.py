"""The operation runner: sign, verify, encrypt, decrypt, digest, key generation and derivation, random.

This is the spec's operation state machine. ``*_init`` checks the mechanism and
the key, ``*_update`` feeds data, and the single-part and ``*_final`` calls
deliver under the output-length rules (a length query or a too-small buffer
keeps the operation; anything else ends it). Every call on an operation goes
through :meth:`OperationRunner._step`, which applies the sequencing rules of
:mod:`.sessions`; the C layer's argument checks obey the same rules through
:meth:`OperationRunner.call_failed`. Sign, decrypt and the ECDH step run on the
card (through the slot table); verify, encrypt, digest and the KDF run on the
host, whose crypto module is imported at first use. The runner owns no table:
operations live in their session, keys in the object table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Tuple

from .. import errors
from ..constants import CKA, CKK, CKM, CKO, MechanismFlag
from ..digests import BY_MECHANISM, HashContext
from . import limits
from .attributes import normalize_template
from .mechanisms import (
    CIPHER_MECHANISMS,
    DERIVE_MECHANISMS,
    DIGEST_MECHANISMS,
    HASHED_SIGN,
    HASHED_SIGN_BASES,
    SIGN_MECHANISMS,
    Ecdh1DeriveParams,
    MechanismSpec,
    as_spec,
    check_parameter,
    key_type_for,
    mechanism_name,
)
from .objects import ObjectRecord, secret_key_defaults, secret_value_sensitivity
from .sessions import Call, Operation, OperationKind, SessionContext, SessionRecord

if TYPE_CHECKING:
    from types import ModuleType

    from ..token.base import TokenObject
    from .object_table import ObjectTable
    from .session_table import SessionTable
    from .slots import SlotState, SlotTable


def _hostcrypto() -> ModuleType:
    """The host-side crypto module (verify, encrypt, ECDH KDF), imported at first use:
    it pulls in cryptography.x509 and asn1crypto (~40 ms), which opening a session
    and signing on the card never need."""
    from . import hostcrypto
    return hostcrypto


#: As ints: ``int & IntFlag`` is a Python call (IntFlag.__rand__), ``int & int`` is not.
_KIND_FLAG = {
    OperationKind.SIGN: int(MechanismFlag.SIGN), OperationKind.VERIFY: int(MechanismFlag.VERIFY),
    OperationKind.ENCRYPT: int(MechanismFlag.ENCRYPT), OperationKind.DECRYPT: int(MechanismFlag.DECRYPT),
    OperationKind.DIGEST: int(MechanismFlag.DIGEST),
}
_KIND_MECHANISMS = {
    OperationKind.SIGN: SIGN_MECHANISMS, OperationKind.VERIFY: SIGN_MECHANISMS,
    OperationKind.ENCRYPT: CIPHER_MECHANISMS, OperationKind.DECRYPT: CIPHER_MECHANISMS,
    OperationKind.DIGEST: DIGEST_MECHANISMS,
}
_KIND_KEY_ATTRIBUTE = {
    OperationKind.SIGN: int(CKA.SIGN), OperationKind.VERIFY: int(CKA.VERIFY),
    OperationKind.ENCRYPT: int(CKA.ENCRYPT), OperationKind.DECRYPT: int(CKA.DECRYPT),
}
#: Operations the card performs (the rest run on the host).
_CARD_KINDS = (OperationKind.SIGN, OperationKind.DECRYPT)
#: Operations that need the key's public part on the host.
_HOST_KEY_KINDS = (OperationKind.VERIFY, OperationKind.ENCRYPT)
#: The class of key an operation takes: the card's private key, else a public key.
_KIND_KEY_CLASS = {kind: int(CKO.PRIVATE_KEY) if kind in _CARD_KINDS else int(CKO.PUBLIC_KEY)
                   for kind in _KIND_KEY_ATTRIBUTE}
_PUBLIC_KEY = int(CKO.PUBLIC_KEY)
# The members every signature names (looked up on the enum class each time, they cost a
# Python call each: the enum metaclass has a __getattr__).
_SIGN, _SINGLE = OperationKind.SIGN, Call.SINGLE
_RSA_PKCS = int(CKM.RSA_PKCS)
# What every *_Init reads, as ints: looking a member up on its enum class is a Python
# call (the enum metaclass has a __getattr__), ~0.1 us each.
_CKA_CLASS, _CKA_KEY_TYPE, _CKA_ALWAYS_AUTHENTICATE = int(CKA.CLASS), int(CKA.KEY_TYPE), int(CKA.ALWAYS_AUTHENTICATE)


def _card_key(operation: Operation) -> TokenObject:
    """The card's own object for the operation's key (private keys live on the card)."""
    assert operation.key is not None and operation.key.token_object is not None, "checked at *_init"
    return operation.key.token_object


def _mechanism(operation: Operation) -> MechanismSpec:
    assert operation.mechanism is not None, "set at *_init"
    return operation.mechanism


def _base(operation: Operation) -> MechanismSpec:
    """What reaches the token or the host primitive (the hashed mechanisms' base)."""
    assert operation.base_mechanism is not None, "set at *_init"
    return operation.base_mechanism


def _hash_context(operation: Operation) -> HashContext:
    assert operation.hash_context is not None, "set at *_init for hashing operations"
    return operation.hash_context


class _Step:
    """The context of one call on an operation (:meth:`OperationRunner._step`): a
    failure ends the operation where the spec says so. A class rather than a
    generator-based context manager: every signature takes two."""

    __slots__ = ("context", "kind", "operation")

    def __init__(self, context: SessionContext, kind: OperationKind, operation: Operation) -> None:
        self.context, self.kind, self.operation = context, kind, operation

    def __enter__(self) -> Tuple[SessionContext, Operation]:
        return self.context, self.operation

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        if error is not None:
            self.context.record.failed(self.kind, error)


class OperationRunner:
    """The cryptographic operations and their state machines."""

    def __init__(self, slots: SlotTable, objects: ObjectTable, sessions: SessionTable) -> None:
        self._slots = slots
        self._objects = objects
        self._sessions = sessions

    # ------------------------------------------------------------------ common

    def _step(self, session: int, kind: OperationKind, call: Call) -> _Step:
        """One call on the active ``kind`` operation, under the session's sequencing
        rules: refused (OPERATION_ACTIVE) if it cannot come now, ended if it fails
        (see :mod:`.sessions`)."""
        context = self._sessions.context(session)
        return _Step(context, kind, context.record.step(kind, call))

    def call_failed(self, session: int, kind: OperationKind, error: BaseException) -> None:
        """A ``C_*`` call on ``kind``'s operation failed in the C layer's own checks (a
        NULL pointer, an absurd length): a failed call like any other, so it ends the
        operation by the same rule."""
        record = self._sessions.find(session)
        if record is not None:
            record.failed(kind, error)

    def _deliver(self, record: SessionRecord, kind: OperationKind, call: Call, operation: Operation,
                 compute: Callable[[], bytes], length_only: bool, max_length: int | None,
                 known_length: int | None = None) -> Any:
        """The spec's output rules. ``length_only`` answers the output's length (an
        int); so does a buffer of ``max_length`` that is too small (BUFFER_TOO_SMALL).
        Either keeps the operation for ``call`` alone. ``known_length``: the output's
        length is fixed in advance (a signature's, by the key), so those answers need
        no computing; otherwise the output is computed once and kept for the next
        call. Delivering the output ends the operation (a failure does too, in
        :meth:`_step`)."""
        if operation.result is None and known_length is not None:
            if length_only or (max_length is not None and max_length < known_length):
                operation.answered = call
                if length_only:
                    return known_length
                raise errors.BufferTooSmall(known_length)
        if operation.result is None:
            operation.result = compute()
        result = operation.result
        if length_only:
            operation.answered = call
            return len(result)
        if max_length is not None and len(result) > max_length:
            operation.answered = call
            raise errors.BufferTooSmall(len(result))
        record.end(kind)
        return result

    def _check_mechanism(self, state: SlotState, kind: OperationKind, spec: MechanismSpec) -> MechanismSpec:
        if spec.type not in _KIND_MECHANISMS[kind]:
            raise errors.MechanismInvalid(mechanism_name(spec.type))
        if kind in _CARD_KINDS:
            flags = self._slots.mechanism_flags(state, spec.type)
            if flags is None or (flags and not flags & _KIND_FLAG[kind]):
                raise errors.MechanismInvalid(f"{mechanism_name(spec.type)} not on this token")
        return spec

    def _check_key(self, kind: OperationKind, spec: MechanismSpec, key: ObjectRecord) -> None:
        attributes = key.attributes
        if attributes.get(_CKA_CLASS) != _KIND_KEY_CLASS.get(kind, _PUBLIC_KEY) \
                or attributes.get(_CKA_KEY_TYPE) != key_type_for(spec.type):
            raise errors.KeyTypeInconsistent()
        if kind in _CARD_KINDS and key.token_object is None:
            raise errors.KeyTypeInconsistent("private keys live on the card")
        if not attributes.get(_KIND_KEY_ATTRIBUTE[kind], False):
            raise errors.KeyFunctionNotPermitted()

    def _init_key_operation(self, handle: int, kind: OperationKind, mech: Any, key_handle: int) -> Operation:
        context = self._sessions.context(handle)
        record = context.record
        record.check_idle(kind)
        spec = self._check_mechanism(context.slot, kind, as_spec(mech))
        key = self._objects.key(context, key_handle)
        self._check_key(kind, spec, key)
        spec = check_parameter(spec)
        operation = Operation(kind, mechanism=spec, key=key)
        if kind is _SIGN:
            operation.output_length = key.signature_length()
        hashed = HASHED_SIGN.get(spec.type)
        if hashed is not None:
            base, digest = hashed
            operation.base_mechanism = MechanismSpec(base, spec.parameter) if spec.parameter is not None \
                else HASHED_SIGN_BASES[spec.type]
            operation.digest_mechanism = digest
            operation.hash_context = BY_MECHANISM[digest].new()
        else:
            operation.base_mechanism = spec
        if kind in _HOST_KEY_KINDS:
            operation.public_key = _hostcrypto().public_key_from_attributes(key.attributes)
        if kind in _CARD_KINDS and key.attributes.get(_CKA_ALWAYS_AUTHENTICATE):
            operation.context_login_pending = True
        return record.begin(operation)

    def _signature_input(self, operation: Operation, data: bytes | None) -> bytes:
        """What the base mechanism gets: DigestInfo for RSA_PKCS, the digest for
        PSS/ECDSA, the data itself for raw mechanisms."""
        digest_mechanism = operation.digest_mechanism
        if digest_mechanism is None:
            return bytes(operation.buffer) if data is None else bytes(data)
        hash_context, base = operation.hash_context, operation.base_mechanism
        assert hash_context is not None and base is not None, "set at *_init"  # not _hash_context, _base: a call each
        if data is not None:
            hash_context.update(bytes(data))
        digest = hash_context.digest()
        if base.type == _RSA_PKCS:
            return BY_MECHANISM[digest_mechanism].digest_info(digest)
        return digest

    def _absorb(self, operation: Operation, data: bytes) -> None:
        operation.multipart = True
        if operation.hash_context is not None:
            operation.hash_context.update(bytes(data))
        else:
            operation.buffer += bytes(data)

    @staticmethod
    def _require_context_login(operation: Operation) -> None:
        """CKA_ALWAYS_AUTHENTICATE: a call that uses the key before its context-specific
        login succeeded fails with USER_NOT_LOGGED_IN (which ends the operation)."""
        if operation.context_login_pending:
            raise errors.UserNotLoggedIn("this key needs C_Login(CKU_CONTEXT_SPECIFIC) after C_SignInit/C_DecryptInit")

    # ------------------------------------------------------------------ sign

    def sign_init(self, session: int, mech: Any, key: int) -> None:
        self._init_key_operation(session, OperationKind.SIGN, mech, key)

    def _card_sign(self, state: SlotState, operation: Operation, data: bytes | None) -> bytes:
        if operation.context_login_pending:
            self._require_context_login(operation)
        payload = self._signature_input(operation, data)
        record, base = operation.key, operation.base_mechanism
        assert record is not None and record.token_object is not None and base is not None, "checked at *_init"
        key = record.token_object  # not _card_key, _base: a call each
        return bytes(self._slots.call(state, lambda token: token.sign(key, base.type, base.parameter, payload)))

    def sign(self, session: int, data: bytes, *, length_only: bool = False, max_length: int | None = None) -> Any:
        # _step written out (the same rule: record.failed ends the operation where the spec
        # says so): its context manager is three Python calls, and both C_Sign calls of
        # every signature come here.
        context = self._sessions.context(session)
        record = context.record
        operation = record.step(_SIGN, _SINGLE)
        try:
            return self._deliver(record, _SIGN, _SINGLE, operation,
                                 lambda: self._card_sign(context.slot, operation, data), length_only, max_length,
                                 operation.output_length)
        except BaseException as error:
            record.failed(_SIGN, error)
            raise

    def sign_update(self, session: int, data: bytes) -> None:
        """Multi-part sign. Raw mechanisms (RSA_PKCS, X_509, PSS, ECDSA, EDDSA)
        buffer the parts and sign the concatenation at sign_final."""
        with self._step(session, OperationKind.SIGN, Call.UPDATE) as (_, operation):
            self._require_context_login(operation)
            self._absorb(operation, data)

    def sign_final(self, session: int, *, length_only: bool = False, max_length: int | None = None) -> Any:
        with self._step(session, OperationKind.SIGN, Call.FINAL) as (context, operation):
            return self._deliver(context.record, OperationKind.SIGN, Call.FINAL, operation,
                                 lambda: self._card_sign(context.slot, operation, None), length_only, max_length,
                                 operation.output_length)

    def sign_recover_init(self, session: int, mech: Any, key: int) -> None:
        self._sessions.get(session)
        raise errors.MechanismInvalid("no sign-with-recovery mechanism")

    def sign_recover(self, session: int, data: bytes, **out: Any) -> bytes:
        self._sessions.get(session)
        raise errors.OperationNotInitialized()

    def verify_recover_init(self, session: int, mech: Any, key: int) -> None:
        self._sessions.get(session)
        raise errors.MechanismInvalid("no verify-with-recovery mechanism")

    def verify_recover(self, session: int, signature: bytes, **out: Any) -> bytes:
        self._sessions.get(session)
        raise errors.OperationNotInitialized()

    # ------------------------------------------------------------------ verify (host)

    def verify_init(self, session: int, mech: Any, key: int) -> None:
        self._init_key_operation(session, OperationKind.VERIFY, mech, key)

    def _host_verify(self, record: SessionRecord, operation: Operation, data: bytes | None,
                     signature: bytes) -> None:
        """Check the signature; valid or not, the verification is over."""
        payload = self._signature_input(operation, data)
        _hostcrypto().verify(operation.public_key, _base(operation), operation.digest_mechanism,
                             payload, bytes(signature))
        record.end(OperationKind.VERIFY)

    def verify(self, session: int, data: bytes, signature: bytes) -> None:
        with self._step(session, OperationKind.VERIFY, Call.SINGLE) as (context, operation):
            self._host_verify(context.record, operation, data, signature)

    def verify_update(self, session: int, data: bytes) -> None:
        with self._step(session, OperationKind.VERIFY, Call.UPDATE) as (_, operation):
            self._absorb(operation, data)

    def verify_final(self, session: int, signature: bytes) -> None:
        with self._step(session, OperationKind.VERIFY, Call.FINAL) as (context, operation):
            self._host_verify(context.record, operation, None, signature)

    # ------------------------------------------------------------------ encrypt (host) / decrypt (card)

    def encrypt_init(self, session: int, mech: Any, key: int) -> None:
        self._init_key_operation(session, OperationKind.ENCRYPT, mech, key)

    def encrypt(self, session: int, data: bytes, *, length_only: bool = False,
                max_length: int | None = None) -> Any:
        with self._step(session, OperationKind.ENCRYPT, Call.SINGLE) as (context, operation):
            return self._deliver(context.record, OperationKind.ENCRYPT, Call.SINGLE, operation,
                                 lambda: _hostcrypto().encrypt(operation.public_key, _mechanism(operation),
                                                               bytes(data)),
                                 length_only, max_length)

    def _buffer_update(self, session: int, kind: OperationKind, data: bytes, length_only: bool) -> Any:
        """RSA has no streaming form: an update buffers its part and outputs nothing
        (a length query answers 0 and buffers nothing, so the part is not taken twice)."""
        with self._step(session, kind, Call.UPDATE) as (_, operation):
            if kind in _CARD_KINDS:
                self._require_context_login(operation)
            if length_only:
                return 0
            self._absorb(operation, data)
            return b""

    def encrypt_update(self, session: int, data: bytes, *, length_only: bool = False,
                       max_length: int | None = None) -> Any:
        return self._buffer_update(session, OperationKind.ENCRYPT, data, length_only)

    def encrypt_final(self, session: int, *, length_only: bool = False,
                      max_length: int | None = None) -> Any:
        with self._step(session, OperationKind.ENCRYPT, Call.FINAL) as (context, operation):
            return self._deliver(context.record, OperationKind.ENCRYPT, Call.FINAL, operation,
                                 lambda: _hostcrypto().encrypt(operation.public_key, _mechanism(operation),
                                                               bytes(operation.buffer)),
                                 length_only, max_length)

    def decrypt_init(self, session: int, mech: Any, key: int) -> None:
        self._init_key_operation(session, OperationKind.DECRYPT, mech, key)

    def _card_decrypt(self, state: SlotState, operation: Operation, data: bytes) -> bytes:
        self._require_context_login(operation)
        key, spec, ciphertext = _card_key(operation), _mechanism(operation), bytes(data)
        return bytes(self._slots.call(state, lambda token: token.decrypt(key, spec.type, spec.parameter, ciphertext)))

    def decrypt(self, session: int, data: bytes, *, length_only: bool = False,
                max_length: int | None = None) -> Any:
        with self._step(session, OperationKind.DECRYPT, Call.SINGLE) as (context, operation):
            return self._deliver(context.record, OperationKind.DECRYPT, Call.SINGLE, operation,
                                 lambda: self._card_decrypt(context.slot, operation, data), length_only, max_length)

    def decrypt_update(self, session: int, data: bytes, *, length_only: bool = False,
                       max_length: int | None = None) -> Any:
        return self._buffer_update(session, OperationKind.DECRYPT, data, length_only)

    def decrypt_final(self, session: int, *, length_only: bool = False,
                      max_length: int | None = None) -> Any:
        with self._step(session, OperationKind.DECRYPT, Call.FINAL) as (context, operation):
            return self._deliver(context.record, OperationKind.DECRYPT, Call.FINAL, operation,
                                 lambda: self._card_decrypt(context.slot, operation, bytes(operation.buffer)),
                                 length_only, max_length)

    # ------------------------------------------------------------------ digest (host)

    def digest_init(self, session: int, mech: Any) -> None:
        context = self._sessions.context(session)
        record = context.record
        record.check_idle(OperationKind.DIGEST)
        spec = check_parameter(self._check_mechanism(context.slot, OperationKind.DIGEST, as_spec(mech)))
        record.begin(Operation(OperationKind.DIGEST, mechanism=spec, digest_mechanism=spec.type,
                               hash_context=BY_MECHANISM[spec.type].new()))

    def digest(self, session: int, data: bytes, *, length_only: bool = False,
               max_length: int | None = None) -> Any:
        with self._step(session, OperationKind.DIGEST, Call.SINGLE) as (context, operation):
            hash_context = _hash_context(operation)

            def compute() -> bytes:
                hash_context.update(bytes(data))
                return hash_context.digest()

            return self._deliver(context.record, OperationKind.DIGEST, Call.SINGLE, operation, compute, length_only,
                                 max_length)

    def digest_update(self, session: int, data: bytes) -> None:
        with self._step(session, OperationKind.DIGEST, Call.UPDATE) as (_, operation):
            self._absorb(operation, data)

    def digest_key(self, session: int, key: int) -> None:
        with self._step(session, OperationKind.DIGEST, Call.UPDATE) as (context, operation):
            target = self._objects.key(context, key)
            value = target.attributes.get(CKA.VALUE)
            if target.object_class != CKO.SECRET_KEY or not isinstance(value, bytes):
                raise errors.KeyIndigestible()
            self._absorb(operation, value)

    def digest_final(self, session: int, *, length_only: bool = False,
                     max_length: int | None = None) -> Any:
        with self._step(session, OperationKind.DIGEST, Call.FINAL) as (context, operation):
            return self._deliver(context.record, OperationKind.DIGEST, Call.FINAL, operation,
                                 _hash_context(operation).digest, length_only, max_length)

    # ------------------------------------------------------------------ keys

    def generate_key_pair(self, session: int, mech: Any, public_template: Mapping[int, Any],
                          private_template: Mapping[int, Any]) -> Tuple[int, int]:
        context = self._sessions.context(session)
        state = context.slot
        spec = as_spec(mech)
        info = self._slots.mechanisms(state).get(spec.type)
        if info is None or (info.flags and not info.flags & MechanismFlag.GENERATE_KEY_PAIR):
            raise errors.MechanismInvalid(mechanism_name(spec.type))
        public_values = normalize_template(public_template)
        private_values = normalize_template(private_template)
        if not context.record.read_write:
            raise errors.SessionReadOnly()
        public, private = self._slots.call(
            state, lambda token: token.generate_key_pair(spec.type, public_values, private_values))
        return self._objects.after_token_write(state, public), self._objects.after_token_write(state, private)

    def generate_key(self, session: int, mech: Any, template: Mapping[int, Any]) -> int:
        self._sessions.get(session)
        raise errors.MechanismInvalid("no secret-key generation on this token")

    def wrap_key(self, session: int, mech: Any, wrapping_key: int, key: int, **out: Any) -> bytes:
        self._sessions.get(session)
        raise errors.MechanismInvalid("no key wrapping mechanism")

    def unwrap_key(self, session: int, mech: Any, unwrapping_key: int, wrapped_key: bytes,
                   template: Mapping[int, Any]) -> int:
        self._sessions.get(session)
        raise errors.MechanismInvalid("no key unwrapping mechanism")

    def derive_key(self, session: int, mech: Any, base_key: int, template: Mapping[int, Any]) -> int:
        """ECDH1_DERIVE on the card, KDF on the host; the result is a session secret key."""
        context = self._sessions.context(session)
        state = context.slot
        spec = as_spec(mech)
        if spec.type not in DERIVE_MECHANISMS:
            raise errors.MechanismInvalid(mechanism_name(spec.type))
        info = self._slots.mechanisms(state).get(spec.type)
        if info is None or (info.flags and not info.flags & MechanismFlag.DERIVE):
            raise errors.MechanismInvalid(f"{mechanism_name(spec.type)} not on this token")
        key = self._objects.key(context, base_key)
        if key.object_class != CKO.PRIVATE_KEY or key.token_object is None \
                or key.attributes.get(CKA.KEY_TYPE) not in (CKK.EC, CKK.EC_MONTGOMERY):
            raise errors.KeyTypeInconsistent()
        if not key.attributes.get(CKA.DERIVE, False):
            raise errors.KeyFunctionNotPermitted()
        spec = check_parameter(spec)
        params: Ecdh1DeriveParams = spec.parameter
        values = normalize_template(template)
        if values.get(CKA.TOKEN):
            raise errors.TemplateInconsistent("derived keys are session objects")
        if values.get(CKA.CLASS, CKO.SECRET_KEY) != CKO.SECRET_KEY:
            raise errors.TemplateInconsistent("ECDH derives secret keys")
        key_type = values.get(CKA.KEY_TYPE, CKK.GENERIC_SECRET)
        length = values.get(CKA.VALUE_LEN)
        if length is not None and not 0 < length <= limits.MAX_DERIVED_KEY_LENGTH:
            raise errors.AttributeValueInvalid(f"CKA_VALUE_LEN outside 1..{limits.MAX_DERIVED_KEY_LENGTH}")
        if key_type == CKK.AES:
            if length is None:
                raise errors.TemplateIncomplete("AES keys need CKA_VALUE_LEN")
            if length not in (16, 24, 32):
                raise errors.AttributeValueInvalid("AES keys are 16, 24 or 32 bytes")
        elif key_type != CKK.GENERIC_SECRET:
            raise errors.TemplateInconsistent("unsupported derived key type")
        for attribute_type in values:
            if attribute_type in (CKA.VALUE, CKA.ALWAYS_SENSITIVE, CKA.NEVER_EXTRACTABLE, CKA.LOCAL):
                raise errors.TemplateInconsistent()
        # The token takes the peer's point raw or DER-wrapped (it knows the curve's point size).
        card_key = key.token_object
        secret = bytes(self._slots.call(state, lambda token: token.derive(card_key, CKM.ECDH1_DERIVE, params)))
        value = _hostcrypto().ecdh_kdf(params.kdf, secret, params.shared_data, length)
        attributes = secret_key_defaults(value, local=False)
        attributes.update({CKA.PRIVATE: True, CKA.MODIFIABLE: True, CKA.COPYABLE: True, CKA.DESTROYABLE: True,
                           CKA.TOKEN: False, CKA.LABEL: "", CKA.KEY_GEN_MECHANISM: CKM.ECDH1_DERIVE})
        attributes.update(values)
        attributes[CKA.VALUE] = value
        attributes[CKA.VALUE_LEN] = len(value)
        attributes[CKA.KEY_TYPE] = key_type
        attributes[CKA.ALWAYS_SENSITIVE] = bool(attributes[CKA.SENSITIVE]) and bool(
            key.attributes.get(CKA.ALWAYS_SENSITIVE, True))
        attributes[CKA.NEVER_EXTRACTABLE] = not attributes[CKA.EXTRACTABLE] and bool(
            key.attributes.get(CKA.NEVER_EXTRACTABLE, True))
        return self._objects.add_session_object(context, attributes, secret_value_sensitivity(attributes))

    # ------------------------------------------------------------------ random

    def seed_random(self, session: int, seed: bytes) -> None:
        self._sessions.get(session)
        raise errors.RandomSeedNotSupported()

    def generate_random(self, session: int, length: int) -> bytes:
        context = self._sessions.context(session)
        if not 0 <= length <= limits.MAX_RANDOM_LENGTH:
            raise errors.ArgumentsBad(f"random length outside 0..{limits.MAX_RANDOM_LENGTH}")
        if length == 0:
            return b""
        return bytes(self._slots.call(context.slot, lambda token: token.generate_random(int(length))))


__all__ = ["OperationRunner"]
