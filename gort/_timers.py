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
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

PENDING, FIRED, CANCELLED = 0, 1, 2

_cond = threading.Condition(threading.Lock())
_heap: list[tuple[float, int, TimerEntry]] = []
_seq = itertools.count()
_cancelled = 0
_wake_at: float | None = None
_thread: threading.Thread | None = None


class TimerEntry:
    """One pending callback.  ``cancel()`` returns True if it stopped it."""

    __slots__ = ("when", "fn", "arg", "state")

    def __init__(self, when: float, fn: Callable[[Any], Any], arg: Any) -> None:
        self.when = when
        self.fn = fn
        self.arg = arg
        self.state = PENDING

    def cancel(self) -> bool:
        global _cancelled
        with _cond:
            if self.state != PENDING:
                return False
            self.state = CANCELLED
            self.fn = self.arg = None  # type: ignore[assignment]
            _cancelled += 1
            if _cancelled > 64 and _cancelled * 2 > len(_heap):
                _compact()
            return True

    def __repr__(self) -> str:
        state = ("pending", "fired", "cancelled")[self.state]
        return f"<TimerEntry {state} in {self.when - time.monotonic():.3f}s>"


def _compact() -> None:
    global _cancelled
    _heap[:] = [item for item in _heap if item[2].state == PENDING]
    heapq.heapify(_heap)
    _cancelled = 0


def add(when: float, fn: Callable[[Any], Any], arg: Any = None) -> TimerEntry:
    """Call ``fn(arg)`` on the timer thread at ``when`` (time.monotonic clock)."""
    global _thread
    entry = TimerEntry(when, fn, arg)
    with _cond:
        heapq.heappush(_heap, (when, next(_seq), entry))
        if _thread is None:
            _thread = threading.Thread(target=_timer_main, name="gort-timers", daemon=True)
            _thread.start()
        elif _wake_at is None or when < _wake_at:
            _cond.notify()
    return entry


def pending() -> int:
    """How many timers are pending (for deadlock detection and statistics)."""
    with _cond:
        return len(_heap) - _cancelled


def _timer_main() -> None:
    global _wake_at, _cancelled
    while True:
        due: list[TimerEntry] = []
        with _cond:
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
                _cond.wait(None if _wake_at is None else _wake_at - now)
                _wake_at = None
                continue
        for entry in due:
            fn, arg = entry.fn, entry.arg
            entry.fn = entry.arg = None  # type: ignore[assignment]
            try:
                fn(arg)
            except BaseException:
                if sys.stderr is not None:
                    print("gort: exception in a timer callback:", file=sys.stderr)
                    traceback.print_exc()
