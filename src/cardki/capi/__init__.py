"""cardki as a C PKCS#11 module: the shared library built by cffi embedding.

``pip install .`` (or ``pip install -e .``) builds
``cardki/capi/_cardki_pkcs11.cpython-3XY-<platform>.so`` (see ``build.py``);
hosts load that file like any PKCS#11 module (``cardki module-path`` prints
it). It exports every ``C_*`` symbol, C_GetFunctionList (2.40) and
C_GetInterfaceList / C_GetInterface (3.0, with C_LoginUser and EdDSA).

Behaviour a host can rely on:

* Silent: nothing on stdout/stderr unless ``CARDKI_LOG=debug|trace`` (and
  ``CARDKI_LOG_FILE=path``) asks for a log.
* Real PC/SC readers only by default; ``CARDKI_VIRTUAL=1`` adds an in-process
  virtual YubiKey when no reader holds a card, ``CARDKI_VIRTUAL=only`` uses it
  alone. The same settings can live in ``~/.config/cardki/module.toml``
  (see :mod:`cardki.capi.config`).
* Locking: cardki always uses its own OS locks. C_Initialize accepts NULL,
  CKF_OS_LOCKING_OK with or without mutex callbacks; callbacks *without*
  CKF_OS_LOCKING_OK answer CKR_CANT_LOCK. cardki starts no threads.
* Threads, fork (the child must C_Initialize again), C_Finalize + C_Initialize,
  and dlclose + dlopen (the library is never unmapped) are all supported.
* Loaded into a running Python (python-pkcs11, PyKCS11), it shares that
  interpreter; otherwise it starts the interpreter it was built with, seeing
  the packages of the environment it is installed in and nothing else. If
  that interpreter cannot start, every call answers CKR_GENERAL_ERROR.

This package also tells tools where the library is: :func:`module_path` and
:func:`p11kit_module_file`.
"""

from __future__ import annotations

import os
from importlib.machinery import EXTENSION_SUFFIXES

_LIBRARY_STEM = "_cardki_pkcs11"


def module_path() -> str:
    """Absolute path of the built PKCS#11 shared library.

    Raises FileNotFoundError if the package was installed without building it.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    # The suffix this interpreter would import first, so a stale build for another one is not picked.
    for suffix in EXTENSION_SUFFIXES:
        candidate = os.path.join(here, _LIBRARY_STEM + suffix)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"the cardki PKCS#11 library is not built in {here}; "
                            "reinstall with `pip install .` (needs a C compiler and Python headers)")


def p11kit_module_file() -> str:
    """Text of a p11-kit module file that registers cardki (for ~/.config/pkcs11/modules/cardki.module).

    ``critical: no`` lets p11-kit carry on when the module fails to load, so
    a broken cardki never breaks other tokens.
    """
    return f"# cardki PKCS#11 module (PIV smart cards and YubiKeys)\nmodule: {module_path()}\ncritical: no\n"


__all__ = ["module_path", "p11kit_module_file"]
