"""Small helpers shared by the tests (importable: pytest puts tests/ on sys.path)."""

import concurrent.futures
import os
import socket
import sys


def run_once(loop):
    """Run one iteration of ``loop``: every callback ready now, then return."""
    loop.call_soon(loop.stop)
    loop.run_forever()


def receive_exactly(sock, size):
    """``size`` bytes read from the blocking ``sock`` (fewer if the peer
    closes first); the caller sets its timeout."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def accepted_transport(loop, protocol_factory):
    """A transport of ``loop`` over one end of a socketpair, its protocol,
    and the other end: blocking with a timeout of 10 s, the peer the test
    writes to and reads from. The caller closes the peer."""
    ours, peer = socket.socketpair()
    peer.settimeout(10)
    transport, protocol = loop.run_until_complete(
        loop.connect_accepted_socket(protocol_factory, ours))
    return transport, protocol, peer


def handle_context(handle):
    """The context ``handle``'s callback runs in (Handle.get_context() is
    new in 3.12; asyncio's handles have ``_context`` on every version)."""
    return handle.get_context() if sys.version_info >= (3, 12) else handle._context


async def in_other_thread(loop, function, *args):
    """Call ``function(*args)`` in a new thread while ``loop`` runs.

    Returns what it returned, or the exception it raised.
    """
    def attempt():
        try:
            return function(*args)
        except Exception as exc:
            return exc

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        return await loop.run_in_executor(executor, attempt)


def compiled_build_required():
    """CI sets FASTLOOP_REQUIRE_COMPILED=1: there, a missing compiled build
    is an error, not a reason to skip."""
    return os.environ.get("FASTLOOP_REQUIRE_COMPILED", "") not in ("", "0")


def ipv6_loopback_works():
    """Whether this machine can bind ::1 (containers often cannot)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True
