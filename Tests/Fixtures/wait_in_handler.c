/* wait_in_handler: GET /wait-in-handler writes 1 MiB with SB_WRITE_WAIT from inside the handler
 * that began the stream (a blocking route). The host cannot send anything before the handler
 * returns, so once 256 KiB are queued the write is refused with SB_ERR_STATE instead of waiting
 * forever; the handler then finishes, and the client gets what was queued. */
#include "broken/fixture.h"

#include <string.h>

static sb_status handler(void *data, sb_request *req) {
    static char chunk[4096];
    sb_stream *stream;
    sb_bytes bytes = {(const uint8_t *)chunk, sizeof chunk};
    (void)data;
    memset(chunk, 'w', sizeof chunk);
    if (fixture_host->response_stream_begin(req, 200, &stream) != SB_OK) return SB_ERR_INTERNAL;
    for (int i = 0; i < 256; i++) {
        sb_status status = fixture_host->stream_write(stream, bytes, SB_WRITE_WAIT);
        if (status != SB_OK) break; /* SB_ERR_STATE: the body's length tells the test */
    }
    return fixture_host->stream_finish(stream);
}

static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    sb_route_spec spec;
    (void)s;
    fixture_host = h;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.flags = SB_ROUTE_BLOCKING;
    spec.method = (sb_str){"GET", 3};
    spec.path = (sb_str){"/wait-in-handler", 16};
    spec.handler = handler;
    return h->route_add(p, &spec);
}
static const sb_plugin_descriptor d = FIXTURE_DESCRIPTOR("wait_in_handler", init);
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
