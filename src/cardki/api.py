"""The everyday Python API: library -> slot -> token -> session -> objects.

The Cryptoki engine (:class:`cardki.cryptoki.engine.Cryptoki`) is shaped like
the C specification: handles, templates, ``*_init`` then the operation. This
module is the layer a Python program wants instead (in the manner of
python-pkcs11, but over cardki's own engine, in-process, with no C in
between)::

    import cardki
    from cardki.api import CKM

    with cardki.open() as lib:
        token = lib.get_token()
        with token.open(user_pin="123456") as session:
            key = session.get_key(id=b"\\x01", object_class=CKO.PRIVATE_KEY)
            signature = key.sign(b"hello")
            assert key.public_key().verify(b"hello", signature)

Objects get their methods from their attributes: a private key with
``CKA_SIGN`` has :meth:`SignMixin.sign`, one with ``CKA_DECRYPT`` has
:meth:`DecryptMixin.decrypt`, and so on, so ``hasattr(key, "sign")`` answers
"can this key sign?".

Errors are the engine's :class:`~cardki.cryptoki.errors.CryptokiError`
subclasses (each with ``.rv``); this layer adds only :class:`NoSuchKey` and
:class:`MultipleObjectsReturned` for lookups, which are not Cryptoki failures.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import (
    Any,
    Dict,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
    Union,
)

from .cryptoki import errors
from .cryptoki.constants import (
    CKA,
    CKK,
    CKM,
    CKO,
    CKU,
    CKD,
    CKG,
    MechanismFlag,
    SessionFlag,
    SlotFlag,
    TokenFlag,
)

logger = logging.getLogger(__name__)

Pin = Union[str, bytes]
MechanismArg = Union[int, Tuple[int, Any], None]

__all__ = [
    "open", "Library", "Slot", "Token", "Session", "Object", "Key", "PrivateKey", "PublicKey",
    "SecretKey", "Certificate", "DataObject", "NoSuchKey", "MultipleObjectsReturned",
    "MechanismInfo", "ecdsa_raw_to_der", "ecdsa_der_to_raw", "default_sign_mechanism",
    "parse_mechanism", "CKA", "CKK", "CKM", "CKO", "CKU", "CKD", "CKG", "TokenFlag", "SlotFlag",
    "MechanismFlag",
]


class NoSuchKey(LookupError):
    """:meth:`Session.get_key` found no object matching the search."""


class MultipleObjectsReturned(LookupError):
    """:meth:`Session.get_key` found more than one object; narrow the search
    (add ``object_class``, ``key_type``, ``id`` or ``label``)."""


# --------------------------------------------------------------------------- helpers

#: Hash mechanism -> (MGF1 generator, digest length): the usual PSS/OAEP pairing.
_HASH_PARAMS: Dict[int, Tuple[int, int]] = {
    CKM.SHA_1: (CKG.MGF1_SHA1, 20),
    CKM.SHA224: (CKG.MGF1_SHA224, 28),
    CKM.SHA256: (CKG.MGF1_SHA256, 32),
    CKM.SHA384: (CKG.MGF1_SHA384, 48),
    CKM.SHA512: (CKG.MGF1_SHA512, 64),
}

#: Hashed PSS mechanism -> its hash, so the PSS parameter can be defaulted.
_PSS_HASH: Dict[int, int] = {
    CKM.SHA1_RSA_PKCS_PSS: CKM.SHA_1,
    CKM.SHA224_RSA_PKCS_PSS: CKM.SHA224,
    CKM.SHA256_RSA_PKCS_PSS: CKM.SHA256,
    CKM.SHA384_RSA_PKCS_PSS: CKM.SHA384,
    CKM.SHA512_RSA_PKCS_PSS: CKM.SHA512,
}

_DEFAULT_SIGN: Dict[int, int] = {
    CKK.RSA: CKM.SHA256_RSA_PKCS,
    CKK.EC: CKM.ECDSA_SHA256,
    CKK.EC_EDWARDS: CKM.EDDSA,
}

_ECDSA_MECHANISMS = frozenset({CKM.ECDSA, CKM.ECDSA_SHA1, CKM.ECDSA_SHA224, CKM.ECDSA_SHA256,
                               CKM.ECDSA_SHA384, CKM.ECDSA_SHA512})


def default_sign_mechanism(key_type: int) -> int:
    """The mechanism :meth:`SignMixin.sign` uses when none is given: SHA-256
    PKCS#1 v1.5 for RSA, ECDSA with SHA-256 for EC, pure EdDSA for Ed25519."""
    try:
        return _DEFAULT_SIGN[key_type]
    except KeyError:
        raise errors.MechanismInvalid(  # type: ignore[attr-defined]
            f"no default signing mechanism for key type {_name(CKK, key_type)}") from None


def parse_mechanism(text: str) -> int:
    """``"SHA256_RSA_PKCS"``, ``"CKM_ECDSA"`` or ``"0x1041"`` -> the mechanism number."""
    name = text.strip().upper()
    if name.startswith("CKM_"):
        name = name[4:]
    name = name.replace("-", "_")
    if name.startswith("0X"):
        return int(name, 16)
    if name.isdigit():
        return int(name)
    try:
        return CKM[name]
    except KeyError:
        raise ValueError(f"unknown mechanism {text!r}") from None


def _name(enum: Any, value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return f"0x{value:08X}"


def mechanism_name(mechanism: int) -> str:
    """``0x1044`` -> ``"CKM_ECDSA_SHA256"`` (hex for vendor mechanisms)."""
    try:
        return "CKM_" + CKM(mechanism).name
    except ValueError:
        return f"0x{mechanism:08X}"


def _pin_bytes(pin: Optional[Pin]) -> Optional[bytes]:
    if pin is None:
        return None
    return pin.encode("utf-8") if isinstance(pin, str) else bytes(pin)


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def ecdsa_raw_to_der(signature: bytes) -> bytes:
    """PKCS#11's ECDSA signature (r || s, each the curve's size) -> the DER
    ``ECDSA-Sig-Value`` that X.509, TLS and :mod:`cryptography` expect."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if not signature or len(signature) % 2:
        raise ValueError("a raw ECDSA signature has an even, non-zero length")
    half = len(signature) // 2
    return encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                int.from_bytes(signature[half:], "big"))


def ecdsa_der_to_raw(signature: bytes, field_bytes: int) -> bytes:
    """DER ``ECDSA-Sig-Value`` -> r || s, each ``field_bytes`` long (32 for P-256)."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(signature)
    return r.to_bytes(field_bytes, "big") + s.to_bytes(field_bytes, "big")


def _unwrap_octet_string(value: bytes) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING around the point; some modules omit
    the wrapper, so accept both."""
    if len(value) >= 2 and value[0] == 0x04:
        first = value[1]
        if first < 0x80:
            header, length = 2, first
        else:
            count = first & 0x7F
            header = 2 + count
            length = int.from_bytes(value[2:header], "big")
        if header + length == len(value):
            return value[header:]
    return value


def _public_key_from_attributes(attrs: Mapping[int, Any]) -> Any:
    """Build a :mod:`cryptography` public key from Cryptoki public-key attributes."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

    spki = attrs.get(CKA.PUBLIC_KEY_INFO)
    if spki:
        return serialization.load_der_public_key(bytes(spki))
    key_type = attrs.get(CKA.KEY_TYPE)
    if key_type == CKK.RSA:
        n = int.from_bytes(attrs[CKA.MODULUS], "big")
        e = int.from_bytes(attrs[CKA.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    point = _unwrap_octet_string(bytes(attrs[CKA.EC_POINT]))
    if key_type == CKK.EC:
        from asn1crypto.keys import ECDomainParameters

        params = ECDomainParameters.load(bytes(attrs[CKA.EC_PARAMS]))
        if params.name != "named":
            raise ValueError("only named curves are supported")
        curve = ec.get_curve_for_oid(_x509_oid(params.chosen.dotted))
        return ec.EllipticCurvePublicKey.from_encoded_point(curve(), point)
    if key_type == CKK.EC_EDWARDS:
        return ed25519.Ed25519PublicKey.from_public_bytes(point)
    if key_type == CKK.EC_MONTGOMERY:
        return x25519.X25519PublicKey.from_public_bytes(point)
    raise ValueError(f"cannot convert a {_name(CKK, key_type or 0)} key")


def _x509_oid(dotted: str) -> Any:
    from cryptography.x509 import ObjectIdentifier

    return ObjectIdentifier(dotted)


def _encode_public_point(peer: Any) -> bytes:
    """The peer's public value for ECDH1_DERIVE: an uncompressed point (EC) or
    the 32 raw bytes (X25519), from a cryptography key, a :class:`PublicKey`
    or bytes already in that form."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, x25519

    if isinstance(peer, (bytes, bytearray)):
        return bytes(peer)
    if isinstance(peer, PublicKey):
        return _unwrap_octet_string(bytes(peer[CKA.EC_POINT]))
    if isinstance(peer, ec.EllipticCurvePublicKey):
        return peer.public_bytes(serialization.Encoding.X962,
                                 serialization.PublicFormat.UncompressedPoint)
    if isinstance(peer, x25519.X25519PublicKey):
        return peer.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raise TypeError("peer_public_key must be bytes, a PublicKey or a cryptography EC/X25519 key")


def _mechanism_tuple(mechanism: int, param: Any) -> MechanismArg:
    return mechanism if param is None else (mechanism, param)


def _default_pss_params(mechanism: int) -> Any:
    """Salt = hash length and MGF1 with the same hash: what RFC 8017 recommends
    and what :mod:`cryptography`'s ``PSS.DIGEST_LENGTH`` verifies."""
    from .cryptoki.mechanisms import RsaPssParams

    hash_alg = _PSS_HASH[mechanism]
    mgf, length = _HASH_PARAMS[hash_alg]
    return RsaPssParams(hash_alg=hash_alg, mgf=mgf, salt_len=length)


def rsa_pss_params(hash_alg: int = CKM.SHA256, salt_len: Optional[int] = None) -> Any:
    """A ``CK_RSA_PKCS_PSS_PARAMS`` with MGF1 of the same hash; salt defaults to the hash length."""
    from .cryptoki.mechanisms import RsaPssParams

    mgf, length = _HASH_PARAMS[hash_alg]
    return RsaPssParams(hash_alg=hash_alg, mgf=mgf, salt_len=length if salt_len is None else salt_len)


def rsa_oaep_params(hash_alg: int = CKM.SHA256, label: bytes = b"") -> Any:
    """A ``CK_RSA_PKCS_OAEP_PARAMS`` with MGF1 of the same hash and an optional label."""
    from .cryptoki.constants import CKZ
    from .cryptoki.mechanisms import RsaOaepParams

    mgf, _ = _HASH_PARAMS[hash_alg]
    return RsaOaepParams(hash_alg=hash_alg, mgf=mgf, source=CKZ.DATA_SPECIFIED if label else 0,
                         source_data=label)


# --------------------------------------------------------------------------- objects

class Object:
    """One object on a token, seen through one session.

    ``obj[CKA.LABEL]`` reads an attribute (raising the engine's error, e.g.
    ``AttributeSensitive``); :meth:`get` returns a default instead.
    A few common attributes are read once when the object is found and kept in
    :attr:`attributes`.
    """

    object_class: int = -1

    def __init__(self, session: "Session", handle: int, attributes: Mapping[int, Any]) -> None:
        self.session = session
        self.handle = handle
        self.attributes: Dict[int, Any] = dict(attributes)

    def __getitem__(self, attribute: int) -> Any:
        if attribute in self.attributes:
            return self.attributes[attribute]
        engine = self.session.library.engine
        value = engine.get_attribute_value(self.session.handle, self.handle, [attribute])[attribute]
        return value

    def get(self, attribute: int, default: Any = None) -> Any:
        """The attribute, or ``default`` when the object has none or it is sensitive."""
        try:
            return self[attribute]
        except (errors.AttributeTypeInvalid, errors.AttributeSensitive):  # type: ignore[attr-defined]
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
        value = self.get(CKA.KEY_TYPE)
        try:
            return CKK(value)
        except (ValueError, TypeError):
            return value

    @property
    def key_length(self) -> Optional[int]:
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
            return _curve_bits(self.get(CKA.EC_PARAMS))
        return None

    def __repr__(self) -> str:
        key_type = self.attributes.get(CKA.KEY_TYPE)
        kind = _name(CKK, key_type) if isinstance(key_type, int) else "?"
        return f"<{type(self).__name__} {kind} {self._summary()}>"


_CURVE_BITS = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521, "secp224r1": 224}


def _curve_bits(ec_params: Optional[bytes]) -> Optional[int]:
    if not ec_params:
        return None
    from asn1crypto.keys import ECDomainParameters

    try:
        params = ECDomainParameters.load(bytes(ec_params))
        return _CURVE_BITS.get(params.chosen.native) if params.name == "named" else None
    except ValueError:
        return None


def curve_name(ec_params: Optional[bytes]) -> Optional[str]:
    """CKA_EC_PARAMS -> ``"secp256r1"`` (None when it is not a named curve)."""
    if not ec_params:
        return None
    from asn1crypto.keys import ECDomainParameters

    try:
        params = ECDomainParameters.load(bytes(ec_params))
        return str(params.chosen.native) if params.name == "named" else None
    except ValueError:
        return None


class SignMixin:
    """Keys with ``CKA_SIGN``."""

    def sign(self: Any, data: bytes, mechanism: Optional[int] = None, mechanism_param: Any = None,
             *, pin: Optional[Pin] = None, to_der: bool = False) -> bytes:
        """Sign ``data`` on the card.

        ``mechanism`` defaults by key type (see :func:`default_sign_mechanism`);
        the hashed PSS mechanisms get the usual parameter when none is given.
        ECDSA signatures are r || s as PKCS#11 defines them; ``to_der=True``
        returns DER instead. A key with ``CKA_ALWAYS_AUTHENTICATE`` (PIV slot
        9C) needs the PIN for each use: ``pin=...`` or the session's
        ``context_pin``.
        """
        mech = default_sign_mechanism(self.key_type) if mechanism is None else int(mechanism)
        if mechanism_param is None and mech in _PSS_HASH:
            mechanism_param = _default_pss_params(mech)
        session: Session = self.session
        engine = session.library.engine
        engine.sign_init(session.handle, _mechanism_tuple(mech, mechanism_param), self.handle)
        session._context_login(self, pin)
        signature = engine.sign(session.handle, bytes(data))
        if to_der and mech in _ECDSA_MECHANISMS:
            return ecdsa_raw_to_der(signature)
        return signature


class DecryptMixin:
    """Keys with ``CKA_DECRYPT``."""

    def decrypt(self: Any, data: bytes, mechanism: int = CKM.RSA_PKCS, mechanism_param: Any = None,
                *, pin: Optional[Pin] = None) -> bytes:
        """Decrypt on the card; for ``CKM_RSA_PKCS_OAEP`` without a parameter,
        SHA-256 with MGF1-SHA-256 and no label is used (see :func:`rsa_oaep_params`)."""
        mech = int(mechanism)
        if mech == CKM.RSA_PKCS_OAEP and mechanism_param is None:
            mechanism_param = rsa_oaep_params()
        session: Session = self.session
        engine = session.library.engine
        engine.decrypt_init(session.handle, _mechanism_tuple(mech, mechanism_param), self.handle)
        session._context_login(self, pin)
        return engine.decrypt(session.handle, bytes(data))


class DeriveMixin:
    """Keys with ``CKA_DERIVE`` (ECDH on P-256/P-384, X25519)."""

    def derive(self: Any, peer_public_key: Any, *, kdf: int = CKD.NULL, shared_data: bytes = b"",
               as_object: bool = False, template: Optional[Mapping[int, Any]] = None,
               pin: Optional[Pin] = None) -> Union[bytes, "SecretKey"]:
        """ECDH with the card's private key and ``peer_public_key`` (bytes, a
        :class:`PublicKey` or a cryptography EC/X25519 key).

        Returns the shared secret as bytes (a session secret key is created,
        read and destroyed), or with ``as_object=True`` the
        :class:`SecretKey` itself (``template`` adds attributes to it).
        """
        from .cryptoki.mechanisms import Ecdh1DeriveParams

        session: Session = self.session
        engine = session.library.engine
        params = Ecdh1DeriveParams(kdf=int(kdf), shared_data=bytes(shared_data),
                                   public_data=_encode_public_point(peer_public_key))
        key_template: Dict[int, Any] = {CKA.CLASS: CKO.SECRET_KEY, CKA.KEY_TYPE: CKK.GENERIC_SECRET,
                                        CKA.TOKEN: False}
        if not as_object:
            key_template.update({CKA.SENSITIVE: False, CKA.EXTRACTABLE: True})
        key_template.update(template or {})
        session._context_login(self, pin)
        handle = engine.derive_key(session.handle, (CKM.ECDH1_DERIVE, params), self.handle, key_template)
        if as_object:
            return session._make_object(handle)  # type: ignore[return-value]
        try:
            return bytes(engine.get_attribute_value(session.handle, handle, [CKA.VALUE])[CKA.VALUE])
        finally:
            engine.destroy_object(session.handle, handle)


class VerifyMixin:
    """Keys with ``CKA_VERIFY``; the engine verifies on the host."""

    def verify(self: Any, data: bytes, signature: bytes, mechanism: Optional[int] = None,
               mechanism_param: Any = None) -> bool:
        """True when ``signature`` is valid for ``data``; False when it is not.
        ECDSA signatures may be raw (r || s) or DER."""
        mech = default_sign_mechanism(self.key_type) if mechanism is None else int(mechanism)
        if mechanism_param is None and mech in _PSS_HASH:
            mechanism_param = _default_pss_params(mech)
        signature = bytes(signature)
        if mech in _ECDSA_MECHANISMS and signature[:1] == b"\x30":
            size = ((self.key_length or 256) + 7) // 8
            if len(signature) != 2 * size:
                try:
                    signature = ecdsa_der_to_raw(signature, size)
                except ValueError:
                    pass
        session: Session = self.session
        engine = session.library.engine
        engine.verify_init(session.handle, _mechanism_tuple(mech, mechanism_param), self.handle)
        try:
            engine.verify(session.handle, bytes(data), signature)
        except (errors.SignatureInvalid, errors.SignatureLenRange):  # type: ignore[attr-defined]
            return False
        return True


class EncryptMixin:
    """Keys with ``CKA_ENCRYPT``; the engine encrypts on the host."""

    def encrypt(self: Any, data: bytes, mechanism: int = CKM.RSA_PKCS,
                mechanism_param: Any = None) -> bytes:
        mech = int(mechanism)
        if mech == CKM.RSA_PKCS_OAEP and mechanism_param is None:
            mechanism_param = rsa_oaep_params()
        session: Session = self.session
        engine = session.library.engine
        engine.encrypt_init(session.handle, _mechanism_tuple(mech, mechanism_param), self.handle)
        return engine.encrypt(session.handle, bytes(data))


class PrivateKey(Key):
    """A private key that stays on the card."""

    object_class = CKO.PRIVATE_KEY

    @property
    def always_authenticate(self) -> bool:
        """True when every use needs the PIN again (PIV slot 9C)."""
        return bool(self.get(CKA.ALWAYS_AUTHENTICATE, False))

    def public_key(self) -> "PublicKey":
        """The public key with the same ``CKA_ID`` and key type."""
        return self.session.get_key(object_class=CKO.PUBLIC_KEY, id=self.id,
                                    key_type=self.key_type)  # type: ignore[return-value]


class PublicKey(Key):
    """A public key; :meth:`to_cryptography` gives a :mod:`cryptography` key."""

    object_class = CKO.PUBLIC_KEY

    def to_cryptography(self) -> Any:
        attrs: Dict[int, Any] = {CKA.KEY_TYPE: self.key_type}
        for attribute in (CKA.PUBLIC_KEY_INFO, CKA.MODULUS, CKA.PUBLIC_EXPONENT, CKA.EC_PARAMS,
                          CKA.EC_POINT):
            value = self.get(attribute)
            if value is not None:
                attrs[attribute] = value
        return _public_key_from_attributes(attrs)

    @property
    def curve(self) -> Optional[str]:
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

    def to_cryptography(self) -> Any:
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
_CAPABILITIES: Dict[int, Tuple[Tuple[int, type], ...]] = {
    CKO.PRIVATE_KEY: ((CKA.SIGN, SignMixin), (CKA.DECRYPT, DecryptMixin), (CKA.DERIVE, DeriveMixin)),
    CKO.PUBLIC_KEY: ((CKA.VERIFY, VerifyMixin), (CKA.ENCRYPT, EncryptMixin)),
    CKO.SECRET_KEY: (),
}

_class_cache: Dict[Tuple[type, Tuple[type, ...]], type] = {}


def _object_type(object_class: int, attributes: Mapping[int, Any]) -> type:
    base = _BASE_CLASSES.get(object_class, Object)
    mixins = tuple(mixin for attribute, mixin in _CAPABILITIES.get(object_class, ())
                   if attributes.get(attribute))
    if not mixins:
        return base
    key = (base, mixins)
    cls = _class_cache.get(key)
    if cls is None:
        cls = type(base.__name__, mixins + (base,), {"__module__": __name__})
        _class_cache[key] = cls
    return cls


#: Read when an object is found: enough to choose its Python type and print it.
_SUMMARY_ATTRIBUTES: Tuple[int, ...] = (
    CKA.CLASS, CKA.KEY_TYPE, CKA.ID, CKA.LABEL, CKA.SIGN, CKA.DECRYPT, CKA.DERIVE, CKA.VERIFY,
    CKA.ENCRYPT, CKA.ALWAYS_AUTHENTICATE, CKA.PRIVATE, CKA.TOKEN,
)


# --------------------------------------------------------------------------- session

class Session:
    """An open session; a context manager that closes it (and so logs out when
    it was the last one).

    ``context_pin`` is used for keys that need the PIN before every use
    (``CKA_ALWAYS_AUTHENTICATE``) when the call itself gives no ``pin``.
    """

    def __init__(self, token: "Token", handle: int, *, rw: bool,
                 context_pin: Optional[Pin] = None) -> None:
        self.token = token
        self.library = token.library
        self.handle = handle
        self.rw = rw
        self.context_pin = context_pin
        self._closed = False

    # ---------------------------------------------------------------- life cycle
    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session (idempotent). A session the token already ended
        (card removed: the spec closes every session of the slot) counts as closed,
        so leaving a ``with`` block does not hide the error that ended it."""
        if not self._closed:
            self._closed = True
            try:
                self.library.engine.close_session(self.handle)
            except (errors.SessionHandleInvalid, errors.SessionClosed,  # type: ignore[attr-defined]
                    errors.DeviceRemoved, errors.TokenNotPresent):  # type: ignore[attr-defined]
                logger.debug("session %d was already closed by the token", self.handle)

    def login(self, pin: Pin, user_type: int = CKU.USER) -> None:
        """C_Login: the PIN for CKU_USER, the management key (hex) for CKU_SO."""
        self.library.engine.login(self.handle, int(user_type), _pin_bytes(pin))

    def logout(self) -> None:
        self.library.engine.logout(self.handle)

    @property
    def info(self) -> Any:
        """``CK_SESSION_INFO`` (slot_id, state, flags, device_error)."""
        return self.library.engine.get_session_info(self.handle)

    def _context_login(self, key: Object, pin: Optional[Pin]) -> None:
        """Log in CKU_CONTEXT_SPECIFIC when the key asks for it (after *_Init,
        as the spec orders it; derive has no init, so before C_DeriveKey).
        Without a PIN the operation goes ahead and the engine reports what the
        card says."""
        if not key.get(CKA.ALWAYS_AUTHENTICATE, False):
            return
        chosen = pin if pin is not None else self.context_pin
        if chosen is None:
            return
        self.library.engine.login(self.handle, CKU.CONTEXT_SPECIFIC, _pin_bytes(chosen))

    # ---------------------------------------------------------------- objects
    def _make_object(self, handle: int) -> Object:
        engine = self.library.engine
        try:
            attrs = engine.get_attribute_value(self.handle, handle, list(_SUMMARY_ATTRIBUTES))
        except (errors.AttributeTypeInvalid, errors.AttributeSensitive) as exc:  # type: ignore[attr-defined]
            attrs = dict(getattr(exc, "partial", {}) or {})
        object_class = attrs.get(CKA.CLASS, -1)
        cls = _object_type(object_class, attrs)
        return cls(self, handle, attrs)

    def objects(self, template: Optional[Mapping[int, Any]] = None) -> List[Object]:
        """Every object matching ``template`` (all objects when it is empty).

        The search is finished before this returns, so the session is free for
        other operations while the caller looks at the result."""
        engine = self.library.engine
        engine.find_objects_init(self.handle, dict(template or {}))
        handles: List[int] = []
        try:
            while True:
                batch = engine.find_objects(self.handle, 64)
                if not batch:
                    break
                handles.extend(batch)
        finally:
            engine.find_objects_final(self.handle)
        return [self._make_object(handle) for handle in handles]

    def keys(self, object_class: Optional[int] = None, key_type: Optional[int] = None,
             id: Optional[bytes] = None, label: Optional[str] = None) -> List[Key]:
        """Keys (private, public and secret unless ``object_class`` says which)."""
        template: Dict[int, Any] = {}
        if object_class is not None:
            template[CKA.CLASS] = int(object_class)
        if key_type is not None:
            template[CKA.KEY_TYPE] = int(key_type)
        if id is not None:
            template[CKA.ID] = bytes(id)
        if label is not None:
            template[CKA.LABEL] = label
        found = self.objects(template)
        key_classes = (CKO.PRIVATE_KEY, CKO.PUBLIC_KEY, CKO.SECRET_KEY)
        return [obj for obj in found if isinstance(obj, Key)
                or obj.get(CKA.CLASS) in key_classes]  # type: ignore[misc]

    def private_keys(self, **search: Any) -> List[PrivateKey]:
        return self.keys(object_class=CKO.PRIVATE_KEY, **search)  # type: ignore[return-value]

    def public_keys(self, **search: Any) -> List[PublicKey]:
        return self.keys(object_class=CKO.PUBLIC_KEY, **search)  # type: ignore[return-value]

    def certificates(self, id: Optional[bytes] = None, label: Optional[str] = None) -> List[Certificate]:
        template: Dict[int, Any] = {CKA.CLASS: CKO.CERTIFICATE}
        if id is not None:
            template[CKA.ID] = bytes(id)
        if label is not None:
            template[CKA.LABEL] = label
        return self.objects(template)  # type: ignore[return-value]

    def get_key(self, object_class: Optional[int] = None, key_type: Optional[int] = None,
                id: Optional[bytes] = None, label: Optional[str] = None) -> Key:
        """The one key matching the search; :class:`NoSuchKey` or
        :class:`MultipleObjectsReturned` otherwise."""
        found = self.keys(object_class=object_class, key_type=key_type, id=id, label=label)
        if not found:
            raise NoSuchKey(f"no key matches {_describe_search(object_class, key_type, id, label)}")
        if len(found) > 1:
            raise MultipleObjectsReturned(
                f"{len(found)} keys match {_describe_search(object_class, key_type, id, label)}")
        return found[0]

    # ---------------------------------------------------------------- other operations
    def generate_random(self, length: int) -> bytes:
        return self.library.engine.generate_random(self.handle, int(length))

    def digest(self, data: bytes, mechanism: int = CKM.SHA256) -> bytes:
        engine = self.library.engine
        engine.digest_init(self.handle, int(mechanism))
        return engine.digest(self.handle, bytes(data))

    def generate_keypair(self, key_type: int, key_length: Optional[int] = None, *,
                         curve: Optional[str] = None, id: Optional[bytes] = None,
                         label: Optional[str] = None,
                         public_template: Optional[Mapping[int, Any]] = None,
                         private_template: Optional[Mapping[int, Any]] = None
                         ) -> Tuple[PublicKey, PrivateKey]:
        """Generate a key pair on the card (PIV: needs a read/write session
        logged in as SO with the management key). ``id`` picks the PIV slot
        (01 = 9A, 02 = 9C, 03 = 9D, 04 = 9E); ``curve`` is ``"secp256r1"``
        or ``"secp384r1"`` for ``CKK.EC`` (Ed25519 is ``CKK.EC_EDWARDS``, X25519
        ``CKK.EC_MONTGOMERY``). The SO cannot see private objects, so the
        returned private key is only described (class, type, ID, label); use
        it from a session logged in as the user."""
        mechanism, pub, priv = _keygen_templates(int(key_type), key_length, curve)
        for template in (pub, priv):
            template[CKA.TOKEN] = True
            if id is not None:
                template[CKA.ID] = bytes(id)
            if label is not None:
                template[CKA.LABEL] = label
        pub.update(public_template or {})
        priv.update(private_template or {})
        engine = self.library.engine
        pub_handle, priv_handle = engine.generate_key_pair(self.handle, mechanism, pub, priv)
        public = self._make_object(pub_handle)
        try:
            private = self._make_object(priv_handle)
        except errors.ObjectHandleInvalid:  # type: ignore[attr-defined]
            # A private key is CKA_PRIVATE: an SO session cannot see it (the spec's
            # rule); describe it from the template, and use it from a user session.
            described = {CKA.CLASS: CKO.PRIVATE_KEY, CKA.KEY_TYPE: int(key_type)}
            described.update({k: v for k, v in priv.items() if k in (CKA.ID, CKA.LABEL)})
            private = PrivateKey(self, priv_handle, described)
        return public, private  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"<Session {self.handle} on {self.token!r}{' rw' if self.rw else ''}>"


_CURVE_OIDS = {
    "secp256r1": "1.2.840.10045.3.1.7", "p-256": "1.2.840.10045.3.1.7", "p256": "1.2.840.10045.3.1.7",
    "secp384r1": "1.3.132.0.34", "p-384": "1.3.132.0.34", "p384": "1.3.132.0.34",
}


#: RFC 8410 OIDs, the CKA_EC_PARAMS form PKCS#11 3.0 prefers for the 25519 curves.
_ED25519_OID = "1.3.101.112"
_X25519_OID = "1.3.101.110"


def _keygen_templates(key_type: int, key_length: Optional[int], curve: Optional[str]
                      ) -> Tuple[int, Dict[int, Any], Dict[int, Any]]:
    from asn1crypto.core import ObjectIdentifier

    if key_type == CKK.RSA:
        pub = {CKA.MODULUS_BITS: key_length or 2048, CKA.PUBLIC_EXPONENT: b"\x01\x00\x01"}
        return CKM.RSA_PKCS_KEY_PAIR_GEN, pub, {}
    if key_type == CKK.EC:
        name = (curve or "secp256r1").lower()
        if name not in _CURVE_OIDS:
            raise ValueError(f"unknown curve {curve!r}")
        return CKM.EC_KEY_PAIR_GEN, {CKA.EC_PARAMS: ObjectIdentifier(_CURVE_OIDS[name]).dump()}, {}
    if key_type == CKK.EC_EDWARDS:
        return CKM.EC_EDWARDS_KEY_PAIR_GEN, {CKA.EC_PARAMS: ObjectIdentifier(_ED25519_OID).dump()}, {}
    if key_type == CKK.EC_MONTGOMERY:
        return CKM.EC_MONTGOMERY_KEY_PAIR_GEN, {CKA.EC_PARAMS: ObjectIdentifier(_X25519_OID).dump()}, {}
    raise ValueError(f"cannot generate keys of type {_name(CKK, key_type)}")


def _describe_search(object_class: Optional[int], key_type: Optional[int], id: Optional[bytes],
                     label: Optional[str]) -> str:
    parts = []
    if object_class is not None:
        parts.append(f"class {_name(CKO, object_class)}")
    if key_type is not None:
        parts.append(f"type {_name(CKK, key_type)}")
    if id is not None:
        parts.append(f"id {bytes(id).hex() or '(empty)'}")
    if label is not None:
        parts.append(f"label {label!r}")
    return ", ".join(parts) or "(any)"


# --------------------------------------------------------------------------- token and slot

@dataclass(frozen=True)
class MechanismInfo:
    """What a token can do with one mechanism."""

    mechanism: int
    min_key_size: int
    max_key_size: int
    flags: MechanismFlag

    @property
    def name(self) -> str:
        return mechanism_name(self.mechanism)


class Token:
    """The token in a slot; a snapshot of ``CK_TOKEN_INFO`` taken when read."""

    def __init__(self, slot: "Slot", info: Any) -> None:
        self.slot = slot
        self.library = slot.library
        self.info = info

    @property
    def label(self) -> str:
        return self.info.label.rstrip()

    @property
    def serial(self) -> str:
        return self.info.serial_number.rstrip()

    @property
    def manufacturer(self) -> str:
        return self.info.manufacturer_id.rstrip()

    @property
    def model(self) -> str:
        return self.info.model.rstrip()

    @property
    def flags(self) -> TokenFlag:
        return TokenFlag(self.info.flags)

    @property
    def mechanisms(self) -> Dict[int, MechanismInfo]:
        """Mechanism -> :class:`MechanismInfo` (key sizes, CKF_ flags)."""
        engine = self.library.engine
        result: Dict[int, MechanismInfo] = {}
        for mechanism in engine.get_mechanism_list(self.slot.slot_id):
            info = engine.get_mechanism_info(self.slot.slot_id, mechanism)
            try:
                key = CKM(mechanism)
            except ValueError:
                key = mechanism
            result[key] = MechanismInfo(key, info.min_key_size, info.max_key_size,
                                        MechanismFlag(info.flags))
        return result

    def open(self, user_pin: Optional[Pin] = None, rw: bool = False, so_pin: Optional[Pin] = None,
             context_pin: Optional[Pin] = None) -> Session:
        """Open a session, logged in as user (``user_pin``) or SO (``so_pin``:
        for PIV the management key, hex) when given. Use it in ``with``."""
        if user_pin is not None and so_pin is not None:
            raise ValueError("give user_pin or so_pin, not both")
        flags = SessionFlag.SERIAL_SESSION | (SessionFlag.RW_SESSION if rw else 0)
        engine = self.library.engine
        handle = engine.open_session(self.slot.slot_id, int(flags))
        session = Session(self, handle, rw=rw, context_pin=context_pin)
        try:
            if user_pin is not None:
                session.login(user_pin, CKU.USER)
            elif so_pin is not None:
                session.login(so_pin, CKU.SO)
        except BaseException:
            session.close()
            raise
        return session

    def __repr__(self) -> str:
        return f"<Token {self.label!r} serial={self.serial!r} in slot {self.slot.slot_id}>"


class Slot:
    """A reader (or the in-process virtual card)."""

    def __init__(self, library: "Library", slot_id: int, info: Any) -> None:
        self.library = library
        self.slot_id = slot_id
        self.info = info

    @property
    def description(self) -> str:
        return self.info.slot_description.rstrip()

    @property
    def manufacturer(self) -> str:
        return self.info.manufacturer_id.rstrip()

    @property
    def flags(self) -> SlotFlag:
        return SlotFlag(self.info.flags)

    @property
    def token_present(self) -> bool:
        return bool(self.info.flags & SlotFlag.TOKEN_PRESENT)

    @property
    def is_virtual(self) -> bool:
        """True for cardki's in-process virtual card (not a reader)."""
        from .slot import VIRTUAL_READER_NAME

        return self.description.startswith(VIRTUAL_READER_NAME)

    @property
    def token(self) -> Token:
        """The token in this slot (raises ``TokenNotPresent`` when empty)."""
        return Token(self, self.library.engine.get_token_info(self.slot_id))

    def __repr__(self) -> str:
        return f"<Slot {self.slot_id} {self.description!r}>"


class Library:
    """cardki's engine, initialized; a context manager that finalizes it.

    With no card in any reader (or no PC/SC at all) and ``virtual_fallback``
    on, a virtual YubiKey in this process stands in, so code runs with nothing
    plugged in; ``virtual=True`` uses only the virtual card, never a reader.
    Its slot says so (:attr:`Slot.is_virtual`).

    ``virtual_card`` puts a card you built (an ``hwsim`` VirtualCard, e.g. one
    with keys already on it) in the virtual slot; ``virtual_state`` keeps the
    virtual YubiKey in a file across runs (loaded now, saved by :meth:`close`
    when it changed). Both imply ``virtual=True``.
    """

    def __init__(self, *, virtual: bool = False, virtual_fallback: bool = True,
                 virtual_card: Any = None, virtual_state: Optional[str] = None,
                 engine: Any = None) -> None:
        self._state_keeper: Any = None
        self.virtual_card = virtual_card
        if virtual_state is not None:
            from hwsim.statefile import StateKeeper, load_state
            from hwsim.yubikey import VirtualYubiKey

            if virtual_card is not None:
                raise ValueError("give virtual_card or virtual_state, not both")
            virtual_state = os.path.expanduser(str(virtual_state))
            state = load_state(virtual_state)
            self.virtual_card = VirtualYubiKey(state=state)
            self._state_keeper = StateKeeper(virtual_state)
            if state is not None:
                self._state_keeper.mark_saved(self.virtual_card)
        self._own_slot_manager: Any = None
        if engine is None:
            if self.virtual_card is not None or virtual:
                card = self.virtual_card
                if card is None:
                    from hwsim.yubikey import VirtualYubiKey

                    card = VirtualYubiKey()
                    self.virtual_card = card
                engine, self._own_slot_manager = _make_virtual_engine(lambda: card)
            else:
                from .cryptoki.engine import Cryptoki

                engine = Cryptoki(virtual_fallback=virtual_fallback)
        self.engine = engine
        self.virtual = virtual or self.virtual_card is not None
        engine.initialize()
        self._finalized = False

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """C_Finalize (idempotent): sessions close, the card is released."""
        if not self._finalized:
            self._finalized = True
            try:
                self.engine.finalize()
            finally:
                if self._own_slot_manager is not None:
                    self._own_slot_manager.close()
                if self._state_keeper is not None:
                    self._state_keeper.save_if_changed(self.virtual_card)

    @property
    def info(self) -> Any:
        """``CK_INFO`` (cryptoki_version, manufacturer_id, library_description, ...)."""
        return self.engine.get_info()

    def slots(self, token_present: bool = False) -> List[Slot]:
        return [Slot(self, slot_id, self.engine.get_slot_info(slot_id))
                for slot_id in self.engine.get_slot_list(token_present)]

    def slot(self, slot_id: int) -> Slot:
        return Slot(self, slot_id, self.engine.get_slot_info(slot_id))

    def tokens(self) -> List[Token]:
        return [slot.token for slot in self.slots(token_present=True)]

    def get_token(self, label: Optional[str] = None, serial: Optional[str] = None) -> Token:
        """The first token matching ``label``/``serial`` (the first token when neither is given);
        ``TokenNotPresent`` when there is none."""
        for token in self.tokens():
            if label is not None and token.label != label:
                continue
            if serial is not None and token.serial != serial:
                continue
            return token
        raise errors.TokenNotPresent(  # type: ignore[attr-defined]
            "no token" + (f" labelled {label!r}" if label else "") +
            (f" with serial {serial}" if serial else ""))


def _make_virtual_engine(card_factory: Any) -> Tuple[Any, Any]:
    """An engine whose only slot is the in-process virtual card (for
    ``virtual=True``: demos and tests that must not touch a card in a reader),
    and its slot manager, which the engine does not close because it did not
    make it."""
    from .cryptoki.engine import Cryptoki
    from .slot import SlotManager

    manager = SlotManager(virtual_fallback=card_factory, use_pcsc=False)
    return Cryptoki(slot_manager=manager), manager


def open(*, virtual: bool = False, virtual_fallback: bool = True, virtual_card: Any = None,  # noqa: A001
         virtual_state: Optional[str] = None) -> Library:
    """The everyday entry point: ``with cardki.open() as lib: ...`` (see :class:`Library`)."""
    return Library(virtual=virtual, virtual_fallback=virtual_fallback, virtual_card=virtual_card,
                   virtual_state=virtual_state)
