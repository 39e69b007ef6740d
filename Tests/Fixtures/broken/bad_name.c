/* Breaks: the plugin name rule ([a-z0-9][a-z0-9_-]*). */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) { (void)h; (void)p; (void)s; return SB_OK; }
static const sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("Bad Name", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
