"""getaddrinfo's numeric-host fast path answers exactly as socket.getaddrinfo
does, for every combination it takes; everything else goes to libc."""

import asyncio
import itertools
import socket

import pytest

from fastloop._dns import numeric_addrinfo

HOSTS = ["127.0.0.1", "0.0.0.0", "255.255.255.255", "10.1.2.3", "::1", "::", "fe80::1",
         "2001:db8::8", "::ffff:1.2.3.4", "fe80::1%lo", "fe80::1%1", "::1%lo",
         "fe80::1%nosuchif", "127.000.0.1", "127.1", "0:0::1", "FE80::1", "localhost",
         "", None, b"127.0.0.1", "1.2.3.4 ", "1.2.3", "127.0.0.1\x00", "fe80::1%lo\x00x"]
PORTS = [None, 0, 80, 65535, 65536, -1, "80", "080", "0", "", "http", "99999", b"80", "+80"]
FAMILIES = [0, socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, 2.0]
TYPES = [0, socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET]
PROTOS = [0, socket.IPPROTO_TCP, socket.IPPROTO_UDP, socket.IPPROTO_SCTP]
FLAGS = [0, socket.AI_NUMERICHOST, socket.AI_NUMERICSERV, socket.AI_PASSIVE, socket.AI_CANONNAME,
         socket.AI_ADDRCONFIG, socket.AI_V4MAPPED, socket.AI_NUMERICHOST | socket.AI_CANONNAME]


def _libc(*query):
    try:
        return socket.getaddrinfo(*query)
    except (OSError, UnicodeError, TypeError, OverflowError, ValueError) as exc:
        return type(exc)


@pytest.mark.fastloop_only
def test_every_fast_answer_equals_socket_getaddrinfos():
    answered = 0
    for query in itertools.product(HOSTS, PORTS, FAMILIES, TYPES, PROTOS, FLAGS):
        fast = numeric_addrinfo(*query)
        if fast is None:
            continue
        answered += 1
        expected = _libc(*query)
        assert fast == expected, query
        # The same enum members socket.getaddrinfo returns.
        assert [type(entry[0]) for entry in fast] == [type(entry[0]) for entry in expected], query
        assert [type(entry[1]) for entry in fast] == [type(entry[1]) for entry in expected], query
    assert answered > 1000  # the fast path really serves the common cases


@pytest.mark.fastloop_only
@pytest.mark.parametrize("query", [
    ("127.0.0.1", 80),
    ("::1", 443, 0, socket.SOCK_STREAM),
    ("fe80::1%lo", 80, socket.AF_INET6, socket.SOCK_DGRAM),
    ("10.1.2.3", "8080", 0, 0, socket.IPPROTO_TCP),
])
def test_common_numeric_queries_take_the_fast_path(query):
    assert numeric_addrinfo(*query) == socket.getaddrinfo(*query)


def test_loop_getaddrinfo_of_a_numeric_host_equals_the_socket_modules(loop):
    async def main():
        return await loop.getaddrinfo("fe80::1%lo", 80, type=socket.SOCK_STREAM)

    assert loop.run_until_complete(main()) == socket.getaddrinfo(
        "fe80::1%lo", 80, type=socket.SOCK_STREAM)


def test_a_numeric_getaddrinfo_after_the_executors_shutdown_is_refused(loop):
    async def main():
        await loop.shutdown_default_executor()
        await loop.getaddrinfo("127.0.0.1", 80)

    with pytest.raises(RuntimeError, match="Executor shutdown has been called"):
        loop.run_until_complete(main())
