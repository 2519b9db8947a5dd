# SocketOperations stays a Python class (Loop mixes it in); compiling the
# module makes its methods and callbacks C functions, and lets them call the
# socket primitives and the scheduler's fd watches without a Python call.
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer

from ._handles cimport Handle
from ._scheduler cimport Scheduler
from ._stream_core cimport recv_bytes, recv_into, send_some, socket_fileno

cdef type _SOCKET_TYPE
cdef int _READER
cdef int _WRITER

cdef _check_socket(Scheduler loop, object sock)
@cython.locals(view=Py_buffer, count=Py_ssize_t)
cdef Py_ssize_t _byte_count(object data) except -1
cdef object _fd_to_watch(object loop, object sock)
cdef Handle _watch(Scheduler loop, int fd, int slot, object callback, tuple args, bint once)
cdef _unwatch(Scheduler loop, int fd, int slot, Handle handle, object future)
cdef _rearm(Scheduler loop, int fd)
@cython.locals(count=Py_ssize_t)
cpdef _read_when_ready(object loop, int fd, object future, object sock, object argument,
                       bint into)
