"""call_soon and the ready queue: order, iterations, contexts, handles."""

import asyncio
import contextvars
import copy
import gc
import sys
import threading
import weakref

import pytest

from support import handle_context, run_once

request_id = contextvars.ContextVar("request_id", default=None)


def callback_for_repr():
    """A module-level function, so its repr names this file and line."""


def test_call_soon_runs_callbacks_in_fifo_order(loop):
    calls = []
    for number in range(100):
        loop.call_soon(calls.append, number)

    run_once(loop)

    assert calls == list(range(100))


def test_call_soon_passes_positional_arguments(loop):
    calls = []
    loop.call_soon(lambda *args: calls.append(args), 1, "two", None)

    run_once(loop)

    assert calls == [(1, "two", None)]


def test_callback_scheduled_while_ready_queue_runs_waits_for_next_iteration(loop):
    calls = []

    def first():
        calls.append("first")
        loop.call_soon(calls.append, "scheduled by first")

    loop.call_soon(first)
    run_once(loop)
    assert calls == ["first"]

    run_once(loop)
    assert calls == ["first", "scheduled by first"]


def test_cancelled_handle_never_runs(loop):
    calls = []
    handle = loop.call_soon(calls.append, "cancelled")
    loop.call_soon(calls.append, "kept")

    handle.cancel()
    run_once(loop)

    assert calls == ["kept"]


def test_handle_cancelled_reports_cancellation(loop):
    handle = loop.call_soon(print)
    assert not handle.cancelled()

    handle.cancel()

    assert handle.cancelled()


def test_cancelling_a_handle_twice_is_harmless(loop):
    handle = loop.call_soon(print)

    handle.cancel()
    handle.cancel()
    run_once(loop)

    assert handle.cancelled()


def test_handle_repr_names_the_callback_and_where_it_is_defined(loop):
    handle = loop.call_soon(callback_for_repr)

    line = callback_for_repr.__code__.co_firstlineno
    assert repr(handle) == f"<Handle callback_for_repr() at {__file__}:{line}>"


def test_cancelled_handle_repr_says_cancelled(loop):
    handle = loop.call_soon(callback_for_repr)

    handle.cancel()

    assert repr(handle) == "<Handle cancelled>"


def test_callback_runs_in_the_context_given_to_call_soon(loop):
    context = contextvars.copy_context()
    context.run(request_id.set, "from the given context")
    seen = []

    loop.call_soon(lambda: seen.append(request_id.get()), context=context)
    run_once(loop)

    assert seen == ["from the given context"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Handle.get_context() is new in 3.12")
def test_handle_get_context_returns_the_given_context(loop):
    context = contextvars.Context()

    handle = loop.call_soon(print, context=context)

    assert handle.get_context() is context


def test_changes_a_callback_makes_stay_in_the_given_context(loop):
    context = contextvars.Context()

    loop.call_soon(request_id.set, "set by the callback", context=context)
    run_once(loop)

    assert context[request_id] == "set by the callback"
    assert request_id.get() is None


def test_callbacks_given_the_same_context_share_it(loop):
    context = contextvars.Context()
    seen = []

    loop.call_soon(request_id.set, "set by the first", context=context)
    loop.call_soon(lambda: seen.append(request_id.get()), context=context)
    run_once(loop)

    assert seen == ["set by the first"]


def test_call_soon_copies_the_current_context_when_scheduling(loop):
    seen = []

    def schedule():
        request_id.set("when scheduled")
        loop.call_soon(lambda: seen.append(request_id.get()))
        request_id.set("changed after scheduling")

    contextvars.copy_context().run(schedule)
    run_once(loop)

    assert seen == ["when scheduled"]


def test_each_callback_without_context_runs_in_its_own_copy(loop):
    seen = []

    loop.call_soon(request_id.set, "set by the first")
    loop.call_soon(lambda: seen.append(request_id.get()))
    run_once(loop)

    assert seen == [None]
    assert request_id.get() is None


# Scheduled from an empty context, a callback runs in an empty copy of it.
# (Compiled, fastloop makes that copy only when someone can tell: these
# tests are what no one may be able to tell.)


def in_an_empty_context(function, *args):
    return contextvars.Context().run(function, *args)


@pytest.mark.parametrize("method", ["call_soon", "call_later", "call_soon_threadsafe"])
def test_callbacks_scheduled_from_an_empty_context_do_not_share_theirs(loop, method):
    seen = []

    def schedule(callback, *args):
        if method == "call_later":
            return loop.call_later(0, callback, *args)
        return getattr(loop, method)(callback, *args)

    for number in range(3):
        in_an_empty_context(schedule, lambda: seen.append(request_id.get()))
        in_an_empty_context(schedule, request_id.set, f"set by callback {number}")
    done = loop.create_future()
    in_an_empty_context(schedule, done.set_result, None)
    loop.run_until_complete(done)

    assert seen == [None, None, None]


def test_get_context_in_a_callback_is_the_context_it_runs_in(loop):
    seen = []

    def callback():
        request_id.set("set in the callback")
        seen.append(handle_context(handles[0]).get(request_id))

    handles = [in_an_empty_context(loop.call_soon, callback)]
    run_once(loop)

    assert seen == ["set in the callback"]
    assert handle_context(handles[0])[request_id] == "set in the callback"


def test_context_taken_from_a_handle_before_it_runs_is_the_one_it_runs_in(loop):
    seen = []
    handle = in_an_empty_context(loop.call_soon, lambda: seen.append(request_id.get()))

    context = handle_context(handle)
    context.run(request_id.set, "set before the run")
    run_once(loop)

    assert seen == ["set before the run"]
    assert handle_context(handle) is context


@pytest.mark.parametrize("kept_by", ["reference", "weak reference"])
def test_context_a_callback_kept_is_not_the_next_callbacks(loop, kept_by):
    kept = []

    def first():
        context = handle_context(handles[0])
        kept.append(context if kept_by == "reference" else weakref.ref(context))

    handles = [in_an_empty_context(loop.call_soon, first)]
    in_an_empty_context(loop.call_soon, request_id.set, "set by the second")
    run_once(loop)
    in_an_empty_context(loop.call_soon, request_id.set, "set by the third")
    run_once(loop)

    context = kept[0] if kept_by == "reference" else kept[0]()
    assert context is handle_context(handles[0])
    assert request_id not in context


def test_handle_its_callback_re_initialises_keeps_the_new_context(loop):
    # __init__ again, on the running handle, while the callback holds the
    # context it runs in: the handle keeps what __init__ gave it, and the
    # context held is nobody else's.
    kept = []
    given = contextvars.Context()

    def callback():
        kept.append(handle_context(handles[0]))
        handles[0].__init__(print, (), loop, context=given)

    handles = [in_an_empty_context(loop.call_soon, callback)]
    run_once(loop)
    in_an_empty_context(loop.call_soon, request_id.set, "set by the next callback")
    run_once(loop)

    assert handle_context(handles[0]) is given
    assert request_id not in kept[0]


def test_handle_re_initialised_from_a_set_context_keeps_a_copy_of_it(loop):
    # As above, __init__ copying the current context this time (compiled,
    # a copy hidden from the garbage collector: freed as if it were not,
    # it crashed the process).
    kept = []

    def callback():
        kept.append(handle_context(handles[0]))
        other = contextvars.Context()
        other.run(request_id.set, "set where __init__ ran")
        other.run(handles[0].__init__, print, (), loop)

    handles = [in_an_empty_context(loop.call_soon, callback)]
    run_once(loop)
    context = handle_context(handles[0])
    del handles[:]
    gc.collect()
    in_an_empty_context(loop.call_soon, request_id.set, "set by the next callback")
    run_once(loop)

    assert context[request_id] == "set where __init__ ran"
    assert request_id not in kept[0]


def test_context_of_a_callback_that_set_a_variable_and_raised_keeps_it(loop, caplog):
    def callback():
        request_id.set("set before raising")
        raise ValueError("the callback failed")

    handle = in_an_empty_context(loop.call_soon, callback)
    run_once(loop)

    assert handle_context(handle)[request_id] == "set before raising"
    [record] = caplog.records
    assert record.exc_info[0] is ValueError


def test_copy_of_a_handle_shares_its_context(loop):
    seen = []
    handle = in_an_empty_context(loop.call_soon, lambda: seen.append(request_id.get()))
    duplicate = copy.copy(handle)

    handle_context(duplicate).run(request_id.set, "set through the copy")
    run_once(loop)

    assert handle_context(handle) is handle_context(duplicate)
    assert seen == ["set through the copy"]


def test_call_soon_threadsafe_copies_the_other_threads_context(loop):
    seen = []

    def submit(value):
        if value is not None:
            request_id.set(value)
        loop.call_soon_threadsafe(lambda: seen.append(request_id.get()))

    for value in ("set in the first thread", None, "set in the third thread"):
        thread = threading.Thread(target=submit, args=(value,))
        thread.start()
        thread.join()
    run_once(loop)

    assert seen == ["set in the first thread", None, "set in the third thread"]


def test_call_later_runs_callback_in_the_given_context(loop):
    context = contextvars.copy_context()
    context.run(request_id.set, "timer context")
    seen = loop.create_future()

    loop.call_later(0, lambda: seen.set_result(request_id.get()), context=context)

    assert loop.run_until_complete(seen) == "timer context"


def test_call_soon_threadsafe_runs_callback_in_the_given_context(loop):
    context = contextvars.copy_context()
    context.run(request_id.set, "threadsafe context")
    seen = []

    loop.call_soon_threadsafe(lambda: seen.append(request_id.get()), context=context)
    run_once(loop)

    assert seen == ["threadsafe context"]


def test_callback_whose_context_is_already_entered_is_reported_and_loop_goes_on(loop, caplog):
    # Context.run refuses a context that is already entered; asyncio's
    # Handle reports that like any other failure of the callback.
    context = contextvars.copy_context()
    calls = []

    loop.call_soon(calls.append, "never", context=context)
    loop.call_soon(calls.append, "next callback")
    context.run(run_once, loop)

    assert calls == ["next callback"]
    [record] = caplog.records
    assert record.getMessage().startswith("Exception in callback ")
    assert record.exc_info[0] is RuntimeError
    assert "already entered" in str(record.exc_info[1])


def test_callback_cancelled_by_an_earlier_callback_of_the_same_iteration_never_runs(loop):
    calls = []
    second = None

    def first():
        calls.append("first")
        second.cancel()

    loop.call_soon(first)
    second = loop.call_soon(calls.append, "second")
    run_once(loop)

    assert calls == ["first"]


def test_call_soon_threadsafe_from_a_running_callback_waits_for_next_iteration(loop):
    calls = []

    def first():
        calls.append("first")
        loop.call_soon_threadsafe(calls.append, "scheduled by first")

    loop.call_soon(first)
    run_once(loop)
    assert calls == ["first"]

    run_once(loop)
    assert calls == ["first", "scheduled by first"]


def test_timer_scheduled_by_a_callback_waits_for_the_next_iteration(loop):
    calls = []

    def first():
        calls.append("first")
        loop.call_later(0, calls.append, "timer")

    loop.call_soon(first)
    run_once(loop)
    assert calls == ["first"]

    run_once(loop)
    assert calls == ["first", "timer"]


def test_due_timers_run_after_the_callbacks_already_ready(loop):
    calls = []
    loop.call_later(-1, calls.append, "due timer")
    loop.call_soon(calls.append, "ready callback")

    run_once(loop)

    assert calls == ["ready callback", "due timer"]


def test_callback_that_cancels_its_own_handle_while_running_completes(loop):
    # The handle lets go of the callback and its arguments while they run.
    calls = []
    handles = []

    def cancel_self(marker):
        handles[0].cancel()
        calls.append(marker)

    handles.append(loop.call_soon(cancel_self, object()))
    loop.call_soon(loop.stop)
    loop.run_forever()

    assert len(calls) == 1


def test_handle_whose_args_were_replaced_by_a_list_runs_with_them(loop):
    calls = []
    handle = loop.call_soon(calls.append, "original")
    handle._args = ["replaced"]
    loop.call_soon(loop.stop)
    loop.run_forever()

    assert calls == ["replaced"]


def test_handle_whose_args_were_set_to_none_reports_a_type_error(loop):
    errors = []
    loop.set_exception_handler(lambda loop, context: errors.append(context["exception"]))
    handle = loop.call_soon(print)
    handle._args = None
    loop.call_soon(loop.stop)
    loop.run_forever()

    assert [type(error) for error in errors] == [TypeError]


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_callback_may_be_passed_by_keyword(loop, method):
    calls = []
    getattr(loop, method)(callback=lambda: calls.append("ran"))
    run_once(loop)

    assert calls == ["ran"]


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_positional_arguments_and_context_reach_the_callback(loop, method):
    context = contextvars.copy_context()
    context.run(request_id.set, "given context")
    seen = []
    getattr(loop, method)(lambda *args: seen.append((args, request_id.get())), 1, 2,
                          context=context)
    run_once(loop)

    assert seen == [((1, 2), "given context")]


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_call_without_a_callback_raises_type_error(loop, method):
    with pytest.raises(TypeError):
        getattr(loop, method)()
    with pytest.raises(TypeError):
        getattr(loop, method)(context=None)

    assert len(loop._ready) == 0


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_unknown_keyword_raises_type_error(loop, method):
    with pytest.raises(TypeError, match="unexpected keyword argument 'delay'"):
        getattr(loop, method)(print, delay=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'delay'"):
        getattr(loop, method)(print, context=None, delay=1)

    assert len(loop._ready) == 0


def test_callback_that_empties_the_ready_queue_fails_the_iteration_with_index_error(loop):
    # Reaching into loop._ready is asyncio's private business, but it must
    # fail as asyncio's popleft() from an empty deque does, never read past
    # the end of the queue.
    calls = []
    loop.call_soon(loop._ready.clear)
    loop.call_soon(calls.append, "cleared away")

    with pytest.raises(IndexError):
        run_once(loop)
    assert calls == []


def test_handle_with_one_argument_shows_it_as_a_tuple_and_copies_it(loop):
    # Compiled, fastloop keeps a lone argument without a tuple: what Python
    # sees must not change.
    calls = []
    handle = loop.call_soon(calls.append, "lone")
    duplicate = copy.copy(handle)

    assert handle._args == ("lone",)
    assert duplicate._args == ("lone",)
    # 3.13's asyncio shows arguments in debug mode only.
    expected = "append()" if sys.version_info >= (3, 13) else "append('lone')"
    assert expected in repr(handle)
    run_once(loop)
    duplicate._run()
    assert calls == ["lone", "lone"]

    handle._args = ("replaced",)
    handle._run()
    assert calls == ["lone", "lone", "replaced"]
    handle.cancel()
    assert handle._args is None


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe"])
def test_lone_argument_reaches_a_bound_method_and_a_builtin(loop, method):
    class Recorder:
        def __init__(self):
            self.seen = []

        def record(self, value):
            self.seen.append(value)

    recorder = Recorder()
    seen = []
    getattr(loop, method)(recorder.record, 1)
    getattr(loop, method)(seen.append, 2)
    getattr(loop, method)(lambda value: seen.append(value * 10), 3)
    run_once(loop)

    assert recorder.seen == [1]
    assert seen == [2, 30]


def test_a_loop_subclass_overriding_call_soon_gets_every_call(loop_factory):
    # asyncio's tasks and futures schedule through loop.call_soon: an
    # override (instrumentation, tracing loops) sees their calls too, and
    # a subclass of that subclass keeps it.
    probe = loop_factory()
    probe.close()

    class CountingLoop(type(probe)):
        def __init__(self):
            super().__init__()
            self.scheduled = []

        def call_soon(self, callback, *args, context=None):
            self.scheduled.append(callback)
            return super().call_soon(callback, *args, context=context)

    class QuietCountingLoop(CountingLoop):
        pass

    async def main():
        await asyncio.sleep(0)
        return "done"

    for loop_class in (CountingLoop, QuietCountingLoop):
        counting = loop_class()
        try:
            assert counting.run_until_complete(main()) == "done"
            counting.call_soon_threadsafe(counting.stop)
            counting.run_forever()
        finally:
            counting.close()
        # The task's first step, its step after sleep(0), and the
        # future's done callbacks: all through the override.
        assert len(counting.scheduled) >= 3


# A handle that ran leaves the queue as asyncio's leaves its deque: one that
# somebody holds is as it was, and one that nobody holds is gone, with what
# it held. (fastloop keeps the latter's object for reuse, emptied.)

def test_handle_kept_by_the_caller_is_unchanged_after_it_ran(loop):
    context = contextvars.copy_context()
    handle = loop.call_soon(callback_for_repr, "argument", context=context)
    run_once(loop)

    assert handle._callback is callback_for_repr
    assert handle._args == ("argument",)
    assert handle_context(handle) is context
    assert not handle.cancelled()
    assert "callback_for_repr" in repr(handle)


def test_handle_nobody_holds_is_gone_once_it_ran(loop):
    handle = weakref.ref(loop.call_soon(callback_for_repr))
    run_once(loop)

    assert handle() is None


class Finalized:
    """Calls ``on_finalize`` when it is freed."""

    def __init__(self, on_finalize):
        self.on_finalize = on_finalize

    def __del__(self):
        self.on_finalize()


def test_what_a_ran_handle_held_is_freed_before_the_next_callback_runs(loop):
    events = []
    loop.call_soon(id, Finalized(lambda: events.append("freed")))
    loop.call_soon(events.append, "next callback")
    run_once(loop)

    assert events == ["freed", "next callback"]


def test_callback_scheduled_as_a_ran_handle_lets_go_runs_next_iteration(loop):
    # Freeing what a handle held runs code (here, a finalizer) that schedules
    # a callback: on fastloop that callback may get the very handle object
    # being let go of.
    events = []

    def schedule():
        events.append("finalized")
        loop.call_soon(events.append, "scheduled by the finalizer")

    loop.call_soon(id, Finalized(schedule))
    run_once(loop)
    assert events == ["finalized"]
    run_once(loop)

    assert events == ["finalized", "scheduled by the finalizer"]


def test_many_ran_handles_in_a_copied_context_leave_it_intact(loop):
    token = request_id.set("request-7")
    try:
        seen = []
        for _ in range(1000):
            loop.call_soon(lambda: seen.append(request_id.get()))
        run_once(loop)
        gc.collect()
        for _ in range(1000):
            loop.call_soon(lambda: seen.append(request_id.get()))
        run_once(loop)
    finally:
        request_id.reset(token)

    assert seen == ["request-7"] * 2000


@pytest.mark.parametrize("arguments", [(), ("one",), ("one", "two")])
def test_callback_scheduled_after_cancelled_ones_were_skipped_runs(loop, arguments):
    # fastloop may hand a skipped (cancelled) handle's object to the next
    # call_soon: it must come back neither cancelled nor with the old callback.
    calls = []
    context = contextvars.copy_context()
    for _ in range(3):
        loop.call_soon(calls.append, "cancelled", context=context).cancel()
    run_once(loop)
    handles = [loop.call_soon(lambda *received: calls.append(received), *arguments,
                              context=context) for _ in range(3)]
    run_once(loop)

    assert calls == [arguments] * 3
    assert not any(handle.cancelled() for handle in handles)
    assert all(handle_context(handle) is context for handle in handles)
