"""cardki: a PKCS#11 (Cryptoki) module for PIV and OpenPGP smart cards and YubiKeys.

``cardki.open()`` (:mod:`cardki.api`) is the everyday Python API: library ->
slots -> token -> session -> keys that sign, decrypt and derive.
``cardki.Cryptoki`` is the library itself (the same engine the C ABI drives);
``cardki.errors`` holds one exception class per CKR_ code and
``cardki.constants`` the spec's constants as enums.

Everything here is loaded at first use, so a program (or the C library) pays
only for what it touches: ``import cardki`` costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from . import constants, errors
    from .api import Library, open
    from .constants import CKA, CKC, CKD, CKG, CKK, CKM, CKO, CKR, CKS, CKU, CKZ
    from .cryptoki.engine import Cryptoki
    from .cryptoki.info import LibraryInfo, SessionInfo, SlotInfo, TokenInfoFull
    from .cryptoki.mechanisms import Ecdh1DeriveParams, EddsaParams, MechanismSpec, RsaOaepParams, RsaPssParams
    from .errors import CryptokiError

#: Public name -> the module that defines it.
_HOMES = {
    "open": "cardki.api", "Library": "cardki.api",
    "Cryptoki": "cardki.cryptoki.engine",
    "LibraryInfo": "cardki.cryptoki.info", "SlotInfo": "cardki.cryptoki.info",
    "TokenInfoFull": "cardki.cryptoki.info", "SessionInfo": "cardki.cryptoki.info",
    "CryptokiError": "cardki.errors",
    **{name: "cardki.cryptoki.mechanisms"
       for name in ("MechanismSpec", "RsaPssParams", "RsaOaepParams", "Ecdh1DeriveParams", "EddsaParams")},
    **{name: "cardki.constants" for name in ("CKA", "CKC", "CKD", "CKG", "CKK", "CKM", "CKO", "CKR", "CKS", "CKU",
                                             "CKZ")},
}


def __getattr__(name: str) -> Any:
    if name in ("errors", "constants"):
        return importlib.import_module(f"cardki.{name}")
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "open", "Library", "Cryptoki", "CryptokiError", "errors", "constants", "LibraryInfo", "SlotInfo", "TokenInfoFull",
    "SessionInfo", "MechanismSpec", "RsaPssParams", "RsaOaepParams", "Ecdh1DeriveParams", "EddsaParams",
    "CKA", "CKC", "CKD", "CKG", "CKK", "CKM", "CKO", "CKR", "CKS", "CKU", "CKZ",
]
