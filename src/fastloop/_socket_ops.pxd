# SocketOperations stays a Python class (Loop mixes it in); compiling the
# module makes its methods and callbacks C functions, and lets them call the
# socket primitives without a Python call.
from ._stream_core cimport recv_bytes, recv_into, send_some
