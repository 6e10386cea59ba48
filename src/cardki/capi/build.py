"""cffi embedding build: turns the Python engine into a PKCS#11 shared library.

Used by setup.py (``cffi_modules``), so ``pip install .`` and ``pip install -e .``
both build ``cardki/capi/_cardki_pkcs11.*.so`` with no extra step. The library:

* exports every ``C_*`` symbol; the Python-backed ones come from cffi's
  ``embedding_api`` and start (or join) an interpreter on first call;
* answers C_GetFunctionList / C_GetInterfaceList / C_GetInterface and the 3.0
  message functions in C (no interpreter needed to hand out a table);
* has a load-time constructor that (1) re-opens libpython RTLD_GLOBAL, because
  hosts that dlopen us RTLD_LOCAL would otherwise hide libpython's symbols from
  the extension modules Python imports later, and (2) pins PYTHONHOME to the
  interpreter the module was built for, so a non-Python host does not pick up
  some other Python's standard library;
* links with ``-z nodelete`` so dlclose() never unmaps code an interpreter still
  references: p11-kit and NSS unload and reload modules, and a second load then
  finds the same, still initialised instance.

Rebuild in place for development with ``pip install -e .``.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig

import cffi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdefs  # noqa: E402  (a sibling file; this script is exec'd by cffi, not imported)

MODULE_NAME = "cardki.capi._cardki_pkcs11"


def _c_string(text: str) -> str:
    """A C string literal for a path (backslashes and quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _libpython_path() -> str:
    """Absolute path of the shared libpython this interpreter runs on ('' if static)."""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return ""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    name = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY") or ""
    return os.path.join(libdir, name)


def _libpython_link_name(libpython: str) -> list[str]:
    """``-lpythonX.Y``: hosts that are not Python must pull libpython in through us."""
    if not libpython:
        return []
    return [f"python{sys.version_info.major}.{sys.version_info.minor}{getattr(sys, 'abiflags', '')}"]


def _site_dirs() -> list[str]:
    """Where this interpreter (venv included) installs packages: cardki's dependencies live there."""
    paths = sysconfig.get_paths()
    dirs = [paths["purelib"], paths["platlib"]]
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        dirs.append(site.getusersitepackages())
    return list(dict.fromkeys(dirs))


def _c_source() -> str:
    order2 = ",\n    ".join(cdefs.FUNCTION_LIST_ORDER)
    order3 = ",\n    ".join(cdefs.FUNCTION_LIST_3_0_ORDER)
    python_decls = cdefs.PYTHON_EXPORT_DECLS
    c_decls = "\n".join("CARDKI_EXPORT " + cdefs.prototype(name) for name in cdefs.C_ONLY_EXPORTS)
    message_stubs = "\n".join(
        f"CARDKI_EXPORT CK_RV {name}({cdefs.SIGNATURES[name]}) {{ return CKR_FUNCTION_NOT_SUPPORTED; }}"
        for name in cdefs.C_ONLY_EXPORTS if "Message" in name)
    return f"""
#include <dlfcn.h>
#include <string.h>
#include <wchar.h>
#include <stdlib.h>

#define CARDKI_EXPORT __attribute__((visibility("default")))
#define CKR_OK 0UL
#define CKR_ARGUMENTS_BAD 7UL
#define CKR_FUNCTION_NOT_SUPPORTED 0x54UL
#define CKR_BUFFER_TOO_SMALL 0x150UL
#define CKR_SESSION_HANDLE_INVALID 0xB3UL

{cdefs.TYPES}
{cdefs.FUNCTION_LISTS}

/* Implemented in Python; cffi defines them further down this file. */
{python_decls}
/* Answered in C, below the tables. */
{c_decls}

static const char cardki_libpython[] = {_c_string(_libpython_path())};
static const char cardki_python_home[] = {_c_string(sys.base_prefix)};
static const char cardki_site_dirs[] = {_c_string(os.pathsep.join(_site_dirs()))};

/* Where this shared object was loaded from (so Python can find its package). */
static const char *cardki_module_file(void) {{
    Dl_info info;
    if (dladdr((void *)&cardki_module_file, &info) && info.dli_fname) return info.dli_fname;
    return "";
}}

static const char *cardki_build_site_dirs(void) {{ return cardki_site_dirs; }}

__attribute__((constructor)) static void cardki_on_load(void) {{
    if (cardki_libpython[0]) {{
        /* Promote libpython to the global namespace; the handle is kept on purpose. */
        (void)dlopen(cardki_libpython, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    }}
    if (!Py_IsInitialized() && getenv("PYTHONHOME") == NULL) {{
        static wchar_t home[4096];
        size_t n = mbstowcs(home, cardki_python_home, 4095);
        if (n != (size_t)-1) {{
            home[n] = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
            Py_SetPythonHome(home);
#pragma GCC diagnostic pop
        }}
    }}
}}

static CK_FUNCTION_LIST cardki_functions_2_40 = {{
    {{2, 40}},
    {order2}
}};

static CK_FUNCTION_LIST_3_0 cardki_functions_3_0 = {{
    {{3, 0}},
    {order3}
}};

static CK_INTERFACE cardki_interfaces[2] = {{
    {{(CK_CHAR *)"PKCS 11", &cardki_functions_3_0, 0}},
    {{(CK_CHAR *)"PKCS 11", &cardki_functions_2_40, 0}},
}};
#define CARDKI_INTERFACE_COUNT 2UL

CARDKI_EXPORT CK_RV C_GetFunctionList(void *ppFunctionList) {{
    if (ppFunctionList == NULL) return CKR_ARGUMENTS_BAD;
    *(CK_FUNCTION_LIST **)ppFunctionList = &cardki_functions_2_40;
    return CKR_OK;
}}

CARDKI_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount) {{
    if (pulCount == NULL) return CKR_ARGUMENTS_BAD;
    if (pInterfacesList == NULL) {{
        *pulCount = CARDKI_INTERFACE_COUNT;
        return CKR_OK;
    }}
    if (*pulCount < CARDKI_INTERFACE_COUNT) {{
        *pulCount = CARDKI_INTERFACE_COUNT;
        return CKR_BUFFER_TOO_SMALL;
    }}
    memcpy(pInterfacesList, cardki_interfaces, sizeof(cardki_interfaces));
    *pulCount = CARDKI_INTERFACE_COUNT;
    return CKR_OK;
}}

CARDKI_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                   CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags) {{
    CK_ULONG i;
    if (ppInterface == NULL) return CKR_ARGUMENTS_BAD;
    for (i = 0; i < CARDKI_INTERFACE_COUNT; i++) {{
        CK_INTERFACE *candidate = &cardki_interfaces[i];
        CK_VERSION *version = (CK_VERSION *)candidate->pFunctionList;
        if (pInterfaceName && strcmp((const char *)pInterfaceName, (const char *)candidate->pInterfaceName)) continue;
        if (pVersion && (pVersion->major != version->major || pVersion->minor != version->minor)) continue;
        if ((candidate->flags & flags) != flags) continue;
        *ppInterface = candidate;
        return CKR_OK;
    }}
    return CKR_ARGUMENTS_BAD;
}}

/* A PIV card has nothing to cancel and no message-based operations. */
CARDKI_EXPORT CK_RV C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags) {{
    return CKR_FUNCTION_NOT_SUPPORTED;
}}
{message_stubs}
"""


# Only what Python touches: the struct layouts and the two path helpers.
_PYTHON_CDEF = cdefs.TYPES + """
const char *cardki_module_file(void);
const char *cardki_build_site_dirs(void);
"""

_INIT_CODE = f"""
import sys

_module = sys.modules[{MODULE_NAME!r}]


def _start():
    import os
    import site
    ffi, lib = _module.ffi, _module.lib
    here = os.path.dirname(os.fsdecode(ffi.string(lib.cardki_module_file())))
    package_root = os.path.dirname(os.path.dirname(here))  # site-packages, or src/ when editable
    for directory in os.fsdecode(ffi.string(lib.cardki_build_site_dirs())).split(os.pathsep):
        if directory and os.path.isdir(directory) and directory not in sys.path:
            site.addsitedir(directory)
    if "cardki" not in sys.modules and package_root not in sys.path:
        sys.path.insert(0, package_root)
    from cardki.capi import entry
    entry.attach(ffi, lib)


try:
    _start()
except BaseException:  # the host must survive: every entry point then answers CKR_GENERAL_ERROR
    import os
    _log_file = os.environ.get("CARDKI_LOG_FILE")
    if _log_file:
        import traceback
        with open(_log_file, "a") as _stream:
            traceback.print_exc(file=_stream)
    for _name in {cdefs.PYTHON_EXPORTS!r}:
        _module.ffi.def_extern(name=_name, error=5)(lambda *args: 5)
"""


def make_builder() -> cffi.FFI:
    """The cffi builder for the embedded PKCS#11 module."""
    ffibuilder = cffi.FFI()
    ffibuilder.cdef(_PYTHON_CDEF)
    ffibuilder.embedding_api(cdefs.PYTHON_EXPORT_DECLS)
    libpython = _libpython_path()
    libdirs = [os.path.dirname(libpython)] if libpython else []
    ffibuilder.set_source(
        MODULE_NAME,
        _c_source(),
        library_dirs=libdirs,
        runtime_library_dirs=libdirs,
        libraries=["dl"] + _libpython_link_name(libpython),
        extra_compile_args=["-Wno-unused-parameter"],
        extra_link_args=["-Wl,-z,nodelete"],
        # Not the stable ABI: the library links one libpython and bakes in its paths.
        py_limited_api=False,
    )
    ffibuilder.embedding_init_code(_INIT_CODE)
    return ffibuilder


ffibuilder = make_builder()

