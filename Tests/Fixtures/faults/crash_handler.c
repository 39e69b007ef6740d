/* crash_handler: a handler that dereferences NULL, from version 2 on (cc -DFAULT_VERSION=1 or 2).
 *   GET /crashy/version   "v1" or "v2"
 *   GET /crashy/boom      v1: "fine"; v2: writes through a NULL pointer (SIGSEGV)
 * The supervisor tests drop v1, then v2, request /crashy/boom and expect v1 to serve again. */
#include <switchboard.h>
#include <string.h>

#ifndef FAULT_VERSION
#define FAULT_VERSION 1
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

static const sb_host_api *host;

static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }

static sb_status text(sb_request *req, const char *body) {
    sb_bytes bytes = {(const uint8_t *)body, strlen(body)};
    host->response_header_add(req, str("content-type"), str("text/plain"));
    return host->response_send(req, 200, bytes);
}

static sb_status version(void *data, sb_request *req) { (void)data; return text(req, "v" STR(FAULT_VERSION)); }

static sb_status boom(void *data, sb_request *req) {
    (void)data;
    if (FAULT_VERSION >= 2) {
        volatile int *nowhere = NULL;
        *nowhere = 42;
    }
    return text(req, "fine");
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
    if (add(plugin, "/crashy/version", version) != SB_OK || add(plugin, "/crashy/boom", boom) != SB_OK) return SB_ERR_INTERNAL;
    return SB_OK;
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0,
    "crashy", "1.0." STR(FAULT_VERSION), "supervisor fixture: a NULL dereference in a handler (v2)", init, NULL,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
