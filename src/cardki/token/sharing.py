"""What every card token shares: one card used in turn by several applets and programs.

A card is used by more than this token: by the token of another applet on the same
card (a YubiKey shows its PIV and its OpenPGP application as two tokens), and by
other programs (gpg's scdaemon, ykman, another cardki). Both can select another
applet between two of our operations, which drops our applet's PIN status; another
program can also reset the card. :class:`CardToken` handles all of that once, for
every applet:

* every operation runs through :meth:`CardToken._run`: one PC/SC transaction (so no
  other program's APDUs come between ours), and failures become the Cryptoki error
  of the one table (:func:`cardki.token.card_errors.card_error`);
* before it, the applet is re-selected when this process selected another applet of
  the card since (:attr:`SharedCard.selected`), or after a reset; the login is then
  re-established *only if this application is logged in* (:meth:`CardToken._relogin`);
* when the card's answer shows it lost our state anyway (another program's SELECT:
  6D00/6E00, or the applet's own signs; a lost PIN status: 6982 while logged in; a
  reset), the same restore runs and the operation is retried exactly once;
* the card is given back to an applet whose other programs expect it to stay
  selected (:attr:`CardToken.others_keep_selected`: OpenPGP, for gpg's scdaemon 2.2,
  which never re-selects and fails with "Card error" until restarted otherwise): a
  transaction that found the card on that applet (left there by cardki's own token of
  it or by another program, which cardki cannot tell apart) and selected another one
  selects it again at its end; so does cardki when it closes the card. Another
  program's selection cardki finds out when its applet is gone (6D00/6E00), with a
  harmless probe of each other applet (:meth:`CardToken._applet_is_selected`,
  OpenPGP's GET DATA 4F), only on that path. The other program's PIN state cannot
  be given back: scdaemon 2.2 copes when it verifies before each signature (forcesig);
* a reset bumps :attr:`~cardki.token.base.Token.presence_generation`, so the engine
  re-reads the objects: the other program may have changed them. A reset is reported
  once per connection, so :class:`SharedCard` counts them and every token of the
  card catches up at its next operation.

PINs a token keeps to re-establish its login live in ``bytearray`` buffers that
:func:`wipe` overwrites at logout. In the common case (nobody else used the card)
this costs no APDU at all.
"""

from __future__ import annotations

import _thread  # its locks, without the threading module (see test_import_budget)
from abc import abstractmethod
from typing import Callable, ClassVar, List, Tuple, Type, TypeVar

from cardki import errors
from cardki.apdu import ApduError, ClaNotSupportedError, InsNotSupportedError, SecurityStatusError
from cardki.transport import CardResetError, CardTransport, SlotError

from ..log import get_logger
from .base import Token
from .card_errors import card_error

logger = get_logger(__name__)
T = TypeVar("T")


def wipe(buffer: bytearray | None) -> None:
    """Overwrite a secret (a PIN, a derived PIN) with zeros where it lies."""
    if buffer is None:
        return
    for index in range(len(buffer)):
        buffer[index] = 0


class SharedCard:
    """One card behind one connection, which the tokens of its applets use in turn.

    It holds what those tokens must agree on: the lock that keeps their APDUs apart,
    which applet this process selected last, how many resets the connection reported,
    what detection learnt about the device, and how many tokens still use the
    connection (the last one closes it)."""

    def __init__(self, transport: CardTransport) -> None:
        self.transport = transport
        self.lock = _thread.RLock()
        self.selected: str | None = None
        """The applet this process selected last (a driver's ``applet`` name); None
        when unknown (at first, and after a reset, when the card selects nothing).
        Another program may have selected another since: tokens find that out from
        the card's answers."""
        self.resets = 0
        """Resets this connection reported; each token compares it with what it saw."""
        self.version: Tuple[int, int, int] | None = None
        """The device's firmware version, once a token read it (a YubiKey's GET VERSION:
        detection's probe, or a token's first need of it): the tokens of its other
        applets need not ask again."""
        self.serial: int | None = None
        """The device's serial number, once a token read it (PIV's GET SERIAL, at the
        first ask: detection does not read it), for the tokens of its other applets."""
        self.tokens: List[CardToken] = []
        """The tokens using the card (the applets cardki knows on it)."""
        self.keeper: CardToken | None = None
        """The token of an applet other programs expect to stay selected (OpenPGP)."""

    def attach(self, token: CardToken) -> None:
        self.tokens.append(token)
        if token.others_keep_selected and self.keeper is None:
            self.keeper = token

    def replace(self, old: CardToken, new: CardToken) -> None:
        """``new`` takes ``old``'s place among the card's tokens, and its keeper role (a
        deferred token's implementation, built at its first use: :mod:`.deferred`)."""
        self.tokens[self.tokens.index(old)] = new
        if self.keeper is old:
            self.keeper = new

    def release(self, token: CardToken) -> None:
        """One token is done with the card; the last one gives the card back (see the
        module doc) and closes the connection."""
        if token in self.tokens:
            self.tokens.remove(token)
        if self.tokens:
            if token is self.keeper:
                self.keeper = None  # nobody shows that applet any more: nothing to give back
            return
        keeper = self.keeper
        if keeper is not None and self.selected not in (None, keeper.applet):
            try:
                with self.transport.transaction():
                    keeper._give_back()
            except SlotError:
                pass  # the card is gone
        try:
            self.transport.close()
        except SlotError:
            pass

    def reset_seen(self) -> None:
        self.resets += 1
        self.selected = None


class CardToken(Token):
    """A token on a (possibly shared) card: the sharing rules of the module doc.

    A driver's token subclasses it, names its applet (:attr:`Token.applet`, the
    profiles' ``applet``, and :attr:`Token.applet_name`) and implements :meth:`_select_applet`, :meth:`_relogin`,
    :meth:`_logged_in`; it may add to :attr:`lost_selection` and override
    :meth:`_state_lost` and :meth:`_touch_timed_out`."""

    lost_selection: ClassVar[Tuple[Type[Exception], ...]] = (InsNotSupportedError, ClaNotSupportedError)
    """Answers that mean "our applet is not (or no longer) selected": restore, retry once."""
    others_keep_selected: ClassVar[bool] = False
    """Other programs using this applet expect it to stay selected between their
    commands (gpg's scdaemon 2.2 with OpenPGP): cardki gives the card back to it."""

    def __init__(self, card: SharedCard | CardTransport, *, replacing: CardToken | None = None) -> None:
        """``replacing``: the deferred token this one implements (:mod:`.deferred`); it
        takes that one's place on the card and carries on from what it saw (the resets
        since detection, which the first operation catches up with)."""
        self.shared = card if isinstance(card, SharedCard) else SharedCard(card)
        self.transport = self.shared.transport
        self._lock = self.shared.lock
        self._generation = 0
        self._needs_restore = False
        self._resets_seen = self.shared.resets
        self._restored_in_transaction = False
        self._transactions = 0
        """This token's transactions open now (what must be read inside the operation
        running now joins the innermost: PIV's firmware version)."""
        if replacing is None:
            self.shared.attach(self)
        else:
            self.shared.replace(replacing, self)
            self._generation, self._resets_seen = replacing._generation, replacing._resets_seen
            self._needs_restore = replacing._needs_restore

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _select_applet(self) -> None:
        """SELECT this token's applet (which drops its PIN status on every card known)."""

    @abstractmethod
    def _relogin(self) -> None:
        """Re-establish this application's login right after :meth:`_select_applet`, if
        it is logged in (nothing otherwise). A PIN the card no longer accepts raises
        :class:`errors.UserNotLoggedIn` after forgetting it (never retried)."""

    @abstractmethod
    def _logged_in(self) -> bool:
        """Whether this application is logged in (so a lost PIN status is ours to restore)."""

    def _state_lost(self) -> None:  # noqa: B027 - optional hook
        """The card was reset (by another program): drop what may have changed with it."""

    def _touch_timed_out(self) -> bool:
        """After a 6982 from a key that needs a touch: whether that was the touch timing
        out (then the operation is not retried) rather than a lost PIN status."""
        return False

    def _applet_is_selected(self) -> bool:
        """Whether the card has this token's applet selected now, found out by a harmless
        command of that applet (only asked after another token's applet was found
        deselected by another program); False when the applet has no such probe."""
        return False

    def _foreign_selection(self) -> CardToken | None:
        """The card's other token whose applet another program has selected now, if it is
        one whose programs expect it to stay selected."""
        for other in self.shared.tokens:
            if other is self or other.applet == self.applet or not other.others_keep_selected:
                continue
            try:
                if other._applet_is_selected():
                    return other
            except (ApduError, ValueError):
                continue
        return None

    def _give_back(self) -> None:
        """Select this token's applet again for the program that had it selected."""
        try:
            self._select_applet()
        except (ApduError, errors.CryptokiError, SlotError, ValueError) as exc:
            logger.debug("could not select %s again for the program that had it: %s", self.applet_name, exc)
            return
        self.shared.selected = self.applet

    # ------------------------------------------------------------------ sharing
    @property
    def presence_generation(self) -> int | None:
        return self._generation

    def _on_reset(self) -> None:
        """The card was reset: our applet selection and login are gone."""
        self._generation += 1
        self._needs_restore = True
        self._state_lost()

    def _notice_reset(self) -> None:
        """This token's exchange reported a reset: tell the card's other tokens too."""
        self.shared.reset_seen()
        self._resets_seen = self.shared.resets
        self._on_reset()

    def _catch_up(self) -> None:
        """Another token of the card saw a reset since our last operation (the caller
        compared the counts)."""
        self._resets_seen = self.shared.resets
        self._on_reset()

    def _begin_transaction(self) -> None:
        """Take the card for one operation (after a reset it reports, take it again) and
        catch up with what the card's other tokens saw. Plain methods around a try, not a
        context manager: every signature passes here, and a generator's costs a few us."""
        try:
            self.transport.begin_transaction()
        except CardResetError:
            self._notice_reset()
            self.transport.begin_transaction()
        self._transactions += 1
        try:
            self._restored_in_transaction = False
            if self._resets_seen != self.shared.resets:
                self._catch_up()
        except BaseException:
            self._end_transaction()
            raise

    def _end_transaction(self) -> None:
        self._transactions -= 1
        try:
            self.transport.end_transaction()
        except SlotError:
            pass  # the card is gone or was reset; the next operation finds out

    def _restore(self) -> None:
        """Select this token's applet and re-establish the application's login."""
        self._select_applet()
        self.shared.selected = self.applet
        self._relogin()
        self._needs_restore = False
        self._restored_in_transaction = True

    def _restore_once(self) -> None:
        """:meth:`_restore`, unless this transaction did already (for reads that must not
        trust the selection: another program's applet answers "not found" too)."""
        if not self._restored_in_transaction:
            self._restore()

    def _run(self, operation: Callable[[], T], *, relogin_on_6982: bool = True, touch: bool = False) -> T:
        """Run ``operation`` (card I/O) in a transaction, restoring state and retrying once
        when the card lost it; translate every failure into a Cryptoki error.

        ``relogin_on_6982``: a 6982 while logged in means the PIN status was lost (False
        where it cannot: checking a PIN, or a key that needs a new PIN for each use).
        ``touch``: the key needs a touch, so a 6982 may mean the touch timed out
        (:meth:`_touch_timed_out` tells), which is not retried."""
        with self._lock:
            try:
                self._begin_transaction()
                try:
                    selected, keeper = self.shared.selected, self.shared.keeper
                    owner = keeper if keeper is not None and selected == keeper.applet else None
                    try:
                        # Restore first after a reset, or when this process selected another
                        # applet of the card since (which dropped our PIN status).
                        if self._needs_restore or (selected is not None and selected != self.applet):
                            self._restore()
                        try:
                            return operation()
                        except CardResetError:
                            self._notice_reset()
                        except self.lost_selection:
                            owner = self._foreign_selection() or owner
                        except SecurityStatusError:
                            if not (relogin_on_6982 and self._logged_in()):
                                raise
                            if touch and self._touch_timed_out():
                                raise errors.FunctionCanceled("the key's touch was not confirmed") from None
                        self._restore()
                        return operation()
                    finally:
                        if owner is not None and owner is not self and self.shared.selected != owner.applet:
                            owner._give_back()
                finally:
                    self._end_transaction()
            except CardResetError as exc:  # a second reset in a row: give up for this call
                self._notice_reset()
                raise card_error(exc) from None
            except (ApduError, SlotError, ValueError, KeyError) as exc:
                raise card_error(exc) from None

    def _end_card_login(self, drop: Callable[[], None]) -> None:
        """At logout, after the credentials are forgotten: ``drop`` the card's security
        status (VERIFY P1=FF, or a SELECT); a failure is only logged (the card forgets
        it anyway at the next SELECT or reset)."""
        try:
            self._run(drop, relogin_on_6982=False)
        except errors.CryptokiError as exc:
            logger.debug("logout could not reset the card's security status: %s", exc.rv_name)

    def close(self) -> None:
        """The card left or the library finalizes: this token is done with the connection."""
        self.shared.release(self)


__all__ = ["CardToken", "SharedCard", "wipe"]
