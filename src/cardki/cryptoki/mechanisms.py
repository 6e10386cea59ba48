"""Mechanisms as values: parameter types, the hashed-mechanism table, checks.

A mechanism arrives as an int, an enum member, a ``(type, parameter)`` pair or
a :class:`MechanismSpec`; :func:`as_spec` turns all of them into one
``MechanismSpec``. The values are named tuples (cheap to define and to make: one
is made per ``*_Init``). The tables here say which base mechanism and hash a
"hash-then-sign" mechanism uses, which key type a mechanism needs, and which
parameters it takes, so the engine's ``*_init`` checks read as table lookups.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from cardki.named_tuple import NamedTuple

from .. import errors
from ..constants import CKD, CKK, CKM, CKZ, mechanism_name
from ..digests import BY_KDF, BY_MECHANISM, BY_MGF
from . import limits


class MechanismSpec(NamedTuple):
    """``CK_MECHANISM``: a type and its (already decoded) parameter."""

    type: int
    parameter: Any = None


class RsaPssParams(NamedTuple):
    """``CK_RSA_PKCS_PSS_PARAMS``."""

    hash_alg: int
    mgf: int
    salt_len: int


class RsaOaepParams(NamedTuple):
    """``CK_RSA_PKCS_OAEP_PARAMS``."""

    hash_alg: int
    mgf: int
    source: int = 0
    source_data: bytes = b""


class Ecdh1DeriveParams(NamedTuple):
    """``CK_ECDH1_DERIVE_PARAMS``; ``public_data`` is the peer's point."""

    kdf: int
    shared_data: bytes
    public_data: bytes


class EddsaParams(NamedTuple):
    """``CK_EDDSA_PARAMS`` (only pure Ed25519 is supported: phflag False, no context)."""

    phflag: bool = False
    context: bytes = b""


Mechanism = int | Tuple[int, Any] | MechanismSpec


def as_spec(mechanism: Any) -> MechanismSpec:
    """Any accepted mechanism form as a :class:`MechanismSpec`."""
    if type(mechanism) is int:  # what the C ABI passes for a mechanism without a parameter
        return _PLAIN_SPECS.get(mechanism) or MechanismSpec(mechanism, None)
    if isinstance(mechanism, MechanismSpec):
        return MechanismSpec(int(mechanism.type), mechanism.parameter)
    if isinstance(mechanism, tuple) and len(mechanism) == 2:
        return MechanismSpec(int(mechanism[0]), mechanism[1])
    if isinstance(mechanism, int):
        return MechanismSpec(int(mechanism), None)
    raise errors.ArgumentsBad("a mechanism is an int, (type, parameter) or MechanismSpec")


#: Digest mechanisms (the digests themselves, with their MGF1 and KDF names, are in
#: :mod:`cardki.digests`).
DIGEST_MECHANISMS = frozenset(BY_MECHANISM)

#: Hash-then-sign mechanisms -> (base mechanism the token signs with, digest).
HASHED_SIGN: Dict[int, Tuple[int, int]] = {
    CKM.SHA1_RSA_PKCS: (CKM.RSA_PKCS, CKM.SHA_1),
    CKM.SHA224_RSA_PKCS: (CKM.RSA_PKCS, CKM.SHA224),
    CKM.SHA256_RSA_PKCS: (CKM.RSA_PKCS, CKM.SHA256),
    CKM.SHA384_RSA_PKCS: (CKM.RSA_PKCS, CKM.SHA384),
    CKM.SHA512_RSA_PKCS: (CKM.RSA_PKCS, CKM.SHA512),
    CKM.SHA1_RSA_PKCS_PSS: (CKM.RSA_PKCS_PSS, CKM.SHA_1),
    CKM.SHA224_RSA_PKCS_PSS: (CKM.RSA_PKCS_PSS, CKM.SHA224),
    CKM.SHA256_RSA_PKCS_PSS: (CKM.RSA_PKCS_PSS, CKM.SHA256),
    CKM.SHA384_RSA_PKCS_PSS: (CKM.RSA_PKCS_PSS, CKM.SHA384),
    CKM.SHA512_RSA_PKCS_PSS: (CKM.RSA_PKCS_PSS, CKM.SHA512),
    CKM.ECDSA_SHA1: (CKM.ECDSA, CKM.SHA_1),
    CKM.ECDSA_SHA224: (CKM.ECDSA, CKM.SHA224),
    CKM.ECDSA_SHA256: (CKM.ECDSA, CKM.SHA256),
    CKM.ECDSA_SHA384: (CKM.ECDSA, CKM.SHA384),
    CKM.ECDSA_SHA512: (CKM.ECDSA, CKM.SHA512),
}

#: Hash-then-sign mechanism -> its base mechanism without a parameter, made once (every
#: C_SignInit with CKM_ECDSA_SHA256 and the like would make one).
HASHED_SIGN_BASES: Dict[int, MechanismSpec] = {hashed: MechanismSpec(base) for hashed, (base, _) in HASHED_SIGN.items()}

#: Base (single-part, data given as-is) signature mechanisms.
RAW_SIGN = frozenset({CKM.RSA_PKCS, CKM.RSA_X_509, CKM.RSA_PKCS_PSS, CKM.ECDSA, CKM.EDDSA})
SIGN_MECHANISMS = RAW_SIGN | frozenset(HASHED_SIGN)
CIPHER_MECHANISMS = frozenset({CKM.RSA_PKCS, CKM.RSA_X_509, CKM.RSA_PKCS_OAEP})
DERIVE_MECHANISMS = frozenset({CKM.ECDH1_DERIVE})

#: The mechanisms cardki knows, without a parameter, made once (as_spec gives them to
#: every *_Init; a mechanism it does not know is made when asked).
_PLAIN_SPECS: Dict[int, MechanismSpec] = {
    int(m): MechanismSpec(int(m)) for m in SIGN_MECHANISMS | CIPHER_MECHANISMS | DERIVE_MECHANISMS | DIGEST_MECHANISMS}

#: Base mechanism -> the key type it needs (a hashed mechanism needs its base's).
_BASE_KEY_TYPES: Dict[int, int] = {
    CKM.RSA_PKCS: CKK.RSA, CKM.RSA_X_509: CKK.RSA, CKM.RSA_PKCS_PSS: CKK.RSA, CKM.RSA_PKCS_OAEP: CKK.RSA,
    CKM.ECDSA: CKK.EC, CKM.ECDH1_DERIVE: CKK.EC, CKM.EDDSA: CKK.EC_EDWARDS,
}
#: Every mechanism key_type_for knows, looked up once (every *_Init asks).
_KEY_TYPES: Dict[int, int] = {
    **_BASE_KEY_TYPES,
    **{hashed: _BASE_KEY_TYPES[base] for hashed, (base, _) in HASHED_SIGN.items()},
}


def key_type_for(mechanism: int) -> int | None:
    """The key type a sign/verify/cipher/derive mechanism needs."""
    return _KEY_TYPES.get(mechanism)


#: Mechanisms whose parameter check_parameter looks at (the rest take none).
_PARAMETER_MECHANISMS = frozenset(
    {CKM.RSA_PKCS_PSS, CKM.RSA_PKCS_OAEP, CKM.ECDH1_DERIVE, CKM.EDDSA}
    | {hashed for hashed, (base, _) in HASHED_SIGN.items() if base == CKM.RSA_PKCS_PSS})


def _param_invalid(spec: MechanismSpec, why: str) -> errors.CryptokiError:
    return errors.MechanismParamInvalid(f"{mechanism_name(spec.type)}: {why}")


def check_parameter(spec: MechanismSpec) -> MechanismSpec:
    """Validate ``spec.parameter`` for its mechanism (MECHANISM_PARAM_INVALID)
    and return the spec with the parameter in canonical form."""
    mech, param = spec.type, spec.parameter
    if param is None and mech not in _PARAMETER_MECHANISMS:
        return spec  # what the last line below gives, without the checks of the others
    if mech in (CKM.RSA_PKCS_PSS,) or (mech in HASHED_SIGN and HASHED_SIGN[mech][0] == CKM.RSA_PKCS_PSS):
        if not isinstance(param, RsaPssParams):
            raise _param_invalid(spec, "needs CK_RSA_PKCS_PSS_PARAMS")
        if param.hash_alg not in BY_MECHANISM or param.mgf not in BY_MGF:
            raise _param_invalid(spec, "unsupported hash or MGF")
        if mech in HASHED_SIGN and HASHED_SIGN[mech][1] != param.hash_alg:
            raise _param_invalid(spec, "hashAlg differs from the mechanism's hash")
        if not 0 <= param.salt_len <= limits.PSS_MAX_SALT_LENGTH:
            raise _param_invalid(spec, f"salt length outside 0..{limits.PSS_MAX_SALT_LENGTH}")
        return spec
    if mech == CKM.RSA_PKCS_OAEP:
        if not isinstance(param, RsaOaepParams):
            raise _param_invalid(spec, "needs CK_RSA_PKCS_OAEP_PARAMS")
        if param.hash_alg not in BY_MECHANISM or param.mgf not in BY_MGF:
            raise _param_invalid(spec, "unsupported hash or MGF")
        if param.source not in (0, CKZ.DATA_SPECIFIED):
            raise _param_invalid(spec, "unsupported source")
        if param.source == 0 and param.source_data:
            raise _param_invalid(spec, "source data without CKZ_DATA_SPECIFIED")
        return spec
    if mech == CKM.ECDH1_DERIVE:
        if not isinstance(param, Ecdh1DeriveParams):
            raise _param_invalid(spec, "needs CK_ECDH1_DERIVE_PARAMS")
        if param.kdf != CKD.NULL and param.kdf not in BY_KDF:
            raise _param_invalid(spec, "unsupported KDF")
        if param.kdf == CKD.NULL and param.shared_data:
            raise _param_invalid(spec, "shared data needs a KDF")
        if len(param.shared_data) > limits.MAX_KDF_SHARED_DATA_LENGTH:
            raise _param_invalid(spec, f"shared data above {limits.MAX_KDF_SHARED_DATA_LENGTH} bytes")
        if not param.public_data:
            raise _param_invalid(spec, "no public data")
        return spec
    if mech == CKM.EDDSA:
        if param is None:
            return spec
        if isinstance(param, EddsaParams) and not param.phflag and not param.context:
            return MechanismSpec(mech, None)
        raise _param_invalid(spec, "only pure Ed25519 without context is supported")
    if param not in (None, b""):
        raise _param_invalid(spec, "takes no parameter")
    return MechanismSpec(mech, None)


__all__ = [
    "MechanismSpec", "RsaPssParams", "RsaOaepParams", "Ecdh1DeriveParams", "EddsaParams", "Mechanism",
    "as_spec", "mechanism_name", "DIGEST_MECHANISMS", "HASHED_SIGN", "HASHED_SIGN_BASES", "RAW_SIGN",
    "SIGN_MECHANISMS", "CIPHER_MECHANISMS", "DERIVE_MECHANISMS", "key_type_for",
    "check_parameter",
]
