"""Shared setup for the tests that drive the cardki PKCS#11 module with real clients.

A virtual YubiKey (firmware 5.4.3, whose default management key is the TDES
one yubico-piv-tool 2.2 knows) is provisioned once per test run and layout
with yubico-piv-tool -- by default RSA-2048 in 9a, P-256 in 9c, 9d and 9e; the
"rsa-9c" layout has RSA-2048 in the PIN-always 9c and in 9d, P-256 in 9a and
9e -- each key with a certificate from one test CA (``CA_CERTIFICATE``), and its state is saved; every test then
gets a fresh copy of that card in its reader, so tests cannot disturb each other.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import pytest
from asn1crypto.core import ObjectIdentifier, OctetString
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cardki.capi import module_path
from hosts import module_env as hermetic_env

PIN = "123456"
FIRMWARE = "5.4.3"
SERIAL = 7654321
KEYS = {"9a": "RSA2048", "9c": "ECCP256", "9d": "ECCP256", "9e": "ECCP256"}
LAYOUTS = {"default": KEYS, "rsa-9c": {"9a": "ECCP256", "9c": "RSA2048", "9d": "RSA2048", "9e": "ECCP256"}}
YUBICO_PIV_TOOL = shutil.which("yubico-piv-tool") or "/usr/bin/yubico-piv-tool"

_provisioned_state: Dict[str, Path] = {}


@dataclass
class ModuleCard:
    """A provisioned virtual card in a reader, and how to reach it through the module."""

    handle: object  # tests/conftest.py VirtualCardHandle
    reader_name: str
    module: str
    certificates: Dict[str, bytes]  # PIV slot -> certificate PEM

    def pkcs11_tool(self, *args: str, check: bool = True, env: Dict[str, str] | None = None,
                    timeout: float = 120) -> subprocess.CompletedProcess:
        """pkcs11-tool on this card's slot through the cardki module."""
        command = ["pkcs11-tool", "--module", self.module, "--slot-description", self.reader_name, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env or module_env())
        if check and done.returncode != 0:
            raise AssertionError(f"pkcs11-tool {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done


def read_public_key(pkcs11_tool: Callable[..., subprocess.CompletedProcess], key_id: str, out: Path):
    """The public key object with CKA_ID ``key_id`` as pkcs11-tool 0.23 receives it from
    the module, as a cryptography key.

    An RSA key is what ``--read-object`` writes. An EC key is built from the CKA_EC_POINT
    and CKA_EC_PARAMS the listing prints, because 0.23's ``--read-object`` of an EC key
    frees the point it then hands to EVP_PKEY_fromdata (OpenSC fixed it in 0.24, commit
    63d4bd3d3): whether that fails ("cannot create EVP_PKEY") depends on what reused the
    freed heap, so it failed now and then, and every time under
    ``GLIBC_TUNABLES=glibc.malloc.tcache_count=0 MALLOC_PERTURB_=165``."""
    listing = pkcs11_tool("--list-objects", "--type", "pubkey", "--id", key_id).stdout
    blocks = [block for block in listing.split("Public Key Object;")[1:]
              if f"\n  ID:         {key_id}\n" in block]
    assert len(blocks) == 1, listing
    if blocks[0].startswith(" EC "):
        fields = dict(line.strip().split(":", 1) for line in blocks[0].splitlines() if line.startswith("  EC_"))
        point = OctetString.load(bytes.fromhex(fields["EC_POINT"].strip())).native
        curve = ec.get_curve_for_oid(x509.ObjectIdentifier(
            ObjectIdentifier.load(bytes.fromhex(fields["EC_PARAMS"].strip())).dotted))
        return ec.EllipticCurvePublicKey.from_encoded_point(curve(), point)
    pkcs11_tool("--read-object", "--type", "pubkey", "--id", key_id, "-o", str(out))
    return serialization.load_der_public_key(out.read_bytes())


def module_env(**extra: str) -> Dict[str, str]:
    """The environment for a host process using real readers (logging settings kept)."""
    return hermetic_env(keep_logging=True, **extra)


@contextmanager
def ssh_agent(module: str, tmp_path: Path, pin: str = PIN) -> Iterator[Dict[str, str]]:
    """An ssh-agent of our own (allowed to load the module) holding the keys of every
    token of the module (``ssh-add -s``, the PIN from an askpass script); yields the
    environment that reaches it (SSH_AUTH_SOCK)."""
    socket = tmp_path / "agent.sock"
    env = module_env(SSH_AUTH_SOCK=str(socket))
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket), "-P", module], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if socket.exists() or process.poll() is not None:
                break
            time.sleep(0.05)
        assert socket.exists(), f"ssh-agent did not start: {process.stderr.read() if process.stderr else ''}"
        askpass = tmp_path / "askpass"
        askpass.write_text(f"#!/bin/sh\necho {pin}\n")
        askpass.chmod(0o700)
        added = subprocess.run(["ssh-add", "-s", module], capture_output=True, text=True, timeout=120,
                               stdin=subprocess.DEVNULL,
                               env={**env, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force",
                                    "DISPLAY": os.environ.get("DISPLAY", ":0")})
        assert added.returncode == 0, added.stdout + added.stderr
        yield env
    finally:
        process.terminate()
        process.wait(timeout=30)


def yubico_piv_tool(reader: str, *args: str) -> str:
    done = subprocess.run([YUBICO_PIV_TOOL, "-r", reader, *args], capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise AssertionError(f"yubico-piv-tool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cardki test CA")])
_CA_KEY = ec.generate_private_key(ec.SECP256R1())


def _ca_certificate() -> bytes:
    """The test CA's self-signed certificate (PEM), for clients that build the chain (NSS)."""
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(_CA_NAME).issuer_name(_CA_NAME)
        .public_key(_CA_KEY.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(_CA_KEY, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


CA_CERTIFICATE = _ca_certificate()


def _issue_certificate(public_pem: bytes, common_name: str) -> bytes:
    """A certificate for the card's key, issued by the host's test CA.

    (yubico-piv-tool 2.2's selfsign-certificate fails with OpenSSL 3 before it
    reaches the card; the tests only need a certificate that carries the key.)"""
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(_CA_NAME)
        .public_key(serialization.load_pem_public_key(public_pem))
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(_CA_KEY, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _provision(reader: str, workdir: Path, keys: Dict[str, str]) -> Dict[str, bytes]:
    certificates: Dict[str, bytes] = {}
    for slot, algorithm in keys.items():
        public = workdir / f"{slot}.pub.pem"
        certificate = workdir / f"{slot}.crt.pem"
        yubico_piv_tool(reader, "-a", "generate", "-s", slot, "-A", algorithm, "-o", str(public))
        certificate.write_bytes(_issue_certificate(public.read_bytes(), f"cardki test {slot}"))
        yubico_piv_tool(reader, "-a", "import-certificate", "-s", slot, "-i", str(certificate))
        certificates[slot] = certificate.read_bytes()
    return certificates


_certificates: Dict[str, Dict[str, bytes]] = {}


def module_card(virtual_card_factory: Callable[..., object], layout: str = "default") -> ModuleCard:
    """A fresh copy of the provisioned card (provisioning happens once per run and layout)."""
    if not Path(YUBICO_PIV_TOOL).exists():
        pytest.fail("yubico-piv-tool is not installed")
    if layout not in _provisioned_state:
        card = virtual_card_factory(firmware=FIRMWARE, serial=SERIAL)
        workdir = Path(tempfile.mkdtemp(prefix="cardki-module-card-"))
        _certificates[layout] = _provision(card.reader_name, workdir, LAYOUTS[layout])
        saved = workdir / "provisioned-state.json"
        shutil.copyfile(card.state_path, saved)
        _provisioned_state[layout] = saved
        handle = card
    else:
        copy = Path(tempfile.mkdtemp(prefix="cardki-module-card-")) / "state.json"
        shutil.copyfile(_provisioned_state[layout], copy)
        handle = virtual_card_factory(firmware=FIRMWARE, serial=SERIAL, state=str(copy))
    return ModuleCard(handle=handle, reader_name=handle.reader_name, module=module_path(),
                      certificates=dict(_certificates[layout]))


def slot_id_for(reader_name: str, slot_descriptions: List[tuple]) -> int:
    """The PKCS#11 slot id whose description is this reader."""
    for slot_id, description in slot_descriptions:
        if description.strip() == reader_name:
            return slot_id
    raise AssertionError(f"no slot for {reader_name}: {slot_descriptions}")
