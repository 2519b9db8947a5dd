"""add_signal_handler and friends; Ctrl-C under asyncio.Runner."""

import asyncio
import contextvars
import os
import signal
import socket
import threading
import time

import pytest

from support import run_once


request_id = contextvars.ContextVar("request_id", default=None)


@pytest.fixture(autouse=True)
def restore_signal_state():
    """Leave SIGINT and SIGUSR1 as the test found them. Every test starts
    and ends with no signal wake-up fd."""
    saved_handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGUSR1)}
    signal.set_wakeup_fd(-1)
    yield
    signal.set_wakeup_fd(-1)
    for sig, handler in saved_handlers.items():
        signal.signal(sig, handler)


@pytest.mark.timeout(10)
def test_signal_handler_runs_in_the_loop_when_the_signal_arrives(loop):
    received = loop.create_future()

    def on_signal(name):
        received.set_result((name, asyncio.get_running_loop()))

    loop.add_signal_handler(signal.SIGUSR1, on_signal, "SIGUSR1")
    loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)

    assert loop.run_until_complete(received) == ("SIGUSR1", loop)


@pytest.mark.timeout(10)
def test_signal_sent_from_another_thread_wakes_a_sleeping_loop(loop):
    received = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, received.set_result, "woken")
    sender = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGUSR1))

    async def main():
        sender.start()
        return await received

    try:
        assert loop.run_until_complete(main()) == "woken"
    finally:
        sender.join()


@pytest.mark.timeout(10)
def test_adding_a_handler_again_replaces_the_previous_one(loop):
    calls = []
    received = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, calls.append, "first")
    loop.add_signal_handler(signal.SIGUSR1, received.set_result, "second")
    loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)

    assert loop.run_until_complete(received) == "second"
    assert calls == []


def test_remove_signal_handler_returns_true_when_a_handler_was_removed(loop):
    loop.add_signal_handler(signal.SIGUSR1, print)

    assert loop.remove_signal_handler(signal.SIGUSR1) is True


def test_remove_signal_handler_returns_false_when_there_was_none(loop):
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_remove_signal_handler_returns_false_the_second_time(loop):
    loop.add_signal_handler(signal.SIGUSR1, print)
    loop.remove_signal_handler(signal.SIGUSR1)

    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_remove_signal_handler_restores_the_default_disposition(loop):
    loop.add_signal_handler(signal.SIGUSR1, print)

    loop.remove_signal_handler(signal.SIGUSR1)

    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


def test_removing_the_sigint_handler_restores_keyboard_interrupt(loop):
    loop.add_signal_handler(signal.SIGINT, print)

    loop.remove_signal_handler(signal.SIGINT)

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_close_removes_the_signal_handlers(loop):
    loop.add_signal_handler(signal.SIGUSR1, print)

    loop.close()

    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


def test_loop_that_removed_its_last_signal_handler_leaves_no_wakeup_fd_behind(loop):
    loop.add_signal_handler(signal.SIGUSR1, print)
    loop.call_soon(loop.remove_signal_handler, signal.SIGUSR1)
    loop.call_soon(loop.stop)
    loop.run_forever()

    loop.close()

    assert signal.set_wakeup_fd(-1) == -1


def test_running_loop_leaves_the_signal_wakeup_fd_it_found(loop):
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        signal.set_wakeup_fd(writer.fileno())
        run_once(loop)

        assert signal.set_wakeup_fd(-1) == writer.fileno()
    finally:
        reader.close()
        writer.close()


def test_sigkill_cannot_be_handled(loop):
    with pytest.raises(RuntimeError, match="cannot be caught"):
        loop.add_signal_handler(signal.SIGKILL, print)


def test_invalid_signal_number_raises_value_error(loop):
    with pytest.raises(ValueError, match="invalid signal number"):
        loop.add_signal_handler(signal.NSIG + 1, print)


def test_removing_an_invalid_signal_number_raises_value_error(loop):
    with pytest.raises(ValueError, match="invalid signal number"):
        loop.remove_signal_handler(-1)


def test_signal_that_is_not_an_int_raises_type_error(loop):
    with pytest.raises(TypeError, match="sig must be an int"):
        loop.add_signal_handler("SIGUSR1", print)


def test_coroutine_function_as_signal_handler_raises_type_error(loop):
    async def handler():
        pass

    with pytest.raises(TypeError, match=r"coroutines cannot be used with add_signal_handler\(\)"):
        loop.add_signal_handler(signal.SIGUSR1, handler)


def test_add_signal_handler_outside_the_main_thread_raises_runtime_error(loop):
    outcome = []

    def add_handler():
        try:
            loop.add_signal_handler(signal.SIGUSR1, print)
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=add_handler)
    thread.start()
    thread.join()

    assert [type(exc) for exc in outcome] == [RuntimeError]
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


def test_add_signal_handler_on_a_closed_loop_raises_runtime_error(loop):
    loop.close()

    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.add_signal_handler(signal.SIGUSR1, print)


@pytest.fixture
def keyboard_interrupt_on_sigint():
    """asyncio.Runner takes over SIGINT only from the default handler."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_until_ctrl_c(loop_factory, press_ctrl_c):
    """Under asyncio.Runner, run a main task that waits forever; once it
    waits, ``press_ctrl_c(loop)`` sends SIGINT. Returns the main task and
    how long Runner.run() took to raise KeyboardInterrupt."""
    main_task = None

    async def main():
        nonlocal main_task
        main_task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        never_done = loop.create_future()
        press_ctrl_c(loop)
        await never_done

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main())
    return main_task, time.monotonic() - started


def run_until_ctrl_c_from_thread(loop_factory, send_sigint):
    """run_until_ctrl_c, with ``send_sigint()`` called in a new thread."""
    sender = threading.Thread(target=send_sigint)
    try:
        return run_until_ctrl_c(loop_factory, lambda loop: sender.start())
    finally:
        if sender.ident is not None:
            sender.join()


@pytest.mark.timeout(15)
def test_ctrl_c_under_runner_raises_keyboard_interrupt_and_cancels_main(
        loop_factory, keyboard_interrupt_on_sigint):
    # raise_signal() delivers SIGINT to the loop's own thread at once: the
    # test does not depend on when the signal reaches a sleeping loop (see
    # the fastloop_only tests below for that).
    main_task, elapsed = run_until_ctrl_c(
        loop_factory, lambda loop: loop.call_soon(signal.raise_signal, signal.SIGINT))

    assert main_task.cancelled()
    assert elapsed < 5.0


@pytest.mark.fastloop_only
@pytest.mark.timeout(15)
def test_ctrl_c_from_another_thread_wakes_a_sleeping_loop(
        loop_factory, keyboard_interrupt_on_sigint):
    # Stock asyncio loses this race now and then: a SIGINT that lands just
    # before its poll starts leaves the Python handler pending while the
    # poll sleeps. fastloop routes every signal through its self-pipe while
    # it runs in the main thread, so the poll always wakes.
    main_thread = threading.main_thread().ident

    main_task, elapsed = run_until_ctrl_c_from_thread(
        loop_factory, lambda: signal.pthread_kill(main_thread, signal.SIGINT))

    assert main_task.cancelled()
    assert elapsed < 5.0


@pytest.mark.fastloop_only
@pytest.mark.timeout(15)
def test_ctrl_c_delivered_to_another_thread_still_wakes_the_loop(
        loop_factory, keyboard_interrupt_on_sigint):
    # The signal lands on the sending thread, so nothing interrupts the
    # main thread's poll but fastloop's self-pipe.
    main_task, elapsed = run_until_ctrl_c_from_thread(
        loop_factory, lambda: signal.pthread_kill(threading.get_ident(), signal.SIGINT))

    assert main_task.cancelled()
    assert elapsed < 5.0


@pytest.mark.timeout(10)
def test_signal_that_arrives_while_the_loop_is_not_running_is_handled_when_it_runs(loop):
    received = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, received.set_result, "handled later")

    signal.raise_signal(signal.SIGUSR1)

    assert loop.run_until_complete(received) == "handled later"


@pytest.mark.timeout(10)
def test_signal_handler_runs_in_a_copy_of_the_context_it_was_added_in(loop):
    received = loop.create_future()

    def add():
        request_id.set("when added")
        loop.add_signal_handler(signal.SIGUSR1, lambda: received.set_result(request_id.get()))

    contextvars.copy_context().run(add)
    signal.raise_signal(signal.SIGUSR1)

    assert loop.run_until_complete(received) == "when added"
