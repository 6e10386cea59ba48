"""The PIV applet (SP 800-73-4, with YubiKey's extensions) as a Cryptoki token.

:mod:`.constants` names the card's numbers (algorithms, policies, INS) as enums,
:mod:`.card` speaks the applet's APDUs, :mod:`.mgmt` does the management-key
authentication, :mod:`.objects` turns what a key slot holds into Cryptoki
objects, :mod:`.keys` checks key templates and turns keys into IMPORT's parts,
:mod:`.attestation` checks an attestation chain (host-side), and :mod:`.token`
is the :class:`~cardki.token.base.Token` the engine uses.
"""

from .token import PivToken

__all__ = ["PivToken"]
