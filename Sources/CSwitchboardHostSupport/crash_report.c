/* Which plugin code each thread runs, and a last word when the process dies of it.
 *
 * Around every call into plugin code the host sets the calling thread's code tag (a string the
 * caller keeps valid for the life of the process: "<sha256>\t<plugin>\t<file>"). When a fatal
 * signal arrives (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS), the handler writes
 * one line naming the signal and the faulting thread's tag to the supervisor's report pipe, with
 * write(2) only (async-signal-safe), restores the default action and raises the signal again,
 * so the process still dies of it and its exit status says which.
 *
 * The handler runs on an alternate signal stack, which each thread gets the first time it runs
 * plugin code, so a stack overflow in a plugin is reported too. */
#define _GNU_SOURCE
#include "sb_host_support.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>
#include <string.h>
#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static _Thread_local const char *current_tag;
static _Thread_local int altstack_state; /* 0: not yet, 1: installed, -1: could not */
static int report_fd = -1;
static pthread_key_t altstack_key;
static pthread_once_t altstack_key_once = PTHREAD_ONCE_INIT;

#define ALTSTACK_BYTES (64 * 1024)

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};

static void free_altstack(void *mapping) {
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    munmap(mapping, ALTSTACK_BYTES);
}

static void make_altstack_key(void) { pthread_key_create(&altstack_key, free_altstack); }

static void install_altstack(void) {
    stack_t existing;
    if (sigaltstack(NULL, &existing) == 0 && !(existing.ss_flags & SS_DISABLE)) {
        altstack_state = 1; /* the runtime gave this thread one already */
        return;
    }
    void *mapping = mmap(NULL, ALTSTACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) {
        altstack_state = -1;
        return;
    }
    stack_t stack = {.ss_sp = mapping, .ss_size = ALTSTACK_BYTES, .ss_flags = 0};
    if (sigaltstack(&stack, NULL) != 0) {
        munmap(mapping, ALTSTACK_BYTES);
        altstack_state = -1;
        return;
    }
    pthread_once(&altstack_key_once, make_altstack_key);
    pthread_setspecific(altstack_key, mapping);
    altstack_state = 1;
}

const char *sbh_code_enter(const char *tag) {
    const char *previous = current_tag;
    if (altstack_state == 0 && report_fd >= 0) install_altstack();
    current_tag = tag;
    return previous;
}

void sbh_code_leave(const char *previous) { current_tag = previous; }

const char *sbh_code_current(void) { return current_tag; }

static size_t append(char *buffer, size_t used, size_t capacity, const char *text) {
    while (*text && used < capacity) buffer[used++] = *text++;
    return used;
}

static size_t append_hex(char *buffer, size_t used, size_t capacity, uintptr_t value) {
    char digits[2 * sizeof value + 1];
    int i = (int)sizeof digits - 1;
    digits[i] = '\0';
    do { digits[--i] = "0123456789abcdef"[value & 0xF]; value >>= 4; } while (value && i > 0);
    return append(buffer, used, capacity, digits + i);
}

/* The faulting instruction's address, from the signal's context (0 where unknown). */
static uintptr_t program_counter(void *context) {
    ucontext_t *uc = context;
    if (!uc) return 0;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
    return 0;
#endif
}

static void on_fatal_signal(int signal_number, siginfo_t *info, void *context) {
    /* Sent by another process (kill -ABRT for a core dump, say): not this thread's code's fault. */
    int from_outside = info && info->si_code <= 0 && info->si_pid != getpid();
    if (report_fd >= 0) {
        char line[1024];
        char number[12];
        int n = signal_number, i = (int)sizeof number;
        number[--i] = '\0';
        do { number[--i] = (char)('0' + n % 10); n /= 10; } while (n > 0 && i > 0);
        size_t used = append(line, 0, sizeof line - 1, "crash\t");
        used = append(line, used, sizeof line - 1, number + i);
        used = append(line, used, sizeof line - 1, "\t");
        used = append_hex(line, used, sizeof line - 1, from_outside ? 0 : program_counter(context));
        used = append(line, used, sizeof line - 1, "\t");
        const char *tag = from_outside ? NULL : current_tag;
        used = append(line, used, sizeof line - 1, tag ? tag : "-");
        line[used++] = '\n';
        /* One write of at most PIPE_BUF bytes: atomic, never interleaved with another line. */
        ssize_t ignored = write(report_fd, line, used);
        (void)ignored;
    }
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(signal_number, &fallback, NULL);
    /* A fault re-executes the faulting instruction and dies of it now; raise covers the rest
     * (abort, and signals sent by kill). */
    raise(signal_number);
}

int sbh_crash_report_install(int fd) {
    report_fd = fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fatal_signal;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) {
        if (sigaction(fatal_signals[i], &action, NULL) != 0) return -1;
    }
    install_altstack();
    return 0;
}

typedef struct range_search {
    uintptr_t base;
    uintptr_t start, end;
    int found;
} range_search;

static int find_range(struct dl_phdr_info *info, size_t size, void *data) {
    range_search *search = data;
    (void)size;
    if (info->dlpi_addr != search->base) return 0;
    uintptr_t low = UINTPTR_MAX, high = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        if (ph->p_vaddr < low) low = ph->p_vaddr;
        if (ph->p_vaddr + ph->p_memsz > high) high = ph->p_vaddr + ph->p_memsz;
    }
    if (high == 0) return 0;
    search->start = info->dlpi_addr + low;
    search->end = info->dlpi_addr + high;
    search->found = 1;
    return 1;
}

int sbh_image_range(void *handle, uintptr_t *start, uintptr_t *end) {
    struct link_map *map = NULL;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map) return -1;
    range_search search = {.base = map->l_addr};
    dl_iterate_phdr(find_range, &search);
    if (!search.found) return -1;
    *start = search.start;
    *end = search.end;
    return 0;
}

int sbh_set_parent_death_signal(int signal_number) { return prctl(PR_SET_PDEATHSIG, (unsigned long)signal_number, 0, 0, 0); }

/* A worker (started by a supervisor, which names its listening socket in the environment)
 * ignores the signals it will trap from before main until it traps them: one that arrives while
 * it starts cannot kill it. Runs before any thread exists, so nothing is left blocked anywhere. */
__attribute__((constructor)) static void ignore_trapped_signals_in_a_new_worker(void) {
    static const int trapped[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
    if (!getenv("SWITCHBOARD_INTERNAL_LISTEN_FD")) return;
    for (size_t i = 0; i < sizeof trapped / sizeof trapped[0]; i++) signal(trapped[i], SIG_IGN);
}
