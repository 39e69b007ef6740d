/* Breaks: reports a Swift toolchain (5.9.0) other than the host's. */
#include "fixture.h"
static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) { (void)h; (void)p; (void)s; return SB_OK; }
static sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("swift-mismatch", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { d.swift_version = 50900; return &d; }
