cimport cython
from cpython.object cimport Py_TPFLAGS_HAVE_GC, PyObject, PyObject_Call, PyObject_GenericGetDict
from libc.errno cimport EINTR, errno
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport read, write

from ._handles cimport (Handle, TimerHandle, _ObjectPointer, _refcount, _TypeGCSlotsPointer,
                       leave_queue, new_handle, new_queued_handle, new_timer, prefetch,
                       traverse_queued, traverseproc, visitproc)
from ._poller cimport Poller
from ._timers cimport TimerQueue


# Typed copies of _poller's constants, filled in by the module's import.
cdef int READABLE
cdef int WRITABLE
cdef int _MAX_SKIPPED_POLLS
cdef object _C_FUTURE


cdef extern from "Python.h":
    # PyList_SetSlice with a NULL item list deletes the slice.
    int PyList_DelSlice "PyList_SetSlice" (object list, Py_ssize_t low, Py_ssize_t high,
                                          PyObject *itemlist) except -1
    PyObject *PyList_GET_ITEM(object list, Py_ssize_t index)
    Py_ssize_t PyList_GET_SIZE(object list)
    # Borrowed-pointer forms, for tp_traverse code.
    bint _is_exact_list "PyList_CheckExact" (PyObject *obj)
    Py_ssize_t _list_size "PyList_GET_SIZE" (PyObject *list)
    PyObject *_list_item "PyList_GET_ITEM" (PyObject *list, Py_ssize_t index)


@cython.locals(now=timespec)
cdef double _monotonic()

cdef int _slot_event(int slot) noexcept
cdef dict _instance_dict(object obj)

cdef extern from *:
    """
    /* Whether type(obj).<name> is ``expected``: a lookup in the type's
       method cache, without the descriptor call and the reference counting
       of type(obj).<name> in Python (Cython makes the same lookup where
       CYTHON_USE_PYTYPE_LOOKUP allows it). -1 with an exception set on error. */
    static int fastloop_class_attribute_is(PyObject *obj, PyObject *name, PyObject *expected) {
    #if CYTHON_USE_PYTYPE_LOOKUP
        return _PyType_Lookup(Py_TYPE(obj), name) == expected;
    #else
        PyObject *found = PyObject_GetAttr((PyObject *)Py_TYPE(obj), name);
        if (found == NULL) {
            return -1;
        }
        Py_DECREF(found);
        return found == expected;
    #endif
    }
    """
    bint _class_attribute_is "fastloop_class_attribute_is" (
        object obj, str name, object expected) except -1


cdef class BatchedWriter:
    cdef bint _batch_queued

    cdef _flush_batch(self)


cdef class Scheduler:
    cdef dict __dict__
    cdef public list _ready
    cdef list _batched_writers
    cdef TimerQueue _timers
    cdef Poller _poller
    cdef dict _fd_handles
    cdef public bint _closed
    cdef public bint _stopping
    cdef public bint _debug
    cdef public object _thread_id
    cdef public object _current_handle
    cdef public double slow_callback_duration
    cdef public double _clock_resolution
    cdef bint _wakeup_pending
    cdef int _skipped_polls
    cdef object _self_reader
    cdef readonly object _self_writer
    cdef int _self_reader_fd
    cdef int _self_writer_fd
    cdef char _self_pipe_buffer[4096]
    cdef dict _future_kwargs

    cdef _init_core(self)
    @cython.locals(instance_attributes=dict)
    cdef double _now(self) except? -1.0
    cdef double _deadline_after(self, object delay) except? -1.0
    cdef TimerHandle _schedule_timer(self, double when, object callback, object args,
                                     object context, str method)
    @cython.locals(handle=Handle, handles=list, other=Handle, mask=int, previous=Handle)
    cdef Handle _add_fd_handle(self, int fd, int slot, object callback, object args, bint once)
    @cython.locals(handle=Handle, handles=list)
    cdef bint _remove_fd_handle(self, int fd, int slot, bint reported_once) except -1
    cdef _rearm_once(self, int fd)
    @cython.locals(timers=TimerQueue, first=TimerHandle, timeout=double, now=double,
                   poller=Poller, count=int, index=int, ready=list, todo=Py_ssize_t,
                   done=Py_ssize_t, entry=object, handle=Handle, compiled=bint)
    cdef _iterate(self)
    @cython.locals(handles=list, reader=Handle, writer=Handle)
    cdef _dispatch_io(self, int fd, int mask)
    @cython.locals(data=bytes, signum=int)
    cdef _drain_self_pipe(self)
    @cython.locals(count=Py_ssize_t)
    cdef bytes _read_self_pipe(self)
    cdef _run_timed(self, Handle handle)
    @cython.locals(writers=list, done=Py_ssize_t, writer=BatchedWriter)
    cdef _flush_batches(self)


cdef object _SCHEDULER_TIME


cdef traverseproc _cython_traverse
@cython.locals(ready=_ObjectPointer, index=Py_ssize_t, result=int)
cdef int _traverse_scheduler(PyObject *scheduler, visitproc visit, void *arg) noexcept
@cython.locals(scheduler_type=_TypeGCSlotsPointer)
cdef _extend_gc_slots()
