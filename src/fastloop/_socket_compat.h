/* MSG_NOSIGNAL where the platform has it: a write to a closed peer then
   fails with EPIPE instead of raising SIGPIPE, whoever embeds Python.
   MSG_DONTWAIT: a call never blocks with the GIL held. */
#ifndef FASTLOOP_SOCKET_COMPAT_H
#define FASTLOOP_SOCKET_COMPAT_H

#include <errno.h>
#include <sys/socket.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* Only ever used on sockets already non-blocking: a safety net there. */
#ifndef MSG_DONTWAIT
#define MSG_DONTWAIT 0
#endif

#endif
