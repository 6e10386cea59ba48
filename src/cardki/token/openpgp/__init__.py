"""The OpenPGP card application (spec 3.4, and a YubiKey's OpenPGP applet), below
the token: :class:`OpenPgpCard` sends its commands, :mod:`.data` parses its data
objects into frozen values, :mod:`.keys` reads public keys and builds key imports,
:mod:`.constants` holds its numbers as enums, :mod:`.application` what detection
and profiles need of it (loaded without the rest).

The names below load their module when first used: a YubiKey's PIV detection
reads the OpenPGP profiles (which import :mod:`.application` from this package)
and must not pay for the card's parsers or cryptography's serialization."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cardki.apdu import TerminatedError, TouchTimeoutError

if TYPE_CHECKING:
    from .application import OPENPGP_AID
    from .card import OpenPgpCard, PinStatus, Secret
    from .constants import (
        AlgorithmId,
        Do,
        EcImportFormat,
        ExtendedCapability,
        KdfAlgorithm,
        KdfHash,
        KeyRef,
        KeyStatus,
        Password,
        Pw,
        RsaImportFormat,
        Uif,
    )
    from .data import (
        Aid,
        AlgorithmAttributes,
        AlgorithmInformation,
        ApduLimits,
        ApplicationRelatedData,
        CardCapabilities,
        CardholderData,
        EcAttributes,
        ExtendedCapabilities,
        ExtendedLengthInformation,
        Kdf,
        PwStatus,
        RsaAttributes,
        UnknownAttributes,
        parse_algorithm_attributes,
    )
    from .keys import PrivateKey, PublicKey, attributes_for_private_key, parse_public_key
    from .profile import CardQuirks

#: Public name -> the module that defines it.
_HOMES = {
    "OPENPGP_AID": "application", "CardQuirks": "profile", "KeyRef": "constants",
    **dict.fromkeys(("OpenPgpCard", "PinStatus", "Secret"), "card"),
    **dict.fromkeys(("AlgorithmId", "Do", "EcImportFormat", "ExtendedCapability", "KdfAlgorithm", "KdfHash",
                     "KeyStatus", "Password", "Pw", "RsaImportFormat", "Uif"), "constants"),
    **dict.fromkeys(("Aid", "AlgorithmAttributes", "AlgorithmInformation", "ApduLimits", "ApplicationRelatedData",
                     "CardCapabilities", "CardholderData", "EcAttributes", "ExtendedCapabilities",
                     "ExtendedLengthInformation", "Kdf", "PwStatus", "RsaAttributes", "UnknownAttributes",
                     "parse_algorithm_attributes"), "data"),
    **dict.fromkeys(("PrivateKey", "PublicKey", "attributes_for_private_key", "parse_public_key"), "keys"),
}

def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "Aid",
    "AlgorithmAttributes",
    "AlgorithmId",
    "AlgorithmInformation",
    "ApduLimits",
    "ApplicationRelatedData",
    "CardCapabilities",
    "CardQuirks",
    "CardholderData",
    "Do",
    "EcAttributes",
    "EcImportFormat",
    "ExtendedCapabilities",
    "ExtendedCapability",
    "ExtendedLengthInformation",
    "Kdf",
    "KdfAlgorithm",
    "KdfHash",
    "KeyRef",
    "KeyStatus",
    "OPENPGP_AID",
    "OpenPgpCard",
    "Password",
    "PinStatus",
    "PrivateKey",
    "PublicKey",
    "Pw",
    "PwStatus",
    "RsaAttributes",
    "RsaImportFormat",
    "Secret",
    "TerminatedError",
    "TouchTimeoutError",
    "Uif",
    "UnknownAttributes",
    "attributes_for_private_key",
    "parse_algorithm_attributes",
    "parse_public_key",
]
