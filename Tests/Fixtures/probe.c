/*
 * probe: a well-behaved plugin that exercises the edges of the ABI, for the host's tests.
 *
 *   GET  /probe/fail        returns an error without responding            -> 500
 *   GET  /probe/caf\u00e9, GET and POST /probe/cafe\u0301: two paths that differ only in
 *                           normalization (-> "composed", "decomposed")
 *   GET  /probe/silent      returns SB_OK without responding               -> 500
 *   GET  /probe/pending     SB_PENDING, answered 20 ms later from a thread -> 200 "late"
 *   GET  /probe/blocking    SB_ROUTE_BLOCKING: sleeps on the pool          -> 200 "blocked"
 *   POST /probe/echo        method, query q, header x-probe and body        -> 200 text
 *   GET  /probe/rules       checks refusals (bad header, second response)  -> 200 "ok" or what failed
 *   GET  /probe/query-names?caf%C3%A9=composed&cafe%CC%81=decomposed&%FF=replaced&=empty+name
 *                           query parameter names matched by their bytes     -> 200 "ok" or what failed
 *   GET  /probe/borrowed    a borrowed body; /probe/released counts releases
 *   GET  /probe/state       state_increment("hits"), answered from the store callback
 *   GET  /probe/topic       subscribe, publish, answer with the delivered message
 *   POST /probe/upload      SB_ROUTE_STREAM_BODY, limit 64 KiB: counts the bytes
 *   GET  /probe/flood       streams until the queue is full, waits on on_writable and on_close;
 *                           on_close finishes the stream. /probe/late counts callbacks that ran
 *                           after stream_finish returned (the ABI promises none).
 *   GET  /probe/latin1-file serves <header x-dir>/caf\xE9.txt, a file name that is not UTF-8
 *   GET  /probe/spin        never returns: spins on the thread that runs it (the watchdog's test)
 */
#include <switchboard.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const sb_host_api *host;
static sb_plugin *self;
static int released;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }
static sb_bytes bytes(const void *p, size_t n) { sb_bytes out = {(const uint8_t *)p, n}; return out; }
static sb_status text(sb_request *req, uint16_t status, const char *body) {
    host->response_header_add(req, str("content-type"), str("text/plain"));
    return host->response_send(req, status, bytes(body, strlen(body)));
}

static sb_status fail(void *d, sb_request *req) { (void)d; (void)req; return SB_ERR_INTERNAL; }
static sb_status silent(void *d, sb_request *req) { (void)d; (void)req; return SB_OK; }
/* Two spellings of one word: U+00E9, and e with U+0301; two paths, as their bytes differ. */
static sb_status composed(void *d, sb_request *req) { (void)d; return text(req, 200, "composed"); }
static sb_status decomposed(void *d, sb_request *req) { (void)d; return text(req, 200, "decomposed"); }

static void *answer_late(void *req) {
    usleep(20 * 1000);
    text(req, 200, "late");
    return NULL;
}
static sb_status pending(void *d, sb_request *req) {
    pthread_t t;
    (void)d;
    if (pthread_create(&t, NULL, answer_late, req) != 0) return SB_ERR_INTERNAL;
    pthread_detach(t);
    return SB_PENDING;
}

static sb_status blocking(void *d, sb_request *req) {
    (void)d;
    usleep(10 * 1000);
    return text(req, 200, "blocked");
}

static sb_status echo(void *d, sb_request *req) {
    sb_str method = {0, 0}, q = {0, 0}, h = {0, 0};
    sb_bytes body = {0, 0};
    char out[4096];
    (void)d;
    host->request_method(req, &method);
    host->request_query_param(req, str("q"), 0, &q);
    host->request_header(req, str("X-Probe"), 0, &h);
    host->request_body(req, &body);
    snprintf(out, sizeof out, "method=%.*s q=%.*s x-probe=%.*s body=%.*s", (int)method.len, method.ptr,
             (int)q.len, q.ptr, (int)h.len, h.ptr, (int)body.len, (const char *)body.ptr);
    return text(req, 200, out);
}

static sb_status rules(void *d, sb_request *req) {
    sb_stream *stream;
    sb_str missing, second, hostValue;
    size_t count = 0;
    const char *problem = NULL;
    (void)d;
    if (host->response_header_add(req, str("x-bad"), str("a\r\nInjected: yes")) != SB_ERR_INVALID_ARGUMENT)
        problem = "a header value with CR LF was accepted";
    else if (host->response_header_add(req, str("bad name"), str("v")) != SB_ERR_INVALID_ARGUMENT)
        problem = "a header name with a space was accepted";
    else if (host->response_header_add(req, str(""), str("v")) != SB_ERR_INVALID_ARGUMENT
             || host->response_header_add(req, (sb_str){NULL, 6}, str("v")) != SB_ERR_INVALID_ARGUMENT
             || host->response_header_add(req, str("x-caf\xE9"), str("v")) != SB_ERR_INVALID_ARGUMENT)
        problem = "an empty, NULL or Latin-1 header name was accepted";
    else if (host->response_header_add(req, str("x-latin1"), str("caf\xE9")) != SB_ERR_INVALID_ARGUMENT
             || host->response_header_add(req, str("x-nul"), (sb_str){"a\0b", 3}) != SB_ERR_INVALID_ARGUMENT
             || host->response_header_add(req, str("x-del"), str("a\x7F")) != SB_ERR_INVALID_ARGUMENT
             || host->response_header_add(req, str("x-surrogate"), str("\xED\xA0\x80")) != SB_ERR_INVALID_ARGUMENT
             || host->response_header_add(req, str("x-padded"), str(" v")) != SB_ERR_INVALID_ARGUMENT
             || host->response_header_add(req, str("x-padded"), str("v\t")) != SB_ERR_INVALID_ARGUMENT)
        problem = "a header value that is not UTF-8, holds a NUL or DEL, or has whitespace around it was accepted";
    else if (host->response_header_add(req, str("X-Upper-Case"), str("kept")) != SB_OK)
        problem = "a header name in upper case was refused";
    else if (host->response_header_add(req, str("x-utf8"), str("caf\xC3\xA9 \xE2\x9C\x93")) != SB_OK)
        problem = "a UTF-8 header value (obs-text on the wire) was refused";
    else if (host->request_path_param(req, str("nope"), &missing) != SB_ERR_NOT_FOUND)
        problem = "a missing path parameter was found";
    else if (host->request_header(req, str("bad name"), 0, &missing) != SB_ERR_INVALID_ARGUMENT
             || host->request_header(req, str(""), 0, &missing) != SB_ERR_INVALID_ARGUMENT
             || host->request_header(req, str("x-caf\xC3\xA9"), 0, &missing) != SB_ERR_INVALID_ARGUMENT)
        problem = "a header name that is not a token was looked up";
    else if (host->request_header(req, str("If-Modified-Since-Not-Sent"), 0, &missing) != SB_ERR_NOT_FOUND)
        problem = "a header that was not sent was found";
    else if (host->request_header(req, str("HOST"), 0, &hostValue) != SB_OK)
        problem = "the Host field was not found by its name in upper case";
    else if (host->request_header(req, str("host"), 1, &missing) != SB_ERR_NOT_FOUND)
        problem = "a second Host line was found";
    else if (host->request_header_at(req, 0, &missing, &second) != SB_OK || missing.len != 4 || memcmp(missing.ptr, "host", 4) != 0
             || second.len != hostValue.len || memcmp(second.ptr, hostValue.ptr, hostValue.len) != 0)
        problem = "the first field listed is not Host, with the value request_header gives";
    else if (host->request_header_count(req, &count) != SB_OK || host->request_header_at(req, count - 1, &missing, &second) != SB_OK
             || host->request_header_at(req, count, &missing, &second) != SB_ERR_NOT_FOUND
             || host->request_header_at(req, (size_t)-1, &missing, &second) != SB_ERR_NOT_FOUND)
        problem = "request_header_at does not list exactly request_header_count lines";
    else if (host->request_header(req, (sb_str){NULL, 5}, 0, &missing) != SB_ERR_INVALID_ARGUMENT)
        problem = "a NULL name with a length was looked up";
    else if (host->response_send(req, 103, bytes("x", 1)) != SB_ERR_INVALID_ARGUMENT)
        problem = "a 1xx was accepted as the final response";
    if (host->response_stream_begin(req, 200, &stream) != SB_OK) return SB_ERR_INTERNAL;
    if (!problem && host->response_send(req, 200, bytes("x", 1)) != SB_ERR_STATE)
        problem = "a second response was accepted";
    problem = problem ? problem : "ok";
    host->stream_write(stream, bytes(problem, strlen(problem)), 0);
    host->stream_finish(stream);
    return SB_OK;
}

static int is(sb_str value, const char *expected) {
    return value.len == strlen(expected) && memcmp(value.ptr, expected, value.len) == 0;
}

/* Names are the plugin's bytes, compared code point by code point with the decoded query names:
 * never by canonical equivalence, never repaired. */
static sb_status query_names(void *d, sb_request *req) {
    sb_str v = {0, 0};
    const char *problem = "ok";
    (void)d;
    if (host->request_query_param(req, str("caf\xC3\xA9"), 0, &v) != SB_OK || !is(v, "composed"))
        problem = "the composed name did not find its own value";
    else if (host->request_query_param(req, str("cafe\xCC\x81"), 0, &v) != SB_OK || !is(v, "decomposed"))
        problem = "the decomposed name did not find its own value";
    else if (host->request_query_param(req, str("caf\xE9"), 0, &v) != SB_ERR_NOT_FOUND)
        problem = "a name that is not UTF-8 was found";
    else if (host->request_query_param(req, str("\xEF\xBF\xBD"), 0, &v) != SB_OK || !is(v, "replaced"))
        problem = "%FF did not decode to U+FFFD, as Starlette reads it";
    else if (host->request_query_param(req, str("caf\xC3\xA9"), 1, &v) != SB_ERR_NOT_FOUND
             || host->request_query_param(req, str("caf\xC3\xA9"), (size_t)-1, &v) != SB_ERR_NOT_FOUND)
        problem = "an index past the values was found";
    else if (host->request_query_param(req, (sb_str){NULL, 8}, 0, &v) != SB_OK || !is(v, "empty name")
             || host->request_path_param(req, (sb_str){NULL, 4}, &v) != SB_ERR_NOT_FOUND)
        problem = "a NULL name with a length was not read as the empty name";
    return text(req, 200, problem);
}

static void on_release(void *data) {
    (void)data;
    pthread_mutex_lock(&lock);
    released++;
    pthread_mutex_unlock(&lock);
}
/* 64 KiB of zeros, buffered: a client that never reads them must not make the host queue them. */
static sb_status big(void *d, sb_request *req) {
    static const uint8_t zeros[64 * 1024];
    (void)d;
    return host->response_send(req, 200, bytes(zeros, sizeof zeros));
}

static sb_status borrowed(void *d, sb_request *req) {
    static const char body[] = "borrowed bytes";
    (void)d;
    return host->response_send_borrowed(req, 200, bytes(body, sizeof body - 1), on_release, NULL);
}
static sb_status released_count(void *d, sb_request *req) {
    char out[32];
    (void)d;
    pthread_mutex_lock(&lock);
    snprintf(out, sizeof out, "%d", released);
    pthread_mutex_unlock(&lock);
    return text(req, 200, out);
}

static void state_done(void *user, sb_status status, const sb_state_result *result) {
    char out[64];
    if (status != SB_OK) { text(user, 500, "state failed"); return; }
    snprintf(out, sizeof out, "hits=%lld", (long long)result->number);
    text(user, 200, out);
}
static sb_status state(void *d, sb_request *req) {
    (void)d;
    if (host->state_increment(self, str("hits"), 1, state_done, req) != SB_OK) return SB_ERR_INTERNAL;
    return SB_PENDING;
}

typedef struct topic_wait { sb_request *req; sb_subscription *sub; } topic_wait;
static void on_message(void *user, sb_subscription *sub, sb_status status, sb_bytes message) {
    topic_wait *w = user;
    char out[256];
    (void)sub;
    snprintf(out, sizeof out, "status=%d message=%.*s", status, (int)message.len, (const char *)message.ptr);
    text(w->req, 200, out);
    host->subscription_cancel(w->sub);
    free(w);
}
static sb_status topic(void *d, sb_request *req) {
    size_t delivered = 0;
    topic_wait *w = calloc(1, sizeof *w);
    (void)d;
    w->req = req;
    if (host->topic_subscribe(self, str("news"), 4, on_message, w, &w->sub) != SB_OK) return SB_ERR_INTERNAL;
    host->topic_publish(self, str("news"), bytes("hello", 5), &delivered);
    return delivered >= 1 ? SB_PENDING : SB_ERR_INTERNAL;
}

typedef struct upload { size_t total; } upload;
static void on_chunk(void *user, sb_request *req, sb_status status, sb_bytes chunk, uint32_t flags) {
    upload *u = user;
    char out[64];
    if (status == SB_ERR_TOO_LARGE) { text(req, 413, "too large"); free(u); return; }
    if (status != SB_OK) { text(req, 400, "aborted"); free(u); return; }
    u->total += chunk.len;
    if (flags & SB_CHUNK_LAST) {
        snprintf(out, sizeof out, "received=%zu", u->total);
        text(req, 200, out);
        free(u);
    }
}
static sb_status upload_route(void *d, sb_request *req) {
    upload *u = calloc(1, sizeof *u);
    (void)d;
    if (host->request_body_read(req, on_chunk, u) != SB_OK) { free(u); return SB_ERR_INTERNAL; }
    return SB_PENDING;
}

typedef struct flood { sb_stream *stream; int finished; } flood;
static int late_callbacks, closes;
static const uint8_t chunk[16 * 1024];
static void flood_writable(void *user, sb_stream *stream);
static void flood_fill(flood *f) {
    sb_status status;
    while ((status = host->stream_write(f->stream, bytes(chunk, sizeof chunk), 0)) == SB_OK) {}
    if (status == SB_ERR_WOULD_BLOCK) host->stream_on_writable(f->stream, flood_writable, f);
}
static void flood_writable(void *user, sb_stream *stream) {
    flood *f = user;
    (void)stream;
    pthread_mutex_lock(&lock);
    int after = f->finished;
    if (after) late_callbacks++;
    pthread_mutex_unlock(&lock);
    if (!after) flood_fill(f);
}
static void flood_closed(void *user, sb_stream *stream) {
    flood *f = user;
    (void)stream;
    pthread_mutex_lock(&lock);
    if (f->finished) late_callbacks++;
    f->finished = 1;
    closes++;
    pthread_mutex_unlock(&lock);
    host->stream_finish(f->stream);
    /* The plugin keeps f (a few bytes per request) so a late callback is counted, not a crash. */
}
static sb_status flood_route(void *d, sb_request *req) {
    flood *f = calloc(1, sizeof *f);
    (void)d;
    if (host->response_stream_begin(req, 200, &f->stream) != SB_OK) { free(f); return SB_ERR_INTERNAL; }
    host->stream_on_close(f->stream, flood_closed, f);
    flood_fill(f);
    return SB_OK;
}
static sb_status late(void *d, sb_request *req) {
    char out[64];
    (void)d;
    pthread_mutex_lock(&lock);
    snprintf(out, sizeof out, "closes=%d late=%d", closes, late_callbacks);
    pthread_mutex_unlock(&lock);
    return text(req, 200, out);
}

static volatile unsigned long spins;
static sb_status spin(void *d, sb_request *req) {
    (void)d, (void)req;
    for (;;) spins++;
    return SB_OK;
}

/* Serves "<x-dir>/caf\xE9.txt": a file name in Latin-1, not UTF-8. First checks that a path
 * with a NUL in it is refused. */
static sb_status latin1_file(void *d, sb_request *req) {
    char path[512];
    sb_str dir;
    sb_file_spec spec;
    (void)d;
    if (host->request_header(req, str("x-dir"), 0, &dir) != SB_OK || dir.len > 400) return text(req, 400, "x-dir");
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.path.ptr = "/tmp\0/x", spec.path.len = 7;
    if (host->response_file(req, &spec) != SB_ERR_INVALID_ARGUMENT) return text(req, 500, "a path with a NUL was taken");
    memcpy(path, dir.ptr, dir.len);
    memcpy(path + dir.len, "/caf\xE9.txt", 9);
    spec.path.ptr = path, spec.path.len = dir.len + 9;
    spec.content_type = str("text/plain");
    return host->response_file(req, &spec);
}

static void add(sb_plugin *p, const char *method, const char *path, sb_handler_fn fn, uint32_t flags, uint64_t limit) {
    sb_route_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.flags = flags;
    spec.method = str(method);
    spec.path = str(path);
    spec.handler = fn;
    spec.max_body_bytes = limit;
    host->route_add(p, &spec);
}

static sb_status init(const sb_host_api *api, sb_plugin *p, void **s) {
    (void)s;
    host = api;
    self = p;
    add(p, "GET", "/probe/fail", fail, 0, 0);
    add(p, "GET", "/probe/silent", silent, 0, 0);
    add(p, "GET", "/probe/pending", pending, 0, 0);
    add(p, "GET", "/probe/blocking", blocking, SB_ROUTE_BLOCKING, 0);
    add(p, "POST", "/probe/echo", echo, 0, 0);
    add(p, "GET", "/probe/rules", rules, 0, 0);
    add(p, "GET", "/probe/query-names", query_names, 0, 0);
    add(p, "GET", "/probe/borrowed", borrowed, 0, 0);
    add(p, "GET", "/probe/big", big, 0, 0);
    add(p, "GET", "/probe/released", released_count, 0, 0);
    add(p, "GET", "/probe/state", state, 0, 0);
    add(p, "GET", "/probe/topic", topic, 0, 0);
    add(p, "POST", "/probe/upload", upload_route, SB_ROUTE_STREAM_BODY, 64 * 1024);
    add(p, "GET", "/probe/flood", flood_route, 0, 0);
    add(p, "GET", "/probe/late", late, 0, 0);
    add(p, "GET", "/probe/spin", spin, 0, 0);
    add(p, "GET", "/probe/latin1-file", latin1_file, 0, 0);
    add(p, "GET", "/probe/caf\xC3\xA9", composed, 0, 0);
    add(p, "GET", "/probe/cafe\xCC\x81", decomposed, 0, 0);
    add(p, "POST", "/probe/cafe\xCC\x81", decomposed, 0, 0);
    return SB_OK;
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0,
    "probe", "0.0.1", "exercises the ABI's edges for the host's tests", init, NULL,
};
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
