"""Module configuration from the environment: silent and real-readers-only unless asked."""

from __future__ import annotations

import logging
from pathlib import Path

from cardki.capi.config import ModuleConfig, configure_logging


def test_defaults_are_silent_and_real_readers_only() -> None:
    config = ModuleConfig.from_environment({})
    assert config == ModuleConfig(virtual_fallback=False, log_level=None, log_file=None)


def test_environment_switches() -> None:
    config = ModuleConfig.from_environment({"CARDKI_VIRTUAL": "1", "CARDKI_LOG": "Trace",
                                            "CARDKI_LOG_FILE": "/tmp/x.log"})
    assert config.virtual_fallback is True
    assert config.log_level == 5
    assert config.log_file == "/tmp/x.log"
    assert ModuleConfig.from_environment({"CARDKI_VIRTUAL": "0"}).virtual_fallback is False
    only = ModuleConfig.from_environment({"CARDKI_VIRTUAL": "only"})
    assert only.virtual_only is True and only.virtual_fallback is False
    assert ModuleConfig.from_environment({"CARDKI_LOG": "debug"}).log_level == logging.DEBUG
    assert ModuleConfig.from_environment({"CARDKI_LOG": "nonsense"}).log_level is None


def test_logging_goes_to_the_file_only_when_asked(tmp_path: Path, capsys) -> None:
    logger = logging.getLogger("cardki.capi.test")
    log_file = tmp_path / "cardki.log"
    try:
        configure_logging(ModuleConfig())
        logger.warning("not shown anywhere")
        configure_logging(ModuleConfig(log_level=logging.DEBUG, log_file=str(log_file)))
        logger.debug("shown in the file")
    finally:
        configure_logging(ModuleConfig())
        logging.getLogger("cardki").setLevel(logging.NOTSET)
    captured = capsys.readouterr()
    assert "not shown" not in captured.err and "not shown" not in captured.out
    text = log_file.read_text()
    assert "shown in the file" in text and "not shown" not in text
