/* Breaks: route uniqueness across plugins (hello-c serves GET /hello-c/items/{item_id}). */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    (void)s;
    fixture_host = h;
    fixture_route(p, "GET", "/conflict/own");
    fixture_route(p, "GET", "/hello-c/items/{id}");
    return SB_OK;
}
static const sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("conflict", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
