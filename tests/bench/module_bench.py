"""Benchmark: the same PKCS#11 client scenario against cardki, OpenSC and YKCS11 on one virtual card.

Not a test (nothing here can fail on speed); run it by hand:

    python3 tests/bench/module_bench.py [--signatures 200] [--rounds 3] [--reader 2]

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
table on stdout.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

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

Row = Tuple[Scenario, str, None | str | Dict[str, float]]
"""(scenario, module, result): None = module not installed, str = why there is no result."""


def module_environment() -> Dict[str, str]:
    """The caller's environment without CARDKI_* and with cardki's config file pinned to none,
    so a developer's settings cannot change the numbers."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARDKI_")}
    env["CARDKI_CONFIG"] = "/nonexistent/cardki-module.toml"
    return env


def certificate_for(public_pem: bytes) -> bytes:
    """A certificate carrying the card's key, from a throw-away host CA (key-holder proof is not needed)."""
    issuer = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
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
               public_pem: bytes) -> Dict[str, float]:
    """One fresh client process; its numbers (raises RuntimeError with the reason when it fails)."""
    CardControl(control_path).reset_count()
    started = time.time()
    done = subprocess.run([sys.executable, "-c", CLIENT, module, reader, scenario.mechanism, str(signatures),
                           str(control_path), repr(started), str(REPO / "hw-sim")],
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
                runs = [run_client(path, reader, scenario, control_path, options.signatures, public_pem)
                        for _ in range(options.rounds)]
                c_host = min(c_host_signature_time(path, reader, scenario, workdir) for _ in range(options.rounds))
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
                     f"| {result['first']:.3f} | {result['per_second']:.1f} | {result['c_host']:.3f} |")
    return "\n".join(lines)


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signatures", type=int, default=200, help="signatures per client run after the first")
    parser.add_argument("--rounds", type=int, default=3, help="client runs per module and key (best is reported)")
    parser.add_argument("--reader", type=int, default=stack.YUBICO_READER,
                        help=f"reader index (default {stack.YUBICO_READER}: {stack.reader_name(stack.YUBICO_READER)!r};"
                             " ykcs11 sees only Yubico-named readers)")
    options = parser.parse_args(argv)

    from cardki.capi import module_path
    modules = {"cardki": str(module_path()), **OTHER_MODULES}
    reader = stack.reader_name(options.reader)
    with stack.exclusive_stack(on_wait=lambda: print("waiting for the PC/SC stack ...", file=sys.stderr)):
        started_pcscd = stack.ensure_pcscd()
        started_server = False
        try:
            stack.ensure_reader(options.reader, may_restart_pcscd=started_pcscd)
            server = stack.running_server(options.reader) or stack.foreign_server(options.reader)
            if server is None:
                server = stack.start_server(options.reader, parent_pid=os.getpid())
                started_server = True
            control = CardControl(server.control_path)
            with tempfile.TemporaryDirectory(prefix="cardki-bench-") as workdir:
                insert_bench_card(control, reader, Path(workdir) / "state.json")
                rows = measure(modules, reader, server.control_path, options, Path(workdir))
        finally:
            if started_server:
                stack.stop_server(options.reader)
            if started_pcscd:
                stack.stop_pcscd()

    print(f"\nSlot 9a of a virtual YubiKey {FIRMWARE} in {reader!r} (pcscd + vpcd), PyKCS11 client, "
          f"{options.signatures} signatures after the first, best of {options.rounds} runs\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except stack.StackError as error:
        print(f"module_bench: {error}", file=sys.stderr)
        raise SystemExit(1) from None
