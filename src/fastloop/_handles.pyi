# The Python-visible face of the compiled handles (see _handles.pxd).
import contextvars
from collections.abc import Callable
from typing import Any

class Handle:
    _callback: Callable[..., object] | None
    _args: tuple[Any, ...] | None
    @property
    def _context(self) -> contextvars.Context: ...  # read-only
    _loop: Any
    _cancelled: bool
    _source_traceback: list[Any] | None
    _repr: str | None
    def __init__(
        self,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: Any,
        context: contextvars.Context | None = None,
    ) -> None: ...
    def get_context(self) -> contextvars.Context: ...
    def cancel(self) -> None: ...
    def cancelled(self) -> bool: ...
    def _run(self) -> None: ...

class TimerHandle(Handle):
    _when: float
    _scheduled: bool
    _sequence: int
    def __init__(
        self,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: Any,
        context: contextvars.Context | None = None,
    ) -> None: ...
    def when(self) -> float: ...
    def __lt__(self, other: TimerHandle) -> bool: ...
    def __le__(self, other: TimerHandle) -> bool: ...
    def __gt__(self, other: TimerHandle) -> bool: ...
    def __ge__(self, other: TimerHandle) -> bool: ...
    def __hash__(self) -> int: ...
