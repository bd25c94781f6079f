"""Parking for coroutine forms (``await ch.arecv()`` and friends).

A coroutine form runs in one of two worlds, decided when it must wait:

* in a coroutine goroutine (``_runtime.current_coroutine_goroutine()`` is set),
  it yields a park request naming the locks it holds; the worker suspends the
  goroutine and releases them.  Its waiter's wake makes the goroutine runnable.
  A timeout is a timer-heap entry whose callback removes the waiter (``abort``)
  and, if that succeeded, makes the goroutine runnable with the timed-out flag.
* in an ordinary asyncio task, it releases the locks and awaits an asyncio
  future, which the waiter's wake resolves through ``call_soon_threadsafe``.
  A timeout is ``loop.call_later``.  If the task is cancelled while it waits and
  the operation completed anyway (a value was already handed over), the result
  is kept and the cancellation is re-requested for the task's next await, so
  no value is ever lost or delivered twice.

Either way the rule for a timeout is the one of every blocking operation: the
waiter removes itself under its structure's lock; if it is no longer queued, a
waker got there first, the operation happened, and the timeout is ignored.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import types
from collections.abc import Callable, Generator
from typing import Any

from . import _runtime, _timers

_monotonic = time.monotonic


def waker() -> tuple[Callable[[], Any], asyncio.Future[None] | None]:
    """The wake function for the current coroutine, and its asyncio future if any."""
    m = _runtime._tls.m
    cg = m.cg if m is not None else None
    if cg is not None:
        return cg._wake, None
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


def _gort_timeout(arg: tuple[Callable[[Any], bool], Any, _runtime.Goroutine[Any], _Box,
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
        entry = _timers.add(_monotonic() + timeout, _gort_timeout,
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
    except asyncio.CancelledError:
        if handle is not None:
            handle.cancel()
        if abort(token):
            raise
        # The operation completed while we were being cancelled: keep its result
        # and let the cancellation hit the task's next await instead.
        task = asyncio.current_task()
        if task is not None:
            task.cancel()
        return True
    if handle is not None:
        handle.cancel()
    if box.timed_out and abort(token):
        return False
    return True


@types.coroutine
def yield_locks(locks: tuple[Any, ...]) -> Generator[Any, Any]:
    """Park the current coroutine goroutine (only in one), releasing ``locks``."""
    yield locks


def ajoin(g: _runtime.Goroutine[Any], timeout: float | None) -> Any:
    return _ajoin(g, timeout)


@types.coroutine
def _ajoin(g: _runtime.Goroutine[Any], timeout: float | None) -> Generator[Any, Any, bool]:
    if g._done:
        return True
    lock = g._lock
    lock.acquire()
    try:
        if g._done:
            lock.release()
            return True
        wake, fut = waker()
        assert g._joiners is not None
        g._joiners.append(wake)
    except BaseException:
        lock.release()
        raise
    return (yield from suspend((lock,), fut, timeout, g._abort_join, wake, "goroutine join"))


def _wake_sleeper(g: _runtime.Goroutine[Any]) -> None:
    with g._lock:  # held by the sleeper until it is suspended
        pass
    _runtime.ready(g)


@types.coroutine
def _asleep_gort(seconds: float) -> Generator[Any, Any]:
    g = _runtime.current_coroutine_goroutine()
    assert g is not None
    lock = g._lock
    lock.acquire()
    g._wait_reason = "sleep"
    g._timed_park = True
    _timers.add(_monotonic() + seconds, _wake_sleeper, g)
    yield (lock,)


def asleep(seconds: float) -> Any:
    """Coroutine form of ``sleep``: ``await gort.asleep(s)``."""
    if _runtime.current_coroutine_goroutine() is None:
        return asyncio.sleep(max(seconds, 0.0))
    if seconds <= 0:
        return _runtime._gosched_coro()
    return _asleep_gort(seconds)


def sleep(seconds: float) -> None:
    """Pause the calling goroutine for ``seconds``, giving its processor away."""
    parker = _runtime.current_parker()
    if seconds <= 0:
        _runtime.gosched()
        return
    deadline = _monotonic() + seconds
    while True:
        left = deadline - _monotonic()
        if left <= 0:
            return
        # Nothing ever wakes this parker early; a timeout is the only way out.
        _runtime.park(parker, left, _always, None, "sleep")


def _always(_: object) -> bool:
    return True


async def to_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run blocking ``fn(*args, **kwargs)`` as a plain goroutine and await it."""
    return await _runtime.go(fn, *args, **kwargs)
