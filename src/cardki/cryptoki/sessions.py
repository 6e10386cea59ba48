"""Sessions and their active operations.

A session belongs to one slot and holds at most one active operation per kind
(find, digest, sign, verify, encrypt, decrypt). An :class:`Operation` keeps
what a multi-part call needs between calls (hash context or buffered data) and
the *cached result* of a length query, so that a C caller's "how long?" then
"here is the buffer" pair reaches the card once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from . import errors
from .constants import CKS, CKU, SessionFlag
from .mechanisms import MechanismSpec


class OperationKind(Enum):
    """The operation slots a session has (one active operation each)."""

    FIND = "find"
    DIGEST = "digest"
    SIGN = "sign"
    VERIFY = "verify"
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"


@dataclass
class Operation:
    """State of one active operation."""

    kind: OperationKind
    mechanism: Optional[MechanismSpec] = None
    key: Any = None                        # ObjectRecord (or None for digest/find)
    base_mechanism: Optional[MechanismSpec] = None   # what reaches the token / host primitive
    digest_mechanism: Optional[int] = None           # hash applied by the engine, if any
    hash_context: Any = None
    buffer: bytearray = field(default_factory=bytearray)
    multipart: bool = False                # an *_update was called
    result: Optional[bytes] = None         # cached output of a length query
    context_login_pending: bool = False    # ALWAYS_AUTHENTICATE key: CKU_CONTEXT_SPECIFIC allowed now
    public_key: Any = None                 # host-side verify/encrypt key
    found: List[int] = field(default_factory=list)   # find: remaining handles


@dataclass
class SessionRecord:
    """One open session."""

    handle: int
    slot_id: int
    flags: int
    application: Any = None
    notify: Any = None
    operations: Dict[OperationKind, Operation] = field(default_factory=dict)

    @property
    def read_write(self) -> bool:
        return bool(self.flags & SessionFlag.RW_SESSION)

    def state(self, logged_in: Optional[int]) -> CKS:
        """The CKS_ state for the slot's login state ``logged_in`` (CKU_ or None)."""
        if logged_in == CKU.SO:
            return CKS.RW_SO_FUNCTIONS
        if logged_in == CKU.USER:
            return CKS.RW_USER_FUNCTIONS if self.read_write else CKS.RO_USER_FUNCTIONS
        return CKS.RW_PUBLIC_SESSION if self.read_write else CKS.RO_PUBLIC_SESSION

    def begin(self, operation: Operation) -> Operation:
        """Make ``operation`` active (OPERATION_ACTIVE if one of its kind is)."""
        if operation.kind in self.operations:
            raise errors.OperationActive(f"a {operation.kind.value} operation is active")
        self.operations[operation.kind] = operation
        return operation

    def check_idle(self, kind: OperationKind) -> None:
        if kind in self.operations:
            raise errors.OperationActive(f"a {kind.value} operation is active")

    def active(self, kind: OperationKind) -> Operation:
        """The active operation of ``kind`` (OPERATION_NOT_INITIALIZED if none)."""
        operation = self.operations.get(kind)
        if operation is None:
            raise errors.OperationNotInitialized(f"no {kind.value} operation")
        return operation

    def end(self, kind: OperationKind) -> None:
        self.operations.pop(kind, None)


__all__ = ["OperationKind", "Operation", "SessionRecord"]
