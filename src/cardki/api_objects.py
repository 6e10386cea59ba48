"""Token objects of the Python API, with capability mixins chosen from their
attributes: a private key with ``CKA_SIGN`` has ``sign``, one with
``CKA_DECRYPT`` has ``decrypt``, one with ``CKA_DERIVE`` has ``derive``; a
public key verifies and encrypts (on the host, through the engine).

Each object is a handle seen through one :class:`cardki.api.Session`;
attributes read when it was found are kept in ``attributes``, others are read
on demand (and fail with the engine's error once the session is closed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Sequence, Tuple, Type, TypeVar

from . import errors
from .api_util import (
    ECDSA_MECHANISMS,
    PSS_HASH,
    MechanismArg,
    Pin,
    curve_bits,
    curve_name,
    default_pss_params,
    default_sign_mechanism,
    ecdsa_der_to_raw,
    ecdsa_raw_to_der,
    mechanism_arg,
    public_key_from_attributes,
    rsa_oaep_params,
)
from .constants import CKA, CKD, CKK, CKM, CKO, constant_name
from .der import unwrap_octet_string

T = TypeVar("T", bound="Object")

if TYPE_CHECKING:
    from cryptography import x509

    from .api import Session
    from .cryptoki.engine import Cryptoki
    from .cryptoki.hostcrypto import PublicKey as CryptographyPublicKey

class Object:
    """One object on a token, seen through one session.

    ``obj[CKA.LABEL]`` reads an attribute (raising the engine's error, e.g.
    ``AttributeSensitive``); :meth:`get` returns a default instead.
    A few common attributes are read once when the object is found and kept in
    :attr:`attributes`.
    """

    object_class: int = -1

    def __init__(self, session: Session, handle: int, attributes: Mapping[int, Any]) -> None:
        self.session = session
        self.handle = handle
        self.attributes: Dict[int, Any] = dict(attributes)

    @property
    def _engine(self) -> Cryptoki:
        return self.session.library.engine

    def __getitem__(self, attribute: int) -> Any:
        if attribute in self.attributes:
            return self.attributes[attribute]
        return self._engine.get_attribute_value(self.session.handle, self.handle, [attribute])[attribute]

    def get(self, attribute: int, default: Any = None) -> Any:
        """The attribute, or ``default`` when the object has none or it is sensitive."""
        try:
            return self[attribute]
        except (errors.AttributeTypeInvalid, errors.AttributeSensitive):
            return default

    @property
    def label(self) -> str:
        """``CKA_LABEL`` ("" when the object has none)."""
        return self.get(CKA.LABEL) or ""

    @property
    def id(self) -> bytes:
        """``CKA_ID``, the byte string that pairs a key with its certificate."""
        return bytes(self.get(CKA.ID) or b"")

    def _summary(self) -> str:
        """Label and ID from the attributes read when the object was found:
        ``repr`` must not talk to the card (or fail)."""
        label = self.attributes.get(CKA.LABEL) or ""
        return f"label={label!r} id={bytes(self.attributes.get(CKA.ID) or b'').hex()}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._summary()}>"


class Key(Object):
    """A key; :attr:`key_type` is a :class:`CKK` member where known."""

    @property
    def key_type(self) -> int:
        value: int = self.get(CKA.KEY_TYPE)
        try:
            return CKK(value)
        except (ValueError, TypeError):
            return value

    @property
    def key_length(self) -> int | None:
        """Bits: the modulus size for RSA, the curve size for EC, 255 for Ed25519/X25519."""
        if self.key_type == CKK.RSA:
            bits = self.get(CKA.MODULUS_BITS)
            if bits:
                return int(bits)
            modulus = self.get(CKA.MODULUS)
            return len(modulus) * 8 if modulus else None
        if self.key_type in (CKK.EC_EDWARDS, CKK.EC_MONTGOMERY):
            return 255
        if self.key_type == CKK.EC:
            return curve_bits(self.get(CKA.EC_PARAMS))
        return None

    def __repr__(self) -> str:
        key_type = self.attributes.get(CKA.KEY_TYPE)
        kind = constant_name(CKK, key_type) if isinstance(key_type, int) else "?"
        return f"<{type(self).__name__} {kind} {self._summary()}>"

    def _authenticate_use(self, pin: Pin | None) -> None:
        """The context-specific login a CKA_ALWAYS_AUTHENTICATE key needs after *_Init
        (derive has no init, so before C_DeriveKey), with ``pin`` or the session's
        ``context_pin``. Nothing for other keys; without a PIN the operation goes
        ahead and the engine reports what the card says."""
        if self.get(CKA.ALWAYS_AUTHENTICATE, False) and (pin is not None or self.session.context_pin is not None):
            self.session.reauthenticate(pin)


class SignMixin(Key):
    """Keys with ``CKA_SIGN``."""

    def sign(self, data: bytes, mechanism: int | None = None, mechanism_param: Any = None,
             *, pin: Pin | None = None, to_der: bool = False) -> bytes:
        """Sign ``data`` on the card.

        ``mechanism`` defaults by key type (see :func:`default_sign_mechanism`);
        the hashed PSS mechanisms get the usual parameter when none is given.
        ECDSA signatures are r || s as PKCS#11 defines them; ``to_der=True``
        returns DER instead. A key with ``CKA_ALWAYS_AUTHENTICATE`` (PIV slot
        9C) needs the PIN for each use: ``pin=...`` or the session's
        ``context_pin``.
        """
        mech = default_sign_mechanism(self.key_type) if mechanism is None else int(mechanism)
        if mechanism_param is None and mech in PSS_HASH:
            mechanism_param = default_pss_params(mech)
        self._engine.sign_init(self.session.handle, mechanism_arg(mech, mechanism_param), self.handle)
        self._authenticate_use(pin)
        signature = bytes(self._engine.sign(self.session.handle, bytes(data)))
        if to_der and mech in ECDSA_MECHANISMS:
            return ecdsa_raw_to_der(signature)
        return signature


def _cipher_mechanism(mechanism: int, mechanism_param: Any) -> MechanismArg:
    """The mechanism argument for encrypt/decrypt: ``CKM_RSA_PKCS_OAEP`` without a
    parameter means SHA-256 with MGF1-SHA-256 and no label (:func:`rsa_oaep_params`)."""
    mech = int(mechanism)
    if mech == CKM.RSA_PKCS_OAEP and mechanism_param is None:
        mechanism_param = rsa_oaep_params()
    return mechanism_arg(mech, mechanism_param)


class DecryptMixin(Key):
    """Keys with ``CKA_DECRYPT``."""

    def decrypt(self, data: bytes, mechanism: int = CKM.RSA_PKCS, mechanism_param: Any = None,
                *, pin: Pin | None = None) -> bytes:
        """Decrypt on the card; for ``CKM_RSA_PKCS_OAEP`` without a parameter,
        SHA-256 with MGF1-SHA-256 and no label is used (see :func:`rsa_oaep_params`)."""
        self._engine.decrypt_init(self.session.handle, _cipher_mechanism(mechanism, mechanism_param), self.handle)
        self._authenticate_use(pin)
        return bytes(self._engine.decrypt(self.session.handle, bytes(data)))


class DeriveMixin(Key):
    """Keys with ``CKA_DERIVE`` (ECDH on P-256/P-384, X25519)."""

    def derive(self, peer_public_key: Any, *, kdf: int = CKD.NULL, shared_data: bytes = b"",
               as_object: bool = False, template: Mapping[int, Any] | None = None,
               pin: Pin | None = None) -> bytes | SecretKey:
        """ECDH with the card's private key and ``peer_public_key`` (bytes, a
        :class:`PublicKey` or a cryptography EC/X25519 key).

        Returns the shared secret as bytes (a session secret key is created,
        read and destroyed), or with ``as_object=True`` the
        :class:`SecretKey` itself (``template`` adds attributes to it).
        """
        from .cryptoki.mechanisms import Ecdh1DeriveParams

        session, engine = self.session, self._engine
        params = Ecdh1DeriveParams(kdf=int(kdf), shared_data=bytes(shared_data),
                                   public_data=_encode_public_point(peer_public_key))
        key_template: Dict[int, Any] = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET,
                                        CKA.TOKEN: False}
        if not as_object:
            key_template.update({CKA.SENSITIVE: False, CKA.EXTRACTABLE: True})
        key_template.update(template or {})
        self._authenticate_use(pin)
        handle = engine.derive_key(session.handle, (CKM.ECDH1_DERIVE, params), self.handle, key_template)
        if as_object:
            secret = session.object(handle)
            assert isinstance(secret, SecretKey)
            return secret
        try:
            return bytes(engine.get_attribute_value(session.handle, handle, [CKA.VALUE])[CKA.VALUE])
        finally:
            engine.destroy_object(session.handle, handle)


class VerifyMixin(Key):
    """Keys with ``CKA_VERIFY``; the engine verifies on the host."""

    def verify(self, data: bytes, signature: bytes, mechanism: int | None = None,
               mechanism_param: Any = None) -> bool:
        """True when ``signature`` is valid for ``data``; False when it is not.
        ECDSA signatures may be raw (r || s) or DER."""
        mech = default_sign_mechanism(self.key_type) if mechanism is None else int(mechanism)
        if mechanism_param is None and mech in PSS_HASH:
            mechanism_param = default_pss_params(mech)
        signature = bytes(signature)
        if mech in ECDSA_MECHANISMS and signature[:1] == b"\x30":
            size = ((self.key_length or 256) + 7) // 8
            if len(signature) != 2 * size:
                try:
                    signature = ecdsa_der_to_raw(signature, size)
                except ValueError:
                    pass
        self._engine.verify_init(self.session.handle, mechanism_arg(mech, mechanism_param), self.handle)
        try:
            self._engine.verify(self.session.handle, bytes(data), signature)
        except (errors.SignatureInvalid, errors.SignatureLenRange):
            return False
        return True


class EncryptMixin(Key):
    """Keys with ``CKA_ENCRYPT``; the engine encrypts on the host."""

    def encrypt(self, data: bytes, mechanism: int = CKM.RSA_PKCS,
                mechanism_param: Any = None) -> bytes:
        self._engine.encrypt_init(self.session.handle, _cipher_mechanism(mechanism, mechanism_param), self.handle)
        return bytes(self._engine.encrypt(self.session.handle, bytes(data)))


class PrivateKey(Key):
    """A private key that stays on the card."""

    object_class = CKO.PRIVATE_KEY

    @property
    def always_authenticate(self) -> bool:
        """True when every use needs the PIN again (PIV slot 9C)."""
        return bool(self.get(CKA.ALWAYS_AUTHENTICATE, False))

    def public_key(self) -> PublicKey:
        """The public key with the same ``CKA_ID`` and key type."""
        key = self.session.get_key(object_class=CKO.PUBLIC_KEY, id=self.id, key_type=self.key_type)
        assert isinstance(key, PublicKey)
        return key


class PublicKey(Key):
    """A public key; :meth:`to_cryptography` gives a :mod:`cryptography` key."""

    object_class = CKO.PUBLIC_KEY

    def to_cryptography(self) -> CryptographyPublicKey:
        """This key as a :mod:`cryptography` public key."""
        attrs: Dict[int, Any] = {CKA.KEY_TYPE: self.key_type}
        for attribute in (CKA.PUBLIC_KEY_INFO, CKA.MODULUS, CKA.PUBLIC_EXPONENT, CKA.EC_PARAMS,
                          CKA.EC_POINT):
            value = self.get(attribute)
            if value is not None:
                attrs[attribute] = value
        return public_key_from_attributes(attrs)

    @property
    def curve(self) -> str | None:
        return curve_name(self.get(CKA.EC_PARAMS))


class SecretKey(Key):
    """A secret key (from ECDH); session objects unless made with CKA_TOKEN."""

    object_class = CKO.SECRET_KEY

    @property
    def value(self) -> bytes:
        return bytes(self[CKA.VALUE])


class Certificate(Object):
    """An X.509 certificate object."""

    object_class = CKO.CERTIFICATE

    @property
    def value(self) -> bytes:
        """The DER encoding (``CKA_VALUE``)."""
        return bytes(self[CKA.VALUE])

    @property
    def subject(self) -> str:
        """The subject as an RFC 4514 string (``CN=...``)."""
        return self.to_cryptography().subject.rfc4514_string()

    def to_cryptography(self) -> x509.Certificate:
        from cryptography import x509

        return x509.load_der_x509_certificate(self.value)


class DataObject(Object):
    """A ``CKO_DATA`` object (PIV data objects such as CHUID, on some tokens)."""

    object_class = CKO.DATA

    @property
    def value(self) -> bytes:
        return bytes(self[CKA.VALUE])


_BASE_CLASSES: Dict[int, Type[Object]] = {
    CKO.PRIVATE_KEY: PrivateKey,
    CKO.PUBLIC_KEY: PublicKey,
    CKO.SECRET_KEY: SecretKey,
    CKO.CERTIFICATE: Certificate,
    CKO.DATA: DataObject,
}

#: Capability attribute -> mixin, per object class.
_CAPABILITIES: Dict[int, Tuple[Tuple[int, Type[Key]], ...]] = {
    CKO.PRIVATE_KEY: ((CKA.SIGN, SignMixin), (CKA.DECRYPT, DecryptMixin), (CKA.DERIVE, DeriveMixin)),
    CKO.PUBLIC_KEY: ((CKA.VERIFY, VerifyMixin), (CKA.ENCRYPT, EncryptMixin)),
    CKO.SECRET_KEY: (),
}

_class_cache: Dict[Tuple[Type[Object], Tuple[Type[Key], ...]], Type[Object]] = {}


def make_object_type(object_class: int, attributes: Mapping[int, Any]) -> Type[Object]:
    """The Python class for an object: its base class plus one mixin per capability it has."""
    base = _BASE_CLASSES.get(object_class, Object)
    mixins = tuple(mixin for attribute, mixin in _CAPABILITIES.get(object_class, ())
                   if attributes.get(attribute))
    if not mixins:
        return base
    key = (base, mixins)
    cls = _class_cache.get(key)
    if cls is None:
        cls = type(base.__name__, (*mixins, base), {"__module__": __name__})
        _class_cache[key] = cls
    return cls


def make_object(session: Session, handle: int) -> Object:
    """The object ``handle`` names, as the Python type its attributes call for (a
    private key that may sign gets :meth:`SignMixin.sign`, ...)."""
    engine = session.library.engine
    try:
        attrs = engine.get_attribute_value(session.handle, handle, list(_SUMMARY_ATTRIBUTES))
    except (errors.AttributeTypeInvalid, errors.AttributeSensitive) as exc:
        attrs = dict(getattr(exc, "partial", {}) or {})
    return make_object_type(attrs.get(CKA.CLASS, -1), attrs)(session, handle, attrs)


def only(kind: Type[T], objects: Sequence[Object]) -> List[T]:
    """The objects of a search that are of ``kind``."""
    return [obj for obj in objects if isinstance(obj, kind)]


#: Read when an object is found: enough to choose its Python type and print it.
_SUMMARY_ATTRIBUTES: Tuple[int, ...] = (
    CKA.CLASS, CKA.KEY_TYPE, CKA.ID, CKA.LABEL, CKA.SIGN, CKA.DECRYPT, CKA.DERIVE, CKA.VERIFY,
    CKA.ENCRYPT, CKA.ALWAYS_AUTHENTICATE, CKA.PRIVATE, CKA.TOKEN,
)


def _encode_public_point(peer: Any) -> bytes:
    """The peer's public value for ECDH1_DERIVE: an uncompressed point (EC) or
    the 32 raw bytes (X25519), from a cryptography key, a :class:`PublicKey`
    or bytes already in that form."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, x25519

    if isinstance(peer, (bytes, bytearray)):
        return bytes(peer)
    if isinstance(peer, PublicKey):
        return unwrap_octet_string(bytes(peer[CKA.EC_POINT]))
    if isinstance(peer, ec.EllipticCurvePublicKey):
        return peer.public_bytes(serialization.Encoding.X962,
                                 serialization.PublicFormat.UncompressedPoint)
    if isinstance(peer, x25519.X25519PublicKey):
        return peer.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raise TypeError("peer_public_key must be bytes, a PublicKey or a cryptography EC/X25519 key")
