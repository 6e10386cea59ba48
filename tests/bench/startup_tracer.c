/* A timing tracer for one PKCS#11 host process (tests/bench/startup_profile.py builds it).
 *
 * It is three things in one shared object, all of them only recording when each
 * call starts and ends (CLOCK_MONOTONIC, the clock of Python's time.monotonic_ns,
 * so the parent that spawned the host can put its own timestamps beside them):
 *
 * - a PKCS#11 module that forwards to the real one ($STARTUP_TRACE_MODULE): the
 *   host loads the tracer, the tracer dlopens the module (timed) and hands out a
 *   CK_FUNCTION_LIST of wrappers, one per C_* function (generated from
 *   cardki.capi.cdefs into startup_tracer_calls.h);
 * - libpcsclite for everyone in the process: it carries that library's soname and
 *   is LD_PRELOADed, so pyscard's dlopen("libpcsclite.so.1"), libykpiv's
 *   DT_NEEDED and OpenSC's provider_library all bind to it; every SCard* call is
 *   forwarded to the real library (loaded by path) and timed. Of an APDU only the
 *   four header bytes, the lengths and the status word are kept: never data (a
 *   VERIFY carries the PIN);
 * - when the module turns out to start a Python of its own (cardki in a C host),
 *   an audit hook registered before that interpreter starts, which records when
 *   each import begins: CPython ignores PYTHONPROFILEIMPORTTIME in an isolated
 *   interpreter, so this is how the embedded start is seen from inside.
 *
 * At exit the records go to $STARTUP_TRACE_FILE, one per line:
 *   mark <ns> <what>
 *   call <start-ns> <end-ns> <C_name> <rv>
 *   pcsc <start-ns> <end-ns> <SCardName> <rv> [<CLA INS P1 P2 hex> <command length> <SW hex> <response length>
 *        [<the first data bytes, only of SELECT and GET DATA, which name an AID or an object>]]
 *   py <ns> <event> <detail>
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winscard.h>

#include "startup_tracer_types.h"

#define TRACE_EXPORT __attribute__((visibility("default")))
#define TRACE_CAPACITY 400000

struct record {
    char kind;              /* 'm' mark, 'c' C_* call, 'p' PC/SC call, 'y' Python audit event */
    uint64_t start, end;
    long rv;
    const char *name;       /* a string literal, or NULL when detail holds the name */
    char detail[80];
    unsigned char header[4];
    unsigned char data[8];  /* of SELECT and GET DATA only: an AID, an object tag list */
    unsigned long data_length;
    unsigned long command_length, response_length;
    unsigned int sw;
};

static struct record records[TRACE_CAPACITY];
static unsigned long record_count;
static __thread int pcsc_depth;

static uint64_t trace_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

static struct record *trace_new(char kind, const char *name, uint64_t start) {
    unsigned long index = __atomic_fetch_add(&record_count, 1, __ATOMIC_RELAXED);
    struct record *record;
    if (index >= TRACE_CAPACITY) return NULL;
    record = &records[index];
    record->kind = kind;
    record->name = name;
    record->start = start;
    record->end = start;
    return record;
}

static void trace_mark(const char *what) { trace_new('m', what, trace_now()); }

static void trace_call(const char *name, uint64_t start, CK_RV rv) {
    struct record *record = trace_new('c', name, start);
    if (record) {
        record->end = trace_now();
        record->rv = (long)rv;
    }
}

__attribute__((constructor)) static void trace_on_load(void) { trace_mark("loaded"); }

__attribute__((destructor)) static void trace_on_exit(void) {
    const char *path = getenv("STARTUP_TRACE_FILE");
    unsigned long count = record_count < TRACE_CAPACITY ? record_count : TRACE_CAPACITY, i;
    FILE *out;
    trace_mark("exit");
    count = record_count < TRACE_CAPACITY ? record_count : TRACE_CAPACITY;
    if (!path || !*path || !(out = fopen(path, "w"))) return;
    for (i = 0; i < count; i++) {
        const struct record *r = &records[i];
        const char *name = r->name ? r->name : r->detail;
        switch (r->kind) {
        case 'm': fprintf(out, "mark %llu %s\n", (unsigned long long)r->start, name); break;
        case 'c':
            fprintf(out, "call %llu %llu %s %ld\n", (unsigned long long)r->start, (unsigned long long)r->end,
                    name, r->rv);
            break;
        case 'p':
            fprintf(out, "pcsc %llu %llu %s %ld", (unsigned long long)r->start, (unsigned long long)r->end, name,
                    r->rv);
            if (r->command_length)
                fprintf(out, " %02X%02X%02X%02X %lu %04X %lu", r->header[0], r->header[1], r->header[2],
                        r->header[3], r->command_length, r->sw, r->response_length);
            if (r->data_length) {
                unsigned long j;
                fputc(' ', out);
                for (j = 0; j < r->data_length; j++) fprintf(out, "%02X", r->data[j]);
            }
            fputc('\n', out);
            break;
        case 'y': fprintf(out, "py %llu %s\n", (unsigned long long)r->start, r->detail); break;
        }
    }
    if (record_count > TRACE_CAPACITY) fprintf(out, "mark 0 overflow\n");
    fclose(out);
}

/* --- the embedded interpreter: an audit hook, registered before it starts ------------------- */

typedef int (*audit_hook)(const char *event, void *args, void *data);

static const char *(*py_unicode_utf8)(void *);
static void *(*py_tuple_item)(void *, long);
static void (*py_error_clear)(void);

static int trace_audit(const char *event, void *args, void *data) {
    struct record *record;
    const char *module;
    (void)data;
    if (strcmp(event, "import") != 0) return 0;
    record = trace_new('y', NULL, trace_now());
    if (!record) return 0;
    module = py_unicode_utf8(py_tuple_item(args, 0));
    if (!module) {
        py_error_clear();
        module = "?";
    }
    snprintf(record->detail, sizeof(record->detail), "import %s", module);
    return 0;
}

/* After the module is loaded, before its first call: a module that links libpython and finds
   no interpreter running will start one (cardki in a C host); hook it before it does. */
static void trace_hook_python(void) {
    int (*is_initialized)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    int (*add_hook)(audit_hook, void *) = (int (*)(audit_hook, void *))dlsym(RTLD_DEFAULT, "PySys_AddAuditHook");
    py_unicode_utf8 = (const char *(*)(void *))dlsym(RTLD_DEFAULT, "PyUnicode_AsUTF8");
    py_tuple_item = (void *(*)(void *, long))dlsym(RTLD_DEFAULT, "PyTuple_GetItem");
    py_error_clear = (void (*)(void))dlsym(RTLD_DEFAULT, "PyErr_Clear");
    if (!is_initialized || !add_hook || !py_unicode_utf8 || !py_tuple_item || !py_error_clear) return;
    if (is_initialized()) return;  /* a Python host: it measures its own imports (-X importtime) */
    if (add_hook(trace_audit, NULL) == 0) trace_mark("audit-hook");
}

/* --- the PKCS#11 side ------------------------------------------------------------------------ */

static CK_FUNCTION_LIST *real;

#include "startup_tracer_calls.h"  /* trace_C_* wrappers and trace_functions, generated */

TRACE_EXPORT CK_RV C_GetFunctionList(void *list_out) {
    uint64_t start;
    CK_RV rv;
    if (!real) {
        const char *path = getenv("STARTUP_TRACE_MODULE");
        void *module;
        CK_RV (*get_list)(void *);
        if (!path) return 5;  /* CKR_GENERAL_ERROR */
        start = trace_now();
        module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        trace_call("dlopen", start, module ? 0 : 5);
        if (!module) return 5;
        get_list = (CK_RV (*)(void *))dlsym(module, "C_GetFunctionList");
        if (!get_list) return 5;
        start = trace_now();
        rv = get_list(&real);
        trace_call("C_GetFunctionList", start, rv);
        if (rv != 0) return rv;
        trace_hook_python();
    }
    *(CK_FUNCTION_LIST **)list_out = &trace_functions;
    return 0;
}

/* --- libpcsclite --------------------------------------------------------------------------- */

const SCARD_IO_REQUEST g_rgSCardT0Pci = {SCARD_PROTOCOL_T0, sizeof(SCARD_IO_REQUEST)};
const SCARD_IO_REQUEST g_rgSCardT1Pci = {SCARD_PROTOCOL_T1, sizeof(SCARD_IO_REQUEST)};
const SCARD_IO_REQUEST g_rgSCardRawPci = {SCARD_PROTOCOL_RAW, sizeof(SCARD_IO_REQUEST)};

static void *pcsc_library;

static void *pcsc_symbol(const char *name) {
    void *symbol;
    if (!pcsc_library) pcsc_library = dlopen(REAL_PCSCLITE, RTLD_NOW | RTLD_LOCAL);
    symbol = pcsc_library ? dlsym(pcsc_library, name) : NULL;
    if (!symbol) {
        fprintf(stderr, "startup_tracer: no %s in %s\n", name, REAL_PCSCLITE);
        abort();
    }
    return symbol;
}

static void trace_pcsc(const char *name, uint64_t start, LONG rv) {
    struct record *record = trace_new('p', name, start);
    if (record) {
        record->end = trace_now();
        record->rv = (long)rv;
        record->command_length = 0;
    }
}

/* Forwards one SCard* function; only the outermost call of a thread is recorded. */
#define PCSC_FORWARD(name, parameters, arguments)                                    \
    TRACE_EXPORT LONG name parameters {                                              \
        static LONG(*forward) parameters;                                            \
        uint64_t start;                                                              \
        LONG rv;                                                                     \
        if (!forward) forward = (LONG(*) parameters)pcsc_symbol(#name);              \
        start = trace_now();                                                         \
        pcsc_depth++;                                                                \
        rv = forward arguments;                                                      \
        if (--pcsc_depth == 0) trace_pcsc(#name, start, rv);                         \
        return rv;                                                                   \
    }

PCSC_FORWARD(SCardEstablishContext, (DWORD scope, LPCVOID reserved1, LPCVOID reserved2, LPSCARDCONTEXT context),
             (scope, reserved1, reserved2, context))
PCSC_FORWARD(SCardReleaseContext, (SCARDCONTEXT context), (context))
PCSC_FORWARD(SCardIsValidContext, (SCARDCONTEXT context), (context))
PCSC_FORWARD(SCardConnect, (SCARDCONTEXT context, LPCSTR reader, DWORD share, DWORD protocols, LPSCARDHANDLE card,
                            LPDWORD active), (context, reader, share, protocols, card, active))
PCSC_FORWARD(SCardReconnect, (SCARDHANDLE card, DWORD share, DWORD protocols, DWORD initialization, LPDWORD active),
             (card, share, protocols, initialization, active))
PCSC_FORWARD(SCardDisconnect, (SCARDHANDLE card, DWORD disposition), (card, disposition))
PCSC_FORWARD(SCardBeginTransaction, (SCARDHANDLE card), (card))
PCSC_FORWARD(SCardEndTransaction, (SCARDHANDLE card, DWORD disposition), (card, disposition))
PCSC_FORWARD(SCardStatus, (SCARDHANDLE card, LPSTR names, LPDWORD names_length, LPDWORD state, LPDWORD protocol,
                           LPBYTE atr, LPDWORD atr_length), (card, names, names_length, state, protocol, atr, atr_length))
PCSC_FORWARD(SCardGetStatusChange, (SCARDCONTEXT context, DWORD timeout, SCARD_READERSTATE *states, DWORD count),
             (context, timeout, states, count))
PCSC_FORWARD(SCardControl, (SCARDHANDLE card, DWORD code, LPCVOID send, DWORD send_length, LPVOID receive,
                            DWORD receive_length, LPDWORD returned),
             (card, code, send, send_length, receive, receive_length, returned))
PCSC_FORWARD(SCardListReaderGroups, (SCARDCONTEXT context, LPSTR groups, LPDWORD groups_length),
             (context, groups, groups_length))
PCSC_FORWARD(SCardListReaders, (SCARDCONTEXT context, LPCSTR groups, LPSTR readers, LPDWORD readers_length),
             (context, groups, readers, readers_length))
PCSC_FORWARD(SCardFreeMemory, (SCARDCONTEXT context, LPCVOID memory), (context, memory))
PCSC_FORWARD(SCardCancel, (SCARDCONTEXT context), (context))
PCSC_FORWARD(SCardGetAttrib, (SCARDHANDLE card, DWORD attribute, LPBYTE value, LPDWORD value_length),
             (card, attribute, value, value_length))
PCSC_FORWARD(SCardSetAttrib, (SCARDHANDLE card, DWORD attribute, LPCBYTE value, DWORD value_length),
             (card, attribute, value, value_length))

TRACE_EXPORT LONG SCardTransmit(SCARDHANDLE card, const SCARD_IO_REQUEST *send_pci, LPCBYTE command,
                                DWORD command_length, SCARD_IO_REQUEST *receive_pci, LPBYTE response,
                                LPDWORD response_length) {
    static LONG (*forward)(SCARDHANDLE, const SCARD_IO_REQUEST *, LPCBYTE, DWORD, SCARD_IO_REQUEST *, LPBYTE,
                           LPDWORD);
    struct record *record;
    uint64_t start;
    LONG rv;
    if (!forward) forward = (LONG (*)(SCARDHANDLE, const SCARD_IO_REQUEST *, LPCBYTE, DWORD, SCARD_IO_REQUEST *,
                                      LPBYTE, LPDWORD))pcsc_symbol("SCardTransmit");
    start = trace_now();
    pcsc_depth++;
    rv = forward(card, send_pci, command, command_length, receive_pci, response, response_length);
    if (--pcsc_depth) return rv;
    record = trace_new('p', "SCardTransmit", start);
    if (record) {
        record->end = trace_now();
        record->rv = (long)rv;
        memset(record->header, 0, sizeof(record->header));
        memcpy(record->header, command, command_length < 4 ? command_length : 4);
        record->command_length = command_length ? command_length : 1;
        record->data_length = 0;
        if (command_length > 5 && (command[1] == 0xA4 || command[1] == 0xCB)) {  /* SELECT, GET DATA */
            unsigned long offset = command[4] == 0 && command_length > 7 ? 7 : 5;  /* extended Lc: 00 hi lo */
            record->data_length = command_length - offset < sizeof(record->data) ? command_length - offset
                                                                                   : sizeof(record->data);
            memcpy(record->data, command + offset, record->data_length);
        }
        record->response_length = rv == 0 && response_length ? *response_length : 0;
        record->sw = record->response_length >= 2
            ? (unsigned int)(response[record->response_length - 2] << 8 | response[record->response_length - 1]) : 0;
    }
    return rv;
}

TRACE_EXPORT const char *pcsc_stringify_error(const LONG error) {
    static const char *(*forward)(const LONG);
    if (!forward) forward = (const char *(*)(const LONG))pcsc_symbol("pcsc_stringify_error");
    return forward(error);
}
