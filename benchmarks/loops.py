"""The event loops the benchmarks compare, by the name each result carries.

Each entry's ``load`` returns that loop's ``new_event_loop`` or raises
``Unavailable`` with the reason (package missing, build not compiled): the
benchmarks skip such a loop, the ratio table leaves its column out.
"""

import asyncio
from dataclasses import dataclass
from typing import Callable


class Unavailable(Exception):
    """This loop cannot run here; the message says why."""


@dataclass(frozen=True)
class LoopKind:
    name: str
    load: Callable[[], Callable[[], asyncio.AbstractEventLoop]]


def _import(package):
    try:
        return __import__(package)
    except ImportError as exc:
        raise Unavailable(f"{package} is not installed ({exc})") from None


def _fastloop_compiled():
    fastloop = _import("fastloop")
    if not fastloop.COMPILED:
        raise Unavailable(
            f"fastloop at {fastloop.__file__} is the pure build (not compiled, "
            f"or FASTLOOP_PURE is set)")
    return fastloop.new_event_loop


def _fastloop_pure():
    _import("fastloop")
    from fastloop import _build
    twin = _build.load_pure_twin()
    # The twin must really run the .py sources, or its column would
    # silently repeat the compiled one.
    assert not twin.COMPILED, "load_pure_twin() returned a compiled build"
    return twin.new_event_loop


def _asyncio():
    return asyncio.new_event_loop


def _uvloop():
    return _import("uvloop").new_event_loop


def _rloop():
    return _import("rloop").new_event_loop


LOOPS = (
    LoopKind("fastloop", _fastloop_compiled),
    LoopKind("fastloop-pure", _fastloop_pure),
    LoopKind("asyncio", _asyncio),
    LoopKind("uvloop", _uvloop),
    LoopKind("rloop", _rloop),
)

NAMES = tuple(kind.name for kind in LOOPS)

#: The loop every ratio is taken against.
BASELINE = "asyncio"
