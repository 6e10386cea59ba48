"""Objects: create, copy and destroy, attributes, and find.

Why a part of its own: it decides what an application may see and change. A
private object is visible only while the user is logged in; card objects are
written through the token (and the card's list re-read, as one write can change
several objects) and cannot be modified; session objects live only in the
engine. A find registers just the card objects its template can match (see
``SlotTokens._ensure_objects``).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .. import errors
from .attributes import decode_attribute, encode_attribute, normalize_template
from .boundary import api_boundary
from ..constants import CKA, CKR, CKU
from .engine_state import EngineState, SlotState
from .objects import MODIFIABLE_ATTRIBUTES, ObjectRecord, build_session_object, next_handle
from .sessions import Operation, OperationKind, SessionRecord


class ObjectStore(EngineState):
    """Cryptoki mixin: the objects an application sees, on the card and in its sessions."""

    def _visible(self, record: ObjectRecord, state: SlotState) -> bool:
        return record.slot_id == state.slot_id and (not record.is_private or state.login == CKU.USER)

    def _object(self, state: SlotState, handle: int, error: type = None) -> ObjectRecord:  # type: ignore[assignment]
        record = self._objects.get(int(handle)) if isinstance(handle, int) else None
        if record is None or not self._visible(record, state):
            raise (error or errors.ObjectHandleInvalid)()
        return record

    def _key(self, state: SlotState, handle: int) -> ObjectRecord:
        return self._object(state, handle, errors.KeyHandleInvalid)

    def _check_token_write(self, session: SessionRecord, state: SlotState, attributes: Mapping[int, Any]) -> None:
        if not session.read_write:
            raise errors.SessionReadOnly()
        if attributes.get(CKA.PRIVATE) and state.login != CKU.USER:
            raise errors.UserNotLoggedIn()

    def _add_session_object(self, session: SessionRecord, state: SlotState, attributes: Dict[int, Any],
                            sensitive: Iterable[int]) -> int:
        if attributes.get(CKA.PRIVATE) and state.login != CKU.USER:
            raise errors.UserNotLoggedIn("private objects need a user login")
        handle = next_handle()
        self._objects[handle] = ObjectRecord(handle, state.slot_id, attributes, frozenset(sensitive),
                                             owner_session=session.handle)
        return handle

    @api_boundary
    def create_object(self, session: int, template: Mapping[int, Any]) -> int:
        record, state = self._session_state(session)
        values = normalize_template(template)
        if values.get(CKA.TOKEN):
            self._check_token_write(record, state, values)
            token_object = self._call(state, state.token.create_object, values)
            return self._after_token_write(state, token_object)
        attributes, sensitive = build_session_object(values)
        return self._add_session_object(record, state, attributes, sensitive)

    @api_boundary
    def copy_object(self, session: int, obj: int, template: Mapping[int, Any]) -> int:
        record, state = self._session_state(session)
        source = self._object(state, obj)
        values = normalize_template(template)
        if source.is_token_object or not source.attributes.get(CKA.COPYABLE, True):
            raise errors.ActionProhibited("object is not copyable")
        for attribute_type in values:
            if attribute_type not in MODIFIABLE_ATTRIBUTES | {CKA.TOKEN, CKA.PRIVATE, CKA.MODIFIABLE}:
                raise errors.AttributeReadOnly()
        attributes = {**source.attributes, **values}
        if attributes.get(CKA.TOKEN):
            self._check_token_write(record, state, attributes)
            token_object = self._call(state, state.token.create_object, attributes)
            return self._after_token_write(state, token_object)
        return self._add_session_object(record, state, attributes, source.sensitive)

    @api_boundary
    def destroy_object(self, session: int, obj: int) -> None:
        record, state = self._session_state(session)
        target = self._object(state, obj)
        if not target.attributes.get(CKA.DESTROYABLE, True):
            raise errors.ActionProhibited("object is not destroyable")
        if target.is_token_object:
            if not record.read_write:
                raise errors.SessionReadOnly()
            self._call(state, state.token.destroy_object, target.token_object)
            state.token_handles.pop(target.token_object.ref, None)
            self._objects.pop(target.handle, None)
            self._load_token_objects(state)  # e.g. deleting a PIV key also deletes its certificate
            return
        self._objects.pop(target.handle, None)

    @api_boundary
    def get_object_size(self, session: int, obj: int) -> int:
        _, state = self._session_state(session)
        return self._object(state, obj).size()

    def _attribute_lookup(self, session: int, obj: int, types: Sequence[int]) -> Tuple[int, List[Optional[bytes]]]:
        """The one path behind both get_attribute_value forms."""
        _, state = self._session_state(session)
        record = self._object(state, obj)
        rv = CKR.OK
        values: List[Optional[bytes]] = []
        for attribute_type in types:
            status, encoded = record.lookup(int(attribute_type))
            values.append(encoded)
            if status == "sensitive" and rv == CKR.OK:
                rv = CKR.ATTRIBUTE_SENSITIVE
            elif status == "invalid" and rv == CKR.OK:
                rv = CKR.ATTRIBUTE_TYPE_INVALID
        return int(rv), values

    @api_boundary
    def get_attribute_value_encoded(self, session: int, obj: int,
                                    types: Sequence[int]) -> Tuple[int, List[Optional[bytes]]]:
        """For the C ABI: (rv, encoded value or None per type); rv is OK,
        ATTRIBUTE_SENSITIVE or ATTRIBUTE_TYPE_INVALID (the first problem met)."""
        return self._attribute_lookup(session, obj, types)

    @api_boundary
    def get_attribute_value(self, session: int, obj: int, types: Sequence[int]) -> Dict[int, Any]:
        """Values of ``types``; if any is unavailable, raises the spec's error with
        ``.partial`` holding the available ones."""
        rv, values = self._attribute_lookup(session, obj, types)
        result = {int(t): decode_attribute(int(t), v) for t, v in zip(types, values) if v is not None}
        if rv != CKR.OK:
            error = errors.error_class(rv)()
            error.partial = result  # type: ignore[attr-defined]
            raise error
        return result

    @api_boundary
    def set_attribute_value(self, session: int, obj: int, template: Mapping[int, Any]) -> None:
        record, state = self._session_state(session)
        target = self._object(state, obj)
        values = normalize_template(template)
        if target.is_token_object:
            if not record.read_write:
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

    @api_boundary
    def find_objects_init(self, session: int, template: Mapping[int, Any]) -> None:
        record, state = self._session_state(session)
        record.check_idle(OperationKind.FIND)
        wanted = {t: encode_attribute(t, v) for t, v in normalize_template(template).items()}
        self._ensure_objects(state, wanted)
        found = [h for h, o in sorted(self._objects.items())
                 if self._visible(o, state) and o.matches(wanted)]
        record.begin(Operation(OperationKind.FIND, found=found))

    @api_boundary
    def find_objects(self, session: int, max_count: int) -> List[int]:
        record, state = self._session_state(session)
        operation = record.active(OperationKind.FIND)
        result: List[int] = []
        while operation.found and len(result) < max_count:
            handle = operation.found.pop(0)
            live = self._objects.get(handle)
            if live is not None and self._visible(live, state):
                result.append(handle)
        return result

    @api_boundary
    def find_objects_final(self, session: int) -> None:
        record = self._session(session)
        record.active(OperationKind.FIND)
        record.end(OperationKind.FIND)


__all__ = ["ObjectStore"]
