"""One timer mechanism for the whole runtime: a heap served by one thread.

Every timed thing in gort that is not a plain thread waiting on its own parker
(coroutine timeouts, ``asleep``, ``after``, ``Timer``, ``Ticker``, context
deadlines) is an entry in this heap.  A single daemon thread, started on first
use, sleeps until the earliest deadline and runs the due callbacks.  Callbacks
run on that thread and must not block: they make a goroutine runnable, try a
non-blocking send, or remove a waiter.

Shared state, all guarded by ``_cond`` (a Condition over one lock):
    _heap        (when, seq, entry) tuples; entries may be cancelled in place
    _cancelled   how many heap entries are cancelled; the heap is rebuilt
                 without them once they are the majority, so a stopped timer
                 costs nothing for long
    _wake_at     the deadline the thread sleeps until (None: no deadline)
An entry's ``state`` moves once from PENDING to FIRED or CANCELLED, under _cond.

Weak entries (``add_weak``): the entry holds its owner (a Timer or Ticker) only
through a weak reference, so the heap never keeps a timer alive that nobody
references (Go 1.23: an unreferenced, unstopped Timer or Ticker is collected).
When the owner is collected, the weak reference's callback queues the entry on
``_graveyard``; it must not take ``_cond`` (a collection can run on a thread that
already holds it, inside ``add``), so it only appends (``list.append`` is atomic,
with or without the GIL).  The graveyard is emptied under ``_cond`` by ``add``,
``pending`` and the timer thread, which cancel what it holds: ``pending()``
never counts a timer whose owner is gone.

A deadline of +inf, or one beyond ``_timeout.FOREVER`` (no platform can sleep
that long), is a timer that never fires (Go's TestOverflowSleep): ``add``
returns an entry that is never put in the heap, so it costs nothing, never
disturbs the other timers and can still be cancelled.  A NaN deadline is a
ValueError, raised before anything is queued.  The thread never dies: a
callback's exception is reported and the thread goes on serving.

Bubbles (``gort.synctest``).  A goroutine in a synctest bubble reads the
bubble's fake clock through ``now()``, and its ``add``/``add_weak`` put the
entry in the bubble's own heap (a ``BubbleEntry``), which the bubble fires
when every goroutine in it is durably blocked; the timer thread never sees
them.  ``_bubbles`` counts the live bubbles (written under the synctest
module's lock; read without one: a stale zero is only ever read by a goroutine
that is in no bubble), and ``now`` is ``time.monotonic`` itself unless a bubble
lives, so outside synctest the cost is one global test per timer.

After ``os.fork()`` the child has no timer thread; ``_reset_after_fork`` gives
it fresh, empty state (the parent's timers belong to goroutines and threads
that do not exist in the child, so none of them fires there).
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from ._timeout import FOREVER

PENDING, FIRED, CANCELLED = 0, 1, 2

_cond = threading.Condition(threading.Lock())
_heap: list[tuple[float, int, TimerEntry]] = []
_seq = itertools.count()
_cancelled = 0
_wake_at: float | None = None
_thread: threading.Thread | None = None
_graveyard: list[TimerEntry] = []  # weak entries whose owner was collected
_bubbles = 0  # live synctest bubbles
_monotonic = time.monotonic


def _no_bubble() -> Any:
    return None


# The bubble of the calling goroutine, or None (installed by the runtime, which
# knows goroutines; this module imports nothing of gort's but _timeout).
bubble_of: Callable[[], Any] = _no_bubble


def _bubble_now() -> float:
    """``now`` while a bubble lives: the caller's bubble's fake time, if any."""
    b = bubble_of()
    if b is not None:
        return b.now  # type: ignore[no-any-return]
    return _monotonic()


# The clock of every gort deadline: ``time.monotonic`` itself (a C call: timed
# operations pay nothing for synctest), rebound to ``_bubble_now`` by synctest
# while a bubble lives.  Always call it as ``_timers.now()``.
now: Callable[[], float] = _monotonic


class TimerEntry:
    """One pending callback.  ``cancel()`` returns True if it stopped it.

    ``owner`` is None for a plain entry (``fn(arg)`` is called), else a weak
    reference to the object a weak entry calls ``fn(owner, arg)`` on."""

    __slots__ = ("when", "fn", "arg", "state", "owner")

    def __init__(self, when: float, fn: Callable[..., Any], arg: Any) -> None:
        self.when = when
        self.fn = fn
        self.arg = arg
        self.state = PENDING
        self.owner: weakref.ref[Any] | None = None

    def cancel(self) -> bool:
        with _cond:
            return self._cancel_locked()

    def _cancel_locked(self) -> bool:
        global _cancelled
        if self.state != PENDING:
            return False
        self.state = CANCELLED
        self.fn = self.arg = self.owner = None  # type: ignore[assignment]
        if self.when == math.inf:
            return True  # a never-firing entry is not in the heap
        _cancelled += 1
        if _cancelled > 64 and _cancelled * 2 > len(_heap):
            _compact()
        return True

    def run(self) -> None:
        """Call the fired entry's callback (``fn(arg)``, or ``fn(owner, arg)`` if its
        owner is alive), once, reporting an exception; afterwards the entry
        holds nothing alive."""
        fn, arg, ref = self.fn, self.arg, self.owner
        self.fn = self.arg = self.owner = None  # type: ignore[assignment]
        try:
            if ref is None:
                fn(arg)
            else:
                owner = ref()  # strong while its callback runs
                if owner is not None:
                    fn(owner, arg)
        except BaseException as e:  # reported; the caller goes on
            _report(e)

    def _owner_collected(self, ref: weakref.ref[Any]) -> None:
        """The weak reference's callback: runs wherever the collection ran, maybe
        with _cond held, so it takes no lock (see the module docstring)."""
        _graveyard.append(self)

    def __repr__(self) -> str:
        state = ("pending", "fired", "cancelled")[self.state]
        if self.when == math.inf:
            return f"<TimerEntry {state} never fires>"
        return f"<TimerEntry {state} in {self.when - time.monotonic():.3f}s>"


def _compact() -> None:
    global _cancelled
    _heap[:] = [item for item in _heap if item[2].state == PENDING]
    heapq.heapify(_heap)
    _cancelled = 0


def _bury() -> None:
    """With _cond held: cancel the entries whose owner was collected."""
    while _graveyard:
        _graveyard.pop()._cancel_locked()


def add(when: float, fn: Callable[[Any], Any], arg: Any = None) -> TimerEntry:
    """Call ``fn(arg)`` on the timer thread at ``when`` (time.monotonic clock).

    ``when`` = +inf or beyond ``FOREVER``: the entry never fires and takes no
    place in the heap (``cancel()`` still works on it).  NaN: ValueError;
    not a number: TypeError.  Either is raised before anything is queued.
    """
    if not when < FOREVER:  # the rare path: NaN, +inf, or too far to sleep until
        if when != when:
            raise ValueError("timer deadline must not be NaN")
        return TimerEntry(math.inf, fn, arg)  # never fires: no heap entry, no thread
    if _bubbles:
        b = bubble_of()
        if b is not None:
            return b.add_timer(BubbleEntry(b, when, fn, arg))  # type: ignore[no-any-return]
    entry = TimerEntry(when, fn, arg)
    _push(entry)
    return entry


def add_weak(when: float, owner: Any, fn: Callable[[Any, Any], Any], arg: Any = None
             ) -> TimerEntry:
    """Like ``add``, but call ``fn(owner, arg)``, holding ``owner`` only weakly.

    The heap does not keep ``owner`` alive: once it is collected the entry is
    cancelled (and ``pending()`` stops counting it) without firing.  ``fn``
    should be a plain function (``Timer._fire``), not a bound method of
    ``owner``, which would hold it strongly.
    """
    if not when < FOREVER:
        if when != when:
            raise ValueError("timer deadline must not be NaN")
        return TimerEntry(math.inf, fn, arg)  # never fires: nothing to hold, weakly or not
    if _bubbles:
        b = bubble_of()
        if b is not None:
            bentry = BubbleEntry(b, when, fn, arg)
            bentry.owner = weakref.ref(owner)  # fired only if the owner is still alive
            return b.add_timer(bentry)  # type: ignore[no-any-return]
    entry = TimerEntry(when, fn, arg)
    entry.owner = weakref.ref(owner, entry._owner_collected)  # before the timer thread sees it
    _push(entry)
    return entry


def add_real(when: float, fn: Callable[[Any], Any], arg: Any = None) -> TimerEntry:
    """``add`` on the real clock and the timer thread, even in a synctest bubble
    (a wait the bubble's clock cannot end: see ``_waitq.park_in_bubble``)."""
    if not when < FOREVER:
        if when != when:
            raise ValueError("timer deadline must not be NaN")
        return TimerEntry(math.inf, fn, arg)
    entry = TimerEntry(when, fn, arg)
    _push(entry)
    return entry


class BubbleEntry(TimerEntry):
    """An entry in a synctest bubble's heap: the bubble's lock guards its state."""

    __slots__ = ("bubble",)

    def __init__(self, bubble: Any, when: float, fn: Callable[..., Any], arg: Any) -> None:
        super().__init__(when, fn, arg)
        self.bubble = bubble

    def cancel(self) -> bool:
        return self.bubble.cancel_timer(self)  # type: ignore[no-any-return]


def _push(entry: TimerEntry) -> None:
    global _thread
    when = entry.when
    with _cond:
        if _thread is None:
            # Started before the push: if the OS refuses a thread, nothing is queued.
            # The new thread looks at the heap only once we release _cond.
            thread = threading.Thread(target=_timer_main, name="gort-timers", daemon=True)
            thread.start()
            _thread = thread
        elif _wake_at is None or when < _wake_at:
            _cond.notify()
        heapq.heappush(_heap, (when, next(_seq), entry))
        if _graveyard:
            _bury()


def pending() -> int:
    """How many timers are pending (for deadlock detection and statistics).

    A timer that never fires is not counted: it can never wake anyone.
    """
    with _cond:
        if _graveyard:
            _bury()
        return len(_heap) - _cancelled


def _report(exc: BaseException) -> None:
    """Report a callback's exception; reporting itself can never raise."""
    try:
        if sys.stderr is not None:
            print("gort: exception in a timer callback:", file=sys.stderr)
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    except BaseException:
        pass


def _timer_main() -> None:
    global _wake_at, _cancelled
    cond = _cond  # after a fork the child gets a new one; this thread is the parent's
    while True:
        due: list[TimerEntry] = []
        try:
            with cond:
                if _graveyard:
                    _bury()
                now = time.monotonic()
                while _heap and _heap[0][0] <= now:
                    entry = heapq.heappop(_heap)[2]
                    if entry.state == PENDING:
                        entry.state = FIRED
                        due.append(entry)
                    else:
                        _cancelled -= 1
                if not due:
                    _wake_at = _heap[0][0] if _heap else None
                    # add() keeps every deadline below FOREVER, so this wait
                    # is always one the platform can do.
                    wait = None if _wake_at is None else min(_wake_at - now, FOREVER)
                    cond.wait(wait)
                    _wake_at = None
                    continue
        except BaseException as e:  # this thread must never die
            _report(e)
            time.sleep(0.01)  # a broken heap must not spin a core
            continue
        for entry in due:
            entry.run()
        del due, entry  # hold nothing alive while sleeping until the next timer


def _reset_after_fork() -> None:
    """In a forked child: fresh timer state (new lock, empty heap, no thread).

    The parent's pending timers are cancelled in the child: their callbacks
    wake goroutines, sleepers and waiters of a runtime the child does not
    have.  A timer created in the child starts a new timer thread.
    """
    global _cond, _heap, _cancelled, _wake_at, _thread, _graveyard
    for _, _, entry in _heap:
        if entry.state == PENDING:
            entry.state = CANCELLED
            entry.fn = entry.arg = entry.owner = None  # type: ignore[assignment]
    _cond = threading.Condition(threading.Lock())
    _heap = []
    _graveyard = []
    _cancelled = 0
    _wake_at = None
    _thread = None


def _before_fork() -> None:
    _cond.acquire()  # the child gets a heap no thread was changing mid-fork


def _after_fork_in_parent() -> None:
    _cond.release()


def _install_fork_hooks() -> None:
    """The lock is held across the fork (so the child's copy of the heap is
    not half-changed); the child's reset runs as one of the runtime's fork
    hooks (after its own reset) where the runtime has them, else on its own."""
    if not hasattr(os, "register_at_fork"):
        return
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent)
    hooks = getattr(sys.modules.get(__package__ + "._runtime"), "_at_fork_child_hooks", None)
    if isinstance(hooks, list):
        hooks.append(_reset_after_fork)
    else:
        os.register_at_fork(after_in_child=_reset_after_fork)


_install_fork_hooks()
