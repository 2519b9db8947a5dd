# SocketOperations stays a Python class (Loop mixes it in); compiling the
# module makes its methods and callbacks C functions, and lets them call the
# socket primitives and the scheduler's fd watches without a Python call.
from ._handles cimport Handle
from ._scheduler cimport Scheduler
from ._stream_core cimport recv_bytes, recv_into, send_some

cdef int _READER
cdef int _WRITER

cdef _check_socket(Scheduler loop, object sock)
cdef object _fd_to_watch(object loop, object sock)
cdef Handle _watch(Scheduler loop, int fd, int slot, object callback, tuple args, bint once)
cdef _unwatch(Scheduler loop, int fd, int slot, Handle handle, object future)
cdef _rearm(Scheduler loop, int fd)
