"""libykcs11 2.2.0 (Yubico's PKCS#11 module) against the virtual YubiKey.

ykcs11 only looks at readers whose name starts with "Yubico" (its
is_yubico_reader()), and vpcd's readers are called "Virtual PCD 00 0N". The
card cannot change its reader's name, so this test builds a tiny LD_PRELOAD
shim (C, compiled here with gcc) that shows "Virtual PCD" readers to the
module as "Yubico YubiKey" and maps the name back when connecting. Everything
else -- libykcs11, libykpiv, pcscd, vpcd -- is the real thing, unchanged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

pytestmark = [pytest.mark.clients, pytest.mark.sim]

MODULE = "/usr/lib/x86_64-linux-gnu/libykcs11.so"
PKCS11_TOOL = shutil.which("pkcs11-tool") or "/usr/bin/pkcs11-tool"
YKMAN = shutil.which("ykman") or "/usr/bin/ykman"
MGMT = "010203040506070801020304050607080102030405060708"
READER = int(os.environ.get("HWSIM_TEST_READER", "0"))

RENAME_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <winscard.h>

static const char *FROM = "Virtual PCD", *TO = "Yubico YubiKey";

static void *pcsc(void) {
  static void *handle;
  if (!handle) handle = dlopen("libpcsclite.so.1", RTLD_NOW);
  return handle;
}

static void to_real(const char *in, char *out, size_t size) {
  if (!strncmp(in, TO, strlen(TO))) snprintf(out, size, "%s%s", FROM, in + strlen(TO));
  else snprintf(out, size, "%s", in);
}

LONG SCardListReaders(SCARDCONTEXT ctx, LPCSTR groups, LPSTR readers, LPDWORD len) {
  LONG (*real)(SCARDCONTEXT, LPCSTR, LPSTR, LPDWORD) = dlsym(pcsc(), "SCardListReaders");
  DWORD n = 0;
  LONG rv = real(ctx, groups, NULL, &n);
  if (rv) return rv;
  char *in = malloc(n);
  rv = real(ctx, groups, in, &n);
  if (rv) { free(in); return rv; }
  char out[8192];
  DWORD o = 0;
  for (char *r = in; *r && o < sizeof(out) - 300; r += strlen(r) + 1) {
    if (!strncmp(r, FROM, strlen(FROM))) o += snprintf(out + o, 256, "%s%s", TO, r + strlen(FROM)) + 1;
    else o += snprintf(out + o, 256, "%s", r) + 1;
  }
  out[o++] = 0;
  free(in);
  if (readers == NULL) { *len = o; return SCARD_S_SUCCESS; }
  if (*len < o) { *len = o; return SCARD_E_INSUFFICIENT_BUFFER; }
  memcpy(readers, out, o);
  *len = o;
  return SCARD_S_SUCCESS;
}

LONG SCardConnect(SCARDCONTEXT ctx, LPCSTR reader, DWORD share, DWORD proto, LPSCARDHANDLE card, LPDWORD active) {
  LONG (*real)(SCARDCONTEXT, LPCSTR, DWORD, DWORD, LPSCARDHANDLE, LPDWORD) = dlsym(pcsc(), "SCardConnect");
  char name[256];
  to_real(reader, name, sizeof(name));
  return real(ctx, name, share, proto, card, active);
}

LONG SCardGetStatusChange(SCARDCONTEXT ctx, DWORD timeout, SCARD_READERSTATE *states, DWORD n) {
  LONG (*real)(SCARDCONTEXT, DWORD, SCARD_READERSTATE *, DWORD) = dlsym(pcsc(), "SCardGetStatusChange");
  const char *saved[16];
  char names[16][256];
  for (DWORD i = 0; i < n && i < 16; i++) {
    saved[i] = states[i].szReader;
    to_real(states[i].szReader, names[i], sizeof(names[i]));
    states[i].szReader = names[i];
  }
  LONG rv = real(ctx, timeout, states, n);
  for (DWORD i = 0; i < n && i < 16; i++) states[i].szReader = saved[i];
  return rv;
}
"""


def run(*argv: str, env=None) -> subprocess.CompletedProcess:
    if not Path(argv[0]).exists():
        pytest.fail(f"{argv[0]} is not installed")
    result = subprocess.run(list(argv), capture_output=True, timeout=120, env=env)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:4])} failed: {result.stdout!r}{result.stderr!r}")
    return result


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("a C compiler is needed to build the reader-name shim")
    build = tmp_path_factory.mktemp("ykcs11-shim")
    source = build / "rename_readers.c"
    source.write_text(RENAME_SHIM)
    library = build / "rename_readers.so"
    run(gcc, "-shared", "-fPIC", "-I/usr/include/PCSC", "-o", str(library), str(source), "-ldl")
    return library


def ykcs11(shim: Path, reader: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, LD_PRELOAD=str(shim))
    renamed = reader.replace("Virtual PCD", "Yubico YubiKey")
    return run(PKCS11_TOOL, "--module", MODULE, "--slot-description", renamed, *args, env=env)


def test_ykcs11_sees_the_token_objects_and_attestation(virtual_card_factory, shim, tmp_path):
    card = virtual_card_factory(reader=READER)
    pub = tmp_path / "9a.pem"
    run(YKMAN, "--reader", card.reader_name, "piv", "keys", "generate", "-m", MGMT, "-a", "ECCP256", "9a", str(pub))
    run(YKMAN, "--reader", card.reader_name, "piv", "certificates", "generate", "-m", MGMT, "-P", "123456",
        "-s", "CN=ykcs11", "9a", str(pub))

    slots = run(PKCS11_TOOL, "--module", MODULE, "-L", env=dict(os.environ, LD_PRELOAD=str(shim))).stdout.decode()
    assert "YubiKey PIV #12345678" in slots and "firmware version   : 5.72" in slots
    objects = ykcs11(shim, card.reader_name, "-O").stdout.decode()
    assert "CN=ykcs11" in objects
    assert "X.509 Certificate for PIV Attestation 9a" in objects  # ykcs11 attests generated keys itself

    message = tmp_path / "message"
    message.write_bytes(b"signed through libykcs11")
    signature = tmp_path / "sig"
    ykcs11(shim, card.reader_name, "--login", "--pin", "123456", "--sign", "--id", "01", "-m", "ECDSA-SHA256",
           "--signature-format", "openssl", "-i", str(message), "-o", str(signature))
    cert_der = tmp_path / "9a.der"
    ykcs11(shim, card.reader_name, "--read-object", "--type", "cert", "--label",
           "X.509 Certificate for PIV Authentication", "-o", str(cert_der))
    public = x509.load_der_x509_certificate(cert_der.read_bytes()).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature.read_bytes(), message.read_bytes(), ec.ECDSA(hashes.SHA256()))
