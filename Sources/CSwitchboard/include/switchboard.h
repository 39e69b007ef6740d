/*
 * switchboard.h — the Switchboard plugin ABI, version 1.
 *
 * This header is the whole contract between the Switchboard host and a plugin. A plugin is a shared
 * library (.so) that exports one function, `switchboard_plugin_v1`, and talks to the host only
 * through the function table it receives at init. It never links host symbols, so a plugin can be
 * written in C, Swift, or anything that emits a C ABI.
 *
 * RULES THAT HOLD FOR EVERY TYPE AND FUNCTION BELOW
 *
 *  1. Versioning. SB_ABI_MAJOR changes only when an existing declaration changes meaning or layout;
 *     the host refuses a plugin of another major. SB_ABI_MINOR grows when something is appended; the
 *     host refuses a plugin whose minor is newer than its own, so a plugin never calls what its host
 *     lacks. Structs that cross the boundary start with `struct_size`; fields are only ever appended;
 *     the reader ignores fields past the size it was given and treats missing ones as zero.
 *  2. Status codes (sb_status) are never renumbered. New codes may be appended.
 *  3. Buffers are (pointer, length) pairs and are never assumed to be NUL-terminated, unless a field
 *     is declared `const char *`, which is NUL-terminated UTF-8.
 *  4. Ownership. Whoever allocates frees. Every buffer the host hands to a plugin is BORROWED for a
 *     stated lifetime; every buffer the plugin hands to the host is COPIED before the call returns,
 *     unless the function says it borrows (then a release callback says when the host is done).
 *  5. Handles (sb_plugin, sb_request, sb_stream, sb_timer, sb_subscription) are opaque. Each says
 *     when it becomes invalid; using a handle after that is undefined behaviour.
 *  6. Threads. Host functions may be called from any thread unless stated. Callbacks from the host
 *     run on a host thread that also serves other work (an event loop unless stated), and must
 *     not block.
 *  7. Every host function returns an sb_status and writes results through trailing out-parameters,
 *     which it leaves untouched on failure.
 *  8. Callbacks and the handles they concern. A callback may run on another thread before the
 *     call that registered it returns, or inside that call on the calling thread where a function
 *     says so (stream_on_writable, stream_on_close, response_send_borrowed's release,
 *     state_get_inline's done, state_get_now's visit), so set up
 *     everything its `user` points at first, and hold no lock it takes. A function
 *     that hands out a handle (timer_start, topic_subscribe, response_stream_begin) writes it to its
 *     out-parameter before any callback that concerns it can run: a callback may use the copy the
 *     plugin stored through that out-parameter (to cancel a timer from its first tick, say). No
 *     callback of a handle starts after the call that ends the handle (timer_cancel,
 *     subscription_cancel, stream_finish) returns; such a call made on another thread while one
 *     runs waits for it to return — so two callbacks must never cancel each other's handles at
 *     the same time (each would wait for the other). The common case: a timer that feeds a
 *     stream ends it from a tick (stream_finish waits for a running on_close) while on_close
 *     cancels the timer (timer_cancel waits for a running tick). Let exactly one of them end
 *     both (an atomic flag set by the first), and let a tick cancel only its own timer, which
 *     never waits from the timer's own callback. Every callback runs under a lease on its
 *     generation, so the plugin's code stays mapped until it returns; no timer or message
 *     callback runs after on_deinit begins, and a state-store completion still out then keeps
 *     the image mapped until it has returned. Hosts before ABI 1.3 did not promise this rule.
 *  9. Callbacks and failure. A function that takes a callback (request_body_read, stream_on_writable,
 *     stream_on_close, timer_start, topic_subscribe, state_*) calls it only if it returns SB_OK;
 *     when it returns an error the callback is never called, and what `user` points at is the
 *     plugin's to free at once. After SB_OK a completion (state_* `done`; request_body_read's
 *     last chunk) is called exactly once. The one exception is response_send_borrowed's
 *     `release`, which hands a buffer back rather than reporting a result: it is called exactly
 *     once whatever the call returns, errors included.
 *
 * NAME FAMILIES
 *  sb_*_t / sb_*  types;  on_*  hooks the plugin implements;  sb_host_api.*  host callbacks.
 */
#ifndef SWITCHBOARD_H
#define SWITCHBOARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_ABI_MAJOR 1
#define SB_ABI_MINOR 9  /* 1.1: request_param, sb_param_value; 1.2: state_list counts (sb_state_result.number);
                        * 1.3: rule 8 (handles published before their callbacks run);
                        * 1.4: sb_route_spec.body_*, SB_ROUTE_PRECONDITIONS, state_compare_and_delete;
                        * 1.5: request_negotiate; 1.6: state_list_page, state_transaction, sb_state_op;
                        * 1.7: response_topic_stream, sb_topic_stream_spec, state_get_inline;
                        * 1.8: response_send_fields, sb_field; the host answers conditional GET
                        *      and HEAD on a 200 with validators (see response_send_fields);
                        * 1.9: state_get_now, sb_state_value_fn */

/* "SWBD": the first bytes after struct_size in a descriptor, so a stray symbol is never trusted. */
#define SB_PLUGIN_MAGIC 0x53574244u

/* The name of the one symbol a plugin exports. The `_v1` suffix is the ABI major. */
#define SB_ENTRY_SYMBOL "switchboard_plugin_v1"

/* ---------------------------------------------------------------------------------------------- */
/* Status codes                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

/* A status returned by every host function and by handlers. Values are never renumbered. */
typedef int32_t sb_status;

#define SB_OK 0  /* success */
#define SB_PENDING 1  /* a handler will respond later, from any thread (not an error) */
#define SB_ERR_INVALID_ARGUMENT (-1)  /* a NULL handle, a malformed name, header or template */
#define SB_ERR_NOT_FOUND (-2)  /* no such header, parameter, key or configuration value */
#define SB_ERR_NO_MEMORY (-3)  /* an allocation failed */
#define SB_ERR_CLOSED (-4)  /* the client went away, or the stream was ended by the host */
#define SB_ERR_WOULD_BLOCK (-5)  /* backpressure: nothing was taken; wait for on_writable
                                  * (state_get_now: not at hand, nothing done; use state_get) */
#define SB_ERR_UNSUPPORTED (-6)  /* this host does not provide the service */
#define SB_ERR_STATE (-7)  /* called at the wrong time (e.g. responding twice) */
#define SB_ERR_TOO_LARGE (-8)  /* a body or value exceeds a configured limit */
#define SB_ERR_IO (-9)  /* a file or store operation failed */
#define SB_ERR_INTERNAL (-10)  /* a bug in the host; logged */
#define SB_ERR_CONFLICT (-11)  /* a route conflicts, or a state compare-and-set did not match */
#define SB_ERR_OVERFLOW (-12)  /* a subscriber fell too far behind and was dropped */

/* ---------------------------------------------------------------------------------------------- */
/* Buffers                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/* UTF-8 text as (pointer, length); not NUL-terminated. OWNERSHIP: never owns its bytes; each use
 * states who owns them and for how long. {NULL, 0} is the empty string. */
typedef struct sb_str {
    const char *ptr;
    size_t len;
} sb_str;

/* Bytes as (pointer, length). OWNERSHIP: as sb_str. */
typedef struct sb_bytes {
    const uint8_t *ptr;
    size_t len;
} sb_bytes;

/* ---------------------------------------------------------------------------------------------- */
/* Opaque handles                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

/* One loaded instance (generation) of a plugin. OWNERSHIP: owned by the host; valid from the call
 * to on_init until on_deinit returns. Each reload gets a new sb_plugin. */
typedef struct sb_plugin_s sb_plugin;

/* One HTTP exchange. OWNERSHIP: owned by the host; valid while the handler runs and, after that,
 * until the plugin's one response call returns (for a stream: until sb_stream finish returns). */
typedef struct sb_request_s sb_request;

/* The body writer of a streamed response. OWNERSHIP: owned by the host; valid from
 * response_stream_begin until stream_finish returns. The plugin must call stream_finish exactly
 * once, also after the client went away. */
typedef struct sb_stream_s sb_stream;

/* A one-shot or repeating timer. OWNERSHIP: owned by the host; valid until timer_cancel returns.
 * Every timer_start is paired with exactly one timer_cancel, also for a one-shot timer that fired.
 * The host stops every timer before on_deinit runs (none fires during or after it), and logs a
 * warning for each one on_deinit did not cancel itself; a timer's handle stays valid until
 * on_deinit returns, so on_deinit may still cancel it. */
typedef struct sb_timer_s sb_timer;

/* A subscription to a topic. OWNERSHIP: owned by the host; valid until subscription_cancel returns.
 * Pair every topic_subscribe with one subscription_cancel; the host stops every subscription
 * before on_deinit runs, and on_deinit may still cancel them (their handles stay valid until it
 * returns). */
typedef struct sb_subscription_s sb_subscription;

/* ---------------------------------------------------------------------------------------------- */
/* Enumerations                                                                                   */
/* ---------------------------------------------------------------------------------------------- */

typedef enum sb_log_level {
    SB_LOG_TRACE = 0,
    SB_LOG_DEBUG = 1,
    SB_LOG_INFO = 2,
    SB_LOG_NOTICE = 3,
    SB_LOG_WARNING = 4,
    SB_LOG_ERROR = 5,
    SB_LOG_CRITICAL = 6
} sb_log_level;

/* Route flags (sb_route_spec.flags). */
    /* Run the handler on the host's thread pool instead of the event loop (FastAPI's `def` versus
     * `async def`). A blocking handler may sleep, do file or CPU work, and use SB_WRITE_WAIT. */
#define SB_ROUTE_BLOCKING (1u << 0)
    /* Do not buffer the request body: the handler reads it with request_body_read. */
#define SB_ROUTE_STREAM_BODY (1u << 1)
    /* ABI 1.4. The handler evaluates the request's preconditions (If-Match, If-None-Match,
     * If-Unmodified-Since, If-Modified-Since; RFC 9110 §13.2.2) against the validators of the
     * resource it changes. Without this flag the host evaluates them for every method other
     * than GET, HEAD, OPTIONS and TRACE before the handler runs, as for a resource that exists
     * and has no validators: If-Match other than `*`, or If-None-Match `*`, answers 412 with a
     * JSON body and the handler is not called. So a route cannot change a resource behind a
     * client's stale If-Match by forgetting to look at it. The default knows nothing of the
     * resource: it lets If-Match `*` through and refuses If-None-Match `*` even where the resource
     * does not exist, and answers 412 where a missing one deserves 404. So a route addressing one
     * resource that may be absent (PUT that creates, DELETE) sets this flag and evaluates them
     * itself (RFC 9110 §13.2.1: 404 before preconditions when it does not exist). Plugins built
     * for ABI 1.0 to 1.3 (which cannot set the flag) get no default. */
#define SB_ROUTE_PRECONDITIONS (1u << 2)

/* Where a declared parameter comes from (sb_param_spec.location). */
typedef enum sb_param_location {
    SB_PARAM_PATH = 0,
    SB_PARAM_QUERY = 1,
    SB_PARAM_HEADER = 2
} sb_param_location;

/* The type of a declared parameter and, for typed handlers, the C type it is passed as. */
typedef enum sb_param_type {
    SB_TYPE_STRING = 0, /* const char *  (NUL-terminated UTF-8, borrowed for the request) */
    SB_TYPE_INT = 1,    /* int64_t */
    SB_TYPE_FLOAT = 2,  /* double */
    SB_TYPE_BOOL = 3,   /* int32_t, 0 or 1; accepts true/false, 1/0, yes/no, on/off */
    SB_TYPE_ENUM = 4    /* const char *, one of enum_values */
} sb_param_type;

/* Which optional constraints of an sb_param_spec are set (sb_param_spec.flags). */
#define SB_PARAM_REQUIRED (1u << 0)
#define SB_PARAM_HAS_GE (1u << 1)
#define SB_PARAM_HAS_GT (1u << 2)
#define SB_PARAM_HAS_LE (1u << 3)
#define SB_PARAM_HAS_LT (1u << 4)
#define SB_PARAM_HAS_MIN_LENGTH (1u << 5)
#define SB_PARAM_HAS_MAX_LENGTH (1u << 6)
#define SB_PARAM_HAS_DEFAULT (1u << 7)

/* Flags for stream_write. */
    /* Block the calling thread until the data is taken instead of answering SB_ERR_WOULD_BLOCK.
     * Refused with SB_ERR_STATE on an event-loop thread, and in the handler that began the stream
     * once the queue is full: the host starts sending the response after the handler returns, so
     * that handler would wait for itself (write the rest from stream_on_writable or another
     * thread, and return). */
#define SB_WRITE_WAIT (1u << 0)

/* Flags for request body chunks (sb_body_chunk_fn). */
#define SB_CHUNK_LAST (1u << 0)

/* Flags for file responses (sb_file_spec.flags). */
    /* Content-Disposition: attachment (otherwise inline, when download_name is set). */
#define SB_FILE_ATTACHMENT (1u << 0)

/* ---------------------------------------------------------------------------------------------- */
/* Hooks the plugin implements                                                                    */
/* ---------------------------------------------------------------------------------------------- */

/* A route handler. `handler_data` is the pointer given in sb_route_spec. Return SB_OK after one
 * response call, or SB_PENDING to respond later from any thread. Any other status, or SB_OK without
 * a response, makes the host answer 500 with a JSON body and log the plugin's name.
 * Another thread may make the response call before the handler has returned SB_PENDING: the host
 * holds the response until the handler returns (SB_PENDING or SB_OK; another status then only
 * logs a warning), and `req` stays valid for the handler until it returns.
 * Runs on an event-loop thread, or on the thread pool for SB_ROUTE_BLOCKING routes. */
typedef sb_status (*sb_handler_fn)(void *handler_data, sb_request *req);

/* A handler declared with a native typed signature, called through libffi as
 *     sb_status fn(void *handler_data, sb_request *req, T0 p0, T1 p1, ...)
 * with one argument per sb_route_spec.params entry, in order, typed as sb_param_type says. Every
 * parameter of such a route must be required or have a default, and every path parameter of its
 * template declared. A string value containing NUL is refused (422). The `const char *` arguments
 * are the host's copies, borrowed until `req` becomes invalid (see sb_request): they outlive
 * SB_PENDING, up to the response call. Cast to this type to store it. */
typedef void (*sb_typed_handler_fn)(void);

/* Releases a buffer the host borrowed (response_send_borrowed). Called exactly once, on any
 * thread (possibly inside response_send_borrowed, on the calling thread), when the host no longer
 * reads the buffer: also when response_send_borrowed fails (rule 9's one exception). */
typedef void (*sb_release_fn)(void *release_data);

/* A chunk of a streamed request body (SB_ROUTE_STREAM_BODY). `chunk` is borrowed for the call.
 * status is SB_OK for data (SB_CHUNK_LAST set on the final call, whose chunk may be empty),
 * SB_ERR_CLOSED when the client went away, or SB_ERR_TOO_LARGE past the route's limit; after a
 * call with SB_CHUNK_LAST or an error status there are no more calls. Runs on a host worker thread
 * (not necessarily an event loop), one call at a time, in order; must not block. */
typedef void (*sb_body_chunk_fn)(void *user, sb_request *req, sb_status status, sb_bytes chunk,
                                 uint32_t flags);

/* A stream event: writable again (after SB_ERR_WOULD_BLOCK), or closed (client gone, or ended by
 * the host at shutdown or a drain deadline). Called at most once per registration: on a host
 * thread, or inside the registering call on the calling thread when the event has already
 * happened (see stream_on_writable, stream_on_close). */
typedef void (*sb_stream_event_fn)(void *user, sb_stream *stream);

/* A timer fired. Runs on one event loop of the server, the same one for every tick of a timer
 * (chosen at timer_start); must not block. A timer's calls never overlap: a repeating timer's
 * next call starts interval_ns after the previous one returned (a fixed delay, not a fixed rate). */
typedef void (*sb_timer_fn)(void *user, sb_timer *timer);

/* A message on a subscribed topic. `message` is borrowed for the call. status is SB_OK for a
 * message, or SB_ERR_OVERFLOW once when the subscriber fell behind its queue limit and was
 * dropped (no more calls follow; still call subscription_cancel). */
typedef void (*sb_message_fn)(void *user, sb_subscription *sub, sb_status status, sb_bytes message);

/* ---------------------------------------------------------------------------------------------- */
/* Structs the plugin fills                                                                       */
/* ---------------------------------------------------------------------------------------------- */

/* A declared path, query or header parameter: validated by the host before the handler runs
 * (422 with FastAPI's body shape on failure; handlers read the result with request_param) and
 * described in the generated OpenAPI document. A path parameter is always required; a header's
 * name is the field name ("x-token"), matched case-insensitively; a repeated query parameter
 * counts by its last value, as in FastAPI.
 * OWNERSHIP: filled by the plugin; copied by route_add. */
typedef struct sb_param_spec {
    uint32_t struct_size;       /* sizeof(sb_param_spec) */
    uint8_t location;           /* sb_param_location */
    uint8_t type;               /* sb_param_type */
    uint16_t flags;             /* SB_PARAM_* */
    sb_str name;
    sb_str description;
    double ge, gt, le, lt;      /* numeric bounds, each active when its SB_PARAM_HAS_* bit is set */
    uint64_t min_length;        /* string length bounds, in Unicode scalars */
    uint64_t max_length;
    sb_str pattern;             /* a regular expression (Swift Regex syntax, which backtracks: avoid
                                 * nested quantifiers) that must match somewhere in the value, as in
                                 * FastAPI: anchor it with ^...$; empty: none */
    sb_str default_value;       /* textual default, active with SB_PARAM_HAS_DEFAULT */
    const sb_str *enum_values;  /* SB_TYPE_ENUM: the allowed values */
    size_t enum_count;
} sb_param_spec;

/* The size of the first (1.0) sb_param_spec layout: the least struct_size a host reads. */
#define SB_PARAM_SPEC_V1_SIZE (offsetof(sb_param_spec, enum_count) + sizeof(size_t))

/* One documented response of a route. Several with one status document the media types a
 * negotiated response may take (the first one's description is used). OWNERSHIP: filled by the
 * plugin; copied by route_add. */
typedef struct sb_response_doc {
    uint32_t struct_size;       /* sizeof(sb_response_doc) */
    uint16_t status;            /* e.g. 200 */
    uint16_t reserved;
    sb_str media_type;          /* e.g. "application/json" */
    sb_str description;
} sb_response_doc;

/* The size of the first (1.0) sb_response_doc layout: the least struct_size a host reads. */
#define SB_RESPONSE_DOC_V1_SIZE (offsetof(sb_response_doc, description) + sizeof(sb_str))

/* A route. OWNERSHIP: filled by the plugin; every field is copied by route_add except
 * handler_data, which stays the plugin's and must remain valid until on_deinit.
 * Arrays of sized structs (params, responses) are read with the stride of their first
 * element's struct_size. */
typedef struct sb_route_spec {
    uint32_t struct_size;              /* sizeof(sb_route_spec) */
    uint32_t flags;                    /* SB_ROUTE_* */
    sb_str method;                     /* an upper-case token: "GET", "POST", ... */
    sb_str path;                       /* a template: "/items/{item_id}"; a parameter is a whole segment
                                        * and matches one non-empty segment. Precedence: of the
                                        * templates that match a path (same segment count), the one
                                        * with a literal where the others first have a parameter
                                        * wins (/items/new over /items/{id}, /a/{x}/c over /{y}/b/c)
                                        * among those with a route for the request's method (HEAD
                                        * uses GET): DELETE /items/new reaches DELETE /items/{id}
                                        * beside GET /items/new. None with the method: 405, Allow
                                        * listing the methods of every matching template. Templates
                                        * equal but for parameter names conflict (route_add). */
    sb_handler_fn handler;             /* required unless typed_handler is set */
    void *handler_data;
    sb_str summary;                    /* metadata for generated docs; all optional */
    sb_str description;
    const sb_param_spec *params;
    size_t param_count;
    const sb_response_doc *responses;
    size_t response_count;
    sb_typed_handler_fn typed_handler; /* when set, called through libffi instead of handler */
    uint64_t max_body_bytes;           /* 0: the host's configured default */
    /* ABI 1.4: the request body, for the OpenAPI document (requestBody). Both empty: the route
     * documents no body. body_schema is a JSON Schema (2020-12, as OpenAPI 3.1 uses) as JSON
     * text, e.g. {"type":"object","required":["name"],"properties":{"name":{"type":"string"}}};
     * route_add refuses text that is not a JSON object (SB_ERR_INVALID_ARGUMENT, logged). The
     * host documents it and does not validate bodies against it: the handler still checks what
     * it reads (and answers 422 for a body that does not fit). body_media_type empty with a
     * schema: "application/json". A documented body is required unless SB_BODY_OPTIONAL. */
    sb_str body_media_type;
    sb_str body_schema;
    uint32_t body_flags;               /* SB_BODY_* */
    uint32_t reserved;
} sb_route_spec;

/* The size of the 1.0–1.3 route spec layout (up to max_body_bytes): hosts read no further in a
 * spec of this size. */
#define SB_ROUTE_SPEC_V1_SIZE (offsetof(sb_route_spec, max_body_bytes) + sizeof(uint64_t))

/* Flags for sb_route_spec.body_flags (ABI 1.4). */
    /* The documented body may be left out. */
#define SB_BODY_OPTIONAL (1u << 0)

/* A response served by the host from a file: Range/206/416, ETag/Last-Modified/304 and HEAD are
 * the host's job, at zero-copy speed. OWNERSHIP: filled by the plugin; copied by response_file. */
typedef struct sb_file_spec {
    uint32_t struct_size;       /* sizeof(sb_file_spec) */
    uint32_t flags;             /* SB_FILE_* */
    sb_str path;                /* an absolute path, its bytes as the file system names them (they
                                 * need not be UTF-8; no NUL); the plugin has already checked
                                 * containment */
    sb_str content_type;        /* empty: application/octet-stream */
    sb_str download_name;       /* empty: no Content-Disposition; otherwise RFC 6266 filename(*) */
} sb_file_spec;

/* An event stream the host feeds from a topic (response_topic_stream, ABI 1.7): every message
 * published to `topic` reaches the client as one Server-Sent Event, with no plugin code running
 * per client or per message. OWNERSHIP: filled by the plugin; read and copied during the call. */
typedef struct sb_topic_stream_spec {
    uint32_t struct_size;       /* sizeof(sb_topic_stream_spec) */
    uint32_t lag_limit;         /* messages a client may fall behind (its connection not taking
                                 * more) before it is dropped; 0: 256 */
    sb_str topic;               /* this plugin's topic, as topic_publish names it; not empty */
    sb_str event;               /* the `event:` field of every message's event; empty: none (the
                                 * client's "message" event); no CR, LF or NUL */
    sb_str comment;             /* sent first, as a comment line (": connected"); empty: nothing;
                                 * no CR, LF or NUL */
    uint64_t keepalive_ns;      /* a ": ping" comment every this long, nanoseconds (10 ms at the
                                 * least); 0: none */
} sb_topic_stream_spec;

/* ---------------------------------------------------------------------------------------------- */
/* Structs the host fills                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/* One key and value listed by state_list. OWNERSHIP: borrowed for the completion callback. */
typedef struct sb_state_entry {
    sb_str key;
    sb_bytes value;
} sb_state_entry;

/* The result of a state-store operation. OWNERSHIP: owned by the host, borrowed for the
 * completion callback; copy what you keep. */
typedef struct sb_state_result {
    uint32_t struct_size;
    uint32_t reserved;
    sb_bytes value;                /* state_get: the value */
    int64_t number;                /* state_increment: the new value; state_list (hosts of ABI 1.2
                                    * and later): how many keys start with the prefix in all, so a
                                    * page can say how many there are */
    const sb_state_entry *entries; /* state_list: the entries, in key order */
    size_t entry_count;
} sb_state_result;

/* Completion of a state-store operation. Called exactly once after its call returned SB_OK, never
 * after an error (rule 9), on the host's one store thread (never an event loop; state_get_inline's
 * may run inside that call, on the calling thread, and must then not block): completions of
 * every plugin run there one at a time, in the order of the calls, so one that blocks delays
 * them all; may block briefly. status: SB_OK, SB_ERR_NOT_FOUND, SB_ERR_CONFLICT (compare-and-set
 * mismatch), SB_ERR_INVALID_ARGUMENT (state_increment: the stored value is not a decimal int64,
 * or the sum overflows) or SB_ERR_IO. */
typedef void (*sb_state_done_fn)(void *user, sb_status status, const sb_state_result *result);

/* What state_get_now found (ABI 1.9): the value, borrowed until this returns. Runs inside
 * state_get_now, on the calling thread. */
typedef void (*sb_state_value_fn)(void *user, sb_bytes value);

/* One step of a state_transaction (ABI 1.6). OWNERSHIP: filled by the plugin; copied by
 * state_transaction before it returns. */
typedef struct sb_state_op {
    uint32_t struct_size;       /* sizeof(sb_state_op) */
    uint32_t kind;              /* SB_STATE_OP_* */
    sb_str key;
    sb_bytes value;             /* PUT: the value to store; EXPECT: the value the key must hold */
} sb_state_op;

/* Kinds of sb_state_op (ABI 1.6). */
#define SB_STATE_OP_PUT 1           /* store `value` at `key` */
#define SB_STATE_OP_DELETE 2        /* remove `key` (absent: nothing to do) */
#define SB_STATE_OP_EXPECT 3        /* `key` must hold `value` now, or nothing applies */
#define SB_STATE_OP_EXPECT_ABSENT 4 /* `key` must be absent now, or nothing applies */

/* A response field (ABI 1.8), one of response_send_fields' `fields`. OWNERSHIP: filled by the
 * plugin; name and value are copied before the call returns. */
typedef struct sb_field {
    uint32_t struct_size;       /* sizeof(sb_field) */
    uint32_t reserved;          /* 0 */
    sb_str name;                /* a token (RFC 9110 §5.1), any case */
    sb_str value;               /* UTF-8 without CR, LF or NUL (§5.5) */
} sb_field;

/* A declared parameter's validated value (request_param). The caller sets struct_size; the host
 * writes no further than it. OWNERSHIP: `text` is borrowed until the request handle becomes
 * invalid. */
typedef struct sb_param_value {
    uint32_t struct_size;       /* set by the caller: sizeof(sb_param_value) */
    uint8_t type;               /* sb_param_type of the declaration */
    uint8_t present;            /* 1: sent by the client; 0: the declared default */
    uint16_t reserved;
    int64_t integer;            /* SB_TYPE_INT; SB_TYPE_BOOL as 0 or 1 */
    double number;              /* SB_TYPE_FLOAT; SB_TYPE_INT and SB_TYPE_BOOL converted */
    sb_str text;                /* every type: the value as sent, decoded (a path value percent-decoded,
                                 * a query value as form data: see request_query_param; a header
                                 * value as it came), or the default */
} sb_param_value;

/* ---------------------------------------------------------------------------------------------- */
/* Host callbacks                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

/* The host's services, handed to on_init. OWNERSHIP: owned by the host, valid until on_deinit
 * returns; the pointer may be kept. Entries are only ever appended (rule 1): a plugin that wants
 * to run on older hosts of the same major checks struct_size before using a later entry. */
typedef struct sb_host_api {
    uint32_t struct_size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* --- Plugin lifecycle --------------------------------------------------------------------- */

    /* Writes a log line tagged with the plugin's name. `message` is copied. */
    sb_status (*log)(sb_plugin *plugin, sb_log_level level, sb_str message);

    /* During on_init only: records why the plugin refuses to load; on_init should then return an
     * error. The host shows this reason in its refusal message. `reason` is copied. */
    sb_status (*plugin_refuse)(sb_plugin *plugin, sb_str reason);

    /* Reads the plugin's configuration value `key`: `plugins.config.<name>.<key>` of the
     * configuration file (a `.` in `key` descends a nested map), overridden by the environment
     * variable SWITCHBOARD_PLUGINS_CONFIG_<NAME>_<KEY>: upper-cased, every character other than a
     * letter or digit (`-`, `.`) written `_`, a camelCase boundary too (hello-c's maxItems:
     * SWITCHBOARD_PLUGINS_CONFIG_HELLO_C_MAX_ITEMS; hello-c and hello_c share variables). No flag
     * sets it. A YAML scalar comes back as the text written (`8080`, `1.50`, `yes`, `true`), a list
     * or a map as SB_ERR_NOT_FOUND (read a map's entries as "map.key"). File and environment are
     * read once, at host start. The value is borrowed until on_deinit returns. SB_ERR_NOT_FOUND
     * when unset (always under `switchboard check`, which passes no configuration). */
    sb_status (*config_get)(sb_plugin *plugin, sb_str key, sb_str *out_value);

    /* --- Routes (during on_init only) --------------------------------------------------------- */

    /* Adds a route. Copies the spec (see sb_route_spec). SB_ERR_INVALID_ARGUMENT for an invalid
     * method or template, or a path, parameter name, default, pattern or enum value that is not
     * UTF-8 (never repaired: two different names could become one); SB_ERR_CONFLICT for a
     * duplicate within this plugin. Both are logged and refuse the plugin (invalid-route) when
     * on_init returns. Conflicts with other plugins are checked when init returns, and refuse
     * the plugin. */
    sb_status (*route_add)(sb_plugin *plugin, const sb_route_spec *spec);

    /* --- Request access (strings borrowed until the request handle becomes invalid) ----------- */

    sb_status (*request_method)(sb_request *req, sb_str *out_method);
    /* The path as sent, percent-encoded, without the query. */
    sb_status (*request_path)(sb_request *req, sb_str *out_path);
    /* The raw query string without '?'; empty when absent. */
    sb_status (*request_query)(sb_request *req, sb_str *out_query);
    /* The percent-decoded value of the path parameter `name` of the matched template. */
    sb_status (*request_path_param)(sb_request *req, sb_str name, sb_str *out_value);
    /* The decoded value of the `index`-th query parameter called `name` (0 is the first), names
     * compared code point by code point once decoded. Names and values decode as form data does
     * (WHATWG URL 5.1, as Starlette reads them): `+` is a space, a `%` not followed by two hex
     * digits is kept as sent, and bytes that are not UTF-8 become U+FFFD. */
    sb_status (*request_query_param)(sb_request *req, sb_str name, size_t index, sb_str *out_value);
    /* The `index`-th value of header `name` (case-insensitive; 0 is the first).
     * SB_ERR_INVALID_ARGUMENT when `name` is not a token (RFC 9110 §5.6.2), SB_ERR_NOT_FOUND when
     * the request has no such line. Host is one of the lines (hosts built before December 2026
     * answered SB_ERR_NOT_FOUND for it and did not list it).
     * request_header_count and request_header_at list every line, names in lower case: Host
     * first, then the others in the order received. */
    sb_status (*request_header)(sb_request *req, sb_str name, size_t index, sb_str *out_value);
    sb_status (*request_header_count)(sb_request *req, size_t *out_count);
    sb_status (*request_header_at)(sb_request *req, size_t index, sb_str *out_name, sb_str *out_value);
    /* The whole request body, buffered by the host up to the route's limit (413 past it).
     * SB_ERR_STATE on an SB_ROUTE_STREAM_BODY route. */
    sb_status (*request_body)(sb_request *req, sb_bytes *out_body);
    /* SB_ROUTE_STREAM_BODY routes: delivers the body in chunks to `on_chunk`, once per request
     * (SB_ERR_STATE on another route or a second call). `on_chunk` runs only after SB_OK (rule 9),
     * possibly before this call returns. Usually followed by the handler returning SB_PENDING and
     * responding from the last chunk. */
    sb_status (*request_body_read)(sb_request *req, sb_body_chunk_fn on_chunk, void *user);

    /* --- Responses: one response call per request (send, send_borrowed, stream_begin, file,
     * and from 1.7 and 1.8 topic_stream and send_fields) ------------------------------------ */

    /* Adds a response header before the response call. Copies both. SB_ERR_INVALID_ARGUMENT for a
     * name that is not a token or a value with CR, LF or NUL. */
    sb_status (*response_header_add)(sb_request *req, sb_str name, sb_str value);
    /* Responds with `status` and a body the host copies. Without a Content-Type header the host
     * sends application/octet-stream (none for an empty body). SB_ERR_INVALID_ARGUMENT for a
     * status outside 200-999 (a 1xx is interim, never a final response); so for every response
     * call. */
    sb_status (*response_send)(sb_request *req, uint16_t status, sb_bytes body);
    /* As response_send, but the host borrows `body` until it calls release(release_data): exactly
     * once, on any thread, whatever this call returns — also when it fails, a NULL `req` included
     * (the exception to rule 9). `release` may run inside this call, on the calling thread, and
     * must not call the host with `req`. */
    sb_status (*response_send_borrowed)(sb_request *req, uint16_t status, sb_bytes body,
                                        sb_release_fn release, void *release_data);
    /* Starts a chunked response and hands out its writer. For a HEAD request the stream starts
     * closed: stream_write answers SB_ERR_CLOSED and stream_on_close calls back at once; still
     * call stream_finish. A client that leaves is noticed when the host next sends queued data.
     * Event streams: when the Content-Type added before this call starts with text/event-stream,
     * the host adds `Connection: close` and watches the connection, so on_close runs as soon as
     * the client leaves, even while the stream is idle (not on an SB_ROUTE_STREAM_BODY route); at
     * graceful shutdown and at a drain deadline it ends the stream cleanly (queued data sent, body
     * terminated, on_close), so EventSource reconnects with Last-Event-ID. Nothing else: add
     * Cache-Control: no-cache and X-Accel-Buffering: no yourself, and write a comment (": ping\n\n")
     * from a timer if idle streams must survive proxies (the Swift SDK: every 15 s). */
    sb_status (*response_stream_begin)(sb_request *req, uint16_t status, sb_stream **out_stream);
    /* Responds with a file that the host serves (see sb_file_spec); the path is opened by its
     * bytes, which need not be UTF-8. SB_ERR_INVALID_ARGUMENT for a path that is not absolute or
     * holds a NUL; SB_ERR_NOT_FOUND when the file does not exist, is a symbolic link or is not a
     * regular file (the plugin then responds otherwise); SB_ERR_IO when it cannot be opened. */
    sb_status (*response_file)(sb_request *req, const sb_file_spec *spec);

    /* --- Streaming writer ---------------------------------------------------------------------- */

    /* Queues a copy of `data`. SB_ERR_WOULD_BLOCK (nothing taken) when 256 KiB or more are
     * queued (the high watermark) — retry after stream_on_writable — unless flags has
     * SB_WRITE_WAIT. SB_ERR_CLOSED once the client has gone away or the host ended the stream. */
    sb_status (*stream_write)(sb_stream *stream, sb_bytes data, uint32_t flags);
    /* Calls `cb` once when the queue has drained below its low watermark (64 KiB). If it already
     * has, or the stream is closed, `cb` runs inside this call, on the calling thread. */
    sb_status (*stream_on_writable)(sb_stream *stream, sb_stream_event_fn cb, void *user);
    /* Calls `cb` once when the client goes away or the host ends the stream. If that has already
     * happened (always for HEAD), `cb` runs inside this call, on the calling thread. Never called
     * after stream_finish returns: a stream_finish racing a callback on another thread waits for
     * it to return. */
    sb_status (*stream_on_close)(sb_stream *stream, sb_stream_event_fn cb, void *user);
    /* Ends the response after the queued data. The handle and the request are invalid afterwards,
     * and no on_writable or on_close callback of this stream runs any more. SB_ERR_STATE when the
     * stream is finished already, or another thread's stream_finish is under way (it waits for a
     * callback running elsewhere, and this call may be that callback's: it returns at once). */
    sb_status (*stream_finish)(sb_stream *stream);

    /* --- Timers --------------------------------------------------------------------------------- */

    /* Calls `cb` after `delay_ns`, then every `interval_ns` if that is non-zero. *out_timer is
     * written before the timer is armed (rule 8): with delay_ns 0 the first call may run on another
     * event loop before timer_start returns, and may cancel the timer through *out_timer. Threads
     * and overlap: see sb_timer_fn. SB_ERR_STATE from on_deinit on. */
    sb_status (*timer_start)(sb_plugin *plugin, uint64_t delay_ns, uint64_t interval_ns,
                             sb_timer_fn cb, void *user, sb_timer **out_timer);
    /* Stops and frees the timer; `cb` will not start again. It may be called from the timer's own
     * callback. Called from another thread while `cb` runs, it waits for `cb` to return. */
    sb_status (*timer_cancel)(sb_timer *timer);

    /* --- Publish/subscribe (topics are per plugin name, and outlive reloads) ------------------- */

    /* Topics are UTF-8 text, compared byte by byte: SB_ERR_INVALID_ARGUMENT for one that is not. */
    /* Delivers a copy of `message` to every subscriber of `topic`; writes how many got it. */
    sb_status (*topic_publish)(sb_plugin *plugin, sb_str topic, sb_bytes message,
                               size_t *out_delivered);
    /* Subscribes with a bounded queue of `queue_limit` messages (0: the host default, 1024).
     * *out_sub is written before the first message can be delivered (rule 8). `cb` runs on one
     * event loop chosen here, one message at a time, in the order they were queued. */
    sb_status (*topic_subscribe)(sb_plugin *plugin, sb_str topic, uint32_t queue_limit,
                                 sb_message_fn cb, void *user, sb_subscription **out_sub);
    sb_status (*subscription_cancel)(sb_subscription *sub);

    /* --- Key-value state store (per plugin name; survives reloads and restarts) ---------------- */
    /* Kept in SQLite under state.directory (the host's README gives the schema). A change is
     * durable before its `done` runs; calls made while the store commits are committed together
     * in its next transaction (each still answered only once durable). */
    /* Each call copies its arguments, returns at once, and, when it returns SB_OK, completes
     * through `done` exactly once, possibly before the call has returned (rules 8 and 9, and
     * sb_state_done_fn). When it returns an error `done` is never called: SB_ERR_INVALID_ARGUMENT
     * for a NULL plugin or `done`, or a key, prefix or `after` that is not UTF-8 (keys are text,
     * compared byte by byte), SB_ERR_STATE once a replaced generation has drained (in its
     * on_deinit, say). */

    sb_status (*state_get)(sb_plugin *plugin, sb_str key, sb_state_done_fn done, void *user);
    sb_status (*state_put)(sb_plugin *plugin, sb_str key, sb_bytes value, sb_state_done_fn done,
                           void *user);
    /* Writes `value` only if the current value equals `expected` (has_expected = 0: only if the key
     * is absent); SB_ERR_CONFLICT otherwise. */
    sb_status (*state_compare_and_put)(sb_plugin *plugin, sb_str key, int32_t has_expected,
                                       sb_bytes expected, sb_bytes value, sb_state_done_fn done,
                                       void *user);
    sb_status (*state_delete)(sb_plugin *plugin, sb_str key, sb_state_done_fn done, void *user);
    /* Adds `delta` to the integer at `key` (absent counts as 0) atomically; result.number. */
    sb_status (*state_increment)(sb_plugin *plugin, sb_str key, int64_t delta,
                                 sb_state_done_fn done, void *user);
    /* Lists up to `limit` entries (0: all) whose key starts with `prefix` and sorts after `after`,
     * in byte order of the keys; result->number counts every key with the prefix (ABI 1.2). */
    sb_status (*state_list)(sb_plugin *plugin, sb_str prefix, sb_str after, uint32_t limit,
                            sb_state_done_fn done, void *user);

    /* --- ABI 1.1 ----------------------------------------------------------------------------- */

    /* The validated value of the declared parameter `name` (sb_route_spec.params; names compared
     * code point by code point, as the request's are): the host has
     * already checked it against its declaration (or answered 422 without calling the handler).
     * SB_ERR_NOT_FOUND when no parameter of that name is declared, or an optional one without a
     * default was not sent. */
    sb_status (*request_param)(sb_request *req, sb_str name, sb_param_value *out_value);

    /* --- ABI 1.4 ----------------------------------------------------------------------------- */

    /* Deletes `key` only if its current value equals `expected`: SB_ERR_CONFLICT when it holds
     * another value, SB_ERR_NOT_FOUND when it is absent. With state_compare_and_put, what a
     * conditional DELETE needs: read, evaluate the preconditions, delete what was read. */
    sb_status (*state_compare_and_delete)(sb_plugin *plugin, sb_str key, sb_bytes expected,
                                          sb_state_done_fn done, void *user);

    /* --- ABI 1.5 ----------------------------------------------------------------------------- */

    /* Proactive negotiation (RFC 9110 §12.5.1): of the `offered_count` media types in `offered`
     * (each `type/subtype` with optional parameters, e.g. "text/html; charset=utf-8"; no wildcard,
     * no q), in the plugin's order of preference, writes the index of the one the request's Accept
     * field prefers to *out_index. Rules: q-values (q=0 excludes, on a wildcard range too); the
     * most specific matching range decides a type's quality (`text/html` over `text/` plus a
     * wildcard, over the all-types wildcard; then the range with more parameters); among equal
     * qualities the type matched by the more specific range wins (Edge's `text/html`, ... and the
     * all-types wildcard get HTML, not a JSON offered first), then the plugin's order; types,
     * subtypes and parameter names compare case-insensitively; a range's parameter must be
     * carried by the type with an equal value, except charset, which a type without one satisfies
     * for utf-8; elements that do not parse are ignored (a quality written `.5` and a lone `*`, as
     * Java sends them, do parse); only the first 64 elements within the first 8 KiB count; the
     * field's lines are one list. No Accept field, or none of its elements counted parses: any
     * type is acceptable and *out_index is 0.
     * SB_ERR_NOT_FOUND when none of them is acceptable: answer 406 (the kit's
     * sbk_respond_not_acceptable and the Swift SDK write the same JSON body), or send the first
     * anyway (RFC 9110 §12.5.1 allows either). SB_ERR_INVALID_ARGUMENT for a NULL argument, a
     * count of 0 or over 64, or a malformed type (logged with its index). SB_ERR_STATE after the
     * response call. On SB_OK and SB_ERR_NOT_FOUND the host adds `Vary: Accept` to this request's
     * response, whatever it is (a 304, the plugin's 406, the host's 500 for a handler that then
     * fails), unless a Vary field already names Accept. `offered` and its strings are read during
     * the call only. Any thread. */
    sb_status (*request_negotiate)(sb_request *req, const sb_str *offered, size_t offered_count,
                                   size_t *out_index);

    /* --- ABI 1.6 ----------------------------------------------------------------------------- */

    /* state_list, past the first `skip` of the entries it would list: a page at any offset
     * (`?skip=5000&limit=10`) without the skipped entries reaching the plugin, and without the
     * store reading their values. result->number counts every key with the prefix. */
    sb_status (*state_list_page)(sb_plugin *plugin, sb_str prefix, sb_str after, uint64_t skip,
                                 uint32_t limit, sb_state_done_fn done, void *user);
    /* Applies `ops` (1 to 1024) in order as one transaction: all of them or none, and no other
     * call comes between them. A compare-and-set over several keys: EXPECT the values read, then
     * PUT and DELETE. Completes with SB_OK; SB_ERR_CONFLICT when an EXPECT or EXPECT_ABSENT did
     * not hold, with result->number the index of the first that failed (nothing applied); or
     * SB_ERR_IO. SB_ERR_INVALID_ARGUMENT (returned, `done` never called) for a count of 0 or over
     * 1024, a NULL `ops`, or an op with an unknown kind, or a struct_size other than the first
     * op's (which must be at least the 1.6 size). The ops are read with the first op's size as
     * their stride. A store failure (a full disk, say) while the host commits this call with
     * others fails them all with SB_ERR_IO: nothing of any of them is kept. */
    sb_status (*state_transaction)(sb_plugin *plugin, const sb_state_op *ops, size_t count,
                                   sb_state_done_fn done, void *user);

    /* --- ABI 1.7 ----------------------------------------------------------------------------- */

    /* Responds with a Server-Sent Events stream that the host feeds from spec->topic: the
     * broadcast of a chat room, a log or a ticker to thousands of clients, with the plugin only
     * publishing. Each message published to the topic (topic_publish, by any generation of this
     * plugin) is encoded once as an event, `event: <spec->event>` (if set) and one `data:` line
     * per line of the message (split at CR LF, LF or CR), and that one buffer is written to every
     * such client, from each connection's event loop. A client that has read spec->comment gets
     * every message published after that, in order. The host adds Content-Type:
     * text/event-stream (replacing any), Cache-Control: no-cache and X-Accel-Buffering: no unless
     * added before this call, and Connection: close, and watches the connection, so a client
     * that leaves is unsubscribed at once. A client whose connection has stopped taking data
     * while spec->lag_limit more messages were published is sent `event: dropped` with a JSON
     * string saying why, and its response ends: memory stays bounded. At graceful shutdown and
     * at a drain deadline the stream ends cleanly (a complete chunked body), so EventSource
     * reconnects. A HEAD request gets the head only. topic_publish's out_delivered counts the
     * clients subscribed when it was called (one leaving then may not get it). The host removes a
     * Content-Length or Transfer-Encoding added before this call: it frames the body itself.
     * SB_ERR_INVALID_ARGUMENT for a NULL argument, a struct_size below 1.7's, a status outside
     * 200-299 or 204 or 205 (which have no content), an empty topic, CR, LF or NUL in event or
     * comment, or text that is not UTF-8; SB_ERR_STATE after another response call. */
    sb_status (*response_topic_stream)(sb_request *req, uint16_t status, const sb_topic_stream_spec *spec);
    /* state_get, answered inside this call when the value is at hand: when no state call is
     * queued or running ahead of it and the host holds the value as last committed (it keeps
     * those lately read or written, about 16 MiB of them, and forgets them all once another
     * process has committed to the store: SQLite's data_version). `done` then runs on the
     * calling thread, maybe
     * an event loop, before this returns: it must not block. Otherwise exactly as state_get
     * (`done` later, on the store thread). Completions stay in the order of the calls, one at a
     * time: while an inline read on another thread answers, this one waits for its turn briefly
     * (a few tries, then 50 microseconds more of them, yielding its CPU between tries, so the
     * thread it waits for can finish: off the CPU it may wait a scheduler slice longer; past
     * that it is queued; the host's metric switchboard_state_inline_reads_total counts each
     * outcome), and one made from inside a
     * `done` is queued. What a read-mostly route wants: no hop to the store thread and back per
     * request. */
    sb_status (*state_get_inline)(sb_plugin *plugin, sb_str key, sb_state_done_fn done, void *user);

    /* --- ABI 1.8 ----------------------------------------------------------------------------- */

    /* The whole response in one call: the `count` fields (0 to 1024), each checked and copied as
     * response_header_add does and added after any added before, then response_send(status,
     * body). All or nothing: SB_ERR_INVALID_ARGUMENT (nothing added, nothing sent, the request
     * still unanswered) for a field response_header_add would refuse, a NULL `fields` with a
     * count, a count over 1024, a first struct_size below 1.8's, over 4096 or not a multiple of
     * 8, or another field's struct_size other than the first's (the fields are read with the
     * first one's size as their stride), or a status response_send refuses. These are checked
     * before SB_ERR_STATE, which a valid call made after another response call gets. One host
     * call per response where response_header_add and response_send make one per field and one
     * more: what the Swift SDK's Response and the kit's sbk_respond use.
     *
     * Conditional GET and HEAD (hosts of ABI 1.8; plugins built for 1.8 or later): when a GET or
     * HEAD is answered 200 with a body sent whole (response_send, response_send_borrowed, this
     * call) and one ETag field or a Last-Modified field, on a route without
     * SB_ROUTE_PRECONDITIONS, the host evaluates the request's If-Match, If-Unmodified-Since,
     * If-None-Match and If-Modified-Since against them (RFC 9110 §13.2.2), and answers 304 Not
     * Modified (no body) or 412 ({"detail":"Precondition Failed"}) instead where they say so,
     * each with the 200's fields but its Content-* ones other than Content-Location. nginx's
     * not_modified filter does this for the files and cached responses it serves. A plugin need
     * not read those fields to serve 304s; one that answers 304 or 412 itself is left alone, and
     * so are streams and files (response_file evaluates its own validators). Tags are compared as
     * the plugin sent them: a client that holds the host's gzip-coded representation is compared
     * by the plugin's tag. A plugin built before 1.8 gets its 200 as it sent it. */
    sb_status (*response_send_fields)(sb_request *req, uint16_t status, const sb_field *fields, size_t count,
                                      sb_bytes body);

    /* --- ABI 1.9 ----------------------------------------------------------------------------- */

    /* The value at `key` now, or not at all: a read that completes nothing. When no state call
     * is queued or running ahead of it and the host holds the value as last committed (the
     * values state_get_inline answers from), calls `visit` once, inside this call on the calling
     * thread, with the value borrowed for that call, and returns SB_OK; returns SB_ERR_NOT_FOUND
     * (`visit` not called) when the key is known to be absent. Otherwise returns
     * SB_ERR_WOULD_BLOCK having done nothing: read with state_get. It waits for no completion
     * and no commit, and only briefly for other threads' lookups; once another process has
     * committed, the first call after that asks SQLite whether it has (one query: normally
     * microseconds, longer while another process holds SQLite's lock to recover the database)
     * and the others wait for its answer. Not ordered among completions (it is answered before
     * returning, as if it were a function of the store): called inside a state_get_inline's
     * `done` it is answered as anywhere else; inside a queued call's `done` (the store thread)
     * it gets SB_ERR_WOULD_BLOCK. `visit` runs plugin code on what may be an event loop: it must not
     * block; copy what it keeps. Errors (`visit` never called): SB_ERR_INVALID_ARGUMENT for a
     * NULL plugin or `visit`, or a key that is not UTF-8; SB_ERR_STATE once a replaced
     * generation has drained. The host's metric switchboard_state_inline_reads_total counts
     * each call by outcome, as it counts state_get_inline's. What the Swift SDK's
     * StateStore.lookup and get try first: a read at hand then costs the plugin no completion
     * and nothing to allocate for one. */
    sb_status (*state_get_now)(sb_plugin *plugin, sb_str key, sb_state_value_fn visit, void *user);
} sb_host_api;

/* ---------------------------------------------------------------------------------------------- */
/* The descriptor and the entry point                                                             */
/* ---------------------------------------------------------------------------------------------- */

/* Called once after the descriptor checks pass. Register routes with host->route_add, read
 * configuration, and store the plugin's own state in *out_state (passed back to on_deinit).
 * Return SB_OK, or an error (after host->plugin_refuse) to refuse loading; then on_deinit is
 * still called, with whatever *out_state holds. Runs on a host loader thread. */
typedef sb_status (*sb_on_init_fn)(const sb_host_api *host, sb_plugin *plugin, void **out_state);

/* Called once when this instance is retired and no handler, callback or stream of it is running
 * or will run again: after a hot swap or an unload, once the generation has drained (every
 * request and stream that started on it has ended, or the drain deadline ended them). Free
 * everything, and stop and join every thread the plugin started: a C image may be unmapped as
 * soon as on_deinit returns. Runs on a host thread that may block. A reload runs the new
 * generation's on_init before the old generation's on_deinit. Globals: the host maps a private
 * copy named by the content's SHA-256 and the file's name, and the dynamic linker hands back an
 * image still mapped under that name. So new content gets a new image with fresh globals, but
 * the same content loaded again while its previous generation is mapped (POST .../reload, or the
 * same build dropped back before the old one drained) shares that image and its globals, and a
 * Swift image (never unmapped) always does: keep state in *out_state, not in globals. */
typedef void (*sb_on_deinit_fn)(void *state);

/* What a plugin is. OWNERSHIP: owned by the plugin, usually a static constant; must stay valid
 * and unchanged while the library is loaded. The host checks struct_size, magic, abi_major and
 * abi_minor (and swift_version) before calling anything else. */
typedef struct sb_plugin_descriptor {
    uint32_t struct_size;          /* sizeof(sb_plugin_descriptor) */
    uint32_t magic;                /* SB_PLUGIN_MAGIC */
    uint16_t abi_major;            /* SB_ABI_MAJOR */
    uint16_t abi_minor;            /* SB_ABI_MINOR */
    uint32_t swift_version;        /* 0 for non-Swift plugins; else SB_SWIFT_COMPILER_VERSION */
    const char *name;              /* [a-z0-9][a-z0-9_-]{0,63}; unique among loaded plugins */
    const char *version;           /* free-form, e.g. "1.2.0" */
    const char *description;       /* may be NULL */
    sb_on_init_fn on_init;         /* required */
    sb_on_deinit_fn on_deinit;     /* may be NULL */
} sb_plugin_descriptor;

/* The size of the first (1.0) descriptor layout: the smallest struct_size a host accepts. */
#define SB_PLUGIN_DESCRIPTOR_V1_SIZE \
    (offsetof(sb_plugin_descriptor, on_deinit) + sizeof(sb_on_deinit_fn))

/* The one symbol every plugin exports. Returns a pointer to its descriptor (OWNERSHIP: the
 * plugin's, see sb_plugin_descriptor). Must not fail, block or call anything. */
typedef const sb_plugin_descriptor *(*sb_entry_fn)(void);

/* The Swift compiler version compiling this header, as major*10000 + minor*100 + patch, or 0 when
 * no Swift compiler is involved. Swift plugins put it in swift_version: a Swift plugin runs on the
 * host's Swift runtime, so it must be built by the same toolchain. */
static inline uint32_t sb_swift_compiler_version(void) {
#if defined(__swift__)
    return (uint32_t)(__swift__);
#else
    return 0u;
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* SWITCHBOARD_H */
