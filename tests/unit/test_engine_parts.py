"""The engine's parts, each built alone over fakes: a slot source with one reader and
a token that records what it is asked. (The engine as a whole, over the real PIV
token and a virtual card, is tested in test_engine_*.py.)"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence

import pytest

from cardki import errors
from cardki.constants import CKA, CKM, CKO, CKU, MechanismFlag, SessionFlag
from cardki.cryptoki.object_table import ObjectTable
from cardki.cryptoki.session_table import SessionTable
from cardki.cryptoki.slots import SlotTable
from cardki.token.base import MechanismInfo, ObjectKind, ObjectRef, Token, TokenInfo, TokenObject
from cardki.transport import CardRemovedError, CardTransport

RO = SessionFlag.SERIAL_SESSION


@dataclass
class Entry:
    id: int
    reader_name: str = "Fake Reader 00 00"
    card_present: bool = True
    virtual: bool = False


class FakeToken(Token):
    def __init__(self) -> None:
        self.calls: List[str] = []
        self.removed = False
        self.private = TokenObject(ObjectRef(ObjectKind.PRIVATE_KEY, 1),
                                   {CKA.CLASS: CKO.PRIVATE_KEY, CKA.PRIVATE: True, CKA.ID: b"\x01"})
        self.public = TokenObject(ObjectRef(ObjectKind.PUBLIC_KEY, 1),
                                  {CKA.CLASS: CKO.PUBLIC_KEY, CKA.PRIVATE: False, CKA.ID: b"\x01"})

    def _record(self, call: str) -> None:
        if self.removed:
            raise CardRemovedError(0x80100069, call)
        self.calls.append(call)

    def info(self) -> TokenInfo:
        self._record("info")
        return TokenInfo("fake", "cardki", "fake", "1", 0, 4, 8)

    def mechanisms(self) -> Dict[int, MechanismInfo]:
        self._record("mechanisms")
        return {CKM.ECDSA: MechanismInfo(256, 256, MechanismFlag.SIGN)}

    def objects(self) -> List[TokenObject]:
        self._record("objects")
        return [self.private, self.public]

    def login(self, user_type: int, pin: bytes) -> None:
        self._record(f"login {user_type}")
        if pin != b"1234":
            raise errors.PinIncorrect(2)

    def logout(self) -> None:
        self._record("logout")

    def sign(self, key: TokenObject, mechanism: int, parameter: Any, data: bytes) -> bytes:
        raise errors.FunctionNotSupported()

    def decrypt(self, key: TokenObject, mechanism: int, parameter: Any, data: bytes) -> bytes:
        raise errors.FunctionNotSupported()

    def derive(self, key: TokenObject, mechanism: int, parameter: Any) -> bytes:
        raise errors.FunctionNotSupported()

    def generate_random(self, length: int) -> bytes:
        return bytes(length)


@dataclass
class FakeSource:
    entries: List[Entry] = field(default_factory=lambda: [Entry(7)])
    generation: int = 1

    def slots(self) -> Sequence[Entry]:
        return self.entries

    def slot(self, slot_id: int) -> Entry:
        return next(e for e in self.entries if e.id == slot_id)

    def connect(self, slot_id: int) -> CardTransport:
        return None  # type: ignore[return-value]  # the fake token never transmits

    def card_generation(self, slot_id: int) -> int:
        return self.generation

    def wait_for_slot_event(self, block: bool = True, timeout: float | None = None) -> int | None:
        return None

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def parts() -> Any:
    token = FakeToken()
    slots = SlotTable(threading.RLock(), token_factory=lambda transport: [token])
    source = FakeSource()
    slots.attach(source, owned=False)
    objects = ObjectTable(slots)
    sessions = SessionTable(slots, objects)
    gone: List[int] = []

    def card_gone(slot_id: int) -> None:
        gone.append(slot_id)
        sessions.discard_slot(slot_id)
        objects.drop_slot(slot_id)

    slots.on_card_gone = card_gone

    class Parts:
        pass

    result = Parts()
    result.__dict__.update(token=token, slots=slots, source=source, objects=objects, sessions=sessions, gone=gone)
    return result


def test_the_slot_table_opens_a_token_per_insertion_and_drops_it_when_the_card_leaves(parts: Any) -> None:
    state = parts.slots.present(7)
    assert state.token is parts.token
    parts.source.entries[0].card_present = False
    with pytest.raises(errors.TokenNotPresent):
        parts.slots.present(7)
    assert parts.gone == [7] and state.token is None


def test_a_swapped_card_is_a_new_insertion(parts: Any) -> None:
    parts.slots.present(7)
    parts.source.generation += 1
    parts.slots.slot_list(True)
    assert parts.gone == [7]


def test_the_token_is_asked_for_its_mechanisms_once_per_insertion(parts: Any) -> None:
    """Every C_SignInit checks its mechanism against the token's table; what a card can
    do does not change while it stays in, so the table is asked once per token."""
    state = parts.slots.present(7)
    for _ in range(3):
        assert parts.slots.mechanisms(state)[CKM.ECDSA].flags == MechanismFlag.SIGN
        assert parts.slots.mechanism_info(state, CKM.ECDSA).min_key_size == 256
    assert parts.token.calls.count("mechanisms") == 1
    parts.source.generation += 1  # another card: another token, asked again
    state = parts.slots.present(7)
    parts.slots.mechanisms(state)
    assert parts.token.calls.count("mechanisms") == 2


def test_a_token_call_on_a_vanished_card_is_device_removed_and_closes_the_slot(parts: Any) -> None:
    state = parts.slots.present(7)
    parts.token.removed = True
    with pytest.raises(errors.DeviceRemoved):
        parts.slots.call(state, lambda token: token.info())
    assert parts.gone == [7]


def test_the_session_table_keeps_one_login_per_slot_and_the_last_close_logs_out(parts: Any) -> None:
    first = parts.sessions.open(7, RO)
    second = parts.sessions.open(7, RO)
    with pytest.raises(errors.PinIncorrect):
        parts.sessions.login(first, CKU.USER, "0000")
    assert parts.sessions.login_of(7) is None
    parts.sessions.login(first, CKU.USER, "1234")
    assert parts.sessions.context(second).login == CKU.USER
    with pytest.raises(errors.UserAlreadyLoggedIn):
        parts.sessions.login(second, CKU.USER, "1234")
    parts.sessions.close(first)
    assert "logout" not in parts.token.calls
    parts.sessions.close(second)
    assert parts.token.calls[-1] == "logout" and parts.sessions.login_of(7) is None


def test_the_object_table_shows_private_objects_only_while_logged_in(parts: Any) -> None:
    session = parts.sessions.open(7, RO)

    def find() -> List[int]:
        context = parts.sessions.context(session)
        parts.objects.find_init(context, {})
        found = parts.objects.find(context, 10)
        parts.objects.find_final(context)
        return found

    assert len(find()) == 1 and parts.token.calls.count("objects") == 1  # the card's list, read once
    parts.sessions.login(session, CKU.USER, "1234")
    private = [h for h in find()
               if parts.objects.get(parts.sessions.context(session), h).object_class == CKO.PRIVATE_KEY]
    assert len(private) == 1
    parts.sessions.logout(session)
    with pytest.raises(errors.ObjectHandleInvalid):
        parts.objects.get(parts.sessions.context(session), private[0])
    assert len(find()) == 1
