#!/usr/bin/env python3
"""Benchmark (not a test): how long ``cardki objects`` and ``cardki sign`` take to
run, and where that goes.

    python3 tests/bench/cli_start.py [--rounds 10] [--state FILE] [--stack]

Each command runs as the user runs it (the ``cardki`` console script of this
environment, a fresh process each time):

* on a virtual card kept in a state file with keys in every slot
  (``--virtual-state``; made by tests/bench/state_load.py, or ``--state``);
* with ``--stack``, also on the virtual YubiKey 5.4.3 in the Yubico-named
  reader through pcscd (the stack lock is taken as module_bench does), its 9A
  key made by yubico-piv-tool.

For each: the median and min wall time over ``--rounds``; the interpreter with
site alone (``python -c pass``); the imports (a run under ``-X importtime``: all
of them, by package, and the heaviest one may defer); and a run under cProfile
for what the rest does (cProfile slows Python code, so read its figures as
shares).
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import module_bench as bench  # noqa: E402
import startup_profile as profile  # noqa: E402
import state_load  # noqa: E402

CARDKI = shutil.which("cardki", path=os.path.dirname(sys.executable)) or "cardki"
#: Where the time of a run goes, by the functions cProfile sees (cumulative).
STEPS = (
    ("cli.py", "main", "cli.main (everything after the imports of cardki.cli)"),
    ("api.py", "_load_virtual_state", "load the virtual card's state file"),
    ("api.py", "__init__", "Library(): engine, C_Initialize, the virtual card or PC/SC"),
    ("cli.py", "cmd_objects", "the objects command (session, login, listing)"),
    ("cli.py", "cmd_sign", "the sign command (session, login, find, sign)"),
    ("api.py", "close", "Library.close (C_Finalize, save the state)"),
)


def timed_runs(argv: Sequence[str], rounds: int, env: Dict[str, str]) -> List[float]:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(list(argv), capture_output=True, env=env, check=True, timeout=120)
        timings.append((time.perf_counter() - started) * 1e3)
    return timings


def command_lines(state: Path | None, workdir: Path) -> Dict[str, List[str]]:
    data = workdir / "data"
    data.write_bytes(b"one signature from the cardki command")
    where = ["--virtual-state", str(state)] if state is not None else []
    return {
        "cardki objects": [CARDKI, *where, "objects"],
        "cardki sign": [CARDKI, *where, "sign", "--key-id", "01", "--in", str(data), "--out", str(workdir / "sig"),
                        "--pin", bench.PIN],
    }


def breakdown(argv: Sequence[str], env: Dict[str, str],
              workdir: Path) -> Tuple[List[profile.ImportRow], float, Dict[str, float], float]:
    """(import rows after site, the -X importtime run's ms, cumulative ms of STEPS under
    cProfile, the profiled run's ms)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, env=env,
                          check=True, timeout=120)
    importtime_ms = (time.perf_counter() - started) * 1e3
    rows = profile.parse_importtime(done.stderr)
    # site and what it imports run before cardki's own code; the rest is the command's.
    site_end = max((index for index, row in enumerate(rows) if row.depth == 0 and row.name == "site"), default=-1)
    rows = rows[site_end + 1:]
    output = workdir / "cli.prof"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(output), *argv], capture_output=True, env=env,
                   check=True, timeout=120)
    total = (time.perf_counter() - started) * 1e3
    stats = pstats.Stats(str(output)).stats  # type: ignore[attr-defined]
    steps: Dict[str, float] = {}
    for (filename, _, function), (_, _, _, cumulative, _) in stats.items():
        for file_suffix, name, label in STEPS:
            if function == name and filename.endswith("cardki/" + file_suffix):
                steps[label] = max(steps.get(label, 0.0), cumulative * 1e3)
    return rows, importtime_ms, steps, total


def report(title: str, argv: Sequence[str], env: Dict[str, str], rounds: int, python_ms: Tuple[float, float],
           workdir: Path) -> None:
    timings = timed_runs(argv, rounds, env)
    rows, importtime_ms, steps, profiled = breakdown(argv, env, workdir)
    imports = sum(row.cumulative_us for row in rows if row.depth == 0) / 1e3
    # -X importtime slows imports down; their share of that run, applied to a plain run:
    share = imports / importtime_ms
    median = statistics.median(timings)
    print(f"### {title}\n")
    print(f"`{' '.join(Path(part).name if part == CARDKI else part for part in argv)}`: median "
          f"{statistics.median(timings):.0f} ms, min {min(timings):.0f} ms over {rounds} runs\n")
    print("| part | ms |\n|---|---:|")
    print(f"| the interpreter with site and the .pth files (`python -c pass`, median) | {python_ms[1]:.1f} |")
    print(f"| imports after site ({len(rows)} modules: {imports:.0f} ms of a {importtime_ms:.0f} ms run under "
          f"-X importtime, {share * 100:.0f}%, applied to the median) | {share * median:.1f} |")
    print(f"| the rest: the command's own work and exit (the median less the two above) | "
          f"{median - python_ms[1] - share * median:.1f} |")
    print(f"\nUnder cProfile ({profiled:.0f} ms in all; cumulative, imports inside included):\n")
    print("| step | ms |\n|---|---:|")
    for _, _, label in STEPS:
        if label in steps:
            print(f"| {label} | {steps[label]:.1f} |")
    print()
    print(profile.imports_markdown(rows, f"Imports of `{title}`"))
    print()


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--state", type=Path, help="a state file (default: one made by state_load.py)")
    parser.add_argument("--stack", action="store_true", help="also through pcscd on the Yubico-named reader")
    parser.add_argument("--reader", type=int, default=bench.stack.YUBICO_READER)
    options = parser.parse_args(argv)
    env = bench.module_environment()
    env.pop("CARDKI_CONFIG", None)
    print(bench.format_load("at start", bench.machine_load()))
    python_ms = profile._best_ms([sys.executable, "-c", "pass"], env=env)
    with tempfile.TemporaryDirectory(prefix="cardki-cli-") as directory:
        workdir = Path(directory)
        state = options.state
        if state is None:
            state = workdir / "full.json"
            state_load.save_state(state, state_load.full_card().to_state())
        print(f"\n## On the virtual card of {state.name} ({state.stat().st_size} bytes: keys in all 24 PIV slots "
              "and OpenPGP)\n")
        for title, command in command_lines(state, workdir).items():
            report(f"{title} --virtual-state", command, env, options.rounds, python_ms, workdir)
        if options.stack:
            with bench.bench_card(options.reader) as (_, reader, stack_dir):
                bench.provision(reader, profile.SCENARIO, stack_dir)
                print(f"\n## Through pcscd: the virtual YubiKey {bench.FIRMWARE} in {reader!r}, 9A ECDSA P-256\n")
                for title, command in command_lines(None, stack_dir).items():
                    report(f"{title} (PC/SC)", command, env, options.rounds, python_ms, workdir)
    print(bench.format_load("at end", bench.machine_load()))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except bench.stack.StackError as error:
        print(f"cli_start: {error}", file=sys.stderr)
        raise SystemExit(1) from None
