cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.object cimport Py_TPFLAGS_HAVE_GC, PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF

from ._handles cimport (TimerHandle, _gc_is_tracked, _ObjectPointer, _TypeGCSlotsPointer, inquiry, leave_queue,
                       prefetch, show_if_held, traverse_queued, traverseproc, visitproc)

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    PyObject *_list_item "PyList_GET_ITEM" (object list, Py_ssize_t index)

cdef Py_ssize_t _COMPACT_MIN_SIZE
cdef double _COMPACT_MIN_CANCELLED_FRACTION
cdef Py_ssize_t _MIN_CAPACITY
cdef Py_ssize_t _KEPT_CAPACITY


# One heap entry: the timer's sort keys, copied beside it.
cdef struct TimerEntry:
    double when
    unsigned long long sequence
    PyObject *timer  # an owned reference

ctypedef TimerEntry *TimerEntryArray

cdef bint _earlier(TimerEntry a, TimerEntry b) noexcept


# Final (no subclasses, direct calls to its cdef methods): declared in _timers.py,
# where Cython applies class decorators.
cdef class TimerQueue:
    cdef TimerEntryArray _entries
    cdef Py_ssize_t _size
    cdef Py_ssize_t _capacity
    # The pure build's heap; compiled, None (see _extend_gc_slots).
    cdef list heap
    cdef public Py_ssize_t cancelled_count

    cdef Py_ssize_t size(self) noexcept
    @cython.locals(entry=TimerEntry)
    cdef push(self, TimerHandle timer)
    cdef TimerHandle first(self)
    @cython.locals(top=TimerHandle)
    cdef TimerHandle pop(self)
    cdef note_cancelled(self, TimerHandle timer)
    @cython.locals(size=Py_ssize_t, live=list, timer=TimerHandle)
    cdef drop_cancelled(self)
    @cython.locals(index=Py_ssize_t)
    cdef clear(self)
    @cython.locals(index=Py_ssize_t)
    cpdef show_held(self)

    @cython.locals(entries=cython.p_void)
    cdef _resize(self, Py_ssize_t capacity)
    @cython.locals(capacity=Py_ssize_t, entries=cython.p_void)
    cdef void _shrink(self) noexcept
    @cython.locals(entries=TimerEntryArray, size=Py_ssize_t, index=Py_ssize_t)
    cdef void _release_all(self) noexcept
    @cython.locals(entries=TimerEntryArray, size=Py_ssize_t, index=Py_ssize_t,
                   dropped=list, dropped_count=Py_ssize_t, live_count=Py_ssize_t,
                   timer=TimerHandle)
    cdef _compact(self)
    @cython.locals(entries=TimerEntryArray, parent_index=Py_ssize_t)
    cdef void _sift_up(self, Py_ssize_t start, Py_ssize_t index, TimerEntry entry) noexcept
    @cython.locals(entries=TimerEntryArray, size=Py_ssize_t, start=Py_ssize_t,
                   child_index=Py_ssize_t, last_index=Py_ssize_t, earliest_index=Py_ssize_t)
    cdef void _sift_down(self, Py_ssize_t index, TimerEntry entry) noexcept


cdef traverseproc _cython_traverse
cdef inquiry _cython_clear

@cython.locals(result=int, entries=TimerEntryArray, index=Py_ssize_t, timer=_ObjectPointer)
cdef int _traverse_timer_queue(PyObject *queue, visitproc visit, void *arg) noexcept
cdef int _clear_timer_queue(PyObject *queue) noexcept
@cython.locals(queue_type=_TypeGCSlotsPointer)
cdef _extend_gc_slots()
