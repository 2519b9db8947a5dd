/* MSG_NOSIGNAL where the platform has it: a write to a closed peer then
   fails with EPIPE instead of raising SIGPIPE, whoever embeds Python.
   MSG_DONTWAIT: a call never blocks with the GIL held. */
#ifndef FASTLOOP_SOCKET_COMPAT_H
#define FASTLOOP_SOCKET_COMPAT_H

#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* Only ever used on sockets already non-blocking: a safety net there. */
#ifndef MSG_DONTWAIT
#define MSG_DONTWAIT 0
#endif

/* The first fields of CPython's socket object (PySocketSockObject in
   Modules/socketmodule.h, the same from 3.11 to 3.14), which no header
   installs: the fd and the timeout, read without a method call. The
   compiled build checks this layout against fileno() and gettimeout() at
   import and calls the methods instead if it does not match. */
typedef struct {
    PyObject_HEAD
    int sock_fd;            /* SOCKET_T: an int on POSIX; -1 once closed */
    int sock_family;
    int sock_type;
    int sock_proto;
    PyObject *(*errorhandler)(void);
    int64_t sock_timeout;   /* PyTime_t, ns: 0 non-blocking, < 0 blocking */
} fastloop_socket_head;

#endif
