"""What the engine costs on the wire, counted by the card: a C-style length query
followed by the real call reaches the card once, and host-side operations
(verify, encrypt, digest) never reach it."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from cardki import CKA, CKM, CKO, CKU, Cryptoki, errors
from cardki.constants import SessionFlag
from provisioning import PIN

pytestmark = pytest.mark.sim


@pytest.fixture
def session(provisioned_card: Any) -> Iterator[tuple]:
    lib = Cryptoki()
    lib.initialize()
    slot = [s for s in lib.get_slot_list(True) if lib.get_slot_info(s).slot_description == provisioned_card.reader_name][0]
    handle = lib.open_session(slot, SessionFlag.SERIAL_SESSION)
    lib.login(handle, CKU.USER, PIN)
    yield lib, handle
    lib.finalize()


def key(lib: Cryptoki, session: int, object_class: int, key_id: bytes) -> int:
    lib.find_objects_init(session, {CKA.CLASS: object_class, CKA.ID: key_id})
    (handle,) = lib.find_objects(session, 2)
    lib.find_objects_final(session)
    return handle


def apdus(provisioned_card: Any, action: Callable[[], Any]) -> int:
    provisioned_card.control.reset_count()
    action()
    return provisioned_card.control.count()


def test_length_query_then_sign_costs_one_card_operation(session: tuple, provisioned_card: Any) -> None:
    lib, handle = session
    private = key(lib, handle, CKO.PRIVATE_KEY, b"\x01")

    def plain() -> None:
        lib.sign_init(handle, CKM.SHA256_RSA_PKCS, private)
        lib.sign(handle, b"data")

    def c_style() -> None:
        lib.sign_init(handle, CKM.SHA256_RSA_PKCS, private)
        length = lib.sign(handle, b"data", length_only=True)
        with pytest.raises(errors.BufferTooSmall):
            lib.sign(handle, b"data", max_length=length - 1)
        lib.sign(handle, b"data", max_length=length)

    plain()  # warm-up: nothing cached differently afterwards
    single = apdus(provisioned_card, plain)
    assert single >= 1
    assert apdus(provisioned_card, c_style) == single


def test_host_side_operations_do_not_touch_the_card(session: tuple, provisioned_card: Any) -> None:
    lib, handle = session
    private, public = key(lib, handle, CKO.PRIVATE_KEY, b"\x01"), key(lib, handle, CKO.PUBLIC_KEY, b"\x01")
    lib.sign_init(handle, CKM.SHA256_RSA_PKCS, private)
    signature = lib.sign(handle, b"data")

    def host_only() -> None:
        lib.verify_init(handle, CKM.SHA256_RSA_PKCS, public)
        lib.verify(handle, b"data", signature)
        lib.encrypt_init(handle, CKM.RSA_PKCS, public)
        lib.encrypt(handle, b"secret")
        lib.digest_init(handle, CKM.SHA256)
        lib.digest(handle, b"data")
        lib.get_attribute_value(handle, public, [CKA.MODULUS])

    assert apdus(provisioned_card, host_only) == 0
