"""The ``cardki piv`` commands and sign / verify / encrypt / decrypt in a subprocess, on
the in-process virtual YubiKey kept in a state file: their contract with the user
(--help with an example everywhere, secrets never shown, errors one line, progress
only on a terminal, prompts that do not echo, pkcs:11 URIs). What they do to a card
through pcscd, read back by ykman and yubico-piv-tool, is tests/clients/test_cli_piv_*.py."""

from __future__ import annotations

import argparse
import os
import pty
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from cardki.cli import build_parser

CARDKI = shutil.which("cardki")
MGMT = "010203040506070801020304050607080102030405060708"
PIN = "123456"


def run(args: List[str], env: Dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    assert CARDKI is not None, "the cardki console script is not installed (pip install -e .)"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CARDKI_")}
    full_env.update(env or {})
    return subprocess.run([CARDKI, *args], capture_output=True, text=True, timeout=120, env=full_env,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


@pytest.fixture
def card(tmp_path: Path) -> Iterator[List[str]]:
    """``--virtual-state FILE``: a factory-fresh virtual YubiKey 5.7.2 kept in a file."""
    yield ["--virtual-state", str(tmp_path / "card.json")]


def ok(args: List[str], **kwargs: object) -> subprocess.CompletedProcess:
    done = run(args, **kwargs)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done


def one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cardki: error: "), done.stderr
    return lines[0][len("cardki: error: "):]


def _subcommands(parser: argparse.ArgumentParser, path: Tuple[str, ...] = ()) -> Iterator[Tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name)
                yield from _subcommands(sub, (*path, name))


def test_every_subcommand_says_what_it_does_with_an_example() -> None:
    paths = list(_subcommands(build_parser()))
    assert ("piv", "keys", "attest") in paths and ("piv", "access", "set-retries") in paths and ("verify",) in paths
    assert len(paths) >= 30
    for path in paths:
        done = ok([*path, "--help"])
        text = done.stdout
        assert "Example:\n  " in text, path
        example = text.split("Example:\n  ", 1)[1].splitlines()[0]
        assert example.startswith(("cardki", "pkcs11-tool")), (path, example)


SECRET = "97531864"  # a PIN, a PUK or a management key, typed where it does not belong


@pytest.mark.parametrize("args", [
    ["piv", "access", "change-pin", "-P", PIN, SECRET],
    ["piv", "keys", "generate", SECRET],
    ["piv", "keys", "generate", "9a", "-a", SECRET],
    ["-m", SECRET, "piv", "info"],
    ["piv", "access", "change-management-key", f"--algorithm={SECRET}"],
    ["piv", "access", "set-retries", SECRET, "x"],
    ["sign", "--slot", SECRET, "--in", "x", "--out", "y"],
    ["sign", "--key", f"pkcs11:id=%01;pin-value={SECRET};bogus=1", "--in", "x", "--out", "y"],
])
def test_usage_errors_never_repeat_a_secret(args: List[str]) -> None:
    done = run(args)
    assert done.returncode == 2
    assert SECRET not in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_the_whole_life_of_a_key_and_no_secret_is_ever_shown(card: List[str], tmp_path: Path) -> None:
    """Every secret given on the command line, with the APDU trace on: none shows up."""
    new_pin, new_puk, new_key = "24681357", "13572468", "a1" * 32
    trace = ["--log-level", "trace"]
    outputs = [
        ok([*card, *trace, "piv", "keys", "generate", "9a", "-m", MGMT, "-o", str(tmp_path / "9a.pem")]),
        ok([*card, *trace, "piv", "certificates", "generate", "9a", "-s", "CN=cardki", "-P", PIN, "-m", MGMT]),
        ok([*card, *trace, "piv", "access", "change-pin", "-P", PIN, "-n", new_pin]),
        ok([*card, *trace, "piv", "access", "change-puk", "-p", "12345678", "-n", new_puk]),
        ok([*card, *trace, "piv", "access", "unblock-pin", "-p", new_puk, "-n", PIN]),
        ok([*card, *trace, "piv", "access", "change-management-key", "-m", MGMT, "-n", new_key]),
        ok([*card, *trace, "piv", "info"]),
    ]
    text = "".join(done.stdout + done.stderr for done in outputs)
    assert "TRACE" in text and "> 00 24 00 80 10 <redacted 16 bytes>" in text
    for value in (new_pin, new_puk, new_key, MGMT):  # (the factory PIN and PUK are in the serial 12345678)
        assert value not in text and value.encode().hex() not in text.replace(" ", "").lower(), value
    info = outputs[-1].stdout
    assert "Management key algorithm: AES256" in info and "Subject DN:   CN=cardki" in info
    assert "WARNING: the default PIN is in use" in info  # unblocked back to 123456
    assert "WARNING: the default management key" not in info


def test_errors_are_one_line(card: List[str], tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ok([*card, "piv", "keys", "import", "9d", str(key)])  # the factory management key, the card says so
    ok([*card, "piv", "keys", "generate", "82", "-a", "X25519"])
    cases = {
        ("piv", "keys", "export", "9a"): "slot 9A holds no key",
        ("piv", "keys", "attest", "9d"): "CKR_KEY_FUNCTION_NOT_PERMITTED",
        ("piv", "keys", "import", "9c", str(tmp_path / "missing.pem")): "cannot read",
        ("piv", "keys", "import", "9c", str(tmp_path / "card.json")): "cannot read a private key from",
        ("piv", "certificates", "export", "9d"): "holds no certificate",
        ("piv", "certificates", "generate", "82", "-s", "x", "-P", PIN): "cannot sign",
        ("piv", "access", "change-pin", "-P", "000000", "-n", "111111"): "CKR_PIN_INCORRECT",
        ("piv", "access", "change-puk", "-p", "00000000", "-n", "11111111"): "2 tries left",
        ("piv", "keys", "generate", "9a", "-m", "11" * 24): "CKR_PIN_INCORRECT",
        ("piv", "reset"): "confirm with -f (--force)",
        ("piv", "access", "set-retries", "5", "5"): "confirm with -f (--force)",
        ("piv", "access", "change-pin"): "a PIN is needed: give -P, set CARDKI_PIN, or run on a terminal",
        ("piv", "access", "change-pin", "-P", PIN): "a new PIN is needed: give -n, or run on a terminal",
        ("verify", "--slot", "9d", "--in", str(key), "--signature", str(key)): "the signature does not verify",
        ("decrypt", "--slot", "9d", "--in", str(key), "--out", "-", "-P", PIN): "cannot decrypt (only RSA keys do)",
    }
    for args, expected in cases.items():
        assert expected in one_error_line(run([*card, *args])), args
    ok([*card, "piv", "access", "change-management-key", "-n", "22" * 24])
    needed = one_error_line(run([*card, "piv", "keys", "delete", "9d"]))
    assert needed == "a management key is needed: give -m, set CARDKI_MANAGEMENT_KEY, or run on a terminal"
    ok([*card, "piv", "keys", "delete", "9d"], env={"CARDKI_MANAGEMENT_KEY": "22" * 24})


def test_sign_verify_encrypt_decrypt_by_slot_id_and_uri(card: List[str], tmp_path: Path) -> None:
    ok([*card, "piv", "keys", "generate", "9a", "-a", "ECCP384", "-o", str(tmp_path / "9a.pem")])
    ok([*card, "piv", "keys", "generate", "9d", "-a", "RSA2048", "-o", str(tmp_path / "9d.pem")])
    ec_public = serialization.load_pem_public_key((tmp_path / "9a.pem").read_bytes())
    rsa_public = serialization.load_pem_public_key((tmp_path / "9d.pem").read_bytes())
    assert isinstance(ec_public, ec.EllipticCurvePublicKey) and isinstance(rsa_public, rsa.RSAPublicKey)
    data = tmp_path / "data"
    data.write_bytes(b"signed on the card")
    pin = {"CARDKI_PIN": PIN}
    for name, chooser in (("slot", ["--slot", "9a"]), ("id", ["--key-id", "01"]),
                          ("uri", ["--key", "pkcs11:id=%01;type=private;object=PIV%20Authentication"])):
        signature = tmp_path / f"{name}.sig"
        ok([*card, "sign", *chooser, "--in", str(data), "--out", str(signature), "--mechanism", "ECDSA_SHA384"],
           env=pin)
        ec_public.verify(signature.read_bytes(), data.read_bytes(), ec.ECDSA(hashes.SHA384()))  # DER by default
        public_chooser = [c.replace("type=private", "type=public") for c in chooser]
        assert "the signature verifies" in ok([*card, "verify", *public_chooser, "--in", str(data), "--signature",
                                               str(signature), "--mechanism", "ECDSA_SHA384"]).stdout
    raw = tmp_path / "raw.sig"
    ok([*card, "sign", "--key", "pkcs11:serial=12345678;id=%01?pin-value=123456", "--in", str(data), "--out",
        str(raw), "--raw"])
    assert len(raw.read_bytes()) == 96  # r || s
    ok([*card, "verify", "--slot", "9a", "--in", str(data), "--signature", str(raw), "--raw"])
    secret = tmp_path / "secret.bin"
    ok([*card, "encrypt", "--slot", "9d", "--in", str(data), "--out", str(secret)])
    plain = ok([*card, "decrypt", "--slot", "9d", "--in", str(secret), "--out", "-"], env=pin).stdout
    assert plain == "signed on the card"
    oaep = rsa_public.encrypt(b"oaep", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    (tmp_path / "oaep.bin").write_bytes(oaep)
    assert ok([*card, "decrypt", "--slot", "9d", "--in", str(tmp_path / "oaep.bin"), "--out", "-", "--mechanism",
               "RSA_PKCS_OAEP"], env=pin).stdout == "oaep"
    assert "no token matches the pkcs11: URI" in one_error_line(
        run([*card, "--token", "pkcs11:serial=7", "sign", "--slot", "9a", "--in", str(data), "--out", "-"], env=pin))
    assert "names a cert object" in one_error_line(
        run([*card, "sign", "--key", "pkcs11:id=%01;type=cert", "--in", str(data), "--out", "-"], env=pin))


def _on_a_terminal(args: List[str], answers: List[str], env: Dict[str, str] | None = None,
                   timeout: float = 60) -> Tuple[int, str]:
    """Run cardki with a pseudo-terminal as its controlling terminal and stdin/stdout/stderr,
    typing ``answers`` at its prompts; returns (status, everything the terminal showed)."""
    assert CARDKI is not None
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CARDKI_")}
    full_env.update(env or {})
    pid, fd = pty.fork()
    if pid == 0:  # the child: cardki on the terminal
        os.execve(CARDKI, [CARDKI, *args], full_env)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
            if pending and chunk.endswith(b": "):  # a prompt, just written: answer it once
                os.write(fd, pending.pop(0).encode() + b"\n")
    else:
        os.kill(pid, signal.SIGKILL)  # still waiting at a prompt: the test fails below, it does not hang
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_prompts_do_not_echo_and_progress_shows_on_a_terminal_only(card: List[str], tmp_path: Path) -> None:
    status, shown = _on_a_terminal([*card, "piv", "access", "change-pin"], [PIN, "86420864", "86420864"])
    assert status == 0, shown
    assert "PIN:" in shown and "New PIN:" in shown and "Repeat the new PIN:" in shown
    assert PIN not in shown and "86420864" not in shown
    status, shown = _on_a_terminal([*card, "piv", "keys", "generate", "9a", "-a", "RSA2048", "-o",
                                    str(tmp_path / "9a.pem")], [""])  # blank: the factory management key
    assert status == 0, shown
    assert "Management key (blank for the factory default):" in shown
    assert "Generating an RSA2048 key in slot 9A on the card... " in shown and " s" in shown
    piped = ok([*card, "piv", "keys", "generate", "9c", "-a", "RSA2048", "-o", str(tmp_path / "9c.pem")])
    assert piped.stderr == ""  # nothing but the result when not on a terminal
