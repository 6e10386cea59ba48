"""C <-> Python conversions for the entry points, following the spec's rules.

Every function here takes cffi cdata from a C caller it cannot trust: NULL
pointers and impossible lengths become :class:`errors.ArgumentsBad` before
anything is dereferenced. Output follows the spec's length convention
(PKCS#11 2.40 section 5.2): a NULL buffer asks for the length, a short
buffer gets CKR_BUFFER_TOO_SMALL with the needed length, and the engine's
``length_only`` (answering the length) / ``max_length`` options keep the
operation alive across that round trip so the card is asked once. Whether a
failed call ends its operation is the engine's rule (``operation_call``), for
the errors found here too.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple

from cardki import errors
from cardki.constants import CK_UNAVAILABLE_INFORMATION, CKM

# Longest single input we accept: a length beyond this is a caller bug (or an
# uninitialised variable), not data; refusing it beats reading wild memory.
MAX_INPUT_LENGTH = 1 << 28
MAX_TEMPLATE_COUNT = 1 << 16


class Marshaller:
    """Conversions bound to the module's ``ffi`` (cdata types live there)."""

    def __init__(self, ffi: Any) -> None:
        self.ffi = ffi
        self.NULL = ffi.NULL

    # --- inputs ---------------------------------------------------------------------------

    def is_null(self, pointer: Any) -> bool:
        return pointer == self.NULL

    def read_bytes(self, pointer: Any, length: int) -> bytes:
        """``length`` bytes at ``pointer``; NULL is allowed only for an empty input."""
        if length == 0:
            return b""
        if length > MAX_INPUT_LENGTH or pointer == self.NULL:
            raise errors.ArgumentsBad("NULL or oversized input buffer")
        return bytes(self.ffi.buffer(pointer, length))

    def read_optional_pin(self, pointer: Any, length: int) -> bytes | None:
        """A PIN, or None for NULL (protected authentication path)."""
        if self.is_null(pointer):
            if length:
                raise errors.ArgumentsBad("NULL PIN with a length")
            return None
        return self.read_bytes(pointer, length)

    def read_template(self, pointer: Any, count: int) -> Dict[int, Any]:
        """A CK_ATTRIBUTE input template decoded to ``{CKA_*: python value}``."""
        from cardki.cryptoki.attributes import decode_attribute

        if count == 0:
            return {}
        if self.is_null(pointer) or count > MAX_TEMPLATE_COUNT:
            raise errors.ArgumentsBad("NULL or oversized template")
        template: Dict[int, Any] = {}
        for index in range(count):
            attribute = pointer[index]
            raw = self.read_bytes(attribute.pValue, attribute.ulValueLen)
            template[int(attribute.type)] = decode_attribute(int(attribute.type), raw)
        return template

    def read_types(self, pointer: Any, count: int) -> List[int]:
        """Just the attribute types of a template (C_GetAttributeValue)."""
        if count == 0:
            return []
        if self.is_null(pointer) or count > MAX_TEMPLATE_COUNT:
            raise errors.ArgumentsBad("NULL or oversized template")
        return [int(pointer[index].type) for index in range(count)]

    def read_mechanism(self, pointer: Any) -> Any:
        """A CK_MECHANISM as the engine takes it: an int, or (type, parameter)."""
        if pointer == self.NULL:
            raise errors.ArgumentsBad("NULL mechanism")
        mechanism_type = int(pointer.mechanism)
        parameter_length = int(pointer.ulParameterLen)
        reader = _PARAMETER_READERS.get(mechanism_type)
        if reader is None and parameter_length == 0:
            return mechanism_type  # what the rest gives, without reading pParameter: CKM_ECDSA_SHA256 and the like
        parameter_pointer = pointer.pParameter
        if reader is not None:
            struct_name, convert, optional = reader
            if optional and parameter_length == 0:
                return mechanism_type
            if parameter_length != self.ffi.sizeof(struct_name) or self.is_null(parameter_pointer):
                raise errors.MechanismParamInvalid(f"{struct_name} expected")
            struct = self.ffi.cast(struct_name + " *", parameter_pointer)
            return (mechanism_type, convert(self, struct))
        if self.is_null(parameter_pointer) or parameter_length > MAX_INPUT_LENGTH:
            raise errors.MechanismParamInvalid("NULL or oversized mechanism parameter")
        return (mechanism_type, bytes(self.ffi.buffer(parameter_pointer, parameter_length)))

    # --- outputs --------------------------------------------------------------------------

    def require(self, *pointers: Any) -> None:
        """Output pointers the spec makes mandatory."""
        for pointer in pointers:
            if self.is_null(pointer):
                raise errors.ArgumentsBad("NULL output pointer")

    def write_output(self, out: Any, out_length: Any, produce: Callable[..., Any], *args: Any) -> None:
        """The spec's buffer convention around ``produce(*args, length_only=True)`` (a
        NULL buffer asks for the length) or ``produce(*args, max_length=n)`` (an engine
        call; the arguments go through as they are, so no closure is made per call)."""
        if out_length == self.NULL:
            raise errors.ArgumentsBad("NULL output pointer")
        if out == self.NULL:
            out_length[0] = int(produce(*args, length_only=True))
            return
        try:
            result = produce(*args, max_length=int(out_length[0]))
        except errors.BufferTooSmall as short:
            out_length[0] = short.required
            raise
        self.ffi.memmove(out, result, len(result))
        out_length[0] = len(result)

    def write_bytes_exact(self, out: Any, length: int, data: bytes) -> None:
        """Fill a caller buffer whose size the caller chose (C_GenerateRandom)."""
        if length == 0:
            return
        if self.is_null(out):
            raise errors.ArgumentsBad("NULL output buffer")
        self.ffi.memmove(out, data, length)

    def write_ulongs(self, out: Any, count: Any, values: Sequence[int]) -> None:
        """A CK_ULONG array with the NULL/short-buffer convention (slot and mechanism lists)."""
        self.require(count)
        if self.is_null(out):
            count[0] = len(values)
            return
        if int(count[0]) < len(values):
            count[0] = len(values)
            raise errors.BufferTooSmall(len(values))
        for index, value in enumerate(values):
            out[index] = int(value)
        count[0] = len(values)

    def fill_attribute_values(self, template: Any, values: Sequence[bytes | None]) -> bool:
        """Write encoded values into a C_GetAttributeValue template.

        None means CK_UNAVAILABLE_INFORMATION (the engine decided why). Returns
        True if some caller buffer was too short (that entry also gets
        CK_UNAVAILABLE_INFORMATION, as the spec says)."""
        too_small = False
        for index, value in enumerate(values):
            attribute = template[index]
            if value is None:
                attribute.ulValueLen = CK_UNAVAILABLE_INFORMATION
            elif self.is_null(attribute.pValue):
                attribute.ulValueLen = len(value)
            elif int(attribute.ulValueLen) >= len(value):
                self.ffi.memmove(attribute.pValue, value, len(value))
                attribute.ulValueLen = len(value)
            else:
                attribute.ulValueLen = CK_UNAVAILABLE_INFORMATION
                too_small = True
        return too_small

    @staticmethod
    def blank_padded(text: Any, size: int) -> bytes:
        """A fixed-size CK_UTF8CHAR field: UTF-8, cut on a character boundary, padded with blanks."""
        if isinstance(text, (bytes, bytearray)):
            raw = bytes(text)[:size]
        else:
            raw = str(text or "").encode("utf-8")[:size]
            while raw:
                try:
                    raw.decode("utf-8")
                    break
                except UnicodeDecodeError:
                    raw = raw[:-1]
        return raw.ljust(size, b" ")

    def set_text(self, field: Any, text: Any) -> None:
        """Store ``text`` into a char-array struct field (its size is taken from the field)."""
        size = len(field)
        self.ffi.memmove(field, self.blank_padded(text, size), size)

    @staticmethod
    def set_version(target: Any, version: Any) -> None:
        """A CK_VERSION from (major, minor), an object with .major/.minor, or None."""
        if version is None:
            major, minor = 0, 0
        elif hasattr(version, "major"):
            major, minor = version.major, version.minor
        else:
            major, minor = tuple(version)[:2]
        target.major = int(major) & 0xFF
        target.minor = int(minor) & 0xFF


# --- mechanism parameter structs -> engine values -----------------------------------------

def _pss(marshal: Marshaller, struct: Any) -> Any:
    from cardki.cryptoki.mechanisms import RsaPssParams

    return RsaPssParams(hash_alg=int(struct.hashAlg), mgf=int(struct.mgf), salt_len=int(struct.sLen))


def _oaep(marshal: Marshaller, struct: Any) -> Any:
    from cardki.cryptoki.mechanisms import RsaOaepParams

    try:
        source_data = marshal.read_bytes(struct.pSourceData, int(struct.ulSourceDataLen))
    except errors.ArgumentsBad as bad:
        raise errors.MechanismParamInvalid("bad OAEP source data") from bad
    return RsaOaepParams(hash_alg=int(struct.hashAlg), mgf=int(struct.mgf), source=int(struct.source),
                         source_data=source_data)


def _ecdh(marshal: Marshaller, struct: Any) -> Any:
    from cardki.cryptoki.mechanisms import Ecdh1DeriveParams

    try:
        shared = marshal.read_bytes(struct.pSharedData, int(struct.ulSharedDataLen))
        public = marshal.read_bytes(struct.pPublicData, int(struct.ulPublicDataLen))
    except errors.ArgumentsBad as bad:
        raise errors.MechanismParamInvalid("bad ECDH parameter buffers") from bad
    return Ecdh1DeriveParams(kdf=int(struct.kdf), shared_data=shared, public_data=public)


def _eddsa(marshal: Marshaller, struct: Any) -> Any:
    from cardki.cryptoki.mechanisms import EddsaParams

    try:
        context = marshal.read_bytes(struct.pContextData, int(struct.ulContextDataLen))
    except errors.ArgumentsBad as bad:
        raise errors.MechanismParamInvalid("bad EdDSA context") from bad
    return EddsaParams(phflag=bool(struct.phFlag), context=context)


def _members(*names: str) -> Iterable[int]:
    """CKM values by name, skipping ones the constants module does not define."""
    return [int(getattr(CKM, name)) for name in names if hasattr(CKM, name)]


# mechanism -> (C struct, converter, parameter optional?)
_PARAMETER_READERS: Dict[int, Tuple[str, Callable[[Marshaller, Any], Any], bool]] = {}
for _m in _members("RSA_PKCS_PSS", "SHA1_RSA_PKCS_PSS", "SHA224_RSA_PKCS_PSS", "SHA256_RSA_PKCS_PSS",
                   "SHA384_RSA_PKCS_PSS", "SHA512_RSA_PKCS_PSS", "SHA3_224_RSA_PKCS_PSS",
                   "SHA3_256_RSA_PKCS_PSS", "SHA3_384_RSA_PKCS_PSS", "SHA3_512_RSA_PKCS_PSS"):
    _PARAMETER_READERS[_m] = ("CK_RSA_PKCS_PSS_PARAMS", _pss, False)
for _m in _members("RSA_PKCS_OAEP"):
    _PARAMETER_READERS[_m] = ("CK_RSA_PKCS_OAEP_PARAMS", _oaep, False)
for _m in _members("ECDH1_DERIVE", "ECDH1_COFACTOR_DERIVE"):
    _PARAMETER_READERS[_m] = ("CK_ECDH1_DERIVE_PARAMS", _ecdh, False)
for _m in _members("EDDSA"):
    _PARAMETER_READERS[_m] = ("CK_EDDSA_PARAMS", _eddsa, True)
