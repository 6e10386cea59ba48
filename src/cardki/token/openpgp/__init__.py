"""The OpenPGP card application (spec 3.4, and a YubiKey's OpenPGP applet), below
the token: :class:`OpenPgpCard` sends its commands, :mod:`.data` parses its data
objects into frozen values, :mod:`.keys` reads public keys and builds key imports,
:mod:`.constants` holds its numbers as enums."""

from __future__ import annotations

from cardki.apdu import TerminatedError, TouchTimeoutError

from .card import CardQuirks, OpenPgpCard, PinStatus, Secret
from .constants import (
    OPENPGP_AID,
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
