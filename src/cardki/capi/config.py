"""Module configuration from the environment or a file, read when C_Initialize builds the engine.

A PKCS#11 host gives a module no way to pass options, so the module reads
environment variables, and for hosts started without a shell (a browser from
the desktop) a TOML file: ``$CARDKI_CONFIG``, else
``$XDG_CONFIG_HOME/cardki/module.toml`` (``~/.config/cardki/module.toml``)::

    virtual = "fallback"      # "off" (default) | "fallback" | "only"
    virtual_state = "~/.local/share/cardki/card.json"   # the virtual card kept in a file
    log = "debug"             # or "trace"; absent = silent
    log_file = "/tmp/cardki.log"

Environment variables win over the file:

``CARDKI_VIRTUAL=1``
    add the in-process virtual card as a slot when no reader holds a card
    (for demos without a card). Default: real PC/SC readers only.
``CARDKI_VIRTUAL=only``
    the in-process virtual card is the only slot; PC/SC is not used at all
    (hermetic tests, machines without pcscd).
``CARDKI_VIRTUAL_STATE=FILE``
    the virtual card is kept in FILE (JSON, created at first use; it holds the
    card's keys and PINs, so it is made readable by its owner only): loaded at
    C_Initialize, written back after every command that changed the card, so
    ``pkcs11-tool --keypairgen`` in one process and ``--sign`` in the next use the
    same keys even when the host exits without C_Finalize. Alone it means
    ``CARDKI_VIRTUAL=only``; with ``CARDKI_VIRTUAL=1`` the card is the fallback.
``CARDKI_LOG=debug|trace``
    log entry points (debug) and also redacted APDUs (trace). Default: silent.
``CARDKI_LOG_FILE=path``
    where the log goes (appended); without it, logging goes to stderr.

The module never prints anything unless logging is asked for: a PKCS#11
module shares stdout/stderr with its host (ssh, a browser, p11-kit server).
An unreadable or malformed file is ignored (and says so in the log, if any).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Dict, Mapping

from cardki.named_tuple import NamedTuple

from ..log import DEBUG, INFO, TRACE, WARNING, get_logger, logging_module, silence_by_default

if TYPE_CHECKING:
    import logging

logger = get_logger("cardki.capi")

_LEVELS = {"debug": DEBUG, "trace": TRACE, "info": INFO, "warning": WARNING}
_TRUE = {"1", "yes", "true", "on"}


class ModuleConfig(NamedTuple):
    """What the environment asks of the module."""

    virtual_fallback: bool = False
    virtual_only: bool = False
    log_level: int | None = None
    log_file: str | None = None
    virtual_state: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ModuleConfig:
        settings = {**_file_settings(config_file_path(environ)), **environ}
        level_name = settings.get("CARDKI_LOG", "").strip().lower()
        virtual = settings.get("CARDKI_VIRTUAL", "").strip().lower()
        state = settings.get("CARDKI_VIRTUAL_STATE") or None
        return cls(
            virtual_fallback=virtual in _TRUE,
            virtual_only=virtual == "only" or (state is not None and not virtual),
            log_level=_LEVELS.get(level_name),
            log_file=settings.get("CARDKI_LOG_FILE") or None,
            virtual_state=_home_expanded(state, environ) if state else None,
        )


def _home_expanded(path: str, environ: Mapping[str, str]) -> str:
    """``path`` with a leading ``~`` made the home directory of the environment it came from."""
    if path == "~" or path.startswith("~/"):
        home = environ.get("HOME") or os.path.expanduser("~")
        return home + path[1:]
    return os.path.expanduser(path)


def config_file_path(environ: Mapping[str, str] = os.environ) -> str:
    """Where the module's configuration file is looked for."""
    explicit = environ.get("CARDKI_CONFIG")
    if explicit:
        return explicit
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".config")
    return os.path.join(base, "cardki", "module.toml")


_VIRTUAL_WORDS = {"off": "0", "fallback": "1", "only": "only"}


def _file_settings(path: str) -> Dict[str, str]:
    """The file's settings under their environment variable names ({} if there is no usable file).
    The TOML parser is imported only when there is a file to read (2.5 ms otherwise spent by
    every host start)."""
    try:
        with open(path, "rb") as stream:
            content = stream.read()
    except FileNotFoundError:
        return {}
    except OSError as problem:
        logger.warning("ignoring the cardki module configuration %s: %s", path, problem)
        return {}
    import tomllib

    try:
        data = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as problem:
        logger.warning("ignoring the cardki module configuration %s: %s", path, problem)
        return {}
    settings: Dict[str, str] = {}
    virtual = data.get("virtual")
    if isinstance(virtual, bool):
        settings["CARDKI_VIRTUAL"] = "1" if virtual else "0"
    elif isinstance(virtual, str) and virtual.lower() in _VIRTUAL_WORDS:
        settings["CARDKI_VIRTUAL"] = _VIRTUAL_WORDS[virtual.lower()]
    if isinstance(data.get("virtual_state"), str):
        settings["CARDKI_VIRTUAL_STATE"] = data["virtual_state"]
    if isinstance(data.get("log"), str):
        settings["CARDKI_LOG"] = data["log"]
    if isinstance(data.get("log_file"), str):
        settings["CARDKI_LOG_FILE"] = data["log_file"]
    return settings


_configured_handler: logging.Handler | None = None


def configure_logging(config: ModuleConfig) -> None:
    """Silence the ``cardki`` logger by default; attach one handler if logging is asked for.

    A NullHandler keeps Python's last-resort handler from printing warnings to
    the host's stderr; records still propagate, so a Python host that set up
    logging itself sees them. Without a log asked for, :mod:`logging` is not
    imported for this (see :mod:`cardki.log`).
    """
    global _configured_handler
    silence_by_default()
    if _configured_handler is None and config.log_level is None:
        return
    module = logging_module()
    root = module.getLogger("cardki")
    if _configured_handler is not None:
        root.removeHandler(_configured_handler)
        _configured_handler.close()
        _configured_handler = None
    if config.log_level is None:
        return
    handler: logging.Handler
    handler = module.FileHandler(config.log_file) if config.log_file else module.StreamHandler()
    handler.setFormatter(module.Formatter("%(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s "
                                           "%(message)s"))
    handler.setLevel(config.log_level)
    root.addHandler(handler)
    root.setLevel(config.log_level)
    _configured_handler = handler
