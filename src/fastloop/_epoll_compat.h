/* epoll where the platform has it; elsewhere, stand-ins that fail with
   ENOSYS so the compiled poller falls back to the selectors module. */
#ifndef FASTLOOP_EPOLL_COMPAT_H
#define FASTLOOP_EPOLL_COMPAT_H

#ifdef __linux__
#include <sys/epoll.h>
#else
#include <errno.h>
#include <stdint.h>

typedef union epoll_data {
    void *ptr;
    int fd;
    uint32_t u32;
    uint64_t u64;
} epoll_data_t;

struct epoll_event {
    uint32_t events;
    epoll_data_t data;
};

#define EPOLLIN 0x001
#define EPOLLPRI 0x002
#define EPOLLOUT 0x004
#define EPOLLERR 0x008
#define EPOLLHUP 0x010
#define EPOLLET (1u << 31)
#define EPOLLRDHUP 0x2000
#define EPOLL_CTL_ADD 1
#define EPOLL_CTL_DEL 2
#define EPOLL_CTL_MOD 3
#define EPOLL_CLOEXEC 0

static inline int epoll_create1(int flags) { (void)flags; errno = ENOSYS; return -1; }
static inline int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event) {
    (void)epfd; (void)op; (void)fd; (void)event; errno = ENOSYS; return -1;
}
static inline int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
    (void)epfd; (void)events; (void)maxevents; (void)timeout; errno = ENOSYS; return -1;
}
#endif

#endif
