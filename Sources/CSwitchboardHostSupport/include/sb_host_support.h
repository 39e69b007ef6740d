/* Small C helpers for the Switchboard host (not part of the plugin ABI). */
#ifndef SB_HOST_SUPPORT_H
#define SB_HOST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* Whether the calling thread must not block (it runs a non-blocking handler or host callback).
 * `label` (which plugin code runs, NUL-terminated) must stay valid for the life of the process;
 * it is what the watchdog reports when the call holds its thread too long. */
void sbh_enter_nonblocking_as(const char *label);
void sbh_leave_nonblocking(void);
int sbh_in_nonblocking(void);
/* Threads that have been inside an outermost non-blocking call for at least `older_than_ns`:
 * writes up to `capacity` labels (NULL when none was given), code tags (NULL when the call ran
 * outside sbh_code_enter; `tags` may be NULL) and ages, returns how many. */
size_t sbh_busy_threads(int64_t older_than_ns, const char **labels, const char **tags, int64_t *ages_ns, size_t capacity);

/* Which plugin code the calling thread runs. `tag` ("<sha256>\t<plugin>\t<file>", NUL-terminated)
 * must stay valid for the life of the process; NULL means host code. Returns the previous tag,
 * to be given back to sbh_code_leave (calls nest). */
const char *sbh_code_enter(const char *tag);
void sbh_code_leave(const char *previous);
const char *sbh_code_current(void);
/* The wal-index of the SQLite connection `db` (a `sqlite3 *` in WAL mode that has read since it
 * opened): SQLite's own mapping of its shared memory, region 0, valid until the connection closes.
 * NULL when the VFS has no shared memory or has not mapped it. Call on the connection's thread. */
const volatile void *sbh_wal_index(void *db);
/* Copies the wal-index header (its first copy, 48 bytes) from `region` into `out` and returns 1,
 * or returns 0 when it cannot be trusted: its two copies differ (a commit is rewriting it), or its
 * version is not 3007000, or it is not initialised. Reads only: no lock, any thread. */
int sbh_wal_index_header(const volatile void *region, uint32_t out[12]);
/* Installs handlers for the fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP,
 * SIGSYS) that write "crash\t<signal>\t<faulting instruction's address, hex>\t<tag or ->\n" to
 * `fd` with one write(2), then die of the signal as before. Returns 0, or -1 with errno set. Call
 * once, in a worker process. */
int sbh_crash_report_install(int fd);
/* prctl(PR_SET_PDEATHSIG): the kernel sends `signal_number` to this process when the thread that
 * started it exits. Returns 0, or -1 with errno set. */
int sbh_set_parent_death_signal(int signal_number);
/* The address range [start, end) that a dlopen handle's loaded segments occupy. Returns 0, or -1. */
int sbh_image_range(void *handle, uintptr_t *start, uintptr_t *end);

/* inotify, for the plugin directory watcher. Masks name what the watcher asks for. */
enum {
    SBH_WATCH_DIRECTORY_EVENTS = 1, /* a plugin directory: any file written, moved, created, deleted */
    SBH_WATCH_PARENT_EVENTS = 2     /* the parent of a plugin directory: entries moved, created, deleted */
};
/* Returns an inotify descriptor (non-blocking, close-on-exec), or -1 with errno set. */
int sbh_inotify_open(void);
/* Returns a watch descriptor, or -1 with errno set. */
int sbh_inotify_watch(int fd, const char *path, int what);
/* Whether an event mask says the watched directory itself went away (deleted, moved, unmounted). */
int sbh_inotify_lost(uint32_t mask);
/* Whether the kernel's event queue overflowed (events were dropped: rescan everything). */
int sbh_inotify_overflowed(uint32_t mask);

#endif
