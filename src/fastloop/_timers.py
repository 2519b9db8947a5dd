# cython: boundscheck=False, wraparound=False
# (every index the heap code uses is checked against the heap's size)
"""The timer queue: a min-heap of TimerHandles.

Ordered by deadline, then by scheduling order, so timers due at the same
instant fire first-in first-out (asyncio leaves such ties to heap order; we
promise FIFO, as libuv does). Each heap entry carries its timer's deadline
and sequence number beside the timer, so the heap compares keys without
reading the TimerHandles: compiled, a C array of ``TimerEntry`` structs,
sifted here (reading a TimerHandle per comparison, each somewhere else in
memory, made the sift a chain of cache misses); uncompiled, a list of
``(when, sequence, timer)`` tuples for the C ``heapq`` module. The keys are
the same, so the order is the same. The compiled heap is 4-ary (half the
levels to walk down per pop, four children side by side in memory); the
pure one is heapq's binary heap.

Cancelled timers stay in the heap until they reach the top or until most of
the heap is cancelled, then it is rebuilt: the same lazy cancellation and
compaction thresholds as asyncio's ``BaseEventLoop._run_once``.
"""

try:
    import cython
except ImportError:
    from . import _cython_shim as cython

import heapq

from ._handles import TimerHandle, leave_queue

# asyncio's thresholds (base_events._MIN_SCHEDULED_TIMER_HANDLES and
# _MIN_CANCELLED_TIMER_HANDLES_FRACTION).
_COMPACT_MIN_SIZE = 100
_COMPACT_MIN_CANCELLED_FRACTION = 0.5

# Compiled: the entry array's first allocation.
_MIN_CAPACITY = 64
# Compiled: the array keeps up to this many entries' room (1.5 MiB) when the
# heap empties: a loop that schedules bursts of timers would otherwise grow
# it again for every burst, page faults and copies included.
_KEPT_CAPACITY = 65536


def _earlier(a, b):
    """Heap order of two compiled entries: deadline, then scheduling order
    (the order the pure heap's tuples compare in)."""
    if a.when != b.when:
        return a.when < b.when
    return a.sequence < b.sequence


@cython.final
@cython.cclass
class TimerQueue:
    def __cinit__(self):
        # Compiled: the entries own a reference to their timers (see
        # _release_all and the GC hooks at the end of this module).
        self._entries = cython.NULL
        self._size = 0
        self._capacity = 0

    def __init__(self):
        if not cython.compiled:
            self.heap = []
        self.cancelled_count = 0

    def __dealloc__(self):
        self._release_all()

    def __len__(self):
        return self.size()

    def size(self):
        """How many timers the heap holds, cancelled ones included (len()
        for compiled callers, without a call through the type slot)."""
        if cython.compiled:
            return self._size
        return len(self.heap)

    def push(self, timer):
        if cython.compiled:
            if self._size == self._capacity:
                self._resize(max(_MIN_CAPACITY, 2 * self._capacity))
            entry.when = timer._deadline
            entry.sequence = timer._order
            # The entry's own reference, released when the timer leaves the heap.
            Py_INCREF(timer)
            entry.timer = cython.cast(cython.pointer(PyObject), timer)
            self._size += 1
            self._sift_up(0, self._size - 1, entry)
        else:
            heapq.heappush(self.heap, (timer._deadline, timer._order, timer))
        timer._in_heap = True

    def first(self):
        """The earliest timer, cancelled or not; None when empty."""
        if cython.compiled:
            if self._size:
                return cython.cast(TimerHandle, self._entries[0].timer)
            return None
        if self.heap:
            return self.heap[0][2]
        return None

    def pop(self):
        """Remove the earliest timer and return it."""
        if cython.compiled:
            if not self._size:
                raise IndexError("pop from an empty timer queue")
            top = cython.cast(TimerHandle, self._entries[0].timer)
            # ``top`` holds a reference of its own now: the entry's goes.
            # (Until the heap is whole again below, entry 0 points at a
            # timer it holds no reference to: nothing in between may run
            # code or allocate, or a collection could traverse the heap
            # then and visit that timer's referents on its behalf.)
            Py_DECREF(top)
            # Hidden in the heap: shown to the collector again if someone
            # else holds it (the caller of call_later, say).
            leave_queue(top)
            self._size -= 1
            if self._size:
                # The last entry fills the hole at the top.
                self._sift_down(0, self._entries[self._size])
                # Start loading the next timer to pop while this one runs, so
                # that the next pop finds it in the cache. (A loop that runs
                # many timers would otherwise wait on memory for each.)
                prefetch(self._entries[0].timer)
            if self._capacity > _KEPT_CAPACITY and self._size < self._capacity // 4:
                self._shrink()
        else:
            top = heapq.heappop(self.heap)[2]
        top._in_heap = False
        return top

    def note_cancelled(self, timer):
        if timer._in_heap:
            self.cancelled_count += 1

    def drop_cancelled(self):
        """Forget cancelled timers: rebuild when they are the majority,
        otherwise pop those at the top."""
        size = self.size()
        if (size > _COMPACT_MIN_SIZE
                and self.cancelled_count > size * _COMPACT_MIN_CANCELLED_FRACTION):
            if cython.compiled:
                self._compact()
            else:
                live = []
                for entry in self.heap:
                    timer = entry[2]
                    if timer._cancelled:
                        timer._in_heap = False
                    else:
                        live.append(entry)
                heapq.heapify(live)
                self.heap = live
            self.cancelled_count = 0
            return
        while self.size() and self.first()._cancelled:
            self.cancelled_count -= 1
            self.pop()

    def clear(self):
        if cython.compiled:
            for index in range(self._size):
                cython.cast(TimerHandle, self._entries[index].timer)._in_heap = False
            self._release_all()
        else:
            for entry in self.heap:
                entry[2]._in_heap = False
            self.heap = []
        self.cancelled_count = 0

    # -- compiled only: the entry array ------------------------------------

    def _resize(self, capacity):
        if capacity > PY_SSIZE_T_MAX // cython.sizeof(TimerEntry):
            raise MemoryError()
        entries = PyMem_Realloc(self._entries, capacity * cython.sizeof(TimerEntry))
        if entries == cython.NULL:
            raise MemoryError()
        self._entries = cython.cast(cython.pointer(TimerEntry), entries)
        self._capacity = capacity

    def _shrink(self):
        # Halved, so a heap that keeps growing and shrinking around one size
        # does not reallocate at every turn. A failed realloc keeps the
        # larger array, which is no error.
        capacity = self._capacity // 2
        entries = PyMem_Realloc(self._entries, capacity * cython.sizeof(TimerEntry))
        if entries != cython.NULL:
            self._entries = cython.cast(cython.pointer(TimerEntry), entries)
            self._capacity = capacity

    def _release_all(self):
        """Empty the heap and release its timers. The array is detached
        first: releasing a timer can run arbitrary code (its arguments'
        finalizers), which may schedule a timer on this queue."""
        entries = self._entries
        size = self._size
        self._entries = cython.NULL
        self._size = 0
        self._capacity = 0
        for index in range(size):
            if entries[index].timer != cython.NULL:
                # Out of the heap: shown to the collector if held elsewhere.
                show_if_held(entries[index].timer)
            Py_XDECREF(entries[index].timer)
        PyMem_Free(entries)

    def show_held(self):
        """Show the collector every hidden timer that someone else holds too
        (before a full collection: see the scheduler's gc callback)."""
        if cython.compiled:
            for index in range(self._size):
                show_if_held(self._entries[index].timer)

    def _compact(self):
        """Drop every cancelled timer and re-heapify the rest."""
        entries = self._entries
        size = self._size
        dropped_count = 0
        for index in range(size):
            if cython.cast(TimerHandle, entries[index].timer)._cancelled:
                dropped_count += 1
        # The dropped timers are released once the heap is whole again
        # (releasing one can run arbitrary code, which may use this queue);
        # until then this list holds them. Allocated before the heap changes,
        # so a MemoryError leaves it as it was.
        dropped = [None] * dropped_count
        dropped_count = 0
        live_count = 0
        # Nothing in this loop may run code or allocate: until _size is set,
        # the array holds stale copies of entries, which a collection
        # traversing the heap would visit twice.
        for index in range(size):
            timer = cython.cast(TimerHandle, entries[index].timer)
            if timer._cancelled:
                timer._in_heap = False
                dropped[dropped_count] = timer
                dropped_count += 1
                # The list holds the timer now: the entry's reference goes.
                Py_DECREF(timer)
            else:
                entries[live_count] = entries[index]
                live_count += 1
        timer = None
        self._size = live_count
        for index in range(dropped_count):
            # Out of the heap: held by ``dropped`` and anyone else.
            show_if_held(_list_item(dropped, index))
        for index in range((live_count - 2) // 4, -1, -1):
            self._sift_down(index, entries[index])

    def _sift_up(self, start, index, entry):
        """Fill the hole at ``index`` with ``entry``, moving it up past
        later parents, but not above ``start``."""
        entries = self._entries
        while index > start:
            parent_index = (index - 1) >> 2
            if not _earlier(entry, entries[parent_index]):
                break
            entries[index] = entries[parent_index]
            index = parent_index
        entries[index] = entry

    def _sift_down(self, index, entry):
        """Fill the hole at ``index`` with ``entry``, keeping heap order
        below it."""
        # heapq's bottom-up variant: move the hole down to a leaf along the
        # earliest children (three comparisons a level), then sift the entry
        # up from there: it rarely moves far, so this saves the textbook
        # sift's comparison of the entry with each level's earliest child.
        entries = self._entries
        size = self._size
        start = index
        child_index = 4 * index + 1
        while child_index < size:
            last_index = min(child_index + 4, size)
            earliest_index = child_index
            child_index += 1
            while child_index < last_index:
                if _earlier(entries[child_index], entries[earliest_index]):
                    earliest_index = child_index
                child_index += 1
            entries[index] = entries[earliest_index]
            index = earliest_index
            child_index = 4 * index + 1
        self._sift_up(start, index, entry)


# -- compiled only: the garbage collector sees the entries' timers ---------
#
# A TimerHandle refers to its loop, and the loop to its timer queue: a loop
# dropped without close() is a reference cycle through the queue, and the
# collector only finds it if the queue's tp_traverse visits its timers (or,
# for a timer hidden from the collector, what the timer refers to).
# Cython generates tp_traverse and tp_clear for the object fields it knows
# (``heap``, always None compiled, is what makes it give the type GC
# support); the entry array is hidden from it in C memory, so the module
# extends both slots when it is imported.

def _traverse_timer_queue(queue, visit, arg):
    """TimerQueue's tp_traverse: Cython's, then the timers of the entries.
    (Like any tp_traverse, it must not change a reference count.)"""
    result = _cython_traverse(queue, visit, arg)
    if result:
        return result
    entries = cython.cast(TimerQueue, queue)._entries
    for index in range(cython.cast(TimerQueue, queue)._size):
        timer = entries[index].timer
        if _gc_is_tracked(timer):
            result = visit(timer, arg)
        else:
            # Hidden (see _handles.py): what it refers to, on its behalf.
            result = traverse_queued(timer, visit, arg)
        if result:
            return result
    return 0


def _clear_timer_queue(queue):
    """TimerQueue's tp_clear: the entries, then what Cython's clears."""
    cython.cast(TimerQueue, queue)._release_all()
    return _cython_clear(queue)


def _extend_gc_slots():
    global _cython_traverse, _cython_clear
    queue_type = cython.cast(_TypeGCSlotsPointer, TimerQueue)
    if not queue_type.tp_flags & Py_TPFLAGS_HAVE_GC:
        raise ImportError("fastloop._timers: Cython gave TimerQueue no GC support, "
                          "so a loop never closed could not be collected")
    _cython_traverse = queue_type.tp_traverse
    _cython_clear = queue_type.tp_clear
    queue_type.tp_traverse = _traverse_timer_queue
    queue_type.tp_clear = _clear_timer_queue


if cython.compiled:
    _extend_gc_slots()
