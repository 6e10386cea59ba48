"""The object table: every object behind a handle, who may see it, and the card's list.

It owns the handles of the card's objects and of session objects, and decides
what an application may see and change: a private object is visible only while
the user is logged in; card objects are written through the token (and the
card's list re-read, as one write can change several objects) and cannot be
modified; session objects live only here and die with their session.

The card's objects are read when a find first needs them, not at C_OpenSession
or C_Login: a find whose template names CKA_ID reads only the objects with that
id (one PIV slot, via ``Token.objects_with_id``); any other find reads the
whole card once per insertion. Either way a find returns what the whole list
filtered by the template would. Card objects keep their handles while the card
stays in (across resets by other programs); a new insertion gets new handles.
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Sequence,
    Set,
    Tuple,
    Type,
)

from .. import errors
from ..constants import CKA, CKR, CKU
from .attributes import decode_attribute, encode_attribute, normalize_template
from .objects import MODIFIABLE_ATTRIBUTES, ObjectRecord, build_session_object, next_handle
from .sessions import Operation, OperationKind, SessionContext

if TYPE_CHECKING:
    from ..token.base import ObjectRef, Token, TokenObject
    from .slots import SlotState, SlotTable

# As ints for the visibility test every key use makes (an enum member's lookup on its
# class is a Python call).
_USER, _CKA_PRIVATE = int(CKU.USER), int(CKA.PRIVATE)


def _cka_id(attributes: Mapping[int, Any]) -> bytes | None:
    """An object's CKA_ID as bytes (None without one, as for PIV data objects)."""
    value = attributes.get(CKA.ID)
    return None if value is None else bytes(value)


def _objects_with_id(cka_id: bytes) -> Callable[[Token], List[TokenObject]]:
    return lambda token: list(token.objects_with_id(cka_id))


class _CardObjects:
    """What one slot's card has registered: handles by the token's own reference,
    and how much of the card's list was read."""

    __slots__ = ("handles", "loaded", "loaded_ids")

    def __init__(self) -> None:
        self.handles: Dict[ObjectRef, int] = {}
        self.loaded = False                  # the whole list is registered
        self.loaded_ids: Set[bytes] = set()  # else: the CKA_IDs registered one by one


class ObjectTable:
    """Every object an application can reach, on the card and in its sessions."""

    def __init__(self, slots: SlotTable) -> None:
        self._slots = slots
        self._records: Dict[int, ObjectRecord] = {}
        self._cards: Dict[int, _CardObjects] = {}

    def clear(self) -> None:
        self._records.clear()
        self._cards.clear()

    def _card(self, slot_id: int) -> _CardObjects:
        card = self._cards.get(slot_id)
        if card is None:
            card = self._cards[slot_id] = _CardObjects()
        return card

    # ------------------------------------------------------------------ visibility

    @staticmethod
    def _visible(record: ObjectRecord, slot_id: int, login: int | None) -> bool:
        return record.slot_id == slot_id and (login == _USER or not record.attributes.get(_CKA_PRIVATE, False))

    def get(self, context: SessionContext, handle: int,
            error: Type[errors.CryptokiError] = errors.ObjectHandleInvalid) -> ObjectRecord:
        """The object ``handle`` names, if the session may see it (else ``error``)."""
        record = self._records.get(int(handle)) if isinstance(handle, int) else None
        if record is None or not self._visible(record, context.slot.slot_id, context.login):
            raise error()
        return record

    def key(self, context: SessionContext, handle: int) -> ObjectRecord:
        return self.get(context, handle, errors.KeyHandleInvalid)

    # ------------------------------------------------------------------ life cycle

    def add_session_object(self, context: SessionContext, attributes: Dict[int, Any],
                           sensitive: Iterable[int]) -> int:
        if attributes.get(CKA.PRIVATE) and context.login != CKU.USER:
            raise errors.UserNotLoggedIn("private objects need a user login")
        handle = next_handle()
        self._records[handle] = ObjectRecord(handle, context.slot.slot_id, attributes, frozenset(sensitive),
                                             owner_session=context.record.handle)
        return handle

    def drop_session(self, session_handle: int) -> None:
        """The session ended: its session objects are destroyed."""
        for handle, record in list(self._records.items()):
            if record.owner_session == session_handle:
                del self._records[handle]

    def drop_slot(self, slot_id: int) -> None:
        """The card left: every handle of the slot dies."""
        for handle, record in list(self._records.items()):
            if record.slot_id == slot_id:
                del self._records[handle]
        self._cards.pop(slot_id, None)

    def forget_private(self, slot_id: int) -> None:
        """After a logout the spec invalidates every handle to a private object for
        good (a later login hands out new ones) and destroys private session objects."""
        card = self._card(slot_id)
        for handle, record in list(self._records.items()):
            if record.slot_id != slot_id or not record.is_private:
                continue
            del self._records[handle]
            if record.token_object is not None:
                card.handles.pop(record.token_object.ref, None)
                card.loaded = False  # re-listed (with new handles) when next needed

    # ------------------------------------------------------------------ the card's list

    def refresh(self, state: SlotState) -> None:
        """Re-read what is registered of the card's objects (after a login, or a reset by
        another program): the full list if it was loaded or if handles from it remain,
        else only the CKA_IDs listed so far, else nothing until a find needs it."""
        card = self._card(state.slot_id)
        if card.loaded or any(
                record.slot_id == state.slot_id and record.is_token_object
                and _cka_id(record.attributes) not in card.loaded_ids
                for record in self._records.values()):
            self.load(state)
        elif card.loaded_ids:
            self.load(state, frozenset(card.loaded_ids))

    def load(self, state: SlotState, ids: FrozenSet[bytes] | None = None) -> None:
        """(Re)read the card's objects -- all of them, or only those whose CKA_ID is in
        ``ids`` -- keeping the handles of objects that still exist."""
        if ids is None:
            token_objects = self._slots.read(state, lambda token: list(token.objects()))
        else:
            token_objects = []
            for cka_id in sorted(ids):
                token_objects += self._slots.read(state, _objects_with_id(cka_id))
        card = self._card(state.slot_id)
        seen: Set[int] = set()
        for token_object in token_objects:
            seen.add(self._register(state.slot_id, card, token_object))
        for ref, handle in list(card.handles.items()):
            record = self._records.get(handle)
            in_scope = ids is None or record is None or _cka_id(record.attributes) in ids
            if handle not in seen and in_scope:
                del card.handles[ref]
                self._records.pop(handle, None)
        if ids is None:
            card.loaded = True
            card.loaded_ids = set()
        else:
            card.loaded_ids |= ids

    def _register(self, slot_id: int, card: _CardObjects, token_object: TokenObject) -> int:
        handle = card.handles.get(token_object.ref)
        if handle is None:
            handle = card.handles[token_object.ref] = next_handle()
        settle = None
        if token_object.late:
            def settle() -> Mapping[int, Any]:
                return self._slots.call(self._slots.present(slot_id), lambda token: token.settle(token_object))
        self._records[handle] = ObjectRecord(handle, slot_id, dict(token_object.attributes),
                                             frozenset(int(t) for t in token_object.sensitive),
                                             token_object=token_object, late=token_object.late, settle=settle)
        return handle

    def _ensure(self, state: SlotState, template: Mapping[int, bytes]) -> None:
        """Register the card objects a find with ``template`` (encoded) can match: with a
        CKA_ID, only that id's objects (a PIV token then reads one slot, not all 25).

        A CKA_ID is asked of the token once per insertion even after the whole list was
        read: the list holds what the card stores, and a token may make objects only when
        their id is named (a PIV key's attestation certificate, from ATTEST). Asking
        again for an id the full list covers costs the token nothing (it answers from
        what it read), so the order of finds never changes what they return."""
        card = self._card(state.slot_id)
        if state.token is None:
            return
        cka_id = template.get(CKA.ID)
        if cka_id is None:
            if not card.loaded:
                self.load(state)
        elif bytes(cka_id) not in card.loaded_ids:
            self.load(state, frozenset([bytes(cka_id)]))

    def after_token_write(self, state: SlotState, token_object: TokenObject) -> int:
        """The handle of an object the card just stored. Other objects may have
        changed with it (a new key replaces the slot's certificate and public key),
        so the list is re-read; handles of unchanged objects stay."""
        self.load(state)
        card = self._card(state.slot_id)
        handle = card.handles.get(token_object.ref)
        if handle is None:
            handle = self._register(state.slot_id, card, token_object)
        return handle

    # ------------------------------------------------------------------ C_CreateObject and friends

    @staticmethod
    def _check_token_write(context: SessionContext, attributes: Mapping[int, Any]) -> None:
        """A token object is written in a read/write session; a private one needs a login.

        The spec lets only the normal user create private objects, but on a smart card
        the user may not write at all: PIV gives writing keys to the management key
        (the SO), and provisioning a card means the SO importing private keys it then
        cannot read. So the SO may create private objects too (as ykcs11 lets it; they
        stay invisible to the SO's sessions), and the token decides who writes what."""
        if not context.record.read_write:
            raise errors.SessionReadOnly()
        if attributes.get(CKA.PRIVATE) and context.login not in (CKU.USER, CKU.SO):
            raise errors.UserNotLoggedIn()

    def _write_to_card(self, context: SessionContext, attributes: Dict[int, Any]) -> int:
        self._check_token_write(context, attributes)
        state = context.slot
        token_object = self._slots.call(state, lambda token: token.create_object(attributes))
        return self.after_token_write(state, token_object)

    def create(self, context: SessionContext, template: Mapping[int, Any]) -> int:
        values = normalize_template(template)
        if values.get(CKA.TOKEN):
            return self._write_to_card(context, values)
        attributes, sensitive = build_session_object(values)
        return self.add_session_object(context, attributes, sensitive)

    def copy(self, context: SessionContext, handle: int, template: Mapping[int, Any]) -> int:
        source = self.get(context, handle)
        values = normalize_template(template)
        if source.is_token_object or not source.get(CKA.COPYABLE, True):
            raise errors.ActionProhibited("object is not copyable")
        for attribute_type in values:
            if attribute_type not in MODIFIABLE_ATTRIBUTES | {CKA.TOKEN, CKA.PRIVATE, CKA.MODIFIABLE}:
                raise errors.AttributeReadOnly()
        attributes = {**source.attributes, **values}
        if attributes.get(CKA.TOKEN):
            return self._write_to_card(context, attributes)
        return self.add_session_object(context, attributes, source.sensitive)

    def destroy(self, context: SessionContext, handle: int) -> None:
        target = self.get(context, handle)
        if not target.get(CKA.DESTROYABLE, True):
            raise errors.ActionProhibited("object is not destroyable")
        token_object = target.token_object
        if token_object is None:
            self._records.pop(target.handle, None)
            return
        if not context.record.read_write:
            raise errors.SessionReadOnly()
        state = context.slot
        self._slots.call(state, lambda token: token.destroy_object(token_object))
        self._card(state.slot_id).handles.pop(token_object.ref, None)
        self._records.pop(target.handle, None)
        self.load(state)  # e.g. deleting a PIV key also deletes its certificate

    def size(self, context: SessionContext, handle: int) -> int:
        return self.get(context, handle).size()

    def lookup(self, context: SessionContext, handle: int,
               types: Sequence[int]) -> Tuple[int, List[bytes | None]]:
        """(rv, encoded value or None per type): rv is OK, ATTRIBUTE_SENSITIVE or
        ATTRIBUTE_TYPE_INVALID (the first problem met), as C_GetAttributeValue answers."""
        record = self.get(context, handle)
        rv = CKR.OK
        values: List[bytes | None] = []
        for attribute_type in types:
            status, encoded = record.lookup(int(attribute_type))
            values.append(encoded)
            if status == "sensitive" and rv == CKR.OK:
                rv = CKR.ATTRIBUTE_SENSITIVE
            elif status == "invalid" and rv == CKR.OK:
                rv = CKR.ATTRIBUTE_TYPE_INVALID
        return int(rv), values

    def values(self, context: SessionContext, handle: int, types: Sequence[int]) -> Dict[int, Any]:
        """Values of ``types``; if any is unavailable, raises the spec's error with
        ``.partial`` holding the available ones."""
        rv, encoded = self.lookup(context, handle, types)
        result = {int(t): decode_attribute(int(t), v) for t, v in zip(types, encoded, strict=True) if v is not None}
        if rv != CKR.OK:
            error = errors.error_class(rv)()
            error.partial = result
            raise error
        return result

    def set_values(self, context: SessionContext, handle: int, template: Mapping[int, Any]) -> None:
        target = self.get(context, handle)
        values = normalize_template(template)
        if target.is_token_object:
            if not context.record.read_write:
                raise errors.SessionReadOnly()
            raise errors.AttributeReadOnly("card objects cannot be modified")
        if not target.attributes.get(CKA.MODIFIABLE, True):
            raise errors.AttributeReadOnly("object is not modifiable")
        for attribute_type in values:
            if attribute_type not in target.attributes:
                raise errors.AttributeTypeInvalid()
            if attribute_type not in MODIFIABLE_ATTRIBUTES:
                raise errors.AttributeReadOnly()
        target.attributes.update(values)

    # ------------------------------------------------------------------ find

    def find_init(self, context: SessionContext, template: Mapping[int, Any]) -> None:
        context.record.check_idle(OperationKind.FIND)
        wanted = {t: encode_attribute(t, v) for t, v in normalize_template(template).items()}
        self._ensure(context.slot, wanted)
        slot_id = context.slot.slot_id
        found = [h for h, o in sorted(self._records.items())
                 if self._visible(o, slot_id, context.login) and o.matches(wanted)]
        context.record.begin(Operation(OperationKind.FIND, found=found))

    def find(self, context: SessionContext, max_count: int) -> List[int]:
        operation = context.record.active(OperationKind.FIND)
        result: List[int] = []
        while operation.found and len(result) < max_count:
            handle = operation.found.pop(0)
            live = self._records.get(handle)
            if live is not None and self._visible(live, context.slot.slot_id, context.login):
                result.append(handle)
        return result

    @staticmethod
    def find_final(context: SessionContext) -> None:
        context.record.active(OperationKind.FIND)
        context.record.end(OperationKind.FIND)


__all__ = ["ObjectTable"]
