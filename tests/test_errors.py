"""Bad input and misuse: the exceptions and messages asyncio gives."""

import pytest


async def nothing():
    pass


def test_call_later_with_a_delay_that_is_not_a_number_raises_type_error(loop):
    with pytest.raises(TypeError):
        loop.call_later("1", print)


def test_call_later_with_none_delay_raises_type_error(loop):
    with pytest.raises(TypeError, match="delay must not be None"):
        loop.call_later(None, print)


def test_call_at_with_none_when_raises_type_error(loop):
    with pytest.raises(TypeError, match="when cannot be None"):
        loop.call_at(None, print)


CLOSED_LOOP_CALLS = {
    "call_soon": lambda loop: loop.call_soon(print),
    "call_later": lambda loop: loop.call_later(1, print),
    "call_at": lambda loop: loop.call_at(loop.time() + 1, print),
    "call_soon_threadsafe": lambda loop: loop.call_soon_threadsafe(print),
    "run_forever": lambda loop: loop.run_forever(),
}


@pytest.mark.parametrize("method", sorted(CLOSED_LOOP_CALLS))
def test_scheduling_on_a_closed_loop_raises_runtime_error(loop, method):
    loop.close()

    with pytest.raises(RuntimeError, match="Event loop is closed"):
        CLOSED_LOOP_CALLS[method](loop)


@pytest.mark.parametrize("method", ["create_task", "run_until_complete"])
def test_running_a_coroutine_on_a_closed_loop_raises_runtime_error(loop, method):
    loop.close()
    coroutine = nothing()
    try:
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            getattr(loop, method)(coroutine)
    finally:
        coroutine.close()


def test_run_forever_inside_the_running_loop_raises_runtime_error(loop):
    async def main():
        with pytest.raises(RuntimeError, match="This event loop is already running"):
            loop.run_forever()

    loop.run_until_complete(main())


def test_run_until_complete_inside_the_running_loop_raises_runtime_error(loop):
    async def main():
        inner = nothing()
        try:
            with pytest.raises(RuntimeError, match="This event loop is already running"):
                loop.run_until_complete(inner)
        finally:
            inner.close()

    loop.run_until_complete(main())


def test_running_a_second_loop_inside_a_running_loop_raises_runtime_error(loop, loop_factory):
    other = loop_factory()

    async def main():
        with pytest.raises(RuntimeError,
                           match="Cannot run the event loop while another loop is running"):
            other.run_forever()

    try:
        loop.run_until_complete(main())
    finally:
        other.close()


def test_closing_a_running_loop_raises_runtime_error(loop):
    async def main():
        with pytest.raises(RuntimeError, match="Cannot close a running event loop"):
            loop.close()

    loop.run_until_complete(main())
    assert not loop.is_closed()


def test_run_until_complete_of_a_future_of_another_loop_raises_value_error(loop, loop_factory):
    other = loop_factory()
    try:
        future = other.create_future()
        with pytest.raises(ValueError, match="The future belongs to a different loop"):
            loop.run_until_complete(future)
    finally:
        other.close()


def test_run_until_complete_of_something_not_awaitable_raises_type_error(loop):
    with pytest.raises(TypeError,
                       match="An asyncio.Future, a coroutine or an awaitable is required"):
        loop.run_until_complete(42)


def test_run_until_complete_stopped_early_raises_runtime_error(loop):
    future = loop.create_future()
    loop.call_soon(loop.stop)

    with pytest.raises(RuntimeError, match="Event loop stopped before Future completed."):
        loop.run_until_complete(future)


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_scheduling_after_python_code_set_the_ready_queue_to_none_raises(loop, method):
    # _ready is asyncio's private name, but code that pokes at it must get
    # asyncio's error, never a crash.
    ready = loop._ready
    loop._ready = None
    try:
        with pytest.raises(AttributeError, match="append"):
            getattr(loop, method)(print)
    finally:
        loop._ready = ready
