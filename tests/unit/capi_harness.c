/* A non-Python PKCS#11 host for the cardki module, for tests.
 *
 * It loads the module the way C hosts do (dlopen RTLD_LOCAL, C_GetFunctionList)
 * and runs one scenario, printing "label=0xRV" lines (or "label=value") that
 * the pytest side compares with the spec's codes. The types come from
 * "pkcs11_types.h", which the test writes from cardki.capi.cdefs.
 *
 * usage: capi_harness <module.so> <scenario>
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkcs11_types.h"

#define CKF_SERIAL_SESSION 4UL
#define CKF_RW_SESSION 2UL
#define CKF_OS_LOCKING_OK 2UL
#define CKF_DONT_BLOCK 1UL
#define CKU_USER 1UL
#define CKM_SHA256 0x250UL
#define CKM_RSA_PKCS_PSS 0xDUL
#define CKM_ECDSA 0x1041UL
#define CKA_CLASS 0UL
#define CKA_LABEL 3UL

static void *module;
static CK_FUNCTION_LIST *f;
static const char *module_path;

#define SHOW(label, expr) printf("%s=0x%lx\n", (label), (unsigned long)(expr))

static void load(void) {
    CK_RV (*get_list)(void *);
    module = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (!module) { printf("dlopen=%s\n", dlerror()); exit(2); }
    get_list = (CK_RV (*)(void *))dlsym(module, "C_GetFunctionList");
    if (!get_list) { printf("dlsym=missing\n"); exit(2); }
    SHOW("get_function_list", get_list(&f));
}

static CK_RV fake_create(CK_VOID_PTR *m) { *m = malloc(1); return 0; }
static CK_RV fake_destroy(CK_VOID_PTR m) { free(m); return 0; }
static CK_RV fake_lock(CK_VOID_PTR m) { return 0; }

static void scenario_preinit(void) {
    static const char *names[] = {NAMES_2_40};
    void **slots = (void **)((char *)f + offsetof(CK_FUNCTION_LIST, C_Initialize));
    CK_C_INITIALIZE_ARGS args;
    CK_INFO info;
    CK_ULONG count = 0;
    CK_INTERFACE interfaces[4], *interface = NULL;
    CK_VERSION v240 = {2, 40};
    size_t i;
    int missing = 0, mismatched = 0;

    printf("version=%d.%d\n", f->version.major, f->version.minor);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        void *symbol = dlsym(module, names[i]);
        if (!slots[i]) missing++;
        if (slots[i] != symbol) mismatched++;
    }
    printf("entries=%zu missing=%d mismatched=%d\n", sizeof(names) / sizeof(names[0]), missing, mismatched);

    SHOW("get_info_before_init", f->C_GetInfo(&info));
    SHOW("slot_list_before_init", f->C_GetSlotList(0, NULL, &count));
    SHOW("finalize_before_init", f->C_Finalize(NULL));
    SHOW("digest_encrypt_before_init", f->C_DigestEncryptUpdate(1, NULL, 0, NULL, &count));

    memset(&args, 0, sizeof(args));
    args.pReserved = &args;
    SHOW("init_reserved", f->C_Initialize(&args));
    memset(&args, 0, sizeof(args));
    args.CreateMutex = fake_create;
    SHOW("init_partial_mutex", f->C_Initialize(&args));
    args.DestroyMutex = fake_destroy;
    args.LockMutex = fake_lock;
    args.UnlockMutex = fake_lock;
    SHOW("init_app_mutex_only", f->C_Initialize(&args));
    SHOW("get_info_still_uninitialized", f->C_GetInfo(&info));

    SHOW("interface_list_null_count", ((CK_RV (*)(CK_INTERFACE_PTR, CK_ULONG_PTR))dlsym(module, "C_GetInterfaceList"))(NULL, NULL));
    {
        CK_RV (*list)(CK_INTERFACE_PTR, CK_ULONG_PTR) = dlsym(module, "C_GetInterfaceList");
        CK_RV (*get)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS) = dlsym(module, "C_GetInterface");
        CK_FUNCTION_LIST_3_0 *f3;
        count = 0;
        SHOW("interface_list_len", list(NULL, &count));
        printf("interface_count=%lu\n", count);
        count = 1;
        SHOW("interface_list_short", list(interfaces, &count));
        count = 4;
        SHOW("interface_list", list(interfaces, &count));
        printf("interface0=%s %d.%d\n", interfaces[0].pInterfaceName,
               ((CK_VERSION *)interfaces[0].pFunctionList)->major, ((CK_VERSION *)interfaces[0].pFunctionList)->minor);
        SHOW("get_interface_default", get(NULL, NULL, &interface, 0));
        f3 = (CK_FUNCTION_LIST_3_0 *)interface->pFunctionList;
        printf("default_version=%d.%d\n", f3->version.major, f3->version.minor);
        printf("login_user_is_symbol=%d\n", (void *)f3->C_LoginUser == dlsym(module, "C_LoginUser"));
        SHOW("message_sign_init", f3->C_MessageSignInit(1, NULL, 0));
        SHOW("session_cancel", f3->C_SessionCancel(1, 0));
        SHOW("get_interface_240", get((CK_UTF8CHAR_PTR)"PKCS 11", &v240, &interface, 0));
        printf("v240_version=%d.%d\n", ((CK_VERSION *)interface->pFunctionList)->major,
               ((CK_VERSION *)interface->pFunctionList)->minor);
        SHOW("get_interface_unknown", get((CK_UTF8CHAR_PTR)"Vendor X", NULL, &interface, 0));
        SHOW("get_interface_null_out", get(NULL, NULL, NULL, 0));
    }
}

static CK_SLOT_ID first_slot(void) {
    CK_SLOT_ID slots[16];
    CK_ULONG count = 16;
    CK_RV rv = f->C_GetSlotList(1, slots, &count);
    if (rv != 0 || count == 0) { printf("no_slot=0x%lx\n", rv); exit(3); }
    return slots[0];
}

static void scenario_lifecycle(void) {
    CK_C_INITIALIZE_ARGS args;
    CK_INFO info;
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    SHOW("init", f->C_Initialize(NULL));
    SHOW("init_again", f->C_Initialize(NULL));
    SHOW("get_info", f->C_GetInfo(&info));
    printf("cryptoki_version=%d.%d\n", info.cryptokiVersion.major, info.cryptokiVersion.minor);
    printf("manufacturer=[%.32s]\n", (char *)info.manufacturerID);
    SHOW("finalize", f->C_Finalize(NULL));
    SHOW("get_info_after_finalize", f->C_GetInfo(&info));
    SHOW("init_os_locking", f->C_Initialize(&args));
    args.CreateMutex = fake_create;
    args.DestroyMutex = fake_destroy;
    args.LockMutex = fake_lock;
    args.UnlockMutex = fake_lock;
    SHOW("finalize_2", f->C_Finalize(NULL));
    SHOW("init_both_locking", f->C_Initialize(&args));
    SHOW("finalize_3", f->C_Finalize(NULL));
    memset(&args, 0, sizeof(args));
    args.flags = 1; /* CKF_LIBRARY_CANT_CREATE_OS_THREADS: cardki creates none anyway */
    SHOW("init_no_threads", f->C_Initialize(&args));
    SHOW("finalize_4", f->C_Finalize(NULL));
    SHOW("dlclose", dlclose(module));
    load();
    SHOW("init_after_reload", f->C_Initialize(NULL));
    SHOW("get_info_after_reload", f->C_GetInfo(&info));
    SHOW("finalize_after_reload", f->C_Finalize(NULL));
}

static void scenario_badinput(void) {
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE session = 0;
    CK_ULONG length = 0;
    CK_BYTE buffer[256];
    CK_MECHANISM digest = {CKM_SHA256, NULL, 0};
    CK_MECHANISM pss_bad = {CKM_RSA_PKCS_PSS, buffer, 3};
    CK_RSA_PKCS_PSS_PARAMS pss_params = {0x250UL, 2UL, 32UL};
    CK_MECHANISM pss_null = {CKM_RSA_PKCS_PSS, NULL, sizeof(pss_params)};
    CK_ATTRIBUTE template[2];
    CK_OBJECT_HANDLE objects[8];
    CK_SLOT_INFO slot_info;
    CK_TOKEN_INFO token_info;
    CK_SESSION_INFO session_info;

    SHOW("init", f->C_Initialize(NULL));
    slot = first_slot();
    SHOW("get_info_null", f->C_GetInfo(NULL));
    SHOW("slot_list_null_count", f->C_GetSlotList(0, NULL, NULL));
    length = 0;
    SHOW("slot_list_short", f->C_GetSlotList(0, (CK_SLOT_ID_PTR)buffer, &length));
    printf("slot_list_needed_nonzero=%d\n", length > 0);
    SHOW("slot_info_invalid", f->C_GetSlotInfo(0xDEAD, &slot_info));
    SHOW("slot_info_null", f->C_GetSlotInfo(slot, NULL));
    SHOW("slot_info", f->C_GetSlotInfo(slot, &slot_info));
    SHOW("token_info", f->C_GetTokenInfo(slot, &token_info));
    printf("label_blank_padded=%d\n", memchr(token_info.label, 0, 32) == NULL);
    SHOW("mechanism_list_null_count", f->C_GetMechanismList(slot, NULL, NULL));
    SHOW("open_session_null_out", f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, NULL));
    SHOW("open_session_bad_slot", f->C_OpenSession(0xDEAD, CKF_SERIAL_SESSION, NULL, NULL, &session));
    SHOW("open_session_not_serial", f->C_OpenSession(slot, 0, NULL, NULL, &session));
    SHOW("open_session", f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &session));
    SHOW("session_info_null", f->C_GetSessionInfo(session, NULL));
    SHOW("session_info", f->C_GetSessionInfo(session, &session_info));
    SHOW("session_info_invalid", f->C_GetSessionInfo(0xDEAD, &session_info));
    SHOW("close_invalid", f->C_CloseSession(0xDEAD));
    SHOW("login_invalid_session", f->C_Login(0xDEAD, CKU_USER, (CK_UTF8CHAR_PTR)"123456", 6));
    SHOW("login_null_pin_with_length", f->C_Login(session, CKU_USER, NULL, 6));
    SHOW("find_init_null_template", f->C_FindObjectsInit(session, NULL, 2));
    template[0].type = CKA_LABEL; template[0].pValue = NULL; template[0].ulValueLen = 5;
    SHOW("find_init_null_value", f->C_FindObjectsInit(session, template, 1));
    SHOW("find_init", f->C_FindObjectsInit(session, NULL, 0));
    SHOW("find_null_out", f->C_FindObjects(session, NULL, 8, &length));
    SHOW("find_null_count", f->C_FindObjects(session, objects, 8, NULL));
    SHOW("find", f->C_FindObjects(session, objects, 8, &length));
    SHOW("find_final", f->C_FindObjectsFinal(session));
    SHOW("get_attribute_null_template", f->C_GetAttributeValue(session, 1, NULL, 1));
    template[0].type = CKA_CLASS; template[0].pValue = NULL; template[0].ulValueLen = 0;
    SHOW("get_attribute_bad_object", f->C_GetAttributeValue(session, 0xDEAD, template, 1));
    SHOW("sign_init_null_mechanism", f->C_SignInit(session, NULL, 1));
    SHOW("sign_init_pss_bad_length", f->C_SignInit(session, &pss_bad, 1));
    SHOW("sign_init_pss_null_param", f->C_SignInit(session, &pss_null, 1));
    SHOW("sign_not_initialized", f->C_Sign(session, buffer, 4, NULL, &length));
    SHOW("sign_null_length", f->C_Sign(session, buffer, 4, buffer, NULL));
    SHOW("digest_init", f->C_DigestInit(session, &digest));
    SHOW("digest_null_data_with_length", f->C_Digest(session, NULL, 4, NULL, &length));
    SHOW("digest_init_again", f->C_DigestInit(session, &digest));
    length = 0;
    SHOW("digest_length_query", f->C_Digest(session, (CK_BYTE_PTR)"abc", 3, NULL, &length));
    printf("digest_length=%lu\n", length);
    length = 10;
    SHOW("digest_short", f->C_Digest(session, (CK_BYTE_PTR)"abc", 3, buffer, &length));
    printf("digest_needed=%lu\n", length);
    length = sizeof(buffer);
    SHOW("digest", f->C_Digest(session, (CK_BYTE_PTR)"abc", 3, buffer, &length));
    printf("digest_prefix=%02x%02x%02x%02x\n", buffer[0], buffer[1], buffer[2], buffer[3]);
    SHOW("digest_after_done", f->C_Digest(session, (CK_BYTE_PTR)"abc", 3, buffer, &length));
    SHOW("random_null", f->C_GenerateRandom(session, NULL, 8));
    SHOW("random", f->C_GenerateRandom(session, buffer, 8));
    SHOW("function_status", f->C_GetFunctionStatus(session));
    SHOW("cancel_function", f->C_CancelFunction(session));
    SHOW("digest_encrypt_update", f->C_DigestEncryptUpdate(session, buffer, 1, buffer, &length));
    SHOW("wait_event_null_slot", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL));
    SHOW("wait_event_reserved", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, buffer));
    SHOW("close", f->C_CloseSession(session));
    SHOW("close_again", f->C_CloseSession(session));
    SHOW("finalize_reserved", f->C_Finalize(buffer));
    SHOW("finalize", f->C_Finalize(NULL));
}

static CK_SLOT_ID shared_slot;
static int thread_failures;
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *unused) {
    int i, failures = 0;
    for (i = 0; i < 40; i++) {
        CK_SESSION_HANDLE session;
        CK_MECHANISM digest = {CKM_SHA256, NULL, 0};
        CK_BYTE out[64];
        CK_ULONG length = sizeof(out);
        CK_SESSION_INFO info;
        if (f->C_OpenSession(shared_slot, CKF_SERIAL_SESSION, NULL, NULL, &session)) { failures++; continue; }
        if (f->C_GetSessionInfo(session, &info)) failures++;
        if (f->C_DigestInit(session, &digest)) failures++;
        if (f->C_Digest(session, (CK_BYTE_PTR)"threads", 7, out, &length) || length != 32) failures++;
        if (f->C_CloseSession(session)) failures++;
    }
    pthread_mutex_lock(&failures_lock);
    thread_failures += failures;
    pthread_mutex_unlock(&failures_lock);
    return NULL;
}

static void scenario_threads(void) {
    pthread_t threads[8];
    int i;
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    SHOW("init", f->C_Initialize(&args));
    shared_slot = first_slot();
    for (i = 0; i < 8; i++) pthread_create(&threads[i], NULL, worker, NULL);
    for (i = 0; i < 8; i++) pthread_join(threads[i], NULL);
    printf("thread_failures=%d\n", thread_failures);
    SHOW("finalize", f->C_Finalize(NULL));
}

static void scenario_fork(void) {
    CK_ULONG count = 0;
    pid_t child;
    int status = 0;
    SHOW("init", f->C_Initialize(NULL));
    SHOW("parent_slot_list", f->C_GetSlotList(0, NULL, &count));
    fflush(stdout);
    child = fork();
    if (child == 0) {
        /* First a call on an operation (it checks as it enters the engine's operation
         * call, not in the guard), then one the guard checks. */
        SHOW("child_sign_before_init", f->C_Sign(1, NULL, 0, NULL, NULL));
        SHOW("child_slot_list_before_init", f->C_GetSlotList(0, NULL, &count));
        SHOW("child_init", f->C_Initialize(NULL));
        SHOW("child_slot_list", f->C_GetSlotList(0, NULL, &count));
        SHOW("child_finalize", f->C_Finalize(NULL));
        fflush(stdout);
        _exit(0);
    }
    waitpid(child, &status, 0);
    printf("child_exit=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status));
    SHOW("parent_slot_list_after", f->C_GetSlotList(0, NULL, &count));
    SHOW("finalize", f->C_Finalize(NULL));
}

static CK_RV wait_rv = 0xFFFF;

static void *waiter(void *unused) {
    CK_SLOT_ID slot = 0;
    wait_rv = f->C_WaitForSlotEvent(0, &slot, NULL);
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A host thread blocks in C_WaitForSlotEvent (as NSS and Firefox do) while
 * another keeps using the library; C_Finalize then ends the wait. */
static void scenario_waitevent(void) {
    pthread_t thread;
    CK_ULONG count = 0;
    double started;
    int drained = 0;
    SHOW("init", f->C_Initialize(NULL));
    while (drained < 20 && f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &shared_slot, NULL) == 0) drained++;
    printf("pending_events=%d\n", drained);
    pthread_create(&thread, NULL, waiter, NULL);
    usleep(300000);
    started = now();
    SHOW("slot_list_while_waiting", f->C_GetSlotList(0, NULL, &count));
    printf("slot_list_ms=%d\n", (int)((now() - started) * 1000));
    SHOW("dont_block", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &shared_slot, NULL));
    started = now();
    SHOW("finalize", f->C_Finalize(NULL));
    pthread_join(thread, NULL);
    printf("finalize_to_wakeup_ms=%d\n", (int)((now() - started) * 1000));
    SHOW("wait_after_finalize", wait_rv);
}

/* After C_Finalize ended a wait, a new C_Initialize starts over: waiting works again. */
static void scenario_waitreinit(void) {
    SHOW("init", f->C_Initialize(NULL));
    SHOW("finalize", f->C_Finalize(NULL));
    SHOW("init_again", f->C_Initialize(NULL));
    SHOW("dont_block_after_reinit", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &shared_slot, NULL));
    SHOW("finalize_again", f->C_Finalize(NULL));
}

/* The module's Python side cannot start: every Python-backed call must fail cleanly. */
static void scenario_broken(void) {
    CK_INFO info;
    CK_ULONG count = 0;
    printf("version=%d.%d\n", f->version.major, f->version.minor);
    SHOW("init", f->C_Initialize(NULL));
    SHOW("get_info", f->C_GetInfo(&info));
    SHOW("slot_list", f->C_GetSlotList(0, NULL, &count));
    SHOW("finalize", f->C_Finalize(NULL));
}

/* What the module's own interpreter holds after C_Initialize and C_GetInfo (with
   "token": also C_GetSlotList and the first slot's C_GetTokenInfo): one line
   "gc_threshold=..." (the collector's), "modules=a,b,..." (sys.modules) and one
   "path <entry>" line per sys.path entry. */
static void scenario_modules(int token) {
    CK_INFO info;
    CK_SLOT_ID slots[8];
    CK_ULONG count = 8;
    CK_TOKEN_INFO token_info;
    int (*gil_ensure)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Ensure");
    void (*gil_release)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "PyGILState_Release");
    int (*run)(const char *) = (int (*)(const char *))dlsym(RTLD_DEFAULT, "PyRun_SimpleString");
    int state;
    SHOW("init", f->C_Initialize(NULL));
    SHOW("get_info", f->C_GetInfo(&info));
    if (token) {
        SHOW("slot_list", f->C_GetSlotList(1, slots, &count));
        SHOW("token_info", count ? f->C_GetTokenInfo(slots[0], &token_info) : 0x3UL);
    }
    if (!gil_ensure || !gil_release || !run) { printf("python=missing\n"); return; }
    fflush(stdout);
    state = gil_ensure();
    run("import sys\n"
        "import gc\n"
        "print('gc_threshold=%d,%d,%d' % gc.get_threshold())\n"
        "print('modules=' + ','.join(sorted(sys.modules)))\n"
        "print(''.join('path %s\\n' % entry for entry in sys.path), end='')\n"
        "sys.stdout.flush()\n");
    gil_release(state);
    SHOW("finalize", f->C_Finalize(NULL));
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s module scenario\n", argv[0]); return 2; }
    module_path = argv[1];
    load();
    if (!strcmp(argv[2], "preinit")) scenario_preinit();
    else if (!strcmp(argv[2], "lifecycle")) scenario_lifecycle();
    else if (!strcmp(argv[2], "badinput")) scenario_badinput();
    else if (!strcmp(argv[2], "threads")) scenario_threads();
    else if (!strcmp(argv[2], "fork")) scenario_fork();
    else if (!strcmp(argv[2], "waitevent")) scenario_waitevent();
    else if (!strcmp(argv[2], "waitreinit")) scenario_waitreinit();
    else if (!strcmp(argv[2], "broken")) scenario_broken();
    else if (!strcmp(argv[2], "modules")) scenario_modules(0);
    else if (!strcmp(argv[2], "token_modules")) scenario_modules(1);
    else { printf("unknown scenario\n"); return 2; }
    printf("survived=1\n");
    return 0;
}
