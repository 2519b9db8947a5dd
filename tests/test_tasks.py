"""Tasks on the loop: create_task, task factories, eager tasks, and the
asyncio APIs that find the running loop and task."""

import asyncio
import contextvars
import gc
import inspect
import sys

import pytest

request_id = contextvars.ContextVar("request_id", default=None)

PY312 = sys.version_info >= (3, 12)

# Stock asyncio forwards create_task(**kwargs) (eager_start, ...) to Task or
# to the task factory from 3.13.3 on; that is the behaviour to match where
# this Python's asyncio has it.
STOCK_CREATE_TASK_FORWARDS_KWARGS = any(
    parameter.kind is inspect.Parameter.VAR_KEYWORD
    for parameter in inspect.signature(asyncio.BaseEventLoop.create_task).parameters.values())
needs_create_task_kwargs = pytest.mark.skipif(
    not STOCK_CREATE_TASK_FORWARDS_KWARGS,
    reason="this Python's asyncio does not forward create_task(**kwargs)")
needs_eager_tasks = pytest.mark.skipif(not PY312, reason="eager tasks are new in Python 3.12")


async def answer():
    return 42


def test_create_future_makes_futures_of_this_loop(loop):
    futures = [loop.create_future() for _ in range(3)]
    assert len(set(map(id, futures))) == 3
    for future in futures:
        assert type(future) is asyncio.Future
        assert future.get_loop() is loop
        assert not future.done()


def test_create_future_looks_up_asyncio_futures_future_at_each_call(loop, monkeypatch):
    # Test suites patch it; asyncio's create_future looks it up every time.
    class RecordingFuture(asyncio.Future):
        pass

    monkeypatch.setattr(asyncio.futures, "Future", RecordingFuture)
    future = loop.create_future()
    assert type(future) is RecordingFuture
    assert future.get_loop() is loop
    monkeypatch.undo()
    assert type(loop.create_future()) is asyncio.Future


def test_create_task_runs_the_coroutine_to_completion(loop):
    task = loop.create_task(answer())

    assert loop.run_until_complete(task) == 42


def test_create_task_uses_the_given_name(loop):
    task = loop.create_task(answer(), name="the answer")

    assert task.get_name() == "the answer"
    loop.run_until_complete(task)


def test_create_task_runs_the_coroutine_in_the_given_context(loop):
    context = contextvars.copy_context()
    context.run(request_id.set, "task context")

    async def read():
        return request_id.get()

    assert loop.run_until_complete(loop.create_task(read(), context=context)) == "task context"


def test_create_task_copies_the_current_context_by_default(loop):
    async def read_then_write():
        seen = request_id.get()
        request_id.set("set by the task")
        return seen

    def create():
        request_id.set("creator's value")
        return loop.create_task(read_then_write())

    task = contextvars.copy_context().run(create)

    assert loop.run_until_complete(task) == "creator's value"
    assert request_id.get() is None


def test_create_task_on_a_closed_loop_raises_runtime_error(loop):
    loop.close()
    coroutine = answer()
    try:
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            loop.create_task(coroutine)
    finally:
        coroutine.close()


def test_task_factory_makes_the_tasks_create_task_returns(loop):
    made = []

    def factory(loop, coro, **kwargs):
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    loop.set_task_factory(factory)
    task = loop.create_task(answer())

    assert made == [task]
    assert loop.run_until_complete(task) == 42


def test_get_task_factory_returns_the_factory_set(loop):
    def factory(loop, coro):
        return asyncio.Task(coro, loop=loop)

    assert loop.get_task_factory() is None
    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory
    loop.set_task_factory(None)
    assert loop.get_task_factory() is None


def test_set_task_factory_rejects_a_non_callable(loop):
    with pytest.raises(TypeError, match="task factory must be a callable or None"):
        loop.set_task_factory(42)


def test_create_task_with_a_task_factory_applies_the_given_name(loop):
    loop.set_task_factory(lambda loop, coro: asyncio.Task(coro, loop=loop))

    task = loop.create_task(answer(), name="named after the factory")

    assert task.get_name() == "named after the factory"
    loop.run_until_complete(task)


def test_create_task_with_a_task_factory_passes_the_context(loop):
    received = []

    def factory(loop, coro, context=None):
        received.append(context)
        return asyncio.Task(coro, loop=loop, context=context)

    loop.set_task_factory(factory)
    context = contextvars.Context()
    loop.run_until_complete(loop.create_task(answer(), context=context))

    assert received == [context]


@needs_create_task_kwargs
def test_create_task_forwards_eager_start_to_the_task(loop):
    started = []

    async def record_start():
        started.append(True)

    async def main():
        task = loop.create_task(record_start(), eager_start=True)
        assert started == [True]
        assert task.done()

    loop.run_until_complete(main())


@needs_create_task_kwargs
def test_create_task_forwards_extra_keyword_arguments_to_the_task_factory(loop):
    received = []

    def factory(loop, coro, **kwargs):
        received.append(kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    loop.run_until_complete(loop.create_task(answer(), eager_start=False))

    assert received == [{"eager_start": False}]


@needs_eager_tasks
def test_eager_task_factory_runs_the_coroutine_until_its_first_suspension(loop):
    steps = []

    async def two_steps():
        steps.append("before await")
        await asyncio.sleep(0)
        steps.append("after await")

    async def main():
        loop.set_task_factory(asyncio.eager_task_factory)
        task = loop.create_task(two_steps())
        assert steps == ["before await"]
        assert not task.done()
        await task
        assert steps == ["before await", "after await"]

    loop.run_until_complete(main())


@needs_eager_tasks
def test_eager_task_that_never_suspends_is_done_when_created(loop):
    async def main():
        loop.set_task_factory(asyncio.eager_task_factory)
        task = loop.create_task(answer())
        assert task.done()
        return task.result()

    assert loop.run_until_complete(main()) == 42


@needs_eager_tasks
def test_task_with_eager_start_runs_synchronously(loop):
    async def main():
        task = asyncio.Task(answer(), loop=loop, eager_start=True)
        assert task.done()
        return task.result()

    assert loop.run_until_complete(main()) == 42


@needs_eager_tasks
def test_eager_task_sees_itself_as_the_current_task(loop):
    async def current():
        return asyncio.current_task()

    async def main():
        loop.set_task_factory(asyncio.eager_task_factory)
        task = loop.create_task(current())
        return task, task.result()

    task, seen = loop.run_until_complete(main())
    assert seen is task


def test_get_running_loop_inside_a_coroutine_is_the_loop(loop):
    async def running_loop():
        return asyncio.get_running_loop()

    assert loop.run_until_complete(running_loop()) is loop


def test_get_running_loop_outside_the_loop_raises_runtime_error(loop):
    loop.run_until_complete(answer())

    with pytest.raises(RuntimeError, match="no running event loop"):
        asyncio.get_running_loop()


def test_current_task_is_the_task_running_the_coroutine(loop):
    async def current():
        return asyncio.current_task()

    task = loop.create_task(current())

    assert loop.run_until_complete(task) is task


def test_all_tasks_lists_the_pending_tasks_of_the_loop(loop):
    blocker = loop.create_future()

    async def wait_for_blocker():
        await blocker

    async def main():
        waiting = loop.create_task(wait_for_blocker())
        tasks = asyncio.all_tasks()
        blocker.set_result(None)
        await waiting
        return tasks, waiting

    tasks, waiting = loop.run_until_complete(main())
    assert waiting in tasks


def test_task_group_runs_all_its_tasks(loop):
    async def double(number):
        await asyncio.sleep(0)
        return number * 2

    async def main():
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(double(number)) for number in range(5)]
        return [task.result() for task in tasks]

    assert loop.run_until_complete(main()) == [0, 2, 4, 6, 8]


def test_task_group_cancels_siblings_when_a_task_fails(loop):
    async def wait_forever():
        await loop.create_future()

    async def fail():
        await asyncio.sleep(0)
        raise LookupError("failed")

    async def main():
        sibling = None
        try:
            async with asyncio.TaskGroup() as group:
                sibling = group.create_task(wait_forever())
                group.create_task(fail())
        except* LookupError:
            pass
        return sibling

    assert loop.run_until_complete(main()).cancelled()


def test_asyncio_timeout_cancels_an_operation_that_takes_too_long(loop):
    async def main():
        async with asyncio.timeout(0.01):
            await loop.create_future()

    with pytest.raises(TimeoutError):
        loop.run_until_complete(main())


def test_asyncio_sleep_resumes_after_the_delay(loop):
    async def main():
        started = loop.time()
        result = await asyncio.sleep(0.01, result="rested")
        return result, loop.time() - started

    result, elapsed = loop.run_until_complete(main())
    assert result == "rested"
    assert elapsed >= 0.01 - 1e-6


def test_unretrieved_task_exception_is_reported_to_the_exception_handler(loop):
    reported = []
    loop.set_exception_handler(lambda loop, context: reported.append(context))

    async def fail():
        raise LookupError("never retrieved")

    task = loop.create_task(fail())
    loop.run_until_complete(asyncio.wait([task]))
    del task
    gc.collect()

    [context] = reported
    assert context["message"] == "Task exception was never retrieved"
    assert isinstance(context["exception"], LookupError)


def test_create_task_of_something_not_a_coroutine_raises_type_error(loop):
    with pytest.raises(TypeError, match="a coroutine was expected, got 42"):
        loop.create_task(42)


def test_get_event_loop_inside_a_coroutine_is_the_running_loop(loop):
    async def event_loop():
        return asyncio.get_event_loop()

    assert loop.run_until_complete(event_loop()) is loop


def test_run_coroutine_threadsafe_runs_a_coroutine_from_another_thread(loop):
    async def from_thread():
        return asyncio.get_running_loop(), "result"

    def submit():
        return asyncio.run_coroutine_threadsafe(from_thread(), loop).result(timeout=10)

    async def main():
        return await loop.run_in_executor(None, submit)

    assert loop.run_until_complete(main()) == (loop, "result")


def test_to_thread_runs_the_function_with_the_callers_context(loop):
    async def main():
        request_id.set("caller's value")
        return await asyncio.to_thread(request_id.get)

    assert loop.run_until_complete(main()) == "caller's value"


def test_wait_for_times_out_a_slow_awaitable(loop):
    async def main():
        await asyncio.wait_for(loop.create_future(), timeout=0.01)

    with pytest.raises(TimeoutError):
        loop.run_until_complete(main())
