"""Running, stopping and closing a loop."""

import asyncio
import contextvars
import gc
import sys
import warnings
import weakref

import pytest

from support import run_once


async def answer():
    return 42


def test_run_until_complete_returns_the_result_of_a_coroutine(loop):
    assert loop.run_until_complete(answer()) == 42


def test_run_until_complete_returns_the_result_of_a_future(loop):
    future = loop.create_future()
    loop.call_soon(future.set_result, "done")

    assert loop.run_until_complete(future) == "done"


def test_run_until_complete_raises_the_exception_of_the_coroutine(loop):
    async def fail():
        raise LookupError("from the coroutine")

    with pytest.raises(LookupError, match="from the coroutine"):
        loop.run_until_complete(fail())


def test_is_running_is_true_only_while_the_loop_runs(loop):
    async def running():
        return loop.is_running()

    assert not loop.is_running()
    assert loop.run_until_complete(running()) is True
    assert not loop.is_running()


def test_stop_lets_callbacks_already_scheduled_run(loop):
    calls = []
    loop.call_soon(loop.stop)
    loop.call_soon(calls.append, "scheduled after stop()")

    loop.run_forever()

    assert calls == ["scheduled after stop()"]


def test_stop_before_run_forever_runs_exactly_one_iteration(loop):
    calls = []

    def first():
        calls.append("first")
        loop.call_soon(calls.append, "next iteration")

    loop.call_soon(first)
    loop.stop()
    loop.run_forever()

    assert calls == ["first"]


def test_loop_can_run_again_after_stop(loop):
    run_once(loop)

    assert loop.run_until_complete(answer()) == 42


def test_close_marks_the_loop_closed(loop):
    assert not loop.is_closed()

    loop.close()

    assert loop.is_closed()


def test_close_is_idempotent(loop):
    loop.close()
    loop.close()

    assert loop.is_closed()


def test_close_drops_pending_callbacks(loop):
    calls = []
    loop.call_soon(calls.append, "ready")
    loop.call_later(0, calls.append, "timer")

    loop.close()

    assert calls == []


def test_loop_never_closed_warns_unclosed_event_loop(loop_factory):
    unclosed = loop_factory()

    with pytest.warns(ResourceWarning, match="unclosed event loop"):
        del unclosed
        gc.collect()


def test_loop_never_closed_with_pending_timers_is_collected(loop_factory):
    # Each timer refers to its loop and the loop to its timers: a cycle the
    # garbage collector must see through the timer queue.
    unclosed = loop_factory()
    unclosed.call_later(3600, print)
    unclosed.call_later(3600, unclosed.stop)
    unclosed.call_later(7200, print).cancel()
    loop_is_alive = weakref.ref(unclosed)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del unclosed
        gc.collect()

    assert loop_is_alive() is None


def test_loop_never_closed_with_pending_callbacks_is_collected(loop_factory):
    # Every queued handle refers to its loop (fastloop hides queued handles
    # from the collector: the loop must visit them on their behalf).
    unclosed = loop_factory()
    unclosed.call_soon(print, "never")
    unclosed.call_soon(unclosed.stop)
    unclosed.call_soon_threadsafe(unclosed.stop)
    unclosed.call_soon(print, context=contextvars.copy_context())
    unclosed.call_soon(print).cancel()
    loop_is_alive = weakref.ref(unclosed)

    with pytest.warns(ResourceWarning, match="unclosed event loop"):
        del unclosed
        gc.collect()

    assert loop_is_alive() is None


def test_loop_never_closed_with_a_pending_task_is_collected(loop_factory):
    unclosed = loop_factory()
    unclosed.set_exception_handler(lambda loop, context: None)  # "Task was destroyed"

    async def never_started():
        pass

    unclosed.create_task(never_started())
    loop_is_alive = weakref.ref(unclosed)

    with warnings.catch_warnings():
        # The unclosed loop, the coroutine never awaited.
        warnings.simplefilter("ignore")
        del unclosed
        gc.collect()

    assert loop_is_alive() is None


def test_closed_loop_repr_says_closed(loop):
    loop.close()

    assert "closed=True" in repr(loop)
    assert "running=False" in repr(loop)


def test_run_until_complete_of_a_done_future_returns_its_result(loop):
    future = loop.create_future()
    future.set_result("already done")

    assert loop.run_until_complete(future) == "already done"


def test_the_task_run_until_complete_drives_carries_asyncios_own_done_callback(loop):
    # anyio finds its root task (the one run_until_complete() drives) by
    # this callback's identity: asyncio.base_events._run_until_complete_cb.
    async def callbacks_of_the_running_task():
        return [callback for callback, _ in asyncio.current_task()._callbacks]

    callbacks = loop.run_until_complete(callbacks_of_the_running_task())

    assert asyncio.base_events._run_until_complete_cb in callbacks


def test_a_future_run_until_complete_gave_up_on_does_not_stop_the_loop_later(loop):
    future = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError, match="Event loop stopped before Future completed"):
        loop.run_until_complete(future)
    ran = []

    def two_iterations_later():
        ran.append("ran")
        loop.stop()

    # Were run_until_complete's callback still on the future, it would stop
    # the loop in the iteration after the result is set, before this runs.
    loop.call_soon(future.set_result, None)
    loop.call_soon(loop.call_soon, loop.call_soon, two_iterations_later)
    loop.run_forever()

    assert ran == ["ran"]


def test_keyboard_interrupt_in_a_coroutine_propagates_without_an_unretrieved_exception_log(
        loop, caplog):
    async def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(interrupted())
    gc.collect()

    assert caplog.records == []


def test_loop_stopped_by_keyboard_interrupt_leaves_no_running_loop_behind(loop):
    hooks_before = sys.get_asyncgen_hooks()

    def interrupt():
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()

    assert asyncio._get_running_loop() is None
    assert sys.get_asyncgen_hooks() == hooks_before
    assert not loop.is_running()


def test_a_loop_keeps_attributes_set_on_it(loop):
    # Test suites and libraries hang state of their own on the loop.
    loop.tag = "mine"
    assert loop.tag == "mine" and vars(loop)["tag"] == "mine"
    assert loop.run_until_complete(asyncio.sleep(0, "done")) == "done"
    del loop.tag
    assert not hasattr(loop, "tag")


def test_a_loop_subclass_may_set_attributes_around_the_base_initialiser(loop_factory):
    probe = loop_factory()
    probe.close()

    class TaggedLoop(type(probe)):
        def __init__(self):
            self.before = "before"
            super().__init__()
            self.after = "after"

    async def main():
        await asyncio.sleep(0.001)
        return asyncio.get_running_loop().before, asyncio.get_running_loop().after

    tagged = TaggedLoop()
    try:
        assert tagged.run_until_complete(main()) == ("before", "after")
        assert {"before", "after"} <= set(vars(tagged))
    finally:
        tagged.close()


def test_a_closed_loop_goes_with_its_last_reference(loop_factory):
    # Not left to the cycle collector: a loop that refers to itself is
    # finalized with its sockets in no set order, and stays in memory until
    # a collection happens to run.
    async def main():
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_result, "ran")
        return await future

    dropped = loop_factory()
    assert dropped.run_until_complete(main()) == "ran"
    dropped.close()
    reference = weakref.ref(dropped)
    gc.disable()
    try:
        del dropped
        assert reference() is None
    finally:
        gc.enable()


def test_a_loop_dropped_unclosed_warns_once_and_nothing_else(loop_factory):
    # Only "unclosed event loop": its self-pipe sockets are closed by the
    # loop's finalizer, not found unclosed by their own.
    async def main():
        await asyncio.sleep(0)

    dropped = loop_factory()
    dropped.run_until_complete(main())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del dropped
        gc.collect()
    resource_warnings = [str(w.message) for w in caught if w.category is ResourceWarning]
    assert len(resource_warnings) == 1
    assert resource_warnings[0].startswith("unclosed event loop")
