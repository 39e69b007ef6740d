/* Breaks: a route under /_switchboard/, which belongs to the host's admin API. */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    (void)s;
    fixture_host = h;
    fixture_route(p, "GET", "/reserved-path/ok");
    fixture_route(p, "GET", "/_switchboard/plugins");
    return SB_OK;
}
static const sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("reserved-path", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
