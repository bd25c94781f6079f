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

Interruption: see ``_ki`` (a KeyboardInterrupt in a blocking operation is
deferred to its next safe point).

Recursion.  A blocked operation needs some stack to park and to leave cleanly;
near the recursion limit a ``RecursionError`` could otherwise land between
queuing and parking.  A park probes for that stack before anything is
queued (``headroom()``, Go's stack check in each prologue), so the operation
fails cleanly.  The one exception is the hot path, an untimed park of a
coroutine goroutine: ``suspend_now`` is called before the waiter is queued and
needs no deeper stack than itself, so reaching it is the probe.

WaitQueue rules.  A queue is guarded by the lock of the structure that owns it
(the channel's lock, the primitive's ``_state``): every method is called with
that lock held.  It is a FIFO with O(1) removal: removal only marks the waiter
(``w.q = None``); dead waiters are skipped when they reach the head and swept
when they outnumber the live ones, so a storm of timeouts stays linear.

Invariants, with the owner's lock held (``check`` verifies them):
    * ``w.q is self`` exactly for the live waiters of ``self``, and each live
      waiter is in it exactly once;
    * ``self.dead`` is the number of entries whose waiter is not live.
"""

from __future__ import annotations

import threading
import types
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from . import _aio, _deadlock, _ki, _runtime, _timers
from ._ki import _redeliver, interruptible, protect, protect_nested
from ._timeout import timeout as check_timeout

T = TypeVar("T")



class Waiter:
    """One blocked operation (Go's sudog).

    ``wake`` makes its goroutine runnable again; ``park`` sets it, with the
    queue's lock still held, so no waker sees a waiter without it.  ``q`` is
    the queue it is in (set before it is appended), else None.  The other
    fields are the operation's: the value carried or received (``elem``/``ok``)
    and the select it belongs to (``sel``/``index``).  Subclasses add what one
    primitive needs.
    """

    __slots__ = ("elem", "index", "ok", "q", "sel", "wake")

    wake: Callable[[], Any]

    def __init__(self, q: WaitQueue | None = None, elem: Any = None, sel: Any = None,
                 index: int = -1) -> None:
        self.q = q
        self.elem = elem
        self.ok = False
        self.sel = sel
        self.index = index


# A non-blocking attempt's result (``Chan._try_recv``, say): nothing could be done
# without parking.
NOT_READY: Any = object()

# Whether any synctest bubble lives (a copy of ``_timers._bubbles`` kept by
# gort.synctest under its lock: one global lookup for each queue made).
_bubbled = 0

# The bubble of a queue that nothing ever closes or wakes (Background's done
# channel, Go's nil channel): a wait on it never ends, in any bubble durably.
EVERY_BUBBLE: Any = object()


class WaitQueue(deque[Waiter]):
    """A FIFO of waiters with O(1) removal; its owner's lock guards it.

    It is a deque, so the hot paths test and append to it at C speed: ``bool(q)``
    and ``len(q)`` count dead entries too (a hint: "maybe someone waits");
    ``live()`` is the exact count.  A waiter is queued with ``w.q = q;
    q.append(w)`` (the Waiter constructor sets ``q``) or ``push``.
    """

    __slots__ = ("bubble", "dead", "lock")

    def __init__(self, lock: threading.Lock, io: bool = False) -> None:
        super().__init__()
        self.lock = lock  # the owner's lock, which guards this queue
        self.dead = 0  # entries whose waiter was removed (w.q is no longer self)
        # The synctest bubble it was made in: a wait on it there is durable.  A
        # wait for I/O (``io``) never is: only the outside world ends it.
        self.bubble: Any = _runtime.current_bubble() if _bubbled and not io else None

    def push(self, w: Waiter) -> None:
        """Queue ``w`` at the tail."""
        w.q = self
        self.append(w)

    def push_front(self, w: Waiter) -> None:
        """Queue ``w`` at the head (a woken Mutex waiter keeps its place)."""
        w.q = self
        self.appendleft(w)

    def take(self) -> Waiter | None:
        """Dequeue the first live waiter; None if there is none."""
        while self:
            w = self.popleft()
            if w.q is self:
                w.q = None
                return w
            self.dead -= 1
        return None

    def first(self) -> Waiter | None:
        """The first live waiter, left queued; None if there is none."""
        while self:
            w = self[0]
            if w.q is self:
                return w
            self.popleft()
            self.dead -= 1
        return None

    def take_all(self) -> list[Waiter]:
        """Dequeue every live waiter, in order."""
        woken = [w for w in self if w.q is self]
        for w in woken:
            w.q = None
        self.clear()
        self.dead = 0
        return woken

    def discard(self, w: Waiter) -> bool:
        """Take ``w`` out if it is queued here; False if it is not (any more)."""
        if w.q is not self:
            return False
        w.q = None
        self.dead += 1
        if self.dead > 32 and self.dead * 2 > len(self):
            live = [x for x in self if x.q is self]
            self.clear()
            self.extend(live)
            self.dead = 0
        return True

    def live(self) -> int:
        """How many waiters are queued (dead entries not counted)."""
        return len(self) - self.dead

    def waiters(self) -> list[Waiter]:
        """The live waiters, in order."""
        return [w for w in self if w.q is self]

    def check(self) -> None:
        """Verify the invariants (the owner's lock held); AssertionError if broken."""
        live = self.waiters()
        assert len(self) - len(live) == self.dead, f"dead count {self.dead} is off"
        assert len({id(w) for w in live}) == len(live), "a waiter is queued twice"

    def __repr__(self) -> str:
        return f"<WaitQueue live={self.live()} dead={self.dead}>"


def dequeue(w: Waiter) -> bool:
    """The abort of a plain queued waiter: take it out under its queue's lock.
    False if a waker dequeued it first (the operation then happened)."""
    q = w.q  # moves only from a queue to None while its owner waits
    if q is None:
        return False
    with q.lock:
        return q.discard(w)


# --------------------------------------------------------------------------- stack

# Frames a thread's park and its clean exit need below the body: the park itself
# is covered by its own handler, which needs a few; giving the P back and taking
# one again can start a worker thread (threading.Thread.start is deep).
_HEADROOM = 16


def _probe(n: int) -> None:
    if n:
        _probe(n - 1)


def headroom() -> None:
    """Raise RecursionError now if there is not enough stack left to park and
    to leave cleanly, before anything is queued."""
    _probe(_HEADROOM)


# --------------------------------------------------------------------------- worlds

def run(body: Generator[Any, Any, T]) -> T:
    """Drive a blocking body for a plain caller: it parks the thread itself and
    never yields."""
    m = _runtime._tls.m
    if m is not None and m.p is not None and not m.pt:
        _runtime._reacquire(m)  # our P was retaken while we were outside gort
    try:
        body.send(None)
    except StopIteration as e:
        return e.value  # type: ignore[no-any-return]
    body.close()
    raise RuntimeError("a gort operation tried to suspend a plain (non-coroutine) caller")


def suspend_now(sync: bool, ws: Waiter | list[Waiter], locks: tuple[Any, ...],
                timeout: float | None, reason: str) -> tuple[Any, ...] | None:
    """The common case of ``park``, without its generator frame (which costs a
    third of a coroutine switch on 3.13t): an untimed park of a coroutine
    goroutine.  Returns the park request the body must ``yield`` at once, or
    None, and then the body must ``yield from park(...)``::

        req = suspend_now(sync, w, locks, timeout, reason)
        if req is not None:
            yield req
        elif not (yield from park(sync, w, locks, timeout, abort, w, reason)):
            ...  # timed out
    """
    if sync or timeout is not None:
        return None
    m = _runtime._tls.m
    g = m.cg if m is not None else None
    if g is None:
        return None
    if g._bubble is not None:
        g._durable = durable(g._bubble, ws if isinstance(ws, list) else (ws,))
    wake = g._wake
    if isinstance(ws, list):
        for w in ws:
            w.wake = wake
    else:
        ws.wake = wake
    g._wait_reason = reason
    g._timed_park = False
    return locks


def unsuspend() -> None:
    """The caller of ``suspend_now`` will not park after all (it got what it
    waited for while queuing): forget the park's synctest bookkeeping."""
    m = _runtime._tls.m
    g = m.cg if m is not None else None
    if g is not None:
        g._durable = False


def enqueue(sync: bool, ws: Waiter | list[Waiter], locks: tuple[Any, ...],
            timeout: float | None, reason: str) -> tuple[Any, ...] | None:
    """Queue ``ws`` (each on its ``q``), with their locks held, ready to park:
    ``suspend_now`` first (so reaching this call is the stack probe of an untimed
    coroutine park), else ``headroom()``.  Returns what ``suspend_now`` returned."""
    req = suspend_now(sync, ws, locks, timeout, reason)
    if req is None:
        headroom()
    if isinstance(ws, list):
        for w in ws:
            w.q.append(w)  # type: ignore[union-attr]
    else:
        ws.q.append(ws)  # type: ignore[union-attr]
    return req


@types.coroutine
def park(sync: bool, ws: Waiter | list[Waiter], locks: tuple[Any, ...], timeout: float | None,
         abort: Callable[[Any], bool], arg: Any, reason: str) -> Generator[Any, Any, bool]:
    """Wait for the wake-up of the queued waiter(s) ``ws``; ``locks`` (those of
    their queues) are held on entry and released here, after the waiters' wake
    is set for the caller's world.  True when woken, False when ``timeout``
    expired first (and ``abort(arg)`` removed the waiter).  ``timeout`` is
    already checked (see ``_timeout``)."""
    waiters = ws if isinstance(ws, list) else (ws,)
    if sync:  # a plain caller: sleep the thread
        parker = _runtime._tls.parker or _runtime.current_parker()
        b = _runtime.current_bubble() if _timers._bubbles else None
        if b is not None:
            dur = durable(b, waiters)
            wake = b.waker(parker.release) if dur else parker.release
            for w in waiters:
                w.wake = wake
            for lock in reversed(locks):
                lock.release()
            return park_in_bubble(b, dur, parker, wake, timeout, abort, arg, reason)
        for w in waiters:
            w.wake = parker.release
        for lock in reversed(locks):
            lock.release()
        return park_thread(parker, timeout, abort, arg, reason)
    m = _runtime._tls.m
    g = m.cg if m is not None else None
    fut = None
    if g is not None:  # a coroutine goroutine: suspend it, holding no thread
        wake = g._wake
        if g._bubble is not None:
            g._durable = durable(g._bubble, waiters)
    else:  # an asyncio task: await a future
        try:
            wake, fut = _aio.asyncio_waker()
        except BaseException:
            for w in waiters:
                if w.q is not None:
                    w.q.discard(w)
            for lock in reversed(locks):
                lock.release()
            raise
    for w in waiters:
        w.wake = wake
    if g is not None and timeout is None:  # the common case, inlined
        g._wait_reason = reason
        g._timed_park = False
        yield locks
        return True
    return (yield from _aio.suspend(locks, fut, timeout, abort, arg, reason))


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
    m = _runtime._tls.m
    aborted = False

    def abort_once(a: Any) -> bool:
        nonlocal aborted
        aborted = abort(a)
        return aborted

    had_p = m is not None and m.p is not None  # (not inside blocking(), say)
    try:
        try:
            _runtime._release_p(reason, timeout is not None)
            if (timeout is None and m is None
                    and threading.current_thread() is _runtime._main_thread):
                return _deadlock.park_main(parker, abort_once, arg, reason)
            if _sleep(parker, timeout):
                return True
        except _deadlock.Deadlock:
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
        if had_p:  # its P was given away (or retaken): take one again
            _runtime._acquire_p(m)


# --------------------------------------------------------------------------- bubbles

def durable(b: Any, waiters: Any) -> bool:
    """Is a park on ``waiters`` durably blocked in synctest bubble ``b``: are they
    all queued on structures made in ``b``?  (Go: a goroutine blocked on a
    channel made outside its bubble, or on I/O, is not.)  A waiter queued
    nowhere (a Semaphore request larger than the semaphore) waits only for its
    timeout, as a sleep does: durable."""
    return all(w.q is None or w.q.bubble is b or w.q.bubble is EVERY_BUBBLE for w in waiters)


def park_in_bubble(b: Any, dur: bool, parker: threading.Lock, wake: Callable[[], Any],
                   timeout: float | None, abort: Callable[[Any], bool], arg: Any,
                   reason: str) -> bool:
    """``park_thread`` for a plain goroutine in a synctest bubble.  A durable
    park counts as blocked in the bubble until ``wake`` (``b.waker``) counts it
    running again, and its timeout is a timer on the bubble's fake clock, whose
    firing (like a waker) aborts the waiter and, if that won, wakes it.  A park
    that is not durable is ``park_thread``'s: the fake clock cannot move while
    it waits, so its timeout runs on the real one."""
    if not dur:  # only the outside world ends it: a timeout on the real clock
        return park_thread(parker, timeout, abort, arg, reason)
    box = _aio._Box()
    entry = None
    if timeout is not None:
        entry = _timers.add(b.now + timeout, _bubble_timeout, (abort, arg, box, wake))

    def abort_here(a: Any) -> bool:  # an exception ended the sleep: nobody woke us
        if not abort(a):
            return False
        if entry is not None:
            entry.cancel()
        b.unblocked()
        return True

    g = _runtime.current_goroutine()
    if g is not None:  # (as _release_p does: the bubble may describe it now)
        g._wait_reason = reason
        g._state = _runtime.GState.PARKED
    b.blocked()
    park_thread(parker, None, abort_here, arg, reason)
    if box.timed_out:
        return False
    if entry is not None:
        entry.cancel()
    return True


def _bubble_timeout(arg: tuple[Callable[[Any], bool], Any, Any, Callable[[], Any]]) -> None:
    abort, token, box, wake = arg
    if abort(token):
        box.timed_out = True
        wake()


def checked(timeout: float | None) -> float | None:
    """``timeout`` under gort's one rule (see ``_timeout``)."""
    return check_timeout(timeout)


# The functions that run between queuing a waiter (or claiming one) and
# parking (or waking it): a KeyboardInterrupt there is deferred.
for _fn in (WaitQueue.push, WaitQueue.push_front, WaitQueue.take, WaitQueue.take_all,
            WaitQueue.discard, WaitQueue.first, dequeue, run, park,
            park_thread, park_in_bubble, _consume, suspend_now, enqueue):
    protect(_fn)
protect_nested(park_thread)

_ki.install_sigint_handler()
