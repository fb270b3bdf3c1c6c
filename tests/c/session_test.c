/*
 * The C ABI from C: a real migration into the embedded local target with callbacks from
 * several engine threads, a second (incremental) round through the pull API, the status JSON
 * parsed, every misuse answered with its status, and a callback-overhead figure.
 *
 * Usage: session_test SCRATCH_DIR [--quick]   (--quick: smaller bench, for valgrind)
 * Built and run by tests/c/run.sh (from .ci/test), also under valgrind.
 */
#define _POSIX_C_SOURCE 200809L
#include "spmt.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        checks++;                                                            \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
        }                                                                    \
    } while (0)

/* Checks a call's status, and that the error object (if asked for) matches it. */
#define EXPECT(call, want)                                                        \
    do {                                                                          \
        spmt_error_t *e_ = NULL;                                                  \
        spmt_error_t **err = &e_;                                                 \
        spmt_status_t got_ = (call);                                              \
        (void)err;                                                                \
        CHECK(got_ == (want), "status %u, want %u (%s)", (unsigned)got_,          \
              (unsigned)(want), e_ ? spmt_error_message(e_) : "no error object"); \
        if (got_ != SPMT_STATUS_OK && e_ != NULL) {                               \
            CHECK(spmt_error_status(e_) == got_, "error object status");          \
            CHECK(spmt_error_message(e_) != NULL, "error message");               \
        }                                                                         \
        spmt_error_free(e_);                                                      \
    } while (0)

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void mkdirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
}

static void write_file(const char *path, const char *fmt, ...) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* ---- a small JSON reader: validates, and finds a value by path ("StatusOfTasks.0.Status") */

static const char *ws(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
    return p;
}

static const char *skip_value(const char *p);

static const char *skip_string(const char *p) {
    if (*p != '"') return NULL;
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\') {
            p++;
            if (!*p) return NULL;
        } else if ((unsigned char)*p < 0x20) {
            return NULL;
        }
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *skip_value(const char *p) {
    p = ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = ws(p + 1);
        if (*p == close) return p + 1;
        for (;;) {
            if (obj) {
                p = skip_string(ws(p));
                if (!p) return NULL;
                p = ws(p);
                if (*p != ':') return NULL;
                p++;
            }
            p = skip_value(p);
            if (!p) return NULL;
            p = ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (*p == '"') return skip_string(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        char *end;
        strtod(p, &end);
        return end > p ? end : NULL;
    }
    return NULL;
}

static int json_valid(const char *s) {
    const char *end = skip_value(s);
    return end && *ws(end) == 0;
}

/* The value at `path` (segments split by '.'; numbers index arrays), or NULL. */
static const char *json_get(const char *p, const char *path) {
    p = ws(p);
    if (!*path) return p;
    const char *dot = strchr(path, '.');
    size_t seglen = dot ? (size_t)(dot - path) : strlen(path);
    const char *rest = dot ? dot + 1 : path + seglen;
    if (*p == '{') {
        p = ws(p + 1);
        while (*p == '"') {
            const char *kend = skip_string(p);
            if (!kend) return NULL;
            int match = (size_t)(kend - p - 2) == seglen && !strncmp(p + 1, path, seglen);
            p = ws(kend);
            if (*p != ':') return NULL;
            p = ws(p + 1);
            if (match) return json_get(p, rest);
            p = skip_value(p);
            if (!p) return NULL;
            p = ws(p);
            if (*p == ',') p = ws(p + 1);
        }
        return NULL;
    }
    if (*p == '[') {
        long want = strtol(path, NULL, 10);
        p = ws(p + 1);
        for (long i = 0; *p && *p != ']'; i++) {
            if (i == want) return json_get(p, rest);
            p = skip_value(p);
            if (!p) return NULL;
            p = ws(p);
            if (*p == ',') p = ws(p + 1);
        }
    }
    return NULL;
}

static long json_num(const char *json, const char *path) {
    const char *v = json_get(json, path);
    return v ? strtol(v, NULL, 10) : -1;
}

static int json_str_is(const char *json, const char *path, const char *want) {
    const char *v = json_get(json, path);
    size_t n = strlen(want);
    return v && *v == '"' && !strncmp(v + 1, want, n) && v[1 + n] == '"';
}

/* ---- events through the callback ---- */

typedef struct {
    pthread_mutex_t mu;
    unsigned long by_kind[16];
    unsigned long migrated, skipped, failed;
    int failed_with_code;
    pthread_t threads[64];
    int nthreads;
    int freed;         /* user_data_free calls */
    int after_finish;  /* events after SESSION_FINISHED */
    int finished;
    unsigned long bad; /* events breaking the header's promises */
} recorder_t;

static void recorder_init(recorder_t *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

/* Reads every string (so valgrind checks them) and checks the event's shape. */
static void note_event(recorder_t *r, const spmt_event_t *e) {
    size_t len = 0;
    if (e->task_id) len += strlen(e->task_id);
    if (e->item_path) len += strlen(e->item_path);
    if (e->code) len += strlen(e->code);
    if (e->message) len += strlen(e->message);
    (void)len;
    if (e->kind < SPMT_EVENT_LOG || e->kind > SPMT_EVENT_SESSION_FINISHED) r->bad++;
    if (r->finished) r->after_finish++;
    r->by_kind[e->kind & 15]++;
    switch (e->kind) {
    case SPMT_EVENT_ITEM:
        if (!e->task_id || !e->item_path) {
            r->bad++;
            break;
        }
        if (e->outcome == SPMT_OUTCOME_MIGRATED) r->migrated++;
        else if (e->outcome == SPMT_OUTCOME_SKIPPED) r->skipped++;
        else if (e->outcome == SPMT_OUTCOME_FAILED) {
            r->failed++;
            if (e->code && e->message && strlen(e->code) > 2) r->failed_with_code++;
        } else r->bad++;
        break;
    case SPMT_EVENT_TASK_STARTED:
    case SPMT_EVENT_TASK_FINISHED:
    case SPMT_EVENT_SCAN:
    case SPMT_EVENT_PACKAGE:
    case SPMT_EVENT_UPLOAD:
    case SPMT_EVENT_IMPORT:
        if (!e->task_id || strlen(e->task_id) != 36) r->bad++;
        break;
    case SPMT_EVENT_SESSION_FINISHED:
        r->finished = 1;
        break;
    default:
        break;
    }
}

static void on_event(void *user_data, const spmt_event_t *e) {
    recorder_t *r = user_data;
    pthread_mutex_lock(&r->mu);
    note_event(r, e);
    pthread_t me = pthread_self();
    int seen = 0;
    for (int i = 0; i < r->nthreads; i++)
        if (pthread_equal(r->threads[i], me)) seen = 1;
    if (!seen && r->nthreads < 64) r->threads[r->nthreads++] = me;
    pthread_mutex_unlock(&r->mu);
}

static void on_free(void *user_data) {
    recorder_t *r = user_data;
    pthread_mutex_lock(&r->mu);
    r->freed++;
    pthread_mutex_unlock(&r->mu);
}

static void never_called(void *user_data, const spmt_event_t *e) {
    (void)e;
    (*(int *)user_data)++;
}

static void count_free(void *user_data) { (*(int *)user_data) += 1000; }

static atomic_ulong bench_count;
static void bench_cb(void *user_data, const spmt_event_t *e) {
    (void)user_data;
    if (e->item_path) atomic_fetch_add_explicit(&bench_count, 1, memory_order_relaxed);
}

/* Polls the status until the first task shows `want`, up to `secs`. */
static int wait_task_status(spmt_session_t *s, const char *want, double secs) {
    double until = now_s() + secs;
    while (now_s() < until) {
        char *json = NULL;
        if (spmt_session_status(s, &json, NULL) == SPMT_STATUS_OK) {
            int ok = json_str_is(json, "StatusOfTasks.0.Status", want);
            spmt_string_free(json);
            if (ok) return 1;
        }
        sleep_ms(2);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR [--quick]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int quick = argc > 2 && !strcmp(argv[2], "--quick");
    char share[1024], work[1024], target[1024], path[2048], settings[4096], task[4096];
    snprintf(share, sizeof share, "%s/share/dept1", dir);
    snprintf(work, sizeof work, "%s/work", dir);
    snprintf(target, sizeof target, "%s/target", dir);

    /* --- the ABI version --- */
    CHECK(spmt_abi_version() == SPMT_ABI_VERSION, "abi %u", spmt_abi_version());

    /* --- a source tree: 3 folders, 31 files (one hidden), one name SharePoint refuses --- */
    const char *folders[] = {"a", "a/b", "c"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", share, folders[i]);
        mkdirs(path);
    }
    for (int i = 0; i < 30; i++) {
        snprintf(path, sizeof path, "%s/%s/f%02d.txt", share, folders[i % 3], i);
        write_file(path, "file %d\n%0*d\n", i, 100 + i * 37, i);
    }
    snprintf(path, sizeof path, "%s/.hidden", share);
    write_file(path, "hidden\n");
    snprintf(path, sizeof path, "%s/c/bad|name.txt", share);
    write_file(path, "a name with a character SharePoint refuses\n");
    const long files = 30 + 1 + 1;
    const long items = 3 + files;

    /* --- misuse: spmt_session_new --- */
    spmt_session_t *const SENTINEL = (spmt_session_t *)(uintptr_t)0x1;
    spmt_session_t *s = SENTINEL;
    EXPECT(spmt_session_new(NULL, &s, err), SPMT_STATUS_NULL_ARGUMENT);
    EXPECT(spmt_session_new("{", &s, err), SPMT_STATUS_INVALID_JSON);
    EXPECT(spmt_session_new("[1,2]", &s, err), SPMT_STATUS_INVALID_JSON);
    EXPECT(spmt_session_new("{\"WorkingFolder\":\"\xff\xfe\"}", &s, err), SPMT_STATUS_INVALID_UTF8);
    EXPECT(spmt_session_new("{}", NULL, err), SPMT_STATUS_NULL_ARGUMENT);
    {
        spmt_error_t *e = NULL;
        CHECK(spmt_session_new("{\"Bogus\":1}", &s, &e) == SPMT_STATUS_INVALID_ARGUMENT, "unknown key");
        CHECK(e && strstr(spmt_error_message(e), "Bogus"), "the message names the key: %s",
              e ? spmt_error_message(e) : "-");
        spmt_error_free(e);
        e = NULL;
        CHECK(spmt_session_new("{\"MigrationType\":\"WORKFLOW\"}", &s, &e) == SPMT_STATUS_NOT_SUPPORTED,
              "workflow");
        CHECK(e && strstr(spmt_error_message(e), "WORKFLOW"), "names the feature: %s",
              e ? spmt_error_message(e) : "-");
        spmt_error_free(e);
        e = NULL;
        CHECK(spmt_session_new("{\"PreserveUserPermissionsForFileShare\":true}", &s, &e) ==
                  SPMT_STATUS_NOT_SUPPORTED,
              "file share permissions");
        /* The facts behind it, for hosts that show a missing feature their own way. */
        CHECK(e && spmt_error_detail(e) &&
                  strstr(spmt_error_detail(e), "\"Key\":\"PreserveUserPermissionsForFileShare\"") &&
                  strstr(spmt_error_detail(e), "\"Feature\":\"preserving file share permissions\""),
              "detail: %s", e && spmt_error_detail(e) ? spmt_error_detail(e) : "-");
        spmt_error_free(e);
        e = NULL;
        CHECK(spmt_session_new("{\"Bogus\":1}", &s, &e) == SPMT_STATUS_INVALID_ARGUMENT && e &&
                  spmt_error_detail(e) == NULL,
              "no detail for a plain error");
        spmt_error_free(e);
        /* err may be NULL: the status alone comes back */
        CHECK(spmt_session_new("{\"ScanOnly\":\"yes\"}", &s, NULL) == SPMT_STATUS_INVALID_ARGUMENT, "type");
    }
    CHECK(s == SENTINEL, "out written on failure");

    /* --- a session --- */
    snprintf(settings, sizeof settings,
             "{\"WorkingFolder\":\"%s\",\"LocalTargetRoot\":\"%s\",\"PerItemEvents\":true,"
             "\"IncludeHiddenFiles\":true,\"EnableMultiRound\":true,\"MigrationType\":\"CONTENT\"}",
             work, target);
    EXPECT(spmt_session_new(settings, &s, err), SPMT_STATUS_OK);
    if (s == SENTINEL || s == NULL) {
        fprintf(stderr, "no session; giving up\n");
        return 1;
    }

    /* --- misuse: tasks and state --- */
    char *id = (char *)"untouched";
    EXPECT(spmt_session_add_task(NULL, "{}", &id, err), SPMT_STATUS_NULL_ARGUMENT);
    EXPECT(spmt_session_add_task(s, NULL, &id, err), SPMT_STATUS_NULL_ARGUMENT);
    EXPECT(spmt_session_add_task(s, "{}", NULL, err), SPMT_STATUS_NULL_ARGUMENT);
    EXPECT(spmt_session_add_task(s, "{\"SourcePath\":", &id, err), SPMT_STATUS_INVALID_JSON);
    EXPECT(spmt_session_add_task(s, "{\"SourcePath\":\"/x\xc3\"}", &id, err), SPMT_STATUS_INVALID_UTF8);
    EXPECT(spmt_session_add_task(s, "{\"SourcePath\":\"/x\",\"TargetPath\":\"local\"}", &id, err),
           SPMT_STATUS_INVALID_ARGUMENT);
    /* A SharePoint library needs its title; every library of a site at once (MigrateAll) is
       not supported; a farm account that is not {UserName, Password} is an invalid argument. */
    EXPECT(spmt_session_add_task(s,
                                 "{\"SourcePath\":\"http://onprem/sites/a\",\"TargetPath\":\"local\","
                                 "\"TargetList\":\"Documents\"}",
                                 &id, err),
           SPMT_STATUS_INVALID_ARGUMENT);
    EXPECT(spmt_session_add_task(s,
                                 "{\"SharePointSourceSiteUrl\":\"http://onprem/sites/a\",\"MigrateAll\":true,"
                                 "\"TargetPath\":\"local\"}",
                                 &id, err),
           SPMT_STATUS_NOT_SUPPORTED);
    EXPECT(spmt_session_add_task(s,
                                 "{\"SharePointSourceSiteUrl\":\"http://onprem/sites/a\",\"SourceList\":\"D\","
                                 "\"TargetPath\":\"local\",\"TargetList\":\"Documents\","
                                 "\"SharePointSourceCredential\":\"CONTOSO\\\\u:secret\"}",
                                 &id, err),
           SPMT_STATUS_INVALID_ARGUMENT);
    EXPECT(spmt_session_add_task(s,
                                 "{\"SourcePath\":\"/x\",\"TargetPath\":\"local\",\"TargetList\":\"D\","
                                 "\"Items\":{\"Lists\":[]}}",
                                 &id, err),
           SPMT_STATUS_NOT_SUPPORTED);
    CHECK(!strcmp(id, "untouched"), "out_task_id written on failure");
    EXPECT(spmt_session_remove_task(s, "not-a-guid", err), SPMT_STATUS_INVALID_ARGUMENT);
    EXPECT(spmt_session_remove_task(s, "2dc42197-33c3-4a1a-b957-92ac375c77a4", err), SPMT_STATUS_NOT_FOUND);
    EXPECT(spmt_session_remove_task(s, NULL, err), SPMT_STATUS_NULL_ARGUMENT);
    spmt_event_t *ev = NULL;
    CHECK(spmt_session_next_event(s, 0, &ev) == SPMT_STATUS_INVALID_STATE, "next_event before start");
    CHECK(spmt_session_wait(s, 0) == SPMT_STATUS_INVALID_STATE, "wait before start");
    CHECK(spmt_session_stop(s) == SPMT_STATUS_INVALID_STATE, "stop before start");
    {
        int calls = 0;
        EXPECT(spmt_session_start(s, never_called, &calls, count_free, err), SPMT_STATUS_INVALID_STATE);
        CHECK(calls == 0, "a refused start keeps nothing: free callback ran %d", calls);
    }

    /* --- the task --- */
    snprintf(task, sizeof task,
             "{\"SourcePath\":\"%s\",\"TargetPath\":\"local\",\"TargetList\":\"Documents\","
             "\"Settings\":{\"MigrateHiddenItems\":true,\"EnableIncremental\":true}}",
             share);
    id = NULL;
    EXPECT(spmt_session_add_task(s, task, &id, err), SPMT_STATUS_OK);
    CHECK(id && strlen(id) == 36, "a GUID task id");
    {
        char *dup = NULL;
        EXPECT(spmt_session_add_task(s, task, &dup, err), SPMT_STATUS_INVALID_ARGUMENT);
        CHECK(dup == NULL, "no id for a duplicate");
    }

    /* --- run 1: callbacks --- */
    recorder_t rec;
    recorder_init(&rec);
    double t0 = now_s();
    EXPECT(spmt_session_start(s, on_event, &rec, on_free, err), SPMT_STATUS_OK);
    {
        int calls = 0;
        EXPECT(spmt_session_start(s, never_called, &calls, count_free, err), SPMT_STATUS_INVALID_STATE);
        CHECK(calls == 0, "second start kept nothing (%d)", calls);
    }
    CHECK(spmt_session_next_event(s, 0, &ev) == SPMT_STATUS_INVALID_STATE, "next_event on a callback run");
    CHECK(spmt_session_wait(s, 0) == SPMT_STATUS_TIMEOUT, "wait(0) while running");
    CHECK(spmt_session_wait(s, UINT32_MAX) == SPMT_STATUS_OK, "wait");
    double t1 = now_s();
    pthread_mutex_lock(&rec.mu);
    printf("run 1: %.2f s, %lu item events (%lu migrated, %lu failed), %d callback threads, "
           "scan %lu package %lu upload %lu import %lu\n",
           t1 - t0, rec.migrated + rec.failed + rec.skipped, rec.migrated, rec.failed, rec.nthreads,
           rec.by_kind[SPMT_EVENT_SCAN], rec.by_kind[SPMT_EVENT_PACKAGE], rec.by_kind[SPMT_EVENT_UPLOAD],
           rec.by_kind[SPMT_EVENT_IMPORT]);
    CHECK(rec.freed == 1, "user_data_free ran once before wait returned (%d)", rec.freed);
    CHECK(rec.bad == 0, "%lu malformed events", rec.bad);
    CHECK(rec.after_finish == 0, "%d events after SESSION_FINISHED", rec.after_finish);
    CHECK(rec.by_kind[SPMT_EVENT_SESSION_FINISHED] == 1, "one session-finished");
    CHECK(rec.by_kind[SPMT_EVENT_TASK_STARTED] == 1 && rec.by_kind[SPMT_EVENT_TASK_FINISHED] == 1, "task events");
    CHECK(rec.by_kind[SPMT_EVENT_SCAN] >= 1 && rec.by_kind[SPMT_EVENT_UPLOAD] >= 1 &&
              rec.by_kind[SPMT_EVENT_IMPORT] >= 1,
          "progress events");
    CHECK(rec.migrated == (unsigned long)items - 1, "migrated item events %lu", rec.migrated);
    CHECK(rec.failed == 1 && rec.failed_with_code == 1, "one failed item with code and message");
    CHECK(rec.nthreads >= 2, "callbacks from %d threads", rec.nthreads);
    pthread_mutex_unlock(&rec.mu);

    /* --- the status JSON --- */
    char *json = NULL;
    EXPECT(spmt_session_status(s, &json, err), SPMT_STATUS_OK);
    CHECK(json && json_valid(json), "status JSON parses: %s", json ? json : "-");
    if (json) {
        CHECK(json_str_is(json, "Status", "Finished"), "session Finished");
        CHECK(json_str_is(json, "Result", "FinishedWithErrors"), "one item failed");
        CHECK(json_str_is(json, "StatusOfTasks.0.TaskId", id), "task id");
        CHECK(json_str_is(json, "StatusOfTasks.0.Status", "COMPLETED_WITH_ERRORS"), "task status");
        /* SPMT counts files: 30 + the hidden one + the refused name */
        CHECK(json_num(json, "StatusOfTasks.0.NumScannedTotalFiles") == files, "scanned %ld",
              json_num(json, "StatusOfTasks.0.NumScannedTotalFiles"));
        CHECK(json_num(json, "StatusOfTasks.0.NumActuallyMigratedFiles") == files - 1, "migrated %ld",
              json_num(json, "StatusOfTasks.0.NumActuallyMigratedFiles"));
        CHECK(json_num(json, "StatusOfTasks.0.NumScannedBadFiles") == 1, "bad");
        CHECK(json_num(json, "StatusOfTasks.0.NumFailedFiles") == 1, "failed");
        CHECK(json_get(json, "StatusOfTasks.0.MigratingProgressPercentage") != NULL, "progress field");
        CHECK(json_get(json, "StatusOfTasks.0.ReportFolder") != NULL, "report folder field");
        printf("status: %s\n", json);
    }
    spmt_string_free(json);

    /* --- the migrated bytes, in the local target --- */
    snprintf(path, sizeof path, "%s/sites/local/Documents/dept1/a/f00.txt", target);
    char *got = read_file(path);
    CHECK(got && !strncmp(got, "file 0\n", 7), "migrated file %s", path);
    snprintf(path, sizeof path, "%s/sites/local/Documents/dept1/.hidden", target);
    CHECK(read_file(path) != NULL, "hidden file migrated");

    /* --- run 2 (incremental round) through the pull API --- */
    snprintf(path, sizeof path, "%s/a/f00.txt", share);
    write_file(path, "file 0, changed\n");
    snprintf(path, sizeof path, "%s/c/new.txt", share);
    write_file(path, "new in round 2\n");
    EXPECT(spmt_session_start(s, NULL, NULL, NULL, err), SPMT_STATUS_OK);
    recorder_t pulled;
    recorder_init(&pulled);
    spmt_status_t st;
    int timeouts = 0;
    double until = now_s() + 120;
    ev = NULL;
    while ((st = spmt_session_next_event(s, 500, &ev)) != SPMT_STATUS_DONE && now_s() < until) {
        if (st == SPMT_STATUS_TIMEOUT) {
            CHECK(ev == NULL, "out written on timeout");
            timeouts++;
            continue;
        }
        CHECK(st == SPMT_STATUS_OK, "next_event %u", (unsigned)st);
        if (st != SPMT_STATUS_OK) break;
        note_event(&pulled, ev);
        spmt_event_free(ev);
        ev = NULL;
    }
    CHECK(st == SPMT_STATUS_DONE, "pulled to the end");
    CHECK(spmt_session_next_event(s, 0, &ev) == SPMT_STATUS_DONE, "DONE again");
    CHECK(spmt_session_wait(s, 1000) == SPMT_STATUS_OK, "finished");
    printf("run 2 (pull): %lu migrated, %lu skipped, %lu failed, %d timeouts\n", pulled.migrated,
           pulled.skipped, pulled.failed, timeouts);
    CHECK(pulled.bad == 0 && pulled.after_finish == 0, "pulled events well formed");
    CHECK(pulled.by_kind[SPMT_EVENT_SESSION_FINISHED] == 1, "pull: session finished");
    CHECK(pulled.migrated == 2, "round 2 sends the changed and the new file only (%lu)", pulled.migrated);
    CHECK(pulled.skipped == (unsigned long)items - 2, "unchanged items skipped (%lu)", pulled.skipped);
    snprintf(path, sizeof path, "%s/sites/local/Documents/dept1/a/f00.txt", target);
    got = read_file(path);
    CHECK(got && !strcmp(got, "file 0, changed\n"), "changed file in the target");

    /* --- remove, stop, free while running --- */
    for (int i = 0; i < (quick ? 200 : 600); i++) {
        snprintf(path, sizeof path, "%s/big/d%d", dir, i % 10);
        mkdirs(path);
        snprintf(path, sizeof path, "%s/big/d%d/g%04d.bin", dir, i % 10, i);
        write_file(path, "%0*d", 2000 + i, i);
    }
    /* The local target's libraries must exist, as a site's do: a folder makes one. */
    snprintf(path, sizeof path, "%s/sites/local/Big", target);
    mkdirs(path);
    snprintf(task, sizeof task, "{\"SourcePath\":\"%s/big\",\"TargetPath\":\"local\",\"TargetList\":\"Big\"}", dir);
    char *id2 = NULL;
    EXPECT(spmt_session_add_task(s, task, &id2, err), SPMT_STATUS_OK);
    EXPECT(spmt_session_remove_task(s, id, err), SPMT_STATUS_OK); /* not running: fine */
    EXPECT(spmt_session_remove_task(s, id, err), SPMT_STATUS_NOT_FOUND);
    recorder_t rec3;
    recorder_init(&rec3);
    EXPECT(spmt_session_start(s, on_event, &rec3, on_free, err), SPMT_STATUS_OK);
    CHECK(wait_task_status(s, "INPROGRESS", 30), "task running");
    EXPECT(spmt_session_remove_task(s, id2, err), SPMT_STATUS_INVALID_STATE);
    CHECK(spmt_session_stop(s) == SPMT_STATUS_OK, "stop");
    CHECK(spmt_session_wait(s, 60000) == SPMT_STATUS_OK, "stopped run ends");
    CHECK(spmt_session_stop(s) == SPMT_STATUS_INVALID_STATE, "stop when not running");
    json = NULL;
    EXPECT(spmt_session_status(s, &json, err), SPMT_STATUS_OK);
    if (json) {
        CHECK(json_str_is(json, "StatusOfTasks.0.Status", "STOPPED") ||
                  json_str_is(json, "StatusOfTasks.0.Status", "COMPLETED"),
              "stopped task: %s", json);
        printf("after stop: %s\n", json);
    }
    spmt_string_free(json);
    CHECK(rec3.freed == 1, "finalizer after the stopped run");

    recorder_t rec4;
    recorder_init(&rec4);
    EXPECT(spmt_session_start(s, on_event, &rec4, on_free, err), SPMT_STATUS_OK);
    sleep_ms(50);
    double f0 = now_s();
    spmt_session_free(s);
    double f1 = now_s();
    printf("free while running: %.2f s\n", f1 - f0);
    CHECK(f1 - f0 < 15, "free does not hang (%.1f s)", f1 - f0);
    CHECK(rec4.freed == 1, "finalizer ran by the time free returned (%d)", rec4.freed);

    /* --- freed and forged handles, NULLs --- */
    char *id3 = NULL;
    EXPECT(spmt_session_add_task(s, task, &id3, err), SPMT_STATUS_INVALID_HANDLE);
    EXPECT(spmt_session_status(s, &json, err), SPMT_STATUS_INVALID_HANDLE);
    EXPECT(spmt_session_start(s, NULL, NULL, NULL, err), SPMT_STATUS_INVALID_HANDLE);
    EXPECT(spmt_session_remove_task(s, id2, err), SPMT_STATUS_INVALID_HANDLE);
    CHECK(spmt_session_wait(s, 0) == SPMT_STATUS_INVALID_HANDLE, "wait on freed");
    CHECK(spmt_session_stop(s) == SPMT_STATUS_INVALID_HANDLE, "stop on freed");
    CHECK(spmt_session_next_event(s, 0, &ev) == SPMT_STATUS_INVALID_HANDLE, "next_event on freed");
    spmt_session_free(s); /* double free: no-op */
    spmt_session_t *forged = (spmt_session_t *)(uintptr_t)0xdeadbeef0;
    CHECK(spmt_session_wait(forged, 0) == SPMT_STATUS_INVALID_HANDLE, "forged handle");
    spmt_session_free(forged);
    CHECK(spmt_session_wait(NULL, 0) == SPMT_STATUS_NULL_ARGUMENT, "NULL handle");
    CHECK(spmt_session_stop(NULL) == SPMT_STATUS_NULL_ARGUMENT, "NULL handle");
    CHECK(spmt_session_next_event(NULL, 0, &ev) == SPMT_STATUS_NULL_ARGUMENT, "NULL handle");
    EXPECT(spmt_session_status(NULL, &json, err), SPMT_STATUS_NULL_ARGUMENT);
    spmt_session_free(NULL);
    spmt_event_free(NULL);
    spmt_string_free(NULL);
    spmt_error_free(NULL);
    CHECK(spmt_error_message(NULL) == NULL, "message of NULL");
    CHECK(spmt_error_detail(NULL) == NULL, "detail of NULL");
    CHECK(spmt_error_status(NULL) == SPMT_STATUS_NULL_ARGUMENT, "status of NULL");
    spmt_string_free(id);
    spmt_string_free(id2);

    /* --- callback overhead --- */
    unsigned long per = quick ? 2000 : 500000;
    for (unsigned threads = 1; threads <= 4; threads *= 4) {
        atomic_store(&bench_count, 0);
        double rate = spmt_bench_callbacks(bench_cb, NULL, threads, per);
        CHECK(atomic_load(&bench_count) == threads * per, "bench delivered %lu", atomic_load(&bench_count));
        printf("callback overhead: %u thread(s) x %lu events: %.0f events/s (%.0f ns/event)\n", threads,
               per, rate, rate > 0 ? 1e9 / rate : 0);
    }

    printf("%d checks, %d failed\n", checks, failures);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
