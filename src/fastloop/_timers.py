# cython: boundscheck=False, wraparound=False
# (every index the heap code uses is checked against the heap's length)
"""The timer queue: a binary min-heap of TimerHandles.

Ordered by deadline, then by scheduling order, so timers due at the same
instant fire first-in first-out (asyncio leaves such ties to heap order; we
promise FIFO, as libuv does). Compiled, the heap holds the TimerHandles and
is sifted with typed comparisons; uncompiled, it holds ``(when, sequence,
timer)`` entries for the C ``heapq`` module to compare: the same order either
way, and the difference stays in ``_entry``/``_timer_of``.

Cancelled timers stay in the heap until they reach the top or until most of
the heap is cancelled, then it is rebuilt: the same lazy cancellation and
compaction thresholds as asyncio's ``BaseEventLoop._run_once``.
"""

try:
    import cython
except ImportError:
    from . import _cython_shim as cython

import heapq

from ._handles import TimerHandle

# asyncio's thresholds (base_events._MIN_SCHEDULED_TIMER_HANDLES and
# _MIN_CANCELLED_TIMER_HANDLES_FRACTION).
_COMPACT_MIN_SIZE = 100
_COMPACT_MIN_CANCELLED_FRACTION = 0.5


def _entry(timer):
    """What the heap stores for ``timer``."""
    if cython.compiled:
        return timer
    return (timer._when, timer._sequence, timer)


def _timer_of(entry):
    if cython.compiled:
        return entry
    return entry[2]


def earlier_than(a, b):
    """Heap order with typed fields, for the compiled sift: deadline, then
    scheduling order (the order the pure heap's tuples compare in)."""
    if a._when != b._when:
        return a._when < b._when
    return a._sequence < b._sequence


class TimerQueue:
    def __init__(self):
        self.heap = []
        self.cancelled_count = 0

    def __len__(self):
        return len(self.heap)

    def push(self, timer):
        heap = self.heap
        if cython.compiled:
            heap.append(timer)
            self._sift_up(len(heap) - 1)
        else:
            heapq.heappush(heap, _entry(timer))
        timer._scheduled = True

    def first(self):
        """The earliest timer, cancelled or not; None when empty."""
        if self.heap:
            return _timer_of(self.heap[0])
        return None

    def pop(self):
        heap = self.heap
        if cython.compiled:
            last = heap.pop()
            if heap:
                top = heap[0]
                heap[0] = last
                self._sift_down(0)
            else:
                top = last
        else:
            top = _timer_of(heapq.heappop(heap))
        top._scheduled = False
        return top

    def note_cancelled(self, timer):
        if timer._scheduled:
            self.cancelled_count += 1

    def drop_cancelled(self):
        """Forget cancelled timers: rebuild when they are the majority,
        otherwise pop those at the top."""
        heap = self.heap
        size = len(heap)
        if (size > _COMPACT_MIN_SIZE
                and self.cancelled_count > size * _COMPACT_MIN_CANCELLED_FRACTION):
            live = []
            for entry in heap:
                timer = _timer_of(entry)
                if timer._cancelled:
                    timer._scheduled = False
                else:
                    live.append(entry)
            self.heap = live
            self.cancelled_count = 0
            if cython.compiled:
                for index in range(len(live) // 2 - 1, -1, -1):
                    self._sift_down(index)
            else:
                heapq.heapify(live)
            return
        while heap and _timer_of(heap[0])._cancelled:
            self.cancelled_count -= 1
            self.pop()

    def clear(self):
        for entry in self.heap:
            _timer_of(entry)._scheduled = False
        self.heap = []
        self.cancelled_count = 0

    def _sift_up(self, index):
        self._sift_up_from(0, index)

    def _sift_up_from(self, start, index):
        heap = self.heap
        timer = heap[index]
        while index > start:
            parent_index = (index - 1) >> 1
            parent = heap[parent_index]
            if not earlier_than(timer, parent):
                break
            heap[index] = parent
            index = parent_index
        heap[index] = timer

    def _sift_down(self, index):
        # heapq's bottom-up variant: move the hole at ``index`` down to a
        # leaf along the earlier children (one comparison a level), then
        # sift the displaced timer up from there: it rarely moves far, so
        # this takes about half the comparisons of the textbook sift.
        heap = self.heap
        size = len(heap)
        start = index
        timer = heap[index]
        child_index = 2 * index + 1
        while child_index < size:
            right_index = child_index + 1
            if right_index < size and not earlier_than(heap[child_index], heap[right_index]):
                child_index = right_index
            heap[index] = heap[child_index]
            index = child_index
            child_index = 2 * index + 1
        heap[index] = timer
        self._sift_up_from(start, index)
