"""The shipped TOML profiles: slot mapping, firmware gating, detection order."""

from __future__ import annotations

import re

import pytest

from cardki.token.piv.profile import PIV_ALGORITHMS
from cardki.token.profiles import available_profiles, candidates, load_profile, parse_version


def test_both_piv_profiles_ship_and_yubikey_is_tried_first() -> None:
    assert {"generic-piv", "yubikey-piv"} <= set(available_profiles())
    assert [p.id for p in candidates("piv")][:2] == ["yubikey-piv", "generic-piv"]


def test_slot_mapping_is_the_ykcs11_one() -> None:
    profile = load_profile("yubikey-piv").for_firmware((5, 7, 2))
    mapping = {s.key: (s.id, s.name, s.container) for s in profile.slots}
    assert mapping[0x9A] == (0x01, "PIV Authentication", 0x5FC105)
    assert mapping[0x9C] == (0x02, "Digital Signature", 0x5FC10A)
    assert mapping[0x9D] == (0x03, "Key Management", 0x5FC10B)
    assert mapping[0x9E] == (0x04, "Card Authentication", 0x5FC101)
    assert mapping[0x82] == (0x05, "Retired Key 1", 0x5FC10D)
    assert mapping[0x95] == (0x18, "Retired Key 20", 0x5FC120)
    assert mapping[0xF9] == (0x19, "Attestation", 0x5FFF01)
    assert len({s.id for s in profile.slots}) == len(profile.slots) == 25
    assert profile.object_label("certificate", profile.slot(0x9E)) == "Card Authentication"
    assert profile.object_label("private_key", profile.slot(0x83)) == "Retired Key 2"


@pytest.mark.parametrize("firmware, algorithms, features", [
    ((4, 2, 0), {"RSA1024", "RSA2048", "ECCP256", "ECCP384"}, {"metadata": False, "attestation": False}),
    ((4, 3, 5), {"RSA1024", "RSA2048", "ECCP256", "ECCP384"}, {"attestation": True, "serial": False}),
    ((5, 2, 7), {"RSA1024", "RSA2048", "ECCP256", "ECCP384"}, {"serial": True, "metadata": False}),
    ((5, 4, 3), {"RSA1024", "RSA2048", "ECCP256", "ECCP384"}, {"metadata": True, "move_delete": False}),
    ((5, 7, 2), set(PIV_ALGORITHMS), {"metadata": True, "move_delete": True}),
])
def test_yubikey_features_follow_the_firmware(firmware, algorithms, features) -> None:
    profile = load_profile("yubikey-piv").for_firmware(firmware)
    assert set(profile.algorithms) == algorithms
    for name, expected in features.items():
        assert profile.feature(name) is expected, name
    assert (0xF9 in {s.key for s in profile.slots}) is profile.feature("attestation")


def test_management_key_types_follow_the_firmware() -> None:
    yubikey = load_profile("yubikey-piv")
    assert yubikey.for_firmware((5, 2, 7)).management_key_algorithms == (0x03,)
    assert yubikey.for_firmware((5, 4, 3)).management_key_algorithms == (0x03, 0x08, 0x0A, 0x0C)
    assert yubikey.for_firmware((5, 4, 3)).management_key_default == 0x03
    assert yubikey.for_firmware((5, 7, 2)).management_key_default == 0x0A


def test_generic_profile_has_no_vendor_extensions() -> None:
    generic = load_profile("generic-piv").for_firmware(None)
    assert generic.probe == "none"
    assert not generic.feature("metadata") and not generic.feature("serial")
    assert generic.slot(0xF9) is None and generic.slot(0x9A) is not None
    assert (generic.pin_min, generic.pin_max, generic.pin_pad) == (6, 8, 0xFF)
    private = {d.name for d in generic.data_objects if d.private}
    assert private == {"Printed Information", "Cardholder Facial Image", "Cardholder Fingerprints",
                       "Cardholder Iris Images"}


def test_parse_version_pads_missing_parts() -> None:
    assert parse_version("5.7") == (5, 7, 0)
    assert parse_version("4.3.1") == (4, 3, 1)


def _check(name: str, toml_text: str) -> None:
    import tomllib

    from cardki.token.profiles import _check_schema

    _check_schema(name, tomllib.loads(toml_text))


@pytest.mark.parametrize("text, says", [
    ("[features]\nmetadta = true\n", "metadta"),                 # a typo is not silently "off"
    ("[quirks]\nhas_get_version = true\n", "has_get_version"),   # a key nothing reads
    ("[pin]\nreselect_clears_pin = true\n", "reselect_clears_pin"),
    ("[colours]\nred = 1\n", "[colours]"),
    ("[[slots]]\nkey = 0x9A\nusage = ['sign', 'wrap']\n", "usage"),
    ("[[slots]]\nkey = 0x9A\npin_policy = 'sometimes'\n", "pin_policy"),
    ("[[firmware]]\nfrom = '5.0.0'\nmetadata_ = true\n", "metadata_"),
])
def test_a_profile_key_cardki_does_not_know_is_an_error(text: str, says: str) -> None:
    from cardki.token.profiles import ProfileError

    with pytest.raises(ProfileError, match=re.escape(says)):
        _check("broken", text)


def test_the_shipped_profiles_pass_the_schema_and_unknown_features_are_errors() -> None:
    from cardki.token.profiles import ProfileError

    for name in available_profiles():
        load_profile(name)  # the schema check runs on every load
    profile = load_profile("yubikey-piv").for_firmware((5, 7, 2))
    assert profile.feature("metadata") is True and profile.features.move_delete is True
    with pytest.raises(ProfileError, match="no profile feature 'metdata'"):
        profile.feature("metdata")


@pytest.mark.parametrize("firmware, expected", [
    ((3, 5, 0), set()),
    ((4, 2, 0), {"key_import", "policies"}),
    ((4, 3, 5), {"key_import", "policies", "touch_cached"}),
])
def test_administration_features_come_with_the_firmware_that_brought_them(firmware, expected) -> None:
    names = {"key_import", "policies", "touch_cached"}
    yubikey = load_profile("yubikey-piv").for_firmware(firmware)
    assert {name for name in names if yubikey.feature(name)} == expected
    assert yubikey.feature("reset") and yubikey.feature("set_management_key") and yubikey.feature("set_pin_retries")
    generic = load_profile("generic-piv").for_firmware(None)
    assert not any(generic.feature(name) for name in names | {"reset", "set_management_key", "set_pin_retries"})


def test_writable_data_objects_and_the_attestation_label() -> None:
    yubikey = load_profile("yubikey-piv").for_firmware((5, 7, 2))
    generic = load_profile("generic-piv").for_firmware(None)
    assert yubikey.data_object_writable(0x5FFF00) and not generic.data_object_writable(0x5FFF00)
    assert generic.data_object_writable(0x5FC102) and not generic.data_object_writable(0x7E)  # discovery: read-only
    assert yubikey.management_key_factory == bytes(range(1, 9)) * 3 and generic.management_key_factory is None
    spec = next(s for s in yubikey.slots if s.key == 0x9A)
    assert yubikey.object_label("attestation", spec) == "Attestation of PIV Authentication"
