"""Sessions and their active operations.

A session belongs to one slot and holds at most one active operation per kind
(find, digest, sign, verify, encrypt, decrypt). An :class:`Operation` keeps
what a multi-part call needs between calls (hash context or buffered data) and
the *cached result* of a length query, so that a C caller's "how long?" then
"here is the buffer" pair reaches the card once (a signature's length is known
from the key, so for signing the question needs no result at all).

The spec's sequencing rules (PKCS#11 2.40 section 5.2 and the function
descriptions) live here, in one place, for every operation and for both the
Python API and the C ABI:

* :meth:`Operation.admit` says which call may come next: a single-part call
  (``C_Sign``) only before any ``*_Update``; an update only while no length is
  waiting to be fetched; after a length query or a too-small buffer, only the
  call that asked. Anything else answers OPERATION_ACTIVE and changes nothing
  (the call did not run).
* :func:`ends_operation` says what a failed call does: it ends the operation,
  except CKR_BUFFER_TOO_SMALL and a refused call (OPERATION_ACTIVE). That
  includes CKR_ARGUMENTS_BAD for a NULL pointer the C layer found.
* An operation whose key has CKA_ALWAYS_AUTHENTICATE and whose
  ``C_Login(CKU_CONTEXT_SPECIFIC)`` has not succeeded has not started: nothing
  reached the card. A new ``*_Init`` of its kind replaces it (the application
  gave it up; ssh-agent, which cannot ask for the PIN, does exactly that)
  instead of answering OPERATION_ACTIVE for good.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, Dict, List

from cardki.named_tuple import NamedTuple

from .. import errors
from ..constants import CKS, CKU, SessionFlag
from .mechanisms import MechanismSpec

if TYPE_CHECKING:
    from ..digests import HashContext
    from .objects import ObjectRecord
    from .slots import SlotState


_RW_SESSION = int(SessionFlag.RW_SESSION)  # an int: IntFlag's & costs a microsecond a call


class Call(Enum):
    """How a call takes part in an operation."""

    SINGLE = "single-part"     # C_Sign, C_Verify, C_Encrypt, C_Decrypt, C_Digest
    UPDATE = "update"          # C_*Update, C_DigestKey
    FINAL = "final"            # C_*Final

    # Members are singletons compared by identity: identity's hash is C code, Enum's own
    # (hash of the name) a Python call, and every signature looks kinds up a dozen times.
    __hash__ = object.__hash__


_SINGLE = Call.SINGLE  # what admit compares every call with (an enum member's lookup is a Python call)


def ends_operation(error: BaseException) -> bool:
    """Whether a call that raised ``error`` ends its operation: every failure does,
    except BUFFER_TOO_SMALL (the caller retries with a bigger buffer) and a call
    refused as out of sequence (OPERATION_ACTIVE: it never ran)."""
    return not isinstance(error, (errors.BufferTooSmall, errors.OperationActive))


class OperationKind(Enum):
    """The operation slots a session has (one active operation each)."""

    FIND = "find"
    DIGEST = "digest"
    SIGN = "sign"
    VERIFY = "verify"
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"

    __hash__ = object.__hash__  # as Call's: the tables keyed by kind are read on every call


class Operation:
    """State of one active operation (a plain class: one is made per ``*_Init``)."""

    __slots__ = ("kind", "mechanism", "key", "base_mechanism", "digest_mechanism", "hash_context", "buffer",
                 "multipart", "result", "answered", "context_login_pending", "public_key", "found", "output_length")

    def __init__(self, kind: OperationKind, mechanism: MechanismSpec | None = None, key: ObjectRecord | None = None,
                 digest_mechanism: int | None = None, hash_context: HashContext | None = None,
                 found: List[int] | None = None) -> None:
        self.kind = kind
        self.mechanism = mechanism
        self.key = key                                  # None for digest and find
        self.base_mechanism: MechanismSpec | None = None  # what reaches the token / host primitive
        self.digest_mechanism = digest_mechanism        # hash applied by the engine, if any
        self.hash_context = hash_context
        self.buffer = bytearray()
        self.multipart = False                          # an *_update was called
        self.result: bytes | None = None                # cached output of a length query
        self.answered: Call | None = None               # the call told a length only; its output is still to fetch
        self.context_login_pending = False              # ALWAYS_AUTHENTICATE key: CKU_CONTEXT_SPECIFIC allowed now
        self.public_key: Any = None                     # host-side verify/encrypt key (a pyca public key)
        self.found: List[int] = found if found is not None else []  # find: remaining handles
        self.output_length: int | None = None           # sign: every signature's length, known from the key

    def __repr__(self) -> str:
        return f"Operation({self.kind.name}, mechanism={self.mechanism!r})"

    def admit(self, call: Call) -> None:
        """OPERATION_ACTIVE (and nothing changes) if ``call`` cannot come now."""
        if self.answered is not None and call is not self.answered:
            raise errors.OperationActive(f"the output of a {self.answered.value} call is still to be fetched")
        if call is _SINGLE and self.multipart:
            raise errors.OperationActive("a multi-part operation is under way")

    @property
    def replaceable(self) -> bool:
        """Nothing happened yet: the key awaits its context-specific login."""
        return self.context_login_pending


class SessionRecord:
    """One open session."""

    __slots__ = ("handle", "slot_id", "slot", "flags", "application", "notify", "operations")

    def __init__(self, handle: int, slot: SlotState, flags: int, application: Any = None, notify: Any = None) -> None:
        self.handle = handle
        self.slot_id = slot.slot_id
        self.slot = slot
        """The slot's state: one object per slot from its first use until C_Finalize, which
        ends every session first (so kept here: every call on the session needs it)."""
        self.flags = flags
        self.application = application
        self.notify = notify
        self.operations: Dict[OperationKind, Operation] = {}

    def __repr__(self) -> str:
        return f"SessionRecord({self.handle}, slot {self.slot_id}, flags 0x{self.flags:X})"

    @property
    def read_write(self) -> bool:
        return bool(self.flags & _RW_SESSION)

    def state(self, logged_in: int | None) -> CKS:
        """The CKS_ state for the slot's login state ``logged_in`` (CKU_ or None)."""
        if logged_in == CKU.SO:
            return CKS.RW_SO_FUNCTIONS
        if logged_in == CKU.USER:
            return CKS.RW_USER_FUNCTIONS if self.read_write else CKS.RO_USER_FUNCTIONS
        return CKS.RW_PUBLIC_SESSION if self.read_write else CKS.RO_PUBLIC_SESSION

    def begin(self, operation: Operation) -> Operation:
        """Make ``operation`` active, once :meth:`check_idle` allowed it: every ``*_Init``
        asks that first, as OPERATION_ACTIVE comes before its mechanism and key checks."""
        self.operations[operation.kind] = operation
        return operation

    def check_idle(self, kind: OperationKind) -> None:
        """OPERATION_ACTIVE while an operation of ``kind`` is under way; one that
        never started (see :attr:`Operation.replaceable`) is dropped instead."""
        active = self.operations.get(kind)
        if active is None:
            return
        if not active.replaceable:
            raise errors.OperationActive(f"a {kind.value} operation is active")
        self.end(kind)

    def step(self, kind: OperationKind, call: Call) -> Operation:
        """The active operation of ``kind``, if ``call`` may come now (:meth:`active` asked
        only to refuse: both C_Sign calls of every signature step)."""
        operation = self.operations.get(kind)
        if operation is None:
            operation = self.active(kind)  # OPERATION_NOT_INITIALIZED
        operation.admit(call)
        return operation

    def failed(self, kind: OperationKind, error: BaseException) -> None:
        """A call on ``kind``'s operation raised ``error``: end it where the spec says so."""
        if ends_operation(error):
            self.end(kind)

    def active(self, kind: OperationKind) -> Operation:
        """The active operation of ``kind`` (OPERATION_NOT_INITIALIZED if none)."""
        operation = self.operations.get(kind)
        if operation is None:
            raise errors.OperationNotInitialized(f"no {kind.value} operation")
        return operation

    def end(self, kind: OperationKind) -> None:
        self.operations.pop(kind, None)


class SessionContext(NamedTuple):
    """One session as a call sees it: the session, its slot, and the slot's login state
    (CKU_USER, CKU_SO or None), looked up once per call by the session table."""

    record: SessionRecord
    slot: SlotState
    login: int | None


__all__ = ["Call", "OperationKind", "Operation", "SessionContext", "SessionRecord", "ends_operation"]
