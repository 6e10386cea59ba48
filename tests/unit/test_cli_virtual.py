"""The real ``cardki`` console script in a subprocess, on the in-process
virtual YubiKey (``--virtual-state FILE`` holds a card provisioned with the
test keys, so several runs see the same card). Signatures are verified with
:mod:`cryptography` against the host copy of the keys."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from provisioning import PIN, host_keys, provisioned_state

CARDKI = shutil.which("cardki")


def run(args: List[str], env: Dict[str, str] | None = None, stdin: Any = subprocess.DEVNULL
        ) -> subprocess.CompletedProcess:
    assert CARDKI is not None, "the cardki console script is not installed (pip install -e .)"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CARDKI_")}
    full_env.update(env or {})
    return subprocess.run([CARDKI, *args], capture_output=True, text=True, timeout=120, env=full_env,
                          stdin=stdin)


@pytest.fixture
def state(tmp_path: Path) -> str:
    from hwsim.statefile import save_state

    path = tmp_path / "card.json"
    save_state(path, provisioned_state())
    return str(path)


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cardki: error: ")
    return lines[0]


def test_report_without_arguments_shows_the_virtual_card(state: str) -> None:
    result = run(["--virtual-state", state])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # logging is off by default
    out = result.stdout
    assert "cardki virtual card (in-process)" in out and "[virtual card in this process" in out
    assert "YubiKey PIV #12345678" in out
    assert "label='Digital Signature'" in out and "subject=CN=cardki test 9C" in out
    assert "CKM_ECDSA_SHA256" in out and "CKM_EDDSA" in out
    assert "private keys are listed with --login" in out


def test_fresh_virtual_card_needs_nothing_plugged_in() -> None:
    result = run(["--virtual"])
    assert result.returncode == 0, result.stderr
    assert "YubiKey PIV #12345678" in result.stdout and "virtual" in result.stdout


def test_no_pcscd_falls_back_to_the_virtual_card() -> None:
    """Point libpcsclite at a socket that does not exist: as on a machine without pcscd."""
    result = run(["slots"], env={"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "Slot 0: cardki virtual card (in-process) (token present)"
        "  [virtual card in this process: no card in any reader]",
        "Slot 1: cardki virtual card (in-process) (OpenPGP) (token present)"
        "  [virtual card in this process: no card in any reader]"]


def test_token_command(state: str) -> None:
    result = run(["--virtual-state", state, "token"])
    assert result.returncode == 0
    assert "serial:       12345678" in result.stdout
    assert "manufacturer: Yubico" in result.stdout


def test_objects_with_login_lists_private_keys_and_never_prints_the_pin(state: str) -> None:
    result = run(["--virtual-state", state, "objects", "--login"], env={"CARDKI_PIN": PIN})
    assert result.returncode == 0, result.stderr
    assert "PrivateKey    id=02" in result.stdout and "[PIN for each use]" in result.stdout
    assert "PrivateKey    id=05" in result.stdout and "EC_MONTGOMERY" in result.stdout
    assert PIN not in result.stdout + result.stderr
    without = run(["--virtual-state", state, "objects"])
    assert "PrivateKey" not in without.stdout


def test_pin_from_the_option(state: str) -> None:
    result = run(["--virtual-state", state, "objects", "--login", "--pin", PIN])
    assert result.returncode == 0 and "PrivateKey" in result.stdout


def test_login_without_pin_and_without_terminal_is_one_line(state: str) -> None:
    line = _one_error_line(run(["--virtual-state", state, "objects", "--login"]))
    assert "a PIN is needed" in line


def test_wrong_pin_is_one_line_with_tries_left(state: str) -> None:
    result = run(["--virtual-state", state, "objects", "--login"], env={"CARDKI_PIN": "999999"})
    line = _one_error_line(result)
    assert line == ("cardki: error: CKR_PIN_INCORRECT: The PIN is incorrect; "
                    "2 tries left before it is locked")
    assert "999999" not in result.stdout + result.stderr


@pytest.mark.parametrize("key_id, slot, mechanism", [
    ("01", 0x9A, None),
    ("01", 0x9A, "SHA384_RSA_PKCS_PSS"),
    ("02", 0x9C, None),                 # PIN-always key: the CLI's PIN serves again
    ("06", 0x83, "ECDSA_SHA384"),
    ("04", 0x9E, None),
])
def test_sign_verifies_with_cryptography(state: str, tmp_path: Path, key_id: str, slot: int,
                                         mechanism: str | None) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"sign me " * 100)
    sig = tmp_path / "sig.bin"
    args = ["--virtual-state", state, "sign", "--key-id", key_id, "--in", str(data), "--out", str(sig)]
    if mechanism:
        args += ["--mechanism", mechanism]
    if slot in (0x9C, 0x83):
        args.append("--der")
    result = run(args, env={"CARDKI_PIN": PIN})
    assert result.returncode == 0, result.stderr
    signature = sig.read_bytes()
    assert result.stdout.strip() == f"wrote {len(signature)}-byte signature to {sig}"
    public = host_keys()[slot].public_key()
    message = data.read_bytes()
    if slot == 0x9A and mechanism is None:
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    elif slot == 0x9A:
        public.verify(signature, message, padding.PSS(padding.MGF1(hashes.SHA384()), 48), hashes.SHA384())
    elif slot == 0x9C:
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    elif slot == 0x83:
        public.verify(signature, message, ec.ECDSA(hashes.SHA384()))
    else:
        public.verify(signature, message)


def test_sign_to_stdout_writes_only_the_signature(state: str, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x")
    result = subprocess.run([CARDKI, "--virtual-state", state, "sign", "--key-id", "04", "--in", str(data),
                             "--out", "-"], capture_output=True, timeout=120,
                            env={**os.environ, "CARDKI_PIN": PIN})
    assert result.returncode == 0
    host_keys()[0x9E].public_key().verify(result.stdout, b"x")


def test_sign_with_an_unknown_key_is_one_line(state: str, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x")
    line = _one_error_line(run(["--virtual-state", state, "sign", "--key-id", "07", "--in", str(data),
                                "--out", str(tmp_path / "sig")], env={"CARDKI_PIN": PIN}))
    assert line == "cardki: error: no key matches class PRIVATE_KEY, id 07"


def test_sign_with_a_key_that_cannot_sign_is_one_line(state: str, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x")
    line = _one_error_line(run(["--virtual-state", state, "sign", "--key-id", "05", "--in", str(data),
                                "--out", str(tmp_path / "sig")], env={"CARDKI_PIN": PIN}))
    assert line == "cardki: error: the private key with ID 05 cannot sign"


def test_debug_shows_the_traceback(state: str) -> None:
    result = run(["--debug", "--virtual-state", state, "objects", "--login"], env={"CARDKI_PIN": "999999"})
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "PinIncorrect" in result.stderr
    assert "999999" not in result.stderr


def test_trace_log_shows_apdus_with_the_pin_redacted(state: str) -> None:
    result = run(["--log-level", "trace", "--virtual-state", state, "objects", "--login"],
                 env={"CARDKI_PIN": PIN})
    assert result.returncode == 0, result.stderr
    assert "> 00 A4 04 00" in result.stderr  # SELECT
    verify = [line for line in result.stderr.splitlines() if "> 00 20 00 80" in line]
    assert verify and all("redacted" in line for line in verify)
    assert "31 32 33 34 35 36" not in result.stderr  # "123456" as APDU hex
    assert PIN not in result.stderr


def test_virtual_state_is_saved_back(state: str) -> None:
    from hwsim.statefile import load_state

    run(["--virtual-state", state, "objects", "--login"], env={"CARDKI_PIN": "999999"})
    saved = load_state(state)
    assert saved is not None and saved["piv"]["pin_retries_left"] == 2
    result = run(["--virtual-state", state, "objects", "--login"], env={"CARDKI_PIN": "999998"})
    assert "1 tries left" in result.stderr


def test_pin_prompt_on_a_terminal_does_not_echo(state: str) -> None:
    """Run cardki on a pseudo-terminal, answer the prompt, and check that the
    PIN never appears on the terminal while the login succeeds."""
    import pty
    import select
    import time

    pid, master = pty.fork()
    if pid == 0:  # the child: cardki on the pty as its controlling terminal
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARDKI_")}
        os.execve(CARDKI, [CARDKI, "--virtual-state", state, "objects", "--login"], env)  # type: ignore[arg-type]
    output = b""
    sent = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if not sent and b"PIN: " in output:
            os.write(master, PIN.encode() + b"\n")
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(master)
    assert sent, output
    assert os.WEXITSTATUS(status) == 0, output
    assert b"PrivateKey" in output
    assert PIN.encode() not in output


@pytest.mark.parametrize("content, what", [
    ("{broken", "cannot be used: not JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
    ('{"format": 99}', "cannot be used: its format 99 is newer than this version reads (2)"),
    ("[1, 2]", "cannot be used: the file does not hold a JSON object"),
    ('{"format": 1, "piv": {"pin": "123456"}}', "cannot be used: it is not a complete virtual YubiKey state"),
])
def test_an_unusable_virtual_state_file_is_one_line_naming_the_file(tmp_path: Path, content: str,
                                                                    what: str) -> None:
    path = tmp_path / "card.json"
    path.write_text(content)
    line = _one_error_line(run(["--virtual-state", str(path), "slots"]))
    assert line == f"cardki: error: the virtual card state {path} {what}"
    assert "123456" not in line


def test_a_virtual_state_directory_is_one_line_naming_it(tmp_path: Path) -> None:
    line = _one_error_line(run(["--virtual-state", str(tmp_path), "slots"]))
    assert line == f"cardki: error: the virtual card state {tmp_path} cannot be read: Is a directory"


UNSAVABLE = "/proc/cardki-no-such-directory/card.json"  # procfs makes no directories


def test_a_failed_save_does_not_hide_the_error_of_the_operation() -> None:
    line = _one_error_line(run(["--virtual-state", UNSAVABLE, "objects", "--login"], env={"CARDKI_PIN": "999999"}))
    assert line.startswith("cardki: error: CKR_PIN_INCORRECT: ")
    assert line.endswith(f"; the virtual card was not saved to {UNSAVABLE}: No such file or directory")


def test_a_failed_save_after_a_good_operation_is_the_error() -> None:
    result = run(["--virtual-state", UNSAVABLE, "slots"])
    assert "cardki virtual card" in result.stdout
    assert _one_error_line(result) == (f"cardki: error: the virtual card was not saved to {UNSAVABLE}: "
                                       "No such file or directory")
