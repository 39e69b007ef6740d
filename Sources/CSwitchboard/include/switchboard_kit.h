/*
 * switchboard_kit.h — header-only helpers for plugins written in C against switchboard.h.
 *
 * What every C plugin otherwise writes by hand: a growable byte buffer, JSON string escaping,
 * HTML/XML escaping (a markup printf that escapes its arguments, an XML writer that checks names),
 * HTTP dates and conditional GET (ETag, 304), FastAPI-shaped error bodies ({"detail": ...}, the
 * 422 list), and Server-Sent Event framing that cannot be injected into. Everything here is built on the public ABI only: nothing links the
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
#include <stddef.h>
#include <time.h>

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
/* Markup: HTML and XML                                                                           */
/* ---------------------------------------------------------------------------------------------- */

/* The Unicode scalar of a valid UTF-8 sequence of `length` bytes at s. */
static inline unsigned long sbk_utf8_scalar(const unsigned char *s, size_t length) {
    switch (length) {
    case 1: return s[0];
    case 2: return ((unsigned long)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((unsigned long)(s[0] & 0x0F) << 12) | ((unsigned long)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((unsigned long)(s[0] & 0x07) << 18) | ((unsigned long)(s[1] & 0x3F) << 12) | ((unsigned long)(s[2] & 0x3F) << 6) |
               (s[3] & 0x3F);
    }
}

/* Appends `text` (n bytes) escaped for element content and for quoted attribute values alike,
 * in HTML and XML: & < > " ' become &amp; &lt; &gt; &quot; &#39;, and tab, LF and CR become &#9;
 * &#10; &#13; (a parser would turn them into spaces in an attribute, and CR into LF anywhere).
 * Bytes that are not UTF-8, and characters that XML 1.0 cannot carry or that are HTML5 parse
 * errors (the other C0 controls, DEL, the C1 controls, the noncharacters U+FDD0..U+FDEF and
 * U+xFFFE, U+xFFFF), become U+FFFD, so the result reads back as the same text in both. */
static inline int sbk_markup_text(sbk_buf *b, const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, run = 0;
    while (i < n) {
        size_t length = sbk_utf8_sequence(s + i, n - i);
        unsigned long c = length ? sbk_utf8_scalar(s + i, length) : 0xFFFD;
        const char *entity = NULL;
        switch (c) {
        case '&': entity = "&amp;"; break;
        case '<': entity = "&lt;"; break;
        case '>': entity = "&gt;"; break;
        case '"': entity = "&quot;"; break;
        case '\'': entity = "&#39;"; break;
        case '\t': entity = "&#9;"; break;
        case '\n': entity = "&#10;"; break;
        case '\r': entity = "&#13;"; break;
        default:
            if (length && c >= 0x20 && !(c >= 0x7F && c <= 0x9F) && !(c >= 0xFDD0 && c <= 0xFDEF) && (c & 0xFFFE) != 0xFFFE) {
                i += length;
                run += length;
                continue;
            }
            entity = "\xEF\xBF\xBD"; /* not UTF-8, or not a character markup can carry */
        }
        sbk_buf_append(b, s + i - run, run);
        run = 0;
        sbk_buf_puts(b, entity);
        i += length ? length : sbk_utf8_invalid_run(s + i, n - i);
    }
    return sbk_buf_append(b, s + n - run, run);
}

static inline int sbk_markup_ctext(sbk_buf *b, const char *text) { return sbk_markup_text(b, text, strlen(text)); }

/* printf for markup: the format is trusted markup and is copied as it is; every argument is
 * formatted and then escaped by sbk_markup_text, numbers too. Conversions: %s (const char *,
 * NULL prints nothing), %c, %d %i %u %x with hh, h, l, ll or z before them, and %%. Anything else
 * (%f, %ls, a width) appends nothing more and marks the buffer failed: a format mistake cannot
 * leak raw text. */
static inline int sbk_markup_vprintf(sbk_buf *b, const char *format, va_list args) {
    const char *p = format, *literal = format;
    char number[32];
    for (; *p; p++) {
        int longs = 0, shorts = 0, size = 0, n = -1;
        const char *text = NULL;
        if (*p != '%') continue;
        sbk_buf_append(b, literal, (size_t)(p - literal));
        p++;
        if (*p == '%') { sbk_buf_append(b, "%", 1); literal = p + 1; continue; }
        while (*p == 'l' || *p == 'h' || *p == 'z') { if (*p == 'l') longs++; else if (*p == 'h') shorts++; else size = 1; p++; }
        if ((longs || shorts || size) && (*p == 's' || *p == 'c')) { b->failed = 1; return -1; } /* %ls, %lc */
        switch (*p) {
        case 's': text = va_arg(args, const char *); if (!text) text = ""; break;
        case 'c': number[0] = (char)va_arg(args, int); number[1] = 0; text = number; break;
        case 'd': case 'i':
            if (shorts >= 2) n = snprintf(number, sizeof number, "%d", (int)(signed char)va_arg(args, int));
            else if (shorts == 1) n = snprintf(number, sizeof number, "%d", (int)(short)va_arg(args, int));
            else if (size) n = snprintf(number, sizeof number, "%td", va_arg(args, ptrdiff_t));
            else if (longs >= 2) n = snprintf(number, sizeof number, "%lld", va_arg(args, long long));
            else if (longs == 1) n = snprintf(number, sizeof number, "%ld", va_arg(args, long));
            else n = snprintf(number, sizeof number, "%d", va_arg(args, int));
            text = number;
            break;
        case 'u': case 'x':
            if (shorts >= 2) n = snprintf(number, sizeof number, *p == 'u' ? "%u" : "%x", (unsigned)(unsigned char)va_arg(args, unsigned));
            else if (shorts == 1) n = snprintf(number, sizeof number, *p == 'u' ? "%u" : "%x", (unsigned)(unsigned short)va_arg(args, unsigned));
            else if (size) n = snprintf(number, sizeof number, *p == 'u' ? "%zu" : "%zx", va_arg(args, size_t));
            else if (longs >= 2) n = snprintf(number, sizeof number, *p == 'u' ? "%llu" : "%llx", va_arg(args, unsigned long long));
            else if (longs == 1) n = snprintf(number, sizeof number, *p == 'u' ? "%lu" : "%lx", va_arg(args, unsigned long));
            else n = snprintf(number, sizeof number, *p == 'u' ? "%u" : "%x", va_arg(args, unsigned));
            text = number;
            break;
        default:
            b->failed = 1;
            return -1;
        }
        (void)n;
        sbk_markup_ctext(b, text);
        literal = p + 1;
    }
    sbk_buf_append(b, literal, (size_t)(p - literal));
    return b->failed ? -1 : 0;
}

#if defined(__GNUC__) || defined(__clang__)
static inline int sbk_markup_printf(sbk_buf *b, const char *format, ...) __attribute__((format(printf, 2, 3)));
#endif
static inline int sbk_markup_printf(sbk_buf *b, const char *format, ...) {
    va_list args;
    int result;
    va_start(args, format);
    result = sbk_markup_vprintf(b, format, args);
    va_end(args);
    return result;
}

/* A small XML writer (XML 1.0, UTF-8): elements, attributes and text in document order, every
 * name checked and every value escaped by the writer. Zero-initialise it and set `out` (and
 * `indent`: spaces per level before child elements; 0 adds no whitespace, as ElementTree's
 * tostring writes):
 *
 *     sbk_buf body = {0};
 *     sbk_xml x = {.out = &body, .indent = 2};
 *     sbk_xml_declaration(&x);
 *     sbk_xml_start(&x, "product"); sbk_xml_attr(&x, "id", "7");
 *     sbk_xml_leaf(&x, "name", "Tea & cake");     // <name>Tea &amp; cake</name>
 *     sbk_xml_end(&x);                             // </product>
 *     sbk_xml_finish(&x);    // -1 (and the buffer failed) after a bad name, a missing end, no memory
 *
 * OWNERSHIP: `out` is borrowed. Element names are borrowed until their sbk_xml_end. An error (a
 * name that is not an XML Name, an attribute after content, nesting past SBK_XML_MAX_DEPTH, an
 * end with nothing open) marks the writer failed: later calls do nothing and return -1. */
#define SBK_XML_MAX_DEPTH 64

typedef struct sbk_xml {
    sbk_buf *out;
    int indent;
    const char *open[SBK_XML_MAX_DEPTH];
    unsigned char children[SBK_XML_MAX_DEPTH]; /* 1 once an element has child elements */
    unsigned char content[SBK_XML_MAX_DEPTH];  /* 1 once it has any content */
    size_t depth;
    int in_start_tag; /* "<name" written: attributes may follow */
    int failed;
} sbk_xml;

/* Whether `name` is an XML 1.0 Name (Fifth Edition, §2.3): a NameStartChar (a letter, '_',
 * ':', or one of the ranges the production lists), then NameChars (those, digits, '-', '.',
 * U+00B7, combining marks U+0300..U+036F, U+203F, U+2040); valid UTF-8 throughout. */
static inline int sbk_xml_name_char(unsigned long c, int first) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':') return 1;
    if ((c >= 0xC0 && c <= 0xD6) || (c >= 0xD8 && c <= 0xF6) || (c >= 0xF8 && c <= 0x2FF) || (c >= 0x370 && c <= 0x37D) ||
        (c >= 0x37F && c <= 0x1FFF) || (c >= 0x200C && c <= 0x200D) || (c >= 0x2070 && c <= 0x218F) ||
        (c >= 0x2C00 && c <= 0x2FEF) || (c >= 0x3001 && c <= 0xD7FF) || (c >= 0xF900 && c <= 0xFDCF) ||
        (c >= 0xFDF0 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0xEFFFF))
        return 1;
    if (first) return 0;
    return (c >= '0' && c <= '9') || c == '-' || c == '.' || c == 0xB7 || (c >= 0x300 && c <= 0x36F) || c == 0x203F || c == 0x2040;
}

static inline int sbk_xml_name_ok(const char *name) {
    const unsigned char *s = (const unsigned char *)name;
    size_t n = strlen(name), i = 0;
    if (n == 0) return 0;
    while (i < n) {
        size_t length = sbk_utf8_sequence(s + i, n - i);
        if (length == 0 || !sbk_xml_name_char(sbk_utf8_scalar(s + i, length), i == 0)) return 0;
        i += length;
    }
    return 1;
}

static inline int sbk_xml_fail(sbk_xml *x) {
    x->failed = 1;
    return -1;
}

/* Closes a start tag left open for attributes. */
static inline void sbk_xml_close_start(sbk_xml *x) {
    if (!x->in_start_tag) return;
    sbk_buf_append(x->out, ">", 1);
    x->in_start_tag = 0;
}

static inline void sbk_xml_newline(sbk_xml *x, size_t level) {
    size_t i;
    if (x->indent <= 0) return;
    sbk_buf_append(x->out, "\n", 1);
    for (i = 0; i < level * (size_t)x->indent; i++) sbk_buf_append(x->out, " ", 1);
}

/* <?xml version="1.0" encoding="UTF-8"?> and a line break; first, or not at all. */
static inline int sbk_xml_declaration(sbk_xml *x) {
    if (x->failed) return -1;
    if (x->depth || x->out->len) return sbk_xml_fail(x);
    return sbk_buf_puts(x->out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
}

static inline int sbk_xml_start(sbk_xml *x, const char *name) {
    if (x->failed) return -1;
    if (!name || !sbk_xml_name_ok(name) || x->depth >= SBK_XML_MAX_DEPTH) return sbk_xml_fail(x);
    sbk_xml_close_start(x);
    if (x->depth) {
        x->children[x->depth - 1] = x->content[x->depth - 1] = 1;
        sbk_xml_newline(x, x->depth);
    }
    sbk_buf_append(x->out, "<", 1);
    sbk_buf_puts(x->out, name);
    x->open[x->depth] = name;
    x->children[x->depth] = x->content[x->depth] = 0;
    x->depth++;
    x->in_start_tag = 1;
    return x->out->failed ? sbk_xml_fail(x) : 0;
}

/* An attribute of the element just started (before any content), its value escaped. */
static inline int sbk_xml_attr(sbk_xml *x, const char *name, const char *value) {
    if (x->failed) return -1;
    if (!x->in_start_tag || !name || !sbk_xml_name_ok(name)) return sbk_xml_fail(x);
    sbk_buf_append(x->out, " ", 1);
    sbk_buf_puts(x->out, name);
    sbk_buf_append(x->out, "=\"", 2);
    sbk_markup_ctext(x->out, value ? value : "");
    sbk_buf_append(x->out, "\"", 1);
    return x->out->failed ? sbk_xml_fail(x) : 0;
}

/* Text content of the open element (n bytes), escaped. */
static inline int sbk_xml_text(sbk_xml *x, const char *text, size_t n) {
    if (x->failed) return -1;
    if (!x->depth) return sbk_xml_fail(x);
    sbk_xml_close_start(x);
    if (n) x->content[x->depth - 1] = 1;
    sbk_markup_text(x->out, text, n);
    return x->out->failed ? sbk_xml_fail(x) : 0;
}

static inline int sbk_xml_ctext(sbk_xml *x, const char *text) { return sbk_xml_text(x, text, strlen(text)); }

/* Text content made by sbk_markup_printf (each argument escaped, numbers too). */
static inline int sbk_xml_printf(sbk_xml *x, const char *format, ...) {
    va_list args;
    if (x->failed) return -1;
    if (!x->depth) return sbk_xml_fail(x);
    sbk_xml_close_start(x);
    x->content[x->depth - 1] = 1;
    va_start(args, format);
    sbk_markup_vprintf(x->out, format, args);
    va_end(args);
    return x->out->failed ? sbk_xml_fail(x) : 0;
}

/* Ends the innermost open element: "/>" when it has no content, else its end tag. */
static inline int sbk_xml_end(sbk_xml *x) {
    size_t level;
    if (x->failed) return -1;
    if (!x->depth) return sbk_xml_fail(x);
    level = --x->depth;
    if (x->in_start_tag && !x->content[level]) {
        x->in_start_tag = 0;
        sbk_buf_append(x->out, " />", 3);
    } else {
        sbk_xml_close_start(x);
        if (x->children[level]) sbk_xml_newline(x, level);
        sbk_buf_append(x->out, "</", 2);
        sbk_buf_puts(x->out, x->open[level]);
        sbk_buf_append(x->out, ">", 1);
    }
    return x->out->failed ? sbk_xml_fail(x) : 0;
}

/* <name>text</name> (text NULL: <name />). */
static inline int sbk_xml_leaf(sbk_xml *x, const char *name, const char *text) {
    sbk_xml_start(x, name);
    if (text) sbk_xml_ctext(x, text);
    return sbk_xml_end(x);
}

/* 0 when the document is complete: every element ended, nothing failed. Otherwise -1, and the
 * output buffer is marked failed, so sbk_respond answers 500 rather than send a broken document. */
static inline int sbk_xml_finish(sbk_xml *x) {
    if (!x->failed && !x->depth && !x->out->failed) return 0;
    x->out->failed = 1;
    return -1;
}

/* ---------------------------------------------------------------------------------------------- */
/* HTTP dates and conditional GET                                                                 */
/* ---------------------------------------------------------------------------------------------- */

/* `t` as an IMF-fixdate (RFC 9110 §5.6.7, the form RFC 822 dates in RSS take too): "Sun, 06 Nov
 * 1994 08:49:37 GMT", 29 bytes and a NUL, in `out`. English names whatever the C locale; a time
 * outside years 1 to 9999 is clamped to their ends. */
static inline void sbk_http_date(char out[30], time_t t) {
    static const char days[] = "ThuFriSatSunMonTueWed", months[] = "MarAprMayJunJulAugSepOctNovDecJanFeb";
    /* Clamped to years 1 to 9999, what the four-digit form can say. */
    long long seconds = (long long)t < -62135596800LL ? -62135596800LL : (long long)t > 253402300799LL ? 253402300799LL : (long long)t;
    long long day = seconds / 86400, second = seconds % 86400;
    long long era, doe, yoe, doy, mp, year;
    if (second < 0) { second += 86400; day--; }
    /* Days since 1970-01-01 to a proclaimed Gregorian date (H. Hinnant's civil_from_days), in
     * plain C: gmtime_r is POSIX, and this header builds with -std=c11 alone. */
    era = (day + 719468 >= 0 ? day + 719468 : day + 719468 - 146096) / 146097;
    doe = day + 719468 - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    year = yoe + era * 400 + (mp >= 10);
    snprintf(out, 30, "%.3s, %02u %.3s %04u %02u:%02u:%02u GMT", days + 3 * (unsigned)(((day % 7) + 7) % 7),
             (unsigned)(doy - (153 * mp + 2) / 5 + 1) % 100u, months + 3 * (unsigned)mp, (unsigned)(year % 10000),
             (unsigned)(second / 3600) % 100u, (unsigned)(second / 60 % 60), (unsigned)(second % 60));
}

/* Whether one field value's list of entity tags holds `etag` (with its quotes, e.g. "\"abc\"")
 * or is `*` (the whole value). `weak`: the weak comparison (RFC 9110 §8.8.3.2, W/ ignored on both
 * sides), as If-None-Match uses; otherwise the strong one, where a W/ tag never matches, as
 * If-Match uses. Read as the host reads a list (ETagList): a quoted tag runs to its closing
 * quote, and a bare token (`abc`, as clients copy an unquoted tag) stands for the quoted tag. */
static inline int sbk_tag_list_has(sb_str value, const char *etag, size_t tag_len, int weak) {
    size_t i = 0, first = 0, last = value.len;
    while (first < last && (value.ptr[first] == ' ' || value.ptr[first] == '\t')) first++;
    while (last > first && (value.ptr[last - 1] == ' ' || value.ptr[last - 1] == '\t')) last--;
    if (last - first == 1 && value.ptr[first] == '*') return 1;
    while (i < value.len) {
        size_t start, end;
        int is_weak = 0;
        while (i < value.len && (value.ptr[i] == ' ' || value.ptr[i] == '\t' || value.ptr[i] == ',')) i++;
        if (i >= value.len) break;
        if (i + 1 < value.len && value.ptr[i] == 'W' && value.ptr[i + 1] == '/') {
            is_weak = 1;
            i += 2;
        }
        start = i;
        if (i < value.len && value.ptr[i] == '"') {
            for (i++; i < value.len && value.ptr[i] != '"'; i++) {}
            if (i < value.len) i++;
            end = i;
            if ((weak || !is_weak) && end - start == tag_len && memcmp(value.ptr + start, etag, tag_len) == 0) return 1;
        } else {
            while (i < value.len && value.ptr[i] != ',') i++;
            end = i;
            while (end > start && (value.ptr[end - 1] == ' ' || value.ptr[end - 1] == '\t')) end--;
            /* A bare token: the quoted tag it stands for (a bare W/ token stands for none). */
            if (!is_weak && end - start + 2 == tag_len && tag_len >= 2 && etag[0] == '"' && etag[tag_len - 1] == '"' &&
                memcmp(value.ptr + start, etag + 1, end - start) == 0)
                return 1;
        }
        while (i < value.len && value.ptr[i] != ',') i++;
    }
    return 0;
}

/* The request's If-Match and If-None-Match (every field line of each) evaluated against a
 * representation tagged `etag`, in RFC 9110 §13.2.2's order: 412 when If-Match is present and
 * does not allow it (strong comparison); when If-None-Match matches it (weak comparison), 304
 * for GET and HEAD and 412 for any other method; otherwise 200, proceed. */
static inline int sbk_preconditions(const sb_host_api *host, sb_request *req, const char *etag) {
    size_t tag_len = strlen(etag), index;
    sb_str if_match = {"if-match", 8}, if_none_match = {"if-none-match", 13}, value, method = {NULL, 0};
    int present = 0, allowed = 0, matched = 0;
    for (index = 0; host->request_header(req, if_match, index, &value) == SB_OK; index++) {
        present = 1;
        allowed = allowed || sbk_tag_list_has(value, etag, tag_len, 0);
    }
    if (present && !allowed) return 412;
    for (index = 0; !matched && host->request_header(req, if_none_match, index, &value) == SB_OK; index++) {
        matched = sbk_tag_list_has(value, etag, tag_len, 1);
    }
    if (!matched) return 200;
    host->request_method(req, &method);
    if ((method.len == 3 && memcmp(method.ptr, "GET", 3) == 0) || (method.len == 4 && memcmp(method.ptr, "HEAD", 4) == 0)) return 304;
    return 412;
}

/* Responds as `verdict` (sbk_preconditions' result) for a representation with a strong `etag`
 * (quotes included): 200 with `content_type` and the `n` bytes of `body` (copied by the host),
 * 304 with no body, or 412 with {"detail":"Precondition Failed"}. The ETag and the `extra`
 * headers (name, value pairs, NULL-terminated; may be NULL) go on all three. */
static inline sb_status sbk_respond_evaluated(const sb_host_api *host, sb_request *req, int verdict, const char *content_type,
                                              const char *etag, const void *body, size_t n, const char *const *extra) {
    static const char failed[] = "{\"detail\":\"Precondition Failed\"}";
    sb_str etag_name = {"etag", 4}, etag_value = {etag, strlen(etag)};
    sb_str type_name = {"content-type", 12}, type_value = {content_type, strlen(content_type)}, json = {"application/json", 16};
    sb_bytes bytes = {(const uint8_t *)body, n}, none = {NULL, 0}, detail = {(const uint8_t *)failed, sizeof failed - 1};
    host->response_header_add(req, etag_name, etag_value);
    for (; extra && extra[0] && extra[1]; extra += 2) {
        sb_str hn = {extra[0], strlen(extra[0])}, hv = {extra[1], strlen(extra[1])};
        host->response_header_add(req, hn, hv);
    }
    if (verdict == 304) return host->response_send(req, 304, none);
    if (verdict == 412) {
        host->response_header_add(req, type_name, json);
        return host->response_send(req, 412, detail);
    }
    host->response_header_add(req, type_name, type_value);
    return host->response_send(req, 200, bytes);
}

/* sbk_respond_evaluated with the request's own preconditions (sbk_preconditions). */
static inline sb_status sbk_respond_tagged(const sb_host_api *host, sb_request *req, const char *content_type,
                                           const char *etag, const void *body, size_t n, const char *const *extra) {
    return sbk_respond_evaluated(host, req, sbk_preconditions(host, req, etag), content_type, etag, body, n, extra);
}

/* ---------------------------------------------------------------------------------------------- */
/* Routes                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/* Registers `method` `path` (a template) with `handler` and `data`, `params` (param_count of
 * them; NULL with 0: none), SB_ROUTE_* `flags`, `summary` and the `responses` documented in
 * /openapi.json (response_count of them; NULL with 0: none). OWNERSHIP: everything is copied by
 * route_add, so all of it may live on the caller's stack. */
static inline sb_status sbk_route_documented(const sb_host_api *host, sb_plugin *plugin, const char *method, const char *path,
                                             sb_handler_fn handler, void *data, const char *summary,
                                             const sb_response_doc *responses, size_t response_count,
                                             const sb_param_spec *params, size_t param_count, uint32_t flags) {
    sb_route_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.flags = flags;
    spec.method.ptr = method;
    spec.method.len = strlen(method);
    spec.path.ptr = path;
    spec.path.len = strlen(path);
    spec.handler = handler;
    spec.handler_data = data;
    spec.summary.ptr = summary;
    spec.summary.len = summary ? strlen(summary) : 0;
    spec.responses = responses;
    spec.response_count = response_count;
    spec.params = params;
    spec.param_count = param_count;
    return host->route_add(plugin, &spec);
}

/* A documented response: `status`, `media_type` and `description` (NUL-terminated, borrowed for
 * as long as the struct is used). */
static inline sb_response_doc sbk_response_doc(uint16_t status, const char *media_type, const char *description) {
    sb_response_doc doc;
    memset(&doc, 0, sizeof doc);
    doc.struct_size = sizeof doc;
    doc.status = status;
    doc.media_type.ptr = media_type;
    doc.media_type.len = strlen(media_type);
    doc.description.ptr = description;
    doc.description.len = strlen(description);
    return doc;
}

/* sbk_route_documented with one documented response: 200 with `media_type` (NULL: none). */
static inline sb_status sbk_route(const sb_host_api *host, sb_plugin *plugin, const char *method, const char *path,
                                  sb_handler_fn handler, void *data, const char *summary, const char *media_type,
                                  const sb_param_spec *params, size_t param_count, uint32_t flags) {
    sb_response_doc ok = sbk_response_doc(200, media_type ? media_type : "", "Successful Response");
    return sbk_route_documented(host, plugin, method, path, handler, data, summary, media_type ? &ok : NULL, media_type ? 1 : 0,
                                params, param_count, flags);
}

/* ---------------------------------------------------------------------------------------------- */
/* Responses                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* Responds with `status`, `content_type` (NULL: application/octet-stream) and the buffer's bytes
 * (copied by the host), in one host call (response_send_fields). A buffer whose allocation failed
 * answers 500 instead. A content type the host refuses (CR, LF, NUL) refuses the whole call
 * (SB_ERR_INVALID_ARGUMENT, nothing sent: the handler's 500 follows when it returns that). */
static inline sb_status sbk_respond(const sb_host_api *host, sb_request *req, uint16_t status, const char *content_type,
                                    const sbk_buf *body) {
    const char *type = content_type ? content_type : "application/octet-stream";
    sb_field field = {sizeof(sb_field), 0, {"content-type", 12}, {type, strlen(type)}};
    if (body->failed) {
        static const char oom[] = "{\"detail\":\"Internal Server Error\"}";
        sb_bytes bytes = {(const uint8_t *)oom, sizeof oom - 1};
        field.value.ptr = "application/json";
        field.value.len = 16;
        return host->response_send_fields(req, 500, &field, 1, bytes);
    }
    return host->response_send_fields(req, status, &field, 1, sbk_buf_bytes(body));
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

/* An offered media type without its parameters or surrounding spaces and tabs: `text/html`
 * of " text/html ; charset=utf-8". Writes where it starts and returns its length. */
static inline size_t sbk_media_type_bare(sb_str type, const char **start) {
    size_t from = 0, to;
    while (from < type.len && (type.ptr[from] == ' ' || type.ptr[from] == '\t')) from++;
    for (to = from; to < type.len && type.ptr[to] != ';'; to++) {}
    while (to > from && (type.ptr[to - 1] == ' ' || type.ptr[to - 1] == '\t')) to--;
    *start = type.len ? type.ptr + from : type.ptr;
    return to - from;
}

/* 406 Not Acceptable after request_negotiate answered SB_ERR_NOT_FOUND, with the body the Swift
 * SDK's HTTPError.notAcceptable writes: {"detail":"Acceptable formats: a, b","available":["a","b"]},
 * each offered type bare (sbk_media_type_bare). `offered` is read during the call only. */
static inline sb_status sbk_respond_not_acceptable(const sb_host_api *host, sb_request *req, const sb_str *offered,
                                                   size_t count) {
    sbk_buf b = {0}, list = {0}, available = {0};
    sb_status result;
    const char *start;
    size_t i, n;
    /* One pass: the detail's text and the JSON array side by side. */
    sbk_buf_puts(&list, "Acceptable formats: ");
    for (i = 0; i < count; i++) {
        n = sbk_media_type_bare(offered[i], &start);
        sbk_buf_append(&list, ", ", i > 0 ? 2 : 0);
        sbk_buf_append(&list, start, n);
        sbk_buf_append(&available, ",", i > 0 ? 1 : 0);
        sbk_json_string(&available, start, n);
    }
    sbk_buf_puts(&b, "{\"detail\":");
    sbk_json_string(&b, list.failed ? "" : (const char *)list.data, list.failed ? 0 : list.len);
    sbk_buf_puts(&b, ",\"available\":[");
    sbk_buf_append(&b, available.data, available.failed ? 0 : available.len);
    sbk_buf_puts(&b, "]}");
    b.failed |= list.failed | available.failed;
    result = sbk_respond(host, req, 406, "application/json", &b);
    sbk_buf_free(&available);
    sbk_buf_free(&list);
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
