"""Name resolution: loop.getaddrinfo() and loop.getnameinfo().

Both run the blocking libc call in the default executor, as asyncio does;
in debug mode getaddrinfo logs what it asked and how long it took.
``ensure_resolved`` skips the thread hop for an address that is already
numeric (asyncio's ``_ipaddr_info`` rule).
"""

import socket

from . import _asyncio_private as aio_private
from ._scheduler import logger


class NameResolution:
    """The resolver half of Loop; expects run_in_executor and time."""

    def _getaddrinfo_debug(self, host, port, family, type, proto, flags):
        query = [f"{host}:{port!r}"]
        if family:
            query.append(f"family={family!r}")
        if type:
            query.append(f"type={type!r}")
        if proto:
            query.append(f"proto={proto!r}")
        if flags:
            query.append(f"flags={flags!r}")
        query = ", ".join(query)
        logger.debug("Get address info %s", query)
        started = self.time()
        addrinfo = socket.getaddrinfo(host, port, family, type, proto, flags)
        elapsed = self.time() - started
        message = f"Getting address info {query} took {elapsed * 1e3:.3f}ms: {addrinfo!r}"
        if elapsed >= self.slow_callback_duration:
            logger.info(message)
        else:
            logger.debug(message)
        return addrinfo

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        """socket.getaddrinfo(), in the default executor."""
        resolve = self._getaddrinfo_debug if self._debug else socket.getaddrinfo
        return await self.run_in_executor(None, resolve, host, port, family, type, proto, flags)

    async def getnameinfo(self, sockaddr, flags=0):
        """socket.getnameinfo(), in the default executor."""
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)

    async def _ensure_resolved(self, address, *, family=0, type=socket.SOCK_STREAM,
                               proto=0, flags=0, loop=None):
        # asyncio's create_connection and create_server (borrowed) pass the
        # loop to resolve with: themselves, always.
        host, port = address[:2]
        info = aio_private.ipaddr_info(host, port, family, type, proto, *address[2:])
        if info is not None:
            return [info]
        return await (loop or self).getaddrinfo(host, port, family=family, type=type,
                                                proto=proto, flags=flags)
