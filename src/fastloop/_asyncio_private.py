"""Every private asyncio name fastloop relies on, in one place.

asyncio's private helpers change between Python versions. Importing them only
here keeps the dependency visible and lets ``tests/test_asyncio_private.py``
check, on every supported Python, that each name still exists and behaves the
way fastloop expects.
"""

import sys

from asyncio import base_events as _base_events
from asyncio import constants as _constants
from asyncio import coroutines as _coroutines
from asyncio import events as _events
from asyncio import format_helpers as _format_helpers
from asyncio import futures as _futures
from asyncio import selector_events as _selector_events
from asyncio import transports as _transports
from asyncio import trsock as _trsock
from asyncio import unix_events as _unix_events

# The loop registers itself as the running loop of its thread; asyncio's C
# Task, current_task(), TaskGroup and eager tasks all read it from there.
# Looked up at each call, as asyncio's own loop does: tests swap these names.
def set_running_loop(loop):
    _events._set_running_loop(loop)


def get_running_loop_or_none():
    return _events._get_running_loop()


# asyncio's C Future (None without the C accelerator), and the running-loop
# lookup it makes itself when created without a loop: the compiled
# create_future calls it directly while asyncio.futures.Future is still it.
try:
    import _asyncio as _c_asyncio
except ImportError:
    C_FUTURE = None
    c_get_running_loop = None
else:
    C_FUTURE = _c_asyncio.Future
    c_get_running_loop = _c_asyncio._get_running_loop


# "<callback>(<args>) at file:line", the way asyncio shows a callback in
# handle reprs and in "Exception in callback ..." messages. 3.13 added the
# debug flag (long arguments are shortened outside debug mode).
if sys.version_info >= (3, 13):
    format_callback_source = _format_helpers._format_callback_source
else:
    def format_callback_source(func, args, *, debug=False):
        return _format_helpers._format_callback_source(func, args)
extract_stack = _format_helpers.extract_stack

# How asyncio names a slow handle in debug mode: the task, when the handle is
# a task step, otherwise the handle itself.
format_handle = _base_events._format_handle

# The loop a future belongs to (Future.get_loop(), or _loop on old futures).
future_get_loop = _futures._get_loop

# run_until_complete()'s done callback on the future it runs: stops the loop.
# asyncio's own function, not a copy: anyio recognises the task that
# run_until_complete() drives (its root task) by this callback's identity.
run_until_complete_cb = _base_events._run_until_complete_cb

# Sets a future's result unless it was cancelled meanwhile.
set_result_unless_cancelled = _futures._set_result_unless_cancelled

# Debug mode as asyncio decides it (PYTHONASYNCIODEBUG, -X dev); looked up at
# each call, as asyncio does, since tests patch it.
def is_debug_mode():
    return _coroutines._is_debug_mode()


# asyncio's own coroutine-function test (it also knows the legacy markers).
# 3.14 deprecated the public name; the private one does not warn.
if hasattr(_coroutines, "_iscoroutinefunction"):
    iscoroutinefunction = _coroutines._iscoroutinefunction
else:
    iscoroutinefunction = _coroutines.iscoroutinefunction


def default_event_loop_policy_base():
    """The class asyncio's default policy derives from on this Python.

    3.14 deprecated the public ``asyncio.DefaultEventLoopPolicy`` name
    (gh-127949); reading it there warns, so take the class from where
    asyncio itself keeps it.
    """
    if sys.version_info >= (3, 14):
        from asyncio import unix_events
        return unix_events._DefaultEventLoopPolicy
    import asyncio
    return asyncio.DefaultEventLoopPolicy


# -- transports and servers ---------------------------------------------------

# Write-buffer watermarks and pause_writing()/resume_writing() calls: the
# per-connection half of every asyncio transport.
FlowControlMixin = _transports._FlowControlMixin

# What transport.get_extra_info("socket") returns: a socket wrapper that
# refuses the operations that would disturb the loop.
TransportSocket = _trsock.TransportSocket

# TCP_NODELAY on, as asyncio sets it on every TCP transport.
set_nodelay = _base_events._set_nodelay

# Writes after the connection was lost are counted; past this many, each
# one logs a warning.
LOG_THRESHOLD_FOR_CONNLOST_WRITES = _constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES

# loop.sendfile() asks a transport whether it can use os.sendfile().
SENDFILE_TRY_NATIVE = _constants._SendfileMode.TRY_NATIVE

if sys.version_info >= (3, 13):
    # 3.13's Server keeps its transports (close_clients, abort_clients).
    def server_attach(server, transport):
        server._attach(transport)

    def server_detach(server, transport):
        server._detach(transport)
else:
    def server_attach(server, transport):
        server._attach()

    def server_detach(server, transport):
        server._detach()


# asyncio's own per-connection code, set as methods of fastloop's Loop (see
# "Borrowing asyncio's per-connection code" in docs/architecture.md). Each is
# this Python version's own function, so each version's behaviour comes with
# it. Where a name is on both BaseEventLoop and the selector or Unix loop, the
# latter holds the real implementation (os.sendfile) and is the one taken.
BORROWED_LOOP_METHODS = {
    name: getattr(owner, name)
    for owner, names in (
        (_base_events.BaseEventLoop, (
            "create_connection", "_connect_sock", "_create_connection_transport",
            "create_server", "_create_server_getaddrinfo", "connect_accepted_socket",
            "sock_sendfile", "_sock_sendfile_fallback", "_check_sendfile_params",
            "sendfile", "_sendfile_fallback", "_getaddrinfo_debug", "_ensure_resolved",
        )),
        (_selector_events.BaseSelectorEventLoop, (
            "_start_serving", "_accept_connection", "_accept_connection2",
            "_sendfile_native",
        )),
        (_unix_events._UnixSelectorEventLoop, (
            "create_unix_connection", "create_unix_server",
            "_sock_sendfile_native", "_sock_sendfile_native_impl",
            "_sock_sendfile_update_filepos", "_sock_add_cancellation_callback",
        )),
    )
    for name in names
}
