"""Debug mode: slow callbacks, thread checks, callback checks, where
handles were created."""

import asyncio
import sys

import pytest

from support import in_other_thread, run_once


def slow_callback(advance_clock):
    """Stands for a callback that blocks the loop for a second."""
    advance_clock(1.0)


@pytest.fixture
def debug_loop(loop):
    loop.set_debug(True)
    return loop


@pytest.fixture
def advancing_clock(debug_loop):
    """Patch loop.time so that a callback can "take" seconds of loop time
    without sleeping: ``advance(seconds)``."""
    real_time = debug_loop.time
    offset = 0.0

    def fake_time():
        return real_time() + offset

    def advance(seconds):
        nonlocal offset
        offset += seconds

    debug_loop.time = fake_time
    return advance


def executing_records(caplog):
    return [record for record in caplog.records if record.getMessage().startswith("Executing ")]


def test_set_debug_turns_debug_mode_on_and_off(loop):
    loop.set_debug(True)
    assert loop.get_debug() is True
    loop.set_debug(False)
    assert loop.get_debug() is False


def test_pythonasynciodebug_makes_new_loops_debug(loop_factory, monkeypatch):
    if sys.flags.ignore_environment:
        pytest.skip("python -E ignores PYTHONASYNCIODEBUG")
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")
    debugging = loop_factory()
    try:
        assert debugging.get_debug() is True
    finally:
        debugging.close()


def test_slow_callback_is_logged_in_debug_mode(debug_loop, advancing_clock, caplog):
    debug_loop.slow_callback_duration = 0.5
    debug_loop.call_soon(slow_callback, advancing_clock)

    run_once(debug_loop)

    [record] = executing_records(caplog)
    assert record.name == "asyncio"
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith("Executing <Handle slow_callback(")
    assert record.getMessage().endswith(" took 1.000 seconds")


class HandleLike:
    """Not a Handle: what code that appends to loop._ready itself queues."""

    _cancelled = False

    def __init__(self, callback):
        self._callback = callback

    def _run(self):
        self._callback()

    def __str__(self):
        return "<HandleLike>"


def test_slow_handle_like_object_in_the_ready_queue_is_logged(
        debug_loop, advancing_clock, caplog):
    debug_loop.slow_callback_duration = 0.5
    debug_loop._ready.append(HandleLike(lambda: advancing_clock(1.0)))

    run_once(debug_loop)

    [record] = executing_records(caplog)
    assert record.getMessage() == "Executing <HandleLike> took 1.000 seconds"


def test_callback_faster_than_slow_callback_duration_is_not_logged(
        debug_loop, advancing_clock, caplog):
    debug_loop.slow_callback_duration = 0.5
    debug_loop.call_soon(advancing_clock, 0.25)

    run_once(debug_loop)

    assert executing_records(caplog) == []


def test_slow_callback_is_not_logged_outside_debug_mode(loop, caplog):
    real_time = loop.time
    offset = 0.0

    def advance():
        nonlocal offset
        offset += 1.0

    loop.time = lambda: real_time() + offset
    loop.slow_callback_duration = 0.5
    loop.call_soon(advance)

    run_once(loop)

    assert executing_records(caplog) == []


def test_slow_task_step_is_logged_with_the_task(debug_loop, advancing_clock, caplog):
    debug_loop.slow_callback_duration = 0.5

    async def slow_step():
        advancing_clock(1.0)

    task = debug_loop.create_task(slow_step(), name="slow step")
    debug_loop.run_until_complete(task)

    messages = [record.getMessage() for record in executing_records(caplog)]
    assert [message for message in messages if message.startswith("Executing <Task ")] != []
    assert all("name='slow step'" in message for message in messages)


@pytest.mark.parametrize("method", ["call_soon", "call_later", "call_at"])
def test_scheduling_from_another_thread_raises_in_debug_mode(debug_loop, method):
    schedule = {
        "call_soon": lambda: debug_loop.call_soon(print),
        "call_later": lambda: debug_loop.call_later(1, print),
        "call_at": lambda: debug_loop.call_at(debug_loop.time() + 1, print),
    }[method]

    outcome = debug_loop.run_until_complete(in_other_thread(debug_loop, schedule))

    assert isinstance(outcome, RuntimeError)
    assert str(outcome) == ("Non-thread-safe operation invoked on an event loop "
                            "other than the current one")


def test_call_soon_threadsafe_from_another_thread_is_allowed_in_debug_mode(debug_loop):
    ran = debug_loop.create_future()

    async def main():
        await in_other_thread(debug_loop, debug_loop.call_soon_threadsafe,
                              ran.set_result, "ran")
        return await ran

    assert debug_loop.run_until_complete(main()) == "ran"


CHECKED_METHODS = {
    # method: (how to call it with a callback, the name asyncio's message uses)
    "call_soon": (lambda loop, callback: loop.call_soon(callback), "call_soon"),
    "call_soon_threadsafe": (lambda loop, callback: loop.call_soon_threadsafe(callback),
                             "call_soon_threadsafe"),
    "call_later": (lambda loop, callback: loop.call_later(1, callback), "call_at"),
    "call_at": (lambda loop, callback: loop.call_at(loop.time() + 1, callback), "call_at"),
}


@pytest.mark.parametrize("method", sorted(CHECKED_METHODS))
def test_coroutine_as_callback_raises_type_error_in_debug_mode(debug_loop, method):
    schedule, name = CHECKED_METHODS[method]

    async def coroutine_function():
        pass

    coroutine = coroutine_function()
    try:
        with pytest.raises(TypeError, match=rf"^coroutines cannot be used with {name}\(\)$"):
            schedule(debug_loop, coroutine)
    finally:
        coroutine.close()


@pytest.mark.parametrize("method", sorted(CHECKED_METHODS))
def test_coroutine_function_as_callback_raises_type_error_in_debug_mode(debug_loop, method):
    schedule, name = CHECKED_METHODS[method]

    async def coroutine_function():
        pass

    with pytest.raises(TypeError, match=rf"^coroutines cannot be used with {name}\(\)$"):
        schedule(debug_loop, coroutine_function)


@pytest.mark.parametrize("method", sorted(CHECKED_METHODS))
def test_non_callable_callback_raises_type_error_in_debug_mode(debug_loop, method):
    schedule, name = CHECKED_METHODS[method]

    with pytest.raises(TypeError) as excinfo:
        schedule(debug_loop, 42)

    assert str(excinfo.value) == f"a callable object was expected by {name}(), got 42"


def test_coroutine_for_run_in_executor_raises_type_error_in_debug_mode(debug_loop):
    async def coroutine_function():
        pass

    with pytest.raises(TypeError, match=r"coroutines cannot be used with run_in_executor\(\)"):
        debug_loop.run_in_executor(None, coroutine_function)


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe", "call_later", "call_at"])
def test_handle_remembers_where_it_was_created_in_debug_mode(debug_loop, method):
    leading_args = {"call_later": (1,), "call_at": (debug_loop.time() + 1,)}.get(method, ())

    handle = getattr(debug_loop, method)(*leading_args, print)
    line = sys._getframe().f_lineno - 1

    filename, lineno = handle._source_traceback[-1][:2]
    assert (filename, lineno) == (__file__, line)


def test_task_remembers_where_it_was_created_in_debug_mode(debug_loop):
    async def nothing():
        pass

    task = debug_loop.create_task(nothing())
    line = sys._getframe().f_lineno - 1
    debug_loop.run_until_complete(task)

    filename, lineno = task._source_traceback[-1][:2]
    assert (filename, lineno) == (__file__, line)


def test_handle_remembers_nothing_outside_debug_mode(loop):
    handle = loop.call_soon(print)

    assert handle._source_traceback is None


def test_handle_repr_says_where_it_was_created_in_debug_mode(debug_loop):
    handle = debug_loop.call_soon(print)
    line = sys._getframe().f_lineno - 1

    assert repr(handle).endswith(f" created at {__file__}:{line}>")


def test_exception_in_a_callback_carries_its_source_traceback_in_debug_mode(debug_loop):
    reported = []
    debug_loop.set_exception_handler(lambda loop, context: reported.append(context))

    def fail():
        raise LookupError("from a callback")

    debug_loop.call_soon(fail)
    line = sys._getframe().f_lineno - 1
    run_once(debug_loop)

    [context] = reported
    filename, lineno = context["source_traceback"][-1][:2]
    assert (filename, lineno) == (__file__, line)


def test_debug_mode_tracks_coroutine_origins_while_running(debug_loop):
    async def tracking_depth():
        return sys.get_coroutine_origin_tracking_depth()

    before = sys.get_coroutine_origin_tracking_depth()

    assert debug_loop.run_until_complete(tracking_depth()) == asyncio.constants.DEBUG_STACK_DEPTH
    assert sys.get_coroutine_origin_tracking_depth() == before


def test_runner_debug_true_turns_debug_mode_on(loop_factory):
    async def debugging():
        return asyncio.get_running_loop().get_debug()

    with asyncio.Runner(debug=True, loop_factory=loop_factory) as runner:
        assert runner.run(debugging()) is True


def test_slow_callback_duration_is_a_tenth_of_a_second_by_default(loop):
    assert loop.slow_callback_duration == 0.1


def test_set_debug_while_running_turns_coroutine_origin_tracking_on(loop):
    async def tracking_depth_after_set_debug():
        loop.set_debug(True)
        await asyncio.sleep(0)
        return sys.get_coroutine_origin_tracking_depth()

    assert loop.run_until_complete(tracking_depth_after_set_debug()) == \
        asyncio.constants.DEBUG_STACK_DEPTH


def test_cancelled_handle_repr_keeps_the_callback_in_debug_mode(debug_loop):
    handle = debug_loop.call_soon(print)
    line = sys._getframe().f_lineno - 1

    handle.cancel()

    assert repr(handle) == f"<Handle cancelled print() created at {__file__}:{line}>"
