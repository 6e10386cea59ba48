"""The C module's virtual card kept in a file (CARDKI_VIRTUAL_STATE, ``virtual_state`` in
module.toml): pkcs11-tool in one process makes a key, the next process signs with it.
No pcscd: the module's in-process virtual card only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Dict

import pytest
from _module_card import read_public_key
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from cardki.capi import module_path
from hosts import module_env

pytestmark = pytest.mark.clients

MGMT = "010203040506070801020304050607080102030405060708"


def tool(env: Dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["pkcs11-tool", "--module", module_path(), *args], capture_output=True, text=True,
                          timeout=120, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"pkcs11-tool {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def state_env(path: Path, **extra: str) -> Dict[str, str]:
    return module_env(CARDKI_VIRTUAL_STATE=str(path), **extra)


def public_key(env: Dict[str, str], key_id: str, tmp_path: Path):
    return read_public_key(lambda *args: tool(env, *args), key_id, tmp_path / f"{key_id}.pub.der")


def test_keypairgen_in_one_process_and_sign_in_the_next(tmp_path: Path) -> None:
    state = tmp_path / "card.json"
    env = state_env(state)
    tool(env, "--login", "--login-type", "so", "--so-pin", MGMT, "--keypairgen", "--key-type", "EC:prime256v1",
         "--id", "01")
    tool(env, "--login", "--login-type", "so", "--so-pin", MGMT, "--keypairgen", "--key-type", "rsa:2048",
         "--id", "02")
    assert stat.S_IMODE(state.stat().st_mode) == 0o600  # it holds private keys
    data = tmp_path / "data"
    data.write_bytes(b"kept across processes")
    ec_signature, rsa_signature = tmp_path / "ec.sig", tmp_path / "rsa.sig"
    tool(env, "--login", "--pin", "123456", "--sign", "--id", "01", "-m", "ECDSA-SHA256", "-i", str(data),
         "-o", str(ec_signature))
    tool(env, "--login", "--pin", "123456", "--sign", "--id", "02", "-m", "SHA256-RSA-PKCS", "-i", str(data),
         "-o", str(rsa_signature))  # 9C: pkcs11-tool gives the context PIN itself
    raw = ec_signature.read_bytes()
    public_key(env, "01", tmp_path).verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                                                int.from_bytes(raw[32:], "big")),
                                           data.read_bytes(), ec.ECDSA(hashes.SHA256()))
    public_key(env, "02", tmp_path).verify(rsa_signature.read_bytes(), data.read_bytes(), padding.PKCS1v15(),
                                           hashes.SHA256())
    # The same card for another host of the module: module.toml's virtual_state.
    config = tmp_path / "module.toml"
    config.write_text(f'virtual_state = "{state}"\n')
    listed = tool(module_env(CARDKI_CONFIG=str(config)), "-O").stdout
    assert "Public Key Object; EC" in listed and "Public Key Object; RSA 2048" in listed


def test_a_pin_change_is_kept_though_pkcs11_tool_skips_c_finalize(tmp_path: Path) -> None:
    """pkcs11-tool --change-pin returns from main without C_Finalize: the card is
    saved after the command that changed it, not at the end. The trace log, asked
    for, holds no PIN."""
    state, log = tmp_path / "card.json", tmp_path / "module.log"
    env = state_env(state, CARDKI_LOG="trace", CARDKI_LOG_FILE=str(log))
    tool(env, "--change-pin", "--pin", "123456", "--new-pin", "864213")
    tool(env, "--change-pin", "--so-pin", "puk:12345678", "--new-pin", "97531864")  # the PUK
    assert "Private Key Object" not in tool(env, "-O").stdout
    tool(env, "--login", "--pin", "864213", "-O")
    wrong = tool(env, "--login", "--pin", "123456", "-O", check=False)
    assert wrong.returncode != 0 and "CKR_PIN_INCORRECT" in wrong.stdout + wrong.stderr
    assert json.loads(state.read_text())["piv"]["pin_retries_left"] == 2  # the wrong try is kept too
    text = log.read_text()
    assert "C_SetPIN -> CKR_OK" in text and "> 00 24 00 80 10 <redacted 16 bytes>" in text
    for secret in ("864213", "97531864", "12345678", "123456"):
        assert secret not in text and secret.encode().hex() not in text.replace(" ", "").lower(), secret


def test_an_unusable_state_file_fails_c_initialize_and_says_why_in_the_log(tmp_path: Path) -> None:
    state, log = tmp_path / "card.json", tmp_path / "module.log"
    state.write_text("not json, and a PIN: 123456")
    done = tool(state_env(state, CARDKI_LOG="debug", CARDKI_LOG_FILE=str(log)), "-L", check=False)
    assert done.returncode != 0 and "CKR_FUNCTION_FAILED" in done.stdout + done.stderr
    text = log.read_text()
    assert f"the virtual card state {state} cannot be used: not JSON" in text
    assert "123456" not in text
    assert state.read_text() == "not json, and a PIN: 123456"  # left alone


def test_virtual_state_and_the_other_virtual_modes(tmp_path: Path) -> None:
    """Alone the state file means the virtual card only; CARDKI_VIRTUAL=1 makes it the
    fallback; CARDKI_VIRTUAL=0 turns the virtual card (and so the file) off."""
    from cardki.capi.config import ModuleConfig

    path = str(tmp_path / "card.json")
    base = {"CARDKI_CONFIG": "/nonexistent/cardki.toml", "CARDKI_VIRTUAL_STATE": path}
    assert ModuleConfig.from_environment(base).virtual_only
    fallback = ModuleConfig.from_environment({**base, "CARDKI_VIRTUAL": "1"})
    assert fallback.virtual_fallback and not fallback.virtual_only and fallback.virtual_state == path
    off = ModuleConfig.from_environment({**base, "CARDKI_VIRTUAL": "0"})
    assert not off.virtual_fallback and not off.virtual_only
    home = ModuleConfig.from_environment({"CARDKI_CONFIG": "/nonexistent", "HOME": str(tmp_path),
                                          "CARDKI_VIRTUAL_STATE": "~/card.json"})
    assert home.virtual_state == os.path.join(str(tmp_path), "card.json")
