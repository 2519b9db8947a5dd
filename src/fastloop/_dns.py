"""Name resolution: loop.getaddrinfo() and loop.getnameinfo().

Both run the blocking libc call in the default executor, as asyncio does;
in debug mode getaddrinfo logs what it asked and how long it took.

A host that is already a numeric address needs no resolver: getaddrinfo
answers it at once (``numeric_addrinfo``), with exactly what
socket.getaddrinfo would return, IPv6 zone indexes included. Only the cases
proven equal take that path (tests/test_dns.py compares them all); anything
else goes to libc.
"""

import socket
from asyncio import tasks

_AF_INET = socket.AddressFamily.AF_INET
_AF_INET6 = socket.AddressFamily.AF_INET6
_STREAM = socket.SocketKind.SOCK_STREAM
_DGRAM = socket.SocketKind.SOCK_DGRAM
_RAW = socket.SocketKind.SOCK_RAW
# What getaddrinfo lists for each socket type, in its order.
_TYPES_AND_PROTOS = ((_STREAM, socket.IPPROTO_TCP), (_DGRAM, socket.IPPROTO_UDP), (_RAW, 0))
# Flags that change nothing for a numeric host (AI_CANONNAME: the host is
# its own canonical name).
_NUMERIC_SAFE_FLAGS = (socket.AI_NUMERICHOST | socket.AI_NUMERICSERV | socket.AI_PASSIVE
                       | socket.AI_CANONNAME)


def _numeric_port(port):
    if port is None:
        return 0
    if type(port) is int:
        return port if 0 <= port <= 65535 else None
    if type(port) is str and port.isascii() and port.isdigit():
        # "080" and the like are left to libc.
        if len(port) > 1 and port[0] == "0":
            return None
        value = int(port)
        return value if value <= 65535 else None
    return None


def _numeric_host(host):
    """(family, address, scope id) of a canonical numeric host, else None."""
    # libc stops at a NUL; inet_pton refuses one: leave those to libc.
    if type(host) is not str or not host.isascii() or "\0" in host:
        return None
    try:
        if host == socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, host)):
            return _AF_INET, host, 0
    except OSError:
        pass
    address, percent, zone = host.partition("%")
    try:
        packed = socket.inet_pton(socket.AF_INET6, address)
    except OSError:
        return None
    if address != socket.inet_ntop(socket.AF_INET6, packed):
        return None
    if not percent:
        return _AF_INET6, address, 0
    # libc takes a zone on link-local addresses (fe80::/10) only.
    if packed[0] != 0xFE or packed[1] & 0xC0 != 0x80 or not zone:
        return None
    if zone.isascii() and zone.isdigit():
        return None
    try:
        return _AF_INET6, address, socket.if_nametoindex(zone)
    except OSError:
        return None


def numeric_addrinfo(host, port, family=0, type=0, proto=0, flags=0):
    """socket.getaddrinfo()'s answer for a numeric host, or None when only
    libc can tell (a name, an unusual flag, an out-of-range port, ...)."""
    # Anything but ints (a float family, say) gets libc's own TypeError.
    if not all(isinstance(argument, int) for argument in (family, type, proto, flags)):
        return None
    if flags & ~_NUMERIC_SAFE_FLAGS:
        return None
    parsed = _numeric_host(host)
    if parsed is None:
        return None
    address_family, address, scope_id = parsed
    if family not in (0, address_family):
        return None
    port_number = _numeric_port(port)
    if port_number is None:
        return None
    if type == _RAW and port is not None:
        # libc refuses a service for a raw socket asked for by type (and
        # lists one anyway among type 0's answers).
        return None
    entries = []
    for kind, kind_proto in _TYPES_AND_PROTOS:
        if type not in (0, kind):
            continue
        if proto not in (0, kind_proto):
            if type == 0:
                continue
            return None
        entries.append((kind, kind_proto))
    if not entries:
        return None
    if address_family == _AF_INET6:
        sockaddr = (address, port_number, 0, scope_id)
    else:
        sockaddr = (address, port_number)
    answer = [(address_family, kind, kind_proto, "", sockaddr) for kind, kind_proto in entries]
    if flags & socket.AI_CANONNAME:
        # libc names the first entry only.
        answer[0] = answer[0][:3] + (host,) + answer[0][4:]
    return answer



class NameResolution:
    """The resolver half of Loop; expects run_in_executor (and asyncio's
    _getaddrinfo_debug, borrowed)."""

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        """socket.getaddrinfo(): at once for a numeric host, else in the
        default executor (where debug mode logs the query)."""
        if not self._debug:
            answer = numeric_addrinfo(host, port, family, type, proto, flags)
            if answer is not None:
                # As run_in_executor would: refuse after close or after the
                # executor's shutdown, and let other tasks run (a suspension
                # point, as asyncio's getaddrinfo always is).
                self._check_closed()
                self._check_default_executor()
                await tasks.sleep(0)
                return answer
        resolve = self._getaddrinfo_debug if self._debug else socket.getaddrinfo
        return await self.run_in_executor(None, resolve, host, port, family, type, proto, flags)

    async def getnameinfo(self, sockaddr, flags=0):
        """socket.getnameinfo(), in the default executor."""
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)
