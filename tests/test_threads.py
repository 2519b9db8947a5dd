"""call_soon_threadsafe: other threads hand callbacks to a sleeping loop."""

import asyncio
import threading

import pytest


@pytest.mark.timeout(20)
def test_call_soon_threadsafe_from_many_threads_wakes_a_sleeping_loop(loop):
    thread_count = 8
    calls_per_thread = 500
    received = {index: [] for index in range(thread_count)}
    remaining = thread_count * calls_per_thread
    all_received = loop.create_future()
    start_together = threading.Barrier(thread_count)

    def record(thread_index, number):
        nonlocal remaining
        received[thread_index].append(number)
        remaining -= 1
        if remaining == 0:
            all_received.set_result(None)

    def produce(thread_index):
        start_together.wait()
        for number in range(calls_per_thread):
            loop.call_soon_threadsafe(record, thread_index, number)

    producers = [threading.Thread(target=produce, args=(index,)) for index in range(thread_count)]

    async def main():
        # No timer and nothing ready: only the producers can wake the loop.
        for producer in producers:
            producer.start()
        await all_received

    try:
        loop.run_until_complete(main())
    finally:
        for producer in producers:
            producer.join()

    for index in range(thread_count):
        assert received[index] == list(range(calls_per_thread))


@pytest.mark.timeout(20)
def test_call_soon_threadsafe_wakes_the_loop_each_time_it_falls_asleep(loop):
    rounds = 1000
    answered = threading.Event()
    answers = []
    finished = loop.create_future()

    def answer(number):
        answers.append(number)
        answered.set()
        if number == rounds - 1:
            finished.set_result(None)

    def ask():
        for number in range(rounds):
            loop.call_soon_threadsafe(answer, number)
            if not answered.wait(timeout=10):
                return  # the loop never answered: main() times out
            answered.clear()

    asker = threading.Thread(target=ask)

    async def main():
        asker.start()
        await finished

    try:
        loop.run_until_complete(main())
    finally:
        asker.join()

    assert answers == list(range(rounds))


def test_call_soon_threadsafe_callback_runs_in_the_loop_thread(loop):
    ran_in = loop.create_future()

    def schedule():
        loop.call_soon_threadsafe(lambda: ran_in.set_result(threading.get_ident()))

    scheduler = threading.Thread(target=schedule)
    scheduler.start()
    scheduler.join()

    assert loop.run_until_complete(ran_in) == threading.get_ident()


@pytest.mark.timeout(20)
def test_loop_runs_in_a_thread_other_than_the_main_one(loop):
    running = threading.Event()
    finished = loop.create_future()
    outcome = []

    async def wait_for_main_thread():
        loop.call_soon(running.set)
        outcome.append((await finished, threading.get_ident()))

    runner = threading.Thread(target=loop.run_until_complete, args=(wait_for_main_thread(),))
    runner.start()
    try:
        assert running.wait(timeout=10)
        loop.call_soon_threadsafe(finished.set_result, "from the main thread")
    finally:
        runner.join(timeout=10)

    assert outcome == [("from the main thread", runner.ident)]


@pytest.mark.timeout(20)
def test_two_loops_run_at_once_in_two_threads(loop, loop_factory):
    other = loop_factory()
    results = {}

    async def count_timers(name):
        fired = []
        for delay in (0.003, 0.001, 0.002):
            asyncio.get_running_loop().call_later(delay, fired.append, delay)
        await asyncio.sleep(0.01)
        return name, fired

    def run(event_loop, name):
        key, fired = event_loop.run_until_complete(count_timers(name))
        results[key] = fired

    threads = [threading.Thread(target=run, args=(event_loop, name))
               for event_loop, name in ((loop, "first"), (other, "second"))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    finally:
        other.close()

    assert results == {"first": [0.001, 0.002, 0.003], "second": [0.001, 0.002, 0.003]}
