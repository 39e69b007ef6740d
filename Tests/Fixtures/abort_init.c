/* abort_init: a plugin whose on_init calls abort(). `switchboard check` must report it as a
 * refusal, not crash with it. (Never dropped into a served directory: that is the supervisor's
 * issue.) */
#include <switchboard.h>
#include <stdlib.h>

static sb_status on_init(const sb_host_api *host, sb_plugin *plugin, void **out_state) {
    (void)host, (void)plugin, (void)out_state;
    abort();
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0,
    "abort-init", "1.0.0", "aborts in on_init", on_init, NULL,
};
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
