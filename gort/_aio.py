"""Coroutine waits that need more than a yield: timeouts, and asyncio tasks.

``_waitq.park`` handles the common coroutine wait itself (an untimed park of a
coroutine goroutine is a plain yield of the locks it holds).  The rest is here:

* in a coroutine goroutine with a timeout, the wait is also a timer-heap entry
  whose callback aborts the waiter and, if that succeeded, makes the goroutine
  runnable with the timed-out flag;
* in an ordinary asyncio task, ``suspend`` releases the locks and awaits an
  asyncio future, which the waiter's wake resolves through
  ``call_soon_threadsafe``; a timeout is ``loop.call_later``.  If the task is
  cancelled (or interrupted) while it waits and the operation completed anyway
  (a value was already handed over), the result is kept and the cancellation is
  re-requested for the task's next await, so no value is lost or delivered twice.

Either way the rule is ``_waitq``'s: the waiter removes itself under its
structure's lock; if it is no longer queued, a waker got there first, the
operation happened, and the timeout or interruption does not undo it.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import types
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from . import _runtime, _timers
from ._ki import _redeliver

if TYPE_CHECKING:
    from ._goroutine import Goroutine



def asyncio_waker() -> tuple[Callable[[], Any], asyncio.Future[None]]:
    """The wake function of the current asyncio task, and the future it awaits."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("a gort coroutine form must be awaited in a coroutine goroutine "
                           "or an asyncio task") from None
    fut: asyncio.Future[None] = loop.create_future()
    return functools.partial(_resolve_threadsafe, loop, fut), fut


def _resolve_threadsafe(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None]) -> None:
    try:
        loop.call_soon_threadsafe(_resolve, fut)
    except RuntimeError:
        pass  # the loop is closed: nobody is waiting on that future any more


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _Box:
    """The timed-out flag of one coroutine wait (set by the timer callback)."""

    __slots__ = ("timed_out",)

    def __init__(self) -> None:
        self.timed_out = False


def _gort_timeout(arg: tuple[Callable[[Any], bool], Any, Goroutine[Any], _Box,
                                threading.Lock]) -> None:
    abort, token, g, box, parked = arg
    if abort(token):
        box.timed_out = True
        # The goroutine may not have finished parking yet (a select's abort takes
        # no lock it holds): wait until its worker released ``parked``.
        with parked:
            pass
        _runtime.ready(g)


def _asyncio_timeout(arg: tuple[asyncio.Future[None], _Box]) -> None:
    fut, box = arg
    if not fut.done():
        box.timed_out = True
        fut.set_result(None)


@types.coroutine
def suspend(locks: tuple[Any, ...], fut: asyncio.Future[None] | None, timeout: float | None,
            abort: Callable[[Any], bool], token: Any,
            reason: str = "") -> Generator[Any, Any, bool]:
    """Wait for the wake of a queued waiter; ``locks`` are held on entry.

    Returns True when woken, False when ``timeout`` expired first (and
    ``abort(token)`` removed the waiter).
    """
    if fut is None:
        g = _runtime.current_coroutine_goroutine()
        assert g is not None
        g._wait_reason = reason
        g._timed_park = timeout is not None
        if timeout is None:
            yield locks
            return True
        box = _Box()
        parked = threading.Lock()
        parked.acquire()  # released by the worker once this goroutine is parked
        if g._bubble is not None and not g._durable:  # (see _waitq.park_in_bubble)
            entry = _timers.add_real(_timers._monotonic() + timeout, _gort_timeout,
                                     (abort, token, g, box, parked))
        else:
            entry = _timers.add(_timers.now() + timeout, _gort_timeout,
                                (abort, token, g, box, parked))
        yield (*locks, parked)
        if box.timed_out:
            return False
        entry.cancel()
        return True

    for lock in reversed(locks):
        lock.release()
    loop = fut.get_loop()
    box = _Box()
    handle = loop.call_later(timeout, _asyncio_timeout, (fut, box)) if timeout is not None \
        else None
    try:
        yield from fut.__await__()
    except BaseException as e:
        if handle is not None:
            handle.cancel()
        if abort(token):
            raise
        # The operation completed while we were being interrupted: keep its
        # result and let the interruption hit the task's next await instead.
        if isinstance(e, asyncio.CancelledError):
            task = asyncio.current_task()
            if task is not None:
                task.cancel()
        else:
            _redeliver(e)
        return True
    if handle is not None:
        handle.cancel()
    if box.timed_out and abort(token):
        return False
    return True
