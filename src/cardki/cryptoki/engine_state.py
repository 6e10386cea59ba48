"""What the parts of the engine share: the record of one slot and the library-wide tables.

The :class:`~cardki.cryptoki.engine.Cryptoki` facade is composed from one mixin
per job (slots and tokens, sessions and login, objects, operations), and they
all work on the same few tables. :class:`EngineState` names those tables once,
as annotations only, so each part states what it works on while the facade's
constructor stays the one place that creates them.

The parts also call each other's helpers through ``self`` (every part reaches
the card through ``SlotTokens._call`` and finds sessions through
``SessionLogin._session_state``), so they work only composed into ``Cryptoki``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Set

if TYPE_CHECKING:
    import threading

    from .objects import ObjectRecord
    from .sessions import SessionRecord


@dataclass
class SlotState:
    """What the engine knows about one slot: its token (per insertion), the
    application's login state there, its sessions and token objects."""

    slot_id: int
    token: Any = None
    generation: Any = None
    objects_loaded: bool = False                                  # the card's whole object list is registered
    loaded_ids: Set[bytes] = field(default_factory=set)           # else: CKA_IDs registered one by one
    login: Optional[int] = None
    write_protected: Optional[bool] = None
    card_generation: Optional[int] = None                         # slot manager's insertion count
    sessions: Set[int] = field(default_factory=set)
    token_handles: Dict[Any, int] = field(default_factory=dict)   # TokenObject.ref -> handle


class EngineState:
    """The tables every part of the engine reads and writes (made by ``Cryptoki.__init__``)."""

    _lock: threading.RLock
    _slot_manager: Any
    _token_factory: Optional[Callable[[Any], Any]]
    _epoch: int
    _slots: Dict[int, SlotState]
    _sessions: Dict[int, SessionRecord]
    _objects: Dict[int, ObjectRecord]


__all__ = ["EngineState", "SlotState"]
