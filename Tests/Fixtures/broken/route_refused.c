/* Breaks: two routes the host refuses (a parameter spec with struct_size 0; a typed handler's
 * optional parameter without a default), after which on_init gives up with its own reason, as a
 * plugin author writes it. `check` must print the host's reasons, not only the plugin's. */
#include "fixture.h"
static sb_status typed(void *data, sb_request *req, const char *q) {
    (void)data, (void)q;
    return fixture_ok(NULL, req);
}
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    (void)s;
    fixture_host = h;
    sb_param_spec zero[1];
    memset(zero, 0, sizeof zero);  /* struct_size left 0 */
    zero[0].name = fixture_str("q");
    zero[0].location = SB_PARAM_QUERY;
    sb_route_spec first;
    memset(&first, 0, sizeof first);
    first.struct_size = sizeof first;
    first.method = fixture_str("GET");
    first.path = fixture_str("/route-refused/zero");
    first.handler = fixture_ok;
    first.params = zero;
    first.param_count = 1;
    sb_status a = h->route_add(p, &first);

    sb_param_spec optional = {.struct_size = sizeof(sb_param_spec), .location = SB_PARAM_QUERY, .type = SB_TYPE_STRING};
    optional.name = fixture_str("q");
    sb_route_spec second;
    memset(&second, 0, sizeof second);
    second.struct_size = sizeof second;
    second.method = fixture_str("GET");
    second.path = fixture_str("/route-refused/typed");
    second.typed_handler = (sb_typed_handler_fn)typed;
    second.params = &optional;
    second.param_count = 1;
    sb_status b = h->route_add(p, &second);
    if (a != SB_OK || b != SB_OK) {
        h->plugin_refuse(p, fixture_str("route_add failed"));
        return SB_ERR_INVALID_ARGUMENT;
    }
    return SB_OK;
}
static const sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("route-refused", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
