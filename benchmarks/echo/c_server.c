/* The ceiling of the echo benchmark: an echo server in plain C.
 *
 *   echo_c_server --port PORT [(--header-once | --header-twice) --message-size BYTES]
 *
 * One thread, epoll, non-blocking sockets: per readiness event one recv()
 * of up to READ_SIZE bytes and one send() of what came in, which is what a
 * Protocol server's data_received -> transport.write does minus the event
 * loop. What a loop costs beyond the system calls shows as its distance to
 * this server.
 *
 * With --header-once or --header-twice it answers each request, a message
 * of --message-size bytes, with HEADER_BYTES header bytes (A to Z,
 * repeated) and the echo, like server.py's protocol-one-piece and
 * protocol-two-piece styles: the header goes out once per request, before
 * the echo of its first chunk. --header-once sends header and chunk with
 * one send(), without a copy: the header sits in front of the receive
 * buffer, written there once per connection. --header-twice sends the
 * header with a send() of its own, then the chunk: the kernel's own price
 * for the extra write.
 *
 * Same contract as server.py: listens on 127.0.0.1 (port 0: any free one),
 * prints the port on stdout once it accepts connections, and exits with
 * status 0 on SIGTERM or when stdin closes.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* As much as an asyncio socket transport reads per event (max_size). */
#define READ_SIZE (256 * 1024)
/* The header of an answer with --header-once or --header-twice, as in
 * server.py. */
#define HEADER_BYTES 64
#define MAX_EVENTS 64

enum header_mode { NO_HEADER, HEADER_ONCE, HEADER_TWICE };

/* One per connection. While some of an answer is unsent the connection
 * waits for EPOLLOUT and reads nothing more: the echo is back-pressured
 * like a transport that paused reading. The buffer holds the header, then
 * what was received; pending_start and pending_end delimit what is unsent. */
struct connection {
    int fd;
    size_t offset;  /* where the next chunk starts in the current request */
    size_t pending_start;
    size_t pending_end;
    unsigned char buffer[HEADER_BYTES + READ_SIZE];
};

/* epoll data tags for the fds that are not connections. */
#define TAG_LISTENER ((uint64_t)1)
#define TAG_SIGNAL ((uint64_t)2)
#define TAG_STDIN ((uint64_t)3)

static void die(const char *what)
{
    fprintf(stderr, "echo_c_server: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void watch(int epoll_fd, int op, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event event = {.events = events, .data.u64 = tag};
    if (epoll_ctl(epoll_fd, op, fd, &event) < 0)
        die("epoll_ctl");
}

static void close_connection(struct connection *conn)
{
    close(conn->fd);
    free(conn);
}

/* Sends the pending bytes; returns -1 on a connection error. */
static int flush(int epoll_fd, struct connection *conn)
{
    while (conn->pending_start < conn->pending_end) {
        ssize_t n = send(conn->fd, conn->buffer + conn->pending_start,
                         conn->pending_end - conn->pending_start, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                watch(epoll_fd, EPOLL_CTL_MOD, conn->fd, EPOLLOUT, (uint64_t)(uintptr_t)conn);
                return 0;
            }
            return -1;
        }
        conn->pending_start += (size_t)n;
    }
    return 0;
}

/* Answers one chunk: its echo, after the header if it starts a request.
 * The client keeps one message in flight per connection, so no chunk holds
 * the end of one request and the start of the next. Returns -1 on a
 * connection error or end of stream. */
static int echo(int epoll_fd, struct connection *conn, enum header_mode header,
                size_t message_size)
{
    ssize_t n = recv(conn->fd, conn->buffer + HEADER_BYTES, READ_SIZE, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0)
        return -1;
    conn->pending_start = HEADER_BYTES;
    conn->pending_end = HEADER_BYTES + (size_t)n;
    int starts_request = 0;
    if (header != NO_HEADER) {
        starts_request = conn->offset == 0;
        conn->offset = (conn->offset + (size_t)n) % message_size;
    }
    if (starts_request && header == HEADER_ONCE) {
        /* The header lies just before the chunk: one send() takes both. */
        conn->pending_start = 0;
    } else if (starts_request && header == HEADER_TWICE) {
        /* The header goes out on its own, as a separate write(): only what
         * the kernel did not take of it waits in the pending range. */
        ssize_t sent = send(conn->fd, conn->buffer, HEADER_BYTES, MSG_NOSIGNAL);
        if (sent < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        conn->pending_start = sent > 0 ? (size_t)sent : 0;
    }
    return flush(epoll_fd, conn);
}

static int listen_on_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0)
        die("bind");
    if (listen(fd, 128) < 0)
        die("listen");
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_in address;
    socklen_t length = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &length) < 0)
        die("getsockname");
    return ntohs(address.sin_port);
}

static void accept_all(int epoll_fd, int listener)
{
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            die("accept4");
        }
        int one = 1;
        /* asyncio's transports set TCP_NODELAY too: answers go out at once. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct connection *conn = malloc(sizeof *conn);
        if (!conn)
            die("malloc");
        conn->fd = fd;
        conn->offset = 0;
        conn->pending_start = conn->pending_end = 0;
        for (int i = 0; i < HEADER_BYTES; i++)
            conn->buffer[i] = (unsigned char)('A' + i % 26);
        watch(epoll_fd, EPOLL_CTL_ADD, fd, EPOLLIN, (uint64_t)(uintptr_t)conn);
    }
}

int main(int argc, char **argv)
{
    int port = -1, usage_error = 0;
    enum header_mode header = NO_HEADER;
    size_t message_size = 0;
    static const struct option known[] = {
        {"port", required_argument, 0, 'p'},
        {"header-once", no_argument, 0, '1'},
        {"header-twice", no_argument, 0, '2'},
        {"message-size", required_argument, 0, 's'},
        {0, 0, 0, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "", known, NULL)) != -1) {
        switch (option) {
        case 'p': port = atoi(optarg); break;
        case '1':
        case '2':
            if (header != NO_HEADER)
                usage_error = 1; /* the two exclude each other */
            header = option == '1' ? HEADER_ONCE : HEADER_TWICE;
            break;
        case 's': message_size = strtoul(optarg, NULL, 10); break;
        default: usage_error = 1;
        }
    }
    /* A header goes with every request, so only a known message size tells
     * where the next one starts. */
    if (port < 0 || usage_error || (header != NO_HEADER) != (message_size > 0)) {
        fprintf(stderr, "usage: echo_c_server --port PORT "
                        "[(--header-once | --header-twice) --message-size BYTES]\n");
        return 2;
    }

    /* SIGTERM arrives as a readable fd, so stopping is one more epoll event. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) < 0)
        die("sigprocmask");
    int signal_fd = signalfd(-1, &stop_signals, SFD_NONBLOCK);
    if (signal_fd < 0)
        die("signalfd");

    int listener = listen_on_loopback(port);
    int epoll_fd = epoll_create1(0);
    if (epoll_fd < 0)
        die("epoll_create1");
    watch(epoll_fd, EPOLL_CTL_ADD, listener, EPOLLIN, TAG_LISTENER);
    watch(epoll_fd, EPOLL_CTL_ADD, signal_fd, EPOLLIN, TAG_SIGNAL);
    /* stdin closing (the driver's way to stop us) reads as end of file.
     * A regular file or /dev/null cannot be watched (EPERM): then only a
     * signal stops the server. */
    struct epoll_event stdin_event = {.events = EPOLLIN, .data.u64 = TAG_STDIN};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, STDIN_FILENO, &stdin_event) < 0 && errno != EPERM)
        die("epoll_ctl(stdin)");

    printf("%d\n", bound_port(listener));
    fflush(stdout);

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int ready = epoll_wait(epoll_fd, events, MAX_EVENTS, -1);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int e = 0; e < ready; e++) {
            uint64_t tag = events[e].data.u64;
            if (tag == TAG_LISTENER) {
                accept_all(epoll_fd, listener);
                continue;
            }
            if (tag == TAG_SIGNAL)
                return 0;
            if (tag == TAG_STDIN) {
                char ignored[256];
                if (read(STDIN_FILENO, ignored, sizeof ignored) <= 0)
                    return 0;
                continue;
            }
            struct connection *conn = (struct connection *)(uintptr_t)tag;
            int failed;
            if (conn->pending_start < conn->pending_end) {
                failed = flush(epoll_fd, conn);
                if (!failed && conn->pending_start == conn->pending_end)
                    watch(epoll_fd, EPOLL_CTL_MOD, conn->fd, EPOLLIN, tag);
            } else {
                failed = echo(epoll_fd, conn, header, message_size);
            }
            if (failed)
                close_connection(conn);
        }
    }
}
