"""``select`` over several channel operations (gort's ``select.go``).

One select runs in labelled passes, as Go's does:

    pass 0  lock every channel involved, in one global order (by ``id``), so two
            selects over the same channels can never deadlock each other;
    pass 1  poll the cases in a random order and fire the first ready one: among
            ready cases each is chosen with equal probability;
    pass 2  nothing ready: enqueue one waiter per case, all sharing one
            ``_Select``, then unlock everything and park;
    pass 3  woken: the completer that won the select's claim (the single
            compare-and-set, ``claim.acquire(False)``) filled in its waiter; take
            the other waiters off their channels.  On timeout the select tries
            to claim itself: winning means nobody fired it, losing means a
            completer is on its way, so its result is taken instead.

While pass 1 and 2 run, every channel of the select is locked, so nobody can
see (and claim) its waiters before they are all enqueued.
"""

from __future__ import annotations

import random
import threading
import types
from collections.abc import Awaitable, Generator
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from ._errors import ChanClosed
from ._ki import protect
from ._waitq import NOT_READY as _NOT_READY
from ._waitq import Waiter, checked, dequeue, enqueue, park, run

if TYPE_CHECKING:
    from ._chan import Chan

T = TypeVar("T")


class _Select:
    """State shared by all the waiters of one blocked select (their ``sel``)."""

    __slots__ = ("claim", "winner")

    def __init__(self) -> None:
        self.claim = threading.Lock()  # acquired once, by whoever fires the select
        self.winner: Waiter | None = None


class RecvCase(Generic[T]):
    """A receive case of a select: made by ``ch.recv_case()``."""

    __slots__ = ("chan",)

    def __init__(self, chan: Chan[T]) -> None:
        self.chan = chan

    def __repr__(self) -> str:
        return f"<RecvCase {self.chan!r}>"


class SendCase(Generic[T]):
    """A send case of a select: made by ``ch.send_case(value)``."""

    __slots__ = ("chan", "value")

    def __init__(self, chan: Chan[T], value: T) -> None:
        self.chan = chan
        self.value = value

    def __repr__(self) -> str:
        return f"<SendCase {self.value!r} -> {self.chan!r}>"


class Selected(NamedTuple):
    """The result of a select: which case fired, the value received, and ``ok``.

    ``index`` is the position of the case that fired (-1 for ``default``);
    ``value`` is the value received (None for a send case); ``ok`` is False for
    a receive from a closed channel (and for ``default``), True otherwise.
    """

    index: int  # type: ignore[assignment]  # shadows tuple.index, as Go names it
    value: Any
    ok: bool


_random = random.random
# Selected(i, v, ok) without the NamedTuple's Python-level __new__ (a hot path).
_new = tuple.__new__
_DEFAULT = Selected(-1, None, False)


def _orders(cases: tuple[Any, ...]) -> tuple[list[int], tuple[Any, ...]]:
    """The poll order (a uniformly random permutation of the non-None cases,
    Go's ``pollorder``) and the locks of their channels in one global order (by
    ``id``, each channel once, Go's ``lockorder``).  One or two cases, the usual
    select, take a short path: random.shuffle and a sort cost microseconds."""
    order = []
    for i, c in enumerate(cases):
        if c is None:
            continue
        t = type(c)
        if t is not RecvCase and t is not SendCase:
            raise TypeError("select case must be a recv_case(), send_case() or None, "
                            f"got {type(c).__name__}")
        order.append(i)
    n = len(order)
    if n == 1:
        return order, (cases[order[0]].chan._lock,)
    if n == 2:
        if _random() < 0.5:
            order.reverse()
        a, b = cases[order[0]].chan, cases[order[1]].chan
        if a is b:
            return order, (a._lock,)
        return order, ((a._lock, b._lock) if id(a) < id(b) else (b._lock, a._lock))
    for k in range(n - 1, 0, -1):  # Fisher-Yates
        j = int(_random() * (k + 1))
        order[k], order[j] = order[j], order[k]
    chans = sorted({id(cases[i].chan): cases[i].chan for i in order}.items())
    return order, tuple([ch._lock for _, ch in chans])


def _only(cases: tuple[Any, ...]) -> int:
    """The index of the only case that is not None; -1 if there are more or none."""
    only = -1
    for i, c in enumerate(cases):
        if c is not None:
            if only >= 0:
                return -1
            only = i
    return only


def _poll(cases: tuple[Any, ...], order: list[int]) -> tuple[Selected | None, Waiter | None]:
    """Pass 1, with every channel locked: fire the first ready case."""
    for i in order:
        c = cases[i]
        if type(c) is RecvCase:
            v, ok, s = c.chan._recv_now()
            if v is not _NOT_READY:
                return _new(Selected, (i, v, ok)), s
        else:
            r = c.chan._send_now(c.value)
            if r is not False:
                return _new(Selected, (i, None, True)), (None if r is True else r)
    return None, None


@types.coroutine
def _select(cases: tuple[Any, ...], default: bool, timeout: float | None,
            sync: bool) -> Generator[Any, Any, Selected]:
    """The one body of a select, in every world (see ``_waitq``)."""
    order, locks = _orders(cases)

    # Pass 0 and 1.
    for lock in locks:
        lock.acquire()
    try:
        result, wake = _poll(cases, order)
        if result is None and not default:
            if timeout is not None:
                timeout = checked(timeout)
            if timeout == 0.0:
                raise TimeoutError("select timed out")
            # Pass 2.
            sel = _Select()
            waiters: list[Waiter] = []
            for i in order:
                c = cases[i]
                if type(c) is RecvCase:
                    waiters.append(Waiter(c.chan._recvq, None, sel, i))
                else:
                    waiters.append(Waiter(c.chan._sendq, c.value, sel, i))
            reason = "select" if waiters else "select (no cases)"
            req = enqueue(sync, waiters, locks, timeout, reason)
    except BaseException:
        for lock in reversed(locks):
            lock.release()
        raise
    if result is None and not default:
        try:
            if req is not None:
                yield req
                woken = True
            else:
                woken = yield from park(sync, waiters, locks, timeout, _claim_self, sel, reason)
        finally:
            # Pass 3: take the losing waiters off their channels, whatever
            # happened (woken, timed out, interrupted after claiming ourselves).
            for w in waiters:
                if w is not sel.winner:
                    dequeue(w)
        if not woken:
            raise TimeoutError("select timed out")
        # The completer fills in its waiter under its channel's lock; after an
        # interrupted park we may get here before its wake-up, so wait it out.
        for lock in locks:
            lock.acquire()
            lock.release()
        won = sel.winner
        assert won is not None
        if type(cases[won.index]) is SendCase:
            if not won.ok:
                raise ChanClosed("send on closed channel")
            return _new(Selected, (won.index, None, True))
        v = won.elem
        won.elem = None
        return _new(Selected, (won.index, v, won.ok))
    for lock in reversed(locks):
        lock.release()
    if result is None:
        return _DEFAULT
    if wake is not None:
        wake.wake()
    return result


def select(*cases: RecvCase[Any] | SendCase[Any] | None, default: bool = False,
           timeout: float | None = None) -> Selected:
    """Wait until one of ``cases`` can proceed, perform it, and say which.

    Cases are ``ch.recv_case()`` and ``ch.send_case(v)``; ``None`` never fires.
    With ``default=True`` returns ``Selected(-1, None, False)`` at once if no case
    is ready.  Raises ``TimeoutError`` after ``timeout`` seconds, ``ChanClosed``
    when a send case's channel is closed.
    """
    if not default and timeout is None:
        i = _only(cases)
        if i >= 0:  # one case: the plain operation (Go compiles it so, too)
            c = cases[i]
            if type(c) is RecvCase:
                v, ok = c.chan.recv_ok()
                return _new(Selected, (i, v, ok))
            if type(c) is SendCase:
                c.chan.send(c.value)
                return _new(Selected, (i, None, True))
    return run(_select(cases, default, timeout, True))


def aselect(*cases: RecvCase[Any] | SendCase[Any] | None, default: bool = False,
            timeout: float | None = None) -> Awaitable[Selected]:
    """Coroutine form of ``select``: ``await gort.aselect(...)``."""
    if not default and timeout is None:
        i = _only(cases)
        if i >= 0:
            c = cases[i]
            if type(c) is RecvCase:
                return _one_recv(c.chan, i)
            if type(c) is SendCase:
                return _one_send(c.chan, c.value, i)
    return _select(cases, default, timeout, False)


@types.coroutine
def _one_recv(ch: Chan[Any], i: int) -> Generator[Any, Any, Selected]:
    v, ok = yield from ch._recv(None, False, False)
    return _new(Selected, (i, v, ok))


@types.coroutine
def _one_send(ch: Chan[Any], value: Any, i: int) -> Generator[Any, Any, Selected]:
    yield from ch._send(value, None, False)
    return _new(Selected, (i, None, True))


def _claim_self(sel: _Select) -> bool:
    """The abort of a select: claim it ourselves, so no completer can fire it
    any more.  False when a completer claimed it first (it fired)."""
    return sel.claim.acquire(False)


for _fn in (select, _select, _one_recv, _one_send, _claim_self):
    protect(_fn)
