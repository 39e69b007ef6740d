// fanout: N clients subscribe to a Server-Sent Events broadcast, then one POST is timed until
// every client has it.
//
//   fanout PORT SUBSCRIBERS ROUNDS [STREAM_PATH] [POST_PATH] [READY_MARKER]
//     defaults: /logs/stream, /logs/add?message= and the end of the response head
//
// Opens SUBSCRIBERS connections to 127.0.0.1:PORT, each `GET STREAM_PATH`, and waits until every
// one has received READY_MARKER (the server's word that the subscription exists). Then, ROUNDS times: sends `POST POST_PATH<token>` on a fresh
// connection and measures, for each subscriber, the time from just before the POST was written
// until the token arrived. Prints one line per round (p50, p99, max, how many got it) and a last
// line over all rounds. Exits non-zero when a subscriber misses a message (10 s per round).
//
// One thread and epoll: the client must not be what is measured, so it does nothing per byte but
// look for the token in what arrived (keeping a tail across reads, so a split token is found).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { TAIL = 64 };

typedef struct {
    int fd;
    int ready;        // response head received
    int got;          // token of this round received
    double latency;   // seconds, this round
    char tail[TAIL];  // the last bytes of what arrived (a token split across reads)
    size_t tail_len;
} subscriber;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int connect_to(int port, int nonblocking) {
    int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) { perror("socket"); exit(2); }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) { perror("connect"); exit(2); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *text) {
    size_t len = strlen(text), sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, text + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) { usleep(100); continue; }
        if (n <= 0) { perror("send"); exit(2); }
        sent += (size_t)n;
    }
}

// Appends `data` to the subscriber's tail and reports whether `needle` is in tail+data.
static int scan(subscriber *s, const char *data, size_t len, const char *needle) {
    char window[TAIL + 65536];
    memcpy(window, s->tail, s->tail_len);
    size_t take = len > 65536 ? 65536 : len;
    memcpy(window + s->tail_len, data + (len - take), take);
    size_t total = s->tail_len + take;
    int found = memmem(window, total, needle, strlen(needle)) != NULL;
    size_t keep = total < TAIL ? total : TAIL;
    memcpy(s->tail, window + total - keep, keep);
    s->tail_len = keep;
    return found;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: fanout PORT SUBSCRIBERS ROUNDS [STREAM_PATH] [POST_PATH] [READY_MARKER]\n"); return 2; }
    int port = atoi(argv[1]), count = atoi(argv[2]), rounds = atoi(argv[3]);
    const char *stream_path = argc > 4 ? argv[4] : "/logs/stream";
    const char *post_path = argc > 5 ? argv[5] : "/logs/add?message=";
    const char *ready_marker = argc > 6 ? argv[6] : "\r\n\r\n";

    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    if ((rlim_t)count + 16 > limit.rlim_cur) { fprintf(stderr, "fanout: open-file limit %lu is too low\n", (unsigned long)limit.rlim_cur); return 2; }

    int ep = epoll_create1(0);
    subscriber *subs = calloc((size_t)count, sizeof *subs);
    char request[512];
    snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", stream_path);
    static char buffer[65536];
    int ready = 0;
    double started = now();
    // In batches of BATCH: the next batch connects once the server has answered this one, so the
    // listen backlog never overflows (a dropped SYN would cost the client a 1 s retransmit).
    struct epoll_event events[1024];
    enum { BATCH = 200 };
    for (int first = 0; first < count; first += BATCH) {
        int last = first + BATCH < count ? first + BATCH : count;
        for (int i = first; i < last; i++) {
            subs[i].fd = connect_to(port, 0);  // blocking connect: loopback, immediate
            send_all(subs[i].fd, request);
            fcntl(subs[i].fd, F_SETFL, O_NONBLOCK);
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
            epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev);
        }
        while (ready < last) {
            if (now() - started > 120) { fprintf(stderr, "fanout: only %d of %d subscribed after 120 s\n", ready, count); return 1; }
            int n = epoll_wait(ep, events, 1024, 1000);
            for (int e = 0; e < n; e++) {
                subscriber *s = &subs[events[e].data.u32];
                ssize_t got;
                while ((got = recv(s->fd, buffer, sizeof buffer, 0)) > 0) {
                    if (!s->ready && scan(s, buffer, (size_t)got, ready_marker)) { s->ready = 1; ready++; }
                }
                if (got == 0) { fprintf(stderr, "fanout: a subscriber was closed while subscribing\n"); return 1; }
            }
        }
    }
    printf("subscribed %d clients in %.2f s\n", count, now() - started);

    double *latencies = malloc(sizeof(double) * (size_t)count);
    double *all = malloc(sizeof(double) * (size_t)count * (size_t)rounds);
    size_t all_count = 0;
    int failed = 0;
    for (int round = 1; round <= rounds; round++) {
        char token[64], post[512];
        snprintf(token, sizeof token, "fanout-%d-%ld", round, (long)getpid());
        snprintf(post, sizeof post, "POST %s%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", post_path, token);
        for (int i = 0; i < count; i++) subs[i].got = 0;
        int poster = connect_to(port, 0);
        double t0 = now();
        send_all(poster, post);
        int received = 0;
        while (received < count && now() - t0 < 10) {
            int n = epoll_wait(ep, events, 1024, 100);
            double t = now();
            for (int e = 0; e < n; e++) {
                subscriber *s = &subs[events[e].data.u32];
                ssize_t got;
                while ((got = recv(s->fd, buffer, sizeof buffer, 0)) > 0) {
                    if (!s->got && scan(s, buffer, (size_t)got, token)) { s->got = 1; s->latency = t - t0; received++; }
                }
                if (got == 0 && !s->got) { epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL); }
            }
        }
        close(poster);
        int n = 0;
        for (int i = 0; i < count; i++) if (subs[i].got) { latencies[n++] = subs[i].latency; all[all_count++] = subs[i].latency; }
        qsort(latencies, (size_t)n, sizeof(double), cmp_double);
        if (n < count) failed = 1;
        if (n == 0) { printf("round %d: no subscriber got the message\n", round); continue; }
        printf("round %d: %d/%d received, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", round, n, count,
               latencies[n / 2] * 1e3, latencies[(size_t)(n * 0.99) < (size_t)n ? (size_t)(n * 0.99) : (size_t)n - 1] * 1e3, latencies[n - 1] * 1e3);
        usleep(200000);
    }
    if (all_count > 0) {
        qsort(all, all_count, sizeof(double), cmp_double);
        size_t p99 = (size_t)(all_count * 0.99);
        if (p99 >= all_count) p99 = all_count - 1;
        printf("all rounds: p50 %.1f ms p99 %.1f ms max %.1f ms\n", all[all_count / 2] * 1e3, all[p99] * 1e3, all[all_count - 1] * 1e3);
    }
    for (int i = 0; i < count; i++) close(subs[i].fd);
    return failed;
}
