"""Module configuration from the environment, read when C_Initialize builds the engine.

A PKCS#11 host gives a module no way to pass options, so the module reads:

``CARDKI_VIRTUAL=1``
    add the in-process virtual card as a slot when no reader holds a card
    (for demos without a card). Default: real PC/SC readers only.
``CARDKI_VIRTUAL=only``
    the in-process virtual card is the only slot; PC/SC is not used at all
    (hermetic tests, machines without pcscd).
``CARDKI_LOG=debug|trace``
    log entry points (debug) and also redacted APDUs (trace). Default: silent.
``CARDKI_LOG_FILE=path``
    where the log goes (appended); without it, logging goes to stderr.

The module never prints anything unless ``CARDKI_LOG`` is set: a PKCS#11
module shares stdout/stderr with its host (ssh, a browser, p11-kit server).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Mapping, Optional

_TRACE = 5  # the level cardki.apdu logs raw (redacted) APDUs at
_LEVELS = {"debug": logging.DEBUG, "trace": _TRACE, "info": logging.INFO, "warning": logging.WARNING}
_TRUE = {"1", "yes", "true", "on"}


@dataclass(frozen=True)
class ModuleConfig:
    """What the environment asks of the module."""

    virtual_fallback: bool = False
    virtual_only: bool = False
    log_level: Optional[int] = None
    log_file: Optional[str] = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "ModuleConfig":
        level_name = environ.get("CARDKI_LOG", "").strip().lower()
        virtual = environ.get("CARDKI_VIRTUAL", "").strip().lower()
        return cls(
            virtual_fallback=virtual in _TRUE,
            virtual_only=virtual == "only",
            log_level=_LEVELS.get(level_name),
            log_file=environ.get("CARDKI_LOG_FILE") or None,
        )


_configured_handler: Optional[logging.Handler] = None


def configure_logging(config: ModuleConfig) -> None:
    """Silence the ``cardki`` logger by default; attach one handler if logging is asked for.

    A NullHandler keeps Python's last-resort handler from printing warnings to
    the host's stderr; records still propagate, so a Python host that set up
    logging itself sees them.
    """
    global _configured_handler
    logger = logging.getLogger("cardki")
    if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
        logger.addHandler(logging.NullHandler())
    if _configured_handler is not None:
        logger.removeHandler(_configured_handler)
        _configured_handler.close()
        _configured_handler = None
    if config.log_level is None:
        return
    handler: logging.Handler
    handler = logging.FileHandler(config.log_file) if config.log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s "
                                           "%(message)s"))
    handler.setLevel(config.log_level)
    logger.addHandler(handler)
    logger.setLevel(config.log_level)
    _configured_handler = handler
