"""The read and write paths of a stream transport: what runs per packet.

``StreamCore`` holds a connected stream socket's state and runs everything a
transport does per readiness event or per write; ``SocketTransport`` (the
``asyncio.Transport`` users see) is a thin Python shell around it.

Reading: on readiness the socket is read into a 256 KiB bytes object kept
for the process; the read goes to ``data_received`` in that object, shrunk
to size, unless it is small enough for pymalloc and copied out of it (see
fastloop_recv_bytes in the .pxd). A BufferedProtocol gets the bytes straight
into the buffer its ``get_buffer`` returns.

Writing is batched per loop iteration. ``write()`` only appends to the
buffer and queues the core on the scheduler, which flushes it once the
iteration's callbacks are done: a response written in pieces (a header, then
a body) leaves in one vectored send. The buffer is sent at once instead when
it passes the high-water mark, and when the loop is not running (nothing
would flush it). Only what the kernel does not take stays buffered, and the
fd is watched for writability only then.

Both builds run this file; the ``cython.compiled`` branches are the system
calls (``recv``/``send``/``sendmsg`` on the fd, errno checked) and their
uncompiled twins (the socket object's methods).
"""

try:
    import cython
except ImportError:
    from . import _cython_shim as cython

import os
import socket
from asyncio import protocols

from . import _asyncio_private as aio_private
from ._scheduler import DID_NOTHING, DID_SOME, MAY_DO_MORE, Connection, logger

# Bytes read at most per readiness event: asyncio's max_size.
MAX_READ = 256 * 1024
if cython.compiled:
    if MAX_READ != FASTLOOP_MAX_READ:
        raise ImportError("fastloop._stream_core: MAX_READ differs from FASTLOOP_MAX_READ")
    _forget_read_target()
# Buffers one sendmsg() gathers at most (the kernel allows SC_IOV_MAX).
_MAX_IOVECS = 64
_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")
_DEFAULT_HIGH_WATER = 64 * 1024
# Compiled: views of bytes up to this size are copied by write() rather than
# kept through a view of the buffer's own (see _as_bytes): a small bytes
# object comes from Python's own allocator and costs less than a view.
_COPIED_VIEW_MAX = 512
# Compiled: item slots a connection's emptied write buffer keeps at most.
_KEPT_BUFFER_SLOTS = 64


def _as_bytes(data):
    """What the write buffer keeps of ``data``: bytes, or a flat view of bytes.

    bytes are kept as they are, and so is a view that reads only bytes (a
    slice of a received message, say), since bytes never change: no copy.
    The buffer keeps a view of its own, so the caller may release theirs.
    Anything else is copied, so the caller may reuse its buffer once write()
    returns (3.11's asyncio behaviour, and the safe one). Either way len()
    counts bytes.
    """
    if type(data) is bytes:
        return data
    if (cython.compiled and type(data) is memoryview and not _view_released(data)
            and _flat_view_of_bytes(data)):
        # A slice of a received message, say: read where it is, without a
        # view made first just to look at it. A short one is copied, which
        # costs less than a view of our own (a header written before its
        # body, say).
        buffer = PyMemoryView_GET_BUFFER(data)
        if buffer.len <= _COPIED_VIEW_MAX:
            return PyBytes_FromStringAndSize(cython.cast(cython.p_char, buffer.buf), buffer.len)
        return PyMemoryView_FromObject(data)
    view = memoryview(data)
    if _flat_view_of_bytes(view):
        return view
    return view.tobytes()


def _flat_view_of_bytes(view):
    """Whether ``view`` reads contiguous single bytes of a bytes object."""
    if cython.compiled:
        buffer = PyMemoryView_GET_BUFFER(view)
        # A view of raw memory has no object: obj is NULL (not None).
        exporter = cython.cast(cython.p_void, buffer.obj)
        return (exporter is not cython.NULL
                and PyBytes_CheckExact(cython.cast(object, exporter))
                and buffer.ndim == 1 and buffer.itemsize == 1
                and (buffer.strides is cython.NULL or buffer.strides[0] == 1))
    return (type(view.obj) is bytes and view.ndim == 1
            and view.itemsize == 1 and view.c_contiguous)


def _os_error(code):
    """The OSError subclass Python raises for ``code`` (ConnectionResetError...)."""
    return OSError(code, os.strerror(code))


# The system calls, with the socket methods' semantics for a non-blocking
# socket but without an exception when the call would block. Compiled, a
# plain non-blocking socket.socket is read and written through its fd
# directly (MSG_DONTWAIT: never blocking with the GIL held); anything else (a
# subclass, a stand-in, a blocking socket or one with a timeout) through its
# own methods, as asyncio calls them. EINTR counts as "nothing now", as
# asyncio treats InterruptedError: the loop's poll runs the signal handlers.

def _point_at(vector, data):
    """Points ``vector`` at a buffered item: bytes or a flat view of bytes
    (see _as_bytes). Compiled only."""
    if type(data) is bytes:
        vector.iov_base = PyBytes_AS_STRING(data)
        vector.iov_len = PyBytes_GET_SIZE(data)
    else:
        buffer = PyMemoryView_GET_BUFFER(data)
        vector.iov_base = buffer.buf
        vector.iov_len = buffer.len


def _direct_fd(sock):
    """The fd on which the compiled build may call the kernel for ``sock``,
    or -1 when it must call the socket's methods instead (not exactly a
    socket.socket, or not non-blocking).

    Read per call: a socket closed under the loop then fails with EBADF, as
    its methods do, instead of touching whatever file reuses the number.
    Compiled only: the fd and the timeout are read from the socket object's
    head when its layout is known (see _socket_head_matches).
    """
    if type(sock) is not _SOCKET_TYPE:
        return -1
    if _SOCKET_HEAD_KNOWN:
        head = cython.cast(cython.pointer(fastloop_socket_head), sock)
        if head.sock_timeout != 0:
            return -1
        fd = head.sock_fd
    else:
        if sock.gettimeout() != 0.0:
            return -1
        fd = sock.fileno()
    if fd < 0:
        raise _os_error(EBADF)
    return fd


def _socket_head_matches():
    """Whether the fd and timeout read from a socket object's head (see
    _socket_compat.h) are what fileno() and gettimeout() say, for a socket
    blocking, non-blocking, with a timeout, and closed. Compiled only."""
    try:
        sock, peer = socket.socketpair()
    except OSError:
        # No socket to check it with (a sandbox, no fds left): the methods.
        return False
    with sock, peer:
        for timeout in (None, 0.0, 2.5):
            sock.settimeout(timeout)
            if not _socket_head_agrees(sock):
                return False
        sock.close()
        return _socket_head_agrees(sock)


def _socket_head_agrees(sock):
    head = cython.cast(cython.pointer(fastloop_socket_head), sock)
    timeout = sock.gettimeout()
    if timeout is None:
        timeout_agrees = head.sock_timeout < 0
    else:
        timeout_agrees = head.sock_timeout == round(timeout * 1e9)
    return head.sock_fd == sock.fileno() and timeout_agrees


_SOCKET_TYPE = socket.socket
_SOCKET_HEAD_KNOWN = cython.compiled and _socket_head_matches()


def socket_fileno(sock):
    """``sock.fileno()``: read from the socket object's head, compiled,
    when ``sock`` is exactly a socket.socket."""
    if cython.compiled and _SOCKET_HEAD_KNOWN and type(sock) is _SOCKET_TYPE:
        return cython.cast(SocketHead, sock).sock_fd
    return sock.fileno()


def socket_heads_read():
    """Whether the fd and timeout of sockets are read from the socket
    object (compiled, CPython 3.11-3.14) rather than through its methods."""
    return _SOCKET_HEAD_KNOWN


def _would_block(code):
    """Whether errno ``code`` means "nothing now" (EINTR included: asyncio
    treats InterruptedError as it treats BlockingIOError)."""
    return code == EAGAIN or code == EWOULDBLOCK or code == EINTR


def recv_bytes(sock, size):
    """``sock.recv(size)``: the bytes read (empty at EOF), or None when
    nothing is ready."""
    if cython.compiled and 0 <= size <= MAX_READ and (fd := _direct_fd(sock)) >= 0:
        code = 0
        data = _recv_into_bytes(fd, size, cython.address(code))
        if not code:
            return data
        if _would_block(code):
            return None
        raise _os_error(code)
    try:
        return sock.recv(size)
    except (BlockingIOError, InterruptedError):
        return None


def recv_into(sock, buffer):
    """``sock.recv_into(buffer)``: the byte count (0 at EOF), or -1 when
    nothing is ready."""
    if (cython.compiled and (fd := _direct_fd(sock)) >= 0
            and _get_writable_buffer(buffer, cython.address(view))):
        try:
            count = recv(fd, view.buf, view.len, MSG_DONTWAIT)
            if count >= 0:
                return count
            code = errno
            if _would_block(code):
                return -1
            raise _os_error(code)
        finally:
            PyBuffer_Release(cython.address(view))
    try:
        return sock.recv_into(buffer)
    except (BlockingIOError, InterruptedError):
        return -1


def _get_writable_buffer(buffer, view):
    """Fill ``view`` with ``buffer``'s writable memory; False (and nothing
    to release) if it has none: the socket method then raises asyncio's
    error for it."""
    try:
        PyObject_GetBuffer(buffer, view, PyBUF_WRITABLE)
    except (TypeError, BufferError):
        return False
    return True


def send_some(sock, data):
    """``sock.send(data)``: the byte count sent, 0 when the kernel takes
    nothing now."""
    if cython.compiled and (fd := _direct_fd(sock)) >= 0:
        PyObject_GetBuffer(data, cython.address(view), PyBUF_SIMPLE)
        try:
            count = send(fd, view.buf, view.len, MSG_NOSIGNAL | MSG_DONTWAIT)
            if count >= 0:
                return count
            code = errno
            if _would_block(code):
                return 0
            raise _os_error(code)
        finally:
            PyBuffer_Release(cython.address(view))
    try:
        return sock.send(data)
    except (BlockingIOError, InterruptedError):
        return 0


# No tp_clear, as Scheduler: _loop is typed, and a connection may still be
# called while a cycle through it is collected. Final: its methods call each
# other directly, without the vtable or cpdef's check for a Python override.
@cython.final
@cython.no_gc_clear
@cython.cclass
class StreamCore(Connection):
    """A connected stream socket's per-packet state and paths.

    ``transport`` is the shell the protocol knows: it is what error reports
    and debug logs name.
    """

    def __init__(self, loop, transport, sock, protocol):
        if loop is None:
            # Compiled, every method would read the loop's C fields.
            raise TypeError("StreamCore needs a loop")
        Connection.__init__(self)
        # See Connection: a Unix socket's reads stop at passed fds unannounced.
        self._edge_triggerable = (type(sock) is _SOCKET_TYPE
                                  and sock.family in (socket.AF_INET, socket.AF_INET6))
        self._loop = loop
        self._transport = transport
        self._sock = sock
        self._sock_fd = sock.fileno()
        self._protocol = None
        self._buffered_protocol = False
        self._protocol_connected = False
        # What is not yet sent: bytes objects and flat views of bytes (see
        # _as_bytes), the first one sent up to _buffer_offset; _buffer_size
        # counts the unsent bytes.
        self._buffer = []
        self._buffer_offset = 0
        self._buffer_size = 0
        self._writing = False  # the fd is watched for writability
        self._reading_paused = False
        self._closing = False
        self._eof = False
        self._conn_lost = 0  # > 0 once connection_lost is scheduled
        self._protocol_paused = False
        # Compared as floats (asyncio takes any number, inf included);
        # reported as they were given.
        self._high_water = float(_DEFAULT_HIGH_WATER)
        self._low_water = float(_DEFAULT_HIGH_WATER // 4)
        self._write_buffer_limits = (_DEFAULT_HIGH_WATER // 4, _DEFAULT_HIGH_WATER)
        self._empty_waiter = None
        self.set_protocol(protocol)

    # -- protocol and state ---------------------------------------------------

    def set_protocol(self, protocol):
        self._buffered_protocol = isinstance(protocol, protocols.BufferedProtocol)
        self._protocol = protocol
        self._protocol_connected = True

    def is_reading(self):
        return not self._closing and not self._reading_paused

    def start_reading(self):
        """Watch the fd for reading, unless closing or paused."""
        if self.is_reading():
            self._loop._watch_connection(self._sock_fd, 0, self, self._read_ready)

    def pause_reading(self):
        if not self.is_reading():
            return
        self._reading_paused = True
        self._loop._remove_reader(self._sock_fd)
        if self._loop._debug:
            logger.debug("%r pauses reading", self._transport)

    def resume_reading(self):
        if self._closing or not self._reading_paused:
            return
        self._reading_paused = False
        self.start_reading()
        if self._loop._debug:
            logger.debug("%r resumes reading", self._transport)

    # -- closing --------------------------------------------------------------

    def close(self):
        if self._closing:
            return
        self._send_batch_now()
        self._closing = True
        self._loop._remove_reader(self._sock_fd)
        if not self._buffer:
            self._conn_lost += 1
            self._stop_writing()
            self._loop.call_soon(self._call_connection_lost, None)
        # Otherwise connection_lost follows once the buffer is sent.

    def abort(self):
        self._force_close(None)

    def _fatal_error(self, exc, message):
        if isinstance(exc, OSError):
            # A reset or a broken pipe is the peer's doing, not a bug.
            if self._loop._debug:
                logger.debug("%r: %s", self._transport, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": self._transport,
                "protocol": self._protocol,
            })
        self._force_close(exc)

    def _force_close(self, exc):
        if self._conn_lost:
            return
        if self._buffer:
            if self._batch_queued and not self._writing:
                # On asyncio these bytes would have been sent when they were
                # written: give them the same one chance.
                self._send_once_quietly()
            self._clear_buffer()
            self._stop_writing()
        if not self._closing:
            self._closing = True
            self._loop._remove_reader(self._sock_fd)
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            self._sock.close()
            self._sock = None
            self._protocol = None
            self._transport._connection_lost()
            self._settle_empty_waiter(ConnectionError("Connection is closed by peer"))

    # -- reading --------------------------------------------------------------

    def _fd_ready(self, writable):
        """What the compiled build's watch handles call (see
        _scheduler.ConnectionHandle); uncompiled, plain handles call the
        callbacks themselves, one Python call fewer."""
        if writable:
            return self._write_ready()
        return self._read_ready()

    def _read_ready(self):
        """The reader callback: the socket is readable, at EOF or failed.
        Returns what the read did (DID_NOTHING, DID_SOME, or MAY_DO_MORE
        when it filled all the room it had: see _scheduler.ConnectionHandle)."""
        if self._conn_lost:
            return DID_NOTHING
        if self._buffered_protocol:
            return self._read_into_protocol_buffer()
        return self._read_and_deliver()

    def _read_and_deliver(self):
        # One try for the read and the delivery (each try costs the compiled
        # build a save of the thread's exception state): ``delivering``
        # tells which of the two failed.
        delivering = False
        try:
            data = recv_bytes(self._sock, MAX_READ)
            if data:
                delivering = True
                self._protocol.data_received(data)
                return MAY_DO_MORE if len(data) == MAX_READ else DID_SOME
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed."
                              if delivering else "Fatal read error on socket transport")
            return DID_NOTHING
        if data is not None:
            # b"": the peer sends no more.
            self._on_eof()
        return DID_NOTHING

    def _read_into_protocol_buffer(self):
        try:
            buffer = self._protocol.get_buffer(-1)
            size = len(buffer)
            if not size:
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return DID_NOTHING
        try:
            count = recv_into(self._sock, buffer)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return DID_NOTHING
        if count < 0:
            return DID_NOTHING
        if not count:
            self._on_eof()
            return DID_NOTHING
        try:
            self._protocol.buffer_updated(count)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
            return DID_NOTHING
        # len() counts items, not bytes, for a buffer of wider items: then
        # this may say "full" of a buffer that is not, which costs one more
        # read and loses nothing, where the converse could stall.
        return MAY_DO_MORE if count >= size else DID_SOME

    def _on_eof(self):
        if self._loop._debug:
            logger.debug("%r received EOF", self._transport)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            # Half-closed: the peer sends no more, we may still write.
            self._loop._remove_reader(self._sock_fd)
        else:
            self.close()

    # -- writing --------------------------------------------------------------

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if cython.compiled and type(data) is bytes:
            # The length read off the object: ``not data`` is a call through
            # the type's slots.
            if not len(cython.cast(bytes, data)):
                return
        elif not data:
            return
        elif type(data) is not bytes:
            data = _as_bytes(data)
        # The check _writes_lost begins with, made here first: uncompiled,
        # each call saved counts on this per-packet path.
        if self._conn_lost and self._writes_lost():
            return
        self._append(data)
        self._send_soon()

    def writelines(self, list_of_data):
        if self._eof:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to writelines; sendfile is in progress")
        if not list_of_data:
            return
        if self._writes_lost():
            return
        # All or nothing: a bad item fails the call before anything is queued.
        chunks = [_as_bytes(data) for data in list_of_data]
        for data in chunks:
            if data:
                self._append(data)
        if self._buffer:
            self._send_soon()

    def _writes_lost(self):
        """After the connection is lost, writes are only counted (and
        logged past a threshold), as asyncio does."""
        if not self._conn_lost:
            return False
        if self._conn_lost >= aio_private.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
            logger.warning("socket.send() raised exception.")
        self._conn_lost += 1
        return True

    def _append(self, data):
        if cython.compiled and self._buffer is not None:
            append(self._buffer, data)
        else:
            self._buffer.append(data)
        self._buffer_size += len(data)

    def _send_soon(self):
        """Send what was just appended: with the iteration's batch, or now."""
        if self._writing:
            # The writer callback sends once the kernel takes more.
            self._maybe_pause_protocol()
        elif self._buffer_size > self._high_water or self._loop._thread_id is None:
            self._send_buffer()
            self._maybe_pause_protocol()
        elif not self._batch_queued:
            self._batch_queued = True
            self._loop._batched_writers.append(self)

    def _send_batch_now(self):
        """Send the queued batch before a change asyncio would have made
        after those bytes had gone out (a close, an EOF, new limits, a
        sendfile), so that everything that follows happens as on asyncio."""
        if self._batch_queued and self._buffer and not self._writing and not self._conn_lost:
            self._send_buffer()

    def _flush_batch(self):
        self._batch_queued = False
        if self._buffer and not self._writing and not self._conn_lost:
            self._send_buffer()

    def _write_ready(self):
        """The writer callback: the kernel takes more. Returns MAY_DO_MORE
        when it may take more still: it took some, and some waits (see
        _scheduler.ConnectionHandle). Said also when the kernel is full, which
        the next send finds out (EAGAIN) at the cost of a system call; the
        converse could stall a transport whose send took all it offered
        (_MAX_IOVECS pieces at most) with more waiting."""
        if self._conn_lost:
            return DID_NOTHING
        if self._send_buffer() > 0 and self._writing:
            return MAY_DO_MORE
        return DID_NOTHING

    def _send_buffer(self):
        """Send what the kernel takes; watch for writability if it leaves
        some; finish a close or a write_eof once all is sent. Returns how
        many bytes the kernel took."""
        try:
            sent = self._send()
            self._drop_sent(sent)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._stop_writing()
            self._clear_buffer()
            self._fatal_error(exc, "Fatal write error on socket transport")
            self._settle_empty_waiter(exc)
            return 0
        # Each step only when its state asks for it: uncompiled, every
        # method call costs, and this runs once per flush.
        if self._protocol_paused:
            self._maybe_resume_protocol()  # may write more
        if self._buffer:
            self._start_writing()
            return sent
        if self._writing:
            self._stop_writing()
        if self._empty_waiter is not None:
            self._settle_empty_waiter(None)
        if self._closing:
            # Counted, so a later abort() does not lose it twice.
            self._conn_lost += 1
            self._call_connection_lost(None)
        elif self._eof:
            self._sock.shutdown(socket.SHUT_WR)
        return sent

    def _send_once_quietly(self):
        try:
            self._drop_sent(self._send())
        except OSError:
            pass

    def _send(self):
        """Bytes of the buffer the kernel took (0 if it would block)."""
        if not self._buffer:
            return 0
        if cython.compiled and (fd := _direct_fd(self._sock)) >= 0:
            buffer = self._buffer
            count = min(len(buffer), _MAX_IOVECS)
            # Module-level vectors: nothing runs between filling and sending.
            for index in range(count):
                _point_at(cython.address(_vectors[index]), buffer[index])
            _vectors[0].iov_base = cython.cast(cython.p_char, _vectors[0].iov_base) + self._buffer_offset
            _vectors[0].iov_len -= self._buffer_offset
            if count == 1:
                sent = send(fd, _vectors[0].iov_base, _vectors[0].iov_len,
                            MSG_NOSIGNAL | MSG_DONTWAIT)
            else:
                memset(cython.address(message), 0, cython.sizeof(message))
                message.msg_iov = _vectors
                message.msg_iovlen = count
                sent = sendmsg(fd, cython.address(message), MSG_NOSIGNAL | MSG_DONTWAIT)
            if sent >= 0:
                return sent
            code = errno
            if _would_block(code):
                return 0
            raise _os_error(code)
        buffer = self._buffer
        try:
            if len(buffer) == 1 or not _HAS_SENDMSG:
                if not self._buffer_offset:
                    return self._sock.send(buffer[0])
                return self._sock.send(memoryview(buffer[0])[self._buffer_offset:])
            views = [memoryview(data) for data in buffer[:_MAX_IOVECS]]
            views[0] = views[0][self._buffer_offset:]
            return self._sock.sendmsg(views)
        except (BlockingIOError, InterruptedError):
            return 0

    def _drop_sent(self, sent):
        if sent == self._buffer_size:
            self._clear_buffer()
            return
        self._buffer_size -= sent
        buffer = self._buffer
        sent += self._buffer_offset
        done = 0
        while sent >= len(buffer[done]):
            sent -= len(buffer[done])
            done += 1
        del buffer[:done]
        self._buffer_offset = sent

    def _clear_buffer(self):
        if cython.compiled and self._buffer is not None:
            # The list keeps its item array for the next write (clear()
            # would free it, and the next append make it again), unless a
            # burst grew it past _KEPT_BUFFER_SLOTS.
            empty_list(self._buffer, _KEPT_BUFFER_SLOTS)
        else:
            self._buffer.clear()
        self._buffer_offset = 0
        self._buffer_size = 0

    def _start_writing(self):
        if not self._writing:
            self._writing = True
            self._loop._watch_connection(self._sock_fd, 1, self, self._write_ready)

    def _stop_writing(self):
        if self._writing:
            self._writing = False
            self._loop._remove_writer(self._sock_fd)

    def write_eof(self):
        if self._closing or self._eof:
            return
        self._send_batch_now()
        self._eof = True
        if not self._buffer:
            self._sock.shutdown(socket.SHUT_WR)
        # Otherwise the shutdown follows once the buffer is sent.

    # -- flow control (asyncio's _FlowControlMixin) ----------------------------

    def get_write_buffer_size(self):
        return self._buffer_size

    def get_write_buffer_limits(self):
        return self._write_buffer_limits

    def set_write_buffer_limits(self, high=None, low=None):
        self._set_write_buffer_limits(high, low)
        self._send_batch_now()
        self._maybe_pause_protocol()

    def _set_write_buffer_limits(self, high=None, low=None):
        if high is None:
            high = _DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water = high
        self._low_water = low
        self._write_buffer_limits = (low, high)

    def _maybe_pause_protocol(self):
        if self._buffer_size <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        self._call_flow_control("pause_writing")

    def _maybe_resume_protocol(self):
        if not self._protocol_paused or self._buffer_size > self._low_water:
            return
        self._protocol_paused = False
        self._call_flow_control("resume_writing")

    def _call_flow_control(self, method):
        """``protocol.pause_writing()`` or ``resume_writing()``; what it
        raises goes to the exception handler, as on asyncio."""
        try:
            getattr(self._protocol, method)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": f"protocol.{method}() failed",
                "exception": exc,
                "transport": self._transport,
                "protocol": self._protocol,
            })

    # -- loop.sendfile() support ----------------------------------------------

    def make_empty_waiter(self):
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._send_batch_now()
        self._empty_waiter = self._loop.create_future()
        if not self._buffer:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def reset_empty_waiter(self):
        self._empty_waiter = None

    def _settle_empty_waiter(self, exc):
        """Tell a waiting sendfile the buffer is empty (or why it never will
        be), unless it stopped waiting (cancelled) already."""
        waiter = self._empty_waiter
        if waiter is None or waiter.done():
            return
        if exc is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(exc)

