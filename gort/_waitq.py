"""The parking layer: wait queues, parking and waking, written once for every
blocking operation in gort (Go's ``sema.go`` and ``gopark``/``goready``; Trio's
``ParkingLot``).

A blocked operation is a ``Waiter`` (Go's ``sudog``) in a ``WaitQueue``.  Every
blocking operation of gort (channel send and receive, select, Mutex, RWMutex,
WaitGroup, Cond, Semaphore, join) is *one* body: a generator that takes the
fast path or queues a waiter and ``yield from park(...)``.  The body runs in
one of three worlds, chosen by its caller, and only ``park`` differs between
them:

* a plain caller (a plain goroutine, the main thread, any thread): ``run``
  drives the body; ``park`` gives the processor away and sleeps the thread on
  its parker, without ever yielding;
* a coroutine goroutine: ``await`` drives it; ``park`` yields a park request
  naming the locks still held, and the worker suspends the goroutine before
  releasing them (Go's ``gopark`` unlock function);
* an asyncio task: ``park`` releases the locks and awaits an asyncio future.

The abort rule, for a timeout, a cancellation or any exception that interrupts
a wait: the waiter leaves through ``abort``, which removes it under the lock of
the structure it is queued on.  If it was no longer queued, a waker already
completed the operation and its wake-up is on the way: the wake-up is consumed,
the operation's result is kept, and the interruption is dropped (a timeout),
re-requested (asyncio's cancellation, a KeyboardInterrupt) or re-raised.  So an
operation has exactly two exits: it happened, or it left no trace.

Interruption.  A KeyboardInterrupt can land between any two bytecodes of the
main thread.  Landing between the claim of a waiter and its wake-up would hang
the peer; landing between queuing and parking would leave a dead waiter.  gort
therefore installs a SIGINT handler (only where the default one is installed)
that defers the interrupt while the main thread runs in *protected* code (the
blocking operations' own frames, marked with ``protect``) and delivers it at
the next point that is not: the thread's sleep in ``_sleep`` (marked
``interruptible``) or the caller's code.  The innermost marked frame decides,
as in Trio's ``_core/_ki.py``; unmarked frames (the runtime's helpers) inherit
from their callers.  The hot paths pay nothing for this: the check happens in
the signal handler, by code object.

Recursion.  A blocked operation needs some stack to park and to leave cleanly;
near the recursion limit a ``RecursionError`` could otherwise land between
queuing and parking.  ``headroom()`` probes for that stack before anything is
queued (Go's stack check in each prologue), so the operation fails cleanly.

WaitQueue rules.  A queue is guarded by the lock of the structure that owns it
(the channel's lock, the primitive's ``_state``): every method is called with
that lock held.  It is a FIFO with O(1) removal: removal only marks the waiter
(``w.q = None``); dead waiters are skipped when they reach the head and swept
when they outnumber the live ones, so a storm of timeouts stays linear.

Invariants, with the owner's lock held (``check`` verifies them):
    * ``w.q is self`` exactly for the live waiters of ``self``, and each live
      waiter is in ``self._items`` exactly once;
    * ``len(self)`` is the number of live waiters.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import types
from collections import deque
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

from . import _runtime
from ._timeout import timeout as check_timeout

T = TypeVar("T")

_LockType = type(threading.Lock())


class Waiter:
    """One blocked operation (Go's sudog).

    ``wake`` makes its goroutine runnable again; ``token`` is what ``park``
    needs to wait in its world (the thread's parker, or an asyncio future, or
    None in a coroutine goroutine).  The other fields are the operation's:
    the value carried or received (``elem``/``ok``), the select it belongs to
    (``sel``/``index``), a weight (``n``), ownership handed over (``granted``)
    and when it started waiting (``start``).
    """

    __slots__ = ("elem", "granted", "index", "n", "ok", "q", "sel", "start", "token", "wake")

    def __init__(self, wake: Callable[[], Any], token: Any = None, elem: Any = None,
                 sel: Any = None, index: int = -1, n: int = 0) -> None:
        self.wake = wake
        self.token = token
        self.elem = elem
        self.ok = False
        self.sel = sel
        self.index = index
        self.n = n
        self.granted = False
        self.start = 0.0
        self.q: WaitQueue | None = None


class WaitQueue:
    """A FIFO of waiters with O(1) removal; its owner's lock guards it."""

    __slots__ = ("_dead", "_items", "_live", "lock")

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock  # the owner's lock, which guards this queue
        self._items: deque[Waiter] = deque()
        self._live = 0
        self._dead = 0

    def push(self, w: Waiter) -> None:
        """Queue ``w`` at the tail."""
        w.q = self
        self._items.append(w)
        self._live += 1

    def push_front(self, w: Waiter) -> None:
        """Queue ``w`` at the head (a woken Mutex waiter keeps its place)."""
        w.q = self
        self._items.appendleft(w)
        self._live += 1

    def pop(self) -> Waiter | None:
        """Dequeue the first live waiter; None if there is none."""
        items = self._items
        while items:
            w = items.popleft()
            if w.q is self:
                w.q = None
                self._live -= 1
                return w
            self._dead -= 1
        return None

    def peek(self) -> Waiter | None:
        """The first live waiter, left queued; None if there is none."""
        items = self._items
        while items:
            w = items[0]
            if w.q is self:
                return w
            items.popleft()
            self._dead -= 1
        return None

    def pop_all(self) -> list[Waiter]:
        """Dequeue every live waiter, in order."""
        woken = [w for w in self._items if w.q is self]
        for w in woken:
            w.q = None
        self._items.clear()
        self._live = self._dead = 0
        return woken

    def remove(self, w: Waiter) -> bool:
        """Take ``w`` out if it is queued here; False if it is not (any more)."""
        if w.q is not self:
            return False
        w.q = None
        self._live -= 1
        self._dead += 1
        if self._dead > 32 and self._dead > self._live:
            self._sweep()
        return True

    def _sweep(self) -> None:
        self._items = deque([w for w in self._items if w.q is self])
        self._dead = 0

    def __len__(self) -> int:
        return self._live

    def __bool__(self) -> bool:
        return self._live > 0

    def __iter__(self) -> Iterator[Waiter]:
        """The live waiters, in order (the owner's lock held)."""
        return (w for w in self._items if w.q is self)

    def check(self) -> None:
        """Verify the invariants (the owner's lock held); AssertionError if broken."""
        live = [w for w in self._items if w.q is self]
        assert len(live) == self._live, f"live count {self._live} != {len(live)}"
        assert len({id(w) for w in live}) == len(live), "a waiter is queued twice"
        assert len(self._items) - len(live) == self._dead, "dead count is off"

    def __repr__(self) -> str:
        return f"<WaitQueue live={self._live} dead={self._dead}>"


def dequeue(w: Waiter) -> bool:
    """The abort of a plain queued waiter: take it out under its queue's lock.
    False if a waker dequeued it first (the operation then happened)."""
    q = w.q  # moves only from a queue to None while its owner waits
    if q is None:
        return False
    with q.lock:
        return q.remove(w)


# --------------------------------------------------------------------------- interrupts

_PROTECTED: set[types.CodeType] = set()
_INTERRUPTIBLE: set[types.CodeType] = set()

F = TypeVar("F", bound=Callable[..., Any])


def protect(fn: F) -> F:
    """Mark ``fn``: a KeyboardInterrupt landing in it (or in what it calls,
    unless marked otherwise) is deferred until the main thread leaves it."""
    _PROTECTED.add(fn.__code__)
    return fn


def protect_nested(fn: F) -> F:
    """Mark the functions defined inside ``fn`` (per-instance closures share them)."""
    _PROTECTED.update(c for c in fn.__code__.co_consts if isinstance(c, types.CodeType))
    return fn


def interruptible(fn: F) -> F:
    """Mark ``fn`` as a point where a deferred KeyboardInterrupt is delivered."""
    _INTERRUPTIBLE.add(fn.__code__)
    return fn


def protected_at(frame: types.FrameType | None) -> bool:
    """Would a KeyboardInterrupt be deferred in ``frame``?  The innermost marked
    frame decides; no marked frame means it is delivered."""
    f = frame
    while f is not None:
        code = f.f_code
        if code in _PROTECTED:
            return True
        if code in _INTERRUPTIBLE:
            return False
        f = f.f_back
    return False


_REDELIVER_AFTER = 0.001  # seconds between tries to deliver a deferred interrupt
# Main-thread flags (the timer thread only reads _deferred): a SIGINT waits to be
# delivered outside protected code; a timer to send it again is running.
_deferred = False
_resend_pending = False


def _sigint(signum: int, frame: types.FrameType | None) -> None:
    """gort's SIGINT handler: ``signal.default_int_handler``, except inside a
    protected section, where the interrupt is deferred: the signal is sent again
    a moment later (a real signal, so a blocking wait is interrupted too) until
    it lands outside."""
    global _deferred, _resend_pending
    if protected_at(frame):
        _deferred = True
        if not _resend_pending:
            _resend_pending = True
            t = threading.Timer(_REDELIVER_AFTER, _resend, (signum,))
            t.daemon = True
            t.start()
        return
    _deferred = False
    signal.default_int_handler(signum, frame)


def _resend(signum: int) -> None:
    global _resend_pending
    _resend_pending = False
    ident = threading.main_thread().ident
    if _deferred and ident is not None:
        signal.pthread_kill(ident, signum)


def interrupt_deferred() -> bool:
    """True while a KeyboardInterrupt waits to be delivered outside protected code."""
    return _deferred


def install_sigint_handler() -> bool:
    """Install ``_sigint`` if SIGINT still has Python's default handler and this is
    the main thread; True if it is (now) installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        current = signal.getsignal(signal.SIGINT)
        if current is _sigint:
            return True
        if current is not signal.default_int_handler:
            return False  # the user's own handler, or asyncio's: leave it alone
        signal.signal(signal.SIGINT, _sigint)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        return False
    return True


def _redeliver(e: BaseException) -> None:
    """An interruption arrived after the operation completed: keep the result and
    deliver a KeyboardInterrupt again at the next safe point."""
    if isinstance(e, KeyboardInterrupt):
        global _deferred
        _deferred = True
        _resend(signal.SIGINT)  # handled at once, here in protected code: deferred
        return
    raise e


# --------------------------------------------------------------------------- stack

_HEADROOM = 24  # frames a park and its clean exit need below the caller


def _probe(n: int) -> None:
    if n:
        _probe(n - 1)


def headroom() -> None:
    """Raise RecursionError now if there is not enough stack left to park and
    to leave cleanly, before anything is queued."""
    _probe(_HEADROOM)


# --------------------------------------------------------------------------- worlds

def waker(sync: bool) -> tuple[Callable[[], Any], Any]:
    """The wake function of the caller, and the token ``park`` waits on."""
    if sync:
        parker = _runtime.current_parker()
        return parker.release, parker
    m = _runtime._tls.m
    cg = m.cg if m is not None else None
    if cg is not None:
        return cg._wake, None
    from . import _aio
    return _aio.asyncio_waker()


def run(body: Generator[Any, Any, T]) -> T:
    """Drive a blocking body for a plain caller: it parks the thread itself and
    never yields."""
    try:
        body.send(None)
    except StopIteration as e:
        return e.value  # type: ignore[no-any-return]
    body.close()
    raise RuntimeError("a gort operation tried to suspend a plain (non-coroutine) caller")


@types.coroutine
def park(token: Any, locks: tuple[Any, ...], timeout: float | None,
         abort: Callable[[Any], bool], arg: Any, reason: str) -> Generator[Any, Any, bool]:
    """Wait for the wake-up of a queued waiter; ``locks`` are held on entry and
    released here.  True when woken, False when ``timeout`` expired first (and
    ``abort(arg)`` removed the waiter).  ``timeout`` is already checked."""
    if type(token) is _LockType:
        for lock in reversed(locks):
            lock.release()
        return park_thread(token, timeout, abort, arg, reason)
    if token is None and timeout is None:  # a coroutine goroutine: the common case
        g = _runtime._tls.m.cg  # type: ignore[union-attr]
        g._wait_reason = reason
        g._timed_park = False
        yield locks
        return True
    from . import _aio
    return (yield from _aio.suspend(locks, token, timeout, abort, arg, reason))


@interruptible
def _sleep(parker: threading.Lock, timeout: float | None) -> bool:
    """The thread's sleep: the one place a KeyboardInterrupt lands in a wait."""
    if timeout is None:
        return parker.acquire()
    return parker.acquire(True, timeout)


def _consume(parker: threading.Lock) -> None:
    """A waker claimed us: its wake-up is on the way.  Take it (protected, so an
    interrupt here is deferred, never lost)."""
    parker.acquire()


def park_thread(parker: threading.Lock, timeout: float | None,
                abort: Callable[[Any], bool], arg: Any, reason: str) -> bool:
    """Sleep the calling thread on its parker, giving up its P meanwhile.

    The main thread, waiting without a timeout, checks now and then whether every
    goroutine is asleep with nothing left that could wake anyone, and raises
    ``Deadlock`` if so (after removing its waiter with ``abort``).
    """
    m = _runtime._release_p(reason, timeout is not None)
    aborted = False

    def abort_once(a: Any) -> bool:
        nonlocal aborted
        aborted = abort(a)
        return aborted

    try:
        try:
            if (timeout is None and m is None
                    and threading.current_thread() is _runtime._main_thread):
                return _runtime._park_main(parker, abort_once, arg, reason)
            if _sleep(parker, timeout):
                return True
        except _runtime.Deadlock:
            raise
        except BaseException as e:
            if aborted or abort(arg):
                raise
            # The operation happened.  Its wake-up may already have been taken
            # (an interrupt can land just after the acquire returned) or still
            # be on its way: on the thread that can be interrupted, leave it to
            # the old parker (CPython's Condition.wait uses a fresh lock per wait
            # for the same reason); elsewhere the sleep never started, so take it.
            if m is None:
                _runtime._tls.parker = _runtime._new_parker()
            else:
                _consume(parker)
            _redeliver(e)
            return True
        if abort(arg):
            return False
        _consume(parker)
        return True
    finally:
        _runtime._acquire_p(m)


def checked(timeout: float | None) -> float | None:
    """``timeout`` under gort's one rule (see ``_timeout``)."""
    return check_timeout(timeout)


# The functions that run between queuing a waiter (or claiming one) and
# parking (or waking it): a KeyboardInterrupt there is deferred.
for _fn in (WaitQueue.push, WaitQueue.push_front, WaitQueue.pop, WaitQueue.pop_all,
            WaitQueue.remove, WaitQueue.peek, WaitQueue._sweep, dequeue, run, park,
            park_thread, _consume, waker, _runtime.Goroutine.join,
            _runtime.Goroutine._join_body):
    protect(_fn)
protect_nested(park_thread)
# The main thread's untimed wait (with deadlock detection) sleeps there.
interruptible(_runtime._park_main)

install_sigint_handler()
