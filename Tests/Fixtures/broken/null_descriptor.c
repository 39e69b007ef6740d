/* Breaks: the entry function must return a descriptor, not NULL. */
#include "fixture.h"
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return NULL; }
