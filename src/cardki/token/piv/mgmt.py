"""The PIV card management key: CKU_SO's "PIN" (as ykcs11 does it).

The SO PIN is the management key, written as hex (48 digits for 3DES and
AES-192, 32 for AES-128, 64 for AES-256) or given as the raw key bytes.
Authentication is the SP 800-73-4 mutual challenge-response with GENERAL
AUTHENTICATE on key reference 9B: the card proves it knows the key too.
The key bytes live in a ``bytearray`` that :meth:`ManagementKey.wipe` zeroes.
"""

from __future__ import annotations

import hmac
import os
from typing import TYPE_CHECKING, Sequence

from cardki import errors
from cardki.apdu import SecurityStatusError
from cardki.apdu.errors import IncorrectParametersError

from .card import PivCard

if TYPE_CHECKING:  # the cipher module is imported at the first SO login, not at startup
    from cryptography.hazmat.primitives.ciphers import Cipher

#: Management key algorithm id -> (key length, block length).
MANAGEMENT_ALGORITHMS = {0x03: (24, 8), 0x08: (16, 16), 0x0A: (24, 16), 0x0C: (32, 16)}


class ManagementKey:
    """A management key and its algorithm, able to authenticate to a PIV card."""

    def __init__(self, algorithm: int, key: bytes) -> None:
        self.algorithm = algorithm
        self._key = bytearray(key)

    def _cipher(self) -> Cipher:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        if self.algorithm == 0x03:
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
        _, block = MANAGEMENT_ALGORITHMS[self.algorithm]
        witness = card.management_witness(self.algorithm)
        if len(witness) != block:
            raise errors.DeviceError("the card's witness has the wrong size")
        challenge = os.urandom(block)
        try:
            answer = card.management_respond(self.algorithm, self._decrypt(witness), challenge)
        except (SecurityStatusError, IncorrectParametersError):
            raise errors.PinIncorrect(None, "The management key is incorrect") from None
        if not hmac.compare_digest(answer, self._encrypt(challenge)):
            raise errors.DeviceError("the card did not prove knowledge of the management key")

    def wipe(self) -> None:
        for index in range(len(self._key)):
            self._key[index] = 0


def parse_management_key(secret: bytes, algorithm: int, allowed: Sequence[int]) -> ManagementKey:
    """The management key from CKU_SO's PIN: hex digits or raw bytes of the right length."""
    if algorithm not in MANAGEMENT_ALGORITHMS or algorithm not in allowed:
        raise errors.DeviceError(f"unsupported management key algorithm {algorithm:02X}")
    key_length, _ = MANAGEMENT_ALGORITHMS[algorithm]
    text = bytes(secret).strip()
    if len(text) == 2 * key_length:
        try:
            return ManagementKey(algorithm, bytes.fromhex(text.decode("ascii")))
        except (UnicodeDecodeError, ValueError):
            raise errors.PinInvalid("the management key must be hexadecimal") from None
    if len(secret) == key_length:
        return ManagementKey(algorithm, bytes(secret))
    raise errors.PinLenRange(f"this management key needs {2 * key_length} hex digits")
