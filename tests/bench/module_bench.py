"""Benchmark: the same PKCS#11 client scenario against cardki, OpenSC and YKCS11 on one virtual card.

Not a test (nothing here can fail on speed); run it by hand:

    python3 tests/bench/module_bench.py [--signatures 200] [--reader 0]

It takes the machine's PC/SC stack (the same lock test runs use), puts a
virtual YubiKey (firmware 5.4.3) in the reader, gives it an RSA-2048 key and a
certificate in 9a with yubico-piv-tool, then for each module runs a fresh
PyKCS11 process: load, open a session, log in, sign once (time to first
signature, measured from just before the process is spawned), then sign N
more times (signatures per second). The card simulator's APDU counter gives
the APDUs per signature in the loop and the APDUs spent before the first
signature was returned. A last column times one whole pkcs11-tool process that
signs once: a C host, where cardki must also start its own interpreter.
Output: a Markdown table.

YKCS11 (yubico-piv-tool 2.2) only lists readers whose name contains "Yubico",
so it shows no slot for vpcd's "Virtual PCD" readers; its row says so.
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
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hw-sim"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from hwsim import stack  # noqa: E402
from hwsim.control import CardControl  # noqa: E402
from hwsim.server import DEFAULT_CARD  # noqa: E402

PIN = "123456"
MODULES = {
    "opensc": "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "ykcs11": "/usr/lib/x86_64-linux-gnu/libykcs11.so",
}

CLIENT = r"""
import json, sys, time
t0 = float(sys.argv[5])
import PyKCS11
from PyKCS11 import CKA_CLASS, CKA_ID, CKF_SERIAL_SESSION, CKM_SHA256_RSA_PKCS, CKO_PRIVATE_KEY
sys.path.insert(0, sys.argv[6])
from hwsim.control import CardControl
module, reader, count, control = sys.argv[1], sys.argv[2], int(sys.argv[3]), CardControl(sys.argv[4])
lib = PyKCS11.PyKCS11Lib()
lib.load(module)
slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getSlotInfo(s).slotDescription.strip() == reader)
session = lib.openSession(slot, CKF_SERIAL_SESSION)
session.login("123456")
key = session.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_ID, (0x01,))])[0]
mechanism = PyKCS11.Mechanism(CKM_SHA256_RSA_PKCS)
session.sign(key, b"first", mechanism)
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
                  "setup_apdus": setup_apdus}))
"""


def certificate_for(public_pem: bytes) -> bytes:
    """A certificate carrying the card's key, from a throw-away host CA (key-holder proof is not needed)."""
    issuer = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cardki bench 9a")]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cardki bench CA")]))
               .public_key(serialization.load_pem_public_key(public_pem))
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=7)))
    return builder.sign(issuer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def piv_tool(reader: str, *args: str) -> None:
    subprocess.run(["yubico-piv-tool", "-r", reader, *args], check=True, capture_output=True, timeout=180)


def provision(reader: str, workdir: Path) -> None:
    public, cert = workdir / "9a.pub.pem", workdir / "9a.crt.pem"
    piv_tool(reader, "-a", "generate", "-s", "9a", "-A", "RSA2048", "-o", str(public))
    cert.write_bytes(certificate_for(public.read_bytes()))
    piv_tool(reader, "-a", "import-certificate", "-s", "9a", "-i", str(cert))


def run_client(module: str, reader: str, control_path: Path, signatures: int) -> Dict[str, float]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARDKI_")}
    env["CARDKI_CONFIG"] = "/nonexistent/cardki-module.toml"  # the defaults, whatever the developer set
    CardControl(control_path).reset_count()
    started = time.time()
    done = subprocess.run([sys.executable, "-c", CLIENT, module, reader, str(signatures), str(control_path),
                           repr(started), str(REPO / "hw-sim")], capture_output=True, text=True, env=env,
                          timeout=600)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        if last == "StopIteration":
            last = "the module shows no slot for this reader"
        raise RuntimeError(last)
    return json.loads(done.stdout.strip().splitlines()[-1])


def c_host_signature_time(module: str, reader: str, workdir: Path) -> float:
    """Wall time of one pkcs11-tool process that signs once (a C host: the module starts its own Python)."""
    data = workdir / "data"
    data.write_bytes(b"one signature from a C host")
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARDKI_")}
    env["CARDKI_CONFIG"] = "/nonexistent/cardki-module.toml"  # the defaults, whatever the developer set
    started = time.perf_counter()
    subprocess.run(["pkcs11-tool", "--module", module, "--slot-description", reader, "--login", "--pin", PIN,
                    "--sign", "-m", "SHA256-RSA-PKCS", "--id", "01", "-i", str(data), "-o", str(workdir / "sig")],
                   check=True, capture_output=True, env=env, timeout=120)
    return time.perf_counter() - started


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signatures", type=int, default=200)
    parser.add_argument("--reader", type=int, default=int(os.environ.get("HWSIM_TEST_READER", "0")))
    parser.add_argument("--rounds", type=int, default=3, help="client runs per module (best is reported)")
    options = parser.parse_args(argv)

    from cardki.capi import module_path
    modules = {"cardki": module_path(), **MODULES}
    with stack.exclusive_stack(on_wait=lambda: print("waiting for the PC/SC stack ...", file=sys.stderr)):
        stack.ensure_pcscd()
        server = stack.running_server(options.reader)
        started_server = server is None
        if server is None:
            server = stack.start_server(options.reader, parent_pid=os.getpid())
        control = CardControl(server.control_path)
        reader = stack.reader_name(options.reader)
        try:
            with tempfile.TemporaryDirectory(prefix="cardki-bench-") as workdir:
                swapped = control.new_card(firmware="5.4.3", serial=24681357, state=Path(workdir) / "state.json",
                                           card=DEFAULT_CARD)
                if swapped["atr_changed"] and control.status()["present"]:
                    control.remove()
                    stack.wait_for_card(reader, present=False)
                control.insert()
                stack.wait_for_card(reader, present=True)
                provision(reader, Path(workdir))
                rows = []
                for name, path in modules.items():
                    if not Path(path).exists():
                        rows.append((name, None))
                        continue
                    try:
                        runs = [run_client(path, reader, server.control_path, options.signatures)
                                for _ in range(options.rounds)]
                    except RuntimeError as failure:
                        rows.append((name, str(failure)))
                        continue
                    best = min(runs, key=lambda run: run["first"])
                    best["per_second"] = max(run["per_second"] for run in runs)
                    best["c_host"] = min(c_host_signature_time(path, reader, Path(workdir))
                                         for _ in range(options.rounds))
                    rows.append((name, best))
        finally:
            if started_server:
                stack.stop_server(options.reader)

    print(f"\nRSA-2048 CKM_SHA256_RSA_PKCS with the 9a key, PyKCS11 client, {options.signatures} signatures, "
          f"best of {options.rounds} runs, virtual YubiKey 5.4.3 via pcscd + vpcd\n")
    print("| module | APDUs per signature | APDUs until first signature | time to first signature (s) "
          "| signatures per second | pkcs11-tool, one signature (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, result in rows:
        if result is None or isinstance(result, str):
            print(f"| {name} | {'not installed' if result is None else 'no run: ' + result} | | | | |")
            continue
        print(f"| {name} | {result['apdus_per_sign']:.2f} | {result['setup_apdus']} | {result['first']:.3f} "
              f"| {result['per_second']:.1f} | {result['c_host']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
