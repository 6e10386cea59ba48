"""GnuPG against a virtual card: a GNUPGHOME of its own per test, scdaemon in
shared mode on the card's reader, PINs through loopback pinentry, and the
interactive --card-edit menus driven through --command-fd / --status-fd.

scdaemon must never hold the card alone (other tests and ykman use the same
reader), and gpg-agent/scdaemon must not outlive the test: ``gpg_home``
writes pcsc-shared + reader-port and kills both with gpgconf afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Sequence

import pytest

GPG = shutil.which("gpg") or "/usr/bin/gpg"
GPGCONF = shutil.which("gpgconf") or "/usr/bin/gpgconf"
SCDAEMON = Path("/usr/lib/gnupg/scdaemon")

#: Answers to gpg's prompts that every card-edit session here gives the same way.
DEFAULT_ANSWERS: Dict[str, str] = {
    "cardedit.genkeys.backup_enc": "n",
    "cardedit.genkeys.replace_keys": "y",
    "keygen.valid": "0",
    "keygen.valid.okay": "y",
    "keygen.name": "Card Holder",
    "keygen.email": "holder@example.org",
    "keygen.comment": "",
    "keyedit.save.okay": "y",
    "cardedit.factory-reset.proceed": "y",
    "cardedit.factory-reset.really": "yes",
}


class Gpg:
    """gpg with its own home, talking to the card in ``reader`` through scdaemon."""

    def __init__(self, home: Path, reader: str) -> None:
        for program in (GPG, GPGCONF, str(SCDAEMON)):
            if not Path(program).exists():
                pytest.fail(f"{program} is not installed (apt-get install gnupg scdaemon)")
        self.home = home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        (home / "scdaemon.conf").write_text(
            "pcsc-shared\n"          # never hold the reader alone: other clients share it
            "disable-ccid\n"         # PC/SC only (the virtual reader is a pcscd reader)
            f"reader-port {reader}\n"
            f"log-file {home / 'scdaemon.log'}\n"
            # HWSIM_GPG_DEBUG=1: the APDUs in the log (shown when a gpg call fails).
            + ("debug-level guru\ndebug 2048\n" if os.environ.get("HWSIM_GPG_DEBUG") else "")
        )
        (home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")

    def run(self, *args: str, pin: str | None = None, check: bool = True,
            input: bytes | None = None) -> subprocess.CompletedProcess:
        """One batch gpg command; ``pin`` answers the card's PIN prompt (loopback)."""
        argv = [GPG, "--homedir", str(self.home), "--batch", "--no-tty", "--trust-model", "always"]
        if pin is not None:
            argv += ["--pinentry-mode", "loopback", "--passphrase", pin]
        result = subprocess.run(argv + list(args), capture_output=True, timeout=120, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"gpg {' '.join(args[:3])} failed: {result.stderr.decode(errors='replace')}"
                                 f"\nscdaemon log tail:\n{self.scdaemon_log()[-3000:]}")
        return result

    def card_status(self) -> str:
        return self.run("--card-status").stdout.decode()

    def card_edit(self, commands: Sequence[str], pins: Iterable[str] = (),
                  answers: Dict[str, str | List[str]] | None = None, edit: str = "--card-edit",
                  extra: Sequence[str] = ()) -> List[str]:
        """Drive an interactive menu (--card-edit, or --edit-key KEY): each
        ``cardedit.prompt``/``keyedit.prompt`` takes the next command ("quit" at the
        end), each PIN prompt the next of ``pins``, other prompts ``answers`` (over
        DEFAULT_ANSWERS; a list answers the same prompt in turn). Returns gpg's
        status lines; an unexpected prompt fails."""
        table: Dict[str, str | List[str]] = {**DEFAULT_ANSWERS, **(answers or {})}
        queue, pin_queue = list(commands), list(pins)
        argv = [GPG, "--homedir", str(self.home), "--no-tty", "--command-fd", "0", "--status-fd", "1",
                "--pinentry-mode", "loopback", *extra, *edit.split()]
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, bufsize=1)
        assert process.stdin is not None and process.stdout is not None
        status: List[str] = []
        try:
            for line in process.stdout:
                status.append(line.rstrip("\n"))
                if not line.startswith("[GNUPG:] GET_"):
                    continue
                keyword = line.split()[2]
                if keyword in ("cardedit.prompt", "keyedit.prompt"):
                    reply = queue.pop(0) if queue else "quit"
                elif keyword == "passphrase.enter":
                    if not pin_queue:
                        raise AssertionError(f"gpg asked for one PIN more than given: {status[-6:]}")
                    reply = pin_queue.pop(0)
                elif keyword in table:
                    answer = table[keyword]
                    reply = answer if isinstance(answer, str) else answer.pop(0)
                else:
                    raise AssertionError(f"unexpected gpg prompt {keyword}: {status[-6:]}")
                process.stdin.write(reply + "\n")
                process.stdin.flush()
        finally:
            if process.poll() is None:
                process.stdin.close()
            stderr = process.stderr.read() if process.stderr else ""
            code = process.wait(timeout=120)
        if code != 0 or queue:
            raise AssertionError(f"gpg {edit} ended with {code}, commands left {queue}:\n{stderr}\n"
                                 f"{chr(10).join(status[-15:])}\nscdaemon log tail:\n{self.scdaemon_log()[-3000:]}")
        return status

    def scdaemon_log(self) -> str:
        path = self.home / "scdaemon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """Stop this home's gpg-agent and scdaemon, so nothing holds the reader."""
        subprocess.run([GPGCONF, "--homedir", str(self.home), "--kill", "all"], capture_output=True, timeout=30)


@pytest.fixture
def gpg_home() -> Iterator[Callable[[str], Gpg]]:
    """``gpg_home(reader_name) -> Gpg``; after the test its agent and scdaemon are
    stopped and the home removed. Homes sit directly in /tmp: gpg-agent puts its
    sockets in the home, and a socket path has at most 107 characters."""
    made: List[Gpg] = []

    def make(reader: str) -> Gpg:
        gpg = Gpg(Path(tempfile.mkdtemp(prefix="hwsim-gpg-", dir="/tmp")), reader)
        made.append(gpg)
        return gpg

    try:
        yield make
    finally:
        for gpg in made:
            gpg.kill()
            shutil.rmtree(gpg.home, ignore_errors=True)
