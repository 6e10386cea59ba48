"""One virtual YubiKey used in turn by gpg (OpenPGP applet, through a shared
scdaemon) and by ykman's PIV commands, as people use a real YubiKey 5: each
client must keep working after the other has selected its own applet."""

from __future__ import annotations

import _ykman
import pytest

pytestmark = [pytest.mark.clients, pytest.mark.sim]

MGMT = "010203040506070801020304050607080102030405060708"


def test_gpg_and_ykman_piv_take_turns_on_one_yubikey(virtual_card, gpg_home, tmp_path):
    reader = virtual_card.reader_name
    gpg = gpg_home(reader)
    gpg.card_edit(["admin", "key-attr"], pins=["12345678"] * 3, answers={"cardedit.genkeys.algo": "2",
                                                                         "keygen.curve": "1"})
    gpg.card_edit(["admin", "generate"], pins=["123456", "12345678", "123456"])
    message = tmp_path / "message.txt"
    message.write_text("one card, two applications\n")

    def gpg_signs(name: str) -> None:
        signature = tmp_path / f"{name}.sig"
        gpg.run("--detach-sign", "--output", str(signature), str(message), pin="123456")
        assert "Good signature" in gpg.run("--verify", str(signature), str(message)).stderr.decode()

    gpg_signs("first")  # scdaemon keeps running, the OpenPGP applet selected
    for release in _ykman.RELEASES:
        public = tmp_path / f"piv{release}.pem"
        _ykman.run(release, reader, "piv", "keys", "generate", "-m", MGMT, "-a", "ECCP256", "9a", str(public))
        _ykman.run(release, reader, "piv", "certificates", "generate", "-m", MGMT, "-P", "123456",
                   "-s", f"CN=piv{release}", "9a", str(public))
        assert f"CN=piv{release}" in _ykman.run(release, reader, "piv", "info").stdout  # PIV after gpg
        # ykman's connection closes with pyscard's default disposition (unpower),
        # so pcscd resets the card. scdaemon 2.2 reports that reset as an error of
        # its next command ("General error") and re-opens the card for the one after.
        first = gpg.run("--card-status", check=False)
        assert first.returncode == 0 or b"General error" in first.stderr, first.stderr
        gpg_signs(f"after-ykman{release}")  # gpg again, after ykman selected PIV
    assert "ed25519/" in gpg.card_status()  # the OpenPGP keys are still there, next to PIV's
