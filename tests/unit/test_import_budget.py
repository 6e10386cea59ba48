"""What loading the module costs in imports: C_Initialize and C_GetSlotList must
not pull in cryptography.x509, asn1crypto, the token package or the Python API
(together ~60 ms of a ~160 ms first signature), nor what only a log, a
configuration file or the rest of pyscard needs (logging, dataclasses, tomllib,
pathlib, smartcard's Session/System: together ~35 ms of the C module's start);
listing a key, with or without a certificate, must not need cryptography.x509; a
YubiKey's PIV signature must not load its OpenPGP driver (~40 ms), nor detection
cryptography's serialization; a first token and a PIV signature load no logging,
importlib.resources or the system's libcrypto. Each check runs in a fresh
interpreter, because this test process has imported everything long ago; the C
module's is the one it starts itself in a C host."""

from __future__ import annotations

import hashlib
import json
import site
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Set

from cardki.capi import module_path
from cardki.capi.build import GC_YOUNG_THRESHOLD
from hosts import CFFI_HOST, module_env, run_module_script

HEAVY = ("cryptography.x509", "asn1crypto", "cardki.api", "cardki.token", "cardki.cryptoki.hostcrypto")
#: What C_Initialize needs none of: threading (cardki's locks are _thread's: ~1 ms), logging
#: (only when CARDKI_LOG asks), dataclasses and the
#: inspect/ast/dis they bring, tomllib (only with a configuration file), pathlib, datetime (only
#: CK_DATE values need it), the rest of pyscard (its package __init__), the simulator, and the
#: .pth files' imports (the embedded interpreter runs none: a checkout's packages outside src/
#: are found without setuptools' editable finder).
UNNEEDED = ("logging", "dataclasses", "inspect", "ast", "tomllib", "pathlib", "traceback", "datetime",
            "smartcard.System", "smartcard.Session", "smartcard.CardConnection", "smartcard.reader", "hwsim",
            "_distutils_hack", "__editable___cardki", "threading")


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
    threshold = next(line for line in lines if line.startswith("gc_threshold=")).partition("=")[2].split(",")
    return {"modules": modules, "path": [line[len("path "):] for line in lines if line.startswith("path ")],
            "gc_threshold": threshold}


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


def test_the_interpreter_the_module_starts_collects_late_and_a_python_hosts_is_left_alone(harness: Path) -> None:
    """The interpreter cardki starts in a C host runs no collection over its own
    imports (young threshold GC_YOUNG_THRESHOLD, see capi/build.py); a Python host's
    collector keeps the host's settings through C_Initialize and the first token."""
    assert _embedded_start(harness)["gc_threshold"] == [str(GC_YOUNG_THRESHOLD), "20", "20"]
    thresholds = run_module_script(CFFI_HOST + """
import gc
before = gc.get_threshold()
assert f.C_Initialize(ffi.NULL) == 0
count = ffi.new("CK_ULONG *")
assert f.C_GetSlotList(1, ffi.NULL, count) == 0 and count[0] >= 1
print(json.dumps([before, gc.get_threshold()]))
assert f.C_Finalize(ffi.NULL) == 0
""")
    assert thresholds[0] == thresholds[1]
    assert thresholds[1][0] != GC_YOUNG_THRESHOLD


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


def test_a_first_token_reads_the_profiles_without_tomllib(harness: Path) -> None:
    """Once a first start has kept what tomllib made of the profiles (in profiles/__pycache__,
    see cardki.token.profile_cache), a first token loads no tomllib (~4 ms of imports with
    the datetime and string it brings, which the virtual card here imports itself, and ~2 ms
    of parsing): see also test_a_piv_signature_reads_its_profiles_without_tomllib."""
    _embedded_start(harness, "token_modules", virtual_only=True)  # the first start writes the entries
    modules = set(_embedded_start(harness, "token_modules", virtual_only=True)["modules"])
    assert "cardki.token.piv.token" in modules
    assert _matching(modules, ("tomllib",)) == []


def test_a_first_token_loads_no_logging(harness: Path) -> None:
    """The token layer logs through cardki.log's stand-in: a C host that opens a
    token without asking for a log never imports logging (~7 ms of the first card use)."""
    modules = set(_embedded_start(harness, "token_modules", virtual_only=True)["modules"])
    assert "cardki.token.piv.token" in modules
    assert _matching(modules, ("logging", "traceback")) == []


REPO = Path(__file__).resolve().parents[2]
#: What neither a PIV nor an OpenPGP signature needs (see the two tests below).
NOT_FOR_A_SIGNATURE = ("logging", "traceback", "importlib.resources", "pathlib", "tempfile", "hashlib", "hmac",
                       "_hashlib", "cryptography.x509", "cryptography.hazmat.primitives.serialization",
                       "dataclasses", "inspect", "cryptography.hazmat.backends",
                       "cryptography.hazmat.primitives.ciphers", "threading", "zlib")


#: What checks and builds OpenPGP profiles: a YubiKey's PIV signature reads none.
OPENPGP_PROFILE = "cardki.token.openpgp.profile"
#: The PIV token's modules for the SO's work alone: the management key (SO login, its
#: change, a reset) and key generation and import with their templates (~0.8 ms of a start).
PIV_ADMINISTRATION = ("cardki.token.piv.mgmt", "cardki.token.piv.keys", "cardki.token.key_templates")


def _replayed(code: str) -> Set[str]:
    """sys.modules after ``code`` ran in an interpreter started as the C module starts
    its own (no site: no .pth file imports anything first), with cardki's source and
    profiles and this environment's site-packages on the path."""
    script = textwrap.dedent(f"""
        import sys, types
        sys.path[:0] = [{str(REPO / "src")!r}, *{site.getsitepackages()!r}]
        profiles = types.ModuleType("cardki.profiles")  # a checkout's profiles/, as the module finds it
        profiles.__path__ = [{str(REPO / "profiles")!r}]
        sys.modules["cardki.profiles"] = profiles
    """) + textwrap.dedent(code) + "\nprint(','.join(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.strip().splitlines()[-1].split(","))


def test_a_piv_signature_loads_only_what_it_needs() -> None:
    """A YubiKey's PIV detection, listing, login and two signatures (replayed from
    apdu/piv/) in an interpreter started as the C module starts its own (no site, so
    no .pth file imports anything first) load no logging, no importlib.resources
    with the pathlib and tempfile it brings (profiles are read from their package's
    directory: ~9 ms), no cryptography.x509 (the certificate is read by cardki's own
    DER reader), no hashlib, hmac or _hashlib, which load the system's libcrypto
    (hashing is cryptography's, whose OpenSSL a signature loads anyway: 3 to 4 ms),
    no cryptography serialization package (keys to and from DER by cardki.spki: its
    ssh module alone brings dataclasses, inspect and the ciphers, ~15 ms) and no
    dataclasses (the token layer decorates none: ~10 ms with inspect), and no
    cryptography OpenSSL backend module with the cipher classes it brings (the check
    of an ECDSA signature needs none of it: 4 to 7 ms of the first signature), and no
    threading (the locks are _thread's: ~1 ms), nor zlib (for compressed certificates
    only: ~0.5 ms), nor the modules of the SO's work (PIV_ADMINISTRATION), nor OpenPGP's
    profile module (detection builds the PIV profiles alone; the OpenPGP profile the
    YubiKey's names is read when its token is used: ~1 ms)."""
    modules = _replayed(_piv_signature())
    assert "cardki.token.piv.token" in modules and "cryptography.hazmat.primitives.asymmetric.ec" in modules
    assert _matching(modules, (*NOT_FOR_A_SIGNATURE, *PIV_ADMINISTRATION, OPENPGP_PROFILE)) == []


def _piv_signature() -> str:
    """Code for _replayed: a YubiKey's PIV detection, listing, login and two signatures,
    replayed from apdu/piv/."""
    from test_piv_token_transcripts import DIGEST

    return f"""
        from cardki.apdu import ReplayTransport
        from cardki.constants import CKM, CKU
        from cardki.token import open_token, rsa_padding
        replay = ReplayTransport({str(REPO / "apdu" / "piv" / "yubikey572-login-sign-p256-rsa2048.txt")!r})
        token = open_token(replay)
        token.objects()
        token.login(CKU.USER, b"12345678")
        find = lambda ref: next(obj for obj in token.objects() if obj.ref == ref)  # as the transcript was made
        digest = bytes.fromhex({DIGEST.hex()!r})  # what the transcript's signatures are of
        token.sign(find(("private", 0x82)), CKM.ECDSA, None, digest)
        token.sign(find(("private", 0x9A)), CKM.RSA_PKCS, None, rsa_padding.digest_info("sha256", digest))
        replay.assert_finished()
    """


def test_a_piv_signature_reads_its_profiles_without_tomllib() -> None:
    """Once a first run has kept what tomllib made of the profiles (profile_cache), a PIV
    signature loads neither tomllib nor the datetime and string it imports."""
    _replayed(_piv_signature())  # the first run writes the entries
    modules = _replayed(_piv_signature())
    assert "cardki.token.piv.token" in modules
    assert _matching(modules, ("tomllib", "datetime", "string")) == []


def test_a_piv_signature_makes_few_named_tuple_classes_and_none_with_typing() -> None:
    """Each named-tuple class costs 0.1 to 0.3 ms to make with typing.NamedTuple (its string
    annotations compiled, a __new__ evaluated), about half that with cardki.named_tuple's
    (no annotation compiled): values only the token reads are plain classes, and the rest are
    made by cardki's NamedTuple (no class on this path comes from typing's)."""
    modules = _replayed(textwrap.dedent("""
        import collections, typing
        made, with_typing = [], []
        _namedtuple, _typing_new = collections.namedtuple, typing.NamedTupleMeta.__new__
        def counting(name, *args, **kwargs):
            made.append(name)
            return _namedtuple(name, *args, **kwargs)
        def typing_counting(cls, name, bases, namespace):
            with_typing.append(name)
            return _typing_new(cls, name, bases, namespace)
        collections.namedtuple, typing.NamedTupleMeta.__new__ = counting, typing_counting
    """) + textwrap.dedent(_piv_signature()) + textwrap.dedent("""
        sys.modules["made:" + "/".join(sorted(made))] = sys
        sys.modules["with typing:" + "/".join(sorted(with_typing))] = sys
    """))
    made = next(name for name in modules if name.startswith("made:"))[len("made:"):].split("/")
    with_typing = next(name for name in modules if name.startswith("with typing:"))[len("with typing:"):]
    assert not {"Detected", "AppletDriver", "KeyPair", "KeyMetadata", "ImportableKey"} & set(made)
    assert "Command" in made and "SlotSpec" in made  # counted: made through collections.namedtuple
    assert len(made) <= 19, made  # 24 before the five above became plain classes
    assert with_typing == "", with_typing


def test_an_ec_cards_signature_loads_no_rsa_module(tmp_path: Path) -> None:
    """A YubiKey with a P-256 key and certificate in 9A (recorded here in-process, replayed
    as the C module runs): finding the key by its id (as pkcs11-tool --sign --id 01 does:
    the 9A slot alone is read, not the RSA attestation key in F9), login and an ECDSA
    signature never load cryptography's rsa module, nor the padding module that imports
    it, nor the random module rsa brings (~1.5 ms), nor its ed25519 and x25519 modules
    (~0.4 ms: cardki.spki asks a key's type of those only once they are loaded); a key of
    the kind loads them where it is handled."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from test_piv_token_support import PIN, make_cert, put_cert, put_key

    from cardki.apdu import RecordingTransport
    from cardki.constants import CKM, CKU
    from cardki.slot.inprocess import InProcessTransport
    from cardki.token import open_token
    from hwsim.yubikey import VirtualYubiKey

    card = VirtualYubiKey(firmware=(5, 7, 2), serial=12345678)
    key = ec.generate_private_key(ec.SECP256R1())
    put_key(card, 0x9A, key)
    put_cert(card, 0x9A, make_cert(key, "an EC card"))
    recorder = RecordingTransport(InProcessTransport(card))
    token = open_token(recorder)
    token.login(CKU.USER, PIN)
    private = next(obj for obj in token.objects_with_id(b"\x01") if obj.ref == ("private", 0x9A))
    token.sign(private, CKM.ECDSA, None, bytes(range(32)))
    recorder.save(tmp_path / "ec.txt")
    modules = _replayed(f"""
        from cardki.apdu import ReplayTransport
        from cardki.constants import CKM, CKU
        from cardki.token import open_token
        replay = ReplayTransport({str(tmp_path / "ec.txt")!r})
        token = open_token(replay)
        token.login(CKU.USER, {PIN!r})
        private = next(obj for obj in token.objects_with_id(b"\\x01") if obj.ref == ("private", 0x9A))
        assert len(token.sign(private, CKM.ECDSA, None, bytes(range(32)))) == 64
        replay.assert_finished()
    """)
    assert "cardki.token.piv.token" in modules and "cryptography.hazmat.primitives.asymmetric.ec" in modules
    assert _matching(modules, ("cryptography.hazmat.primitives.asymmetric.rsa",
                               "cryptography.hazmat.primitives.asymmetric.padding", "random",
                               "cryptography.hazmat.primitives.asymmetric.ed25519",
                               "cryptography.hazmat.primitives.asymmetric.x25519")) == []


def test_an_openpgp_cards_signatures_load_only_what_they_need() -> None:
    """A plain OpenPGP card's detection, listing, login and two signatures (replayed from
    apdu/openpgp/) load none of that either: its key contents are no dataclass (~11 ms
    with inspect), its keys' points come from cardki.spki."""
    from provisioning import OPENPGP_PIN

    digest = hashlib.sha256(b"replayed").digest()  # what the transcript signs
    modules = _replayed(f"""
        from cardki.apdu import ReplayTransport
        from cardki.constants import CKA, CKM, CKO, CKU
        from cardki.token import open_tokens
        replay = ReplayTransport({str(REPO / "apdu" / "openpgp" / "openpgp34-login-sign-authenticate.txt")!r})
        (token,) = open_tokens(replay)
        token.objects()
        token.login(CKU.USER, {OPENPGP_PIN.encode()!r})
        key = lambda n: next(o for o in token.objects() if o.attributes[CKA.CLASS] == CKO.PRIVATE_KEY
                             and o.attributes[CKA.ID] == bytes([n]))
        token.sign(key(1), CKM.ECDSA, None, {digest!r})
        token.sign(key(3), CKM.ECDSA, None, {digest!r})
        replay.assert_finished()
    """)
    assert set(OPENPGP_DRIVER) <= modules
    assert _matching(modules, NOT_FOR_A_SIGNATURE) == []


#: The OpenPGP driver: what a YubiKey's OpenPGP token needs once it is used (~30 ms
#: with cryptography's serialization); a host that only uses its PIV slot never does.
OPENPGP_DRIVER = tuple(f"cardki.token.openpgp.{name}" for name in ("token", "card", "keys", "data", "constants"))
TESTS = Path(__file__).resolve().parents[1]


def snapshots(code: str) -> List[Set[str]]:
    """sys.modules at each ``mark()`` the code calls, in a fresh interpreter that finds
    the test helpers (engine_support, provisioning)."""
    script = textwrap.dedent(f"""
        import json, sys
        sys.path[:0] = [{str(TESTS)!r}, {str(TESTS / "unit")!r}]

        def mark():
            print(json.dumps(sorted(sys.modules)))
    """) + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [set(json.loads(line)) for line in done.stdout.splitlines() if line.startswith("[")]


def test_a_yubikeys_piv_signature_loads_no_openpgp_driver() -> None:
    """C_GetSlotList lists the YubiKey's OpenPGP slot (its description, a token present),
    a PIV signature goes through, and C_Finalize gives the card back to OpenPGP (for
    gpg's scdaemon), all without loading the OpenPGP driver; the OpenPGP token is
    built, and the driver loaded, when its token info is asked."""
    at_signature, at_finalize, at_openpgp_info = snapshots("""
        from cardki.constants import CKM, CKU, SlotFlag
        from engine_support import PIN, make_rig

        rig = make_rig()
        lib = rig.lib
        piv, openpgp = lib.get_slot_list(True)
        assert lib.get_slot_info(openpgp).slot_description.endswith(" (OpenPGP)")
        assert lib.get_slot_info(openpgp).flags & SlotFlag.TOKEN_PRESENT
        lib.get_token_info(piv)
        session = rig.open()
        lib.login(session, CKU.USER, PIN)
        lib.sign_init(session, CKM.ECDSA_SHA256, rig.private_key(session, b"\\x03"))
        assert len(lib.sign(session, b"signed with PIV")) == 64
        mark()
        lib.finalize()
        assert rig.card.selected is rig.card.openpgp
        mark()
        rig = make_rig()
        piv, openpgp = rig.lib.get_slot_list(True)
        assert rig.lib.get_token_info(openpgp).label.startswith("YubiKey OpenPGP")
        mark()
        rig.lib.finalize()
    """)
    assert "cardki.token.piv.token" in at_signature
    assert _matching(at_signature, OPENPGP_DRIVER) == _matching(at_finalize, OPENPGP_DRIVER) == []
    assert set(OPENPGP_DRIVER) <= at_openpgp_info


def test_a_plain_piv_cards_signature_loads_no_openpgp_driver() -> None:
    """A PIV card without an OpenPGP application: detection's SELECT OpenPGP is refused
    (without the driver), and the PIV token signs."""
    (modules,) = snapshots("""
        import hashlib
        from cryptography.hazmat.primitives.asymmetric import ec
        from cardki.constants import CKM, CKU
        from cardki.slot.inprocess import InProcessTransport
        from cardki.token import PivToken, open_tokens
        from test_piv_token_support import PIN, GenericPivCard, make_cert, put_cert, put_key

        class PlainPivCard(GenericPivCard):
            def execute(self, apdu: bytes) -> bytes:
                if apdu[1] == 0xA4 and bytes.fromhex("D27600012401") in apdu:
                    return b"\\x6a\\x82"
                return super().execute(apdu)

        card = PlainPivCard()
        key = ec.generate_private_key(ec.SECP256R1())
        put_key(card.inner, 0x9A, key)
        put_cert(card.inner, 0x9A, make_cert(key))
        (token,) = open_tokens(InProcessTransport(card))
        assert isinstance(token, PivToken) and token.profile.id == "generic-piv"
        private = next(obj for obj in token.objects() if obj.ref == ("private", 0x9A))
        token.login(CKU.USER, PIN)
        assert len(token.sign(private, CKM.ECDSA, None, hashlib.sha256(b"plain PIV").digest())) == 64
        mark()
    """)
    assert "cardki.token.piv.token" in modules
    assert _matching(modules, OPENPGP_DRIVER) == []


def test_listing_a_yubikeys_slots_needs_no_serialization() -> None:
    """Detection (a YubiKey: SELECT PIV, GET VERSION, and its OpenPGP token without an
    APDU) loads neither the OpenPGP driver nor cryptography's serialization (its ssh
    part alone is ~15 ms), which only a key's public attributes need."""
    (modules,) = snapshots(f"""
        from cardki.apdu import ReplayTransport
        from cardki.token import open_tokens

        tokens = open_tokens(ReplayTransport({str(TESTS.parent / "apdu" / "piv" / "yubikey572-first-object-listing.txt")!r}))
        assert [token.applet for token in tokens] == ["piv", "openpgp"]
        mark()
    """)
    assert "cardki.token.piv.token" in modules
    assert _matching(modules, (*OPENPGP_DRIVER, "cryptography.hazmat.primitives.serialization")) == []


def test_the_c_modules_first_token_loads_no_openpgp_driver(harness: Path) -> None:
    """pkcs11-tool's start on the virtual YubiKey: C_GetSlotList (its PIV and OpenPGP
    slots) and C_GetTokenInfo of the first, the PIV token."""
    modules = set(_embedded_start(harness, "token_modules", virtual_only=True)["modules"])
    assert "cardki.token.piv.token" in modules and "cardki.token.openpgp.driver" in modules
    assert _matching(modules, (*OPENPGP_DRIVER, OPENPGP_PROFILE)) == []


def test_the_modules_of_a_first_signature_compile_no_regular_expression() -> None:
    """Compiling a pattern costs 0.1 to 0.2 ms at a start (re's parser and compiler are
    Python); the one pattern of these modules, the transcript's redaction marker, is
    compiled when a transcript is first read."""
    modules = _replayed("""
        import re
        compiled = []
        _compile = re._compile
        def counting(pattern, flags):
            compiled.append(str(pattern))
            return _compile(pattern, flags)
        re._compile = counting
        import cardki.capi.entry, cardki.cryptoki.engine, cardki.slot.manager, cardki.virtual
        import cardki.token, cardki.token.piv.token, cardki.apdu.trace
        sys.modules["compiled:" + repr(compiled)] = sys
    """)
    assert "cardki.token.piv.token" in modules
    assert next(name for name in modules if name.startswith("compiled:")) == "compiled:[]"
