"""Reading an X.509 certificate that came from outside (a card's container).

cryptography parses a certificate's names, version and public key lazily, at
their first access, so a certificate that loads can still raise ValueError,
UnsupportedAlgorithm or InvalidVersion later, wherever a field happens to be read
(listing objects, C_GetAttributeValue, the Python API). :func:`read_certificate`
reads every field cardki uses once, up front: a certificate it returns is safe to
use, and one it refuses is simply unreadable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography.x509 costs ~30 ms to import: only a certificate needs it
    from cryptography import x509


def read_certificate(der: bytes) -> x509.Certificate | None:
    """``der`` as a certificate whose version, serial number, names and public key
    all parse; None when any of them does not (or when ``der`` is no certificate)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_der_x509_certificate(bytes(der))
        cert.version  # noqa: B018 - parsed at first access
        cert.serial_number  # noqa: B018
        cert.subject.public_bytes()
        cert.issuer.public_bytes()
        cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        return None
    except Exception:  # noqa: BLE001 - untrusted bytes: cryptography also raises e.g. KeyError on some names
        return None
    return cert
