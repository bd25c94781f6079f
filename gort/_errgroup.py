"""Go's ``golang.org/x/sync/errgroup``: goroutines that fail as one.

``ErrGroup.go(fn)`` runs fn in a goroutine; the first exception cancels
``group.ctx``, with itself as the cause (``gort.cause(group.ctx)``, as x/sync's
``cancel(err)``), and is re-raised by ``wait()`` once every goroutine has
returned.  ``wait()`` cancels ``group.ctx`` in any case (cause: the first
exception, else ``Canceled``).  ``set_limit(n)`` bounds how many run at once (``go`` then blocks
for a slot, ``try_go`` declines).  ``set_limit(0)`` is Go's too: no goroutine
may ever start, so ``try_go`` returns False and ``go`` blocks for good (on a
channel nobody receives from, as Go's ``g.sem <- token{}`` on a zero-capacity
channel; the deadlock detector reports it if nothing else can run).

``fn`` may be an ``async def`` function: it then runs as a coroutine
goroutine; ``await group.await_()`` is the coroutine form of ``wait``.

Fields guarded by ``_lock``: ``_err`` (the first exception), ``_active``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ._chan import Chan
from ._context import Context, background, with_cancel_cause
from ._goroutine import Goroutine, body_of, go
from ._sync import Semaphore, WaitGroup


class ErrGroup:
    """A group of goroutines working on subtasks of one task."""

    def __init__(self, ctx: Context | None = None) -> None:
        self.ctx, self._cancel = with_cancel_cause(ctx if ctx is not None else background())
        self._wg = WaitGroup()
        self._lock = threading.Lock()
        self._err: BaseException | None = None
        self._sem: Semaphore | None = None
        self._zero: Chan[None] | None = None  # set_limit(0): go() sends here forever
        self._limit = -1

    def set_limit(self, n: int) -> None:
        """At most ``n`` goroutines of this group at once; negative: no limit.

        ``n == 0``: none at all (``try_go`` returns False, ``go`` blocks forever).
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"errgroup: limit must be an int, got {type(n).__name__}")
        if self._wg.count:
            raise RuntimeError(f"errgroup: modify limit while {self._wg.count} goroutines "
                               "in the group are still active")
        self._limit = n
        # Limit 0 is handled here, not by a Semaphore(0): whether a semaphore
        # raises or waits for a weight beyond its size is not errgroup's concern.
        self._zero = Chan() if n == 0 else None
        self._sem = Semaphore(n) if n > 0 else None

    def _start(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
               sem: Semaphore | None) -> Goroutine[Any]:
        """Start fn; ``sem``: the semaphore a slot of which the caller holds."""
        self._wg.add(1)

        def finish() -> None:
            if sem is not None:
                sem.release()
            self._wg.done()
        run = body_of(fn, args, kwargs, finish, self._fail)
        try:
            return go(run)
        except BaseException:
            finish()  # not started (the OS refused a thread, say): give back what we took
            raise

    def _fail(self, e: BaseException) -> None:
        with self._lock:
            first = self._err is None
            if first:
                self._err = e
        if first:
            self._cancel(e)

    def go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Run ``fn`` in a new goroutine, waiting for a slot if a limit is set."""
        zero = self._zero
        if zero is not None:
            zero.send(None)  # limit 0: nobody ever receives (Go blocks here too)
        sem = self._sem
        if sem is not None:
            sem.acquire()
        self._start(fn, args, kwargs, sem)

    def try_go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> bool:
        """Like ``go``, but only if a slot is free right now (never, at limit 0)."""
        if self._zero is not None:
            return False
        sem = self._sem
        if sem is not None and not sem.try_acquire():
            return False
        self._start(fn, args, kwargs, sem)
        return True

    def wait(self) -> None:
        """Wait for every goroutine; re-raise the first exception, if any."""
        self._wg.wait()
        self._cancel(self._err)
        if self._err is not None:
            raise self._err

    async def await_(self) -> None:
        """Coroutine form of ``wait``."""
        await self._wg.await_()
        self._cancel(self._err)
        if self._err is not None:
            raise self._err

    def __repr__(self) -> str:
        limit = f" limit={self._limit}" if self._limit >= 0 else ""
        err = f" err={self._err!r}" if self._err is not None else ""
        return f"<ErrGroup active={self._wg.count}{limit}{err}>"
