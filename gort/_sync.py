"""Go's ``sync`` package: Mutex, RWMutex, WaitGroup, Once, Cond, Semaphore.

Every primitive keeps its state in plain fields guarded by one internal
``threading.Lock`` (``_state``), queues a blocked goroutine as a ``Waiter`` in a
``WaitQueue`` guarded by that lock, and parks it through ``_waitq.park``, so a
goroutine blocked here gives its processor to others.  Each blocking operation
is one body (a generator, see ``_waitq``) shared by its plain and coroutine
forms.  Wake-ups are issued after ``_state`` is released.  Timeouts and
interruptions follow the one rule of ``_waitq``: a waiter still queued leaves
without a trace; one a waker already dequeued takes what it was granted.

Mutex fields:
    _held      a ``threading.Lock`` that *is* the ownership bit: acquiring it
               without blocking is the compare-and-set that takes the mutex.
    _state     guards _waitq and _st.
    _waitq     FIFO of blocked lockers.
    _st[0]     Go's starvation mode: set when a waiter has waited longer than
               ``STARVATION_THRESHOLD``; then unlock hands ownership to the
               head waiter directly (``_held`` stays acquired) and newcomers queue
               behind, so no waiter can be overtaken forever.  Cleared when the
               waiter served is the last one or waited less than the threshold.
    No lost wake-up: a locker enqueues itself *before* its last try of _held,
    both under _state; an unlocker releases _held *before* it looks at _waitq.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, ParamSpec, Protocol, TypeVar, overload

from ._goroutine import Goroutine, body_of, go
from ._ki import protect, protect_nested
from ._waitq import (
    Waiter,
    WaitQueue,
    checked,
    dequeue,
    enqueue,
    headroom,
    park,
    run,
    suspend_now,
    unsuspend,
)

P = ParamSpec("P")
R = TypeVar("R")

STARVATION_THRESHOLD = 0.001  # seconds, as in Go's sync.Mutex

_monotonic = time.monotonic


class _MutexWaiter(Waiter):
    """A blocked locker: whether ownership was handed to it, and since when it
    waits (for starvation mode)."""

    __slots__ = ("granted", "start")

    def __init__(self) -> None:
        super().__init__()
        self.granted = False
        self.start = _monotonic()


class _WeightedWaiter(Waiter):
    """A blocked Semaphore acquire and its weight."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n


def _check_int(n: object, what: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an int, got {type(n).__name__}")


class _Locker(Protocol):
    def lock(self) -> None: ...
    def unlock(self) -> None: ...


# --------------------------------------------------------------------------- Mutex

@dataclasses.dataclass(frozen=True)
class MutexStatistics:
    """A snapshot of a Mutex (``Mutex.statistics()``): ``locked``, the number of
    ``waiters`` blocked in ``lock``, and whether it is ``starving`` (Go's
    starvation mode: the lock is handed to the longest waiter on unlock)."""

    locked: bool
    waiters: int
    starving: bool


class _LockerMixin:
    """``with`` and ``async with`` for a primitive with ``lock()``, ``alock()`` and
    ``unlock()``, written once (Trio's ``AsyncContextManagerMixin``)."""

    __slots__ = ()

    def lock(self) -> None:
        raise NotImplementedError

    def alock(self) -> Awaitable[Any]:
        raise NotImplementedError

    def unlock(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> None:
        self.lock()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.unlock()

    async def __aenter__(self) -> None:
        await self.alock()

    async def __aexit__(self, t: type[BaseException] | None, v: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.unlock()


class Mutex(_LockerMixin):
    """A mutual exclusion lock (Go's ``sync.Mutex``); not reentrant.

    ``lock()``, ``unlock()`` (raises ``RuntimeError`` if not locked),
    ``try_lock()``; usable as ``with mu:`` and ``async with mu:``.  Any goroutine
    may unlock it, as in Go.  ``lock``/``unlock``/``try_lock`` are per-instance
    closures over the mutex's state: on 3.13t, where attribute lookups are not
    specialized, that makes the uncontended path about a third cheaper.
    """

    __slots__ = ("_held", "_state", "_waitq", "_st", "lock", "unlock", "try_lock")

    lock: Callable[[], None]
    """Lock, blocking (and giving up the processor) while it is held (Go's ``Lock``)."""
    unlock: Callable[[], None]
    """Unlock; raises ``RuntimeError`` if it is not locked (Go's ``Unlock``)."""
    try_lock: Callable[[], bool]
    """Lock if it is free, without blocking; True if locked (Go's ``TryLock``)."""

    def __init__(self) -> None:
        held = threading.Lock()
        state = threading.Lock()
        waitq = WaitQueue(state)
        st = [False]  # st[0]: starvation mode (guarded by state; read as a hint)
        self._held, self._state, self._waitq, self._st = held, state, waitq, st
        acquire, release = held.acquire, held.release

        def lock() -> None:
            """Lock, blocking (and giving up the processor) while it is held."""
            if not acquire(False):
                run(_mutex_lock(held, state, waitq, st, True))

        def unlock() -> None:
            """Unlock; raises ``RuntimeError`` if it is not locked."""
            if st[0] and _mutex_hand_off(held, state, waitq, st):
                return
            try:
                release()
            except RuntimeError:
                raise RuntimeError("unlock of unlocked Mutex") from None
            if waitq:
                _mutex_wake_one(state, waitq)

        self.lock = lock
        self.unlock = unlock
        self.try_lock = functools.partial(acquire, False)

    def alock(self) -> Awaitable[None]:
        """Coroutine form of ``lock``: ``await mu.alock()`` (or ``async with mu``)."""
        return _mutex_lock(self._held, self._state, self._waitq, self._st, False)

    def locked(self) -> bool:
        """True while some goroutine holds the mutex (a snapshot)."""
        return self._held.locked()

    def __enter__(self) -> None:
        if not self._held.acquire(False):
            run(_mutex_lock(self._held, self._state, self._waitq, self._st, True))

    def statistics(self) -> MutexStatistics:
        """A snapshot: locked, waiters, starvation mode."""
        with self._state:
            return MutexStatistics(self._held.locked(), self._waitq.live(), self._st[0])

    def __repr__(self) -> str:
        state = "locked" if self._held.locked() else "unlocked"
        starving = " starving" if self._st[0] else ""
        return f"<Mutex {state} waiters={self._waitq.live()}{starving}>"


@types.coroutine
def _mutex_lock(held: threading.Lock, state: threading.Lock, waitq: WaitQueue,
                st: list[bool], sync: bool) -> Generator[Any, Any]:
    """The one body of Mutex.lock's slow path, in every world."""
    if held.acquire(False):
        return
    w: _MutexWaiter | None = None
    requeue = False
    while True:
        state.acquire()
        try:
            if w is None:
                w = _MutexWaiter()
            # Before queuing: an untimed coroutine park needs no more stack
            # than this call; any other park probes for what it needs.  (w.q
            # first: it tells a synctest bubble where w waits.)
            w.q = waitq
            req = suspend_now(sync, w, (state,), None, "sync.Mutex.Lock")
            if req is None:
                headroom()
            if requeue:
                waitq.push_front(w)  # a woken waiter keeps its place
                if _monotonic() - w.start > STARVATION_THRESHOLD:
                    st[0] = True
            else:
                waitq.push(w)
            if held.acquire(False):
                waitq.discard(w)
                state.release()
                if req is not None:
                    unsuspend()
                return
        except BaseException:
            state.release()
            raise
        if req is not None:
            yield req
        else:
            yield from park(sync, w, (state,), None, dequeue, w, "sync.Mutex.Lock")
        if w.granted:
            return  # handed over in starvation mode
        requeue = True


def _mutex_wake_one(state: threading.Lock, waitq: WaitQueue) -> None:
    with state:
        w = waitq.take()
    if w is not None:
        w.wake()


def _mutex_hand_off(held: threading.Lock, state: threading.Lock, waitq: WaitQueue,
                    st: list[bool]) -> bool:
    """Starvation mode: pass ownership to the head waiter without releasing."""
    with state:
        if not waitq:
            st[0] = False
            return False
        if not held.locked():
            raise RuntimeError("unlock of unlocked Mutex")
        w = waitq.take()
        if w is None:  # only dead entries were left
            st[0] = False
            return False
        w.granted = True  # type: ignore[attr-defined]  # a _MutexWaiter
        waited = _monotonic() - w.start  # type: ignore[attr-defined]
        if not waitq.live() or waited < STARVATION_THRESHOLD:
            st[0] = False
    w.wake()
    return True


# --------------------------------------------------------------------------- RWMutex

@dataclasses.dataclass(frozen=True)
class RWMutexStatistics:
    """A snapshot of an RWMutex (``RWMutex.statistics()``): active ``readers``,
    whether a ``writer`` holds it, and the ``readers_waiting`` and
    ``writers_waiting`` blocked on it."""

    readers: int
    writer: bool
    readers_waiting: int
    writers_waiting: int


class RWMutex(_LockerMixin):
    """A reader/writer lock (Go's ``sync.RWMutex``).

    Many readers or one writer.  A writer that is waiting blocks new readers, so
    writers never starve; when a writer unlocks, the readers that queued behind
    it go before the next writer, so readers never starve either.
    ``with rw:`` takes the write lock; ``with rw.rlocker():`` the read lock.

    Fields, guarded by _state: _readers (active readers), _writer (a writer
    holds it), _rq (blocked readers), _wq (blocked writers, FIFO).  A waiter is
    granted before it is woken: the waker counts it as a reader or makes it the
    writer.
    """

    __slots__ = ("_readers", "_rlocker", "_rq", "_state", "_wq", "_writer")

    def __init__(self) -> None:
        self._state = state = threading.Lock()
        self._readers = 0
        self._writer = False
        self._rq = WaitQueue(state)
        self._wq = WaitQueue(state)
        self._rlocker = _RLocker(self)

    @types.coroutine
    def _lock(self, reader: bool, sync: bool) -> Generator[Any, Any]:
        """The one body of rlock and lock, in every world."""
        state = self._state
        state.acquire()
        try:
            if not self._writer and not self._wq.live() and (reader or self._readers == 0):
                if reader:
                    self._readers += 1
                else:
                    self._writer = True
                state.release()
                return
            headroom()
            w = Waiter()
            (self._rq if reader else self._wq).push(w)
        except BaseException:
            state.release()
            raise
        reason = "sync.RWMutex.RLock" if reader else "sync.RWMutex.Lock"
        yield from park(sync, w, (state,), None, self._abort, w, reason)

    def _abort(self, w: Waiter) -> bool:
        """A waiter leaves: readers queued behind a writer that gave up go in."""
        with self._state:
            q = w.q
            if q is None or not q.discard(w):
                return False
            woken = self._rq.take_all() if not self._writer and not self._wq.live() else []
            self._readers += len(woken)
        for x in woken:
            x.wake()
        return True

    def rlock(self) -> None:
        """Take the read lock, blocking while a writer holds or waits for it."""
        run(self._lock(True, True))

    def arlock(self) -> Awaitable[None]:
        """Coroutine form of ``rlock``."""
        return self._lock(True, False)

    def lock(self) -> None:
        """Take the write lock, blocking while anyone holds it."""
        run(self._lock(False, True))

    def alock(self) -> Awaitable[None]:
        """Coroutine form of ``lock``."""
        return self._lock(False, False)

    def try_rlock(self) -> bool:
        """Take the read lock if that needs no wait; True if taken."""
        with self._state:
            if not self._writer and not self._wq.live():
                self._readers += 1
                return True
            return False

    def runlock(self) -> None:
        """Release a read lock; ``RuntimeError`` if none is held."""
        with self._state:
            if self._readers <= 0:
                raise RuntimeError("runlock of unlocked RWMutex")
            self._readers -= 1
            w = None
            if self._readers == 0:
                w = self._wq.take()
                if w is not None:
                    self._writer = True
        if w is not None:
            w.wake()

    def try_lock(self) -> bool:
        """Take the write lock if that needs no wait; True if taken."""
        with self._state:
            if not self._writer and self._readers == 0 and not self._wq.live():
                self._writer = True
                return True
            return False

    def unlock(self) -> None:
        """Release the write lock; ``RuntimeError`` if it is not held."""
        with self._state:
            if not self._writer:
                raise RuntimeError("unlock of unlocked RWMutex")
            self._writer = False
            if self._rq.live():
                woken = self._rq.take_all()
                self._readers += len(woken)
            else:
                w = self._wq.take()
                woken = [w] if w is not None else []
                self._writer = w is not None
        for w in woken:
            w.wake()

    def rlocker(self) -> _RLocker:
        """A Locker whose lock/unlock take the read lock (Go's ``RLocker``)."""
        return self._rlocker

    def statistics(self) -> RWMutexStatistics:
        """A snapshot: readers, writer, readers and writers waiting."""
        with self._state:
            return RWMutexStatistics(self._readers, self._writer, self._rq.live(),
                                     self._wq.live())

    def __repr__(self) -> str:
        return (f"<RWMutex readers={self._readers} writer={self._writer} "
                f"readers_waiting={self._rq.live()} writers_waiting={self._wq.live()}>")


class _RLocker(_LockerMixin):
    """The read side of an RWMutex as a Locker (``rw.rlocker()``)."""

    __slots__ = ("_rw",)

    def __init__(self, rw: RWMutex) -> None:
        self._rw = rw

    def lock(self) -> None:
        """Take the read lock."""
        self._rw.rlock()

    def unlock(self) -> None:
        """Release the read lock."""
        self._rw.runlock()

    def alock(self) -> Awaitable[None]:
        """Coroutine form of ``lock``."""
        return self._rw.arlock()

    def __repr__(self) -> str:
        return f"<RLocker of {self._rw!r}>"


# --------------------------------------------------------------------------- WaitGroup

class WaitGroup:
    """Waits for a collection of goroutines to finish (Go's ``sync.WaitGroup``).

    Fields, guarded by _state: _count, _waiters (goroutines blocked in ``wait``).
    """

    __slots__ = ("_count", "_state", "_waiters")

    def __init__(self) -> None:
        self._state = state = threading.Lock()
        self._count = 0
        self._waiters = WaitQueue(state)

    def add(self, n: int = 1) -> None:
        """Add ``n`` (which may be negative) to the counter."""
        _check_int(n, "WaitGroup delta")
        with self._state:
            count = self._count + n
            if count < 0:
                raise ValueError("negative WaitGroup counter")
            self._count = count
            if count or not self._waiters:
                return
            woken = self._waiters.take_all()
        for w in woken:
            w.wake()

    def done(self) -> None:
        """Decrement the counter by one."""
        # add(-1), inlined: done() is the hot call of a WaitGroup.
        with self._state:
            count = self._count - 1
            if count < 0:
                raise ValueError("negative WaitGroup counter")
            self._count = count
            if count or not self._waiters:
                return
            woken = self._waiters.take_all()
        for w in woken:
            w.wake()

    @types.coroutine
    def _wait(self, timeout: float | None, sync: bool) -> Generator[Any, Any, bool]:
        """The one body of wait, in every world."""
        state = self._state
        state.acquire()
        try:
            if self._count == 0:
                state.release()
                return True
            if timeout is not None:
                timeout = checked(timeout)
            if timeout == 0.0:
                state.release()
                return False
            w = Waiter(self._waiters)
            req = enqueue(sync, w, (state,), timeout, "sync.WaitGroup.Wait")
        except BaseException:
            state.release()
            raise
        if req is not None:
            yield req
            return True
        return (yield from park(sync, w, (state,), timeout, dequeue, w, "sync.WaitGroup.Wait"))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the counter is zero; False if ``timeout`` expired first."""
        if self._count == 0:
            return True
        return run(self._wait(timeout, True))

    def await_(self, timeout: float | None = None) -> Awaitable[bool]:
        """Coroutine form of ``wait`` (``wait`` prefixed with ``a`` is a keyword):
        ``await wg.await_()``, or simply ``await wg``."""
        return self._wait(timeout, False)

    def __await__(self) -> Generator[Any, Any, bool]:
        return (yield from self._wait(None, False))

    @overload
    def go(self, fn: Callable[P, Coroutine[Any, Any, R]], /, *args: P.args,
           **kwargs: P.kwargs) -> Goroutine[R]: ...
    @overload
    def go(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Goroutine[R]: ...
    def go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Goroutine[Any]:
        """Start ``fn(*args, **kwargs)`` as a goroutine counted by this group (Go
        1.25's ``wg.Go``); an ``async def`` function becomes a coroutine goroutine."""
        self.add(1)
        run = body_of(fn, args, kwargs, self.done)
        try:
            return go(run)
        except BaseException:
            self.done()
            raise

    @property
    def count(self) -> int:
        """The counter: the sum of the ``add`` deltas minus the ``done`` calls (a snapshot)."""
        return self._count

    def __repr__(self) -> str:
        return f"<WaitGroup count={self._count} waiters={self._waiters.live()}>"


# --------------------------------------------------------------------------- Once

class Once:
    """Runs a function exactly once (Go's ``sync.Once``).

    Concurrent callers of ``do`` wait until the first call's function returns.
    If the function raises, the exception propagates to that caller and the
    Once still counts as done, as in Go.
    """

    __slots__ = ("_done", "_m")

    def __init__(self) -> None:
        self._done = False
        self._m = Mutex()

    def do(self, fn: Callable[[], Any]) -> None:
        """Call ``fn`` if no ``do`` has called a function on this Once yet; other
        callers wait until that call returns (Go's ``Once.Do``)."""
        if self._done:
            return
        with self._m:
            if not self._done:
                try:
                    fn()
                finally:
                    self._done = True

    async def ado(self, fn: Callable[[], Any]) -> None:
        """Coroutine form of ``do``; ``fn`` may be an ``async def`` function."""
        if self._done:
            return
        async with self._m:
            if not self._done:
                try:
                    r = fn()
                    if inspect.isawaitable(r):
                        await r
                finally:
                    self._done = True

    @property
    def done(self) -> bool:
        """True once a function passed to ``do``/``ado`` has returned or raised."""
        return self._done

    def __repr__(self) -> str:
        return f"<Once done={self._done}>"


# --------------------------------------------------------------------------- Cond

class Cond:
    """A condition variable (Go's ``sync.Cond``) over a Locker.

    ``lock`` is anything with ``lock()``/``unlock()`` (Mutex, RWMutex,
    ``rw.rlocker()``).  ``wait`` must be called with it held.  Fields, guarded
    by _state: _waiters.
    """

    __slots__ = ("L", "_state", "_waiters")

    def __init__(self, lock: _Locker) -> None:
        if not (callable(getattr(lock, "lock", None)) and callable(getattr(lock, "unlock", None))):
            raise TypeError(f"Cond needs a Locker with lock() and unlock(), got "
                            f"{type(lock).__name__}")
        self.L = lock
        self._state = state = threading.Lock()
        self._waiters = WaitQueue(state)

    @types.coroutine
    def _wait(self, timeout: float | None, sync: bool) -> Generator[Any, Any, bool]:
        """The one body of wait: queue, unlock L, park, relock L (even when
        interrupted or cancelled, as ``threading.Condition.wait`` does)."""
        if timeout is not None:
            timeout = checked(timeout)
        headroom()
        state = self._state
        state.acquire()
        try:
            w = Waiter()
            self._waiters.push(w)  # before unlocking L: no signal can be missed
            self.L.unlock()
        except BaseException:
            self._waiters.discard(w)  # L was not held: leave no stale waiter behind
            state.release()
            raise
        try:
            return (yield from park(sync, w, (state,), timeout, dequeue, w, "sync.Cond.Wait"))
        finally:
            alock = None if sync else getattr(self.L, "alock", None)
            if alock is not None:
                yield from alock()
            else:
                self.L.lock()

    def wait(self, timeout: float | None = None) -> bool:
        """Unlock L, sleep until signalled, relock L.  False if ``timeout`` expired."""
        return run(self._wait(timeout, True))

    def await_(self, timeout: float | None = None) -> Awaitable[bool]:
        """Coroutine form of ``wait`` (``await`` is a keyword): ``await c.await_()``."""
        return self._wait(timeout, False)

    def signal(self) -> None:
        """Wake one waiting goroutine, if any."""
        with self._state:
            w = self._waiters.take()
        if w is not None:
            w.wake()

    def broadcast(self) -> None:
        """Wake every waiting goroutine."""
        with self._state:
            woken = self._waiters.take_all()
        for w in woken:
            w.wake()

    def __repr__(self) -> str:
        return f"<Cond waiters={self._waiters.live()}>"


# --------------------------------------------------------------------------- Semaphore

@dataclasses.dataclass(frozen=True)
class SemaphoreStatistics:
    """A snapshot of a Semaphore (``Semaphore.statistics()``): its ``size``, the
    weight ``held``, and the number of ``waiters`` blocked in ``acquire``."""

    size: int
    held: int
    waiters: int


class Semaphore(_LockerMixin):
    """A weighted semaphore (Go's ``golang.org/x/sync/semaphore``).

    Waiters are served in FIFO order: a large request at the head is not
    overtaken by smaller ones behind it.  ``async with``/``with sem:`` take 1.
    As in x/sync, a request larger than the size can never succeed:
    ``try_acquire`` returns False and ``acquire`` waits for its timeout without
    queuing (so it blocks nobody else).  Fields, guarded by _state: _cur
    (weight held), _waiters.
    """

    __slots__ = ("_cur", "_size", "_state", "_waiters")

    def __init__(self, n: int) -> None:
        _check_int(n, "Semaphore size")
        if n < 0:
            raise ValueError(f"Semaphore size must be >= 0, got {n}")
        self._state = state = threading.Lock()
        self._size = n
        self._cur = 0
        self._waiters = WaitQueue(state)

    @staticmethod
    def _check(n: int) -> None:
        _check_int(n, "Semaphore weight")
        if n < 0:
            raise ValueError(f"Semaphore weight must be >= 0, got {n}")

    def try_acquire(self, n: int = 1) -> bool:
        """Acquire weight ``n`` if that needs no wait; True if acquired."""
        self._check(n)
        with self._state:
            if self._size - self._cur >= n and not self._waiters.live():
                self._cur += n
                return True
            return False

    @types.coroutine
    def _acquire(self, n: int, timeout: float | None, sync: bool) -> Generator[Any, Any, bool]:
        """The one body of acquire, in every world."""
        state = self._state
        state.acquire()
        try:
            if self._size - self._cur >= n and not self._waiters.live():
                self._cur += n
                state.release()
                return True
            if timeout is not None:
                timeout = checked(timeout)
            if timeout == 0.0:
                state.release()
                return False
            headroom()
            w = _WeightedWaiter(n)
            if n <= self._size:
                self._waiters.push(w)
            # else: it can never be granted; wait for the timeout, queued nowhere
        except BaseException:
            state.release()
            raise
        return (yield from park(sync, w, (state,), timeout, self._abort, w, "semacquire"))

    def _abort(self, w: _WeightedWaiter) -> bool:
        """A waiter leaves; smaller requests it was holding back may go in."""
        with self._state:
            if w.n > self._size:
                return True  # never queued
            q = w.q
            if q is None or not q.discard(w):
                return False
            woken = self._grant()
        for x in woken:
            x.wake()
        return True

    def acquire(self, n: int = 1, timeout: float | None = None) -> bool:
        """Acquire weight ``n``, blocking until available; False on timeout."""
        self._check(n)
        return run(self._acquire(n, timeout, True))

    def aacquire(self, n: int = 1, timeout: float | None = None) -> Awaitable[bool]:
        """Coroutine form of ``acquire``: ``await sem.aacquire(n)``."""
        self._check(n)
        return self._acquire(n, timeout, False)

    def lock(self) -> None:
        """``acquire(1)``: makes the semaphore a Locker (``with sem:``)."""
        self.acquire()

    def alock(self) -> Awaitable[bool]:
        """``aacquire(1)`` (``async with sem:``)."""
        return self._acquire(1, None, False)

    def unlock(self) -> None:
        """``release(1)``."""
        self.release()

    def _grant(self) -> list[Waiter]:
        woken: list[Waiter] = []
        while True:
            head = self._waiters.first()
            if head is None or self._size - self._cur < head.n:  # type: ignore[attr-defined]
                break
            self._cur += head.n  # type: ignore[attr-defined]
            self._waiters.take()
            woken.append(head)
        return woken

    def release(self, n: int = 1) -> None:
        """Release weight ``n``; raises ``ValueError`` if more than held."""
        self._check(n)
        with self._state:
            if n > self._cur:
                raise ValueError("Semaphore released more than held")
            self._cur -= n
            woken = self._grant()
        for w in woken:
            w.wake()

    def statistics(self) -> SemaphoreStatistics:
        """A snapshot: size, weight held, waiters."""
        with self._state:
            return SemaphoreStatistics(self._size, self._cur, self._waiters.live())

    def __repr__(self) -> str:
        return f"<Semaphore size={self._size} held={self._cur} waiters={self._waiters.live()}>"


for _fn in (Mutex.__enter__, Mutex.alock, _mutex_lock, _mutex_wake_one, _mutex_hand_off,
            RWMutex._lock, RWMutex._abort, RWMutex.runlock, RWMutex.unlock, RWMutex.try_rlock,
            RWMutex.try_lock, WaitGroup.add, WaitGroup.done, WaitGroup._wait, WaitGroup.wait,
            Cond._wait, Cond.wait, Cond.signal, Cond.broadcast, Semaphore.try_acquire,
            Semaphore._acquire, Semaphore._abort, Semaphore.release, Semaphore._grant,
            # The public forms too: an interrupt landing in their frame after the
            # body returned would lose a lock that was taken.
            RWMutex.lock, RWMutex.rlock, Semaphore.acquire, Semaphore.lock):
    protect(_fn)
protect_nested(Mutex.__init__)
