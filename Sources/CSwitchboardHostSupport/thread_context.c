/* Marks threads on which a plugin must not block (event-loop and request threads running a
 * non-blocking handler or a host callback), and records what each such thread runs so that the
 * host's watchdog can name the plugin code that holds a stuck thread.
 *
 * Each thread gets a slot on its first outermost enter: the time the call began (monotonic
 * nanoseconds, 0 when idle) and a label the caller promises stays valid for the life of the
 * process. Nesting is counted per thread; only the outermost call is recorded. */
#include "sb_host_support.h"

#include <stdatomic.h>
#include <time.h>

#define SLOTS 256

typedef struct slot {
    _Atomic int64_t since;       /* 0: not in plugin code */
    _Atomic(const char *) label;
} slot;

static slot slots[SLOTS];
static atomic_int slots_used;
static _Thread_local int nonblocking_depth;
static _Thread_local int my_slot = -1;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sbh_enter_nonblocking_as(const char *label) {
    if (nonblocking_depth++ > 0) return;
    if (my_slot < 0) {
        int index = atomic_fetch_add(&slots_used, 1);
        my_slot = index < SLOTS ? index : SLOTS; /* past the table: not recorded */
    }
    if (my_slot >= SLOTS) return;
    atomic_store_explicit(&slots[my_slot].label, label, memory_order_relaxed);
    atomic_store_explicit(&slots[my_slot].since, now_ns(), memory_order_release);
}

void sbh_enter_nonblocking(void) { sbh_enter_nonblocking_as(NULL); }

void sbh_leave_nonblocking(void) {
    if (--nonblocking_depth > 0) return;
    if (my_slot >= 0 && my_slot < SLOTS) atomic_store_explicit(&slots[my_slot].since, 0, memory_order_release);
}

int sbh_in_nonblocking(void) { return nonblocking_depth > 0; }

size_t sbh_busy_threads(int64_t older_than_ns, const char **labels, int64_t *ages_ns, size_t capacity) {
    int64_t now = now_ns();
    int used = atomic_load(&slots_used);
    size_t found = 0;
    if (used > SLOTS) used = SLOTS;
    for (int i = 0; i < used && found < capacity; i++) {
        int64_t since = atomic_load_explicit(&slots[i].since, memory_order_acquire);
        if (since == 0 || now - since < older_than_ns) continue;
        labels[found] = atomic_load_explicit(&slots[i].label, memory_order_relaxed);
        ages_ns[found] = now - since;
        found++;
    }
    return found;
}
