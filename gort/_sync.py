"""Go's ``sync`` package: Mutex, RWMutex, WaitGroup, Once, Cond, Semaphore.

Every primitive keeps its state in plain fields guarded by one internal
``threading.Lock`` (``_state``), and parks a blocked goroutine through
``_runtime.park`` with a small waiter record, so a goroutine blocked here gives
its processor to others.  Wake-ups are issued after ``_state`` is released.
The rule for every timeout: the timed-out waiter removes itself under
``_state``; if it is no longer queued, a waker already granted it what it waited
for, and it takes that instead of timing out.

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
from collections import deque
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any, Protocol

from . import _aio, _runtime

STARVATION_THRESHOLD = 0.001  # seconds, as in Go's sync.Mutex

_monotonic = time.monotonic


class _W:
    """A goroutine blocked on a sync primitive."""

    __slots__ = ("granted", "n", "start", "wake")

    def __init__(self, wake: Callable[[], Any], n: int = 0) -> None:
        self.wake = wake
        self.n = n  # weight (Semaphore), or 1 for a reader (RWMutex)
        self.granted = False  # ownership was handed to this waiter
        self.start = 0.0


def _wait(state: threading.Lock, q: deque[_W], w: _W, parker: threading.Lock,
          timeout: float | None, reason: str) -> bool:
    """Park until w is granted; on timeout (or deadlock) remove w from q under state."""

    def abort(_: object) -> bool:
        with state:
            try:
                q.remove(w)
            except ValueError:
                return False
            return True

    return _runtime.park(parker, timeout, abort, None, reason)


@types.coroutine
def _await_w(state: threading.Lock, q: deque[_W], w: _W, fut: Any,
             timeout: float | None, reason: str) -> Generator[Any, Any, bool]:
    """Coroutine form of ``_wait``: ``state`` is held on entry (released by the park)."""

    def abort(_: object) -> bool:
        with state:
            try:
                q.remove(w)
            except ValueError:
                return False
            return True

    return (yield from _aio.suspend((state,), fut, timeout, abort, None, reason))


class _Locker(Protocol):
    def lock(self) -> None: ...
    def unlock(self) -> None: ...


# --------------------------------------------------------------------------- Mutex

@dataclasses.dataclass(frozen=True)
class MutexStatistics:
    locked: bool
    waiters: int
    starving: bool


class Mutex:
    """A mutual exclusion lock (Go's ``sync.Mutex``); not reentrant.

    ``lock()``, ``unlock()`` (raises ``RuntimeError`` if not locked),
    ``try_lock()``; usable as ``with mu:`` and ``async with mu:``.  Any goroutine
    may unlock it, as in Go.  ``lock``/``unlock``/``try_lock`` are per-instance
    closures over the mutex's state: on 3.13t, where attribute lookups are not
    specialized, that makes the uncontended path about a third cheaper.
    """

    __slots__ = ("_held", "_state", "_waitq", "_st", "lock", "unlock", "try_lock")

    lock: Callable[[], None]
    unlock: Callable[[], None]
    try_lock: Callable[[], bool]

    def __init__(self) -> None:
        held = threading.Lock()
        state = threading.Lock()
        waitq: deque[_W] = deque()
        st = [False]  # st[0]: starvation mode (guarded by state; read as a hint)
        self._held, self._state, self._waitq, self._st = held, state, waitq, st
        acquire, release = held.acquire, held.release

        def lock() -> None:
            """Lock, blocking (and giving up the processor) while it is held."""
            if not acquire(False):
                _mutex_lock_slow(held, state, waitq, st)

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

    def alock(self) -> Any:
        """Coroutine form of ``lock``: ``await mu.alock()`` (or ``async with mu``)."""
        return self._alock()

    @types.coroutine
    def _alock(self) -> Generator[Any, Any]:
        if self._held.acquire(False):
            return
        w: _W | None = None
        requeue = False
        while True:
            state = self._state
            state.acquire()
            try:
                wake, fut = _aio.waker()
                if w is None:
                    w = _W(wake)
                    w.start = _monotonic()
                else:
                    w.wake = wake
                if requeue:
                    self._waitq.appendleft(w)
                    if _monotonic() - w.start > STARVATION_THRESHOLD:
                        self._st[0] = True
                else:
                    self._waitq.append(w)
                if self._held.acquire(False):
                    if requeue:
                        self._waitq.popleft()
                    else:
                        self._waitq.pop()
                    state.release()
                    return
            except BaseException:
                state.release()
                raise
            yield from _await_w(state, self._waitq, w, fut, None, "sync.Mutex.Lock")
            if w.granted:
                return
            requeue = True

    async def __aenter__(self) -> None:
        await self._alock()

    async def __aexit__(self, t: type[BaseException] | None, v: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.unlock()

    def locked(self) -> bool:
        return self._held.locked()

    def __enter__(self) -> None:
        if not self._held.acquire(False):
            _mutex_lock_slow(self._held, self._state, self._waitq, self._st)

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.unlock()

    def statistics(self) -> MutexStatistics:
        with self._state:
            return MutexStatistics(self._held.locked(), len(self._waitq), self._st[0])

    def __repr__(self) -> str:
        state = "locked" if self._held.locked() else "unlocked"
        starving = " starving" if self._st[0] else ""
        return f"<Mutex {state} waiters={len(self._waitq)}{starving}>"


def _mutex_lock_slow(held: threading.Lock, state: threading.Lock, waitq: deque[_W],
                     st: list[bool]) -> None:
    parker = _runtime.current_parker()
    w = _W(parker.release)
    w.start = _monotonic()
    requeue = False
    while True:
        with state:
            if requeue:
                waitq.appendleft(w)  # a woken waiter keeps its place
                if _monotonic() - w.start > STARVATION_THRESHOLD:
                    st[0] = True
            else:
                waitq.append(w)
            if held.acquire(False):
                if requeue:
                    waitq.popleft()
                else:
                    waitq.pop()
                return
        _wait(state, waitq, w, parker, None, "sync.Mutex.Lock")
        if w.granted:
            return  # handed over in starvation mode
        requeue = True


def _mutex_wake_one(state: threading.Lock, waitq: deque[_W]) -> None:
    with state:
        w = waitq.popleft() if waitq else None
    if w is not None:
        w.wake()


def _mutex_hand_off(held: threading.Lock, state: threading.Lock, waitq: deque[_W],
                    st: list[bool]) -> bool:
    """Starvation mode: pass ownership to the head waiter without releasing."""
    with state:
        if not waitq:
            st[0] = False
            return False
        if not held.locked():
            raise RuntimeError("unlock of unlocked Mutex")
        w = waitq.popleft()
        w.granted = True
        if not waitq or _monotonic() - w.start < STARVATION_THRESHOLD:
            st[0] = False
    w.wake()
    return True


# --------------------------------------------------------------------------- RWMutex

@dataclasses.dataclass(frozen=True)
class RWMutexStatistics:
    readers: int
    writer: bool
    readers_waiting: int
    writers_waiting: int


class RWMutex:
    """A reader/writer lock (Go's ``sync.RWMutex``).

    Many readers or one writer.  A writer that is waiting blocks new readers, so
    writers never starve; when a writer unlocks, the readers that queued behind
    it go before the next writer, so readers never starve either.
    ``with rw:`` takes the write lock; ``with rw.rlocker():`` the read lock.

    Fields, guarded by _state: _readers (active readers), _writer (a writer
    holds it), _rq (blocked readers), _wq (blocked writers, FIFO).
    """

    __slots__ = ("_readers", "_rlocker", "_rq", "_state", "_wq", "_writer")

    def __init__(self) -> None:
        self._state = threading.Lock()
        self._readers = 0
        self._writer = False
        self._rq: deque[_W] = deque()
        self._wq: deque[_W] = deque()
        self._rlocker = _RLocker(self)

    def rlock(self) -> None:
        with self._state:
            if not self._writer and not self._wq:
                self._readers += 1
                return
            parker = _runtime.current_parker()
            w = _W(parker.release, 1)
            self._rq.append(w)
        _wait(self._state, self._rq, w, parker, None, "sync.RWMutex.RLock")

    @types.coroutine
    def _await_rw(self, q: deque[_W], reader: bool) -> Generator[Any, Any]:
        state = self._state
        state.acquire()
        try:
            if reader and not self._writer and not self._wq:
                self._readers += 1
                state.release()
                return
            if not reader and not self._writer and self._readers == 0 and not self._wq:
                self._writer = True
                state.release()
                return
            wake, fut = _aio.waker()
            w = _W(wake)
            q.append(w)
        except BaseException:
            state.release()
            raise
        reason = "sync.RWMutex.RLock" if reader else "sync.RWMutex.Lock"
        yield from _await_w(state, q, w, fut, None, reason)

    def arlock(self) -> Any:
        """Coroutine form of ``rlock``."""
        return self._await_rw(self._rq, True)

    def alock(self) -> Any:
        """Coroutine form of ``lock``."""
        return self._await_rw(self._wq, False)

    async def __aenter__(self) -> None:
        await self.alock()

    async def __aexit__(self, t: type[BaseException] | None, v: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.unlock()

    def try_rlock(self) -> bool:
        with self._state:
            if not self._writer and not self._wq:
                self._readers += 1
                return True
            return False

    def runlock(self) -> None:
        with self._state:
            if self._readers <= 0:
                raise RuntimeError("runlock of unlocked RWMutex")
            self._readers -= 1
            w = None
            if self._readers == 0 and self._wq:
                w = self._wq.popleft()
                self._writer = True
        if w is not None:
            w.wake()

    def lock(self) -> None:
        with self._state:
            if not self._writer and self._readers == 0 and not self._wq:
                self._writer = True
                return
            parker = _runtime.current_parker()
            w = _W(parker.release)
            self._wq.append(w)
        _wait(self._state, self._wq, w, parker, None, "sync.RWMutex.Lock")

    def try_lock(self) -> bool:
        with self._state:
            if not self._writer and self._readers == 0 and not self._wq:
                self._writer = True
                return True
            return False

    def unlock(self) -> None:
        with self._state:
            if not self._writer:
                raise RuntimeError("unlock of unlocked RWMutex")
            self._writer = False
            if self._rq:
                woken = list(self._rq)
                self._rq.clear()
                self._readers += len(woken)
            elif self._wq:
                woken = [self._wq.popleft()]
                self._writer = True
            else:
                woken = []
        for w in woken:
            w.wake()

    def rlocker(self) -> _RLocker:
        """A Locker whose lock/unlock take the read lock (Go's ``RLocker``)."""
        return self._rlocker

    def __enter__(self) -> None:
        self.lock()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.unlock()

    def statistics(self) -> RWMutexStatistics:
        with self._state:
            return RWMutexStatistics(self._readers, self._writer, len(self._rq), len(self._wq))

    def __repr__(self) -> str:
        return (f"<RWMutex readers={self._readers} writer={self._writer} "
                f"readers_waiting={len(self._rq)} writers_waiting={len(self._wq)}>")


class _RLocker:
    __slots__ = ("_rw",)

    def __init__(self, rw: RWMutex) -> None:
        self._rw = rw

    def lock(self) -> None:
        self._rw.rlock()

    def unlock(self) -> None:
        self._rw.runlock()

    def alock(self) -> Any:
        return self._rw.arlock()

    def __enter__(self) -> None:
        self._rw.rlock()

    async def __aenter__(self) -> None:
        await self._rw.arlock()

    async def __aexit__(self, t: type[BaseException] | None, v: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._rw.runlock()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._rw.runlock()

    def __repr__(self) -> str:
        return f"<RLocker of {self._rw!r}>"


# --------------------------------------------------------------------------- WaitGroup

class WaitGroup:
    """Waits for a collection of goroutines to finish (Go's ``sync.WaitGroup``)."""

    __slots__ = ("_count", "_state", "_waiters")

    def __init__(self) -> None:
        self._state = threading.Lock()
        self._count = 0
        self._waiters: deque[_W] = deque()

    def add(self, n: int = 1) -> None:
        """Add ``n`` (which may be negative) to the counter."""
        with self._state:
            count = self._count + n
            if count < 0:
                raise ValueError("negative WaitGroup counter")
            self._count = count
            if count or not self._waiters:
                return
            woken = list(self._waiters)
            self._waiters.clear()
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
            woken = list(self._waiters)
            self._waiters.clear()
        for w in woken:
            w.wake()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the counter is zero; False if ``timeout`` expired first."""
        with self._state:
            if self._count == 0:
                return True
            if timeout is not None and timeout <= 0:
                return False
            parker = _runtime.current_parker()
            w = _W(parker.release)
            self._waiters.append(w)
        return _wait(self._state, self._waiters, w, parker, timeout, "sync.WaitGroup.Wait")

    def await_(self, timeout: float | None = None) -> Any:
        """Coroutine form of ``wait`` (``wait`` prefixed with ``a`` is a keyword):
        ``await wg.await_()``, or simply ``await wg``."""
        return self._await(timeout)

    @types.coroutine
    def _await(self, timeout: float | None) -> Generator[Any, Any, bool]:
        state = self._state
        state.acquire()
        try:
            if self._count == 0:
                state.release()
                return True
            if timeout is not None and timeout <= 0:
                state.release()
                return False
            wake, fut = _aio.waker()
            w = _W(wake)
            self._waiters.append(w)
        except BaseException:
            state.release()
            raise
        return (yield from _await_w(state, self._waiters, w, fut, timeout,
                                    "sync.WaitGroup.Wait"))

    def __await__(self) -> Generator[Any, Any, bool]:
        return (yield from self._await(None))

    def go(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> _runtime.Goroutine[Any]:
        """Start ``fn`` as a goroutine counted by this group (Go 1.25's ``wg.Go``)."""
        self.add(1)
        run: Callable[..., Any]
        if inspect.iscoroutinefunction(fn):
            async def arun() -> Any:
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self.done()
            run = arun
        else:
            def prun() -> Any:
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.done()
            run = prun
        run.__qualname__ = getattr(fn, "__qualname__", run.__qualname__)
        try:
            return _runtime.go(run)
        except BaseException:
            self.done()
            raise

    @property
    def count(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"<WaitGroup count={self._count} waiters={len(self._waiters)}>"


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
        return self._done

    def __repr__(self) -> str:
        return f"<Once done={self._done}>"


# --------------------------------------------------------------------------- Cond

class Cond:
    """A condition variable (Go's ``sync.Cond``) over a Locker.

    ``lock`` is anything with ``lock()``/``unlock()`` (Mutex, RWMutex,
    ``rw.rlocker()``).  ``wait`` must be called with it held.
    """

    __slots__ = ("L", "_state", "_waiters")

    def __init__(self, lock: _Locker) -> None:
        if not (callable(getattr(lock, "lock", None)) and callable(getattr(lock, "unlock", None))):
            raise TypeError(f"Cond needs a Locker with lock() and unlock(), got "
                            f"{type(lock).__name__}")
        self.L = lock
        self._state = threading.Lock()
        self._waiters: deque[_W] = deque()

    def wait(self, timeout: float | None = None) -> bool:
        """Unlock L, sleep until signalled, relock L.  False if ``timeout`` expired."""
        parker = _runtime.current_parker()
        w = _W(parker.release)
        with self._state:
            self._waiters.append(w)  # before unlocking: no signal can be missed
        try:
            self.L.unlock()
        except BaseException:
            self._forget(w)  # L was not held: leave no stale waiter behind
            raise
        try:
            return _wait(self._state, self._waiters, w, parker, timeout, "sync.Cond.Wait")
        finally:
            self.L.lock()

    async def await_(self, timeout: float | None = None) -> bool:
        """Coroutine form of ``wait`` (``await`` is a keyword): ``await c.await_()``."""
        state = self._state
        try:
            return await self._await_signal(state, timeout)
        finally:  # relock L even when cancelled, as the sync form does
            alock = getattr(self.L, "alock", None)
            if alock is not None:
                await alock()
            else:
                self.L.lock()

    @types.coroutine
    def _await_signal(self, state: threading.Lock,
                      timeout: float | None) -> Generator[Any, Any, bool]:
        state.acquire()
        try:
            wake, fut = _aio.waker()
            w = _W(wake)
            self._waiters.append(w)  # before unlocking L: no signal can be missed
            try:
                self.L.unlock()
            except BaseException:
                self._waiters.remove(w)
                raise
        except BaseException:
            state.release()
            raise
        return (yield from _await_w(state, self._waiters, w, fut, timeout, "sync.Cond.Wait"))

    def _forget(self, w: _W) -> None:
        with self._state:
            try:
                self._waiters.remove(w)
            except ValueError:
                pass

    def signal(self) -> None:
        """Wake one waiting goroutine, if any."""
        with self._state:
            w = self._waiters.popleft() if self._waiters else None
        if w is not None:
            w.wake()

    def broadcast(self) -> None:
        """Wake every waiting goroutine."""
        with self._state:
            woken = list(self._waiters)
            self._waiters.clear()
        for w in woken:
            w.wake()

    def __repr__(self) -> str:
        return f"<Cond waiters={len(self._waiters)}>"


# --------------------------------------------------------------------------- Semaphore

@dataclasses.dataclass(frozen=True)
class SemaphoreStatistics:
    size: int
    held: int
    waiters: int


class Semaphore:
    """A weighted semaphore (Go's ``golang.org/x/sync/semaphore``).

    Waiters are served in FIFO order: a large request at the head is not
    overtaken by smaller ones behind it.  ``async with``/``with sem:`` take 1.
    """

    __slots__ = ("_cur", "_size", "_state", "_waiters")

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"Semaphore size must be an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"Semaphore size must be >= 0, got {n}")
        self._state = threading.Lock()
        self._size = n
        self._cur = 0
        self._waiters: deque[_W] = deque()

    def _check(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"Semaphore weight must be an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"Semaphore weight must be >= 0, got {n}")
        if n > self._size:
            raise ValueError(f"acquire of {n} exceeds Semaphore size {self._size}")

    def try_acquire(self, n: int = 1) -> bool:
        self._check(n)
        with self._state:
            if self._size - self._cur >= n and not self._waiters:
                self._cur += n
                return True
            return False

    def acquire(self, n: int = 1, timeout: float | None = None) -> bool:
        """Acquire weight ``n``, blocking until available; False on timeout."""
        self._check(n)
        with self._state:
            if self._size - self._cur >= n and not self._waiters:
                self._cur += n
                return True
            if timeout is not None and timeout <= 0:
                return False
            parker = _runtime.current_parker()
            w = _W(parker.release, n)
            self._waiters.append(w)

        def abort(_: object) -> bool:
            with self._state:
                try:
                    self._waiters.remove(w)
                except ValueError:
                    return False
                woken = self._grant()  # we may have been blocking smaller waiters
            for x in woken:
                x.wake()
            return True

        return _runtime.park(parker, timeout, abort, None, "semacquire")

    def aacquire(self, n: int = 1, timeout: float | None = None) -> Any:
        """Coroutine form of ``acquire``: ``await sem.aacquire(n)``."""
        self._check(n)
        return self._aacquire(n, timeout)

    @types.coroutine
    def _aacquire(self, n: int, timeout: float | None) -> Generator[Any, Any, bool]:
        state = self._state
        state.acquire()
        try:
            if self._size - self._cur >= n and not self._waiters:
                self._cur += n
                state.release()
                return True
            if timeout is not None and timeout <= 0:
                state.release()
                return False
            wake, fut = _aio.waker()
            w = _W(wake, n)
            self._waiters.append(w)
        except BaseException:
            state.release()
            raise

        def abort(_: object) -> bool:
            with state:
                try:
                    self._waiters.remove(w)
                except ValueError:
                    return False
                woken = self._grant()
            for x in woken:
                x.wake()
            return True

        return (yield from _aio.suspend((state,), fut, timeout, abort, None, "semacquire"))

    async def __aenter__(self) -> None:
        await self.aacquire()

    async def __aexit__(self, t: type[BaseException] | None, v: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()

    def _grant(self) -> list[_W]:
        woken = []
        while self._waiters:
            head = self._waiters[0]
            if self._size - self._cur < head.n:
                break
            self._cur += head.n
            self._waiters.popleft()
            woken.append(head)
        return woken

    def release(self, n: int = 1) -> None:
        """Release weight ``n``; raises ``ValueError`` if more than held."""
        with self._state:
            if n < 0 or n > self._cur:
                raise ValueError("Semaphore released more than held")
            self._cur -= n
            woken = self._grant()
        for w in woken:
            w.wake()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def statistics(self) -> SemaphoreStatistics:
        with self._state:
            return SemaphoreStatistics(self._size, self._cur, len(self._waiters))

    def __repr__(self) -> str:
        return f"<Semaphore size={self._size} held={self._cur} waiters={len(self._waiters)}>"
