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
    "format_callback_source",
    "extract_stack",
    "format_handle",
    "ipaddr_info",
    "future_get_loop",
    "set_result_unless_cancelled",
    "is_debug_mode",
    "iscoroutinefunction",
    "default_event_loop_policy_base",
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


def test_ipaddr_info_resolves_a_numeric_address_without_a_lookup():
    resolved = aio_private.ipaddr_info("127.0.0.1", 80, socket.AF_UNSPEC, socket.SOCK_STREAM, 0)

    assert resolved == (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                        ("127.0.0.1", 80))


def test_ipaddr_info_gives_up_on_a_host_name():
    assert aio_private.ipaddr_info("localhost", 80, socket.AF_UNSPEC, socket.SOCK_STREAM, 0) is None


def test_future_get_loop_returns_the_loop_of_a_future(stock_loop):
    future = stock_loop.create_future()

    assert aio_private.future_get_loop(future) is stock_loop


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
