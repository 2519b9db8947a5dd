"""The echo benchmark's two C programs, compiled on first use.

``client.c`` is the load generator (in C so that it is never what limits a
server's rate), ``c_server.c`` the plain epoll echo server every loop is
measured against. ``compiled(source)`` compiles one with ``cc -O2`` into
``build/`` beside them, under a name keyed by a hash of the source and the
compile command, so an edited source is rebuilt and an unchanged one is not;
a new build removes the older ones of the same source.
"""

import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "client.c"
C_SERVER = HERE / "c_server.c"
BUILD_DIR = HERE / "build"

_CFLAGS = ["-O2", "-Wall"]


class CompileError(RuntimeError):
    """A C program of the benchmark could not be compiled; the message says why."""


def compiled(source):
    """The path of the executable built from ``source``, compiling it if needed."""
    compiler = shlex.split(os.environ.get("CC", "cc"))
    if shutil.which(compiler[0]) is None:
        raise CompileError(
            f"the echo benchmark needs a C compiler for {source.name}, and "
            f"{compiler[0]!r} (from $CC, default cc) is not on PATH: install gcc "
            f"or clang, or set CC")
    key = hashlib.sha256(source.read_bytes())
    key.update(" ".join(compiler + _CFLAGS).encode())
    executable = BUILD_DIR / f"{source.stem}-{key.hexdigest()[:16]}"
    if executable.exists():
        return executable
    BUILD_DIR.mkdir(exist_ok=True)
    # Built under a temporary name and renamed, so a concurrent run or an
    # interrupted compile never leaves a half-written executable in place.
    partial = executable.with_name(f"{executable.name}.{os.getpid()}.partial")
    command = compiler + _CFLAGS + ["-o", str(partial), str(source)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise CompileError(f"{shlex.join(command)} failed (status {result.returncode}):\n"
                           f"{result.stderr.strip()}")
    partial.replace(executable)
    for older in BUILD_DIR.glob(f"{source.stem}-*"):
        if older != executable and not older.name.endswith(".partial"):
            older.unlink(missing_ok=True)
    return executable
