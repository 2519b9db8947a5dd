"""run_in_executor and the default executor."""

import asyncio
import concurrent.futures
import inspect
import threading

import pytest

# gh-111358: before the fix, shutdown_default_executor(timeout) waited for
# the executor regardless of the timeout. Stock asyncio is the reference:
# the timeout path is only specified where it honours the timeout.
STOCK_SHUTDOWN_HONOURS_TIMEOUT = "timeout(" in inspect.getsource(
    asyncio.BaseEventLoop.shutdown_default_executor)


class NotAThreadPool(concurrent.futures.Executor):
    def submit(self, fn, /, *args, **kwargs):
        raise AssertionError("never used")


def test_run_in_executor_returns_the_result_of_a_call_in_another_thread(loop):
    def work(a, b):
        return a + b, threading.get_ident()

    result, thread = loop.run_until_complete(loop.run_in_executor(None, work, 2, 3))

    assert result == 5
    assert thread != threading.get_ident()


def test_run_in_executor_raises_the_exception_of_the_call(loop):
    def fail():
        raise LookupError("from the executor")

    with pytest.raises(LookupError, match="from the executor"):
        loop.run_until_complete(loop.run_in_executor(None, fail))


def test_run_in_executor_uses_the_executor_given(loop):
    with concurrent.futures.ThreadPoolExecutor(thread_name_prefix="given") as executor:
        name = loop.run_until_complete(
            loop.run_in_executor(executor, lambda: threading.current_thread().name))

    assert name.startswith("given")


def test_set_default_executor_is_used_for_run_in_executor_none(loop):
    executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="default")
    loop.set_default_executor(executor)

    name = loop.run_until_complete(
        loop.run_in_executor(None, lambda: threading.current_thread().name))

    assert name.startswith("default")
    loop.run_until_complete(loop.shutdown_default_executor())


def test_set_default_executor_rejects_an_executor_that_is_not_a_thread_pool(loop):
    with pytest.raises(TypeError, match="executor must be ThreadPoolExecutor instance"):
        loop.set_default_executor(NotAThreadPool())


def test_shutdown_default_executor_waits_for_running_calls(loop):
    release = threading.Event()
    finished = []

    def work():
        release.wait(timeout=10)
        finished.append(True)

    async def main():
        job = loop.run_in_executor(None, work)
        loop.call_soon(release.set)
        await loop.shutdown_default_executor()
        assert finished == [True]
        await job

    loop.run_until_complete(main())


def test_run_in_executor_after_shutdown_default_executor_raises_runtime_error(loop):
    loop.run_until_complete(loop.run_in_executor(None, int))
    loop.run_until_complete(loop.shutdown_default_executor())

    with pytest.raises(RuntimeError, match="Executor shutdown has been called"):
        loop.run_in_executor(None, int)


def test_run_in_executor_with_own_executor_works_after_default_shutdown(loop):
    loop.run_until_complete(loop.shutdown_default_executor())

    with concurrent.futures.ThreadPoolExecutor() as executor:
        assert loop.run_until_complete(loop.run_in_executor(executor, int, "7")) == 7


@pytest.mark.skipif(not STOCK_SHUTDOWN_HONOURS_TIMEOUT,
                    reason="stock asyncio here has no working shutdown timeout "
                           "(3.11: no parameter; 3.12.1: gh-111358)")
@pytest.mark.timeout(15)
def test_shutdown_default_executor_warns_when_threads_do_not_join_in_time(loop):
    executor = concurrent.futures.ThreadPoolExecutor()
    loop.set_default_executor(executor)
    release = threading.Event()
    threads_before = set(threading.enumerate())

    async def main():
        job = loop.run_in_executor(None, release.wait, 10)
        with pytest.warns(RuntimeWarning,
                          match="did not finishing joining its threads within 0.05 seconds"):
            await loop.shutdown_default_executor(timeout=0.05)
        release.set()
        await job

    try:
        loop.run_until_complete(main())
    finally:
        release.set()
        executor.shutdown(wait=True)
        for thread in set(threading.enumerate()) - threads_before:
            thread.join()


def test_close_shuts_the_default_executor_down(loop):
    executor = concurrent.futures.ThreadPoolExecutor()
    loop.set_default_executor(executor)

    loop.close()

    with pytest.raises(RuntimeError):
        executor.submit(int)
    executor.shutdown(wait=True)


def test_run_in_executor_on_a_closed_loop_raises_runtime_error(loop):
    loop.close()

    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_in_executor(None, int)


def test_default_executor_threads_are_named_asyncio(loop):
    name = loop.run_until_complete(
        loop.run_in_executor(None, lambda: threading.current_thread().name))

    assert name.startswith("asyncio_")
