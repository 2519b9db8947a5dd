"""The loop's exception handler: what reaches it, and the default one."""

import asyncio
import contextvars
import gc
import logging
import sys

import pytest

from support import run_once

request_id = contextvars.ContextVar("request_id", default=None)


def fail():
    raise LookupError("from a callback")


def test_exception_handler_is_none_by_default(loop):
    assert loop.get_exception_handler() is None


def test_get_exception_handler_returns_the_handler_set(loop):
    def handler(loop, context):
        pass

    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None


def test_set_exception_handler_rejects_a_non_callable(loop):
    with pytest.raises(TypeError, match="A callable object or None is expected, got 42"):
        loop.set_exception_handler(42)


def test_exception_in_a_callback_goes_to_the_handler_and_the_loop_goes_on(loop):
    reported = []
    calls = []
    loop.set_exception_handler(lambda loop, context: reported.append(context))

    handle = loop.call_soon(fail)
    loop.call_soon(calls.append, "next callback")
    run_once(loop)

    assert calls == ["next callback"]
    [context] = reported
    assert isinstance(context["exception"], LookupError)
    assert context["handle"] is handle
    assert context["message"].startswith("Exception in callback fail()")


def test_exception_handler_receives_the_loop(loop):
    received = []
    loop.set_exception_handler(lambda handler_loop, context: received.append(handler_loop))

    loop.call_soon(fail)
    run_once(loop)

    assert received == [loop]


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason="3.11's asyncio calls the handler in the loop's context (gh-96704)")
def test_exception_handler_runs_in_the_failed_callbacks_context(loop):
    context = contextvars.Context()
    context.run(request_id.set, "the callback's")
    seen = []
    loop.set_exception_handler(lambda loop, error: seen.append(request_id.get()))

    loop.call_soon(fail, context=context)
    run_once(loop)

    assert seen == ["the callback's"]


def test_default_exception_handler_logs_to_the_asyncio_logger(loop, caplog):
    loop.call_soon(fail)
    run_once(loop)

    [record] = caplog.records
    assert record.name == "asyncio"
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("Exception in callback fail()")
    assert record.exc_info[0] is LookupError


def test_default_exception_handler_logs_every_other_context_key(loop, caplog):
    loop.default_exception_handler({"message": "Something broke", "request": "GET /"})

    [record] = caplog.records
    assert record.getMessage() == "Something broke\nrequest: 'GET /'"
    assert not record.exc_info


def test_default_exception_handler_without_message_says_unhandled_exception(loop, caplog):
    loop.default_exception_handler({"exception": LookupError("no message")})

    [record] = caplog.records
    assert record.getMessage() == "Unhandled exception in event loop"
    assert record.exc_info[0] is LookupError


def test_call_exception_handler_passes_the_context_to_the_handler(loop):
    reported = []
    loop.set_exception_handler(lambda loop, context: reported.append(context))
    context = {"message": "custom", "detail": 1}

    loop.call_exception_handler(context)

    assert reported == [context]


def test_exception_handler_that_raises_is_reported_by_the_default_handler(loop, caplog):
    calls = []

    def broken_handler(loop, context):
        raise ArithmeticError("the handler broke")

    loop.set_exception_handler(broken_handler)
    loop.call_soon(fail)
    loop.call_soon(calls.append, "next callback")
    run_once(loop)

    assert calls == ["next callback"]
    [record] = caplog.records
    assert record.getMessage().startswith("Unhandled error in exception handler")
    assert record.exc_info[0] is ArithmeticError
    assert "Exception in callback fail()" in record.getMessage()


def test_keyboard_interrupt_in_a_callback_stops_the_loop_and_propagates(loop):
    def interrupt():
        raise KeyboardInterrupt

    loop.call_soon(interrupt)

    with pytest.raises(KeyboardInterrupt):
        run_once(loop)
    assert not loop.is_running()


def test_system_exit_in_a_callback_propagates_and_later_callbacks_still_run(loop):
    calls = []

    def exit_now():
        raise SystemExit(3)

    loop.call_soon(exit_now)
    loop.call_soon(calls.append, "after")

    with pytest.raises(SystemExit):
        loop.run_forever()
    run_once(loop)

    assert calls == ["after"]


def test_failing_default_exception_handler_of_a_subclass_is_logged(loop, caplog):
    class BrokenDefaultHandlerLoop(type(loop)):
        def default_exception_handler(self, context):
            raise ArithmeticError("the default handler broke")

    broken = BrokenDefaultHandlerLoop()
    try:
        broken.call_exception_handler({"message": "something failed"})
    finally:
        broken.close()

    [record] = caplog.records
    assert record.getMessage() == "Exception in default exception handler"
    assert record.exc_info[0] is ArithmeticError


@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_a_failed_task_nobody_holds_is_reported_before_the_next_callback(loop, debug):
    # asyncio lets go of a handle as soon as it ran: a task that failed and
    # that nobody holds is freed at once (no cyclic GC needed), and reports
    # "Task exception was never retrieved" before the loop goes on.
    loop.set_debug(debug)
    reports = []
    loop.set_exception_handler(lambda loop, context: reports.append(context["message"]))

    async def fail():
        raise ZeroDivisionError

    async def main():
        asyncio.ensure_future(fail())
        await asyncio.sleep(0)
        return list(reports)

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        seen_when_main_resumed = loop.run_until_complete(main())
    finally:
        if gc_was_enabled:
            gc.enable()
    assert seen_when_main_resumed == ["Task exception was never retrieved"]
