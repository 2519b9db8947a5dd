"""Stream transports over connected TCP and Unix sockets.

``SocketTransport`` is an ``asyncio.Transport`` (code such as aiohttp checks
``isinstance``) with asyncio's ``_SelectorSocketTransport`` semantics:
Protocol and BufferedProtocol, write buffering with pause_writing /
resume_writing at the watermarks, half-close with write_eof, and
connection_lost exactly once.

It is a thin shell, run once per connection: the state and everything that
runs per packet live in the compiled ``_stream_core.StreamCore`` it holds
(asyncio's transport classes are Python classes, so the core cannot be one).
The attributes asyncio's own code reads on a transport (``_sock``,
``_protocol_paused``, ``_loop``...) are read through to the core.
"""

import asyncio
import warnings

from . import _asyncio_private as aio_private
from ._stream_core import StreamCore


def _core_attribute(name, doc):
    return property(lambda transport: getattr(transport._core, name), doc=doc)


class SocketTransport(aio_private.FlowControlMixin, asyncio.Transport):
    """A transport for a connected stream socket (TCP or Unix).

    asyncio's sendfile fallback insists on a ``_FlowControlMixin``; the
    mixin's state is the core's, so its ``__init__`` is not called and every
    method of it that reads that state is defined here.
    """

    _start_tls_compatible = True
    _sendfile_compatible = aio_private.SENDFILE_TRY_NATIVE

    def __init__(self, loop, sock, protocol, waiter=None, extra=None, server=None):
        asyncio.Transport.__init__(self, extra)
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
        self._core = core = StreamCore(loop, self, sock, protocol)
        # Bound once: write() is per packet, and this spares it a Python frame.
        self.write = core.write
        self._loop = loop
        self._server = server
        if server is not None:
            aio_private.server_attach(server, self)
        loop._transports[core._sock_fd] = self
        aio_private.set_nodelay(sock)
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(core.start_reading)
        if waiter is not None:
            loop.call_soon(aio_private.set_result_unless_cancelled, waiter, None)

    _sock = _core_attribute("_sock", "The socket; None once the connection is lost.")
    _sock_fd = _core_attribute("_sock_fd", "The socket's fd number.")
    _protocol = _core_attribute("_protocol", "The protocol; None once the connection is lost.")
    _protocol_paused = _core_attribute("_protocol_paused", "Whether pause_writing() was called.")
    _closing = _core_attribute("_closing", "Whether close() or a fatal error began.")
    _conn_lost = _core_attribute("_conn_lost", "> 0 once connection_lost is scheduled.")
    _empty_waiter = _core_attribute("_empty_waiter", "The sendfile waiter, if any.")

    def __repr__(self):
        core = self._core
        info = [self.__class__.__name__]
        if core._sock is None:
            info.append("closed")
        elif core._closing:
            info.append("closing")
        info.append(f"fd={core._sock_fd}")
        loop = self._loop
        if loop is not None and not loop.is_closed():
            reading = loop._watches(core._sock_fd, False)
            writing = loop._watches(core._sock_fd, True)
            info.append(f"read={'polling' if reading else 'idle'}")
            info.append(f"write=<{'polling' if writing else 'idle'}, "
                        f"bufsize={core.get_write_buffer_size()}>")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn=warnings.warn):
        core = getattr(self, "_core", None)  # None if __init__ failed early
        if core is not None and core._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            core._sock.close()
            if self._server is not None:
                aio_private.server_detach(self._server, self)

    def _connection_lost(self):
        """Called by the core once connection_lost ran: let go of the loop
        and the server, as asyncio's transports do."""
        self._loop = None
        server = self._server
        if server is not None:
            self._server = None
            aio_private.server_detach(server, self)

    # -- the transport API, run by the core ------------------------------------

    def write(self, data):
        self._core.write(data)

    def writelines(self, list_of_data):
        self._core.writelines(list_of_data)

    def write_eof(self):
        self._core.write_eof()

    def can_write_eof(self):
        return True

    def close(self):
        self._core.close()

    def abort(self):
        self._core.abort()

    def is_closing(self):
        return self._core._closing

    def set_protocol(self, protocol):
        self._core.set_protocol(protocol)

    def get_protocol(self):
        return self._core._protocol

    def is_reading(self):
        return self._core.is_reading()

    def pause_reading(self):
        self._core.pause_reading()

    def resume_reading(self):
        self._core.resume_reading()

    def get_write_buffer_size(self):
        return self._core.get_write_buffer_size()

    def get_write_buffer_limits(self):
        return self._core.get_write_buffer_limits()

    def set_write_buffer_limits(self, high=None, low=None):
        self._core.set_write_buffer_limits(high, low)

    def _set_write_buffer_limits(self, high=None, low=None):
        self._core._set_write_buffer_limits(high, low)

    def _maybe_pause_protocol(self):
        self._core._maybe_pause_protocol()

    def _maybe_resume_protocol(self):
        self._core._maybe_resume_protocol()

    def _force_close(self, exc):
        self._core._force_close(exc)

    def _fatal_error(self, exc, message="Fatal error on transport"):
        self._core._fatal_error(exc, message)

    # -- loop.sendfile() support ----------------------------------------------

    def _make_empty_waiter(self):
        return self._core.make_empty_waiter()

    def _reset_empty_waiter(self):
        self._core.reset_empty_waiter()
