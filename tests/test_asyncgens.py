"""Async generators: the loop's firstiter/finalizer hooks and shutdown_asyncgens()."""

import asyncio
import gc
import sys
import weakref

import pytest


def test_loop_installs_asyncgen_hooks_only_while_it_runs(loop):
    before = sys.get_asyncgen_hooks()

    async def hooks_inside():
        return sys.get_asyncgen_hooks()

    inside = loop.run_until_complete(hooks_inside())

    assert inside.firstiter is not None and inside.firstiter != before.firstiter
    assert inside.finalizer is not None and inside.finalizer != before.finalizer
    assert sys.get_asyncgen_hooks() == before


def test_async_generator_dropped_while_loop_runs_is_closed_by_the_loop(loop):
    finalized = loop.create_future()

    async def ticker():
        try:
            yield 1
            yield 2
        finally:
            finalized.set_result(asyncio.current_task() is not None)

    async def main():
        generator = ticker()
        await generator.__anext__()
        del generator  # the finalizer hook hands aclose() to the loop
        return await finalized

    assert loop.run_until_complete(main()) is True


def test_shutdown_asyncgens_closes_suspended_async_generators(loop):
    closed = []

    async def ticker(name):
        try:
            yield 1
            yield 2
        finally:
            closed.append(name)

    async def start_two():
        generators = [ticker("first"), ticker("second")]
        for generator in generators:
            await generator.__anext__()
        return generators

    generators = loop.run_until_complete(start_two())
    loop.run_until_complete(loop.shutdown_asyncgens())

    assert sorted(closed) == ["first", "second"]
    del generators


def test_shutdown_asyncgens_reports_errors_to_the_exception_handler(loop):
    reported = []
    loop.set_exception_handler(lambda loop, context: reported.append(context))

    async def broken():
        try:
            yield 1
        finally:
            raise LookupError("from finally")

    async def start():
        generator = broken()
        await generator.__anext__()
        return generator

    generator = loop.run_until_complete(start())
    loop.run_until_complete(loop.shutdown_asyncgens())

    [context] = reported
    assert context["message"].startswith(
        "an error occurred during closing of asynchronous generator")
    assert isinstance(context["exception"], LookupError)
    assert context["asyncgen"] is generator


def test_async_generator_started_after_shutdown_asyncgens_warns(loop):
    async def ticker():
        yield 1

    async def start_late():
        generator = ticker()
        with pytest.warns(ResourceWarning,
                          match=r"was scheduled after loop.shutdown_asyncgens\(\) call"):
            await generator.__anext__()
        await generator.aclose()

    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(start_late())


def test_shutdown_asyncgens_with_no_async_generators_returns(loop):
    assert loop.run_until_complete(loop.shutdown_asyncgens()) is None


def test_loop_does_not_keep_the_async_generators_it_tracks_alive(loop):
    async def ticker():
        yield 1
        yield 2

    async def start_and_drop():
        generator = ticker()
        await generator.__anext__()
        await generator.aclose()
        return weakref.ref(generator)

    generator_ref = loop.run_until_complete(start_and_drop())
    gc.collect()

    assert generator_ref() is None


@pytest.mark.parametrize("method", ["shutdown_asyncgens", "shutdown_default_executor"])
def test_shutdown_coroutines_carry_asyncio_s_names(loop, method):
    # asyncio.Runner.close() on a loop closed already makes these coroutines
    # and cannot await them; pytest-asyncio silences the "never awaited"
    # warning by the name asyncio gives them.
    loop.close()
    coroutine = getattr(loop, method)()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_until_complete(coroutine)
    try:
        assert coroutine.__qualname__ == f"BaseEventLoop.{method}"
    finally:
        coroutine.close()
