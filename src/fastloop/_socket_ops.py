"""Low-level socket operations: loop.sock_recv(), sock_sendall(), ...

asyncio's semantics (selector_events.BaseSelectorEventLoop): each operation
first tries the non-blocking call; only when the kernel would block does it
watch the socket's fd and finish from a reader or writer callback. When the
awaiting task is cancelled the fd is unwatched and the socket stays usable.
As on asyncio, only debug mode refuses a blocking socket.

The module is compiled: a sock_recv/sock_sendall loop runs per packet. The
calls that would block return a marker instead of raising BlockingIOError
(``_stream_core.recv_bytes`` and friends), and the fd is unwatched in the
waiting coroutine's ``finally`` rather than from a done callback, which
saves a scheduled callback per wait. sock_recv and sock_recv_into wait in
their own coroutine, not in a helper's: one coroutine level less per packet.

A wait asks the scheduler for one report (a one-shot registration, see
_poller): one epoll_ctl per wait instead of two. A callback that finds
nothing to do after all arms it again (``_rearm_once``). sock_sendall keeps
a level-triggered watch: a large send takes one report per chunk.
"""

try:
    import cython
except ImportError:
    from . import _cython_shim as cython

import socket
from operator import methodcaller

from ._stream_core import recv_bytes, recv_into, send_some, socket_fileno

try:
    import ssl
except ImportError:
    ssl = None


_SOCKET_TYPE = socket.socket

# The slots of Scheduler._fd_handles[fd].
_READER = 0
_WRITER = 1


def _check_socket(loop, sock):
    # A plain socket is never an SSLSocket (a subclass).
    if type(sock) is not _SOCKET_TYPE and ssl is not None and isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")
    if loop._debug and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")


def _byte_count(data):
    """How many bytes ``data`` holds, whatever the item size of a memoryview."""
    if cython.compiled:
        PyObject_GetBuffer(data, cython.address(view), PyBUF_SIMPLE)
        count = view.len
        PyBuffer_Release(cython.address(view))
        return count
    return memoryview(data).nbytes


def _fd_to_watch(loop, sock):
    """``sock``'s fd, refused as asyncio's _ensure_fd_no_transport refuses
    it (an invalid fd, one an open transport owns)."""
    fd = socket_fileno(sock)
    # The weak dictionary's get() is Python code that raises KeyError for
    # every fd no transport owns; its dict of weak references (``data``,
    # in every CPython) answers that in C.
    if type(fd) is int and fd >= 0 and fd not in loop._transports.data:
        return fd
    return loop._ensure_fd_no_transport(fd)


# _watch, _unwatch and _rearm take the loop typed as a Scheduler (see the
# .pxd): compiled, they reach its fd watches with C calls, not attribute
# lookups on the Loop.

def _watch(loop, fd, slot, callback, args, once):
    """The handle calling ``callback(*args)`` while ``fd`` is ready."""
    return loop._add_fd_handle(fd, slot, callback, args, once)


def _unwatch(loop, fd, slot, handle, future):
    """End a sock_* wait, unless a later add_reader() or add_writer() took
    the fd over. A future settled by the callback means the report came."""
    if not handle._cancelled:
        loop._remove_fd_handle(fd, slot, future.done() and not future.cancelled())


def _rearm(loop, fd):
    """A one-shot wait's callback found nothing to do: wait for the next report."""
    loop._rearm_once(fd)


def _retry_when_ready(loop, fd, future, operation, sock):
    """Callback of a one-shot wait: try ``operation(sock)`` again, settle
    the future.

    The operation looks the socket method up at each try, as asyncio does.
    """
    if future.done():
        # Cancelled, possibly while this callback was already queued.
        return
    try:
        result = operation(sock)
    except (BlockingIOError, InterruptedError):
        _rearm(loop, fd)
        return
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        future.set_exception(exc)
        # The exception's traceback keeps this frame: a cycle through the
        # future unless the frame lets go of it (as asyncio's callbacks do).
        future = None  # noqa: F841
    else:
        future.set_result(result)


def _read_when_ready(loop, fd, future, sock, argument, into):
    """Callback of sock_recv's (sock_recv_into's, if ``into``) one-shot
    wait: a read settles the future, unless nothing is there to read."""
    if future.done():
        return
    try:
        if into:
            count = recv_into(sock, argument)
            result = None if count < 0 else count
        else:
            result = recv_bytes(sock, argument)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        future.set_exception(exc)
        future = None  # noqa: F841 (as in _retry_when_ready)
        return
    if result is None:
        _rearm(loop, fd)
    else:
        future.set_result(result)


def _connected(address):
    """The operation a connecting socket's writer callback tries: done once
    the kernel reports the connection's outcome (SO_ERROR) as success."""

    def check(sock):
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            raise OSError(err, f"Connect call failed {address}")

    return check


def _accept(sock):
    conn, address = sock.accept()
    conn.setblocking(False)
    return conn, address


class SocketOperations:
    """The sock_* half of Loop: a mixin for a Scheduler (whose fd watches it
    uses) with _transports and _ensure_fd_no_transport."""

    async def _read(self, sock, operation):
        """``operation(sock)`` at once if the socket lets it through, else
        once it is readable."""
        _check_socket(self, sock)
        try:
            return operation(sock)
        except (BlockingIOError, InterruptedError):
            pass
        return await self._wait_once(sock, _READER, operation)

    async def _wait_once(self, sock, slot, operation):
        """The result of ``operation(sock)``, tried each time ``sock`` is
        reported ready for ``slot``."""
        future = self.create_future()
        fd = _fd_to_watch(self, sock)
        handle = _watch(self, fd, slot, _retry_when_ready, (self, fd, future, operation, sock),
                        True)
        try:
            return await future
        finally:
            _unwatch(self, fd, slot, handle, future)
            # The error's traceback keeps this frame: no cycle through the future.
            future = handle = None

    async def sock_recv(self, sock, n):
        """Receive up to ``n`` bytes from ``sock``."""
        _check_socket(self, sock)
        data = recv_bytes(sock, n)
        if data is not None:
            return data
        # _wait_once's lines, with the read's own callback.
        future = self.create_future()
        fd = _fd_to_watch(self, sock)
        handle = _watch(self, fd, _READER, _read_when_ready,
                        (self, fd, future, sock, n, False), True)
        try:
            return await future
        finally:
            _unwatch(self, fd, _READER, handle, future)
            future = handle = None  # (as in _wait_once)

    async def sock_recv_into(self, sock, buf):
        """Receive into the writable buffer ``buf``; return the byte count."""
        _check_socket(self, sock)
        count = recv_into(sock, buf)
        if count >= 0:
            return count
        future = self.create_future()
        fd = _fd_to_watch(self, sock)
        handle = _watch(self, fd, _READER, _read_when_ready,
                        (self, fd, future, sock, buf, True), True)
        try:
            return await future
        finally:
            _unwatch(self, fd, _READER, handle, future)
            future = handle = None  # (as in _wait_once)

    async def sock_recvfrom(self, sock, bufsize):
        """Receive a datagram of up to ``bufsize`` bytes: (data, address)."""
        return await self._read(sock, methodcaller("recvfrom", bufsize))

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        """Receive a datagram into ``buf``: (byte count, address)."""
        return await self._read(sock, methodcaller("recvfrom_into", buf, nbytes or len(buf)))

    async def sock_sendall(self, sock, data):
        """Send all of ``data``; on error there is no telling how much went."""
        _check_socket(self, sock)
        sent = send_some(sock, data)
        if sent == _byte_count(data):
            return
        # Counted in bytes, whatever the item size of a memoryview.
        view = memoryview(data).cast("B")
        future = self.create_future()
        fd = _fd_to_watch(self, sock)
        # Level-triggered: a large send takes a report per chunk. The writer
        # callback moves the position on, in the list.
        handle = _watch(self, fd, _WRITER, self._sock_sendall, (future, sock, view, [sent]),
                        False)
        try:
            await future
        finally:
            _unwatch(self, fd, _WRITER, handle, future)
            future = handle = None  # (as in _wait_once)

    def _sock_sendall(self, future, sock, view, position):
        if future.done():
            return
        start = position[0]
        try:
            sent = send_some(sock, view[start:])
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future = None  # noqa: F841 (as in _retry_when_ready)
            return
        start += sent
        if start == len(view):
            future.set_result(None)
        else:
            position[0] = start

    async def sock_sendto(self, sock, data, address):
        """Send a datagram to ``address``; return the byte count."""
        _check_socket(self, sock)
        try:
            return sock.sendto(data, address)
        except (BlockingIOError, InterruptedError):
            pass
        return await self._wait_once(sock, _WRITER, methodcaller("sendto", data, 0, address))

    async def sock_connect(self, sock, address):
        """Connect ``sock`` to ``address`` (resolved first for IP sockets)."""
        _check_socket(self, sock)
        if sock.family == socket.AF_INET or (socket.has_ipv6 and sock.family == socket.AF_INET6):
            resolved = await self._ensure_resolved(
                address, family=sock.family, type=sock.type, proto=sock.proto, loop=self)
            address = resolved[0][4]
        try:
            sock.connect(address)
        except (BlockingIOError, InterruptedError):
            # The connection goes on in the background (and after EINTR too,
            # asyncio issue #23618): writable means done, SO_ERROR says how.
            pass
        else:
            return
        await self._wait_once(sock, _WRITER, _connected(address))

    async def sock_accept(self, sock):
        """Accept a connection: (conn, address), ``conn`` non-blocking."""
        return await self._read(sock, _accept)
