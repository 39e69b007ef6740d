/*
 * media: section 8.4's binary responses, drawn and encoded by real libraries.
 *
 *   GET /image/dynamic?width=400&height=200&text=Hello!
 *        a PNG: background (73, 109, 137), the text in white, antialiased, centred on the image's
 *        middle as Pillow's anchor="mm" centres it (the middle of its advance width and of the
 *        font's ascender and descender), and a 2-pixel white border. Text wider than the image is
 *        set smaller to fit, then clipped; a character the font lacks shows its missing-glyph box.
 *        Cache-Control: public, max-age=3600; a strong ETag from the parameters and this
 *        plugin's version (304 without drawing anything); a bounded cache of encoded images.
 *   GET /download/binary
 *        bytes(range(256)) * 4 as data.bin.
 *
 * Text is drawn by FreeType from DejaVu Sans (plugins.config.media.font, default the Debian
 * path; the plugin refuses to load, saying so, when the font is missing). The PNG is written with
 * zlib one row at a time (see "PNG" below): the image is never held whole, only the text's
 * coverage, so a 4096 x 4096 image costs three rows of memory, not 48 MiB. Rendering runs on the
 * host's thread pool (a blocking route).
 * Each response carries Server-Timing: render and encode durations, in milliseconds.
 */
#include "media.h"

#include <switchboard_kit.h>

#include <ft2build.h>
#include FT_FREETYPE_H
#include <zlib.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MEDIA_VERSION "1.0.0"
#define MAX_SIDE 4096
#define MAX_TEXT 200           /* Unicode scalars */
#define BORDER 2               /* pixels */
#define MIN_PIXEL_SIZE 6

static const sb_host_api *host;
static const unsigned char background[3] = {73, 109, 137};

static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }

/* --- The cache of encoded images ------------------------------------------------------------------- */

typedef struct cached {
    struct cached *newer, *older;  /* most recently used first */
    uint64_t key;
    int width, height;
    char *text;
    unsigned char *png;
    size_t png_len;
} cached;

typedef struct plugin_state {
    sb_plugin *plugin;
    FT_Library freetype;
    FT_Face face;
    pthread_mutex_t face_lock;     /* an FT_Face is used by one thread at a time */
    pthread_mutex_t cache_lock;
    cached *newest, *oldest;
    size_t cache_bytes, cache_limit;
    unsigned char binary[1024];
} plugin_state;

/* FNV-1a (64-bit), continued from `hash`. */
static uint64_t fnv(uint64_t hash, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) hash = (hash ^ p[i]) * 0x100000001b3ull;
    return hash;
}

/* What identifies an image: the parameters and this plugin's version (a new version may draw
 * differently, so its tags differ). */
static uint64_t image_key(int width, int height, const char *text, size_t n) {
    char sizes[32];
    int length = snprintf(sizes, sizeof sizes, "|%d|%d|", width, height);
    uint64_t hash = fnv(0xcbf29ce484222325ull, MEDIA_VERSION, strlen(MEDIA_VERSION));
    hash = fnv(hash, sizes, (size_t)length);
    return fnv(hash, text, n);
}

static void cache_unlink(plugin_state *state, cached *entry) {
    if (entry->newer) entry->newer->older = entry->older; else state->newest = entry->older;
    if (entry->older) entry->older->newer = entry->newer; else state->oldest = entry->newer;
    entry->newer = entry->older = NULL;
}

static void cache_front(plugin_state *state, cached *entry) {
    entry->older = state->newest;
    entry->newer = NULL;
    if (state->newest) state->newest->newer = entry;
    state->newest = entry;
    if (!state->oldest) state->oldest = entry;
}

static size_t cache_cost(const cached *entry) { return entry->png_len + strlen(entry->text) + sizeof *entry; }

static void cache_free(cached *entry) {
    free(entry->text);
    free(entry->png);
    free(entry);
}

/* A copy of the cached PNG for these parameters into `out`, under the lock. 1 when found. */
static int cache_get(plugin_state *state, uint64_t key, int width, int height, const char *text, sbk_buf *out) {
    int found = 0;
    pthread_mutex_lock(&state->cache_lock);
    for (cached *entry = state->newest; entry; entry = entry->older) {
        if (entry->key == key && entry->width == width && entry->height == height && strcmp(entry->text, text) == 0) {
            cache_unlink(state, entry);
            cache_front(state, entry);
            sbk_buf_append(out, entry->png, entry->png_len);
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&state->cache_lock);
    return found;
}

/* Keeps a copy of `png`, dropping the least recently used images past the limit in bytes. */
static void cache_put(plugin_state *state, uint64_t key, int width, int height, const char *text, const sbk_buf *png) {
    cached *entry = calloc(1, sizeof *entry);
    if (!entry) return;
    entry->key = key;
    entry->width = width;
    entry->height = height;
    entry->text = strdup(text);
    entry->png = malloc(png->len);
    entry->png_len = png->len;
    if (!entry->text || !entry->png || cache_cost(entry) > state->cache_limit) {
        cache_free(entry);
        return;
    }
    memcpy(entry->png, png->data, png->len);
    pthread_mutex_lock(&state->cache_lock);
    cache_front(state, entry);
    state->cache_bytes += cache_cost(entry);
    while (state->cache_bytes > state->cache_limit && state->oldest) {
        cached *old = state->oldest;
        cache_unlink(state, old);
        state->cache_bytes -= cache_cost(old);
        cache_free(old);
    }
    pthread_mutex_unlock(&state->cache_lock);
}

/* --- Drawing ----------------------------------------------------------------------------------------- */

/* The text's coverage (0 to 255 per pixel), clipped to the image: `rows` of `cols` bytes whose top
 * left corner sits at (x0, y0) in the image. */
typedef struct coverage {
    unsigned char *pixels;
    int x0, y0, cols, rows;
} coverage;

/* UTF-8 to scalars (bytes that are not UTF-8 become U+FFFD), at most `limit`. */
static size_t decode_utf8(const char *text, size_t n, uint32_t *out, size_t limit) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, count = 0;
    while (i < n && count < limit) {
        size_t length = sbk_utf8_sequence(s + i, n - i);
        if (length == 0) {
            out[count++] = 0xFFFD;
            i += sbk_utf8_invalid_run(s + i, n - i);
        } else {
            out[count++] = (uint32_t)sbk_utf8_scalar(s + i, length);
            i += length;
        }
    }
    return count;
}

/* The kerning between two glyphs at the face's current size, in 26.6 fixed point (0 without). */
static long kerning(FT_Face face, FT_UInt previous, FT_UInt glyph) {
    FT_Vector kern;
    if (!previous || !glyph || !FT_HAS_KERNING(face)) return 0;
    return FT_Get_Kerning(face, previous, glyph, FT_KERNING_DEFAULT, &kern) == 0 ? kern.x : 0;
}

/* The advance width of the text at the face's current size, in 26.6 fixed point. */
static long text_advance(FT_Face face, const uint32_t *chars, size_t count) {
    long width = 0;
    FT_UInt previous = 0;
    for (size_t i = 0; i < count; i++) {
        FT_UInt glyph = FT_Get_Char_Index(face, chars[i]);
        width += kerning(face, previous, glyph);
        if (FT_Load_Glyph(face, glyph, FT_LOAD_DEFAULT) == 0) width += face->glyph->advance.x;
        previous = glyph;
    }
    return width;
}

/* Draws the text's coverage for an image of width x height: the largest size up to a fifth of
 * the height whose advance fits inside the border (down to MIN_PIXEL_SIZE, then clipped), placed
 * as Pillow's anchor "mm". Under the face lock. 0, or -1 when memory or FreeType fails. */
static int draw_text(plugin_state *state, int width, int height, const char *text, size_t n, coverage *out) {
    FT_Face face = state->face;
    uint32_t chars[MAX_TEXT];
    size_t count = decode_utf8(text, n, chars, MAX_TEXT);
    int room = width - 2 * (BORDER + 2), size = height / 5;
    long advance;
    memset(out, 0, sizeof *out);
    if (count == 0 || room <= 0) return 0;
    if (size < MIN_PIXEL_SIZE) size = MIN_PIXEL_SIZE;
    if (size > 512) size = 512;
    if (FT_Set_Pixel_Sizes(face, 0, (FT_UInt)size) != 0) return -1;
    advance = text_advance(face, chars, count);
    if (advance > (long)room * 64) {  /* set smaller to fit: the advance scales with the size */
        int fitted = (int)((long long)size * room * 64 / advance);
        size = fitted < MIN_PIXEL_SIZE ? MIN_PIXEL_SIZE : fitted;
        if (FT_Set_Pixel_Sizes(face, 0, (FT_UInt)size) != 0) return -1;
        advance = text_advance(face, chars, count);
    }
    /* anchor "mm": x at the middle of the advance, y at the middle of ascender and descender. */
    long ascender = face->size->metrics.ascender, descender = face->size->metrics.descender;  /* 26.6 */
    long pen_x = (long)(width / 2) * 64 - advance / 2;
    long baseline = (long)(height / 2) * 64 + (ascender + descender) / 2;
    int top = (int)((baseline - ascender) >> 6) - 1, bottom = (int)((baseline - descender + 63) >> 6) + 1;
    if (top < 0) top = 0;
    if (bottom > height) bottom = height;
    if (bottom <= top) return 0;
    out->x0 = 0;
    out->y0 = top;
    out->cols = width;
    out->rows = bottom - top;
    out->pixels = calloc((size_t)out->cols * (size_t)out->rows, 1);
    if (!out->pixels) return -1;
    FT_UInt previous = 0;
    for (size_t i = 0; i < count; i++) {
        FT_UInt glyph = FT_Get_Char_Index(face, chars[i]);  /* 0: the missing-glyph box */
        pen_x += kerning(face, previous, glyph);
        previous = glyph;
        if (FT_Load_Glyph(face, glyph, FT_LOAD_RENDER) != 0) continue;
        FT_GlyphSlot slot = face->glyph;
        FT_Bitmap *bitmap = &slot->bitmap;
        int gx = (int)(pen_x >> 6) + slot->bitmap_left, gy = (int)(baseline >> 6) - slot->bitmap_top;
        pen_x += slot->advance.x;
        if (bitmap->pixel_mode != FT_PIXEL_MODE_GRAY) continue;
        for (unsigned r = 0; r < bitmap->rows; r++) {
            int y = gy + (int)r - out->y0;
            if (y < 0 || y >= out->rows) continue;
            const unsigned char *src = bitmap->buffer + (long)r * bitmap->pitch;
            unsigned char *dst = out->pixels + (size_t)y * (size_t)out->cols;
            for (unsigned c = 0; c < bitmap->width; c++) {
                int x = gx + (int)c;
                if (x < 0 || x >= out->cols || !src[c]) continue;
                unsigned sum = dst[x] + src[c];  /* overlapping glyphs: coverage adds up */
                dst[x] = (unsigned char)(sum > 255 ? 255 : sum);
            }
        }
    }
    return 0;
}

/* One row of the image: background, the text blended in white, the border. */
static void compose_row(unsigned char *row, int width, int height, int y, const coverage *text) {
    int border_row = y < BORDER || y >= height - BORDER;
    const unsigned char *cover = NULL;
    if (text->pixels && y >= text->y0 && y < text->y0 + text->rows) cover = text->pixels + (size_t)(y - text->y0) * (size_t)text->cols;
    for (int x = 0; x < width; x++) {
        unsigned char *px = row + 3 * x;
        if (border_row || x < BORDER || x >= width - BORDER) {
            px[0] = px[1] = px[2] = 255;
        } else if (cover && cover[x]) {
            unsigned a = cover[x];
            for (int k = 0; k < 3; k++) px[k] = (unsigned char)((background[k] * (255 - a) + 255 * a + 127) / 255);
        } else {
            px[0] = background[0], px[1] = background[1], px[2] = background[2];
        }
    }
}

/* --- PNG, written with zlib directly ----------------------------------------------------------------
 *
 * The image is made of few distinct rows: border rows, interior rows (background between two
 * border columns) and the rows the text crosses. Every row uses the Up filter, so a row equal to
 * the one above filters to a filter byte and zeros. That zero row is compressed once, when the
 * plugin starts, into a self-contained deflate block (ended by a full flush: byte-aligned, no
 * reference to earlier data), and each such row of an image is that block copied. Only the other
 * rows (the border's edges, the text) go through deflate. The zlib trailer's Adler-32 is
 * combined from the pieces' checksums. The result is an ordinary PNG (signature, IHDR, one IDAT
 * holding one zlib stream, IEND); Pillow decodes it in the tests, and libpng's own writer took
 * 1.05 ms for the default image where this takes a tenth (bench/media.sh). */

static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

static void put_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* A chunk: length, type, data, CRC-32 of type and data. */
static void png_chunk(sbk_buf *out, const char type[4], const unsigned char *data, size_t n) {
    unsigned char word[4];
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (n) crc = crc32(crc, data, (uInt)n);
    put_u32(word, (uint32_t)n);
    sbk_buf_append(out, word, 4);
    sbk_buf_append(out, type, 4);
    sbk_buf_append(out, data, n);
    put_u32(word, (uint32_t)crc);
    sbk_buf_append(out, word, 4);
}

/* The deflate block of one zero row (filter byte 2, then 3 x width zeros) for each width seen,
 * made once; cached per width (widths are at most MAX_SIDE). */
typedef struct zero_row {
    int width;
    unsigned char *block;
    size_t len;
    uLong adler;  /* Adler-32 of the row's bytes */
    struct zero_row *next;
} zero_row;

static pthread_mutex_t zero_rows_lock = PTHREAD_MUTEX_INITIALIZER;
static zero_row *zero_rows;

static const zero_row *zero_row_for(int width) {
    zero_row *found;
    pthread_mutex_lock(&zero_rows_lock);
    for (found = zero_rows; found && found->width != width; found = found->next) {}
    if (!found) {
        size_t n = 1 + 3 * (size_t)width;
        unsigned char *row = calloc(n, 1);
        found = calloc(1, sizeof *found);
        z_stream z;
        memset(&z, 0, sizeof z);
        if (row && found && deflateInit2(&z, 1, Z_DEFLATED, -15, 8, Z_RLE) == Z_OK) {
            row[0] = 2;
            found->block = malloc(deflateBound(&z, n) + 16);
            if (found->block) {
                z.next_in = row, z.avail_in = (uInt)n;
                z.next_out = found->block, z.avail_out = (uInt)(deflateBound(&z, n) + 16);
                deflate(&z, Z_FULL_FLUSH);
                found->len = z.total_out;
            }
            deflateEnd(&z);
            found->width = width;
            found->adler = adler32(adler32(0L, Z_NULL, 0), row, (uInt)n);
        }
        free(row);
        if (found && found->block) {
            found->next = zero_rows;
            zero_rows = found;
        } else {
            if (found) free(found->block);
            free(found);
            found = NULL;
        }
    }
    pthread_mutex_unlock(&zero_rows_lock);
    return found;
}

/* Which rows can be equal to the one above without looking: the kind of row y is. */
static int row_kind(int y, int height, const coverage *text) {
    if (y < BORDER || y >= height - BORDER) return 0;                                   /* border */
    if (text->pixels && y >= text->y0 && y < text->y0 + text->rows) return 2 + y;        /* text: each its own */
    return 1;                                                                            /* interior */
}

/* Encodes the image as a PNG into `out`. 0, or -1 (memory or zlib failed). */
static int encode_png(int width, int height, const coverage *text, sbk_buf *out) {
    const zero_row *zero = zero_row_for(width);
    size_t stride = 3 * (size_t)width;
    unsigned char *rows = malloc(3 * stride + 1);  /* the previous row, this row, and this row filtered */
    unsigned char *previous = rows, *current = rows + stride, *filtered = rows + 2 * stride;
    sbk_buf stream = {0};
    z_stream z;
    uLong adler = adler32(0L, Z_NULL, 0);
    int ok = 0, open = 0, pending = 0;  /* pending: rows given to deflate since its last flush */
    unsigned char header[13], chunk[16384];
    memset(&z, 0, sizeof z);
    if (!zero || !rows) goto done;
    if (deflateInit2(&z, 1, Z_DEFLATED, -15, 8, Z_RLE) != Z_OK) goto done;
    open = 1;
    sbk_buf_append(&stream, "\x78\x01", 2);  /* zlib header: deflate, 32 KiB window, fastest */
    memset(previous, 0, stride);
    for (int y = 0; y < height; y++) {
        int kind = row_kind(y, height, text);
        if (y > 0 && kind < 2 && kind == row_kind(y - 1, height, text)) {
            /* Equal to the row above: the zero row's block, after a full flush of what came before. */
            z.next_in = NULL, z.avail_in = 0;
            while (pending) {
                z.next_out = chunk, z.avail_out = sizeof chunk;
                if (deflate(&z, Z_FULL_FLUSH) == Z_STREAM_ERROR) goto done;
                sbk_buf_append(&stream, chunk, sizeof chunk - z.avail_out);
                pending = z.avail_out == 0;
            }
            sbk_buf_append(&stream, zero->block, zero->len);
            adler = adler32_combine(adler, zero->adler, (z_off_t)(1 + stride));
            continue;
        }
        compose_row(current, width, height, y, text);
        filtered[0] = 2;  /* Up */
        for (size_t i = 0; i < stride; i++) filtered[1 + i] = (unsigned char)(current[i] - previous[i]);
        adler = adler32(adler, filtered, (uInt)(1 + stride));
        z.next_in = filtered, z.avail_in = (uInt)(1 + stride);
        do {
            z.next_out = chunk, z.avail_out = sizeof chunk;
            if (deflate(&z, Z_NO_FLUSH) == Z_STREAM_ERROR) goto done;
            sbk_buf_append(&stream, chunk, sizeof chunk - z.avail_out);
        } while (z.avail_out == 0);
        pending = 1;
        unsigned char *swap = previous;
        previous = current;
        current = swap;
    }
    z.next_in = NULL, z.avail_in = 0;
    for (int status = Z_OK; status != Z_STREAM_END;) {
        z.next_out = chunk, z.avail_out = sizeof chunk;
        status = deflate(&z, Z_FINISH);
        if (status == Z_STREAM_ERROR) goto done;
        sbk_buf_append(&stream, chunk, sizeof chunk - z.avail_out);
    }
    put_u32(chunk, (uint32_t)adler);
    sbk_buf_append(&stream, chunk, 4);
    if (stream.failed) goto done;

    sbk_buf_append(out, png_signature, sizeof png_signature);
    put_u32(header, (uint32_t)width);
    put_u32(header + 4, (uint32_t)height);
    header[8] = 8, header[9] = 2, header[10] = 0, header[11] = 0, header[12] = 0;  /* 8-bit RGB, deflate, adaptive, no interlace */
    png_chunk(out, "IHDR", header, sizeof header);
    png_chunk(out, "IDAT", stream.data, stream.len);
    png_chunk(out, "IEND", NULL, 0);
    ok = !out->failed;
done:
    if (open) deflateEnd(&z);
    free(rows);
    sbk_buf_free(&stream);
    return ok ? 0 : -1;
}

/* --- Handlers ---------------------------------------------------------------------------------------- */

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

static sb_status get_image(void *data, sb_request *req) {
    plugin_state *state = data;
    sb_param_value width = {.struct_size = sizeof(sb_param_value)}, height = width, text = width;
    char etag[20], *text_copy, timing[96];
    sbk_buf png = {0};
    coverage cover;
    double started, drawn, encoded;
    if (host->request_param(req, str("width"), &width) != SB_OK || host->request_param(req, str("height"), &height) != SB_OK ||
        host->request_param(req, str("text"), &text) != SB_OK)
        return SB_ERR_INTERNAL;
    int w = (int)width.integer, h = (int)height.integer;  /* declared 1 to MAX_SIDE: the host checked */
    uint64_t key = image_key(w, h, text.text.ptr, text.text.len);
    snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)key);
    static const char *const cache_control[] = {"cache-control", "public, max-age=3600", NULL};
    text_copy = malloc(text.text.len + 1);
    if (!text_copy) return SB_ERR_NO_MEMORY;
    memcpy(text_copy, text.text.ptr, text.text.len);
    text_copy[text.text.len] = 0;

    /* Preconditions are answered before anything is drawn: the tag names the image. */
    int verdict = sbk_preconditions(host, req, etag);
    if (verdict != 200 || cache_get(state, key, w, h, text_copy, &png)) {
        sb_status status = sbk_respond_evaluated(host, req, verdict, "image/png", etag, png.data, png.len, cache_control);
        free(text_copy);
        sbk_buf_free(&png);
        return status;
    }
    started = now_ms();
    pthread_mutex_lock(&state->face_lock);
    int drew = draw_text(state, w, h, text.text.ptr, text.text.len, &cover);
    pthread_mutex_unlock(&state->face_lock);
    drawn = now_ms();
    int ok = drew == 0 && encode_png(w, h, &cover, &png) == 0;
    encoded = now_ms();
    free(cover.pixels);
    if (!ok) {
        free(text_copy);
        sbk_buf_free(&png);
        return sbk_respond_detail(host, req, 500, "The image could not be drawn");
    }
    if (state->cache_limit) cache_put(state, key, w, h, text_copy, &png);
    free(text_copy);
    snprintf(timing, sizeof timing, "render;dur=%.3f, encode;dur=%.3f", drawn - started, encoded - drawn);
    host->response_header_add(req, str("server-timing"), str(timing));
    sb_status status = sbk_respond_evaluated(host, req, 200, "image/png", etag, png.data, png.len, cache_control);
    sbk_buf_free(&png);
    return status;
}

static sb_status get_binary(void *data, sb_request *req) {
    plugin_state *state = data;
    sb_bytes body = {state->binary, sizeof state->binary};
    host->response_header_add(req, str("content-type"), str("application/octet-stream"));
    host->response_header_add(req, str("content-disposition"), str("attachment; filename=data.bin"));
    return host->response_send(req, 200, body);
}

/* --- Registration ------------------------------------------------------------------------------------ */

static sb_status add_route(sb_plugin *plugin, const char *path, sb_handler_fn handler, void *data, const char *summary,
                           const char *media_type, const sb_param_spec *params, size_t param_count, uint32_t flags) {
    return sbk_route(host, plugin, "GET", path, handler, data, summary, media_type, params, param_count, flags);
}

static sb_param_spec side_spec(const char *name, const char *description, const char *default_value) {
    sb_param_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.location = SB_PARAM_QUERY;
    spec.type = SB_TYPE_INT;
    spec.flags = SB_PARAM_HAS_DEFAULT | SB_PARAM_HAS_GE | SB_PARAM_HAS_LE;
    spec.ge = 1;
    spec.le = MAX_SIDE;
    spec.name = str(name);
    spec.description = str(description);
    spec.default_value = str(default_value);
    return spec;
}

static void free_state(plugin_state *state) {
    while (state->oldest) {
        cached *old = state->oldest;
        cache_unlink(state, old);
        cache_free(old);
    }
    if (state->face) FT_Done_Face(state->face);
    if (state->freetype) FT_Done_FreeType(state->freetype);
    pthread_mutex_destroy(&state->face_lock);
    pthread_mutex_destroy(&state->cache_lock);
    free(state);
}

static sb_status on_init(const sb_host_api *api, sb_plugin *plugin, void **out_state) {
    plugin_state *state;
    sb_str font, limit;
    char font_path[4096], message[4300];
    host = api;
    state = calloc(1, sizeof *state);
    if (!state) {
        api->plugin_refuse(plugin, str("out of memory"));
        return SB_ERR_NO_MEMORY;
    }
    state->plugin = plugin;
    pthread_mutex_init(&state->face_lock, NULL);
    pthread_mutex_init(&state->cache_lock, NULL);
    for (size_t i = 0; i < sizeof state->binary; i++) state->binary[i] = (unsigned char)(i % 256);
    if (api->config_get(plugin, str("font"), &font) != SB_OK) font = str("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    snprintf(font_path, sizeof font_path, "%.*s", (int)font.len, font.ptr);
    state->cache_limit = 16u << 20;
    if (api->config_get(plugin, str("cache_bytes"), &limit) == SB_OK) {
        char digits[32];
        snprintf(digits, sizeof digits, "%.*s", (int)(limit.len < 31 ? limit.len : 31), limit.ptr);
        state->cache_limit = (size_t)strtoull(digits, NULL, 10);
    }
    if (FT_Init_FreeType(&state->freetype) != 0) {
        api->plugin_refuse(plugin, str("FreeType could not start"));
        free_state(state);
        return SB_ERR_INTERNAL;
    }
    if (FT_New_Face(state->freetype, font_path, 0, &state->face) != 0) {
        state->face = NULL;
        snprintf(message, sizeof message,
                 "font not found or not readable: %s (install fonts-dejavu-core, or set plugins.config.media.font to a TrueType or OpenType file)",
                 font_path);
        api->plugin_refuse(plugin, str(message));
        free_state(state);
        return SB_ERR_NOT_FOUND;
    }
    *out_state = state;

    sb_param_spec params[3] = {
        side_spec("width", "Image width, pixels", "400"),
        side_spec("height", "Image height, pixels", "200"),
    };
    memset(&params[2], 0, sizeof params[2]);
    params[2].struct_size = sizeof params[2];
    params[2].location = SB_PARAM_QUERY;
    params[2].type = SB_TYPE_STRING;
    params[2].flags = SB_PARAM_HAS_DEFAULT | SB_PARAM_HAS_MAX_LENGTH;
    params[2].max_length = MAX_TEXT;
    params[2].name = str("text");
    params[2].description = str("The text drawn in the middle");
    params[2].default_value = str("Hello!");

    if (add_route(plugin, "/image/dynamic", get_image, state, "A PNG drawn for the request", "image/png", params, 3, SB_ROUTE_BLOCKING) != SB_OK ||
        add_route(plugin, "/download/binary", get_binary, state, "1,024 bytes as data.bin", "application/octet-stream", NULL, 0, 0) != SB_OK)
        return SB_ERR_INVALID_ARGUMENT;
    return SB_OK;
}

static void on_deinit(void *state) {
    if (state) free_state(state);
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR,
    0, /* swift_version: not a Swift plugin */
    "media", MEDIA_VERSION, "Section 8.4 of the chapter: a PNG drawn by FreeType and written with zlib, and a binary download", on_init, on_deinit,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
