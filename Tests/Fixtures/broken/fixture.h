/* Shared by the broken-plugin fixtures: a descriptor that is correct unless a fixture changes it.
 * Each fixture file breaks exactly one rule of switchboard.h. */
#include <switchboard.h>
#include <string.h>

static const sb_host_api *fixture_host;

static sb_str fixture_str(const char *s) { sb_str out = {s, strlen(s)}; return out; }

static sb_status fixture_ok(void *data, sb_request *req) {
    static const char body[] = "fixture";
    sb_bytes b = {(const uint8_t *)body, sizeof body - 1};
    (void)data;
    return fixture_host->response_send(req, 200, b);
}

static sb_status fixture_route(sb_plugin *plugin, const char *method, const char *path) {
    sb_route_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.method = fixture_str(method);
    spec.path = fixture_str(path);
    spec.handler = fixture_ok;
    return fixture_host->route_add(plugin, &spec);
}

#define FIXTURE_DESCRIPTOR(NAME, INIT) \
    { sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0, NAME, "0.0.1", \
      "a broken-plugin fixture", INIT, NULL }
