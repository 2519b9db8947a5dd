cimport cython
from cpython.object cimport Py_TPFLAGS_HAVE_GC, PyObject, PyObject_Call
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.errno cimport EINTR, errno
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.unistd cimport read, write

from ._handles cimport (Handle, TimerHandle, _ObjectPointer, _refcount, _TypeGCSlotsPointer,
                       _enter_context, _exit_context, _report_raised, deadline_of, leave_queue, new_handle, new_queued_handle, new_timer, prefetch,
                       release_ran,
                       hideable, show_if_held, traverse_queued, traverseproc, visitproc)
from ._poller cimport Poller, _mask_from_epoll
from ._timers cimport TimerQueue


# Typed copies of _poller's constants, filled in by the module's import.
cdef int READABLE
cdef int WRITABLE
cdef int EDGE
cdef int DRAIN
cdef int _DID_NOTHING
cdef int _DID_SOME
cdef int _MAY_DO_MORE
cdef int _MAX_SKIPPED_POLLS
cdef list _spare_writers
cdef object _C_FUTURE
cdef object _C_GET_RUNNING_LOOP
cdef bint _FUTURE_FINDS_LOOP


cdef extern from "Python.h":
    PyObject *PyList_GET_ITEM(object list, Py_ssize_t index)
    Py_ssize_t PyList_GET_SIZE(object list)
    object PyObject_CallNoArgs(object callable)
    # Borrowed-pointer forms, for tp_traverse code.
    bint _is_exact_list "PyList_CheckExact" (PyObject *obj)
    Py_ssize_t _list_size "PyList_GET_SIZE" (PyObject *list)
    PyObject *_list_item "PyList_GET_ITEM" (PyObject *list, Py_ssize_t index)


@cython.locals(now=timespec)
cdef double _monotonic()

cdef extern from *:
    """
    #ifdef __PYX_HAVE__fastloop___scheduler
    /* Where an instance keeps its __dict__ (NULL while unmade), or NULL
       for a type without a fixed place for it. Scheduler's dict has a
       positive offset, checked at import. */
    static PyObject **fastloop_instance_dict_slot(PyObject *obj) {
        Py_ssize_t offset = Py_TYPE(obj)->tp_dictoffset;
        if (offset <= 0) {
            return NULL;
        }
        return (PyObject **)((char *)obj + offset);
    }

    /* The instance's __dict__ if it has been made, else NULL (borrowed):
       reading it through the API would make it (see "The loop's instance
       __dict__ stays unmade" in docs/architecture.md). */
    static PyObject *fastloop_instance_dict_if_made(PyObject *obj) {
        PyObject **slot = fastloop_instance_dict_slot(obj);
        return slot == NULL ? NULL : *slot;
    }

    /* Drops the instance __dict__ while it is empty and held by the
       instance alone: CPython's attribute setting and the __dict__ getter
       make it again when needed. On 3.12 and later only (3.11 specialises
       method calls on such an object only while its dict exists). */
    static void fastloop_drop_empty_instance_dict(PyObject *obj) {
        PyObject **slot = fastloop_instance_dict_slot(obj);
        if (PY_VERSION_HEX < 0x030C0000 || slot == NULL) {
            return;
        }
        if (*slot != NULL && PyDict_CheckExact(*slot) && PyDict_GET_SIZE(*slot) == 0
                && Py_REFCNT(*slot) == 1) {
            Py_CLEAR(*slot);
        }
    }
    #endif  /* __PYX_HAVE__fastloop___scheduler */
    """
    PyObject *_instance_dict_if_made "fastloop_instance_dict_if_made"(object obj)
    void _drop_empty_instance_dict "fastloop_drop_empty_instance_dict"(object obj)

cdef extern from *:
    """
    /* ready[index] taken out of the ready list, None left in its place: the
       caller gets the list's reference. index < len(ready), checked by the
       caller. */
    static PyObject *fastloop_take_ready(PyObject *ready, Py_ssize_t index) {
        PyObject *entry = PyList_GET_ITEM(ready, index);
        Py_INCREF(Py_None);
        PyList_SET_ITEM(ready, index, Py_None);
        return entry;
    }

    /* del ready[:count], where _iterate left None: the rest moved to the
       front, without list_ass_slice's copy of what goes (a large function
       on a path run every iteration). Anything but None there, or a list
       grown large by a burst, goes through the slice deletion, which may
       run code (a finalizer) and shrinks the allocation. */
    static int fastloop_drop_ran(PyObject *ready, Py_ssize_t count) {
        PyListObject *list = (PyListObject *)ready;
        Py_ssize_t size = Py_SIZE(list), index;
        if (count > size) {
            count = size;
        }
        if (count <= 0) {
            return 0;
        }
        if (list->allocated > 4096 && size - count < (list->allocated >> 3)) {
            return PyList_SetSlice(ready, 0, count, NULL);
        }
        for (index = 0; index < count; index++) {
            if (list->ob_item[index] != Py_None) {
                return PyList_SetSlice(ready, 0, count, NULL);
            }
        }
        if (size - count > 16) {
            memmove(list->ob_item, list->ob_item + count,
                    (size_t)(size - count) * sizeof(PyObject *));
        } else {
            /* What callbacks scheduled for the next iteration: a few. */
            for (index = count; index < size; index++) {
                list->ob_item[index - count] = list->ob_item[index];
            }
        }
        Py_SET_SIZE(list, size - count);
    #if PY_VERSION_HEX < 0x030C0000
        /* None is immortal from 3.12 on. */
        Py_SET_REFCNT(Py_None, Py_REFCNT(Py_None) - count);
    #endif
        return 0;
    }

    /* Empties a list, keeping its item array so that the next appends to
       it need none (list.clear() frees it), unless the array has more than
       kept_max slots: then it is cleared as list.clear() does, so that a
       list a burst grew does not hold its peak. The array is detached while
       the items are let go of, as list.clear() does: code a release runs
       (a weakref callback) that appends to the list gets an array of its
       own, and the kept one is freed instead of put back. */
    static int fastloop_empty_list(PyObject *list, Py_ssize_t kept_max) {
        PyListObject *items = (PyListObject *)list;
        Py_ssize_t index, size = Py_SIZE(items), allocated = items->allocated;
        PyObject **array = items->ob_item;
    #ifdef Py_GIL_DISABLED
        /* A free-threaded build allocates the array behind a header of its
           own (not to be freed with PyMem_Free): always list.clear()'s way. */
        kept_max = -1;
    #endif
        if (allocated > kept_max) {
            return PyList_SetSlice(list, 0, size, NULL);
        }
        items->ob_item = NULL;
        items->allocated = 0;
        Py_SET_SIZE(items, 0);
        for (index = 0; index < size; index++) {
            Py_DECREF(array[index]);
        }
        if (items->ob_item == NULL) {
            items->ob_item = array;
            items->allocated = allocated;
        } else {
            PyMem_Free(array);
        }
        return 0;
    }

    /* list.append(item) into the item array's spare room when it has some,
       as an emptied list (empty_list) does: Cython's inlined append takes
       that path only while the list is more than half full, and otherwise
       calls PyList_Append (about 25 instructions more). */
    static int fastloop_append(PyObject *list, PyObject *item) {
        PyListObject *items = (PyListObject *)list;
        Py_ssize_t size = Py_SIZE(items);
    #ifndef Py_GIL_DISABLED
        if (size < items->allocated) {
            Py_INCREF(item);
            PyList_SET_ITEM(list, size, item);
            Py_SET_SIZE(items, size + 1);
            return 0;
        }
    #endif
        return PyList_Append(list, item);
    }

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
    object take_ready "fastloop_take_ready" (list ready, Py_ssize_t index)
    int empty_list "fastloop_empty_list" (list items, Py_ssize_t kept_max) except -1
    # ``items`` must be a list, not None: the callers' are typed fields.
    int append "fastloop_append" (list items, object item) except -1
    int drop_ran "fastloop_drop_ran" (list ready, Py_ssize_t count) except -1


cdef extern from *:
    """
    /* Scheduler._fd_handles[fd], or None past the list's end: a new
       reference (see Scheduler._watches_of). */
    static PyObject *fastloop_watches_at(PyObject *table, Py_ssize_t fd) {
        PyObject *entry = Py_None;
        if (fd >= 0 && fd < PyList_GET_SIZE(table)) {
            entry = PyList_GET_ITEM(table, fd);
        }
        Py_INCREF(entry);
        return entry;
    }
    """
    # ``table`` is Scheduler._fd_handles (a list, never None); its entries
    # are lists or None.
    list watches_at "fastloop_watches_at" (list table, Py_ssize_t fd)


cdef extern from *:
    """
    /* -- call_soon and call_soon_threadsafe as C methods --------------------
       CPython's C Task calls loop.call_soon(step, context=ctx) at every
       await. Cython's generic argument parsing costs more than the rest of
       call_soon, because the C Task's 'context' keyword is not the interned
       string Cython compares by address. These entries take the two shapes
       every call has, (callback, *args) and context= alone, and pass any
       other (callback= by keyword, an unknown keyword, no callback) to
       Cython's method, which parses it or raises Python's TypeError.
       Compiled into _scheduler alone (modules that cimport this file get
       its C code too). */
    #ifdef __PYX_HAVE__fastloop___scheduler

    typedef PyObject *(*fastloop_schedule_body)(PyObject *loop, PyObject *callback,
                                                PyObject *args, PyObject *context,
                                                int one_arg);

    typedef struct {
        fastloop_schedule_body body;
        PyObject *parsed;  /* Cython's method */
        PyMethodDef def;
    } fastloop_schedule_entry;

    static fastloop_schedule_entry fastloop_call_soon_entry;
    static PyObject *fastloop_empty_tuple = NULL;
    static fastloop_schedule_entry fastloop_call_soon_threadsafe_entry;

    /* The last keyword-name tuple found to be ('context',): the C Task
       passes the same tuple every time, so the strings are compared once. */
    static PyObject *fastloop_context_kwnames = NULL;

    static int fastloop_is_context_alone(PyObject *kwnames) {
        PyObject *name, *previous;
        if (kwnames == fastloop_context_kwnames) {
            return 1;
        }
        if (PyTuple_GET_SIZE(kwnames) != 1) {
            return 0;
        }
        name = PyTuple_GET_ITEM(kwnames, 0);
        if (!PyUnicode_Check(name) || PyUnicode_CompareWithASCIIString(name, "context") != 0) {
            return 0;
        }
        previous = fastloop_context_kwnames;
        Py_INCREF(kwnames);
        fastloop_context_kwnames = kwnames;
        Py_XDECREF(previous);
        return 1;
    }

    static PyObject *fastloop_schedule_parsed(fastloop_schedule_entry *entry, PyObject *self,
                                              PyObject *const *args, Py_ssize_t nargs,
                                              PyObject *kwnames) {
        Py_ssize_t total = nargs + (kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames));
        PyObject **stack, *result;
        stack = (PyObject **)PyMem_Malloc((size_t)(total + 1) * sizeof(PyObject *));
        if (stack == NULL) {
            return PyErr_NoMemory();
        }
        stack[0] = self;
        if (total > 0) {
            memcpy(stack + 1, args, (size_t)total * sizeof(PyObject *));
        }
        result = PyObject_Vectorcall(entry->parsed, stack, (size_t)nargs + 1, kwnames);
        PyMem_Free(stack);
        return result;
    }

    static PyObject *fastloop_schedule(fastloop_schedule_entry *entry, PyObject *self,
                                       PyObject *const *args, Py_ssize_t nargs,
                                       PyObject *kwnames) {
        PyObject *context = Py_None, *rest, *result;
        Py_ssize_t index;
        if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0) {
            if (nargs < 1 || !fastloop_is_context_alone(kwnames)) {
                return fastloop_schedule_parsed(entry, self, args, nargs, kwnames);
            }
            context = args[nargs];
        } else if (nargs < 1) {
            return fastloop_schedule_parsed(entry, self, args, nargs, kwnames);
        }
        if (nargs == 2) {
            /* One argument (a future's callback gets the future): the
               handle keeps it without a tuple. */
            return entry->body(self, args[0], args[1], context, 1);
        }
        if (nargs == 1) {
            /* No argument (a task's step): the empty tuple, kept. */
            return entry->body(self, args[0], fastloop_empty_tuple, context, 0);
        }
        rest = PyTuple_New(nargs - 1);
        if (rest == NULL) {
            return NULL;
        }
        for (index = 1; index < nargs; index++) {
            Py_INCREF(args[index]);
            PyTuple_SET_ITEM(rest, index - 1, args[index]);
        }
        result = entry->body(self, args[0], rest, context, 0);
        Py_DECREF(rest);
        return result;
    }

    static PyObject *fastloop_call_soon(PyObject *self, PyObject *const *args,
                                        Py_ssize_t nargs, PyObject *kwnames) {
        return fastloop_schedule(&fastloop_call_soon_entry, self, args, nargs, kwnames);
    }

    static PyObject *fastloop_call_soon_threadsafe(PyObject *self, PyObject *const *args,
                                                   Py_ssize_t nargs, PyObject *kwnames) {
        return fastloop_schedule(&fastloop_call_soon_threadsafe_entry, self, args, nargs,
                                 kwnames);
    }

    /* type.<name> = a method descriptor for the C entry; Cython's method,
       which was there, serves the other call shapes. */
    static int fastloop_install_schedule(PyTypeObject *type, fastloop_schedule_entry *entry,
                                         const char *name, const char *doc,
                                         PyObject *(*c_function)(PyObject *, PyObject *const *,
                                                                 Py_ssize_t, PyObject *),
                                         fastloop_schedule_body body) {
        PyObject *parsed, *descriptor;
        parsed = PyDict_GetItemString(type->tp_dict, name);
        if (parsed == NULL) {
            PyErr_Format(PyExc_ImportError, "fastloop._scheduler: Scheduler has no %s", name);
            return -1;
        }
        Py_INCREF(parsed);
        entry->parsed = parsed;
        entry->body = body;
        entry->def.ml_name = name;
        entry->def.ml_meth = (PyCFunction)(void (*)(void))c_function;
        entry->def.ml_flags = METH_FASTCALL | METH_KEYWORDS;
        entry->def.ml_doc = doc;
        descriptor = PyDescr_NewMethod(type, &entry->def);
        if (descriptor == NULL) {
            return -1;
        }
        if (PyDict_SetItemString(type->tp_dict, name, descriptor) < 0) {
            Py_DECREF(descriptor);
            return -1;
        }
        Py_DECREF(descriptor);
        PyType_Modified(type);
        return 0;
    }

    static int fastloop_install_call_soon(PyObject *type, fastloop_schedule_body call_soon,
                                          fastloop_schedule_body call_soon_threadsafe) {
        fastloop_empty_tuple = PyTuple_New(0);
        if (fastloop_empty_tuple == NULL) {
            return -1;
        }
        if (fastloop_install_schedule(
                (PyTypeObject *)type, &fastloop_call_soon_entry, "call_soon",
                "call_soon($self, callback, *args, context=None)\\n--\\n\\n"
                "Arrange for a callback to be called as soon as possible.",
                fastloop_call_soon, call_soon) < 0) {
            return -1;
        }
        return fastloop_install_schedule(
            (PyTypeObject *)type, &fastloop_call_soon_threadsafe_entry, "call_soon_threadsafe",
            "call_soon_threadsafe($self, callback, *args, context=None)\\n--\\n\\n"
            "Like call_soon(), but thread-safe.",
            fastloop_call_soon_threadsafe, call_soon_threadsafe);
    }
    #endif  /* __PYX_HAVE__fastloop___scheduler */
    """
    ctypedef object (*schedule_body)(object loop, object callback, object args, object context,
                                     bint one_arg)
    int install_call_soon "fastloop_install_call_soon" (
        object scheduler_type, schedule_body call_soon,
        schedule_body call_soon_threadsafe) except -1


cdef extern from *:
    """
    #ifdef __PYX_HAVE__fastloop___scheduler
    /* The C method `descriptor` (a method_descriptor of a base class) again,
       as a method of subclass `type`. CPython's specialised calls of a C
       method (CALL_METHOD_DESCRIPTOR_FAST and kin) require the instance's
       type to be exactly the method's class: called on a Loop, Scheduler's
       methods fell back to the generic call path every time. */
    static PyObject *fastloop_method_for(PyObject *type, PyObject *descriptor) {
        PyMethodDescrObject *method;
        if (!PyType_Check(type) || !Py_IS_TYPE(descriptor, &PyMethodDescr_Type)) {
            PyErr_SetString(PyExc_TypeError, "method_for(type, method_descriptor)");
            return NULL;
        }
        method = (PyMethodDescrObject *)descriptor;
        if (!PyType_IsSubtype((PyTypeObject *)type, PyDescr_TYPE(method))) {
            PyErr_Format(PyExc_TypeError, "%R is not a subclass of %R's class",
                         type, descriptor);
            return NULL;
        }
        return PyDescr_NewMethod((PyTypeObject *)type, method->d_method);
    }
    #endif  /* __PYX_HAVE__fastloop___scheduler */
    """
    object _method_for "fastloop_method_for" (object type, object descriptor)


cdef class Connection:
    cdef bint _batch_queued
    cdef bint _edge_triggerable

    cdef int _fd_ready(self, bint writable) except -1
    cdef _flush_batch(self)


cdef class ConnectionHandle(Handle):
    cdef Connection _connection
    cdef bint _writable
    cdef bint _edge
    cdef bint _draining
    cdef bint _queued

    @cython.locals(found=int)
    cpdef _run(self)
    cdef _run_again(self)
    cdef _cancel_as(self, bint debug)


cdef class Scheduler:
    cdef dict __dict__
    cdef object __weakref__
    cdef public list _ready
    cdef list _batched_writers
    cdef list _still_ready
    cdef TimerQueue _timers
    cdef Poller _poller
    cdef list _fd_handles
    cdef Py_ssize_t _watched_fds
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
    @cython.locals(instance_attributes=_ObjectPointer)
    cdef double _now(self) except? -1.0
    cdef TimerHandle _schedule_timer(self, double deadline, object when_given, object callback,
                                     object args, object context, str method)
    cdef Handle _add_fd_handle(self, int fd, int slot, object callback, object args, bint once)
    @cython.locals(handle=ConnectionHandle)
    cdef Handle _watch_connection(self, int fd, int slot, Connection connection, object callback)
    @cython.locals(handles=list, other=Handle, mask=int, previous=Handle)
    cdef Handle _install_fd_handle(self, int fd, int slot, Handle handle, bint once)
    @cython.locals(handle=Handle, handles=list)
    cdef bint _remove_fd_handle(self, int fd, int slot, bint reported_once) except -1
    @cython.locals(mask=int)
    cdef int _interest_for(self, Handle reader, Handle writer) except -1
    cdef _note_edges(self, Handle first, Handle second, int mask)
    cdef _rearm_once(self, int fd)
    cdef list _watches_of(self, Py_ssize_t fd)
    @cython.locals(timers=TimerQueue, first=TimerHandle, timeout=double, now=double,
                   poller=Poller, count=int, index=int, ready=list, todo=Py_ssize_t,
                   done=Py_ssize_t, entry=object, compiled=bint)
    cdef _iterate(self)
    @cython.locals(handles=list, reader=Handle, writer=Handle)
    cdef _dispatch_io(self, int fd, int mask)
    @cython.locals(data=bytes, signum=int)
    cdef _drain_self_pipe(self)
    @cython.locals(still_ready=list, handle=ConnectionHandle)
    cdef _report_still_ready(self)
    @cython.locals(count=Py_ssize_t)
    cdef bytes _read_self_pipe(self)
    cdef _run_timed(self, object handle)
    @cython.locals(index=Py_ssize_t, entry=_ObjectPointer)
    cdef _show_held_handles(self)
    @cython.locals(writers=list, done=Py_ssize_t, writer=Connection)
    cdef _flush_batches(self)


cdef extern from *:
    """
    #ifdef __PYX_HAVE__fastloop___scheduler
    /* loop._ready.append(handle), then handle: what call_soon returns.
       ``handle`` is a reference the caller lets go of right after; the two
       it gains (the list's, the one returned) are written as one count,
       which that release then reads: on 3.12 and 3.13 an increment writes
       half of the count's word (see fastloop_add_references in
       _handles.pxd). A macro: Scheduler's struct is defined after this
       code. */
    static PyObject *fastloop_queue_in(PyObject *ready, PyObject *handle) {
        PyListObject *list = (PyListObject *)ready;
        PyObject *appended;
        Py_ssize_t size;
        if (!PyList_CheckExact(ready)) {
            /* None set by Python code: asyncio's AttributeError. */
            appended = PyObject_CallMethod(ready, "append", "O", handle);
            if (appended == NULL) {
                return NULL;
            }
            Py_DECREF(appended);
            Py_INCREF(handle);
            return handle;
        }
        size = Py_SIZE(list);
        if (size >= list->allocated) {
            if (PyList_Append(ready, handle) < 0) {
                return NULL;
            }
            Py_INCREF(handle);
            return handle;
        }
        fastloop_add_references(handle, 2);
        PyList_SET_ITEM(ready, size, handle);
        Py_SET_SIZE(list, size + 1);
        return handle;
    }
    #define fastloop_queue_handle(loop, handle) fastloop_queue_in((loop)->_ready, (handle))
    #endif  /* __PYX_HAVE__fastloop___scheduler */
    """
    object queue_handle "fastloop_queue_handle" (Scheduler loop, object handle)


cdef object _SCHEDULER_TIME

cdef object _call_soon_body(object loop, object callback, object args, object context,
                            bint one_arg)
cdef object _call_soon_threadsafe_body(object loop, object callback, object args,
                                       object context, bint one_arg)


cdef traverseproc _cython_traverse
@cython.locals(ready=_ObjectPointer, index=Py_ssize_t, result=int)
cdef int _traverse_scheduler(PyObject *scheduler, visitproc visit, void *arg) noexcept
@cython.locals(scheduler_type=_TypeGCSlotsPointer)
cdef _extend_gc_slots()

cdef bint _allows_edges(object watch) except -1
