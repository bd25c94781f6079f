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

import signal
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from . import _aio, _runtime, _timers
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

# The deferral state, guarded by _state (an RLock: a handler can run nested inside
# another on the main thread).  _deferred: an interrupt waits to be delivered;
# set by the handler and _redeliver (main thread), cleared only by the handler
# when it delivers.  _resent: a signal gort re-sent is on its way; set only by
# the resender, cleared only by the handler.  Invariants: _resent implies
# _deferred, and at most one re-sent signal is in flight.  The resender checks,
# sets _resent and sends under _state, and the handler takes its one decision
# (defer again, or clear both and deliver) under _state: so once an interrupt is
# delivered no re-sent signal is left in flight, and none can arrive later to be
# taken for a new Ctrl-C.  (Without the lock a resender preempted between
# setting _resent and sending let a new SIGINT consume the flag and be dropped,
# and the stale signal then raised a KeyboardInterrupt of its own, later.)
# _kick is a binary semaphore: released (by a C call, so no handler can run
# inside it) to wake the resender.
_state = threading.RLock()
_deferred = False
_resent = False
_kick = threading.Lock()
_kick.acquire()
_resender: threading.Thread | None = None


def _sigint(signum: int, frame: types.FrameType | None) -> None:
    """gort's SIGINT handler: ``signal.default_int_handler``, except inside a
    protected section, where the interrupt is deferred: the signal is sent again
    a moment later (a real signal, so a blocking wait is interrupted too) until
    it lands outside."""
    global _deferred, _resent
    protected = protected_at(frame)  # outside the lock: it runs Python code
    with _state:
        _resent = False  # (if a new SIGINT overtook ours, ours comes later as one more)
        if protected:
            _deferred = True
        else:
            _deferred = False
    if protected:
        _wake_resender()
        return
    signal.default_int_handler(signum, frame)


def _wake_resender() -> None:
    global _resender
    if _resender is None:
        # Set before start(): a handler nested inside start() only kicks.
        _resender = threading.Thread(target=_resend_loop, name="gort-sigint", daemon=True)
        try:
            _resender.start()
        except BaseException:  # no thread now (at exit, or refused): the interrupt
            _resender = None  # stays deferred until the next SIGINT or deferral
            return
    try:
        _kick.release()
    except RuntimeError:
        pass  # a kick is already pending


def _resend_loop() -> None:
    """The resender thread: while an interrupt is deferred, send SIGINT to the
    main thread again every ``_REDELIVER_AFTER`` seconds, one signal at a time."""
    global _resent, _deferred
    while True:
        try:
            _kick.acquire()
            while _deferred:
                time.sleep(_REDELIVER_AFTER)
                if signal.getsignal(signal.SIGINT) is not _sigint:
                    with _state:  # pragma: no cover - replaced: nothing to deliver to
                        _deferred = _resent = False
                    break
                ident = threading.main_thread().ident
                with _state:
                    if _deferred and not _resent and ident is not None:
                        _resent = True
                        signal.pthread_kill(ident, signal.SIGINT)
        except BaseException:  # pragma: no cover - this thread must never die
            pass


def _reset_after_fork() -> None:
    """A forked child starts with no interrupt pending (it has no resender)."""
    global _deferred, _resent, _resender, _kick, _state
    _state = threading.RLock()  # (the parent's resender may have held it)
    _deferred = _resent = False
    _resender = None
    _kick = threading.Lock()
    _kick.acquire()


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
        with _state:
            _deferred = True
        _wake_resender()
        return
    raise e


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
            park_thread, park_in_bubble, _consume, suspend_now, enqueue, _runtime.Goroutine.join,
            _runtime.Goroutine._join_body):
    protect(_fn)
protect_nested(park_thread)
# The main thread's untimed wait (with deadlock detection) sleeps there.
interruptible(_runtime._park_main)

install_sigint_handler()
_runtime._at_fork_child_hooks.append(_reset_after_fork)
