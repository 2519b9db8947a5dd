"""One echo server of the echo benchmark: one event loop, one server style.

    PYTHONPATH=src python benchmarks/echo/server.py --loop LOOP --style STYLE [--port 0]
    PYTHONPATH=src python benchmarks/echo/server.py --describe

Listens on 127.0.0.1 (port 0: any free port), prints the port on stdout
once it accepts connections, and echoes every byte on every connection
until SIGTERM, SIGINT or stdin closing, then exits with status 0. Each
server is its own process so that the CPU time the driver reads for it is
all server work, and so that every measurement starts on a fresh loop.

The loop names are those of ``benchmarks/loops.py``, the styles those of
``STYLES`` below. ``--describe`` prints, as one JSON object, what this
interpreter can run: the header lines of the ratio table (Python, CPUs,
fastloop build, versions) and why each loop that cannot run here cannot.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

# loops.py and ratios.py live one directory up, shared with the ratio table.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import loops  # noqa: E402

HOST = "127.0.0.1"
# As much as asyncio's socket transports read per readiness event
# (_SelectorSocketTransport.max_size), so every style reads alike.
READ_SIZE = 256 * 1024
# The first of the two writes of the protocol-two-piece style.
HEADER_BYTES = 64


class EchoProtocol(asyncio.Protocol):
    """data_received -> transport.write: the cheapest echo asyncio offers."""

    def __init__(self, connections):
        self.connections = connections
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.connections.add(transport)

    def connection_lost(self, exc):
        self.connections.discard(self.transport)

    def data_received(self, data):
        self.transport.write(data)


class TwoPieceEchoProtocol(EchoProtocol):
    """Answers each chunk with two writes, a 64-byte header and the rest, as
    a server that writes a header and then a body does.

    The pieces are memoryview slices, so the variant costs one write() more
    than EchoProtocol and no copy: the difference is the loop's price for a
    second write in the same callback.
    """

    def data_received(self, data):
        view = memoryview(data)
        self.transport.write(view[:HEADER_BYTES])
        self.transport.write(view[HEADER_BYTES:])


async def _serve_protocol(protocol_class, port, stopped):
    loop = asyncio.get_running_loop()
    connections = set()
    server = await loop.create_server(lambda: protocol_class(connections), HOST, port)
    _announce(server.sockets[0])
    await stopped
    server.close()
    for transport in list(connections):
        transport.close()


async def serve_protocol(port, stopped):
    await _serve_protocol(EchoProtocol, port, stopped)


async def serve_protocol_two_piece(port, stopped):
    await _serve_protocol(TwoPieceEchoProtocol, port, stopped)


async def serve_streams(port, stopped):
    """asyncio.start_server: StreamReader.read, StreamWriter.write + drain."""

    async def echo(reader, writer):
        try:
            while data := await reader.read(READ_SIZE):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, HOST, port)
    _announce(server.sockets[0])
    await stopped
    server.close()


async def serve_sock(port, stopped):
    """loop.sock_accept, sock_recv_into and sock_sendall on plain sockets.

    sock_recv_into reuses one buffer per connection: sock_recv would
    allocate (and for large reads mmap) a new bytes object per read.
    """
    loop = asyncio.get_running_loop()

    async def echo(conn):
        buffer = bytearray(READ_SIZE)
        view = memoryview(buffer)
        with conn:
            try:
                while received := await loop.sock_recv_into(conn, buffer):
                    await loop.sock_sendall(conn, view[:received])
            except ConnectionError:
                pass

    async def accept_forever(listener):
        while True:
            conn, _ = await loop.sock_accept(listener)
            conn.setblocking(False)
            # The transports of the other styles set TCP_NODELAY; without it
            # Nagle's algorithm would hold back the tail of a large answer.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # The loop keeps only weak references to tasks.
            task = loop.create_task(echo(conn))
            connections.add(task)
            task.add_done_callback(connections.discard)

    connections = set()
    with socket.create_server((HOST, port)) as listener:
        listener.setblocking(False)
        acceptor = loop.create_task(accept_forever(listener))
        _announce(listener)
        await stopped
        acceptor.cancel()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(acceptor, *connections, return_exceptions=True)


#: Every server style, by the name the driver and the tables use.
STYLES = {
    "protocol": serve_protocol,
    "protocol-two-piece": serve_protocol_two_piece,
    "streams": serve_streams,
    "sock": serve_sock,
}


def _settle_the_allocator():
    """Put glibc's malloc in the state a long-running process is in.

    A read with ``sock.recv(READ_SIZE)`` (what asyncio's transports do)
    allocates a 256 KiB bytes object. While that is above glibc's mmap
    threshold (128 KiB at start), every read costs an mmap, a munmap and a
    page fault per page touched, most of a small echo's cost. glibc
    raises the threshold for good the first time it frees a larger mapped
    block, which a real server has long done, but a fresh one may or may
    not have, depending on accidents of startup (even the length of the
    script's path): the same loop then measured 2x apart. Freeing one large
    block here gives every server the same, settled allocator.
    """
    bytes(2 * READ_SIZE)


def _announce(listener):
    """Tells the driver the server is ready, and on which port."""
    print(listener.getsockname()[1], flush=True)


def _stop_when_stdin_closes(loop, stopped):
    def read_stdin():
        if not os.read(sys.stdin.fileno(), 4096):
            loop.remove_reader(sys.stdin.fileno())
            _resolve(stopped)

    try:
        loop.add_reader(sys.stdin.fileno(), read_stdin)
    except PermissionError:
        # A regular file or /dev/null cannot be polled: only a signal stops us.
        pass


def _resolve(stopped):
    if not stopped.done():
        stopped.set_result(None)


async def _main(style, port):
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _resolve, stopped)
    _stop_when_stdin_closes(loop, stopped)
    await STYLES[style](port, stopped)


def _describe():
    import ratios
    unavailable = {}
    for kind in loops.LOOPS:
        try:
            kind.load()
        except loops.Unavailable as exc:
            unavailable[kind.name] = str(exc)
    available = [name for name in loops.NAMES if name not in unavailable]
    return {"machine": ratios.describe_machine(available), "unavailable": unavailable}


def main(argv=None):
    parser = argparse.ArgumentParser(description="An echo server on one event loop.")
    parser.add_argument("--describe", action="store_true",
                        help="print what this interpreter can run, as JSON, and exit")
    parser.add_argument("--loop", choices=loops.NAMES)
    parser.add_argument("--style", choices=STYLES)
    parser.add_argument("--port", type=int, default=0,
                        help="port on 127.0.0.1 (default: 0, any free port)")
    args = parser.parse_args(argv)
    if args.describe:
        print(json.dumps(_describe()))
        return 0
    if args.loop is None or args.style is None:
        parser.error("--loop and --style are required")
    kind = next(kind for kind in loops.LOOPS if kind.name == args.loop)
    try:
        new_event_loop = kind.load()
    except loops.Unavailable as exc:
        print(f"server.py: loop {args.loop} cannot run here: {exc}", file=sys.stderr)
        return 2
    _settle_the_allocator()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_main(args.style, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
