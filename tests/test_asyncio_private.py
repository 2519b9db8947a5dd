"""Every private asyncio name fastloop relies on (src/fastloop/_asyncio_private.py)
exists on this Python and behaves the way fastloop uses it."""

import asyncio
import socket
import sys
import traceback
import types
import warnings

import pytest

from fastloop import _asyncio_private as aio_private

CHECKED_NAMES = {
    "set_running_loop",
    "get_running_loop_or_none",
    "C_FUTURE",
    "c_get_running_loop",
    "format_callback_source",
    "extract_stack",
    "format_handle",
    "future_get_loop",
    "set_result_unless_cancelled",
    "run_until_complete_cb",
    "is_debug_mode",
    "iscoroutinefunction",
    "default_event_loop_policy_base",
    "FlowControlMixin",
    "TransportSocket",
    "set_nodelay",
    "LOG_THRESHOLD_FOR_CONNLOST_WRITES",
    "SENDFILE_TRY_NATIVE",
    "server_attach",
    "server_detach",
    "BORROWED_LOOP_METHODS",
}


def sample_callback(*args):
    """A module-level function: its source position is known."""


@pytest.fixture
def stock_loop():
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


def test_every_name_the_module_provides_is_checked_here():
    provided = {name for name, value in vars(aio_private).items()
                if not name.startswith("_") and not isinstance(value, types.ModuleType)}

    assert provided == CHECKED_NAMES


def test_set_running_loop_makes_the_loop_the_running_one(stock_loop):
    aio_private.set_running_loop(stock_loop)
    try:
        assert aio_private.get_running_loop_or_none() is stock_loop
        assert asyncio.get_running_loop() is stock_loop
    finally:
        aio_private.set_running_loop(None)

    assert aio_private.get_running_loop_or_none() is None


def test_c_future_is_asyncios_future_and_finds_the_running_loop_itself(stock_loop):
    # create_future makes C_FUTURE() without a loop when c_get_running_loop()
    # says the loop is running: the C Future must take that same loop.
    assert asyncio.futures.Future is aio_private.C_FUTURE
    assert aio_private.c_get_running_loop() is None

    async def make_future():
        assert aio_private.c_get_running_loop() is stock_loop
        return aio_private.C_FUTURE()

    future = stock_loop.run_until_complete(make_future())
    assert future.get_loop() is stock_loop
    assert aio_private.c_get_running_loop() is None


def test_format_callback_source_shows_arguments_in_debug_mode():
    line = sample_callback.__code__.co_firstlineno

    formatted = aio_private.format_callback_source(sample_callback, (1, "two"), debug=True)

    assert formatted == f"sample_callback(1, 'two') at {__file__}:{line}"


def test_format_callback_source_names_a_builtin_without_a_position():
    assert aio_private.format_callback_source(print, (), debug=False) == "print()"


def test_extract_stack_ends_with_the_given_frame():
    frame = sys._getframe()
    line = frame.f_lineno + 1
    stack = aio_private.extract_stack(frame)

    assert isinstance(stack, traceback.StackSummary)
    assert (stack[-1][0], stack[-1][1]) == (__file__, line)


def test_format_handle_names_the_task_for_a_task_step(stock_loop):
    async def sleeper():
        await asyncio.sleep(0)

    task = stock_loop.create_task(sleeper())
    step = types.SimpleNamespace(_callback=task.cancel)

    assert aio_private.format_handle(step) == repr(task)
    stock_loop.run_until_complete(asyncio.wait([task]))


def test_format_handle_uses_str_of_other_handles():
    class NamedHandle:
        _callback = staticmethod(print)

        def __str__(self):
            return "<the handle>"

    assert aio_private.format_handle(NamedHandle()) == "<the handle>"


def test_future_get_loop_returns_the_loop_of_a_future(stock_loop):
    future = stock_loop.create_future()

    assert aio_private.future_get_loop(future) is stock_loop


def test_run_until_complete_cb_stops_the_loop_of_the_future(stock_loop):
    future = stock_loop.create_future()
    future.add_done_callback(aio_private.run_until_complete_cb)
    stock_loop.call_soon(future.set_result, None)
    ran_after = []
    stock_loop.call_later(60, ran_after.append, "the loop kept running")

    stock_loop.run_forever()  # returns only once the callback stops it

    assert future.done() and ran_after == []


def test_run_until_complete_cb_leaves_the_loop_alone_for_keyboard_interrupt(stock_loop):
    future = stock_loop.create_future()
    future.set_exception(KeyboardInterrupt())

    aio_private.run_until_complete_cb(future)

    assert not stock_loop._stopping


def test_set_result_unless_cancelled_sets_the_result(stock_loop):
    future = stock_loop.create_future()

    aio_private.set_result_unless_cancelled(future, "result")

    assert future.result() == "result"


def test_set_result_unless_cancelled_leaves_a_cancelled_future_alone(stock_loop):
    future = stock_loop.create_future()
    future.cancel()

    aio_private.set_result_unless_cancelled(future, "result")

    assert future.cancelled()


def test_is_debug_mode_follows_pythonasynciodebug(monkeypatch):
    if sys.flags.dev_mode or sys.flags.ignore_environment:
        pytest.skip("-X dev or -E decide debug mode regardless of the environment")
    monkeypatch.delenv("PYTHONASYNCIODEBUG", raising=False)
    assert aio_private.is_debug_mode() is False

    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")
    assert aio_private.is_debug_mode() is True


def test_iscoroutinefunction_tells_coroutine_functions_apart_without_warning():
    async def coroutine_function():
        pass

    def plain_function():
        pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert aio_private.iscoroutinefunction(coroutine_function) is True
        assert aio_private.iscoroutinefunction(plain_function) is False


def test_default_event_loop_policy_base_loads_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        base = aio_private.default_event_loop_policy_base()

    assert issubclass(base, asyncio.AbstractEventLoopPolicy)


def test_default_event_loop_policy_base_makes_loops_with_loop_factory():
    # fastloop.EventLoopPolicy overrides _loop_factory to make its loops.
    made = object()

    class Policy(aio_private.default_event_loop_policy_base()):
        def _loop_factory(self):
            return made

    assert Policy().new_event_loop() is made


class _RecordingProtocol(asyncio.Protocol):
    def __init__(self):
        self.calls = []

    def pause_writing(self):
        self.calls.append("pause")

    def resume_writing(self):
        self.calls.append("resume")


class _SizedTransport(aio_private.FlowControlMixin, asyncio.Transport):
    """The smallest transport the mixin serves: a buffer size to report."""

    def __init__(self, loop, protocol):
        super().__init__(None, loop)
        self._protocol = protocol
        self.size = 0

    def get_write_buffer_size(self):
        return self.size


def test_flow_control_mixin_pauses_above_the_high_mark_and_resumes_at_the_low(stock_loop):
    protocol = _RecordingProtocol()
    transport = _SizedTransport(stock_loop, protocol)
    transport.set_write_buffer_limits(high=100, low=10)
    transport.size = 101
    transport._maybe_pause_protocol()
    transport.size = 10
    transport._maybe_resume_protocol()
    assert protocol.calls == ["pause", "resume"]
    assert transport.get_write_buffer_limits() == (10, 100)


def test_transport_socket_wraps_the_socket_and_refuses_to_block():
    with socket.socket() as sock:
        wrapped = aio_private.TransportSocket(sock)
        assert wrapped.fileno() == sock.fileno()
        with pytest.raises(ValueError):
            wrapped.setblocking(True)


def test_set_nodelay_turns_nagle_off_on_tcp_sockets():
    # asyncio sets it where the socket says TCP (as getaddrinfo's do).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        aio_private.set_nodelay(sock)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_connection_lost_write_threshold_is_a_small_count():
    assert isinstance(aio_private.LOG_THRESHOLD_FOR_CONNLOST_WRITES, int)
    assert aio_private.LOG_THRESHOLD_FOR_CONNLOST_WRITES > 0


def test_sendfile_try_native_is_the_mode_loop_sendfile_checks():
    from asyncio import constants
    assert aio_private.SENDFILE_TRY_NATIVE is constants._SendfileMode.TRY_NATIVE


def test_server_attach_and_detach_count_the_transports(stock_loop):
    class Transport:
        """Anything a weak reference can point to (3.13 keeps them)."""

    server = asyncio.base_events.Server(stock_loop, [], asyncio.Protocol, None, 100, None, None)
    transport = Transport()
    def attached():
        if sys.version_info >= (3, 13):
            return len(server._clients)
        return server._active_count

    aio_private.server_attach(server, transport)
    assert attached() == 1
    aio_private.server_detach(server, transport)
    assert attached() == 0


def test_borrowed_loop_methods_are_functions_of_this_pythons_asyncio():
    for name, function in aio_private.BORROWED_LOOP_METHODS.items():
        assert isinstance(function, types.FunctionType), name
        assert function.__module__.startswith("asyncio."), name
        assert function.__name__ == name
