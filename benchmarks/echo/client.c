/* The load generator of the echo benchmark.
 *
 *   echo_client --port PORT --size BYTES [--connections N] [--warmup SECONDS]
 *               [--duration SECONDS] [--drain SECONDS] [--server-pid PID]
 *               [--reply-header BYTES]
 *
 * Opens N connections to an echo server on 127.0.0.1 and keeps exactly one
 * request in flight on each: send a message of BYTES bytes, wait until all
 * of it has come back, note how long that took, send the next. It is one
 * thread on epoll with non-blocking sockets, so a request costs it a few
 * system calls and a memcmp: far less than any of the servers it measures,
 * which is the point of writing it in C.
 *
 * A warm-up (requests not counted) comes first, then the timed window, then
 * a drain: the requests still in flight must come back within --drain
 * seconds (default 5), or their connections count as stalled, a server that
 * lost data.
 * The result is one JSON line on stdout: requests completed in the window,
 * the window's length, p50 and p99 latency, the CPU time (user + sys) the
 * server process (--server-pid) and this client used in the window, and
 * the errors.
 *
 * Every echoed byte is compared with the byte sent, and each message carries
 * its sequence number at both ends, so a server that drops, duplicates,
 * reorders or corrupts data, closes a connection or stops answering shows
 * up in "errors" (the first one described in "first_error") instead of as a
 * fast result.
 *
 * With --reply-header BYTES each reply must be a header of BYTES bytes, A
 * to Z repeated (what server.py's protocol-one-piece and protocol-two-piece
 * styles send), then the echo: a request is complete when both are back,
 * and every header byte is checked too.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The sequence number stamped at each end of a message. */
#define STAMP_BYTES 8
/* The longest --reply-header. */
#define MAX_REPLY_HEADER 4096

enum phase { WARMUP, TIMED, DRAIN };

struct connection {
    int fd;
    int open;            /* 0 once an error closed it */
    int want_writable;   /* EPOLLOUT is in its epoll interest set */
    int in_flight;       /* a request was sent and is not fully echoed yet */
    uint64_t sequence;   /* number of the message in flight */
    size_t sent;         /* bytes of the message in flight sent so far */
    size_t header_received; /* bytes of its reply header received so far */
    size_t received;     /* bytes of it echoed back so far */
    double started;      /* when its first byte was sent (seconds) */
    unsigned char *message;
};

struct options {
    int port;
    size_t size;
    int connections;
    double warmup;
    double duration;
    double drain;
    long server_pid;
    size_t reply_header;
};

struct latencies {
    uint64_t *nanoseconds;
    size_t count;
    size_t capacity;
};

static long errors;
static char first_error[200];
/* What every reply starts with: reply_header_size bytes (--reply-header). */
static unsigned char reply_header[MAX_REPLY_HEADER];
static size_t reply_header_size;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "echo_client: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Counts an error; the first one is what the JSON line describes. */
static void record_error(int index, const char *what)
{
    if (errors++ == 0)
        snprintf(first_error, sizeof first_error, "connection %d: %s", index, what);
}

static void add_latency(struct latencies *all, double seconds)
{
    if (all->count == all->capacity) {
        all->capacity = all->capacity ? 2 * all->capacity : 65536;
        all->nanoseconds = realloc(all->nanoseconds, all->capacity * sizeof *all->nanoseconds);
        if (!all->nanoseconds)
            die("realloc");
    }
    all->nanoseconds[all->count++] = (uint64_t)(seconds * 1e9);
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted latencies, in microseconds. */
static double percentile_us(const struct latencies *sorted, double fraction)
{
    if (sorted->count == 0)
        return 0.0;
    size_t rank = (size_t)(fraction * sorted->count + 0.999999);
    if (rank < 1)
        rank = 1;
    return sorted->nanoseconds[rank - 1] / 1e3;
}

/* User + system CPU seconds of a process, all its threads, from
 * /proc/PID/stat (fields 14 and 15, in clock ticks). */
static double process_cpu_seconds(long pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *file = fopen(path, "r");
    if (!file)
        die(path);
    size_t length = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[length] = '\0';
    /* The command name (field 2) may hold spaces; fields after it do not. */
    char *cursor = strrchr(text, ')');
    unsigned long long utime, stime;
    if (!cursor || sscanf(cursor + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                          &utime, &stime) != 2) {
        fprintf(stderr, "echo_client: cannot parse %s\n", path);
        exit(2);
    }
    return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

static double own_cpu_seconds(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6
         + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec * 1e-6;
}

/* Fills a message with bytes that differ between connections and do not
 * repeat with a short period, so a shifted or stale chunk cannot match. */
static void fill_message(unsigned char *message, size_t size, int index)
{
    uint32_t state = 2463534242u + 7919u * (uint32_t)index;
    for (size_t i = 0; i < size; i++) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        message[i] = (unsigned char)state;
    }
}

static void stamp_message(struct connection *conn, size_t size)
{
    size_t stamp = size < STAMP_BYTES ? size : STAMP_BYTES;
    memcpy(conn->message, &conn->sequence, stamp);
    memcpy(conn->message + size - stamp, &conn->sequence, stamp);
}

static void set_writable_interest(int epoll_fd, struct connection *conn, int index, int want)
{
    if (conn->want_writable == want)
        return;
    struct epoll_event event = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = index};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, conn->fd, &event) < 0)
        die("epoll_ctl");
    conn->want_writable = want;
}

static void close_connection(struct connection *conn)
{
    close(conn->fd);
    conn->open = 0;
    conn->in_flight = 0;
}

/* Sends what the kernel takes of the message in flight; asks for EPOLLOUT
 * while some of it is left. */
static void send_more(int epoll_fd, struct connection *conn, int index, size_t size)
{
    while (conn->sent < size) {
        ssize_t n = send(conn->fd, conn->message + conn->sent, size - conn->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            record_error(index, strerror(errno));
            close_connection(conn);
            return;
        }
        conn->sent += (size_t)n;
    }
    set_writable_interest(epoll_fd, conn, index, conn->sent < size);
}

static void start_request(int epoll_fd, struct connection *conn, int index, size_t size)
{
    conn->sequence++;
    stamp_message(conn, size);
    conn->sent = 0;
    conn->header_received = 0;
    conn->received = 0;
    conn->in_flight = 1;
    conn->started = now();
    send_more(epoll_fd, conn, index, size);
}

/* Reads the reply, the header and then the echo, and checks it against
 * the header and what was sent. Returns 1 when the message in flight is
 * now complete. */
static int receive_more(struct connection *conn, int index, size_t size,
                        unsigned char *buffer, size_t capacity)
{
    for (;;) {
        ssize_t n = recv(conn->fd, buffer, capacity, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            record_error(index, strerror(errno));
            close_connection(conn);
            return 0;
        }
        if (n == 0) {
            record_error(index, "the server closed the connection");
            close_connection(conn);
            return 0;
        }
        /* What is missing of the header comes first, the rest is echo. */
        size_t header_part = reply_header_size - conn->header_received;
        if (header_part > (size_t)n)
            header_part = (size_t)n;
        size_t echoed = (size_t)n - header_part;
        if (!conn->in_flight || conn->received + echoed > conn->sent) {
            record_error(index, "the server sent more bytes than it was sent");
            close_connection(conn);
            return 0;
        }
        if (memcmp(buffer, reply_header + conn->header_received, header_part) != 0) {
            record_error(index, "a byte of the reply header differs from the header expected");
            close_connection(conn);
            return 0;
        }
        if (memcmp(buffer + header_part, conn->message + conn->received, echoed) != 0) {
            record_error(index, "an echoed byte differs from the byte sent");
            close_connection(conn);
            return 0;
        }
        conn->header_received += header_part;
        conn->received += echoed;
        if (conn->received == size) {
            conn->in_flight = 0;
            return 1;
        }
    }
}

static int connect_to_server(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0)
        die("connect");
    int one = 1;
    /* Each request is one send that must go out at once, as the servers'
     * transports do: Nagle's algorithm would hold the tail of a message. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die("setsockopt(TCP_NODELAY)");
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        die("fcntl");
    return fd;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: echo_client --port PORT --size BYTES [--connections N] [--warmup SECONDS]\n"
            "                   [--duration SECONDS] [--drain SECONDS] [--server-pid PID]\n"
            "                   [--reply-header BYTES]\n");
    exit(2);
}

static struct options parse_options(int argc, char **argv)
{
    struct options options = {.connections = 10, .warmup = 0.5, .duration = 2.0,
                              .drain = 5.0};
    static const struct option known[] = {
        {"port", required_argument, 0, 'p'},
        {"size", required_argument, 0, 's'},
        {"connections", required_argument, 0, 'c'},
        {"warmup", required_argument, 0, 'w'},
        {"duration", required_argument, 0, 'd'},
        {"drain", required_argument, 0, 'D'},
        {"server-pid", required_argument, 0, 'P'},
        {"reply-header", required_argument, 0, 'H'},
        {0, 0, 0, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "", known, NULL)) != -1) {
        switch (option) {
        case 'p': options.port = atoi(optarg); break;
        case 's': options.size = strtoul(optarg, NULL, 10); break;
        case 'c': options.connections = atoi(optarg); break;
        case 'w': options.warmup = atof(optarg); break;
        case 'd': options.duration = atof(optarg); break;
        case 'D': options.drain = atof(optarg); break;
        case 'P': options.server_pid = atol(optarg); break;
        case 'H': options.reply_header = strtoul(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (options.port <= 0 || options.size == 0 || options.connections <= 0
        || options.warmup < 0 || options.duration <= 0 || options.drain < 0)
        usage();
    if (options.reply_header > MAX_REPLY_HEADER) {
        fprintf(stderr, "echo_client: --reply-header must be at most %d bytes, not %zu\n",
                MAX_REPLY_HEADER, options.reply_header);
        exit(2);
    }
    return options;
}

int main(int argc, char **argv)
{
    struct options options = parse_options(argc, argv);
    size_t size = options.size;
    int count = options.connections;
    reply_header_size = options.reply_header;
    for (size_t i = 0; i < reply_header_size; i++)
        reply_header[i] = (unsigned char)('A' + i % 26);

    struct connection *conns = calloc((size_t)count, sizeof *conns);
    size_t capacity = size > 65536 ? size : 65536;
    unsigned char *buffer = malloc(capacity);
    struct epoll_event *events = calloc((size_t)count, sizeof *events);
    struct latencies latencies = {0};
    int epoll_fd = epoll_create1(0);
    if (!conns || !buffer || !events)
        die("malloc");
    if (epoll_fd < 0)
        die("epoll_create1");

    for (int i = 0; i < count; i++) {
        conns[i].fd = connect_to_server(options.port);
        conns[i].open = 1;
        conns[i].message = malloc(size);
        if (!conns[i].message)
            die("malloc");
        fill_message(conns[i].message, size, i);
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, conns[i].fd, &event) < 0)
            die("epoll_ctl");
    }

    double start = now();
    double window_start = start + options.warmup;
    double window_end = window_start + options.duration;
    double drain_end = 0.0; /* set when the window closes */
    double server_cpu = 0.0, client_cpu = 0.0;
    long requests = 0;
    enum phase phase = WARMUP;
    for (int i = 0; i < count; i++)
        start_request(epoll_fd, &conns[i], i, size);

    for (;;) {
        double t = now();
        if (phase == WARMUP && t >= window_start) {
            phase = TIMED;
            window_start = t;
            server_cpu = options.server_pid ? process_cpu_seconds(options.server_pid) : 0.0;
            client_cpu = own_cpu_seconds();
        }
        if (phase == TIMED && t >= window_end) {
            phase = DRAIN;
            window_end = t;
            drain_end = t + options.drain;
            if (options.server_pid)
                server_cpu = process_cpu_seconds(options.server_pid) - server_cpu;
            client_cpu = own_cpu_seconds() - client_cpu;
        }
        if (phase == DRAIN) {
            int waiting = 0;
            for (int i = 0; i < count; i++)
                waiting += conns[i].open && conns[i].in_flight;
            if (waiting == 0)
                break;
            if (t >= drain_end) {
                for (int i = 0; i < count; i++) {
                    if (conns[i].open && conns[i].in_flight) {
                        record_error(i, "stalled: the echo of a message never completed");
                        close_connection(&conns[i]);
                    }
                }
                break;
            }
        }

        double next = phase == WARMUP ? window_start : phase == TIMED ? window_end : drain_end;
        int timeout_ms = (int)((next - t) * 1e3) + 1;
        int ready = epoll_wait(epoll_fd, events, count, timeout_ms);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int e = 0; e < ready; e++) {
            int i = (int)events[e].data.u32;
            struct connection *conn = &conns[i];
            if (!conn->open)
                continue;
            if (events[e].events & (EPOLLOUT | EPOLLERR))
                send_more(epoll_fd, conn, i, size);
            if (conn->open && (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                && receive_more(conn, i, size, buffer, capacity)) {
                if (phase == TIMED) {
                    requests++;
                    add_latency(&latencies, now() - conn->started);
                }
                if (phase != DRAIN)
                    start_request(epoll_fd, conn, i, size);
            }
        }
    }

    qsort(latencies.nanoseconds, latencies.count, sizeof *latencies.nanoseconds, compare_u64);
    printf("{\"requests\": %ld, \"seconds\": %.6f, \"p50_us\": %.2f, \"p99_us\": %.2f, "
           "\"server_cpu_seconds\": %.3f, \"client_cpu_seconds\": %.6f, "
           "\"errors\": %ld, \"first_error\": \"%s\"}\n",
           requests, window_end - window_start, percentile_us(&latencies, 0.50),
           percentile_us(&latencies, 0.99), server_cpu, client_cpu, errors, first_error);
    for (int i = 0; i < count; i++) {
        if (conns[i].open)
            close(conns[i].fd);
        free(conns[i].message);
    }
    free(latencies.nanoseconds);
    free(events);
    free(buffer);
    free(conns);
    close(epoll_fd);
    return 0;
}
