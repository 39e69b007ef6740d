/* legacy-preconditions: a plugin built for ABI 1.3, before SB_ROUTE_PRECONDITIONS existed, that
 * evaluates If-Match itself (its document's tag is "v1"). The host must not answer for it. */
#include "broken/fixture.h"

static sb_status put_doc(void *data, sb_request *req) {
    static const char ok[] = "{\"saved\":true}", failed[] = "{\"legacy\":\"412 from the plugin\"}";
    sb_str tag;
    int matches = fixture_host->request_header(req, fixture_str("if-match"), 0, &tag) != SB_OK
        || (tag.len == 4 && memcmp(tag.ptr, "\"v1\"", 4) == 0);
    sb_bytes body = matches ? (sb_bytes){(const uint8_t *)ok, sizeof ok - 1} : (sb_bytes){(const uint8_t *)failed, sizeof failed - 1};
    (void)data;
    return fixture_host->response_send(req, matches ? 200 : 412, body);
}

static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    sb_route_spec spec;
    (void)s;
    fixture_host = h;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = SB_ROUTE_SPEC_V1_SIZE; /* as a 1.3 plugin's spec was */
    spec.method = fixture_str("PUT");
    spec.path = fixture_str("/legacy/doc");
    spec.handler = put_doc;
    return h->route_add(p, &spec);
}

static const sb_plugin_descriptor d = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, 1, 3, 0, "legacy-preconditions", "0.0.1", "a plugin built for ABI 1.3", init, NULL,
};
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
