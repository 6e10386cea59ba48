"""The profiles of every applet under one header: detection order, the OpenPGP
profiles' quirks by firmware (their one home), the schema of each applet."""

from __future__ import annotations

import re
import tomllib

import pytest

from cardki.token.openpgp import CardQuirks, KeyRef
from cardki.token.openpgp.profile import OpenPgpProfile, load_openpgp_profile
from cardki.token.profiles import ProfileError, _check_schema, candidates, load_profile
from cardki.token.registry import DRIVERS


def test_detection_walks_the_registry_piv_first_then_openpgp() -> None:
    assert [driver.applet for driver in DRIVERS] == ["piv", "openpgp"]
    assert [p.id for p in candidates()] == ["yubikey-piv", "generic-piv", "yubikey-openpgp", "generic-openpgp"]
    assert [p.id for p in candidates("openpgp")] == ["yubikey-openpgp", "generic-openpgp"]
    assert load_profile("yubikey-piv").also_carries == ("yubikey-openpgp",)
    assert load_profile("generic-piv").also_carries == ()


@pytest.mark.parametrize("firmware, select_data_length_byte, empty_verify_status, fa_errors, verify_reset", [
    ((4, 3, 5), True, True, False, False),
    ((5, 2, 7), True, False, True, False),
    ((5, 4, 3), True, False, True, False),
    ((5, 4, 4), False, False, True, False),
    ((5, 6, 0), False, False, True, True),
    ((5, 6, 1), False, False, False, True),
    ((5, 7, 2), False, False, False, True),
])
def test_the_yubikey_openpgp_quirks_follow_the_firmware(firmware, select_data_length_byte, empty_verify_status,
                                                         fa_errors, verify_reset) -> None:
    profile = load_openpgp_profile("yubikey-openpgp").for_firmware(firmware)
    assert profile.quirks == CardQuirks(select_data_length_byte, empty_verify_status, fa_errors)
    assert CardQuirks.for_yubikey(firmware) == profile.quirks
    assert profile.verify_reset is verify_reset
    assert profile.matches(0x0006) and not profile.matches(0xFFFF)


def test_the_generic_openpgp_profile_is_the_spec() -> None:
    profile = load_openpgp_profile("generic-openpgp").for_firmware(None)
    assert isinstance(profile, OpenPgpProfile)
    assert profile.quirks == CardQuirks() and profile.verify_reset and profile.matches(0x1234)
    assert (profile.user_pin_min, profile.admin_pin_min) == (6, 8)
    assert profile.labels == {KeyRef.SIG: "Signature key", KeyRef.DEC: "Encryption key",
                              KeyRef.AUT: "Authentication key"}


@pytest.mark.parametrize("text, says", [
    ("[profile]\napplet = 'openpgp'\n[quirks]\nselect_data = true\n", "select_data"),   # a typo is no setting
    ("[profile]\napplet = 'openpgp'\n[pin]\nmin = 6\n", "min"),                        # PIV's key, not OpenPGP's
    ("[profile]\napplet = 'openpgp'\n[slots]\nkey = 1\n", "[slots]"),                  # a PIV table
    ("[profile]\napplet = 'openpgp'\n[quirks]\nempty_verify_status = 1\n", "true or false"),
    ("[profile]\napplet = 'emv'\n", "no driver for applet 'emv'"),
    ("[profile]\napplet = 'piv'\n[labels]\nsignature = 'x'\n", "signature"),          # an OpenPGP key in PIV
])
def test_each_applet_has_its_own_schema(text: str, says: str) -> None:
    with pytest.raises(ProfileError, match=re.escape(says)):
        _check_schema("broken", tomllib.loads(text))
