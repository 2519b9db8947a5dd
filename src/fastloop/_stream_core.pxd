cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport (
    PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE)
from cpython.memoryview cimport PyMemoryView_FromObject, PyMemoryView_GET_BUFFER
from libc.errno cimport EAGAIN, EBADF, EINTR, errno
from libc.string cimport memset
from posix.uio cimport iovec

from ._scheduler cimport Connection, Scheduler, append, empty_list


cdef extern from *:
    """
    /* Whether a memoryview was released: its buffer then still points at
       memory it no longer keeps alive. */
    static int fastloop_view_released(PyObject *view) {
        return (((PyMemoryViewObject *)view)->flags & _Py_MEMORYVIEW_RELEASED) != 0;
    }
    """
    bint _view_released "fastloop_view_released" (object view)


cdef extern from "_socket_compat.h" nogil:
    ctypedef int socklen_t

    cdef struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags

    int MSG_NOSIGNAL
    int MSG_DONTWAIT
    int EWOULDBLOCK

    # The head of CPython's socket object (see _socket_compat.h).
    ctypedef struct fastloop_socket_head:
        int sock_fd
        long long sock_timeout

    ssize_t recv(int fd, void *buf, size_t len, int flags)
    ssize_t send(int fd, const void *buf, size_t len, int flags)
    ssize_t sendmsg(int fd, const msghdr *message, int flags)

# For @cython.locals, where cython.pointer(...) is not accepted.
ctypedef fastloop_socket_head *SocketHead


cdef extern from *:
    """
    #define FASTLOOP_MAX_READ (256 * 1024)
    #ifdef __PYX_HAVE__fastloop___stream_core
    /* recv() into bytes. Reads land in a bytes object of MAX_READ bytes
       kept for the purpose (one for the process, used under the GIL). A
       read is handed out in that very object, shrunk to size, and the next
       read makes a new one (from the heap's top, where the shrunk object
       gave back the rest): no copy. Only a read whose bytes object fits
       pymalloc's small blocks (512 bytes, header included) is copied out
       instead and the object kept: such a block costs less than a large
       one. Returns the bytes; or None, *code set to errno, when recv()
       failed; or NULL with a Python error set. */
    #define FASTLOOP_HANDED_READ_MIN (512 - (Py_ssize_t)offsetof(PyBytesObject, ob_sval))
    static PyObject *fastloop_read_target = NULL;

    /* At module init: an interpreter finalized and made again (embedding)
       imports the module again, and the old target died with the old one. */
    static void fastloop_forget_read_target(void) {
        fastloop_read_target = NULL;
    }

    static PyObject *fastloop_recv_bytes(int fd, Py_ssize_t size, int *code) {
        PyObject *data;
        Py_ssize_t count;
        if (fastloop_read_target == NULL) {
            /* Before the first target, one block of its size made and
               freed: glibc maps a block this large with mmap until it has
               freed one, and only then serves such blocks from its heap.
               Otherwise every read handed out in a fresh process would cost
               an mmap, an mremap, a munmap and a page fault per page (a
               shrunk block freed does not count). What a process that ever
               read 256 KiB at once (asyncio's sock.recv) has done already. */
            static int settled = 0;
            if (!settled) {
                PyObject *block = PyBytes_FromStringAndSize(NULL, FASTLOOP_MAX_READ);
                if (block == NULL) {
                    return NULL;
                }
                Py_DECREF(block);
                settled = 1;
            }
            fastloop_read_target = PyBytes_FromStringAndSize(NULL, FASTLOOP_MAX_READ);
            if (fastloop_read_target == NULL) {
                return NULL;
            }
        }
        count = recv(fd, PyBytes_AS_STRING(fastloop_read_target), (size_t)size, MSG_DONTWAIT);
        if (count < 0) {
            *code = errno;
            Py_RETURN_NONE;
        }
        if (count < FASTLOOP_HANDED_READ_MIN) {
            return PyBytes_FromStringAndSize(PyBytes_AS_STRING(fastloop_read_target), count);
        }
        data = fastloop_read_target;
        fastloop_read_target = NULL;
        /* On failure _PyBytes_Resize frees data and sets a MemoryError. */
        if (count < FASTLOOP_MAX_READ && _PyBytes_Resize(&data, count) < 0) {
            return NULL;
        }
        return data;
    }
    #endif  /* __PYX_HAVE__fastloop___stream_core */
    """
    int FASTLOOP_MAX_READ
    # size: 0 <= size <= FASTLOOP_MAX_READ, checked by the caller.
    object _recv_into_bytes "fastloop_recv_bytes" (int fd, Py_ssize_t size, int *code)
    void _forget_read_target "fastloop_forget_read_target" ()


cdef Py_ssize_t MAX_READ
cdef int DID_NOTHING
cdef int DID_SOME
cdef int MAY_DO_MORE
cdef Py_ssize_t _MAX_IOVECS
cdef iovec _vectors[64]

cdef Py_ssize_t _COPIED_VIEW_MAX
cdef Py_ssize_t _KEPT_BUFFER_SLOTS
cdef object _as_bytes(object data)
# Their Py_buffer pointers are inferred (cython.pointer(Py_buffer) is not
# accepted here).
@cython.locals(exporter=cython.p_void)
cdef bint _flat_view_of_bytes(object view) noexcept
cdef void _point_at(iovec *vector, object data) noexcept
cdef object _os_error(int code)
@cython.locals(head=SocketHead, fd=int)
cdef int _direct_fd(object sock) except -2
cdef bint _socket_head_matches() except -1
@cython.locals(head=SocketHead)
cdef bint _socket_head_agrees(object sock) except -1
cdef type _SOCKET_TYPE
cpdef object socket_fileno(object sock)
cdef bint _SOCKET_HEAD_KNOWN
cdef bint _would_block(int code) noexcept
@cython.locals(fd=int, code=int)
cpdef object recv_bytes(object sock, Py_ssize_t size)
@cython.locals(fd=int, view=Py_buffer, count=Py_ssize_t, code=int)
cpdef Py_ssize_t recv_into(object sock, object buffer) except? -2
cdef bint _get_writable_buffer(object buffer, Py_buffer *view) except -1
@cython.locals(fd=int, view=Py_buffer, count=Py_ssize_t, code=int)
cpdef Py_ssize_t send_some(object sock, object data) except -1


cdef class StreamCore(Connection):
    cdef readonly Scheduler _loop
    cdef readonly object _transport
    cdef readonly object _sock
    cdef readonly int _sock_fd
    cdef readonly object _protocol
    cdef bint _buffered_protocol
    cdef readonly bint _protocol_connected
    cdef list _buffer
    cdef Py_ssize_t _buffer_offset
    cdef Py_ssize_t _buffer_size
    cdef bint _writing
    cdef bint _reading_paused
    cdef readonly bint _closing
    cdef bint _eof
    cdef readonly Py_ssize_t _conn_lost
    cdef readonly bint _protocol_paused
    cdef double _high_water
    cdef double _low_water
    cdef object _write_buffer_limits
    cdef readonly object _empty_waiter

    cpdef close(self)
    cpdef _fatal_error(self, exc, message)
    cpdef _force_close(self, exc)

    cdef int _fd_ready(self, bint writable) except -1
    cpdef int _read_ready(self) except -1
    cpdef int _write_ready(self) except -1
    @cython.locals(data=bytes, delivering=bint)
    cdef int _read_and_deliver(self) except -1
    @cython.locals(count=Py_ssize_t, size=Py_ssize_t)
    cdef int _read_into_protocol_buffer(self) except -1
    cdef _on_eof(self)

    cdef bint _writes_lost(self) except -1
    cdef _append(self, object data)
    cdef _send_soon(self)
    cdef _send_batch_now(self)
    cdef _settle_empty_waiter(self, exc)
    cdef _flush_batch(self)
    @cython.locals(sent=Py_ssize_t)
    cdef Py_ssize_t _send_buffer(self) except -1
    cdef _send_once_quietly(self)
    @cython.locals(fd=int, buffer=list, count=Py_ssize_t, index=Py_ssize_t,
                   sent=Py_ssize_t, code=int, message=msghdr)
    cdef Py_ssize_t _send(self) except -1
    @cython.locals(buffer=list, done=Py_ssize_t)
    cdef _drop_sent(self, Py_ssize_t sent)
    cdef _clear_buffer(self)
    cdef _start_writing(self)
    cdef _stop_writing(self)
    cpdef _maybe_pause_protocol(self)
    cpdef _maybe_resume_protocol(self)
    cdef _call_flow_control(self, str method)
