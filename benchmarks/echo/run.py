"""The echo-server benchmark: requests/s, latency and server CPU per request
of TCP echo servers on each event loop, beside a plain C epoll server.

    PYTHONPATH=src python benchmarks/echo/run.py [--quick] [--rounds N]
        [--duration SECONDS] [--warmup SECONDS] [--loops LOOP ...]
        [--styles STYLE ...] [--sizes BYTES ...] [--connections N]
        [--python PATH] [--no-pin]

For every cell (server style, message size, loop) it starts one server
process (server.py, or the C server), points the C load generator at it
(client.c: N connections, one message in flight on each), and reads back
the requests completed in the timed window, their p50 and p99 latency, and
the CPU time the server process used in that window. Rounds are
interleaved as in ratios.py: round r runs every (size, style) row once,
and within a row every server in an order rotated by r, so a burst of
load from elsewhere hits the servers of a row alike and the ratios, taken
round by round, stay meaningful on a busy machine. The client and the
server run pinned to two different CPUs (see ``_pick_cpus``).

Progress goes to stderr, the tables to stdout. A server that fails (does
not start, loses or corrupts data, does not exit cleanly) shows "failed"
in its cell, with the reason under the tables, and the exit status is 1.
"""

import argparse
import contextlib
import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# loops.py and ratios.py live one directory up, shared with the ratio table.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import c_programs  # noqa: E402
import loops  # noqa: E402
import server  # noqa: E402
from ratios import format_number, format_spread  # noqa: E402

SERVER_SCRIPT = Path(server.__file__).resolve()
#: The column of the C epoll server, the ceiling every loop is measured against.
C_SERVER = "C epoll"
#: The C server's flag for each style of server.HEADER_STYLES: the header
#: joined to the echo in one send(), or sent with a send() of its own.
C_SERVER_HEADER_FLAGS = {"protocol-one-piece": "--header-once",
                         "protocol-two-piece": "--header-twice"}

#: (rounds, warm-up seconds, timed seconds per cell) of a default run and of
#: --quick. The default run takes about 11 minutes on 2 cores, --quick under 1.
DEFAULT = (3, 0.3, 2.0)
QUICK = (1, 0.1, 0.25)
DEFAULT_SIZES = (1024, 10 * 1024, 100 * 1024)

# A cell whose load generator was this busy (CPU seconds per second of the
# window) is marked: its rate is, at least in part, the client's limit.
_CLIENT_BOUND = 0.9
# How long a server may take to print its port, and to exit once its stdin
# closes, before it counts as failed.
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0
# How long the messages in flight when the window closes may take to come
# back before the client reports their connections as stalled.
_DRAIN = 5.0
# How much longer than warm-up + window + drain the client may take.
_CLIENT_SLACK = 30.0


class CellFailed(Exception):
    """One server could not be measured in one cell; the message says why."""


@dataclass(frozen=True)
class Row:
    """One row of the tables: a server style at a message size."""
    style: str
    size: int


@dataclass(frozen=True)
class Sample:
    """What one client run measured against one server."""
    requests_per_second: float
    p50_us: float
    p99_us: float
    server_cpu_us_per_request: float
    client_busy: float  # the client's CPU seconds per second of the window


@dataclass(frozen=True)
class Settings:
    """How every cell of a run is measured."""
    rounds: int
    warmup: float
    duration: float
    connections: int
    python: str
    client_cpu: int | None  # None: not pinned
    server_cpu: int | None


def _size(text):
    """A message size in bytes: 1024, 10k or 100KiB."""
    lowered = text.lower()
    for suffix in ("kib", "k"):
        if lowered.endswith(suffix):
            return int(lowered[:-len(suffix)]) * 1024
    return int(lowered)


def _size_label(size):
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Requests/s, latency and server CPU per request of echo servers "
                    "on each event loop, beside a C epoll server.")
    parser.add_argument(
        "--quick", action="store_true",
        help=f"one round of {QUICK[2]:g} s per cell after a {QUICK[1]:g} s warm-up: "
             f"a check that everything runs, under a minute")
    parser.add_argument(
        "--rounds", type=int,
        help=f"interleaved rounds; every server runs once per row per round "
             f"(default: {DEFAULT[0]})")
    parser.add_argument(
        "--duration", type=float,
        help=f"seconds of the timed window per cell (default: {DEFAULT[2]:g})")
    parser.add_argument(
        "--warmup", type=float,
        help=f"seconds of untimed load before each window (default: {DEFAULT[1]:g})")
    parser.add_argument(
        "--loops", nargs="+", choices=loops.NAMES, metavar="LOOP",
        help="the loops to compare (asyncio, the baseline, is always added; the C "
             "server always runs); any of: " + ", ".join(loops.NAMES))
    parser.add_argument(
        "--styles", nargs="+", choices=server.STYLES, metavar="STYLE",
        help="server styles (default: all): " + ", ".join(server.STYLES))
    parser.add_argument(
        "--sizes", nargs="+", type=_size, metavar="BYTES",
        help="message sizes, in bytes or with a k suffix (default: 1k 10k 100k)")
    parser.add_argument(
        "--connections", type=int, default=10,
        help="concurrent connections, one message in flight on each (default: 10)")
    parser.add_argument(
        "--no-pin", action="store_true",
        help="let the scheduler place the client and the server (default: pin them "
             "to two different CPUs)")
    parser.add_argument(
        "--python", default=sys.executable,
        help="the interpreter that runs the Python servers (default: this one); "
             "it must find fastloop, e.g. through PYTHONPATH=src")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else DEFAULT
    rounds = args.rounds if args.rounds is not None else preset[0]
    warmup = args.warmup if args.warmup is not None else preset[1]
    duration = args.duration if args.duration is not None else preset[2]
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    if duration <= 0 or warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    if args.sizes and min(args.sizes) < 1:
        parser.error("--sizes must be positive")
    client_cpu, server_cpu = (None, None) if args.no_pin else _pick_cpus()
    settings = Settings(rounds, warmup, duration, args.connections, args.python,
                        client_cpu, server_cpu)
    loop_names = [name for name in loops.NAMES
                  if name in set(args.loops or loops.NAMES) | {loops.BASELINE}]
    styles = args.styles or list(server.STYLES)
    sizes = args.sizes or list(DEFAULT_SIZES)
    return settings, loop_names, styles, sizes


def _pick_cpus():
    """The CPUs for the client and for the servers: two different ones.

    Left to itself, the scheduler puts the client and the server on one
    core in some runs and on two in others, and on a 2-core machine that
    alone moved a loop's requests/s 3x from one run to the next. Pinned
    apart, every message crosses between cores, as it does between
    machines, and a loop measures the same from run to run. With a single
    usable CPU there is nothing to choose: (None, None), not pinned.
    """
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return None, None
    return usable[0], usable[1]


def _pinned_to(cpu):
    """A preexec_fn that runs the child on ``cpu`` only (None: anywhere)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


# -- one measurement ------------------------------------------------------------

def _tail(stream, lines=8):
    stream.seek(0)
    text = stream.read().decode(errors="replace").strip()
    return "\n".join(text.splitlines()[-lines:]) or "(nothing on stderr)"


def _read_port(process, stderr):
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(_START_TIMEOUT):
            raise CellFailed(f"the server printed no port within {_START_TIMEOUT:g} s")
    line = process.stdout.readline()
    if not line:
        status = process.wait()
        raise CellFailed(f"the server exited with status {status} before listening: "
                         f"{_tail(stderr)}")
    try:
        return int(line)
    except ValueError:
        raise CellFailed(f"the server printed {line!r} instead of its port") from None


def _stop(process, stderr):
    """Closes the server's stdin, its signal to exit; the problem, if any."""
    process.stdin.close()
    try:
        status = process.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return f"the server did not exit within {_STOP_TIMEOUT:g} s of its stdin closing"
    if status != 0:
        return f"the server exited with status {status}: {_tail(stderr)}"
    return None


@contextlib.contextmanager
def _running_server(command, cpu):
    """Starts a server; yields its pid and port; stops it.

    The server stops when its stdin closes, which also happens when this
    process dies: an interrupted run leaves no server behind.
    """
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=stderr, preexec_fn=_pinned_to(cpu))
        try:
            port = _read_port(process, stderr)
            yield process.pid, port
        finally:
            problem = _stop(process, stderr)
        if problem:
            raise CellFailed(problem)


def _run_client(client, pid, port, row, settings):
    command = [str(client), "--port", str(port), "--size", str(row.size),
               "--connections", str(settings.connections),
               "--warmup", str(settings.warmup), "--duration", str(settings.duration),
               "--drain", str(_DRAIN), "--server-pid", str(pid)]
    if row.style in server.HEADER_STYLES:
        command += ["--reply-header", str(server.HEADER_BYTES)]
    timeout = settings.warmup + settings.duration + _DRAIN + _CLIENT_SLACK
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                preexec_fn=_pinned_to(settings.client_cpu))
    except subprocess.TimeoutExpired:
        raise CellFailed(f"the client did not finish within {timeout:g} s") from None
    if result.returncode != 0:
        raise CellFailed(f"the client failed (status {result.returncode}): "
                         f"{result.stderr.strip()}")
    report = json.loads(result.stdout)
    if report["errors"]:
        raise CellFailed(f"the echo was wrong: {report['errors']} error(s), the first: "
                         f"{report['first_error']}")
    if not report["requests"]:
        raise CellFailed("no request completed in the timed window")
    return Sample(
        requests_per_second=report["requests"] / report["seconds"],
        p50_us=report["p50_us"],
        p99_us=report["p99_us"],
        server_cpu_us_per_request=report["server_cpu_seconds"] * 1e6 / report["requests"],
        client_busy=report["client_cpu_seconds"] / report["seconds"],
    )


def _server_command(name, row, settings, c_server):
    if name == C_SERVER:
        # The C server has no styles: a plain echo, or a header before each
        # request's echo, joined to it or not.
        command = [str(c_server), "--port", "0"]
        if row.style in C_SERVER_HEADER_FLAGS:
            command += [C_SERVER_HEADER_FLAGS[row.style], "--message-size", str(row.size)]
        return command
    command = [settings.python, str(SERVER_SCRIPT), "--loop", name, "--style", row.style,
               "--port", "0"]
    if row.style in server.HEADER_STYLES:
        command += ["--message-size", str(row.size)]
    return command


def _measure(name, row, settings, client, c_server):
    command = _server_command(name, row, settings, c_server)
    with _running_server(command, settings.server_cpu) as (pid, port):
        return _run_client(client, pid, port, row, settings)


# -- the run ----------------------------------------------------------------------

def _run(rows, servers, settings, client, c_server):
    """Every round, every row, every server; returns (samples, failures).

    ``samples[(row, name)]`` lists one Sample per round. A server that fails
    in a row runs no further rounds of it, and its samples there are
    dropped, so the lists of a row stay aligned round by round.
    """
    samples = {(row, name): [] for row in rows for name in servers}
    failures = {}
    for round_number in range(settings.rounds):
        shift = round_number % len(servers)
        for row in rows:
            started = time.perf_counter()
            done = []
            for name in servers[shift:] + servers[:shift]:
                if (row, name) in failures:
                    continue
                try:
                    sample = _measure(name, row, settings, client, c_server)
                except CellFailed as exc:
                    failures[(row, name)] = f"round {round_number + 1}: {exc}"
                    samples[(row, name)] = []
                    done.append(f"{name} FAILED")
                else:
                    samples[(row, name)].append(sample)
                    done.append(f"{name} {_rate(sample.requests_per_second)}")
            print(f"round {round_number + 1}/{settings.rounds}, {row.style} "
                  f"{_size_label(row.size)}: {', '.join(done)} "
                  f"({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)
    return samples, failures


# -- the tables -------------------------------------------------------------------

def _rate(value):
    if value >= 1e4:
        return f"{value / 1e3:.1f}k"
    if value >= 1e3:
        return f"{value / 1e3:.2f}k"
    return f"{value:.0f}"


def _markdown(header, body, labels=2):
    """A Markdown table whose first ``labels`` columns are text, the rest numbers."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "---|" * labels + "---:|" * (len(header) - labels)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _table(rows, servers, samples, failures, cell):
    """A Markdown table, a row per (style, size), a column per server;
    ``cell(row, name, mine)`` formats one server's samples of a row."""
    body = []
    for row in rows:
        cells = [row.style, _size_label(row.size)]
        for name in servers:
            mine = samples[(row, name)]
            cells.append("failed" if (row, name) in failures else cell(row, name, mine))
        body.append(cells)
    return _markdown(["style", "size"] + servers, body)


def _throughput_table(rows, servers, samples, failures):
    def cell(row, name, mine):
        rate = _rate(statistics.median(s.requests_per_second for s in mine))
        if statistics.median(s.client_busy for s in mine) >= _CLIENT_BOUND:
            rate += " ‡"
        baseline = samples[(row, loops.BASELINE)]
        if name == loops.BASELINE or not baseline:
            return rate
        ratios = [m.requests_per_second / b.requests_per_second
                  for m, b in zip(mine, baseline)]
        return f"{rate} {format_spread(ratios)}"
    return _table(rows, servers, samples, failures, cell)


def _head_to_head_table(rows, servers, samples, failures):
    """The first server's requests/s against each other server's, round by
    round: the median ratio, its spread, and in how many rounds the first
    served more. Whether one loop is ahead of another is read here: a
    ratio of two rates taken moments apart, and a count of rounds that one
    noisy round cannot flip, where the medians of the rates can."""
    subject, rivals = servers[0], servers[1:]
    body = []
    for row in rows:
        cells = [row.style, _size_label(row.size)]
        for rival in rivals:
            if (row, subject) in failures or (row, rival) in failures:
                cells.append("failed")
                continue
            ratios = [mine.requests_per_second / theirs.requests_per_second
                      for mine, theirs in zip(samples[(row, subject)], samples[(row, rival)])]
            ahead = sum(ratio > 1 for ratio in ratios)
            cells.append(f"{format_spread(ratios)}, ahead in {ahead} of {len(ratios)}")
        body.append(cells)
    return _markdown(["style", "size"] + [f"against {rival}" for rival in rivals], body)


def _latency_table(rows, servers, samples, failures):
    def cell(row, name, mine):
        return (f"{statistics.median(s.p50_us for s in mine):.0f} / "
                f"{statistics.median(s.p99_us for s in mine):.0f}")
    return _table(rows, servers, samples, failures, cell)


def _cpu_table(rows, servers, samples, failures):
    def cell(row, name, mine):
        cpu = f"{statistics.median(s.server_cpu_us_per_request for s in mine):.1f}"
        ceiling = samples[(row, C_SERVER)]
        if name == C_SERVER or not ceiling:
            return cpu
        ratios = [m.server_cpu_us_per_request / c.server_cpu_us_per_request
                  for m, c in zip(mine, ceiling)]
        return f"{cpu} ×{format_number(statistics.median(ratios))}"
    return _table(rows, servers, samples, failures, cell)


def _two_piece_table(sizes, servers, samples, failures):
    """The change in requests/s from writing a response of header and echo
    in two writes instead of joined in one, round by round, per size."""
    body = []
    for size in sizes:
        one, two = Row("protocol-one-piece", size), Row("protocol-two-piece", size)
        cells = [_size_label(size)]
        for name in servers:
            if (one, name) in failures or (two, name) in failures:
                cells.append("failed")
                continue
            changes = [100 * (t.requests_per_second / o.requests_per_second - 1)
                       for o, t in zip(samples[(one, name)], samples[(two, name)])]
            cells.append(f"{statistics.median(changes):+.1f}% "
                         f"({min(changes):+.1f} to {max(changes):+.1f})")
        body.append(cells)
    return _markdown(["size"] + servers, body, labels=1)


def _client_load(samples):
    """How busy the load generator was against the Python servers, and which
    cells it may have held back."""
    busy = [statistics.median(s.client_busy for s in mine)
            for (row, name), mine in samples.items() if mine and name != C_SERVER]
    text = ("The load generator (client.c, one thread) used "
            f"{statistics.median(busy):.0%} of one core in the median Python cell, "
            f"{max(busy):.0%} in the busiest. " if busy else "")
    return text + (f"‡: it was busy {_CLIENT_BOUND:.0%} or more of the window, so the "
                   "rate is partly the client's own limit (expected for the C server, which "
                   "makes about as many system calls per request as the client).")


def _elapsed(seconds):
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _describe(python):
    """What the server interpreter reports about itself and its loops."""
    result = subprocess.run([python, str(SERVER_SCRIPT), "--describe"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"run.py: {python} {SERVER_SCRIPT.name} --describe failed:\n{result.stderr}")
    return json.loads(result.stdout)


def main(argv=None):
    settings, loop_names, styles, sizes = _parse_args(argv)
    try:
        client = c_programs.compiled(c_programs.CLIENT)
        c_server = c_programs.compiled(c_programs.C_SERVER)
    except c_programs.CompileError as exc:
        sys.exit(f"run.py: {exc}")
    description = _describe(settings.python)
    unavailable = {name: reason for name, reason in description["unavailable"].items()
                   if name in loop_names}
    servers = [name for name in loop_names if name not in unavailable] + [C_SERVER]
    if loops.BASELINE in unavailable:
        sys.exit(f"run.py: the baseline, {loops.BASELINE}, cannot run: "
                 f"{unavailable[loops.BASELINE]}")
    rows = [Row(style, size) for size in sizes for style in styles]

    started = time.perf_counter()
    samples, failures = _run(rows, servers, settings, client, c_server)
    elapsed = time.perf_counter() - started

    print("\n".join(description["machine"]))
    print(f"{settings.connections} connections, one message in flight on each; per cell "
          f"{settings.warmup:g} s warm-up, then {settings.duration:g} s timed; "
          f"{settings.rounds} interleaved round(s); the run took {_elapsed(elapsed)}.")
    if settings.client_cpu is None:
        print("Client and servers not pinned: the scheduler placed them.")
    else:
        print(f"Client pinned to CPU {settings.client_cpu}, servers to CPU "
              f"{settings.server_cpu}.")
    print()
    print("Requests per second (all connections together), median over the rounds; "
          "×: the ratio to stock asyncio, median (lowest–highest round).")
    print()
    print(_throughput_table(rows, servers, samples, failures))
    print()
    print(_client_load(samples))
    print()
    if len(servers) > 1:
        print(f"{servers[0]}'s requests/s against each other server's, round by round: "
              f"the median ratio (lowest–highest round), and in how many rounds "
              f"{servers[0]} served more.")
        print()
        print(_head_to_head_table(rows, servers, samples, failures))
        print()
    print("Latency of one request (send until the whole echo is back), µs: "
          "p50 / p99, medians over the rounds.")
    print()
    print(_latency_table(rows, servers, samples, failures))
    print()
    print("Server CPU time (user + sys) per request, µs, median over the rounds; "
          f"×: times the {C_SERVER} server's, median of the round-by-round ratios. "
          "Read from /proc in clock ticks (10 ms), so short windows are coarse.")
    print()
    print(_cpu_table(rows, servers, samples, failures))
    if {"protocol-one-piece", "protocol-two-piece"} <= set(styles):
        print()
        print(f"Cost of answering in two writes: a response of a {server.HEADER_BYTES}-byte "
              "header and the echo, written as two writes against joined by the server and "
              "written once; change in requests/s of protocol-two-piece against "
              "protocol-one-piece, median (lowest to highest round).")
        print()
        print(_two_piece_table(sizes, servers, samples, failures))
    if unavailable:
        print()
        for name, reason in unavailable.items():
            print(f"Not measured: {name}: {reason}")
    if failures:
        print("\nFailures:")
        for (row, name), error in failures.items():
            print(f"- {row.style} {_size_label(row.size)} on {name}: {error}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
