"""Go's ``time`` package: Timer, Ticker, after, tick (sleep lives in ``_aio``).

Every timer is one entry in the runtime's single timer heap (``_timers``): no
thread per timer, and a stopped timer is dropped from the heap.

Semantics follow Go 1.23+: a timer's channel never delivers a stale value after
``stop()`` or ``reset()`` returns (the channel is drained then), and a ticker's
channel holds at most one tick: a slow receiver misses ticks instead of
queueing them.

Fields of Timer/Ticker are guarded by their own ``_lock``; the heap entry's state
machine (pending, fired, cancelled) is guarded by the heap's lock, and
``TimerEntry.cancel()`` is the one place that decides whether a stop won.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from . import _timers
from ._chan import Chan, RecvChan

_monotonic = time.monotonic


def _check_duration(what: str, seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} duration must be a number, got {type(seconds).__name__}")
    return float(seconds)


class Timer:
    """Sends the current time (``time.monotonic()``) on ``c`` once, after ``seconds``.

    ``stop()`` prevents it from firing; ``reset(seconds)`` re-arms it.  Both
    return True if the timer was active (pending, or fired with its value not
    yet received), as in Go 1.23.
    """

    __slots__ = ("c", "_send", "_lock", "_entry", "_func", "_gen", "_over")

    def __init__(self, seconds: float, func: Any = None) -> None:
        seconds = _check_duration("Timer", seconds)
        ch: Chan[float] = Chan(1)
        self._send = ch
        self.c: RecvChan[float] = ch.recv_only()
        self._lock = threading.Lock()
        self._func = func  # Go's AfterFunc: run func in a goroutine instead of sending
        self._gen = 0  # which arming of the timer a firing belongs to
        self._over = False  # this arming has fired (its _fire ran) or was stopped
        self._entry = _timers.add(_monotonic() + max(seconds, 0.0), self._fire, 0)

    def _fire(self, gen: int) -> None:
        with self._lock:
            if gen != self._gen:
                return  # re-armed or stopped while this firing was on its way
            self._over = True
            if self._func is None:
                self._send.try_send(_monotonic())
                return
        from ._runtime import go
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
        with self._lock:
            active = self._disarm()
            if self._func is None:
                _, got = self._send.try_recv()  # no stale value after stop
                active = active or got
            return active

    def reset(self, seconds: float) -> bool:
        seconds = _check_duration("Timer", seconds)
        with self._lock:
            active = self._disarm()
            if self._func is None:
                _, got = self._send.try_recv()
                active = active or got
            self._over = False
            self._entry = _timers.add(_monotonic() + max(seconds, 0.0), self._fire, self._gen)
            return active

    def __repr__(self) -> str:
        return f"<Timer {self._entry!r}>"


def after_func(seconds: float, func: Any) -> Timer:
    """Run ``func`` in its own goroutine after ``seconds`` (Go's AfterFunc)."""
    return Timer(seconds, func)


class Ticker:
    """Sends the time on ``c`` every ``seconds``; drops ticks for a slow receiver."""

    __slots__ = ("c", "_send", "_lock", "_entry", "_period", "_next", "_stopped", "_gen")

    def __init__(self, seconds: float) -> None:
        seconds = _check_duration("Ticker", seconds)
        if seconds <= 0:
            raise ValueError(f"non-positive interval for Ticker: {seconds}")
        ch: Chan[float] = Chan(1)
        self._send = ch
        self.c: RecvChan[float] = ch.recv_only()
        self._lock = threading.Lock()
        self._period = seconds
        self._stopped = False
        self._gen = 0
        self._next = _monotonic() + seconds
        self._entry = _timers.add(self._next, self._fire, 0)

    def _fire(self, gen: int) -> None:
        now = _monotonic()
        with self._lock:
            if self._stopped or gen != self._gen:
                return
            self._send.try_send(now)  # a full channel: the tick is dropped, as in Go
            # Next tick on the original grid, skipping the ones already missed.
            nxt = self._next + self._period
            if nxt <= now:
                nxt += ((now - nxt) // self._period + 1) * self._period
            self._next = nxt
            self._entry = _timers.add(nxt, self._fire, gen)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._gen += 1
            self._entry.cancel()
            self._send.try_recv()

    def reset(self, seconds: float) -> None:
        seconds = _check_duration("Ticker", seconds)
        if seconds <= 0:
            raise ValueError(f"non-positive interval for Ticker: {seconds}")
        with self._lock:
            self._gen += 1
            self._entry.cancel()
            self._send.try_recv()
            self._stopped = False
            self._period = seconds
            self._next = _monotonic() + seconds
            self._entry = _timers.add(self._next, self._fire, self._gen)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else f"every {self._period}s"
        return f"<Ticker {state}>"


def after(seconds: float) -> RecvChan[float]:
    """A channel that receives the time once, after ``seconds`` (Go's time.After)."""
    return Timer(seconds).c


def tick(seconds: float) -> RecvChan[float]:
    """A channel that receives the time every ``seconds`` (Go's time.Tick)."""
    return Ticker(seconds).c
