"""The Python side of every exported ``C_*`` function.

Each entry point here only unpacks C arguments (through :mod:`marshal`), calls
the one engine (:class:`cardki.cryptoki.engine.Cryptoki`) and packs the result:
no Cryptoki logic lives in this layer. :func:`attach` registers them with cffi;
the guard around each one turns a :class:`CryptokiError` into its ``.rv`` and
anything else into CKR_GENERAL_ERROR (logged), so a Python exception can never
reach the host, nor come back as CKR_OK.

Locking (C_Initialize's CK_C_INITIALIZE_ARGS): the engine serialises itself
with one OS-level lock. So NULL args, CKF_OS_LOCKING_OK with or without
callbacks, and "no locking needed" are all accepted. Mutex callbacks *without*
CKF_OS_LOCKING_OK mean "you must use mine": we do not, so that case answers
CKR_CANT_LOCK, as the spec allows. CKF_LIBRARY_CANT_CREATE_OS_THREADS is passed
on to the engine; cardki starts no threads of its own in any case.
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
import functools
import os
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Dict

from cardki import errors
from cardki.constants import CKR, InitializeFlag
from cardki.cryptoki.sessions import OperationKind
from cardki.log import DEBUG, get_logger

from .config import ModuleConfig, configure_logging
from .marshal import Marshaller

if TYPE_CHECKING:
    from cardki.cryptoki.engine import Cryptoki
    from cardki.cryptoki.operations import OperationRunner

logger = get_logger("cardki.capi")

_engine_lock = _thread.allocate_lock()
_engine: Cryptoki | None = None
_M: Marshaller  # bound in attach()
_ffi: Any = None


def engine() -> Cryptoki:
    """The engine, or CRYPTOKI_NOT_INITIALIZED if C_Initialize never ran in this process."""
    if _engine is None:
        raise errors.CryptokiNotInitialized()
    return _engine


def _create_engine() -> Cryptoki:
    """Build the engine once per process; later C_Initialize calls reuse it."""
    global _engine
    with _engine_lock:
        if _engine is None:
            import cardki
            from cardki.cryptoki.engine import Cryptoki
            from cardki.virtual import VirtualMode, slot_source_factory

            config = ModuleConfig.from_environment()
            configure_logging(config)
            logger.debug("cardki %s from %s, virtual fallback %s, virtual only %s, state file %s", cardki.__version__,
                         os.path.dirname(cardki.__file__ or "?"), config.virtual_fallback, config.virtual_only,
                         config.virtual_state is not None)
            mode = (VirtualMode.ONLY if config.virtual_only else
                    VirtualMode.FALLBACK if config.virtual_fallback else VirtualMode.OFF)
            if config.virtual_state is not None and mode is not VirtualMode.OFF:
                _engine = Cryptoki(slot_source_factory=_state_file_slots(mode, config.virtual_state))
            else:
                _engine = Cryptoki(slot_source_factory=slot_source_factory(mode))
        return _engine


def _state_file_slots(mode: Any, path: str) -> Callable[[], Any]:
    """The slots with the virtual card kept in ``path``; a file that cannot be used makes
    C_Initialize answer CKR_FUNCTION_FAILED (C_Initialize has no code for "your file"),
    with one log line naming the file and what is wrong (never its contents)."""
    from cardki.virtual import VirtualStateError, state_file_slot_source_factory

    make = state_file_slot_source_factory(mode, path)

    def slots() -> Any:
        try:
            return make()
        except VirtualStateError as unusable:
            logger.warning("%s", unusable)
            raise errors.FunctionFailed(str(unusable)) from None

    return slots


# --- the guard -------------------------------------------------------------------------------

_ENTRIES: Dict[str, Callable[..., int]] = {}
_OK = int(CKR.OK)
_GENERAL_ERROR = int(CKR.GENERAL_ERROR)


def entry_point(function: Callable[..., int | None], *, checks_first: bool = False) -> Callable[..., int | None]:
    """Register a ``C_*`` implementation (named after the function) behind the guard.
    ``checks_first``: the implementation itself asks for C_Initialize before it reads
    an argument (it enters the engine's operation call first), so the guard does not."""
    name = function.__name__

    checks_initialized = name != "C_Initialize" and not checks_first

    @functools.wraps(function)
    def guarded(*args: Any) -> int:
        try:
            if checks_initialized:
                # CRYPTOKI_NOT_INITIALIZED before any argument check, as hosts expect.
                current = _engine
                if current is None:
                    raise errors.CryptokiNotInitialized()
                current.check_initialized()
            function(*args)
            rv = _OK
        except errors.CryptokiError as failure:
            rv = int(failure.rv)
        # The host must survive whatever happens in Python (even KeyboardInterrupt/SystemExit
        # raised in a callback thread): report it as the spec's catch-all code.
        except BaseException:  # noqa: BLE001
            logger.exception("%s failed unexpectedly", name)
            rv = _GENERAL_ERROR
        if logger.isEnabledFor(DEBUG):
            logger.debug("%s -> %s", name, _rv_name(rv))
        return rv

    _ENTRIES[name] = guarded
    return function


def _rv_name(rv: int) -> str:
    try:
        return "CKR_" + CKR(rv).name
    except ValueError:
        return f"0x{rv:X}"


def attach(ffi: Any, lib: Any) -> None:
    """Bind every exported Python entry point to its implementation (called by the init code)."""
    global _M, _ffi
    _ffi = ffi
    _M = Marshaller(ffi)
    configure_logging(ModuleConfig(log_level=None))
    from .cdefs import PYTHON_EXPORTS, python_symbol

    for name in PYTHON_EXPORTS:
        implementation = _ENTRIES.get(name) or _not_supported(name)
        ffi.def_extern(name=python_symbol(name), error=int(CKR.GENERAL_ERROR))(implementation)


def _not_supported(name: str) -> Callable[..., int]:
    def answer(*args: Any) -> int:
        try:
            engine().check_initialized()  # CRYPTOKI_NOT_INITIALIZED comes first, as for every other call
        except errors.CryptokiError as failure:
            return int(failure.rv)
        return int(CKR.FUNCTION_NOT_SUPPORTED)

    answer.__name__ = name
    return answer


# --- general purpose -------------------------------------------------------------------------

@entry_point
def C_Initialize(init_args: Any) -> None:
    flags = 0
    if not _M.is_null(init_args):
        args = _ffi.cast("CK_C_INITIALIZE_ARGS *", init_args)
        if not _M.is_null(args.pReserved):
            raise errors.ArgumentsBad("pReserved must be NULL")
        callbacks = [args.CreateMutex, args.DestroyMutex, args.LockMutex, args.UnlockMutex]
        given = [not _M.is_null(callback) for callback in callbacks]
        if any(given) and not all(given):
            raise errors.ArgumentsBad("mutex callbacks must be all given or all NULL")
        flags = int(args.flags)
        if all(given) and not flags & InitializeFlag.OS_LOCKING_OK:
            raise errors.CantLock("application mutexes are required but cardki uses OS locking")
    _create_engine().initialize(flags)


@entry_point
def C_Finalize(reserved: Any) -> None:
    if not _M.is_null(reserved):
        raise errors.ArgumentsBad("pReserved must be NULL")
    engine().finalize()


@entry_point
def C_GetInfo(info_out: Any) -> None:
    _M.require(info_out)
    info = engine().get_info()
    _M.set_version(info_out.cryptokiVersion, info.cryptoki_version)
    _M.set_text(info_out.manufacturerID, info.manufacturer_id)
    info_out.flags = int(info.flags)
    _M.set_text(info_out.libraryDescription, info.library_description)
    _M.set_version(info_out.libraryVersion, info.library_version)


# --- slots and tokens ------------------------------------------------------------------------

@entry_point
def C_GetSlotList(token_present: int, slot_list: Any, count: Any) -> None:
    _M.require(count)
    _M.write_ulongs(slot_list, count, engine().get_slot_list(bool(token_present)))


@entry_point
def C_GetSlotInfo(slot: int, info_out: Any) -> None:
    _M.require(info_out)
    info = engine().get_slot_info(int(slot))
    _M.set_text(info_out.slotDescription, info.slot_description)
    _M.set_text(info_out.manufacturerID, info.manufacturer_id)
    info_out.flags = int(info.flags)
    _M.set_version(info_out.hardwareVersion, info.hardware_version)
    _M.set_version(info_out.firmwareVersion, info.firmware_version)


@entry_point
def C_GetTokenInfo(slot: int, info_out: Any) -> None:
    _M.require(info_out)
    info = engine().get_token_info(int(slot))
    _M.set_text(info_out.label, info.label)
    _M.set_text(info_out.manufacturerID, info.manufacturer_id)
    _M.set_text(info_out.model, info.model)
    _M.set_text(info_out.serialNumber, info.serial_number)
    info_out.flags = int(info.flags)
    for field in ("max_session_count", "session_count", "max_rw_session_count", "rw_session_count",
                  "max_pin_len", "min_pin_len", "total_public_memory", "free_public_memory",
                  "total_private_memory", "free_private_memory"):
        setattr(info_out, _C_TOKEN_FIELDS[field], int(getattr(info, field)) & 0xFFFFFFFFFFFFFFFF)
    _M.set_version(info_out.hardwareVersion, info.hardware_version)
    _M.set_version(info_out.firmwareVersion, info.firmware_version)
    _M.set_text(info_out.utcTime, getattr(info, "utc_time", "") or "")


_C_TOKEN_FIELDS = {
    "max_session_count": "ulMaxSessionCount", "session_count": "ulSessionCount",
    "max_rw_session_count": "ulMaxRwSessionCount", "rw_session_count": "ulRwSessionCount",
    "max_pin_len": "ulMaxPinLen", "min_pin_len": "ulMinPinLen",
    "total_public_memory": "ulTotalPublicMemory", "free_public_memory": "ulFreePublicMemory",
    "total_private_memory": "ulTotalPrivateMemory", "free_private_memory": "ulFreePrivateMemory",
}


@entry_point
def C_WaitForSlotEvent(flags: int, slot_out: Any, reserved: Any) -> None:
    _M.require(slot_out)
    if not _M.is_null(reserved):
        raise errors.ArgumentsBad("pReserved must be NULL")
    slot_out[0] = int(engine().wait_for_slot_event(int(flags)))


@entry_point
def C_GetMechanismList(slot: int, mechanisms: Any, count: Any) -> None:
    _M.require(count)
    _M.write_ulongs(mechanisms, count, engine().get_mechanism_list(int(slot)))


@entry_point
def C_GetMechanismInfo(slot: int, mechanism_type: int, info_out: Any) -> None:
    _M.require(info_out)
    info = engine().get_mechanism_info(int(slot), int(mechanism_type))
    info_out.ulMinKeySize = int(info.min_key_size)
    info_out.ulMaxKeySize = int(info.max_key_size)
    info_out.flags = int(info.flags)


@entry_point
def C_InitToken(slot: int, pin: Any, pin_length: int, label: Any) -> None:
    so_pin = _M.read_optional_pin(pin, int(pin_length))
    if _M.is_null(label):
        raise errors.ArgumentsBad("NULL label")
    engine().init_token(int(slot), so_pin, bytes(_ffi.buffer(label, 32)))  # the engine reads the field


@entry_point
def C_InitPIN(session: int, pin: Any, pin_length: int) -> None:
    engine().init_pin(int(session), _M.read_optional_pin(pin, int(pin_length)))


@entry_point
def C_SetPIN(session: int, old_pin: Any, old_length: int, new_pin: Any, new_length: int) -> None:
    engine().set_pin(int(session), _M.read_optional_pin(old_pin, int(old_length)),
                     _M.read_optional_pin(new_pin, int(new_length)))


# --- sessions --------------------------------------------------------------------------------

@entry_point
def C_OpenSession(slot: int, flags: int, application: Any, notify: Any, session_out: Any) -> None:
    _M.require(session_out)
    # Notify callbacks are never called (cardki does no parallel work), so they are not kept.
    session_out[0] = int(engine().open_session(int(slot), int(flags)))


@entry_point
def C_CloseSession(session: int) -> None:
    engine().close_session(int(session))


@entry_point
def C_CloseAllSessions(slot: int) -> None:
    engine().close_all_sessions(int(slot))


@entry_point
def C_GetSessionInfo(session: int, info_out: Any) -> None:
    _M.require(info_out)
    info = engine().get_session_info(int(session))
    info_out.slotID = int(info.slot_id)
    info_out.state = int(info.state)
    info_out.flags = int(info.flags)
    info_out.ulDeviceError = int(info.device_error)


@entry_point
def C_GetOperationState(session: int, state: Any, state_length: Any) -> None:
    _M.require(state_length)
    engine().get_operation_state(int(session))


@entry_point
def C_SetOperationState(session: int, state: Any, state_length: int, encryption_key: int,
                        authentication_key: int) -> None:
    engine().set_operation_state(int(session), _M.read_bytes(state, int(state_length)),
                                 int(encryption_key), int(authentication_key))


@entry_point
def C_Login(session: int, user_type: int, pin: Any, pin_length: int) -> None:
    engine().login(int(session), int(user_type), _M.read_optional_pin(pin, int(pin_length)))


@entry_point
def C_LoginUser(session: int, user_type: int, pin: Any, pin_length: int, username: Any,
                username_length: int) -> None:
    name = _M.read_bytes(username, int(username_length)).decode("utf-8", "replace")
    engine().login_user(int(session), int(user_type), _M.read_optional_pin(pin, int(pin_length)), name)


@entry_point
def C_Logout(session: int) -> None:
    engine().logout(int(session))


# --- objects ---------------------------------------------------------------------------------

@entry_point
def C_CreateObject(session: int, template: Any, count: int, object_out: Any) -> None:
    _M.require(object_out)
    object_out[0] = int(engine().create_object(int(session), _M.read_template(template, int(count))))


@entry_point
def C_CopyObject(session: int, obj: int, template: Any, count: int, object_out: Any) -> None:
    _M.require(object_out)
    object_out[0] = int(engine().copy_object(int(session), int(obj), _M.read_template(template, int(count))))


@entry_point
def C_DestroyObject(session: int, obj: int) -> None:
    engine().destroy_object(int(session), int(obj))


@entry_point
def C_GetObjectSize(session: int, obj: int, size_out: Any) -> None:
    _M.require(size_out)
    size_out[0] = int(engine().get_object_size(int(session), int(obj)))


@entry_point
def C_GetAttributeValue(session: int, obj: int, template: Any, count: int) -> None:
    types = _M.read_types(template, int(count))
    rv, values = engine().get_attribute_value_encoded(int(session), int(obj), types)
    too_small = _M.fill_attribute_values(template, values)
    # Precedence: the engine's SENSITIVE / TYPE_INVALID first, BUFFER_TOO_SMALL otherwise.
    errors.raise_for_rv(int(rv))
    if too_small:
        raise errors.BufferTooSmall(0, "an attribute buffer is too small")


@entry_point
def C_SetAttributeValue(session: int, obj: int, template: Any, count: int) -> None:
    engine().set_attribute_value(int(session), int(obj), _M.read_template(template, int(count)))


@entry_point
def C_FindObjectsInit(session: int, template: Any, count: int) -> None:
    engine().find_objects_init(int(session), _M.read_template(template, int(count)))


@entry_point
def C_FindObjects(session: int, objects_out: Any, max_count: int, count_out: Any) -> None:
    _M.require(count_out)
    if int(max_count) and _M.is_null(objects_out):
        raise errors.ArgumentsBad("NULL object array")
    found = engine().find_objects(int(session), int(max_count))
    for index, handle in enumerate(found[: int(max_count)]):
        objects_out[index] = int(handle)
    count_out[0] = min(len(found), int(max_count))


@entry_point
def C_FindObjectsFinal(session: int) -> None:
    engine().find_objects_final(int(session))


# --- cryptographic operations ----------------------------------------------------------------

def _init(method: str) -> Callable[..., None]:
    def init(session: int, mechanism: Any, key: int) -> None:
        getattr(engine(), method)(int(session), _M.read_mechanism(mechanism), int(key))
    return init


def _operation_call(session: int, kind: OperationKind) -> ContextManager[OperationRunner]:
    """The engine's operation rules around a whole C call, argument checks included (a
    NULL pointer ends the operation like any other failure); inside it the call uses
    the operations part the engine gives (see :meth:`Cryptoki.operation_call`). Entering
    it is what checks C_Initialize: such calls are registered ``checks_first``."""
    return engine().operation_call(int(session), kind)


def _data_in_output_out(method: str, kind: OperationKind | None) -> Callable[..., None]:
    """C_Encrypt, C_Decrypt, C_Sign, C_Digest, C_SignRecover, C_VerifyRecover and
    C_EncryptUpdate, C_DecryptUpdate: bytes in, output out under the spec's length rules
    (write_output refuses a NULL length pointer)."""
    if kind is None:  # C_SignRecover, C_VerifyRecover: no operation the engine keeps
        def unkept(session: int, data: Any, data_length: int, out: Any, out_length: Any) -> None:
            payload = _M.read_bytes(data, int(data_length))
            _M.write_output(out, out_length, getattr(engine(), method), int(session), payload)
        return unkept

    def call(session: int, data: Any, data_length: int, out: Any, out_length: Any) -> None:
        handle = int(session)
        with engine().operation_call(handle, kind) as operations:  # _operation_call, written out: every C_Sign
            payload = _M.read_bytes(data, int(data_length))
            _M.write_output(out, out_length, getattr(operations, method), handle, payload)
    return call


def _final(method: str, kind: OperationKind) -> Callable[..., None]:
    def call(session: int, out: Any, out_length: Any) -> None:
        with _operation_call(session, kind) as operations:
            _M.require(out_length)
            _M.write_output(out, out_length, getattr(operations, method), int(session))
    return call


def _update(method: str, kind: OperationKind) -> Callable[..., None]:
    def call(session: int, part: Any, part_length: int) -> None:
        with _operation_call(session, kind) as operations:
            getattr(operations, method)(int(session), _M.read_bytes(part, int(part_length)))
    return call


def _register(name: str, implementation: Callable[..., None], *, checks_first: bool = False) -> None:
    implementation.__name__ = name
    entry_point(implementation, checks_first=checks_first)


_KINDS = {"encrypt": OperationKind.ENCRYPT, "decrypt": OperationKind.DECRYPT, "sign": OperationKind.SIGN,
          "verify": OperationKind.VERIFY, "digest": OperationKind.DIGEST}
for _verb, _method in (("Encrypt", "encrypt"), ("Decrypt", "decrypt"), ("Sign", "sign"),
                       ("SignRecover", "sign_recover"), ("Verify", "verify"),
                       ("VerifyRecover", "verify_recover")):
    _register(f"C_{_verb}Init", _init(f"{_method}_init"))
# The calls on an operation enter the engine's operation call before reading an argument,
# and that checks C_Initialize (checks_first); C_SignRecover and C_VerifyRecover keep none.
for _verb, _method in (("Encrypt", "encrypt"), ("Decrypt", "decrypt"), ("Sign", "sign"), ("Digest", "digest"),
                       ("SignRecover", "sign_recover"), ("VerifyRecover", "verify_recover")):
    _register(f"C_{_verb}", _data_in_output_out(_method, _KINDS.get(_method)), checks_first=_method in _KINDS)
for _verb, _method in (("Encrypt", "encrypt"), ("Decrypt", "decrypt")):
    _register(f"C_{_verb}Update", _data_in_output_out(f"{_method}_update", _KINDS[_method]), checks_first=True)
for _verb, _method in (("Encrypt", "encrypt"), ("Decrypt", "decrypt"), ("Sign", "sign"), ("Digest", "digest")):
    _register(f"C_{_verb}Final", _final(f"{_method}_final", _KINDS[_method]), checks_first=True)
for _verb, _method in (("Sign", "sign"), ("Verify", "verify"), ("Digest", "digest")):
    _register(f"C_{_verb}Update", _update(f"{_method}_update", _KINDS[_method]), checks_first=True)


@entry_point
def C_DigestInit(session: int, mechanism: Any) -> None:
    engine().digest_init(int(session), _M.read_mechanism(mechanism))


@entry_point
def C_DigestKey(session: int, key: int) -> None:
    engine().digest_key(int(session), int(key))


def C_Verify(session: int, data: Any, data_length: int, signature: Any, signature_length: int) -> None:
    with _operation_call(session, OperationKind.VERIFY) as operations:
        operations.verify(int(session), _M.read_bytes(data, int(data_length)),
                          _M.read_bytes(signature, int(signature_length)))


def C_VerifyFinal(session: int, signature: Any, signature_length: int) -> None:
    with _operation_call(session, OperationKind.VERIFY) as operations:
        operations.verify_final(int(session), _M.read_bytes(signature, int(signature_length)))


entry_point(C_Verify, checks_first=True)
entry_point(C_VerifyFinal, checks_first=True)


# --- keys ------------------------------------------------------------------------------------

@entry_point
def C_GenerateKey(session: int, mechanism: Any, template: Any, count: int, key_out: Any) -> None:
    _M.require(key_out)
    key_out[0] = int(engine().generate_key(int(session), _M.read_mechanism(mechanism),
                                           _M.read_template(template, int(count))))


@entry_point
def C_GenerateKeyPair(session: int, mechanism: Any, public_template: Any, public_count: int,
                      private_template: Any, private_count: int, public_out: Any, private_out: Any) -> None:
    _M.require(public_out, private_out)
    public, private = engine().generate_key_pair(
        int(session), _M.read_mechanism(mechanism), _M.read_template(public_template, int(public_count)),
        _M.read_template(private_template, int(private_count)))
    public_out[0] = int(public)
    private_out[0] = int(private)


@entry_point
def C_WrapKey(session: int, mechanism: Any, wrapping_key: int, key: int, out: Any, out_length: Any) -> None:
    _M.require(out_length)
    spec = _M.read_mechanism(mechanism)
    _M.write_output(out, out_length, engine().wrap_key, int(session), spec, int(wrapping_key), int(key))


@entry_point
def C_UnwrapKey(session: int, mechanism: Any, unwrapping_key: int, wrapped: Any, wrapped_length: int,
                template: Any, count: int, key_out: Any) -> None:
    _M.require(key_out)
    key_out[0] = int(engine().unwrap_key(int(session), _M.read_mechanism(mechanism), int(unwrapping_key),
                                         _M.read_bytes(wrapped, int(wrapped_length)),
                                         _M.read_template(template, int(count))))


@entry_point
def C_DeriveKey(session: int, mechanism: Any, base_key: int, template: Any, count: int, key_out: Any) -> None:
    _M.require(key_out)
    key_out[0] = int(engine().derive_key(int(session), _M.read_mechanism(mechanism), int(base_key),
                                         _M.read_template(template, int(count))))


# --- random, legacy parallel functions -------------------------------------------------------

@entry_point
def C_SeedRandom(session: int, seed: Any, seed_length: int) -> None:
    engine().seed_random(int(session), _M.read_bytes(seed, int(seed_length)))


@entry_point
def C_GenerateRandom(session: int, out: Any, length: int) -> None:
    if int(length) and _M.is_null(out):
        raise errors.ArgumentsBad("NULL output buffer")
    data = engine().generate_random(int(session), int(length))
    _M.write_bytes_exact(out, int(length), data)


@entry_point
def C_GetFunctionStatus(session: int) -> None:
    engine().get_function_status(int(session))


@entry_point
def C_CancelFunction(session: int) -> None:
    engine().cancel_function(int(session))
