"""cardki: a PKCS#11 (Cryptoki) module for PIV and OpenPGP smart cards and YubiKeys.

``cardki.Cryptoki`` is the library (the same engine the C ABI drives);
``cardki.errors`` holds one exception class per CKR_ code and
``cardki.constants`` the spec's constants as enums.
``cardki.open()`` (:mod:`cardki.api`) is the everyday Python API on top:
library -> slots -> token -> session -> keys that sign, decrypt and derive.
"""

from . import constants, errors
from .constants import CKA, CKC, CKD, CKG, CKK, CKM, CKO, CKR, CKS, CKU, CKZ
from .cryptoki.engine import Cryptoki, LibraryInfo, SessionInfo, SlotInfo, TokenInfoFull
from .cryptoki.mechanisms import Ecdh1DeriveParams, EddsaParams, MechanismSpec, RsaOaepParams, RsaPssParams
from .errors import CryptokiError

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``cardki.open`` and ``cardki.Library`` load :mod:`cardki.api` at first use, so
    the C module (which never needs it) does not pay for importing it."""
    if name in ("open", "Library"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "open", "Library", "Cryptoki", "CryptokiError", "errors", "constants", "LibraryInfo", "SlotInfo", "TokenInfoFull",
    "SessionInfo", "MechanismSpec", "RsaPssParams", "RsaOaepParams", "Ecdh1DeriveParams", "EddsaParams",
    "CKA", "CKC", "CKD", "CKG", "CKK", "CKM", "CKO", "CKR", "CKS", "CKU", "CKZ",
]
