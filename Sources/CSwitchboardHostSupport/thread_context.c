/* Marks threads on which a plugin must not block (event-loop and request threads running a
 * non-blocking handler or a host callback), and records what each such thread runs so that the
 * host's watchdog can name the plugin code that holds a stuck thread.
 *
 * Each thread gets a slot on its first outermost enter: the time the call began (monotonic
 * nanoseconds, 0 when idle) and a label the caller promises stays valid for the life of the
 * process. Nesting is counted per thread; only the outermost call is recorded. */
#include "sb_host_support.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define SLOTS 256

typedef struct slot {
    _Atomic int64_t since;       /* 0: not in plugin code */
    _Atomic(const char *) label;
    _Atomic(const char *) tag;   /* sbh_code_current() at the outermost enter */
    atomic_int taken;            /* owned by a live thread */
} slot;

static slot slots[SLOTS];
static _Thread_local int nonblocking_depth;
static _Thread_local int my_slot = -1;
static pthread_key_t slot_key;
static pthread_once_t slot_key_once = PTHREAD_ONCE_INIT;

/* A thread that exits gives its slot back (worker threads come and go). */
static void release_slot(void *value) {
    slot *s = &slots[(intptr_t)value - 1];
    atomic_store(&s->since, 0);
    atomic_store(&s->taken, 0);
}

static void make_slot_key(void) { pthread_key_create(&slot_key, release_slot); }

static int take_slot(void) {
    pthread_once(&slot_key_once, make_slot_key);
    for (int i = 0; i < SLOTS; i++) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&slots[i].taken, &expected, 1)) {
            pthread_setspecific(slot_key, (void *)(intptr_t)(i + 1));
            return i;
        }
    }
    return SLOTS; /* all taken: this thread is not recorded */
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sbh_enter_nonblocking_as(const char *label) {
    if (nonblocking_depth++ > 0) return;
    if (my_slot < 0) my_slot = take_slot();
    if (my_slot >= SLOTS) return;
    atomic_store_explicit(&slots[my_slot].label, label, memory_order_relaxed);
    atomic_store_explicit(&slots[my_slot].tag, sbh_code_current(), memory_order_relaxed);
    atomic_store_explicit(&slots[my_slot].since, now_ns(), memory_order_release);
}

void sbh_leave_nonblocking(void) {
    if (--nonblocking_depth > 0) return;
    if (my_slot >= 0 && my_slot < SLOTS) atomic_store_explicit(&slots[my_slot].since, 0, memory_order_release);
}

int sbh_in_nonblocking(void) { return nonblocking_depth > 0; }

size_t sbh_busy_threads(int64_t older_than_ns, const char **labels, const char **tags, int64_t *ages_ns, size_t capacity) {
    int64_t now = now_ns();
    size_t found = 0;
    for (int i = 0; i < SLOTS && found < capacity; i++) {
        int64_t since = atomic_load_explicit(&slots[i].since, memory_order_acquire);
        if (since == 0 || now - since < older_than_ns) continue;
        if (labels) labels[found] = atomic_load_explicit(&slots[i].label, memory_order_relaxed);
        if (tags) tags[found] = atomic_load_explicit(&slots[i].tag, memory_order_relaxed);
        ages_ns[found] = now - since;
        found++;
    }
    return found;
}
