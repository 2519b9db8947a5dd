cimport cython

from ._handles cimport TimerHandle

cdef Py_ssize_t _COMPACT_MIN_SIZE
cdef double _COMPACT_MIN_CANCELLED_FRACTION

cdef object _entry(TimerHandle timer)
cdef TimerHandle _timer_of(object entry)
cdef bint earlier_than(TimerHandle a, TimerHandle b)


@cython.final
cdef class TimerQueue:
    cdef public list heap
    cdef public Py_ssize_t cancelled_count

    cdef push(self, TimerHandle timer)
    cdef TimerHandle first(self)
    @cython.locals(top=TimerHandle, last=TimerHandle)
    cdef TimerHandle pop(self)
    cdef note_cancelled(self, TimerHandle timer)

    @cython.locals(size=Py_ssize_t, index=Py_ssize_t, live=list, timer=TimerHandle)
    cdef drop_cancelled(self)
    cdef clear(self)

    cdef _sift_up(self, Py_ssize_t index)

    @cython.locals(heap=list, parent_index=Py_ssize_t, timer=TimerHandle, parent=TimerHandle)
    cdef _sift_up_from(self, Py_ssize_t start, Py_ssize_t index)

    @cython.locals(heap=list, size=Py_ssize_t, start=Py_ssize_t, child_index=Py_ssize_t,
                   right_index=Py_ssize_t, timer=TimerHandle)
    cdef _sift_down(self, Py_ssize_t index)
