"""The contexts a stream transport runs its protocol's callbacks in.

asyncio watches a transport's socket with add_reader, whose handle copies the
context current when reading starts: data_received runs in that copy,
every time in the same one. So a context variable set before the connection
is seen there, one set in data_received is seen by the next call, and
neither leaks into the code that made the connection. fastloop's compiled
build runs these reads through its own handle type (ConnectionHandle); this
file holds it to asyncio's behaviour.
"""

import asyncio
import contextvars
import gc
import socket

import pytest

from support import accepted_transport, receive_exactly

request = contextvars.ContextVar("request", default=None)


class _Recorder(asyncio.Protocol):
    """Records ``request`` as each callback sees it, and sets it in each."""

    def __init__(self):
        loop = asyncio.get_event_loop()
        self.seen = []
        self.chunk = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.seen.append(("made", request.get()))
        request.set("set in connection_made")

    def data_received(self, data):
        self.seen.append((data, request.get()))
        request.set(f"set after {data!r}")
        if not self.chunk.done():
            self.chunk.set_result(data)

    def eof_received(self):
        self.seen.append(("eof", request.get()))

    def connection_lost(self, exc):
        self.lost.set_result(exc)


async def _in_loop(function):
    return function()


def _await_chunk(loop, protocol):
    data = loop.run_until_complete(asyncio.wait_for(protocol.chunk, 10))
    protocol.chunk = loop.create_future()
    return data


def test_data_received_runs_in_one_copy_of_the_context_reading_started_in(loop):
    ours, peer = socket.socketpair()
    with peer:
        peer.settimeout(10)

        async def connect():
            request.set("set by the caller")
            transport, protocol = await loop.connect_accepted_socket(_Recorder, ours)
            return transport, protocol, request.get()

        transport, protocol, caller_sees = loop.run_until_complete(connect())
        peer.sendall(b"one")
        assert _await_chunk(loop, protocol) == b"one"
        peer.sendall(b"two")
        assert _await_chunk(loop, protocol) == b"two"
        peer.shutdown(socket.SHUT_WR)
        loop.run_until_complete(asyncio.wait_for(protocol.lost, 10))

    assert caller_sees == "set by the caller"
    assert protocol.seen == [
        ("made", "set by the caller"),
        # connection_made ran in a copy of its own: its value is not here.
        (b"one", "set by the caller"),
        (b"two", "set after b'one'"),
        ("eof", "set after b'two'"),
    ]
    assert request.get() is None


def test_a_protocol_swapped_in_reads_in_the_same_context(loop):
    transport, first, peer = accepted_transport(loop, _Recorder)
    with peer:
        peer.sendall(b"one")
        assert _await_chunk(loop, first) == b"one"
        second = loop.run_until_complete(_in_loop(_Recorder))
        transport.set_protocol(second)
        peer.sendall(b"two")
        assert _await_chunk(loop, second) == b"two"
        transport.close()
        loop.run_until_complete(asyncio.wait_for(second.lost, 10))

    assert second.seen == [(b"two", "set after b'one'")]


def test_reading_paused_and_resumed_reads_in_the_context_of_the_resume(loop):
    transport, protocol, peer = accepted_transport(loop, _Recorder)
    with peer:
        peer.sendall(b"one")
        assert _await_chunk(loop, protocol) == b"one"
        transport.pause_reading()

        async def resume():
            request.set("set by the resumer")
            transport.resume_reading()

        loop.run_until_complete(resume())
        peer.sendall(b"two")
        assert _await_chunk(loop, protocol) == b"two"
        transport.close()
        loop.run_until_complete(asyncio.wait_for(protocol.lost, 10))

    # resume_reading watches the socket anew: a new handle, which copies
    # the context current then.
    assert protocol.seen[-1] == (b"two", "set by the resumer")


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_raised_in_data_received_stops_the_loop_and_reading_goes_on(
        loop, interrupt):
    class Interrupting(_Recorder):
        def data_received(self, data):
            super().data_received(data)
            if data == b"stop":
                raise interrupt()

    transport, protocol, peer = accepted_transport(loop, Interrupting)
    with peer:
        peer.sendall(b"stop")
        with pytest.raises(interrupt):
            loop.run_until_complete(asyncio.wait_for(protocol.chunk, 10))
        # The read left the handle's context: the next read enters it again.
        protocol.chunk = loop.create_future()
        peer.sendall(b"more")
        assert _await_chunk(loop, protocol) == b"more"
        transport.write(b"still open")
        assert receive_exactly(peer, 10) == b"still open"
        transport.close()
        loop.run_until_complete(asyncio.wait_for(protocol.lost, 10))

    assert protocol.seen[1:] == [(b"stop", None), (b"more", "set after b'stop'")]
    assert request.get() is None


@pytest.mark.fastloop_only
def test_a_cancelled_reader_handle_run_by_hand_reports_an_error_not_a_crash(
        loop, fastloop_package):
    # The compiled handle calls its connection directly; cancelled, it has
    # none, and runs as any cancelled handle does: its callback is None.
    transport, protocol, peer = accepted_transport(loop, _Recorder)
    with peer:
        read_ready = transport._core._read_ready
        [reader] = [handle for handle in gc.get_objects()
                    if isinstance(handle, fastloop_package._handles.Handle)
                    and handle._callback == read_ready]
        transport.pause_reading()
        assert reader.cancelled()
        reported = []
        loop.set_exception_handler(lambda loop, context: reported.append(context))

        reader._run()

        assert [type(context["exception"]) for context in reported] == [TypeError]
        assert reported[0]["handle"] is reader
        transport.close()
        loop.run_until_complete(asyncio.wait_for(protocol.lost, 10))
