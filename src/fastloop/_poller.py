"""The poller: which file descriptors the loop watches, and the wait.

Three backends behind one small interface (``set_interest``, ``arm_once``,
``poll``, ``event_fd``/``event_mask``, ``close``):

* compiled, on Linux: ``epoll_wait`` called with the GIL released (but for
  a poll that does not wait), into a preallocated event array;
* pure, on Linux: ``select.epoll``, the same kernel calls through Python;
* anywhere without epoll: the ``selectors`` module's default selector.

Masks use epoll's bits; an error or hang-up wakes both directions, as the
``selectors`` module reports it.

Two kinds of registration. ``set_interest`` watches an fd level-triggered:
it is reported at every poll while it is ready, until unwatched (add_reader,
transports). ``arm_once`` asks for one report (EPOLLONESHOT): the kernel
then disables the registration but keeps it, so the next ``arm_once`` on the
fd is one EPOLL_CTL_MOD instead of an EPOLL_CTL_ADD now and an
EPOLL_CTL_DEL later. sock_* waits use it: they want one report per wait. A
registration left behind by an fd closed or duplicated while armed can fire
once, never again; a level-triggered one would fire at every poll. Without
epoll, ``arm_once`` is ``set_interest``.
"""

try:
    import cython
except ImportError:
    from . import _cython_shim as cython

import os
import select
import selectors

READABLE = 0x001  # EPOLLIN
WRITABLE = 0x004  # EPOLLOUT
# The same, as C ints compiled (the names above are what other modules import).
_READABLE = READABLE
_WRITABLE = WRITABLE
# In an interest mask: the registration is one-shot. Alone: registered with
# the kernel but disabled (its one report was delivered), watching nothing.
ONESHOT = 0x40000000  # EPOLLONESHOT
# In an interest mask: report the fd edge-triggered, once per change (new
# data, room to write) instead of at every poll while it stays ready. Its
# watcher must then read until a read comes back short, or be run again
# without a report (see _scheduler.ConnectionHandle). Only where
# Poller.edges is true: the compiled build on epoll. Not EPOLLET itself,
# which is bit 31 and so no C int: _epoll_ctl puts it in.
EDGE = 0x08000000
_EDGE = EDGE  # as a C int, compiled
# In a reported mask, beside READABLE: a read may stop short of what is
# queued, and no new report comes for the rest. The peer hung up or the
# socket failed (EPOLLRDHUP, EPOLLHUP, EPOLLERR: the end or the error needs
# a read of its own), or urgent data came (EPOLLPRI: a TCP read stops at the
# urgent mark). A watcher of an edge-triggered fd then reads until a read
# finds nothing.
DRAIN = 0x04000000
_DRAIN = DRAIN
_DRAIN_EVENTS = 0x2000 | 0x010 | 0x008 | 0x002  # EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI

_INITIAL_CAPACITY = 64
# asyncio caps a poll at one day (base_events.MAXIMUM_SELECT_TIMEOUT).
MAXIMUM_TIMEOUT = 24 * 3600


def _mask_from_epoll(events):
    mask = _DRAIN if events & _DRAIN_EVENTS else 0
    if events & ~_WRITABLE:
        mask |= _READABLE
    if events & ~_READABLE:
        mask |= _WRITABLE
    return mask


def _mask_from_selectors(events):
    mask = 0
    if events & selectors.EVENT_READ:
        mask |= READABLE
    if events & selectors.EVENT_WRITE:
        mask |= WRITABLE
    return mask


def _selectors_events(mask):
    events = 0
    if mask & READABLE:
        events |= selectors.EVENT_READ
    if mask & WRITABLE:
        events |= selectors.EVENT_WRITE
    return events


def _raise_errno(code):
    raise OSError(code, os.strerror(code))


@cython.final
@cython.cclass
class Poller:
    def __cinit__(self):
        # Compiled: __dealloc__ must never see fd 0 (zeroed memory) as ours.
        self._epfd = -1

    def __init__(self):
        self._interest = {}
        self._ready = []
        self._selector = None
        self._epoll = None
        self._epfd = -1
        self._capacity = 0
        self._closed = False
        self.edges = False
        if cython.compiled:
            self._epfd = epoll_create1(EPOLL_CLOEXEC)
            if self._epfd < 0:
                if errno != ENOSYS:
                    _raise_errno(errno)
                self._selector = selectors.DefaultSelector()
            else:
                self._grow(_INITIAL_CAPACITY)
                self.edges = True
        elif hasattr(select, "epoll"):
            self._epoll = select.epoll()
        else:
            self._selector = selectors.DefaultSelector()

    def __dealloc__(self):
        # Compiled only: a poller dropped without close() still frees its
        # kernel object and its event array.
        if self._epfd >= 0:
            close(self._epfd)
            self._epfd = -1
        PyMem_Free(self._events)
        self._events = cython.NULL

    def _grow(self, capacity):
        events = PyMem_Realloc(self._events, capacity * cython.sizeof(epoll_event))
        if events == cython.NULL:
            raise MemoryError()
        self._events = cython.cast(cython.pointer(epoll_event), events)
        self._capacity = capacity

    def set_interest(self, fd, mask):
        """Watch ``fd`` for ``mask``, level-triggered unless it has EDGE
        (0 stops watching it).

        Raises OSError as the kernel reports it (EBADF for a closed fd,
        EPERM for a regular file), leaving the interest set unchanged.
        """
        if self._closed:
            raise RuntimeError("poller is closed")
        old_mask = self._interest.get(fd, 0)
        if mask != old_mask:
            self._register(fd, old_mask, mask)

    def arm_once(self, fd, mask):
        """Report ``fd`` once, at the first poll that finds it ready for
        ``mask``; then it stays registered, disabled, until armed again.

        One system call, armed before or not. Errors as set_interest().
        """
        if self._closed:
            raise RuntimeError("poller is closed")
        if self._selector is not None:
            self.set_interest(fd, mask)
        else:
            self._register(fd, self._interest.get(fd, 0), mask | ONESHOT)

    def rearm(self, fd):
        """Arm ``fd``'s one-shot registration again, for the same events
        (its report came, and found nothing to do). Nothing for an fd
        watched level-triggered, which is reported again anyway."""
        mask = self._interest.get(fd, 0)
        if mask & ONESHOT and mask != ONESHOT:
            self._register(fd, mask, mask)

    def keep_disarmed(self, fd):
        """Stop watching ``fd`` after its one-shot report was delivered.

        The kernel disabled the registration when it reported it: it is
        kept, for the next arm_once() to enable with one system call. An
        fd watched level-triggered is unregistered, as by set_interest(fd, 0).
        """
        mask = self._interest.get(fd, 0)
        if mask & ONESHOT:
            self._interest[fd] = ONESHOT
        else:
            self.set_interest(fd, 0)

    def _register(self, fd, old_mask, mask):
        """Tell the kernel (or the selector) that ``fd``'s interest goes from
        ``old_mask`` to ``mask``, then note it."""
        if self._selector is not None:
            self._selector_set(fd, old_mask, mask)
        elif cython.compiled:
            self._epoll_ctl(fd, old_mask, mask)
        else:
            self._select_epoll_set(fd, old_mask, mask)
        if mask:
            self._interest[fd] = mask
        else:
            del self._interest[fd]

    def _epoll_ctl(self, fd, old_mask, mask):
        event.events = mask
        if mask & _EDGE:
            event.events = (mask & ~_EDGE) | EPOLLET
            if mask & _READABLE:
                # What may stop a read short must show in the report (see
                # DRAIN): an end that came with the data, urgent data.
                event.events |= EPOLLRDHUP | EPOLLPRI
        event.data.u64 = 0
        event.data.fd = fd
        if not mask:
            # The kernel forgets a closed fd by itself: ENOENT and EBADF
            # only mean it is gone already.
            epoll_ctl(self._epfd, EPOLL_CTL_DEL, fd, cython.address(event))
            return
        op = EPOLL_CTL_MOD if old_mask else EPOLL_CTL_ADD
        if epoll_ctl(self._epfd, op, fd, cython.address(event)) == 0:
            return
        # A registered fd that was closed and reused is unknown to the
        # kernel again (ENOENT on modify); a fd registered behind our back
        # exists already (EEXIST on add).
        if op == EPOLL_CTL_MOD and errno == ENOENT:
            op = EPOLL_CTL_ADD
        elif op == EPOLL_CTL_ADD and errno == EEXIST:
            op = EPOLL_CTL_MOD
        else:
            _raise_errno(errno)
        if epoll_ctl(self._epfd, op, fd, cython.address(event)) != 0:
            _raise_errno(errno)

    def _select_epoll_set(self, fd, old_mask, mask):
        if not mask:
            try:
                self._epoll.unregister(fd)
            except OSError:
                pass
            return
        if old_mask:
            try:
                self._epoll.modify(fd, mask)
            except FileNotFoundError:
                self._epoll.register(fd, mask)
        else:
            try:
                self._epoll.register(fd, mask)
            except FileExistsError:
                self._epoll.modify(fd, mask)

    def _selector_set(self, fd, old_mask, mask):
        if not mask:
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass
        elif old_mask:
            self._selector.modify(fd, _selectors_events(mask))
        else:
            self._selector.register(fd, _selectors_events(mask))

    def poll(self, timeout):
        """Wait up to ``timeout`` seconds (negative: no limit) for events.

        Returns how many; read them with event_fd(i) and event_mask(i).
        Never returns before the timeout for lack of events, except when a
        signal arrives: its Python handler runs first (and may raise).
        """
        if timeout > MAXIMUM_TIMEOUT:
            timeout = MAXIMUM_TIMEOUT
        elif timeout != timeout:
            # NaN: neither a wait nor "no limit".
            timeout = 0.0
        if self._selector is not None:
            ready = self._selector.select(None if timeout < 0 else timeout)
            self._ready = [(key.fd, _mask_from_selectors(events)) for key, events in ready]
            return len(self._ready)
        if cython.compiled:
            # The event array grows here only: another thread may change the
            # interest set while the loop's thread waits in epoll_wait() on
            # the array, which must not move under it.
            if len(self._interest) > self._capacity:
                self._grow(max(len(self._interest), 2 * self._capacity))
            milliseconds = -1
            if timeout >= 0:
                # Round up: waking before the deadline would only spin.
                scaled = timeout * 1000.0
                milliseconds = cython.cast(cython.int, scaled)
                if milliseconds < scaled:
                    milliseconds += 1
            if milliseconds == 0:
                # A poll that does not wait keeps the GIL: letting it go and
                # taking it back costs more than the system call.
                count = epoll_wait(self._epfd, self._events, self._capacity, 0)
            else:
                with cython.nogil:
                    count = epoll_wait(self._epfd, self._events, self._capacity, milliseconds)
            if count < 0:
                if errno != EINTR:
                    _raise_errno(errno)
                count = 0
            # A signal's Python handler (Ctrl-C in asyncio.run) runs now,
            # not after the next wait.
            PyErr_CheckSignals()
            return count
        self._ready = self._epoll.poll(timeout)
        return len(self._ready)

    def event_fd(self, index):
        if cython.compiled and self._selector is None:
            return self._events[index].data.fd
        return self._ready[index][0]

    def event_mask(self, index):
        if cython.compiled and self._selector is None:
            return _mask_from_epoll(self._events[index].events)
        if self._selector is not None:
            return self._ready[index][1]
        return _mask_from_epoll(self._ready[index][1])

    def close(self):
        if self._closed:
            return
        self._closed = True
        self._interest.clear()
        self._ready = []
        if self._selector is not None:
            self._selector.close()
        elif cython.compiled:
            if self._epfd >= 0:
                close(self._epfd)
                self._epfd = -1
        else:
            self._epoll.close()
