"""p11-kit registers cardki from a module file and serves its token to other processes.

The module file comes from cardki.capi.p11kit_module_file(), the text the CLI
installs. For a normal user it goes under a throw-away HOME
(~/.config/pkcs11/modules/ of that HOME). p11-kit ignores user configuration
when running as root, so as root the test writes a uniquely named file into
/etc/pkcs11/modules/ and removes it (and the directory, if it made it) at once.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from _module_card import SERIAL, ModuleCard, module_card, module_env

from cardki.capi import module_path, p11kit_module_file

pytestmark = [pytest.mark.clients, pytest.mark.sim]

P11KIT_CLIENT = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"


@pytest.fixture
def card(virtual_card_factory) -> ModuleCard:
    return module_card(virtual_card_factory)


def test_module_file_text() -> None:
    text = p11kit_module_file()
    assert f"module: {module_path()}\n" in text
    assert "critical: no\n" in text


def test_p11kit_list_modules_shows_cardki(card: ModuleCard, tmp_path: Path) -> None:
    name = f"cardki-test-{os.getpid()}"
    if os.geteuid() == 0:
        modules = Path("/etc/pkcs11/modules")
        env = module_env()
    else:
        modules = tmp_path / ".config" / "pkcs11" / "modules"
        env = module_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    created = [parent for parent in (modules.parent, modules) if not parent.exists()]
    modules.mkdir(parents=True, exist_ok=True)
    module_file = modules / f"{name}.module"
    try:
        module_file.write_text(p11kit_module_file())
        done = subprocess.run(["p11-kit", "list-modules"], capture_output=True, text=True, timeout=120, env=env)
    finally:
        module_file.unlink()
        for directory in reversed(created):
            directory.rmdir()
    assert done.returncode == 0, done.stderr
    sections = re.split(r"^(?=\S)", done.stdout, flags=re.MULTILINE)
    ours = [section for section in sections if section.startswith(f"{name}: {card.module}")]
    assert len(ours) == 1, done.stdout
    assert "library-manufacturer: cardki" in ours[0].lower() or "cardki" in ours[0].lower()
    assert f"serial-number: {SERIAL}" in ours[0], ours[0]


def test_p11kit_server_serves_the_token_to_p11kit_client(card: ModuleCard, tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = module_env(XDG_RUNTIME_DIR=str(runtime))
    server = subprocess.Popen(["p11-kit", "server", "--foreground", "--sh", "--provider", card.module,
                               f"pkcs11:serial={SERIAL}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        match = re.search(r"P11_KIT_SERVER_ADDRESS=([^;\s]+)", first)
        assert match, first
        client_env = module_env(P11_KIT_SERVER_ADDRESS=match.group(1), XDG_RUNTIME_DIR=str(runtime))
        done = subprocess.run(["pkcs11-tool", "--module", P11KIT_CLIENT, "-L"], capture_output=True, text=True,
                              timeout=120, env=client_env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert str(SERIAL) in done.stdout, done.stdout
        objects = subprocess.run(["pkcs11-tool", "--module", P11KIT_CLIENT, "-O"], capture_output=True,
                                 text=True, timeout=120, env=client_env)
        assert "Certificate Object; type = X.509 cert\n  label:      PIV Authentication\n" in objects.stdout, \
            objects.stdout + objects.stderr
    finally:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
