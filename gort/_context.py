"""Go's ``context`` package: cancellation, deadlines and request-scoped values.

A context tree: ``background()`` at the root; ``with_cancel``,
``with_timeout``/``with_deadline`` and ``with_value`` derive children.
Cancelling a context cancels every descendant, never an ancestor.  A child's
deadline never exceeds its parent's.  ``cancel()`` is idempotent and, once
called, the context holds no timer and its parent holds no reference to it, so
millions of short-lived contexts leak nothing.

Causes (Go 1.20/1.21): ``with_cancel_cause``, ``with_deadline_cause`` and
``with_timeout_cause`` record why a context ended; ``cause(ctx)`` reads it (the
cause a descendant inherits is its ancestor's, as the error is).  Without an
explicit cause the cause is ``ctx.err()``.  ``without_cancel`` keeps a parent's
values and drops its cancellation; ``context_after_func`` (Go's
``context.AfterFunc``) runs a function in its own goroutine once a context is
done, as a hidden child of that context that ``stop()`` detaches.

A parent that is not one of gort's own contexts (a user's ``Context``
subclass with its own ``done()`` channel: Go's "otherContext") is followed as in
Go's ``propagateCancel``: if it wraps one of ours (its ``done()`` is that
context's channel, found through ``value``), the child attaches to that one;
otherwise a coroutine goroutine waits for the parent's ``done()`` or the
child's, whichever closes first, and cancels the child with ``parent.err()``.

Deadlines and timeouts follow gort's one rule (``_timeout``): +inf, None or
beyond the platform's longest sleep is "no deadline" (no timer at all); a
timeout <= 0 or a deadline in the past cancels at once; NaN is a ValueError.

Lock ownership: each cancellable context's ``_lock`` guards its ``_err``,
``_cause``, ``_children``, ``_timer`` and ``_stop_parent`` (an AfterFunc
context's ``_f`` and ``_decided`` too).  Cancellation takes the parent's lock to detach a
child only after releasing the child's own lock, and a parent cancels its
children after releasing its lock, so no two context locks are ever held
together.  ``_done`` is a channel closed exactly once, under ``_lock``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from . import _timers
from ._chan import Chan, RecvChan
from ._goroutine import go
from ._select import RecvCase, aselect
from ._timeout import delay, timeout
from ._waitq import EVERY_BUBBLE


class _DoneChan(Chan[None]):
    """A context's done channel: closed by whoever cancels, from inside or outside
    a synctest bubble (so not checked as a bubble's channels are)."""

    __slots__ = ()


class Canceled(Exception):
    """``ctx.err()`` of a context that was cancelled (Go's ``context.Canceled``)."""

    def __init__(self, msg: str = "context canceled") -> None:
        super().__init__(msg)


class DeadlineExceeded(TimeoutError):
    """``ctx.err()`` of a context whose deadline passed; also a ``TimeoutError``."""

    def __init__(self, msg: str = "context deadline exceeded") -> None:
        super().__init__(msg)


class Context:
    """The interface every context has."""

    __slots__ = ()

    def done(self) -> RecvChan[None]:
        """A channel closed when this context is cancelled (never, for background)."""
        raise NotImplementedError

    def err(self) -> BaseException | None:
        """None while active; then a ``Canceled`` or ``DeadlineExceeded`` instance."""
        raise NotImplementedError

    def deadline(self) -> float | None:
        """When this context will be cancelled, on gort's clock (``time.monotonic()``;
        in a ``gort.synctest`` bubble, the bubble's)."""
        raise NotImplementedError

    def value(self, key: Any) -> Any:
        """The value bound to ``key`` here or in an ancestor, else None."""
        raise NotImplementedError

    def _cancel_parent(self) -> _CancelCtx | None:
        return None

    def _never_done(self) -> bool:
        """True only when this context can never be cancelled (background and
        values over it).  A user's own Context subclass may be: False."""
        return False


class _Background(Context):
    __slots__ = ("_done",)

    def __init__(self) -> None:
        done: Chan[None] = Chan()
        done._recvq.bubble = EVERY_BUBBLE  # never closed: a wait on it only, in a
        done._sendq.bubble = EVERY_BUBBLE  # synctest bubble, is durably blocked
        self._done: RecvChan[None] = done.recv_only()

    def done(self) -> RecvChan[None]:
        return self._done

    def err(self) -> BaseException | None:
        return None

    def deadline(self) -> float | None:
        return None

    def _never_done(self) -> bool:
        return True

    def value(self, key: Any) -> Any:
        return None

    def __repr__(self) -> str:
        return "context.Background"


_background = _Background()


def background() -> Context:
    """The root context: never cancelled, no deadline, no values."""
    return _background


todo = background


# ``value(_CANCEL_CTX_KEY)`` of any context answers the nearest gort cancel
# context behind it (Go's ``&cancelCtxKey``): how a user's wrapper around one of
# ours is recognised.
_CANCEL_CTX_KEY = object()

# Watcher goroutines started for parents that are not ours (Go's ``goroutines``
# counter in context.go, read by TestCustomContextGoroutines).
_goroutines = 0
_goroutines_lock = threading.Lock()


class _CancelCtx(Context):
    __slots__ = ("_parent", "_lock", "_done", "_done_view", "_err", "_cause", "_children",
                 "_timer", "_deadline", "_attached", "_stop_parent", "__weakref__")

    def __init__(self, parent: Context, deadline: float | None = None) -> None:
        self._parent = parent
        self._lock = threading.Lock()
        self._done: Chan[None] = _DoneChan()
        self._done_view = self._done.recv_only()
        self._err: BaseException | None = None
        self._cause: BaseException | None = None
        self._children: set[_CancelCtx] | None = set()
        self._timer: _timers.TimerEntry | None = None
        self._deadline = deadline
        self._attached: _CancelCtx | None = None  # the ancestor whose _children hold us
        # A user's parent with an ``after_func`` method (Go's afterFuncer) was
        # asked to cancel us: this undoes that (Go's stopCtx).
        self._stop_parent: Callable[[], object] | None = None

    def done(self) -> RecvChan[None]:
        return self._done_view

    def err(self) -> BaseException | None:
        return self._err

    def deadline(self) -> float | None:
        return self._deadline

    def value(self, key: Any) -> Any:
        if key is _CANCEL_CTX_KEY:
            return self
        return self._parent.value(key)

    def _cancel_parent(self) -> _CancelCtx | None:
        return self

    def _cancel(self, err: BaseException, detach: bool,
                cause: BaseException | None = None) -> None:
        """Cancel with ``err`` (and ``cause``, else ``err``), then every child with
        the same two; ``detach``: also let go of the parent (Go's removeChild)."""
        with self._lock:
            if self._err is not None:
                return
            self._cause = cause if cause is not None else err
            self._err = err
            children = self._children or ()
            self._children = None
            timer, self._timer = self._timer, None
            stop_parent, self._stop_parent = self._stop_parent, None
            self._done.close()  # last: whoever sees it closed sees the rest done
        if timer is not None:
            timer.cancel()
        failed: BaseException | None = None
        for child in children:
            try:
                child._cancel(err, False, cause)  # they need not detach from us: we let go
            except BaseException as e:  # (an AfterFunc whose goroutine could not start)
                failed = failed or e  # every other child is still cancelled
        if detach:
            parent = self._attached
            if parent is not None:
                with parent._lock:
                    if parent._children is not None:
                        parent._children.discard(self)
            if stop_parent is not None:
                stop_parent()
        if failed is not None:
            raise failed

    def _attach(self) -> None:
        """Go's ``propagateCancel``: arrange for the parent's cancellation to
        reach this child (or cancel it at once if the parent is done)."""
        parent = self._parent
        if parent._never_done():
            return
        anc = parent._cancel_parent()
        if anc is None:  # a context that is not ours
            done = parent.done()
            if done is None:
                return  # Go: a nil Done() channel is never closed
            if done.closed:
                self._cancel(_parent_err(parent), False, _cause_of(parent))
                return
            anc = parent.value(_CANCEL_CTX_KEY)
            if not isinstance(anc, _CancelCtx) or anc._done_view is not done:
                after_func = getattr(parent, "after_func", None)
                if callable(after_func):
                    # Go's afterFuncer: the parent cancels us itself when it ends.
                    self._follow(parent, after_func)
                    return
                # Its done() is its own channel: watch it (Go starts a goroutine).
                _watch(parent, done, self)
                return
            # A wrapper around one of ours, with that context's done(): attach there.
        with anc._lock:
            if anc._children is not None:
                anc._children.add(self)
                self._attached = anc
                return
            err, why = anc._err, anc._cause
        assert err is not None
        self._cancel(err, False, why)

    def _follow(self, parent: Context, after_func: Callable[[Callable[[], None]], Any]) -> None:
        """Have a user's parent with an ``after_func(f) -> stop`` method cancel us
        (Go's propagateCancel for an afterFuncer); ``stop`` undoes it when we end first."""
        def cancel_child() -> None:
            self._cancel(_parent_err(parent), False, _cause_of(parent))

        stop = after_func(cancel_child)  # not under our lock: it may call back at once
        with self._lock:
            if self._err is None:
                self._stop_parent = stop
                return
        stop()  # we ended meanwhile (cancelled, or the parent ran cancel_child)

    def __repr__(self) -> str:
        state = "active" if self._err is None else f"{self._err}"
        dl = ""
        if self._deadline is not None:
            dl = f" deadline in {self._deadline - _timers.now():.3f}s"
        return f"<Context {state}{dl}>"


class _ValueCtx(Context):
    __slots__ = ("_parent", "_key", "_value")

    def __init__(self, parent: Context, key: Any, value: Any) -> None:
        self._parent = parent
        self._key = key
        self._value = value

    def done(self) -> RecvChan[None]:
        return self._parent.done()

    def err(self) -> BaseException | None:
        return self._parent.err()

    def deadline(self) -> float | None:
        return self._parent.deadline()

    def value(self, key: Any) -> Any:
        if key is not _CANCEL_CTX_KEY and key == self._key:
            return self._value
        return self._parent.value(key)

    def _cancel_parent(self) -> _CancelCtx | None:
        return self._parent._cancel_parent()

    def _never_done(self) -> bool:
        return self._parent._never_done()

    def __repr__(self) -> str:
        return f"<Context value {self._key!r}={self._value!r} of {self._parent!r}>"


CancelFunc = Callable[[], None]


def _parent_err(parent: Context) -> BaseException:
    err = parent.err()
    return err if err is not None else Canceled()  # a done parent must have an err


class CancelCauseFunc(Protocol):
    """What ``with_cancel_cause`` returns: ``cancel(cause=None)`` (Go's
    ``CancelCauseFunc``)."""

    def __call__(self, cause: BaseException | None = None, /) -> None: ...


def _watch(parent: Context, done: RecvChan[None], child: _CancelCtx) -> None:
    """Cancel ``child`` when ``done`` (the foreign parent's channel) closes;
    end as soon as the child is done instead.  A coroutine goroutine: parked,
    it holds no thread."""
    global _goroutines

    async def propagate_cancel() -> None:
        r = await aselect(done.recv_case(), child._done_view.recv_case())
        if r.index == 0:
            child._cancel(_parent_err(parent), False, _cause_of(parent))

    with _goroutines_lock:
        _goroutines += 1
    propagate_cancel.__qualname__ = "context.propagate_cancel"
    go(propagate_cancel)


def _check_parent(parent: Context) -> None:
    if not isinstance(parent, Context):
        raise TypeError(f"parent must be a gort context, got {type(parent).__name__}")


def _done_case(ctx: Context | None) -> RecvCase[None] | None:
    """``ctx.done()`` as a select case; None (a case that never fires: Go's
    ``Background().Done()`` is a nil channel) when ``ctx`` can never be
    cancelled, so a select on it costs nothing and a one-case select becomes
    the plain channel operation."""
    if ctx is None:
        return None
    never = getattr(ctx, "_never_done", None)  # a duck-typed context has only done()
    if never is not None and never():
        return None
    return ctx.done().recv_case()


def with_cancel(parent: Context) -> tuple[Context, CancelFunc]:
    """A child of ``parent`` and the function that cancels it (idempotent)."""
    _check_parent(parent)
    ctx = _CancelCtx(parent, parent.deadline())
    ctx._attach()
    return ctx, lambda: ctx._cancel(Canceled(), detach=True)


def _check_cause(c: object) -> None:
    if c is not None and not isinstance(c, BaseException):
        raise TypeError(f"cause must be an exception or None, got {type(c).__name__}")


def with_cancel_cause(parent: Context) -> tuple[Context, CancelCauseFunc]:
    """Like ``with_cancel``, but ``cancel(cause)`` also records why (Go's
    ``WithCancelCause``): ``ctx.err()`` is then ``Canceled`` and ``cause(ctx)`` is
    ``cause`` (``Canceled`` when None).  Only the first cancellation counts."""
    _check_parent(parent)
    ctx = _CancelCtx(parent, parent.deadline())
    ctx._attach()

    def cancel(cause: BaseException | None = None, /) -> None:
        """Cancel the context with ``cause`` as the reason (idempotent)."""
        _check_cause(cause)
        ctx._cancel(Canceled(), True, cause)

    return ctx, cancel


def with_deadline(parent: Context, deadline: float | None) -> tuple[Context, CancelFunc]:
    """A child cancelled at ``deadline`` (gort's clock: ``time.monotonic()``, or a
    synctest bubble's) at the latest.

    ``deadline`` = +inf (or None, or beyond the platform's longest sleep): no
    deadline, as ``with_cancel``.  NaN: ValueError; not a number: TypeError.
    """
    return with_deadline_cause(parent, deadline, None)


def with_deadline_cause(parent: Context, deadline: float | None,
                        cause: BaseException | None) -> tuple[Context, CancelFunc]:
    """Like ``with_deadline``, and when the deadline passes ``cause(ctx)`` is
    ``cause`` (``ctx.err()`` is still ``DeadlineExceeded``; Go's
    ``WithDeadlineCause``).  The returned cancel function sets no cause.

    When the parent's deadline comes first this is ``with_cancel(parent)``, as in
    Go: the parent's expiry (and its cause) reaches the child instead.
    """
    _check_parent(parent)
    _check_cause(cause)
    if isinstance(deadline, (str, bytes, bytearray)):  # _timeout would take float("1")
        raise TypeError(f"deadline must be a number or None, got {type(deadline).__name__}")
    when = timeout(deadline, "deadline")  # the same rule: an absolute time <= 0 is past
    if when is None:
        return with_cancel(parent)
    deadline = when
    pd = parent.deadline()
    if pd is not None and pd <= deadline:
        return with_cancel(parent)  # the parent's deadline comes first anyway
    ctx = _CancelCtx(parent, deadline)
    ctx._attach()
    if ctx._err is None:
        if deadline <= _timers.now():
            ctx._cancel(DeadlineExceeded(), True, cause)
        else:
            timer = _timers.add(deadline, _expire, (ctx, cause))
            with ctx._lock:
                if ctx._err is None:
                    ctx._timer = timer
                    timer = None  # type: ignore[assignment]
            if timer is not None:
                timer.cancel()
    return ctx, lambda: ctx._cancel(Canceled(), detach=True)


def _expire(arg: tuple[_CancelCtx, BaseException | None]) -> None:
    ctx, cause = arg
    ctx._cancel(DeadlineExceeded(), True, cause)


def _timeout_deadline(seconds: float | None) -> float | None:
    if isinstance(seconds, (str, bytes, bytearray)):  # _timeout would take float("1")
        raise TypeError(f"timeout must be a number or None, got {type(seconds).__name__}")
    d = delay(seconds, "timeout")
    return None if d is None else _timers.now() + d


def with_timeout(parent: Context, seconds: float | None) -> tuple[Context, CancelFunc]:
    """``with_deadline(parent, now + seconds)`` (now: see ``with_deadline``).

    ``seconds`` = +inf (or None, or beyond the platform's longest sleep): no
    deadline, as ``with_cancel``; <= 0: cancelled at once (DeadlineExceeded).
    NaN: ValueError; not a number: TypeError.
    """
    _check_parent(parent)
    return with_deadline_cause(parent, _timeout_deadline(seconds), None)


def with_timeout_cause(parent: Context, seconds: float | None,
                       cause: BaseException | None) -> tuple[Context, CancelFunc]:
    """``with_deadline_cause(parent, now + seconds, cause)`` (Go's
    ``WithTimeoutCause``): when the timeout expires, ``cause(ctx)`` is ``cause``."""
    _check_parent(parent)
    return with_deadline_cause(parent, _timeout_deadline(seconds), cause)


def with_value(parent: Context, key: Any, value: Any) -> Context:
    """A child of ``parent`` carrying ``value`` under ``key``.

    ``key`` must not be None: TypeError (Go's WithValue panics "nil key").
    """
    _check_parent(parent)
    if key is None:
        raise TypeError("nil key: with_value's key must not be None")
    return _ValueCtx(parent, key, value)


def cause(ctx: Context) -> BaseException | None:
    """Why ``ctx`` ended (Go's ``context.Cause``): the cause given to a
    ``with_*_cause`` context or inherited from an ancestor's, else ``ctx.err()``;
    None while ``ctx`` is not done."""
    cc = ctx.value(_CANCEL_CTX_KEY)
    if isinstance(cc, _CancelCtx):
        with cc._lock:
            return cc._cause
    # Not derived from a cancellable context of ours (or cut off from it by
    # without_cancel): there is no cause, only an error, if any.
    return ctx.err()


_cause_of = cause  # for code whose own parameter is called ``cause``


class _WithoutCancel(Context):
    """Go's ``withoutCancelCtx``: the parent's values, never cancelled, no deadline."""

    __slots__ = ("_parent",)

    def __init__(self, parent: Context) -> None:
        self._parent = parent

    def done(self) -> RecvChan[None]:
        return _background._done  # never closed (Go: a nil channel)

    def err(self) -> BaseException | None:
        return None

    def deadline(self) -> float | None:
        return None

    def value(self, key: Any) -> Any:
        if key is _CANCEL_CTX_KEY:
            return None  # no cancellation, and so no cause, comes through here
        return self._parent.value(key)

    def _never_done(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"{self._parent!r}.WithoutCancel"


def without_cancel(parent: Context) -> Context:
    """A context with ``parent``'s values that is never cancelled when ``parent``
    is, and has no deadline (Go's ``WithoutCancel``): for work that must outlive
    the request it belongs to, such as cleanup or an audit log."""
    _check_parent(parent)
    return _WithoutCancel(parent)


class _AfterFuncCtx(_CancelCtx):
    """Go's ``afterFuncCtx``: a child of the watched context that nobody else sees;
    its cancellation starts ``_f`` in a goroutine, unless ``stop()`` came first.
    ``_decided`` (under ``_lock``) is Go's ``once``: set by whichever of the two
    goes first."""

    __slots__ = ("_f", "_decided")

    def __init__(self, parent: Context, f: Callable[[], object]) -> None:
        super().__init__(parent)
        self._f: Callable[[], object] | None = f
        self._decided = False

    def _cancel(self, err: BaseException, detach: bool,
                cause: BaseException | None = None) -> None:
        super()._cancel(err, detach, cause)
        with self._lock:
            if self._decided:
                return
            self._decided = True
            f, self._f = self._f, None  # run once, then held by nobody here
        assert f is not None
        go(f)

    def stop(self) -> bool:
        """Stop ``f`` from being run: True if this call stopped it, False if it was
        already started or stopped (Go's ``stop`` returned by AfterFunc)."""
        with self._lock:
            if self._decided:
                return False
            self._decided = True
            self._f = None
        self._cancel(Canceled(), detach=True)  # let go of the watched context
        return True


def context_after_func(ctx: Context, f: Callable[[], object]) -> Callable[[], bool]:
    """Run ``f`` in its own goroutine once ``ctx`` is done (Go's
    ``context.AfterFunc``; ``gort.after_func`` is time's).  At once if ``ctx`` is
    already done.  Returns ``stop``: ``stop()`` is True if it prevented ``f`` from
    being started, False if ``f`` was already started or stopped.  ``f`` may be an
    ``async def`` function (it then runs as a coroutine goroutine).  Cancelling
    ``ctx`` never waits for ``f``."""
    _check_parent(ctx)
    if not callable(f):
        raise TypeError(f"context_after_func: f must be callable, got {type(f).__name__}")
    a = _AfterFuncCtx(ctx, f)
    a._attach()
    return a.stop
