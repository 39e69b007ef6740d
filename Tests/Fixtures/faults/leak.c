/* leak: every request leaks memory and touches it, so it is resident.
 *   GET /leak/grow?mb=N   leaks N MiB (default 64), answers "leaked N MiB" */
#include <switchboard.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sb_host_api *host;
/* Where the leaked blocks stay reachable (a compiler may drop a block nothing reads). */
static char *volatile leaked[4096];
static unsigned long leaked_count;

static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }

static sb_status grow(void *data, sb_request *req) {
    sb_str value;
    char digits[16] = {0}, body[64];
    long mb = 64;
    (void)data;
    if (host->request_query_param(req, str("mb"), 0, &value) == SB_OK && value.len > 0 && value.len < sizeof digits) {
        memcpy(digits, value.ptr, value.len);
        mb = strtol(digits, NULL, 10);
    }
    if (mb < 0 || mb > 4096) mb = 64;
    char *block = malloc((size_t)mb << 20);
    if (block) {
        memset(block, 0x5A, (size_t)mb << 20); /* resident, and never freed */
        leaked[leaked_count++ % 4096] = block;
    }
    int n = snprintf(body, sizeof body, "leaked %ld MiB", block ? mb : 0);
    sb_bytes bytes = {(const uint8_t *)body, (size_t)n};
    return host->response_send(req, 200, bytes);
}

static sb_status init(const sb_host_api *api, sb_plugin *plugin, void **state) {
    sb_route_spec spec;
    (void)state;
    host = api;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.method = str("GET");
    spec.path = str("/leak/grow");
    spec.handler = grow;
    spec.flags = SB_ROUTE_BLOCKING;
    return host->route_add(plugin, &spec);
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0,
    "leak", "1.0.0", "supervisor fixture: leaks memory on every request", init, NULL,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
