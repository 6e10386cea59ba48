"""Python PKCS#11 clients (python-pkcs11, PyKCS11) load the cardki module into a running interpreter.

The module then shares the host's interpreter instead of starting one: each
client runs in its own process (a fresh host), signs, and the signatures are
verified here with `cryptography`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from _module_card import PIN, ModuleCard, module_card, module_env
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

pytestmark = [pytest.mark.clients, pytest.mark.sim]

DATA = b"signed by a python host through cardki"

PYTHON_PKCS11 = """
import json, sys
import pkcs11
from pkcs11 import Mechanism, ObjectClass
module, reader, pin, data = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
lib = pkcs11.lib(module)
slot = next(s for s in lib.get_slots(token_present=True) if s.slot_description.strip() == reader)
out = {}
with slot.get_token().open(user_pin=pin) as session:
    rsa_key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=b"\\x01")
    out["rsa"] = rsa_key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS).hex()
    # 9e: 9c would need a context-specific login (PIN policy "always"), which python-pkcs11 cannot do
    ec_key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=b"\\x04")
    out["ecdsa"] = ec_key.sign(data, mechanism=Mechanism.ECDSA_SHA256).hex()
    certificates = list(session.get_objects({pkcs11.Attribute.CLASS: ObjectClass.CERTIFICATE}))
    out["certificates"] = len(certificates)
entry = sys.modules.get("cardki.capi.entry")
out["shared_interpreter"] = entry is not None and entry._engine is not None
print(json.dumps(out))
"""

PYKCS11 = """
import json, sys
import PyKCS11
from PyKCS11 import (CKA_CLASS, CKA_ID, CKF_SERIAL_SESSION, CKG_MGF1_SHA256, CKM_SHA256,
                     CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, CKO_PRIVATE_KEY)
module, reader, pin, data = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
lib = PyKCS11.PyKCS11Lib()
lib.load(module)
slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getSlotInfo(s).slotDescription.strip() == reader)
session = lib.openSession(slot, CKF_SERIAL_SESSION)
session.login(pin)
key = session.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_ID, (0x01,))])[0]
out = {"rsa": bytes(session.sign(key, data, PyKCS11.Mechanism(CKM_SHA256_RSA_PKCS))).hex()}
pss = PyKCS11.RSA_PSS_Mechanism(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32)
out["pss"] = bytes(session.sign(key, data, pss)).hex()
session.logout()
session.closeSession()
entry = sys.modules.get("cardki.capi.entry")
out["shared_interpreter"] = entry is not None and entry._engine is not None
print(json.dumps(out))
"""


@pytest.fixture
def card(virtual_card_factory) -> ModuleCard:
    return module_card(virtual_card_factory)


def run_host(card: ModuleCard, script: str) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), card.module, card.reader_name, PIN,
                           DATA.decode()], capture_output=True, text=True, timeout=120, env=module_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    return json.loads(done.stdout)


def public_key(card: ModuleCard, slot: str):
    return x509.load_pem_x509_certificate(card.certificates[slot]).public_key()


def test_python_pkcs11_signs(card: ModuleCard) -> None:
    out = run_host(card, PYTHON_PKCS11)
    assert out["shared_interpreter"] is True
    assert out["certificates"] >= 3
    public_key(card, "9a").verify(bytes.fromhex(out["rsa"]), DATA, padding.PKCS1v15(), hashes.SHA256())
    raw = bytes.fromhex(out["ecdsa"])
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key(card, "9e").verify(der, DATA, ec.ECDSA(hashes.SHA256()))


def test_pykcs11_signs(card: ModuleCard) -> None:
    out = run_host(card, PYKCS11)
    assert out["shared_interpreter"] is True
    key = public_key(card, "9a")
    key.verify(bytes.fromhex(out["rsa"]), DATA, padding.PKCS1v15(), hashes.SHA256())
    key.verify(bytes.fromhex(out["pss"]), DATA, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
