"""The built PKCS#11 library driven by a C host (tests/unit/capi_harness.c).

A C program loads the module with dlopen(RTLD_LOCAL) like pkcs11-tool, NSS or
p11-kit do, and runs one scenario; these tests check the CKR codes it prints,
that the host survives, and that the module printed nothing of its own.
Scenarios that need a token use the in-process virtual card alone
(CARDKI_VIRTUAL=only), so the machine's PC/SC readers cannot interfere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from cardki.capi import module_path
from hosts import module_env

CKR_OK = 0x0
CKR_ARGUMENTS_BAD = 0x7
CKR_CANT_LOCK = 0xA
CKR_FUNCTION_NOT_SUPPORTED = 0x54
CKR_FUNCTION_NOT_PARALLEL = 0x51
CKR_MECHANISM_PARAM_INVALID = 0x71
CKR_OPERATION_NOT_INITIALIZED = 0x91
CKR_SESSION_HANDLE_INVALID = 0xB3
CKR_SESSION_PARALLEL_NOT_SUPPORTED = 0xB4
CKR_SLOT_ID_INVALID = 0x3
CKR_OBJECT_HANDLE_INVALID = 0x82
CKR_BUFFER_TOO_SMALL = 0x150
CKR_NO_EVENT = 0x8
CKR_CRYPTOKI_NOT_INITIALIZED = 0x190
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191


def run(harness: Path, scenario: str, virtual: bool = True, module: str = "",
        extra_env: Dict[str, str] | None = None) -> Dict[str, str]:
    env = module_env(virtual_only=virtual, **(extra_env or {}))
    done = subprocess.run([str(harness), module or module_path(), scenario], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.stderr == "", "the module must not print on the host's stderr"
    lines = [line for line in done.stdout.splitlines() if line]
    assert lines and lines[-1] == "survived=1", done.stdout
    values: Dict[str, str] = {}
    for line in lines:
        for item in line.split():
            key, _, value = item.partition("=")
            values[key] = value
    return values


def rv(values: Dict[str, str], label: str) -> int:
    return int(values[label], 16)


def test_function_list_and_interfaces_before_initialize(harness: Path) -> None:
    values = run(harness, "preinit", virtual=False)
    assert values["version"] == "2.40"
    assert values["entries"] == "68" and values["missing"] == "0" and values["mismatched"] == "0"
    for label in ("get_info_before_init", "slot_list_before_init", "finalize_before_init",
                  "digest_encrypt_before_init", "get_info_still_uninitialized"):
        assert rv(values, label) == CKR_CRYPTOKI_NOT_INITIALIZED, label
    assert rv(values, "init_reserved") == CKR_ARGUMENTS_BAD
    assert rv(values, "init_partial_mutex") == CKR_ARGUMENTS_BAD
    assert rv(values, "init_app_mutex_only") == CKR_CANT_LOCK
    assert rv(values, "interface_list_null_count") == CKR_ARGUMENTS_BAD
    assert rv(values, "interface_list_len") == CKR_OK and values["interface_count"] == "2"
    assert rv(values, "interface_list_short") == CKR_BUFFER_TOO_SMALL
    assert rv(values, "interface_list") == CKR_OK
    assert values["interface0"] == "PKCS"  # "PKCS 11" is split on the blank by the parser
    assert rv(values, "get_interface_default") == CKR_OK and values["default_version"] == "3.0"
    assert values["login_user_is_symbol"] == "1"
    assert rv(values, "message_sign_init") == CKR_FUNCTION_NOT_SUPPORTED
    assert rv(values, "session_cancel") == CKR_FUNCTION_NOT_SUPPORTED
    assert rv(values, "get_interface_240") == CKR_OK and values["v240_version"] == "2.40"
    assert rv(values, "get_interface_unknown") == CKR_ARGUMENTS_BAD
    assert rv(values, "get_interface_null_out") == CKR_ARGUMENTS_BAD


def test_initialize_finalize_reload(harness: Path) -> None:
    values = run(harness, "lifecycle")
    assert rv(values, "init") == CKR_OK
    assert rv(values, "init_again") == CKR_CRYPTOKI_ALREADY_INITIALIZED
    assert rv(values, "get_info") == CKR_OK
    assert values["cryptoki_version"] in ("2.40", "3.0")
    assert rv(values, "finalize") == CKR_OK
    assert rv(values, "get_info_after_finalize") == CKR_CRYPTOKI_NOT_INITIALIZED
    assert rv(values, "init_os_locking") == CKR_OK
    assert rv(values, "init_both_locking") == CKR_OK
    assert rv(values, "init_no_threads") == CKR_OK
    assert rv(values, "finalize_4") == CKR_OK
    assert rv(values, "dlclose") == 0
    assert rv(values, "init_after_reload") == CKR_OK
    assert rv(values, "get_info_after_reload") == CKR_OK
    assert rv(values, "finalize_after_reload") == CKR_OK


def test_bad_input_gets_spec_codes_and_host_survives(harness: Path) -> None:
    values = run(harness, "badinput")
    expected = {
        "init": CKR_OK,
        "get_info_null": CKR_ARGUMENTS_BAD,
        "slot_list_null_count": CKR_ARGUMENTS_BAD,
        "slot_list_short": CKR_BUFFER_TOO_SMALL,
        "slot_info_invalid": CKR_SLOT_ID_INVALID,
        "slot_info_null": CKR_ARGUMENTS_BAD,
        "slot_info": CKR_OK,
        "token_info": CKR_OK,
        "mechanism_list_null_count": CKR_ARGUMENTS_BAD,
        "open_session_null_out": CKR_ARGUMENTS_BAD,
        "open_session_bad_slot": CKR_SLOT_ID_INVALID,
        "open_session_not_serial": CKR_SESSION_PARALLEL_NOT_SUPPORTED,
        "open_session": CKR_OK,
        "session_info_null": CKR_ARGUMENTS_BAD,
        "session_info": CKR_OK,
        "session_info_invalid": CKR_SESSION_HANDLE_INVALID,
        "close_invalid": CKR_SESSION_HANDLE_INVALID,
        "login_invalid_session": CKR_SESSION_HANDLE_INVALID,
        "login_null_pin_with_length": CKR_ARGUMENTS_BAD,
        "find_init_null_template": CKR_ARGUMENTS_BAD,
        "find_init_null_value": CKR_ARGUMENTS_BAD,
        "find_init": CKR_OK,
        "find_null_out": CKR_ARGUMENTS_BAD,
        "find_null_count": CKR_ARGUMENTS_BAD,
        "find": CKR_OK,
        "find_final": CKR_OK,
        "get_attribute_null_template": CKR_ARGUMENTS_BAD,
        "get_attribute_bad_object": CKR_OBJECT_HANDLE_INVALID,
        "sign_init_null_mechanism": CKR_ARGUMENTS_BAD,
        "sign_init_pss_bad_length": CKR_MECHANISM_PARAM_INVALID,
        "sign_init_pss_null_param": CKR_MECHANISM_PARAM_INVALID,
        "sign_not_initialized": CKR_OPERATION_NOT_INITIALIZED,
        "sign_null_length": CKR_ARGUMENTS_BAD,
        "digest_init": CKR_OK,
        "digest_null_data_with_length": CKR_ARGUMENTS_BAD,
        "digest_length_query": CKR_OK,
        "digest_short": CKR_BUFFER_TOO_SMALL,
        "digest": CKR_OK,
        "digest_after_done": CKR_OPERATION_NOT_INITIALIZED,
        "random_null": CKR_ARGUMENTS_BAD,
        "random": CKR_OK,
        "function_status": CKR_FUNCTION_NOT_PARALLEL,
        "cancel_function": CKR_FUNCTION_NOT_PARALLEL,
        "digest_encrypt_update": CKR_FUNCTION_NOT_SUPPORTED,
        "wait_event_null_slot": CKR_ARGUMENTS_BAD,
        "wait_event_reserved": CKR_ARGUMENTS_BAD,
        "close": CKR_OK,
        "close_again": CKR_SESSION_HANDLE_INVALID,
        "finalize_reserved": CKR_ARGUMENTS_BAD,
        "finalize": CKR_OK,
    }
    got = {label: rv(values, label) for label in expected}
    assert got == expected
    assert values["slot_list_needed_nonzero"] == "1"
    assert values["label_blank_padded"] == "1"
    assert values["digest_length"] == "32" and values["digest_needed"] == "32"
    assert values["digest_prefix"] == "ba7816bf"  # SHA-256("abc")


def test_many_host_threads(harness: Path) -> None:
    values = run(harness, "threads")
    assert rv(values, "init") == CKR_OK
    assert values["thread_failures"] == "0"
    assert rv(values, "finalize") == CKR_OK


def test_forked_child_must_initialize_again(harness: Path) -> None:
    values = run(harness, "fork")
    assert rv(values, "parent_slot_list") == CKR_OK
    assert rv(values, "child_sign_before_init") == CKR_CRYPTOKI_NOT_INITIALIZED
    assert rv(values, "child_slot_list_before_init") == CKR_CRYPTOKI_NOT_INITIALIZED
    assert rv(values, "child_init") == CKR_OK
    assert rv(values, "child_slot_list") == CKR_OK
    assert rv(values, "child_finalize") == CKR_OK
    assert values["child_exit"] == "0"
    assert rv(values, "parent_slot_list_after") == CKR_OK


def test_blocking_wait_for_slot_event_does_not_stall_other_threads(harness: Path) -> None:
    values = run(harness, "waitevent")
    assert rv(values, "init") == CKR_OK
    assert rv(values, "slot_list_while_waiting") == CKR_OK
    assert int(values["slot_list_ms"]) < 1000, "a blocked waiter must not hold the library (or the GIL)"
    assert rv(values, "dont_block") in (CKR_OK, CKR_NO_EVENT)
    assert rv(values, "finalize") == CKR_OK
    assert rv(values, "wait_after_finalize") == CKR_CRYPTOKI_NOT_INITIALIZED
    assert int(values["finalize_to_wakeup_ms"]) < 5000


def test_wait_for_slot_event_works_after_finalize_and_initialize(harness: Path) -> None:
    values = run(harness, "waitreinit")
    assert rv(values, "init_again") == CKR_OK
    assert rv(values, "dont_block_after_reinit") in (CKR_OK, CKR_NO_EVENT)
    assert rv(values, "finalize_again") == CKR_OK


def test_a_module_whose_package_cannot_be_imported_fails_cleanly(harness: Path, tmp_path: Path) -> None:
    """If `import cardki` fails inside the library, calls answer CKR_GENERAL_ERROR, silently.
    The library imports the package it sits in, so a copy of it goes into a broken one."""
    broken = tmp_path / "site" / "cardki"
    (broken / "capi").mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('a broken cardki for this test')\n")
    module = broken / "capi" / Path(module_path()).name
    shutil.copyfile(module_path(), module)
    values = run(harness, "broken", module=str(module))
    assert values["version"] == "2.40"
    for label in ("init", "get_info", "slot_list", "finalize"):
        assert rv(values, label) == 0x5, label


# --- a Python that cannot start ----------------------------------------------------------------

NOBODY = "65534"
PKCS11_TOOL = "/usr/bin/pkcs11-tool"


@pytest.fixture
def readable_copies(harness: Path) -> Iterator[Path]:
    """The module, its libpython and the harness in a directory any user can read
    (pytest's tmp_path is private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="cardki-unprivileged-"))
    try:
        directory.chmod(0o755)
        libpython = Path(sysconfig.get_config_var("LIBDIR") or "") / (sysconfig.get_config_var("INSTSONAME") or "")
        for source in (Path(module_path()), libpython, harness):
            if not source.is_file():
                pytest.fail(f"{source} is missing")
            shutil.copy2(source, directory / source.name)
        yield directory
    finally:
        shutil.rmtree(directory)


def run_unprivileged_without_stdlib(directory: Path, argv: List[str]) -> subprocess.CompletedProcess:
    """Run ``argv`` as user nobody, for whom the standard library of the Python the
    module was built for is an unreadable directory (a private mount namespace puts
    an empty root-only tmpfs over it), as when a user loads a module whose Python
    lives in another user's home. libpython itself comes from ``directory``."""
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed to run a host as another user")
    stdlib = sysconfig.get_paths()["stdlib"]
    script = 'mount -t tmpfs -o mode=0700 cardki-hidden-stdlib "$1" && shift && ' \
             f'exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- "$@"'
    env = module_env(virtual_only=True, LD_LIBRARY_PATH=str(directory), HOME=str(directory))
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", stdlib,
                           *argv], capture_output=True, text=True, env=env, cwd=directory, timeout=120)


def test_a_python_that_cannot_start_answers_general_error_and_prints_nothing(readable_copies: Path) -> None:
    module = readable_copies / Path(module_path()).name
    done = run_unprivileged_without_stdlib(readable_copies, [str(readable_copies / "capi_harness"), str(module),
                                                             "broken"])
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    assert done.stderr == "", "the module must not print on the host's stderr"
    values = dict(line.split("=", 1) for line in done.stdout.split())
    assert values["version"] == "2.40"
    assert values["survived"] == "1"
    for label in ("init", "get_info", "slot_list", "finalize"):
        assert rv(values, label) == 0x5, label


def test_pkcs11_tool_survives_a_python_that_cannot_start(readable_copies: Path) -> None:
    if not Path(PKCS11_TOOL).exists():
        pytest.fail(f"{PKCS11_TOOL} is not installed")
    module = readable_copies / Path(module_path()).name
    done = run_unprivileged_without_stdlib(readable_copies, [PKCS11_TOOL, "--module", str(module), "-L"])
    # pkcs11-tool's own failure (exit 1 with its message), not an abort inside the module
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "CKR_GENERAL_ERROR" in done.stderr
    assert "Python" not in done.stdout + done.stderr
    assert os.path.exists(module)
