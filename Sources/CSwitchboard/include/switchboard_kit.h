/*
 * switchboard_kit.h — header-only helpers for plugins written in C against switchboard.h.
 *
 * What every C plugin otherwise writes by hand: a growable byte buffer, JSON string escaping,
 * FastAPI-shaped error bodies ({"detail": ...}, the 422 list), and Server-Sent Event framing that
 * cannot be injected into. Everything here is built on the public ABI only: nothing links the
 * host, and using it is optional. All functions are `static inline`; include this header after
 * (or instead of) switchboard.h in as many files as you like.
 *
 * Conventions: names start with `sbk_`. Functions that grow a buffer return 0, or -1 once an
 * allocation has failed; a failed buffer stays failed (later appends do nothing), so a sequence of
 * appends may be checked once at the end (sbk_buf.failed). Text arguments are UTF-8; a `const
 * char *` is NUL-terminated, a (pointer, length) pair need not be.
 */
#ifndef SWITCHBOARD_KIT_H
#define SWITCHBOARD_KIT_H

#include "switchboard.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* A growable byte buffer                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/* Bytes on the heap. Zero-initialise it (`sbk_buf b = {0};`), append, hand `sbk_buf_bytes(&b)` to
 * the host (which copies it, rule 4), then sbk_buf_free. OWNERSHIP: owns `data`. */
typedef struct sbk_buf {
    uint8_t *data;
    size_t len;     /* bytes used */
    size_t cap;     /* bytes allocated */
    int failed;     /* 1 after an allocation failed: nothing more is appended */
} sbk_buf;

static inline void sbk_buf_free(sbk_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

/* Makes room for `more` bytes past len. 0, or -1 (and `failed`) when memory runs out. */
static inline int sbk_buf_reserve(sbk_buf *b, size_t more) {
    size_t want, cap;
    uint8_t *grown;
    if (b->failed) return -1;
    if (more > SIZE_MAX - b->len) { b->failed = 1; return -1; }
    want = b->len + more;
    if (want <= b->cap) return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < want) cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    grown = (uint8_t *)realloc(b->data, cap);
    if (!grown) { b->failed = 1; return -1; }
    b->data = grown;
    b->cap = cap;
    return 0;
}

static inline int sbk_buf_append(sbk_buf *b, const void *bytes, size_t n) {
    if (n == 0) return b->failed ? -1 : 0;
    if (sbk_buf_reserve(b, n) != 0) return -1;
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}

static inline int sbk_buf_puts(sbk_buf *b, const char *s) { return sbk_buf_append(b, s, strlen(s)); }

/* printf into the buffer (vsnprintf's formats; the result may be any length). */
static inline int sbk_buf_printf(sbk_buf *b, const char *format, ...) {
    va_list args, again;
    int n;
    va_start(args, format);
    va_copy(again, args);
    n = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (n < 0 || sbk_buf_reserve(b, (size_t)n + 1) != 0) {
        va_end(again);
        if (n < 0) b->failed = 1;
        return -1;
    }
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, format, again);
    va_end(again);
    b->len += (size_t)n;
    return 0;
}

/* The buffer as the ABI's bytes: borrowed from `b`, valid until it next changes or is freed. */
static inline sb_bytes sbk_buf_bytes(const sbk_buf *b) {
    sb_bytes out = {b->data, b->len};
    return out;
}

/* ---------------------------------------------------------------------------------------------- */
/* JSON                                                                                           */
/* ---------------------------------------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF). */
static inline size_t sbk_utf8_sequence(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
        if (c == 0xF4 && s[1] >= 0x90) return 0; /* past U+10FFFF */
        return 4;
    }
    return 0;
}

/* For bytes at s[0..n) that do not start a valid sequence: how many (at least 1) form the longest
 * start of one, all replaced by a single U+FFFD (the WHATWG decoder's "maximal subpart" rule, so
 * "\xF0\x9F\x98" cut short is one replacement, not three). */
static inline size_t sbk_utf8_invalid_run(const unsigned char *s, size_t n) {
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need, i;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 1;
    for (i = 1; i <= need && i < n; i++) {
        if (s[i] < lo || s[i] > hi) break;
        lo = 0x80, hi = 0xBF;
    }
    return i;
}

/* Appends `text` (n bytes; NULL with n 0 is the empty string) as a quoted JSON string (RFC 8259
 * §7): `"` and `\` escaped, control characters as \n, \r, \t or \u00XX, and bytes that are not
 * UTF-8 replaced by U+FFFD (one per maximal subpart), so the result is always valid JSON. */
static inline int sbk_json_string(sbk_buf *b, const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, run = 0;
    sbk_buf_append(b, "\"", 1);
    while (i < n) {
        unsigned char c = s[i];
        size_t length = sbk_utf8_sequence(s + i, n - i);
        if (length == 1 && c >= 0x20 && c != '"' && c != '\\') { i++; run++; continue; }
        if (length > 1) { i += length; run += length; continue; }
        sbk_buf_append(b, s + i - run, run);
        run = 0;
        if (length == 0) {
            sbk_buf_append(b, "\xEF\xBF\xBD", 3); /* not UTF-8: U+FFFD */
            i += sbk_utf8_invalid_run(s + i, n - i);
            continue;
        }
        switch (c) {
        case '"': sbk_buf_append(b, "\\\"", 2); break;
        case '\\': sbk_buf_append(b, "\\\\", 2); break;
        case '\n': sbk_buf_append(b, "\\n", 2); break;
        case '\r': sbk_buf_append(b, "\\r", 2); break;
        case '\t': sbk_buf_append(b, "\\t", 2); break;
        default: sbk_buf_printf(b, "\\u%04x", c); break;
        }
        i++;
    }
    if (run) sbk_buf_append(b, s + n - run, run);
    return sbk_buf_append(b, "\"", 1);
}

static inline int sbk_json_cstring(sbk_buf *b, const char *text) { return sbk_json_string(b, text, strlen(text)); }

/* ---------------------------------------------------------------------------------------------- */
/* Responses                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* Responds with `status`, `content_type` (NULL: application/octet-stream) and the buffer's bytes
 * (copied by the host). A buffer whose allocation failed answers 500 instead. */
static inline sb_status sbk_respond(const sb_host_api *host, sb_request *req, uint16_t status, const char *content_type,
                                    const sbk_buf *body) {
    const char *type = content_type ? content_type : "application/octet-stream";
    sb_str name = {"content-type", 12}, value = {type, strlen(type)};
    if (body->failed) {
        static const char oom[] = "{\"detail\":\"Internal Server Error\"}";
        sb_str json = {"application/json", 16};
        sb_bytes bytes = {(const uint8_t *)oom, sizeof oom - 1};
        host->response_header_add(req, name, json);
        return host->response_send(req, 500, bytes);
    }
    host->response_header_add(req, name, value);
    return host->response_send(req, status, sbk_buf_bytes(body));
}

/* {"detail":"<detail>"} with `status`: the shape of every error the host itself answers. */
static inline sb_status sbk_respond_detail(const sb_host_api *host, sb_request *req, uint16_t status, const char *detail) {
    sbk_buf b = {0};
    sb_status result;
    sbk_buf_puts(&b, "{\"detail\":");
    sbk_json_cstring(&b, detail);
    sbk_buf_puts(&b, "}");
    result = sbk_respond(host, req, status, "application/json", &b);
    sbk_buf_free(&b);
    return result;
}

/* A 422 in FastAPI's shape for one invalid input:
 *   {"detail":[{"type":<type>,"loc":[<where>,<name>],"msg":<msg>,"input":<input>}]}
 * `where` is "path", "query", "header" or "body"; `input` is the value as received (NULL: null).
 * For parameters declared in sb_route_spec the host already answers this itself. */
static inline sb_status sbk_respond_422(const sb_host_api *host, sb_request *req, const char *where, const char *name,
                                        const char *type, const char *msg, const char *input) {
    sbk_buf b = {0};
    sb_status result;
    sbk_buf_puts(&b, "{\"detail\":[{\"type\":");
    sbk_json_cstring(&b, type);
    sbk_buf_puts(&b, ",\"loc\":[");
    sbk_json_cstring(&b, where);
    sbk_buf_puts(&b, ",");
    sbk_json_cstring(&b, name);
    sbk_buf_puts(&b, "],\"msg\":");
    sbk_json_cstring(&b, msg);
    sbk_buf_puts(&b, ",\"input\":");
    if (input) sbk_json_cstring(&b, input); else sbk_buf_puts(&b, "null");
    sbk_buf_puts(&b, "}]}");
    result = sbk_respond(host, req, 422, "application/json", &b);
    sbk_buf_free(&b);
    return result;
}

/* ---------------------------------------------------------------------------------------------- */
/* Server-Sent Events (text/event-stream)                                                         */
/* ---------------------------------------------------------------------------------------------- */

/* Appends `value` without CR, LF and NUL (what an `event:` or `id:` field may not hold). */
static inline int sbk_sse_field(sbk_buf *b, const char *field, const char *value) {
    const char *p;
    sbk_buf_puts(b, field);
    sbk_buf_append(b, ": ", 2);
    for (p = value; *p; p++) {
        if (*p != '\r' && *p != '\n') sbk_buf_append(b, p, 1);
    }
    return sbk_buf_append(b, "\n", 1);
}

/* Appends one event in the WHATWG wire form (HTML §9.2.6): `id:` and `event:` when not NULL
 * (their CR and LF removed), then one `data:` line per line of `data` — split at CR LF, LF and CR
 * alike, the three line ends a client reads, so nothing in `data` can start a field of its own —
 * and the blank line that ends the event. Write the buffer with stream_write. */
static inline int sbk_sse_event(sbk_buf *b, const char *event, const char *id, const char *data, size_t n) {
    size_t i, start = 0;
    if (id) sbk_sse_field(b, "id", id);
    if (event) sbk_sse_field(b, "event", event);
    for (i = 0; i <= n; i++) {
        if (i < n && data[i] != '\r' && data[i] != '\n') continue;
        sbk_buf_append(b, "data: ", 6);
        sbk_buf_append(b, data + start, i - start);
        sbk_buf_append(b, "\n", 1);
        if (i < n && data[i] == '\r' && i + 1 < n && data[i + 1] == '\n') i++;
        start = i + 1;
    }
    return sbk_buf_append(b, "\n", 1);
}

/* A comment line (": text"), which a client ignores: keeps an idle stream alive through proxies. */
static inline int sbk_sse_comment(sbk_buf *b, const char *text) {
    sbk_buf_append(b, ":", 1);
    if (*text) sbk_buf_append(b, " ", 1);
    for (; *text; text++) {
        if (*text != '\r' && *text != '\n') sbk_buf_append(b, text, 1);
    }
    return sbk_buf_append(b, "\n\n", 2);
}

#ifdef __cplusplus
}
#endif

#endif /* SWITCHBOARD_KIT_H */
