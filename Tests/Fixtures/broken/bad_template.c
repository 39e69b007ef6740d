/* Breaks: a route's path template ("{id" is not closed). */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    (void)s;
    fixture_host = h;
    fixture_route(p, "GET", "/bad-template/ok");
    fixture_route(p, "GET", "/bad-template/{id");
    return SB_OK;
}
static const sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("bad-template", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
