"""What loading the module costs in imports: C_Initialize and C_GetSlotList must
not pull in cryptography.x509, asn1crypto, the token package or the Python API
(together ~60 ms of a ~160 ms first signature), and listing a key without a
certificate must not need cryptography.x509. Each check runs in a fresh
interpreter, because this test process has imported everything long ago."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ("cryptography.x509", "asn1crypto", "cardki.api", "cardki.token", "cardki.cryptoki.hostcrypto")


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
