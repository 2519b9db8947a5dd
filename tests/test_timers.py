"""call_later and call_at: deadlines, order, cancellation, the clock."""

import asyncio
import contextvars
import fractions
import gc
import math
import threading
import time
import weakref

import pytest

from support import run_once

CLOCK_RESOLUTION = time.get_clock_info("monotonic").resolution


def fire_all(loop, handles):
    """Run the loop until the last of ``handles`` (by deadline) has fired."""
    last_fired = loop.create_future()
    deadline = max(handle.when() for handle in handles)
    loop.call_at(deadline, lambda: loop.call_soon(last_fired.set_result, None))
    loop.run_until_complete(last_fired)


def test_call_later_runs_callback_after_its_delay(loop):
    fired = loop.create_future()
    started = loop.time()

    loop.call_later(0.01, lambda: fired.set_result(loop.time()))

    assert loop.run_until_complete(fired) - started >= 0.01 - CLOCK_RESOLUTION


def test_call_later_passes_positional_arguments(loop):
    fired = loop.create_future()

    loop.call_later(0, lambda *args: fired.set_result(args), 1, "two")

    assert loop.run_until_complete(fired) == (1, "two")


def test_call_later_with_negative_delay_fires_as_soon_as_possible(loop):
    fired = loop.create_future()

    loop.call_later(-10, fired.set_result, "fired")

    assert loop.run_until_complete(fired) == "fired"


def test_call_later_never_fires_early(loop, loop_kind):
    # asyncio runs a timer once loop.time() + clock_resolution passes its
    # deadline, so it may fire up to one clock tick early; fastloop waits
    # for loop.time() >= when.
    if loop_kind == "asyncio":
        allowed_early = CLOCK_RESOLUTION
    else:
        allowed_early = 0.0
    fired_at = {}
    handles = [loop.call_later(delay, lambda i=i: fired_at.setdefault(i, loop.time()))
               for i, delay in enumerate([0.0005 * n for n in range(30)])]

    fire_all(loop, handles)

    for i, handle in enumerate(handles):
        assert fired_at[i] >= handle.when() - allowed_early


def test_call_at_never_fires_early(loop, loop_kind):
    if loop_kind == "asyncio":
        allowed_early = CLOCK_RESOLUTION
    else:
        allowed_early = 0.0
    start = loop.time()
    fired_at = {}
    handles = [loop.call_at(start + 0.0007 * n, lambda n=n: fired_at.setdefault(n, loop.time()))
               for n in range(20)]

    fire_all(loop, handles)

    for n, handle in enumerate(handles):
        assert fired_at[n] >= handle.when() - allowed_early


def test_timers_fire_in_deadline_order_not_scheduling_order(loop):
    order = []
    handles = [loop.call_later(delay, order.append, delay) for delay in (0.03, 0.01, 0.02, 0.0)]

    fire_all(loop, handles)

    assert order == [0.0, 0.01, 0.02, 0.03]


def test_call_at_fires_at_an_absolute_loop_time(loop):
    fired = loop.create_future()
    when = loop.time() + 0.01

    loop.call_at(when, lambda: fired.set_result(loop.time()))

    assert loop.run_until_complete(fired) >= when - CLOCK_RESOLUTION


def test_call_at_handle_when_is_the_deadline_given(loop):
    when = loop.time() + 12.5

    handle = loop.call_at(when, print)

    assert handle.when() == when


def test_call_later_handle_when_is_now_plus_delay(loop):
    before = loop.time()
    handle = loop.call_later(30, print)
    after = loop.time()

    assert before + 30 <= handle.when() <= after + 30


@pytest.mark.parametrize("when", [12, fractions.Fraction(25, 2), True, 10**400],
                         ids=["int", "fraction", "bool", "int-beyond-float"])
def test_call_at_keeps_the_deadline_object_given(loop, when):
    handle = loop.call_at(when, print)

    assert handle.when() == when
    assert type(handle.when()) is type(when)
    assert f"when={when} " in repr(handle)


def test_call_at_with_an_int_deadline_fires(loop):
    fired = loop.create_future()
    loop.call_at(math.floor(loop.time()), fired.set_result, "due")

    assert loop.run_until_complete(fired) == "due"


def test_call_later_under_an_int_clock_gives_int_deadlines(loop):
    loop.time = lambda: 100

    assert repr(loop.call_later(2, print).when()) == "102"
    assert repr(loop.call_later(2.5, print).when()) == "102.5"


def test_a_deadline_object_referring_to_its_timer_is_collected(loop):
    class Deadline(fractions.Fraction):  # an int subclass takes no weak references
        pass

    fired = loop.create_future()
    when = Deadline(math.floor(loop.time()))
    when.timer = loop.call_at(when, fired.set_result, None)
    loop.run_until_complete(fired)
    collected = weakref.ref(when)
    del when
    gc.collect()

    assert collected() is None


def test_cancelled_timer_never_fires(loop):
    calls = []
    cancelled = loop.call_later(0.001, calls.append, "cancelled")
    kept = loop.call_later(0.002, calls.append, "kept")

    cancelled.cancel()
    fire_all(loop, [kept])

    assert calls == ["kept"]
    assert cancelled.cancelled()


def test_timer_cancelled_by_an_earlier_timer_never_fires(loop):
    calls = []
    later = loop.call_later(0.002, calls.append, "later")
    loop.call_later(0.001, later.cancel)
    guard = loop.call_later(0.003, calls.append, "guard")

    fire_all(loop, [guard])

    assert calls == ["guard"]


@pytest.mark.fastloop_only
def test_timers_with_equal_deadlines_fire_in_scheduling_order(loop):
    # asyncio leaves such ties to heap order; fastloop promises FIFO.
    first_deadline = loop.time() + 0.005
    second_deadline = first_deadline + 0.005
    order = []
    handles = []
    for number in range(200):
        deadline = first_deadline if number % 3 else second_deadline
        handles.append(loop.call_at(deadline, order.append, number))

    fire_all(loop, handles)

    on_first = [number for number in range(200) if number % 3]
    on_second = [number for number in range(200) if not number % 3]
    assert order == on_first + on_second


@pytest.mark.timeout(20)
def test_many_cancelled_timers_leave_live_timers_firing_in_order(loop):
    start = loop.time()
    fired = []
    handles = [loop.call_at(start + 0.001 + n * 1e-6, fired.append, n) for n in range(100_000)]
    live = set(range(0, 100_000, 997))
    for number, handle in enumerate(handles):
        if number not in live:
            handle.cancel()

    fire_all(loop, [handles[number] for number in live])

    assert fired == sorted(live)


@pytest.mark.timeout(20)
def test_many_cancelled_timers_do_not_slow_each_iteration_down(loop):
    far_away = loop.time() + 3600
    for number in range(100_000):
        loop.call_at(far_away + number, pytest.fail, "a cancelled timer fired").cancel()
    iterations = 0
    done = loop.create_future()

    def iterate():
        nonlocal iterations
        iterations += 1
        if iterations == 2000:
            done.set_result(None)
        else:
            loop.call_soon(iterate)

    loop.call_soon(iterate)
    started = time.perf_counter()
    loop.run_until_complete(done)

    # A loop that rescanned the cancelled timers on every iteration would
    # take minutes here; the work is done once.
    assert time.perf_counter() - started < 5.0


@pytest.mark.fastloop_only
def test_cancelled_timers_are_dropped_from_the_queue_once_they_are_most_of_it(loop):
    far_away = loop.time() + 3600
    for number in range(1000):
        loop.call_at(far_away + number, print).cancel()
    live = loop.call_at(far_away, print)

    run_once(loop)

    assert loop._pending_handle_count() == 1
    assert not live.cancelled()


class SchedulesWhenReleased:
    """A context variable's value that schedules a timer when it is freed:
    arbitrary code running while the timer queue releases a timer."""

    def __init__(self, loop, scheduled):
        self.loop = loop
        self.scheduled = scheduled

    def __del__(self):
        try:
            self.scheduled.append(self.loop.call_at(self.loop.time() + 3600, print))
        except RuntimeError as exc:
            # (Its message only: a traceback would keep this object alive.)
            self.scheduled.append(str(exc))


def cancelled_timers_holding_the_only_context(loop, count, scheduled):
    """Cancel ``count`` far timers, each the last holder of a context whose
    value schedules a timer when freed."""
    variable = contextvars.ContextVar("variable")
    for number in range(count):
        context = contextvars.copy_context()
        context.run(variable.set, SchedulesWhenReleased(loop, scheduled))
        loop.call_at(loop.time() + 3600 + number, print, context=context).cancel()


def test_timers_scheduled_while_the_queue_drops_cancelled_ones_are_kept(loop):
    scheduled = []
    cancelled_timers_holding_the_only_context(loop, 300, scheduled)
    live = loop.call_at(loop.time() + 3600, print)

    run_once(loop)
    gc.collect()

    assert len(scheduled) == 300
    assert not live.cancelled()
    fired = []
    for handle in scheduled:
        handle.cancel()
    loop.call_later(0.001, fired.append, "still runs timers")
    loop.call_later(0.002, loop.stop)
    loop.run_forever()
    assert fired == ["still runs timers"]


def test_timers_released_by_close_may_try_to_schedule_more(loop):
    scheduled = []
    cancelled_timers_holding_the_only_context(loop, 10, scheduled)

    loop.close()
    gc.collect()

    assert len(scheduled) == 10
    assert scheduled == ["Event loop is closed"] * 10


def test_loop_time_is_the_monotonic_clock(loop):
    before = time.monotonic()
    now = loop.time()
    after = time.monotonic()

    assert before <= now <= after


def test_patching_loop_time_on_the_instance_fast_forwards_timers(loop):
    real_time = loop.time
    offset = 0.0

    def fake_time():
        return real_time() + offset

    def fast_forward(seconds):
        nonlocal offset
        offset += seconds

    async def sleep_an_hour():
        loop.call_soon(fast_forward, 3600)
        await asyncio.sleep(3600)
        return "woke up"

    loop.time = fake_time
    started = time.monotonic()

    assert loop.run_until_complete(sleep_an_hour()) == "woke up"
    assert time.monotonic() - started < 5.0


def test_overriding_time_in_a_subclass_fast_forwards_timers(loop):
    class FastForwardLoop(type(loop)):
        offset = 0.0

        def time(self):
            return super().time() + self.offset

    fast_forward_loop = FastForwardLoop()
    try:
        fired = fast_forward_loop.create_future()
        fast_forward_loop.call_later(3600, fired.set_result, "fired")

        def fast_forward():
            fast_forward_loop.offset += 3600

        fast_forward_loop.call_soon(fast_forward)
        started = time.monotonic()

        assert fast_forward_loop.run_until_complete(fired) == "fired"
        assert time.monotonic() - started < 5.0
    finally:
        fast_forward_loop.close()


def test_patching_time_on_the_class_of_a_running_loop_fast_forwards_timers(loop):
    class PatchedLater(type(loop)):
        pass

    patched_loop = PatchedLater()
    try:
        fired = patched_loop.create_future()
        patched_loop.call_later(3600, fired.set_result, "fired")
        real_time = patched_loop.time

        def fast_forward():
            PatchedLater.time = lambda self: real_time() + 3600

        patched_loop.call_soon(fast_forward)
        started = time.monotonic()

        assert patched_loop.run_until_complete(fired) == "fired"
        assert time.monotonic() - started < 5.0
    finally:
        patched_loop.close()


@pytest.mark.timeout(10)
@pytest.mark.parametrize("delay", [365 * 24 * 3600.0, float("inf")])
def test_loop_sleeping_until_a_far_timer_still_wakes_for_other_threads(loop, delay):
    woken = loop.create_future()
    far_timer = loop.call_later(delay, woken.set_result, "the far timer")

    def wake():
        loop.call_soon_threadsafe(lambda: woken.done() or woken.set_result("the thread"))

    waker = threading.Thread(target=wake)

    async def main():
        waker.start()
        return await woken

    try:
        assert loop.run_until_complete(main()) == "the thread"
    finally:
        waker.join()
    assert not far_timer.cancelled()


def test_timer_handle_repr_shows_the_deadline_and_the_callback(loop):
    handle = loop.call_at(1234.5, print)

    assert repr(handle) == "<TimerHandle when=1234.5 print()>"


def test_timer_handles_order_by_deadline(loop):
    early = loop.call_at(10, print)
    late = loop.call_at(20, print)

    assert early < late
    assert late > early
    assert early <= late and late >= early
    assert sorted([late, early]) == [early, late]


def test_timer_handles_for_the_same_call_compare_equal(loop):
    first = loop.call_at(10, print, "same")
    second = loop.call_at(10, print, "same")
    other = loop.call_at(10, print, "other")

    assert first == second
    assert first != other
    assert hash(first) == hash(second)


def test_timer_handles_with_the_same_deadline_do_not_order_before_one_another(loop):
    # asyncio orders TimerHandles by deadline alone: a tie is neither < nor >.
    first = loop.call_at(10, print, "first")
    second = loop.call_at(10, print, "second")

    assert not first < second and not second < first
    assert not first > second and not second > first
