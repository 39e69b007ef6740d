/* spin: a non-blocking handler that never returns (it spins on the request pool's thread).
 *   GET /spin/forever   spins forever
 *   GET /spin/ok        "ok" */
#include <switchboard.h>
#include <string.h>

static const sb_host_api *host;

static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }

static sb_status ok(void *data, sb_request *req) {
    sb_bytes body = {(const uint8_t *)"ok", 2};
    (void)data;
    return host->response_send(req, 200, body);
}

static sb_status forever(void *data, sb_request *req) {
    volatile unsigned long spins = 0;
    (void)data, (void)req;
    for (;;) spins++;
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
    (void)state;
    host = api;
    if (add(plugin, "/spin/forever", forever) != SB_OK || add(plugin, "/spin/ok", ok) != SB_OK) return SB_ERR_INTERNAL;
    return SB_OK;
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0,
    "spin", "1.0.0", "supervisor fixture: a non-blocking handler that never returns", init, NULL,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
