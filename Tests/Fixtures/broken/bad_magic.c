/* Breaks: the magic number. */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) { (void)h; (void)p; (void)s; return SB_OK; }
static sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("bad-magic", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { d.magic = 0x12345678u; return &d; }
