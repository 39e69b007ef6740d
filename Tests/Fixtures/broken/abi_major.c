/* Breaks: the ABI major version (a plugin built for a future ABI 2). */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) { (void)h; (void)p; (void)s; return SB_OK; }
static sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("abi-major", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { d.abi_major = 2; return &d; }
