/* negotiate: a C plugin that calls request_negotiate directly (ABI 1.5).
 *   GET /negotiate/pick       JSON, HTML or text by Accept; 406 through the kit's body
 *   GET /negotiate/misuse     offers the host must refuse; the body lists each call's status
 *   GET /negotiate/late       responds, then negotiates (SB_ERR_STATE), which /misuse reports
 *   GET /negotiate/table?o=T&o=U...   negotiates the types given: the chosen index, or 406
 *   GET /negotiate/fail       negotiates, then fails: the host's 500 still varies by Accept
 *   GET /negotiate/spaced     offers types with spaces and tabs around them; the 406 names them bare */
#include <stdio.h>
#include <switchboard_kit.h>

static const sb_host_api *host;
static volatile sb_status late_status = 1;

#define S(text) {text, sizeof text - 1}
static const sb_str offered[] = {S("application/json"), S("text/html; charset=utf-8"), S("text/plain; charset=utf-8")};

static sb_status pick(void *data, sb_request *req) {
    size_t index = 99;
    sbk_buf body = {0};
    sb_status status, result;
    (void)data;
    status = host->request_negotiate(req, offered, 3, &index);
    if (status == SB_ERR_NOT_FOUND) return sbk_respond_not_acceptable(host, req, offered, 3);
    if (status != SB_OK) return status;
    sbk_buf_printf(&body, "%zu", index);
    result = sbk_respond(host, req, 200, offered[index].ptr, &body);
    sbk_buf_free(&body);
    return result;
}

static sb_status misuse(void *data, sb_request *req) {
    static const sb_str wildcard[] = {S("text/*")}, garbage[] = {S("json")},
                        weighted[] = {S("text/html;level=1 x")};
    sb_str null_pointer[] = {{NULL, 5}};
    size_t index = 7;
    sbk_buf body = {0};
    sb_status result;
    (void)data;
    sbk_buf_printf(&body, "%d %d %d %d %d %d %d %d %zu",
                   host->request_negotiate(req, NULL, 1, &index), host->request_negotiate(req, offered, 0, &index),
                   host->request_negotiate(req, offered, 65, &index), host->request_negotiate(req, wildcard, 1, &index),
                   host->request_negotiate(req, garbage, 1, &index), host->request_negotiate(req, null_pointer, 1, &index),
                   host->request_negotiate(req, weighted, 1, &index), (int)late_status, index);
    result = sbk_respond(host, req, 200, "text/plain", &body);
    sbk_buf_free(&body);
    return result;
}

static sb_status table(void *data, sb_request *req) {
    sb_str types[64];
    size_t count = 0, index = 0;
    sbk_buf body = {0};
    sb_status status, result;
    (void)data;
    while (count < 64 && host->request_query_param(req, (sb_str)S("o"), count, &types[count]) == SB_OK) count++;
    status = host->request_negotiate(req, types, count, &index);
    if (status == SB_ERR_NOT_FOUND) return sbk_respond_not_acceptable(host, req, types, count);
    if (status != SB_OK) sbk_buf_printf(&body, "status %d", (int)status);
    else sbk_buf_printf(&body, "%zu", index);
    result = sbk_respond(host, req, status == SB_OK ? 200 : 400, "text/plain", &body);
    sbk_buf_free(&body);
    return result;
}

static sb_status fail(void *data, sb_request *req) {
    size_t index;
    (void)data;
    host->request_negotiate(req, offered, 3, &index);
    return SB_ERR_INTERNAL;
}

static sb_status spaced(void *data, sb_request *req) {
    static const sb_str types[] = {S(" text/html ; level=1"), S("\ttext/plain\t")};
    size_t index;
    static const char ok[] = "ok";
    sb_bytes b = {(const uint8_t *)ok, 2};
    (void)data;
    if (host->request_negotiate(req, types, 2, &index) == SB_ERR_NOT_FOUND) return sbk_respond_not_acceptable(host, req, types, 2);
    return host->response_send(req, 200, b);
}

static sb_status late(void *data, sb_request *req) {
    size_t index;
    sb_status result;
    static const char ok[] = "ok";
    sb_bytes b = {(const uint8_t *)ok, 2};
    (void)data;
    result = host->response_send(req, 200, b);
    late_status = host->request_negotiate(req, offered, 3, &index);
    return result;
}

static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    (void)s;
    host = h;
    if (sbk_route(h, p, "GET", "/negotiate/pick", pick, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "GET", "/negotiate/misuse", misuse, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "GET", "/negotiate/table", table, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "GET", "/negotiate/fail", fail, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "GET", "/negotiate/spaced", spaced, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    return sbk_route(h, p, "GET", "/negotiate/late", late, NULL, "", NULL, NULL, 0, 0);
}

static const sb_plugin_descriptor d = {sizeof d, SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0, "negotiate", "1.0.0",
                                       "calls request_negotiate", init, NULL};
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
