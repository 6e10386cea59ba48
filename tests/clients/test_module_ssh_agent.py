"""ssh-agent holds every key of the card through the cardki module (ssh-add -s), one
of them the PIN-always 9C key; signing requests go through the agent socket
(ssh-keygen -Y sign with a public key file) and are checked with ssh-keygen.

ssh-agent's PKCS#11 helper cannot ask for a PIN, so for an ALWAYS_AUTHENTICATE
key it calls C_SignInit, finds it cannot do C_Login(CKU_CONTEXT_SPECIFIC) and
gives up without calling C_Sign (OpenSSH's ssh-pkcs11.c, pkcs11_get_key). The
session is shared by every key of the slot, so the other keys must still sign.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Dict, Iterator

import pytest
from _module_card import ModuleCard, module_card, ssh_agent
from cryptography import x509
from cryptography.hazmat.primitives import serialization

pytestmark = [pytest.mark.clients, pytest.mark.sim]

NAMESPACE = "file"


@pytest.fixture
def card(virtual_card_factory) -> ModuleCard:
    return module_card(virtual_card_factory)


@pytest.fixture
def agent(card: ModuleCard, tmp_path: Path) -> Iterator[Dict[str, str]]:
    """An ssh-agent of our own (allowed to load the module) holding the card's keys."""
    with ssh_agent(card.module, tmp_path) as env:
        yield env


def openssh_public_key(card: ModuleCard, slot: str) -> str:
    key = x509.load_pem_x509_certificate(card.certificates[slot]).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def agent_sign(env: Dict[str, str], public_key: Path, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(public_key), "-n", NAMESPACE, str(data)],
                          capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)


def test_agent_signs_with_the_other_keys_after_the_pin_always_key_failed(card: ModuleCard, agent: Dict[str, str],
                                                                          tmp_path: Path) -> None:
    listed = subprocess.run(["ssh-add", "-L"], capture_output=True, text=True, timeout=60, env=agent).stdout
    keys = {slot: openssh_public_key(card, slot) for slot in ("9a", "9c", "9d", "9e")}
    for slot, key in keys.items():
        assert key in listed, (slot, listed)
    files = {}
    for slot, key in keys.items():
        files[slot] = tmp_path / f"{slot}.pub"
        files[slot].write_text(key + "\n")

    refused = tmp_path / "refused.txt"
    refused.write_text("for the PIN-always key")
    done = agent_sign(agent, files["9c"], refused)
    assert done.returncode != 0 and not Path(f"{refused}.sig").exists(), "the agent cannot enter the 9C PIN"

    for turn, slot in enumerate(("9a", "9d", "9e", "9a")):  # every other key, in the same agent session
        data = tmp_path / f"{turn}-signed-by-{slot}.txt"
        data.write_text(f"signed through ssh-agent by {slot}")
        done = agent_sign(agent, files[slot], data)
        assert done.returncode == 0, (slot, done.stdout + done.stderr)
        allowed = tmp_path / "allowed_signers"
        allowed.write_text(f"signer {keys[slot]}\n")
        checked = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "signer", "-n", NAMESPACE,
                                  "-s", f"{data}.sig"], input=data.read_bytes(), capture_output=True, timeout=60)
        assert checked.returncode == 0, (slot, checked.stdout + checked.stderr)
        assert b"Good" in checked.stdout + checked.stderr, slot
