/* literal: a good plugin whose literal route sits beside hello-c's parameter route
 * (GET /hello-c/items/special next to GET /hello-c/items/{item_id}): the literal wins. */
#include "broken/fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    (void)s;
    fixture_host = h;
    return fixture_route(p, "GET", "/hello-c/items/special");
}
static const sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("literal", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
