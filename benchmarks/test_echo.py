"""Checks of the echo benchmark (echo/), not timings: the driver's quick mode
produces numbers, every server stops cleanly the two ways the benchmark
stops it, and the load generator flags a server that loses or corrupts data
instead of timing it.

Marked ``echo`` (deselect with ``-m "not echo"``): these start server
processes and need a C compiler, and are skipped without one.
"""

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


def _compiled(source):
    try:
        return c_programs.compiled(source)
    except c_programs.CompileError as exc:
        pytest.skip(str(exc))


def test_quick_run_reports_numbers_for_every_server():
    _compiled(c_programs.CLIENT)
    result = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--duration", "0.2", "--warmup", "0.05",
         "--sizes", "1k", "--styles", "protocol", "--loops", "asyncio"],
        capture_output=True, text=True, timeout=50)
    assert result.returncode == 0, result.stdout + result.stderr
    # The throughput table's row: asyncio, then the C server with its ratio.
    row = next(line for line in result.stdout.splitlines()
               if line.startswith("| protocol | 1 KiB |"))
    asyncio_cell, c_cell = [cell.strip() for cell in row.strip("|").split("|")][2:]
    assert re.fullmatch(r"[\d.]+k?( ‡)?", asyncio_cell), row
    assert re.fullmatch(r"[\d.]+k?( ‡)? ×[\d.]+ \([\d.]+–[\d.]+\)", c_cell), row


def _loop_or_skip(name):
    kind = next(kind for kind in loops.LOOPS if kind.name == name)
    try:
        kind.load()
    except loops.Unavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("stop", ["sigterm", "stdin-closes"])
@pytest.mark.parametrize("loop_name", loops.NAMES)
def test_server_echoes_then_exits_cleanly(loop_name, stop):
    _loop_or_skip(loop_name)
    with subprocess.Popen(
            [sys.executable, str(SERVER), "--loop", loop_name, "--style", "protocol"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as server:
        try:
            port = int(server.stdout.readline())
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(b"ping")
                assert conn.recv(4, socket.MSG_WAITALL) == b"ping"
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


def _serve_one_connection(listener, mangle):
    """Echoes one connection through ``mangle(chunk_number, chunk)``, until
    the client closes it (with a reset, when it stopped reading on an error)."""
    conn, _ = listener.accept()
    with conn:
        chunk_number = 0
        try:
            while chunk := conn.recv(65536):
                conn.sendall(mangle(chunk_number, chunk))
                chunk_number += 1
        except ConnectionResetError:
            pass


def _run_client_against(mangle):
    client = _compiled(c_programs.CLIENT)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=_serve_one_connection, args=(listener, mangle))
        server.start()
        result = subprocess.run(
            [str(client), "--port", str(listener.getsockname()[1]), "--size", "1024",
             "--connections", "1", "--warmup", "0", "--duration", "0.2", "--drain", "0.3"],
            capture_output=True, text=True, timeout=10)
        server.join(timeout=5)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_client_flags_a_server_that_corrupts_a_byte():
    def flip_first_byte_of_third_chunk(number, chunk):
        if number == 2:
            return bytes([chunk[0] ^ 0xFF]) + chunk[1:]
        return chunk

    report = _run_client_against(flip_first_byte_of_third_chunk)
    assert '"errors": 1,' in report
    assert "an echoed byte differs" in report


def test_client_flags_a_server_that_drops_a_byte():
    def drop_last_byte_of_third_chunk(number, chunk):
        return chunk[:-1] if number == 2 else chunk

    report = _run_client_against(drop_last_byte_of_third_chunk)
    assert '"errors": 1,' in report
    assert "stalled" in report


def test_client_accepts_a_correct_echo():
    report = _run_client_against(lambda number, chunk: chunk)
    assert '"errors": 0,' in report
    assert not report.startswith('{"requests": 0,')

