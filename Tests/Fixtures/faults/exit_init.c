/* exit_init: on_init calls exit(0), as a plugin that "gives up" might. The worker dies while
 * loading this version: the supervisor quarantines it (no signal, no crash line: the version being
 * loaded is the culprit). */
#include <switchboard.h>
#include <stdlib.h>

static sb_status on_init(const sb_host_api *host, sb_plugin *plugin, void **out_state) {
    (void)host, (void)plugin, (void)out_state;
    exit(0);
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0,
    "exit-init", "1.0.0", "supervisor fixture: exit(0) in on_init", on_init, NULL,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
