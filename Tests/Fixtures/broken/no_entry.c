/* Breaks: the entry symbol. Exports a descriptor function under the wrong name. */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) { (void)h; (void)p; (void)s; return SB_OK; }
static const sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("no-entry", init);
const sb_plugin_descriptor *switchboard_plugin(void) { return &d; }
