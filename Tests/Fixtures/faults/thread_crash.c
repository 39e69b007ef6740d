/* thread_crash: GET /thread-crash/go starts a thread of the plugin's own that writes through a
 * NULL pointer. No plugin call is marked on that thread: the supervisor attributes the crash by
 * the faulting instruction's address. */
#include <switchboard.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static const sb_host_api *host;

static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }

static void *crash(void *arg) {
    volatile int *nowhere = arg;
    usleep(50000); /* after the response */
    *nowhere = 42;
    return NULL;
}

static sb_status go(void *data, sb_request *req) {
    pthread_t thread;
    sb_bytes body = {(const uint8_t *)"started", 7};
    (void)data;
    pthread_create(&thread, NULL, crash, NULL);
    pthread_detach(thread);
    return host->response_send(req, 200, body);
}

static sb_status init(const sb_host_api *api, sb_plugin *plugin, void **state) {
    sb_route_spec spec;
    (void)state;
    host = api;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.method = str("GET");
    spec.path = str("/thread-crash/go");
    spec.handler = go;
    return host->route_add(plugin, &spec);
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0,
    "thread-crash", "1.0.0", "supervisor fixture: a crash on a thread the plugin started", init, NULL,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
