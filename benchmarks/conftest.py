"""The loops every benchmark runs on: fastloop compiled and pure, stock
asyncio, uvloop and rloop (see loops.py). A loop that cannot run here is
skipped with the reason."""

import pytest

import loops

# rloop 0.5.0 drops its self-pipe socket pair unclosed at the end of every
# run_forever() (RLoop._ssock_stop sets them to None): a ResourceWarning per
# run, which is rloop's to fix and says nothing about its speed.
_RLOOP_LEAKED_SOCKETS = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <socket\.socket:pytest.PytestUnraisableExceptionWarning")


def pytest_configure(config):
    # Registered here: the project's pytest settings run with --strict-markers.
    config.addinivalue_line(
        "markers", "echo: checks of the echo benchmark (echo/): start server "
                   "processes, need a C compiler")


def _param(kind):
    marks = [_RLOOP_LEAKED_SOCKETS] if kind.name == "rloop" else []
    return pytest.param(kind, id=kind.name, marks=marks)


@pytest.fixture(params=[_param(kind) for kind in loops.LOOPS])
def loop(request):
    kind = request.param
    try:
        new_event_loop = kind.load()
    except loops.Unavailable as exc:
        pytest.skip(str(exc))
    event_loop = new_event_loop()
    yield event_loop
    event_loop.close()
