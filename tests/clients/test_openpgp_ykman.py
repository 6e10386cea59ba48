"""ykman's OpenPGP commands against the virtual YubiKey through pcscd + vpcd,
with Debian's ykman 4.0.9 and ykman 5 from PyPI (_ykman.py). What ykman
changed is read back from the card with plain APDUs, not only from ykman's
own report."""

from __future__ import annotations

import subprocess

import _ykman
import pytest
from _openpgp import P256_ECDSA, command, generate_key, openpgp_apdus
from _ykman import words
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from hwsim import statefile

pytestmark = [pytest.mark.clients, pytest.mark.sim]

ADMIN = "12345678"


def ykman(release: str, reader: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _ykman.run(release, reader, *args, check=check)


def test_openpgp_info_on_a_fresh_card(release, virtual_card):
    out = words(ykman(release, virtual_card.reader_name, "openpgp", "info").stdout)
    assert "OpenPGP version: 3.4" in out
    assert "Application version: 5.7.2" in out
    assert "PIN tries remaining: 3" in out and "Admin PIN tries remaining: 3" in out
    assert "Reset code tries remaining: 0" in out


def test_set_touch_policy_reaches_the_card(release, virtual_card):
    ykman(release, virtual_card.reader_name, "openpgp", "keys", "set-touch", "sig", "on", "-a", ADMIN, "-f")
    ykman(release, virtual_card.reader_name, "openpgp", "keys", "set-touch", "aut", "cached", "-a", ADMIN, "-f")
    (sig, sw1), (aut, sw2) = openpgp_apdus(virtual_card.reader_name, command(0xCA, 0, 0xD6), command(0xCA, 0, 0xD8))
    assert (sig, aut, sw1, sw2) == (b"\x01\x20", b"\x03\x20", 0x9000, 0x9000)


def test_set_retries(release, virtual_card):
    ykman(release, virtual_card.reader_name, "openpgp", "access", "set-retries", "5", "2", "7", "-a", ADMIN, "-f")
    out = words(ykman(release, virtual_card.reader_name, "openpgp", "info").stdout)
    assert "PIN tries remaining: 5" in out and "Admin PIN tries remaining: 7" in out
    (status, _), = openpgp_apdus(virtual_card.reader_name, command(0xCA, 0, 0xC4))
    assert status[4:] == bytes([5, 0, 7])  # no resetting code set: its counter stays 0


def test_change_pin(virtual_card):
    """ykman 5 only: 4.0.9 has no `openpgp access change-pin`."""
    reader = virtual_card.reader_name
    ykman("5", reader, "openpgp", "access", "change-pin", "-P", "123456", "-n", "654321")
    (_, old), (_, new) = openpgp_apdus(reader, command(0x20, 0, 0x82, b"123456"), command(0x20, 0, 0x82, b"654321"))
    assert (old, new) == (0x6982, 0x9000)
    wrong = ykman("5", reader, "openpgp", "access", "change-pin", "-P", "111111", "-n", "222222", check=False)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr


def test_attest_a_key_generated_on_the_card_chains_to_the_simulator_root(release, virtual_card, tmp_path):
    reader = virtual_card.reader_name
    point = generate_key(reader, "sig", P256_ECDSA)[0x86]
    statement_path, att_path = tmp_path / "sig.pem", tmp_path / "att.pem"
    ykman(release, reader, "openpgp", "keys", "attest", "sig", str(statement_path), "-P", "123456")
    ykman(release, reader, "openpgp", "certificates", "export", "att", str(att_path))
    statement = x509.load_pem_x509_certificate(statement_path.read_bytes())
    key81 = x509.load_pem_x509_certificate(att_path.read_bytes())
    state = statefile.load_state(virtual_card.state_path)
    assert state is not None
    root = x509.load_der_x509_certificate(bytes.fromhex(state["openpgp"]["attestation_root"]["certificate"]))
    statement.verify_directly_issued_by(key81)
    key81.verify_directly_issued_by(root)
    assert statement.public_key() == ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def test_reset_restores_factory_state(release, virtual_card):
    reader = virtual_card.reader_name
    ykman(release, reader, "openpgp", "access", "set-retries", "4", "4", "4", "-a", ADMIN, "-f")
    ykman(release, reader, "openpgp", "keys", "set-touch", "sig", "on", "-a", ADMIN, "-f")
    ykman(release, reader, "openpgp", "reset", "-f")
    (status, _), (uif, _), (_, pin) = openpgp_apdus(reader, command(0xCA, 0, 0xC4), command(0xCA, 0, 0xD6),
                                                 command(0x20, 0, 0x82, b"123456"))
    assert status[4:] == bytes([3, 0, 3]) and uif == b"\x00\x20" and pin == 0x9000
