#!/usr/bin/env python3
"""Benchmark (not a test): where the start of one PKCS#11 host process goes, and
where one ECDSA signature through the C ABI goes; cardki beside OpenSC and ykcs11.

    python3 tests/bench/startup_profile.py [--rounds 5] [--signatures 2000] [--reader 2] [--json FILE]

It takes the PC/SC stack the way tests/bench/module_bench.py does (the stack
lock, a virtual YubiKey 5.4.3 in the Yubico-named reader, an ECDSA P-256 key and
certificate in slot 9a made by yubico-piv-tool), so all three modules sign on the
same card, and then, ``--rounds`` times each (the run with the median total is
shown):

1. ``pkcs11-tool --sign`` (one ECDSA-SHA256 signature) and ``pkcs11-tool -L``, and
   a PyKCS11 host that signs once (time to first signature), each run through
   ``startup_tracer.c``: a shim built here that sits between the host and the
   module (every C_* call timed), stands in for libpcsclite (every SCard* call and
   APDU timed; headers and status words only, never data) and, when the module
   starts a Python of its own, records each import as it begins (CPython ignores
   PYTHONPROFILEIMPORTTIME in the isolated interpreter cardki starts, so this is
   how its start is seen from inside). From the spawn to the reaped exit every
   millisecond lands in one phase: exec and loader, the module's dlopen,
   C_Initialize (for cardki: interpreter, the search path and any .pth file,
   cffi, imports by package, PC/SC, the rest), each later group of calls with
   its APDUs, the host's own time between calls, exit.
2. cardki's embedded start replayed in a plain interpreter under ``-X
   importtime`` (isolated, no site, then the library's own start code, then the
   module's C_Initialize through ctypes): exact import times per module and
   package; the same start with ``site.main()`` and ``addsitedir`` in place of
   the library's path code (as the library started before), for comparison; and
   the bare interpreter with and without site, with the .pth files site runs.
3. The per-signature path: ``--signatures`` signatures (C_SignInit + 2 x C_Sign,
   as PyKCS11 calls them) in a PyKCS11 host, timed per layer by wrapping the
   layer entry points (engine, token, card protocol, transport, pyscard), then
   once more under cProfile for the top functions; beside in-process timings of
   what the card server and the result check cost per signature.

Output: Markdown tables on stdout (and ``--json`` for the raw figures).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "hw-sim"))

import module_bench as bench  # noqa: E402

from cardki.capi import cdefs  # noqa: E402

SCENARIO = bench.SCENARIOS[1]  # ECDSA P-256, CKM_ECDSA_SHA256: the issue's headline row
MODULES = ("cardki", "opensc", "ykcs11")

INS_NAMES = {
    0xA4: "SELECT", 0x20: "VERIFY", 0x87: "GENERAL AUTHENTICATE", 0xCB: "GET DATA", 0xCA: "GET DATA (CA)",
    0xF7: "GET METADATA", 0xFD: "GET VERSION", 0xF8: "GET SERIAL", 0xC0: "GET RESPONSE", 0x47: "GENERATE",
    0xDB: "PUT DATA", 0x24: "CHANGE REFERENCE", 0x2C: "RESET RETRY", 0x01: "YK SELECT/OTP", 0x1D: "GET CONFIG",
}


# --------------------------------------------------------------------------- the tracer

def real_pcsclite() -> str:
    """The path of the system's libpcsclite.so.1 (what the tracer forwards to)."""
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.split()[0] == "libpcsclite.so.1":
            return os.path.realpath(path.strip())
    raise SystemExit("startup_profile: no libpcsclite.so.1 in ldconfig's cache (apt-get install libpcsclite1)")


def build_tracer(build: Path) -> Path:
    """Compile startup_tracer.c (its PKCS#11 headers written from cardki.capi.cdefs)."""
    (build / "startup_tracer_types.h").write_text(cdefs.TYPES + cdefs.FUNCTION_LISTS)
    wrappers = [cdefs.prototype("C_GetFunctionList")]
    for name in cdefs.FUNCTION_LIST_ORDER:
        if name == "C_GetFunctionList":
            continue
        arguments = ", ".join(cdefs.parameter_names(name))
        wrappers.append(f"static CK_RV trace_{name}({cdefs.SIGNATURES[name]}) {{\n"
                        f"    uint64_t start = trace_now();\n"
                        f"    CK_RV rv = real->{name}({arguments});\n"
                        f"    trace_call(\"{name}\", start, rv);\n"
                        f"    return rv;\n}}")
    table = ",\n    ".join(name if name == "C_GetFunctionList" else f"trace_{name}"
                           for name in cdefs.FUNCTION_LIST_ORDER)
    wrappers.append(f"static CK_FUNCTION_LIST trace_functions = {{\n    {{2, 40}},\n    {table}\n}};")
    (build / "startup_tracer_calls.h").write_text("\n".join(wrappers) + "\n")
    library = build / "libpcsclite.so.1"
    pcsc_flags = subprocess.run(["pkg-config", "--cflags", "libpcsclite"], capture_output=True, text=True,
                                check=True).stdout.split()
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wno-unused-parameter", "-I", str(build), *pcsc_flags,
                    f'-DREAL_PCSCLITE="{real_pcsclite()}"', "-Wl,-soname,libpcsclite.so.1",
                    "-o", str(library), str(HERE / "startup_tracer.c"), "-ldl"], check=True)
    return library


@dataclass
class Span:
    start: int
    end: int
    name: str
    rv: int = 0
    header: bytes = b""
    sw: int = 0
    data: bytes = b""
    """The first data bytes of a SELECT or GET DATA (an AID, an object's tag), else nothing."""

    @property
    def ms(self) -> float:
        return (self.end - self.start) / 1e6


@dataclass
class Trace:
    """One traced process: its spawn and reaping (parent's clock) and the tracer's records."""

    spawned: int
    reaped: int
    marks: Dict[str, int] = field(default_factory=dict)
    calls: List[Span] = field(default_factory=list)
    pcsc: List[Span] = field(default_factory=list)
    imports: List[Tuple[int, str]] = field(default_factory=list)
    output: str = ""
    errors: str = ""
    foreign_apdus: int | None = None

    @classmethod
    def read(cls, path: Path, spawned: int, reaped: int, output: str = "", errors: str = "") -> Trace:
        trace = cls(spawned, reaped, output=output, errors=errors)
        for line in path.read_text().splitlines():
            kind, *rest = line.split()
            if kind == "mark":
                trace.marks.setdefault(rest[1], int(rest[0]))
            elif kind == "call":
                trace.calls.append(Span(int(rest[0]), int(rest[1]), rest[2], int(rest[3])))
            elif kind == "pcsc":
                span = Span(int(rest[0]), int(rest[1]), rest[2], int(rest[3]))
                if len(rest) > 4:
                    span.header, span.sw = bytes.fromhex(rest[4]), int(rest[6], 16)
                    span.data = bytes.fromhex(rest[8]) if len(rest) > 8 else b""
                trace.pcsc.append(span)
            elif kind == "py" and rest[1] == "import":
                trace.imports.append((int(rest[0]), rest[2]))
        if "overflow" in trace.marks:
            raise RuntimeError("the tracer ran out of records")
        return trace

    @property
    def total_ms(self) -> float:
        return (self.reaped - self.spawned) / 1e6

    def pcsc_within(self, start: int, end: int) -> List[Span]:
        return [span for span in self.pcsc if start <= span.start and span.end <= end]

    def apdus_within(self, start: int, end: int) -> List[Span]:
        return [span for span in self.pcsc_within(start, end) if span.name == "SCardTransmit"]


def traced_run(argv: Sequence[str], module: str, tracer: Path, workdir: Path, stdin: str | None = None,
               control: Any | None = None) -> Trace:
    """Run ``argv`` with the tracer preloaded and standing in for ``module``. With the
    card server's ``control``, ``foreign_apdus`` counts the APDUs the card saw meanwhile
    that this process did not send (another program using the card: a noisy run)."""
    out = workdir / "trace.txt"
    out.unlink(missing_ok=True)
    env = bench.module_environment()
    env.update({"LD_PRELOAD": str(tracer), "STARTUP_TRACE_MODULE": module, "STARTUP_TRACE_FILE": str(out)})
    if control is not None:
        control.reset_count()
    spawned = time.monotonic_ns()
    done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, env=env, timeout=300)
    reaped = time.monotonic_ns()
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): "
                           f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
    trace = Trace.read(out, spawned, reaped, done.stdout, done.stderr)
    if control is not None:
        trace.foreign_apdus = control.count() - sum(1 for span in trace.pcsc if span.name == "SCardTransmit")
    return trace


def plain_run_ms(argv: Sequence[str], stdin: str | None = None) -> float:
    """Wall time of ``argv`` without the tracer (to see what tracing itself costs)."""
    started = time.perf_counter()
    subprocess.run(list(argv), input=stdin, capture_output=True, text=True, env=bench.module_environment(),
                   timeout=300, check=True)
    return (time.perf_counter() - started) * 1e3


# --------------------------------------------------------------------------- hosts

def pkcs11_tool_sign(module: str, reader: str, workdir: Path) -> List[str]:
    data = workdir / "data"
    data.write_bytes(b"one signature from a C host")
    return ["pkcs11-tool", "--module", module, "--slot-description", reader, "--login", "--pin", bench.PIN,
            "--sign", "-m", SCENARIO.pkcs11_tool_mechanism, "--id", "01", "-i", str(data),
            "-o", str(workdir / "sig")]


def pkcs11_tool_list(module: str) -> List[str]:
    return ["pkcs11-tool", "--module", module, "-L"]


# A PyKCS11 host that signs once, as module_bench's client does (without the card
# server's control socket: the tracer counts the APDUs), noting when each step ends.
PYKCS11_HOST = r"""
import gc, sys, time
marks = [("interpreter up", time.monotonic_ns())]
collections = [0, 0, 0]  # garbage collections, their ns, the start of the current one
def on_gc(phase, info):
    if phase == "start":
        collections[2] = time.perf_counter_ns()
    else:
        collections[0] += 1
        collections[1] += time.perf_counter_ns() - collections[2]
gc.callbacks.append(on_gc)
def mark(what):
    marks.append((what, time.monotonic_ns()))
    sys.stderr.write("MARK %s\n" % what)
    sys.stderr.flush()
import PyKCS11
from PyKCS11 import CKA_CLASS, CKA_ID, CKF_SERIAL_SESSION, CKO_PRIVATE_KEY
mark("import PyKCS11")
module, reader, mechanism_name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lib = PyKCS11.PyKCS11Lib()
lib.load(module)
mark("load (dlopen, C_GetFunctionList, C_Initialize)")
slots = [s for s in lib.getSlotList(tokenPresent=True) if lib.getSlotInfo(s).slotDescription.strip() == reader]
mark("slots")
session = lib.openSession(slots[0], CKF_SERIAL_SESSION)
session.login(sys.stdin.readline().strip())
mark("session and login")
key = session.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_ID, (0x01,))])[0]
mark("find the key")
mechanism = PyKCS11.Mechanism(getattr(PyKCS11, mechanism_name))
session.sign(key, b"first", mechanism)
mark("first signature")
for index in range(count):
    session.sign(key, b"message %d" % index, mechanism)
mark("more signatures")
session.logout()
session.closeSession()
import json
print(json.dumps({"marks": marks, "gc_runs": collections[0], "gc_ms": collections[1] / 1e6}))
"""


def pykcs11_host(tracer: Path, reader: str, signatures: int = 0, importtime: bool = False) -> List[str]:
    flags = ["-X", "importtime"] if importtime else []
    return [sys.executable, *flags, "-c", PYKCS11_HOST, str(tracer), reader, SCENARIO.mechanism, str(signatures)]


# --------------------------------------------------------------------------- phases

Phase = Tuple[str, float, str]
"""(phase, milliseconds, note: APDUs and PC/SC inside it)."""

CALL_GROUPS = (
    ("C_Initialize", ("C_Initialize",)),
    ("slots and token (C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, ...)",
     ("C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo", "C_GetInfo", "C_GetMechanismList",
      "C_GetMechanismInfo")),
    ("C_OpenSession", ("C_OpenSession", "C_GetSessionInfo")),
    ("C_Login", ("C_Login",)),
    ("find the key (C_FindObjects*, C_GetAttributeValue)",
     ("C_FindObjectsInit", "C_FindObjects", "C_FindObjectsFinal", "C_GetAttributeValue")),
    ("the signature (C_SignInit, C_Sign)", ("C_SignInit", "C_Sign")),
    ("close (C_Logout, C_CloseSession, C_Finalize)", ("C_Logout", "C_CloseSession", "C_CloseAllSessions",
                                                      "C_Finalize")),
)


def _pcsc_note(spans: List[Span]) -> str:
    if not spans:
        return ""
    apdus = [span for span in spans if span.name == "SCardTransmit"]
    other = [span for span in spans if span.name != "SCardTransmit"]
    parts = []
    if apdus:
        parts.append(f"{len(apdus)} APDUs {sum(s.ms for s in apdus):.1f} ms")
    if other:
        parts.append(f"{len(other)} other SCard calls {sum(s.ms for s in other):.1f} ms")
    return ", ".join(parts)


def host_phases(trace: Trace, first_call: str = "dlopen") -> List[Phase]:
    """Every millisecond from spawn to reaping, by phase (the rows add up to the total)."""
    calls = trace.calls
    index = next(i for i, call in enumerate(calls) if call.name == first_call)
    phases: List[Phase] = [
        ("exec, dynamic loader, host start-up", (trace.marks["loaded"] - trace.spawned) / 1e6, ""),
        ("host, before loading the module", (calls[index].start - trace.marks["loaded"]) / 1e6, ""),
        ("load the module (dlopen)", calls[index].ms, ""),
    ]
    later = calls[index + 1:]
    grouped = {name: group for group, names in CALL_GROUPS for name in names}
    sums: Dict[str, List[Span]] = {}
    for call in later:
        sums.setdefault(grouped.get(call.name, "other calls" if call.name != "C_GetFunctionList"
                                    else "C_GetFunctionList"), []).append(call)
    for group in ["C_GetFunctionList"] + [g for g, _ in CALL_GROUPS] + ["other calls"]:
        spans = sums.get(group)
        if spans:
            inside = [p for call in spans for p in trace.pcsc_within(call.start, call.end)]
            phases.append((group, sum(s.ms for s in spans), _pcsc_note(inside)))
    gaps = sum(max(0, b.start - a.end) for a, b in zip(calls[index:], calls[index + 1:], strict=False)) / 1e6
    phases.append(("host, between calls", gaps, ""))
    phases.append(("exit", (trace.reaped - calls[-1].end) / 1e6, ""))
    return phases


def top_package(module: str) -> str:
    return module.split(".")[0]


def _pth_modules(site_dirs: Iterable[str]) -> Dict[str, str]:
    """Modules the .pth files in ``site_dirs`` import, by module -> .pth file name."""
    found: Dict[str, str] = {}
    for directory in site_dirs:
        for pth in sorted(Path(directory).glob("*.pth")):
            for line in pth.read_text(errors="replace").splitlines():
                if line.startswith(("import ", "import\t")):
                    for module in re.findall(r"(?:^import\s+|;\s*import\s+)([\w.]+)", line):
                        found.setdefault(module, pth.name)
                    for module in re.findall(r"__import__\(['\"]([\w.]+)['\"]\)", line):
                        found.setdefault(module, pth.name)
    return found


def embedded_phases(trace: Trace, site_dirs: Sequence[str]) -> List[Phase]:
    """cardki's C_Initialize in a C host, split by what the embedded interpreter imports
    (the tracer's import events) and the PC/SC calls it makes."""
    init = next(call for call in trace.calls if call.name == "C_Initialize")
    events = [(t, name) for t, name in trace.imports if init.start <= t <= init.end]
    first: Dict[str, int] = {}
    for t, name in events:
        first.setdefault(name, t)
    site_at = first.get("site")  # the library's path code asks site for the site-packages
    cffi_at = first.get("_cffi_backend")
    cardki_at = next((t for t, name in events if top_package(name) == "cardki"), None)
    if site_at is None or cffi_at is None or cardki_at is None:
        return [("C_Initialize (no Python start seen)", init.ms, "")]
    pcsc = trace.pcsc_within(init.start, init.end)
    phases: List[Phase] = [("interpreter start (Py_InitializeFromConfig, isolated, no site)",
                            (site_at - init.start) / 1e6, "")]
    # The search path, and any .pth file run on the way: each .pth's import runs until the next one starts.
    pth_modules = _pth_modules(site_dirs)
    marks = [(t, name) for t, name in events if site_at <= t < cffi_at and name in pth_modules]
    boundaries = [site_at] + [t for t, _ in marks] + [cffi_at]
    labels = ["sys.path (the library's path code: site-packages, no site.main())"] + [
        f".pth {pth_modules[name]}: import {name}" for _, name in marks]
    for label, start, end in zip(labels, boundaries, boundaries[1:], strict=False):
        phases.append((label, (end - start) / 1e6, ""))
    phases.append(("cffi start (_cffi_backend, the module's init code)", (cardki_at - cffi_at) / 1e6, ""))
    # From the first cardki import on: cardki's imports and Python work (split by module in the
    # import tables), and the PC/SC calls.
    pcsc_ms = sum(span.ms for span in pcsc)
    modules = sum(1 for t, _ in events if t >= cardki_at)
    phases.append((f"cardki and its dependencies: {modules} imports and the engine's Python work",
                   (init.end - cardki_at) / 1e6 - pcsc_ms, ""))
    phases.append(("PC/SC in C_Initialize", pcsc_ms, _pcsc_note(pcsc)))
    return phases


AIDS = {"A000000308": "PIV", "A000000527": "YubiKey", "D276000124": "OpenPGP"}


def apdu_name(span: Span, detail: bool = True) -> str:
    """A readable name for one APDU (with ``detail``: which AID, object or slot)."""
    ins = span.header[1] if len(span.header) > 1 else -1
    name = INS_NAMES.get(ins, f"INS {ins:02X}")
    if not detail or len(span.header) < 4:
        return name
    if ins == 0xA4 and span.data:
        return f"{name} {next((n for aid, n in AIDS.items() if span.data.hex().upper().startswith(aid)), span.data.hex())}"
    if ins == 0xCB and span.data[:1] == b"\x5C" and len(span.data) >= 2:
        return f"{name} {span.data[2:2 + span.data[1]].hex().upper()}"
    if ins in (0xF7, 0x87, 0x47, 0xF9):
        return f"{name} {span.header[3]:02X}"
    if ins == 0x20:
        return f"{name} {span.header[3]:02X}"
    return name


def apdu_table(trace: Trace, start: int, end: int) -> List[Tuple[str, float, int]]:
    """(command, ms, SW) of each APDU sent between ``start`` and ``end``."""
    return [(apdu_name(span), span.ms, span.sw) for span in trace.apdus_within(start, end)]


# --------------------------------------------------------------------------- interpreter facts

def _best_ms(argv: Sequence[str], count: int = 15, env: Dict[str, str] | None = None) -> Tuple[float, float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        subprocess.run(list(argv), capture_output=True, env=env, check=True)
        timings.append((time.perf_counter() - started) * 1e3)
    return min(timings), statistics.median(timings)


def interpreter_facts(site_dirs: Sequence[str]) -> Dict[str, Any]:
    """The bare interpreter with and without site, and what site's .pth files cost."""
    python = sys.executable
    facts: Dict[str, Any] = {
        "python -I -S -c pass (no site)": _best_ms([python, "-I", "-S", "-c", "pass"]),
        "python -I -c pass (site and .pth files)": _best_ms([python, "-I", "-c", "pass"]),
    }
    site_code = ("import time; t = time.perf_counter(); import site; site.main(); "
                 "print((time.perf_counter() - t) * 1e3)")
    runs = [float(subprocess.run([python, "-I", "-S", "-c", site_code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(10)]
    facts["site.main() in -I -S (ms, min/median)"] = (min(runs), statistics.median(runs))
    pth = {}
    for directory in site_dirs:
        for pth_file in sorted(Path(directory).glob("*.pth")):
            for line in pth_file.read_text(errors="replace").splitlines():
                if not line.startswith(("import ", "import\t")):
                    continue  # site only executes lines that start with "import"
                code = (f"import sys, time; sys.path.insert(0, {directory!r}); t = time.perf_counter(); "
                        f"exec({line!r}); print((time.perf_counter() - t) * 1e3)")
                timings = [float(subprocess.run([python, "-I", "-S", "-c", code], capture_output=True, text=True,
                                                check=True).stdout) for _ in range(10)]
                pth[f"{pth_file.name}: {line[:60]}"] = (min(timings), statistics.median(timings))
    facts["pth"] = pth
    return facts


# --------------------------------------------------------------------------- the embedded start, replayed

# How the library set sys.path before it set it itself: site.main() (the venv, every
# .pth file), then addsitedir for its site directories (more .pth files).
OLD_SITE_CODE = """\
import os, site, sys
site.main()
for directory in SITE_DIRS.split(os.pathsep):
    if directory and os.path.isdir(directory) and directory not in sys.path:
        site.addsitedir(directory)
if PACKAGE_ROOT not in sys.path:
    sys.path.insert(0, PACKAGE_ROOT)
"""

REPLAY = r"""
import os, sys, time
started = time.perf_counter()
SITE_DIRS = sys.argv[2]
PACKAGE_ROOT, INSTALLED, INTERPRETER, PYTHON_HOME = sys.argv[4], False, sys.argv[5], sys.base_prefix
if sys.argv[3] == "site":  # site.main() and addsitedir, as the library started before
    exec(sys.argv[6])
else:                      # the library's own start code (build._START_CODE and its end)
    exec(sys.argv[6])
    exec(sys.argv[7])
sited = time.perf_counter()
import ctypes
library = ctypes.CDLL(sys.argv[1])
os.write(2, b"MARK C_Initialize\n")
loaded = time.perf_counter()
rv = library.C_Initialize(None)
done = time.perf_counter()
os.write(2, b"MARK done %d\n" % rv)
print("%f %f" % ((sited - started) * 1e3, (done - loaded) * 1e3))
"""


@dataclass
class ImportRow:
    self_us: int
    cumulative_us: int
    depth: int
    name: str


def parse_importtime(stderr: str, after: str | None = None, until: str | None = None) -> List[ImportRow]:
    """The ``-X importtime`` lines between the stderr marks ``after`` and ``until``."""
    rows, active = [], after is None
    for line in stderr.splitlines():
        if line.startswith("MARK "):
            what = line[5:]
            if after is not None and what.startswith(after):
                active = True
            elif until is not None and what.startswith(until):
                active = False
            continue
        if not active or not line.startswith("import time:") or "self [us]" in line:
            continue
        # "import time: {self:>9} | {cumulative:>10} | {'  ' * depth}{name}"
        self_us, cumulative_us, name = line[len("import time:"):].split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append(ImportRow(int(self_us), int(cumulative_us), depth, name.strip()))
    return rows


def import_split(rows: List[ImportRow]) -> Dict[str, float]:
    """Self time per top-level package (ms); the values add up to all import time."""
    split: Dict[str, float] = {}
    for row in rows:
        split[top_package(row.name)] = split.get(top_package(row.name), 0.0) + row.self_us / 1e3
    return dict(sorted(split.items(), key=lambda item: -item[1]))


def heaviest_imports(rows: List[ImportRow], count: int = 25) -> List[ImportRow]:
    """The imports with the largest cumulative time whose parent is of another package
    (what one lazy import would save), largest first."""
    result = []
    # importtime prints children before their parent: walk backwards to know each parent.
    stack: List[ImportRow] = []
    for row in reversed(rows):
        while stack and stack[-1].depth >= row.depth:
            stack.pop()
        parent = stack[-1] if stack else None
        if parent is None or top_package(parent.name) != top_package(row.name):
            result.append(row)
        stack.append(row)
    return sorted(result, key=lambda row: -row.cumulative_us)[:count]


def replay_embedded_start(module: str, site_dirs: Sequence[str], site: bool = True,
                          importtime: bool = False) -> Tuple[List[ImportRow], float, float]:
    """cardki's embedded start in a plain isolated interpreter (``-I -S``): the library's
    own start code (or, ``site=True``, site.main() and addsitedir as it started before),
    then C_Initialize through ctypes (which starts cffi's module). Returns the import
    rows (with ``importtime``), the path step's and C_Initialize's milliseconds."""
    from cardki.capi import build

    flags = ["-X", "importtime"] if importtime else []
    package_root = str(Path(module).resolve().parents[2])
    code = [OLD_SITE_CODE] if site else [build._START_CODE, build._START_DONE_CODE]
    done = subprocess.run([sys.executable, "-I", "-S", *flags, "-c", REPLAY, module, os.pathsep.join(site_dirs),
                           "site" if site else "path", package_root, sys.executable, *code],
                          capture_output=True, text=True, env=bench.module_environment(), timeout=120)
    if done.returncode != 0 or "MARK done 0" not in done.stderr:
        raise RuntimeError(f"the replay failed: {done.stderr.strip().splitlines()[-3:]}")
    site_ms, init_ms = (float(value) for value in done.stdout.split())
    rows = parse_importtime(done.stderr, after="C_Initialize", until="done") if importtime else []
    return rows, site_ms, init_ms


def imports_by_step(stderr: str) -> List[Tuple[str, float, int, str]]:
    """(step, ms of imports, modules, the largest top-level imports) for each step of the
    PyKCS11 host, from its ``-X importtime`` output and the MARK line that ends each step."""
    steps: List[Tuple[str, float, int, str]] = []
    rows: List[ImportRow] = []
    for line in stderr.splitlines() + ["MARK (after the last step)"]:
        if line.startswith("MARK "):
            top = sorted((row for row in rows if row.depth == 0), key=lambda row: -row.cumulative_us)
            steps.append((line[5:], sum(row.cumulative_us for row in top) / 1e3, len(rows),
                          ", ".join(f"{row.name} {row.cumulative_us / 1e3:.1f}" for row in top[:4])))
            rows = []
        elif line.startswith("import time:") and "self [us]" not in line:
            rows += parse_importtime(line)
    return steps


def embedded_site_dirs(module: str) -> List[str]:
    """The site directories the library searches (a checkout: the building environment's,
    which is this one: the benchmark runs in the environment it measures)."""
    import site

    del module
    return [directory for directory in site.getsitepackages() if os.path.isdir(directory)]


# --------------------------------------------------------------------------- per signature

PER_SIGNATURE_HOST = r"""
import cProfile, functools, importlib, json, pstats, sys, time
import PyKCS11
from PyKCS11 import CKA_CLASS, CKA_ID, CKF_SERIAL_SESSION, CKO_PRIVATE_KEY
module, reader, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
lib = PyKCS11.PyKCS11Lib()
lib.load(module)
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getSlotInfo(s).slotDescription.strip() == reader][0]
session = lib.openSession(slot, CKF_SERIAL_SESSION)
session.login(sys.stdin.readline().strip())
key = session.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_ID, (0x01,))])[0]
mechanism = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)
for index in range(100):
    session.sign(key, b"warm up %d" % index, mechanism)
for index in range(count):  # the cheapest call there is: C_GetSessionInfo
    session.getSessionInfo()

def loop(tag):
    started = time.perf_counter_ns()
    for index in range(count):
        session.sign(key, b"%s %d" % (tag, index), mechanism)
    return time.perf_counter_ns() - started

LOOPS = 5  # plain and timed loops alternate, so a noisy moment hits both kinds; the fastest of each counts

# The layers' entry points, timed inclusive (each wrapper adds ~1 us to its caller).
totals, wrappers = {}, []
def timer(owner, attribute, label):
    original = getattr(owner, attribute)
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.perf_counter_ns()
        try:
            return original(*args, **kwargs)
        finally:
            entry = totals.setdefault(label, [0, 0])
            entry[0] += time.perf_counter_ns() - started
            entry[1] += 1
    wrappers.append((owner, attribute, original, wrapper))

for module_name, qualified, _ in json.loads(sys.argv[4]):
    owner = importlib.import_module(module_name)
    *path, attribute = qualified.split(".")
    for part in path:
        owner = getattr(owner, part)
    timer(owner, attribute, qualified)

plain, timed = [], []
for run in range(LOOPS):
    plain.append(loop(b"plain %d" % run))
    totals.clear()
    for owner, attribute, _, wrapper in wrappers:
        setattr(owner, attribute, wrapper)
    timed.append((loop(b"timed %d" % run), {label: list(entry) for label, entry in totals.items()}))
    for owner, attribute, original, _ in reversed(wrappers):
        setattr(owner, attribute, original)
plain_best = min(range(LOOPS), key=lambda run: plain[run])
timed_best = min(range(LOOPS), key=lambda run: timed[run][0])
plain_ns = plain[plain_best]
timed_ns, layers = timed[timed_best]

profile = cProfile.Profile()
profile.enable()
profiled_ns = loop(b"profiled")
profile.disable()
rows = [(filename, line, function, calls, tottime, cumtime)
        for (filename, line, function), (calls, _, tottime, cumtime, _) in pstats.Stats(profile).stats.items()]
session.logout()
session.closeSession()
print(json.dumps({"plain_ns": plain_ns, "timed_ns": timed_ns, "profiled_ns": profiled_ns, "count": count,
                  "loops": LOOPS, "plain_best": plain_best, "timed_best": timed_best, "layers": layers,
                  "profile": rows}))
"""

#: (module, attribute path, label): the entry of each layer on the signing path, outermost first.
LAYERS = (
    ("cardki.cryptoki.engine", "Cryptoki.get_info", "guard: engine().get_info() before each C call (before)"),
    ("cardki.cryptoki.engine", "Cryptoki.check_initialized", "guard: engine().check_initialized() before each C call"),
    ("cardki.cryptoki.engine", "Cryptoki.sign_init", "engine: sign_init"),
    # The operations part's sign (the C layer calls it inside the engine's operation call;
    # before that, through the facade's Cryptoki.sign, whose boundary then counts as entry.py's).
    ("cardki.cryptoki.operations", "OperationRunner.sign", "engine: sign (both C_Sign calls)"),
    ("cardki.token.piv.token", "PivToken.mechanisms", "token: PivToken.mechanisms (C_SignInit asks, or the cache)"),
    ("cardki.token.piv.token", "PivToken.sign", "token: PivToken.sign"),
    ("cardki.token.piv.token", "PivToken._run", "token: _run (lock, transaction, restore)"),
    ("cardki.token.card_results", "ecdsa_signature", "token: check the card's ECDSA answer"),
    ("cardki.apdu.protocol", "SmartCardProtocol.send_apdu", "apdu: SmartCardProtocol.send_apdu"),
    ("cardki.slot.pcsc", "PcscTransport.begin_transaction", "transport: begin_transaction"),
    ("cardki.slot.pcsc", "PcscTransport.transmit_marked", "transport: PcscTransport.transmit_marked (the protocol's)"),
    ("cardki.slot.pcsc", "PcscTransport.end_transaction", "transport: end_transaction"),
    ("smartcard.scard", "SCardBeginTransaction", "pyscard: scard.SCardBeginTransaction"),
    ("smartcard.scard", "SCardTransmit", "pyscard: scard.SCardTransmit"),
    ("smartcard.scard", "SCardEndTransaction", "pyscard: scard.SCardEndTransaction"),
)


def available_layers() -> List[Tuple[str, str, str]]:
    """The LAYERS that exist in this checkout (the engine is being restructured)."""
    import importlib

    found = []
    for module_name, qualified, label in LAYERS:
        try:
            owner: Any = importlib.import_module(module_name)
            for part in qualified.split("."):
                owner = getattr(owner, part)
        except (ImportError, AttributeError):
            continue
        found.append((module_name, qualified, label))
    return found


def _window_stats(trace: Trace, calls: List[Span], count: int) -> Dict[str, Any]:
    """C call and SCard figures over ``calls`` (one loop's), per signature and per call (us)."""
    start, end = calls[0].start, calls[-1].end
    by_call: Dict[str, List[float]] = {}
    since_init = 0
    for call in calls:
        since_init = 0 if call.name == "C_SignInit" else since_init + 1
        name = {1: "C_Sign (length query)", 2: "C_Sign (signature)"}.get(since_init, call.name)
        by_call.setdefault(name, []).append(call.ms * 1e3)
    by_pcsc: Dict[str, List[float]] = {}
    for span in trace.pcsc_within(start, end):
        by_pcsc.setdefault(span.name, []).append(span.ms * 1e3)
    return {
        "c_total": sum(call.ms for call in calls) * 1e3 / count,
        "c_calls": {name: {"per_signature": sum(v) / count, "median": statistics.median(v), "calls": len(v) / count}
                    for name, v in by_call.items()},
        "pcsc": {name: {"per_signature": sum(v) / count, "median": statistics.median(v), "calls": len(v) / count}
                 for name, v in by_pcsc.items()},
    }


def per_signature(module: str, tracer: Path, reader: str, count: int, workdir: Path,
                  layers: Sequence[Tuple[str, str, str]], control: Any) -> Dict[str, Any]:
    """``count`` ECDSA signatures in a PyKCS11 host: loops plain and with ``layers`` timed
    in turn, then one under cProfile; the fastest plain and timed loops count, with the
    tracer's C call and SCard figures of those two loops."""
    trace = traced_run([sys.executable, "-c", PER_SIGNATURE_HOST, str(tracer), reader, str(count),
                        json.dumps(list(layers))], module, tracer, workdir, stdin=bench.PIN + "\n", control=control)
    result = json.loads(trace.output.strip().splitlines()[-1])
    result["foreign_apdus"] = trace.foreign_apdus
    signs = [call for call in trace.calls if call.name in ("C_SignInit", "C_Sign")]
    loop = 3 * count  # C calls per loop: C_SignInit and two C_Sign per signature

    def window(index: int) -> List[Span]:
        start = 300 + index * loop  # after 100 warm-up signatures
        return signs[start:start + loop]

    result["plain"] = _window_stats(trace, window(2 * result["plain_best"]), count)
    result["timed"] = _window_stats(trace, window(2 * result["timed_best"] + 1), count)
    session_info = [call.ms * 1e3 for call in trace.calls if call.name == "C_GetSessionInfo"]
    result["C_GetSessionInfo_median"] = statistics.median(session_info) if session_info else None
    return result


def simulator_costs(count: int = 2000) -> Dict[str, float]:
    """What the card side and the result check cost per signature, in this process (us)."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric import ec

    from cardki.token import card_results
    from hwsim.yubikey import VirtualYubiKey

    card = VirtualYubiKey(firmware=(5, 4, 3))
    card.power_on()
    piv = next(applet for applet in card.applets if applet.name == "PIV")
    from hwsim import piv_crypto
    from hwsim.piv import SlotKey

    key = ec.generate_private_key(ec.SECP256R1())
    piv.keys[0x9A] = SlotKey(key, piv_crypto.algorithm_of(key), 1, 1, 1)  # PIN never, touch never, imported
    select = bytes.fromhex("00A4040005A000000308")
    digest = hashlib.sha256(b"benchmark").digest()
    body = bytes([0x7C, 4 + len(digest), 0x82, 0x00, 0x81, len(digest)]) + digest
    authenticate = bytes([0x00, 0x87, 0x11, 0x9A, len(body)]) + body
    assert card.execute(select)[-2:] == b"\x90\x00"

    def timed(action: Any) -> float:
        for _ in range(50):
            action()
        started = time.perf_counter_ns()
        for _ in range(count):
            action()
        return (time.perf_counter_ns() - started) / count / 1e3

    answer = card.execute(authenticate)
    if answer[-2:] != b"\x90\x00":
        raise RuntimeError(f"the virtual card refused GENERAL AUTHENTICATE: {answer[-2:].hex()}")
    der = answer[4:-2]
    public = key.public_key()
    return {
        "virtual card: GENERAL AUTHENTICATE ECDSA P-256 (execute)": timed(lambda: card.execute(authenticate)),
        "virtual card: ECDSA P-256 sign alone (cryptography)": timed(
            lambda: piv_crypto.sign_or_decrypt(key, piv_crypto.KEY_ALGORITHMS[0x11], digest)),
        "virtual card: SELECT (execute)": timed(lambda: card.execute(select)),
        "cardki: card_results.ecdsa_signature (verify the answer)": timed(
            lambda: card_results.ecdsa_signature(public, digest, der)),
    }


# --------------------------------------------------------------------------- reports

def median_run(runs: List[Trace]) -> Trace:
    return sorted(runs, key=lambda run: run.total_ms)[len(runs) // 2]


def phases_table(columns: Dict[str, List[Phase]], totals: Dict[str, float], plain: Dict[str, float]) -> str:
    order: List[str] = []
    for phases in columns.values():
        for name, _, _ in phases:
            if name not in order:
                order.append(name)
    names = list(columns)
    lines = ["| phase | " + " | ".join(f"{name} (ms)" for name in names) + " |",
             "|---|" + "---:|" * len(names)]
    for phase in order:
        cells = []
        for name in names:
            found = [(ms, note) for p, ms, note in columns[name] if p == phase]
            cells.append(f"{found[0][0]:.1f}" + (f" ({found[0][1]})" if found[0][1] else "") if found else "")
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    lines.append("| **total, traced (spawn to exit)** | " + " | ".join(f"**{totals[n]:.1f}**" for n in names) + " |")
    lines.append("| total without the tracer (median) | " + " | ".join(f"{plain[n]:.1f}" for n in names) + " |")
    return "\n".join(lines)


def _until_signature(trace: Trace) -> int:
    sign = [call for call in trace.calls if call.name == "C_Sign"]
    return sign[-1].end if sign else trace.reaped


def apdus_markdown(traces: Dict[str, Trace]) -> str:
    lines = ["| module | APDUs until the signature is back | their time (ms) | commands "
             "| other SCard calls | their time (ms) |", "|---|---:|---:|---|---|---:|"]
    for name, trace in traces.items():
        end = _until_signature(trace)
        apdus = trace.apdus_within(trace.spawned, end)
        other = [span for span in trace.pcsc_within(trace.spawned, end) if span.name != "SCardTransmit"]
        commands: Dict[str, int] = {}
        for span in apdus:
            commands[apdu_name(span, detail=False)] = commands.get(apdu_name(span, detail=False), 0) + 1
        calls: Dict[str, int] = {}
        for span in other:
            calls[span.name[5:]] = calls.get(span.name[5:], 0) + 1
        lines.append(f"| {name} | {len(apdus)} | {sum(s.ms for s in apdus):.1f} "
                     f"| {', '.join(f'{c} x{n}' if n > 1 else c for c, n in commands.items())} "
                     f"| {len(other)}: {', '.join(f'{c} {n}' for c, n in calls.items())} "
                     f"| {sum(s.ms for s in other):.1f} |")
    return "\n".join(lines)


def apdu_list_markdown(trace: Trace) -> str:
    """Each APDU until the signature, in order, with the C call it belongs to."""
    end = _until_signature(trace)
    lines = ["| # | C call | command | SW | ms |", "|---:|---|---|---|---:|"]
    for index, span in enumerate(trace.apdus_within(trace.spawned, end), 1):
        call = next((c.name for c in trace.calls if c.start <= span.start and span.end <= c.end), "?")
        lines.append(f"| {index} | {call} | {apdu_name(span)} | {span.sw:04X} | {span.ms:.2f} |")
    return "\n".join(lines)


def imports_markdown(rows: List[ImportRow], title: str) -> str:
    split = import_split(rows)
    total = sum(split.values())
    lines = [f"{title}: {total:.1f} ms of imports in all, {len(rows)} modules", "",
             "| package (self time of its modules) | ms |", "|---|---:|"]
    lines += [f"| {package} | {ms:.1f} |" for package, ms in split.items() if ms >= 0.2]
    lines += ["", "| heaviest imports from another package (cumulative: a lazy import saves this) | ms |",
              "|---|---:|"]
    lines += [f"| {row.name} | {row.cumulative_us / 1e3:.1f} |" for row in heaviest_imports(rows) if
              row.cumulative_us >= 500]
    return "\n".join(lines)


def signature_breakdown(result: Dict[str, Any], costs: Dict[str, float]) -> List[Tuple[str, float]]:
    """Where one signature's time goes (us, from the timed loop): each layer's own share,
    its entry's inclusive time less the entries below it; the rows add up to the loop's."""
    count = result["count"]
    timed = result["timed"]

    def inclusive(label: str) -> float:
        total_ns = result["layers"].get(label, (0, 0))[0]
        return total_ns / count / 1e3

    def pcsc(name: str) -> float:
        return timed["pcsc"].get(name, {}).get("per_signature", 0.0)

    get = {qualified: inclusive(qualified) for _, qualified, _ in LAYERS}
    guard = get["Cryptoki.get_info"] + get["Cryptoki.check_initialized"]  # the guard's call, before and now
    total = result["timed_ns"] / count / 1e3
    pyscard = ["SCardBeginTransaction", "SCardTransmit", "SCardEndTransaction"]
    transmit_us = pcsc("SCardTransmit")
    card = costs.get("virtual card: GENERAL AUTHENTICATE ECDSA P-256 (execute)", 0.0)
    rows = [
        ("PyKCS11 (SWIG wrappers, its sign()), outside the C calls", total - timed["c_total"]),
        ("cffi callbacks, argument marshalling, entry.py (the C calls less the engine calls)",
         timed["c_total"] - guard - get["Cryptoki.sign_init"] - get["OperationRunner.sign"]),
        ("entry.py's guard (CRYPTOKI_NOT_INITIALIZED first) before each of the 3 calls", guard),
        ("engine: sign_init, without the token's mechanism table",
         get["Cryptoki.sign_init"] - get["PivToken.mechanisms"]),
        ("token: PivToken.mechanisms() at C_SignInit (the slot table now asks once per insertion)",
         get["PivToken.mechanisms"]),
        ("engine: sign (the length query and the signature: hash, operation rules, _call)",
         get["OperationRunner.sign"] - get["PivToken.sign"]),
        ("token: PivToken.sign itself", get["PivToken.sign"] - get["PivToken._run"]
         - get["ecdsa_signature"]),
        ("token: _run (token lock, transaction, restore check)",
         get["PivToken._run"] - get["SmartCardProtocol.send_apdu"] - get["PcscTransport.begin_transaction"]
         - get["PcscTransport.end_transaction"]),
        ("apdu: SmartCardProtocol.send_apdu (Command, processors, Tlv, SW check)",
         get["SmartCardProtocol.send_apdu"] - get["PcscTransport.transmit_marked"]),
        ("transport: PcscTransport transmit, begin/end_transaction (Python)",
         get["PcscTransport.transmit_marked"] + get["PcscTransport.begin_transaction"]
         + get["PcscTransport.end_transaction"] - sum(get[name] for name in pyscard)),
        ("pyscard: SWIG wrappers of SCardBeginTransaction/Transmit/EndTransaction (list conversions)",
         sum(get[name] for name in pyscard) - pcsc("SCardBeginTransaction") - transmit_us
         - pcsc("SCardEndTransaction")),
        ("PC/SC round trips for SCardBeginTransaction + SCardEndTransaction (libpcsclite, pcscd)",
         pcsc("SCardBeginTransaction") + pcsc("SCardEndTransaction")),
        ("SCardTransmit: libpcsclite, pcscd, vpcd and the card server's Python, less its GENERAL AUTHENTICATE",
         transmit_us - card),
        ("the virtual card's GENERAL AUTHENTICATE (ECDSA P-256 sign and TLV), timed in-process", card),
        ("token: verifying the card's signature (card_results.ecdsa_signature)",
         get["ecdsa_signature"]),
    ]
    return rows


def per_signature_markdown(results: Dict[str, Dict[str, Any]], costs: Dict[str, float]) -> str:
    lines = ["| module | us per signature (plain loop) | signatures per second | C_SignInit (median us) "
             "| C_Sign, length query (median us) | C_Sign, signature (median us) "
             "| SCard calls per signature (median us each) | C_GetSessionInfo (median us) | APDUs from others |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for name, result in results.items():
        count, plain = result["count"], result["plain"]
        per = result["plain_ns"] / count / 1e3
        sessions = result["C_GetSessionInfo_median"]
        pcsc = ", ".join(f"{k[5:]} {v['calls']:.0f} x {v['median']:.0f} (mean {v['per_signature'] / v['calls']:.0f})"
                         for k, v in plain["pcsc"].items())
        session_cell = f"{sessions:.1f}" if sessions is not None else ""
        calls = plain["c_calls"]
        lines.append(f"| {name} | {per:.0f} | {1e6 / per:.0f} | {calls['C_SignInit']['median']:.1f} "
                     f"| {calls['C_Sign (length query)']['median']:.1f} | {calls['C_Sign (signature)']['median']:.1f} "
                     f"| {pcsc} | {session_cell} | {result.get('foreign_apdus', '?')} |")
    cardki = results.get("cardki")
    if cardki is None:
        return "\n".join(lines)
    count = cardki["count"]
    rows = signature_breakdown(cardki, costs)
    timed_per = cardki["timed_ns"] / count / 1e3
    lines += ["", f"cardki, one signature ({count} in a row) with the layer timers in place: {timed_per:.0f} us "
                  f"(without them {cardki['plain_ns'] / count / 1e3:.0f} us); each row is that layer's own time:", "",
              "| where | us per signature | share |", "|---|---:|---:|"]
    for label, us in sorted(rows, key=lambda row: -row[1]):
        lines.append(f"| {label} | {us:.1f} | {us / timed_per * 100:.0f}% |")
    lines.append(f"| (rows add up to) | {sum(us for _, us in rows):.1f} | |")
    lines += ["", "| in-process timings | us |", "|---|---:|"]
    lines += [f"| {label} | {us:.1f} |" for label, us in costs.items()]
    lines += ["", f"Top functions under cProfile ({count} signatures; cProfile slows Python calls, so shares "
                  "of Python code are overstated):", "",
              "| function (own time) | us per signature | calls per signature |", "|---|---:|---:|"]
    for filename, line, function, calls, tottime, _ in sorted(cardki["profile"], key=lambda row: -row[4])[:20]:
        where = re.sub(r".*site-packages/", "", filename.replace(str(REPO) + "/", ""))
        where = re.sub(r".*/lib/python3\.\d+/", "", where)
        lines.append(f"| {function} ({where}:{line}) | {tottime / count * 1e6:.1f} | {calls / count:.1f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def pykcs11_phases(trace: Trace) -> List[Phase]:
    """host_phases, with the host's start split by the marks the PyKCS11 script prints."""
    output = json.loads(trace.output.strip().splitlines()[-1])
    marks = dict(output["marks"])
    phases = host_phases(trace)
    dlopen = next(call for call in trace.calls if call.name == "dlopen")
    split = [("Python start (to the script's first line)", (marks["interpreter up"] - trace.marks["loaded"]) / 1e6, ""),
             ("import PyKCS11", (marks["import PyKCS11"] - marks["interpreter up"]) / 1e6, ""),
             ("host, before loading the module", (dlopen.start - marks["import PyKCS11"]) / 1e6, "")]
    gc_row = [(f"(garbage collection inside the phases above: {output['gc_runs']} runs)", output["gc_ms"], "")]
    return [row for row in phases if row[0] != "host, before loading the module"][:1] + split + [
        row for row in phases[1:] if row[0] != "host, before loading the module"] + gc_row


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each host per module (median is shown)")
    parser.add_argument("--signatures", type=int, default=2000, help="signatures in the per-signature profile")
    parser.add_argument("--reader", type=int, default=bench.stack.YUBICO_READER)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    bench.add_module_option(parser)
    options = parser.parse_args(argv)

    from cardki.capi import module_path

    modules = {"cardki": str(module_path()), **bench.OTHER_MODULES, **bench.extra_modules(parser, options.module)}
    missing = [name for name, path in modules.items() if not Path(path).exists()]
    if missing or not shutil.which("pkcs11-tool") or not shutil.which("gcc"):
        raise SystemExit(f"startup_profile: missing {missing or 'pkcs11-tool or gcc'}")
    site_dirs = embedded_site_dirs(modules["cardki"])
    report: Dict[str, Any] = {"commit": bench.source_commit(), "load": bench.machine_load()}
    print(bench.format_load("at start", report["load"]), file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="cardki-startup-") as build_dir:
        tracer = build_tracer(Path(build_dir))
        with bench.bench_card(options.reader) as (control, reader, workdir):
            bench.provision(reader, SCENARIO, workdir)
            hosts = {
                "pkcs11-tool --sign": lambda: (pkcs11_tool_sign(str(tracer), reader, workdir), None),
                "pkcs11-tool -L": lambda: (pkcs11_tool_list(str(tracer)), None),
                "PyKCS11, time to first signature": lambda: (pykcs11_host(tracer, reader), bench.PIN + "\n"),
            }
            traces: Dict[str, Dict[str, List[Trace]]] = {host: {} for host in hosts}
            plain: Dict[str, Dict[str, List[float]]] = {host: {} for host in hosts}
            # Round 0 warms up (page cache, the card's lazily made attestation CA) and is not kept.
            # The rounds interleave modules and hosts, so a noisy moment hits every one alike.
            for round_index in range(options.rounds + 1):
                for host, command in hosts.items():
                    argv_, stdin = command()
                    for name, path in modules.items():
                        trace = traced_run(argv_, path, tracer, workdir, stdin, control)
                        untraced = plain_run_ms([path if part == str(tracer) else part for part in argv_], stdin)
                        if round_index:
                            traces[host].setdefault(name, []).append(trace)
                            plain[host].setdefault(name, []).append(untraced)
            importtime = traced_run(pykcs11_host(tracer, reader, importtime=True), modules["cardki"], tracer,
                                    workdir, bench.PIN + "\n", control)
            replay_rows, _, _ = replay_embedded_start(modules["cardki"], site_dirs, site=False, importtime=True)
            replays: Dict[str, List[Tuple[float, float]]] = {"site": [], "path": []}
            for _ in range(2 * options.rounds):  # interleaved, as the hosts are
                for mode, runs in replays.items():
                    runs.append(replay_embedded_start(modules["cardki"], site_dirs, site=mode == "site")[1:])
            layers = available_layers()
            signatures = {name: per_signature(path, tracer, reader, options.signatures, workdir,
                                              layers if name == "cardki" else (), control)
                          for name, path in modules.items()}
        facts = interpreter_facts(site_dirs)
        costs = simulator_costs()
    report["load_end"] = bench.machine_load()

    print(f"\n# cardki's start and signature, beside OpenSC and ykcs11 (cardki at {report['commit']})\n")
    foreign = sum(trace.foreign_apdus or 0 for runs in traces.values() for kept in runs.values() for trace in kept)
    print(f"ECDSA P-256 key in 9a of a virtual YubiKey {bench.FIRMWARE} in {reader!r}; each host run "
          f"{options.rounds} times per module after a warm-up round, the run with the median total shown. "
          f"APDUs that other programs sent to the card during these runs: {foreign}.\n")
    for host in hosts:
        chosen = {name: median_run(runs) for name, runs in traces[host].items()}
        if host.startswith("PyKCS11"):
            columns = {name: pykcs11_phases(trace) for name, trace in chosen.items()}
        else:
            columns = {name: host_phases(trace) for name, trace in chosen.items()}
            columns["cardki"] = columns["cardki"] + [
                ("  in cardki's C_Initialize: " + phase, ms, note)
                for phase, ms, note in embedded_phases(chosen["cardki"], site_dirs)]
        medians = {name: _median(values) for name, values in plain[host].items()}
        print(f"## {host}\n")
        print(phases_table(columns, {n: t.total_ms for n, t in chosen.items()}, medians))
        print()
        print(apdus_markdown(chosen))
        print()
        if host != "pkcs11-tool -L":
            print(f"cardki's APDUs ({host}):\n")
            print(apdu_list_markdown(chosen["cardki"]))
            print()
        report.setdefault("hosts", {})[host] = {
            "phases": columns, "traced_totals": {n: t.total_ms for n, t in chosen.items()},
            "untraced_medians": medians, "untraced_runs": plain[host],
            "apdus": {n: apdu_table(t, t.spawned, _until_signature(t)) for n, t in chosen.items()}}

    print("## Imports\n")
    print("The PyKCS11 host, step by step (cardki): each step's time in the median traced run, in the run under "
          "-X importtime, and the imports in that run:\n")
    print("| step (ends at) | step (ms) | step under -X importtime (ms) | imports (ms) | modules "
          "| largest top-level imports (ms, cumulative) |")
    print("|---|---:|---:|---:|---:|---|")

    def step_times(trace: Trace) -> Dict[str, float]:
        marks = json.loads(trace.output.strip().splitlines()[-1])["marks"]
        return {name: (t - before) / 1e6 for (_, before), (name, t) in zip(marks, marks[1:], strict=False)}

    plain_steps = step_times(median_run(traces["PyKCS11, time to first signature"]["cardki"]))
    importtime_steps = step_times(importtime)
    steps = imports_by_step(importtime.errors)
    for step, ms, count, top in steps:
        label = "site (before the script) and import PyKCS11" if step == "import PyKCS11" else step
        print(f"| {label} | {plain_steps.get(step, 0.0):.1f} | {importtime_steps.get(step, 0.0):.1f} | {ms:.1f} "
              f"| {count} | {top} |")
    print()
    host_rows = parse_importtime(importtime.errors, after="import PyKCS11", until="first signature")
    print(imports_markdown(host_rows, "PyKCS11 host, from loading cardki to the first signature"))
    print()
    print(imports_markdown(replay_rows, "cardki's C_Initialize replayed in `python -I -S -X importtime` after the "
                                        "library's own start code"))
    print()
    site_ms = [a + b for a, b in replays["site"]]
    path_ms = [a + b for a, b in replays["path"]]
    print(f"Site processing in the replay (median of {2 * options.rounds}; path step + C_Initialize, ms):\n")
    print("| replay | path step | C_Initialize | both |\n|---|---:|---:|---:|")
    for label, mode in (("site.main() and addsitedir, as the library did before", "site"),
                        ("the library's own path code (no site.main(), no .pth)", "path")):
        runs = replays[mode]
        print(f"| {label} | {_median(a for a, _ in runs):.1f} | {_median(b for _, b in runs):.1f} "
              f"| {_median(a + b for a, b in runs):.1f} |")
    print(f"\nSkipping site.main() saves {_median(site_ms) - _median(path_ms):.1f} ms here (what the .pth files "
          "import and cardki imports anyway, pathlib say, is counted once, in whichever step loads it).\n")
    print("## The interpreter\n")
    print("| what | min (ms) | median (ms) |\n|---|---:|---:|")
    for what, value in facts.items():
        if what == "pth":
            for pth, (low, mid) in value.items():
                print(f"| .pth line {pth} | {low:.1f} | {mid:.1f} |")
        else:
            print(f"| {what} | {value[0]:.1f} | {value[1]:.1f} |")
    print(f"\n## Per signature ({options.signatures} ECDSA P-256 signatures: C_SignInit + C_Sign x2, "
          "as PyKCS11 signs)\n")
    print(per_signature_markdown(signatures, costs))
    print()
    print(bench.format_load("at start", report["load"]))
    print(bench.format_load("at end", report["load_end"]))
    if options.json:
        report.update({
            "imports_by_step": steps, "imports_replay": [row.__dict__ for row in replay_rows],
            "imports_host": [row.__dict__ for row in host_rows], "replays": replays, "interpreter": facts,
            "per_signature": {name: {k: v for k, v in result.items() if k != "profile"}
                              for name, result in signatures.items()},
            "signature_breakdown": signature_breakdown(signatures["cardki"], costs), "simulator": costs})
        options.json.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except bench.stack.StackError as error:
        print(f"startup_profile: {error}", file=sys.stderr)
        raise SystemExit(1) from None
