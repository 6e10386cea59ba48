"""cardki.spki against cryptography: the SubjectPublicKeyInfo and point it writes are
cryptography's bytes for every key type a card holds, and what it reads back is
either the key cryptography's load_der_public_key reads or None (then cryptography
decides), for well-formed, edited and hostile input alike."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa, x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from cardki import spki

DER, SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def _keys() -> list:
    keys: list = [rsa.generate_private_key(65537, bits).public_key() for bits in (1024, 2048, 3072)]
    keys.append(rsa.generate_private_key(3, 2048).public_key())
    keys += [ec.generate_private_key(curve).public_key() for curve in (ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1())]
    keys += [ed25519.Ed25519PrivateKey.generate().public_key(), x25519.X25519PrivateKey.generate().public_key()]
    return keys


KEYS = _keys()


def _same_key(a: Any, b: Any) -> bool:
    return a.public_bytes(DER, SPKI) == b.public_bytes(DER, SPKI)


@pytest.mark.parametrize("key", KEYS, ids=lambda key: type(key).__name__)
def test_encode_and_the_point_are_cryptographys_bytes(key: Any) -> None:
    assert spki.encode(key) == key.public_bytes(DER, SPKI)
    if isinstance(key, ec.EllipticCurvePublicKey):
        assert spki.point_bytes(key) == key.public_bytes(serialization.Encoding.X962,
                                                         serialization.PublicFormat.UncompressedPoint)
    elif not isinstance(key, rsa.RSAPublicKey):
        assert spki.point_bytes(key) == key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        with pytest.raises(ValueError):
            spki.point_bytes(key)


@pytest.mark.parametrize("key", KEYS, ids=lambda key: type(key).__name__)
def test_decode_reads_back_what_cryptography_wrote(key: Any) -> None:
    decoded = spki.decode(key.public_bytes(DER, SPKI))
    assert decoded is not None and type(decoded) is type(key) and _same_key(decoded, key)


def test_other_key_types_and_forms_are_left_to_cryptography() -> None:
    dsa_key = dsa.generate_private_key(2048).public_key()
    assert spki.encode(dsa_key) == dsa_key.public_bytes(DER, SPKI)  # encoded by cryptography itself
    assert spki.decode(dsa_key.public_bytes(DER, SPKI)) is None
    other_curve = ec.generate_private_key(ec.SECP224R1()).public_key()  # a curve cardki.curves does not list
    assert spki.encode(other_curve) == other_curve.public_bytes(DER, SPKI)
    assert spki.decode(other_curve.public_bytes(DER, SPKI)) is None
    compressed = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    der = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200") + compressed
    assert serialization.load_der_public_key(der) is not None and spki.decode(der) is None


def _edits() -> st.SearchStrategy[bytes]:
    """A key's SPKI with bytes set, flipped, cut, dropped or inserted."""
    def edit(der: bytes, kind: str, position: int, value: int) -> bytes:
        at = position % (len(der) + 1)
        if kind == "set" and at < len(der):
            return der[:at] + bytes([value]) + der[at + 1:]
        if kind == "flip" and at < len(der):
            return der[:at] + bytes([der[at] ^ (1 << (value % 8))]) + der[at + 1:]
        if kind == "cut":
            return der[:at]
        if kind == "drop" and at < len(der):
            return der[:at] + der[at + 1:]
        return der[:at] + bytes([value]) + der[at:]
    sources = [key.public_bytes(DER, SPKI) for key in KEYS]
    return st.builds(edit, st.sampled_from(sources), st.sampled_from(["set", "flip", "cut", "drop", "insert"]),
                     st.integers(0, 600), st.integers(0, 255))


@settings(max_examples=400, deadline=None)
@given(st.one_of(_edits(), st.binary(max_size=120)))
def test_what_decode_takes_cryptography_takes_the_same_way(der: bytes) -> None:
    decoded = spki.decode(der)  # never raises
    if decoded is None:
        return
    try:
        loaded = serialization.load_der_public_key(der)
    except Exception as error:  # noqa: BLE001 - any refusal is a disagreement
        raise AssertionError(f"cardki.spki read a key cryptography refuses: {der.hex()} ({error!r})") from None
    assert type(loaded) is type(decoded) and _same_key(loaded, decoded)


@pytest.mark.parametrize("key", KEYS, ids=lambda key: type(key).__name__)
def test_a_key_is_told_apart_in_a_process_that_meets_it_first_through_cardki(key: Any) -> None:
    """The type checks ask cryptography's ed25519, x25519 and rsa modules only once they
    are loaded: a fresh interpreter that gets the key from spki.decode (which imports its
    module) tells it apart from the others exactly as isinstance does here."""
    import json
    import subprocess
    import sys

    script = f"""
import json
from cardki import spki
from cardki.token.attributes import is_public_key
key = spki.decode(bytes.fromhex({spki.encode(key).hex()!r}))
print(json.dumps([is_public_key(key), spki.is_rsa_public_key(key), spki.is_ed25519_public_key(key),
                  spki.is_x25519_public_key(key), spki.is_ed25519_key(key), spki.is_x25519_key(key)]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    expected = [True, isinstance(key, rsa.RSAPublicKey), isinstance(key, ed25519.Ed25519PublicKey),
                isinstance(key, x25519.X25519PublicKey), isinstance(key, ed25519.Ed25519PublicKey),
                isinstance(key, x25519.X25519PublicKey)]
    assert json.loads(done.stdout) == expected
