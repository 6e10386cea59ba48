"""Real clients use the OpenPGP token through the cardki module: on the virtual
YubiKey (5.7.2, in "Yubico YubiKey CCID (hwsim) 00 00"), whose PIV and OpenPGP
applications are two tokens in two slots, and on a plain OpenPGP 3.4 card (in
"Virtual PCD 00 00"), one slot. The keys come from tests/provisioning.py (imported
as gpg would leave them: DE, fingerprint, time; certificates from the test CA);
every signature is checked here with cryptography (or gpg --verify, ssh-keygen -Y
verify), against the host's copy of the key."""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest
from _module_card import ModuleCard, module_env, read_public_key, ssh_agent
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from cardki.capi import module_path
from hwsim.openpgp_card import VirtualOpenPgpCard
from hwsim.statefile import save_state
from hwsim.yubikey import VirtualYubiKey
from provisioning import OPENPGP_ADMIN, OPENPGP_PIN, PIN, provision, provision_openpgp

pytestmark = [pytest.mark.clients, pytest.mark.sim]

OPENSSL_ENGINE = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"
YUBIKEY_OPENPGP = "YubiKey OpenPGP #12345678"


@dataclass
class Card:
    """A card with keys in a reader, its OpenPGP slot as pkcs11-tool reaches it."""

    handle: Any
    keys: Dict[str, Any]  # "sig"/"dec"/"aut" -> host private key
    piv_keys: Dict[int, Any]
    openpgp: ModuleCard  # pkcs11-tool on the OpenPGP slot
    piv: ModuleCard | None  # pkcs11-tool on the PIV slot (a YubiKey)


def _card(factory: Callable[..., Any], tmp_path: Path, kind: str, layout: str = "ec", **options: Any) -> Card:
    card = VirtualYubiKey() if kind == "yubikey" else VirtualOpenPgpCard()
    piv_keys = provision(card) if kind == "yubikey" else {}
    keys = provision_openpgp(card, layout, **options)
    state = tmp_path / f"{kind}-{layout}.json"
    save_state(state, card.to_state())
    handle = factory(card=kind, state=state)
    reader = handle.reader_name
    suffix = " (OpenPGP)" if kind == "yubikey" else ""
    openpgp = ModuleCard(handle=handle, reader_name=reader + suffix, module=module_path(), certificates={})
    piv = ModuleCard(handle=handle, reader_name=reader, module=module_path(), certificates={}) \
        if kind == "yubikey" else None
    return Card(handle, keys, piv_keys, openpgp, piv)


@pytest.fixture
def yubikey(virtual_card_factory: Callable[..., Any], tmp_path: Path) -> Card:
    return _card(virtual_card_factory, tmp_path, "yubikey")


@pytest.fixture
def plain_rsa(virtual_card_factory: Callable[..., Any], tmp_path: Path) -> Card:
    """A plain card with RSA-2048 signature and decryption keys, PW1 good for one signature."""
    return _card(virtual_card_factory, tmp_path, "openpgp", "rsa", pw1_once=True)


def verify_ecdsa(key: Any, raw: bytes, data: bytes) -> None:
    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    key.public_key().verify(der, data, ec.ECDSA(hashes.SHA256()))


def tool_sign(card: ModuleCard, tmp_path: Path, mechanism: str, key_id: str, data: bytes) -> bytes:
    source, signature = tmp_path / f"data-{key_id}", tmp_path / f"signature-{key_id}"
    source.write_bytes(data)
    card.pkcs11_tool("--login", "--pin", OPENPGP_PIN, "--sign", "-m", mechanism, "--id", key_id,
                     "-i", str(source), "-o", str(signature))
    return signature.read_bytes()


def run(*command: str, env: Dict[str, str] | None = None, timeout: float = 120,
        input: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, env=env or module_env(),
                          input=input)
    assert done.returncode == 0, f"{command[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


# ------------------------------------------------------------------ pkcs11-tool

def slots_listed(output: str) -> Dict[str, str]:
    """pkcs11-tool -L: slot description -> token label (or "(empty)")."""
    listed: Dict[str, str] = {}
    for block in re.split(r"\nSlot \d+ ", "\n" + output):
        lines = block.strip().splitlines()
        if not lines or not lines[0].startswith("("):
            continue
        description = lines[0].split(": ", 1)[1].strip()
        label = next((line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("token label")),
                     "(empty)")
        listed[description] = label
    return listed


def test_pkcs11_tool_lists_two_slots_for_the_yubikey_and_one_for_the_plain_card(
        virtual_card_factory: Callable[..., Any], tmp_path: Path) -> None:
    yubikey = _card(virtual_card_factory, tmp_path, "yubikey")
    plain = _card(virtual_card_factory, tmp_path, "openpgp")
    listed = slots_listed(yubikey.openpgp.pkcs11_tool("-L").stdout)
    reader, plain_reader = yubikey.handle.reader_name, plain.handle.reader_name
    assert listed[reader] == "YubiKey PIV #12345678"
    assert listed[f"{reader} (OpenPGP)"] == YUBIKEY_OPENPGP
    assert listed[plain_reader] == "OpenPGP card #12345678"
    assert [d for d in listed if d.startswith(plain_reader)] == [plain_reader]  # one slot: one applet
    tokens = yubikey.openpgp.pkcs11_tool("-T").stdout
    assert "token manufacturer : test card" in tokens and "serial num         : 12345678" in tokens


def test_pkcs11_tool_lists_the_openpgp_keys_and_certificates(yubikey: Card) -> None:
    public = yubikey.openpgp.pkcs11_tool("-O").stdout
    for key_id, label in (("01", "Signature key"), ("02", "Encryption key"), ("03", "Authentication key")):
        assert f"Certificate Object; type = X.509 cert\n  label:      {label}\n" in public, label
        assert "Public Key Object; EC  EC_POINT 256 bits\n  EC_POINT:" in public
        assert f"  ID:         {key_id}\n" in public
    assert "Private Key Object" not in public
    private = yubikey.openpgp.pkcs11_tool("-O", "--login", "--pin", OPENPGP_PIN).stdout
    for label in ("Signature key", "Encryption key", "Authentication key"):
        assert f"Private Key Object; EC\n  label:      {label}\n" in private, label
    assert "Usage:      sign" in private and "Usage:      derive" in private


def test_pkcs11_tool_signs_with_the_signature_key_ecdsa(yubikey: Card, tmp_path: Path) -> None:
    data = b"signed with the OpenPGP signature key"
    verify_ecdsa(yubikey.keys["sig"], tool_sign(yubikey.openpgp, tmp_path, "ECDSA-SHA256", "01", data), data)
    # ... and the PIV token of the same YubiKey still signs with its own key
    assert yubikey.piv is not None
    source, signature = tmp_path / "piv-data", tmp_path / "piv-signature"
    source.write_bytes(data)
    yubikey.piv.pkcs11_tool("--login", "--pin", PIN, "--sign", "-m", "ECDSA-SHA256", "--id", "03",
                            "-i", str(source), "-o", str(signature))
    verify_ecdsa(yubikey.piv_keys[0x9D], signature.read_bytes(), data)


def test_pkcs11_tool_signs_with_rsa_and_the_pin_for_each_signature(plain_rsa: Card, tmp_path: Path) -> None:
    """PW1 good for one signature only: CKA_ALWAYS_AUTHENTICATE, so pkcs11-tool logs in
    again (CKU_CONTEXT_SPECIFIC) after C_SignInit; every signature works, no try lost."""
    private = plain_rsa.openpgp.pkcs11_tool("-O", "--login", "--pin", OPENPGP_PIN, "--id", "01",
                                            "--type", "privkey").stdout
    assert "Access:     always authenticate" in private or "always authenticate" in private.lower(), private
    for turn in range(2):
        data = f"signature {turn} with the PIN each time".encode()
        signature = tool_sign(plain_rsa.openpgp, tmp_path, "SHA256-RSA-PKCS", "01", data)
        plain_rsa.keys["sig"].public_key().verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    flags = plain_rsa.openpgp.pkcs11_tool("-T").stdout
    assert "user PIN count low" not in flags  # no VERIFY failed on the way


def test_pkcs11_tool_decrypts_with_the_decryption_key(plain_rsa: Card, tmp_path: Path) -> None:
    secret = b"a session key for the OpenPGP card"
    source, plain = tmp_path / "ciphertext", tmp_path / "plain"
    source.write_bytes(plain_rsa.keys["dec"].public_key().encrypt(secret, padding.PKCS1v15()))
    plain_rsa.openpgp.pkcs11_tool("--login", "--pin", OPENPGP_PIN, "--decrypt", "-m", "RSA-PKCS", "--id", "02",
                                  "-i", str(source), "-o", str(plain))
    assert plain.read_bytes() == secret


def test_pkcs11_tool_derives_with_the_decryption_key(yubikey: Card, tmp_path: Path) -> None:
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_der, shared = tmp_path / "peer.der", tmp_path / "shared"
    peer_der.write_bytes(peer.public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    yubikey.openpgp.pkcs11_tool("--login", "--pin", OPENPGP_PIN, "--derive", "-m", "ECDH1-DERIVE", "--id", "02",
                                "-i", str(peer_der), "-o", str(shared))
    assert shared.read_bytes() == peer.exchange(ec.ECDH(), yubikey.keys["dec"].public_key())


def test_pkcs11_tool_generates_keys_into_01_02_03_as_so(virtual_card_factory: Callable[..., Any],
                                                        tmp_path: Path, gpg_home: Any) -> None:
    card = _card(virtual_card_factory, tmp_path, "openpgp")
    for key_id, curve, usage in (("01", "prime256v1", "--usage-sign"), ("02", "prime256v1", "--usage-derive"),
                                 ("03", "secp384r1", "--usage-sign")):
        card.openpgp.pkcs11_tool("--login", "--login-type", "so", "--so-pin", OPENPGP_ADMIN, "--keypairgen",
                                 "--key-type", f"EC:{curve}", usage, "--id", key_id)
    key = read_public_key(card.openpgp.pkcs11_tool, "01", tmp_path / "public.der")
    assert isinstance(key, ec.EllipticCurvePublicKey)
    data = b"signed with a key the card made"
    raw = tool_sign(card.openpgp, tmp_path, "ECDSA-SHA256", "01", data)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    # gpg sees what cardki wrote after generating: the keys, their fingerprints and times
    status = gpg_home(card.handle.reader_name).card_status()
    assert re.search(r"Key attributes \.*: nistp256 nistp256 nistp384", status), status
    assert status.count("created ....:") == 3, status


@pytest.mark.parametrize("layout", ["rsa", "ec"])
def test_pkcs11_tool_self_test(virtual_card_factory: Callable[..., Any], tmp_path: Path, layout: str) -> None:
    card = _card(virtual_card_factory, tmp_path, "openpgp", layout)
    done = card.openpgp.pkcs11_tool("--test", "--login", "--pin", OPENPGP_PIN, check=False, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "No errors" in output, output


# ------------------------------------------------------------------ OpenSSH

@pytest.fixture
def agent(yubikey: Card, tmp_path: Path) -> Iterator[Dict[str, str]]:
    """An ssh-agent of our own holding every key of the module's tokens (both the
    YubiKey's PIV and OpenPGP ones: the same PIN logs in to each)."""
    with ssh_agent(module_path(), tmp_path) as env:
        yield env


def openssh(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_ssh_keygen_lists_and_ssh_agent_signs_with_the_authentication_key(yubikey: Card, agent: Dict[str, str],
                                                                          tmp_path: Path) -> None:
    listed = run("ssh-keygen", "-D", module_path()).stdout
    aut = openssh(yubikey.keys["aut"])
    assert aut in listed and openssh(yubikey.piv_keys[0x9D]) in listed  # both tokens' keys
    assert aut in run("ssh-add", "-L", env=agent).stdout
    public, data = tmp_path / "aut.pub", tmp_path / "challenge"
    public.write_text(aut + "\n")
    data.write_text("signed through ssh-agent by the OpenPGP authentication key")
    run("ssh-keygen", "-Y", "sign", "-f", str(public), "-n", "file", str(data), env=agent)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"signer {aut}\n")
    checked = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "signer", "-n", "file",
                              "-s", f"{data}.sig"], input=data.read_bytes(), capture_output=True, timeout=60)
    assert checked.returncode == 0 and b"Good" in checked.stdout + checked.stderr, checked


# ------------------------------------------------------------------ OpenSSL and GnuTLS

def test_openssl_engine_signs_with_the_signature_key(yubikey: Card, tmp_path: Path) -> None:
    config = tmp_path / "openssl.cnf"
    config.write_text(
        "openssl_conf = openssl_init\n[openssl_init]\nengines = engine_section\n"
        "[engine_section]\npkcs11 = pkcs11_section\n"
        f"[pkcs11_section]\nengine_id = pkcs11\ndynamic_path = {OPENSSL_ENGINE}\n"
        f"MODULE_PATH = {module_path()}\ninit = 0\n")
    data, signature = tmp_path / "data", tmp_path / "signature"
    data.write_bytes(b"signed by openssl with the OpenPGP signature key")
    uri = f"pkcs11:token=YubiKey%20OpenPGP%20%2312345678;id=%01;type=private;pin-value={OPENPGP_PIN}"
    run("openssl", "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", uri,
        "-out", str(signature), str(data), env=module_env(OPENSSL_CONF=str(config)))
    yubikey.keys["sig"].public_key().verify(signature.read_bytes(), data.read_bytes(), ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("key_id", ["01", "03"])
def test_p11tool_test_sign(yubikey: Card, key_id: str) -> None:
    out = run("p11tool", "--provider", module_path(), "--batch", "--login", f"--set-pin={OPENPGP_PIN}",
              "--test-sign", f"pkcs11:token=YubiKey%20OpenPGP%20%2312345678;id=%{key_id};type=private")
    text = out.stdout + out.stderr
    assert "Verifying against private key parameters... ok" in text, text
    assert "Verifying against public key in the token... ok" in text, text


# ------------------------------------------------------------------ gpg on the same card

def test_gpg_and_cardki_take_turns_on_one_yubikey(virtual_card_factory: Callable[..., Any], tmp_path: Path,
                                                  gpg_home: Any) -> None:
    """gpg (scdaemon with pcsc-shared) signs between two cardki operations on the card's
    OpenPGP application, and cardki's PIV token signs between two gpg operations, from a
    fresh process (pkcs11-tool) and from one that holds the card open (the Python API).
    Nobody fails and no PIN try is spent. gpg verifies before each signature (forcesig):
    scdaemon 2.2 keeps no PIN state it cannot lose to another program's SELECT."""
    import cardki
    from cardki.api import CKO

    card = VirtualYubiKey()
    piv_keys = provision(card)
    state = tmp_path / "card.json"
    save_state(state, card.to_state())
    handle = virtual_card_factory(state=state)
    gpg = gpg_home(handle.reader_name)
    gpg.card_edit(["admin", "key-attr"], pins=[OPENPGP_ADMIN] * 3, answers={"cardedit.genkeys.algo": "2",
                                                                             "keygen.curve": "1"})
    gpg.card_edit(["admin", "generate"], pins=[OPENPGP_PIN, OPENPGP_ADMIN, OPENPGP_PIN])
    gpg.card_edit(["admin", "forcesig"], pins=[OPENPGP_ADMIN])
    message = tmp_path / "message.txt"
    message.write_text("one YubiKey, gpg and cardki\n")
    signatures: List[Path] = []

    def gpg_signs() -> None:
        signature = tmp_path / f"gpg-{len(signatures)}.sig"
        gpg.run("--detach-sign", "--output", str(signature), str(message), pin=OPENPGP_PIN)
        assert "Good signature" in gpg.run("--verify", str(signature), str(message)).stderr.decode()
        signatures.append(signature)

    piv = ModuleCard(handle=handle, reader_name=handle.reader_name, module=module_path(), certificates={})
    gpg_signs()
    data = b"PIV between two gpg signatures"
    source, output = tmp_path / "piv-data", tmp_path / "piv-signature"
    source.write_bytes(data)
    piv.pkcs11_tool("--login", "--pin", PIN, "--sign", "-m", "ECDSA-SHA256", "--id", "03", "-i", str(source),
                    "-o", str(output))
    verify_ecdsa(piv_keys[0x9D], output.read_bytes(), data)
    gpg_signs()

    gpg.kill()  # scdaemon starts again below, after cardki holds the card
    with cardki.open(virtual_fallback=False) as lib:
        slots = {slot.description: slot for slot in lib.slots(token_present=True)}
        with slots[handle.reader_name + " (OpenPGP)"].token.open(user_pin=OPENPGP_PIN,
                                                                 context_pin=OPENPGP_PIN) as openpgp, \
                slots[handle.reader_name].token.open(user_pin=PIN) as piv_session:
            signature_key = openpgp.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x01")  # gpg's Ed25519 key
            piv_key = piv_session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x03")
            assert signature_key.always_authenticate  # forcesig
            for _ in range(2):
                assert signature_key.public_key().verify(b"cardki", signature_key.sign(b"cardki"))
                gpg_signs()  # between two cardki OpenPGP signatures
                assert piv_key.public_key().verify(b"piv", piv_key.sign(b"piv"))
                gpg_signs()  # between two cardki PIV signatures
        assert cardki.api.TokenFlag.USER_PIN_COUNT_LOW not in slots[handle.reader_name].token.flags  # PIV: 3 tries
    status = gpg.card_status()
    assert re.search(r"^PIN retry counter : 3 0 3$", status, re.M), status


# ------------------------------------------------------------------ the Python API and the CLI

def test_the_python_api_and_the_cli_show_both_tokens_and_sign_with_either(yubikey: Card, tmp_path: Path) -> None:
    import shutil

    import cardki
    from cardki.api import CKM, CKO

    reader = yubikey.handle.reader_name
    with cardki.open(virtual_fallback=False) as lib:
        slots = {slot.description: slot for slot in lib.slots(token_present=True)}
        assert slots[reader].token.label == "YubiKey PIV #12345678"
        assert slots[f"{reader} (OpenPGP)"].token.label == YUBIKEY_OPENPGP
        with slots[f"{reader} (OpenPGP)"].token.open(user_pin=OPENPGP_PIN) as session:
            key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x01")
            assert key.label == "Signature key"
            verify_ecdsa(yubikey.keys["sig"], key.sign(b"API, OpenPGP", CKM.ECDSA_SHA256), b"API, OpenPGP")
        with slots[reader].token.open(user_pin=PIN) as session:
            key = session.get_key(object_class=CKO.PRIVATE_KEY, id=b"\x03")
            verify_ecdsa(yubikey.piv_keys[0x9D], key.sign(b"API, PIV", CKM.ECDSA_SHA256), b"API, PIV")

    cli = shutil.which("cardki")
    assert cli is not None, "the cardki console script is not installed"
    env = {**module_env(), "CARDKI_PIN": PIN}
    listed = run(cli, "slots", env=env).stdout
    numbers = {match.group(2): match.group(1)
               for match in re.finditer(r"^Slot (\d+): (.*) \(token present\)", listed, re.M)}
    assert reader in numbers and f"{reader} (OpenPGP)" in numbers, listed
    data = tmp_path / "data"
    data.write_bytes(b"signed with the cardki command")
    for description, key_id, private in ((f"{reader} (OpenPGP)", "01", yubikey.keys["sig"]),
                                         (reader, "03", yubikey.piv_keys[0x9D])):
        signature = tmp_path / f"signature-{key_id}"
        run(cli, "--token", numbers[description], "sign", "--key-id", key_id, "--in", str(data),
            "--out", str(signature), env=env)  # ECDSA signatures come out as DER
        private.public_key().verify(signature.read_bytes(), data.read_bytes(), ec.ECDSA(hashes.SHA256()))
    token = run(cli, "token", "--slot", numbers[f"{reader} (OpenPGP)"], env=env).stdout
    assert f"label:        {YUBIKEY_OPENPGP}" in token and "serial:       12345678" in token, token


# ------------------------------------------------------------------ the fingerprints cardki writes

def _packet_body(exported: bytes) -> bytes:
    """The first packet's body of a binary OpenPGP export (a v4 public key packet)."""
    tag = exported[0]
    if tag & 0x40:  # new format
        first = exported[1]
        if first < 192:
            return exported[2:2 + first]
        if first < 224:
            length = ((first - 192) << 8) + exported[2] + 192
            return exported[3:3 + length]
        length = int.from_bytes(exported[2:6], "big")
        return exported[6:6 + length]
    size = {0: 1, 1: 2, 2: 4}[tag & 0x03]
    length = int.from_bytes(exported[1:1 + size], "big")
    return exported[1 + size:1 + size + length]


@pytest.mark.parametrize("algorithm", ["ed25519", "nistp256", "nistp384", "cv25519", "rsa2048"])
def test_the_fingerprint_cardki_writes_is_the_one_gpg_computes(gpg_home: Any, algorithm: str) -> None:
    """gpg makes a key (ECDH subkeys included, with the KDF parameters it writes); cardki's
    v4_fingerprint of the same public key and creation time equals gpg's fingerprint."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, x25519

    from cardki.curves import curve_by_name
    from cardki.token.openpgp import EcAttributes, RsaAttributes
    from cardki.token.openpgp.constants import AlgorithmId
    from cardki.token.openpgp.keys import v4_fingerprint

    gpg = gpg_home("unused reader")
    subkey = algorithm == "cv25519"
    user = f"fingerprint {algorithm} <fp@example.org>"
    gpg.run("--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key", user,
            "ed25519" if subkey else algorithm, "cert" if subkey else "sign", "never")
    if subkey:
        primary = re.search(r"^fpr:+([0-9A-F]{40}):", gpg.run("--with-colons", "-k", user).stdout.decode(), re.M)
        assert primary
        gpg.run("--passphrase", "", "--pinentry-mode", "loopback", "--quick-add-key", primary.group(1), "cv25519",
                "encr", "never")
    colons = gpg.run("--with-colons", "--fingerprint", "-k", user).stdout.decode()
    fingerprints = re.findall(r"^fpr:+([0-9A-F]{40}):", colons, re.M)
    exported = gpg.run("--export", user).stdout
    if subkey:  # skip to the subkey packet (tag 14)
        offset = 0
        while True:
            body = _packet_body(exported[offset:])
            header = 2 if exported[offset] & 0x40 and exported[offset + 1] < 192 else (
                3 if exported[offset] & 0x40 else 1 + {0: 1, 1: 2, 2: 4}[exported[offset] & 3])
            tag = exported[offset] & 0x3F if exported[offset] & 0x40 else (exported[offset] >> 2) & 0x0F
            if tag == 14:
                break
            offset += header + len(body)
        expected = fingerprints[1]
    else:
        body = _packet_body(exported)
        expected = fingerprints[0]
    assert body[0] == 4
    created = int.from_bytes(body[1:5], "big")
    if algorithm == "rsa2048":
        n_bits = int.from_bytes(body[6:8], "big")
        n = int.from_bytes(body[8:8 + (n_bits + 7) // 8], "big")
        rest = body[8 + (n_bits + 7) // 8:]
        e = int.from_bytes(rest[2:2 + (int.from_bytes(rest[:2], "big") + 7) // 8], "big")
        key: Any = rsa.RSAPublicNumbers(e, n).public_key()
        attributes: Any = RsaAttributes(2048)
    else:
        oid_length = body[6]
        point = body[7 + oid_length + 2:]
        point = point[:(int.from_bytes(body[7 + oid_length:9 + oid_length], "big") + 7) // 8]
        name = {"ed25519": "ed25519", "cv25519": "x25519", "nistp256": "secp256r1", "nistp384": "secp384r1"}[algorithm]
        curve = curve_by_name(name)
        assert curve is not None
        if algorithm == "ed25519":
            key = ed25519.Ed25519PublicKey.from_public_bytes(point[1:])
        elif algorithm == "cv25519":
            key = x25519.X25519PublicKey.from_public_bytes(point[1:])
        else:
            key = ec.EllipticCurvePublicKey.from_encoded_point(curve.ec_curve(), point)
        algorithm_id = {0x13: AlgorithmId.ECDSA, 0x12: AlgorithmId.ECDH, 0x16: AlgorithmId.EDDSA}[body[5]]
        attributes = EcAttributes(algorithm_id, curve)
    assert v4_fingerprint(key, created, attributes).hex().upper() == expected
    assert hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper() == expected
