/* fields: the whole response in one call (response_send_fields, ABI 1.8) and the host's
 * conditional GET, from a plugin that never reads a conditional field.
 *   GET  /fields/tagged?via=send|fields|mixed|wide   a 200 with ETag "v1", Last-Modified, Cache-Control,
 *                                   Content-Type, Content-Language and Content-Location, sent
 *                                   field by field (send), in one call (fields), one field added
 *                                   before the call (mixed), or with a stride wider than sb_field (wide)
 *   POST /fields/tagged             the same 200 to a POST: no 304 for it
 *   GET  /fields/created            a 201 with ETag "v1": no 304 for it
 *   GET  /fields/own                the plugin's own 304 (with x-own): left as it is
 *   GET  /fields/misuse             calls the host must refuse (each status in the body), then a
 *                                   good one; none of the refused calls' fields may show
 *   GET  /fields/late               the status of a response_send_fields made after /misuse answered
 *   GET  /fields/negotiated         negotiates (Vary: Accept), then sends its own Vary and ETag "v1"
 *   GET  /fields/own-rules          ETag "v1" on a route flagged SB_ROUTE_PRECONDITIONS: its 200 stands
 *   GET  /fields/two-tags           two ETag fields ("v1" and "v2"): no tag is the representation's
 * Built with -DDECLARED_MINOR=7 it declares ABI 1.7, whose plugins get their 200 as they sent it. */
#include <stdio.h>
#include <string.h>
#include <switchboard_kit.h>

static const sb_host_api *host;
static volatile sb_status late_status = 1;

#ifndef DECLARED_MINOR
#define DECLARED_MINOR SB_ABI_MINOR
#endif

#define S(text) {text, sizeof text - 1}
#define FIELD(n, v) {sizeof(sb_field), 0, S(n), S(v)}

static const sb_field tagged_fields[] = {
    FIELD("content-type", "text/plain; charset=utf-8"), FIELD("ETag", "\"v1\""),
    FIELD("last-modified", "Mon, 15 Jan 2024 12:00:00 GMT"), FIELD("cache-control", "max-age=60"),
    FIELD("content-language", "en"), FIELD("content-location", "/fields/tagged"),
};
#define TAGGED_COUNT (sizeof tagged_fields / sizeof tagged_fields[0])
static const sb_bytes tagged_body = {(const uint8_t *)"tagged", 6};

/* sb_field as a later ABI might grow it: the host reads the array with the first one's size. */
typedef struct wide_field {
    sb_field field;
    uint64_t appended;
} wide_field;

static sb_status tagged(void *data, sb_request *req) {
    sb_str via = {"fields", 6};
    size_t i;
    (void)data;
    host->request_query_param(req, (sb_str)S("via"), 0, &via);
    if (via.len == 4 && memcmp(via.ptr, "send", 4) == 0) {
        for (i = 0; i < TAGGED_COUNT; i++) {
            sb_status status = host->response_header_add(req, tagged_fields[i].name, tagged_fields[i].value);
            if (status != SB_OK) return status;
        }
        return host->response_send(req, 200, tagged_body);
    }
    if (via.len == 5 && memcmp(via.ptr, "mixed", 5) == 0) {
        sb_status status = host->response_header_add(req, tagged_fields[0].name, tagged_fields[0].value);
        if (status != SB_OK) return status;
        return host->response_send_fields(req, 200, tagged_fields + 1, TAGGED_COUNT - 1, tagged_body);
    }
    if (via.len == 4 && memcmp(via.ptr, "wide", 4) == 0) {
        wide_field wide[TAGGED_COUNT];
        for (i = 0; i < TAGGED_COUNT; i++) {
            wide[i].field = tagged_fields[i];
            wide[i].field.struct_size = sizeof(wide_field);
            wide[i].appended = 0xdeadbeef;
        }
        return host->response_send_fields(req, 200, &wide[0].field, TAGGED_COUNT, tagged_body);
    }
    return host->response_send_fields(req, 200, tagged_fields, TAGGED_COUNT, tagged_body);
}

static sb_status created(void *data, sb_request *req) {
    (void)data;
    return host->response_send_fields(req, 201, tagged_fields, TAGGED_COUNT, tagged_body);
}

static sb_status own(void *data, sb_request *req) {
    static const sb_field fields[] = {FIELD("etag", "\"v1\""), FIELD("x-own", "1")};
    static const sb_bytes empty = {NULL, 0};
    (void)data;
    return host->response_send_fields(req, 304, fields, 2, empty);
}

static sb_status misuse(void *data, sb_request *req) {
    sb_field bad_name[] = {FIELD("x-leak", "1"), FIELD("bad name", "x")};
    sb_field bad_value[] = {FIELD("x-leak", "2"), FIELD("x-value", "a\r\nx-injected: 1")};
    sb_field small[] = {{8, 0, S("x-leak"), S("3")}};
    sb_field uneven[] = {FIELD("x-leak", "4"), {sizeof(sb_field) + 8, 0, S("x-leak"), S("5")}};
    sb_field nul_value[] = {{sizeof(sb_field), 0, S("x-leak"), {"a\0b", 3}}};
    sb_field good[] = {FIELD("x-ok", "yes"), FIELD("content-type", "text/plain")};
    static const sb_bytes nothing = {NULL, 0};
    char text[256];
    sb_bytes body;
    (void)data;
    snprintf(text, sizeof text, "%d %d %d %d %d %d %d %d %d", (int)host->response_send_fields(req, 200, bad_name, 2, nothing),
             (int)host->response_send_fields(req, 200, bad_value, 2, nothing), (int)host->response_send_fields(req, 200, NULL, 1, nothing),
             (int)host->response_send_fields(req, 200, good, 1025, nothing), (int)host->response_send_fields(req, 200, small, 1, nothing),
             (int)host->response_send_fields(req, 200, uneven, 2, nothing), (int)host->response_send_fields(req, 200, nul_value, 1, nothing),
             (int)host->response_send_fields(req, 99, good, 1, nothing), (int)host->response_send_fields(req, 200, good, (size_t)-1, nothing));
    body.ptr = (const uint8_t *)text;
    body.len = strlen(text);
    {
        sb_status result = host->response_send_fields(req, 200, good, 2, body);
        late_status = host->response_send_fields(req, 200, good, 1, nothing);
        return result;
    }
}

static sb_status late(void *data, sb_request *req) {
    char text[32];
    sb_bytes body;
    (void)data;
    snprintf(text, sizeof text, "%d", (int)late_status);
    body.ptr = (const uint8_t *)text;
    body.len = strlen(text);
    return host->response_send_fields(req, 200, NULL, 0, body);
}

static sb_status negotiated(void *data, sb_request *req) {
    static const sb_str offered[] = {S("text/plain")};
    static const sb_field fields[] = {FIELD("content-type", "text/plain"), FIELD("vary", "accept"), FIELD("etag", "\"v1\"")};
    size_t index;
    sb_status status;
    (void)data;
    status = host->request_negotiate(req, offered, 1, &index);
    if (status != SB_OK) return status;
    return host->response_send_fields(req, 200, fields, 3, tagged_body);
}

static sb_status two_tags(void *data, sb_request *req) {
    static const sb_field fields[] = {FIELD("etag", "\"v1\""), FIELD("etag", "\"v2\"")};
    (void)data;
    return host->response_send_fields(req, 200, fields, 2, tagged_body);
}

static sb_status init(const sb_host_api *h, sb_plugin *p, void **s) {
    (void)s;
    host = h;
    if (sbk_route(h, p, "GET", "/fields/tagged", tagged, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "POST", "/fields/tagged", tagged, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "GET", "/fields/created", created, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "GET", "/fields/own", own, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "GET", "/fields/misuse", misuse, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "GET", "/fields/negotiated", negotiated, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "GET", "/fields/own-rules", tagged, NULL, "", NULL, NULL, 0, SB_ROUTE_PRECONDITIONS) != SB_OK) return SB_ERR_INTERNAL;
    if (sbk_route(h, p, "GET", "/fields/two-tags", two_tags, NULL, "", NULL, NULL, 0, 0) != SB_OK) return SB_ERR_INTERNAL;
    return sbk_route(h, p, "GET", "/fields/late", late, NULL, "", NULL, NULL, 0, 0);
}

static const sb_plugin_descriptor d = {sizeof d, SB_PLUGIN_MAGIC, SB_ABI_MAJOR, DECLARED_MINOR, 0, "fields", "1.0.0",
                                       "response_send_fields and the host's conditional GET", init, NULL};
const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &d; }
