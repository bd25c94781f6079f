"""Go 1.21's ``sync.OnceFunc``, ``OnceValue`` and ``OnceValues``.

Each wraps a function of no arguments so that it runs at most once, however
many goroutines call the wrapper and however concurrently: the first caller
runs it, the others wait (in a gort ``Once``, so a waiting goroutine gives its
processor away) and then share its outcome.  A result is returned to every
caller; an exception is raised to the first caller as it happened and
re-raised to every later one, as Go re-panics with the same value.

After the call the wrapper holds no reference to the function (Go's
TestOnceXGC): what it captured can be collected.  An exception kept for
re-raising does keep its traceback, and so the frames it went through: that is
what makes it useful to the later callers.  Re-raising reuses the first
traceback, so calling a failed wrapper a million times does not grow it.

Not for ``async def`` functions (the wrapper would cache the coroutine object).

Fields of ``_Call`` are written only by the one caller that runs the function,
inside ``Once.do`` (under the Once's Mutex), and read by the others only after
``Once.done`` is true, which ``do`` sets after the function returned or raised:
no lock of their own is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar, TypeVarTuple

from ._sync import Once

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class _Call(Generic[T]):
    """One once-function: the function until it runs, then its outcome."""

    __slots__ = ("exc", "f", "ok", "once", "tb", "value")

    def __init__(self, f: Callable[[], T]) -> None:
        if not callable(f):
            raise TypeError(f"once: f must be callable, got {type(f).__name__}")
        self.f: Callable[[], T] | None = f
        self.once = Once()
        self.ok = False
        self.value: T | None = None
        self.exc: BaseException | None = None
        self.tb: TracebackType | None = None

    def _run(self) -> None:
        f, self.f = self.f, None  # do not keep f alive after calling it
        assert f is not None
        try:
            self.value = f()
        except BaseException as e:
            self.exc, self.tb = e, e.__traceback__
            raise  # to the first caller, with its whole traceback
        self.ok = True

    def get(self) -> T:
        if not self.once.done:
            self.once.do(self._run)
        if self.ok:
            return self.value  # type: ignore[return-value]
        exc = self.exc
        assert exc is not None
        raise exc.with_traceback(self.tb)


def once_func(f: Callable[[], object]) -> Callable[[], None]:
    """A function that calls ``f`` only the first time it is called (Go's
    ``sync.OnceFunc``).  Concurrent callers wait for that call; if ``f`` raised,
    every call raises the same exception."""
    call: _Call[object] = _Call(f)

    def once() -> None:
        call.get()

    once.__qualname__ = f"once_func({getattr(f, '__qualname__', type(f).__name__)})"
    return once


def once_value(f: Callable[[], T]) -> Callable[[], T]:
    """A function that calls ``f`` only the first time it is called and returns
    its result every time (Go's ``sync.OnceValue``).  Concurrent callers wait for
    that call; if ``f`` raised, every call raises the same exception."""
    return _Call(f).get


def once_values(f: Callable[[], tuple[*Ts]]) -> Callable[[], tuple[*Ts]]:
    """``once_value`` for a function returning several values as a tuple (Go's
    ``sync.OnceValues``): ``v, err = g()`` every time, from one call of ``f``."""
    return _Call(f).get
