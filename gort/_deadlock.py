"""Deadlock detection: Go's "all goroutines are asleep - deadlock!".

The main thread's untimed wait (``_waitq.park_thread`` without a timeout, off
the worker pool) sleeps in ``park_main``, which wakes now and then to look at
the whole process.  It is deadlocked when every live goroutine is parked in a
gort operation without a timeout, no timer is pending, no other thread is
alive, no Python signal handler could wake it, and the scheduler's progress
counters stayed the same over ``_DEADLOCK_CHECKS`` looks.  It then removes its
waiter (``abort``) and raises ``Deadlock`` with a dump of every goroutine.  A
live synctest bubble runs its own detector instead.

It reads the scheduler's state under the scheduler's locks (``_runtime``'s
``_procs_lock``) and holds no lock of its own.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from . import _ki, _runtime, _timers
from ._diag import dump
from ._ki import interruptible

_DEADLOCK_CHECKS = 3  # consecutive identical all-asleep observations before reporting


class Deadlock(RuntimeError):
    """Raised in the main thread when it and every goroutine are asleep in gort
    operations with nothing left that could wake them (no pending timer, no
    other thread, no goroutine running): Go's "all goroutines are asleep -
    deadlock!".  The message lists where each goroutine is parked."""


def _progress() -> tuple[int, int]:
    with _runtime._procs_lock:
        ms = list(_runtime._allm)
    return sum(p.tick for p in list(_runtime._allp)), sum(m.wakes for m in ms)


def _others_alive() -> bool:
    """Is any thread alive that is neither the main thread nor one of gort's?"""
    with _runtime._procs_lock:
        ours = {m.thread for m in _runtime._allm}
    for t in threading.enumerate():
        if t is _runtime._main_thread or t in ours or t.name in ("gort-timers", "gort-sysmon"):
            continue
        return True
    return False


_SIGNALS = tuple(sorted(signal.valid_signals())) if hasattr(signal, "valid_signals") else ()


def _no_wake_handler(h: Any) -> bool:
    """Is ``h`` a signal handler that cannot wake the main thread's wait: no
    handler at all, Python's default SIGINT handler, or one of gort's own (the
    SIGINT handler of ``_ki``, the dump handler of ``_diag``)?"""
    if h is None or h is signal.SIG_DFL or h is signal.SIG_IGN or h is signal.default_int_handler:
        return True
    if getattr(h, "_gort_no_wake", False):
        return True
    return h is _ki._sigint


def _signal_handler_installed() -> bool:
    """Has the program installed a Python signal handler?  Like Go's
    ``signal.Notify``, it can wake the main thread at any time (it may send on
    a channel), so the program is not deadlocked."""
    for sig in _SIGNALS:
        try:
            h = signal.getsignal(sig)
        except (OSError, ValueError, RuntimeError):
            continue
        if not _no_wake_handler(h):
            return True
    return False


def _deadlocked() -> bool:
    # A live synctest bubble runs its own detector (and ends its run() with it).
    if _timers._bubbles or _timers.pending() or _others_alive() or _signal_handler_installed():
        return False
    for g in _runtime.live_goroutines():
        if g._state is not _runtime.GState.PARKED or g._timed_park:
            return False
    return True


@interruptible
def park_main(parker: threading.Lock, abort: Callable[[Any], bool], token: Any,
              reason: str) -> bool:
    """The main thread's untimed sleep on ``parker``, checking for a deadlock now
    and then; True when woken.  The thread's sleep here is where a deferred
    KeyboardInterrupt is delivered (``interruptible``)."""
    seen: tuple[int, int] | None = None
    streak = 0
    wait = 0.05
    while not parker.acquire(timeout=wait):
        wait = min(wait * 2, 0.4)
        if not _deadlocked():
            streak = 0
            continue
        now = _progress()
        streak = streak + 1 if now == seen else 1
        seen = now
        if streak < _DEADLOCK_CHECKS:
            continue
        if abort(token):
            raise Deadlock("all goroutines are asleep - deadlock!\n\n"
                           f"main thread [{reason or 'parked'}]\n\n" + dump())
        parker.acquire()  # woken just now after all
        return True
    return True
