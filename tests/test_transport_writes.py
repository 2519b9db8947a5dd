"""The stream transport's write path: what reaches the peer, and when.

fastloop batches a connection's writes per loop iteration; asyncio sends each
at once. Whatever the timing, the peer must see the same bytes, and the
cases where asyncio's immediate send is observable (writing while the loop
is not running, writing then aborting) must look the same on both.
"""

import asyncio
import errno
import io
import os
import resource
import socket
import sys

import pytest

from support import accepted_transport, receive_exactly, run_once


class _Peer(asyncio.Protocol):
    def __init__(self):
        loop = asyncio.get_event_loop()
        self.lost = loop.create_future()
        self.received = bytearray()

    def data_received(self, data):
        self.received += data

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def test_writes_within_one_callback_arrive_whole_and_in_order(loop):
    transport, protocol, peer = accepted_transport(loop, _Peer)
    with peer:
        def respond():
            transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
            transport.write(bytearray(b"body "))
            transport.writelines([b"and ", memoryview(b"more")])

        loop.call_soon(respond)
        run_once(loop)
        assert receive_exactly(peer, 32) == b"HTTP/1.1 200 OK\r\n\r\nbody and more"
        transport.close()
        loop.run_until_complete(protocol.lost)


@pytest.mark.parametrize("pieces", [3, 65, 700])
def test_a_write_buffer_that_emptied_serves_the_next_writes(loop, pieces):
    # Three rounds of many writes in one callback each: fastloop's buffer
    # holds them all (700 pieces, about 600 KB, outgrow what the kernel takes
    # at once, so the rest waits for the peer), empties, and serves the next
    # round with the array it kept.
    transport, protocol, peer = accepted_transport(loop, _Peer)
    with peer:
        for round_number in range(3):
            chunks = [bytes([(round_number * 31 + index) % 256]) * (1 + index * 7 % 1700)
                      for index in range(pieces)]
            expected = b"".join(chunks)

            def respond(chunks=chunks):
                for chunk in chunks:
                    transport.write(chunk)

            loop.call_soon(respond)
            received = loop.run_until_complete(
                loop.run_in_executor(None, receive_exactly, peer, len(expected)))
            assert received == expected
            assert transport.get_write_buffer_size() == 0
        transport.close()
        loop.run_until_complete(protocol.lost)


def _reference_counts(objects):
    return [sys.getrefcount(item) for item in objects]


def test_pieces_sent_are_let_go_of(loop):
    transport, protocol, peer = accepted_transport(loop, _Peer)
    with peer:
        chunks = [bytes([index]) * (100 + index) for index in range(80)]
        before = _reference_counts(chunks)

        def respond():
            for chunk in chunks:
                transport.write(chunk)

        loop.call_soon(respond)
        expected = sum(map(len, chunks))
        received = loop.run_until_complete(
            loop.run_in_executor(None, receive_exactly, peer, expected))
        assert received == b"".join(chunks)
        transport.close()
        loop.run_until_complete(protocol.lost)
        assert _reference_counts(chunks) == before


def test_pieces_an_abort_drops_are_let_go_of(loop):
    # The peer's side is full before the transport exists, so the pieces
    # written before the abort cannot leave: the transport drops all 100
    # (more than a connection's emptied buffer keeps slots for).
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    with peer:
        while True:
            try:
                ours.send(b"f" * 65536)
            except BlockingIOError:
                break
        transport, protocol = loop.run_until_complete(
            loop.connect_accepted_socket(_Peer, ours))
        chunks = [bytes([index]) * (100 + index) for index in range(100)]
        before = _reference_counts(chunks)

        def respond():
            for chunk in chunks:
                transport.write(chunk)
            transport.abort()

        loop.call_soon(respond)
        loop.run_until_complete(protocol.lost)
        assert _reference_counts(chunks) == before


@pytest.mark.fastloop_only
def test_writes_leave_once_the_iterations_callbacks_are_done(loop):
    transport, protocol, peer = accepted_transport(loop, _Peer)
    with peer:
        sizes = []

        def respond():
            transport.write(b"head")
            transport.write(b"body")
            sizes.append(transport.get_write_buffer_size())

        loop.call_soon(respond)
        run_once(loop)
        # Queued during the callback, sent (in one piece) after it.
        assert sizes == [8]
        assert transport.get_write_buffer_size() == 0
        assert receive_exactly(peer, 8) == b"headbody"
        transport.close()
        loop.run_until_complete(protocol.lost)


@pytest.mark.fastloop_only
def test_a_write_past_the_high_water_mark_is_sent_at_once(loop):
    transport, protocol, peer = accepted_transport(loop, _Peer)
    with peer:
        payload = os.urandom(200 * 1024)
        sizes = []

        def respond():
            transport.write(payload)
            sizes.append(transport.get_write_buffer_size())

        loop.call_soon(respond)
        run_once(loop)
        # The kernel took what it could before the callback returned.
        assert sizes[0] < len(payload)
        received = receive_exactly(peer, len(payload))
        assert received[:1024] == payload[:1024]
        transport.close()
        while len(received) < len(payload):
            loop.run_until_complete(asyncio.sleep(0))
            received += receive_exactly(peer, len(payload) - len(received))
        assert received == payload
        loop.run_until_complete(protocol.lost)


def test_a_write_while_the_loop_is_not_running_is_sent_at_once(loop):
    transport, protocol, peer = accepted_transport(loop, _Peer)
    with peer:
        transport.write(b"no loop needed")
        assert receive_exactly(peer, 14) == b"no loop needed"
        transport.close()
        loop.run_until_complete(protocol.lost)


def test_what_was_written_before_an_abort_still_reaches_the_peer(loop):
    transport, protocol, peer = accepted_transport(loop, _Peer)
    with peer:
        def answer_and_abort():
            transport.write(b"last words")
            transport.abort()

        loop.call_soon(answer_and_abort)
        assert loop.run_until_complete(protocol.lost) is None
        assert receive_exactly(peer, 64) == b"last words"


def test_close_after_writes_sends_everything_then_loses_the_connection(loop):
    transport, protocol, peer = accepted_transport(loop, _Peer)
    with peer:
        payload = os.urandom(3 << 20)

        def write_and_close():
            for start in range(0, len(payload), 100_000):
                transport.write(payload[start:start + 100_000])
            transport.close()

        loop.call_soon(write_and_close)

        async def drain_peer():
            received = bytearray()
            peer.setblocking(False)
            while chunk := await loop.sock_recv(peer, 1 << 16):
                received += chunk
            return bytes(received)

        received = loop.run_until_complete(drain_peer())
        assert loop.run_until_complete(protocol.lost) is None
        assert received == payload


def test_write_eof_after_a_write_in_the_same_callback_keeps_the_write(loop):
    transport, protocol, peer = accepted_transport(loop, _Peer)
    with peer:
        def write_then_eof():
            transport.write(b"all of it")
            transport.write_eof()

        loop.call_soon(write_then_eof)
        run_once(loop)
        assert receive_exactly(peer, 64) == b"all of it"
        assert peer.recv(1) == b""  # then EOF
        transport.close()
        loop.run_until_complete(protocol.lost)


def test_a_socket_closed_under_the_transport_fails_its_next_write_with_ebadf(loop):
    ours, peer = socket.socketpair()
    with peer:
        transport, protocol = loop.run_until_complete(
            loop.connect_accepted_socket(_Peer, ours))
        # The loop still watches the fd: take it out of the kernel's hands
        # the way user code would, by closing the socket object.
        loop.call_soon(ours.close)
        run_once(loop)
        loop.call_soon(transport.write, b"into a closed fd")
        lost_with = loop.run_until_complete(protocol.lost)
        assert isinstance(lost_with, OSError)
        assert lost_with.errno == errno.EBADF
        assert transport.is_closing()


def test_a_server_out_of_fds_reports_it_and_accepts_once_fds_are_free(loop):
    reports = []
    loop.set_exception_handler(lambda loop, context: reports.append(context))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    async def main():
        accepted = loop.create_future()

        class Accepted(asyncio.Protocol):
            def connection_made(self, transport):
                accepted.set_result(transport)

        server = await loop.create_server(Accepted, "127.0.0.1", 0)
        async with server:
            client = socket.socket()
            client.setblocking(False)
            fillers = []
            try:
                # Use up every fd number below a lowered limit, so that
                # accept() fails with EMFILE.
                resource.setrlimit(resource.RLIMIT_NOFILE,
                                   (max(fd_count() + 16, 64), hard))
                try:
                    while True:
                        fillers.append(os.open(os.devnull, os.O_RDONLY))
                except OSError as exc:
                    assert exc.errno == errno.EMFILE
                await loop.sock_connect(client, server.sockets[0].getsockname())
                while not reports:
                    await asyncio.sleep(0)
            finally:
                for fd in fillers:
                    os.close(fd)
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            # asyncio retries a second later: move the loop's clock on.
            real_time = loop.time
            loop.time = lambda: real_time() + 2.0
            transport = await asyncio.wait_for(accepted, 10)
            del loop.time
            transport.close()
            client.close()
            return reports

    try:
        loop.run_until_complete(main())
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert reports[0]["message"] == "socket.accept() out of system resource"
    assert reports[0]["exception"].errno == errno.EMFILE


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def test_sendfile_of_a_file_without_fd_falls_back_to_writes(loop):
    # io.BytesIO has no fileno(): no zero-copy path, so loop.sendfile goes
    # through asyncio's fallback, which drives the transport's flow control.
    transport, protocol, peer = accepted_transport(loop, _Peer)
    with peer:
        payload = os.urandom(1 << 20)

        async def send_and_drain():
            peer.setblocking(False)
            receiving = asyncio.ensure_future(_sock_receive(loop, peer, len(payload)))
            sent = await loop.sendfile(transport, io.BytesIO(payload))
            return sent, await receiving

        sent, received = loop.run_until_complete(send_and_drain())
        assert sent == len(payload)
        assert received == payload
        transport.close()
        loop.run_until_complete(protocol.lost)


async def _sock_receive(loop, sock, size):
    data = bytearray()
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


# -- found by review: the batch must not change what asyncio users observe --

def test_close_after_a_write_loses_the_connection_after_the_callbacks_it_woke(loop):
    # asyncio sent "bye" at once, so close() found the buffer empty and
    # scheduled connection_lost behind the waiter the callback had woken.
    order = []

    class Recording(_Peer):
        def connection_lost(self, exc):
            order.append("connection_lost")
            super().connection_lost(exc)

    ours, peer = socket.socketpair()
    with peer:
        async def main():
            transport, protocol = await loop.connect_accepted_socket(Recording, ours)
            done = loop.create_future()

            async def waiter():
                await done
                order.append("waiter resumed")

            waiting = loop.create_task(waiter())
            await asyncio.sleep(0)
            done.set_result(None)
            transport.write(b"bye")
            transport.close()
            await waiting
            await protocol.lost

        loop.run_until_complete(main())
        assert order == ["waiter resumed", "connection_lost"]
        assert receive_exactly(peer, 3) == b"bye"


def test_a_protocol_raising_in_connection_lost_after_write_and_close_is_reported(loop):
    reports = []
    loop.set_exception_handler(lambda loop, context: reports.append(context["exception"]))
    lost = loop.create_future()

    class Failing(asyncio.Protocol):
        def connection_made(self, transport):
            transport.write(b"bye")
            transport.close()

        def connection_lost(self, exc):
            lost.set_result(None)
            raise LookupError("connection_lost failed")

    ours, peer = socket.socketpair()
    with peer:
        loop.run_until_complete(loop.connect_accepted_socket(Failing, ours))
        loop.run_until_complete(lost)
        run_once(loop)
        assert receive_exactly(peer, 3) == b"bye"
    assert [type(exc) for exc in reports] == [LookupError]


def test_new_limits_after_a_write_do_not_pause_for_bytes_already_written(loop):
    events = []

    class Recording(_Peer):
        def pause_writing(self):
            events.append("pause")

        def resume_writing(self):
            events.append("resume")

    ours, peer = socket.socketpair()
    with peer:
        transport, protocol = loop.run_until_complete(
            loop.connect_accepted_socket(Recording, ours))

        def write_then_limit():
            transport.write(b"hello")
            transport.set_write_buffer_limits(high=0)

        loop.call_soon(write_then_limit)
        run_once(loop)
        assert receive_exactly(peer, 5) == b"hello"
        assert events == []
        transport.close()
        loop.run_until_complete(protocol.lost)


def test_sendfile_right_after_a_write_sends_the_write_first(loop, tmp_path):
    path = tmp_path / "body"
    path.write_bytes(b"F" * 1000)
    ours, peer = socket.socketpair()
    with peer, open(path, "rb") as file:
        transport, protocol = loop.run_until_complete(
            loop.connect_accepted_socket(_Peer, ours))

        async def send():
            transport.write(b"header")
            await loop.sendfile(transport, file)

        loop.run_until_complete(send())
        assert receive_exactly(peer, 1006) == b"header" + b"F" * 1000
        transport.close()
        loop.run_until_complete(protocol.lost)


def test_sock_recv_on_a_socket_with_a_timeout_times_out_as_the_socket_does(loop):
    # Outside debug mode asyncio calls sock.recv() on such a socket, which
    # waits for the socket's own timeout: the compiled build must not read
    # the fd directly (it would never time out). Debug mode (python -X dev
    # turns it on) refuses such a socket instead: it is kept off here.
    loop.set_debug(False)
    ours, peer = socket.socketpair()
    with ours, peer:
        ours.settimeout(0.05)
        # The socket's error says "timed out"; wait_for's bound says nothing.
        with pytest.raises(TimeoutError, match="timed out"):
            loop.run_until_complete(asyncio.wait_for(loop.sock_recv(ours, 10), 10))


def test_sock_recv_into_a_read_only_buffer_raises_the_sockets_type_error(loop):
    ours, peer = socket.socketpair()
    with ours, peer:
        ours.setblocking(False)
        peer.send(b"x")
        with pytest.raises(TypeError, match="read-write"):
            loop.run_until_complete(loop.sock_recv_into(ours, b"read-only"))
