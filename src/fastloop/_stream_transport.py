"""Stream transports over connected TCP and Unix sockets.

``SocketTransport`` is an ``asyncio.Transport`` (code such as aiohttp checks
``isinstance``) with asyncio's ``_SelectorSocketTransport`` semantics:
Protocol and BufferedProtocol, write buffering with pause_writing /
resume_writing at the watermarks, half-close with write_eof, and
connection_lost exactly once.

It runs as Python for now, in both builds; moving its read and write paths
into a compiled core is the next step of the sockets issue.
"""

import asyncio
import collections
import itertools
import os
import socket
import warnings
from asyncio import protocols

from . import _asyncio_private as aio_private
from ._scheduler import logger

# How many buffers one sendmsg() may gather (the kernel's iovec limit).
_SENDMSG_MAX_BUFFERS = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 16
_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")


def _to_buffer(data):
    """What the write buffer keeps of ``data``: its bytes, counted in bytes.

    bytes are kept as they are. Anything mutable is copied, so the caller may
    reuse its buffer once write() returns (3.11's asyncio behaviour, and the
    safe one), and wide-item memoryviews are cast so lengths are in bytes.
    """
    if type(data) is bytes:
        return memoryview(data)
    return memoryview(bytes(memoryview(data).cast("B")))


class SocketTransport(aio_private.FlowControlMixin, asyncio.Transport):
    """A transport for a connected stream socket (TCP or Unix)."""

    max_size = 256 * 1024  # bytes read at most per readiness event

    _start_tls_compatible = True
    _sendfile_compatible = aio_private.SENDFILE_TRY_NATIVE

    def __init__(self, loop, sock, protocol, waiter=None, extra=None, server=None):
        super().__init__(extra, loop)
        self._extra["socket"] = aio_private.TransportSocket(sock)
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        if "peername" not in self._extra:
            try:
                self._extra["peername"] = sock.getpeername()
            except OSError:
                self._extra["peername"] = None
        self._sock = sock
        self._sock_fd = sock.fileno()
        self._read_ready_cb = None
        self._protocol_connected = False
        self.set_protocol(protocol)
        self._server = server
        self._buffer = collections.deque()
        self._conn_lost = 0  # > 0 once connection_lost is scheduled
        self._closing = False
        self._paused = False
        self._eof = False
        self._empty_waiter = None
        if server is not None:
            aio_private.server_attach(server, self)
        loop._transports[self._sock_fd] = self
        aio_private.set_nodelay(sock)
        loop.call_soon(self._protocol.connection_made, self)
        loop.call_soon(self._add_reader, self._sock_fd, self._read_ready)
        if waiter is not None:
            loop.call_soon(aio_private.set_result_unless_cancelled, waiter, None)

    def __repr__(self):
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"fd={self._sock_fd}")
        if self._loop is not None and not self._loop.is_closed():
            reading = self._loop._watches(self._sock_fd, False)
            writing = self._loop._watches(self._sock_fd, True)
            info.append(f"read={'polling' if reading else 'idle'}")
            info.append(f"write=<{'polling' if writing else 'idle'}, "
                        f"bufsize={self.get_write_buffer_size()}>")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn=warnings.warn):
        if self._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()
            if self._server is not None:
                aio_private.server_detach(self._server, self)

    # -- protocol and state ---------------------------------------------------

    def set_protocol(self, protocol):
        if isinstance(protocol, protocols.BufferedProtocol):
            self._read_ready_cb = self._read_ready__get_buffer
        else:
            self._read_ready_cb = self._read_ready__data_received
        self._protocol = protocol
        self._protocol_connected = True

    def get_protocol(self):
        return self._protocol

    def is_closing(self):
        return self._closing

    def is_reading(self):
        return not self.is_closing() and not self._paused

    def pause_reading(self):
        if not self.is_reading():
            return
        self._paused = True
        self._loop._remove_reader(self._sock_fd)
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self):
        if self._closing or not self._paused:
            return
        self._paused = False
        self._add_reader(self._sock_fd, self._read_ready)
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def _add_reader(self, fd, callback):
        if not self.is_reading():
            return
        self._loop._add_reader(fd, callback)

    # -- closing --------------------------------------------------------------

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._loop._remove_reader(self._sock_fd)
        if not self._buffer:
            self._conn_lost += 1
            self._loop._remove_writer(self._sock_fd)
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self):
        self._force_close(None)

    def _fatal_error(self, exc, message="Fatal error on transport"):
        if isinstance(exc, OSError):
            # A reset or a broken pipe is the peer's doing, not a bug.
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            })
        self._force_close(exc)

    def _force_close(self, exc):
        if self._conn_lost:
            return
        if self._buffer:
            self._buffer.clear()
            self._loop._remove_writer(self._sock_fd)
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
            self._loop = None
            server = self._server
            if server is not None:
                aio_private.server_detach(server, self)
                self._server = None
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(ConnectionError("Connection is closed by peer"))

    # -- reading --------------------------------------------------------------

    def _read_ready(self):
        self._read_ready_cb()

    def _read_ready__get_buffer(self):
        if self._conn_lost:
            return
        try:
            buffer = self._protocol.get_buffer(-1)
            if not len(buffer):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return
        try:
            nbytes = self._sock.recv_into(buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not nbytes:
            self._read_ready__on_eof()
            return
        try:
            self._protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    def _read_ready__data_received(self):
        if self._conn_lost:
            return
        try:
            data = self._sock.recv(self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not data:
            self._read_ready__on_eof()
            return
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _read_ready__on_eof(self):
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
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
        if not data:
            return
        if self._conn_lost:
            if self._conn_lost >= aio_private.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if self._buffer:
            self._buffer.append(_to_buffer(data))
        else:
            # Nothing queued: try to send at once; buffer only the rest.
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            if sent == memoryview(data).nbytes:
                return
            self._loop._add_writer(self._sock_fd, self._write_ready)
            self._buffer.append(_to_buffer(data)[sent:])
        self._maybe_pause_protocol()

    def writelines(self, list_of_data):
        if self._eof:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to writelines; sendfile is in progress")
        if not list_of_data:
            return
        if self._conn_lost:
            # As write(): after the connection is lost, writes only count.
            if self._conn_lost >= aio_private.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        self._buffer.extend([_to_buffer(data) for data in list_of_data])
        self._write_ready()
        # The buffer may still hold data the kernel did not take.
        if self._buffer:
            self._loop._add_writer(self._sock_fd, self._write_ready)
            self._maybe_pause_protocol()

    def _write_ready(self):
        if self._conn_lost:
            return
        buffer = self._buffer
        try:
            if _HAS_SENDMSG:
                sent = self._sock.sendmsg(itertools.islice(buffer, _SENDMSG_MAX_BUFFERS))
            else:
                sent = self._sock.send(buffer[0])
            self._drop_sent(sent)
        except (BlockingIOError, InterruptedError):
            pass
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop._remove_writer(self._sock_fd)
            buffer.clear()
            self._fatal_error(exc, "Fatal write error on socket transport")
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(exc)
        else:
            self._maybe_resume_protocol()  # may write more
            if not buffer:
                self._loop._remove_writer(self._sock_fd)
                if self._empty_waiter is not None:
                    self._empty_waiter.set_result(None)
                if self._closing:
                    # Counted, so a later abort() does not lose it twice.
                    self._conn_lost += 1
                    self._call_connection_lost(None)
                elif self._eof:
                    self._sock.shutdown(socket.SHUT_WR)

    def _drop_sent(self, sent):
        buffer = self._buffer
        while sent:
            chunk = buffer.popleft()
            if len(chunk) <= sent:
                sent -= len(chunk)
            else:
                buffer.appendleft(memoryview(chunk)[sent:])
                break

    def get_write_buffer_size(self):
        return sum(map(len, self._buffer))

    def write_eof(self):
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer:
            self._sock.shutdown(socket.SHUT_WR)

    def can_write_eof(self):
        return True

    # -- loop.sendfile() support ----------------------------------------------

    def _make_empty_waiter(self):
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if not self._buffer:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self):
        self._empty_waiter = None
