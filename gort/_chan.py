"""Channels: Go's ``chan T`` with its exact semantics (gort's ``chan.go``).

A ``Chan`` is plain data: a ring buffer of values, a queue of blocked senders and
a queue of blocked receivers.  A blocked operation is a ``Waiter`` (Go's
``sudog``): a small record naming how to wake its goroutine, the value it carries
or receives, and, for ``select``, the select it belongs to.  Parking, waking and
the hand-off of processors live in ``_waitq``; this module never sleeps itself.
Each blocking operation is one body (``_send``, ``_recv``) run in every world
(plain caller, coroutine goroutine, asyncio task); the plain forms keep an
inlined fast path in front of it.

Lock ownership (there is no GIL on 3.13t):

    Chan._lock guards _buf, _sendq, _recvq and _closed.  It is never held while
    waking a goroutine or while taking any other lock except a select's claim
    (``_Select.claim``, acquired without blocking), so two channel locks are never
    held together and no lock order is needed.

Invariants, with _lock held:

    * at least one of _sendq and _recvq is empty (counting only live waiters);
    * if _buf is not empty, _recvq has no live waiter;
    * if _buf is not full (len < cap), _sendq has no live waiter;
    * once _closed, both queues are empty and stay empty.

A waiter that belongs to a select is *live* while its select is unclaimed.
Whoever wants to complete it (a sender, a receiver, close) must win the select's
claim first: ``claim.acquire(False)`` is the single compare-and-set that makes
exactly one case of a select fire.  Dead waiters found at the head of a queue are
dropped; the select removes its remaining waiters itself after waking.

Completion protocol: the completer fills in the waiter (``elem``, ``ok``) and
removes it from the queue, all under the channel lock, then unlocks and calls
``wake()``.  A waiter whose timeout expires takes the channel lock and removes
itself; if it is no longer queued, a completer got there first, so the operation
happened and the timeout is ignored (a timed-out send is never also delivered, a
timed-out receive never consumes a value).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import types
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar

from ._errors import ChanClosed
from ._ki import protect
from ._select import RecvCase, SendCase
from ._waitq import NOT_READY as _NOT_READY
from ._waitq import Waiter, WaitQueue, checked, dequeue, enqueue, park, run

T = TypeVar("T")

# gort.synctest installs this: a plain Chan made in a bubble becomes one whose
# operations check that they run in that bubble.
adopt_in_bubble: Callable[[Chan[Any]], None] | None = None


def _take(q: WaitQueue) -> Waiter | None:
    """Dequeue the first live waiter, claiming its select; drop dead ones.

    Called with the channel lock held.
    """
    while q:
        w = q.popleft()
        if w.q is not q:  # removed by its owner (timed out, aborted)
            q.dead -= 1
            continue
        w.q = None
        sel = w.sel
        if sel is None:
            return w
        if sel.claim.acquire(False):
            sel.winner = w
            return w
        # That select already fired elsewhere (or timed out): drop its waiter.
    return None


@dataclasses.dataclass(frozen=True)
class ChanStatistics:
    """A snapshot of a channel's state (``Chan.statistics()``): ``cap``, ``len``
    (values buffered), ``closed``, and the blocked ``senders_waiting`` and
    ``receivers_waiting``."""

    cap: int
    len: int
    closed: bool
    senders_waiting: int
    receivers_waiting: int


class _ChanSide(Generic[T]):
    """What both sides of a channel tell about it."""

    __slots__ = ()

    @property
    def cap(self) -> int:
        """The channel's capacity (Go's ``cap(ch)``); 0 for an unbuffered channel."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        """True once the channel has been closed (values may still be buffered)."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class RecvChan(_ChanSide[T]):
    """The receive side of a channel (Go's ``<-chan T``)."""

    __slots__ = ()

    def recv(self, timeout: float | None = None) -> T:
        """Receive a value, blocking until one is available (Go's ``<-ch``).
        Raises ``ChanClosed`` once closed and drained, ``TimeoutError`` on timeout."""
        raise NotImplementedError

    def recv_ok(self, timeout: float | None = None) -> tuple[T | None, bool]:
        """Go's ``v, ok := <-ch``: ``(None, False)`` once closed and drained."""
        raise NotImplementedError

    def try_recv(self) -> tuple[T | None, bool]:
        """Receive without blocking: ``(None, False)`` if nothing is ready."""
        raise NotImplementedError

    def recv_case(self) -> RecvCase[T]:
        """A receive case for ``gort.select``."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[T]:
        while True:
            v, ok = self.recv_ok()
            if not ok:
                return
            yield v  # type: ignore[misc]

    def arecv(self, timeout: float | None = None) -> Awaitable[T]:
        """Coroutine form of ``recv``: ``v = await ch.arecv()``."""
        raise NotImplementedError

    def arecv_ok(self, timeout: float | None = None) -> Awaitable[tuple[T | None, bool]]:
        """Coroutine form of ``recv_ok``: ``v, ok = await ch.arecv_ok()``."""
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[T]:
        return _ChanAsyncIter(self)


class _ChanAsyncIter(Generic[T]):
    __slots__ = ("_ch",)

    def __init__(self, ch: RecvChan[T]) -> None:
        self._ch = ch

    def __aiter__(self) -> _ChanAsyncIter[T]:
        return self

    async def __anext__(self) -> T:
        v, ok = await self._ch.arecv_ok()
        if not ok:
            raise StopAsyncIteration
        return v  # type: ignore[return-value]  # (ok: v is a T)


class SendChan(_ChanSide[T]):
    """The send side of a channel (Go's ``chan<- T``)."""

    __slots__ = ()

    def send(self, value: T, timeout: float | None = None) -> None:
        """Send ``value``, blocking until it is taken or buffered (Go's ``ch <- v``).
        Raises ``ChanClosed`` on a closed channel, ``TimeoutError`` on timeout."""
        raise NotImplementedError

    def try_send(self, value: T) -> bool:
        """Send without blocking; False if the send would block."""
        raise NotImplementedError

    def asend(self, value: T, timeout: float | None = None) -> Awaitable[None]:
        """Coroutine form of ``send``: ``await ch.asend(v)``."""
        raise NotImplementedError

    def send_case(self, value: T) -> SendCase[T]:
        """A send case for ``gort.select``."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the channel (Go's ``close(ch)``); closing twice raises ``ChanClosed``."""
        raise NotImplementedError


class Chan(SendChan[T], RecvChan[T]):
    """A Go channel.  ``Chan[int](0)`` is unbuffered, ``Chan[int](8)`` buffered.

    Unbuffered channels are a rendezvous: ``send`` returns once a receiver has
    taken the value.  Buffered ones block a sender only when full.  Values and
    blocked goroutines are served in FIFO order.
    """

    __slots__ = ("__weakref__", "_buf", "_cap", "_closed", "_lock", "_recvq", "_sendq")

    def __init__(self, cap: int = 0) -> None:
        if isinstance(cap, bool) or not isinstance(cap, int):
            raise TypeError(f"Chan capacity must be an int, got {type(cap).__name__}")
        if cap < 0:
            raise ValueError(f"Chan capacity must be >= 0, got {cap}")
        self._lock = lock = threading.Lock()
        self._cap = cap
        self._buf: deque[T] = deque()
        self._sendq = WaitQueue(lock)
        self._recvq = WaitQueue(lock)
        self._closed = False
        if self._sendq.bubble is not None and adopt_in_bubble:  # made in a synctest bubble
            adopt_in_bubble(self)

    # -- send

    def _send_now(self, value: T) -> Waiter | bool:
        """With the lock held: complete a send if possible.

        Returns the receiver to wake, True if the value went into the buffer,
        False if the send would block.  Raises ChanClosed on a closed channel.
        """
        if self._closed:
            raise ChanClosed("send on closed channel")
        w = _take(self._recvq) if self._recvq else None
        if w is not None:
            w.elem = value
            w.ok = True
            return w
        if len(self._buf) < self._cap:
            self._buf.append(value)
            return True
        return False

    @types.coroutine
    def _send(self, value: T, timeout: float | None, sync: bool) -> Generator[Any, Any]:
        """The one body of a send, in every world (see ``_waitq``)."""
        lock = self._lock
        lock.acquire()
        try:
            r = self._send_now(value)
            if r is False:
                if timeout is not None:
                    timeout = checked(timeout)
                if timeout == 0.0:
                    raise TimeoutError("send timed out")
                w = Waiter(self._sendq, value)
                req = enqueue(sync, w, (lock,), timeout, "chan send")
        except BaseException:
            lock.release()
            raise
        if r is not False:
            lock.release()
            if r is not True:
                r.wake()
            return
        if req is not None:
            yield req
        elif not (yield from park(sync, w, (lock,), timeout, dequeue, w, "chan send")):
            raise TimeoutError("send timed out")
        if not w.ok:
            raise ChanClosed("send on closed channel")

    def send(self, value: T, timeout: float | None = None) -> None:
        """Send ``value``, blocking until a receiver takes it (unbuffered) or the
        buffer has room.  Raises ``ChanClosed`` if the channel is or gets closed,
        ``TimeoutError`` if ``timeout`` seconds pass first (nothing is sent then).
        """
        with self._lock:  # the fast path, inlined
            r = self._send_now(value)
        if r is False:
            run(self._send(value, timeout, True))
        elif r is not True:
            r.wake()

    def try_send(self, value: T) -> bool:
        """Send without blocking; False if the send would block."""
        with self._lock:
            r = self._send_now(value)
        if r is False:
            return False
        if r is not True:
            r.wake()
        return True

    def asend(self, value: T, timeout: float | None = None) -> Awaitable[None]:
        """Coroutine form of ``send``: ``await ch.asend(v)``."""
        return self._send(value, timeout, False)

    # -- receive

    def _recv_now(self) -> tuple[Any, bool, Waiter | None]:
        """With the lock held: complete a receive if possible.

        Returns (value, ok, sender to wake); value is _NOT_READY if the receive
        would block, and ok is False once the channel is closed and drained.
        """
        w = _take(self._sendq) if self._sendq else None
        if w is not None:
            w.ok = True
            if self._cap:
                # Buffer full with senders waiting: take the oldest value and
                # move the sender's value to the tail, keeping FIFO order.
                v = self._buf.popleft()
                self._buf.append(w.elem)
            else:
                v = w.elem
            w.elem = None
            return v, True, w
        if self._buf:
            return self._buf.popleft(), True, None
        if self._closed:
            return None, False, None
        return _NOT_READY, False, None

    @types.coroutine
    def _recv(self, timeout: float | None, sync: bool,
              value_only: bool) -> Generator[Any, Any, Any]:
        """The one body of a receive, in every world (see ``_waitq``)."""
        lock = self._lock
        lock.acquire()
        try:
            v, ok, s = self._recv_now()
            if v is _NOT_READY:
                if timeout is not None:
                    timeout = checked(timeout)
                if timeout == 0.0:
                    raise TimeoutError("receive timed out")
                w = Waiter(self._recvq)
                req = enqueue(sync, w, (lock,), timeout, "chan receive")
        except BaseException:
            lock.release()
            raise
        if v is _NOT_READY:
            if req is not None:
                yield req
            elif not (yield from park(sync, w, (lock,), timeout, dequeue, w, "chan receive")):
                raise TimeoutError("receive timed out")
            v = w.elem
            ok = w.ok
            w.elem = None
        else:
            lock.release()
            if s is not None:
                s.wake()
        if not value_only:
            return v, ok
        if not ok:
            raise ChanClosed("receive from closed channel")
        return v

    def recv(self, timeout: float | None = None) -> T:
        """Receive a value, blocking until one is available.

        Raises ``ChanClosed`` once the channel is closed and drained, and
        ``TimeoutError`` if ``timeout`` seconds pass first (nothing is consumed).
        """
        with self._lock:  # the fast path, inlined
            v, ok, s = self._recv_now()
        if v is _NOT_READY:
            return run(self._recv(timeout, True, True))  # type: ignore[no-any-return]
        if s is not None:
            s.wake()
        if not ok:
            raise ChanClosed("receive from closed channel")
        return v  # type: ignore[no-any-return]

    def recv_ok(self, timeout: float | None = None) -> tuple[T | None, bool]:
        """Go's ``v, ok := <-ch``: ``(None, False)`` once closed and drained."""
        with self._lock:  # the fast path, inlined
            v, ok, s = self._recv_now()
        if v is _NOT_READY:
            return run(self._recv(timeout, True, False))  # type: ignore[no-any-return]
        if s is not None:
            s.wake()
        return v, ok

    def try_recv(self) -> tuple[T | None, bool]:
        """Receive without blocking: ``(None, False)`` if nothing is ready.

        Raises ``ChanClosed`` once the channel is closed and drained.
        """
        with self._lock:
            v, ok, s = self._recv_now()
        if s is not None:
            s.wake()
        if v is _NOT_READY:
            return None, False
        if not ok:
            raise ChanClosed("receive from closed channel")
        return v, True

    def arecv_ok(self, timeout: float | None = None) -> Awaitable[tuple[T | None, bool]]:
        """Coroutine form of ``recv_ok``: ``v, ok = await ch.arecv_ok()``."""
        return self._recv(timeout, False, False)

    def arecv(self, timeout: float | None = None) -> Awaitable[T]:
        """Coroutine form of ``recv``: ``v = await ch.arecv()``."""
        return self._recv(timeout, False, True)

    # -- close

    def close(self) -> None:
        """Close the channel.  Blocked receivers get ``ok == False``, blocked
        senders raise ``ChanClosed``; buffered values are still delivered.
        """
        with self._lock:
            if self._closed:
                raise ChanClosed("close of closed channel")
            self._closed = True
            woken: list[Waiter] = []
            for q in (self._recvq, self._sendq):
                while True:
                    w = _take(q)
                    if w is None:
                        break
                    w.elem = None
                    w.ok = False
                    woken.append(w)
        for w in woken:
            w.wake()

    # -- select support (used by _select)

    def recv_case(self) -> RecvCase[T]:
        """A receive case for ``gort.select``."""
        return RecvCase(self)

    def send_case(self, value: T) -> SendCase[T]:
        """A send case for ``gort.select``."""
        return SendCase(self, value)

    # -- views and introspection

    def send_only(self) -> SendChan[T]:
        """A view of this channel that can only send (Go's ``chan<- T``)."""
        return _SendView(self)

    def recv_only(self) -> RecvChan[T]:
        """A view of this channel that can only receive (Go's ``<-chan T``)."""
        return _RecvView(self)

    @property
    def cap(self) -> int:
        """The channel's capacity (Go's ``cap(ch)``); 0 for an unbuffered channel."""
        return self._cap

    @property
    def closed(self) -> bool:
        """True once the channel has been closed (values may still be buffered)."""
        return self._closed

    def __len__(self) -> int:
        return len(self._buf)

    def __bool__(self) -> bool:
        """A channel is always true, even empty: ``if ch:`` asks "is there a
        channel", as Go's ``ch != nil`` does, never "does it hold values"."""
        return True

    def _check_invariants(self) -> None:
        """Verify the channel's invariants (Go's ``debugChan``); AssertionError if
        one is broken.  Run by tests, and after every operation under GORT_DEBUG=1."""
        with self._lock:
            self._sendq.check()
            self._recvq.check()
            live_recv = [w for w in self._recvq.waiters()
                         if w.sel is None or not w.sel.claim.locked()]
            live_send = [w for w in self._sendq.waiters()
                         if w.sel is None or not w.sel.claim.locked()]
            # Both sides may wait only as the two cases of one select on this channel.
            sels = {id(w.sel) for w in live_recv + live_send}
            assert not (live_recv and live_send) or (len(sels) == 1 and None not in
                                                      [w.sel for w in live_recv]), \
                "senders and receivers both waiting"
            assert len(self._buf) <= self._cap, "buffer over capacity"
            assert not (self._buf and live_recv), "receivers waiting on a non-empty buffer"
            assert not (len(self._buf) < self._cap and live_send), \
                "senders waiting on a buffer with room"
            assert not (self._closed and (self._recvq.live() or self._sendq.live())), \
                "waiters on a closed channel"

    def statistics(self) -> ChanStatistics:
        """A consistent snapshot of the channel: capacity, buffered values, whether
        closed, and how many senders and receivers are blocked on it."""
        with self._lock:
            return ChanStatistics(cap=self._cap, len=len(self._buf), closed=self._closed,
                                  senders_waiting=self._sendq.live(),
                                  receivers_waiting=self._recvq.live())

    def __repr__(self) -> str:
        closed = " closed" if self._closed else ""
        return (f"<Chan cap={self._cap} len={len(self._buf)} sendq={self._sendq.live()} "
                f"recvq={self._recvq.live()}{closed}>")


class _View(Generic[T]):
    """What both one-direction views of a channel share.  A view's operations
    are the channel's own bound methods, stored in its slots (a call through a
    view costs no more than one on the channel)."""

    __slots__ = ()
    _ch: Chan[T]

    def __init__(self, ch: Chan[T]) -> None:
        setattr(self, "_ch", ch)  # noqa: B010 - the slot is the subclass's
        names: tuple[str, ...] = type(self).__slots__
        for name in names[1:]:
            setattr(self, name, getattr(ch, name))

    @property
    def cap(self) -> int:
        """The channel's capacity."""
        return self._ch.cap

    @property
    def closed(self) -> bool:
        """True once the channel is closed."""
        return self._ch.closed

    def __len__(self) -> int:
        return len(self._ch)

    def __bool__(self) -> bool:
        return True


class _RecvView(_View[T], RecvChan[T]):
    __slots__ = ("_ch", "arecv", "arecv_ok", "recv", "recv_case", "recv_ok", "try_recv")

    def __repr__(self) -> str:
        return "<RecvChan of " + repr(self._ch)[1:]


class _SendView(_View[T], SendChan[T]):
    __slots__ = ("_ch", "asend", "close", "send", "send_case", "try_send")

    def __repr__(self) -> str:
        return "<SendChan of " + repr(self._ch)[1:]


for _fn in (Chan.send, Chan.try_send, Chan._send, Chan.recv, Chan.recv_ok, Chan.try_recv,
            Chan._recv, Chan.close):
    protect(_fn)


def _checking(op: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(op)
    def checked_op(self: Chan[Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return op(self, *args, **kwargs)
        finally:
            self._check_invariants()
    return checked_op


if os.environ.get("GORT_DEBUG") == "1":
    # Go's debugChan: verify the invariants after every operation.  The hot
    # paths pay nothing when it is off: the methods are only wrapped when on.
    for _name in ("send", "try_send", "recv", "recv_ok", "try_recv", "close"):
        setattr(Chan, _name, protect(_checking(getattr(Chan, _name))))
