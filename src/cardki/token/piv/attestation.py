"""Checking a YubiKey PIV attestation: slot attestation -> F9 certificate -> a root.

ATTEST (firmware 4.3+) answers a certificate for a generated key's public key,
issued by the card's attestation key (slot F9), whose certificate (object
5FFF01) a Yubico CA issued -- on the virtual card, the simulator's own root
(``card.piv.attestation_root``). :func:`verify_attestation` checks that chain
against the roots the caller trusts and reads Yubico's extensions
(1.3.6.1.4.1.41482.3.3 firmware, .3.7 serial, .3.8 PIN/touch policy, .3.9 form
factor). The certificates come from a card: anything that does not parse or
verify raises :class:`AttestationError`, never another exception.

Host-side and pure (no card I/O): the API and the CLI call it with what the
token's :meth:`~cardki.token.piv.token.PivToken.attest` and
:meth:`~cardki.token.piv.token.PivToken.attestation_certificate` returned.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence, Tuple

from .constants import PinPolicy, TouchPolicy

if TYPE_CHECKING:  # cryptography.x509 is imported when a chain is checked
    from cryptography import x509

OID_FIRMWARE = "1.3.6.1.4.1.41482.3.3"
OID_SERIAL = "1.3.6.1.4.1.41482.3.7"
OID_POLICY = "1.3.6.1.4.1.41482.3.8"
OID_FORM_FACTOR = "1.3.6.1.4.1.41482.3.9"
#: The most certificates between F9's and a root the check follows (Yubico's newer
#: hierarchies put one or two intermediates there).
MAX_INTERMEDIATES = 4


class AttestationError(ValueError):
    """The attestation does not verify (or cannot be read); the message says which link."""


@dataclass(frozen=True)
class Attestation:
    """What a verified attestation says about the key (None where the certificate
    has no such extension)."""

    subject_public_key_info: bytes  # DER SPKI of the attested key
    firmware: Tuple[int, int, int] | None
    serial: int | None
    pin_policy: PinPolicy | None
    touch_policy: TouchPolicy | None
    form_factor: int | None
    chain: Tuple[bytes, ...]  # DER: the attestation, F9's certificate, intermediates used, the root


def _load(der: bytes, what: str) -> x509.Certificate:
    from cardki.certificate import read_certificate

    cert = read_certificate(bytes(der))
    if cert is None:
        raise AttestationError(f"the {what} is not a readable X.509 certificate")
    return cert


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key signed ``cert`` and its subject is ``cert``'s issuer."""
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # noqa: BLE001 - InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm alike
        return False
    return True


def _within_validity(cert: x509.Certificate, at: datetime.datetime, what: str) -> None:
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise AttestationError(f"the {what} is not valid at {at:%Y-%m-%d}")


def _extension(cert: x509.Certificate, oid: str) -> bytes | None:
    from cryptography import x509 as x509_module

    try:
        value = cert.extensions.get_extension_for_oid(x509_module.ObjectIdentifier(oid)).value
    except x509_module.ExtensionNotFound:
        return None
    except Exception:  # noqa: BLE001 - a damaged extension list: nothing to read
        raise AttestationError("the attestation's extensions cannot be read") from None
    return bytes(getattr(value, "value", b""))


def _der_integer(value: bytes) -> int | None:
    """A DER INTEGER's value (Yubico's serial extension), None if it is not one."""
    if len(value) < 3 or value[0] != 0x02 or value[1] != len(value) - 2 or value[1] > 8:
        return None
    return int.from_bytes(value[2:], "big", signed=True)


def read_extensions(cert: x509.Certificate) -> Tuple[Tuple[int, int, int] | None, int | None,
                                                      PinPolicy | None, TouchPolicy | None, int | None]:
    """(firmware, serial, PIN policy, touch policy, form factor) from Yubico's extensions."""
    firmware_raw = _extension(cert, OID_FIRMWARE)
    serial_raw = _extension(cert, OID_SERIAL)
    policy_raw = _extension(cert, OID_POLICY)
    form_raw = _extension(cert, OID_FORM_FACTOR)
    firmware = (firmware_raw[0], firmware_raw[1], firmware_raw[2]) if firmware_raw and len(firmware_raw) == 3 \
        else None
    serial = _der_integer(serial_raw) if serial_raw else None
    pin = PinPolicy.from_card(policy_raw[0]) if policy_raw and len(policy_raw) == 2 else None
    touch = TouchPolicy.from_card(policy_raw[1]) if policy_raw and len(policy_raw) == 2 else None
    form = form_raw[0] if form_raw and len(form_raw) == 1 else None
    return firmware, serial, pin, touch, form


def verify_attestation(attestation_der: bytes, device_der: bytes, roots: Sequence[bytes], *,
                       intermediates: Sequence[bytes] = (), public_key_info: bytes | None = None,
                       at: datetime.datetime | None = None) -> Attestation:
    """Check that ``attestation_der`` (ATTEST's answer) was issued by ``device_der``
    (the F9 certificate), which chains to one of ``roots`` directly or through
    ``intermediates`` (all DER); every certificate must be valid at ``at`` (now by
    default). ``public_key_info``, if given, must be the attested key's DER SPKI (the
    slot's public key as the token lists it). Returns what the attestation says;
    raises :class:`AttestationError` naming the first link that fails."""
    from cryptography.hazmat.primitives import serialization

    when = at or datetime.datetime.now(datetime.UTC)
    attestation = _load(attestation_der, "attestation")
    device = _load(device_der, "attestation key's (F9) certificate")
    anchors = [_load(root, "root certificate") for root in roots]
    pool = [_load(cert, "intermediate certificate") for cert in intermediates]
    if not anchors:
        raise AttestationError("no root certificate to check the attestation against")
    if not _issued_by(attestation, device):
        raise AttestationError("the attestation was not issued by the card's attestation key (F9)")
    _within_validity(attestation, when, "attestation")
    _within_validity(device, when, "F9 certificate")
    chain = [attestation, device]
    current = device
    for _ in range(MAX_INTERMEDIATES + 1):
        root = next((anchor for anchor in anchors if _issued_by(current, anchor)), None)
        if root is not None:
            _within_validity(root, when, "root certificate")
            chain.append(root)
            break
        parent = next((cert for cert in pool if cert not in chain and _issued_by(current, cert)), None)
        if parent is None:
            raise AttestationError("the F9 certificate does not chain to a trusted root")
        _within_validity(parent, when, "intermediate certificate")
        chain.append(parent)
        current = parent
    else:
        raise AttestationError("the chain to a trusted root is too long")
    spki = attestation.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    if public_key_info is not None and bytes(public_key_info) != spki:
        raise AttestationError("the attestation is for another key than the slot's")
    firmware, serial, pin, touch, form = read_extensions(attestation)
    return Attestation(spki, firmware, serial, pin, touch, form,
                       tuple(cert.public_bytes(serialization.Encoding.DER) for cert in chain))

