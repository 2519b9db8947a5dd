"""One echo server of the echo benchmark: one event loop, one server style.

    PYTHONPATH=src python benchmarks/echo/server.py --loop LOOP --style STYLE [--port 0]
        [--message-size BYTES]
    PYTHONPATH=src python benchmarks/echo/server.py --describe

Listens on 127.0.0.1 (port 0: any free port), prints the port on stdout
once it accepts connections, and echoes every byte on every connection
until SIGTERM, SIGINT or stdin closing, then exits with status 0. The
styles of ``HEADER_STYLES`` put ``HEADER`` before the echo of each request,
a message of ``--message-size`` bytes (required for them). Each
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
HEADER_BYTES = 64
#: What the styles of HEADER_STYLES answer each request with before its echo:
#: A to Z, repeated. client.c --reply-header checks every byte of it.
HEADER = bytes(ord("A") + i % 26 for i in range(HEADER_BYTES))


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


class HeaderEchoProtocol(EchoProtocol):
    """Answers each request, a message of ``message_size`` bytes, with HEADER
    and the echo, as a server that writes a header and then a body does.

    A message may arrive in several chunks: the header goes out once, with
    the first chunk's echo, and later chunks are echoed as they come. The
    client keeps one message in flight per connection, so no chunk holds
    the end of one request and the start of the next. Subclasses differ only
    in how they write a request's first chunk.
    """

    def __init__(self, connections, message_size):
        super().__init__(connections)
        self.message_size = message_size
        self.offset = 0  # where the next chunk starts in the current request

    def data_received(self, data):
        starts_request = self.offset == 0
        self.offset = (self.offset + len(data)) % self.message_size
        if starts_request:
            self.write_first_chunk(data)
        else:
            self.transport.write(data)

    def write_first_chunk(self, data):
        raise NotImplementedError


class OnePieceEchoProtocol(HeaderEchoProtocol):
    """Joins the header and the first chunk (a copy), and writes that once."""

    def write_first_chunk(self, data):
        self.transport.write(HEADER + data)


class TwoPieceEchoProtocol(HeaderEchoProtocol):
    """Writes the header, then the first chunk: no copy, but one write()
    more than OnePieceEchoProtocol. Between the two is what a loop charges
    for a second write in the same callback, against the copy that spares
    it."""

    def write_first_chunk(self, data):
        self.transport.write(HEADER)
        self.transport.write(data)


async def _serve_protocol(new_protocol, port, stopped):
    """Serves ``new_protocol(connections)`` on every connection."""
    loop = asyncio.get_running_loop()
    connections = set()
    server = await loop.create_server(lambda: new_protocol(connections), HOST, port)
    _announce(server.sockets[0])
    await stopped
    server.close()
    for transport in list(connections):
        transport.close()


async def serve_protocol(port, stopped):
    await _serve_protocol(EchoProtocol, port, stopped)


async def serve_protocol_one_piece(port, stopped, message_size):
    await _serve_protocol(
        lambda connections: OnePieceEchoProtocol(connections, message_size), port, stopped)


async def serve_protocol_two_piece(port, stopped, message_size):
    await _serve_protocol(
        lambda connections: TwoPieceEchoProtocol(connections, message_size), port, stopped)


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
    "protocol-one-piece": serve_protocol_one_piece,
    "protocol-two-piece": serve_protocol_two_piece,
    "streams": serve_streams,
    "sock": serve_sock,
}

#: The styles that answer each request with HEADER and the echo: they take
#: the message size (--message-size) to tell where a request starts.
HEADER_STYLES = ("protocol-one-piece", "protocol-two-piece")


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


async def _main(style, port, message_size):
    loop = asyncio.get_running_loop()
    stopped = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _resolve, stopped)
    _stop_when_stdin_closes(loop, stopped)
    if style in HEADER_STYLES:
        await STYLES[style](port, stopped, message_size)
    else:
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
    parser.add_argument("--message-size", type=int, metavar="BYTES",
                        help="the size of every request, the client's message: "
                             "required for the styles " + ", ".join(HEADER_STYLES))
    args = parser.parse_args(argv)
    if args.describe:
        print(json.dumps(_describe()))
        return 0
    if args.loop is None or args.style is None:
        parser.error("--loop and --style are required")
    if args.style in HEADER_STYLES:
        if args.message_size is None:
            parser.error(f"--message-size is required for the style {args.style}")
        if args.message_size < 1:
            parser.error(f"--message-size must be positive, not {args.message_size}")
    elif args.message_size is not None:
        parser.error(f"--message-size is only for the styles {', '.join(HEADER_STYLES)}, "
                     f"not for {args.style}")
    kind = next(kind for kind in loops.LOOPS if kind.name == args.loop)
    try:
        new_event_loop = kind.load()
    except loops.Unavailable as exc:
        print(f"server.py: loop {args.loop} cannot run here: {exc}", file=sys.stderr)
        return 2
    _settle_the_allocator()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_main(args.style, args.port, args.message_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
