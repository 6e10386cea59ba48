"""Benchmark: the same PKCS#11 client scenario against cardki, OpenSC and YKCS11 on one virtual card.

Not a test (nothing here can fail on speed); run it by hand:

    python3 tests/bench/module_bench.py [--signatures 200] [--rounds 3] [--reader 2] [--chart FILE]

It takes the machine's PC/SC stack (the same lock test runs use) and puts a
virtual YubiKey (firmware 5.4.3) into the Yubico-named vpcd reader
"Yubico YubiKey CCID (hwsim) 00 00" (reader index 2, installed by
hw-sim/bootstrap): libykcs11 uses only readers whose name starts with
"Yubico", and the other two modules use any reader, so all three talk to the
very same card. Firmware 5.4.3 because its management key is 3DES, the only
kind yubico-piv-tool/ykcs11 2.2.0 can authenticate with (5.7 ships AES-192).

For each key -- RSA-2048 signed with CKM_SHA256_RSA_PKCS, then ECDSA P-256
signed with CKM_ECDSA_SHA256, both generated in slot 9a with yubico-piv-tool,
which also imports a certificate for them -- and for each module it runs a
fresh PyKCS11 process: load the module, find the slot by reader name, open a
session, log in, sign once (time to first signature, measured from just
before the process is spawned), then sign N more times (signatures per
second). The card server's APDU counter gives the APDUs spent until the
first signature was returned and the APDUs per signature in the loop. The
first signature of every run is verified against the key's certificate, so
a module that answers fast but wrong shows up as a failed row. A last column
times one whole pkcs11-tool process that signs once: a C host, where cardki
must also start its own interpreter.

pcscd must list the Yubico-named reader: a pcscd started before
hw-sim/bootstrap installed it is restarted only if this benchmark started it;
otherwise the benchmark stops and says how to restart it. Output: a Markdown
table on stdout, the machine's load (load average, CPUs, other busy processes)
at start and end so a noisy run shows, and the table as a chart: an SVG written
by hand, no plotting package needed (``--chart``, default docs/module_bench.svg,
which the README shows).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hw-sim"))

from cryptography import x509  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from hwsim import stack  # noqa: E402
from hwsim.control import CardControl  # noqa: E402
from hwsim.server import DEFAULT_CARD  # noqa: E402

PIN = "123456"
FIRMWARE = "5.4.3"
OTHER_MODULES = {
    "opensc": "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "ykcs11": "/usr/lib/x86_64-linux-gnu/libykcs11.so",
}


@dataclass(frozen=True)
class Scenario:
    """One key in slot 9a and the mechanism every module signs with."""

    title: str
    piv_tool_algorithm: str
    mechanism: str
    """PyKCS11 constant name."""
    pkcs11_tool_mechanism: str


SCENARIOS = (
    Scenario("RSA-2048, CKM_SHA256_RSA_PKCS", "RSA2048", "CKM_SHA256_RSA_PKCS", "SHA256-RSA-PKCS"),
    Scenario("ECDSA P-256, CKM_ECDSA_SHA256", "ECCP256", "CKM_ECDSA_SHA256", "ECDSA-SHA256"),
)

CLIENT = r"""
import json, sys, time
t0 = float(sys.argv[6])
import PyKCS11
from PyKCS11 import CKA_CLASS, CKA_ID, CKF_SERIAL_SESSION, CKO_PRIVATE_KEY
sys.path.insert(0, sys.argv[7])
from hwsim.control import CardControl
module, reader, mechanism_name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
control = CardControl(sys.argv[5])
if sys.argv[8] == "unchecked":
    # Bench only (--unchecked): cardki without its check of the card's signatures, to show
    # what the check costs. The host shares its interpreter with the module it loads, so
    # replacing the two checks here replaces them in the module; the first signature is
    # still verified below, by the benchmark.
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from cardki.token import card_results
    def ecdsa_unchecked(public_key, digest, der):
        r, s = decode_dss_signature(der)
        size = (public_key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    def rsa_unchecked(public_key, sent, answer, what, *, pkcs1_payload=None):
        return answer.rjust((public_key.key_size + 7) // 8, b"\0")
    card_results.ecdsa_signature, card_results.rsa_private_result = ecdsa_unchecked, rsa_unchecked
lib = PyKCS11.PyKCS11Lib()
lib.load(module)
slots = [s for s in lib.getSlotList(tokenPresent=True) if lib.getSlotInfo(s).slotDescription.strip() == reader]
if not slots:
    sys.exit("the module shows no slot for this reader")
session = lib.openSession(slots[0], CKF_SERIAL_SESSION)
session.login(sys.stdin.readline().strip())
key = session.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_ID, (0x01,))])[0]
mechanism = PyKCS11.Mechanism(getattr(PyKCS11, mechanism_name))
first_signature = bytes(session.sign(key, b"first", mechanism))
first = time.time() - t0
setup_apdus = control.count()
started = time.perf_counter()
for index in range(count):
    session.sign(key, b"message %d" % index, mechanism)
elapsed = time.perf_counter() - started
loop_apdus = control.count() - setup_apdus
session.logout()
session.closeSession()
print(json.dumps({"first": first, "per_second": count / elapsed, "apdus_per_sign": loop_apdus / count,
                  "setup_apdus": setup_apdus, "first_signature": first_signature.hex()}))
"""

#: The row of cardki with its signature checks replaced in the client (``--unchecked``).
UNCHECKED = "cardki, unchecked (bench only)"

Row = Tuple[Scenario, str, None | str | Dict[str, float]]
"""(scenario, module, result): None = module not installed, str = why there is no result."""


def source_commit() -> str:
    """The commit this checkout is at ("+ changes" when the tree has edits)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""
    commit = git("rev-parse", "--short", "HEAD") or "an unknown commit"
    return commit + (" + changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def module_environment() -> Dict[str, str]:
    """The caller's environment without CARDKI_* and with cardki's config file pinned to none,
    so a developer's settings cannot change the numbers."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARDKI_")}
    env["CARDKI_CONFIG"] = "/nonexistent/cardki-module.toml"
    return env


def certificate_for(public_pem: bytes) -> bytes:
    """A certificate carrying the card's key, from a throw-away host CA (key-holder proof is not needed)."""
    issuer = ec.generate_private_key(ec.SECP256R1())
    public = serialization.load_pem_public_key(public_pem)
    if not isinstance(public, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise TypeError(f"unexpected key type {type(public).__name__}")
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cardki bench 9a")]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cardki bench CA")]))
               .public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=7)))
    return builder.sign(issuer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def piv_tool(reader: str, *args: str) -> None:
    subprocess.run(["yubico-piv-tool", "-r", reader, *args], check=True, capture_output=True, timeout=180)


def provision(reader: str, scenario: Scenario, workdir: Path) -> bytes:
    """A new key in 9a (default management key) plus its certificate; returns the public key PEM."""
    public, cert = workdir / "9a.pub.pem", workdir / "9a.crt.pem"
    piv_tool(reader, "-a", "generate", "-s", "9a", "-A", scenario.piv_tool_algorithm, "-o", str(public))
    cert.write_bytes(certificate_for(public.read_bytes()))
    piv_tool(reader, "-a", "import-certificate", "-s", "9a", "-i", str(cert))
    return public.read_bytes()


def verify_first_signature(public_pem: bytes, signature: bytes) -> None:
    """Raises InvalidSignature unless ``signature`` (PKCS#11 format) signs b"first" with the 9a key."""
    public = serialization.load_pem_public_key(public_pem)
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, b"first", padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(public, ec.EllipticCurvePublicKey):
        half = len(signature) // 2  # PKCS#11 ECDSA: r || s, each the size of the order
        der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
        public.verify(der, b"first", ec.ECDSA(hashes.SHA256()))
    else:
        raise TypeError(f"unexpected key type {type(public).__name__}")


def run_client(module: str, reader: str, scenario: Scenario, control_path: Path, signatures: int,
               public_pem: bytes, unchecked: bool = False) -> Dict[str, float]:
    """One fresh client process; its numbers (raises RuntimeError with the reason when it fails).
    ``unchecked``: cardki's checks of the card's signatures are replaced (see CLIENT)."""
    CardControl(control_path).reset_count()
    started = time.time()
    done = subprocess.run([sys.executable, "-c", CLIENT, module, reader, scenario.mechanism, str(signatures),
                           str(control_path), repr(started), str(REPO / "hw-sim"),
                           "unchecked" if unchecked else "checked"],
                          input=PIN + "\n", capture_output=True, text=True, env=module_environment(), timeout=600)
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or ["?"])[-1])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    try:
        verify_first_signature(public_pem, bytes.fromhex(result.pop("first_signature")))
    except InvalidSignature:
        raise RuntimeError("the first signature does not verify against the 9a certificate") from None
    return result


def c_host_signature_time(module: str, reader: str, scenario: Scenario, workdir: Path) -> float:
    """Wall time of one pkcs11-tool process that signs once (a C host: the module starts its own Python)."""
    data = workdir / "data"
    data.write_bytes(b"one signature from a C host")
    started = time.perf_counter()
    subprocess.run(["pkcs11-tool", "--module", module, "--slot-description", reader, "--login", "--pin", PIN,
                    "--sign", "-m", scenario.pkcs11_tool_mechanism, "--id", "01", "-i", str(data),
                    "-o", str(workdir / "sig")],
                   check=True, capture_output=True, env=module_environment(), timeout=120)
    return time.perf_counter() - started


def insert_bench_card(control: CardControl, reader: str, state: Path) -> None:
    """A factory-fresh YubiKey 5.4.3 in the reader, seen by PC/SC with its own ATR."""
    swapped = control.new_card(firmware=FIRMWARE, serial=24681357, state=state, card=DEFAULT_CARD)
    if swapped["atr_changed"] and control.status()["present"]:
        control.remove()  # PC/SC keeps the ATR read at insertion: re-insert so it reads the new one
        stack.wait_for_card(reader, present=False)
    control.insert()
    stack.wait_for_card(reader, present=True)


def measure(modules: Dict[str, str], reader: str, control_path: Path, options: argparse.Namespace,
            workdir: Path) -> List[Row]:
    rows: List[Row] = []
    for scenario in SCENARIOS:
        public_pem = provision(reader, scenario, workdir)
        for name, path in modules.items():
            if not Path(path).exists():
                rows.append((scenario, name, None))
                continue
            try:
                runs = [run_client(path, reader, scenario, control_path, options.signatures, public_pem,
                                   unchecked=name == UNCHECKED)
                        for _ in range(options.rounds)]
                c_host = (min(c_host_signature_time(path, reader, scenario, workdir) for _ in range(options.rounds))
                          if name != UNCHECKED else float("nan"))
            except (RuntimeError, subprocess.CalledProcessError) as failure:
                rows.append((scenario, name, str(failure)))
                continue
            best = min(runs, key=lambda run: run["first"])
            best["per_second"] = max(run["per_second"] for run in runs)
            best["c_host"] = c_host
            rows.append((scenario, name, best))
    return rows


def markdown(rows: List[Row]) -> str:
    lines = ["| key, mechanism | module | APDUs per signature | APDUs until first signature "
             "| time to first signature (s) | signatures per second | pkcs11-tool, one signature (s) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for scenario, name, result in rows:
        if result is None or isinstance(result, str):
            why = "not installed" if result is None else f"no result: {result}"
            lines.append(f"| {scenario.title} | {name} | {why} | | | | |")
            continue
        lines.append(f"| {scenario.title} | {name} | {result['apdus_per_sign']:.2f} | {result['setup_apdus']} "
                     f"| {result['first']:.3f} | {result['per_second']:.1f} "
                     f"| {result['c_host']:.3f} |".replace("| nan |", "| |"))
    return "\n".join(lines)


def machine_load(sample: float = 0.5) -> Dict[str, object]:
    """The load average, the CPU count and the processes that kept a CPU busy for at
    least 5% of ``sample`` seconds (this one excluded): a noisy run shows here."""
    def cpu_ticks() -> Dict[int, Tuple[str, int]]:
        ticks = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is fields[0]
            ticks[int(entry.name)] = (stat[stat.index("(") + 1:stat.rindex(")")], int(fields[11]) + int(fields[12]))
        return ticks

    before = cpu_ticks()
    time.sleep(sample)
    after = cpu_ticks()
    per_second = os.sysconf("SC_CLK_TCK")
    busy = []
    for pid, (name, ticks) in after.items():
        if pid == os.getpid() or before.get(pid, ("", 0))[0] != name:
            continue
        share = (ticks - before[pid][1]) / per_second / sample * 100
        if share >= 5:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                command = name
            busy.append((round(share), pid, command.strip()[:80] or name))
    return {"loadavg": os.getloadavg(), "cpus": os.cpu_count(), "busy": sorted(busy, reverse=True)[:6]}


def format_load(when: str, load: Dict[str, object]) -> str:
    averages = " ".join(f"{value:.2f}" for value in load["loadavg"])  # type: ignore[attr-defined]
    busy = load["busy"] or []
    others = "; ".join(f"{command} (pid {pid}, {share}% CPU)" for share, pid, command in busy)  # type: ignore[attr-defined]
    return (f"machine load {when}: loadavg {averages} (1, 5, 15 min) on {load['cpus']} CPUs; "
            f"other busy processes: {others or 'none'}")


# --------------------------------------------------------------------------- the chart

#: (title, result key, unit, better): the table's columns as chart panels.
CHART_METRICS = (
    ("time to first signature", "first", "s", "lower"),
    ("pkcs11-tool, one signature", "c_host", "s", "lower"),
    ("signatures per second", "per_second", "/s", "higher"),
    ("APDUs until first signature", "setup_apdus", "", "lower"),
    ("APDUs per signature", "apdus_per_sign", "", "lower"),
)
CHART_COLOURS = {"cardki": "#2b6cb0", "opensc": "#9c9c9c", "ykcs11": "#d69e2e"}


def _svg_text(x: float, y: float, text: str, size: int = 11, anchor: str = "middle", weight: str = "normal",
              fill: str = "#222") -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{fill}">{escaped}</text>')


def _figure(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms"
    if unit == "/s":
        return f"{value:.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"


def chart_svg(rows: List[Row], subtitle: str) -> str:
    """The table as small multiples: one panel per column and key, a bar per module,
    and under each panel cardki's ratio to each peer (with the way that is better)."""
    scenarios = [scenario for scenario in SCENARIOS if any(row[0] == scenario for row in rows)]
    modules = list(dict.fromkeys(name for _, name, _ in rows))
    panel_w, panel_h, gap, top, left = 190, 200, 14, 58, 12
    width = left * 2 + len(CHART_METRICS) * (panel_w + gap) - gap
    height = top + len(scenarios) * (panel_h + 34) + 28
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             _svg_text(left, 22, "cardki beside OpenSC and ykcs11 (tests/bench/module_bench.py)", 15, "start", "bold"),
             _svg_text(left, 40, subtitle, 11, "start", fill="#555")]
    for column, name in enumerate(modules):
        x = width - left - (len(modules) - column) * 82
        parts.append(f'<rect x="{x}" y="12" width="12" height="12" fill="{CHART_COLOURS.get(name, "#666")}"/>')
        parts.append(_svg_text(x + 16, 22, name, 11, "start"))
    for row_index, scenario in enumerate(scenarios):
        y0 = top + row_index * (panel_h + 34)
        parts.append(_svg_text(left, y0 + 10, scenario.title, 12, "start", "bold"))
        results = {name: result for s, name, result in rows if s == scenario}
        for index, (title, key, unit, better) in enumerate(CHART_METRICS):
            x0 = left + index * (panel_w + gap)
            py = y0 + 18
            parts.append(f'<rect x="{x0}" y="{py}" width="{panel_w}" height="{panel_h}" fill="#f7f7f7" '
                         f'stroke="#ddd"/>')
            parts.append(_svg_text(x0 + panel_w / 2, py + 15, title, 10, weight="bold"))
            parts.append(_svg_text(x0 + panel_w / 2, py + 28, f"{better} is better", 9, fill="#666"))
            values = {name: float(result[key]) for name, result in results.items()
                      if isinstance(result, dict) and result[key] == result[key]}  # NaN: not measured
            peak = max(values.values(), default=0.0) or 1.0
            bar_w, base, room = 40, py + panel_h - 62, panel_h - 112
            for column, name in enumerate(modules):
                bx = x0 + 20 + column * (bar_w + 15)
                if name not in values:
                    parts.append(_svg_text(bx + bar_w / 2, base - 4, "n/a", 10, fill="#999"))
                    continue
                h = max(1.0, values[name] / peak * room)
                parts.append(f'<rect x="{bx}" y="{base - h:.1f}" width="{bar_w}" height="{h:.1f}" '
                             f'fill="{CHART_COLOURS.get(name, "#666")}"/>')
                parts.append(_svg_text(bx + bar_w / 2, base - h - 4, _figure(values[name], unit), 10))
                parts.append(_svg_text(bx + bar_w / 2, base + 13, name, 9, fill="#444"))
            if "cardki" in values:
                lines = []
                for name in modules:
                    if name != "cardki" and values.get(name):
                        lines.append(f"cardki = {values['cardki'] / values[name]:.2f}x {name}")
                for line_index, line in enumerate(lines):
                    parts.append(_svg_text(x0 + panel_w / 2, base + 32 + line_index * 13, line, 10, fill="#333"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


@contextmanager
def bench_card(reader_index: int) -> Iterator[Tuple[CardControl, str, Path]]:
    """The stack held alone, a factory-fresh YubiKey 5.4.3 in ``reader_index`` and a work
    directory: (control, reader name, workdir). Stops what it started (pcscd, the card server)."""
    reader = stack.reader_name(reader_index)
    with stack.exclusive_stack(on_wait=lambda: print("waiting for the PC/SC stack ...", file=sys.stderr)):
        started_pcscd = stack.ensure_pcscd()
        started_server = False
        try:
            stack.ensure_reader(reader_index, may_restart_pcscd=started_pcscd)
            server = stack.running_server(reader_index) or stack.foreign_server(reader_index)
            if server is None:
                server = stack.start_server(reader_index, parent_pid=os.getpid())
                started_server = True
            control = CardControl(server.control_path)
            with tempfile.TemporaryDirectory(prefix="cardki-bench-") as workdir:
                insert_bench_card(control, reader, Path(workdir) / "state.json")
                yield control, reader, Path(workdir)
        finally:
            if started_server:
                stack.stop_server(reader_index)
            if started_pcscd:
                stack.stop_pcscd()


def add_module_option(parser: argparse.ArgumentParser) -> None:
    """--module NAME=PATH, repeatable: the benchmarks' way to measure another module too."""
    parser.add_argument("--module", action="append", default=[], metavar="NAME=PATH",
                        help="also measure the PKCS#11 module at PATH under NAME (e.g. an older cardki build: "
                             "cardki-before=/path/to/_cardki_pkcs11...so), in the same run")


def extra_modules(parser: argparse.ArgumentParser, given: List[str]) -> Dict[str, str]:
    """The modules --module named, NAME -> PATH (a usage error for a malformed one)."""
    modules = {}
    for extra in given:
        name, separator, path = extra.partition("=")
        if not separator or not name or not os.path.isfile(path):
            parser.error(f"--module wants NAME=PATH of a file, not {extra!r}")
        modules[name] = path
    return modules


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signatures", type=int, default=200, help="signatures per client run after the first")
    parser.add_argument("--rounds", type=int, default=3, help="client runs per module and key (best is reported)")
    parser.add_argument("--reader", type=int, default=stack.YUBICO_READER,
                        help=f"reader index (default {stack.YUBICO_READER}: {stack.reader_name(stack.YUBICO_READER)!r};"
                             " ykcs11 sees only Yubico-named readers)")
    parser.add_argument("--unchecked", action="store_true",
                        help=f"add a row {UNCHECKED!r}: cardki with its checks of the card's signatures replaced "
                             "in the client, to show what they cost (the module itself always checks)")
    parser.add_argument("--chart", type=Path, default=REPO / "docs" / "module_bench.svg",
                        help="where the SVG chart of the table goes (default: docs/module_bench.svg)")
    add_module_option(parser)
    options = parser.parse_args(argv)

    from cardki.capi import module_path
    modules = {"cardki": str(module_path()), **OTHER_MODULES}
    modules.update(extra_modules(parser, options.module))
    if options.unchecked:
        modules[UNCHECKED] = modules["cardki"]
    load_at_start = machine_load()
    print(format_load("at start", load_at_start), file=sys.stderr)
    with bench_card(options.reader) as (control, reader, workdir):
        rows = measure(modules, reader, Path(control.path), options, workdir)
    load_at_end = machine_load()

    commit = source_commit()
    print(f"\nSlot 9a of a virtual YubiKey {FIRMWARE} in {reader!r} (pcscd + vpcd), PyKCS11 client, "
          f"{options.signatures} signatures after the first, best of {options.rounds} runs; cardki at {commit}\n")
    print(markdown(rows))
    print()
    print(format_load("at start", load_at_start))
    print(format_load("at end", load_at_end))
    options.chart.parent.mkdir(parents=True, exist_ok=True)
    options.chart.write_text(chart_svg(rows, f"{datetime.date.today()}, cardki at {commit}; virtual YubiKey "
                                             f"{FIRMWARE}, PyKCS11 client, {options.signatures} signatures after the "
                                             f"first, best of {options.rounds} runs; "
                                             f"loadavg {load_at_start['loadavg'][0]:.2f} -> "  # type: ignore[index]
                                             f"{load_at_end['loadavg'][0]:.2f} on {os.cpu_count()} CPUs"))  # type: ignore[index]
    print(f"chart: {options.chart}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except stack.StackError as error:
        print(f"module_bench: {error}", file=sys.stderr)
        raise SystemExit(1) from None
