cimport cython
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.errno cimport EEXIST, EINTR, ENOENT, ENOSYS, errno
from libc.stdint cimport uint32_t, uint64_t
from posix.unistd cimport close

cdef extern from "_epoll_compat.h" nogil:
    ctypedef union epoll_data_t:
        void *ptr
        int fd
        uint32_t u32
        uint64_t u64

    cdef struct epoll_event:
        uint32_t events
        epoll_data_t data

    int EPOLL_CLOEXEC
    int EPOLL_CTL_ADD
    int EPOLL_CTL_MOD
    int EPOLL_CTL_DEL
    uint32_t EPOLLET
    uint32_t EPOLLRDHUP
    uint32_t EPOLLPRI

    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *event)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)


cdef int ONESHOT
cdef int _EDGE
cdef int _DRAIN
cdef int _DRAIN_EVENTS
cdef int _READABLE
cdef int _WRITABLE
cdef double MAXIMUM_TIMEOUT

@cython.locals(mask=int)
cdef int _mask_from_epoll(uint32_t events)


# Final (no subclasses, direct calls to its cdef methods): declared in _poller.py,
# where Cython applies class decorators.
cdef class Poller:
    cdef dict _interest
    cdef list _ready
    cdef object _selector
    cdef object _epoll
    cdef int _epfd
    cdef epoll_event *_events
    cdef int _capacity
    cdef bint _closed
    # Whether EDGE is honoured (compiled, on epoll).
    cdef readonly bint edges

    @cython.locals(events=cython.p_void)
    cdef _grow(self, int capacity)
    cpdef set_interest(self, int fd, int mask)
    cdef arm_once(self, int fd, int mask)
    cdef rearm(self, int fd)
    @cython.locals(mask=int)
    cdef keep_disarmed(self, int fd)
    cdef _register(self, int fd, int old_mask, int mask)
    @cython.locals(op=int, event=epoll_event)
    cdef _epoll_ctl(self, int fd, int old_mask, int mask)
    cdef _select_epoll_set(self, int fd, int old_mask, int mask)
    cdef _selector_set(self, int fd, int old_mask, int mask)
    @cython.locals(milliseconds=int, scaled=double, count=int)
    cpdef int poll(self, double timeout) except -1
    cdef int event_fd(self, int index)
    cdef int event_mask(self, int index)
    cpdef close(self)
