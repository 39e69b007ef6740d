/* A plugin built in two versions for the hot-swap tests: cc -DSWAP_VERSION=1 or 2.
 * Every byte it sends names its version, so a test can tell whether a response came wholly from
 * one version.
 *   GET /swap/payload        4096 bytes of "vN|", header x-swap-version: N
 *   GET /swap/stream?n=&ms=  n lines "vN line i", one every ms milliseconds (timer-paced)
 */
#include <switchboard.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SWAP_VERSION
#define SWAP_VERSION 1
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
#define TAG "v" STR(SWAP_VERSION)

static const sb_host_api *host;
static sb_plugin *self;
static char payload[4096];

static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }

static sb_status send_payload(void *data, sb_request *req) {
    sb_bytes body = {(const uint8_t *)payload, sizeof payload};
    (void)data;
    host->response_header_add(req, str("content-type"), str("text/plain"));
    host->response_header_add(req, str("x-swap-version"), str(STR(SWAP_VERSION)));
    return host->response_send(req, 200, body);
}

typedef struct ticker {
    sb_stream *stream;
    sb_timer *timer;
    long next, total;
} ticker;

static void tick(void *user, sb_timer *timer) {
    ticker *t = user;
    char line[64];
    int n;
    (void)timer;
    if (t->next < t->total) {
        sb_bytes b;
        n = snprintf(line, sizeof line, TAG " line %ld\n", t->next);
        b.ptr = (const uint8_t *)line;
        b.len = (size_t)n;
        if (host->stream_write(t->stream, b, 0) == SB_OK) { t->next++; return; }
    }
    /* Done, or the host closed the stream (client gone, drain deadline): end it. */
    host->timer_cancel(t->timer);
    host->stream_finish(t->stream);
    free(t);
}

static long query_long(sb_request *req, const char *name, long fallback) {
    sb_str v;
    char buf[24] = {0};
    if (host->request_query_param(req, str(name), 0, &v) != SB_OK || v.len == 0 || v.len >= sizeof buf) return fallback;
    memcpy(buf, v.ptr, v.len);
    return strtol(buf, NULL, 10);
}

static sb_status stream(void *data, sb_request *req) {
    ticker *t = calloc(1, sizeof *t);
    long ms = query_long(req, "ms", 20);
    (void)data;
    if (!t) return SB_ERR_NO_MEMORY;
    t->total = query_long(req, "n", 10);
    host->response_header_add(req, str("content-type"), str("text/plain"));
    host->response_header_add(req, str("x-swap-version"), str(STR(SWAP_VERSION)));
    if (host->response_stream_begin(req, 200, &t->stream) != SB_OK) { free(t); return SB_ERR_INTERNAL; }
    host->timer_start(self, (uint64_t)ms * 1000000u, (uint64_t)ms * 1000000u, tick, t, &t->timer);
    return SB_OK;
}

static sb_status add(sb_plugin *plugin, const char *path, sb_handler_fn handler) {
    sb_route_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.method = str("GET");
    spec.path = str(path);
    spec.handler = handler;
    return host->route_add(plugin, &spec);
}

static sb_status init(const sb_host_api *api, sb_plugin *plugin, void **state) {
    size_t i;
    (void)state;
    host = api;
    self = plugin;
    for (i = 0; i + 3 <= sizeof payload; i += 3) memcpy(payload + i, TAG "|", 3);
    for (; i < sizeof payload; i++) payload[i] = '|';
    if (add(plugin, "/swap/payload", send_payload) != SB_OK || add(plugin, "/swap/stream", stream) != SB_OK) return SB_ERR_INTERNAL;
    return SB_OK;
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0,
    "swap", "1.0." STR(SWAP_VERSION), "hot-swap test fixture", init, NULL,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
