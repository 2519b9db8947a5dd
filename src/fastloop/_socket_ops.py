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
saves a scheduled callback per wait.
"""

try:
    import cython
except ImportError:
    from . import _cython_shim as cython

import socket
from operator import methodcaller

from ._stream_core import recv_bytes, recv_into, send_some

try:
    import ssl
except ImportError:
    ssl = None


def _check_socket(loop, sock):
    if ssl is not None and isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")
    if loop._debug and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")


def _retry_when_ready(future, operation, sock):
    """Reader/writer callback: try ``operation(sock)`` again, settle the future.

    The operation looks the socket method up at each try, as asyncio does.
    """
    if future.done():
        # Cancelled, possibly while this callback was already queued.
        return
    try:
        result = operation(sock)
    except (BlockingIOError, InterruptedError):
        return
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _read_when_ready(future, read, sock, argument, not_ready):
    """Reader callback of sock_recv and sock_recv_into: ``read(sock,
    argument)`` settles the future, unless it answers ``not_ready``."""
    if future.done():
        return
    try:
        result = read(sock, argument)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        future.set_exception(exc)
        return
    if result != not_ready:
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
    """The sock_* half of Loop; expects _add_reader/_add_writer."""

    async def _read(self, sock, operation):
        """``operation(sock)`` at once if the socket lets it through, else
        once it is readable."""
        _check_socket(self, sock)
        try:
            return operation(sock)
        except (BlockingIOError, InterruptedError):
            pass
        return await self._when_readable(sock, _retry_when_ready, operation, sock)

    async def _when_readable(self, sock, callback, *args):
        """The future ``callback(future, *args)`` settles, called whenever
        ``sock`` is readable; the fd is watched until then."""
        future = self.create_future()
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        handle = self._add_reader(fd, callback, future, *args)
        try:
            return await future
        finally:
            # Unless a later add_reader() took the fd over.
            if not handle._cancelled:
                self._remove_reader(fd)

    async def _when_writable(self, sock, callback, *args):
        future = self.create_future()
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        handle = self._add_writer(fd, callback, future, *args)
        try:
            return await future
        finally:
            if not handle._cancelled:
                self._remove_writer(fd)

    async def sock_recv(self, sock, n):
        """Receive up to ``n`` bytes from ``sock``."""
        _check_socket(self, sock)
        data = recv_bytes(sock, n)
        if data is not None:
            return data
        return await self._when_readable(sock, _read_when_ready, recv_bytes, sock, n, None)

    async def sock_recv_into(self, sock, buf):
        """Receive into the writable buffer ``buf``; return the byte count."""
        _check_socket(self, sock)
        count = recv_into(sock, buf)
        if count >= 0:
            return count
        return await self._when_readable(sock, _read_when_ready, recv_into, sock, buf, -1)

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
        # Counted in bytes, whatever the item size of a memoryview.
        view = memoryview(data).cast("B")
        if sent == len(view):
            return
        # The writer callback moves the position on, in this list.
        await self._when_writable(sock, self._sock_sendall, sock, view, [sent])

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
        return await self._when_writable(sock, _retry_when_ready,
                                         methodcaller("sendto", data, 0, address), sock)

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
        await self._when_writable(sock, _retry_when_ready, _connected(address), sock)

    async def sock_accept(self, sock):
        """Accept a connection: (conn, address), ``conn`` non-blocking."""
        return await self._read(sock, _accept)
