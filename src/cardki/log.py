"""cardki's loggers, without importing :mod:`logging` before anyone can listen.

``import logging`` costs 8 to 10 ms here (it brings traceback, linecache,
tokenize, string, weakref), a tenth of the C module's start, and most processes
that load cardki (pkcs11-tool, ssh, a browser) never log. :func:`get_logger`
returns a stand-in with the ``logging.Logger`` methods cardki calls, forwarding
to ``logging.getLogger(name)``:

* records below WARNING only once the process has imported logging itself (the
  C module because ``CARDKI_LOG`` asks for a log, the CLI for ``--log-level``, a
  Python host that uses logging). Before that nothing can have set a level below
  Python's default WARNING, so such a record would be dropped anyway;
* WARNING and above always: logging is imported for them, so they reach whatever
  they reached before (the host's handlers, Python's last-resort handler, or the
  NullHandler that keeps the C module silent: :func:`silence_by_default`).

``TRACE`` (5, below DEBUG) is the level of raw APDUs; its name is registered
with logging when logging is first used here.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging
    from types import ModuleType

TRACE = 5
DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40

_ROOT = "cardki"
_prepared = False
_silent = False


def _logging(load: bool) -> ModuleType | None:
    """The logging module (imported now if ``load``), prepared for cardki; None if
    the process has not imported it and ``load`` is False."""
    global _prepared
    module = sys.modules.get("logging")
    if module is None:
        if not load:
            return None
        try:
            import logging
        except ImportError:
            # A record at interpreter shutdown (sys.meta_path is None: a host's late
            # C_Finalize, say) has nowhere to go; raising would turn the report of one
            # failure into another, printed on the host's stderr by cffi.
            return None

        module = logging
    if not _prepared:
        _prepared = True
        module.addLevelName(TRACE, "TRACE")
        if _silent:
            _add_null_handler(module)
    return module


def _add_null_handler(module: ModuleType) -> None:
    root = module.getLogger(_ROOT)
    if not any(isinstance(handler, module.NullHandler) for handler in root.handlers):
        root.addHandler(module.NullHandler())


def silence_by_default() -> None:
    """Keep cardki's records from Python's last-resort handler (the host's stderr):
    a NullHandler on the ``cardki`` logger, now if logging is loaded, else when it is."""
    global _silent
    _silent = True
    module = _logging(load=False)
    if module is not None:
        _add_null_handler(module)


def logging_module() -> ModuleType:
    """logging itself, imported and prepared (for code that configures handlers)."""
    module = _logging(load=True)
    assert module is not None
    return module


class Logger:
    """The part of ``logging.Logger`` cardki uses, bound to the real logger lazily."""

    __slots__ = ("name", "_logger")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    def _real(self, level: int) -> logging.Logger | None:
        real = self._logger
        if real is None:
            module = _logging(load=level >= WARNING)
            if module is None:
                return None
            real = self._logger = module.getLogger(self.name)
        return real

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 (logging's name)
        real = self._logger  # asked on every C call and APDU: no call more than needed
        if real is None:
            if level < WARNING and "logging" not in sys.modules:
                return False  # what _real would find: nothing can have lowered the level yet
            real = self._real(level)
        return real is not None and real.isEnabledFor(level)

    def _emit(self, level: int, message: str, args: tuple[Any, ...], options: dict[str, Any]) -> None:
        real = self._real(level)
        if real is not None and real.isEnabledFor(level):
            # The record names the caller of debug()/log()/..., not this module: two frames up.
            options["stacklevel"] = options.get("stacklevel", 1) + 2
            real.log(level, message, *args, **options)

    def log(self, level: int, message: str, *args: Any, **options: Any) -> None:
        self._emit(level, message, args, options)

    def debug(self, message: str, *args: Any, **options: Any) -> None:
        self._emit(DEBUG, message, args, options)

    def info(self, message: str, *args: Any, **options: Any) -> None:
        self._emit(INFO, message, args, options)

    def warning(self, message: str, *args: Any, **options: Any) -> None:
        self._emit(WARNING, message, args, options)

    def error(self, message: str, *args: Any, **options: Any) -> None:
        self._emit(ERROR, message, args, options)

    def exception(self, message: str, *args: Any, **options: Any) -> None:
        options.setdefault("exc_info", True)
        self._emit(ERROR, message, args, options)


def get_logger(name: str) -> Logger:
    """The stand-in for ``logging.getLogger(name)``."""
    return Logger(name)


__all__ = ["DEBUG", "ERROR", "INFO", "TRACE", "WARNING", "Logger", "get_logger", "logging_module",
           "silence_by_default"]
