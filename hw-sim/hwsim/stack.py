"""Start and stop the PC/SC stack the virtual cards live in: pcscd + card servers.

One code path for ``hw-sim/up``, ``hw-sim/down`` and the pytest fixtures, so
what CI runs is what a developer runs. Everything we start is recorded in a pid
file under the run directory (``hw-sim/run/`` by default, ``$HWSIM_RUN_DIR`` to
move it); we stop only processes whose pid file we wrote, and only after
checking the pid still belongs to that program.

Reader indexes: 0 and 1 are vpcd's "Virtual PCD 00 00"/"00 01"; 2 and 3 are the
Yubico-named pair ("Yubico YubiKey CCID (hwsim) 00 00"/"00 01") that
hw-sim/bootstrap adds for clients that only use YubiKey readers (libykcs11).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Sequence

from hwsim.control import CardControl, ControlError
from hwsim.vpcd import BASE_PORT, YUBICO_FRIENDLY_NAME, port_for_reader
from hwsim.vpcd import reader_name as vpcd_reader_name

HWSIM_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = HWSIM_DIR.parent

STACK_PACKAGES = ("pcscd", "vsmartcard-vpcd")
"""What the stack itself needs from Debian (hw-sim/bootstrap installs the rest)."""


STACK_LOCK = "/tmp/hwsim-pcsc-stack.lock"
"""One lock per machine, not per checkout: pcscd and the vpcd ports are per machine."""


class StackError(Exception):
    """The stack could not be brought to the requested state."""


# -- readers ---------------------------------------------------------------------------------------
#
# Reader indexes: 0 and 1 are vpcd's own pair ("Virtual PCD 00 00"/"00 01", Debian's
# /etc/reader.conf.d/vpcd, ports 35963/35964). 2 and 3 are a second vpcd pair that
# hw-sim/bootstrap adds, named like a YubiKey's reader ("Yubico YubiKey CCID (hwsim) 00 00"/
# "00 01", ports 35965/35966): libykcs11 uses only readers whose name starts with "Yubico",
# and ykman derives the USB interfaces from the "CCID" in the name.

CLASSIC_READERS = (0, 1)
"""vpcd's own readers, named "Virtual PCD 00 0N"."""

YUBICO_READER = 2
"""The first Yubico-named reader (what ykcs11 sees); 3 is its twin."""

YUBICO_READERS = (2, 3)

YUBICO_BASE_PORT = BASE_PORT + len(CLASSIC_READERS)
"""35965 (0x8C7D): vpcd's second pair listens on this port and the next."""

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
YUBICO_DRIVER = Path("/usr/local/lib/cardki/libifdvpcd-yubico.so")
"""A byte-for-byte copy of vpcd's driver for the second pair. vpcd keeps its readers in one
static table indexed by the slot number (Lun & 0xffff), so a second reader.conf entry naming
the same file makes pcscd reuse the loaded driver and the new pair takes over slots 0 and 1:
"Virtual PCD 00 00" would then talk to the card on 35965. A copy at another path (another
inode) is loaded as a separate instance with its own table."""

YUBICO_READER_CONF = Path("/etc/reader.conf.d/cardki-vpcd-yubico")


def default_reader(card: str | None = None) -> int:
    """Where a card of class ``card`` (a ``--card`` value; None: the YubiKey) goes
    unless told otherwise: a YubiKey into the Yubico-named reader, as a real key
    on USB always sits in a "Yubico YubiKey ..." reader (ykman 5 takes the USB
    product id from that name and cannot open a YubiKey anywhere else); any
    other card into vpcd's own "Virtual PCD 00 00"."""
    from hwsim.server import DEFAULT_CARD, load_card_class

    card_class = load_card_class(card or DEFAULT_CARD)
    return YUBICO_READER if getattr(card_class, "kind", None) == "yubikey" else CLASSIC_READERS[0]


def reader_name(reader: int) -> str:
    """The name pcscd gives reader index ``reader`` (0, 1: vpcd's; 2, 3: the Yubico-named pair)."""
    return vpcd_reader_name(reader)


def reader_port(reader: int) -> int:
    """vpcd's TCP port for reader index ``reader`` (35963 + reader for both pairs)."""
    return port_for_reader(reader)


def yubico_reader_conf() -> str:
    """The reader.conf entry for the Yubico-named vpcd pair (what hw-sim/bootstrap installs)."""
    return (
        "# Installed by cardki's hw-sim/bootstrap: a second vpcd reader pair named like a\n"
        "# YubiKey's reader, because libykcs11 uses only readers whose name starts with\n"
        "# \"Yubico\". It loads a copy of vpcd's driver: a second entry naming the same file\n"
        "# would share the driver's slot table and take over \"Virtual PCD 00 00\".\n"
        "# pcscd reads this only when it starts.\n"
        f"FRIENDLYNAME \"{YUBICO_FRIENDLY_NAME}\"\n"
        f"DEVICENAME   /dev/null:0x{YUBICO_BASE_PORT:X}\n"
        f"LIBPATH      {YUBICO_DRIVER}\n"
        f"CHANNELID    0x{YUBICO_BASE_PORT:X}\n"
    )


def yubico_reader_installed() -> bool:
    """True when the reader.conf entry and the driver copy are in place and current."""
    try:
        return (YUBICO_READER_CONF.read_text() == yubico_reader_conf()
                and YUBICO_DRIVER.read_bytes() == VPCD_DRIVER.read_bytes())
    except OSError:
        return False


def install_yubico_reader() -> List[str]:
    """Install (or bring up to date) the driver copy and the reader.conf entry; returns
    what was written, nothing when all was current. Needs root; pcscd sees the new
    readers only after it (re)starts."""
    written = []
    driver = VPCD_DRIVER.read_bytes()  # OSError when vsmartcard-vpcd is missing
    for path, content in ((YUBICO_DRIVER, driver), (YUBICO_READER_CONF, yubico_reader_conf().encode())):
        try:
            if path.read_bytes() == content:
                continue
        except FileNotFoundError:
            pass
        _write_atomically(path, content)
        written.append(str(path))
    return written


def _write_atomically(path: Path, content: bytes) -> None:
    """Write, then rename: a pcscd starting meanwhile reads the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_bytes(content)
    temporary.chmod(0o644)
    os.replace(temporary, path)


def run_dir() -> Path:
    path = Path(os.environ.get("HWSIM_RUN_DIR") or HWSIM_DIR / "run")
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def exclusive_stack(timeout: float = 1800.0, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the machine's PC/SC stack alone (an flock on ``STACK_LOCK``).

    There is one pcscd and one vpcd reader pair per machine, whichever checkout
    a run comes from; two test runs that swap cards in the same reader break
    each other. Test sessions take this lock so they queue instead.
    ``on_wait`` is called once if we must wait.
    """
    lock_path = Path(os.environ.get("HWSIM_STACK_LOCK") or STACK_LOCK)
    with open(lock_path, "a+") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StackError(f"the PC/SC stack stayed busy for {timeout:.0f}s") from None
                    time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


# -- Debian packages -------------------------------------------------------------------------


def missing_packages(packages: Iterable[str]) -> List[str]:
    """The packages dpkg does not report as installed."""
    missing = []
    for package in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False)
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def ensure_packages(packages: Sequence[str] = STACK_PACKAGES) -> List[str]:
    """apt-get install what is missing (apt-get update once first); returns what was installed."""
    missing = missing_packages(packages)
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                       check=True, env=env)
    return missing


# -- processes and pid files -------------------------------------------------------------------


def _cmdline(pid: int) -> List[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_if_running(pid_file: Path, program_marker: str) -> int | None:
    """The pid in ``pid_file`` when it still runs ``program_marker``; removes stale files."""
    pid = _read_pid(pid_file)
    if pid is not None and _is_alive(pid) and any(program_marker in part for part in _cmdline(pid)):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def _terminate(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM, wait, then SIGKILL: only ever called with a pid we started."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not _is_alive(pid):
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its parent reaps it


# -- pcscd ----------------------------------------------------------------------------------------


def running_pcscd() -> int | None:
    """The pid of a running pcscd, whoever started it."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "pcscd" and _is_alive(int(entry.name)):
                    return int(entry.name)
            except OSError:
                continue
    return None


def pcscd_pid_file() -> Path:
    return run_dir() / "pcscd.pid"


def ensure_pcscd(timeout: float = 15.0) -> bool:
    """Start ``pcscd -f`` unless one runs; True when we started it (its pid is recorded).

    Returns once pcscd lists the vpcd reader, so card servers can connect (and, when
    we started it with the Yubico-named pair installed, those readers too).
    """
    started = False
    if running_pcscd() is None:
        log_file = open(run_dir() / "pcscd.log", "ab")
        try:
            process = subprocess.Popen(
                ["pcscd", "-f"], stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log_file.close()
        pcscd_pid_file().write_text(f"{process.pid}\n")
        started = True
    deadline = time.monotonic() + timeout
    while reader_name(0) not in pcsc_readers():
        if time.monotonic() > deadline:
            raise StackError(f"pcscd does not list {reader_name(0)!r}: is vsmartcard-vpcd installed?")
        time.sleep(0.05)
    if started and yubico_reader_installed():
        # pcscd lists its reader.conf readers together; a short grace only, so a broken
        # Yubico entry never costs readers 0 and 1 (ensure_reader reports it when needed).
        deadline = time.monotonic() + 2.0
        while reader_name(YUBICO_READER) not in pcsc_readers() and time.monotonic() < deadline:
            time.sleep(0.05)
    return started


def ensure_reader(reader: int, may_restart_pcscd: bool = False, timeout: float = 15.0) -> bool:
    """Make sure pcscd lists reader index ``reader``; True when pcscd had to be restarted
    for that. Raises StackError saying what to do when it cannot.

    vpcd's own readers (0, 1) are there whenever pcscd runs. The Yubico-named pair
    (2, 3) exists only in a pcscd started after hw-sim/bootstrap installed its
    reader.conf entry: pcscd reads reader.conf.d only when it starts. A pcscd
    that lacks them is restarted only when ``may_restart_pcscd`` (the caller
    started that pcscd) and hwsim's pid file says it is ours; any other pcscd is
    left alone and the error says how to restart it.
    """
    name = reader_name(reader)
    if name in pcsc_readers():
        return False
    if reader not in YUBICO_READERS:
        raise StackError(f"pcscd does not list {name!r}: is vsmartcard-vpcd installed?")
    if not yubico_reader_installed():
        raise StackError(f"reader {name!r} is not configured: run hw-sim/bootstrap as root (it installs"
                         f" {YUBICO_READER_CONF} and {YUBICO_DRIVER}), then restart pcscd")
    pid = running_pcscd()
    if pid is None:
        raise StackError(f"pcscd is not running, so no reader {name!r}")
    ours = _pid_if_running(pcscd_pid_file(), "pcscd")
    if not (may_restart_pcscd and ours is not None):
        who = ("started by hwsim from this checkout, not by this run (hw-sim/down && hw-sim/up"
               " restarts it)" if ours is not None else
               "not started from this checkout (restart it where it was started, e.g. hw-sim/down"
               " there or systemctl restart pcscd, or stop it and let the test run start its own)")
        raise StackError(f"pcscd (pid {pid}) does not list {name!r}: it started before"
                         f" {YUBICO_READER_CONF} was installed and reads reader.conf.d only at start;"
                         f" it was {who}")
    restart_pcscd()
    deadline = time.monotonic() + timeout
    while name not in pcsc_readers():
        if time.monotonic() > deadline:
            raise StackError(f"pcscd restarted but does not list {name!r}; see {run_dir() / 'pcscd.log'}")
        time.sleep(0.05)
    return True


def stop_pcscd() -> bool:
    """Stop pcscd if (and only if) we started it; True when stopped."""
    pid = _pid_if_running(pcscd_pid_file(), "pcscd")
    if pid is None:
        return False
    _terminate(pid)
    pcscd_pid_file().unlink(missing_ok=True)
    return True


def restart_pcscd() -> None:
    """Stop and start again the pcscd we started (what a pcscd crash or upgrade
    looks like to the card servers, which must reconnect by themselves)."""
    if _pid_if_running(pcscd_pid_file(), "pcscd") is None:
        raise StackError("pcscd was not started by hwsim: refusing to restart it")
    stop_pcscd()
    ensure_pcscd()


# -- PC/SC view (what a real client sees) ----------------------------------------------------------


def _scard() -> Any:  # the smartcard.scard module
    """pyscard's low-level API; a clear hint when it is not installed yet."""
    try:
        from smartcard import scard
    except ImportError as error:
        raise StackError("pyscard is not installed: run hw-sim/bootstrap") from error
    return scard


def pcsc_readers() -> List[str]:
    """Reader names PC/SC lists now; empty when pcscd is not reachable."""
    scard = _scard()

    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if result != scard.SCARD_S_SUCCESS:
        return []
    try:
        result, readers = scard.SCardListReaders(context, [])
        return list(readers) if result == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(context)


def card_present(reader: str) -> bytes | None:
    """The ATR when PC/SC sees a card in ``reader``, else None."""
    scard = _scard()

    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if result != scard.SCARD_S_SUCCESS:
        return None
    try:
        result, states = scard.SCardGetStatusChange(
            context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if result != scard.SCARD_S_SUCCESS:
            return None
        _, event_state, atr = states[0]
        return bytes(atr) if event_state & scard.SCARD_STATE_PRESENT else None
    finally:
        scard.SCardReleaseContext(context)


def pcsc_connect(reader: str) -> Any:  # a smartcard.CardConnection (pyscard is imported lazily)
    """A plain pyscard connection (shared mode, T=0 or T=1) to the card in ``reader``:
    what any PC/SC client gets. The caller disconnects it."""
    from smartcard.System import readers

    matching = [candidate for candidate in readers() if str(candidate) == reader]
    if not matching:
        raise StackError(f"PC/SC lists no reader {reader!r}")
    connection = matching[0].createConnection()
    connection.connect()
    return connection


def wait_for_card(reader: str, present: bool = True, timeout: float = 10.0) -> bytes | None:
    """Block until PC/SC sees the card in ``reader`` present (or absent).

    Uses SCardGetStatusChange, so it wakes as soon as pcscd notices (pcscd
    polls vpcd about every 0.4 s). Returns the ATR when waiting for presence.
    """
    scard = _scard()

    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if result != scard.SCARD_S_SUCCESS:
        raise StackError(f"cannot reach pcscd: {scard.SCardGetErrorMessage(result)}")
    try:
        deadline = time.monotonic() + timeout
        known = scard.SCARD_STATE_UNAWARE
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            result, states = scard.SCardGetStatusChange(context, remaining_ms, [(reader, known)])
            if result == scard.SCARD_S_SUCCESS:
                _, event_state, atr = states[0]
                is_present = bool(event_state & scard.SCARD_STATE_PRESENT)
                if is_present == present:
                    return bytes(atr) if present else None
                known = event_state & ~scard.SCARD_STATE_CHANGED
            elif result != scard.SCARD_E_TIMEOUT:
                time.sleep(0.05)  # reader not there yet (pcscd starting): look again
            if time.monotonic() >= deadline:
                state = "present" if present else "absent"
                raise StackError(f"card in {reader!r} not {state} after {timeout:.1f}s")
    finally:
        scard.SCardReleaseContext(context)


def _wait_pcsc(reader: str, present: bool, timeout: float = 5.0) -> None:
    """Wait for PC/SC to agree, when pcscd runs at all (servers may start first)."""
    try:
        wait_for_card(reader, present=present, timeout=timeout)
    except StackError:
        if running_pcscd() is not None:
            raise


def vpcd_clients(reader: int) -> List[int]:
    """Pids of processes holding a TCP connection to vpcd's port for ``reader``
    (card servers from any checkout, or vicc): the reader's card, or cards
    queued behind it."""
    port = reader_port(reader)
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    if not inodes:
        return []
    holders = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    holders.append(int(entry.name))
                    break
        except OSError:
            continue
    return holders


# -- card servers ---------------------------------------------------------------------------------


@dataclass
class ServerInfo:
    """A card server we started for one reader."""
    reader: int
    pid: int
    control_path: Path
    log_path: Path

    @property
    def reader_name(self) -> str:
        return reader_name(self.reader)

    @property
    def control(self) -> CardControl:
        return CardControl(self.control_path)


def server_pid_file(reader: int) -> Path:
    return run_dir() / f"reader{reader}.pid"


def control_path(reader: int) -> Path:
    return run_dir() / f"reader{reader}.sock"


def running_server(reader: int) -> ServerInfo | None:
    """The server we started for ``reader``, if it still runs."""
    pid = _pid_if_running(server_pid_file(reader), "hwsim")
    if pid is None:
        return None
    return ServerInfo(reader, pid, control_path(reader), run_dir() / f"reader{reader}.log")


def foreign_server(reader: int) -> ServerInfo | None:
    """An hwsim card server from another checkout that holds ``reader`` and
    answers on its control socket (found through its command line), if any."""
    for pid in vpcd_clients(reader):
        command = _cmdline(pid)
        if "hwsim" not in " ".join(command) or "serve" not in command or "--control" not in command:
            continue
        index = command.index("--control") + 1
        if index < len(command):
            info = ServerInfo(reader, pid, Path(command[index]), Path(f"/proc/{pid}/fd/1"))
            if info.control.ping():
                return info
    return None


def start_server(
    reader: int = 0,
    state: os.PathLike | None = None,
    firmware: str | None = None,
    serial: int | None = None,
    trace: os.PathLike | None = None,
    card: str | None = None,
    parent_pid: int | None = None,
    timeout: float = 10.0,
    extra_args: Sequence[str] = (),
) -> ServerInfo:
    """Start a fresh card server for ``reader`` (replacing one we started before)
    and wait until it answers on its control socket and holds the vpcd connection.

    ``parent_pid``: the server exits by itself when that process is gone (the
    pytest run), so a killed test run leaves no server behind.
    """
    if stop_server(reader):
        # vpcd notices a vanished card only at pcscd's next poll; a new card
        # connecting before that would be talked to as the old, powered one.
        _wait_pcsc(reader_name(reader), present=False)
    foreign = [pid for pid in vpcd_clients(reader) if pid != os.getpid()]
    if foreign:
        who = "; ".join(f"pid {pid}: {' '.join(_cmdline(pid))[:120]}" for pid in foreign)
        raise StackError(f"reader {reader} already holds a card we did not start ({who});"
                         " stop it first (hw-sim/down in the checkout that started it)")
    socket_path = control_path(reader)
    log_path = run_dir() / f"reader{reader}.log"
    command = [sys.executable, "-m", "hwsim", "serve", "--reader", str(reader),
               "--port", str(reader_port(reader)), "--control", str(socket_path)]
    if state is not None:
        command += ["--state", str(state)]
    if firmware is not None:
        command += ["--firmware", str(firmware)]
    if serial is not None:
        command += ["--serial", str(serial)]
    if trace is not None:
        command += ["--trace", str(trace)]
    if card is not None:
        command += ["--card", card]
    if parent_pid is not None:
        command += ["--parent-pid", str(parent_pid)]
    command += list(extra_args)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HWSIM_DIR), env.get("PYTHONPATH")]))
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            command, cwd=str(REPO_ROOT), env=env, stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    server_pid_file(reader).write_text(f"{process.pid}\n")
    info = ServerInfo(reader, process.pid, socket_path, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            server_pid_file(reader).unlink(missing_ok=True)
            raise StackError(f"card server for reader {reader} exited with {process.returncode};"
                             f" see {log_path}")
        try:
            if info.control.status()["present"]:
                _wait_pcsc(info.reader_name, present=True)
                return info
        except ControlError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            stop_server(reader)
            raise StackError(f"card server for reader {reader} did not reach vpcd; see {log_path}")
        time.sleep(0.01)


def stop_server(reader: int) -> bool:
    """Stop the server we started for ``reader``; True when one was stopped."""
    info = running_server(reader)
    if info is None:
        return False
    try:
        info.control.shutdown()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            _reap(info.pid)
            if not _is_alive(info.pid):
                break
            time.sleep(0.01)
    except ControlError:
        pass  # not answering: fall through to the signal
    _terminate(info.pid)
    server_pid_file(reader).unlink(missing_ok=True)
    return True


def running_readers() -> List[int]:
    """Reader indexes with a server we started."""
    readers = []
    for pid_file in sorted(run_dir().glob("reader*.pid")):
        index = pid_file.stem[len("reader"):]
        if index.isdigit() and running_server(int(index)) is not None:
            readers.append(int(index))
    return readers
