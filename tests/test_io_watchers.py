"""add_reader/add_writer: watching file descriptors (loopback sockets only)."""

import contextvars
import errno
import os
import resource
import socket

import pytest

from support import run_once

request_id = contextvars.ContextVar("request_id", default=None)


@pytest.fixture
def socket_pair():
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    try:
        yield left, right
    finally:
        left.close()
        right.close()


def test_reader_fires_when_data_arrives(loop, socket_pair):
    left, right = socket_pair
    received = loop.create_future()

    def on_readable(sock):
        received.set_result(sock.recv(100))
        loop.remove_reader(sock)

    loop.add_reader(left.fileno(), on_readable, left)
    right.send(b"ping")

    assert loop.run_until_complete(received) == b"ping"


def test_reader_accepts_an_object_with_fileno(loop, socket_pair):
    left, right = socket_pair
    received = loop.create_future()

    loop.add_reader(left, lambda: received.set_result(left.recv(100)))
    right.send(b"ping")

    assert loop.run_until_complete(received) == b"ping"
    assert loop.remove_reader(left) is True


def test_reader_keeps_firing_while_data_stays_unread(loop, socket_pair):
    left, right = socket_pair
    calls = 0
    three_calls = loop.create_future()

    def on_readable():
        nonlocal calls
        calls += 1
        if calls == 3:
            loop.remove_reader(left)
            three_calls.set_result(None)

    loop.add_reader(left, on_readable)
    right.send(b"unread")
    loop.run_until_complete(three_calls)

    assert calls == 3


def test_reader_does_not_fire_without_data(loop, socket_pair):
    left, _ = socket_pair
    calls = []
    loop.add_reader(left, calls.append, "readable")

    run_once(loop)
    run_once(loop)

    assert calls == []


def test_remove_reader_returns_true_when_a_reader_was_removed(loop, socket_pair):
    left, _ = socket_pair
    loop.add_reader(left, print)

    assert loop.remove_reader(left) is True


def test_remove_reader_returns_false_when_there_was_none(loop, socket_pair):
    left, _ = socket_pair

    assert loop.remove_reader(left) is False


def test_remove_reader_returns_false_the_second_time(loop, socket_pair):
    left, _ = socket_pair
    loop.add_reader(left, print)
    loop.remove_reader(left)

    assert loop.remove_reader(left) is False


def test_removed_reader_no_longer_fires(loop, socket_pair):
    left, right = socket_pair
    calls = []
    loop.add_reader(left, calls.append, "readable")
    loop.remove_reader(left)
    right.send(b"ping")

    run_once(loop)

    assert calls == []


def test_adding_a_reader_again_replaces_the_previous_one(loop, socket_pair):
    left, right = socket_pair
    calls = []
    received = loop.create_future()
    loop.add_reader(left, calls.append, "first reader")
    loop.add_reader(left, lambda: received.set_result(left.recv(100)))
    right.send(b"ping")

    assert loop.run_until_complete(received) == b"ping"
    assert calls == []
    assert loop.remove_reader(left) is True
    assert loop.remove_reader(left) is False


def test_writer_fires_when_the_socket_is_writable(loop, socket_pair):
    left, _ = socket_pair
    writable = loop.create_future()

    def on_writable(name):
        loop.remove_writer(left)
        writable.set_result(name)

    loop.add_writer(left, on_writable, "left")

    assert loop.run_until_complete(writable) == "left"


def test_remove_writer_returns_true_then_false(loop, socket_pair):
    left, _ = socket_pair
    loop.add_writer(left, print)

    assert loop.remove_writer(left) is True
    assert loop.remove_writer(left) is False


def test_removing_the_writer_keeps_the_reader_of_the_same_fd(loop, socket_pair):
    left, right = socket_pair
    received = loop.create_future()
    loop.add_reader(left, lambda: received.set_result(left.recv(100)))
    loop.add_writer(left, print)

    assert loop.remove_writer(left) is True
    right.send(b"still read")

    assert loop.run_until_complete(received) == b"still read"
    assert loop.remove_reader(left) is True


def test_removing_the_reader_keeps_the_writer_of_the_same_fd(loop, socket_pair):
    left, _ = socket_pair
    writable = loop.create_future()
    loop.add_reader(left, print)
    loop.add_writer(left, lambda: writable.done() or writable.set_result("writable"))

    assert loop.remove_reader(left) is True

    assert loop.run_until_complete(writable) == "writable"
    assert loop.remove_writer(left) is True


def test_remove_reader_on_a_closed_loop_returns_false(loop, socket_pair):
    left, _ = socket_pair
    loop.add_reader(left, print)
    loop.close()

    assert loop.remove_reader(left) is False


@pytest.mark.parametrize("kind", ["reader", "writer"])
def test_a_socket_closed_while_watched_is_removed_by_the_object(loop, kind):
    # Its fileno() is -1 now: selectors finds it by identity among the
    # watched objects. anyio removes the reader of a socket it just closed.
    sock, peer = socket.socketpair()
    with peer:
        getattr(loop, f"add_{kind}")(sock, print)
        sock.close()

        assert getattr(loop, f"remove_{kind}")(sock) is True
        with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
            getattr(loop, f"remove_{kind}")(sock)


@pytest.mark.parametrize("kind", ["reader", "writer"])
def test_removing_a_closed_socket_never_watched_raises_value_error(loop, kind):
    sock, peer = socket.socketpair()
    peer.close()
    sock.close()

    with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
        getattr(loop, f"remove_{kind}")(sock)


def test_a_closed_socket_is_forgotten_once_its_fd_is_no_longer_watched(loop):
    sock, peer = socket.socketpair()
    with peer:
        loop.add_reader(sock, print)
        loop.add_writer(sock, print)
        loop.remove_reader(sock)
        loop.remove_writer(sock)
        sock.close()

        with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
            loop.remove_reader(sock)


def test_a_socket_first_watched_by_its_fd_number_is_not_found_by_the_object(loop):
    # selectors keeps what an fd was first registered as: here the number.
    sock, peer = socket.socketpair()
    with peer:
        loop.add_reader(sock.fileno(), print)
        loop.add_writer(sock, print)
        sock.close()

        with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
            loop.remove_writer(sock)


def test_removing_a_closed_socket_from_a_closed_loop_returns_false(loop):
    sock, peer = socket.socketpair()
    with peer:
        loop.add_reader(sock, print)
        loop.close()
        sock.close()

        assert loop.remove_reader(sock) is False


def test_add_reader_on_a_closed_loop_raises_runtime_error(loop, socket_pair):
    left, _ = socket_pair
    loop.close()

    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.add_reader(left, print)


@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
def test_watching_a_closed_fd_raises_os_error(loop, method):
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)

    with pytest.raises(OSError) as excinfo:
        getattr(loop, method)(read_end, print)

    assert excinfo.value.errno == errno.EBADF


@pytest.mark.parametrize("method", ["add_reader", "add_writer", "remove_reader", "remove_writer"])
def test_negative_fd_raises_value_error(loop, method):
    arguments = (-1, print) if method.startswith("add") else (-1,)

    with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
        getattr(loop, method)(*arguments)


@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
def test_object_without_fileno_raises_value_error(loop, method):
    with pytest.raises(ValueError, match="Invalid file object"):
        getattr(loop, method)(object(), print)


@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
def test_watching_a_regular_file_raises_permission_error(loop, method, tmp_path):
    path = tmp_path / "regular"
    path.write_bytes(b"data")

    with open(path, "rb") as regular_file:
        with pytest.raises(PermissionError):
            getattr(loop, method)(regular_file.fileno(), print)


def test_failed_add_reader_leaves_nothing_watched(loop, tmp_path):
    path = tmp_path / "regular"
    path.write_bytes(b"data")

    with open(path, "rb") as regular_file:
        with pytest.raises(PermissionError):
            loop.add_reader(regular_file.fileno(), print)
        assert loop.remove_reader(regular_file.fileno()) is False


def test_one_iteration_runs_ready_callbacks_then_io_callbacks_then_due_timers(loop, socket_pair):
    left, right = socket_pair
    calls = []
    right.send(b"ready to read")
    loop.call_later(-1, calls.append, "due timer")
    loop.add_reader(left, calls.append, "reader")
    loop.call_soon(calls.append, "ready callback")

    run_once(loop)

    assert calls == ["ready callback", "reader", "due timer"]


def test_exception_in_a_reader_is_reported_and_the_reader_stays(loop, socket_pair):
    left, right = socket_pair
    reported = []
    loop.set_exception_handler(lambda loop, context: reported.append(context["exception"]))
    calls = 0
    second_call = loop.create_future()

    def on_readable():
        nonlocal calls
        calls += 1
        if calls == 1:
            raise LookupError("from the reader")
        left.recv(100)
        second_call.set_result(None)

    loop.add_reader(left, on_readable)
    right.send(b"ping")
    loop.run_until_complete(second_call)

    assert [type(exc) for exc in reported] == [LookupError]
    assert loop.remove_reader(left) is True


def test_reader_runs_in_a_copy_of_the_context_it_was_added_in(loop, socket_pair):
    left, right = socket_pair
    seen = loop.create_future()

    def add():
        request_id.set("when added")
        loop.add_reader(left, lambda: seen.set_result(request_id.get()))

    contextvars.copy_context().run(add)
    right.send(b"ping")

    assert loop.run_until_complete(seen) == "when added"
    loop.remove_reader(left)


def test_watches_of_high_and_low_fds_come_and_go_independently(loop, socket_pair):
    # A high fd number (the loop may index its watches by fd) next to a low
    # one: each fires, is removed and is watched again on its own.
    left, right = socket_pair
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    high_fd = min(soft, 4096) - 1
    os.dup2(left.fileno(), high_fd)
    try:
        fired = []

        def on_readable(name):
            fired.append(name)
            loop.stop()

        loop.add_reader(high_fd, on_readable, "high")
        right.send(b"x")
        loop.run_forever()
        assert fired == ["high"]

        loop.add_reader(right.fileno(), on_readable, "low")
        left.send(b"y")
        assert loop.remove_reader(high_fd) is True
        loop.run_forever()
        assert fired == ["high", "low"]
        assert loop.remove_reader(high_fd) is False
        assert loop.remove_reader(right.fileno()) is True
        assert loop.remove_reader(right.fileno()) is False

        loop.add_reader(high_fd, on_readable, "high again")
        loop.run_forever()
        assert fired == ["high", "low", "high again"]
        assert loop.remove_reader(high_fd) is True
    finally:
        os.close(high_fd)
