"""The ``cardki`` console script in a subprocess against a card in a real
PC/SC reader (pcscd -> vpcd -> virtual YubiKey process)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from provisioning import PIN, host_keys

pytestmark = pytest.mark.sim
CARDKI = shutil.which("cardki")


def run(args: List[str], env: Dict[str, str] | None = None) -> subprocess.CompletedProcess:
    assert CARDKI is not None, "the cardki console script is not installed (pip install -e .)"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CARDKI_")}
    full_env.update(env or {})
    return subprocess.run([CARDKI, *args], capture_output=True, text=True, timeout=120, env=full_env,
                          stdin=subprocess.DEVNULL)


def _slot_of(reader_name: str) -> str:
    result = run(["slots"])
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        match = re.match(r"Slot (\d+): (.*) \((token present|empty)\)", line)
        if match and match.group(2) == reader_name:
            assert match.group(3) == "token present"
            assert "virtual card in this process" not in line
            return match.group(1)
    raise AssertionError(f"{reader_name} not listed:\n{result.stdout}")


def test_report_shows_the_card_in_the_reader(provisioned_card: Any) -> None:
    slot = _slot_of(provisioned_card.reader_name)
    result = run(["report", "--slot", slot])
    assert result.returncode == 0, result.stderr
    assert f"Token in slot {slot}\n" in result.stdout  # no "virtual" note: a real reader
    assert "serial:       12345678" in result.stdout
    assert "subject=CN=cardki test 9A" in result.stdout


def test_objects_and_sign_through_pcscd(provisioned_card: Any, tmp_path: Path) -> None:
    slot = _slot_of(provisioned_card.reader_name)
    listed = run(["objects", "--slot", slot, "--login"], env={"CARDKI_PIN": PIN})
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("PrivateKey") >= 6
    data = tmp_path / "data"
    data.write_bytes(b"pcscd signs")
    for key_id, slot_key in (("01", 0x9A), ("02", 0x9C)):
        sig = tmp_path / f"sig{key_id}"
        result = run(["--token", slot, "sign", "--key-id", key_id, "--in", str(data), "--out", str(sig),
                      "--der"], env={"CARDKI_PIN": PIN})
        assert result.returncode == 0, result.stderr
        public = host_keys()[slot_key].public_key()
        if slot_key == 0x9A:
            public.verify(sig.read_bytes(), b"pcscd signs", padding.PKCS1v15(), hashes.SHA256())
        else:
            public.verify(sig.read_bytes(), b"pcscd signs", ec.ECDSA(hashes.SHA256()))


def test_wrong_pin_through_pcscd_is_one_line(provisioned_card: Any) -> None:
    slot = _slot_of(provisioned_card.reader_name)
    result = run(["objects", "--slot", slot, "--login"], env={"CARDKI_PIN": "000000"})
    assert result.returncode == 1
    assert result.stderr.strip() == ("cardki: error: CKR_PIN_INCORRECT: The PIN is incorrect; "
                                     "2 tries left before it is locked")


def test_bad_slot_is_one_line(provisioned_card: Any) -> None:
    result = run(["token", "--slot", "999"])
    assert result.returncode == 1
    assert result.stderr.startswith("cardki: error: CKR_SLOT_ID_INVALID")
    assert len(result.stderr.strip().splitlines()) == 1
