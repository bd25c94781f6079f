"""KeyboardInterrupt deferral: Ctrl-C never lands inside a blocking operation's
bookkeeping (Trio's ``_core/_ki.py``).

A KeyboardInterrupt can land between any two bytecodes of the
main thread.  Landing between the claim of a waiter and its wake-up would hang
the peer; landing between queuing and parking would leave a dead waiter.  gort
therefore installs a SIGINT handler (only where the default one is installed)
that defers the interrupt while the main thread runs in *protected* code (the
blocking operations' own frames, marked with ``protect``) and delivers it at
the next point that is not: the thread's sleep in ``_waitq._sleep`` or
``_deadlock.park_main`` (marked ``interruptible``) or the caller's code.  The
innermost marked frame decides, as in Trio's ``_core/_ki.py``; unmarked frames
(the runtime's helpers) inherit from their callers.  The hot paths pay nothing
for this: the check happens in the signal handler, by code object.

Lock rules: ``_state`` (an RLock: a handler can run nested inside another on
the main thread) guards ``_deferred`` and ``_resent``; the marks (``_PROTECTED``,
``_INTERRUPTIBLE``) are only added to, at import time.
"""

from __future__ import annotations

import signal
import threading
import time
import types
from collections.abc import Callable
from typing import Any, TypeVar

from . import _runtime

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


# The hand-offs of a P or a goroutine: an interrupt landing in one would lose it.
for _fn in (_runtime.gosched, _runtime.ready, _runtime.set_max_procs, _runtime.newproc,
            _runtime._dispatch, _runtime._give, _runtime._wakep, _runtime._put_p,
            _runtime._start_worker, _runtime._start_sysmon):
    protect(_fn)
_runtime._at_fork_child_hooks.append(_reset_after_fork)
