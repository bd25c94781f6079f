"""Go's ``context`` package: cancellation, deadlines and request-scoped values.

A context tree: ``background()`` at the root; ``with_cancel``,
``with_timeout``/``with_deadline`` and ``with_value`` derive children.
Cancelling a context cancels every descendant, never an ancestor.  A child's
deadline never exceeds its parent's.  ``cancel()`` is idempotent and, once
called, the context holds no timer and its parent holds no reference to it, so
millions of short-lived contexts leak nothing.

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
``_children`` and ``_timer``.  Cancellation takes the parent's lock to detach a
child only after releasing the child's own lock, and a parent cancels its
children after releasing its lock, so no two context locks are ever held
together.  ``_done`` is a channel closed exactly once, under ``_lock``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _timers
from ._chan import Chan, RecvChan
from ._timeout import delay, timeout

if TYPE_CHECKING:
    from ._select import RecvCase


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
        """When this context will be cancelled, on the ``time.monotonic()`` clock."""
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
        self._done: RecvChan[None] = Chan[None]().recv_only()

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
    __slots__ = ("_parent", "_lock", "_done", "_done_view", "_err", "_children", "_timer",
                 "_deadline", "_attached", "__weakref__")

    def __init__(self, parent: Context, deadline: float | None = None) -> None:
        self._parent = parent
        self._lock = threading.Lock()
        self._done: Chan[None] = Chan()
        self._done_view = self._done.recv_only()
        self._err: BaseException | None = None
        self._children: set[_CancelCtx] | None = set()
        self._timer: _timers.TimerEntry | None = None
        self._deadline = deadline
        self._attached: _CancelCtx | None = None  # the ancestor whose _children hold us

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

    def _cancel(self, err: BaseException, detach: bool) -> None:
        with self._lock:
            if self._err is not None:
                return
            self._err = err
            children = self._children or ()
            self._children = None
            timer, self._timer = self._timer, None
            self._done.close()  # last: whoever sees it closed sees the rest done
        if timer is not None:
            timer.cancel()
        for child in children:
            child._cancel(err, detach=False)  # they need not detach from us: we let go
        if detach:
            parent = self._attached
            if parent is not None:
                with parent._lock:
                    if parent._children is not None:
                        parent._children.discard(self)

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
                self._cancel(_parent_err(parent), detach=False)
                return
            anc = parent.value(_CANCEL_CTX_KEY)
            if not isinstance(anc, _CancelCtx) or anc._done_view is not done:
                # Its done() is its own channel: watch it (Go starts a goroutine).
                _watch(parent, done, self)
                return
            # A wrapper around one of ours, with that context's done(): attach there.
        with anc._lock:
            if anc._children is not None:
                anc._children.add(self)
                self._attached = anc
                return
            err = anc._err
        assert err is not None
        self._cancel(err, detach=False)

    def __repr__(self) -> str:
        state = "active" if self._err is None else f"{self._err}"
        dl = ""
        if self._deadline is not None:
            dl = f" deadline in {self._deadline - time.monotonic():.3f}s"
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


def _watch(parent: Context, done: RecvChan[None], child: _CancelCtx) -> None:
    """Cancel ``child`` when ``done`` (the foreign parent's channel) closes;
    end as soon as the child is done instead.  A coroutine goroutine: parked,
    it holds no thread."""
    global _goroutines
    from ._runtime import go
    from ._select import aselect

    async def propagate_cancel() -> None:
        r = await aselect(done.recv_case(), child._done_view.recv_case())
        if r.index == 0:
            child._cancel(_parent_err(parent), detach=False)

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


def with_deadline(parent: Context, deadline: float | None) -> tuple[Context, CancelFunc]:
    """A child cancelled at ``deadline`` (``time.monotonic()`` clock) at the latest.

    ``deadline`` = +inf (or None, or beyond the platform's longest sleep): no
    deadline, as ``with_cancel``.  NaN: ValueError; not a number: TypeError.
    """
    _check_parent(parent)
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
        if deadline <= time.monotonic():
            ctx._cancel(DeadlineExceeded(), detach=True)
        else:
            timer = _timers.add(deadline, _expire, ctx)
            with ctx._lock:
                if ctx._err is None:
                    ctx._timer = timer
                    timer = None  # type: ignore[assignment]
            if timer is not None:
                timer.cancel()
    return ctx, lambda: ctx._cancel(Canceled(), detach=True)


def _expire(ctx: _CancelCtx) -> None:
    ctx._cancel(DeadlineExceeded(), detach=True)


def with_timeout(parent: Context, seconds: float | None) -> tuple[Context, CancelFunc]:
    """``with_deadline(parent, time.monotonic() + seconds)``.

    ``seconds`` = +inf (or None, or beyond the platform's longest sleep): no
    deadline, as ``with_cancel``; <= 0: cancelled at once (DeadlineExceeded).
    NaN: ValueError; not a number: TypeError.
    """
    _check_parent(parent)
    if isinstance(seconds, (str, bytes, bytearray)):  # _timeout would take float("1")
        raise TypeError(f"timeout must be a number or None, got {type(seconds).__name__}")
    d = delay(seconds, "timeout")
    if d is None:
        return with_cancel(parent)
    return with_deadline(parent, time.monotonic() + d)


def with_value(parent: Context, key: Any, value: Any) -> Context:
    """A child of ``parent`` carrying ``value`` under ``key``.

    ``key`` must not be None: TypeError (Go's WithValue panics "nil key").
    """
    _check_parent(parent)
    if key is None:
        raise TypeError("nil key: with_value's key must not be None")
    return _ValueCtx(parent, key, value)
