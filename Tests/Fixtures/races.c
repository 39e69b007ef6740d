/*
 * races: a plugin that races every host function handing out a handle or registering a callback
 * against that callback, as fast as the host lets it (switchboard.h rule 8).
 *
 * Each route runs `rounds` rounds (default 1000) and answers, once the last round's callback has
 * run, with JSON counting the rounds whose callback found the handle not yet published:
 *
 *   GET /races/timer       timer_start with no delay; the first tick cancels the timer through the
 *                          handle stored by timer_start and frees the round
 *   GET /races/subscribe   topic_subscribe while a plugin thread publishes to the topic; the first
 *                          message cancels through the stored handle and frees the round
 *   GET /races/state       state_increment whose completion frees the round (it may complete before
 *                          the call returns)
 *   GET /races/stream      a stream begun and finished by a zero-delay timer tick on another loop,
 *                          its on_close registered before the timer is armed
 *
 * A round whose callback found no handle still cancels with the handle the callback was given, so
 * a host that breaks the rule shows up as a count (or, under AddressSanitizer, as the host writing
 * into a freed round), never as a hang.
 */
#include <switchboard.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const sb_host_api *host;
static sb_plugin *self;

static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }
static sb_bytes bytes(const void *p, size_t n) { sb_bytes out = {(const uint8_t *)p, n}; return out; }

/* One request: its rounds count down; the last callback answers. */
typedef struct batch {
    sb_request *req;
    atomic_int remaining;
    atomic_int unpublished;
    int rounds;
} batch;

static void batch_round_done(batch *b) {
    char body[128];
    int n;
    if (atomic_fetch_sub(&b->remaining, 1) != 1) return;
    n = snprintf(body, sizeof body, "{\"rounds\":%d,\"unpublished\":%d}", b->rounds, atomic_load(&b->unpublished));
    host->response_header_add(b->req, str("content-type"), str("application/json"));
    host->response_send(b->req, 200, bytes(body, (size_t)n));
    free(b);
}

static batch *batch_new(sb_request *req) {
    sb_param_value rounds = {sizeof(sb_param_value)};
    batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (host->request_param(req, str("rounds"), &rounds) != SB_OK) { free(b); return NULL; }
    b->req = req;
    b->rounds = (int)rounds.integer;
    atomic_store(&b->remaining, b->rounds);
    return b;
}

/* --- timers -------------------------------------------------------------------------------- */

typedef struct timer_round {
    batch *b;
    sb_timer *timer; /* written by timer_start */
} timer_round;

static void timer_tick(void *user, sb_timer *timer) {
    timer_round *r = user;
    batch *b = r->b;
    if (r->timer == NULL) atomic_fetch_add(&b->unpublished, 1);
    host->timer_cancel(r->timer ? r->timer : timer);
    free(r);
    batch_round_done(b);
}

static sb_status race_timer(void *d, sb_request *req) {
    batch *b = batch_new(req);
    int rounds;
    (void)d;
    if (!b) return SB_ERR_INTERNAL;
    /* The batch may be freed by the last callback before the loop ends: read rounds first. */
    rounds = b->rounds;
    for (int i = 0; i < rounds; i++) {
        timer_round *r = calloc(1, sizeof *r);
        r->b = b;
        /* A 1 ms interval: a host that armed before publishing keeps firing into a freed round. */
        if (host->timer_start(self, 0, 1000 * 1000, timer_tick, r, &r->timer) != SB_OK) {
            free(r);
            batch_round_done(b);
        }
    }
    return SB_PENDING;
}

/* --- subscriptions ------------------------------------------------------------------------- */

static atomic_int subscribers_waiting;
static atomic_int publisher_stop;
static pthread_t publisher;

/* Publishes while some round waits for a message, so deliveries race each subscribe. */
static void *publish_loop(void *unused) {
    (void)unused;
    while (!atomic_load(&publisher_stop)) {
        if (atomic_load(&subscribers_waiting) > 0)
            host->topic_publish(self, str("race"), bytes("m", 1), NULL);
        else
            usleep(1000);
    }
    return NULL;
}

typedef struct sub_round {
    batch *b;
    sb_subscription *sub; /* written by topic_subscribe */
} sub_round;

static void sub_message(void *user, sb_subscription *sub, sb_status status, sb_bytes message) {
    sub_round *r = user;
    batch *b = r->b;
    (void)status, (void)message;
    if (r->sub == NULL) atomic_fetch_add(&b->unpublished, 1);
    host->subscription_cancel(r->sub ? r->sub : sub);
    atomic_fetch_sub(&subscribers_waiting, 1);
    free(r);
    batch_round_done(b);
}

static sb_status race_subscribe(void *d, sb_request *req) {
    batch *b = batch_new(req);
    int rounds;
    (void)d;
    if (!b) return SB_ERR_INTERNAL;
    rounds = b->rounds;
    for (int i = 0; i < rounds; i++) {
        sub_round *r = calloc(1, sizeof *r);
        r->b = b;
        atomic_fetch_add(&subscribers_waiting, 1);
        if (host->topic_subscribe(self, str("race"), 4, sub_message, r, &r->sub) != SB_OK) {
            atomic_fetch_sub(&subscribers_waiting, 1);
            free(r);
            batch_round_done(b);
        }
    }
    return SB_PENDING;
}

/* --- state calls --------------------------------------------------------------------------- */

static void state_done(void *user, sb_status status, const sb_state_result *result) {
    batch *b = user;
    (void)result;
    if (status != SB_OK) atomic_fetch_add(&b->unpublished, 1);
    batch_round_done(b);
}

static sb_status race_state(void *d, sb_request *req) {
    batch *b = batch_new(req);
    int rounds;
    (void)d;
    if (!b) return SB_ERR_INTERNAL;
    /* The batch may be freed by the last completion before the loop ends: read rounds first. */
    rounds = b->rounds;
    for (int i = 0; i < rounds; i++) {
        if (host->state_increment(self, str("races"), 1, state_done, b) != SB_OK) {
            atomic_fetch_add(&b->unpublished, 1);
            batch_round_done(b);
        }
    }
    return SB_PENDING;
}

/* --- streams ------------------------------------------------------------------------------- */

typedef struct stream_round {
    sb_stream *stream; /* written by response_stream_begin */
    sb_timer *timer;   /* written by timer_start */
    atomic_int ended;
} stream_round;

static void stream_end(stream_round *r) {
    if (atomic_exchange(&r->ended, 1)) return;
    host->timer_cancel(r->timer);
    host->stream_finish(r->stream);
    free(r);
}

static void stream_closed(void *user, sb_stream *stream) {
    (void)stream;
    stream_end(user);
}

static void stream_tick(void *user, sb_timer *timer) {
    stream_round *r = user;
    (void)timer;
    if (r->stream == NULL || r->timer == NULL) {
        /* Cannot happen on a host that keeps rule 8; say so in the body instead of crashing. */
        host->stream_write(r->stream, bytes("unpublished\n", 12), 0);
    } else {
        host->stream_write(r->stream, bytes("ok\n", 3), 0);
    }
    stream_end(r);
}

static sb_status race_stream(void *d, sb_request *req) {
    stream_round *r = calloc(1, sizeof *r);
    (void)d;
    if (!r) return SB_ERR_NO_MEMORY;
    host->response_header_add(req, str("content-type"), str("text/plain"));
    if (host->response_stream_begin(req, 200, &r->stream) != SB_OK) { free(r); return SB_ERR_INTERNAL; }
    /* on_close before the timer: the tick may finish the stream before timer_start returns. */
    host->stream_on_close(r->stream, stream_closed, r);
    host->timer_start(self, 0, 1000 * 1000, stream_tick, r, &r->timer);
    return SB_OK;
}

/* --- registration -------------------------------------------------------------------------- */

static const sb_param_spec rounds_param = {
    .struct_size = sizeof(sb_param_spec), .location = SB_PARAM_QUERY, .type = SB_TYPE_INT,
    .flags = SB_PARAM_HAS_DEFAULT | SB_PARAM_HAS_GE | SB_PARAM_HAS_LE, .name = {"rounds", 6},
    .ge = 1, .le = 100000, .default_value = {"1000", 4},
};

static sb_status add(sb_plugin *plugin, const char *path, sb_handler_fn fn, int param) {
    sb_route_spec spec = {0};
    spec.struct_size = sizeof spec;
    spec.method = str("GET");
    spec.path = str(path);
    spec.handler = fn;
    spec.params = param ? &rounds_param : NULL;
    spec.param_count = param ? 1 : 0;
    return host->route_add(plugin, &spec);
}

static sb_status on_init(const sb_host_api *api, sb_plugin *plugin, void **out_state) {
    host = api;
    self = plugin;
    *out_state = NULL;
    if (add(plugin, "/races/timer", race_timer, 1) != SB_OK || add(plugin, "/races/subscribe", race_subscribe, 1) != SB_OK ||
        add(plugin, "/races/state", race_state, 1) != SB_OK || add(plugin, "/races/stream", race_stream, 0) != SB_OK)
        return SB_ERR_INTERNAL;
    atomic_store(&publisher_stop, 0);
    if (pthread_create(&publisher, NULL, publish_loop, NULL) != 0) return SB_ERR_INTERNAL;
    *out_state = &publisher;
    return SB_OK;
}

static void on_deinit(void *state) {
    if (!state) return;
    atomic_store(&publisher_stop, 1);
    pthread_join(publisher, NULL);
}

static const sb_plugin_descriptor descriptor = {
    .struct_size = sizeof(sb_plugin_descriptor), .magic = SB_PLUGIN_MAGIC, .abi_major = SB_ABI_MAJOR,
    .abi_minor = SB_ABI_MINOR, .name = "races", .version = "1.0.0",
    .description = "Races each handle-publishing host function against its own callback",
    .on_init = on_init, .on_deinit = on_deinit,
};

const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }
