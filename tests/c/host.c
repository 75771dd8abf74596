/* A plain C11 provisioning host for ABI v1: loads a connector with dlopen and drives it.
 *
 *   host fake  LIB            round trip + every failure case against the fake connector; with a 1.1
 *                             connector also cancel, per-instance logging and handle validation
 *
 * Compiled with -DHOST_ABI_1_0 it is a host written for ABI 1.0: it announces minor 0 and never reads
 * the fields 1.1 appended (the test that a 1.1 connector still serves such hosts).
 *   host slack LIB SETTINGS   describe, open, test, provision a batch of users, search, against slack-sim
 *
 * Prints "N passed, N failed" last; exits non-zero on any failure. Built with
 * gcc -std=c11 -Wall -Wextra -Werror and run under valgrind in CI. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_abi.h"

/* The generated prototypes and the typedefs a host uses with dlsym must be the same types. Unevaluated:
 * nothing here references the symbols, so the host still links without a connector. */
#if defined(__GNUC__)
_Static_assert(__builtin_types_compatible_p(__typeof__(&conn_abi_version), ConnAbiVersionFn),
               "conn_abi_version's prototype matches ConnAbiVersionFn");
_Static_assert(__builtin_types_compatible_p(__typeof__(&conn_plugin_entry), ConnPluginEntryFn),
               "conn_plugin_entry's prototype matches ConnPluginEntryFn");
#endif

static int passed = 0, failed = 0;

#define CHECK(cond, what)                                                   \
    do {                                                                    \
        if (cond) {                                                         \
            passed++;                                                       \
        } else {                                                            \
            failed++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, what);  \
        }                                                                   \
    } while (0)

static void log_cb(void *user_data, int32_t level, const uint8_t *msg, size_t len) {
    int *count = (int *)user_data;
    (*count)++;
    fprintf(stderr, "[connector log %d] %.*s\n", (int)level, (int)len, (const char *)msg);
}

static const ConnPluginV1 *vt;

/* Returns 1 when the buffer holds `needle`. */
static int buf_has(const ConnBuf *b, const char *needle) {
    if (b->ptr == NULL) return 0;
    char *s = malloc(b->len + 1);
    if (s == NULL) return 0;
    memcpy(s, b->ptr, b->len);
    s[b->len] = '\0';
    int found = strstr(s, needle) != NULL;
    free(s);
    return found;
}

static int32_t call(ConnOperationFn op, const ConnInstance *inst, const char *json, ConnBuf *out, ConnBuf *err) {
    return op(inst, (const uint8_t *)json, strlen(json), out, err);
}

static const ConnPluginV1 *load(const char *path, int *log_count) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return NULL;
    }
    /* dlsym returns void*; POSIX guarantees the conversion to a function pointer works. */
    ConnAbiVersionFn version;
    ConnPluginEntryFn entry;
    *(void **)(&version) = dlsym(lib, "conn_abi_version");
    *(void **)(&entry) = dlsym(lib, "conn_plugin_entry");
    CHECK(version != NULL && entry != NULL, "entry symbols present");
    if (version == NULL || entry == NULL) return NULL;
    uint32_t v = version(); /* first call into the connector */
    CHECK((v >> 16) == CONN_ABI_MAJOR, "ABI major matches");
#ifdef HOST_ABI_1_0
    ConnHostV1 host = {sizeof(ConnHostV1), CONN_ABI_MAJOR, 0, log_count, log_cb};
#else
    ConnHostV1 host = {sizeof(ConnHostV1), CONN_ABI_MAJOR, CONN_ABI_MINOR, log_count, log_cb};
#endif
    const ConnPluginV1 *table = NULL;
    CHECK(entry(NULL, &table) == CONN_ERR_INVALID_ARG, "entry rejects NULL host");
    ConnHostV1 wrong = host;
    wrong.abi_major = CONN_ABI_MAJOR + 1;
    CHECK(entry(&wrong, &table) == CONN_ERR_ABI_MISMATCH, "entry rejects another major");
    CHECK(entry(&host, &table) == CONN_OK && table != NULL, "entry returns the table");
    if (table == NULL) return NULL;
    CHECK(table->struct_size >= CONN_PLUGIN_V1_0_SIZE, "table covers v1.0");
    CHECK(table->abi_major == CONN_ABI_MAJOR, "table major");
    /* The library is never unloaded (dlclose would be unsound with connector threads). */
    return table;
}

static ConnInstance *open_instance(const char *settings, ConnBuf *err) {
    ConnInstance *inst = NULL;
    int32_t st = vt->instance_new((const uint8_t *)settings, strlen(settings), &inst, err);
    return st == CONN_OK ? inst : NULL;
}

static int run_fake(void) {
    ConnBuf out = {0}, err = {0};

    CHECK(vt->describe(&out, &err) == CONN_OK, "describe");
    CHECK(buf_has(&out, "\"name\":\"fake\""), "descriptor names the connector");
    vt->buf_free(&out);
    CHECK(out.ptr == NULL && out.len == 0, "buf_free resets the buffer");
    vt->buf_free(&out); /* double free is harmless */

    ConnInstance *inst = open_instance("{\"v\":1,\"settings\":{\"fail_source_ids\":[\"bad\"]}}", &err);
    CHECK(inst != NULL, "instance_new");

    CHECK(call(vt->test, inst, "{\"v\":1}", &out, &err) == CONN_OK, "test");
    CHECK(buf_has(&out, "reachable"), "test message");
    vt->buf_free(&out);

    const char *batch =
        "{\"v\":1,\"records\":["
        "{\"object_class\":\"user\",\"source_id\":\"a\",\"event\":\"upsert\",\"attributes\":{\"userName\":\"a\"}},"
        "{\"object_class\":\"user\",\"source_id\":\"bad\",\"event\":\"upsert\",\"attributes\":{\"userName\":\"b\"}},"
        "{\"object_class\":\"group\",\"source_id\":\"g\",\"event\":\"upsert\",\"attributes\":{\"displayName\":\"G\"},"
        "\"members\":[{\"source_id\":\"a\",\"target_id\":\"F00000001\"}]}]}";
    CHECK(call(vt->provision, inst, batch, &out, &err) == CONN_OK, "provision");
    CHECK(buf_has(&out, "\"outcome\":\"created\""), "created outcome");
    CHECK(buf_has(&out, "\"outcome\":\"failed\"") && buf_has(&out, "invalid_attribute"), "typed failure");
    vt->buf_free(&out);

    CHECK(call(vt->search, inst, "{\"v\":1,\"object_class\":\"user\",\"page_size\":10}", &out, &err) == CONN_OK, "search");
    CHECK(buf_has(&out, "\"total\":1"), "search total");
    vt->buf_free(&out);

    /* Failure cases: NULL arguments, bad JSON, bad UTF-8. */
    CHECK(vt->provision(NULL, (const uint8_t *)"{}", 2, &out, &err) == CONN_ERR_INVALID_ARG, "NULL instance");
    CHECK(buf_has(&err, "instance is NULL"), "NULL instance message");
    vt->buf_free(&err);
    CHECK(vt->provision(inst, NULL, 4, &out, &err) == CONN_ERR_INVALID_ARG, "NULL request");
    vt->buf_free(&err);
    CHECK(vt->provision(inst, (const uint8_t *)"{}", 2, NULL, &err) == CONN_ERR_INVALID_ARG, "NULL out_response");
    vt->buf_free(&err);
    CHECK(call(vt->provision, inst, "{\"records\": [", &out, &err) == CONN_ERR_INVALID_ARG, "bad JSON");
    CHECK(buf_has(&err, "not valid JSON"), "bad JSON message");
    vt->buf_free(&err);
    CHECK(call(vt->provision, inst, "{\"v\":2,\"records\":[]}", &out, &err) == CONN_ERR_INVALID_ARG,
          "unknown payload version");
    CHECK(buf_has(&err, "payload version 2"), "unknown payload version message");
    vt->buf_free(&err);
    const uint8_t bad_utf8[] = {'{', 0xff, '}'};
    CHECK(vt->provision(inst, bad_utf8, sizeof bad_utf8, &out, &err) == CONN_ERR_INVALID_ARG, "bad UTF-8");
    vt->buf_free(&err);
    CHECK(vt->provision(inst, (const uint8_t *)"{}", 2, &out, NULL) == CONN_OK, "NULL out_error allowed on success");
    vt->buf_free(&out);
    CHECK(vt->describe(NULL, &err) == CONN_ERR_INVALID_ARG, "describe NULL out");
    vt->buf_free(&err);
    CHECK(vt->instance_new((const uint8_t *)"{}", 2, NULL, &err) == CONN_ERR_INVALID_ARG, "instance_new NULL out");
    vt->buf_free(&err);
    ConnInstance *refused = NULL;
    CHECK(vt->instance_new((const uint8_t *)"{\"settings\":{\"reject_open\":true}}", 33, &refused, &err) ==
              CONN_ERR_CONNECTOR && refused == NULL, "instance_new refusal");
    CHECK(buf_has(&err, "\"kind\":\"configuration\""), "refusal kind");
    vt->buf_free(&err);

    /* A panicking connector: status code, message, and the process lives on. */
    ConnInstance *panicky = open_instance("{\"settings\":{\"panic_in\":\"provision\"}}", &err);
    CHECK(panicky != NULL, "open panicky instance");
    CHECK(call(vt->provision, panicky, "{\"records\":[]}", &out, &err) == CONN_ERR_PANIC, "panic becomes a status");
    CHECK(buf_has(&err, "panicked"), "panic message");
    vt->buf_free(&err);
    vt->instance_free(panicky);
    ConnInstance *unsupported = open_instance("{\"settings\":{\"unsupported\":[\"search\"]}}", &err);
    CHECK(call(vt->search, unsupported, "{\"object_class\":\"user\"}", &out, &err) == CONN_ERR_UNSUPPORTED, "unsupported");
    vt->buf_free(&err);
    vt->instance_free(unsupported);

    vt->instance_free(inst);
    vt->instance_free(NULL);
    return 0;
}

#ifndef HOST_ABI_1_0
/* Whether the table has the ABI 1.1 entries (negotiated: both sides at least 1.1). */
static int has_1_1(void) {
    return vt->abi_minor >= 1 &&
           vt->struct_size >= offsetof(ConnPluginV1, instance_new_with_host) + sizeof(vt->instance_new_with_host);
}

struct cancel_job {
    const ConnInstance *inst;
};

static void *cancel_later(void *arg) {
    struct cancel_job *job = arg;
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    vt->cancel(job->inst);
    return NULL;
}

static void count_log(void *user_data, int32_t level, const uint8_t *msg, size_t len) {
    (void)level;
    (void)msg;
    (void)len;
    (*(int *)user_data)++;
}

/* ABI 1.1: cancel from another thread, logs per instance, handles validated. */
static void run_fake_1_1(void) {
    ConnBuf out = {0}, err = {0};
    if (!has_1_1()) {
        CHECK(vt->abi_minor == 0 && vt->struct_size == CONN_PLUGIN_V1_0_SIZE, "a 1.0 connector has no 1.1 entries");
        return;
    }
    CHECK(vt->cancel != NULL && vt->instance_new_with_host != NULL, "1.1 entries present");
    /* Two instances, each with its own log services. */
    int count_a = 0, count_b = 0;
    ConnHostV1 host_a = {sizeof(ConnHostV1), CONN_ABI_MAJOR, CONN_ABI_MINOR, &count_a, count_log};
    ConnHostV1 host_b = {sizeof(ConnHostV1), CONN_ABI_MAJOR, CONN_ABI_MINOR, &count_b, count_log};
    ConnInstance *a = NULL, *b = NULL;
    const char *slow = "{\"settings\":{\"sleep_ms\":20000}}";
    CHECK(vt->instance_new_with_host(&host_a, (const uint8_t *)slow, strlen(slow), &a, &err) == CONN_OK, "instance a");
    CHECK(vt->instance_new_with_host(&host_b, (const uint8_t *)"{}", 2, &b, &err) == CONN_OK, "instance b");
    CHECK(count_a == 1 && count_b == 1, "each instance logs through its own host services");
    CHECK(vt->instance_new_with_host(NULL, (const uint8_t *)"{}", 2, &b, &err) == CONN_ERR_INVALID_ARG, "NULL host");
    vt->buf_free(&err);
    /* cancel: a 20 s provision returns soon after another thread cancels it, its records retryable. */
    struct cancel_job job = {a};
    pthread_t t;
    time_t started = time(NULL);
    CHECK(pthread_create(&t, NULL, cancel_later, &job) == 0, "start the cancelling thread");
    CHECK(call(vt->provision, a, "{\"records\":[{\"object_class\":\"user\",\"source_id\":\"x\",\"event\":\"upsert\"}]}",
               &out, &err) == CONN_OK, "cancelled provision returns");
    pthread_join(t, NULL);
    CHECK(time(NULL) - started < 10, "cancel cut the call short");
    CHECK(buf_has(&out, "cancelled") && buf_has(&out, "\"retryable\":true"), "unfinished records fail, retryable");
    vt->buf_free(&out);
    /* Handles are validated: a foreign or freed handle is refused, not dereferenced. */
    int not_an_instance = 0;
    CHECK(vt->cancel((const ConnInstance *)&not_an_instance) == CONN_ERR_INVALID_ARG, "cancel refuses a foreign handle");
    CHECK(call(vt->provision, (const ConnInstance *)&not_an_instance, "{}", &out, &err) == CONN_ERR_INVALID_ARG,
          "provision refuses a foreign handle");
    vt->buf_free(&err);
    vt->instance_free(b);
    CHECK(call(vt->provision, b, "{}", &out, &err) == CONN_ERR_INVALID_ARG, "provision refuses a freed handle");
    vt->buf_free(&err);
    CHECK(vt->cancel(b) == CONN_ERR_INVALID_ARG, "cancel refuses a freed handle");
    vt->instance_free(b); /* freeing twice is ignored */
    vt->instance_free(a);
}
#endif

static int run_slack(const char *settings) {
    ConnBuf out = {0}, err = {0};
    CHECK(vt->describe(&out, &err) == CONN_OK, "describe");
    CHECK(buf_has(&out, "\"name\":\"slack\""), "descriptor names slack");
    vt->buf_free(&out);
    ConnInstance *inst = open_instance(settings, &err);
    CHECK(inst != NULL, "instance_new");
    if (inst == NULL) {
        fprintf(stderr, "%.*s\n", (int)err.len, (const char *)err.ptr);
        vt->buf_free(&err);
        return 1;
    }
    CHECK(call(vt->test, inst, "{\"v\":1}", &out, &err) == CONN_OK, "test against slack-sim");
    vt->buf_free(&out);
    vt->buf_free(&err);
    const char *batch =
        "{\"v\":1,\"records\":["
        "{\"object_class\":\"user\",\"source_id\":\"c1\",\"event\":\"upsert\",\"attributes\":{\"userName\":\"c.host.one\","
        "\"primaryEmail\":\"c.host.one@example.com\",\"givenName\":\"C\",\"familyName\":\"One\"}},"
        "{\"object_class\":\"user\",\"source_id\":\"c2\",\"event\":\"upsert\",\"attributes\":{\"userName\":\"c.host.two\","
        "\"primaryEmail\":\"c.host.two@example.com\",\"title\":\"Engineer\"}}]}";
    CHECK(call(vt->provision, inst, batch, &out, &err) == CONN_OK, "provision into slack-sim");
    CHECK(buf_has(&out, "\"outcome\":\"created\""), "users created");
    CHECK(!buf_has(&out, "\"failed\""), "no failed record");
    vt->buf_free(&out);
    vt->buf_free(&err);
    CHECK(call(vt->search, inst, "{\"object_class\":\"user\",\"page_size\":100}", &out, &err) == CONN_OK, "search");
    CHECK(buf_has(&out, "c.host.two"), "search sees the new user");
    vt->buf_free(&out);
    vt->buf_free(&err);
    vt->instance_free(inst);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s fake LIB | slack LIB SETTINGS_JSON\n", argv[0]);
        return 2;
    }
    int log_count = 0;
    vt = load(argv[2], &log_count);
    if (vt != NULL) {
        if (strcmp(argv[1], "fake") == 0) {
            run_fake();
            CHECK(log_count > 0, "connector logged through the host callback");
#ifndef HOST_ABI_1_0
            run_fake_1_1();
#endif
        } else if (argc > 3) {
            run_slack(argv[3]);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
