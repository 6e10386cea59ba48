"""Module configuration from the environment: silent and real-readers-only unless asked."""

from __future__ import annotations

import logging
from pathlib import Path

from cardki.capi.config import ModuleConfig, configure_logging
from hosts import NO_CONFIG_FILE

NO_FILE = {"CARDKI_CONFIG": NO_CONFIG_FILE}


def test_defaults_are_silent_and_real_readers_only() -> None:
    config = ModuleConfig.from_environment(NO_FILE)
    assert config == ModuleConfig(virtual_fallback=False, log_level=None, log_file=None)


def test_environment_switches() -> None:
    config = ModuleConfig.from_environment({**NO_FILE, "CARDKI_VIRTUAL": "1", "CARDKI_LOG": "Trace",
                                            "CARDKI_LOG_FILE": "/tmp/x.log"})
    assert config.virtual_fallback is True
    assert config.log_level == 5
    assert config.log_file == "/tmp/x.log"
    assert ModuleConfig.from_environment({**NO_FILE, "CARDKI_VIRTUAL": "0"}).virtual_fallback is False
    only = ModuleConfig.from_environment({**NO_FILE, "CARDKI_VIRTUAL": "only"})
    assert only.virtual_only is True and only.virtual_fallback is False
    assert ModuleConfig.from_environment({**NO_FILE, "CARDKI_LOG": "debug"}).log_level == logging.DEBUG
    assert ModuleConfig.from_environment({**NO_FILE, "CARDKI_LOG": "nonsense"}).log_level is None


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


def test_config_file_and_environment_precedence(tmp_path: Path) -> None:
    config_file = tmp_path / "cardki" / "module.toml"
    config_file.parent.mkdir()
    config_file.write_text('virtual = "only"\nlog = "debug"\nlog_file = "/tmp/from-file.log"\n')
    from_file = ModuleConfig.from_environment({"XDG_CONFIG_HOME": str(tmp_path)})
    assert from_file.virtual_only is True and from_file.log_level == logging.DEBUG
    assert from_file.log_file == "/tmp/from-file.log"
    overridden = ModuleConfig.from_environment({"CARDKI_CONFIG": str(config_file), "CARDKI_VIRTUAL": "0"})
    assert overridden.virtual_only is False and overridden.virtual_fallback is False
    assert overridden.log_level == logging.DEBUG
    config_file.write_text("virtual = true\n")
    assert ModuleConfig.from_environment({"CARDKI_CONFIG": str(config_file)}).virtual_fallback is True


def test_a_broken_config_file_is_ignored(tmp_path: Path, capsys) -> None:
    broken = tmp_path / "module.toml"
    broken.write_text("virtual = [unterminated\n")
    assert ModuleConfig.from_environment({"CARDKI_CONFIG": str(broken)}) == ModuleConfig()
    assert ModuleConfig.from_environment({"CARDKI_CONFIG": str(tmp_path / "missing.toml")}) == ModuleConfig()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_config_file_that_is_not_utf8_is_ignored(tmp_path: Path, capsys) -> None:
    """TOML is UTF-8; other bytes are a malformed file like any other (they used to
    escape from C_Initialize as CKR_GENERAL_ERROR)."""
    latin1 = tmp_path / "module.toml"
    latin1.write_bytes(b'virtual = "only"\n# caf\xe9\n')
    assert ModuleConfig.from_environment({"CARDKI_CONFIG": str(latin1)}) == ModuleConfig()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_record_at_interpreter_shutdown_is_dropped_quietly() -> None:
    """At shutdown (sys.meta_path is None, as in a host's late C_Finalize) logging can no
    longer be imported: an error record is dropped rather than raising ImportError out of
    the C entry point's guard, which cffi would print on the host's stderr."""
    import subprocess
    import sys

    script = ("import sys; from cardki.log import get_logger; log = get_logger('cardki.capi');"
              " assert 'logging' not in sys.modules; sys.meta_path = None;"
              " log.error('C_Finalize failed unexpectedly'); log.exception('and again'); print('survived')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "survived", "")
