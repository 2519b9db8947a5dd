"""The benchmark workloads, shared by the pytest-benchmark suite and ratios.py.

Each workload takes an event loop that is not running, does a fixed amount
of work on it (``ops`` operations: callbacks, timers, task switches, items)
and returns once all of it is done. It counts what actually happened and
raises ``WorkloadError`` if the count is short, so a loop that drops work
cannot post a fast time. The loop is left reusable: the next round may run
on it.

Callbacks that only count are ``itertools.count().__next__`` (a C call), so
what is timed is the loop's own cost per callback, not the callback's.
"""

import asyncio
import functools
import itertools
import threading
from dataclasses import dataclass
from typing import Callable


class WorkloadError(AssertionError):
    """A loop did not do all the work it was given."""


def _check(what, done, expected):
    if done != expected:
        raise WorkloadError(f"{what}: {done} done, {expected} expected")


def _count_calls(counter):
    """How many times ``counter.__next__`` has run, for an itertools.count()."""
    return next(counter)


def call_soon(loop, n):
    """Schedule ``n`` callbacks with call_soon, then run until all ran."""
    counter = itertools.count()
    callback = counter.__next__
    for _ in range(n):
        loop.call_soon(callback)
    # FIFO: stop runs after every callback scheduled before it.
    loop.call_soon(loop.stop)
    loop.run_forever()
    _check("call_soon callbacks", _count_calls(counter), n)


# The timers' deadlines: ``n`` distinct delays spread over about 100 µs,
# in a scrambled order so the timer queue does real work. They are positive
# because rloop turns call_later(delay <= 0) into call_soon. Scheduling n
# timers takes far longer than 100 µs on any loop, so all are due by the
# time the loop first polls: the round measures timer handling, not a wait.
_TIMER_SPREAD = 100e-6
_TIMER_FIRST = 1e-6


@functools.cache
def _timer_delays(n):
    # 7919 is prime: i -> (i * 7919) % n is a permutation whenever n is not
    # a multiple of it.
    assert n % 7919, "choose a timer count that 7919 does not divide"
    step = _TIMER_SPREAD / n
    return tuple(_TIMER_FIRST + ((i * 7919) % n) * step for i in range(n))


def call_later(loop, n):
    """Schedule ``n`` timers with small distinct delays; run until all fired."""
    remaining = n

    def fire():
        nonlocal remaining
        remaining -= 1
        if not remaining:
            loop.stop()

    for delay in _timer_delays(n):
        loop.call_later(delay, fire)
    loop.run_forever()
    _check("call_later timers", n - remaining, n)


def call_soon_threadsafe(loop, n):
    """Another thread submits ``n`` callbacks while the loop runs.

    The loop sleeps in its poll whenever it has run everything submitted so
    far: only call_soon_threadsafe's wake-up brings it back (a loop that
    fails to wake hangs here rather than posting a time).
    """
    counter = itertools.count()
    callback = counter.__next__

    def submit():
        for _ in range(n):
            loop.call_soon_threadsafe(callback)
        loop.call_soon_threadsafe(loop.stop)

    submitter = threading.Thread(target=submit, name="benchmark-submitter")
    # Started from inside the loop, so every submission meets a running loop.
    loop.call_soon(submitter.start)
    try:
        loop.run_forever()
    finally:
        if submitter.ident is not None:
            submitter.join()
    _check("call_soon_threadsafe callbacks", _count_calls(counter), n)


def sleep_ping_pong(loop, n):
    """Two tasks take turns through ``await asyncio.sleep(0)``, ``n`` times."""
    switches = 0

    async def player(turns):
        nonlocal switches
        for _ in range(turns):
            await asyncio.sleep(0)
            switches += 1

    async def match():
        await asyncio.gather(player(n // 2), player(n - n // 2))

    loop.run_until_complete(match())
    _check("sleep(0) switches", switches, n)


def future_ping_pong(loop, n):
    """Two tasks hand a ball back and forth ``n`` times through futures.

    Each waits on its own future; to pass, it makes itself a fresh one and
    resolves the other's: every pass is create_future, set_result and a
    task woken by the loop.
    """
    inbox = [loop.create_future(), loop.create_future()]
    passes = 0

    async def player(me, other, turns):
        nonlocal passes
        for _ in range(turns):
            await inbox[me]
            inbox[me] = loop.create_future()
            passes += 1
            inbox[other].set_result(None)

    async def match():
        inbox[0].set_result(None)  # player 0 serves
        await asyncio.gather(player(0, 1, n - n // 2), player(1, 0, n // 2))

    loop.run_until_complete(match())
    _check("future passes", passes, n)


async def _trivial():
    return 1


def spawn_gather(loop, n):
    """Create ``n`` tasks of a trivial coroutine and gather them."""

    async def spawn():
        tasks = [loop.create_task(_trivial()) for _ in range(n)]
        return sum(await asyncio.gather(*tasks))

    _check("tasks finished", loop.run_until_complete(spawn()), n)


# Small enough that producer and consumer take turns every few items, as in
# a pipeline with back-pressure; large enough that Queue's own code, not
# only task switching, is measured.
_QUEUE_SIZE = 8


def queue(loop, n):
    """A producer task passes ``n`` items to a consumer through asyncio.Queue."""

    async def produce(items):
        for item in range(n):
            await items.put(item)

    async def consume(items):
        received = 0
        for _ in range(n):
            await items.get()
            received += 1
        return received

    async def pipeline():
        # Created inside the loop: a Queue binds to the loop of first use.
        items = asyncio.Queue(_QUEUE_SIZE)
        _, received = await asyncio.gather(produce(items), consume(items))
        return received

    _check("queue items received", loop.run_until_complete(pipeline()), n)


@dataclass(frozen=True)
class Workload:
    name: str
    run: Callable[[asyncio.AbstractEventLoop, int], None]
    #: Operations per round, sized so a round takes 10-100 ms on stock asyncio.
    ops: int
    #: What the operations are, for the tables ("callbacks", "timers", ...).
    units: str

    def __call__(self, loop):
        self.run(loop, self.ops)


WORKLOADS = (
    Workload("call_soon", call_soon, 50_000, "callbacks"),
    Workload("call_later", call_later, 20_000, "timers"),
    Workload("call_soon_threadsafe", call_soon_threadsafe, 20_000, "callbacks"),
    Workload("sleep_ping_pong", sleep_ping_pong, 20_000, "switches"),
    Workload("future_ping_pong", future_ping_pong, 20_000, "passes"),
    Workload("spawn_gather", spawn_gather, 10_000, "tasks"),
    Workload("queue", queue, 20_000, "items"),
)

BY_NAME = {workload.name: workload for workload in WORKLOADS}
