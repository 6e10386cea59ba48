"""Objects as the engine holds them, and the rules for session objects.

Every object (a card's key or certificate, or a session object the application
created) is an :class:`ObjectRecord` behind a process-unique handle. Token
objects carry the token's :class:`~cardki.token.base.TokenObject` so sign/
decrypt/derive can hand it back to the card; session objects carry their
owner session and die with it.

:func:`build_session_object` turns a C_CreateObject template into a complete
attribute set (defaults filled, required ones checked, derived ones such as
CKA_MODULUS_BITS computed) so that get_attribute_value answers like a card
object would.
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
import itertools
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Mapping, Set, Tuple

from .. import errors
from ..constants import CK_UNAVAILABLE_INFORMATION, CKA, CKC, CKK, CKO
from ..der import der_integer, unwrap_octet_string
from .attributes import encode_attribute
from .limits import MAX_EC_PARAMS_LENGTH, check_rsa_public_key

if TYPE_CHECKING:
    from ..token.base import TokenObject

_COMMON = {CKA.CLASS, CKA.TOKEN, CKA.PRIVATE, CKA.LABEL, CKA.MODIFIABLE, CKA.COPYABLE, CKA.DESTROYABLE,
           CKA.UNIQUE_ID}
_KEY_COMMON = _COMMON | {CKA.KEY_TYPE, CKA.ID, CKA.START_DATE, CKA.END_DATE, CKA.DERIVE, CKA.LOCAL,
                         CKA.KEY_GEN_MECHANISM, CKA.ALLOWED_MECHANISMS}

#: Attribute types an object of each class may hold (others -> ATTRIBUTE_TYPE_INVALID).
ALLOWED_BY_CLASS: Dict[int, FrozenSet[int]] = {
    CKO.DATA: frozenset(_COMMON | {CKA.APPLICATION, CKA.OBJECT_ID, CKA.VALUE}),
    CKO.CERTIFICATE: frozenset(_COMMON | {
        CKA.CERTIFICATE_TYPE, CKA.TRUSTED, CKA.CERTIFICATE_CATEGORY, CKA.CHECK_VALUE, CKA.START_DATE,
        CKA.END_DATE, CKA.PUBLIC_KEY_INFO, CKA.SUBJECT, CKA.ID, CKA.ISSUER, CKA.SERIAL_NUMBER, CKA.VALUE,
        CKA.URL, CKA.HASH_OF_SUBJECT_PUBLIC_KEY, CKA.HASH_OF_ISSUER_PUBLIC_KEY,
        CKA.JAVA_MIDP_SECURITY_DOMAIN, CKA.NAME_HASH_ALGORITHM}),
    CKO.PUBLIC_KEY: frozenset(_KEY_COMMON | {
        CKA.SUBJECT, CKA.ENCRYPT, CKA.VERIFY, CKA.VERIFY_RECOVER, CKA.WRAP, CKA.TRUSTED, CKA.WRAP_TEMPLATE,
        CKA.PUBLIC_KEY_INFO, CKA.MODULUS, CKA.MODULUS_BITS, CKA.PUBLIC_EXPONENT, CKA.EC_PARAMS,
        CKA.EC_POINT}),
    CKO.SECRET_KEY: frozenset(_KEY_COMMON | {
        CKA.SENSITIVE, CKA.ENCRYPT, CKA.DECRYPT, CKA.SIGN, CKA.VERIFY, CKA.WRAP, CKA.UNWRAP,
        CKA.EXTRACTABLE, CKA.ALWAYS_SENSITIVE, CKA.NEVER_EXTRACTABLE, CKA.CHECK_VALUE, CKA.WRAP_WITH_TRUSTED,
        CKA.TRUSTED, CKA.WRAP_TEMPLATE, CKA.UNWRAP_TEMPLATE, CKA.VALUE, CKA.VALUE_LEN}),
}

#: Attributes C_SetAttributeValue may change on a modifiable session object.
MODIFIABLE_ATTRIBUTES = frozenset({CKA.LABEL, CKA.ID, CKA.START_DATE, CKA.END_DATE, CKA.SUBJECT,
                                   CKA.APPLICATION})

_handle_counter = itertools.count(1)
_handle_lock = _thread.allocate_lock()


def next_handle() -> int:
    """A process-unique handle, never reused (object and session handles share it,
    so a stale handle of one kind never names a live thing of another)."""
    with _handle_lock:
        return next(_handle_counter)


_NOT_WORKED_OUT = -1  # ObjectRecord.signature_length not asked yet
_CKA_KEY_TYPE, _CKA_MODULUS, _CKA_EC_POINT = int(CKA.KEY_TYPE), int(CKA.MODULUS), int(CKA.EC_POINT)
_CKK_RSA, _CKK_EC, _CKK_EC_EDWARDS = int(CKK.RSA), int(CKK.EC), int(CKK.EC_EDWARDS)


def _signature_length(attributes: Mapping[int, Any]) -> int | None:
    """:meth:`ObjectRecord.signature_length`, worked out."""
    key_type = attributes.get(_CKA_KEY_TYPE)
    if key_type == _CKK_RSA:
        modulus = attributes.get(_CKA_MODULUS)
        if isinstance(modulus, bytes):
            return len(modulus)
    point = attributes.get(_CKA_EC_POINT)
    if not isinstance(point, bytes):
        return None
    raw = unwrap_octet_string(point)
    if key_type == _CKK_EC and raw[:1] == b"\x04":  # uncompressed: 04 || x || y
        return len(raw) - 1
    if key_type == _CKK_EC_EDWARDS:
        return 2 * len(raw)
    return None


class ObjectRecord:
    """One object behind one handle.

    A card object's ``late`` attributes (:attr:`~cardki.token.base.TokenObject.late`)
    are settled through ``settle`` (the token) when first read -- by a lookup, a find
    template naming them, :meth:`get` or :meth:`size` -- and nowhere else: read
    ``attributes`` directly only for types no token names late."""

    __slots__ = ("handle", "slot_id", "attributes", "sensitive", "token_object", "owner_session", "late", "_settle",
                 "_signature_length")

    def __init__(self, handle: int, slot_id: int, attributes: Dict[int, Any], sensitive: FrozenSet[int] = frozenset(),
                 token_object: TokenObject | None = None, owner_session: int | None = None,
                 late: FrozenSet[int] = frozenset(),
                 settle: Callable[[], Mapping[int, Any]] | None = None) -> None:
        self.handle = handle
        self.slot_id = slot_id
        self.attributes = attributes
        self.sensitive = sensitive
        self.token_object = token_object    # the card's own object (None for session objects)
        self.owner_session = owner_session  # session handle for session objects
        self.late = late if settle is not None else frozenset()
        self._settle = settle
        self._signature_length: int | None = _NOT_WORKED_OUT

    def _settle_late(self) -> None:
        """Ask the token for the late attributes (once; a failure leaves them late)."""
        assert self._settle is not None
        values = self._settle()
        self.attributes.update({int(t): v for t, v in values.items() if int(t) in self.late})
        self.late = frozenset()

    def get(self, attribute_type: int, default: Any = None) -> Any:
        """One attribute's value (settled first where late), or ``default``."""
        if attribute_type in self.late:
            self._settle_late()
        return self.attributes.get(attribute_type, default)

    def signature_length(self) -> int | None:
        """The length of every signature this key makes, from its public parts (None when
        they do not tell): the modulus length for RSA, twice the field size for ECDSA
        (r || s) and EdDSA. Worked out at the first C_SignInit with the key and kept, as
        every C_SignInit asks (the point's DER unwrapped each time: 3 Python calls and
        ~140 bytecodes of a signature's ~3400): what it reads never changes in a record
        (a card's list read again makes new records; only CKA_DESTROYABLE is ever late;
        C_SetAttributeValue may change none of the three)."""
        known = self._signature_length
        if known == _NOT_WORKED_OUT:
            known = self._signature_length = _signature_length(self.attributes)
        return known

    def __repr__(self) -> str:
        kind = "token" if self.token_object is not None else f"session {self.owner_session}"
        return f"ObjectRecord({self.handle}, slot {self.slot_id}, {kind} object)"

    @property
    def is_token_object(self) -> bool:
        return self.token_object is not None

    @property
    def is_private(self) -> bool:
        return bool(self.attributes.get(CKA.PRIVATE, False))

    @property
    def object_class(self) -> int | None:
        return self.attributes.get(CKA.CLASS)

    def lookup(self, attribute_type: int) -> Tuple[str, bytes | None]:
        """(status, encoded value): status is 'ok', 'sensitive' or 'invalid'."""
        attribute_type = int(attribute_type)
        if attribute_type in self.late:
            self._settle_late()
        if attribute_type in self.sensitive:
            return "sensitive", None
        if attribute_type not in self.attributes:
            return "invalid", None
        return "ok", encode_attribute(attribute_type, self.attributes[attribute_type])

    def matches(self, template: Dict[int, bytes]) -> bool:
        """Template match on encoded values (template given already encoded)."""
        for attribute_type, wanted in template.items():
            status, encoded = self.lookup(attribute_type)
            if status != "ok" or encoded != wanted:
                return False
        return True

    def size(self) -> int:
        if self.late:
            self._settle_late()
        return sum(len(encode_attribute(t, v)) for t, v in self.attributes.items())


def _require(template: Dict[int, Any], *types: int) -> None:
    missing = [t for t in types if t not in template]
    if missing:
        raise errors.TemplateIncomplete(
            "missing " + ", ".join("CKA_" + CKA(t).name for t in missing))


def _certificate_fields(der: bytes) -> Dict[int, Any]:
    """SUBJECT/ISSUER/SERIAL_NUMBER read from the certificate, for callers that
    left them out of the template."""
    from cryptography import x509  # here: cryptography.x509 costs ~30 ms to import

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise errors.AttributeValueInvalid("CKA_VALUE is not a DER X.509 certificate") from error
    return {CKA.SUBJECT: cert.subject.public_bytes(), CKA.ISSUER: cert.issuer.public_bytes(),
            CKA.SERIAL_NUMBER: der_integer(cert.serial_number)}


def build_session_object(template: Dict[int, Any]) -> Tuple[Dict[int, Any], FrozenSet[int]]:
    """A complete attribute set for a new session object from ``template``
    (already normalized); returns (attributes, sensitive types)."""
    _require(template, CKA.CLASS)
    object_class = template[CKA.CLASS]
    if object_class == CKO.PRIVATE_KEY:
        raise errors.TemplateInconsistent(
            "private keys live on the card only (CKA_TOKEN=TRUE)")
    allowed = ALLOWED_BY_CLASS.get(object_class)
    if allowed is None:
        raise errors.AttributeValueInvalid("unsupported CKA_CLASS for a session object")
    for attribute_type in template:
        if attribute_type not in allowed:
            raise errors.AttributeTypeInvalid(f"attribute 0x{attribute_type:X} not valid for this class")
    attrs: Dict[int, Any] = {CKA.TOKEN: False, CKA.PRIVATE: object_class == CKO.SECRET_KEY,
                             CKA.MODIFIABLE: True, CKA.COPYABLE: True, CKA.DESTROYABLE: True, CKA.LABEL: ""}
    sensitive: Set[int] = set()
    if object_class == CKO.DATA:
        attrs.update({CKA.APPLICATION: "", CKA.OBJECT_ID: b"", CKA.VALUE: b""})
    elif object_class == CKO.CERTIFICATE:
        _require(template, CKA.CERTIFICATE_TYPE, CKA.VALUE)
        if template[CKA.CERTIFICATE_TYPE] != CKC.X_509:
            raise errors.AttributeValueInvalid("only X.509 certificates")
        attrs.update({CKA.TRUSTED: False, CKA.CERTIFICATE_CATEGORY: 0, CKA.ID: b"", CKA.START_DATE: None,
                      CKA.END_DATE: None, CKA.URL: "", CKA.JAVA_MIDP_SECURITY_DOMAIN: 0})
        attrs.update(_certificate_fields(template[CKA.VALUE]))
    elif object_class == CKO.PUBLIC_KEY:
        _require(template, CKA.KEY_TYPE)
        key_type = template[CKA.KEY_TYPE]
        attrs.update({CKA.ID: b"", CKA.START_DATE: None, CKA.END_DATE: None, CKA.DERIVE: False,
                      CKA.LOCAL: False, CKA.KEY_GEN_MECHANISM: CK_UNAVAILABLE_INFORMATION,
                      CKA.SUBJECT: b"", CKA.VERIFY: True, CKA.VERIFY_RECOVER: False, CKA.WRAP: False,
                      CKA.TRUSTED: False, CKA.ENCRYPT: key_type == CKK.RSA})
        if key_type == CKK.RSA:
            _require(template, CKA.MODULUS, CKA.PUBLIC_EXPONENT)
            check_rsa_public_key(template[CKA.MODULUS], template[CKA.PUBLIC_EXPONENT], errors.AttributeValueInvalid)
            modulus = template[CKA.MODULUS].lstrip(b"\x00")
            attrs[CKA.MODULUS_BITS] = int.from_bytes(modulus, "big").bit_length()
        elif key_type in (CKK.EC, CKK.EC_EDWARDS):
            _require(template, CKA.EC_PARAMS, CKA.EC_POINT)
            if len(template[CKA.EC_PARAMS]) > MAX_EC_PARAMS_LENGTH:
                raise errors.AttributeValueInvalid("CKA_EC_PARAMS longer than any named curve")
        else:
            raise errors.AttributeValueInvalid("unsupported CKA_KEY_TYPE")
    elif object_class == CKO.SECRET_KEY:
        _require(template, CKA.KEY_TYPE, CKA.VALUE)
        if template[CKA.KEY_TYPE] not in (CKK.GENERIC_SECRET, CKK.AES):
            raise errors.AttributeValueInvalid("unsupported secret key type")
        attrs.update(secret_key_defaults(template[CKA.VALUE], local=False))
    attrs.update(template)
    if object_class == CKO.SECRET_KEY:
        attrs[CKA.VALUE_LEN] = len(attrs[CKA.VALUE])
        if CKA.VALUE_LEN in template and template[CKA.VALUE_LEN] != len(template[CKA.VALUE]):
            raise errors.TemplateInconsistent("CKA_VALUE_LEN differs from the value")
        if attrs[CKA.KEY_TYPE] == CKK.AES and attrs[CKA.VALUE_LEN] not in (16, 24, 32):
            raise errors.AttributeValueInvalid("AES keys are 16, 24 or 32 bytes")
        # The value passed through the application in plaintext: never "always" anything.
        attrs[CKA.ALWAYS_SENSITIVE] = False
        attrs[CKA.NEVER_EXTRACTABLE] = False
        sensitive = secret_value_sensitivity(attrs)
    return attrs, frozenset(sensitive)


def secret_key_defaults(value: bytes, local: bool) -> Dict[int, Any]:
    """The attributes a secret key has before the template overrides them."""
    return {CKA.ID: b"", CKA.START_DATE: None, CKA.END_DATE: None, CKA.DERIVE: False, CKA.LOCAL: local,
            CKA.KEY_GEN_MECHANISM: CK_UNAVAILABLE_INFORMATION, CKA.SENSITIVE: False, CKA.ENCRYPT: False,
            CKA.DECRYPT: False, CKA.SIGN: False, CKA.VERIFY: False, CKA.WRAP: False, CKA.UNWRAP: False,
            CKA.EXTRACTABLE: True, CKA.ALWAYS_SENSITIVE: False, CKA.NEVER_EXTRACTABLE: False,
            CKA.WRAP_WITH_TRUSTED: False, CKA.TRUSTED: False, CKA.VALUE: value, CKA.VALUE_LEN: len(value),
            CKA.KEY_TYPE: CKK.GENERIC_SECRET, CKA.CLASS: CKO.SECRET_KEY}


def secret_value_sensitivity(attrs: Dict[int, Any]) -> Set[int]:
    """CKA_VALUE of a secret key is unreadable when sensitive or unextractable."""
    if attrs.get(CKA.SENSITIVE) or not attrs.get(CKA.EXTRACTABLE, True):
        return {int(CKA.VALUE)}
    return set()


__all__ = ["ObjectRecord", "ALLOWED_BY_CLASS", "MODIFIABLE_ATTRIBUTES", "next_handle", "build_session_object",
           "secret_key_defaults", "secret_value_sensitivity"]
