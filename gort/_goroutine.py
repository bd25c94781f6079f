"""Goroutine handles: ``go``, ``Goroutine`` (join, result, ``await``), and the
report of exceptions nobody retrieved (``excepthook``, ``GORT_PANIC=exit``).

The scheduler (``_runtime``) runs goroutines and keeps the registry of live
ones; this module is what a program holds on to.  ``go`` makes the handle and
hands it to ``_runtime.newproc``.  The scheduler calls the handle's ``_run`` (a
plain goroutine) and ``_set_exc``/``_finish`` (a coroutine goroutine), and it
and the parking layer read and write its scheduling fields (``_state``,
``_coro``, ``_coro_throw``, ``_wake``, ``_wait_reason``, ``_timed_park``,
``_m``, ``_bubble``, ``_durable``): Go's ``g`` is the runtime's as much as the
program's.

Lock rules: a goroutine's ``_done``, ``_joiners`` and ``_retrieved`` are
guarded by its ``_lock``, one of ``_GLOCKS`` chosen by id (the join queue's
lock); ``_unretrieved`` by ``_unretrieved_lock``; the live registry by
``_runtime._live_lock``.  Invariant: a goroutine is in the registry from the
end of its constructor until ``_finish`` (or until ``newproc`` failed to start
it), and ``_done`` is set exactly once, under ``_lock``, before its joiners
are woken.
"""

from __future__ import annotations

import atexit
import contextvars
import inspect
import os
import sys
import threading
import traceback
import types
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Generic, NamedTuple, ParamSpec, TypeVar, overload

from . import _runtime, _timers
from ._ki import protect
from ._runtime import GState, ready
from ._waitq import Waiter, WaitQueue, checked, dequeue, headroom, park, run

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")


class ExceptHookArgs(NamedTuple):
    """What ``gort.excepthook`` receives, like ``threading.ExceptHookArgs``:
    ``exc_type``, ``exc_value``, ``exc_traceback``, and the ``goroutine`` that
    raised it."""

    exc_type: type[BaseException]
    exc_value: BaseException | None
    exc_traceback: types.TracebackType | None
    goroutine: Goroutine[Any] | None


def _default_excepthook(args: ExceptHookArgs) -> None:
    """Print an exception no one retrieved from its goroutine, with its traceback,
    to stderr.  Assign ``gort.excepthook`` to replace it (as ``threading.excepthook``)."""
    stderr = sys.stderr
    if stderr is None:
        return
    g = args.goroutine
    who = f"goroutine {g.id} ({g.name})" if g is not None else "a goroutine"
    print(f"Exception in {who}, never retrieved:", file=stderr, flush=True)
    traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback, file=stderr)
    stderr.flush()


excepthook: Callable[[ExceptHookArgs], Any] = _default_excepthook
"""Called with an ``ExceptHookArgs`` for each goroutine exception nobody retrieved
(its handle dropped, or at exit); assign ``gort.excepthook`` to replace it."""

# GORT_PANIC=exit: an unhandled goroutine exception ends the process, as in Go.
_PANIC_EXIT = os.environ.get("GORT_PANIC", "") == "exit"


def _panic(g: Goroutine[Any]) -> None:
    exc = g._exc
    assert exc is not None
    try:
        if sys.stderr is not None:
            print(f"panic: goroutine {g.id} ({g.name}) raised {type(exc).__name__}: {exc}\n",
                  file=sys.stderr)
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
            sys.stderr.flush()
    finally:
        os._exit(2)


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


# Failed goroutines whose exception nobody retrieved yet: reported when dropped
# (``__del__``) or, at the latest, at interpreter exit.  Guarded by _unretrieved_lock.
_unretrieved: weakref.WeakSet[Goroutine[Any]] = weakref.WeakSet()
_unretrieved_lock = threading.Lock()
# A goroutine's _done/_joiners/_retrieved are guarded by one of these, by id.
_GLOCKS = tuple(threading.Lock() for _ in range(64))


class Goroutine(Generic[T]):
    """A handle on a goroutine, returned by ``gort.go``.

    ``join``/``result``/``done`` from any thread; ``await g`` (or
    ``await g.ajoin()``) from a coroutine goroutine or an asyncio task.  An
    exception raised by the goroutine is re-raised by ``result()``; one that
    nobody retrieves is reported through ``gort.excepthook`` when the handle is
    dropped, or at interpreter exit.
    """

    __slots__ = ("_fn", "_args", "_kwargs", "_ctx", "_coro", "_coro_throw",
                 "id", "name", "_lock", "_done", "_result", "_exc", "_joiners", "_retrieved",
                 "_state", "_wait_reason", "_timed_park", "_m", "_wake", "_exc_tb",
                 "_bubble", "_durable", "__weakref__")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 coro: Coroutine[Any, Any, T] | None) -> None:
        self._fn: Callable[..., Any] | None = fn
        self._args = args
        self._kwargs = kwargs
        self._ctx = contextvars.copy_context()
        self._coro = coro
        self._coro_throw: BaseException | None = None
        with _runtime._live_lock:
            self.id: int = next(_runtime._ids)
        self.name: str = getattr(fn, "__qualname__", None) or repr(fn)
        self._lock = _GLOCKS[self.id & 63]
        self._done = False
        self._result: Any = None
        self._exc: BaseException | None = None
        self._joiners: WaitQueue | None = None  # made by the first joiner
        self._retrieved = False
        self._state = GState.RUNNABLE
        self._wait_reason = ""
        self._timed_park = False
        self._m: _runtime._M | None = None  # the worker running this plain goroutine
        self._wake: Callable[[], None] = self._make_ready  # a coroutine waiter's wake
        self._exc_tb: types.TracebackType | None = None  # _exc's own traceback
        # synctest: the bubble it belongs to (its creator's), and whether its
        # current park counts as durably blocked there (set by the park, cleared
        # by the wake that makes it runnable again: see gort.synctest).
        self._bubble: Any = _runtime.current_bubble() if _timers._bubbles else None
        self._durable = False
        if self._bubble is not None:
            self._bubble.started(self)
        with _runtime._live_lock:  # last: a goroutine that could not be made is never live
            _runtime._live[self.id] = self

    def _run(self, m: _runtime._M) -> None:
        """Run a plain goroutine to its end on worker m."""
        m.g = self
        self._m = m
        self._state = GState.RUNNING
        fn, args, kwargs = self._fn, self._args, self._kwargs
        self._fn = self._args = self._kwargs = None  # type: ignore[assignment]
        try:
            assert fn is not None
            self._result = self._ctx.run(fn, *args, **kwargs)
        except BaseException as e:
            self._set_exc(e)
        finally:
            m.g = None
            self._m = None
            self._finish()
            # The frames of a stored traceback lead back here (f_back): leave
            # nothing in this frame that refers to the goroutine.
            del self, m, fn, args, kwargs

    def _set_exc(self, e: BaseException) -> None:
        """Store the goroutine's exception without the scheduler's frame that
        caught it, which refers to the goroutine (no reference cycle)."""
        tb = e.__traceback__
        if tb is not None:
            tb = tb.tb_next
        self._exc = e.with_traceback(tb)
        self._exc_tb = tb

    def _finish(self) -> None:
        self._ctx = None  # type: ignore[assignment]
        self._coro = None
        self._wake = _no_wake  # was a bound method of self: a reference cycle
        self._fn = self._args = self._kwargs = None  # type: ignore[assignment]
        with _runtime._live_lock:
            _runtime._live.pop(self.id, None)
        with self._lock:
            self._done = True
            self._state = GState.DONE
            joiners = self._joiners
            woken = joiners.take_all() if joiners is not None else ()
            failed = self._exc is not None and not self._retrieved
        if failed:
            if _PANIC_EXIT:
                _panic(self)
            with _unretrieved_lock:
                _unretrieved.add(self)
        for w in woken:
            w.wake()
        if self._bubble is not None:  # after the joiners' wakes: never a false idle
            self._bubble.exited(self)

    def _make_ready(self) -> None:
        ready(self)

    # -- public API

    def done(self) -> bool:
        """True once the goroutine has returned or raised."""
        return self._done

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the goroutine ends; False if ``timeout`` expired first."""
        if self._done:
            return True
        return run(self._join_body(timeout, True))

    @types.coroutine
    def _join_body(self, timeout: float | None, sync: bool) -> Generator[Any, Any, bool]:
        """The one body of join, in every world (see ``_waitq``)."""
        lock = self._lock
        lock.acquire()
        try:
            if self._done:
                lock.release()
                return True
            if timeout is not None:
                timeout = checked(timeout)
            if timeout == 0.0:
                lock.release()
                return False
            headroom()
            if self._joiners is None:
                self._joiners = WaitQueue(lock)
                self._joiners.bubble = self._bubble  # a join waits on this goroutine
            w = Waiter()
            self._joiners.push(w)
        except BaseException:
            lock.release()
            raise
        return (yield from park(sync, w, (lock,), timeout, dequeue, w,
                                       "goroutine join"))

    def _outcome(self) -> T:
        exc = self._exc
        if exc is None:
            return self._result  # type: ignore[no-any-return]
        with self._lock:
            self._retrieved = True
        with _unretrieved_lock:
            _unretrieved.discard(self)
        exc.__traceback__ = self._exc_tb  # each retrieval starts from the goroutine's frames
        # The frames this raise passes through end up in exc.__traceback__, which
        # the goroutine keeps: none of them may refer to the goroutine (as in
        # concurrent.futures.Future.result).
        del self
        try:
            raise exc
        finally:
            del exc

    def result(self, timeout: float | None = None) -> T:
        """The goroutine's return value; re-raises its exception.

        Raises ``TimeoutError`` if it has not ended within ``timeout`` seconds.
        """
        if not self.join(timeout):
            raise TimeoutError(f"goroutine {self.id} did not finish within {timeout} s")
        try:
            return self._outcome()
        finally:
            del self  # see _outcome

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The goroutine's exception (None if it returned), marking it retrieved."""
        if not self.join(timeout):
            raise TimeoutError(f"goroutine {self.id} did not finish within {timeout} s")
        try:
            self._outcome()
        except BaseException as e:
            return e
        finally:
            del self  # see _outcome
        return None

    def ajoin(self, timeout: float | None = None) -> Awaitable[bool]:
        """Coroutine form of ``join``: ``await g.ajoin()`` returns True/False."""
        return self._join_body(timeout, False)

    def __await__(self) -> Generator[Any, Any, T]:
        """``await g`` waits for the goroutine and returns its result."""
        if not self._done:
            yield from self._join_body(None, False)
        try:
            return self._outcome()
        finally:
            del self  # see _outcome

    @property
    def state(self) -> GState:
        """The goroutine's ``GState`` now (a snapshot): runnable, running, parked or done."""
        return self._state

    def __repr__(self) -> str:
        kind = " async" if self._coro is not None else ""
        extra = ""
        if self._done and self._exc is not None:
            extra = " raised " + type(self._exc).__name__
        return f"<Goroutine {self.id} {self.name}{kind} {self._state.value}{extra}>"

    def __del__(self) -> None:
        if self._exc is not None and not self._retrieved and self._done:
            self._retrieved = True
            _report(self._stand_in())

    def _stand_in(self) -> Goroutine[T]:
        """A finished copy of this handle for the excepthook of a dropped one: a
        hook that keeps its argument then does not bring the dying handle back
        to life (its weak references stay dead)."""
        g: Goroutine[T] = Goroutine.__new__(Goroutine)
        for name in Goroutine.__slots__:
            if name != "__weakref__":
                setattr(g, name, getattr(self, name, None))
        g._wake = _no_wake
        return g


def _no_wake() -> None:
    pass


_CO_COROUTINE = inspect.CO_COROUTINE


@overload
def go(fn: Callable[P, Coroutine[Any, Any, R]], /, *args: P.args,
       **kwargs: P.kwargs) -> Goroutine[R]: ...
@overload
def go(fn: Coroutine[Any, Any, R], /) -> Goroutine[R]: ...
@overload
def go(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Goroutine[R]: ...
def go(fn: Any, /, *args: Any, **kwargs: Any) -> Goroutine[Any]:
    """Start ``fn(*args, **kwargs)`` as a goroutine; return its handle at once.

    An ``async def`` function becomes a coroutine goroutine, scheduled M:N.

    Raises RuntimeError when the OS refuses to start the thread the goroutine
    needs (the goroutine then never runs and is not counted); if older work is
    queued the goroutine is queued behind it, and runs once threads can be
    started again.  Near the recursion limit it raises RecursionError having
    started nothing, or starts the goroutine.
    """
    if inspect.iscoroutine(fn):
        if args or kwargs:
            raise TypeError("go() of a coroutine object takes no arguments")
        if _runtime._sysmon is None:
            _runtime._start_sysmon()
        g: Goroutine[Any] = Goroutine(fn, (), {}, fn)  # type: ignore[arg-type]  # (named)
    elif not callable(fn):
        raise TypeError(f"go() needs a callable, got {type(fn).__name__}")
    elif (fn.__code__.co_flags & _CO_COROUTINE if type(fn) is types.FunctionType
          else inspect.iscoroutinefunction(fn)):
        if _runtime._sysmon is None:
            _runtime._start_sysmon()
        coro = fn(*args, **kwargs)
        try:
            g = Goroutine(fn, (), {}, coro)
        except BaseException:
            coro.close()
            raise
    else:
        if _runtime._sysmon is None:
            _runtime._start_sysmon()
        g = Goroutine(fn, args, kwargs, None)
    try:
        _runtime.newproc(g)
    except (RuntimeError, MemoryError):  # (RecursionError too) g was put nowhere.
        # Only C-level calls here (this may run at the recursion limit).
        with _runtime._live_lock:
            _runtime._live.pop(g.id, None)
        if g._coro is not None:
            g._coro.close()
        g._state = GState.DONE
        if g._bubble is not None:
            g._bubble.exited(g)
        raise
    return g


def body_of(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
            finish: Callable[[], Any],
            fail: Callable[[BaseException], Any] | None = None) -> Callable[[], Any]:
    """``fn(*args, **kwargs)`` as the body of a goroutine that calls ``finish()``
    when it ends, however it ends (a WaitGroup's ``done``, say).  With ``fail``,
    an exception is passed to it instead of ending the goroutine.  The body is an
    ``async def`` function if ``fn`` is one, and bears ``fn``'s name."""
    body: Callable[[], Any]
    if inspect.iscoroutinefunction(fn):
        async def abody() -> Any:
            try:
                return await fn(*args, **kwargs)
            except BaseException as e:
                if fail is None:
                    raise
                fail(e)
            finally:
                finish()
        body = abody
    else:
        def pbody() -> Any:
            try:
                return fn(*args, **kwargs)
            except BaseException as e:
                if fail is None:
                    raise
                fail(e)
            finally:
                finish()
        body = pbody
    body.__qualname__ = getattr(fn, "__qualname__", body.__qualname__)
    return body


def current_goroutine() -> Goroutine[Any] | None:
    """The goroutine running on this thread, or None off the pool."""
    return _runtime.current_goroutine()


async def to_thread(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run blocking ``fn(*args, **kwargs)`` as a plain goroutine and await it."""
    return await go(fn, *args, **kwargs)


def _at_exit() -> None:
    """Report the exceptions nobody retrieved (registered after the scheduler's
    own exit handler, so it runs before it)."""
    with _unretrieved_lock:
        failed = list(_unretrieved)
    for g in failed:
        if g._exc is not None and not g._retrieved:
            g._retrieved = True
            _report(g)


atexit.register(_at_exit)


def _after_fork_in_child() -> None:
    global _unretrieved, _unretrieved_lock
    _unretrieved_lock = threading.Lock()
    for lock in _GLOCKS:  # goroutine handles keep theirs
        lock._at_fork_reinit()  # type: ignore[attr-defined]
    # The parent reports its own failures: a handle the child still holds must
    # not report them again when it is dropped.
    for g in list(_unretrieved):
        g._retrieved = True
    _unretrieved = weakref.WeakSet()


_runtime._at_fork_child_hooks.append(_after_fork_in_child)

# A KeyboardInterrupt landing in a start or a join's bookkeeping is deferred (_ki).
for _fn in (go, Goroutine.join, Goroutine._join_body):
    protect(_fn)
