"""Faults a review of the core found (each once crashed, hung or differed
from asyncio); kept as specifications."""

import asyncio
import gc
import math
import signal
import socket
import threading
import weakref

import pytest

from support import receive_exactly


def test_readers_added_from_another_thread_while_the_loop_waits_all_fire(loop):
    # The compiled poller once grew its event array from the adding thread
    # while epoll_wait() was filling it: heap corruption.
    pairs = [socket.socketpair() for _ in range(200)]
    reader_fds = {reader.fileno() for reader, _ in pairs}
    fired = set()

    def on_readable(reader):
        reader.recv(1)
        fired.add(reader.fileno())
        if len(fired) == len(pairs):
            loop.stop()

    def add_readers_then_write():
        for reader, _ in pairs:
            loop.add_reader(reader.fileno(), on_readable, reader)
        for _, writer in pairs:
            writer.send(b"x")

    adder = threading.Thread(target=add_readers_then_write)
    loop.call_soon(adder.start)
    try:
        loop.run_forever()
    finally:
        adder.join()
        for reader, writer in pairs:
            loop.remove_reader(reader.fileno())
            reader.close()
            writer.close()
    assert fired == reader_fds


@pytest.mark.fastloop_only
def test_a_nan_deadline_does_not_stall_the_loop(loop):
    # Stock asyncio runs such a timer at once on 3.11/3.12 and raises from
    # its poll on 3.13; fastloop runs it at once. It must never wait forever.
    ran = []
    loop.call_at(math.nan, ran.append, "nan")
    loop.call_later(0.001, ran.append, "later")
    loop.call_later(0.002, loop.stop)
    loop.run_forever()
    assert ran == ["nan", "later"]


@pytest.fixture
def restored_signal_state():
    handler = signal.getsignal(signal.SIGUSR1)
    wakeup_fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup_fd)
    yield
    signal.signal(signal.SIGUSR1, handler)
    signal.set_wakeup_fd(wakeup_fd)


def test_the_applications_own_signal_wakeup_fd_is_left_alone(loop, restored_signal_state):
    reader, writer = socket.socketpair()
    with reader, writer:
        reader.setblocking(False)
        writer.setblocking(False)
        signal.signal(signal.SIGUSR1, lambda *args: None)
        signal.set_wakeup_fd(writer.fileno())
        received = []

        def on_signal_byte():
            received.extend(reader.recv(100))
            loop.stop()

        loop.add_reader(reader, on_signal_byte)
        loop.call_soon(signal.raise_signal, signal.SIGUSR1)
        loop.run_forever()
        loop.remove_reader(reader)
        assert received == [signal.SIGUSR1]
        assert signal.set_wakeup_fd(-1) == writer.fileno()


def test_a_signal_handler_raising_in_the_drain_does_not_stop_later_wakeups(
        loop_factory, restored_signal_state):
    # A Ctrl-C landing while the loop drains its self-pipe once left it
    # unable to be woken by other threads ever again.
    probe = loop_factory()
    loop_class = type(probe)
    probe.close()
    if loop_class.__module__.startswith("asyncio"):
        loop_class = asyncio.SelectorEventLoop

    class InterruptedOnce(loop_class):
        armed = True

        def _handle_signal(self, sig):
            if self.armed:
                self.armed = False
                raise KeyboardInterrupt
            return super()._handle_signal(sig)

    loop = InterruptedOnce()
    try:
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        loop.call_soon_threadsafe(lambda: None)  # a wake-up is pending
        signal.raise_signal(signal.SIGUSR1)      # and a signal byte follows
        with pytest.raises(KeyboardInterrupt):
            loop.run_forever()

        def wake_from_another_thread():
            loop.call_soon_threadsafe(loop.stop)

        waker = threading.Thread(target=wake_from_another_thread)
        loop.call_soon(waker.start)
        loop.run_forever()  # returns only if the thread's wake-up got through
        waker.join()
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        loop.close()


@pytest.mark.fastloop_only
def test_code_run_while_a_write_buffer_empties_may_append_to_it(loop):
    # Emptying a sent write buffer in place once let go of its items with
    # the list still pointing at them: a weakref callback that appended to
    # the list (reached through gc) wrote into slots not yet released, and
    # the list was left holding freed objects (a crash on the next read).
    class Kept:
        pass

    ours, peer = socket.socketpair()
    peer.settimeout(10)
    with peer:
        transport, _ = loop.run_until_complete(
            loop.connect_accepted_socket(asyncio.Protocol, ours))
        buffers = [item for item in gc.get_referents(transport._core) if type(item) is list]
        appended = []

        def respond():
            # A view the buffer keeps as a view of its own, and one more piece.
            transport.write(memoryview(b"a" * 1000))
            transport.write(b"second")
            for buffer in buffers:
                for item in buffer:
                    if type(item) is memoryview:
                        appended.append(weakref.ref(item, lambda _, buffer=buffer:
                                                    buffer.extend([object(), Kept()])))

        loop.call_soon(respond)
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert receive_exactly(peer, 1006) == b"a" * 1000 + b"second"
        assert appended
        for buffer in buffers:
            assert all(type(item) in (object, Kept, bytes, memoryview) for item in buffer)
            buffer.clear()
        transport.abort()
        loop.run_until_complete(asyncio.sleep(0))
