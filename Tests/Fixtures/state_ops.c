/* state_ops: a C plugin that calls state_transaction and state_list_page directly (ABI 1.6),
 * state_get_inline (ABI 1.7) and state_get_now (ABI 1.9).
 *   GET /state-ops/run     runs the cases below in order, one after the other's completion, and
 *                          answers one line per case: "<name> <status> <number>"
 * A case's status is what the call returned when it refused the call (done is never called
 * then, rule 9), else what the completion reported. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <switchboard_kit.h>

static const sb_host_api *host;
static sb_plugin *self;

#define S(text) {text, sizeof text - 1}
#define B(text) {(const uint8_t *)text, sizeof text - 1}

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    int done;
    sb_status status;
    int64_t number;
    size_t entries;
    char first_key[64];
    pthread_t completed_on;     /* the thread that ran the completion */
} waiter;

static void completed(void *user, sb_status status, const sb_state_result *result) {
    waiter *w = user;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    w->number = result ? result->number : -1;
    w->entries = result ? result->entry_count : 0;
    w->first_key[0] = 0;
    if (result && result->entry_count > 0) {
        size_t n = result->entries[0].key.len < 63 ? result->entries[0].key.len : 63;
        memcpy(w->first_key, result->entries[0].key.ptr, n);
        w->first_key[n] = 0;
    }
    w->completed_on = pthread_self();
    w->done = 1;
    pthread_cond_signal(&w->ready);
    pthread_mutex_unlock(&w->lock);
}

/* Waits for the completion of a call that returned SB_OK; a refused call is reported as is. */
static void finish(waiter *w, sb_status returned, sbk_buf *out, const char *name) {
    if (returned != SB_OK) {
        sbk_buf_printf(out, "%s refused %d\n", name, (int)returned);
        return;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->done) pthread_cond_wait(&w->ready, &w->lock);
    w->done = 0;
    pthread_mutex_unlock(&w->lock);
    sbk_buf_printf(out, "%s %d %lld %zu %s\n", name, (int)w->status, (long long)w->number, w->entries, w->first_key);
}

/* state_get_inline until it answers inside the call (the store may still be letting go of the
 * previous call: then it queues), at most 200 times; reports where the last one was answered:
 * inline when its completion ran on this thread (a queued one runs on the store thread, and may
 * have run already by the time the call returns). */
static void read_inline(waiter *w, sb_str key, sbk_buf *out, const char *name, int retry) {
    int attempt, answered_inline = 0;
    sb_status returned = SB_OK;
    for (attempt = 0; attempt < (retry ? 200 : 1); attempt++) {
        returned = host->state_get_inline(self, key, completed, w);
        pthread_mutex_lock(&w->lock);
        answered_inline = returned == SB_OK && w->done && pthread_equal(w->completed_on, pthread_self());
        pthread_mutex_unlock(&w->lock);
        if (answered_inline || attempt + 1 == (retry ? 200 : 1)) break;
        finish(w, returned, out, "retry");
        usleep(1000);
    }
    sbk_buf_printf(out, "%s-where %s\n", name, answered_inline ? "inline" : "queued");
    finish(w, returned, out, name);
}

/* One of two threads reading k2 inline at the same time, 500 times: counts the reads answered
 * with k2's value, and those answered inside the call (the two take turns; how many get theirs
 * within the wait depends on the scheduler, so that count is reported, not checked). */
typedef struct reader { waiter w; int answered_inline, answered; } reader;
static void *read_k2_inline(void *arg) {
    reader *r = arg;
    int i;
    for (i = 0; i < 500; i++) {
        sb_status returned = host->state_get_inline(self, (sb_str)S("k2"), completed, &r->w);
        if (returned != SB_OK) continue;
        pthread_mutex_lock(&r->w.lock);
        if (r->w.done && pthread_equal(r->w.completed_on, pthread_self())) r->answered_inline++;
        while (!r->w.done) pthread_cond_wait(&r->w.ready, &r->w.lock);
        if (r->w.status == SB_OK) r->answered++;
        r->w.done = 0;
        pthread_mutex_unlock(&r->w.lock);
    }
    return NULL;
}

/* A lock cycle the ABI allows (rule 8): thread B holds `cycle_lock` and reads inline while
 * thread A's inline completion takes `cycle_lock`. B must not wait for A's turn for long: its read
 * is queued, B lets go of the lock, and both complete. */
static pthread_mutex_t cycle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cycle_state = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cycle_changed = PTHREAD_COND_INITIALIZER;
static int a_in_done, a_done;
static void cycle_done_a(void *user, sb_status status, const sb_state_result *result) {
    (void)user, (void)status, (void)result;
    pthread_mutex_lock(&cycle_state);
    a_in_done = 1;
    pthread_cond_broadcast(&cycle_changed);
    pthread_mutex_unlock(&cycle_state);
    pthread_mutex_lock(&cycle_lock);  /* held by B until its own read returns */
    pthread_mutex_unlock(&cycle_lock);
    pthread_mutex_lock(&cycle_state);
    a_done = 1;
    pthread_cond_broadcast(&cycle_changed);
    pthread_mutex_unlock(&cycle_state);
}
static void *cycle_thread_a(void *arg) {
    (void)arg;
    if (host->state_get_inline(self, (sb_str)S("k2"), cycle_done_a, NULL) != SB_OK) {
        pthread_mutex_lock(&cycle_state);
        a_in_done = a_done = -1;
        pthread_cond_broadcast(&cycle_changed);
        pthread_mutex_unlock(&cycle_state);
    }
    return NULL;
}

/* state_get_now's visit: the value, as text, and how many times it was called. */
typedef struct seen { char text[64]; int visits; } seen;
static void visit(void *user, sb_bytes value) {
    seen *v = user;
    size_t n = value.len < 63 ? value.len : 63;
    if (n > 0) memcpy(v->text, value.ptr, n);
    v->text[n] = 0;
    v->visits++;
}

/* "<name> <status> <visits> <value>" for a state_get_now, tried again while it answers
 * SB_ERR_WOULD_BLOCK, 1 ms apart, for up to `retry_ms` milliseconds: the store thread may still be
 * letting go of the last call. */
static void read_now(sb_str key, sbk_buf *out, const char *name, int retry_ms) {
    seen v;
    sb_status status;
    int waited = 0;
    for (;;) {
        memset(&v, 0, sizeof v);
        status = host->state_get_now(self, key, visit, &v);
        if (status != SB_ERR_WOULD_BLOCK || waited >= retry_ms) break;
        usleep(1000);
        waited++;
    }
    sbk_buf_printf(out, "%s %d %d %s\n", name, (int)status, v.visits, v.visits ? v.text : "-");
}

/* state_get_now from inside a completion: an inline one's (the value is answered) and a queued
 * one's (the drain holds the store: SB_ERR_WOULD_BLOCK). */
static seen seen_in_done;
static sb_status now_in_done;
static void done_reads_now(void *user, sb_status status, const sb_state_result *result) {
    memset(&seen_in_done, 0, sizeof seen_in_done);
    now_in_done = host->state_get_now(self, (sb_str)S("k2"), visit, &seen_in_done);
    completed(user, status, result);
}

/* A thread reading k2 with state_get_now until told to stop, while another replaces it ("c",
 * then "v0", "v1", …): counts the reads answered, and those that were wrong: a value never
 * written, one older than this thread had already read, or a status other than SB_OK and
 * SB_ERR_WOULD_BLOCK. */
typedef struct now_reader { long answered, wrong; } now_reader;
static atomic_int stop_now_readers;
static void *read_k2_now(void *arg) {
    now_reader *r = arg;
    long last = -1;  /* "c" */
    while (!atomic_load(&stop_now_readers)) {
        seen v;
        sb_status status;
        memset(&v, 0, sizeof v);
        status = host->state_get_now(self, (sb_str)S("k2"), visit, &v);
        if (status == SB_ERR_WOULD_BLOCK) {  /* a put is queued or committing: let it have the CPU */
            sched_yield();
            continue;
        }
        if (status != SB_OK || v.visits != 1) { r->wrong++; continue; }
        r->answered++;
        if (strcmp(v.text, "c") == 0) {
            if (last > -1) r->wrong++;
        } else if (v.text[0] == 'v') {
            long n = strtol(v.text + 1, NULL, 10);
            if (n < last) r->wrong++;
            last = n;
        } else {
            r->wrong++;
        }
    }
    return NULL;
}

static sb_state_op op(uint32_t kind, sb_str key, sb_bytes value) {
    sb_state_op o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.kind = kind;
    o.key = key;
    o.value = value;
    return o;
}

static sb_status run(void *data, sb_request *req) {
    waiter w;
    sbk_buf out = {0};
    sb_status result;
    sb_state_op ops[4];
    char key[16];
    int i;
    (void)data;
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.ready, NULL);
    w.done = 0;

    /* Seed: k1 = a, k2 = b, all or none. */
    ops[0] = op(SB_STATE_OP_EXPECT_ABSENT, (sb_str)S("k1"), (sb_bytes){NULL, 0});
    ops[1] = op(SB_STATE_OP_PUT, (sb_str)S("k1"), (sb_bytes)B("a"));
    ops[2] = op(SB_STATE_OP_PUT, (sb_str)S("k2"), (sb_bytes)B("b"));
    finish(&w, host->state_transaction(self, ops, 3, completed, &w), &out, "seed");
    /* A failing EXPECT at index 2: nothing applies (k3 stays absent). */
    ops[0] = op(SB_STATE_OP_PUT, (sb_str)S("k3"), (sb_bytes)B("c"));
    ops[1] = op(SB_STATE_OP_DELETE, (sb_str)S("k1"), (sb_bytes){NULL, 0});
    ops[2] = op(SB_STATE_OP_EXPECT, (sb_str)S("k2"), (sb_bytes)B("not b"));
    finish(&w, host->state_transaction(self, ops, 3, completed, &w), &out, "conflict");
    finish(&w, host->state_get(self, (sb_str)S("k3"), completed, &w), &out, "k3-after-conflict");
    finish(&w, host->state_get(self, (sb_str)S("k1"), completed, &w), &out, "k1-after-conflict");
    /* Refused before anything runs: an unknown kind, a short struct, a size that changes, none. */
    ops[0] = op(99, (sb_str)S("k1"), (sb_bytes){NULL, 0});
    finish(&w, host->state_transaction(self, ops, 1, completed, &w), &out, "unknown-kind");
    ops[0] = op(SB_STATE_OP_PUT, (sb_str)S("k1"), (sb_bytes)B("x"));
    ops[0].struct_size = 8;
    finish(&w, host->state_transaction(self, ops, 1, completed, &w), &out, "short-struct");
    ops[0] = op(SB_STATE_OP_PUT, (sb_str)S("k1"), (sb_bytes)B("x"));
    ops[1] = op(SB_STATE_OP_PUT, (sb_str)S("k2"), (sb_bytes)B("y"));
    ops[1].struct_size = sizeof ops[1] + 8;
    finish(&w, host->state_transaction(self, ops, 2, completed, &w), &out, "uneven-sizes");
    finish(&w, host->state_transaction(self, ops, 0, completed, &w), &out, "no-ops");
    finish(&w, host->state_transaction(self, NULL, 1, completed, &w), &out, "null-ops");
    finish(&w, host->state_get(self, (sb_str)S("k1"), completed, &w), &out, "k1-unchanged");
    /* Keys, prefixes and topics that are not UTF-8 are refused, not repaired: "k\xFF" and "k\xFE"
     * would both have been "k" U+FFFD, one key. */
    finish(&w, host->state_put(self, (sb_str)S("k\xFF"), (sb_bytes)B("x"), completed, &w), &out, "put-not-utf8");
    finish(&w, host->state_get(self, (sb_str)S("k\xFE"), completed, &w), &out, "get-not-utf8");
    finish(&w, host->state_get_inline(self, (sb_str)S("k\xFE"), completed, &w), &out, "inline-not-utf8");
    finish(&w, host->state_list_page(self, (sb_str)S("p\xC3"), (sb_str){NULL, 0}, 0, 0, completed, &w), &out, "list-not-utf8");
    ops[0] = op(SB_STATE_OP_PUT, (sb_str)S("k\xFF"), (sb_bytes)B("x"));
    finish(&w, host->state_transaction(self, ops, 1, completed, &w), &out, "op-not-utf8");
    finish(&w, host->state_get(self, (sb_str)S("k\xEF\xBF\xBD"), completed, &w), &out, "repaired-key-absent");
    sbk_buf_printf(&out, "publish-not-utf8 %d\n", (int)host->topic_publish(self, (sb_str)S("t\xFF"), (sb_bytes)B("m"), NULL));
    /* Pages: p/00 … p/09, then skip 7 of them. */
    for (i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "p/%02d", i);
        ops[0] = op(SB_STATE_OP_PUT, (sb_str){key, strlen(key)}, (sb_bytes)B("v"));
        finish(&w, host->state_transaction(self, ops, 1, completed, &w), &out, "put");
    }
    finish(&w, host->state_list_page(self, (sb_str)S("p/"), (sb_str){NULL, 0}, 7, 2, completed, &w), &out, "page-skip-7");
    finish(&w, host->state_list_page(self, (sb_str)S("p/"), (sb_str)S("p/03"), 2, 10, completed, &w), &out, "page-after-03-skip-2");
    /* Read inline: k2 (written by the seed) is at hand; "never" is not, until it was asked once. */
    read_inline(&w, (sb_str)S("k2"), &out, "inline-k2", 1);
    read_inline(&w, (sb_str)S("never"), &out, "inline-never", 0);
    read_inline(&w, (sb_str)S("never"), &out, "inline-never-again", 1);
    /* A key past ASCII, written through a transaction (the host keeps it as a string): an inline
     * read finds it by the plugin's bytes. Its decomposed twin (e, U+0301: canonically equivalent,
     * other bytes) is another key, absent. */
    ops[0] = op(SB_STATE_OP_PUT, (sb_str)S("caf\xC3\xA9 \xE2\x9C\x93"), (sb_bytes)B("v"));
    finish(&w, host->state_transaction(self, ops, 1, completed, &w), &out, "put-utf8-key");
    read_inline(&w, (sb_str)S("caf\xC3\xA9 \xE2\x9C\x93"), &out, "inline-utf8", 1);
    read_inline(&w, (sb_str)S("cafe\xCC\x81 \xE2\x9C\x93"), &out, "inline-utf8-decomposed", 1);
    {
        reader readers[2];
        pthread_t threads[2];
        for (i = 0; i < 2; i++) {
            memset(&readers[i], 0, sizeof readers[i]);
            pthread_mutex_init(&readers[i].w.lock, NULL);
            pthread_cond_init(&readers[i].w.ready, NULL);
            pthread_create(&threads[i], NULL, read_k2_inline, &readers[i]);
        }
        for (i = 0; i < 2; i++) pthread_join(threads[i], NULL);
        sbk_buf_printf(&out, "inline-concurrent %d %d\n", readers[0].answered + readers[1].answered,
                       readers[0].answered_inline + readers[1].answered_inline);
    }
    {
        pthread_t a;
        sb_status returned;
        pthread_mutex_lock(&cycle_lock);
        pthread_create(&a, NULL, cycle_thread_a, NULL);
        pthread_mutex_lock(&cycle_state);
        while (!a_in_done) pthread_cond_wait(&cycle_changed, &cycle_state);
        pthread_mutex_unlock(&cycle_state);
        /* A answers inline and waits for cycle_lock: this read cannot have its turn. */
        returned = host->state_get_inline(self, (sb_str)S("k2"), completed, &w);
        pthread_mutex_unlock(&cycle_lock);
        finish(&w, returned, &out, "inline-lock-cycle");
        pthread_join(a, NULL);
        sbk_buf_printf(&out, "inline-lock-cycle-a %d\n", a_done);
    }
    /* state_get_now: k2 is at hand (read above); "never" is known absent (read inline above);
     * "unasked" was never read: not at hand, until a state_get found it absent. */
    read_now((sb_str)S("k2"), &out, "now-k2", 5000);
    read_now((sb_str)S("never"), &out, "now-never", 5000);
    read_now((sb_str)S("unasked"), &out, "now-unasked", 0);
    /* Nothing was queued by asking: it stays not at hand (a read queued would have made its
     * absence known within these 300 ms). */
    read_now((sb_str)S("unasked"), &out, "now-unasked-still", 300);
    finish(&w, host->state_get(self, (sb_str)S("unasked"), completed, &w), &out, "get-unasked");
    read_now((sb_str)S("unasked"), &out, "now-unasked-again", 5000);
    read_now((sb_str)S("k\xFE"), &out, "now-not-utf8", 0);
    sbk_buf_printf(&out, "now-null-visit %d\n", (int)host->state_get_now(self, (sb_str)S("k2"), NULL, NULL));
    sbk_buf_printf(&out, "now-null-plugin %d\n", (int)host->state_get_now(NULL, (sb_str)S("k2"), visit, &w));
    /* Inside completions. */
    for (i = 0; i < 200; i++) {
        sb_status returned = host->state_get_inline(self, (sb_str)S("k2"), done_reads_now, &w);
        int here;
        pthread_mutex_lock(&w.lock);
        here = returned == SB_OK && w.done && pthread_equal(w.completed_on, pthread_self());
        pthread_mutex_unlock(&w.lock);
        finish(&w, returned, &out, "inline-for-now");
        if (here) break;
        usleep(1000);
    }
    sbk_buf_printf(&out, "now-in-inline-done %d %d %s\n", (int)now_in_done, seen_in_done.visits, seen_in_done.visits ? seen_in_done.text : "-");
    finish(&w, host->state_get(self, (sb_str)S("k2"), done_reads_now, &w), &out, "queued-for-now");
    sbk_buf_printf(&out, "now-in-queued-done %d %d\n", (int)now_in_done, seen_in_done.visits);
    /* Behind a write not yet completed: never the value it replaces (the write is queued or
     * committing: SB_ERR_WOULD_BLOCK; or committed already: its value). */
    {
        waiter put;
        seen v = {{0}, 0};
        sb_status returned, now;
        memset(&put, 0, sizeof put);
        pthread_mutex_init(&put.lock, NULL);
        pthread_cond_init(&put.ready, NULL);
        returned = host->state_put(self, (sb_str)S("k2"), (sb_bytes)B("c"), completed, &put);
        now = host->state_get_now(self, (sb_str)S("k2"), visit, &v);
        finish(&put, returned, &out, "put-k2");
        sbk_buf_printf(&out, "now-behind-put %s\n",
                       now == SB_ERR_WOULD_BLOCK || (now == SB_OK && strcmp(v.text, "c") == 0) ? "ok" : "stale");
        read_now((sb_str)S("k2"), &out, "now-after-put", 5000);
        /* Two threads reading at once while this one replaces k2 fifty times, each put awaited:
         * every put completes (readers in the way never hold the store thread off), no reader
         * ever sees a value older than one it saw, and after each put this thread reads its
         * value (read-your-writes). */
        {
            now_reader readers[2];
            pthread_t threads[2];
            int puts_ok = 0, own_reads_ok = 0;
            char value[16], line[64];
            memset(readers, 0, sizeof readers);
            atomic_store(&stop_now_readers, 0);
            for (i = 0; i < 2; i++) pthread_create(&threads[i], NULL, read_k2_now, &readers[i]);
            for (i = 0; i < 50; i++) {
                sbk_buf scratch = {0};
                snprintf(value, sizeof value, "v%d", i);
                sb_status queued = host->state_put(self, (sb_str)S("k2"), (sb_bytes){(const uint8_t *)value, strlen(value)}, completed, &put);
                finish(&put, queued, &scratch, "put");
                if (queued == SB_OK && put.status == SB_OK) puts_ok++;
                read_now((sb_str)S("k2"), &scratch, "own", 5000);
                snprintf(line, sizeof line, "own 0 1 %s\n", value);
                if (scratch.len >= strlen(line) && memcmp(scratch.data + scratch.len - strlen(line), line, strlen(line)) == 0) own_reads_ok++;
                sbk_buf_free(&scratch);
            }
            atomic_store(&stop_now_readers, 1);
            for (i = 0; i < 2; i++) pthread_join(threads[i], NULL);
            sbk_buf_printf(&out, "now-concurrent %d %d %ld %s\n", puts_ok, own_reads_ok, readers[0].wrong + readers[1].wrong,
                           readers[0].answered + readers[1].answered > 0 ? "answered" : "none");
        }
        pthread_cond_destroy(&put.ready);
        pthread_mutex_destroy(&put.lock);
    }
    result = sbk_respond(host, req, 200, "text/plain", &out);
    sbk_buf_free(&out);
    pthread_cond_destroy(&w.ready);
    pthread_mutex_destroy(&w.lock);
    return result;
}

static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    (void)s;
    host = h;
    self = p;
    return sbk_route(h, p, "GET", "/state-ops/run", run, NULL, "", NULL, NULL, 0, SB_ROUTE_BLOCKING);
}

static const sb_plugin_descriptor d = {sizeof d, SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0, "state-ops", "1.0.0",
                                       "calls state_transaction and state_list_page", init, NULL};
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
