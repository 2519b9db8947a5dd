cimport cython
from cpython.object cimport Py_TPFLAGS_HAVE_GC, PyObject

from cpython.contextvars cimport PyContext_New


cdef extern from "Python.h":
    # Copied contexts are hidden from the garbage collector (see "hidden
    # from the garbage collector" in _handles.py).
    void PyObject_GC_UnTrack(object obj)

    # The GC slots of a type, declared here as C has them (cpython.object's
    # declarations give them exception specifications a slot cannot have).
    ctypedef int (*visitproc)(PyObject *, void *) noexcept
    ctypedef int (*traverseproc)(PyObject *, visitproc, void *) noexcept
    ctypedef int (*inquiry)(PyObject *) noexcept
    ctypedef void (*destructor)(PyObject *) noexcept
    ctypedef struct _TypeGCSlots "PyTypeObject":
        unsigned long tp_flags
        traverseproc tp_traverse
        inquiry tp_clear
        destructor tp_dealloc
    # Borrowed-pointer forms, for tp_traverse code (which must not change a
    # reference count, not even for a moment).
    Py_ssize_t _refcount "Py_REFCNT" (PyObject *obj)
    int _gc_is_tracked "PyObject_GC_IsTracked" (PyObject *obj)
    _TypeGCSlots *_gc_slots "Py_TYPE" (PyObject *obj)
    PyObject *_type_pointer "(PyObject *)Py_TYPE" (PyObject *obj)
    void _gc_track "PyObject_GC_Track" (PyObject *obj)
    bint _is_exact_context "PyContext_CheckExact" (PyObject *obj)

    # Handle._run's C calls, their errors checked by hand (see _run).
    # Entering the handle's context directly saves building a Context.run
    # call per callback; PyContext_Enter fails on a context already entered,
    # as Context.run does.
    bint _is_exact_tuple "PyTuple_CheckExact" (object obj)
    int _enter_context "PyContext_Enter" (object context) noexcept
    int _exit_context "PyContext_Exit" (object context) noexcept
    void _release "Py_XDECREF" (PyObject *obj)

# Empty contexts (see "empty contexts" in _handles.py), in C: the spare
# changes hands by moving a reference, without reference-count writes that
# are read back at once (3.12+ increments the low 32 bits of the count and
# decrements the whole word: a narrow store read back as a wide load stalls
# until the store is done).
cdef extern from *:
    """
    /* ``obj``'s reference count changed by ``count`` in one write of the
       whole count, for a holder that lets go of a reference right after
       (the stall above); never to zero. Debug builds count each reference
       in their total too. Compiled into every module that cimports this
       file: _scheduler queues handles with it. */
    static inline void fastloop_add_references(PyObject *obj, Py_ssize_t count) {
    #ifdef Py_REF_DEBUG
        for (; count > 0; count--) {
            Py_INCREF(obj);
        }
        for (; count < 0; count++) {
            Py_DECREF(obj);
        }
    #else
        Py_SET_REFCNT(obj, Py_REFCNT(obj) + count);
    #endif
    }

    #ifdef __PYX_HAVE__fastloop___handles
    static Py_ssize_t fastloop_context_length(PyObject *context) {
        return PyContext_Type.tp_as_mapping->mp_length(context);
    }

    /* A copy of this thread's current context (a new reference, NULL with
       an error set on failure), or None where the copy would be empty. A
       thread that never touched a context variable has none yet (NULL). */
    static PyObject *fastloop_copy_current_context_unless_empty(void) {
        PyObject *context = PyThreadState_Get()->context;
        if (context == NULL
                || (PyContext_CheckExact(context) && fastloop_context_length(context) == 0)) {
            Py_RETURN_NONE;
        }
        return PyContext_Copy(context);
    }

    /* Whether nothing but ``references`` known holders can reach an exact
       context, and nothing is set in it: no other reference, no weak
       reference (through which one could be taken later). */
    static int fastloop_context_is_pristine(PyObject *context, Py_ssize_t references) {
        Py_ssize_t weaklist_offset = Py_TYPE(context)->tp_weaklistoffset;
        if (!PyContext_CheckExact(context) || Py_REFCNT(context) != references) {
            return 0;
        }
        if (weaklist_offset < 0
                || (weaklist_offset > 0
                    && *(PyObject **)((char *)context + weaklist_offset) != NULL)) {
            return 0;
        }
        return fastloop_context_length(context) == 0;
    }

    /* A reference the module owns, or NULL while a callback runs in it. */
    static PyObject *fastloop_spare_context = NULL;

    /* A new reference to an empty context, NULL with an error set on
       failure: the spare's own reference, handed over, or a new context. */
    static PyObject *fastloop_take_empty_context(void) {
        PyObject *context = fastloop_spare_context;
        if (context == NULL) {
            return PyContext_New();
        }
        fastloop_spare_context = NULL;
        return context;
    }

    /* Keep ``context`` as the spare, with a reference of the module's own,
       if there is no spare and the context is pristine with ``references``
       holders: 1 if kept. (The holders let go of theirs right after.) */
    static int fastloop_keep_spare_context(PyObject *context, Py_ssize_t references) {
        if (fastloop_spare_context != NULL
                || !fastloop_context_is_pristine(context, references)) {
            return 0;
        }
        fastloop_add_references(context, 1);
        fastloop_spare_context = context;
        return 1;
    }

    /* At module init: an interpreter finalized and made again (embedding)
       imports the module again, and the old spare died with the old one. */
    static void fastloop_forget_spare_context(void) {
        fastloop_spare_context = NULL;
    }

    /* The reference ``owned`` as Cython's: Cython takes what a function
       declared to return an object returns as a new reference. */
    static PyObject *fastloop_as_owned(PyObject *owned) {
        return owned;
    }
    #endif  /* __PYX_HAVE__fastloop___handles */
    """
    object _copy_current_context_unless_empty "fastloop_copy_current_context_unless_empty" ()
    PyObject *_take_empty_context "fastloop_take_empty_context" () noexcept
    bint _keep_spare_context "fastloop_keep_spare_context" (
        PyObject *context, Py_ssize_t references) noexcept
    void _forget_spare_context "fastloop_forget_spare_context" () noexcept
    object _as_owned "fastloop_as_owned" (PyObject *owned)

cdef extern from *:
    """
    /* callable(*args), NULL with an error set on failure: a vectorcall on
       the tuple's items where the callable has one (functions, bound
       methods), else tp_call (the C Task's step). Without PyObject_Call's
       thread-state lookup and recursion check: the loop calls handles from
       its own shallow stack, never recursively. */
    static PyObject *fastloop_checked_result(PyObject *callable, PyObject *result);

    static PyObject *fastloop_call_with_tuple(PyObject *callable, PyObject *args) {
        vectorcallfunc vectorcall = PyVectorcall_Function(callable);
        if (vectorcall != NULL) {
            return fastloop_checked_result(
                callable, vectorcall(callable, ((PyTupleObject *)args)->ob_item,
                                     (size_t)PyTuple_GET_SIZE(args), NULL));
        }
        if (Py_TYPE(callable)->tp_call != NULL) {
            return fastloop_checked_result(
                callable, Py_TYPE(callable)->tp_call(callable, args, NULL));
        }
        /* Not callable: PyObject_Call raises asyncio's TypeError. */
        return PyObject_Call(callable, args, NULL);
    }

    /* callable(arg), the same way, without an argument tuple where the
       callable has a vectorcall (a bound method may use the slot before
       the argument for its self). */
    static PyObject *fastloop_call_one(PyObject *callable, PyObject *arg) {
        vectorcallfunc vectorcall = PyVectorcall_Function(callable);
        PyObject *stack[2];
        if (vectorcall != NULL) {
            stack[0] = NULL;
            stack[1] = arg;
            return fastloop_checked_result(
                callable, vectorcall(callable, stack + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                     NULL));
        }
        return PyObject_CallOneArg(callable, arg);
    }

    /* What PyObject_Call checks, so that a faulty C callable is blamed
       itself, not whatever code runs next. */
    static PyObject *fastloop_checked_result(PyObject *callable, PyObject *result) {
        if (result == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_SystemError,
                             "%R returned NULL without setting an exception", callable);
            }
        } else if (PyErr_Occurred()) {
            Py_DECREF(result);
            PyErr_Format(PyExc_SystemError, "%R returned a result with an exception set",
                         callable);
            return NULL;
        }
        return result;
    }

    /* For a cdef function's error path: the error a C call left pending is
       raised where this is called. */
    static int fastloop_raise_pending(void) {
        return -1;
    }
    """
    int _raise_pending "fastloop_raise_pending" () except -1
    PyObject *_call_object "fastloop_call_with_tuple" (object callable, object args)
    PyObject *_call_one "fastloop_call_one" (object callable, object arg)

ctypedef _TypeGCSlots *_TypeGCSlotsPointer
ctypedef PyObject *_ObjectPointer

# Where many handles run one after another in an order unrelated to where
# they sit in memory (timers, by deadline), each would be a wait on memory:
# the timer queue and the ready queue start loading the next one early.
cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define fastloop_prefetch(address) __builtin_prefetch(address)
    #else
    #define fastloop_prefetch(address) ((void)0)
    #endif
    """
    # A hint that ``address`` will be read soon: start loading it into the cache.
    void prefetch "fastloop_prefetch" (const void *address) noexcept


# Handle's and TimerHandle's allocators: Handle's freelist, and handles and
# timers born untracked for the ready queue and the timer heap (see "hidden
# from the garbage collector" in _handles.py).
cdef extern from *:
    """
    /* State and slot functions of _handles alone: modules that cimport
       this file get its C code too, but not these (they only need
       fastloop_show_if_held). */
    #ifdef __PYX_HAVE__fastloop___handles
    #define FASTLOOP_HANDLE_FREELIST_SIZE 65536

    static PyTypeObject *fastloop_handle_type = NULL;
    static PyTypeObject *fastloop_timer_type = NULL;
    static PyObject *fastloop_handle_freelist[FASTLOOP_HANDLE_FREELIST_SIZE];
    static int fastloop_handle_freecount = 0;
    /* Handles that ran and that nothing else held, kept alive for reuse
       (see "ran handles" in _handles.py): untracked, every object field
       None, each with a reference the array owns. With the freelist they
       keep at most FASTLOOP_HANDLE_FREELIST_SIZE handles between them. */
    static PyObject *fastloop_ran_handles[FASTLOOP_HANDLE_FREELIST_SIZE];
    static int fastloop_ran_handle_count = 0;
    /* Set by new_queued_handle and new_timer just before the allocation
       they make, which consumes it. */
    static int fastloop_handle_untracked = 0;

    /* PyType_GenericAlloc without the tracking, for an exact Handle or
       TimerHandle (no managed dict, no items). */
    static PyObject *fastloop_alloc_untracked(PyTypeObject *type) {
        PyObject *obj = _PyObject_GC_New(type);
        if (obj != NULL) {
            memset((char *)obj + sizeof(PyObject), 0,
                   (size_t)type->tp_basicsize - sizeof(PyObject));
        }
        return obj;
    }

    /* The flag is consumed by the first allocation after it was set, the
       one it was set for: whatever else allocates later (a collection that
       an allocation runs, code after a failed one) gets tracked objects. */
    static int fastloop_take_untracked(void) {
        int untracked = fastloop_handle_untracked;
        fastloop_handle_untracked = 0;
        return untracked;
    }

    static PyObject *fastloop_handle_alloc(PyTypeObject *type, Py_ssize_t nitems) {
        PyObject *handle;
        int untracked = fastloop_take_untracked();
        if (type != fastloop_handle_type) {
            return PyType_GenericAlloc(type, nitems);
        }
        if (fastloop_handle_freecount > 0) {
            handle = fastloop_handle_freelist[--fastloop_handle_freecount];
            memset(handle, 0, (size_t)type->tp_basicsize);
            (void)PyObject_Init(handle, type);
            if (!untracked) {
                PyObject_GC_Track(handle);
            }
            return handle;
        }
        if (untracked) {
            return fastloop_alloc_untracked(type);
        }
        return PyType_GenericAlloc(type, nitems);
    }

    /* Whether the freelist and the kept handles, which share one bound,
       have room for one more. */
    static int fastloop_room_for_a_handle(void) {
        return fastloop_handle_freecount + fastloop_ran_handle_count
            < FASTLOOP_HANDLE_FREELIST_SIZE;
    }

    /* tp_free: Cython's tp_dealloc has untracked the handle and cleared
       its fields. */
    static void fastloop_handle_free(void *memory) {
        PyObject *handle = (PyObject *)memory;
        if (Py_TYPE(handle) == fastloop_handle_type && fastloop_room_for_a_handle()) {
            fastloop_handle_freelist[fastloop_handle_freecount++] = handle;
            return;
        }
        PyObject_GC_Del(memory);
    }

    /* Whether ``handle``, which left the ready queue and whose one
       reference the caller holds, may be kept for reuse: an exact Handle
       that nothing else holds, not even weakly, with room to keep it. */
    static int fastloop_can_keep_ran_handle(PyObject *handle) {
        return Py_TYPE(handle) == fastloop_handle_type && Py_REFCNT(handle) == 1
            && *(PyObject **)((char *)handle + fastloop_handle_type->tp_weaklistoffset) == NULL
            && fastloop_room_for_a_handle();
    }

    /* Keeps ``handle``, emptied (fastloop_empty_and_keep), with a reference
       of the array's own. (The caller lets go of its reference right
       after.) */
    static void fastloop_keep_ran_handle(PyObject *handle) {
        if (PyObject_GC_IsTracked(handle)) {
            PyObject_GC_UnTrack(handle);
        }
        fastloop_add_references(handle, 1);
        fastloop_ran_handles[fastloop_ran_handle_count++] = handle;
    }

    /* A kept handle, the array's reference handed over, or NULL. */
    static PyObject *fastloop_take_ran_handle(void) {
        if (fastloop_ran_handle_count == 0) {
            return NULL;
        }
        return fastloop_ran_handles[--fastloop_ran_handle_count];
    }

    /* At module init: an interpreter finalized and made again (embedding)
       imports the module again; what the arrays held died with the old one. */
    static void fastloop_forget_kept_handles(void) {
        fastloop_ran_handle_count = 0;
        fastloop_handle_freecount = 0;
    }

    /* Timers keep no freelist (see docs/architecture.md). */
    static PyObject *fastloop_timer_alloc(PyTypeObject *type, Py_ssize_t nitems) {
        if (fastloop_take_untracked() && type == fastloop_timer_type) {
            return fastloop_alloc_untracked(type);
        }
        return PyType_GenericAlloc(type, nitems);
    }

    static int fastloop_install_handle_allocators(PyObject *handle_object,
                                                  PyObject *timer_object) {
        PyTypeObject *handle_type = (PyTypeObject *)handle_object;
        PyTypeObject *timer_type = (PyTypeObject *)timer_object;
        if (handle_type->tp_alloc != PyType_GenericAlloc || handle_type->tp_free != PyObject_GC_Del
                || timer_type->tp_alloc != PyType_GenericAlloc
                || timer_type->tp_free != PyObject_GC_Del
                || ((handle_type->tp_flags | timer_type->tp_flags) & Py_TPFLAGS_HEAPTYPE)
                || handle_type->tp_itemsize != 0 || timer_type->tp_itemsize != 0
                || handle_type->tp_dictoffset != 0 || timer_type->tp_dictoffset != 0) {
            PyErr_SetString(PyExc_ImportError,
                            "fastloop._handles: Handle's allocator is not as expected");
            return -1;
        }
        if (handle_type->tp_weaklistoffset <= 0) {
            PyErr_SetString(PyExc_ImportError,
                            "fastloop._handles: Handle keeps no weak references");
            return -1;
        }
        fastloop_handle_type = handle_type;
        fastloop_timer_type = timer_type;
        handle_type->tp_alloc = fastloop_handle_alloc;
        handle_type->tp_free = fastloop_handle_free;
        timer_type->tp_alloc = fastloop_timer_alloc;
        return 0;
    }
    #endif  /* __PYX_HAVE__fastloop___handles */

    /* Track a hidden handle or timer that someone besides its one known
       holder (the caller's reference, or the queue's) still holds. */
    static void fastloop_show_if_held(PyObject *handle) {
        if (Py_REFCNT(handle) > 1 && !PyObject_GC_IsTracked(handle)) {
            PyObject_GC_Track(handle);
        }
    }
    """
    int _install_handle_allocators "fastloop_install_handle_allocators" (
        object handle_type, object timer_type) except -1
    int _handle_untracked "fastloop_handle_untracked"
    bint _can_keep_ran_handle "fastloop_can_keep_ran_handle" (PyObject *handle) noexcept
    PyObject *_take_ran_handle "fastloop_take_ran_handle" () noexcept
    void _forget_kept_handles "fastloop_forget_kept_handles" () noexcept
    int _ran_handle_count "fastloop_ran_handle_count"
    int _free_handle_count "fastloop_handle_freecount"
    void show_if_held "fastloop_show_if_held" (PyObject *handle) noexcept


cdef class Handle:
    cdef public object _callback
    # The callback's arguments: a tuple, or (compiled, when _one_arg) the
    # one argument itself, without a tuple. Python sees _args, a property.
    cdef object _arguments
    # The context, or (compiled) None for an empty one not made yet (see
    # "empty contexts" in _handles.py); Python sees _context, a read-only
    # property: a hidden context must not be let go of behind the handle's
    # back (see "hidden from the garbage collector").
    cdef object _context_if_made
    cdef bint _context_hidden
    cdef bint _one_arg  # in _context_hidden's padding: the handle stays 96 bytes
    cdef public object _loop
    cdef public bint _cancelled
    cdef public object _source_traceback
    cdef public object _repr
    cdef object __weakref__

    @cython.locals(result=_ObjectPointer, empty=bint, spare=_ObjectPointer)
    cpdef _run(self)
    cdef _cancel_as(self, bint debug)


cdef extern from *:
    """
    /* Emptying a ran handle for reuse and filling a kept one in (see "ran
       handles" in _handles.py), in C: Cython's stores count a reference up
       and down per field. The functions reach the handle's fields through
       pointers, made by fastloop_fields_of where Handle's struct (defined
       after this code) is known. _handles alone uses them. */
    #ifdef __PYX_HAVE__fastloop___handles
    typedef struct {
        PyObject **callback, **arguments, **context, **loop, **repr, **source_traceback;
        int *one_arg, *cancelled;
    } fastloop_handle_fields;

    #define fastloop_fields_of(handle) ((fastloop_handle_fields){            \
        &(handle)->_callback, &(handle)->_arguments, &(handle)->_context_if_made, \
        &(handle)->_loop, &(handle)->_repr, &(handle)->_source_traceback,     \
        &(handle)->_one_arg, &(handle)->_cancelled})

    #if PY_VERSION_HEX >= 0x030C0000
    #define fastloop_none_references(count) ((void)0)  /* None is immortal */
    #else
    #define fastloop_none_references(count) fastloop_add_references(Py_None, (count))
    #endif

    /* None in *field, and what was there before, whose reference the caller
       now holds. */
    static inline PyObject *fastloop_take_field(PyObject **field) {
        PyObject *value = *field;
        *field = Py_None;
        fastloop_none_references(1);
        return value;
    }

    /* Empties ``handle`` (every object field None) and keeps it, with a
       reference of the kept array's own, then lets go of what it held:
       only then, as that may run code (a finalizer) that schedules a
       callback, and so takes this very handle again. The caller checked
       fastloop_can_keep_ran_handle and showed a hidden context. */
    static void fastloop_empty_and_keep(PyObject *handle, fastloop_handle_fields fields) {
        PyObject *callback = fastloop_take_field(fields.callback);
        PyObject *arguments = fastloop_take_field(fields.arguments);
        PyObject *context = fastloop_take_field(fields.context);
        PyObject *loop = fastloop_take_field(fields.loop);
        /* Set in debug mode only. */
        PyObject *repr = *fields.repr == Py_None ? NULL : fastloop_take_field(fields.repr);
        PyObject *source_traceback = *fields.source_traceback == Py_None
            ? NULL : fastloop_take_field(fields.source_traceback);
        *fields.one_arg = 0;
        fastloop_keep_ran_handle(handle);
        Py_DECREF(callback);
        Py_DECREF(arguments);
        Py_DECREF(context);
        Py_DECREF(loop);
        Py_XDECREF(repr);
        Py_XDECREF(source_traceback);
    }

    /* What _init_handle does for a kept handle given its context, outside
       debug mode (the usual case: a task's step, a future's callback): its
       object fields are None. Returns the handle, with the reference the
       kept array had. */
    static PyObject *fastloop_fill_fields(
            PyObject *handle, fastloop_handle_fields fields, PyObject *callback,
            PyObject *arguments, PyObject *context, PyObject *loop, int one_arg) {
        Py_INCREF(callback);
        Py_INCREF(arguments);
        Py_INCREF(context);
        Py_INCREF(loop);
        *fields.callback = callback;
        *fields.arguments = arguments;
        *fields.context = context;
        *fields.loop = loop;
        fastloop_none_references(-4);
        *fields.one_arg = one_arg;
        *fields.cancelled = 0;
        return handle;
    }

    #define fastloop_empty_and_keep_handle(handle) \
        fastloop_empty_and_keep((PyObject *)(handle), fastloop_fields_of(handle))
    #define fastloop_fill_kept_handle(handle, callback, arguments, context, loop, one_arg) \
        fastloop_fill_fields((PyObject *)(handle), fastloop_fields_of(handle), (callback), \
                             (arguments), (context), (loop), (one_arg))
    #endif  /* __PYX_HAVE__fastloop___handles */
    """
    void _empty_and_keep "fastloop_empty_and_keep_handle" (Handle handle) noexcept
    Handle _fill_kept_handle "fastloop_fill_kept_handle" (
        Handle handle, object callback, object arguments, object context, object loop,
        bint one_arg)
    # fastloop_as_owned for a kept handle: typed, so no type test is made.
    Handle _as_owned_handle "fastloop_as_owned" (PyObject *owned)


# Timers keep no freelist (Cython keeps one for a base class only). Moving
# these fields into Handle, so that timers could share its freelist, was
# measured slower: every handle grew by 24 bytes (see docs/architecture.md).
cdef class TimerHandle(Handle):
    # asyncio's _when, _scheduled and _sequence (properties, in _handles.py);
    # _when is _when_given where set (see "deadlines").
    cdef double _deadline
    cdef object _when_given
    cdef bint _in_heap
    cdef unsigned long long _order


cdef unsigned long long _timer_sequence
cdef object _context_of(Handle handle)

@cython.locals(duplicate=Handle)
cdef Handle _copy_handle(Handle handle)
cdef void _copy_timer_fields(TimerHandle timer, TimerHandle duplicate) noexcept
cdef _reinit_check(Handle handle)
cdef _report_raised(Handle handle)
cdef int _init_handle(Handle handle, object callback, object args, object loop,
                      object context, bint debug, bint one_arg=*) except -1
@cython.locals(deadline=double)
cpdef double deadline_of(object when) except? -1.0
cdef int _init_timer(TimerHandle timer, double deadline, object when_given,
                     object callback, object args, object loop, object context,
                     bint debug) except -1
@cython.locals(handle=Handle)
cpdef Handle new_handle(object callback, object args, object loop, object context, bint debug)
cpdef TimerHandle new_timer(double deadline, object when_given, object callback,
                            object args, object loop, object context, bint debug)
@cython.locals(handle=Handle, kept=_ObjectPointer)
cpdef Handle new_queued_handle(object callback, object args, object loop, object context,
                               bint debug, bint one_arg=*)
cpdef void leave_queue(Handle handle) noexcept
cdef void release_ran(Handle handle) noexcept
@cython.locals(context=_ObjectPointer)
cdef void _reveal_context(PyObject *handle) noexcept
cdef bint hideable(PyObject *handle) noexcept
cdef int traverse_queued(PyObject *handle, visitproc visit, void *arg) noexcept

cdef traverseproc _cython_traverse, _cython_timer_traverse
cdef inquiry _cython_clear, _cython_timer_clear
cdef destructor _cython_dealloc, _cython_timer_dealloc
@cython.locals(result=int)
cdef int _traverse_handle(PyObject *handle, visitproc visit, void *arg) noexcept
@cython.locals(result=int)
cdef int _traverse_timer(PyObject *handle, visitproc visit, void *arg) noexcept
@cython.locals(context=_ObjectPointer)
cdef int _traverse_hidden_context(PyObject *handle, visitproc visit, void *arg) noexcept
cdef int _clear_handle(PyObject *handle) noexcept
cdef int _clear_timer(PyObject *handle) noexcept
cdef void _dealloc_handle(PyObject *handle) noexcept
cdef void _dealloc_timer(PyObject *handle) noexcept
@cython.locals(handle_type=_TypeGCSlotsPointer, timer_type=_TypeGCSlotsPointer)
cdef _extend_gc_slots()
