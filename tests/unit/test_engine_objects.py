"""Objects: stable handles, session objects owned by their session, the bulk
C_GetAttributeValue rules, C_SetAttributeValue, and C_FindObjects."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from engine_support import PIN, RO, RW, EngineRig

from cardki import CKA, CKC, CKK, CKO, CKR, CKU, errors

DATA = {CKA.CLASS: CKO.DATA, CKA.TOKEN: False, CKA.LABEL: "O1", CKA.VALUE: b"payload"}


def test_token_object_handles_are_stable(rig: EngineRig) -> None:
    session = rig.open(RO)
    first = rig.find(session, {})
    rig.lib.login(session, CKU.USER, PIN)
    rig.lib.logout(session)
    assert rig.find(session, {}) == first
    other = rig.open(RO)
    assert rig.find(other, {}) == first


def test_session_object_lives_and_dies_with_its_session(rig: EngineRig) -> None:
    owner, other = rig.open(RO), rig.open(RO)
    handle = rig.lib.create_object(owner, DATA)  # R/O sessions may create session objects
    assert rig.lib.get_attribute_value(other, handle, [CKA.LABEL, CKA.TOKEN]) == {
        CKA.LABEL: "O1", CKA.TOKEN: False}
    rig.lib.close_session(owner)
    with pytest.raises(errors.ObjectHandleInvalid):
        rig.lib.get_attribute_value(other, handle, [CKA.LABEL])
    again = rig.lib.create_object(other, DATA)
    assert again != handle  # never reused


def test_destroy_object(rig: EngineRig) -> None:
    session = rig.open(RO)
    handle = rig.lib.create_object(session, DATA)
    rig.lib.destroy_object(session, handle)
    with pytest.raises(errors.ObjectHandleInvalid):
        rig.lib.destroy_object(session, handle)
    with pytest.raises(errors.ObjectHandleInvalid):
        rig.lib.get_object_size(session, handle)


def test_read_only_session_cannot_create_token_objects(rig: EngineRig) -> None:
    session = rig.open(RO)
    with pytest.raises(errors.SessionReadOnly):
        rig.lib.create_object(session, {**DATA, CKA.TOKEN: True})


def test_private_session_objects_need_the_user(rig: EngineRig) -> None:
    session = rig.open(RW)
    with pytest.raises(errors.UserNotLoggedIn):
        rig.lib.create_object(session, {**DATA, CKA.PRIVATE: True})
    rig.lib.login(session, CKU.USER, PIN)
    handle = rig.lib.create_object(session, {**DATA, CKA.PRIVATE: True})
    kept = rig.lib.create_object(session, DATA)
    rig.lib.logout(session)
    rig.lib.login(session, CKU.USER, PIN)
    with pytest.raises(errors.ObjectHandleInvalid):  # destroyed by the logout, not just hidden
        rig.lib.get_attribute_value(session, handle, [CKA.LABEL])
    assert rig.find(session, {CKA.LABEL: "O1"}) == [kept]


def test_template_errors(rig: EngineRig) -> None:
    session = rig.open(RO)
    with pytest.raises(errors.TemplateIncomplete):
        rig.lib.create_object(session, {CKA.LABEL: "no class"})
    with pytest.raises(errors.TemplateIncomplete):
        rig.lib.create_object(session, {CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: CKK.RSA})
    with pytest.raises(errors.AttributeTypeInvalid):
        rig.lib.create_object(session, {**DATA, CKA.MODULUS: b"\x01"})
    with pytest.raises(errors.AttributeValueInvalid):
        rig.lib.create_object(session, {**DATA, CKA.TOKEN: b"\x01\x00"})


def test_bulk_get_attribute_value_fills_what_it_can(rig: EngineRig) -> None:
    session = rig.open(RO)
    rig.lib.login(session, CKU.USER, PIN)
    private = rig.private_key(session, b"\x01")
    types = [CKA.LABEL, CKA.PRIVATE_EXPONENT, CKA.KEY_TYPE]
    rv, values = rig.lib.get_attribute_value_encoded(session, private, types)
    assert rv == CKR.ATTRIBUTE_SENSITIVE
    assert values[0] == b"PIV Authentication"
    assert values[1] is None
    assert values[2] == int(CKK.RSA).to_bytes(8, "little")
    with pytest.raises(errors.AttributeSensitive) as caught:
        rig.lib.get_attribute_value(session, private, types)
    assert caught.value.partial == {CKA.LABEL: "PIV Authentication", CKA.KEY_TYPE: CKK.RSA}

    rv, values = rig.lib.get_attribute_value_encoded(session, private, [CKA.CERTIFICATE_TYPE, CKA.ID])
    assert rv == CKR.ATTRIBUTE_TYPE_INVALID and values == [None, b"\x01"]
    rv, values = rig.lib.get_attribute_value_encoded(session, private, [CKA.ID, CKA.SIGN])
    assert rv == CKR.OK and values == [b"\x01", b"\x01"]


def test_set_attribute_value(rig: EngineRig) -> None:
    session = rig.open(RO)
    handle = rig.lib.create_object(session, DATA)
    rig.lib.set_attribute_value(session, handle, {CKA.LABEL: "renamed"})
    assert rig.lib.get_attribute_value(session, handle, [CKA.LABEL]) == {CKA.LABEL: "renamed"}
    with pytest.raises(errors.AttributeReadOnly):
        rig.lib.set_attribute_value(session, handle, {CKA.CLASS: CKO.CERTIFICATE})
    with pytest.raises(errors.AttributeTypeInvalid):
        rig.lib.set_attribute_value(session, handle, {CKA.MODULUS: b"\x01"})
    fixed = rig.lib.create_object(session, {**DATA, CKA.MODIFIABLE: False})
    with pytest.raises(errors.AttributeReadOnly):
        rig.lib.set_attribute_value(session, fixed, {CKA.LABEL: "x"})
    certificate = rig.find(session, {CKA.CLASS: CKO.CERTIFICATE})[0]
    with pytest.raises(errors.SessionReadOnly):
        rig.lib.set_attribute_value(session, certificate, {CKA.LABEL: "x"})
    with pytest.raises(errors.AttributeReadOnly):
        rig.lib.set_attribute_value(rig.open(RW), certificate, {CKA.LABEL: "x"})


def test_find_matches_encoded_values_and_enforces_one_search(rig: EngineRig) -> None:
    session = rig.open(RO)
    with pytest.raises(errors.OperationNotInitialized):
        rig.lib.find_objects(session, 1)
    rig.lib.find_objects_init(session, {CKA.CLASS: CKO.CERTIFICATE})
    with pytest.raises(errors.OperationActive):
        rig.lib.find_objects_init(session, {})
    batch = rig.lib.find_objects(session, 2)
    rest = rig.lib.find_objects(session, 100)
    assert len(batch) == 2 and len(rest) >= 4 and not set(batch) & set(rest)
    assert rig.lib.find_objects(session, 100) == []
    rig.lib.find_objects_final(session)
    with pytest.raises(errors.OperationNotInitialized):
        rig.lib.find_objects_final(session)
    # the raw C encoding of CKO_CERTIFICATE finds the same objects as the enum
    assert rig.find(session, {0: (1).to_bytes(8, "little")}) == batch + rest
    assert rig.find(session, {CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x02"}) == rig.find(
        session, {CKA.ID: b"\x02", CKA.CERTIFICATE_TYPE: CKC.X_509})
    assert rig.find(session, {CKA.LABEL: "no such label"}) == []


def test_imported_public_key_and_certificate_are_session_objects(rig: EngineRig) -> None:
    session = rig.open(RO)
    public = rig.keys[0x9C].public_key()
    point = public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    handle = rig.lib.create_object(session, {
        CKA.CLASS: CKO.PUBLIC_KEY, CKA.KEY_TYPE: CKK.EC, CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107"),
        CKA.EC_POINT: b"\x04\x41" + point, CKA.LABEL: "peer"})
    values = rig.lib.get_attribute_value(session, handle, [CKA.VERIFY, CKA.TOKEN, CKA.PRIVATE])
    assert values == {CKA.VERIFY: True, CKA.TOKEN: False, CKA.PRIVATE: False}
    card_cert = rig.find(session, {CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x02"})[0]
    der = rig.lib.get_attribute_value(session, card_cert, [CKA.VALUE])[CKA.VALUE]
    copy = rig.lib.create_object(session, {CKA.CLASS: CKO.CERTIFICATE, CKA.CERTIFICATE_TYPE: CKC.X_509,
                                           CKA.VALUE: der})
    subject = rig.lib.get_attribute_value(session, copy, [CKA.SUBJECT])[CKA.SUBJECT]
    assert subject == rig.lib.get_attribute_value(session, card_cert, [CKA.SUBJECT])[CKA.SUBJECT]


def test_secret_key_value_sensitivity(rig: EngineRig) -> None:
    session = rig.open(RW)
    rig.lib.login(session, CKU.USER, PIN)
    open_key = rig.lib.create_object(session, {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES,
                                               CKA.VALUE: bytes(16)})
    assert rig.lib.get_attribute_value(session, open_key, [CKA.VALUE_LEN, CKA.VALUE]) == {
        CKA.VALUE_LEN: 16, CKA.VALUE: bytes(16)}
    hidden = rig.lib.create_object(session, {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET,
                                             CKA.VALUE: b"k" * 20, CKA.SENSITIVE: True})
    with pytest.raises(errors.AttributeSensitive):
        rig.lib.get_attribute_value(session, hidden, [CKA.VALUE])
    with pytest.raises(errors.AttributeValueInvalid):
        rig.lib.create_object(session, {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.AES, CKA.VALUE: bytes(5)})


def test_pin_protected_data_objects_appear_after_login(rig: EngineRig) -> None:
    from hwsim.iso7816 import tlv

    rig.card.piv.objects[0x5FC109] = tlv(0x01, b"Jane Doe") + tlv(0xFE)  # Printed Information
    rig.card.mark_changed()
    session = rig.open(RO)
    public = rig.find(session, {CKA.CLASS: CKO.DATA})
    rig.lib.login(session, CKU.USER, PIN)
    (printed,) = set(rig.find(session, {CKA.CLASS: CKO.DATA})) - set(public)
    assert rig.lib.get_attribute_value(session, printed, [CKA.LABEL, CKA.PRIVATE]) == {
        CKA.LABEL: "Printed Information", CKA.PRIVATE: True}
    rig.lib.logout(session)
    assert rig.find(session, {CKA.CLASS: CKO.DATA}) == public


def test_so_generates_a_key_pair_and_stores_a_certificate(rig: EngineRig) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from engine_support import MANAGEMENT_KEY

    from cardki import CKM

    session = rig.open(RW)
    with pytest.raises(errors.UserNotLoggedIn):  # the card needs the management key
        rig.lib.generate_key_pair(session, CKM.EC_KEY_PAIR_GEN,
                                  {CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107"), CKA.ID: b"\x03"},
                                  {CKA.ID: b"\x03"})
    untouched = rig.find(session, {CKA.ID: b"\x01"})
    rig.lib.login(session, CKU.SO, MANAGEMENT_KEY)
    public, private = rig.lib.generate_key_pair(
        session, CKM.EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: bytes.fromhex("06082a8648ce3d030107"), CKA.ID: b"\x03"},
        {CKA.ID: b"\x03"})
    assert rig.find(session, {CKA.ID: b"\x01"}) == untouched  # other handles survive the re-listing
    point = rig.lib.get_attribute_value(session, public, [CKA.EC_POINT])[CKA.EC_POINT]
    assert rig.find(session, {CKA.CLASS: CKO.PUBLIC_KEY, CKA.ID: b"\x03"}) == [public]

    signer = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([])
    now = datetime.datetime(2026, 1, 1)
    card_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])  # DER OCTET STRING
    der = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(card_key)
           .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
           .sign(signer, hashes.SHA256())).public_bytes(Encoding.DER)
    certificate = rig.lib.create_object(session, {CKA.CLASS: CKO.CERTIFICATE, CKA.TOKEN: True,
                                                  CKA.ID: b"\x03", CKA.VALUE: der})
    assert rig.lib.get_attribute_value(session, certificate, [CKA.VALUE, CKA.TOKEN]) == {
        CKA.VALUE: der, CKA.TOKEN: True}
    rig.lib.destroy_object(session, certificate)
    with pytest.raises(errors.ObjectHandleInvalid):
        rig.lib.get_attribute_value(session, certificate, [CKA.VALUE])
    assert rig.find(session, {CKA.CLASS: CKO.CERTIFICATE, CKA.ID: b"\x03"}) == []
    rig.lib.logout(session)
    rig.lib.login(session, CKU.USER, PIN)
    (generated,) = rig.find(session, {CKA.CLASS: CKO.PRIVATE_KEY, CKA.ID: b"\x03"})
    assert generated != private  # the logout invalidated private handles for good
    assert rig.lib.get_attribute_value(session, generated, [CKA.KEY_TYPE]) == {CKA.KEY_TYPE: CKK.EC}


def test_copy_object(rig: EngineRig) -> None:
    session = rig.open(RO)
    original = rig.lib.create_object(session, DATA)
    copy = rig.lib.copy_object(session, original, {CKA.LABEL: "copy"})
    assert copy != original
    assert rig.lib.get_attribute_value(session, copy, [CKA.LABEL, CKA.VALUE]) == {
        CKA.LABEL: "copy", CKA.VALUE: b"payload"}
    assert rig.lib.get_attribute_value(session, original, [CKA.LABEL]) == {CKA.LABEL: "O1"}
    with pytest.raises(errors.AttributeReadOnly):
        rig.lib.copy_object(session, original, {CKA.CLASS: CKO.CERTIFICATE})
    sealed = rig.lib.create_object(session, {**DATA, CKA.COPYABLE: False})
    with pytest.raises(errors.ActionProhibited):
        rig.lib.copy_object(session, sealed, {})
    certificate = rig.find(session, {CKA.CLASS: CKO.CERTIFICATE})[0]
    with pytest.raises(errors.ActionProhibited):
        rig.lib.copy_object(session, certificate, {})
    assert rig.lib.get_object_size(session, copy) > len(b"payload")
