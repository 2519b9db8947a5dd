"""Checks of the echo benchmark (echo/), not timings: the driver's quick mode
produces numbers, every server stops cleanly the two ways the benchmark
stops it, the servers that answer with a header send it once per request,
and the load generator flags a server that loses or corrupts data (or the
header) instead of timing it.

Marked ``echo`` (deselect with ``-m "not echo"``): these start server
processes and need a C compiler, and are skipped without one.
"""

import contextlib
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import loops

ECHO_DIR = Path(__file__).resolve().parent / "echo"
sys.path.insert(0, str(ECHO_DIR))

import c_programs  # noqa: E402

pytestmark = pytest.mark.echo

RUN = ECHO_DIR / "run.py"
SERVER = ECHO_DIR / "server.py"

#: The header the protocol-one-piece and protocol-two-piece styles (and the C
#: server's --header-once and --header-twice) answer each request with, and
#: client.c --reply-header 64 expects: A to Z, repeated.
HEADER = bytes(ord("A") + i % 26 for i in range(64))
HEADER_STYLES = ["protocol-one-piece", "protocol-two-piece"]
#: The size of every message the tests send.
MESSAGE_SIZE = 1024


def _compiled(source):
    try:
        return c_programs.compiled(source)
    except c_programs.CompileError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def quick_run():
    """The stdout of a quick run of the protocol styles on asyncio and the C server."""
    _compiled(c_programs.CLIENT)
    result = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--duration", "0.2", "--warmup", "0.05",
         "--sizes", "1k", "--styles", "protocol", *HEADER_STYLES, "--loops", "asyncio"],
        capture_output=True, text=True, timeout=50)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _cells(stdout, row_start):
    """The cells of the first table row that starts with ``row_start``."""
    row = next(line for line in stdout.splitlines() if line.startswith(row_start))
    return [cell.strip() for cell in row.strip("|").split("|")]


@pytest.mark.parametrize("style", ["protocol", *HEADER_STYLES])
def test_quick_run_reports_numbers_for_every_server(quick_run, style):
    # The throughput table's row: asyncio, then the C server with its ratio.
    asyncio_cell, c_cell = _cells(quick_run, f"| {style} | 1 KiB |")[2:]
    assert re.fullmatch(r"[\d.]+k?( ‡)?", asyncio_cell), asyncio_cell
    assert re.fullmatch(r"[\d.]+k?( ‡)? ×[\d.]+ \([\d.]+–[\d.]+\)", c_cell), c_cell


def test_quick_run_reports_the_first_loop_against_every_other_server(quick_run):
    # asyncio is the only loop of the quick run, so it is the first server.
    assert "asyncio's requests/s against each other server's" in quick_run
    section = quick_run[quick_run.index("asyncio's requests/s against"):]
    header = next(line for line in section.splitlines() if line.startswith("| style"))
    assert header == "| style | size | against C epoll |"
    [cell] = _cells(section, "| protocol | 1 KiB |")[2:]
    assert re.fullmatch(r"×[\d.]+ \([\d.]+–[\d.]+\), ahead in [01] of 1", cell), cell


def test_quick_run_reports_the_two_piece_cost_for_every_server(quick_run):
    assert "protocol-two-piece against protocol-one-piece" in quick_run
    # The two-piece table's row, the only one that starts with the size.
    for cell in _cells(quick_run, "| 1 KiB |")[1:]:
        assert re.fullmatch(r"[+-][\d.]+% \([+-][\d.]+ to [+-][\d.]+\)", cell), cell


def _loop_or_skip(name):
    kind = next(kind for kind in loops.LOOPS if kind.name == name)
    try:
        kind.load()
    except loops.Unavailable as exc:
        pytest.skip(str(exc))


@contextlib.contextmanager
def _server_process(command, stop="stdin-closes"):
    """Starts a server; yields its port; stops it (``stop``: "sigterm", or
    "stdin-closes", closing its stdin) and checks that it exited cleanly."""
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as server:
        try:
            port = server.stdout.readline()
            assert port, f"the server did not start: {server.stderr.read().decode()}"
            yield int(port)
            if stop == "sigterm":
                server.send_signal(signal.SIGTERM)
            else:
                server.stdin.close()
            server.wait(timeout=5)
        finally:
            if server.poll() is None:
                server.kill()
        stderr = server.stderr.read().decode()
    assert server.returncode == 0, stderr
    assert not stderr, stderr


@pytest.mark.parametrize("stop", ["sigterm", "stdin-closes"])
@pytest.mark.parametrize("loop_name", loops.NAMES)
def test_server_echoes_then_exits_cleanly(loop_name, stop):
    _loop_or_skip(loop_name)
    command = [sys.executable, str(SERVER), "--loop", loop_name, "--style", "protocol"]
    with _server_process(command, stop) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"ping")
            assert conn.recv(4, socket.MSG_WAITALL) == b"ping"


def _receive_exactly(conn, count):
    """``count`` bytes from ``conn``, or fewer if it reached end of stream."""
    data = b""
    while len(data) < count and (chunk := conn.recv(count - len(data))):
        data += chunk
    return data


def _assert_one_header_per_request(port):
    """Sends a message in two pieces, the second only once the first is
    answered, so that the server reads them as two chunks; then two messages
    in one piece. Each answer must be the header, once, then the echo: a
    header too many would show as the start of the next answer."""
    message = bytes(range(256)) * (MESSAGE_SIZE // 256)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(message[:100])
        assert _receive_exactly(conn, len(HEADER) + 100) == HEADER + message[:100]
        conn.sendall(message[100:])
        assert _receive_exactly(conn, MESSAGE_SIZE - 100) == message[100:]
        for _ in range(2):
            conn.sendall(message)
            assert _receive_exactly(conn, len(HEADER) + MESSAGE_SIZE) == HEADER + message


@pytest.mark.parametrize("style", HEADER_STYLES)
@pytest.mark.parametrize("loop_name", loops.NAMES)
def test_header_style_answers_each_request_with_one_header(loop_name, style):
    _loop_or_skip(loop_name)
    with _server_process([sys.executable, str(SERVER), "--loop", loop_name, "--style", style,
                          "--message-size", str(MESSAGE_SIZE)]) as port:
        _assert_one_header_per_request(port)


@pytest.mark.parametrize("flag", ["--header-once", "--header-twice"])
def test_c_server_answers_each_request_with_one_header(flag):
    c_server = _compiled(c_programs.C_SERVER)
    with _server_process([str(c_server), "--port", "0", flag,
                          "--message-size", str(MESSAGE_SIZE)]) as port:
        _assert_one_header_per_request(port)


@pytest.mark.parametrize("style", HEADER_STYLES)
def test_header_style_requires_the_message_size(style):
    result = subprocess.run(
        [sys.executable, str(SERVER), "--loop", "asyncio", "--style", style],
        capture_output=True, text=True, timeout=10)
    assert result.returncode == 2
    assert f"--message-size is required for the style {style}" in result.stderr


@pytest.mark.parametrize("flags", [
    pytest.param(["--header-once"], id="once-without-size"),
    pytest.param(["--header-twice"], id="twice-without-size"),
    pytest.param(["--message-size", "1024"], id="size-without-header"),
    pytest.param(["--header-once", "--header-twice", "--message-size", "1024"], id="both"),
])
def test_c_server_refuses_inconsistent_header_flags(flags):
    c_server = _compiled(c_programs.C_SERVER)
    result = subprocess.run([str(c_server), "--port", "0", *flags], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=5)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: echo_c_server")


def test_client_refuses_a_reply_header_over_4096_bytes():
    client = _compiled(c_programs.CLIENT)
    result = subprocess.run([str(client), "--port", "1", "--size", "1024",
                             "--reply-header", "4097"],
                            capture_output=True, text=True, timeout=5)
    assert result.returncode == 2
    assert "--reply-header must be at most 4096 bytes, not 4097" in result.stderr


def _serve_one_connection(listener, answer):
    """Answers each message of one connection with ``answer(number, message)``
    until the client closes it (with a reset, when it stopped reading on an
    error). The client keeps one message in flight, so each read of
    MESSAGE_SIZE bytes is one whole message."""
    conn, _ = listener.accept()
    with conn:
        number = 0
        try:
            while message := conn.recv(MESSAGE_SIZE, socket.MSG_WAITALL):
                conn.sendall(answer(number, message))
                number += 1
        except ConnectionError:
            pass


def _run_client_against(answer, *client_options):
    client = _compiled(c_programs.CLIENT)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=_serve_one_connection, args=(listener, answer))
        server.start()
        result = subprocess.run(
            [str(client), "--port", str(listener.getsockname()[1]),
             "--size", str(MESSAGE_SIZE), "--connections", "1", "--warmup", "0",
             "--duration", "0.2", "--drain", "0.3", *client_options],
            capture_output=True, text=True, timeout=10)
        server.join(timeout=5)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_client_flags_a_server_that_corrupts_a_byte():
    def flip_first_byte_of_third_message(number, message):
        if number == 2:
            return bytes([message[0] ^ 0xFF]) + message[1:]
        return message

    report = _run_client_against(flip_first_byte_of_third_message)
    assert '"errors": 1,' in report
    assert "an echoed byte differs" in report


def test_client_flags_a_server_that_drops_a_byte():
    def drop_last_byte_of_third_message(number, message):
        return message[:-1] if number == 2 else message

    report = _run_client_against(drop_last_byte_of_third_message)
    assert '"errors": 1,' in report
    assert "stalled" in report


def test_client_accepts_a_correct_echo():
    report = _run_client_against(lambda number, message: message)
    assert '"errors": 0,' in report
    assert not report.startswith('{"requests": 0,')


def _third_header(change):
    """An answer of header and echo whose third header is ``change(HEADER)``."""
    def answer(number, message):
        return (change(HEADER) if number == 2 else HEADER) + message
    return answer


@pytest.mark.parametrize("answer, error", [
    pytest.param(_third_header(lambda header: header[:10] + b"?" + header[11:]),
                 "a byte of the reply header differs", id="corrupted"),
    pytest.param(_third_header(lambda header: header[1:]),
                 "a byte of the reply header differs", id="first-byte-dropped"),
    pytest.param(_third_header(lambda header: b""),
                 "a byte of the reply header differs", id="missing"),
    # The echo then starts with the second header, or, read in one piece,
    # the answer is longer than header and message.
    pytest.param(_third_header(lambda header: header + header),
                 "an echoed byte differs|the server sent more bytes", id="sent-twice"),
])
def test_client_flags_a_server_that_gets_the_reply_header_wrong(answer, error):
    report = _run_client_against(answer, "--reply-header", str(len(HEADER)))
    assert '"errors": 1,' in report
    assert re.search(error, report), report


def test_client_accepts_a_correct_header_and_echo():
    report = _run_client_against(lambda number, message: HEADER + message,
                                 "--reply-header", str(len(HEADER)))
    assert '"errors": 0,' in report
    assert not report.startswith('{"requests": 0,')

