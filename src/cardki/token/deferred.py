"""A token built at its first use: the applet a card carries for sure, but that nobody may use.

A YubiKey's PIV profile says the card carries an OpenPGP application, so detection
gives it a token without an APDU, and the engine lists its slot. Most hosts then
only use the PIV slot; building the OpenPGP token would load its driver (its card
commands, parsers and cryptography's serialization) for nothing. A
:class:`DeferredToken` stands in its place: what listing the slots asks of a token
(:attr:`Token.applet`, :attr:`Token.applet_name`, :attr:`presence_generation`,
:meth:`close`) it answers itself; anything else (its token info, mechanisms,
objects, a login, ...) builds the token (no APDU) and asks it, so its errors are the
token's own. On the card (:mod:`.sharing`) it is the applet's token from detection
on: when another program expects that applet to stay selected, the card is given
back to it with the applet's own SELECT (:meth:`CardToken._select_applet`, which the
stand-in implements without the driver); the built token takes the stand-in's place
there and carries on from what it saw.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Dict, Generic, List, Tuple, TypeVar

from .base import MechanismInfo, TokenInfo, TokenObject
from .sharing import CardToken, SharedCard

TokenT = TypeVar("TokenT", bound=CardToken)


class DeferredToken(CardToken, Generic[TokenT]):
    """The stand-in for an applet's token until its first use (see the module doc).

    A subclass names the applet (:attr:`applet`, :attr:`applet_name`,
    :attr:`others_keep_selected`, as its token does), SELECTs it
    (:meth:`_select_applet`), and builds the token in :meth:`_build`."""

    def __init__(self, card: SharedCard) -> None:
        super().__init__(card)
        self._token: TokenT | None = None

    @abstractmethod
    def _build(self) -> TokenT:
        """The applet's token, made now without an APDU, constructed with
        ``replacing=self`` (it takes this stand-in's place on the card)."""

    def built(self) -> TokenT:
        """The applet's token, built at the first call (under the card's lock: another
        token's operation may need it too, to give the card back)."""
        token = self._token
        if token is None:
            with self._lock:
                token = self._token
                if token is None:
                    token = self._token = self._build()
        return token

    @property
    def is_built(self) -> bool:
        return self._token is not None

    # ------------------------------------------------------------------ sharing
    def _relogin(self) -> None:
        """Nothing: only the built token logs in (and restores its login itself)."""

    def _logged_in(self) -> bool:
        return False

    def _applet_is_selected(self) -> bool:
        """The token's own probe (another program's selection was found: the rare path)."""
        return self.built()._applet_is_selected()

    @property
    def presence_generation(self) -> int | None:
        return self._generation if self._token is None else self._token.presence_generation

    def close(self) -> None:
        if self._token is None:
            super().close()
        else:
            self._token.close()

    # ------------------------------------------------------------------ the token's
    def info(self) -> TokenInfo:
        return self.built().info()

    def mechanisms(self) -> Dict[int, MechanismInfo]:
        return self.built().mechanisms()

    def mechanism_flags(self, mechanism: int) -> int | None:
        return self.built().mechanism_flags(mechanism)

    def settle(self, obj: TokenObject) -> Dict[int, Any]:
        return self.built().settle(obj)

    def objects(self) -> List[TokenObject]:
        return self.built().objects()

    def objects_with_id(self, cka_id: bytes) -> List[TokenObject]:
        return self.built().objects_with_id(cka_id)

    def login(self, user_type: int, pin: bytes) -> None:
        self.built().login(user_type, pin)

    def logout(self) -> None:
        self.built().logout()

    def sign(self, key: TokenObject, mechanism: int, parameter: Any, data: bytes) -> bytes:
        return self.built().sign(key, mechanism, parameter, data)

    def decrypt(self, key: TokenObject, mechanism: int, parameter: Any, data: bytes) -> bytes:
        return self.built().decrypt(key, mechanism, parameter, data)

    def derive(self, key: TokenObject, mechanism: int, parameter: Any) -> bytes:
        return self.built().derive(key, mechanism, parameter)

    def generate_random(self, length: int) -> bytes:
        return self.built().generate_random(length)

    def set_pin(self, user_type: int, old_pin: bytes, new_pin: bytes) -> None:
        self.built().set_pin(user_type, old_pin, new_pin)

    def init_pin(self, new_pin: bytes) -> None:
        self.built().init_pin(new_pin)

    def init_token(self, so_pin: bytes, label: str) -> None:
        self.built().init_token(so_pin, label)

    def generate_key_pair(self, mechanism: int, public_template: Dict[int, Any],
                          private_template: Dict[int, Any]) -> Tuple[TokenObject, TokenObject]:
        return self.built().generate_key_pair(mechanism, public_template, private_template)

    def create_object(self, template: Dict[int, Any]) -> TokenObject:
        return self.built().create_object(template)

    def destroy_object(self, obj: TokenObject) -> None:
        self.built().destroy_object(obj)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._token!r})" if self._token is not None else \
            f"{type(self).__name__}(not built)"


__all__ = ["DeferredToken"]
