/* media exports only the Switchboard entry point. */
#include <switchboard.h>
const sb_plugin_descriptor *switchboard_plugin_v1(void);
