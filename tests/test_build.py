"""Which build runs: fastloop.COMPILED, FASTLOOP_PURE and the pure twin."""

import importlib
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fastloop
from fastloop import _build

from support import compiled_build_required

SOURCE_ROOT = Path(fastloop.__file__).resolve().parents[1]

REPORT_BUILD = """
import asyncio, importlib, fastloop
async def main():
    return type(asyncio.get_running_loop()) is fastloop.Loop
hot_files = [importlib.import_module("fastloop." + name).__file__
             for name in fastloop._build.HOT_MODULES]
print(fastloop.COMPILED, all(path.endswith(".py") for path in hot_files), fastloop.run(main()))
"""


def compiled_modules_present():
    return all(
        any((SOURCE_ROOT / "fastloop" / (name + suffix)).exists()
            for suffix in importlib.machinery.EXTENSION_SUFFIXES)
        for name in _build.HOT_MODULES)


def report_build(fastloop_pure):
    environment = {key: value for key, value in os.environ.items() if key != "FASTLOOP_PURE"}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(SOURCE_ROOT), environment.get("PYTHONPATH")]))
    if fastloop_pure is not None:
        environment["FASTLOOP_PURE"] = fastloop_pure
    completed = subprocess.run([sys.executable, "-c", REPORT_BUILD], env=environment,
                               capture_output=True, text=True, timeout=30, check=True)
    return completed.stdout.split()


@pytest.mark.fastloop_only
def test_compiled_says_which_build_runs(fastloop_package):
    hot_modules = [importlib.import_module(f"{fastloop_package.__name__}.{name}")
                   for name in _build.HOT_MODULES]

    from_sources = [module.__file__.endswith(".py") for module in hot_modules]

    assert from_sources == [not fastloop_package.COMPILED] * len(hot_modules)


@pytest.mark.fastloop_only
def test_fastloop_pure_1_selects_the_pure_build():
    assert report_build("1") == ["False", "True", "True"]


@pytest.mark.fastloop_only
@pytest.mark.parametrize("fastloop_pure", [None, "", "0"])
def test_without_fastloop_pure_the_compiled_build_runs(fastloop_pure):
    if not compiled_modules_present() and not compiled_build_required():
        pytest.skip("fastloop is not compiled (tools/build-inplace builds it)")

    assert report_build(fastloop_pure) == ["True", "False", "True"]


# The pure build where Cython is not installed: the hot modules then run on
# _cython_shim, which has only what they use outside compiled-only branches.
# A stream echo, sock_* calls, callbacks and a timer reach those paths.
WITHOUT_CYTHON = """
import sys
sys.modules["cython"] = None  # import cython now raises ImportError
import asyncio, socket, fastloop
from fastloop import _build, _cython_shim
import importlib
assert not fastloop.COMPILED
assert all(importlib.import_module("fastloop." + name).cython is _cython_shim
           for name in _build.HOT_MODULES)

class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
    def data_received(self, data):
        self.transport.write(data)
        self.transport.write(b"")
        self.transport.write(bytearray(data))
        self.transport.writelines([memoryview(data), b"."])

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
    writer.write(b"ab")
    received = await reader.readexactly(7)
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    left, right = socket.socketpair()
    with left, right:
        left.setblocking(False)
        right.setblocking(False)
        await loop.sock_sendall(left, b"xyz")
        got = await loop.sock_recv(right, 3)
    ran = []
    loop.call_soon(ran.append, "soon")
    loop.call_later(0.001, ran.append, "later")
    await asyncio.sleep(0.01)
    return received, got, ran

print(fastloop.run(main()))
"""


@pytest.mark.fastloop_only
def test_pure_build_runs_without_cython_installed():
    environment = dict(os.environ, FASTLOOP_PURE="1")
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(SOURCE_ROOT), environment.get("PYTHONPATH")]))
    completed = subprocess.run([sys.executable, "-c", WITHOUT_CYTHON], env=environment,
                               capture_output=True, text=True, timeout=30)

    assert completed.stderr == ""
    assert completed.stdout == "(b'ababab.', b'xyz', ['soon', 'later'])\n"


@pytest.mark.fastloop_only
def test_pure_twin_is_a_separate_copy_of_the_package():
    twin = _build.load_pure_twin()

    assert twin.__name__ == _build.PURE_TWIN_NAME
    assert twin.COMPILED is False
    assert twin.Loop is not fastloop.Loop
    assert twin._loop.__file__ == fastloop._loop.__file__


def test_compiled_handles_come_from_a_freelist():
    # Handle's own allocator (_handles.pxd) keeps freed handles: a build
    # that lost it allocates a new handle per callback, and each allocation
    # counts towards the next garbage collection.
    if not fastloop.COMPILED:
        pytest.skip("the pure build keeps no freelist")
    import contextvars
    import gc

    context = contextvars.copy_context()  # no context copied per handle
    loop = fastloop.new_event_loop()
    try:
        for _ in range(1000):
            loop.call_soon(int, context=context)
        loop._ready.clear()  # 1000 handles freed, into the freelist
        gc.collect()
        gc.disable()
        try:
            allocated_before = gc.get_count()[0]
            for _ in range(1000):
                loop.call_soon(int, context=context)
            allocated = gc.get_count()[0] - allocated_before
        finally:
            gc.enable()
    finally:
        loop.close()

    assert allocated < 100


def test_compiled_ran_handles_nobody_holds_are_kept_for_reuse():
    # A handle that ran and that nothing held is kept, emptied, for the next
    # call_soon (see "ran handles" in _handles.py): a task's every step
    # reuses one instead of freeing a handle and making another. One that
    # somebody still holds is never kept.
    if not fastloop.COMPILED:
        pytest.skip("the pure build frees every handle, as asyncio")
    from fastloop import _handles
    from support import run_once

    loop = fastloop.new_event_loop()
    try:
        for _ in range(100):
            loop.call_soon(int)
        run_once(loop)  # the 100 and run_once's own loop.stop
        kept = _handles.kept_handle_count()
        assert kept >= 101

        held = [loop.call_soon(int) for _ in range(10)]
        assert _handles.kept_handle_count() == kept - 10
        assert all(handle._callback is int and handle._args == () for handle in held)
        run_once(loop)  # its loop.stop handle is taken from those kept and given back
        assert _handles.kept_handle_count() == kept - 10
        assert all(handle._callback is int for handle in held)
    finally:
        loop.close()


def test_compiled_kept_and_freed_handles_stay_within_one_bound():
    # Kept handles and the freelist share one bound (65,536 handles, about
    # 6 MiB): handles freed while the kept ones fill it are freed for good.
    if not fastloop.COMPILED:
        pytest.skip("the pure build keeps no handles")
    from fastloop import _handles
    from support import run_once

    bound = 65_536
    loop = fastloop.new_event_loop()
    try:
        for _ in range(bound + 1_000):
            loop.call_soon(int)
        held = [loop.call_soon(int) for _ in range(1_000)]
        run_once(loop)
        del held  # freed, not kept: they were held when they ran
        assert _handles.kept_handle_count() + _handles.free_handle_count() <= bound
    finally:
        loop.close()


def test_compiled_callbacks_scheduled_from_an_empty_context_share_a_spare_one():
    # Their handles keep no context, and they run one after another in the
    # module's spare one, taken back after each (see "empty contexts" in
    # _handles.py). A build that copied the context per callback, or never
    # took the spare back, runs each in a context of its own.
    if not fastloop.COMPILED:
        pytest.skip("the pure build copies the context per callback, as asyncio")
    import contextvars

    from support import handle_context, run_once

    loop = fastloop.new_event_loop()
    handles = []
    context_ids = []

    def callback(number):
        context_ids.append(id(handle_context(handles[number])))

    try:
        for number in range(3):
            handles.append(contextvars.Context().run(loop.call_soon, callback, number))
        run_once(loop)
    finally:
        loop.close()

    assert len(context_ids) == 3
    assert len(set(context_ids)) == 1


def test_handle_subclasses_are_allocated_and_freed_as_python_objects():
    # Handle's allocator keeps exact handles only: a subclass instance (with
    # a __dict__ and another size) must take Python's way in and out.
    import gc

    from fastloop._handles import Handle

    class NamedHandle(Handle):
        pass

    loop = fastloop.new_event_loop()
    try:
        handles = [NamedHandle(print, (number,), loop) for number in range(1000)]
        for number, handle in enumerate(handles):
            handle.name = number
        assert all(gc.is_tracked(handle) for handle in handles)
        assert [handle.name for handle in handles] == list(range(1000))
        del handles
        gc.collect()
        fresh = [loop.call_soon(print, number) for number in range(1000)]
        assert [handle._args for handle in fresh] == [(number,) for number in range(1000)]
        assert {type(handle) for handle in fresh} == {Handle}
        loop._ready.clear()
    finally:
        loop.close()


def _instance_dict_made(obj):
    """Whether obj's __dict__ exists, found without making it."""
    import ctypes

    return ctypes.c_void_p.from_address(id(obj) + type(obj).__dictoffset__).value is not None


def test_compiled_loop_in_use_leaves_its_instance_dict_unmade():
    # All of a loop's own state is in slots (Loop.__slots__), so that its
    # dict stays unmade (docs/architecture.md says why): a new attribute
    # set in the library would make the dict.
    if not fastloop.COMPILED:
        pytest.skip("uncompiled, a loop is a plain Python object")
    if sys.version_info < (3, 12):
        pytest.skip("3.11 specialises method calls only while the dict exists")
    import asyncio
    import signal

    async def serve(reader, writer):
        writer.write(await reader.read(10))
        await writer.drain()
        writer.close()

    async def numbers():
        yield 1
        yield 2

    async def use_the_loop(loop):
        await asyncio.sleep(0.001)
        await asyncio.gather(*(asyncio.sleep(0) for _ in range(3)))
        await loop.run_in_executor(None, int)
        loop.call_soon_threadsafe(int)
        loop.add_signal_handler(signal.SIGUSR1, int)
        loop.remove_signal_handler(signal.SIGUSR1)
        loop.set_exception_handler(None)
        loop.set_task_factory(None)
        async for _ in numbers():
            break
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        async with server:
            reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
            writer.write(b"ping")
            assert await reader.read(10) == b"ping"
            writer.close()
            await writer.wait_closed()

    loop = fastloop.new_event_loop()
    try:
        loop.set_debug(True)
        loop.set_debug(False)
        loop.run_until_complete(use_the_loop(loop))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        assert not _instance_dict_made(loop)
        loop.tag = "mine"  # an attribute of the user's own makes it
        assert _instance_dict_made(loop) and vars(loop) == {"tag": "mine"}
    finally:
        loop.close()


def test_compiled_loop_classes_have_their_own_c_methods():
    # CPython specialises a call to a C method only on an instance of
    # exactly the method's class: Loop and its subclasses get their own
    # copies of Scheduler's C methods, and an override is never replaced.
    if not fastloop.COMPILED:
        pytest.skip("uncompiled, the methods are Python functions")
    import types

    class Subclass(fastloop.Loop):
        pass

    class Overriding(fastloop.Loop):
        def call_soon(self, callback, *args, context=None):
            return super().call_soon(callback, *args, context=context)

    for cls in (fastloop.Loop, Subclass):
        for name in ("call_soon", "call_soon_threadsafe"):
            method = cls.__dict__[name]
            assert type(method) is types.MethodDescriptorType
            assert method.__objclass__ is cls
    assert type(Overriding.__dict__["call_soon"]) is types.FunctionType
    assert Overriding.__dict__["call_soon_threadsafe"].__objclass__ is Overriding
    loop = Subclass()
    try:
        handle = loop.call_soon(print, "x")
        assert handle._args == ("x",)
        with pytest.raises(TypeError):
            fastloop.Loop.call_soon(object(), print)
    finally:
        loop.close()


@pytest.mark.fastloop_only
def test_compiled_socket_calls_read_the_socket_object_head():
    # The compiled build reads a socket's fd and timeout straight from the
    # socket object, whose layout it checks at import (_socket_compat.h). A
    # Python version that changed the layout would fall back to method calls:
    # correct, but slower, and this says so.
    if not fastloop.COMPILED:
        pytest.skip("the pure build calls the socket's methods")
    from fastloop import _stream_core

    assert _stream_core.socket_heads_read()
