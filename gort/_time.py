"""Go's ``time`` package: sleep, Timer, Ticker, after, tick.

Every timer is one entry in the runtime's single timer heap (``_timers``): no
thread per timer, and a stopped timer is dropped from the heap.

Garbage collection (Go 1.23): the heap holds a Timer or Ticker only weakly
(``_timers.add_weak``), and its channel holds it strongly (``_TimerChan``).  So
whoever references the timer or its channel (a goroutine blocked receiving from
it, a select case, ``for t in tick(1)``) keeps it alive and it fires; one that
nobody references any more, stopped or not, is collected and leaves the heap.
The exception is ``after_func``: a timer that runs a function stays in the heap
until it fires or is stopped, as Go's AfterFunc timers do.

Semantics follow Go 1.23+: a timer's channel never delivers a stale value after
``stop()`` or ``reset()`` returns (the channel is drained then), and a ticker's
channel holds at most one tick: a slow receiver misses ticks instead of
queueing them.

Fields of Timer/Ticker are guarded by their own ``_lock``; the heap entry's state
machine (pending, fired, cancelled) is guarded by the heap's lock, and
``TimerEntry.cancel()`` is the one place that decides whether a stop won.

Durations follow gort's one rule (``_timeout.delay``): None, +inf or anything
beyond the platform's longest sleep is a timer that never fires (it takes no
place in the heap, and ``stop``/``reset`` work on it as on any pending timer);
zero or negative fires at once; NaN is a ValueError and a non-number a
TypeError, raised before anything is armed.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import types
from collections.abc import Awaitable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _runtime, _timers
from ._chan import Chan, RecvChan
from ._goroutine import go
from ._timeout import FOREVER, delay
from ._waitq import park_in_bubble, park_thread

if TYPE_CHECKING:
    from ._goroutine import Goroutine

T = TypeVar("T")


# --------------------------------------------------------------------------- sleep

def _wake_sleeper(g: Goroutine[Any]) -> None:
    with g._lock:  # held by the sleeper until it is suspended
        pass
    _runtime.ready(g)


@types.coroutine
def _asleep_gort(seconds: float | None) -> Generator[Any, Any]:
    """A coroutine goroutine's sleep: parked, holding no thread, until its timer
    fires (``None``: no timer, forever)."""
    g = _runtime.current_coroutine_goroutine()
    assert g is not None
    lock = g._lock
    lock.acquire()
    g._wait_reason = "sleep"
    g._timed_park = True  # a sleep is not a deadlock, even a sleep forever
    g._durable = g._bubble is not None  # (in a bubble it is, with no timer left)
    if seconds is not None:
        _timers.add(_timers.now() + seconds, _wake_sleeper, g)
    yield (lock,)
    if seconds is None:
        raise AssertionError("nothing wakes a goroutine sleeping forever")


def asleep(seconds: float) -> Awaitable[None]:
    """Coroutine form of ``sleep``: ``await gort.asleep(s)`` (``math.inf``: forever)."""
    t = delay(seconds, "sleep duration")
    if _runtime.current_coroutine_goroutine() is None:
        return asyncio.sleep(t) if t is not None else asyncio.get_running_loop().create_future()
    if t is not None and t <= 0:
        return _runtime._gosched_coro()
    return _asleep_gort(t)


def sleep(seconds: float) -> None:
    """Pause the calling goroutine for ``seconds``, giving its processor away
    (``math.inf``: forever)."""
    t = delay(seconds, "sleep duration")
    if t is not None and t <= 0:
        _runtime.gosched()
        return
    parker = _runtime.current_parker()
    if _timers._bubbles:
        b = _runtime.current_bubble()
        if b is not None:
            _sleep_in_bubble(b, parker, t)
            return
    if t is None:
        while True:
            park_thread(parker, FOREVER, _always, None, "sleep")
    deadline = time.monotonic() + t
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        # Nothing ever wakes this parker early; a timeout is the only way out.
        park_thread(parker, left, _always, None, "sleep")


def _sleep_in_bubble(b: Any, parker: threading.Lock, t: float | None) -> None:
    """``sleep`` in a synctest bubble: a durable wait on the bubble's clock."""
    wake = b.waker(parker.release)
    deadline = b.now + (FOREVER if t is None else t)
    while b.now < deadline:
        # The sleep's one claim: the timer's firing and an exception ending the
        # park race for it, and only the winner counts the sleeper running again.
        park_in_bubble(b, True, parker, wake, deadline - b.now, _claim_once, [True], "sleep")


def _claim_once(claim: list[bool]) -> bool:
    """An abort that succeeds once (``list.pop`` is atomic, GIL or not)."""
    try:
        claim.pop()
    except IndexError:
        return False
    return True


def _always(_: object) -> bool:
    return True


# --------------------------------------------------------------------------- timers


class _TimerChan(Chan[T], Generic[T]):
    """A timer's channel: a plain channel that also holds its Timer or Ticker, so
    that referencing only the channel keeps the timer alive (and firing)."""

    __slots__ = ("_timer",)

    def __init__(self, cap: int, timer: Any) -> None:
        super().__init__(cap)
        self._timer = timer


def _delay(seconds: float | None, what: str) -> float | None:
    """``_timeout.delay``, which also turns strings into numbers (``float("1")``);
    a duration given as a string is a mistake here, as its docstring says."""
    if isinstance(seconds, (str, bytes, bytearray)):
        raise TypeError(f"{what} must be a number or None, got {type(seconds).__name__}")
    return delay(seconds, what)


def _deadline(what: str, seconds: float | None) -> float:
    """When a timer armed now for ``seconds`` fires; +inf: never."""
    d = _delay(seconds, f"{what} duration")
    if d is None:
        return math.inf
    return _timers.now() + d


def _period(what: str, seconds: float | None) -> float:
    """A ticker's period: > 0 (ValueError otherwise, as Go's NewTicker panics);
    +inf for "never ticks"."""
    d = _delay(seconds, f"{what} duration")
    if d is None:
        return math.inf
    if d <= 0.0:
        assert seconds is not None
        raise ValueError(f"non-positive interval for {what}: {float(seconds)}")
    return d


class Timer:
    """Sends the current time (``time.monotonic()``; in a synctest bubble, its
    clock) on ``c`` once, after ``seconds``.

    ``stop()`` prevents it from firing; ``reset(seconds)`` re-arms it.  Both
    return True if the timer was active (pending, or fired with its value not
    yet received), as in Go 1.23.
    """

    __slots__ = ("c", "_send", "_lock", "_entry", "_func", "_gen", "_over", "__weakref__")

    def __init__(self, seconds: float | None, func: Any = None) -> None:
        when = _deadline("Timer", seconds)
        ch: Chan[float] = _TimerChan(1, self)
        self._send = ch
        self.c: RecvChan[float] = ch.recv_only()
        self._lock = threading.Lock()
        self._func = func  # Go's AfterFunc: run func in a goroutine instead of sending
        self._gen = 0  # which arming of the timer a firing belongs to
        self._over = False  # this arming has fired (its _fire ran) or was stopped
        self._entry = self._arm(when)

    def _arm(self, when: float) -> _timers.TimerEntry:
        """A heap entry for the current arming: weak for a channel timer (the heap
        must not keep it alive), strong for an after_func one (Go runs those
        whether or not anyone references the Timer)."""
        if self._func is None:
            return _timers.add_weak(when, self, Timer._fire, self._gen)
        return _timers.add(when, self._fire, self._gen)

    def _fire(self, gen: int) -> None:
        with self._lock:
            if gen != self._gen:
                return  # re-armed or stopped while this firing was on its way
            self._over = True
            if self._func is None:
                self._send.try_send(_timers.now())
                return
        go(self._func)

    def _disarm(self) -> bool:
        """With _lock held: end the current arming; was it still active?

        Active: pending in the heap, or popped by the timer thread with its
        firing not yet run (the generation bump below discards that firing).
        """
        active = self._entry.cancel() or not self._over
        self._over = True
        self._gen += 1
        return active

    def stop(self) -> bool:
        """Stop the timer (Go's ``Timer.Stop``): it does not fire, and an unreceived
        value is discarded.  True if it was active, False if already stopped or done."""
        with self._lock:
            active = self._disarm()
            if self._func is None:
                _, got = self._send.try_recv()  # no stale value after stop
                active = active or got
            return active

    def reset(self, seconds: float | None) -> bool:
        """Re-arm the timer to fire ``seconds`` from now (Go's ``Timer.Reset``),
        discarding an unreceived value.  True if it was active before."""
        when = _deadline("Timer", seconds)
        with self._lock:
            active = self._disarm()
            if self._func is None:
                _, got = self._send.try_recv()
                active = active or got
            self._over = False
            self._entry = self._arm(when)
            return active

    def __repr__(self) -> str:
        return f"<Timer {self._entry!r}>"


def after_func(seconds: float | None, func: Any) -> Timer:
    """Run ``func`` in its own goroutine after ``seconds`` (Go's AfterFunc)."""
    return Timer(seconds, func)


class Ticker:
    """Sends the time on ``c`` every ``seconds``; drops ticks for a slow receiver."""

    __slots__ = ("c", "_send", "_lock", "_entry", "_period", "_next", "_stopped", "_gen",
                 "__weakref__")

    def __init__(self, seconds: float | None) -> None:
        period = _period("Ticker", seconds)
        ch: Chan[float] = _TimerChan(1, self)
        self._send = ch
        self.c: RecvChan[float] = ch.recv_only()
        self._lock = threading.Lock()
        self._period = period
        self._stopped = False
        self._gen = 0
        self._next = _timers.now() + period  # +inf: never ticks, no heap entry
        self._entry = _timers.add_weak(self._next, self, Ticker._fire, 0)

    def _fire(self, gen: int) -> None:
        now = _timers.now()
        with self._lock:
            if self._stopped or gen != self._gen:
                return
            self._send.try_send(now)  # a full channel: the tick is dropped, as in Go
            # Next tick on the original grid, skipping the ones already missed.
            nxt = self._next + self._period
            if nxt <= now:
                nxt += ((now - nxt) // self._period + 1) * self._period
            self._next = nxt
            self._entry = _timers.add_weak(nxt, self, Ticker._fire, gen)

    def stop(self) -> None:
        """Stop the ticker (Go's ``Ticker.Stop``): no more ticks are sent, and an
        unreceived tick is discarded.  ``c`` is not closed."""
        with self._lock:
            self._stopped = True
            self._gen += 1
            self._entry.cancel()
            self._send.try_recv()

    def reset(self, seconds: float | None) -> None:
        """Restart the ticker with period ``seconds``, the next tick ``seconds`` from
        now (Go's ``Ticker.Reset``); raises ``ValueError`` if ``seconds <= 0``."""
        period = _period("Ticker", seconds)
        with self._lock:
            self._gen += 1
            self._entry.cancel()
            self._send.try_recv()
            self._stopped = False
            self._period = period
            self._next = _timers.now() + period
            self._entry = _timers.add_weak(self._next, self, Ticker._fire, self._gen)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "never ticks" if self._period == math.inf \
            else f"every {self._period}s"
        return f"<Ticker {state}>"


def after(seconds: float | None) -> RecvChan[float]:
    """A channel that receives the time once, after ``seconds`` (Go's time.After).

    ``after(math.inf)`` (or None) never receives and costs no heap entry."""
    return Timer(seconds).c


def tick(seconds: float | None) -> RecvChan[float]:
    """A channel that receives the time every ``seconds`` (Go's time.Tick).

    ``seconds <= 0`` raises ValueError.  Go's ``time.Tick`` returns a nil
    channel there; gort does not return None, because ``tick`` is typed (and
    used) as a channel (``for t in tick(1)``, ``tick(1).recv_case()``), and a
    None would only fail later and further from the mistake.  ``math.inf``
    (or None) gives a channel that never receives.
    """
    if seconds is not None:
        d = _delay(seconds, "tick duration")
        if d is not None and d <= 0.0:
            raise ValueError(f"tick: non-positive interval {float(seconds)} (Go's time.Tick "
                             "returns nil here; gort raises)")
    return Ticker(seconds).c
