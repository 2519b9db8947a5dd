"""Handles: a callback waiting in the ready queue, or on a timer.

Compiled, the classes are extension types with a freelist (see
``_handles.pxd``); running a handle enters its context with
``PyContext_Enter`` instead of building a ``Context.run`` call. Their
Python-visible behaviour is asyncio's ``Handle``/``TimerHandle``: same
methods, same reprs, same exception-handler context.
"""

try:
    import cython
except ImportError:
    from . import _cython_shim as cython

import sys
from contextvars import copy_context

from . import _asyncio_private as aio_private

_PACKAGE_PREFIX = __name__.rpartition(".")[0] + "."

# Timers due at the same instant fire in the order they were scheduled:
# every timer takes the next number as its tie-breaker.
_timer_sequence = 0


def _caller_stack():
    """The stack of the code that scheduled a handle, for debug mode.

    Walks out of fastloop's own frames (there are none when compiled, a few
    when pure) so the last entry is the user's line, as asyncio shows it.
    """
    frame = sys._getframe(0)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_PACKAGE_PREFIX):
        frame = frame.f_back
    return aio_private.extract_stack(frame)


# The decorators must be here, not in the .pxd, where Cython ignores them.
@cython.auto_pickle(False)  # no __setstate__: it could swap a hidden context
@cython.cclass
class Handle:
    """Object returned by callback registration methods."""

    # Uncompiled, slots make handles as cheap as asyncio's; compiled, the
    # .pxd declares the same fields.
    __slots__ = ("_callback", "_arguments", "_context_if_made", "_loop", "_cancelled",
                 "_source_traceback", "_repr", "__weakref__")

    def __init__(self, callback, args, loop, context=None):
        _reinit_check(self)
        _init_handle(self, callback, args, loop, context, loop.get_debug())

    @property
    def _args(self):
        """The callback's arguments, a tuple (asyncio's name)."""
        if cython.compiled and self._one_arg:
            return (self._arguments,)
        return self._arguments

    @_args.setter
    def _args(self, args):
        if cython.compiled:
            self._one_arg = False
        self._arguments = args

    def _repr_info(self):
        info = [self.__class__.__name__]
        if self._cancelled:
            info.append("cancelled")
        if self._callback is not None:
            info.append(aio_private.format_callback_source(
                self._callback, self._args, debug=self._loop.get_debug()))
        if self._source_traceback:
            frame = self._source_traceback[-1]
            info.append(f"created at {frame[0]}:{frame[1]}")
        return info

    def __repr__(self):
        if self._repr is not None:
            return self._repr
        return "<{}>".format(" ".join(self._repr_info()))

    @property
    def _context(self):
        """The context the callback runs in (asyncio's name)."""
        return _context_of(self)

    def __copy__(self):
        # What copy.copy() does with asyncio's handles (a shallow copy of
        # every field), without Cython's pickling: see _copy_handle.
        return _copy_handle(self)

    def get_context(self):
        return _context_of(self)

    def cancel(self):
        if not self._cancelled:
            self._cancel_as(self._loop.get_debug())

    def _cancel_as(self, debug):
        """cancel(), given the loop's debug flag: the scheduler cancels its
        own fd watches so, without a get_debug() call."""
        if self._cancelled:
            return
        self._cancelled = True
        if debug:
            # Keep the callback in the repr, so that "Executing <Handle
            # ...> took 2.5 seconds" still names it.
            self._repr = repr(self)
        self._callback = None
        if cython.compiled:
            self._one_arg = False
        self._arguments = None

    def cancelled(self):
        return self._cancelled

    def _run(self):
        context = self._context_if_made
        # Held here: code that runs as the context is entered (3.14's context
        # watchers) may replace _args.
        args = self._arguments
        if cython.compiled:
            one_arg = self._one_arg
            empty = context is None
            if empty:
                spare = _take_empty_context()
                if spare is cython.NULL:
                    _report_raised(self)
                    return
                context = _as_owned(spare)
                # The handle's while it runs: get_context() in the callback
                # returns the context the callback runs in.
                self._context_if_made = context
            if ((one_arg or _is_exact_tuple(args))
                    and _is_exact_context(cython.cast(_ObjectPointer, context))):
                # Context.run(callback, *args) in C calls, without its
                # argument tuple and without Cython's try/except, which saves
                # and restores the thread's exception state each time it is
                # entered. As Context.run: a context already entered is an
                # error like any other, and the context is left before an
                # error is handled.
                if _enter_context(context) < 0:
                    _report_raised(self)
                    return
                if one_arg:
                    result = _call_one(self._callback, args)
                else:
                    result = _call_object(self._callback, args)
                if _exit_context(context) < 0 or result is cython.NULL:
                    _release(result)
                    _report_raised(self)
                    return
                _release(result)
                # Still the handle's (the callback may have run __init__ on
                # its own handle), and pristine: held by the handle and by
                # ``context`` alone.
                if (empty and self._context_if_made is context
                        and _keep_spare_context(cython.cast(_ObjectPointer, context), 2)):
                    self._context_if_made = None
                return
            if one_arg:
                args = (args,)
        # Uncompiled (and compiled, for _args or a context that Python code
        # set to something else: asyncio's errors for them).
        try:
            context.run(self._callback, *args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report_exception(exc)
        # An exception's traceback keeps this frame (the callback's caller),
        # and so the handle and its arguments, alive: a cycle through a
        # future among them, unless the frame lets go (as asyncio's).
        self = args = None  # noqa: F841

    def _report_exception(self, exc):
        callback = aio_private.format_callback_source(
            self._callback, self._args, debug=self._loop.get_debug())
        context = {
            "message": f"Exception in callback {callback}",
            "exception": exc,
            "handle": self,
        }
        if self._source_traceback:
            context["source_traceback"] = self._source_traceback
        self._loop.call_exception_handler(context)


class TimerHandle(Handle):
    """Object returned by timed callback registration methods."""

    # Compiled, the .pxd declares the same fields; asyncio's names for them
    # are the properties below.
    __slots__ = ("_deadline", "_in_heap", "_order")

    def __init__(self, when, callback, args, loop, context=None):
        _reinit_check(self)
        _init_timer(self, deadline_of(when), when, callback, args, loop, context,
                    loop.get_debug())

    @property
    def _when(self):
        if cython.compiled and self._when_given is not None:
            return self._when_given
        return self._deadline

    @_when.setter
    def _when(self, when):
        self._deadline = deadline_of(when)
        if cython.compiled:
            self._when_given = None if type(when) is float else when

    @property
    def _scheduled(self):
        return self._in_heap

    @_scheduled.setter
    def _scheduled(self, scheduled):
        self._in_heap = scheduled

    @property
    def _sequence(self):
        return self._order

    def _repr_info(self):
        info = Handle._repr_info(self)
        info.insert(2 if self._cancelled else 1, f"when={self._when}")
        return info

    def __hash__(self):
        return hash(self._deadline)

    # Ordered by deadline only, as asyncio's; the timer queue also breaks
    # ties by scheduling order.
    def __lt__(self, other):
        if isinstance(other, TimerHandle):
            return self._deadline < other._when
        return NotImplemented

    def __le__(self, other):
        if isinstance(other, TimerHandle):
            return self._deadline < other._when or self.__eq__(other)
        return NotImplemented

    def __gt__(self, other):
        if isinstance(other, TimerHandle):
            return self._deadline > other._when
        return NotImplemented

    def __ge__(self, other):
        if isinstance(other, TimerHandle):
            return self._deadline > other._when or self.__eq__(other)
        return NotImplemented

    def __eq__(self, other):
        if isinstance(other, TimerHandle):
            return (self._deadline == other._when
                    and self._callback == other._callback
                    and self._args == other._args
                    and self._cancelled == other._cancelled)
        return NotImplemented

    def cancel(self):
        if not self._cancelled:
            self._loop._timer_handle_cancelled(self)
        Handle.cancel(self)

    def when(self):
        """Return the scheduled callback time, on the loop.time() clock."""
        return self._when


def _copy_handle(handle):
    """A shallow copy: it shares the context, and does not own it."""
    duplicate = type(handle).__new__(type(handle))
    duplicate._callback = handle._callback
    duplicate._arguments = handle._arguments
    if cython.compiled:
        duplicate._one_arg = handle._one_arg
    # Made now if empty: the copies share it, as asyncio's do.
    duplicate._context_if_made = _context_of(handle)
    duplicate._loop = handle._loop
    duplicate._cancelled = handle._cancelled
    duplicate._source_traceback = handle._source_traceback
    duplicate._repr = handle._repr
    if isinstance(handle, TimerHandle):
        _copy_timer_fields(handle, duplicate)
    return duplicate


def _copy_timer_fields(timer, duplicate):
    duplicate._deadline = timer._deadline
    if cython.compiled:
        duplicate._when_given = timer._when_given
    duplicate._in_heap = timer._in_heap
    duplicate._order = timer._order


def _reinit_check(handle):
    """__init__ may run again on a handle: its old context must then be
    visible before it is let go (see "hidden from the garbage collector")."""
    if cython.compiled:
        _reveal_context(cython.cast(_ObjectPointer, handle))


def _report_raised(handle):
    """Compiled: report the error Handle._run's C calls left pending, as
    asyncio reports a callback's (SystemExit and KeyboardInterrupt go on)."""
    try:
        _raise_pending()
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        handle._report_exception(exc)


def _init_handle(handle, callback, args, loop, context, debug, one_arg=False):
    # The handle is new (new_handle, new_timer, new_queued_handle), or its
    # __init__ ran _reinit_check first. one_arg (compiled only): ``args`` is
    # the callback's one argument, kept without a tuple.
    if not cython.compiled:
        # asyncio's Handle.__init__: uncompiled, every bytecode counts.
        handle._context_if_made = copy_context() if context is None else context
        handle._loop = loop
        handle._callback = callback
        handle._arguments = args
        handle._cancelled = False
        handle._repr = None
        handle._source_traceback = _caller_stack() if debug else None
        return
    if context is None:
        # None still where the copy would be empty (see "empty contexts").
        context = _copy_current_context_unless_empty()
        if context is not None:
            # The copy is the handle's alone: hidden. (Flagged first: a
            # hidden context is never unflagged.)
            handle._context_hidden = True
            PyObject_GC_UnTrack(context)
    handle._context_if_made = context
    handle._loop = loop
    handle._callback = callback
    handle._arguments = args
    handle._one_arg = one_arg
    handle._cancelled = False
    # A new handle holds None already: each store skipped saves two refcount
    # writes to None (3.11 has no immortal objects).
    if handle._repr is not None:
        handle._repr = None
    if debug:
        handle._source_traceback = _caller_stack()
    elif handle._source_traceback is not None:
        handle._source_traceback = None


# -- deadlines -----------------------------------------------------------------
#
# asyncio keeps a timer's deadline as given: call_at(10) gives a timer whose
# when() is the int 10 (aiohttp rounds its timeouts up to whole seconds and
# tests for that), and so does call_later(2) under a test clock patched to
# count in ints. The heap orders timers by a C double; compiled, the object
# given is kept beside it unless it is a float, which the double already is.
# Uncompiled, _deadline is the object given, as asyncio's _when.

def deadline_of(when):
    """The number the timer heap orders a deadline given as ``when`` by."""
    try:
        deadline = when  # compiled, a C double (typed in the .pxd)
    except OverflowError:
        # An int beyond a double's range: asyncio takes it (a timer never
        # due, or already due).
        deadline = float("inf") if when > 0 else float("-inf")
    return deadline


def _init_timer(timer, deadline, when_given, callback, args, loop, context, debug):
    # ``when_given``: the object the caller gave, or None where ``deadline``
    # was computed (call_later with a float delay).
    global _timer_sequence
    _init_handle(timer, callback, args, loop, context, debug)
    timer._deadline = deadline
    if cython.compiled and when_given is not None and type(when_given) is not float:
        timer._when_given = when_given
    timer._in_heap = False
    _timer_sequence += 1
    timer._order = _timer_sequence


# -- empty contexts ----------------------------------------------------------
#
# A callback scheduled without context= runs in a copy of the context current
# when it was scheduled. Mostly that context is empty (no context variable set
# anywhere), and so is the copy: compiled, the handle then keeps None instead
# of a new Context, and runs its callback in a spare empty context that the
# module keeps. After the run the spare is taken back if the handle still
# holds it and it is pristine: nothing set in it, and nothing but the handle
# and _run holding it (no reference, no weak reference that callback code
# could have taken through get_context()). Otherwise the handle keeps it,
# and a new spare is made when one is next needed. Python code reaches the
# context a callback runs in only through its handle, and a handle asked for
# an empty context it has not made yet (get_context(), _context, a copy)
# makes it then: what a program can see is asyncio's, values and identities
# of every context it holds alike. What it cannot hold shows only to
# introspection: id() of a context let go of (asked again after the run, a
# handle makes a new one), gc.get_referents() and gc.get_objects(), and C
# code that reads the thread state. This saves
# building, tracking, untracking and freeing a Context per callback: 20-25 ns
# of call_soon's and call_soon_threadsafe's 75-100 ns (3.12, 3.13).
#
# The spare is taken out of the module while a callback runs in it: a
# callback that runs handles itself finds none and makes another, and so
# does a loop in another thread while this callback has let go of the GIL.
# (The spare's functions are C, in _handles.pxd.)


def _context_of(handle):
    """``handle``'s context, made now if it is an empty one not made yet."""
    context = handle._context_if_made
    if context is None:
        context = PyContext_New()
        handle._context_if_made = context
    return context


if cython.compiled:
    _forget_spare_context()
    _forget_kept_handles()


def new_handle(callback, args, loop, context, debug):
    """A Handle, without the cost of argument parsing in ``__init__``."""
    handle = Handle.__new__(Handle)
    _init_handle(handle, callback, args, loop, context, debug)
    return handle


# -- hidden from the garbage collector -------------------------------------
#
# Compiled, three kinds of objects that the collector could free nothing
# through are untracked, so that collections (which a burst of callbacks or
# timers triggers again and again) do not walk them:
#
# - the context a handle copied (call_soon without context=): the handle
#   alone holds it. The handle's tp_traverse visits what the context refers
#   to on its behalf, so cycles through the context are still found.
# - a handle waiting in the ready queue (call_soon, call_soon_threadsafe)
#   and a timer waiting in the timer heap (call_later, call_at), born
#   untracked: the queue keeps it alive. The loop's and the heap's
#   tp_traverse visit what such a handle refers to (traverse_queued), so a
#   loop dropped unclosed is still collected; once the handle leaves the
#   queue (leave_queue, show_if_held) it is tracked again if anyone still
#   holds it.
#
# Visits on another object's behalf are made only for objects that object
# alone holds; something held elsewhere too is left alone (its referents
# then look held from outside: never freed too early, at worst kept). So
# that such a handle cannot keep a loop dropped unclosed alive for good, a
# full collection first shows every hidden handle held elsewhere (the
# scheduler's gc callback).
#
# A context may not be freed untracked (CPython's deallocator unlinks it
# from the collector's list unconditionally): a hidden context is shown
# again before its handle lets go of it, in tp_dealloc, in tp_clear and
# when __init__ runs again; ``_context`` is read-only compiled, so that
# nothing else can make the handle let go of it.


def new_queued_handle(callback, args, loop, context, debug, one_arg=False):
    """A Handle for the ready queue, hidden from the garbage collector
    (``args``: see _init_handle)."""
    # new_handle's two lines, not a call to it: uncompiled, call_soon's cost
    # is counted in function calls.
    global _handle_untracked
    if cython.compiled:
        kept = _take_ran_handle()
        if kept is not cython.NULL:
            if context is not None and not debug:
                # _init_handle's stores, in C: nothing to copy or record.
                return _fill_kept_handle(cython.cast(Handle, kept), callback, args, context,
                                         loop, one_arg)
            handle = _as_owned_handle(kept)
        else:
            # Born untracked: tracking it and untracking it at once wrote to
            # the collector's list twice (a cache line that bounces between
            # cores when another thread schedules with call_soon_threadsafe).
            _handle_untracked = 1  # consumed by the allocation __new__ makes
            handle = Handle.__new__(Handle)
    else:
        handle = Handle.__new__(Handle)
    _init_handle(handle, callback, args, loop, context, debug, one_arg)
    return handle


def leave_queue(handle):
    """``handle`` left the ready queue (ran, was skipped, or the queue was
    cleared): if anyone but the caller still holds it, show it to the
    garbage collector again."""
    if cython.compiled:
        show_if_held(cython.cast(_ObjectPointer, handle))


# -- ran handles -------------------------------------------------------------
#
# Compiled, a handle that ran (or was skipped) and that nothing but the ready
# queue held is not freed: its fields are let go of and it is kept, alive and
# untracked, for the next handle the ready queue needs (new_queued_handle).
# That spares freeing it (Cython's tp_dealloc, the freelist) and making it
# again (tp_alloc, tp_new setting every field): a task's every step and every
# future's callback is such a handle. What it held is let go of only once it
# is clean and kept: freeing that may run code (a finalizer) that schedules
# a callback, and so takes this very handle again. A handle anything else
# holds, even weakly, is left alone: it may yet be cancelled, or looked at.

def release_ran(handle):
    """The ready queue let go of ``handle``, and the caller holds the
    queue's reference: kept for reuse if nothing else holds it, else shown
    to the garbage collector if held (leave_queue). Compiled only."""
    if not _can_keep_ran_handle(cython.cast(_ObjectPointer, handle)):
        show_if_held(cython.cast(_ObjectPointer, handle))
        return
    # A hidden context is shown before the handle lets go of it.
    _reveal_context(cython.cast(_ObjectPointer, handle))
    _empty_and_keep(handle)


def kept_handle_count():
    """How many ran handles are kept for reuse (for tests; 0 uncompiled)."""
    if cython.compiled:
        return _ran_handle_count
    return 0


def free_handle_count():
    """How many freed handles the freelist keeps (for tests; 0 uncompiled)."""
    if cython.compiled:
        return _free_handle_count
    return 0


def _reveal_context(handle):
    """Show ``handle``'s hidden context to the garbage collector again,
    before the handle lets go of it (compiled only).

    ``handle`` is a borrowed pointer: called from tp_dealloc, where the
    handle's reference count is 0, no object reference may be taken.
    """
    if cython.cast(Handle, handle)._context_hidden:
        cython.cast(Handle, handle)._context_hidden = False
        context = cython.cast(_ObjectPointer, cython.cast(Handle, handle)._context_if_made)
        # Only a context is ever hidden, and tracking a tracked object is a
        # fatal error: both checked, whatever led here.
        if _is_exact_context(context) and not _gc_is_tracked(context):
            _gc_track(context)


def hideable(handle):
    """Whether ``handle`` (a borrowed pointer) is of a kind ever hidden from
    the collector: a plain Handle or TimerHandle, never a subclass."""
    return (_type_pointer(handle) == cython.cast(_ObjectPointer, Handle)
            or _type_pointer(handle) == cython.cast(_ObjectPointer, TimerHandle))


def traverse_queued(handle, visit, arg):
    """For a loop's tp_traverse: visit what a hidden handle in the ready
    queue refers to, if the queue alone holds it (compiled only).

    ``handle`` is a borrowed pointer: a tp_traverse must not change any
    reference count, not even for a moment.
    """
    if not hideable(handle):
        return 0
    if _gc_is_tracked(handle) or _refcount(handle) != 1:
        # Tracked: the collector walks it itself. Shared: left alone.
        return 0
    return _gc_slots(handle).tp_traverse(handle, visit, arg)


def _traverse_handle(handle, visit, arg):
    """Handle's tp_traverse: Cython's, then the hidden context's referents."""
    result = _cython_traverse(handle, visit, arg)
    if result:
        return result
    return _traverse_hidden_context(handle, visit, arg)


def _traverse_timer(handle, visit, arg):
    """TimerHandle's tp_traverse: the same around Cython's for TimerHandle
    (which calls Cython's for Handle itself, not through the slot)."""
    result = _cython_timer_traverse(handle, visit, arg)
    if result:
        return result
    return _traverse_hidden_context(handle, visit, arg)


def _traverse_hidden_context(handle, visit, arg):
    if cython.cast(Handle, handle)._context_hidden:
        context = cython.cast(_ObjectPointer, cython.cast(Handle, handle)._context_if_made)
        if _refcount(context) == 1:
            return _gc_slots(context).tp_traverse(context, visit, arg)
    return 0


# Not __dealloc__ methods, which Cython wraps in an exception save and
# restore for every handle freed.

def _dealloc_handle(handle):
    """Handle's tp_dealloc: the hidden context shown again, then Cython's."""
    _reveal_context(handle)
    _cython_dealloc(handle)


def _dealloc_timer(handle):
    _reveal_context(handle)
    _cython_timer_dealloc(handle)


def _clear_handle(handle):
    """Handle's tp_clear: the context shown again, then Cython's."""
    _reveal_context(handle)
    return _cython_clear(handle)


def _clear_timer(handle):
    _reveal_context(handle)
    return _cython_timer_clear(handle)


def _extend_gc_slots():
    global _cython_traverse, _cython_clear, _cython_dealloc
    global _cython_timer_traverse, _cython_timer_clear, _cython_timer_dealloc
    handle_type = cython.cast(_TypeGCSlotsPointer, Handle)
    timer_type = cython.cast(_TypeGCSlotsPointer, TimerHandle)
    if (not handle_type.tp_flags & Py_TPFLAGS_HAVE_GC
            or not timer_type.tp_flags & Py_TPFLAGS_HAVE_GC
            or handle_type.tp_traverse == cython.NULL or handle_type.tp_clear == cython.NULL
            or timer_type.tp_traverse == cython.NULL or timer_type.tp_clear == cython.NULL
            or timer_type.tp_dealloc == handle_type.tp_dealloc):
        raise ImportError("fastloop._handles: Handle's GC slots are not as expected")
    _cython_traverse = handle_type.tp_traverse
    _cython_clear = handle_type.tp_clear
    _cython_dealloc = handle_type.tp_dealloc
    _cython_timer_traverse = timer_type.tp_traverse
    _cython_timer_clear = timer_type.tp_clear
    _cython_timer_dealloc = timer_type.tp_dealloc
    handle_type.tp_traverse = _traverse_handle
    handle_type.tp_clear = _clear_handle
    handle_type.tp_dealloc = _dealloc_handle
    timer_type.tp_traverse = _traverse_timer
    timer_type.tp_clear = _clear_timer
    timer_type.tp_dealloc = _dealloc_timer


# -- the handle freelist ------------------------------------------------------
#
# Compiled, freed handles are kept for reuse (Handle's tp_alloc and tp_free,
# in _handles.pxd): a burst of callbacks (a thousand tasks woken at once, a
# benchmark's 50,000) then allocates nothing, and allocations that would each
# count towards the next garbage collection are avoided. The bound is what a
# burst may keep: 65,536 handles of about 100 bytes, 6 MiB at most. The
# allocator is ours, not Cython's @freelist, so that a handle for the ready
# queue can be born untracked rather than tracked and untracked at once.
# Timers are born untracked for the heap the same way, without a freelist;
# Python subclasses are allocated as usual.

if cython.compiled:
    _extend_gc_slots()
    _install_handle_allocators(Handle, TimerHandle)


def new_timer(deadline, when_given, callback, args, loop, context, debug):
    """A TimerHandle for the timer heap (compiled: hidden from the garbage
    collector until it leaves the heap). ``deadline`` and ``when_given`` as
    for _init_timer."""
    global _handle_untracked
    if cython.compiled:
        _handle_untracked = 1  # consumed by the allocation __new__ makes
    timer = TimerHandle.__new__(TimerHandle)
    _init_timer(timer, deadline, when_given, callback, args, loop, context, debug)
    return timer
