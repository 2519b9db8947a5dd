"""The scheduler: the compiled core every fastloop Loop is built on.

It owns what runs per callback: the ready queue, the timer queue, the poll
and the dispatch of I/O readiness to reader/writer handles, and the wake-up
of a sleeping loop from other threads and from signals. The Python layer
(``_loop.Loop``) builds asyncio's API on top of it.

The ready queue is a list run by snapshot count: callbacks scheduled while
it runs wait for the next iteration. Entries are appended (by any thread:
``list.append`` is atomic) and only this loop's thread deletes the ones it
ran, so nothing scheduled from another thread can be lost in between.
"""

try:
    import cython
except ImportError:
    from . import _cython_shim as cython

import gc
import logging
import socket
import sys
import threading
import time
import types
import weakref
from contextvars import copy_context
from asyncio import futures, iscoroutine, tasks

from . import _asyncio_private as aio_private
from ._handles import (Handle, TimerHandle, deadline_of, leave_queue, new_handle,
                       new_queued_handle, new_timer)
from ._poller import DRAIN, EDGE, READABLE, WRITABLE, Poller
from ._timers import TimerQueue

_PY314 = sys.version_info >= (3, 14)

# asyncio's own logger: users configure and tests capture "asyncio".
logger = logging.getLogger("asyncio")

# With callbacks ready and no fd watched but the self-pipe, a zero-timeout
# poll can only find wake-ups whose handles are queued already; it is skipped,
# but not more than this many iterations in a row, so that signals handled
# with add_signal_handler still get through a loop that never idles.
_MAX_SKIPPED_POLLS = 16

# An empty list kept for the next flush of any loop's write batches: a flush
# takes the loop's list of queued writers whole, puts this one in its place,
# and keeps the one it took, emptied, as the next spare. Flushing then makes
# and frees no list per iteration. (Taken and given back with no Python code
# in between: loops in other threads never see it half-way.)
_spare_writers = []

# asyncio's C Future and its running-loop lookup (see create_future). From
# 3.12 on, a C Future made without a loop finds the running loop for less
# than parsing loop= costs; 3.11's lookup costs more than that (169 ns against
# 35 on 3.12, measured here).
_C_FUTURE = aio_private.C_FUTURE
_C_GET_RUNNING_LOOP = aio_private.c_get_running_loop
_FUTURE_FINDS_LOOP = _C_GET_RUNNING_LOOP is not None and sys.version_info >= (3, 12)


def _monotonic():
    """loop.time(): the clock behind time.monotonic(), read directly."""
    if cython.compiled:
        clock_gettime(CLOCK_MONOTONIC, cython.address(now))
        return now.tv_sec + now.tv_nsec * 1e-9
    return time.monotonic()


class Connection:
    """A connection the scheduler serves without Python calls in between.

    - Its fd's readiness: the handles that watch its fd (see
      ``Scheduler._watch_connection``) are ``ConnectionHandle``s, and
      running one calls ``_fd_ready`` directly.
    - Its writes, in batches: what it is asked to write during an iteration
      goes out once the iteration's callbacks are done. It queues itself on
      ``Scheduler._batched_writers`` (once per iteration: ``_batch_queued``
      says it is queued) and the scheduler calls ``_flush_batch`` after the
      callbacks, so that a response written in pieces leaves in one
      vectored send.

    ``_edge_triggerable``: its fd may be watched edge-triggered, because a
    read of it stops short of what is queued only where the poll says so
    (see _poller.DRAIN). True of a plain TCP socket; not of a Unix socket
    (a read stops at a message that passed fds or credentials, and no poll
    says so) or of a socket class whose recv() may do anything.

    Stream transports' cores are connections.
    """

    def __init__(self):
        self._batch_queued = False
        self._edge_triggerable = False

    def _fd_ready(self, writable):
        """The fd is readable or, ``writable``, writable. Returns what the
        run found (DID_NOTHING, DID_SOME, MAY_DO_MORE): see
        ConnectionHandle."""
        raise NotImplementedError(f"{type(self).__name__} must define _fd_ready()")

    def _flush_batch(self):
        raise NotImplementedError(f"{type(self).__name__} must define _flush_batch()")


# What a run of Connection._fd_ready did: nothing (a read found nothing, or
# the end, or failed; a send found the kernel full, or nothing more to send);
# some (a read got all there was, unless the poll said a read may stop short:
# see _poller.DRAIN); or as much as it had room for, so there may be more (a
# read filled its buffer, a send took some with more waiting).
DID_NOTHING = 0
DID_SOME = 1
MAY_DO_MORE = 2
# The same, as C ints compiled (the names above are what _stream_core imports).
_DID_NOTHING = DID_NOTHING
_DID_SOME = DID_SOME
_MAY_DO_MORE = MAY_DO_MORE


@cython.cclass
class ConnectionHandle(Handle):
    """The handle that watches a ``Connection``'s fd for reading or writing.

    Its callback is the connection's Python-visible readiness method (what
    reprs, debug reports and asyncio's ``_callback`` show); compiled,
    running it calls the connection's C-level ``_fd_ready`` instead, which
    spares the call through Python's protocol (bound method, function
    object, argument parsing) on every read. Its context is made when it is
    (a copy, as asyncio's add_reader makes), never left empty and hidden.
    Made only compiled: uncompiled, a Handle serves.

    Its fd is watched edge-triggered (``_edge``) where the poller can and
    every watch of the fd is a ConnectionHandle of an edge-triggerable
    connection: an epoll that does not put a reported fd back on its ready
    list costs the kernel less per poll. Such an fd is reported once per
    change, so the handle runs again next iteration unreported (see
    Scheduler._still_ready), where a level-triggered poll would have
    reported it, when
    - ``_fd_ready`` says there may be more (MAY_DO_MORE);
    - it read some while ``_draining``: its fd's report said a read may stop
      short of what is queued (see _poller.DRAIN), until a read finds
      nothing (or the end, or an error, after which it reads no more);
    - ``_fd_ready`` raised, which leaves unknown what is left.
    ``_queued``: it waits in the ready queue, so that one both reported and
    run again unreported runs once in the iteration, as asyncio's would.
    """

    def _run(self):
        if not cython.compiled or self._connection is None:
            # Cancelled (or made by Python code): asyncio's error for a
            # handle run without its callback, not a call on None.
            Handle._run(self)
            return
        self._queued = False
        context = self._context_if_made
        if _enter_context(context) < 0:
            _report_raised(self)
            return
        try:
            found = self._connection._fd_ready(self._writable)
        except (SystemExit, KeyboardInterrupt):
            _exit_context(context)
            self._run_again()
            raise
        except BaseException as exc:
            # As Handle._run: the context is left before the error is handled.
            if _exit_context(context) < 0:
                _report_raised(self)
            self._run_again()
            self._report_exception(exc)
            return
        if _exit_context(context) < 0:
            _report_raised(self)
            self._run_again()
            return
        if found == _MAY_DO_MORE or (found == _DID_SOME and self._draining):
            self._run_again()
        elif found == _DID_NOTHING:
            self._draining = False

    def _run_again(self):
        """Run next iteration without a report, if the fd is watched
        edge-triggered (level-triggered, the poll reports it anyway)."""
        if self._edge and not self._cancelled:
            loop = self._loop
            if isinstance(loop, Scheduler):
                cython.cast(Scheduler, loop)._still_ready.append(self)

    def _cancel_as(self, debug):
        Handle._cancel_as(self, debug)
        # Nothing the cancelled handle could run: let go of the connection.
        self._connection = None


def _allows_edges(watch):
    """Whether ``watch`` (a watch handle, or None for no watch) allows its
    fd to be watched edge-triggered."""
    if watch is None:
        return True
    return (type(watch) is ConnectionHandle
            and cython.cast(ConnectionHandle, watch)._connection is not None
            and cython.cast(ConnectionHandle, watch)._connection._edge_triggerable)


# GC must not clear its fields (no tp_clear): code that runs while a cycle
# through the loop is being collected may still call it, and a typed field
# (_timers, _poller) set to None would be a crash, not an error. Its cycles
# are broken through the queues, which clear their handles.
@cython.no_gc_clear
@cython.cclass
class Scheduler:
    def __cinit__(self, *args, **kwargs):
        # Compiled: the C-level state exists before any subclass __init__
        # runs, so no method can ever see it missing.
        self._init_core()
        # Cython made the instance __dict__ in tp_new; unmade, it is made
        # when an attribute of its own is first set (see Loop.__slots__).
        _drop_empty_instance_dict(self)

    def __init__(self):
        # Compiled, __cinit__ did it; uncompiled, once only (a second
        # __init__ call must not open a second epoll fd and self-pipe).
        if not cython.compiled and "_poller" not in vars(self):
            self._init_core()

    def _init_core(self):
        self._ready = []
        self._batched_writers = []
        # ConnectionHandles to run next iteration unreported (see
        # ConnectionHandle): their fd, watched edge-triggered, is still ready.
        self._still_ready = []
        self._timers = TimerQueue()
        self._poller = Poller()
        # Indexed by fd: [reader Handle or None, writer Handle or None, file
        # object or None], or None where the fd is not watched (see "readers
        # and writers"); _watched_fds counts the fds watched.
        self._fd_handles = []
        self._watched_fds = 0
        self._closed = False
        self._stopping = False
        self._debug = False
        self._thread_id = None
        self._current_handle = None
        self.slow_callback_duration = 0.1
        self._clock_resolution = time.get_clock_info("monotonic").resolution
        self._future_kwargs = {}  # {"loop": self} while running
        # The self-pipe wakes a sleeping loop: written by other threads (once
        # per wake-up, see call_soon_threadsafe) and by the C signal handler
        # (signal.set_wakeup_fd), which writes the signal number.
        self._wakeup_pending = False
        self._skipped_polls = 0
        self._self_reader, self._self_writer = socket.socketpair()
        self._self_reader.setblocking(False)
        self._self_writer.setblocking(False)
        self._self_reader_fd = self._self_reader.fileno()
        self._self_writer_fd = self._self_writer.fileno()
        self._poller.set_interest(self._self_reader_fd, READABLE)
        if cython.compiled:
            _LIVE_SCHEDULERS.add(weakref.ref(self, _LIVE_SCHEDULERS.discard))

    # -- clock -------------------------------------------------------------

    def time(self):
        """Return the time according to the event loop's clock."""
        return _monotonic()

    def _now(self):
        # Tests fast-forward asyncio by patching loop.time (on the instance
        # or in a subclass); the scheduler must follow the patched clock.
        # Uncompiled, self.time() finds a patch by itself; compiled, the
        # clock is read directly unless a patch is found.
        if cython.compiled:
            instance_attributes = _instance_dict_if_made(self)
            if _class_attribute_is(self, "time", _SCHEDULER_TIME) and (
                    instance_attributes == cython.NULL
                    or "time" not in cython.cast(dict, instance_attributes)):
                return _monotonic()
        return self.time()

    # -- scheduling ----------------------------------------------------------

    # Compiled, these two methods are C methods (_call_soon_body and
    # _call_soon_threadsafe_body below, installed at import) that come back
    # here only for unusual call shapes. Their bodies are written out twice
    # on purpose: uncompiled, a call from here to a shared body would be a
    # second Python call per callback (and so would a test of
    # cython.compiled, a module attribute lookup).

    def call_soon(self, callback, *args, context=None):
        """Arrange for a callback to be called as soon as possible."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
        handle = new_queued_handle(callback, args, self, context, self._debug)
        self._ready.append(handle)
        return handle

    def call_soon_threadsafe(self, callback, *args, context=None):
        """Like call_soon(), but thread-safe."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
        handle = new_queued_handle(callback, args, self, context, self._debug)
        self._ready.append(handle)
        # One write per wake-up: the loop clears the flag when it drains the
        # self-pipe, before it takes the ready queue's length, so a handle
        # appended before a skipped write is always seen.
        if not self._wakeup_pending:
            self._wakeup_pending = True
            self._write_to_self()
        return handle

    # Called for every future and task: asyncio's C Future asks get_debug()
    # as each is made, and awaiting code makes futures all the time.

    def get_debug(self):
        return self._debug

    def create_future(self):
        """Create a Future object attached to the loop."""
        # Looked up at each call, as asyncio does: tests patch it.
        future_type = futures.Future
        if cython.compiled and future_type is _C_FUTURE:
            if _FUTURE_FINDS_LOOP and _C_GET_RUNNING_LOOP() is self:
                # The C Future takes the running loop for its own: no
                # keyword argument to pass and parse.
                return PyObject_CallNoArgs(future_type)
            if len(self._future_kwargs) == 1:
                # Future(loop=self) with a kwargs dict kept for it: the call
                # would otherwise build and free one per future. (It is
                # filled only while the loop runs: see _run_until_stopped.
                # On 3.12+ it serves calls from other threads only.)
                return PyObject_Call(future_type, (), self._future_kwargs)
        return future_type(loop=self)

    def create_task(self, coro, *, name=None, context=None, **kwargs):
        """Schedule or begin executing a coroutine object; return a Task.

        Extra keyword arguments (``eager_start`` on 3.12+) go to the task
        factory or to Task, as asyncio does from 3.13.3 on.
        """
        if self._closed:
            raise RuntimeError("Event loop is closed")
        factory = self._task_factory
        if factory is None:
            task = tasks.Task(coro, loop=self, name=name, context=context, **kwargs)
            if not cython.compiled and task._source_traceback:
                # The line of this method, which asyncio's own omits.
                # (Compiled, the method has no Python frame to omit.)
                del task._source_traceback[-1]
            try:
                return task
            finally:
                # gh-128552: uncompiled, an eager task's exception traceback
                # would hold this frame, and the frame the task.
                del task
        if context is not None:
            kwargs["context"] = context
        if _PY314:
            # 3.14 hands the factory every argument, name included.
            if name is not None:
                kwargs["name"] = name
            return factory(self, coro, **kwargs)
        task = factory(self, coro, **kwargs)
        if name is not None:
            task.set_name(name)
        return task

    def call_later(self, delay, callback, *args, context=None):
        """Arrange for a callback to be called after ``delay`` seconds."""
        if delay is None:
            raise TypeError("delay must not be None")
        # asyncio's call_later goes through call_at: its checks name call_at.
        if cython.compiled and type(delay) is float:
            # The common case, without boxing the sum: the same IEEE
            # addition Python's float + float does.
            return self._schedule_timer(self._now() + cython.cast(cython.double, delay), None,
                                        callback, args, context, "call_at")
        # asyncio's arithmetic, so a bad delay fails with its TypeError and
        # an int clock plus an int delay gives an int deadline.
        when = self.time() + delay
        return self._schedule_timer(deadline_of(when), when, callback, args, context, "call_at")

    def call_at(self, when, callback, *args, context=None):
        """Like call_later(), but uses an absolute time on loop.time()."""
        if when is None:
            raise TypeError("when cannot be None")
        return self._schedule_timer(deadline_of(when), when, callback, args, context, "call_at")

    def _schedule_timer(self, deadline, when_given, callback, args, context, method):
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, method)
        timer = new_timer(deadline, when_given, callback, args, self, context, self._debug)
        self._timers.push(timer)
        return timer

    def _timer_handle_cancelled(self, handle):
        if not isinstance(handle, TimerHandle):
            raise TypeError(f"expected a TimerHandle, got {handle!r}")
        self._timers.note_cancelled(handle)

    def _write_to_self(self):
        if cython.compiled:
            # A plain write() keeps the GIL: the non-blocking pipe cannot
            # block, and a thread that keeps the GIL keeps batching
            # callbacks instead of handing the GIL over at every wake-up.
            # The fd is read under the GIL, and close() sets it to -1 before
            # closing the socket, so a reused fd number is never written to.
            # EAGAIN means a wake-up is pending anyway.
            if self._self_writer_fd >= 0:
                write(self._self_writer_fd, b"\0", 1)
            return
        try:
            self._self_writer.send(b"\0")
        except OSError:
            # Full (a wake-up is pending anyway) or closed under us by
            # close() in the loop's thread: nothing left to wake.
            pass

    def _check_callback(self, callback, method):
        if iscoroutine(callback) or aio_private.iscoroutinefunction(callback):
            raise TypeError(f"coroutines cannot be used with {method}()")
        if not callable(callback):
            raise TypeError(
                f"a callable object was expected by {method}(), got {callback!r}")

    def _check_thread(self):
        if self._thread_id is None:
            return
        if threading.get_ident() != self._thread_id:
            raise RuntimeError(
                "Non-thread-safe operation invoked on an event loop other "
                "than the current one")

    # -- readers and writers -------------------------------------------------
    #
    # _fd_handles[fd] is [reader, writer, file object]: slot 0 is watched for
    # READABLE, slot 1 for WRITABLE (the object: see _watch_file). A watch is
    # level-triggered (add_reader, transports) or, for a sock_* wait,
    # one-shot: see _poller. One-shot only while the wait is the fd's only
    # watcher; beside another it is level-triggered. A list indexed by fd,
    # not a dict: every readiness event looks its fd up (a dict lookup
    # would first make an int object and hash it), as libuv's watcher array.
    # It grows to the highest fd watched and keeps that length.

    def _add_reader(self, fd, callback, *args):
        return self._add_fd_handle(fd, 0, callback, args, False)

    def _add_writer(self, fd, callback, *args):
        return self._add_fd_handle(fd, 1, callback, args, False)

    def _remove_reader(self, fd):
        return self._remove_fd_handle(fd, 0, False)

    def _remove_writer(self, fd):
        return self._remove_fd_handle(fd, 1, False)

    def _watch_file(self, fileobj, fd, slot, callback, args):
        """add_reader/add_writer: watch ``fd``, the fd of ``fileobj``.

        The object an fd is first watched as is kept while the fd is
        watched, as selectors keeps it: remove_reader and remove_writer find
        a socket closed since (its fileno() is -1) by the object
        (_fd_watched_as). anyio, for one, removes the reader of a socket it
        has just closed.
        """
        first = self._watches_of(fd) is None
        handle = self._add_fd_handle(fd, slot, callback, args, False)
        if first and not isinstance(fileobj, int):
            self._fd_handles[fd][2] = fileobj
        return handle

    def _fd_watched_as(self, fileobj):
        """The fd that add_reader/add_writer watch as ``fileobj``, or -1."""
        for fd, handles in enumerate(self._fd_handles):
            if handles is not None and handles[2] is fileobj:
                return fd
        return -1

    def _watches_of(self, fd):
        """``fd``'s [reader, writer, file object], or None if not watched."""
        if cython.compiled:
            return watches_at(self._fd_handles, fd)
        if 0 <= fd < len(self._fd_handles):
            return self._fd_handles[fd]
        return None

    def _add_fd_handle(self, fd, slot, callback, args, once):
        """Watch ``fd`` in ``slot`` with a new handle for ``callback(*args)``,
        replacing (cancelling) the slot's previous handle; ``once``: as a
        sock_* wait, which wants one report (see _rearm_once)."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        return self._install_fd_handle(
            fd, slot, new_handle(callback, args, self, None, self._debug), once)

    def _watch_connection(self, fd, slot, connection, callback):
        """Watch ``connection``'s fd in ``slot`` (edge-triggered where it
        can be: see ConnectionHandle); running the handle calls
        ``callback()``, a bound method of ``connection`` that calls its
        ``_fd_ready``."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if not cython.compiled:
            return self._install_fd_handle(
                fd, slot, new_handle(callback, (), self, None, self._debug), False)
        # A context made now, not left empty (see ConnectionHandle).
        handle = ConnectionHandle(callback, (), self, copy_context())
        handle._connection = connection
        handle._writable = slot == 1
        return self._install_fd_handle(fd, slot, handle, False)

    def _install_fd_handle(self, fd, slot, handle, once):
        """Put ``handle`` in ``slot`` of ``fd``'s watches (see _add_fd_handle)."""
        handles = self._watches_of(fd)
        other = None if handles is None else handles[1 - slot]
        if slot == 0:
            mask = self._interest_for(handle, other)
        else:
            mask = self._interest_for(other, handle)
        # The kernel first: on failure (a closed fd, a regular file) nothing
        # is left behind.
        if once and other is None:
            self._poller.arm_once(fd, mask)
        else:
            self._poller.set_interest(fd, mask)
        # Told only now that the kernel took the mask.
        self._note_edges(handle, other, mask)
        if handles is None:
            handles = [None, None, None]
            table = self._fd_handles
            if fd >= len(table):
                table.extend([None] * (fd + 1 - len(table)))
            table[fd] = handles
            self._watched_fds += 1
        previous = handles[slot]
        handles[slot] = handle
        if previous is not None:
            previous._cancel_as(self._debug)
            if cython.compiled and type(handle) is ConnectionHandle:
                # The kernel was not asked again (same mask), so whatever the
                # cancelled watch was owed (a run unreported, a drain) is
                # this one's: it runs once unreported (at worst a read that
                # finds nothing).
                cython.cast(ConnectionHandle, handle)._run_again()
        return handle

    def _remove_fd_handle(self, fd, slot, reported_once):
        """Stop watching ``fd`` in ``slot``; True if a handle was there.

        ``reported_once``: a sock_* wait whose report came, so that a
        one-shot registration is disabled already and can stay.
        """
        if self._closed:
            return False
        handles = self._watches_of(fd)
        if handles is None:
            return False
        handle = handles[slot]
        if handle is None:
            return False
        handles[slot] = None
        if handles[1 - slot] is not None:
            mask = self._interest_for(handles[0], handles[1])
            self._poller.set_interest(fd, mask)
            self._note_edges(handles[1 - slot], None, mask)
        else:
            self._fd_handles[fd] = None
            self._watched_fds -= 1
            if reported_once:
                self._poller.keep_disarmed(fd)
            else:
                self._poller.set_interest(fd, 0)
        handle._cancel_as(self._debug)
        return True

    def _interest_for(self, reader, writer):
        """The poller's mask for an fd watched by ``reader`` and ``writer``
        (either may be None): edge-triggered where the poller can and every
        watch is a ConnectionHandle of an edge-triggerable connection."""
        mask = (READABLE if reader is not None else 0) | (WRITABLE if writer is not None else 0)
        if (cython.compiled and self._poller.edges
                and _allows_edges(reader) and _allows_edges(writer)):
            mask |= EDGE
        return mask

    def _note_edges(self, first, second, mask):
        """Tell the ConnectionHandles among ``first`` and ``second`` whether
        their fd is now watched edge-triggered (``mask``)."""
        if cython.compiled:
            if first is not None and isinstance(first, ConnectionHandle):
                cython.cast(ConnectionHandle, first)._edge = (mask & EDGE) != 0
            if second is not None and isinstance(second, ConnectionHandle):
                cython.cast(ConnectionHandle, second)._edge = (mask & EDGE) != 0

    def _rearm_once(self, fd):
        """A sock_* wait on ``fd`` was reported ready but found nothing to
        do (someone else took the data, or the report was stale): its
        one-shot registration must be armed again."""
        self._poller.rearm(fd)

    def _watches(self, fd, for_writing):
        """Whether ``fd`` is watched for writing (or reading)."""
        handles = self._watches_of(fd)
        return handles is not None and handles[1 if for_writing else 0] is not None

    # -- running -------------------------------------------------------------

    def stop(self):
        """Stop running after the current iteration's callbacks."""
        self._stopping = True

    def is_running(self):
        return self._thread_id is not None

    def is_closed(self):
        return self._closed

    def _run_once(self):
        """Run one full iteration: poll, then every callback now ready."""
        self._iterate()

    def _run_until_stopped(self):
        # create_future's keyword dict names the loop only while it runs: a
        # loop in a cycle with itself would outlive its last reference, and
        # one never closed would then be finalized in no set order with its
        # sockets (which warn). asyncio's loop goes with its last reference.
        self._future_kwargs["loop"] = self
        try:
            while True:
                self._iterate()
                if self._stopping:
                    break
        finally:
            self._future_kwargs.clear()

    def _iterate(self):
        timers = self._timers
        if timers.cancelled_count:
            timers.drop_cancelled()
        if self._ready or self._stopping or self._still_ready:
            timeout = 0.0
        else:
            first = timers.first()
            if first is None:
                timeout = -1.0
            else:
                timeout = first._deadline - self._now()
                if not timeout > 0.0:
                    # Past due, or NaN (call_at(nan)): poll without waiting.
                    timeout = 0.0

        poller = self._poller
        if (timeout == 0.0 and not self._watched_fds
                and self._skipped_polls < _MAX_SKIPPED_POLLS):
            # Python signal handlers run at the next bytecode anyway, or at
            # the latest after the poll this count leads to.
            self._skipped_polls += 1
        else:
            self._skipped_polls = 0
            count = poller.poll(timeout)
            if cython.compiled and poller._selector is None:
                # The kernel's events read where they lie: event_fd() and
                # event_mask() are a call each across modules.
                for index in range(count):
                    self._dispatch_io(poller._events[index].data.fd,
                                      _mask_from_epoll(poller._events[index].events))
            else:
                for index in range(count):
                    self._dispatch_io(poller.event_fd(index), poller.event_mask(index))
        if self._still_ready:
            self._report_still_ready()

        if timers.size():
            now = self._now()
            while True:
                first = timers.first()
                if first is None or first._deadline > now:
                    break
                # Let go of it first: the pop shows the collector a timer
                # that someone besides the heap still holds (see _timers).
                first = None
                self._ready.append(timers.pop())

        ready = self._ready
        todo = len(ready)
        done = 0
        index = -1
        entry = None
        # Read once: uncompiled, each cython.compiled is two lookups per
        # callback; compiled, the C compiler folds the constant.
        compiled = cython.compiled
        try:
            if compiled:
                while done < todo:
                    # Let go of each entry as it runs, as asyncio's popleft()
                    # does: what it holds (a failed task, say) is freed right
                    # after it ran, before the next callback.
                    if done >= PyList_GET_SIZE(ready):
                        # A callback emptied loop._ready: what ready[done]
                        # raises uncompiled (asyncio's popleft() raises
                        # IndexError too).
                        raise IndexError("list index out of range")
                    entry = take_ready(ready, done)
                    done += 1
                    if done < PyList_GET_SIZE(ready):
                        # Start loading the next handle while this one runs:
                        # a long queue (timers fired together) is otherwise a
                        # wait on memory per callback.
                        prefetch(PyList_GET_ITEM(ready, done))
                    if isinstance(entry, Handle):
                        # Cast, not assigned to a typed variable: ``entry``
                        # holds the queue's reference, and a second one
                        # would cost two reference-count writes.
                        if not cython.cast(Handle, entry)._cancelled:
                            if self._debug:
                                self._run_timed(entry)
                            else:
                                cython.cast(Handle, entry)._run()
                        # Kept for reuse if nothing else holds the handle.
                        release_ran(cython.cast(Handle, entry))
                    elif entry is not None:
                        # _ready is asyncio's name, and code that appends its
                        # own handle-like objects to it gets them run as
                        # asyncio would. (None is what an outer iteration
                        # left behind when a callback runs _run_once()
                        # itself.)
                        if not entry._cancelled:
                            if self._debug:
                                self._run_timed(entry)
                            else:
                                entry._run()
                    entry = None
            else:
                # Uncompiled, asyncio's loop as it is: every bytecode per
                # callback counts (a range() counts faster than done += 1,
                # and index - 1 would make an int object per use). Any
                # handle-like entry runs the same way.
                for index in range(todo):
                    entry = ready[index]
                    ready[index] = None
                    if entry is not None and not entry._cancelled:
                        if self._debug:
                            self._run_timed(entry)
                        else:
                            entry._run()
                entry = None
        finally:
            if compiled:
                if entry is not None and isinstance(entry, Handle):
                    # A callback raised through _run (KeyboardInterrupt,
                    # SystemExit): its handle left the queue all the same.
                    leave_queue(entry)
                drop_ran(ready, done)
            else:
                # Those taken: up to the one that raised, if one did.
                del ready[:index + 1]
            # Even when a callback raised: what the callbacks that ran wrote
            # would have gone out at once on asyncio.
            if self._batched_writers:
                self._flush_batches()

    def _flush_batches(self):
        # Flushes may queue more writers (a protocol called back writes to
        # another transport) or run a nested iteration that flushes too: the
        # list is taken whole, and taken again until nothing is queued. The
        # list put in its place is the spare one (see _spare_writers).
        global _spare_writers
        while self._batched_writers:
            writers = self._batched_writers
            if _spare_writers is None:
                self._batched_writers = []
            else:
                self._batched_writers = _spare_writers
                _spare_writers = None
            done = 0
            try:
                while done < len(writers):
                    writer = writers[done]
                    done += 1
                    try:
                        writer._flush_batch()
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        # Where asyncio sends at once, inside a callback,
                        # an error reaches the exception handler; so here.
                        self.call_exception_handler({
                            "message": "Exception in a batched write",
                            "exception": exc,
                            "writer": writer,
                        })
            finally:
                if done < len(writers):
                    # Interrupted: the rest keep their places (and their
                    # _batch_queued flags) for the next iteration.
                    self._batched_writers[0:0] = writers[done:]
                if _spare_writers is None:
                    if cython.compiled:
                        # Kept whatever its size: a busy server flushes
                        # as many writers every iteration.
                        empty_list(writers, PY_SSIZE_T_MAX)
                    else:
                        del writers[:]
                    _spare_writers = writers

    def _dispatch_io(self, fd, mask):
        if fd == self._self_reader_fd:
            self._drain_self_pipe()
            return
        # Compiled, the lookup _watches_of makes, without the call.
        handles = watches_at(self._fd_handles, fd) if cython.compiled else self._watches_of(fd)
        if handles is None:
            return
        if mask & READABLE:
            reader = handles[0]
            if reader is not None:
                if reader._cancelled:
                    self._remove_fd_handle(fd, 0, False)
                elif cython.compiled and self._ready is not None:
                    if type(reader) is ConnectionHandle:
                        cython.cast(ConnectionHandle, reader)._queued = True
                        if mask & DRAIN:
                            cython.cast(ConnectionHandle, reader)._draining = True
                    append(self._ready, reader)
                else:
                    self._ready.append(reader)
        if mask & WRITABLE:
            writer = handles[1]
            if writer is not None:
                if writer._cancelled:
                    self._remove_fd_handle(fd, 1, False)
                elif cython.compiled and self._ready is not None:
                    if type(writer) is ConnectionHandle:
                        cython.cast(ConnectionHandle, writer)._queued = True
                    append(self._ready, writer)
                else:
                    self._ready.append(writer)

    def _report_still_ready(self):
        """Queue the handles whose fd is still ready, as a poll that
        reports it level-triggered would (see ConnectionHandle)."""
        still_ready = self._still_ready
        self._still_ready = []
        for handle in still_ready:
            # Not if cancelled since, nor if this poll reported it already.
            if not handle._cancelled and not handle._queued:
                handle._queued = True
                self._ready.append(handle)

    def _drain_self_pipe(self):
        try:
            while True:
                data = self._read_self_pipe()
                if not data:
                    break
                for signum in data:
                    if signum:
                        # The Python layer keeps the signal handlers (_signals).
                        self._handle_signal(signum)
        finally:
            # Cleared after the drain, not before: a byte written after an
            # earlier clear would be drained here and leave the flag set with
            # the pipe empty, and no thread would wake the loop again. And
            # cleared even when a signal handler raises, for the same reason.
            self._wakeup_pending = False

    def _read_self_pipe(self):
        """Up to 4 KiB of wake-up bytes; empty once the pipe is drained."""
        if cython.compiled:
            # read() with the GIL held, as _write_to_self writes.
            while True:
                count = read(self._self_reader_fd, self._self_pipe_buffer, 4096)
                if count >= 0 or errno != EINTR:
                    break
            if count <= 0:
                return b""
            return self._self_pipe_buffer[:count]
        while True:
            try:
                return self._self_reader.recv(4096)
            except InterruptedError:
                continue
            except OSError:
                return b""

    def _run_timed(self, handle):
        # Debug mode: name the callbacks that block the loop.
        self._current_handle = handle
        try:
            started = self.time()
            handle._run()
            elapsed = self.time() - started
            if elapsed >= self.slow_callback_duration:
                logger.warning("Executing %s took %.3f seconds",
                               aio_private.format_handle(handle), elapsed)
        finally:
            self._current_handle = None
            # An exception's traceback can keep this frame (pure build):
            # it must not keep the handle, and so a failed task, alive.
            handle = None  # noqa: F841

    def _close_core(self):
        """Release the queues, the poller and the self-pipe."""
        self._closed = True
        if cython.compiled:
            # The list's own reference counts as a holder: every queued
            # handle is tracked again, kept by someone else or not (close
            # runs once).
            for entry in self._ready:
                if isinstance(entry, Handle):
                    leave_queue(entry)
        self._ready.clear()
        self._batched_writers.clear()
        self._still_ready.clear()
        self._timers.clear()
        self._fd_handles.clear()
        self._watched_fds = 0
        self._poller.close()
        self._self_writer_fd = -1
        self._self_reader.close()
        self._self_writer.close()

    def _show_held_handles(self):
        """Show the collector every hidden handle someone else holds too:
        in the ready queue and in the timer heap (compiled only)."""
        ready = self._ready
        if not isinstance(ready, list):
            # Python code may have replaced loop._ready (with None, say).
            ready = []
        for index in range(PyList_GET_SIZE(ready)):
            entry = PyList_GET_ITEM(ready, index)
            if hideable(entry):
                show_if_held(entry)
        self._timers.show_held()

    def _pending_handle_count(self):
        """Handles the loop still holds (ready, timers, fd watchers)."""
        count = len(self._ready) + len(self._timers)
        for handles in self._fd_handles:
            if handles is not None:
                count += (handles[0] is not None) + (handles[1] is not None)
        return count


_SCHEDULER_TIME = Scheduler.time


# -- compiled only: call_soon and call_soon_threadsafe as C methods ----------
#
# What the C entries in _scheduler.pxd call once they have the arguments
# (Scheduler.call_soon's comment says why the bodies are written twice).

def _call_soon_body(loop, callback, args, context, one_arg):
    # one_arg: ``args`` is the callback's one argument (a future's callback
    # gets the future), which the handle keeps without a tuple. ``loop`` is
    # cast where used, not assigned to a typed variable: that would count a
    # reference to the loop up and straight back down on every call.
    if cython.cast(Scheduler, loop)._closed:
        raise RuntimeError("Event loop is closed")
    if cython.cast(Scheduler, loop)._debug:
        cython.cast(Scheduler, loop)._check_thread()
        cython.cast(Scheduler, loop)._check_callback(callback, "call_soon")
    return queue_handle(cython.cast(Scheduler, loop), new_queued_handle(
        callback, args, loop, context, cython.cast(Scheduler, loop)._debug, one_arg))


def _call_soon_threadsafe_body(loop, callback, args, context, one_arg):
    if cython.cast(Scheduler, loop)._closed:
        raise RuntimeError("Event loop is closed")
    if cython.cast(Scheduler, loop)._debug:
        cython.cast(Scheduler, loop)._check_callback(callback, "call_soon_threadsafe")
    handle = queue_handle(cython.cast(Scheduler, loop), new_queued_handle(
        callback, args, loop, context, cython.cast(Scheduler, loop)._debug, one_arg))
    if not cython.cast(Scheduler, loop)._wakeup_pending:
        cython.cast(Scheduler, loop)._wakeup_pending = True
        cython.cast(Scheduler, loop)._write_to_self()
    return handle


if cython.compiled:
    install_call_soon(Scheduler, _call_soon_body, _call_soon_threadsafe_body)
    if not Scheduler.__dictoffset__ > 0:
        # _instance_dict_if_made reads the dict at that offset.
        raise ImportError("fastloop._scheduler: Scheduler's __dict__ is not at a fixed offset")


def give_own_c_methods(cls):
    """Give subclass ``cls`` its own copy of each C method of Scheduler it
    inherits (compiled; uncompiled, nothing to do).

    CPython specialises a call to a C method only on an instance of exactly
    the method's class: ``loop.call_soon(...)`` on a Loop, a subclass, took
    the generic call path every time, with its type checks and thread-state
    lookup.
    """
    if not cython.compiled:
        return
    # call_soon and call_soon_threadsafe (install_call_soon's), and any
    # other: Cython's own methods are cython_function_or_method objects,
    # called the generic way on any instance.
    method_type = types.MethodDescriptorType
    for name in [name for name, method in Scheduler.__dict__.items()
                 if type(method) is method_type and not name.startswith("__")]:
        # What the subclass finds under that name: copied only if it is a C
        # method of a base (Scheduler's, or a base's copy of it), never over
        # a method the subclass defines itself.
        owner = next(klass for klass in cls.__mro__ if name in klass.__dict__)
        found = owner.__dict__[name]
        if owner is not cls and type(found) is method_type:
            setattr(cls, name, _method_for(cls, found))


# -- compiled only: the garbage collector sees through hidden handles --------
#
# Handles waiting in the ready queue are hidden from the collector (see
# _handles.new_queued_handle), and every handle refers to its loop: the
# loop's tp_traverse visits what they refer to on their behalf, so that a
# loop dropped without close() is still found in its cycles, as asyncio's
# is. Done only while the loop alone holds the ready list (someone holding
# it too keeps the handles alive whatever becomes of the loop).

def _traverse_scheduler(scheduler, visit, arg):
    """Scheduler's tp_traverse: Cython's, then the hidden queued handles'.
    (Like any tp_traverse, it changes no reference count.)"""
    result = _cython_traverse(scheduler, visit, arg)
    if result:
        return result
    ready = cython.cast(_ObjectPointer, cython.cast(Scheduler, scheduler)._ready)
    if not _is_exact_list(ready) or _refcount(ready) != 1:
        return 0
    for index in range(_list_size(ready)):
        result = traverse_queued(_list_item(ready, index), visit, arg)
        if result:
            return result
    return 0


def _extend_gc_slots():
    global _cython_traverse
    scheduler_type = cython.cast(_TypeGCSlotsPointer, Scheduler)
    if not scheduler_type.tp_flags & Py_TPFLAGS_HAVE_GC:
        raise ImportError("fastloop._scheduler: Cython gave Scheduler no GC support")
    _cython_traverse = scheduler_type.tp_traverse
    scheduler_type.tp_traverse = _traverse_scheduler


if cython.compiled:
    _extend_gc_slots()


# -- compiled only: a full collection sees every held handle ----------------
#
# A hidden handle that someone besides its queue holds is not traversed on
# the queue's behalf (see _handles.py): what it refers to looks held from
# outside. A cycle through such a handle and a loop dropped unclosed would
# then never be collected. Before every full collection (the only kind that
# can collect a loop, which lives in the oldest generation), such handles
# are shown to the collector: tracked again, as if they had left the queue.

# Weak references to every compiled scheduler alive. A set of weakref.ref,
# not a WeakSet: list() copies a set in one C call, where iterating a
# WeakSet runs Python code, during which another thread may make a loop.
_LIVE_SCHEDULERS = set()

# 3.14's incremental collector collects the old generation in increments
# (generation 1 in gc.callbacks), not only in full collections.
_OLDEST_COLLECTED = 1 if sys.version_info >= (3, 14) else 2


def _show_held_handles_before_full_collections(phase, info):
    if phase == "start" and info.get("generation", 2) >= _OLDEST_COLLECTED:
        for reference in list(_LIVE_SCHEDULERS):
            scheduler = reference()
            if scheduler is not None:
                cython.cast(Scheduler, scheduler)._show_held_handles()


if cython.compiled:
    gc.callbacks.append(_show_held_handles_before_full_collections)
