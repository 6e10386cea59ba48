"""The PIV card management key: CKU_SO's "PIN" (as ykcs11 does it).

The SO PIN is the management key, written as hex (48 digits for 3DES and
AES-192, 32 for AES-128, 64 for AES-256) or given as the raw key bytes.
Authentication is the SP 800-73-4 mutual challenge-response with GENERAL
AUTHENTICATE on key reference 9B: the card proves it knows the key too.
The key bytes live in a ``bytearray`` that :meth:`ManagementKey.wipe` zeroes.

A *new* management key (C_SetPIN as SO, C_InitToken) is hex only: 32 raw bytes
and 32 hex digits would otherwise read the same. Its algorithm stays the current
one unless the new value's length says otherwise (:func:`new_management_key`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

from cardki import errors
from cardki.apdu import SecurityStatusError
from cardki.apdu.errors import IncorrectParametersError

from .card import PivCard
from .constants import ManagementKeyAlgorithm

if TYPE_CHECKING:  # the cipher module is imported at the first SO login, not at startup
    from cryptography.hazmat.primitives.ciphers import Cipher

#: Management key algorithm id -> (key length, block length).
MANAGEMENT_ALGORITHMS = {a.value: (a.key_length, a.block_length) for a in ManagementKeyAlgorithm}



def _same(a: bytes, b: bytes) -> bool:
    """Constant-time equality (hmac imported here: it loads the system's libcrypto, which
    a signature never needs; see cardki.digests)."""
    import hmac

    return hmac.compare_digest(a, b)

class ManagementKey:
    """A management key and its algorithm, able to authenticate to a PIV card."""

    def __init__(self, algorithm: int, key: bytes) -> None:
        self.algorithm = ManagementKeyAlgorithm(algorithm)
        self._key = bytearray(key)

    def _cipher(self) -> Cipher:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        if self.algorithm == ManagementKeyAlgorithm.TDES:
            from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

            return Cipher(TripleDES(bytes(self._key)), modes.ECB())  # nosec - PIV's own choice
        return Cipher(algorithms.AES(bytes(self._key)), modes.ECB())  # nosec - one block, as PIV specifies

    def _encrypt(self, block: bytes) -> bytes:
        encryptor = self._cipher().encryptor()
        return encryptor.update(block) + encryptor.finalize()

    def _decrypt(self, block: bytes) -> bytes:
        decryptor = self._cipher().decryptor()
        return decryptor.update(block) + decryptor.finalize()

    def authenticate(self, card: PivCard) -> None:
        """Mutual authentication; a wrong key raises :class:`errors.PinIncorrect`,
        a card that cannot prove the key raises :class:`errors.DeviceError`."""
        block = self.algorithm.block_length
        witness = card.management_witness(self.algorithm)
        if len(witness) != block:
            raise errors.DeviceError("the card's witness has the wrong size")
        challenge = os.urandom(block)
        try:
            answer = card.management_respond(self.algorithm, self._decrypt(witness), challenge)
        except (SecurityStatusError, IncorrectParametersError):
            raise errors.PinIncorrect(None, "The management key is incorrect") from None
        if not _same(answer, self._encrypt(challenge)):
            raise errors.DeviceError("the card did not prove knowledge of the management key")

    def set_on(self, card: PivCard, *, require_touch: bool) -> None:
        """SET MANAGEMENT KEY to this key (the card must be authenticated with the old one)."""
        card.set_management_key(self.algorithm, bytes(self._key), require_touch=require_touch)

    def same_key(self, other: ManagementKey) -> bool:
        """Whether ``other`` is this very key (constant time)."""
        return self.algorithm == other.algorithm and _same(bytes(self._key), bytes(other._key))

    def copy(self) -> ManagementKey:
        return ManagementKey(self.algorithm, bytes(self._key))

    def wipe(self) -> None:
        for index in range(len(self._key)):
            self._key[index] = 0

    def __repr__(self) -> str:  # never the key
        return f"ManagementKey({self.algorithm.name})"


def parse_management_key(secret: bytes, algorithm: int, allowed: Sequence[int]) -> ManagementKey:
    """The management key from CKU_SO's PIN: hex digits or raw bytes of the right length."""
    if algorithm not in MANAGEMENT_ALGORITHMS or algorithm not in allowed:
        raise errors.DeviceError(f"unsupported management key algorithm {algorithm:02X}")
    key_length = ManagementKeyAlgorithm(algorithm).key_length
    text = bytes(secret).strip()
    if len(text) == 2 * key_length:
        try:
            return ManagementKey(algorithm, bytes.fromhex(text.decode("ascii")))
        except (UnicodeDecodeError, ValueError):
            raise errors.PinInvalid("the management key must be hexadecimal") from None
    if len(secret) == key_length:
        return ManagementKey(algorithm, bytes(secret))
    raise errors.PinLenRange(f"this management key needs {2 * key_length} hex digits")


def new_management_key(secret: bytes, current: ManagementKeyAlgorithm, allowed: Sequence[int],
                       algorithm: ManagementKeyAlgorithm | None = None) -> ManagementKey:
    """A new management key from hex digits. Its algorithm: ``algorithm`` if given, else
    the ``current`` one when the length fits it, else the one the length names (32
    digits AES-128, 64 AES-256, 48 AES-192 where the card has AES, else 3DES).
    A length no allowed algorithm has raises PinLenRange; not hex, PinInvalid."""
    text = bytes(secret).strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise errors.PinInvalid("a new management key is written as hex digits") from None
    if algorithm is None:
        if len(key) == current.key_length and current in allowed:
            algorithm = current
        else:
            by_length = {16: [ManagementKeyAlgorithm.AES128], 32: [ManagementKeyAlgorithm.AES256],
                         24: [ManagementKeyAlgorithm.AES192, ManagementKeyAlgorithm.TDES]}
            fitting = [a for a in by_length.get(len(key), []) if a in allowed]
            if not fitting:
                lengths = sorted({2 * ManagementKeyAlgorithm(a).key_length for a in allowed})
                raise errors.PinLenRange(f"a management key has {' or '.join(map(str, lengths))} hex digits here")
            algorithm = fitting[0]
    if algorithm not in allowed:
        raise errors.ArgumentsBad(f"this card has no {algorithm.name} management keys")
    if len(key) != algorithm.key_length:
        raise errors.PinLenRange(f"a {algorithm.name} management key has {2 * algorithm.key_length} hex digits")
    return ManagementKey(algorithm, key)
