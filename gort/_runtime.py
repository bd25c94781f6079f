"""Goroutines on a pool of worker threads: the scheduler, parking and hand-off.

This is gort's ``proc.go``.  A goroutine (its handle, ``_goroutine.Goroutine``,
built on this module) runs on a worker thread (``_M``).  A worker may run
Python code only while it holds a processor (``_P``); there are ``max_procs()``
of them, so at most that many goroutines run at once.

What it does not do, so that it depends on nothing of gort but the timer heap:
goroutine handles, ``go``, join and the exception report (``_goroutine``), wait
queues and parking of blocked operations (``_waitq``), KeyboardInterrupt
deferral (``_ki``), and deadlock detection (``_deadlock``) all build on it.

Two kinds of goroutine share the pool:

* a *plain* goroutine runs a function.  While it is blocked in a gort operation
  its worker thread sleeps on its parker, after giving its P away (Go's
  hand-off), so blocked goroutines never stop runnable ones.  The pool grows a
  thread when every thread is blocked and work is waiting; idle threads are
  reused, and those beyond ``2 * max_procs()`` retire after ``_IDLE_RETIRE`` s.
* a *coroutine* goroutine runs an ``async def`` function.  The worker steps it
  with ``coro.send``; when it awaits a gort operation that must wait, it yields
  a park request and the worker moves on to other work: a parked coroutine holds
  no thread.  Whoever wakes it makes it runnable (``ready``) and any worker may
  resume it (M:N scheduling).

Run queues (Go's ``runq``/``runnext``, Tokio's LIFO slot):

* each P has a local FIFO ``runq`` and a one-slot ``runnext``.  A coroutine made
  runnable by a coroutine goroutine running on P goes to P's runnext (the old
  occupant moves to the runq tail), so a ping-pong pair stays on one worker
  and a switch costs a generator resume, not an OS thread wake-up;
* the global FIFO ``_runq`` takes new goroutines, coroutines made runnable from
  outside the pool (other threads, the timer thread), and workers whose plain
  goroutine was woken and which now wait for a P;
* a worker looks, in order: every 61st time the global queue first (so it is
  never starved by local work), then runnext, then its runq, then the global
  queue, then it steals from other Ps' queues; only then does it sleep;
* fairness of runnext: after ``_RUNNEXT_STREAK`` consecutive runnext picks the
  worker takes its runq head instead, so a ping-pong pair cannot starve the
  rest of its queue;
* a monitor thread (Go's sysmon, started with the first goroutine) checks
  every millisecond for a P whose worker has not come back to the scheduler
  since the last check while work sits in its queues, and wakes an idle worker
  to steal it.  With no work waiting it sleeps (``ready`` and ``go`` kick it
  when they queue work).  It also retries dispatching after the OS refused a
  worker thread, and makes the calls queued with ``defer_wake``.

Blocking calls outside gort (Go's entersyscall and sysmon's ``retake``): a
goroutine that waits in ``time.sleep``, a socket or a library call keeps its
P, so while work waits for a P sysmon watches the held ones; a P whose tick has
stood still for ``_RETAKE_AFTER`` while its thread did not run (its CPU clock,
and the kernel's view) is taken from its worker and handed to the waiting work
(the pool grows a thread if needed).  The worker notices at its next entry into
the scheduler (a park, ``gosched``, the slow path of any blocking operation,
``blocking()``, or its goroutine's end) and waits for a P before it goes on;
until then the process runs one thread more than ``max_procs``.  A CPU-bound
goroutine is never retaken.  ``blocking()`` hands the P off at once.

Nothing is lost, whatever happens to a goroutine:

* a worker thread never dies and never loses its P: its loop survives any
  error, and the hand-off functions (``_dispatch``, ``_give``, ``_wakep``),
  which may run near the recursion limit, put back whatever they took using
  C-level calls only (they need no stack); ``gosched`` probes for stack first;
* when the OS refuses a new thread, the work and the P are queued again for
  sysmon to retry, and ``go()`` raises RuntimeError for its own goroutine;
* the child of ``os.fork()`` gets a fresh runtime (``_at_fork_child_hooks``);
* at exit, gort's threads are let fall asleep before the interpreter
  finalizes (``_at_exit``).

What this module deliberately does not do: preempt a goroutine that runs Python
code without calling into gort (Go before 1.14 behaved the same; call
``gosched()`` in long loops).

Threads that gort did not start (the main thread, a user's ``threading.Thread``)
may use every gort primitive; they hold no P and are not limited by it.

Shared state and what guards it (there is no GIL on 3.13t):

    _idle_p   deque of Ps no worker holds.  A P is, at every moment, in _idle_p,
              or held by one worker (``m.p``), or in transit in one call of
              ``_give``.  deque append/pop are atomic, so no lock is needed.
    _runq     the global run queue (deque): Goroutines and _Ms.
    p.runq    a P's local run queue.  Only the P's holder appends; anyone pops
              from the left (stealing); each pop is atomic.
    p.runnext a deque of at most one Goroutine, the run-next slot.  Only the
              holder appends; taking is ``pop()``, atomic, so a goroutine in the
              slot is taken by exactly one worker.
    _idle_m   workers parked with no goroutine.
    m.pt      the claim on m's P: ``[m.p]`` while m holds it, ``[]`` once m gave it
              up or sysmon retook it.  Whoever removes the element (m: ``pop``,
              sysmon: ``remove(p)``, both atomic) owns the hand-off of that P,
              so a P retaken while its worker wakes up is given away once.
              Only the granter of a P appends (before waking m), so
              ``len(m.pt) <= 1``.

    No lost wake-up: whoever adds to _runq calls ``_dispatch()`` afterwards, and
    whoever returns a P to _idle_p looks at _runq afterwards; ``_dispatch`` puts
    a P back when _runq was empty and then looks again.  A worker returns its P
    only after its local queues were found empty, and only the holder fills them.

    Parking a thread: each thread owns one parker, a ``threading.Lock`` kept
    locked while nobody signalled it; ``release`` wakes, ``acquire`` waits.
    Every wake is consumed by exactly one wait, so a wake that comes before the
    wait is never lost, and a thread waits for one reason at a time.

    Parking a coroutine: it yields a park request naming the locks it still
    holds (the channel lock under which it queued its waiter).  The worker marks
    it parked and only then releases those locks (Go's ``gopark`` unlock
    function), so no waker can make it runnable before it is really suspended.

    _procs_lock guards _nprocs, _p_debt (Ps to retire after set_max_procs
    lowered the count), _allp (rebound, never mutated: readers iterate a
    snapshot) and _nthreads.  _live_lock guards _live and _ids (the registry of
    live goroutines, Go's allgs).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import enum
import gc
import itertools
import os
import sys
import threading
import time
import traceback
import types
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Generator
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any

from . import _timers

if TYPE_CHECKING:  # (the handle's module builds on this one)
    from ._goroutine import Goroutine

_IDLE_RETIRE = 30.0  # seconds an extra idle worker waits before it exits
_RUNNEXT_STREAK = 32  # consecutive runnext picks before the runq head gets a turn
_GLOBAL_EVERY = 61  # every this many schedules, look at the global queue first
_SYSMON_TICK = 0.001  # sysmon's period while a busy P has queued work
_SYSMON_IDLE = 1.0  # sysmon's sleep with nothing to watch (it is kicked sooner)
_RETRY_FIRST = 0.001  # after the OS refused a worker thread: first retry, then doubling
_RETRY_MAX = 0.25  # ... up to this
_SCHED_DEPTH = 8  # frames the scheduler's calls below an entry point may need
_EXIT_SETTLE = 0.25  # at most this many seconds at exit waiting for gort threads to sleep

MAX_PROCS = 4096
"""The largest ``max_procs`` that ``set_max_procs`` and ``GORT_MAXPROCS`` accept."""


def free_threading() -> bool:
    """True when this process runs Python code in parallel (free-threaded, GIL off)."""
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return is_gil_enabled is not None and not is_gil_enabled()


def _default_procs() -> int:
    env = os.environ.get("GORT_MAXPROCS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"GORT_MAXPROCS must be a positive int, got {env!r}") from None
        if n < 1:
            raise ValueError(f"GORT_MAXPROCS must be a positive int, got {env!r}")
        if n > MAX_PROCS:
            raise ValueError(f"GORT_MAXPROCS must be at most {MAX_PROCS}, got {env!r}")
        return n
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return min(MAX_PROCS, max(1, count or 1))


def _probe(n: int) -> None:
    if n:
        _probe(n - 1)


# --------------------------------------------------------------------------- state

class _TLS(threading.local):
    m: _M | None = None  # the worker this thread is, if it is one
    parker: threading.Lock | None = None
    bubble: Any = None  # the synctest bubble firing its timers on this thread


_tls = _TLS()


def current_bubble() -> Any:
    """The synctest bubble of the calling goroutine (or of the timers this thread
    is firing), else None."""
    m = _tls.m
    if m is not None:
        g = m.cg if m.cg is not None else m.g
        if g is not None and g._bubble is not None:
            return g._bubble
    return _tls.bubble


_timers.bubble_of = current_bubble


def _new_parker() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


def current_parker() -> threading.Lock:
    """This thread's parker (created locked on first use)."""
    p = _tls.parker
    if p is None:
        p = _tls.parker = _new_parker()
    return p


class GState(enum.Enum):
    """A goroutine's state (``Goroutine.state``; Go's ``_Grunnable`` etc.):
    ``RUNNABLE`` (queued, waiting for a processor), ``RUNNING`` (on a worker),
    ``PARKED`` (blocked in a gort operation, its processor given away),
    ``SYSCALL`` (in a blocking call outside gort, its processor handed to other
    goroutines: ``blocking()``, or taken by the monitor) or ``DONE`` (returned
    or raised)."""

    RUNNABLE = "runnable"
    RUNNING = "running"
    PARKED = "parked"
    SYSCALL = "syscall"
    DONE = "done"


class _P:
    """A processor: the right to run Python code, and a local run queue."""

    __slots__ = ("id", "runq", "runnext", "tick", "seen_tick", "streak", "held", "m",
                 "cpu0", "cpu0_at", "where", "gc0")

    def __init__(self, id: int) -> None:
        self.id = id
        self.runq: deque[Goroutine[Any]] = deque()
        self.runnext: deque[Goroutine[Any]] = deque()
        self.tick = 0  # schedules so far (read by sysmon)
        self.seen_tick = -1
        self.streak = 0  # consecutive runnext picks
        self.held = False  # a worker holds it (a hint for sysmon)
        self.m: _M | None = None  # its last holder (a hint for sysmon's retake)
        # sysmon's retake watch, while the tick stands still and work waits: the
        # holder's CPU time (or, without a CPU clock, its frame) when first seen.
        self.cpu0: float | None = None
        self.cpu0_at = 0.0
        self.where: Any = None
        self.gc0 = 0

    def __repr__(self) -> str:
        return f"<P {self.id} runq={len(self.runq)} runnext={len(self.runnext)}>"


class _M:
    """A worker thread.  Its fields are touched only by its own thread, except
    ``g``/``p``, which a dispatcher sets right before releasing its parker."""

    __slots__ = ("parker", "p", "pt", "g", "cg", "thread", "wakes", "retired", "idle", "gen",
                 "clock", "__weakref__")

    def __init__(self) -> None:
        self.parker = _new_parker()
        self.p: _P | None = None
        # The claim on p: [p] while m holds p, [] once it gave p up or sysmon took
        # it (retake).  Whoever pops the element owns the hand-off of p.
        self.pt: list[_P] = []
        self.g: Goroutine[Any] | None = None
        self.cg: Goroutine[Any] | None = None  # the coroutine goroutine being stepped
        self.thread: threading.Thread | None = None
        self.wakes = 0  # times a goroutine on this thread woke (deadlock detection)
        self.retired = False
        self.idle = False  # asleep (or falling asleep) in _idle_wait
        self.gen = _fork_gen  # the process it belongs to (see _after_fork_in_child)
        self.clock: int | None = None  # its CPU clock id (for sysmon), once known


_procs_lock = threading.Lock()
_nprocs = _default_procs()
_p_debt = 0
_p_ids = itertools.count()
_allp: list[_P] = [_P(next(_p_ids)) for _ in range(_nprocs)]  # rebound, never mutated
_idle_p: deque[_P] = deque(_allp)
_runq: deque[Any] = deque()
_idle_m: deque[_M] = deque()
_nthreads = 0
_thread_names = itertools.count(1)
_allm: weakref.WeakSet[_M] = weakref.WeakSet()  # every worker (guarded by _procs_lock)
_shutting_down = False
_fork_gen = 0  # bumped in a forked child: workers of the parent are none of its own

# Worker threads the OS refused to start (``threading.Thread.start`` raised), and
# the last refusal.  The work is queued again and sysmon retries.
_refused = 0
_refused_error: BaseException | None = None

# sysmon.  ``_sysmon_q`` carries calls for sysmon to make (``defer_wake``) and
# kicks (None).  While sysmon sleeps with nothing to watch, ``_sysmon_sleeping``
# is set and whoever queues work on a P's local queue kicks it.
_sysmon: threading.Thread | None = None
_sysmon_q: SimpleQueue[Callable[[], Any] | None] = SimpleQueue()
_sysmon_sleeping = False
_sysmon_wakeups = 0  # times sysmon woke up (for tests: an idle process stays asleep)

defer_wake: Callable[[Callable[[], Any] | None], None] = _sysmon_q.put
"""``defer_wake(fn)``: have sysmon call ``fn()`` soon, on its own (shallow) stack.

For completers whose call of a waiter's wake raised RecursionError near the
recursion limit: this is a C-level call (``SimpleQueue.put``), which needs no
Python frame, so it works at the limit itself.  Always call it as
``_runtime.defer_wake(fn)`` (a forked child gets a new queue); ``fn`` is called
once, and an exception it raises is printed, never propagated.
"""


def max_procs() -> int:
    """How many goroutines may run Python code at once (Go's GOMAXPROCS)."""
    return _nprocs


def set_max_procs(n: int) -> int:
    """Set how many goroutines may run at once; return the previous value.

    ``n`` must be in ``1..MAX_PROCS``.  Lowering it retires idle processors at
    once and busy ones as their goroutines give them back.
    """
    global _nprocs, _p_debt, _allp
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"max_procs must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"max_procs must be >= 1, got {n}")
    if n > MAX_PROCS:
        raise ValueError(f"max_procs must be <= {MAX_PROCS}, got {n}")
    _probe(_SCHED_DEPTH)
    with _procs_lock:
        old = _nprocs
        _nprocs = n
        delta = n - old
        if delta > 0:
            paid = min(delta, _p_debt)  # first cancel a pending reduction
            _p_debt -= paid
            new = [_P(next(_p_ids)) for _ in range(delta - paid)]
            _allp = _allp + new
            _idle_p.extend(new)
        elif delta < 0:
            need = -delta
            retired = []
            while need:
                try:
                    retired.append(_idle_p.pop())
                except IndexError:
                    break
                need -= 1
            _p_debt += need  # retired as their holders give them back
            _retire_ps(retired)
    _dispatch()
    return old


def _retire_ps(ps: list[_P] | tuple[_P, ...]) -> None:
    """Take ps out of service (with _procs_lock held); their queued work goes
    global.  One pass over _allp however many: shrinking stays linear."""
    global _allp
    if not ps:
        return
    gone = set(ps)
    _allp = [p for p in _allp if p not in gone]
    for p in ps:
        while True:
            try:
                _runq.append(p.runnext.pop())
            except IndexError:
                break
        while True:
            try:
                _runq.append(p.runq.popleft())
            except IndexError:
                break


def _put_p(p: _P) -> None:
    """A worker gives P back: to a worker for its queued work, or to the idle set."""
    global _p_debt
    p.held = False
    if _p_debt:
        with _procs_lock:
            retire = _p_debt > 0
            if retire:
                _retire_ps((p,))
                _p_debt -= 1
        if retire:
            _dispatch()
            return
    if p.runnext or p.runq:
        _give(None, p)  # local work must not sit on an idle P
        return
    _idle_p.append(p)
    if _runq:
        _dispatch()


# Robustness rules of the hand-off functions below (_dispatch, _give, _wakep).
# They may be called near the recursion limit (from a goroutine's deep stack) and
# while the OS refuses new threads, and they must never lose a P or a goroutine:
#   * _give never raises: when no worker thread can be started it queues the item
#     and the P again, kicks sysmon (which retries) and returns False;
#   * _dispatch and _wakep raise only RecursionError, and only after putting back
#     what they had taken (a call to _give can fail only on entry);
#   * every statement in their recovery paths is a C-level call, which needs no
#     Python frame and so cannot fail for lack of stack.

def _dispatch() -> None:
    """Pair idle Ps with global runnable work until one of the two runs out."""
    while _idle_p:
        try:
            p = _idle_p.pop()
        except IndexError:
            return
        try:
            item = _runq.popleft()
        except IndexError:
            _idle_p.append(p)
            if _runq:  # something arrived after we looked: look again
                continue
            return
        try:
            given = _give(item, p)
        except RecursionError:  # the call itself failed: nothing was handed over
            p.held = False
            _runq.appendleft(item)
            _idle_p.append(p)
            _sysmon_q.put(None)
            raise
        if not given:
            return  # no thread for it: sysmon retries


def _wakep() -> None:
    """Wake an idle P's worker to steal queued work (Go's wakep)."""
    try:
        p = _idle_p.pop()
    except IndexError:
        return
    try:
        _give(None, p)
    except RecursionError:
        p.held = False
        _idle_p.append(p)
        _sysmon_q.put(None)
        raise


def _give(item: Any, p: _P) -> bool:
    """Hand P to a runnable item: wake its thread, or run it on a worker.

    False when no worker thread could be started: the item and P are queued
    again (the P's own queued work moved to the global queue) for sysmon.
    """
    global _refused, _refused_error
    p.held = True
    if type(item) is _M:
        _grant(item, p)
        item.parker.release()
        return True
    try:
        m = _idle_m.pop()
    except IndexError:
        try:
            _start_worker(item, p)
        except (RuntimeError, MemoryError) as e:  # RecursionError is a RuntimeError
            # Nothing was started.  C-level calls only from here on.
            p.held = False
            if item is not None:
                _runq.appendleft(item)
            rn = p.runnext
            while rn:
                try:
                    _runq.append(rn.pop())
                except IndexError:
                    break
            rq = p.runq
            while rq:
                try:
                    _runq.append(rq.popleft())
                except IndexError:
                    break
            _idle_p.append(p)
            if type(e) is not RecursionError:
                _refused += 1
                _refused_error = e
            _sysmon_q.put(None)
            return False
        return True
    m.g = item
    _grant(m, p)
    m.parker.release()
    return True


def _start_worker(g: Goroutine[Any] | None, p: _P) -> None:
    """Start a worker thread to run g on p.  Raises RuntimeError (or
    RecursionError, or MemoryError) when it could not: nothing changed then."""
    global _nthreads
    _probe(_SCHED_DEPTH + 16)  # threading's own frames: fail here, before starting
    m = _M()
    m.g = g
    _grant(m, p)
    t = threading.Thread(target=_worker_main, args=(m,),
                         name=f"gort-worker-{next(_thread_names)}", daemon=True)
    m.thread = t
    with _procs_lock:
        _nthreads += 1
        _allm.add(m)
    try:
        t.start()
    except BaseException:
        with _procs_lock:
            _nthreads -= 1
            _allm.discard(m)
        raise


def _worker_main(m: _M) -> None:
    global _nthreads
    _tls.m = m
    _tls.parker = m.parker
    try:
        while True:
            try:
                _schedule(m)
            except BaseException as e:  # a bug in gort: keep the thread and its P
                _internal_error("a worker", e)
                if m.gen == _fork_gen:
                    continue  # m.p, if still held, is scheduled again
            if m.gen != _fork_gen:
                return  # a forked child's copy of a worker: not one of its workers
            if not _idle_wait(m):
                return
    finally:
        if m.gen == _fork_gen:  # (a forked child counted none of the parent's)
            with _procs_lock:
                if not m.retired:
                    _nthreads -= 1
                _allm.discard(m)


def _schedule(m: _M) -> None:
    """Run goroutines on m while it holds a P; return once it holds none."""
    g: Any = m.g
    m.g = None
    while True:
        p = m.p
        if p is None or m.gen != _fork_gen:
            if g is not None:  # never happens: whoever hands a goroutine hands a P
                _runq.append(g)
                _sysmon_q.put(None)
            return
        if g is None:
            if not m.pt:  # sysmon retook p while our goroutine blocked outside gort
                m.p = None
                _orphan_local_work(p)
                return
            g = _find_work(p)
            if g is None:
                m.p = None
                if _claim(m):
                    _put_p(p)
                return
        if type(g) is _M:  # a woken plain goroutine waits for a P: ours
            m.p = None
            if _claim(m):
                _give(g, p)
            else:
                _runq.append(g)
                _orphan_local_work(p)
                _dispatch()
                if _sysmon_sleeping and not _idle_p:
                    _sysmon_q.put(None)
            return
        if g._coro is not None:
            _step(g, m)
        else:
            g._run(m)
        g = None


def _internal_error(where: str, e: BaseException) -> None:
    try:
        if sys.stderr is not None:
            print(f"gort: internal error in {where} (the runtime keeps going):",
                  file=sys.stderr)
            traceback.print_exception(e, file=sys.stderr)
    except BaseException:
        pass


def _find_work(p: _P) -> Any:
    p.tick += 1
    if _runq and p.tick % _GLOBAL_EVERY == 0:
        try:
            return _runq.popleft()
        except IndexError:
            pass
    if p.runnext:
        if p.streak < _RUNNEXT_STREAK or not p.runq:
            try:
                g = p.runnext.pop()
                p.streak += 1
                return g
            except IndexError:
                pass
    p.streak = 0
    if p.runq:
        try:
            return p.runq.popleft()
        except IndexError:
            pass
    if _runq:
        try:
            return _runq.popleft()
        except IndexError:
            pass
    for victim in _allp:
        if victim is p:
            continue
        if victim.runq:
            try:
                return victim.runq.popleft()
            except IndexError:
                pass
        if victim.runnext:
            try:
                return victim.runnext.pop()
            except IndexError:
                pass
    return None


def _idle_wait(m: _M) -> bool:
    """Park m as an idle worker until a dispatcher hands it a P.

    False when it should exit instead: when it stayed idle for
    ``_IDLE_RETIRE`` seconds while the pool has more than ``2 * max_procs()``
    threads (then its thread count is already decremented).  Once the
    interpreter exits (``_shutting_down``) an idle worker neither retires nor
    waits with a timeout: it sleeps until woken (see ``_at_exit``).

    ``m.idle`` is set right before each sleep, with no bytecode in between that
    could switch threads, so that ``_at_exit`` can tell it is falling asleep.
    """
    global _nthreads
    _idle_m.append(m)
    while True:
        if _shutting_down or _nthreads <= 2 * _nprocs:
            m.idle = True
            m.parker.acquire()
            m.idle = False
            return m.p is not None
        m.idle = True
        woken = m.parker.acquire(timeout=_IDLE_RETIRE)
        m.idle = False
        if woken:
            return m.p is not None
        if _shutting_down:
            continue
        with _procs_lock:
            if _nthreads <= 2 * _nprocs:
                continue  # others retired meanwhile: this one stays
            try:
                _idle_m.remove(m)
            except ValueError:
                pass  # a dispatcher popped us: its wake-up is on the way
            else:
                _nthreads -= 1
                m.retired = True
                return False
        m.idle = True
        m.parker.acquire()
        m.idle = False
        return m.p is not None


# --------------------------------------------------------------------------- sysmon

def _local_work() -> bool:
    """Does a P hold queued goroutines (work sysmon watches)?"""
    for p in _allp:
        if p.runnext or p.runq:
            return True
    return False


# --------------------------------------------------------------------------- retake

# Go's retake: a P whose goroutine has not come back to the scheduler for
# _RETAKE_AFTER while work waits for a P, and whose thread is not running (it
# waits in a blocking call outside gort: time.sleep, a socket, a library), is
# handed to the waiting work.  0.5 ms: Go retakes a P in a system call after
# one sysmon tick (20 us .. 10 ms) when work waits; gort cannot see a system
# call begin, so it needs a window to see that the thread does not run: one
# sysmon tick (0.5 ms while work waits for a held P; sysmon sleeps otherwise),
# long against a hand-off's cost (a thread wake-up, ~50 us here) and short
# against the 10 ms calls of the fan-out benchmark.  The window starts when
# sysmon sees a new holder (or a tick standing still) while work waits.
# "Not running": its CPU clock advanced by less than _RETAKE_CPU_SHARE of the
# window and the kernel does not show it runnable ('R' in /proc), so a
# CPU-bound goroutine keeps its P however loaded the machine is.  Without a
# per-thread CPU clock (e.g. macOS) the fallback is the thread's Python frame:
# the same frame at the same instruction for the whole window means one long
# call outside Python.
_RETAKE_AFTER = 0.0005
_RETAKE_CPU_SHARE = 0.2
_SYSMON_WATCH = 0.0005  # sysmon's period while work waits for a held P ...
_SYSMON_BACKOFF = 50  # ... for this many looks that retake nothing, then doubling
_SYSMON_WATCH_MAX = 0.010  # ... up to this
_retakes = 0  # Ps retaken so far (written by sysmon only)
_running_seen = 0  # windows that found their holder running (sysmon only)
# A collection stops every thread (3.13t's GC stops the world): a window that
# saw one, or sees one running, proves nothing.  Bumped at each start and stop.
_gc_epoch = 0


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _gc_epoch
    _gc_epoch += 1


gc.callbacks.append(_on_gc)
_HAVE_CPU_CLOCK = hasattr(time, "pthread_getcpuclockid")


def _grant(m: _M, p: _P) -> None:
    """Make m the holder of p (m is not running yet, or is m itself).  The one
    place a P changes hands to a worker: its tick moves (sysmon's watch of the
    previous holder ends) before m's claim appears."""
    p.held = True
    p.tick += 1
    p.m = m
    m.p = p
    m.pt.append(p)


def _drop_p(m: _M) -> None:
    """m gives its P up (it holds one): to others, unless sysmon retook it."""
    p = m.p
    m.p = None
    if p is None:
        return
    if _claim(m):
        _put_p(p)
    else:
        _orphan_local_work(p)


def _claim(m: _M) -> bool:
    """m gives its P up: take back its claim.  False when sysmon has taken the P
    (``_retake``) meanwhile: then it is no longer m's to give."""
    try:
        m.pt.pop()
    except IndexError:
        return False
    return True


def _orphan_local_work(p: _P) -> None:
    """m lost p to a retake: what its goroutine queued on p's local queues
    afterwards goes to the global queue (p may be idle now)."""
    moved = False
    while True:
        try:
            _runq.append(p.runnext.pop())
        except IndexError:
            break
        moved = True
    while True:
        try:
            _runq.append(p.runq.popleft())
        except IndexError:
            break
        moved = True
    if moved:
        _dispatch()
        if _sysmon_sleeping and not _idle_p:
            _sysmon_q.put(None)


def _reacquire(m: _M) -> None:
    _probe(_SCHED_DEPTH)  # near the recursion limit, fail here, having changed nothing
    p = m.p
    m.p = None
    if p is not None:
        _orphan_local_work(p)
    _acquire_p(m)


def _cpu_time(m: _M) -> float | None:
    """The CPU time m's thread has used, or None where it cannot be read."""
    clock = m.clock
    if clock is None:
        t = m.thread
        ident = t.ident if t is not None else None
        if ident is None or not _HAVE_CPU_CLOCK:
            return None
        try:
            clock = m.clock = time.pthread_getcpuclockid(ident)
        except OSError:  # pragma: no cover - the thread is gone
            return None
    try:
        return time.clock_gettime(clock)
    except OSError:  # pragma: no cover - the thread is gone
        return None


def _runnable_in_kernel(m: _M) -> bool:
    """Does the kernel show m's thread running or ready to run?  False where it
    cannot tell."""
    t = m.thread
    tid = t.native_id if t is not None else None
    if tid is None:
        return False
    try:
        with open(f"/proc/self/task/{tid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] == b"R"


def _waits_on_futex(m: _M) -> bool:
    """Is m's thread asleep on a futex (a lock, a condition: with the GIL, maybe
    the GIL itself)?  False where the kernel does not say (/proc's wchan)."""
    t = m.thread
    tid = t.native_id if t is not None else None
    if tid is None:
        return False
    try:
        with open(f"/proc/self/task/{tid}/wchan", "rb") as f:
            return b"futex" in f.read()
    except OSError:
        return False


def _where(m: _M) -> Any:
    """The fallback probe: m's thread's top frame and instruction."""
    t = m.thread
    f = sys._current_frames().get(t.ident) if t is not None and t.ident is not None else None
    return (f.f_code, f.f_lasti) if f is not None else None


def _watch(p: _P, m: _M, now: float) -> None:
    """p's tick stood still since sysmon's last look while work waits: retake p
    once its holder has been blocked outside gort for a whole window.

    With the GIL, a thread waiting for it looks blocked too (no CPU, asleep), so
    its Python frame must also have stood still, and a thread asleep on a futex
    (which may be the GIL's) is never taken for blocked: with the GIL, a
    goroutine waiting on a lock outside gort keeps its P unless it says
    ``blocking()`` (sleeps and sockets are recognised)."""
    gil = not free_threading()
    if p.cpu0_at == 0.0:  # the start of a window
        p.gc0 = _gc_epoch
        p.cpu0 = _cpu_time(m)
        p.where = _where(m) if p.cpu0 is None or gil else None
        p.cpu0_at = now
        return
    elapsed = now - p.cpu0_at
    if elapsed < _RETAKE_AFTER:
        return
    cpu0, where = p.cpu0, p.where
    if _gc_epoch != p.gc0 or _gc_epoch & 1:
        blocked = False  # the world stopped meanwhile
    elif cpu0 is not None:
        cpu = _cpu_time(m)
        blocked = (cpu is not None and cpu - cpu0 < _RETAKE_CPU_SHARE * elapsed
                   and not _runnable_in_kernel(m)
                   and (not gil or (_where(m) == where and not _waits_on_futex(m))))
    else:
        blocked = where is not None and _where(m) == where
    p.cpu0_at = 0.0  # a new window next time (if p is still held)
    if blocked:
        _retake(p, m)
    else:
        global _running_seen
        _running_seen += 1


def _retake(p: _P, m: _M) -> None:
    """Take p from m, whose goroutine is blocked outside gort, for other work."""
    global _retakes
    try:
        m.pt.remove(p)  # the claim on p, unless m gave p up meanwhile
    except ValueError:
        return
    _retakes += 1
    g = m.cg if m.cg is not None else m.g
    if g is not None:
        g._state = GState.SYSCALL
    _put_p(p)


def _sysmon_main() -> None:
    """Go's sysmon: wake an idle worker when a busy P's queued work has waited a
    whole tick; retake the P of a goroutine blocked outside gort while work
    waits (``_watch``); retry dispatching after the OS refused a worker thread;
    make the calls queued with ``defer_wake``.  It sleeps while there is nothing
    to watch.  Never exits: a thread ending during interpreter exit can hang it."""
    global _sysmon_sleeping, _sysmon_wakeups
    retry = 0.0  # > 0: the OS refused a worker thread; retry after this long
    # The period while work waits for a held P: _SYSMON_WATCH, doubled (up to
    # _SYSMON_WATCH_MAX) after _SYSMON_BACKOFF looks that found a holder running
    # and retook nothing, as Go's sysmon backs off, so a CPU-bound program with
    # more goroutines than Ps does not pay for a watch that finds nothing; back
    # to _SYSMON_WATCH after a retake.
    watch = _SYSMON_WATCH
    quiet = 0
    while True:
        try:
            timeout: float | None
            if _shutting_down:
                timeout = None
            elif retry:
                timeout = retry
            elif _local_work():
                timeout = _SYSMON_TICK
            elif _runq and not _idle_p:
                timeout = watch
            else:
                _sysmon_sleeping = True
                watch, quiet = _SYSMON_WATCH, 0  # new work is watched closely at first
                # Look again: whoever queues work queues it, then reads the flag.
                if _local_work():
                    timeout = _SYSMON_TICK
                elif _runq and not _idle_p:
                    timeout = watch
                else:
                    timeout = _SYSMON_IDLE
            try:
                fn = _sysmon_q.get(True, timeout)
            except Empty:
                fn = None
            _sysmon_sleeping = False
            _sysmon_wakeups += 1
            while True:
                if fn is not None:
                    try:
                        fn()
                    except BaseException as e:
                        _internal_error("a deferred wake-up", e)
                try:
                    fn = _sysmon_q.get_nowait()
                except Empty:
                    break
            if _runq and _idle_p:
                refused = _refused
                _dispatch()
                if _refused != refused:
                    retry = min(max(2 * retry, _RETRY_FIRST), _RETRY_MAX)
                else:
                    retry = 0.0
            else:
                retry = 0.0
            now = time.monotonic()
            waiting = bool(_runq) and not _idle_p
            retaken, running = _retakes, _running_seen
            for p in _allp:
                if not p.held:
                    p.seen_tick = p.tick
                    p.cpu0_at = 0.0
                    if p.runnext or p.runq:  # queued by a holder that lost p: run it
                        _orphan_local_work(p)
                    continue
                local = bool(p.runnext or p.runq)
                m = p.m
                if p.tick != p.seen_tick:  # p's holder came back to the scheduler
                    p.seen_tick = p.tick
                    p.cpu0_at = 0.0
                    if (waiting or local) and m is not None and m.p is p:
                        _watch(p, m, now)  # a window starts now
                    continue
                # p's goroutine has not come back to the scheduler since last time.
                if local and _idle_p:
                    _wakep()  # an idle P steals the queued work
                elif (local or waiting) and m is not None and m.p is p:
                    _watch(p, m, now)
            if _retakes != retaken:
                watch, quiet = _SYSMON_WATCH, 0
            elif _running_seen != running:  # a whole window found its holder running
                quiet += 1
                if quiet > _SYSMON_BACKOFF:
                    watch = min(2 * watch, _SYSMON_WATCH_MAX)
        except BaseException as e:  # a bug in gort: sysmon must keep going
            _internal_error("sysmon", e)


def _start_sysmon() -> None:
    """Start sysmon (on the first ``go()``); RuntimeError if the OS refuses."""
    global _sysmon
    with _procs_lock:
        if _sysmon is not None:
            return
        t = threading.Thread(target=_sysmon_main, name="gort-sysmon", daemon=True)
        _sysmon = t
    try:
        t.start()
    except BaseException:
        with _procs_lock:
            if _sysmon is t:
                _sysmon = None
        raise


def ensure_sysmon() -> None:
    """Start sysmon if it is not running (for ``defer_wake`` users that may run
    before any goroutine was started)."""
    if _sysmon is None:
        _start_sysmon()


# --------------------------------------------------------------------------- parking

_warned_blocking = False


def _release_p(reason: str, timed: bool) -> bool:
    """Before a thread parks: give its P back.  True if it held one (then it
    must take one again with ``_acquire_p`` after the park; not inside
    ``blocking()``, say, where it holds none)."""
    global _warned_blocking
    m = _tls.m
    if m is not None and m.p is not None:
        g = m.g
        if g is not None:
            g._wait_reason = reason
            g._timed_park = timed
            g._state = GState.PARKED
            if g._coro is not None and not _warned_blocking:
                _warned_blocking = True
                warnings.warn(
                    "a blocking gort call inside a coroutine goroutine holds its worker "
                    "thread until it returns; use the coroutine form (e.g. await ch.arecv())",
                    RuntimeWarning, stacklevel=4)
        p = m.p
        m.p = None
        try:
            m.pt.pop()  # _claim, inlined: a park is a hot path
        except IndexError:
            _orphan_local_work(p)  # sysmon retook p (see _retake): not ours to give
            return True
        _put_p(p)
        return True
    return False


def _acquire_p(m: _M | None) -> None:
    """After a thread wakes: wait for a P before running Python code again."""
    if m is None:
        return
    m.wakes += 1
    g = m.g
    try:
        p = _idle_p.pop()
    except IndexError:
        if g is not None:
            g._state = GState.RUNNABLE
        _runq.append(m)
        _dispatch()
        if _sysmon_sleeping and not _idle_p:  # C-level calls only: m is queued
            _sysmon_q.put(None)
        m.parker.acquire()  # until _give hands us a P
    else:
        _grant(m, p)
    if g is not None:
        g._state = GState.RUNNING


class _Blocking:
    """The context manager of ``blocking()``."""

    __slots__ = ("_m",)

    def __init__(self) -> None:
        self._m: _M | None = None

    def __enter__(self) -> None:
        m = _tls.m
        if m is None or m.p is None:
            return  # off the pool (nothing to hand off), or nested
        _probe(_SCHED_DEPTH)  # near the recursion limit, fail here, before giving P away
        g = m.cg if m.cg is not None else m.g
        if g is not None:
            g._state = GState.SYSCALL
        self._m = m
        _drop_p(m)

    def __exit__(self, *exc: object) -> None:
        m = self._m
        self._m = None
        # Only on the thread that entered, and only if nothing in the block took
        # a P meanwhile (a coroutine that awaited inside may resume elsewhere).
        if m is not None and m is _tls.m and m.p is None:
            _acquire_p(m)


def blocking() -> contextlib.AbstractContextManager[None]:
    """A block that makes a long blocking call outside gort (Go's
    ``entersyscallblock``): ``with gort.blocking(): data = f.read()``.

    On entry the goroutine hands its processor to other goroutines at once; on
    exit it waits for a processor again before it goes on.  Without it the
    runtime does the same by itself, but only after the call has blocked for
    about 10 ms (see the README).  Off the pool (the main thread, a thread gort
    did not start) and when nested it does nothing.  A coroutine goroutine's
    worker thread is held for the duration either way; for long calls from a
    coroutine prefer ``await gort.to_thread(fn)``.
    """
    return _Blocking()


_main_thread = threading.main_thread()


def gosched() -> Any:
    """Yield the processor: let other runnable goroutines run, then continue.

    In a coroutine goroutine, ``await gort.gosched()``.
    """
    m = _tls.m
    if m is not None and m.cg is not None:
        return _gosched_coro()
    if m is None and asyncio._get_running_loop() is not None:
        return _AsyncioYield()  # an asyncio task: await it to yield the loop
    if m is None or m.p is None:
        return None
    _probe(_SCHED_DEPTH)  # near the recursion limit, fail here, before giving P away
    p = m.p
    m.p = None
    g = m.g
    if g is not None:
        g._state = GState.RUNNABLE
    # Take back the claim before m is queued: a dispatcher may grant m a new P
    # as soon as it is in _runq.
    claimed = _claim(m)
    _runq.append(m)  # behind everything already waiting
    if claimed:
        _put_p(p)
    else:  # sysmon retook p while we were outside gort
        _orphan_local_work(p)
    _dispatch()
    m.parker.acquire()
    if g is not None:
        g._state = GState.RUNNING
    return None


_GOSCHED: Any = object()  # park request: put me at the back of the global queue


@types.coroutine
def _gosched_coro() -> Generator[Any, Any]:
    yield _GOSCHED


class _AsyncioYield:
    """``await gort.gosched()`` in an asyncio task: ``asyncio.sleep(0)``, made only
    when awaited (so a sync caller that ignores it leaves no un-awaited coroutine)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, Any]:
        return asyncio.sleep(0).__await__()


def current_coroutine_goroutine() -> Goroutine[Any] | None:
    """The coroutine goroutine being stepped on this thread, if any."""
    m = _tls.m
    return m.cg if m is not None else None


def ready(g: Goroutine[Any]) -> None:
    """Make a parked coroutine goroutine runnable (the wake of its waiters).

    Near the recursion limit it either raises RecursionError having changed
    nothing (the caller may then ``defer_wake`` it) or makes g runnable: once g
    is queued, a failure to wake a worker for it is left to sysmon.
    """
    global _sysmon_sleeping
    g._state = GState.RUNNABLE
    if g._durable:  # a synctest bubble counts it as running again
        g._bubble.unblocked()  # (first: if this raises, the wake can be retried)
        g._durable = False
    m = _tls.m
    if m is not None and m.cg is not None:
        p = m.p
        if p is not None and m.pt:  # (not a P sysmon retook: nobody would run it)
            rn = p.runnext
            moved = False
            if rn:
                try:
                    p.runq.append(rn.pop())
                except IndexError:
                    pass  # stolen meanwhile
                else:
                    moved = True
            rn.append(g)
            if _sysmon_sleeping:  # work on a P's queue: sysmon watches it
                _sysmon_sleeping = False
                _sysmon_q.put(None)
            if moved and _idle_p:
                try:
                    _wakep()  # an idle P may take the one moved to the runq
                except RecursionError:
                    pass  # sysmon was kicked: it wakes one
            return
    _runq.append(g)
    if _idle_p:
        try:
            _dispatch()
        except RecursionError:
            pass  # sysmon was kicked: it dispatches g
    elif _sysmon_sleeping:  # g is queued: only C-level calls from here
        _sysmon_sleeping = False
        _sysmon_q.put(None)


def _step(g: Goroutine[Any], m: _M) -> None:
    """Run a coroutine goroutine until it parks or ends (worker holds a P)."""
    m.g = g
    m.cg = g
    g._state = GState.RUNNING
    coro = g._coro
    assert coro is not None
    exc: BaseException | None = None
    try:
        if g._coro_throw is None:
            req = g._ctx.run(coro.send, None)
        else:
            exc, g._coro_throw = g._coro_throw, None
            req = g._ctx.run(coro.throw, exc)
    except StopIteration as e:
        m.cg = None
        m.g = None
        g._result = e.value
        g._finish()
        return
    except BaseException as e:
        m.cg = None
        m.g = None
        g._set_exc(e)
        g._finish()
        # The coroutine's frames in the stored traceback lead back here (f_back):
        # leave nothing in this frame that refers to the goroutine.
        del g, m, coro, exc, e
        return
    m.cg = None
    m.g = None
    if req is _GOSCHED:
        g._state = GState.RUNNABLE
        _runq.append(g)
        _dispatch()
        return
    if type(req) is not tuple:
        # Not a gort park request: a foreign awaitable (an asyncio future, say).
        g._coro_throw = TypeError(
            f"a coroutine goroutine awaited {req!r}, which is not a gort operation; "
            "use gort.to_thread() for other awaitables' blocking work")
        g._state = GState.RUNNABLE
        _runq.append(g)
        _dispatch()
        return
    g._state = GState.PARKED
    durable = g._durable  # (read first: a wake may clear it once the locks are free)
    # Only now may wakers see the waiter: release what it was queued under.
    for lock in req:
        lock.release()
    if durable:
        g._bubble.blocked()  # after the release: the bubble may fire timers now


# --------------------------------------------------------------------------- goroutines

# Every live goroutine (Go's allgs), by id; a goroutine is added by its handle's
# constructor (``_goroutine.Goroutine``) once it could be made, and removed when
# it ends, or by ``go`` when ``newproc`` could not start it.
_ids = itertools.count(1)
_live_lock = threading.Lock()  # guards _live and _ids
_live: dict[int, Goroutine[Any]] = {}


def _no_op() -> None:
    pass


def newproc(g: Goroutine[Any]) -> None:
    """Make the new goroutine ``g`` runnable (Go's ``newproc``): hand it to an idle
    P directly, or queue it behind older work.

    Raises RuntimeError when the OS refuses the thread g needs, and
    RecursionError near the recursion limit: then g was put nowhere, and the
    caller (``go``) unregisters it.  No other exception leaves it."""
    global _refused, _refused_error, _sysmon_sleeping
    # The stack probe: the calls below that must not fail once a P or a worker
    # was taken (``_grant``) are one frame deeper than this one, as it is.
    _no_op()
    if _idle_p and not _runq:
        # An idle P and nothing queued before g: hand g to it directly, so that
        # if no thread can be started for g, g was never anywhere else.
        try:
            p = _idle_p.pop()
        except IndexError:
            pass
        else:
            p.held = True
            try:
                m = _idle_m.pop()
            except IndexError:
                try:
                    _start_worker(g, p)
                except (RuntimeError, MemoryError) as e:  # RecursionError is one too
                    # Nothing started.  Only C-level calls here (this may run at
                    # the recursion limit).
                    p.held = False
                    _idle_p.append(p)
                    if _runq:
                        _sysmon_q.put(None)  # queued meanwhile: sysmon dispatches it
                    if type(e) is RecursionError:
                        raise
                    _refused += 1
                    _refused_error = e
                    raise RuntimeError(f"gort.go: cannot start a worker thread: {e}") from e
            else:
                m.g = g
                _grant(m, p)
                m.parker.release()
            return
    _runq.append(g)  # behind older work: it runs when a P (and a thread) is free
    if _idle_p:
        try:
            _dispatch()
        except RecursionError:
            pass  # g was queued again and sysmon kicked: it dispatches g
    elif _sysmon_sleeping:  # every P is held: sysmon watches for one blocked outside gort
        _sysmon_sleeping = False
        _sysmon_q.put(None)  # a C-level call: g is queued, nothing here may raise


def current_goroutine() -> Goroutine[Any] | None:
    """The goroutine running on this thread, or None off the pool."""
    m = _tls.m
    if m is None:
        return None
    return m.cg if m.cg is not None else m.g


def live_goroutines() -> list[Goroutine[Any]]:
    """Goroutines that have been started and have not yet ended."""
    with _live_lock:
        return list(_live.values())


@dataclasses.dataclass(frozen=True)
class SchedStatistics:
    """A snapshot of the scheduler (``sched_statistics()``): processors and idle
    ones, goroutines runnable in the global and in the local queues, worker
    threads and idle ones, and live goroutines."""

    max_procs: int
    idle_procs: int
    runnable: int  # in the global queue
    local_runnable: int  # in the Ps' local queues
    threads: int
    idle_threads: int
    goroutines: int


def sched_statistics() -> SchedStatistics:
    """A snapshot of the scheduler's counters (``SchedStatistics``); each is read
    without stopping the world, so together they are approximate."""
    with _live_lock:
        live = len(_live)
    local = sum(len(p.runq) + len(p.runnext) for p in list(_allp))
    return SchedStatistics(max_procs=_nprocs, idle_procs=len(_idle_p), runnable=len(_runq),
                           local_runnable=local, threads=_nthreads, idle_threads=len(_idle_m),
                           goroutines=live)


def _at_exit() -> None:
    """Let gort's threads fall asleep before the interpreter finalizes.

    (The exceptions nobody retrieved were reported just before: ``_goroutine``
    registers its report later, so it runs first.)  Workers are left alone,
    never woken to exit: idle ones sleep in a lock
    acquire and never run Python code again, while waking them to exit would
    race the interpreter's teardown of their thread state (seen to hang CPython
    3.13t's finalization).  But a thread must not be *falling* asleep when the
    interpreter finalizes: on 3.13 the thread state it is detaching may be freed
    under it (``drop_gil`` reads it after handing the GIL over: a crash seen on
    3.13t with ``PYTHON_GIL=1`` when a worker went idle just as the main thread
    exited; fixed in CPython 3.14).  So from now on idle workers and sysmon sleep
    without a timeout (no retiring, no ticks), and ``_settle`` waits until each
    of gort's threads that is not running a goroutine's own code is asleep.
    """
    global _shutting_down
    _shutting_down = True
    if _sysmon is not None:
        _sysmon_q.put(None)  # sysmon: stop ticking
    _settle(_EXIT_SETTLE)


def _thread_asleep(t: threading.Thread) -> bool | None:
    """Is thread t blocked in the kernel (or gone)?  None where that cannot be
    told (no /proc)."""
    tid = t.native_id
    if tid is None:
        return True  # never started
    try:
        with open(f"/proc/self/task/{tid}/stat", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return True  # ended
    except OSError:
        return None
    try:
        state = data[data.rindex(b")") + 2]
    except (ValueError, IndexError):
        return None
    return state != ord("R")


def _threads_to_settle() -> list[threading.Thread]:
    """gort's threads, except workers running a goroutine's own code."""
    with _procs_lock:
        ms = list(_allm)
    threads = []
    for m in ms:
        t = m.thread
        if t is None or m.gen != _fork_gen:
            continue
        g = m.cg if m.cg is not None else m.g
        if g is not None and g._state is GState.RUNNING:
            continue  # user code: it runs on, as in any thread at exit
        threads.append(t)
    for t in threading.enumerate():
        if t.name in ("gort-sysmon", "gort-timers"):
            threads.append(t)
    return threads


def _settle(limit: float) -> None:
    """Wait (at most ``limit`` s) until every thread of ``_threads_to_settle``
    was seen asleep twice in a row, a moment apart."""
    deadline = time.monotonic() + limit
    quiet = 0
    while True:
        threads = _threads_to_settle()
        if not threads:
            return
        asleep = [_thread_asleep(t) for t in threads]
        if None in asleep:  # cannot tell: give them a moment
            time.sleep(0.005)
            return
        if all(asleep):
            quiet += 1
            if quiet >= 2:
                return
        else:
            quiet = 0
        if time.monotonic() >= deadline:
            return
        time.sleep(0.001)  # lets them run (this drops the GIL)


atexit.register(_at_exit)


# --------------------------------------------------------------------------- fork

_at_fork_child_hooks: list[Callable[[], Any]] = []
"""Called, in order, in the child of ``os.fork()`` after the runtime was reset.
Other modules append their own reset (the timer thread, say); a hook must not
block and should not start threads it can start lazily."""


def _after_fork_in_child() -> None:
    """The child of a fork has only the forking thread: give it a fresh runtime.

    The parent's workers, sysmon and the goroutines they ran do not exist here.
    Every shared structure is made anew rather than cleared, since another
    thread of the parent may have held its internal lock at the fork.
    """
    global _fork_gen, _nthreads, _p_debt, _allp, _idle_p, _runq, _idle_m, _allm, _sysmon
    global _sysmon_q, _sysmon_sleeping, defer_wake, _refused, _refused_error, _live
    global _tls, _main_thread, _procs_lock, _live_lock
    _fork_gen += 1
    _procs_lock = threading.Lock()
    _live_lock = threading.Lock()
    _nthreads = 0
    _p_debt = 0
    _allp = [_P(next(_p_ids)) for _ in range(_nprocs)]
    _idle_p = deque(_allp)
    _runq = deque()
    _idle_m = deque()
    _allm = weakref.WeakSet()
    _sysmon = None
    _sysmon_q = SimpleQueue()
    defer_wake = _sysmon_q.put
    _sysmon_sleeping = False
    _refused = 0
    _refused_error = None
    _live = {}
    _tls = _TLS()
    _main_thread = threading.main_thread()
    for hook in list(_at_fork_child_hooks):
        try:
            hook()
        except BaseException as e:
            _internal_error("a fork hook", e)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

