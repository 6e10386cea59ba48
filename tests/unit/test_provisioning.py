"""The provisioned test card holds what the API, CLI and engine tests rely on."""

from __future__ import annotations

from hwsim import piv as piv_applet
from hwsim.yubikey import VirtualYubiKey
from provisioning import KEY_IDS, provisioned_yubikey


def test_provisioned_card_holds_every_key_and_certificate() -> None:
    card, keys = provisioned_yubikey()
    assert set(card.piv.keys) >= set(KEY_IDS)
    for slot in KEY_IDS:
        blob = card.piv.objects[piv_applet.CERT_OBJECTS[slot]]
        assert blob[0] == 0x70
    restored = VirtualYubiKey(state=card.to_state())
    assert set(restored.piv.keys) == set(card.piv.keys)


def test_provisioned_card_keeps_the_9c_pin_always_policy() -> None:
    card, _ = provisioned_yubikey()
    assert card.piv.keys[0x9C].pin_policy == piv_applet.PIN_POLICY_ALWAYS
