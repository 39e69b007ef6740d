/* Breaks: struct_size is smaller than the ABI 1.0 descriptor. */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) { (void)h; (void)p; (void)s; return SB_OK; }
static sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("small-descriptor", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { d.struct_size = 24; return &d; }
