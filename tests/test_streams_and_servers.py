"""TCP and Unix stream transports, servers and streams (asyncio.open_connection
/ start_server): data integrity, protocols, flow control, faults."""

import asyncio
import os
import socket

import pytest

from support import ipv6_loopback_works

PAYLOAD = os.urandom(1 << 16) * 64  # 4 MiB


def _echo_handler(handlers):
    """An echo client_connected_cb that records its tasks in ``handlers``:
    3.11's server.wait_closed() does not wait for them, the tests do."""

    async def echo(reader, writer):
        handlers.append(asyncio.current_task())
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    return echo


async def _round_trip(reader, writer, payload):
    async def send():
        writer.write(payload)
        await writer.drain()
        writer.write_eof()

    sending = asyncio.ensure_future(send())
    received = await reader.read()
    await sending
    writer.close()
    await writer.wait_closed()
    return received


@pytest.mark.parametrize("host", [
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6")),
])
def test_tcp_streams_echo_every_byte_in_order(loop, host):
    async def main():
        handlers = []
        server = await asyncio.start_server(_echo_handler(handlers), host, 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection(host, port)
            received = await _round_trip(reader, writer, PAYLOAD)
            await asyncio.gather(*handlers)
            return received

    assert loop.run_until_complete(main()) == PAYLOAD


def test_unix_streams_echo_every_byte_in_order(loop, tmp_path):
    path = str(tmp_path / "echo.sock")

    async def main():
        handlers = []
        server = await asyncio.start_unix_server(_echo_handler(handlers), path)
        async with server:
            reader, writer = await asyncio.open_unix_connection(path)
            received = await _round_trip(reader, writer, PAYLOAD)
            await asyncio.gather(*handlers)
            return received

    assert loop.run_until_complete(main()) == PAYLOAD


def test_transport_is_an_asyncio_transport_with_its_extra_info(loop):
    async def main():
        handlers = []
        server = await asyncio.start_server(_echo_handler(handlers), "127.0.0.1", 0)
        async with server:
            address = server.sockets[0].getsockname()
            reader, writer = await asyncio.open_connection(*address)
            transport = writer.transport
            info = (isinstance(transport, asyncio.Transport),
                    transport.get_extra_info("peername") == address,
                    transport.get_extra_info("socket").fileno() > 0,
                    transport.get_extra_info("socket").getsockopt(
                        socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0,
                    transport.can_write_eof())
            writer.close()
            await writer.wait_closed()
            await asyncio.gather(*handlers)
            return info

    assert loop.run_until_complete(main()) == (True, True, True, True, True)


class _Collecting(asyncio.BufferedProtocol):
    def __init__(self, done):
        self.buffer = bytearray(1000)
        self.received = bytearray()
        self.done = done

    def get_buffer(self, sizehint):
        return self.buffer

    def buffer_updated(self, nbytes):
        self.received += self.buffer[:nbytes]

    def eof_received(self):
        self.done.set_result(bytes(self.received))


def test_buffered_protocol_receives_through_its_own_buffer(loop):
    async def main():
        handlers = []
        server = await asyncio.start_server(_echo_handler(handlers), "127.0.0.1", 0)
        async with server:
            done = loop.create_future()
            transport, _ = await loop.create_connection(
                lambda: _Collecting(done), *server.sockets[0].getsockname())
            transport.write(b"x" * 5000)
            transport.write_eof()
            received = await done
            transport.close()
            await asyncio.gather(*handlers)
            return received

    assert loop.run_until_complete(main()) == b"x" * 5000


class _KeepingChunks(asyncio.Protocol):
    """Keeps every object data_received is given, and counts the bytes."""

    def __init__(self):
        self.chunks = []
        self.size = 0
        self.arrived = None

    def data_received(self, data):
        self.chunks.append(data)
        self.size += len(data)
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(None)


# Large and small, so that compiled reads go both ways (handed out in the
# object they were read into, or, under 480 bytes, copied out of it: 479
# and 480 are the two sides), and one larger than a read (256 KiB), which
# can fill the object whole.
_MESSAGE_SIZES = (200_000, 100, 40_000, 20, 600_000, 70_000, 16_384, 5, 479, 480, 1024, 479)


def _distinct_messages():
    """One message per size, each of its own byte."""
    return [bytes([number + 1]) * size for number, size in enumerate(_MESSAGE_SIZES)]


def _tcp_pair_with_large_buffers():
    """A connected TCP pair (ours, peer) on 127.0.0.1 whose buffers hold a
    whole 600 KB message, so that one read can take 256 KiB (a Unix
    socketpair holds about 200 KiB)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        # Set before the handshake, so that the window may grow that large.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        peer = socket.socket()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        peer.connect(listener.getsockname())
        ours, _ = listener.accept()
    peer.settimeout(10)
    return ours, peer


def test_data_already_received_is_not_changed_by_later_reads(loop):
    messages = _distinct_messages()

    async def main():
        ours, peer = _tcp_pair_with_large_buffers()
        with peer:
            transport, protocol = await loop.connect_accepted_socket(_KeepingChunks, ours)
            expected = 0
            for message in messages:
                # One message at a time: each lands in reads of its own.
                await loop.run_in_executor(None, peer.sendall, message)
                expected += len(message)
                while protocol.size < expected:
                    protocol.arrived = loop.create_future()
                    await protocol.arrived
            transport.close()
        return protocol.chunks

    chunks = loop.run_until_complete(main())
    assert all(type(chunk) is bytes for chunk in chunks)
    assert b"".join(chunks) == b"".join(messages)


def test_sock_recv_results_are_not_changed_by_later_reads(loop):
    messages = _distinct_messages()

    async def main():
        ours, peer = _tcp_pair_with_large_buffers()
        with ours, peer:
            ours.setblocking(False)
            received = []
            for message in messages:
                # Sent while received: a message may be larger than the
                # socket's buffer.
                sent = loop.run_in_executor(None, peer.sendall, message)
                got = 0
                while got < len(message):
                    received.append(await loop.sock_recv(ours, 256 * 1024))
                    got += len(received[-1])
                await sent
            return received

    received = loop.run_until_complete(main())
    assert b"".join(received) == b"".join(messages)


class _Recording(asyncio.Protocol):
    def __init__(self):
        self.events = []
        self.lost = asyncio.get_event_loop().create_future()

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.lost.set_result(exc)


class _NeverReading(asyncio.Protocol):
    transports = []

    def connection_made(self, transport):
        transport.pause_reading()
        self.transports.append(transport)


def test_writing_to_a_peer_that_does_not_read_pauses_the_protocol_at_the_high_mark(loop):
    async def main():
        server = await loop.create_server(_NeverReading, "127.0.0.1", 0)
        async with server:
            transport, protocol = await loop.create_connection(
                _Recording, *server.sockets[0].getsockname())
            transport.set_write_buffer_limits(high=64 * 1024)
            chunk = b"y" * 65536
            # The peer never reads: the kernel's buffers fill up, then ours.
            # (Bounded: the kernel holds a few MiB at most.)
            for _ in range(1000):
                if "pause" in protocol.events:
                    break
                transport.write(chunk)
                await asyncio.sleep(0)
            size = transport.get_write_buffer_size()
            transport.abort()
            lost_with = await protocol.lost
            # It never reads, so it never notices: server.wait_closed()
            # would wait for it forever.
            while _NeverReading.transports:
                _NeverReading.transports.pop().close()
            return protocol.events, size, lost_with

    events, size, lost_with = loop.run_until_complete(main())
    assert events == ["pause"]
    assert size > 64 * 1024
    assert lost_with is None


def test_connecting_to_a_closed_port_raises_connection_refused(loop):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    with pytest.raises(ConnectionRefusedError):
        loop.run_until_complete(asyncio.open_connection("127.0.0.1", closed_port))


class _Failing(asyncio.Protocol):
    def data_received(self, data):
        raise LookupError("the protocol failed")


def test_a_protocol_that_raises_loses_its_connection_and_the_server_keeps_serving(loop):
    reports = []
    loop.set_exception_handler(lambda loop, context: reports.append(context["message"]))

    async def main():
        server = await loop.create_server(_Failing, "127.0.0.1", 0)
        async with server:
            address = server.sockets[0].getsockname()
            reader, writer = await asyncio.open_connection(*address)
            writer.write(b"boom")
            first = await reader.read()  # the server closed it
            writer.close()
            await writer.wait_closed()
            reader, writer = await asyncio.open_connection(*address)
            still_serving = writer.transport.get_extra_info("peername") == address
            writer.close()
            await writer.wait_closed()
            return first, still_serving

    assert loop.run_until_complete(main()) == (b"", True)
    assert reports == ["Fatal error: protocol.data_received() call failed."]


def test_closing_the_server_stops_accepting_and_releases_its_sockets(loop):
    async def main():
        server = await asyncio.start_server(_echo_handler([]), "127.0.0.1", 0)
        listener = server.sockets[0]
        address = listener.getsockname()
        server.close()
        await server.wait_closed()
        return server.is_serving(), listener.fileno(), address

    serving, fileno, address = loop.run_until_complete(main())
    assert (serving, fileno) == (False, -1)
    with pytest.raises(ConnectionRefusedError):
        loop.run_until_complete(asyncio.open_connection(*address))


class _Lossy(asyncio.Protocol):
    """Records connection_lost, which must come exactly once."""

    def __init__(self):
        self.lost = []
        self.done = asyncio.get_event_loop().create_future()

    def connection_lost(self, exc):
        self.lost.append(exc)
        self.done.set_result(None)


class _ResetOnConnect(asyncio.Protocol):
    def connection_made(self, transport):
        # SO_LINGER 0: closing sends RST, not FIN.
        transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        transport.abort()


def test_a_peer_reset_while_writing_loses_the_connection_once_with_the_error(loop):
    async def main():
        server = await loop.create_server(_ResetOnConnect, "127.0.0.1", 0)
        async with server:
            transport, protocol = await loop.create_connection(
                _Lossy, *server.sockets[0].getsockname())
            chunk = b"z" * 65536
            for _ in range(200):
                if protocol.lost:
                    break
                transport.write(chunk)
                await asyncio.sleep(0)
            await protocol.done
            transport.write(b"after the loss")  # ignored, not raised
            return protocol.lost

    lost = loop.run_until_complete(main())
    assert len(lost) == 1
    assert isinstance(lost[0], ConnectionError)


def test_writes_after_the_connection_is_lost_are_ignored_with_asyncios_warning(loop, caplog):
    async def main():
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        async with server:
            transport, protocol = await loop.create_connection(
                _Lossy, *server.sockets[0].getsockname())
            transport.abort()
            await protocol.done
            for _ in range(6):
                transport.write(b"into the void")
            return protocol.lost

    with caplog.at_level("WARNING", logger="asyncio"):
        lost = loop.run_until_complete(main())
    assert lost == [None]
    assert "socket.send() raised exception." in caplog.messages


class _HalfClosing(asyncio.Protocol):
    """Answers after the peer's EOF, on the half that is still open."""

    def connection_made(self, transport):
        self.transport = transport
        self.received = bytearray()

    def data_received(self, data):
        self.received += data

    def eof_received(self):
        self.transport.write(b"got " + bytes(self.received))
        self.transport.close()
        return True  # keep the write side open for the answer


def test_after_a_half_close_the_peer_can_still_answer(loop):
    async def main():
        server = await loop.create_server(_HalfClosing, "127.0.0.1", 0)
        async with server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            writer.write(b"question")
            writer.write_eof()
            answer = await reader.read()
            writer.close()
            await writer.wait_closed()
            return answer

    assert loop.run_until_complete(main()) == b"got question"


# fastloop_only: asyncio 3.12+ raises TypeError from writelines() after
# close(), and 3.11 leaves a writer on the closed fd; fastloop ignores the
# write, as write() does.
@pytest.mark.fastloop_only
def test_writelines_after_close_leaves_no_writer_behind(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        async with server:
            transport, protocol = await loop.create_connection(
                _Lossy, *server.sockets[0].getsockname())
            fd = transport.get_extra_info("socket").fileno()
            transport.close()
            transport.writelines([b"too", b"late"])  # ignored
            await protocol.done
            return fd, protocol.lost

    fd, lost = loop.run_until_complete(main())
    assert lost == [None]
    # The fd is closed and unwatched: a new socket reusing its number does
    # not wake the loop (asyncio 3.12+ raises TypeError here instead).
    assert not loop.remove_writer(fd)


# fastloop_only: asyncio 3.12+ buffers a reference to the caller's bytearray
# (mutating it changes what is sent, clearing it raises BufferError); 3.11
# and fastloop copy what they buffer.
@pytest.mark.fastloop_only
def test_the_caller_may_reuse_its_bytearray_once_write_returns(loop):
    async def main():
        server = await loop.create_server(_NeverReading, "127.0.0.1", 0)
        async with server:
            transport, protocol = await loop.create_connection(
                _Recording, *server.sockets[0].getsockname())
            chunk = bytearray(b"original" * 8192)
            while not transport.get_write_buffer_size():
                transport.write(chunk)  # until some of it stays buffered
                await asyncio.sleep(0)
            chunk[:] = b"MUTATED!" * 8192
            chunk.clear()  # no export of it is kept either
            reader_transport = _NeverReading.transports.pop()
            reader_transport.resume_reading()
            transport.abort()
            reader_transport.close()
            return len(chunk)

    assert loop.run_until_complete(main()) == 0


def _received_after(loop, write):
    """The bytes a peer receives when ``write(transport)`` runs in one
    callback, followed by write_eof()."""

    async def main():
        ours, theirs = socket.socketpair()
        with theirs:
            theirs.setblocking(False)
            transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
            write(transport)
            transport.write_eof()
            received = bytearray()
            while chunk := await loop.sock_recv(theirs, 1 << 16):
                received += chunk
            transport.close()
            return bytes(received)

    return loop.run_until_complete(main())


# fastloop keeps a view of bytes without copying them until the iteration's
# batch is sent: its own view, which the caller's release() does not end.
def test_views_released_right_after_write_are_still_sent(loop):
    data = b"header" + PAYLOAD[:1024]  # under the high-water mark: batched

    def write(transport):
        with memoryview(data) as view:
            header, body = view[:6], view[6:]
            transport.write(header)
            transport.writelines([body[:10], body[10:]])
            header.release()
            body.release()

    assert _received_after(loop, write) == data


@pytest.mark.parametrize("size", [16, 4096])  # copied, and kept through a view
@pytest.mark.parametrize("method", ["write", "writelines"])
def test_released_view_is_refused_with_value_error(loop, method, size):
    def write(transport):
        view = memoryview(bytes(range(256)) * (size // 256 + 1))[:size]
        view.release()
        # 3.11's asyncio joins writelines()' items: bytes.join() raises
        # TypeError for the released view; every other case ValueError.
        with pytest.raises((ValueError, TypeError), match="released memoryview|memoryview found"):
            if method == "write":
                transport.write(view)
            else:
                transport.writelines([b"queued first", view])
        transport.write(b"still usable")

    assert _received_after(loop, write) == b"still usable"


def test_views_of_a_buffer_mutated_after_write_send_what_it_held_at_write(loop):
    chunk = bytearray(b"original")

    def write(transport):
        transport.write(memoryview(chunk).toreadonly())  # read-only, yet mutable
        transport.write(memoryview(chunk)[4:])
        chunk[:] = b"MUTATED!"

    assert _received_after(loop, write) == b"original" + b"inal"


def test_views_whose_items_are_wider_than_a_byte_send_all_their_bytes(loop):
    data = b"abcdefgh"

    def write(transport):
        transport.write(memoryview(data).cast("I"))  # two items, eight bytes
        transport.writelines([memoryview(data).cast("H")])

    assert _received_after(loop, write) == data * 2


# fastloop_only: until the TLS issue lands, ssl= is refused up front.
@pytest.mark.fastloop_only
@pytest.mark.parametrize("opener", ["create_connection", "create_server"])
def test_tls_is_refused_before_any_socket_is_made(loop, opener):
    import ssl
    context = ssl.create_default_context()
    if opener == "create_server":
        call = loop.create_server(asyncio.Protocol, "127.0.0.1", 0, ssl=context)
    else:
        call = loop.create_connection(asyncio.Protocol, "127.0.0.1", 9, ssl=context)
    with pytest.raises(NotImplementedError):
        loop.run_until_complete(call)


# fastloop_only: as above. asyncio closes a socket handed to
# create_connection(sock=..., ssl=...) when the TLS connection fails; the
# refusal is such a failure, and the caller no longer owns the socket.
@pytest.mark.fastloop_only
@pytest.mark.parametrize("opener, positional", [("create_connection", False),
                                                ("connect_accepted_socket", False),
                                                ("connect_accepted_socket", True),
                                                ("create_server", False)])
def test_tls_refusal_closes_the_socket_handed_over(loop, opener, positional):
    import ssl
    context = ssl.create_default_context()
    if opener == "create_server":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sock = socket.socket()
    if positional:
        call = getattr(loop, opener)(asyncio.Protocol, sock, ssl=context)
    else:
        call = getattr(loop, opener)(asyncio.Protocol, sock=sock, ssl=context)
    with pytest.raises(NotImplementedError):
        loop.run_until_complete(call)
    assert sock.fileno() == -1
