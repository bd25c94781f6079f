"""Goroutines on a pool of worker threads: the scheduler, parking and hand-off.

This is gort's ``proc.go``.  A goroutine (``_G``) is started by ``go()`` and runs on
a worker thread (``_M``).  A worker may run Python code only while it holds a
processor token (a *P*); there are ``max_procs()`` of them, so at most that many
goroutines run at once.  A goroutine that blocks in a gort operation gives its P
back before it sleeps and takes one again when it wakes, so a blocked goroutine
never stops the runnable ones (Go's hand-off).  A plain-function goroutine that is
blocked still occupies its OS thread, so the pool grows a thread when every
existing one is blocked and work is waiting; idle threads are reused, and the
ones beyond ``2 * max_procs()`` retire after ``_IDLE_RETIRE`` seconds.

Threads that gort did not start (the main thread, a user's ``threading.Thread``)
may use every gort primitive; they hold no P and are not limited by it.

What this module deliberately does not do: preempt a goroutine that runs Python
code without ever calling into gort (Go before 1.14 behaved the same way; call
``gosched()`` in long loops), and run goroutines in a fixed order.

Shared state and what guards it (there is no GIL on 3.13t):

    _idle_p   deque of free P tokens.  Every P is, at all times, exactly one of:
              in _idle_p, or held by one M (``m.p``), or in transit inside
              ``_dispatch`` between a pop and a hand-off.  deque.append/pop are
              atomic (per-object critical sections), so no lock is needed.
    _runq     deque of runnable work waiting for a P, FIFO: a ``_G`` not yet
              started, or an ``_M`` whose goroutine was woken and needs a P.
    _idle_m   deque of worker threads parked with no goroutine.

    No lost wake-up: whoever adds to _runq calls ``_dispatch()`` afterwards, and
    whoever returns a P to _idle_p checks _runq afterwards.  ``_dispatch`` puts a
    P back when _runq was empty and then looks at _runq again, so a P and a
    runnable item can never both sit idle (each side publishes, then checks).

    Parking: each thread owns one parker, a ``threading.Lock`` kept locked while
    nobody has signalled it.  ``unpark`` releases it, ``park`` acquires it: every
    unpark is consumed by exactly one park, so a wake-up that comes before the
    park is never lost and never counted twice.  A thread waits on its parker for
    one reason at a time (a channel, a P, work), so one parker suffices.

    _procs_lock guards _nprocs and _p_debt (the Ps to destroy after set_max_procs
    lowered the count).  _live_lock guards _live, the registry of goroutines.
"""

from __future__ import annotations

import atexit
import contextvars
import dataclasses
import enum
import itertools
import os
import sys
import threading
import traceback
import types
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")

_IDLE_RETIRE = 30.0  # seconds an extra idle worker waits before it exits


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
        return n
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return max(1, count or 1)


# --------------------------------------------------------------------------- parking

class _TLS(threading.local):
    m: _M | None = None  # the worker this thread is, if it is one
    parker: threading.Lock | None = None


_tls = _TLS()


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
    RUNNABLE = "runnable"
    RUNNING = "running"
    PARKED = "parked"
    DONE = "done"


class _M:
    """A worker thread.  Its fields are touched only by its own thread, except
    ``g``/``p`` which a dispatcher sets right before unparking it."""

    __slots__ = ("__weakref__", "g", "p", "parker", "thread")

    def __init__(self) -> None:
        self.parker = _new_parker()
        self.p: object | None = None
        self.g: Goroutine[Any] | None = None
        self.thread: threading.Thread | None = None


# --------------------------------------------------------------------------- the scheduler

_procs_lock = threading.Lock()
_nprocs = _default_procs()
_p_debt = 0
_idle_p: deque[object] = deque(object() for _ in range(_nprocs))
_runq: deque[Any] = deque()
_idle_m: deque[_M] = deque()
_nthreads = 0  # worker threads alive (guarded by _procs_lock)
_shutting_down = False


def max_procs() -> int:
    """How many goroutines may run Python code at once (Go's GOMAXPROCS)."""
    return _nprocs


def set_max_procs(n: int) -> int:
    """Set how many goroutines may run at once; return the previous value."""
    global _nprocs, _p_debt
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"max_procs must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"max_procs must be >= 1, got {n}")
    with _procs_lock:
        old = _nprocs
        _nprocs = n
        delta = n - old
        if delta > 0:
            # Pay off a pending reduction first, then create Ps.
            paid = min(delta, _p_debt)
            _p_debt -= paid
            for _ in range(delta - paid):
                _idle_p.append(object())
        elif delta < 0:
            need = -delta
            while need:
                try:
                    _idle_p.pop()
                except IndexError:
                    break
                need -= 1
            _p_debt += need  # destroyed as their holders release them
    _dispatch()
    return old


def _put_p(p: object) -> None:
    """Return a P to the idle set (or destroy it, if the P count was lowered)."""
    global _p_debt
    if _p_debt:
        with _procs_lock:
            if _p_debt:
                _p_debt -= 1
                return
    _idle_p.append(p)


def _dispatch() -> None:
    """Pair idle Ps with runnable work until one of the two runs out."""
    while True:
        try:
            p = _idle_p.pop()
        except IndexError:
            return
        try:
            item = _runq.popleft()
        except IndexError:
            _put_p(p)
            if _runq:  # something arrived after we looked: look again
                continue
            return
        _give(item, p)


def _give(item: Any, p: object) -> None:
    """Hand P to a runnable item: wake its thread, or start it on a worker."""
    if type(item) is _M:
        item.p = p
        item.parker.release()
        return
    g: Goroutine[Any] = item
    try:
        m = _idle_m.pop()
    except IndexError:
        _start_worker(g, p)
        return
    m.g = g
    m.p = p
    m.parker.release()


def _start_worker(g: Goroutine[Any], p: object) -> None:
    global _nthreads
    m = _M()
    m.g = g
    m.p = p
    with _procs_lock:
        _nthreads += 1
        n = _nthreads
    t = threading.Thread(target=_worker_main, args=(m,), name=f"gort-worker-{n}", daemon=True)
    m.thread = t
    try:
        t.start()
    except BaseException:
        with _procs_lock:
            _nthreads -= 1
        m.g = None
        _runq.appendleft(g)
        _put_p(p)
        raise


def _worker_main(m: _M) -> None:
    global _nthreads
    _tls.m = m
    _tls.parker = m.parker
    try:
        while True:
            g = m.g
            m.g = None
            while g is not None:
                g._run(m)
                g = _next_for(m)
            # No work: park as an idle worker until a dispatcher hands us some.
            if not _idle_wait(m):
                return
    finally:
        with _procs_lock:
            _nthreads -= 1


def _next_for(m: _M) -> Goroutine[Any] | None:
    """After a goroutine ends on m (holding a P): the next goroutine to run here."""
    p = m.p
    while True:
        try:
            item = _runq.popleft()
        except IndexError:
            break
        if type(item) is _M:
            m.p = None
            _give(item, p)
            return None
        return item  # type: ignore[no-any-return]
    m.p = None
    _put_p(p)
    if _runq:
        _dispatch()
    return None


def _idle_wait(m: _M) -> bool:
    """Park m as an idle worker until a dispatcher hands it a goroutine.

    False when it should exit instead: at interpreter exit, or when it is one of
    the extra threads and stayed idle for ``_IDLE_RETIRE`` seconds.
    """
    _idle_m.append(m)
    retire = _nthreads > 2 * _nprocs
    if m.parker.acquire(timeout=_IDLE_RETIRE if retire else -1):
        return m.g is not None
    try:
        _idle_m.remove(m)
    except ValueError:
        # A dispatcher popped us meanwhile and its unpark is on the way.
        m.parker.acquire()
        return m.g is not None
    return False


def _release_p() -> _M | None:
    """Before parking: give this goroutine's P back.  Returns the M (None off-pool)."""
    m = _tls.m
    if m is not None and m.p is not None:
        p = m.p
        m.p = None
        _put_p(p)
        if _runq:
            _dispatch()
        g = m.g
        if g is not None:
            g._state = GState.PARKED
    return m


def _acquire_p(m: _M | None) -> None:
    """After waking: wait for a P before running Python code again."""
    if m is None:
        return
    g = m.g
    try:
        m.p = _idle_p.pop()
    except IndexError:
        if g is not None:
            g._state = GState.RUNNABLE
        _runq.append(m)
        _dispatch()
        m.parker.acquire()  # until _give hands us a P
    if g is not None:
        g._state = GState.RUNNING


def park(parker: threading.Lock, timeout: float | None,
         abort: Callable[[Any], bool], token: Any = None) -> bool:
    """Block the calling thread on its parker, giving up its P meanwhile.

    ``abort(token)`` is called when the timeout expires: it must, under the lock of the
    structure the waiter is queued on, remove the waiter and return True, or
    return False when a waker already dequeued it (that waker's ``unpark`` is then
    on its way, and is consumed here).  Returns True if woken, False on timeout.
    """
    m = _release_p()
    try:
        if timeout is None:
            parker.acquire()
            return True
        if parker.acquire(timeout=max(timeout, 0.0)):
            return True
        if abort(token):
            return False
        parker.acquire()
        return True
    finally:
        _acquire_p(m)


def gosched() -> None:
    """Yield the processor: let other runnable goroutines run, then continue."""
    m = _tls.m
    if m is None or m.p is None:
        return
    p = m.p
    m.p = None
    _runq.append(m)  # behind everything that is already waiting
    _put_p(p)
    _dispatch()
    m.parker.acquire()


# --------------------------------------------------------------------------- goroutines

class ExceptHookArgs(NamedTuple):
    """What ``gort.excepthook`` receives, like ``threading.ExceptHookArgs``."""

    exc_type: type[BaseException]
    exc_value: BaseException | None
    exc_traceback: types.TracebackType | None
    goroutine: Goroutine[Any] | None


def _default_excepthook(args: ExceptHookArgs) -> None:
    stderr = sys.stderr
    if stderr is None:
        return
    name = args.goroutine.name if args.goroutine is not None else "?"
    gid = args.goroutine.id if args.goroutine is not None else "?"
    print(f"Exception in goroutine {gid} ({name}), never retrieved:", file=stderr, flush=True)
    traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback, file=stderr)
    stderr.flush()


excepthook: Callable[[ExceptHookArgs], Any] = _default_excepthook


def _report(g: Goroutine[Any]) -> None:
    exc = g._exc
    if exc is None:
        return
    hook = getattr(sys.modules.get("gort"), "excepthook", None) or excepthook
    try:
        hook(ExceptHookArgs(type(exc), exc, exc.__traceback__, g))
    except Exception:
        try:
            _default_excepthook(ExceptHookArgs(type(exc), exc, exc.__traceback__, g))
        except Exception:
            pass


_ids = itertools.count(1)
_ids_lock = threading.Lock()
_live_lock = threading.Lock()
_live: dict[int, Goroutine[Any]] = {}
# Failed goroutines whose exception nobody retrieved yet: reported when dropped
# (``__del__``) or, at the latest, at interpreter exit.
_unretrieved: weakref.WeakSet[Goroutine[Any]] = weakref.WeakSet()


class Goroutine(Generic[T]):
    """A handle on a running goroutine, returned by ``gort.go``.

    An exception raised by the goroutine is re-raised by ``result()``; one that
    nobody retrieves is reported through ``gort.excepthook`` when the handle is
    dropped, or at interpreter exit.
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_ctx",
        "_done",
        "_exc",
        "_fn",
        "_joiners",
        "_kwargs",
        "_lock",
        "_result",
        "_retrieved",
        "_state",
        "_thread",
        "id",
        "name",
    )

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...],
                 kwargs: dict[str, Any], ctx: contextvars.Context) -> None:
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._ctx = ctx
        with _ids_lock:
            self.id: int = next(_ids)
        self.name: str = getattr(fn, "__qualname__", None) or repr(fn)
        self._lock = threading.Lock()  # guards _done, _joiners, _retrieved
        self._done = False
        self._result: Any = None
        self._exc: BaseException | None = None
        self._joiners: list[Callable[[], Any]] | None = []
        self._retrieved = False
        self._state = GState.RUNNABLE
        self._thread: threading.Thread | None = None

    def _run(self, m: _M) -> None:
        m.g = self
        self._state = GState.RUNNING
        self._thread = m.thread
        try:
            self._result = self._ctx.run(self._fn, *self._args, **self._kwargs)
        except BaseException as e:
            self._exc = e
        finally:
            self._fn = self._args = self._kwargs = None  # type: ignore[assignment]
            self._ctx = None  # type: ignore[assignment]
            m.g = None
            self._finish()

    def _finish(self) -> None:
        with _live_lock:
            _live.pop(self.id, None)
        with self._lock:
            self._done = True
            self._state = GState.DONE
            self._thread = None
            joiners = self._joiners
            self._joiners = None
            failed = self._exc is not None and not self._retrieved
        if failed:
            _unretrieved.add(self)
        for wake in joiners or ():
            wake()

    # -- public API

    def done(self) -> bool:
        """True once the goroutine has returned or raised."""
        return self._done

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the goroutine ends; False if ``timeout`` expired first."""
        if self._done:
            return True
        parker = current_parker()
        wake = parker.release
        with self._lock:
            if self._done:
                return True
            if self._joiners is not None:
                self._joiners.append(wake)

        return park(parker, timeout, self._abort_join, wake)

    def _abort_join(self, wake: Callable[[], Any]) -> bool:
        with self._lock:
            if self._joiners is not None and wake in self._joiners:
                self._joiners.remove(wake)
                return True
            return False

    def result(self, timeout: float | None = None) -> T:
        """The goroutine's return value; re-raises its exception.

        Raises ``TimeoutError`` if it has not ended within ``timeout`` seconds.
        """
        if not self.join(timeout):
            raise TimeoutError(f"goroutine {self.id} did not finish within {timeout} s")
        with self._lock:
            self._retrieved = True
        _unretrieved.discard(self)
        if self._exc is not None:
            raise self._exc
        return self._result  # type: ignore[no-any-return]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The goroutine's exception (None if it returned), marking it retrieved."""
        if not self.join(timeout):
            raise TimeoutError(f"goroutine {self.id} did not finish within {timeout} s")
        with self._lock:
            self._retrieved = True
        _unretrieved.discard(self)
        return self._exc

    @property
    def state(self) -> GState:
        return self._state

    def __repr__(self) -> str:
        extra = ""
        if self._done:
            extra = " raised " + type(self._exc).__name__ if self._exc is not None else ""
        return f"<Goroutine {self.id} {self.name} {self._state.value}{extra}>"

    def __del__(self) -> None:
        if self._exc is not None and not self._retrieved and self._done:
            self._retrieved = True
            _report(self)


def go(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Goroutine[T]:
    """Start ``fn(*args, **kwargs)`` as a goroutine; return its handle at once."""
    if not callable(fn):
        raise TypeError(f"go() needs a callable, got {type(fn).__name__}")
    g: Goroutine[T] = Goroutine(fn, args, kwargs, contextvars.copy_context())
    with _live_lock:
        _live[g.id] = g
    _runq.append(g)
    _dispatch()
    return g


def current_goroutine() -> Goroutine[Any] | None:
    """The goroutine running on this thread, or None off the pool."""
    m = _tls.m
    return m.g if m is not None else None


def live_goroutines() -> list[Goroutine[Any]]:
    """Goroutines that have been started and have not yet ended."""
    with _live_lock:
        return list(_live.values())


@dataclasses.dataclass(frozen=True)
class SchedStatistics:
    max_procs: int
    idle_procs: int
    runnable: int
    threads: int
    idle_threads: int
    running_goroutines: int


def sched_statistics() -> SchedStatistics:
    with _live_lock:
        live = len(_live)
    return SchedStatistics(max_procs=_nprocs, idle_procs=len(_idle_p), runnable=len(_runq),
                           threads=_nthreads, idle_threads=len(_idle_m),
                           running_goroutines=live)


def _at_exit() -> None:
    global _shutting_down
    _shutting_down = True
    for g in list(_unretrieved):
        if g._exc is not None and not g._retrieved:
            g._retrieved = True
            _report(g)
    # Idle workers wake and exit before the interpreter tears modules down.
    while True:
        try:
            m = _idle_m.pop()
        except IndexError:
            break
        m.g = None
        m.parker.release()


atexit.register(_at_exit)
