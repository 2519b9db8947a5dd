"""loop.sock_* : the low-level socket API, on TCP (IPv4, IPv6), Unix and UDP
sockets, with cancellation and the errors asyncio raises."""

import asyncio
import gc
import os
import socket
import ssl

import pytest

from support import ipv6_loopback_works

PAYLOAD = os.urandom(1 << 16) * 128  # 8 MiB: far more than a socket buffer


STREAM_FAMILIES = [
    pytest.param((socket.AF_INET, ("127.0.0.1", 0)), id="ipv4"),
    pytest.param((socket.AF_INET6, ("::1", 0)), id="ipv6",
                 marks=pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback")),
    pytest.param((socket.AF_UNIX, None), id="unix"),
]


def _listener(family, address, tmp_path):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.bind(str(tmp_path / "server.sock") if family == socket.AF_UNIX else address)
    sock.listen()
    return sock


async def _connected_pair(loop, family, address, tmp_path):
    listener = _listener(family, address, tmp_path)
    client = socket.socket(family, socket.SOCK_STREAM)
    client.setblocking(False)
    try:
        accepting = asyncio.ensure_future(loop.sock_accept(listener))
        await loop.sock_connect(client, listener.getsockname())
        server, _ = await accepting
    except BaseException:
        client.close()
        raise
    finally:
        listener.close()
    return client, server


@pytest.mark.parametrize("family_address", STREAM_FAMILIES)
def test_sock_sendall_delivers_every_byte_in_order(loop, family_address, tmp_path):
    family, address = family_address

    async def main():
        client, server = await _connected_pair(loop, family, address, tmp_path)
        with client, server:
            sending = asyncio.ensure_future(loop.sock_sendall(client, PAYLOAD))
            received = bytearray()
            while len(received) < len(PAYLOAD):
                chunk = await loop.sock_recv(server, 1 << 16)
                assert chunk, "peer closed early"
                received += chunk
            assert await sending is None
            return bytes(received)

    assert loop.run_until_complete(main()) == PAYLOAD


def test_sock_accept_returns_a_non_blocking_socket_and_the_peer_address(loop, tmp_path):
    async def main():
        listener = _listener(socket.AF_INET, ("127.0.0.1", 0), tmp_path)
        client = socket.socket()
        client.setblocking(False)
        with listener, client:
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
            await loop.sock_connect(client, listener.getsockname())
            server, peer = await accepting
            with server:
                return server.gettimeout(), peer, client.getsockname()

    timeout, peer, client_address = loop.run_until_complete(main())
    assert timeout == 0
    assert peer == client_address


def test_sock_recv_into_fills_the_buffer_and_returns_the_count(loop, tmp_path):
    async def main():
        client, server = await _connected_pair(loop, socket.AF_INET, ("127.0.0.1", 0), tmp_path)
        with client, server:
            buffer = bytearray(16)
            receiving = asyncio.ensure_future(loop.sock_recv_into(server, buffer))
            await loop.sock_sendall(client, b"hello")
            count = await receiving
            return count, bytes(buffer[:count])

    assert loop.run_until_complete(main()) == (5, b"hello")


def test_sock_recv_returns_empty_bytes_when_the_peer_closes(loop, tmp_path):
    async def main():
        client, server = await _connected_pair(loop, socket.AF_INET, ("127.0.0.1", 0), tmp_path)
        with server:
            receiving = asyncio.ensure_future(loop.sock_recv(server, 100))
            client.close()
            return await receiving

    assert loop.run_until_complete(main()) == b""


def test_cancelled_sock_recv_unwatches_the_socket_and_leaves_it_usable(loop, tmp_path):
    async def main():
        client, server = await _connected_pair(loop, socket.AF_INET, ("127.0.0.1", 0), tmp_path)
        with client, server:
            receiving = asyncio.ensure_future(loop.sock_recv(server, 100))
            await asyncio.sleep(0)
            receiving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await receiving
            watched = loop.remove_reader(server.fileno())
            await loop.sock_sendall(client, b"still works")
            return watched, await loop.sock_recv(server, 100)

    assert loop.run_until_complete(main()) == (False, b"still works")


def test_udp_sock_sendto_and_sock_recvfrom_carry_the_datagram_and_its_source(loop):
    async def main():
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with receiver, sender:
            for sock in (receiver, sender):
                sock.setblocking(False)
                sock.bind(("127.0.0.1", 0))
            receiving = asyncio.ensure_future(loop.sock_recvfrom(receiver, 100))
            sent = await loop.sock_sendto(sender, b"datagram", receiver.getsockname())
            data, source = await receiving
            buffer = bytearray(100)
            receiving_into = asyncio.ensure_future(loop.sock_recvfrom_into(receiver, buffer))
            await loop.sock_sendto(sender, b"again", receiver.getsockname())
            count, _ = await receiving_into
            return sent, data, source == sender.getsockname(), bytes(buffer[:count])

    assert loop.run_until_complete(main()) == (8, b"datagram", True, b"again")


def test_sock_connect_to_a_closed_port_raises_connection_refused(loop):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_address = probe.getsockname()

    async def main():
        with socket.socket() as client:
            client.setblocking(False)
            await loop.sock_connect(client, closed_address)

    with pytest.raises(ConnectionRefusedError):
        loop.run_until_complete(main())


@pytest.mark.parametrize("connect", ["sock_connect", "create_connection"])
def test_a_failed_connect_leaves_its_error_in_no_cycle_with_a_future(loop, connect):
    # The error's traceback keeps the frames it went through: holding the
    # future that carried it, they would make a cycle (which anyio's happy
    # eyeballs tests look for). asyncio's frames let go of their futures.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))  # bound, not listening: refused
        address = bound.getsockname()

        async def attempt():
            try:
                if connect == "sock_connect":
                    with socket.socket() as client:
                        client.setblocking(False)
                        await loop.sock_connect(client, address)
                else:
                    await loop.create_connection(asyncio.Protocol, *address)
            except ConnectionRefusedError as error:
                return error

        async def main():
            # In a task of its own, gone (with the handle that woke it) by
            # the time the error is looked at.
            error = await asyncio.ensure_future(attempt())
            await asyncio.sleep(0)
            return type(error), [referrer for referrer in gc.get_referrers(error)
                                 if isinstance(referrer, asyncio.Future)]

        gc.disable()  # a collection could break the cycle before it is looked for
        try:
            error_type, futures_holding_it = loop.run_until_complete(main())
        finally:
            gc.enable()

    assert error_type is ConnectionRefusedError
    assert futures_holding_it == []


def test_sock_connect_resolves_a_host_name(loop, tmp_path):
    async def main():
        listener = _listener(socket.AF_INET, ("127.0.0.1", 0), tmp_path)
        client = socket.socket()
        client.setblocking(False)
        with listener, client:
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
            await loop.sock_connect(client, ("localhost", listener.getsockname()[1]))
            server, _ = await accepting
            server.close()
            return client.getpeername()

    assert loop.run_until_complete(main())[0] == "127.0.0.1"


def test_debug_mode_refuses_a_blocking_socket(loop):
    loop.set_debug(True)

    async def main():
        with socket.socket() as blocking:
            await loop.sock_recv(blocking, 10)

    with pytest.raises(ValueError, match="the socket must be non-blocking"):
        loop.run_until_complete(main())


def test_an_ssl_socket_is_refused(loop):
    context = ssl.create_default_context()

    async def main():
        with context.wrap_socket(socket.socket(), server_hostname="localhost",
                                 do_handshake_on_connect=False) as tls:
            await loop.sock_recv(tls, 10)

    with pytest.raises(TypeError, match="Socket cannot be of type SSLSocket"):
        loop.run_until_complete(main())


def test_getaddrinfo_and_getnameinfo_answer_as_the_socket_module_does(loop):
    async def main():
        return (await loop.getaddrinfo("127.0.0.1", 8080, type=socket.SOCK_STREAM),
                await loop.getnameinfo(("127.0.0.1", 8080), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV))

    addrinfo, nameinfo = loop.run_until_complete(main())
    assert addrinfo == socket.getaddrinfo("127.0.0.1", 8080, type=socket.SOCK_STREAM)
    assert nameinfo == ("127.0.0.1", "8080")


def test_a_retried_operation_calls_the_sockets_method_as_it_is_at_that_time(loop):
    # asyncio looks sock.sendto up at each try: a method replaced on the
    # socket object between two tries is the one the retry calls.
    from unittest import mock

    async def main():
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with receiver, sender:
            for sock in (receiver, sender):
                sock.setblocking(False)
                sock.bind(("127.0.0.1", 0))
            wrapped = mock.Mock(sender)
            wrapped.gettimeout = sender.gettimeout
            wrapped.fileno = sender.fileno
            wrapped.sendto.configure_mock(side_effect=BlockingIOError)
            loop.call_soon(setattr, wrapped, "sendto", sender.sendto)
            await loop.sock_sendto(wrapped, b"late", receiver.getsockname())
            return await loop.sock_recvfrom(receiver, 100)

    data, _ = loop.run_until_complete(main())
    assert data == b"late"


@pytest.mark.parametrize("fallback_only", [False, True], ids=["os.sendfile", "fallback"])
def test_sock_sendfile_sends_the_file_from_the_offset(loop, tmp_path, fallback_only):
    path = tmp_path / "payload"
    path.write_bytes(PAYLOAD)
    offset = 1000

    async def main():
        client, server = await _connected_pair(loop, socket.AF_INET, ("127.0.0.1", 0), tmp_path)
        with client, server, open(path, "rb") as file:
            if fallback_only:
                # No fileno(): os.sendfile() cannot serve, the fallback must.
                file = __import__("io").BytesIO(PAYLOAD)
            sending = asyncio.ensure_future(loop.sock_sendfile(client, file, offset))
            received = bytearray()
            while len(received) < len(PAYLOAD) - offset:
                chunk = await loop.sock_recv(server, 1 << 16)
                assert chunk
                received += chunk
            sent = await sending
            return sent, bytes(received), file.tell()

    sent, received, position = loop.run_until_complete(main())
    assert sent == len(PAYLOAD) - offset
    assert received == PAYLOAD[offset:]
    assert position == len(PAYLOAD)


def test_sock_sendfile_refuses_a_text_file(loop, tmp_path):
    path = tmp_path / "text"
    path.write_text("text")

    async def main():
        with socket.socket() as sock, open(path) as text:
            sock.setblocking(False)
            await loop.sock_sendfile(sock, text)

    with pytest.raises(ValueError, match="binary mode"):
        loop.run_until_complete(main())
