"""The PIV applet (SP 800-73-4, with YubiKey's extensions) as a Cryptoki token.

:mod:`.card` speaks the applet's APDUs, :mod:`.mgmt` does the management-key
authentication, :mod:`.objects` turns what a key slot holds into Cryptoki
objects, and :mod:`.token` is the :class:`~cardki.token.base.Token` the engine uses.
"""

from .token import PivToken

__all__ = ["PivToken"]
