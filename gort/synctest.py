"""Deterministic time for testing concurrent code: Go 1.25's ``testing/synctest``.

``synctest.run(fn)`` runs ``fn`` as a goroutine in a *bubble*, waits until every
goroutine of the bubble has ended and returns ``fn``'s result (or raises its
exception)::

    def test_retry_backoff():
        @gort.synctest.test
        def body():
            ctx, cancel = gort.with_timeout(gort.background(), 30)
            gort.sleep(29.5)            # returns at once: time is fake
            assert ctx.err() is None
            gort.sleep(1)
            assert isinstance(ctx.err(), gort.DeadlineExceeded)

Inside a bubble:

* goroutines started from the bubble belong to it (``go`` inherits the bubble
  of its caller, so do ``after_func`` callbacks);
* every gort clock reads the bubble's fake clock: ``sleep``/``asleep``,
  ``after``, ``tick``, ``Timer``, ``Ticker``, context deadlines and every
  ``timeout=``.  The clock starts at ``EPOCH`` and moves only when every
  goroutine of the bubble is *durably blocked*: then it jumps to the next timer
  of the bubble and fires it (Trio's ``MockClock(autojump_threshold=0)``);
* a goroutine is durably blocked when it waits in gort on something made in
  the bubble (a channel, a lock, a WaitGroup, a Cond, a Semaphore, a join, a
  sleep, a channel that is never closed such as ``background().done()``).
  Waiting on something made outside the bubble, on I/O, in ``time.sleep`` or
  any other foreign call is not durable: the clock does not move meanwhile
  (Go's rule, for the same reason: only the outside world can end such a
  wait), and the ``timeout=`` of such a wait runs on the real clock (in Go it
  would never expire);
* ``wait()`` returns once every *other* goroutine of the bubble is durably
  blocked (Go's ``synctest.Wait``), without moving the clock;
* if every goroutine is durably blocked and no timer of the bubble is pending,
  nothing can ever happen: ``run`` raises ``gort.Deadlock`` naming them;
* once ``fn`` has returned the clock stops: a goroutine still running must end
  on its own, and if the goroutines left are all durably blocked ``run`` raises
  ``BubbleError`` naming them (a goroutine that outlives its test is a bug);
* a channel made in the bubble cannot be used from outside it (``BubbleError``).

Goroutines left blocked by a deadlock stay parked (a coroutine goroutine holds
no thread; a plain one holds its idle thread).  ``time.monotonic()`` itself is
not faked: use gort's clocks (``gort.synctest.now()`` reads the bubble's).

Bookkeeping (``_Bubble``), all guarded by the bubble's ``lock``:
    members   the bubble's goroutines that have not ended, by id
    running   members not durably blocked, plus one while the bubble itself
              acts (fires timers, wakes a ``wait()``er): the bubble is idle
              exactly when it is 0
    heap      (when, seq, BubbleEntry) of its pending timers
    now       the fake clock, moved only by ``_idle`` under the lock
    waitq     the goroutine in ``wait()``, if any
Invariant: ``running`` is decremented by a park only after the parked
goroutine released every lock of its wait (so the bubble may fire timers that
take them), and incremented by the wake that ends that park, before the
goroutine can run (``waker``, or ``_runtime.ready`` for a coroutine goroutine,
through ``Goroutine._durable``): a wake is exactly-once, so the count is exact
and a bubble never looks idle while a woken goroutine has yet to run.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import threading
import types
from collections.abc import Awaitable, Callable, Generator
from typing import Any, ParamSpec, TypeVar

from . import _chan, _runtime, _timers, _waitq
from ._chan import Chan
from ._deadlock import Deadlock
from ._diag import describe
from ._goroutine import Goroutine, go
from ._waitq import Waiter, WaitQueue, dequeue, enqueue, park
from ._waitq import run as _drive

__all__ = ("EPOCH", "BubbleError", "now", "run", "test", "wait", "await_")

P = ParamSpec("P")
R = TypeVar("R")

# Where a bubble's clock starts.  gort's clock is a monotonic one (its zero
# means nothing), so it starts at zero: a float there resolves nanoseconds for
# years of fake time (at 2000-01-01 in Unix seconds, as Go's wall clock starts,
# it would resolve only a tenth of a microsecond).
EPOCH = 0.0

# After this many timer firings in a row that woke no goroutine, with every
# pending timer armed by those firings (a ticker nobody reads, everything else
# blocked), the bubble is deadlocked all the same: nothing else can happen.
_IDLE_FIRINGS = 100_000

_count_lock = threading.Lock()  # guards _timers._bubbles


class BubbleError(RuntimeError):
    """Misuse of a synctest bubble: a goroutine outlived ``fn``, a bubble's
    channel was used from outside it, or a bubble was started inside another."""


class _Bubble:
    """One bubble (Go's ``synctestBubble``); see the module docstring."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = EPOCH
        self.heap: list[tuple[float, int, _timers.BubbleEntry]] = []
        self.cancelled = 0  # entries of heap that were cancelled (swept when most are)
        self.seq = itertools.count()
        self.members: dict[int, Goroutine[Any]] = {}
        self.running = 0
        self.waitq = WaitQueue(self.lock)
        self.waitq.bubble = self
        self.root: Goroutine[Any] | None = None
        self.wakes = 0  # goroutines started or woken, ever (to tell a quiet firing)
        self.returned = False  # the root goroutine has ended
        self.over = False  # finished: nothing more happens here
        self.error: BaseException | None = None
        self.done: Chan[None] = Chan()  # made outside the bubble: run() waits on it

    # -- membership and the running count (called by the runtime)

    def started(self, g: Goroutine[Any]) -> None:
        with self.lock:
            if self.root is None:
                self.root = g  # run() starts it first, before anything else can
            self.members[g.id] = g
            self.running += 1
            self.wakes += 1

    def exited(self, g: Goroutine[Any]) -> None:
        with self.lock:
            self.members.pop(g.id, None)
            if g is self.root:
                self.returned = True
            self.running -= 1
            idle = self.running == 0
        if idle:
            self._idle()

    def blocked(self) -> None:
        with self.lock:
            self.running -= 1
            idle = self.running == 0
        if idle:
            self._idle()

    def unblocked(self) -> None:
        with self.lock:
            self.running += 1
            self.wakes += 1

    def waker(self, release: Callable[[], Any]) -> Callable[[], None]:
        """The wake of a plain goroutine's durable park: counted, then released."""
        def wake() -> None:
            self.unblocked()
            release()
        return wake

    # -- timers (called by _timers)

    def add_timer(self, entry: _timers.BubbleEntry) -> _timers.BubbleEntry:
        with self.lock:
            if not self.over:
                heapq.heappush(self.heap, (entry.when, next(self.seq), entry))
        return entry

    def cancel_timer(self, entry: _timers.BubbleEntry) -> bool:
        with self.lock:
            if entry.state != _timers.PENDING:
                return False
            entry.state = _timers.CANCELLED
            entry.fn = entry.arg = entry.owner = None  # type: ignore[assignment]
            self.cancelled += 1
            if self.cancelled > 64 and self.cancelled * 2 > len(self.heap):
                self.heap = [x for x in self.heap if x[2].state == _timers.PENDING]
                heapq.heapify(self.heap)
                self.cancelled = 0
            return True

    # -- the bubble acting while idle

    def _idle(self) -> None:
        """Run by the thread whose park or exit made the bubble idle.  Holding a
        running token (so nothing else sees it idle meanwhile), it wakes the
        ``wait()``er, or fires the next timers, or finishes the bubble."""
        quiet = 0  # consecutive firings that woke nobody
        streak = 0  # the heap sequence number when they began
        while True:
            with self.lock:
                if self.running or self.over:
                    return
                if not quiet:
                    streak = next(self.seq)
                action, arg = self._decide(quiet, streak)
                if action != "finish":
                    self.running += 1  # the token
                wakes = self.wakes
            if action == "finish":
                self._finish(arg)
                return
            if action == "wake":
                arg.wake()
            else:
                self._fire(arg)
            with self.lock:
                self.running -= 1
                quiet = quiet + 1 if action == "fire" and self.wakes == wakes else 0
                if self.running:
                    return

    def _decide(self, quiet: int, streak: int) -> tuple[str, Any]:
        """With the lock held and the bubble idle: what happens next."""
        w = self.waitq.take()
        if w is not None:
            return "wake", w
        if not self.members:
            return "finish", None
        if self.returned:
            return "finish", BubbleError(
                "goroutines of the synctest bubble are still blocked after its function "
                "returned:\n\n" + self._describe())
        while self.heap and self.heap[0][2].state != _timers.PENDING:
            heapq.heappop(self.heap)
            self.cancelled -= 1
        if self.heap and (quiet < _IDLE_FIRINGS
                          or any(seq < streak and e.state == _timers.PENDING
                                 for _, seq, e in self.heap)):
            when = self.heap[0][0]
            due = []
            while self.heap and self.heap[0][0] == when:
                entry = heapq.heappop(self.heap)[2]
                if entry.state == _timers.PENDING:
                    entry.state = _timers.FIRED
                    due.append(entry)
                else:
                    self.cancelled -= 1
            self.now = max(self.now, when)
            return "fire", due
        why = ("no timer is pending" if not self.heap else
               f"the last {quiet} timer firings woke none of them and armed every "
               "timer left")
        return "finish", Deadlock(
            f"all goroutines in the synctest bubble are durably blocked and {why} - "
            "deadlock!\n\n" + self._describe())

    def _fire(self, due: list[_timers.BubbleEntry]) -> None:
        tls = _runtime._tls
        outer, tls.bubble = tls.bubble, self  # what they start or arm is the bubble's
        try:
            for entry in due:
                entry.run()
        finally:
            tls.bubble = outer

    def _describe(self) -> str:
        return "\n\n".join(describe(g) for g in sorted(self.members.values(),
                                                        key=lambda g: g.id))

    def _finish(self, error: BaseException | None) -> None:
        with self.lock:
            if self.over:
                return
            self.over = True
            self.error = error
            for _, _, entry in self.heap:
                entry.state = _timers.CANCELLED
                entry.fn = entry.arg = entry.owner = None  # type: ignore[assignment]
            self.heap.clear()
        with _count_lock:
            _timers._bubbles -= 1
            _waitq._bubbled = _timers._bubbles
            if not _timers._bubbles:
                _timers.now = _timers._monotonic
        self.done.close()


def _current() -> _Bubble | None:
    b = _runtime.current_bubble() if _timers._bubbles else None
    return b if isinstance(b, _Bubble) else None


def now() -> float:
    """gort's clock: the fake time of the calling goroutine's bubble (starting at
    ``EPOCH``), else ``time.monotonic()``."""
    return _timers._bubble_now()


def run(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``fn(*args, **kwargs)`` in a new bubble (see the module docstring) and
    return its result once every goroutine of the bubble has ended; an
    ``async def`` ``fn`` runs as a coroutine goroutine.  Re-raises ``fn``'s
    exception; raises ``gort.Deadlock`` if the bubble deadlocks, ``BubbleError``
    if goroutines outlive ``fn`` (or if called from inside a bubble)."""
    if _current() is not None:
        raise BubbleError("synctest.run called from inside a synctest bubble")
    b = _Bubble()
    with _count_lock:
        _timers._bubbles += 1
        _waitq._bubbled = _timers._bubbles
        _timers.now = _timers._bubble_now
    tls = _runtime._tls
    outer, tls.bubble = tls.bubble, b
    try:
        root = go(fn, *args, **kwargs)  # the bubble's first goroutine: its root
    except BaseException:
        b._finish(None)
        raise
    finally:
        tls.bubble = outer
    b.done.recv_ok()
    if root.done() and root.exception() is not None:
        exc = root.exception()
        assert exc is not None
        if b.error is not None:
            exc.add_note(f"and then: {b.error}")
        raise exc
    if b.error is not None:
        raise b.error
    return root.result()


def test(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: calling the function runs it in a bubble (``run``).  For pytest
    tests (plain or ``async def``): ``@gort.synctest.test``."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return run(fn, *args, **kwargs)
    return wrapper


def wait() -> None:
    """Block until every other goroutine of the caller's bubble is durably
    blocked (Go's ``synctest.Wait``); the clock does not move.  Raises
    ``BubbleError`` outside a bubble, or if another goroutine is waiting."""
    _drive(_wait_body(_bubble_for("wait"), True))


def await_() -> Awaitable[None]:
    """Coroutine form of ``wait``: ``await gort.synctest.await_()``."""
    return _wait_body(_bubble_for("await_"), False)


def _bubble_for(what: str) -> _Bubble:
    b = _current()
    if b is None or _runtime.current_goroutine() is None:
        raise BubbleError(f"synctest.{what} called outside a synctest bubble")
    return b


@types.coroutine
def _wait_body(b: _Bubble, sync: bool) -> Generator[Any, Any]:
    lock = b.lock
    lock.acquire()
    try:
        if b.waitq.live():
            raise BubbleError("synctest.wait: another goroutine of the bubble is waiting")
        w = Waiter(b.waitq)
        req = enqueue(sync, w, (lock,), None, "synctest.wait")
    except BaseException:
        lock.release()
        raise
    if req is not None:
        yield req
    else:
        yield from park(sync, w, (lock,), None, dequeue, w, "synctest.wait")


class _BubbleChan(Chan[Any]):
    """A channel made in a bubble: every operation checks who calls it."""

    __slots__ = ()

    def _check(self) -> None:
        if self._sendq.bubble is not _current():
            raise BubbleError("a channel made in a synctest bubble was used from outside it")

    def _send_now(self, value: Any) -> Any:
        self._check()
        return super()._send_now(value)

    def _recv_now(self) -> Any:
        self._check()
        return super()._recv_now()

    def close(self) -> None:
        self._check()
        super().close()


def _adopt(ch: Chan[Any]) -> None:
    """Called by ``Chan.__init__`` in a bubble: a plain channel becomes checked."""
    if type(ch) is Chan:
        ch.__class__ = _BubbleChan


_chan.adopt_in_bubble = _adopt
