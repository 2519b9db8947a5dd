"""The public event loop: asyncio's API on top of the compiled scheduler.

Everything here runs once per loop, per task or per executor job, not per
callback: running and stopping, tasks and futures, the exception handler,
debug mode, the default executor, async generator finalization, readers
and writers. What runs per callback lives in ``_scheduler``.

Methods of asyncio's loop that no fastloop issue has implemented yet
(datagram endpoints, pipes, subprocesses, TLS) come from
``asyncio.AbstractEventLoop`` and raise NotImplementedError; sockets,
servers and stream transports are here and in ``_socket_ops``.
"""

import asyncio
import concurrent.futures
import inspect
import os
import sys
import threading
import traceback
import warnings
import weakref
from asyncio import constants, futures, tasks, timeouts

from . import _asyncio_private as aio_private
from . import _build, _scheduler
from ._dns import NameResolution
from ._scheduler import Scheduler, give_own_c_methods, logger
from ._signals import SignalHandling
from ._socket_ops import SocketOperations
from ._stream_transport import SocketTransport

_PY312 = sys.version_info >= (3, 12)
_PY314 = sys.version_info >= (3, 14)

_NO_TLS = "TLS transports are not implemented in fastloop yet"

# 3.12 runs a custom exception handler in the context of the task, future
# or handle that failed (gh-96704); 3.11 calls it in the loop's context.
_HANDLER_IN_FAILED_CONTEXT = _PY312


def _fileno(fileobj):
    """``fileobj`` if an int, else its fileno(), as asyncio takes an fd."""
    if isinstance(fileobj, int):
        return fileobj
    try:
        return int(fileobj.fileno())
    except (AttributeError, TypeError, ValueError):
        raise ValueError(f"Invalid file object: {fileobj!r}") from None


def _fileobj_to_fd(fileobj):
    """An fd from an int or an object with fileno(), as selectors does it."""
    fd = _fileno(fileobj)
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class Loop(Scheduler, SignalHandling, SocketOperations, NameResolution,
           asyncio.AbstractEventLoop):
    """fastloop's event loop: a drop-in asyncio event loop."""

    # Compiled, the loop's own state, the mixins' included, lives in slots,
    # so that the instance __dict__ stays unmade until someone sets an
    # attribute of their own (3.12+; 3.11 keeps the dict): see "The loop's
    # instance __dict__ stays unmade" in docs/architecture.md. Every
    # attribute __init__ and the mixins set must be listed here; a build
    # test fails if one makes the dict. Uncompiled, Scheduler is a plain
    # class whose attributes CPython keeps inline; slots in a subclass
    # would cost it that (call_soon 10% slower).
    if _build.is_compiled(_scheduler):
        __slots__ = (
            "_signal_handlers", "_saved_wakeup_fd",  # SignalHandling
            "_default_executor", "_executor_shutdown_called",
            "_exception_handler", "_task_factory",
            "_old_agen_hooks", "_asyncgens", "_asyncgens_shutdown_called",
            "_coroutine_origin_tracking_enabled", "_coroutine_origin_tracking_saved_depth",
            "_transports", "_unix_server_sockets",
        )

    def __init__(self):
        Scheduler.__init__(self)
        self._init_signals()
        self._default_executor = None
        self._exception_handler = None
        self._task_factory = None
        self._old_agen_hooks = None
        self._coroutine_origin_tracking_enabled = False
        self._coroutine_origin_tracking_saved_depth = None
        # Async generators being iterated by the loop (weak: a finished one
        # must not be kept alive by us).
        self._asyncgens = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._executor_shutdown_called = False
        # fd -> the transport that owns it: add_reader and friends refuse
        # those fds while the transport is open.
        self._transports = weakref.WeakValueDictionary()
        # Listening Unix sockets to unlink when their server closes (3.13's
        # create_unix_server(cleanup_socket=True)): socket -> inode.
        self._unix_server_sockets = {}
        self.set_debug(aio_private.is_debug_mode())

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        give_own_c_methods(cls)  # see give_own_c_methods; Loop's own below

    def __repr__(self):
        return (f"<{self.__class__.__name__} running={self.is_running()} "
                f"closed={self.is_closed()} debug={self.get_debug()}>")

    # -- running and stopping ----------------------------------------------

    def _check_closed(self):
        if self._closed:
            raise RuntimeError("Event loop is closed")

    def _check_running(self):
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if aio_private.get_running_loop_or_none() is not None:
            raise RuntimeError(
                "Cannot run the event loop while another loop is running")

    def _run_forever_setup(self):
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        self._old_agen_hooks = sys.get_asyncgen_hooks()
        self._thread_id = threading.get_ident()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                               finalizer=self._asyncgen_finalizer_hook)
        self._claim_wakeup_fd()
        aio_private.set_running_loop(self)

    def _run_forever_cleanup(self):
        self._stopping = False
        self._thread_id = None
        aio_private.set_running_loop(None)
        self._restore_wakeup_fd()
        self._set_coroutine_origin_tracking(False)
        if self._old_agen_hooks is not None:
            sys.set_asyncgen_hooks(*self._old_agen_hooks)
            self._old_agen_hooks = None

    def run_forever(self):
        """Run until stop() is called."""
        self._run_forever_setup()
        try:
            self._run_until_stopped()
        finally:
            self._run_forever_cleanup()

    def run_until_complete(self, future):
        """Run until the Future is done; return its result or raise.

        A coroutine is wrapped in a Task.
        """
        self._check_closed()
        self._check_running()
        new_task = not futures.isfuture(future)
        future = tasks.ensure_future(future, loop=self)
        if new_task:
            # The caller sees the exception if it does not complete: no
            # need for the "Task was destroyed but it is pending" log.
            future._log_destroy_pending = False
        future.add_done_callback(aio_private.run_until_complete_cb)
        try:
            self.run_forever()
        except:
            if new_task and future.done() and not future.cancelled():
                # The coroutine raised a BaseException: consume it, the
                # caller has no access to the task to retrieve it.
                future.exception()
            raise
        finally:
            future.remove_done_callback(aio_private.run_until_complete_cb)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    def close(self):
        """Close the loop: drop pending callbacks, release its resources.

        The loop must not be running. Shuts the default executor down
        without waiting for it.
        """
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        if self._debug:
            logger.debug("Close %r", self)
        self._close_core()
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)
        # Last, as asyncio's unix loop does: outside the main thread this
        # raises, and the loop must be closed by then.
        self._remove_all_signal_handlers()

    def __del__(self, _warn=warnings.warn):
        if not self.is_closed():
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if not self.is_running():
                self.close()

    # -- futures and tasks ---------------------------------------------------

    def set_task_factory(self, factory):
        """Set the factory loop.create_task() uses (None: the default).

        It is called as ``factory(loop, coro, **kwargs)`` and must return
        a Task (or a Future-compatible object).
        """
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self):
        """Return the task factory, or None if the default one is in use."""
        return self._task_factory

    # -- connections and servers ----------------------------------------------
    # create_connection, create_server and the rest are asyncio's own (set on
    # the class below); these are the hooks they call.

    def _make_socket_transport(self, sock, protocol, waiter=None, *, extra=None, server=None):
        return SocketTransport(self, sock, protocol, waiter, extra, server)

    def _make_ssl_transport(self, rawsock, protocol, sslcontext, waiter=None, **kwargs):
        # Not reached through the public methods (they refuse ssl= first);
        # close what a caller of this private hook handed over.
        rawsock.close()
        raise NotImplementedError(_NO_TLS)

    def _stop_serving(self, sock):
        """Stop accepting on a listening socket and close it (and unlink
        its path if create_unix_server asked for it).

        asyncio.Server calls this on its loop when it closes.
        """
        path = sock.getsockname() if sock in self._unix_server_sockets else None
        self._remove_reader(sock.fileno())
        sock.close()
        if path is None:
            return
        inode = self._unix_server_sockets.pop(sock)
        try:
            # Only our own socket file: another may have replaced it.
            if os.stat(path).st_ino == inode:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            logger.error("Unable to clean up listening UNIX socket %r: %r", path, err)

    # -- readers and writers -------------------------------------------------

    def _ensure_fd_no_transport(self, fd):
        """The fd of ``fd`` (an int or an object with fileno()), unless an
        open transport owns it."""
        fileno = _fileobj_to_fd(fd)
        transport = self._transports.get(fileno)
        if transport and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")
        return fileno

    def _fd_to_unwatch(self, fileobj):
        """The fd remove_reader and remove_writer stop watching for
        ``fileobj``. As asyncio's selectors do, a socket closed since it was
        watched (its fileno() is -1 now) is found by the object itself."""
        fd = _fileno(fileobj)
        if fd >= 0:
            return self._ensure_fd_no_transport(fileobj)
        if self._closed:
            return fd  # nothing is watched: _remove_fd_handle says False
        watched_fd = self._fd_watched_as(fileobj)
        if watched_fd < 0:
            raise ValueError(f"Invalid file descriptor: {fd}")
        return watched_fd

    def add_reader(self, fd, callback, *args):
        """Call ``callback(*args)`` whenever ``fd`` is readable."""
        self._watch_file(fd, self._ensure_fd_no_transport(fd), 0, callback, args)

    def remove_reader(self, fd):
        """Stop watching ``fd`` for reading; True if it was watched."""
        return self._remove_reader(self._fd_to_unwatch(fd))

    def add_writer(self, fd, callback, *args):
        """Call ``callback(*args)`` whenever ``fd`` is writable."""
        self._watch_file(fd, self._ensure_fd_no_transport(fd), 1, callback, args)

    def remove_writer(self, fd):
        """Stop watching ``fd`` for writing; True if it was watched."""
        return self._remove_writer(self._fd_to_unwatch(fd))

    # -- the default executor ------------------------------------------------

    def _check_default_executor(self):
        if self._executor_shutdown_called:
            raise RuntimeError("Executor shutdown has been called")

    def run_in_executor(self, executor, func, *args):
        """Run ``func(*args)`` in ``executor`` (None: the default one)."""
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            executor = self._default_executor
            # Only the default executor is refused after its shutdown.
            self._check_default_executor()
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self._default_executor = executor
        return futures.wrap_future(executor.submit(func, *args), loop=self)

    def set_default_executor(self, executor):
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor instance")
        self._default_executor = executor

    async def shutdown_default_executor(self, timeout=None):
        """Shut the default executor down, waiting up to ``timeout`` seconds
        (None: no limit) for its threads to join."""
        self._executor_shutdown_called = True
        if self._default_executor is None:
            return
        future = self.create_future()
        thread = threading.Thread(target=self._do_shutdown, args=(future,))
        thread.start()
        try:
            async with timeouts.timeout(timeout):
                await future
        except TimeoutError:
            warnings.warn("The executor did not finishing joining "
                          f"its threads within {timeout} seconds.",
                          RuntimeWarning, stacklevel=2)
            self._default_executor.shutdown(wait=False)
        else:
            thread.join()

    def _do_shutdown(self, future):
        try:
            self._default_executor.shutdown(wait=True)
            if not self.is_closed():
                self.call_soon_threadsafe(aio_private.set_result_unless_cancelled,
                                          future, None)
        except Exception as ex:
            if not self.is_closed() and not future.cancelled():
                self.call_soon_threadsafe(future.set_exception, ex)

    # -- async generators ----------------------------------------------------

    def _asyncgen_finalizer_hook(self, agen):
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    def _asyncgen_firstiter_hook(self, agen):
        if self._asyncgens_shutdown_called:
            warnings.warn(
                f"asynchronous generator {agen!r} was scheduled after "
                f"loop.shutdown_asyncgens() call",
                ResourceWarning, source=self)
        self._asyncgens.add(agen)

    async def shutdown_asyncgens(self):
        """Shutdown all active asynchronous generators."""
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        closing_agens = list(self._asyncgens)
        self._asyncgens.clear()
        results = await tasks.gather(*[ag.aclose() for ag in closing_agens],
                                     return_exceptions=True)
        for result, agen in zip(results, closing_agens):
            if isinstance(result, Exception):
                self.call_exception_handler({
                    "message": f"an error occurred during closing of "
                               f"asynchronous generator {agen!r}",
                    "exception": result,
                    "asyncgen": agen,
                })

    # -- errors ----------------------------------------------------------------

    def get_exception_handler(self):
        """Return the exception handler, or None if the default one is in use."""
        return self._exception_handler

    def set_exception_handler(self, handler):
        """Set ``handler(loop, context)`` as the loop's exception handler
        (None: the default one)."""
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context):
        """Log the context's message, its exception and every other key.

        In debug mode, also where the object in question (handle, future,
        task) was created.
        """
        message = context.get("message")
        if not message:
            message = "Unhandled exception in event loop"
        exception = context.get("exception")
        if exception is not None:
            exc_info = (type(exception), exception, exception.__traceback__)
        else:
            exc_info = False
        if ("source_traceback" not in context
                and self._current_handle is not None
                and self._current_handle._source_traceback):
            context["handle_traceback"] = self._current_handle._source_traceback

        log_lines = [message]
        for key in sorted(context):
            if key in {"message", "exception"}:
                continue
            value = context[key]
            if key == "source_traceback":
                value = ("Object created at (most recent call last):\n"
                         + "".join(traceback.format_list(value)).rstrip())
            elif key == "handle_traceback":
                value = ("Handle created at (most recent call last):\n"
                         + "".join(traceback.format_list(value)).rstrip())
            else:
                value = repr(value)
            log_lines.append(f"{key}: {value}")
        logger.error("\n".join(log_lines), exc_info=exc_info)

    def call_exception_handler(self, context):
        """Pass ``context`` to the exception handler; never raises, but for
        SystemExit and KeyboardInterrupt."""
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                # A subclass's default_exception_handler failed.
                logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            # Run the handler in the context of the failed object (a task,
            # future or handle), as asyncio does.
            handler_context = None
            thing = context.get("task")
            if thing is None:
                thing = context.get("future")
            if thing is None:
                thing = context.get("handle")
            if (_HANDLER_IN_FAILED_CONTEXT and thing is not None
                    and hasattr(thing, "get_context")):
                handler_context = thing.get_context()
            if handler_context is not None and hasattr(handler_context, "run"):
                handler_context.run(self._exception_handler, self, context)
            else:
                self._exception_handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler({
                    "message": "Unhandled error in exception handler",
                    "exception": exc,
                    "context": context,
                })
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler "
                             "while handling an unexpected error "
                             "in custom exception handler", exc_info=True)

    # -- debug mode ------------------------------------------------------------

    def set_debug(self, enabled):
        self._debug = enabled
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, enabled)

    def _set_coroutine_origin_tracking(self, enabled):
        if bool(enabled) == bool(self._coroutine_origin_tracking_enabled):
            return
        if enabled:
            self._coroutine_origin_tracking_saved_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(constants.DEBUG_STACK_DEPTH)
        else:
            sys.set_coroutine_origin_tracking_depth(self._coroutine_origin_tracking_saved_depth)
        self._coroutine_origin_tracking_enabled = enabled


def _refusing_tls(function):
    """asyncio's ``function``, refusing ssl= before any socket is made:
    fastloop has no TLS transport yet, and a half-made connection would
    leak its socket or drop the peer silently. A socket the caller handed
    over (sock=) is closed, as asyncio closes it when a TLS connection
    fails: the caller gave it away and will not close it (aiohttp)."""

    signature = inspect.signature(function)

    async def method(self, *args, ssl=None, **kwargs):
        if ssl:
            # By asyncio's signature: connect_accepted_socket takes the
            # socket positionally, the others by keyword. A call that does
            # not fit raises asyncio's TypeError.
            sock = signature.bind(self, *args, ssl=ssl, **kwargs).arguments.get("sock")
            if sock is not None:
                sock.close()
            raise NotImplementedError(_NO_TLS)
        return await function(self, *args, ssl=ssl, **kwargs)

    method.__name__ = function.__name__
    method.__qualname__ = function.__qualname__
    method.__doc__ = function.__doc__
    return method


_TAKES_SSL = {"create_connection", "create_server", "create_unix_connection",
              "create_unix_server", "connect_accepted_socket"}

for _name, _function in aio_private.BORROWED_LOOP_METHODS.items():
    setattr(Loop, _name, _refusing_tls(_function) if _name in _TAKES_SSL else _function)
del _name, _function

# asyncio.Runner's close() makes these two coroutines even when the loop is
# already closed, and they are then never awaited. The RuntimeWarning names
# the coroutine, and tools silence it by asyncio's name (pytest-asyncio
# filters ".*BaseEventLoop.shutdown_asyncgens.*"): so they carry it.
for _name in ("shutdown_asyncgens", "shutdown_default_executor"):
    getattr(Loop, _name).__qualname__ = getattr(asyncio.BaseEventLoop, _name).__qualname__
del _name
give_own_c_methods(Loop)
