/*
 * hello-c: the example plugin in C, against the raw ABI (switchboard.h).
 *
 *   GET /hello-c                  text/plain greeting (the greeting is configurable:
 *                                 plugins.config.hello-c.greeting)
 *   GET /hello-c/json             a JSON object
 *   GET /hello-c/items/{item_id}  a JSON object echoing the path parameter
 *   GET /hello-c/count?n=5        a streamed response, one line every 10 ms, paced by a host timer
 *   GET /hello-c/lookup/{item_id}?q=&limit=10&format=json&verbose=false
 *                                 typed parameters: validated by the host (422 in FastAPI's shape)
 *                                 and passed to a handler with a native C signature via libffi
 *   GET /hello-c/lookup-untyped/{item_id}?…
 *                                 the same lookup, its parameters read and checked by the handler:
 *                                 the typed route's twin (bench/ compares the two)
 */
#include "hello_c.h"

#include <switchboard_kit.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const sb_host_api *host;

typedef struct plugin_state {
    sb_plugin *plugin;
    char greeting[128];
    size_t greeting_len;
} plugin_state;

static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }
static sb_bytes bytes(const char *s, size_t n) { sb_bytes out = {(const uint8_t *)s, n}; return out; }

/* One header and the body: the whole response in one host call (response_send_fields, ABI 1.8). */
static sb_status respond(sb_request *req, const char *content_type, sb_bytes body) {
    sb_field type = {.struct_size = sizeof(sb_field), .name = str("content-type"), .value = str(content_type)};
    return host->response_send_fields(req, 200, &type, 1, body);
}

static sb_status hello(void *data, sb_request *req) {
    plugin_state *state = data;
    return respond(req, "text/plain; charset=utf-8", bytes(state->greeting, state->greeting_len));
}

static sb_status hello_json(void *data, sb_request *req) {
    static const char body[] = "{\"message\":\"Hello from C\",\"language\":\"c\"}";
    (void)data;
    return respond(req, "application/json", bytes(body, sizeof body - 1));
}

static sb_status item(void *data, sb_request *req) {
    sbk_buf body = {0};
    sb_status status;
    sb_str id;
    (void)data;
    /* The host has already answered 400 for a path that does not decode. */
    if (host->request_path_param(req, str("item_id"), &id) != SB_OK) return SB_ERR_INTERNAL;
    sbk_buf_puts(&body, "{\"item_id\":");
    sbk_json_string(&body, id.ptr, id.len);
    sbk_buf_puts(&body, ",\"plugin\":\"hello-c\"}");
    status = sbk_respond(host, req, 200, "application/json", &body);
    sbk_buf_free(&body);
    return status;
}

/* --- /hello-c/count: a stream paced by a repeating timer ------------------------------------------- */

typedef struct counter {
    sb_stream *stream;
    sb_timer *timer;
    int next, total;
    int done; /* set once, by whichever of tick or on_close ends the stream */
} counter;

static void counter_end(counter *c) {
    if (c->done) return;
    c->done = 1;
    host->timer_cancel(c->timer);
    host->stream_finish(c->stream);
    free(c);
}

static void counter_tick(void *user, sb_timer *timer) {
    counter *c = user;
    char line[32];
    int n;
    (void)timer;
    if (c->next >= c->total) { counter_end(c); return; }
    n = snprintf(line, sizeof line, "%d\n", c->next + 1);
    if (host->stream_write(c->stream, bytes(line, (size_t)n), 0) == SB_ERR_CLOSED) { counter_end(c); return; }
    c->next++;
}

static sb_status count(void *data, sb_request *req) {
    plugin_state *state = data;
    sb_param_value n = {sizeof(sb_param_value)};
    counter *c;
    /* Declared below as an int in 0...1000 with default 5: the host has validated it. */
    if (host->request_param(req, str("n"), &n) != SB_OK) return SB_ERR_INTERNAL;
    c = calloc(1, sizeof *c);
    if (!c) return SB_ERR_NO_MEMORY;
    c->total = (int)n.integer;
    host->response_header_add(req, str("content-type"), str("text/plain; charset=utf-8"));
    if (host->response_stream_begin(req, 200, &c->stream) != SB_OK) { free(c); return SB_ERR_INTERNAL; }
    /* Timer callbacks for one timer never overlap, and the timer is the only writer. */
    host->timer_start(state->plugin, 0, 10 * 1000 * 1000, counter_tick, c, &c->timer);
    return SB_OK;
}

/* --- /hello-c/lookup/{item_id}: a typed handler ---------------------------------------------------- */

/* The lookup's answer: JSON, or a line of text for format=text. */
static sb_status lookup_answer(sb_request *req, int64_t item_id, const char *q, int64_t limit, const char *format, int32_t verbose) {
    sbk_buf body = {0};
    sb_status status;
    if (strcmp(format, "text") == 0) {
        sbk_buf_printf(&body, "item %lld, q=%s, limit %lld%s\n", (long long)item_id, q, (long long)limit, verbose ? ", verbose" : "");
        status = sbk_respond(host, req, 200, "text/plain; charset=utf-8", &body);
    } else {
        sbk_buf_printf(&body, "{\"item_id\":%lld,\"q\":", (long long)item_id);
        sbk_json_cstring(&body, q);
        sbk_buf_printf(&body, ",\"limit\":%lld,\"format\":\"%s\",\"verbose\":%s,\"plugin\":\"hello-c\"}", (long long)limit, format,
                       verbose ? "true" : "false");
        status = sbk_respond(host, req, 200, "application/json", &body);
    }
    sbk_buf_free(&body);
    return status;
}

/* Called through libffi with one native argument per declared parameter, in declaration order. */
static sb_status lookup(void *data, sb_request *req, int64_t item_id, const char *q, int64_t limit, const char *format,
                        int32_t verbose) {
    (void)data;
    return lookup_answer(req, item_id, q, limit, format, verbose);
}

/* --- /hello-c/lookup-untyped/{item_id}: the same lookup, parameters read by hand ------------------- */

/* What a route without typed parameters does: read each value through the ABI and check it
 * itself, with the typed route's checks (the last of a repeated name, as FastAPI reads it; a 422
 * with one line of detail, not FastAPI's shape, for a bad value). */

/* The last value of query parameter `name`; 0 when there is none. */
static int last_query_param(sb_request *req, const char *name, sb_str *out) {
    sb_str value;
    size_t i = 0;
    while (host->request_query_param(req, str(name), i, &value) == SB_OK) *out = value, i++;
    return i > 0;
}

/* A whole decimal integer with an optional sign, nothing around it; 0 when `value` is not one. */
static int parse_int(sb_str value, long long *out) {
    char text[24], *end;
    if (value.len == 0 || value.len >= sizeof text || memchr(value.ptr, 0, value.len)) return 0;
    if (!(value.ptr[0] == '-' || value.ptr[0] == '+' || (value.ptr[0] >= '0' && value.ptr[0] <= '9'))) return 0;
    memcpy(text, value.ptr, value.len);
    text[value.len] = 0;
    errno = 0;
    *out = strtoll(text, &end, 10);
    return errno == 0 && *end == 0;
}

static int is_word(sb_str value, const char *word) { return value.len == strlen(word) && strncasecmp(value.ptr, word, value.len) == 0; }

/* pydantic's words for a boolean, in any case; 0 when `value` is none of them. */
static int parse_bool(sb_str value, int32_t *out) {
    static const char *const yes[] = {"1", "on", "t", "true", "y", "yes"}, *const no[] = {"0", "off", "f", "false", "n", "no"};
    for (size_t i = 0; i < 6; i++) {
        if (is_word(value, yes[i])) { *out = 1; return 1; }
        if (is_word(value, no[i])) { *out = 0; return 1; }
    }
    return 0;
}

static sb_status lookup_untyped(void *data, sb_request *req) {
    sb_str text, q = str(""), format = str("json");
    long long item_id, limit = 10;
    int32_t verbose = 0;
    size_t characters = 0;
    char q_text[50 * 4 + 1]; /* at most 50 code points of UTF-8 */
    (void)data;
    if (host->request_path_param(req, str("item_id"), &text) != SB_OK) return SB_ERR_INTERNAL;
    if (!parse_int(text, &item_id) || item_id < 1) return sbk_respond_detail(host, req, 422, "item_id must be an integer, at least 1");
    if (last_query_param(req, "q", &text)) q = text;
    for (size_t i = 0; i < q.len; i++) characters += ((unsigned char)q.ptr[i] & 0xC0) != 0x80;
    if (characters > 50 || q.len >= sizeof q_text) return sbk_respond_detail(host, req, 422, "q must be at most 50 characters");
    if (memchr(q.ptr, 0, q.len)) return sbk_respond_detail(host, req, 422, "q cannot hold a NUL character");
    memcpy(q_text, q.ptr, q.len);
    q_text[q.len] = 0;
    if (last_query_param(req, "limit", &text) && (!parse_int(text, &limit) || limit < 1 || limit > 100))
        return sbk_respond_detail(host, req, 422, "limit must be an integer from 1 to 100");
    if (last_query_param(req, "format", &text)) format = text;
    if (!(format.len == 4 && (memcmp(format.ptr, "json", 4) == 0 || memcmp(format.ptr, "text", 4) == 0)))
        return sbk_respond_detail(host, req, 422, "format must be json or text");
    if (last_query_param(req, "verbose", &text) && !parse_bool(text, &verbose))
        return sbk_respond_detail(host, req, 422, "verbose must be a boolean");
    return lookup_answer(req, item_id, q_text, limit, memcmp(format.ptr, "text", 4) == 0 ? "text" : "json", verbose);
}

static const sb_str formats[] = {{"json", 4}, {"text", 4}};

/* The lookup's 200: JSON, or text for format=text (one response, two media types). */
static const sb_response_doc lookup_responses[2] = {
    {sizeof(sb_response_doc), 200, 0, {"application/json", 16}, {"The item as JSON, or as a line of text for format=text", 54}},
    {sizeof(sb_response_doc), 200, 0, {"text/plain", 10}, {0, 0}},
};

static sb_status add_lookup(sb_plugin *plugin, void *data) {
    sb_param_spec params[5];
    sb_route_spec spec;
    memset(params, 0, sizeof params);
    memset(&spec, 0, sizeof spec);
    for (int i = 0; i < 5; i++) params[i].struct_size = sizeof params[i];

    params[0].location = SB_PARAM_PATH, params[0].type = SB_TYPE_INT, params[0].name = str("item_id");
    params[0].flags = SB_PARAM_REQUIRED | SB_PARAM_HAS_GE, params[0].ge = 1;
    params[0].description = str("The item to look up");

    params[1].location = SB_PARAM_QUERY, params[1].type = SB_TYPE_STRING, params[1].name = str("q");
    params[1].flags = SB_PARAM_HAS_DEFAULT | SB_PARAM_HAS_MAX_LENGTH, params[1].max_length = 50;
    params[1].default_value = str("");

    params[2].location = SB_PARAM_QUERY, params[2].type = SB_TYPE_INT, params[2].name = str("limit");
    params[2].flags = SB_PARAM_HAS_DEFAULT | SB_PARAM_HAS_GE | SB_PARAM_HAS_LE, params[2].ge = 1, params[2].le = 100;
    params[2].default_value = str("10");

    params[3].location = SB_PARAM_QUERY, params[3].type = SB_TYPE_ENUM, params[3].name = str("format");
    params[3].flags = SB_PARAM_HAS_DEFAULT, params[3].default_value = str("json");
    params[3].enum_values = formats, params[3].enum_count = 2;

    params[4].location = SB_PARAM_QUERY, params[4].type = SB_TYPE_BOOL, params[4].name = str("verbose");
    params[4].flags = SB_PARAM_HAS_DEFAULT, params[4].default_value = str("false");

    spec.struct_size = sizeof spec;
    spec.method = str("GET");
    spec.path = str("/hello-c/lookup/{item_id}");
    spec.typed_handler = (sb_typed_handler_fn)lookup;
    spec.handler_data = data;
    spec.summary = str("Look up an item (typed parameters)");
    spec.params = params;
    spec.param_count = 5;
    spec.responses = lookup_responses;
    spec.response_count = 2;
    return host->route_add(plugin, &spec);
}

static const sb_param_spec count_n = {
    sizeof(sb_param_spec), SB_PARAM_QUERY, SB_TYPE_INT, SB_PARAM_HAS_DEFAULT | SB_PARAM_HAS_GE | SB_PARAM_HAS_LE,
    {"n", 1}, {"How many lines", 14}, 0, 0, 1000, 0, 0, 0, {0, 0}, {"5", 1}, NULL, 0,
};

/* --- Registration ------------------------------------------------------------------------------------ */

/* A route documented with 200 in `media_type` and, when `refusal` is not NULL, a 422 JSON body
 * that `refusal` describes (for a handler that checks its own input). The lookup's twin answers
 * its 200 as JSON or as text: `refusal` routes document both. */
static sb_status add_route(sb_plugin *plugin, const char *method, const char *path, sb_handler_fn handler,
                           void *data, const char *summary, const char *media_type, const sb_param_spec *param,
                           const char *refusal) {
    sb_response_doc responses[3] = {{sizeof(sb_response_doc), 200, 0, {0, 0}, {0, 0}},
                                    {sizeof(sb_response_doc), 200, 0, {0, 0}, {0, 0}},
                                    {sizeof(sb_response_doc), 422, 0, {0, 0}, {0, 0}}};
    sb_route_spec spec;
    memset(&spec, 0, sizeof spec);
    responses[0].media_type = str(media_type);
    responses[0].description = str("Successful Response");
    responses[1].media_type = str("text/plain");
    responses[2].media_type = str("application/json");
    if (refusal) responses[2].description = str(refusal);
    spec.struct_size = sizeof spec;
    spec.method = str(method);
    spec.path = str(path);
    spec.handler = handler;
    spec.handler_data = data;
    spec.summary = str(summary);
    spec.responses = responses;
    spec.response_count = refusal ? 3 : 1;
    spec.params = param;
    spec.param_count = param ? 1 : 0;
    return host->route_add(plugin, &spec);
}

static sb_status on_init(const sb_host_api *api, sb_plugin *plugin, void **out_state) {
    plugin_state *state;
    sb_str greeting;
    host = api;
    state = calloc(1, sizeof *state);
    if (!state) {
        api->plugin_refuse(plugin, str("out of memory"));
        return SB_ERR_NO_MEMORY;
    }
    *out_state = state;
    state->plugin = plugin;
    if (api->config_get(plugin, str("greeting"), &greeting) != SB_OK) greeting = str("Hello from C!");
    if (greeting.len > sizeof state->greeting - 2) greeting.len = sizeof state->greeting - 2;
    memcpy(state->greeting, greeting.ptr, greeting.len);
    state->greeting[greeting.len] = '\n';
    state->greeting_len = greeting.len + 1;

    if (add_route(plugin, "GET", "/hello-c", hello, state, "A plain-text greeting", "text/plain", NULL, NULL) != SB_OK ||
        add_route(plugin, "GET", "/hello-c/json", hello_json, state, "A JSON greeting", "application/json", NULL, NULL) != SB_OK ||
        add_route(plugin, "GET", "/hello-c/items/{item_id}", item, state, "Echo a path parameter", "application/json", NULL, NULL) != SB_OK ||
        add_route(plugin, "GET", "/hello-c/count", count, state, "Stream n lines, 10 ms apart", "text/plain", &count_n, NULL) != SB_OK ||
        add_lookup(plugin, state) != SB_OK ||
        add_route(plugin, "GET", "/hello-c/lookup-untyped/{item_id}", lookup_untyped, state,
                  "The same lookup, its parameters read and checked by the handler (the typed route's twin)", "application/json", NULL,
                  "A parameter out of range, as {\"detail\": \"what to fix\"}") != SB_OK)
        return SB_ERR_INVALID_ARGUMENT;
    api->log(plugin, SB_LOG_DEBUG, str("hello-c initialised"));
    return SB_OK;
}

static void on_deinit(void *state) { free(state); }

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR,
    0, /* swift_version: not a Swift plugin */
    "hello-c", "1.1.0", "The example plugin in C", on_init, on_deinit,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
