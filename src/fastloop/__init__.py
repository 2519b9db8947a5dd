"""fastloop: a drop-in asyncio event loop whose hot path is compiled.

    import fastloop

    async def main():
        ...

    fastloop.run(main())

or pass ``fastloop.new_event_loop`` wherever asyncio takes a loop factory.
"""

from . import _build

if _build.pure_requested() or __name__ == _build.PURE_TWIN_NAME:
    _build.install_source_finder(__name__)

from . import _scheduler  # noqa: E402
from ._loop import Loop  # noqa: E402
from ._runner import new_event_loop, run  # noqa: E402

__version__ = "0.1.0"

#: True when the compiled (Cython) build runs, False for the pure build.
COMPILED = _build.is_compiled(_scheduler)

__all__ = ("COMPILED", "EventLoopPolicy", "Loop", "new_event_loop", "run", "__version__")


def __getattr__(name):
    if name == "EventLoopPolicy":
        from ._runner import make_event_loop_policy_class
        policy_class = make_event_loop_policy_class()
        globals()["EventLoopPolicy"] = policy_class
        return policy_class
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
