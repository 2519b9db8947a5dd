"""fastloop.run(), asyncio.Runner(loop_factory=...) and asyncio.run(loop_factory=...)."""

import asyncio
import concurrent.futures
import contextvars
import sys

import pytest

import fastloop

request_id = contextvars.ContextVar("request_id", default=None)


def loop_type(loop_factory):
    probe = loop_factory()
    probe.close()
    return type(probe)


async def running_loop():
    return asyncio.get_running_loop()


def test_fastloop_run_returns_the_result_of_main(loop_factory):
    async def main():
        return "result"

    assert fastloop.run(main(), loop_factory=loop_factory) == "result"


def test_fastloop_run_runs_main_on_a_loop_from_the_factory_and_closes_it(loop_factory):
    used = fastloop.run(running_loop(), loop_factory=loop_factory)

    assert type(used) is loop_type(loop_factory)
    assert used.is_closed()


def test_fastloop_run_raises_the_exception_of_main(loop_factory):
    async def main():
        raise LookupError("from main")

    with pytest.raises(LookupError, match="from main"):
        fastloop.run(main(), loop_factory=loop_factory)


def test_fastloop_run_inside_a_running_loop_raises_runtime_error(loop):
    async def main():
        inner = running_loop()
        try:
            with pytest.raises(RuntimeError, match="cannot be called from a running event loop"):
                fastloop.run(inner)
        finally:
            inner.close()

    loop.run_until_complete(main())


def test_fastloop_run_passes_debug_to_the_loop(loop_factory):
    async def debugging():
        return asyncio.get_running_loop().get_debug()

    assert fastloop.run(debugging(), debug=True, loop_factory=loop_factory) is True


@pytest.mark.fastloop_only
def test_fastloop_run_uses_a_fastloop_loop_by_default(fastloop_package):
    used = fastloop_package.run(running_loop())

    assert type(used) is fastloop_package.Loop


def test_runner_runs_main_on_the_loop_from_the_factory(loop_factory):
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        loop = runner.get_loop()
        assert runner.run(running_loop()) is loop

    assert type(loop) is loop_type(loop_factory)
    assert loop.is_closed()


def test_runner_can_run_several_coroutines_on_its_loop(loop_factory):
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        first = runner.run(running_loop())
        second = runner.run(running_loop())

    assert first is second


def test_runner_close_shuts_down_async_generators(loop_factory):
    closed = []

    async def ticker():
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    async def start():
        generator = ticker()
        await generator.__anext__()
        return generator

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        generator = runner.run(start())
        assert closed == []

    assert closed == [True]
    del generator


def test_runner_close_shuts_the_default_executor_down(loop_factory):
    executor = concurrent.futures.ThreadPoolExecutor()

    async def use_executor():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(executor)
        return await loop.run_in_executor(None, int, "5")

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        assert runner.run(use_executor()) == 5

    with pytest.raises(RuntimeError):
        executor.submit(int)


def test_runner_close_cancels_the_tasks_left_running(loop_factory):
    async def start_background():
        return asyncio.get_running_loop().create_task(asyncio.sleep(3600))

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        background = runner.run(start_background())

    assert background.cancelled()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is new in 3.12")
def test_asyncio_run_runs_main_on_a_loop_from_the_factory(loop_factory):
    used = asyncio.run(running_loop(), loop_factory=loop_factory)

    assert type(used) is loop_type(loop_factory)
    assert used.is_closed()


@pytest.mark.fastloop_only
def test_event_loop_policy_makes_fastloop_loops(fastloop_package):
    policy = fastloop_package.EventLoopPolicy()
    loop = policy.new_event_loop()
    try:
        assert type(loop) is fastloop_package.Loop
    finally:
        loop.close()


def test_fastloop_run_runs_main_in_the_given_context(loop_factory):
    context = contextvars.Context()
    context.run(request_id.set, "given context")

    async def main():
        return request_id.get()

    assert fastloop.run(main(), loop_factory=loop_factory, context=context) == "given context"
