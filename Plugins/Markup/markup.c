/*
 * markup: section 8.4 of the chapter (HTML, XML, plain text, RSS) and exercise 3's log files
 * from disk, paged. Written in C against the raw ABI (switchboard.h) and switchboard_kit.h, whose
 * writers escape every value that reaches markup: routes never escape by hand.
 *
 *   GET /html                          the chapter's page (ETag; 304 on If-None-Match)
 *   GET /page/{page_id}                a generated page with its navigation
 *   GET /xml                           the chapter's document (ETag)
 *   GET /products/{product_id}/xml     the chapter's dict_to_xml output, with the declaration
 *   GET /text                          plain text (ETag)
 *   GET /logs/{log_id}                 a simulated log as plain text
 *   GET /data.txt                      100 lines as a download (ETag)
 *   GET /rss                           the chapter's RSS 2.0 feed, lastBuildDate now
 *   GET /logfiles                      the log files in plugins.config.markup.logs_directory
 *                                      (default "logs")
 *   GET /logfiles/{name}?page=1&per_page=100
 *                                      one page of one file's lines, streamed from disk with
 *                                      bounded memory; Link rel="next"/"prev"/"first"/"last"
 *
 * Log pages seek through a sparse line index (a byte offset every INDEX_STRIDE lines, kept per
 * file and extended as pages further on are asked for), so page 10,000 of a file of gigabytes
 * reads at most INDEX_STRIDE + per_page lines once the index reaches it, never the file from its
 * start. A file that grows keeps its index (lines only ever get appended); one that shrinks or is
 * replaced (rotated) gets a new one. Names resolve inside the directory by real path: ".", "..",
 * slashes, hidden names, symlinks that lead out and anything but a regular file are 404s.
 */
#include "markup.h"

#include <switchboard_kit.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const sb_host_api *host;

static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }
static sb_str str_n(const char *s, size_t n) { sb_str out = {s, n}; return out; }

/* --- Documents that do not change: built once, sent with a strong ETag ----------------------------- */

typedef struct document {
    sbk_buf body;
    char etag[20];          /* "<16 hex digits>" */
    const char *content_type;
} document;

/* FNV-1a (64-bit) of the body: a validator that changes when the bytes do. */
static void document_seal(document *doc, const char *content_type) {
    uint64_t hash = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < doc->body.len; i++) hash = (hash ^ doc->body.data[i]) * 0x100000001b3ull;
    snprintf(doc->etag, sizeof doc->etag, "\"%016llx\"", (unsigned long long)hash);
    doc->content_type = content_type;
}

/* --- Log files: a sparse line index per file --------------------------------------------------------- */

#define INDEX_STRIDE 1000   /* a checkpoint every this many lines */
#define INDEX_FILES 32      /* files indexed at once; the least recently used is dropped */
#define READ_CHUNK 65536    /* bytes read (and written) at a time */
#define LIST_LIMIT 10000    /* files listed at most */

typedef struct line_index {
    int used;
    char path[PATH_MAX];
    dev_t dev;
    ino_t ino;
    unsigned char head[64];  /* the file's first bytes when indexed: a file rewritten in place */
    size_t head_len;         /* (copytruncate) shows as different ones */
    off_t *marks;            /* marks[k]: the byte offset where line (k + 1) * INDEX_STRIDE starts */
    size_t count, capacity;  /* marks known */
    long long frontier_line; /* the furthest line whose start is known ... */
    off_t frontier;          /* ... and that start */
    off_t total_size;        /* the size at which `total` lines were counted (-1: not known) */
    long long total;
    unsigned long long last_use;
} line_index;

typedef struct plugin_state {
    sb_plugin *plugin;
    char logs_directory[PATH_MAX]; /* as configured (for messages) */
    document html, xml, text, data_txt;
    pthread_mutex_t lock;          /* guards logs_root, indexes, clock and the feed */
    sbk_buf feed;                  /* /rss as built for ... */
    time_t feed_second;            /* ... this second (its lastBuildDate) */
    char logs_root[PATH_MAX];      /* the directory's real path; empty until it exists */
    line_index indexes[INDEX_FILES];
    unsigned long long clock;
} plugin_state;

/* The logs directory's real path into `out` (resolved again while it does not exist, so a
 * directory made after start is picked up). 0, or -1 when it does not exist. */
static int logs_root(plugin_state *state, char out[PATH_MAX]) {
    pthread_mutex_lock(&state->lock);
    if (!state->logs_root[0] && !realpath(state->logs_directory, state->logs_root)) state->logs_root[0] = 0;
    memcpy(out, state->logs_root, PATH_MAX);
    pthread_mutex_unlock(&state->lock);
    return out[0] ? 0 : -1;
}

static void index_reset(line_index *index, const char *path, const struct stat *st) {
    free(index->marks);
    memset(index, 0, sizeof *index);
    index->used = 1;
    snprintf(index->path, sizeof index->path, "%s", path);
    index->dev = st->st_dev;
    index->ino = st->st_ino;
    index->total_size = -1;
}

/* The index of `path` (the file `st` describes, starting with `head`), made or renewed; under
 * state->lock. A file replaced (another inode), shorter than the index reached, or with other
 * first bytes (rewritten in place) gets a new index: its lines moved. */
static line_index *index_for(plugin_state *state, const char *path, const struct stat *st, const unsigned char *head,
                             size_t head_len) {
    line_index *found = NULL, *oldest = &state->indexes[0];
    for (int i = 0; i < INDEX_FILES; i++) {
        line_index *index = &state->indexes[i];
        if (index->used && strcmp(index->path, path) == 0) { found = index; break; }
        if (!index->used || (oldest->used && index->last_use < oldest->last_use)) oldest = index;
    }
    if (!found) {
        found = oldest;
        index_reset(found, path, st);
    } else {
        size_t common = found->head_len < head_len ? found->head_len : head_len;
        if (found->dev != st->st_dev || found->ino != st->st_ino || st->st_size < found->frontier ||
            head_len < found->head_len || memcmp(found->head, head, common) != 0)
            index_reset(found, path, st);
    }
    if (head_len > found->head_len) {
        memcpy(found->head, head, head_len);
        found->head_len = head_len;
    }
    found->last_use = ++state->clock;
    return found;
}

/* Where a scan may start for line `line`: the nearest known line start at or before it (the
 * frontier or a mark, whichever is closer). */
static void index_start(const line_index *index, long long line, long long *start_line, off_t *start) {
    long long mark = line / INDEX_STRIDE;
    *start_line = 0;
    *start = 0;
    if (index->frontier_line <= line) {
        *start_line = index->frontier_line;
        *start = index->frontier;
    }
    if (mark > (long long)index->count) mark = (long long)index->count;
    if (mark >= 1 && mark * INDEX_STRIDE > *start_line) {
        *start_line = mark * INDEX_STRIDE;
        *start = index->marks[mark - 1];
    }
}

/* Records that line `line` starts at `offset` (a scan passed it); under state->lock. */
static void index_learn(line_index *index, long long line, off_t offset) {
    if (line <= index->frontier_line) return;
    index->frontier_line = line;
    index->frontier = offset;
}

/* Appends the mark for `line` when it is the next one (marks stay contiguous). */
static void index_mark(line_index *index, long long line, off_t offset) {
    if (line <= 0 || line % INDEX_STRIDE != 0 || line / INDEX_STRIDE - 1 != (long long)index->count) return;
    if (index->count == index->capacity) {
        size_t capacity = index->capacity ? index->capacity * 2 : 64;
        off_t *grown = realloc(index->marks, capacity * sizeof *grown);
        if (!grown) return;  /* the index stays shorter: scans start further back, still right */
        index->marks = grown;
        index->capacity = capacity;
    }
    index->marks[index->count++] = offset;
}

/* A scan over one file: counts lines from a known line start, READ_CHUNK bytes at a time. The
 * checkpoints it passes are kept here and given to the index afterwards, under the lock. */
typedef struct scan {
    int fd;
    long long line;          /* the line that starts at `offset` ... */
    off_t offset;
    int partial;             /* ... or, at the end, bytes after the last line end were passed */
    int at_eof;              /* the file ended before the target */
    long long lines_at_eof;  /* lines in the file, a last one without a line end included */
    off_t *marks;            /* offsets of the checkpoints passed, lines first_mark * INDEX_STRIDE on */
    long long first_mark;
    size_t mark_count, mark_capacity;
} scan;

static void scan_mark(scan *s, long long line, off_t offset) {
    if (s->mark_count && line / INDEX_STRIDE != s->first_mark + (long long)s->mark_count) return;
    if (s->mark_count == s->mark_capacity) {
        size_t capacity = s->mark_capacity ? s->mark_capacity * 2 : 64;
        off_t *grown = realloc(s->marks, capacity * sizeof *grown);
        if (!grown) return;  /* fewer marks: later scans start further back, still right */
        s->marks = grown;
        s->mark_capacity = capacity;
    }
    if (!s->mark_count) s->first_mark = line / INDEX_STRIDE;
    s->marks[s->mark_count++] = offset;
}

/* Advances to the start of line `target` (>= s->line), or to the end of the file (at_eof, with
 * the line count). 0, or -1 on a read error. */
static int scan_to(scan *s, long long target, char *buffer) {
    while (s->line < target) {
        ssize_t n = pread(s->fd, buffer, READ_CHUNK, s->offset);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (n == 0) {
            s->at_eof = 1;
            s->lines_at_eof = s->line + (s->partial ? 1 : 0);
            return 0;
        }
        char *p = buffer, *end = buffer + n;
        while (s->line < target) {
            char *newline = memchr(p, '\n', (size_t)(end - p));
            if (!newline) break;
            s->line++;
            p = newline + 1;
            if (s->line % INDEX_STRIDE == 0) scan_mark(s, s->line, s->offset + (off_t)(p - buffer));
        }
        if (s->line == target) {
            s->offset += (off_t)(p - buffer);
            s->partial = 0;
            return 0;
        }
        s->offset += n;
        s->partial = buffer[n - 1] != '\n';
    }
    return 0;
}

/* Whether the file has no byte at `offset`. */
static int at_end(int fd, off_t offset) {
    char byte;
    ssize_t n;
    while ((n = pread(fd, &byte, 1, offset)) < 0 && errno == EINTR) {}
    return n == 0;
}

/* Whether `offset` starts a line: 0, or just after a line end. */
static int starts_line(int fd, off_t offset) {
    char byte;
    ssize_t n;
    if (offset == 0) return 1;
    while ((n = pread(fd, &byte, 1, offset - 1)) < 0 && errno == EINTR) {}
    return n == 1 && byte == '\n';
}

/* A page's bytes, sent from stream_on_writable callbacks: write until the host's queue is full,
 * then wait for it to drain. No thread waits for a slow client, and memory stays one chunk plus
 * the host's queue. Only this callback chain touches the pump; it ends the stream itself (a
 * client that left answers SB_ERR_CLOSED, and a closed stream still calls on_writable). */
typedef struct pump {
    pthread_mutex_t lock;    /* guards running and again */
    sb_stream *stream;
    int fd;
    off_t at, end;
    char *buffer;
    size_t have, sent;       /* bytes in buffer, and how many of them the host has taken */
    int running;             /* pump_writable is on the stack: a nested call asks for another pass */
    int again;
} pump;

static void pump_end(pump *p) {
    host->stream_finish(p->stream);
    close(p->fd);
    free(p->buffer);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void pump_writable(void *user, sb_stream *stream) {
    pump *p = user;
    (void)stream;
    pthread_mutex_lock(&p->lock);
    if (p->running) {  /* on_writable ran inside our own stream_on_writable call */
        p->again = 1;
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->running = 1;
    pthread_mutex_unlock(&p->lock);
    for (;;) {
        if (p->sent == p->have) {
            size_t want = (size_t)(p->end - p->at < READ_CHUNK ? p->end - p->at : READ_CHUNK);
            ssize_t n = want ? pread(p->fd, p->buffer, want, p->at) : 0;
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) { pump_end(p); return; }  /* done (or the file shrank: what there was) */
            p->have = (size_t)n;
            p->sent = 0;
        }
        sb_bytes chunk = {(const uint8_t *)p->buffer + p->sent, p->have - p->sent};
        sb_status status = host->stream_write(p->stream, chunk, 0);
        if (status == SB_OK) {
            p->at += (off_t)(p->have - p->sent);
            p->sent = p->have;
            continue;
        }
        if (status != SB_ERR_WOULD_BLOCK) { pump_end(p); return; }  /* the client left */
        pthread_mutex_lock(&p->lock);
        p->again = 0;
        pthread_mutex_unlock(&p->lock);
        if (host->stream_on_writable(p->stream, pump_writable, p) != SB_OK) { pump_end(p); return; }
        pthread_mutex_lock(&p->lock);
        if (!p->again) {
            p->running = 0;  /* the next on_writable carries on, on whatever thread */
            pthread_mutex_unlock(&p->lock);
            return;
        }
        p->again = 0;
        pthread_mutex_unlock(&p->lock);
    }
}

/* --- Handlers: documents ------------------------------------------------------------------------------ */

/* Responds 200 with the buffer (a failed one answers 500), then frees it. */
static sb_status respond_built(sb_request *req, const char *content_type, sbk_buf *body) {
    sb_status status = sbk_respond(host, req, 200, content_type, body);
    sbk_buf_free(body);
    return status;
}

static sb_status send_document(sb_request *req, const document *doc, const char *const *extra) {
    return sbk_respond_tagged(host, req, doc->content_type, doc->etag, doc->body.data, doc->body.len, extra);
}

static sb_status get_html(void *data, sb_request *req) { return send_document(req, &((plugin_state *)data)->html, NULL); }
static sb_status get_xml(void *data, sb_request *req) { return send_document(req, &((plugin_state *)data)->xml, NULL); }
static sb_status get_text(void *data, sb_request *req) { return send_document(req, &((plugin_state *)data)->text, NULL); }

static sb_status get_data_txt(void *data, sb_request *req) {
    static const char *const disposition[] = {"content-disposition", "attachment; filename=data.txt", NULL};
    return send_document(req, &((plugin_state *)data)->data_txt, disposition);
}

static int64_t int_param(sb_request *req, const char *name) {
    sb_param_value value = {.struct_size = sizeof(sb_param_value)};
    return host->request_param(req, str(name), &value) == SB_OK ? value.integer : 0;
}

static sb_status get_page(void *data, sb_request *req) {
    long long id = (long long)int_param(req, "page_id");
    sbk_buf b = {0};
    (void)data;
    sbk_markup_printf(&b,
                      "<!DOCTYPE html>\n<html>\n<head><title>Page %lld</title></head>\n<body>\n"
                      "    <h1>Page %lld</h1>\n    <p>This is dynamically generated page %lld.</p>\n"
                      "    <nav>\n        <a href=\"/page/1\">Page 1</a> |\n        <a href=\"/page/2\">Page 2</a> |\n"
                      "        <a href=\"/page/3\">Page 3</a>\n    </nav>\n</body>\n</html>\n",
                      id, id, id);
    return respond_built(req, "text/html; charset=utf-8", &b);
}

/* ElementTree's tostring of the chapter's dict_to_xml("product", product), with the declaration. */
static sb_status get_product_xml(void *data, sb_request *req) {
    long long id = (long long)int_param(req, "product_id");
    sbk_buf b = {0};
    sbk_xml x = {.out = &b};
    (void)data;
    sbk_xml_declaration(&x);
    sbk_xml_start(&x, "product");
    sbk_xml_start(&x, "id"), sbk_xml_printf(&x, "%lld", id), sbk_xml_end(&x);
    sbk_xml_start(&x, "name"), sbk_xml_printf(&x, "Product %lld", id), sbk_xml_end(&x);
    sbk_xml_leaf(&x, "price", "99.99");
    sbk_xml_leaf(&x, "description", "A great product");
    sbk_xml_leaf(&x, "stock", "100");
    sbk_xml_end(&x);
    sbk_xml_finish(&x);
    return respond_built(req, "application/xml", &b);
}

static sb_status get_log(void *data, sb_request *req) {
    long long id = (long long)int_param(req, "log_id");
    sbk_buf b = {0};
    (void)data;
    sbk_buf_printf(&b,
                   "[2024-01-15 10:30:00] INFO: Application started\n[2024-01-15 10:30:01] INFO: Log %lld requested\n"
                   "[2024-01-15 10:30:02] DEBUG: Processing request\n[2024-01-15 10:30:03] INFO: Request completed",
                   id);
    return respond_built(req, "text/plain; charset=utf-8", &b);
}

static const struct { const char *title, *link, *description, *date; } feed_items[] = {
    {"FastAPI 1.0 Released", "https://example.com/news/fastapi-1-0",
     "FastAPI version 1.0 has been released with exciting new features.", "Mon, 15 Jan 2024 10:00:00 GMT"},
    {"Best Practices for API Design", "https://example.com/news/api-best-practices",
     "Learn the best practices for designing REST APIs.", "Sun, 14 Jan 2024 15:30:00 GMT"},
    {"Understanding Async in Python", "https://example.com/news/async-python",
     "A deep dive into asynchronous programming in Python.", "Sat, 13 Jan 2024 09:00:00 GMT"},
};

/* The chapter's feed as of `second` (its lastBuildDate), into `b`. */
static void build_feed(sbk_buf *b, time_t second) {
    char now[30];
    sbk_xml x = {.out = b, .indent = 2};
    sbk_http_date(now, second);
    sbk_xml_declaration(&x);
    sbk_xml_start(&x, "rss");
    sbk_xml_attr(&x, "version", "2.0");
    sbk_xml_attr(&x, "xmlns:atom", "http://www.w3.org/2005/Atom");
    sbk_xml_start(&x, "channel");
    sbk_xml_leaf(&x, "title", "Example News Feed");
    sbk_xml_leaf(&x, "link", "https://example.com");
    sbk_xml_leaf(&x, "description", "Latest news and updates");
    sbk_xml_leaf(&x, "language", "en-us");
    sbk_xml_leaf(&x, "lastBuildDate", now);
    sbk_xml_start(&x, "atom:link");
    sbk_xml_attr(&x, "href", "https://example.com/rss");
    sbk_xml_attr(&x, "rel", "self");
    sbk_xml_attr(&x, "type", "application/rss+xml");
    sbk_xml_end(&x);
    for (size_t i = 0; i < sizeof feed_items / sizeof feed_items[0]; i++) {
        sbk_xml_start(&x, "item");
        sbk_xml_leaf(&x, "title", feed_items[i].title);
        sbk_xml_leaf(&x, "link", feed_items[i].link);
        sbk_xml_leaf(&x, "description", feed_items[i].description);
        sbk_xml_leaf(&x, "pubDate", feed_items[i].date);
        sbk_xml_leaf(&x, "guid", feed_items[i].link);
        sbk_xml_end(&x);
    }
    sbk_xml_end(&x);
    sbk_xml_end(&x);
    sbk_buf_append(b, "\n", 1);
    sbk_xml_finish(&x);
}

/* The feed changes once a second (lastBuildDate): it is built at most once a second and copied
 * out for each request. */
static sb_status get_rss(void *data, sb_request *req) {
    plugin_state *state = data;
    time_t second = time(NULL);
    sbk_buf b = {0};
    pthread_mutex_lock(&state->lock);
    if (state->feed_second != second || state->feed.failed || !state->feed.len) {
        state->feed.len = 0;
        state->feed.failed = 0;
        build_feed(&state->feed, second);
        state->feed_second = second;
    }
    if (state->feed.failed) b.failed = 1; else sbk_buf_append(&b, state->feed.data, state->feed.len);
    pthread_mutex_unlock(&state->lock);
    return respond_built(req, "application/rss+xml; charset=utf-8", &b);
}

/* --- Handlers: log files ------------------------------------------------------------------------------ */

/* Opens `name` inside the logs directory `root` (its real path) for reading: 0 and the file's
 * descriptor and stat, or -1 when the name is empty, ".", "..", hidden, holds a slash or a NUL,
 * resolves outside, or is not a regular file. The resolved path is opened without following a
 * symlink and without blocking (a FIFO swapped in meanwhile cannot hold the thread). */
static int open_log(const char *root, const char *name, size_t n, char out[PATH_MAX], int *fd, struct stat *st) {
    char candidate[PATH_MAX];
    size_t root_len = strlen(root);
    if (!root_len || n == 0 || name[0] == '.' || memchr(name, '/', n) || memchr(name, '\0', n)) return -1;
    if (snprintf(candidate, sizeof candidate, "%s/%.*s", root, (int)n, name) >= (int)sizeof candidate) return -1;
    if (!realpath(candidate, out)) return -1;
    if (strncmp(out, root, root_len) != 0 || out[root_len] != '/') return -1;
    *fd = open(out, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (*fd < 0) return -1;
    if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(*fd);
        return -1;
    }
    return 0;
}

/* `text` percent-encoded for a URL path segment or query value (RFC 3986 unreserved kept). */
static void append_url_encoded(sbk_buf *b, const char *text, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
            sbk_buf_append(b, &text[i], 1);
        } else {
            char escape[3] = {'%', hex[c >> 4], hex[c & 15]};
            sbk_buf_append(b, escape, 3);
        }
    }
}

typedef struct listed { char name[NAME_MAX + 1]; long long bytes; } listed;

static int by_name(const void *a, const void *b) { return strcmp(((const listed *)a)->name, ((const listed *)b)->name); }

static sb_status list_logfiles(void *data, sb_request *req) {
    plugin_state *state = data;
    listed *files = NULL;
    size_t count = 0, capacity = 0;
    sbk_buf b = {0};
    char root[PATH_MAX];
    DIR *dir = logs_root(state, root) == 0 ? opendir(root) : NULL;
    if (!dir) return sbk_respond_detail(host, req, 404, "The logs directory does not exist");
    for (struct dirent *entry; (entry = readdir(dir)) != NULL && count < LIST_LIMIT;) {
        char path[PATH_MAX];
        struct stat st;
        int fd;
        if (open_log(root, entry->d_name, strlen(entry->d_name), path, &fd, &st) != 0) continue;
        close(fd);
        if (count == capacity) {
            size_t grown_capacity = capacity ? capacity * 2 : 16;
            listed *grown = realloc(files, grown_capacity * sizeof *grown);
            if (!grown) break;
            files = grown;
            capacity = grown_capacity;
        }
        snprintf(files[count].name, sizeof files[count].name, "%s", entry->d_name);
        files[count++].bytes = (long long)st.st_size;
    }
    closedir(dir);
    if (count) qsort(files, count, sizeof *files, by_name);
    sbk_buf_puts(&b, "{\"directory\":");
    sbk_json_cstring(&b, state->logs_directory);
    sbk_buf_puts(&b, ",\"files\":[");
    for (size_t i = 0; i < count; i++) {
        if (i) sbk_buf_puts(&b, ",");
        sbk_buf_puts(&b, "{\"name\":");
        sbk_json_cstring(&b, files[i].name);
        sbk_buf_printf(&b, ",\"bytes\":%lld,\"url\":\"/logfiles/", files[i].bytes);
        append_url_encoded(&b, files[i].name, strlen(files[i].name));
        sbk_buf_puts(&b, "\"}");
    }
    sbk_buf_printf(&b, "],\"count\":%zu}", count);
    free(files);
    return respond_built(req, "application/json", &b);
}

/* One Link header member: </logfiles/NAME?page=P&per_page=N>; rel="REL". */
static void append_link(sbk_buf *b, sb_str name, long long page, long long per_page, const char *rel) {
    if (b->len) sbk_buf_puts(b, ", ");
    sbk_buf_puts(b, "</logfiles/");
    append_url_encoded(b, name.ptr, name.len);
    sbk_buf_printf(b, "?page=%lld&per_page=%lld>; rel=\"%s\"", page, per_page, rel);
}

static sb_status get_logfile(void *data, sb_request *req) {
    plugin_state *state = data;
    sb_param_value name = {.struct_size = sizeof(sb_param_value)};
    long long page = (long long)int_param(req, "page"), per_page = (long long)int_param(req, "per_page");
    char root[PATH_MAX], path[PATH_MAX], file_name[NAME_MAX + 1];
    unsigned char head[64];
    ssize_t head_len;
    struct stat st;
    scan s;
    sb_stream *stream;
    long long first, total = -1, lines = -1;
    off_t page_start = 0, page_end = 0, eof_offset = -1;
    int has_next = 0, past_end = 0;
    char *buffer;
    pump *p;
    sbk_buf links = {0};

    if (host->request_param(req, str("name"), &name) != SB_OK || name.text.len > NAME_MAX) {
        return sbk_respond_detail(host, req, 404, "Log file not found");
    }
    memcpy(file_name, name.text.ptr, name.text.len);
    file_name[name.text.len] = 0;
    memset(&s, 0, sizeof s);
    if (logs_root(state, root) != 0 || open_log(root, file_name, name.text.len, path, &s.fd, &st) != 0) {
        return sbk_respond_detail(host, req, 404, "Log file not found");
    }
    /* page and per_page are declared with bounds: (page - 1) * per_page cannot overflow. */
    first = (page - 1) * per_page;
    buffer = malloc(READ_CHUNK);
    while ((head_len = pread(s.fd, head, sizeof head, 0)) < 0 && errno == EINTR) {}
    if (!buffer || head_len < 0) {
        close(s.fd);
        free(buffer);
        return sbk_respond_detail(host, req, 500, "Could not read the log file");
    }

    pthread_mutex_lock(&state->lock);
    {
        line_index *index = index_for(state, path, &st, head, (size_t)head_len);
        index_start(index, first, &s.line, &s.offset);
        if (index->total_size == st.st_size) total = index->total;
    }
    pthread_mutex_unlock(&state->lock);
    if (!starts_line(s.fd, s.offset)) {  /* rewritten since it was indexed: a new index */
        pthread_mutex_lock(&state->lock);
        index_reset(index_for(state, path, &st, head, (size_t)head_len), path, &st);
        pthread_mutex_unlock(&state->lock);
        s.line = 0;
        s.offset = 0;
        total = -1;
    }

    /* To the page's first line, then to the line after its last. */
    if (scan_to(&s, first, buffer) != 0) goto io_error;
    if (s.at_eof) {
        lines = s.lines_at_eof;  /* the file ended before the page began */
        eof_offset = s.offset;
        past_end = 1;
    } else if (first > 0 && at_end(s.fd, s.offset)) {
        lines = first;  /* it ends exactly where the page would begin */
        eof_offset = s.offset;
        past_end = 1;
    } else {
        page_start = s.offset;
        if (scan_to(&s, first + per_page, buffer) != 0) goto io_error;
        page_end = s.offset;
        if (s.at_eof) {
            lines = s.lines_at_eof;
            eof_offset = s.offset;
        } else if (at_end(s.fd, s.offset)) {
            lines = s.line;
            eof_offset = s.offset;
        } else {
            has_next = 1;
        }
    }
    if (lines >= 0) total = lines;

    pthread_mutex_lock(&state->lock);
    {
        line_index *index = index_for(state, path, &st, head, (size_t)head_len);
        for (size_t i = 0; i < s.mark_count; i++) index_mark(index, (s.first_mark + (long long)i) * INDEX_STRIDE, s.marks[i]);
        if (!s.at_eof || !s.partial) index_learn(index, s.at_eof ? s.lines_at_eof : s.line, s.offset);
        if (lines >= 0) {
            index->total = lines;
            index->total_size = eof_offset;
        }
    }
    pthread_mutex_unlock(&state->lock);
    free(s.marks);

    if (past_end && first > 0) {
        long long pages = (lines + per_page - 1) / per_page;
        char detail[400];
        close(s.fd);
        free(buffer);
        snprintf(detail, sizeof detail, "Page %lld is past the end of %s (%lld lines: %lld page%s of %lld)", page, file_name,
                 lines, pages, pages == 1 ? "" : "s", per_page);
        return sbk_respond_detail(host, req, 404, detail);
    }

    if (page > 1) append_link(&links, name.text, 1, per_page, "first");
    if (page > 1) append_link(&links, name.text, page - 1, per_page, "prev");
    if (has_next) append_link(&links, name.text, page + 1, per_page, "next");
    if (total >= 0) append_link(&links, name.text, total ? (total + per_page - 1) / per_page : 1, per_page, "last");
    if (links.len && !links.failed) host->response_header_add(req, str("link"), str_n((const char *)links.data, links.len));
    sbk_buf_free(&links);
    if (total >= 0) {
        char count_text[24];
        snprintf(count_text, sizeof count_text, "%lld", total);
        host->response_header_add(req, str("x-total-count"), str(count_text));
    }
    host->response_header_add(req, str("content-type"), str("text/plain; charset=utf-8"));
    p = calloc(1, sizeof *p);
    if (!p || host->response_stream_begin(req, 200, &stream) != SB_OK) {
        free(p);
        close(s.fd);
        free(buffer);
        return SB_ERR_INTERNAL;
    }
    pthread_mutex_init(&p->lock, NULL);
    p->stream = stream;
    p->fd = s.fd;
    p->at = page_start;
    p->end = page_end;
    p->buffer = buffer;
    /* Runs at once (the queue is empty) and carries on from later callbacks; the pump is not
     * touched here again: it may be gone when this returns. */
    if (host->stream_on_writable(stream, pump_writable, p) != SB_OK) pump_end(p);
    return SB_OK;

io_error:
    close(s.fd);
    free(buffer);
    free(s.marks);
    return sbk_respond_detail(host, req, 500, "Could not read the log file");
}

/* --- Registration ------------------------------------------------------------------------------------- */

static sb_status add_route(sb_plugin *plugin, const char *path, sb_handler_fn handler, void *data, const char *summary,
                           const char *media_type, const sb_param_spec *params, size_t param_count, uint32_t flags) {
    return sbk_route(host, plugin, "GET", path, handler, data, summary, media_type, params, param_count, flags);
}

/* The log-file routes also answer 404 (no such file, no directory, a page past the end). */
static sb_status add_log_route(sb_plugin *plugin, const char *path, sb_handler_fn handler, void *data, const char *summary,
                               const char *media_type, const sb_param_spec *params, size_t param_count) {
    sb_response_doc responses[2] = {
        sbk_response_doc(200, media_type, "Successful Response"),
        sbk_response_doc(404, "application/json", "No such log file, no logs directory, or a page past the end"),
    };
    return sbk_route_documented(host, plugin, "GET", path, handler, data, summary, responses, 2, params, param_count, SB_ROUTE_BLOCKING);
}

static sb_param_spec int_spec(sb_param_location location, const char *name, const char *description) {
    sb_param_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.location = (uint8_t)location;
    spec.type = SB_TYPE_INT;
    spec.name = str(name);
    spec.description = str(description);
    if (location == SB_PARAM_PATH) spec.flags = SB_PARAM_REQUIRED;
    return spec;
}

static void build_documents(plugin_state *state) {
    sbk_xml x = {.out = &state->xml.body, .indent = 4};
    static const struct { const char *id, *name, *price; } products[] = {{"1", "Laptop", "999.99"}, {"2", "Mouse", "29.99"}};

    sbk_buf_puts(&state->html.body,
                 "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n    <meta charset=\"UTF-8\">\n"
                 "    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n"
                 "    <title>FastAPI HTML Response</title>\n    <style>\n        body {\n"
                 "            font-family: Arial, sans-serif;\n            max-width: 800px;\n            margin: 0 auto;\n"
                 "            padding: 20px;\n            background-color: #f5f5f5;\n        }\n        .card {\n"
                 "            background: white;\n            border-radius: 8px;\n            padding: 20px;\n"
                 "            box-shadow: 0 2px 4px rgba(0,0,0,0.1);\n        }\n        h1 { color: #009688; }\n"
                 "    </style>\n</head>\n<body>\n    <div class=\"card\">\n        <h1>Hello from FastAPI!</h1>\n"
                 "        <p>This is an HTML response from a FastAPI endpoint.</p>\n        <ul>\n            <li>Fast</li>\n"
                 "            <li>Easy</li>\n            <li>Pythonic</li>\n        </ul>\n    </div>\n</body>\n</html>\n");
    document_seal(&state->html, "text/html; charset=utf-8");

    sbk_xml_declaration(&x);
    sbk_xml_start(&x, "response");
    sbk_xml_leaf(&x, "status", "success");
    sbk_xml_leaf(&x, "message", "Hello from FastAPI XML!");
    sbk_xml_start(&x, "data");
    for (size_t i = 0; i < 2; i++) {
        sbk_xml_start(&x, "item");
        sbk_xml_leaf(&x, "id", products[i].id);
        sbk_xml_leaf(&x, "name", products[i].name);
        sbk_xml_leaf(&x, "price", products[i].price);
        sbk_xml_end(&x);
    }
    sbk_xml_end(&x);
    sbk_xml_end(&x);
    sbk_xml_finish(&x);
    document_seal(&state->xml, "application/xml");

    sbk_buf_puts(&state->text.body, "Hello from FastAPI!\nThis is a plain text response.");
    document_seal(&state->text, "text/plain; charset=utf-8");

    for (int i = 1; i <= 100; i++) sbk_buf_printf(&state->data_txt.body, i < 100 ? "Item %d: Value %d\n" : "Item %d: Value %d", i, i * 10);
    document_seal(&state->data_txt, "text/plain; charset=utf-8");
}

static void free_state(plugin_state *state) {
    sbk_buf_free(&state->html.body);
    sbk_buf_free(&state->xml.body);
    sbk_buf_free(&state->text.body);
    sbk_buf_free(&state->data_txt.body);
    sbk_buf_free(&state->feed);
    for (int i = 0; i < INDEX_FILES; i++) free(state->indexes[i].marks);
    pthread_mutex_destroy(&state->lock);
    free(state);
}

static sb_status on_init(const sb_host_api *api, sb_plugin *plugin, void **out_state) {
    plugin_state *state;
    sb_str directory;
    host = api;
    state = calloc(1, sizeof *state);
    if (!state) {
        api->plugin_refuse(plugin, str("out of memory"));
        return SB_ERR_NO_MEMORY;
    }
    state->plugin = plugin;
    pthread_mutex_init(&state->lock, NULL);
    if (api->config_get(plugin, str("logs_directory"), &directory) != SB_OK) directory = str("logs");
    snprintf(state->logs_directory, sizeof state->logs_directory, "%.*s", (int)directory.len, directory.ptr);
    {
        char root[PATH_MAX], message[PATH_MAX + 80];
        if (logs_root(state, root) != 0) {
            snprintf(message, sizeof message, "logs directory \"%s\" not found: /logfiles answers 404 until it exists", state->logs_directory);
            api->log(plugin, SB_LOG_WARNING, str(message));
        }
    }
    build_documents(state);
    if (state->html.body.failed || state->xml.body.failed || state->text.body.failed || state->data_txt.body.failed) {
        api->plugin_refuse(plugin, str("out of memory building the documents"));
        free_state(state);
        return SB_ERR_NO_MEMORY;
    }
    *out_state = state;

    sb_param_spec page_id = int_spec(SB_PARAM_PATH, "page_id", "The page to generate");
    sb_param_spec product_id = int_spec(SB_PARAM_PATH, "product_id", "The product to describe");
    sb_param_spec log_id = int_spec(SB_PARAM_PATH, "log_id", "The log to show");
    sb_param_spec paging[3];
    paging[0] = int_spec(SB_PARAM_PATH, "name", "A file listed by /logfiles");
    paging[0].type = SB_TYPE_STRING;
    paging[0].flags |= SB_PARAM_HAS_MIN_LENGTH | SB_PARAM_HAS_MAX_LENGTH;
    paging[0].min_length = 1;
    paging[0].max_length = NAME_MAX;
    paging[1] = int_spec(SB_PARAM_QUERY, "page", "The page, from 1");
    paging[1].flags = SB_PARAM_HAS_DEFAULT | SB_PARAM_HAS_GE | SB_PARAM_HAS_LE;
    paging[1].ge = 1, paging[1].le = 1000000000, paging[1].default_value = str("1");
    paging[2] = int_spec(SB_PARAM_QUERY, "per_page", "Lines per page");
    paging[2].flags = SB_PARAM_HAS_DEFAULT | SB_PARAM_HAS_GE | SB_PARAM_HAS_LE;
    paging[2].ge = 1, paging[2].le = 1000, paging[2].default_value = str("100");

    if (add_route(plugin, "/html", get_html, state, "The chapter's HTML page", "text/html", NULL, 0, 0) != SB_OK ||
        add_route(plugin, "/page/{page_id}", get_page, state, "A generated HTML page", "text/html", &page_id, 1, 0) != SB_OK ||
        add_route(plugin, "/xml", get_xml, state, "The chapter's XML document", "application/xml", NULL, 0, 0) != SB_OK ||
        add_route(plugin, "/products/{product_id}/xml", get_product_xml, state, "A product as XML", "application/xml", &product_id, 1, 0) != SB_OK ||
        add_route(plugin, "/text", get_text, state, "Plain text", "text/plain", NULL, 0, 0) != SB_OK ||
        add_route(plugin, "/logs/{log_id}", get_log, state, "A simulated log as plain text", "text/plain", &log_id, 1, 0) != SB_OK ||
        add_route(plugin, "/data.txt", get_data_txt, state, "100 lines as a text download", "text/plain", NULL, 0, 0) != SB_OK ||
        add_route(plugin, "/rss", get_rss, state, "An RSS 2.0 feed", "application/rss+xml", NULL, 0, 0) != SB_OK ||
        add_log_route(plugin, "/logfiles", list_logfiles, state, "The log files on disk", "application/json", NULL, 0) != SB_OK ||
        add_log_route(plugin, "/logfiles/{name}", get_logfile, state, "One page of a log file's lines", "text/plain", paging, 3) != SB_OK)
        return SB_ERR_INVALID_ARGUMENT;
    return SB_OK;
}

static void on_deinit(void *state) {
    if (state) free_state(state);
}

static const sb_plugin_descriptor descriptor = {
    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR,
    0, /* swift_version: not a Swift plugin */
    "markup", "1.0.0", "Section 8.4 of the chapter: HTML, XML, plain text and RSS; log files from disk, paged", on_init, on_deinit,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
