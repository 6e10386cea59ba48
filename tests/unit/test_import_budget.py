"""What loading the module costs in imports: C_Initialize and C_GetSlotList must
not pull in cryptography.x509, asn1crypto, the token package or the Python API
(together ~60 ms of a ~160 ms first signature), nor what only a log, a
configuration file or the rest of pyscard needs (logging, dataclasses, tomllib,
pathlib, smartcard's Session/System: together ~35 ms of the C module's start);
listing a key, with or without a certificate, must not need cryptography.x509. Each
check runs in a fresh interpreter, because this test process has imported
everything long ago; the C module's is the one it starts itself in a C host."""

from __future__ import annotations

import json
import site
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Set

from cardki.capi import module_path
from hosts import module_env

HEAVY = ("cryptography.x509", "asn1crypto", "cardki.api", "cardki.token", "cardki.cryptoki.hostcrypto")
#: What C_Initialize needs none of: logging (only when CARDKI_LOG asks), dataclasses and the
#: inspect/ast/dis they bring, tomllib (only with a configuration file), pathlib, datetime (only
#: CK_DATE values need it), the rest of pyscard (its package __init__), the simulator, and the
#: .pth files' imports (the embedded interpreter runs none: a checkout's packages outside src/
#: are found without setuptools' editable finder).
UNNEEDED = ("logging", "dataclasses", "inspect", "ast", "tomllib", "pathlib", "traceback", "datetime",
            "smartcard.System", "smartcard.Session", "smartcard.CardConnection", "smartcard.reader", "hwsim",
            "_distutils_hack", "__editable___cardki")


def _matching(modules: Set[str], names: tuple) -> List[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") or m.startswith(n + "_") for n in names))


def loaded_after(code: str) -> set:
    script = textwrap.dedent(code) + textwrap.dedent("""
        import json, sys
        print(json.dumps(sorted(sys.modules)))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def heavy_in(modules: set) -> list:
    return sorted(name for name in modules if any(name == h or name.startswith(h + ".") for h in HEAVY))


def test_initialize_and_slot_list_import_nothing_heavy() -> None:
    modules = loaded_after("""
        from cardki.capi import entry  # what the C library imports first
        from cardki.cryptoki.engine import Cryptoki
        from cardki.slot.manager import SlotManager

        lib = Cryptoki(slot_manager=SlotManager(use_pcsc=False))
        lib.initialize()
        assert lib.get_slot_list(False) == []
        lib.get_info()
        lib.finalize()
    """)
    assert "cardki.cryptoki.engine" in modules
    assert heavy_in(modules) == []
    assert _matching(modules, ("logging", "dataclasses", "tomllib", "smartcard.System", "smartcard.Session")) == []


def test_a_key_without_certificate_is_listed_without_cryptography_x509() -> None:
    modules = loaded_after("""
        from cryptography.hazmat.primitives.asymmetric import ec

        from cardki.token.piv.objects import ALGORITHM_BY_NAME, SlotContents, key_objects
        from cardki.token.profiles import candidates

        spec = next(s for s in candidates()[0].slots if s.key == 0x9A)
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        objects = key_objects(SlotContents(spec, ALGORITHM_BY_NAME["ECCP256"], key))
        assert len(objects) == 2
    """)
    assert "cryptography.x509" not in modules
    assert not [name for name in modules if name.startswith("asn1crypto")]


def test_a_key_with_a_certificate_is_listed_without_cryptography_x509() -> None:
    """The certificate is read by cardki's own DER reader (cardki.certificate): its
    subject, issuer, serial number and KeyUsage without cryptography.x509 (~25 ms)."""
    certificate = _plain_certificate()
    modules = loaded_after(f"""
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        from cardki.constants import CKA, CKO
        from cardki.token.piv.objects import ALGORITHM_BY_NAME, SlotContents, key_objects
        from cardki.token.profiles import candidates

        der = bytes.fromhex("{certificate.hex()}")
        spec = next(s for s in candidates()[0].slots if s.key == 0x9D)
        key = load_der_public_key(bytes.fromhex("{_public_key_info(certificate).hex()}"))
        objects = key_objects(SlotContents(spec, ALGORITHM_BY_NAME["ECCP256"], key, der))
        assert [o.attributes[CKA.CLASS] for o in objects] == [CKO.PRIVATE_KEY, CKO.PUBLIC_KEY, CKO.CERTIFICATE]
        assert objects[2].attributes[CKA.VALUE] == der
        assert objects[0].attributes[CKA.SIGN] is False and objects[0].attributes[CKA.DERIVE] is True
    """)
    assert "cryptography.x509" not in modules
    assert not [name for name in modules if name.startswith("asn1crypto")]


def _plain_certificate() -> bytes:
    """A P-256 key's certificate as CAs issue them: a KeyUsage (key agreement only, so
    the listing shows the KeyUsage was read), BasicConstraints, a key identifier."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"), x509.NameAttribute(NameOID.COMMON_NAME, "me")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    usage = x509.KeyUsage(False, False, False, False, True, False, False, False, False)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _public_key_info(certificate: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509.load_der_x509_certificate(certificate).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_the_lower_layers_need_neither_pyscard_nor_cryptography() -> None:
    """The APDU layer and transcript replay run without pyscard; the engine loads
    neither pyscard (the slot layer's, imported at C_Initialize) nor cryptography's
    hazmat (the token's and the host-side checks', imported at the first card)."""
    for code, also_absent in (
        ("import cardki", ("cardki.cryptoki", "cardki.api", "cardki.apdu")),
        ("import cardki.apdu; from cardki.apdu import ReplayTransport, Transcript", ("cardki.slot",)),
        ("import cardki.transport, cardki.der, cardki.curves, cardki.digests, cardki.errors", ("cardki.slot",)),
        ("import cardki.cryptoki.engine", ("cardki.slot", "cardki.token", "cardki.virtual")),
    ):
        modules = loaded_after(code)
        forbidden = ("smartcard", "cryptography.hazmat", "asn1crypto", "hwsim", *also_absent)
        assert sorted(name for name in modules if any(name == f or name.startswith(f + ".") for f in forbidden)) \
            == [], code


def _embedded_start(harness: Path, scenario: str = "modules", **environment: Any) -> Dict[str, List[str]]:
    """sys.modules and sys.path of the interpreter the module starts in a C host
    (capi_harness "modules": C_Initialize, C_GetInfo, then a look inside;
    "token_modules": C_GetSlotList and C_GetTokenInfo too)."""
    done = subprocess.run([str(harness), module_path(), scenario], capture_output=True, text=True, timeout=120,
                          env=module_env(**environment))
    assert done.returncode == 0 and done.stderr == "", (done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    assert "init=0x0" in lines and "get_info=0x0" in lines and lines[-1] == "survived=1", done.stdout
    assert scenario == "modules" or "token_info=0x0" in lines, done.stdout
    modules = next(line for line in lines if line.startswith("modules=")).partition("=")[2].split(",")
    return {"modules": modules, "path": [line[len("path "):] for line in lines if line.startswith("path ")]}


def test_the_c_modules_start_loads_only_what_c_initialize_needs(harness: Path) -> None:
    modules = set(_embedded_start(harness)["modules"])
    assert "cardki.cryptoki.engine" in modules and "smartcard.scard" in modules
    assert heavy_in(modules) == []
    assert _matching(modules, UNNEEDED) == []


def test_the_c_modules_interpreter_searches_the_package_stdlib_and_site_packages_only(harness: Path) -> None:
    """No site.main(): sys.path is the package root, the standard library, and the
    site-packages this environment's own Python lists (no .pth additions, no cwd)."""
    path = _embedded_start(harness)["path"]
    stdlib = json.loads(subprocess.run([sys.executable, "-I", "-S", "-c", "import json, sys; print(json.dumps(sys.path))"],
                                       capture_output=True, text=True, check=True).stdout)
    package_root = str(Path(module_path()).parents[2])
    assert path[0] == package_root
    assert set(path[1:]) <= set(stdlib) | set(site.getsitepackages()), path
    assert [entry for entry in site.getsitepackages() if Path(entry).is_dir()] == \
        [entry for entry in path if entry in site.getsitepackages()]


def test_a_configuration_file_is_parsed_when_there_is_one(harness: Path, tmp_path: Path) -> None:
    """tomllib is the file's cost, not every start's (and the file is read: it can ask for a log)."""
    config = tmp_path / "module.toml"
    log = tmp_path / "module.log"
    config.write_text(f'log = "debug"\nlog_file = "{log}"\n')
    modules = set(_embedded_start(harness, CARDKI_CONFIG=str(config))["modules"])
    assert "tomllib" in modules and "logging" in modules
    assert "C_GetInfo -> CKR_OK" in log.read_text()


def test_a_checkouts_packages_outside_src_come_without_any_pth_file(harness: Path) -> None:
    """The token needs cardki.profiles (profiles/ in a checkout) and the virtual card hwsim
    (hw-sim/hwsim): the library finds both itself, so setuptools' editable finder (15 ms,
    most of it pathlib) never loads."""
    modules = set(_embedded_start(harness, "token_modules", virtual_only=True)["modules"])
    assert {"cardki.profiles", "hwsim", "cardki.token.piv.token"} <= modules
    assert _matching(modules, ("__editable___cardki", "_distutils_hack")) == []
