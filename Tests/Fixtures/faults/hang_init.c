/* hang_init: on_init never returns (it sleeps forever). A worker loading it never becomes ready:
 * the supervisor kills it after worker.start_timeout_ms and quarantines this version. */
#include <switchboard.h>
#include <unistd.h>

static sb_status on_init(const sb_host_api *host, sb_plugin *plugin, void **out_state) {
    (void)host, (void)plugin, (void)out_state;
    for (;;) pause();
    return SB_OK;
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0,
    "hang-init", "1.0.0", "supervisor fixture: on_init never returns", on_init, NULL,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
