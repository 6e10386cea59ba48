"""cffi embedding build: turns the Python engine into a PKCS#11 shared library.

Used by setup.py (``cffi_modules``), so ``pip install .`` and ``pip install -e .``
both build ``cardki/capi/_cardki_pkcs11.*.so`` with no extra step. The library:

* exports every ``C_*`` symbol. The Python-backed ones are C wrappers around
  cffi's ``embedding_api`` functions (named by :func:`cdefs.python_symbol`)
  that first make sure the interpreter runs, and answer CKR_GENERAL_ERROR,
  printing nothing, when it cannot: the module never ends its host;
* starts that interpreter itself in a host that is not Python (cffi would call
  ``Py_InitializeEx``, which prints and exits the process when the standard
  library cannot be read): the Python it was built for, isolated from the
  host's ``PYTHON*`` variables and user site, searching what the interpreter of
  the environment where the library is installed would search (that
  environment's site-packages, and nothing of the environment that built it),
  with sys.path set directly instead of by ``site`` (no .pth file runs);
* answers C_GetFunctionList / C_GetInterfaceList / C_GetInterface and the 3.0
  message functions in C (no interpreter needed to hand out a table);
* has a load-time constructor that re-opens libpython RTLD_GLOBAL, because
  hosts that dlopen us RTLD_LOCAL would otherwise hide libpython's symbols from
  the extension modules Python imports later;
* links with ``-z nodelete`` so dlclose() never unmaps code an interpreter still
  references: p11-kit and NSS unload and reload modules, and a second load then
  finds the same, still initialised instance.

Where the library finds cardki and its dependencies: a directory holding
``cardki-*.dist-info`` next to the ``cardki`` package is where pip installed
it (a wheel, into a virtualenv, the base Python, ``--user`` or ``--target``),
and only that environment serves it. Anything else is a source checkout
(``pip install -e .``), served by the environment that built it.

Rebuild in place for development with ``pip install -e .``.
"""

from __future__ import annotations

import atexit
import os
import sys
import sysconfig
import tempfile
import tomllib
from typing import TYPE_CHECKING, Dict

import cffi

if TYPE_CHECKING:
    from . import cdefs
else:  # cffi execs this file as a script, not as part of the package
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cdefs

MODULE_NAME = "cardki.capi._cardki_pkcs11"


def _c_string(text: str) -> str:
    """A C string literal for a path or a piece of Python source."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


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


def _prefix_relative(path: str) -> str:
    """``path`` below ``sys.prefix`` (``lib/python3.11/site-packages``, ``bin``), which
    is the same below every prefix an installer uses (venvs, --prefix, --user)."""
    return os.path.relpath(path, sys.prefix)


def _checkout_packages() -> Dict[str, str]:
    """The packages a source checkout keeps outside its package root, relative to the
    checkout (pyproject's [tool.setuptools.package-dir]: cardki.profiles in profiles/,
    hwsim in hw-sim/hwsim), plus the package root itself under "" (src)."""
    pyproject = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "pyproject.toml")
    try:
        with open(pyproject, "rb") as stream:
            package_dir = tomllib.load(stream).get("tool", {}).get("setuptools", {}).get("package-dir", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {str(name): str(directory) for name, directory in package_dir.items()}


# Where cardki's imports come from, as Python source the library runs (in an
# interpreter it started, before cffi imports _cffi_backend; in a Python host, from
# the init code): the package root first (site-packages, or src/ of a checkout),
# then the site-packages of the environment cardki belongs to, listed as that
# environment's own Python lists them (site.getsitepackages() over the prefixes
# site.venv() would use: a virtualenv's, plus the base Python's when its pyvenv.cfg
# includes system site-packages). site.main() does not run: no .pth file (here they
# cost 15 to 33 ms, most of it setuptools' editable finder importing pathlib), no
# sitecustomize. A checkout's packages outside src/ (profiles/ as cardki.profiles,
# hw-sim/hwsim as hwsim: what pip's editable finder would map) are found by a small
# finder that knows them from pyproject.toml at build time.
_PATH_CODE = f"CHECKOUT_PACKAGES = {_checkout_packages()!r}\n" + """\
import os, sys


def _environment_prefixes(interpreter, python_home):
    bin_dir = os.path.dirname(interpreter)
    prefix = os.path.dirname(bin_dir)
    for config in (os.path.join(bin_dir, "pyvenv.cfg"), os.path.join(prefix, "pyvenv.cfg")):
        try:
            with open(config, encoding="utf-8") as stream:
                lines = stream.read().splitlines()
        except OSError:
            continue
        system_site = "true"
        for line in lines:
            key, equals, value = line.partition("=")
            if equals and key.strip().lower() == "include-system-site-packages":
                system_site = value.strip().lower()
        return [prefix, python_home] if system_site == "true" else [prefix]
    return [python_home]


class _CheckoutPackages:
    def __init__(self, package_root):
        checkout = package_root
        for _ in [part for part in CHECKOUT_PACKAGES.get("", "").split("/") if part and part != "."]:
            checkout = os.path.dirname(checkout)
        self.directories = {name: os.path.join(checkout, directory)
                            for name, directory in CHECKOUT_PACKAGES.items() if name}

    def find_spec(self, name, path=None, target=None):
        directory = self.directories.get(name)
        if directory is None or not os.path.isdir(directory):
            return None
        parent, leaf = os.path.split(directory)
        if leaf == name.rpartition(".")[2]:
            from importlib.machinery import PathFinder
            return PathFinder.find_spec(name, [parent])
        from importlib.util import spec_from_file_location
        return spec_from_file_location(name, os.path.join(directory, "__init__.py"),
                                       submodule_search_locations=[directory])


def cardki_search_path(package_root, installed, interpreter, python_home):
    import site
    for directory in site.getsitepackages(_environment_prefixes(interpreter, python_home)):
        if directory not in sys.path and os.path.isdir(directory):
            sys.path.append(directory)
    if package_root not in sys.path and "cardki" not in sys.modules:
        sys.path.insert(0, package_root)
    if not installed and not any(type(finder).__name__ == "_CheckoutPackages" for finder in sys.meta_path):
        sys.meta_path.append(_CheckoutPackages(package_root))
"""

# The embedded start around cffi's: the search path, the collector's thresholds, and
# what cffi's own start prints (its errors) kept from the host's streams for
# CARDKI_LOG_FILE, if one is set. The interpreter is cardki's own, and nearly every
# object it makes before the first signature is long-lived module state from imports:
# at CPython's young threshold (700) the collector ran ~38 times over them (~7 ms of
# a pkcs11-tool start, each run finding nothing). At 50000 none runs before the first
# signature, and cycles (rare in cardki) are still collected. A Python host's own
# collector is the host's: left alone.
GC_YOUNG_THRESHOLD = 50_000
_START_CODE = _PATH_CODE + f"""
import gc
gc.set_threshold({GC_YOUNG_THRESHOLD}, 20, 20)
import io
captured = io.StringIO()
saved_streams = sys.stdout, sys.stderr
sys.stdout = sys.stderr = captured
try:
    cardki_search_path(PACKAGE_ROOT, INSTALLED, INTERPRETER, PYTHON_HOME)
except BaseException:
    import traceback
    traceback.print_exc()
"""

# After cffi's own start (its errors were captured too): the streams go back.
_START_DONE_CODE = """\
sys.stdout, sys.stderr = saved_streams
if captured.getvalue() and os.environ.get("CARDKI_LOG_FILE"):
    try:
        with open(os.environ["CARDKI_LOG_FILE"], "a") as stream:
            stream.write(captured.getvalue())
    except OSError:
        pass
"""


def _baked_paths() -> str:
    """The build interpreter's facts the library needs at run time, as C constants."""
    paths = sysconfig.get_paths()
    constants = {
        "cardki_python_home": sys.base_prefix,
        "cardki_stdlib": paths["stdlib"],
        "cardki_build_executable": sys.executable,
        "cardki_base_executable": getattr(sys, "_base_executable", None) or sys.executable,
        "cardki_executable_name": os.path.basename(sys.executable),
        "cardki_site_suffix": _prefix_relative(paths["platlib"]),
        "cardki_scripts_suffix": _prefix_relative(paths["scripts"]),
        "cardki_start_code": _START_CODE,
        "cardki_start_done_code": _START_DONE_CODE,
    }
    return "\n".join(f"static const char {name}[] = {_c_string(value)};" for name, value in constants.items())


# The interpreter start, in C because it must happen before any Python runs.
_START_C = r"""
#define CARDKI_PATH_SIZE 4096

static char cardki_module_path[CARDKI_PATH_SIZE];  /* this shared object, symlinks resolved */
static char cardki_install[CARDKI_PATH_SIZE];      /* the directory that holds the cardki package */
static int cardki_is_installed;                    /* ... and pip's cardki-*.dist-info beside it */
static char cardki_interpreter[CARDKI_PATH_SIZE];  /* sys.executable of an interpreter we start */
static pthread_once_t cardki_located = PTHREAD_ONCE_INIT;

/* Appends one line to $CARDKI_LOG_FILE, if that is set; the host's own streams get nothing. */
static void cardki_note(const char *what, const char *detail) {
    const char *log_file = getenv("CARDKI_LOG_FILE");
    FILE *stream;
    if (!log_file || !*log_file || !(stream = fopen(log_file, "a"))) return;
    fprintf(stream, "cardki: %s %s\n", what, detail ? detail : "");
    fclose(stream);
}

static int cardki_readable(const char *directory, const char *name) {
    char path[CARDKI_PATH_SIZE];
    int fd;
    if (snprintf(path, sizeof(path), "%s/%s", directory, name) >= (int)sizeof(path)) return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

static void cardki_strip(char *path, int components) {
    while (components-- > 0) {
        char *slash = strrchr(path, '/');
        if (!slash) return;
        *slash = 0;
    }
}

static int cardki_holds_dist_info(const char *directory) {
    DIR *listing = opendir(directory);
    struct dirent *entry;
    int found = 0;
    if (!listing) return 0;
    while (!found && (entry = readdir(listing)) != NULL) {
        size_t length = strlen(entry->d_name);
        found = strncmp(entry->d_name, "cardki-", 7) == 0 && length > 17
                && strcmp(entry->d_name + length - 10, ".dist-info") == 0;
    }
    closedir(listing);
    return found;
}

/* The interpreter an environment's own Python would be: a venv's bin/python when
   the install directory is a venv's site-packages (site.py then sees pyvenv.cfg),
   else the base interpreter. */
static void cardki_choose_interpreter(void) {
    size_t install_length = strlen(cardki_install), suffix_length = strlen(cardki_site_suffix);
    char prefix[CARDKI_PATH_SIZE];
    if (install_length > suffix_length && cardki_install[install_length - suffix_length - 1] == '/'
            && strcmp(cardki_install + install_length - suffix_length, cardki_site_suffix) == 0) {
        memcpy(prefix, cardki_install, install_length - suffix_length - 1);
        prefix[install_length - suffix_length - 1] = 0;
        if (cardki_readable(prefix, "pyvenv.cfg")) {
            int written = snprintf(cardki_interpreter, sizeof(cardki_interpreter), "%s/%s/%s", prefix,
                                   cardki_scripts_suffix, cardki_executable_name);
            if (written > 0 && written < (int)sizeof(cardki_interpreter)) return;
        }
    }
    snprintf(cardki_interpreter, sizeof(cardki_interpreter), "%s", cardki_base_executable);
}

static void cardki_locate(void) {
    Dl_info info;
    if (!dladdr((void *)&cardki_locate, &info) || !info.dli_fname) return;
    if (!realpath(info.dli_fname, cardki_module_path))
        snprintf(cardki_module_path, sizeof(cardki_module_path), "%s", info.dli_fname);
    snprintf(cardki_install, sizeof(cardki_install), "%s", cardki_module_path);
    cardki_strip(cardki_install, 3);  /* .../cardki/capi/_cardki_pkcs11.so -> ... */
    cardki_is_installed = cardki_holds_dist_info(cardki_install);
    if (cardki_is_installed) cardki_choose_interpreter();
    else snprintf(cardki_interpreter, sizeof(cardki_interpreter), "%s", cardki_build_executable);
}

/* The directory that holds the cardki package (site-packages, or src/ of a checkout). */
static const char *cardki_install_dir(void) {
    pthread_once(&cardki_located, cardki_locate);
    return cardki_install;
}

/* 1 when pip installed cardki there (a wheel), 0 for a source checkout. */
static int cardki_installed(void) {
    pthread_once(&cardki_located, cardki_locate);
    return cardki_is_installed;
}

/* The interpreter of the environment that serves cardki (its site-packages are searched). */
static const char *cardki_interpreter_path(void) {
    pthread_once(&cardki_located, cardki_locate);
    return cardki_interpreter;
}

static int cardki_started_python;  /* 1 once this library started the interpreter itself */

static int cardki_started_interpreter(void) {
    return cardki_started_python;
}

/* Binds a string to a name in globals (the file system's encoding); 0 on failure. */
static int cardki_set_path(PyObject *globals, const char *name, const char *value) {
    PyObject *text = PyUnicode_DecodeFSDefault(value);
    int ok = text && PyDict_SetItemString(globals, name, text) == 0;
    Py_XDECREF(text);
    return ok;
}

static int cardki_run(const char *code, PyObject *globals) {
    PyObject *result = PyRun_String(code, Py_file_input, globals, globals);
    if (!result) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(result);
    return 1;
}

/* Starts the interpreter (no host Python runs one), then cffi's module. Nothing here
   may end the process or print: Py_InitializeEx does both when the standard library
   cannot be read (e.g. a user who may not read the Python's files loads us). */
static int cardki_start_interpreter(void) {
    PyConfig config;
    PyStatus status;
    PyObject *globals;
    PyGILState_STATE gil;
    int started;

    pthread_once(&cardki_located, cardki_locate);
    if (!cardki_readable(cardki_stdlib, "encodings/__init__.py")
            && !cardki_readable(cardki_stdlib, "encodings/__init__.pyc")) {
        cardki_note("cannot read the Python standard library in", cardki_stdlib);
        return -1;
    }
    PyConfig_InitIsolatedConfig(&config);  /* no PYTHON* variables, no user site, no argv */
    config.install_signal_handlers = 0;    /* the host's signals stay the host's */
    config.site_import = 0;                /* no site.main(): the start code sets sys.path */
    status = PyConfig_SetBytesString(&config, &config.home, cardki_python_home);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.executable, cardki_interpreter);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.program_name, cardki_interpreter);
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        cardki_note("Python did not start:", status.err_msg);
        return -1;
    }
    cardki_started_python = 1;
    /* Py_InitializeFromConfig left us holding the GIL. */
    globals = PyDict_New();
    if (!globals || PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0
            || !cardki_set_path(globals, "PACKAGE_ROOT", cardki_install)
            || !cardki_set_path(globals, "INTERPRETER", cardki_interpreter)
            || !cardki_set_path(globals, "PYTHON_HOME", cardki_python_home)
            || PyDict_SetItemString(globals, "INSTALLED", cardki_is_installed ? Py_True : Py_False) < 0
            || !cardki_run(cardki_start_code, globals)) {
        PyErr_Clear();
        Py_XDECREF(globals);
        globals = NULL;
    }
    (void)PyEval_SaveThread();  /* cffi expects to take the GIL itself */
    started = globals ? cffi_start_python() : -1;
    if (globals) {
        gil = PyGILState_Ensure();
        (void)cardki_run(cardki_start_done_code, globals);
        Py_DECREF(globals);
        PyGILState_Release(gil);
    }
    if (started != 0) cardki_note("the embedded module did not start", "");
    return started;
}

/* 0: not yet, 1: Python runs cardki, -1: it cannot (for the life of the process). */
static int cardki_python_state;
static pthread_mutex_t cardki_start_lock = PTHREAD_MUTEX_INITIALIZER;

static int cardki_python_ready(void) {
    int state = __atomic_load_n(&cardki_python_state, __ATOMIC_ACQUIRE);
    if (state == 0) {
        if (Py_IsInitialized()) {
            /* A Python host (or an interpreter another library started): cffi joins it and
               keeps its own lock; taking ours could deadlock a caller that holds the GIL. */
            state = cffi_start_python() == 0 ? 1 : -1;
        } else {
            pthread_mutex_lock(&cardki_start_lock);
            state = cardki_python_state;
            if (state == 0) state = Py_IsInitialized() ? (cffi_start_python() == 0 ? 1 : -1)
                                                       : (cardki_start_interpreter() == 0 ? 1 : -1);
            pthread_mutex_unlock(&cardki_start_lock);
        }
        __atomic_store_n(&cardki_python_state, state, __ATOMIC_RELEASE);
    }
    return state > 0;
}
"""


def _python_wrappers() -> str:
    """The exported C_* functions that Python answers: the gate, then cffi's function."""
    wrappers = []
    for name in cdefs.PYTHON_EXPORTS:
        arguments = ", ".join(cdefs.parameter_names(name))
        wrappers.append(
            f"CARDKI_EXPORT CK_RV {name}({cdefs.SIGNATURES[name]}) {{\n"
            f"    if (!cardki_python_ready()) return CKR_GENERAL_ERROR;\n"
            f"    return {cdefs.python_symbol(name)}({arguments});\n}}")
    return "\n".join(wrappers)


def _c_source() -> str:
    order2 = ",\n    ".join(cdefs.FUNCTION_LIST_ORDER)
    order3 = ",\n    ".join(cdefs.FUNCTION_LIST_3_0_ORDER)
    python_decls = cdefs.PYTHON_EXPORT_DECLS
    c_decls = "\n".join("CARDKI_EXPORT " + cdefs.prototype(name) for name in cdefs.C_ONLY_EXPORTS)
    message_stubs = "\n".join(
        f"CARDKI_EXPORT CK_RV {name}({cdefs.SIGNATURES[name]}) {{ return CKR_FUNCTION_NOT_SUPPORTED; }}"
        for name in cdefs.C_ONLY_EXPORTS if "Message" in name)
    return f"""
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CARDKI_EXPORT __attribute__((visibility("default")))
#define CKR_OK 0UL
#define CKR_GENERAL_ERROR 5UL
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

{_baked_paths()}
{_START_C}
{_python_wrappers()}

__attribute__((constructor)) static void cardki_on_load(void) {{
    /* Promote the libpython we run on to the global namespace (the handle is kept on purpose). */
    Dl_info info;
    if (dladdr((void *)&Py_IsInitialized, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
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


# Only what Python touches: the struct layouts and the path helpers.
_PYTHON_CDEF = cdefs.TYPES + """
const char *cardki_install_dir(void);
int cardki_installed(void);
const char *cardki_interpreter_path(void);
int cardki_started_interpreter(void);
"""

_INIT_CODE = f"""
import sys

_module = sys.modules[{MODULE_NAME!r}]


def _start():
    ffi, lib = _module.ffi, _module.lib
    # A Python host (perhaps of another environment) needs cardki's directories; an
    # interpreter the library started has them on sys.path already.
    if not lib.cardki_started_interpreter():
        import os
        code = {{}}
        exec({_PATH_CODE!r}, code)
        code["cardki_search_path"](os.fsdecode(ffi.string(lib.cardki_install_dir())), bool(lib.cardki_installed()),
                                   os.fsdecode(ffi.string(lib.cardki_interpreter_path())), {sys.base_prefix!r})
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
    for _name in {[cdefs.python_symbol(name) for name in cdefs.PYTHON_EXPORTS]!r}:
        _module.ffi.def_extern(name=_name, error=5)(lambda *args: 5)
"""


# Only the entry points (and the Python module init) leave the library; cffi's
# extern "Python" functions stay inside, so no caller can get past the C wrappers.
_EXPORTS_MAP = "{ global: C_*; PyInit_*; local: *; };\n"


def _exports_map() -> str:
    """A linker version script with _EXPORTS_MAP, removed when the build process ends."""
    handle, path = tempfile.mkstemp(prefix="cardki-exports-", suffix=".map")
    with os.fdopen(handle, "w") as stream:
        stream.write(_EXPORTS_MAP)
    atexit.register(os.unlink, path)
    return path


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
        libraries=["dl", "pthread"] + _libpython_link_name(libpython),
        extra_compile_args=["-Wno-unused-parameter"],
        extra_link_args=["-Wl,-z,nodelete", f"-Wl,--version-script={_exports_map()}"],
        # Not the stable ABI: the library links one libpython and bakes in its paths.
        py_limited_api=False,
    )
    ffibuilder.embedding_init_code(_INIT_CODE)
    return ffibuilder


ffibuilder = make_builder()

