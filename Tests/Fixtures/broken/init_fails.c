/* Breaks: on_init refuses (after saying why). */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    (void)s;
    h->plugin_refuse(p, fixture_str("the database at db.example is unreachable"));
    return SB_ERR_IO;
}
static const sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("init-fails", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
