/* Breaks: an ABI minor newer than the host's. */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) { (void)h; (void)p; (void)s; return SB_OK; }
static sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("abi-minor", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { d.abi_minor = 99; return &d; }
