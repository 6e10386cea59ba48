"""The API boundary that every public engine call passes through.

One decorator, so that no public method can skip a step: it takes the library
lock, checks C_Initialize (and the pid, after a fork) and lets only
CryptokiError out -- anything else is a bug, logged and reported as
GENERAL_ERROR. It stands apart from the facade because every part of the engine
decorates its public methods with it.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any, Callable

from .. import errors
from ..log import get_logger

if TYPE_CHECKING:
    from .engine import Cryptoki

log = get_logger(__name__)


def api_boundary(method: Callable) -> Callable:
    """Every public call: take the library lock, check initialization and pid,
    and let only CryptokiError out (anything else is a bug -> GENERAL_ERROR)."""

    @functools.wraps(method)
    def wrapper(self: Cryptoki, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if not self._initialized or self._pid != os.getpid():  # the usual answer without a call
                self._check_initialized()
            try:
                return method(self, *args, **kwargs)
            except errors.CryptokiError:
                raise
            except Exception as error:  # noqa: BLE001 - the API boundary: report, never leak
                log.exception("internal error in %s", method.__name__)
                raise errors.GeneralError(f"internal error in {method.__name__}: "
                                          f"{type(error).__name__}") from error

    return wrapper


__all__ = ["api_boundary"]
