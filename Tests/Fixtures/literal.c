/* literal: a good plugin whose literal route sits beside hello-c's parameter route
 * (GET /hello-c/items/special next to GET /hello-c/items/{item_id}): the literal wins. And
 * GET /literal/new beside DELETE /literal/{id}: a DELETE of /literal/new reaches the parameter
 * route (the literal has no DELETE), as in Starlette. */
#include "broken/fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    (void)s;
    fixture_host = h;
    if (fixture_route(p, "GET", "/literal/new") != SB_OK || fixture_route(p, "DELETE", "/literal/{id}") != SB_OK) return SB_ERR_INTERNAL;
    return fixture_route(p, "GET", "/hello-c/items/special");
}
static const sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("literal", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
