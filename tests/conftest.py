"""Every behaviour test runs on three loops: fastloop compiled, fastloop pure
and stock asyncio. A test that passes on all three encodes asyncio's
behaviour, not ours.

Tests marked ``fastloop_only`` check fastloop itself (leak counters, the
build switch, promises asyncio does not make) and run on the two fastloop
builds only.
"""

import asyncio

import pytest

import fastloop
from fastloop import _build

from support import compiled_build_required

LOOP_KINDS = ("fastloop", "fastloop-pure", "asyncio")
FASTLOOP_KINDS = ("fastloop", "fastloop-pure")


def pytest_generate_tests(metafunc):
    if "loop_kind" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("fastloop_only"):
        kinds = FASTLOOP_KINDS
    else:
        kinds = LOOP_KINDS
    metafunc.parametrize("loop_kind", kinds, indirect=True)


@pytest.fixture
def loop_kind(request):
    """Which loop the test runs on: one of LOOP_KINDS."""
    kind = request.param
    if kind == "fastloop" and not fastloop.COMPILED:
        if compiled_build_required():
            pytest.fail("FASTLOOP_REQUIRE_COMPILED=1, but `import fastloop` loaded the "
                        "pure build: compile it first (tools/build-inplace)", pytrace=False)
        pytest.skip("fastloop is not compiled (tools/build-inplace builds it)")
    return kind


@pytest.fixture
def fastloop_package(loop_kind):
    """The fastloop package behind the loop: the compiled one or the pure twin."""
    if loop_kind == "fastloop":
        return fastloop
    if loop_kind == "fastloop-pure":
        return _build.load_pure_twin()
    pytest.fail("fastloop_package is for tests marked fastloop_only", pytrace=False)


@pytest.fixture
def loop_factory(loop_kind):
    """A callable returning a new, not yet running event loop."""
    if loop_kind == "fastloop":
        return fastloop.new_event_loop
    if loop_kind == "fastloop-pure":
        return _build.load_pure_twin().new_event_loop
    return asyncio.new_event_loop


@pytest.fixture
def loop(loop_factory):
    """A new event loop, closed after the test whatever happened."""
    event_loop = loop_factory()
    try:
        yield event_loop
    finally:
        event_loop.close()
