"""Running a program on fastloop: run(), new_event_loop(), EventLoopPolicy."""

import asyncio
import sys
import warnings

from . import _asyncio_private as aio_private
from ._loop import Loop


def new_event_loop():
    """Return a new fastloop event loop."""
    return Loop()


def run(main, *, debug=None, loop_factory=new_event_loop, **run_kwargs):
    """Run the coroutine ``main`` on a new fastloop loop and return its result.

    asyncio.run()'s semantics: the loop is closed at the end, after async
    generators and the default executor are shut down; Ctrl-C cancels
    ``main``. ``run_kwargs`` (``context=``) go to ``asyncio.Runner.run``.
    """
    if aio_private.get_running_loop_or_none() is not None:
        raise RuntimeError("asyncio.run() cannot be called from a running event loop")
    with asyncio.Runner(debug=debug, loop_factory=loop_factory) as runner:
        return runner.run(main, **run_kwargs)


def _policy_base():
    return aio_private.default_event_loop_policy_base()


def make_event_loop_policy_class():
    """fastloop.EventLoopPolicy, built on first use (see __getattr__ in
    fastloop/__init__.py): on 3.14 reading asyncio's policy classes warns."""

    class EventLoopPolicy(_policy_base()):
        """An asyncio event loop policy whose loops are fastloop loops.

        For code that still sets policies; prefer ``fastloop.run()`` or
        ``asyncio.Runner(loop_factory=fastloop.new_event_loop)``.
        """

        def __init__(self):
            if sys.version_info >= (3, 14):
                warnings.warn(
                    "'fastloop.EventLoopPolicy' is deprecated, as asyncio's event "
                    "loop policies are since Python 3.14; use fastloop.run() or "
                    "asyncio.Runner(loop_factory=fastloop.new_event_loop)",
                    DeprecationWarning, stacklevel=2)
            super().__init__()

        def _loop_factory(self):
            return new_event_loop()

        def __repr__(self):
            return f"<{type(self).__module__}.{type(self).__qualname__}>"

    EventLoopPolicy.__module__ = __name__.rpartition(".")[0]
    return EventLoopPolicy
