"""Channels: Go's ``chan T`` with its exact semantics (gort's ``chan.go``).

A ``Chan`` is plain data: a ring buffer of values, a queue of blocked senders and
a queue of blocked receivers.  A blocked operation is a ``_Waiter`` (Go's
``sudog``): a small record naming how to wake its goroutine, the value it carries
or receives, and, for ``select``, the select it belongs to.  Parking, waking and
the hand-off of processors live in ``_runtime``; this module never sleeps itself.

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
import threading
import types
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import _aio, _runtime
from ._errors import ChanClosed

if TYPE_CHECKING:
    from ._select import RecvCase, SendCase

T = TypeVar("T")

_NOT_READY: Any = object()  # try-operation result: nothing could be done


class _Select:
    """State shared by all the waiters of one blocked select."""

    __slots__ = ("claim", "winner")

    def __init__(self) -> None:
        self.claim = threading.Lock()  # acquired once, by whoever fires the select
        self.winner: _Waiter | None = None


class _Waiter:
    """One blocked channel operation (Go's sudog)."""

    __slots__ = ("elem", "index", "ok", "sel", "wake")

    def __init__(self, wake: Callable[[], Any], elem: Any = None,
                 sel: _Select | None = None, index: int = -1) -> None:
        self.wake = wake
        self.elem = elem  # the value to send, or the value received
        self.ok = False  # recv: a value was received; send: it was delivered
        self.sel = sel
        self.index = index  # the select case this waiter stands for


def _take(q: deque[_Waiter]) -> _Waiter | None:
    """Dequeue the first live waiter, claiming its select; drop dead ones.

    Called with the channel lock held.
    """
    while q:
        w = q.popleft()
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
    """A snapshot of a channel's state."""

    cap: int
    len: int
    closed: bool
    senders_waiting: int
    receivers_waiting: int


class RecvChan(Generic[T]):
    """The receive side of a channel (Go's ``<-chan T``)."""

    __slots__ = ()

    def recv(self, timeout: float | None = None) -> T:
        raise NotImplementedError

    def recv_ok(self, timeout: float | None = None) -> tuple[T | None, bool]:
        raise NotImplementedError

    def try_recv(self) -> tuple[T | None, bool]:
        raise NotImplementedError

    def recv_case(self) -> RecvCase[T]:
        raise NotImplementedError

    @property
    def cap(self) -> int:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[T]:
        while True:
            v, ok = self.recv_ok()
            if not ok:
                return
            yield v  # type: ignore[misc]

    def arecv(self, timeout: float | None = None) -> Any:
        raise NotImplementedError

    def arecv_ok(self, timeout: float | None = None) -> Any:
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
        return v  # type: ignore[no-any-return]


class SendChan(Generic[T]):
    """The send side of a channel (Go's ``chan<- T``)."""

    __slots__ = ()

    def send(self, value: T, timeout: float | None = None) -> None:
        raise NotImplementedError

    def try_send(self, value: T) -> bool:
        raise NotImplementedError

    def asend(self, value: T, timeout: float | None = None) -> Any:
        raise NotImplementedError

    def send_case(self, value: T) -> SendCase[T]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    @property
    def cap(self) -> int:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    def __len__(self) -> int:
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
        self._lock = threading.Lock()
        self._cap = cap
        self._buf: deque[T] = deque()
        self._sendq: deque[_Waiter] = deque()
        self._recvq: deque[_Waiter] = deque()
        self._closed = False

    # -- send

    def _send_now(self, value: T) -> _Waiter | bool:
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

    def send(self, value: T, timeout: float | None = None) -> None:
        """Send ``value``, blocking until a receiver takes it (unbuffered) or the
        buffer has room.  Raises ``ChanClosed`` if the channel is or gets closed,
        ``TimeoutError`` if ``timeout`` seconds pass first (nothing is sent then).
        """
        with self._lock:
            r = self._send_now(value)
            if r is False:
                if timeout is not None and timeout <= 0:
                    raise TimeoutError("send timed out")
                parker = _runtime.current_parker()
                w = _Waiter(parker.release, value)
                self._sendq.append(w)
        if r is True:
            return
        if r is not False:
            r.wake()
            return
        if not _runtime.park(parker, timeout, self._abort_send, w, "chan send"):
            raise TimeoutError("send timed out")
        if not w.ok:
            raise ChanClosed("send on closed channel")

    def try_send(self, value: T) -> bool:
        """Send without blocking; False if the send would block."""
        with self._lock:
            r = self._send_now(value)
        if r is False:
            return False
        if r is not True:
            r.wake()
        return True

    def _abort_send(self, w: _Waiter) -> bool:
        with self._lock:
            try:
                self._sendq.remove(w)
            except ValueError:
                return False
            return True

    # -- receive

    def _recv_now(self) -> tuple[Any, bool, _Waiter | None]:
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

    def _recv(self, timeout: float | None) -> tuple[Any, bool]:
        with self._lock:
            v, ok, s = self._recv_now()
            if v is _NOT_READY:
                if timeout is not None and timeout <= 0:
                    raise TimeoutError("receive timed out")
                parker = _runtime.current_parker()
                w = _Waiter(parker.release)
                self._recvq.append(w)
        if v is not _NOT_READY:
            if s is not None:
                s.wake()
            return v, ok
        if not _runtime.park(parker, timeout, self._abort_recv, w, "chan receive"):
            raise TimeoutError("receive timed out")
        v = w.elem
        w.elem = None
        return v, w.ok

    def recv(self, timeout: float | None = None) -> T:
        """Receive a value, blocking until one is available.

        Raises ``ChanClosed`` once the channel is closed and drained, and
        ``TimeoutError`` if ``timeout`` seconds pass first (nothing is consumed).
        """
        v, ok = self._recv(timeout)
        if not ok:
            raise ChanClosed("receive from closed channel")
        return v  # type: ignore[no-any-return]

    def recv_ok(self, timeout: float | None = None) -> tuple[T | None, bool]:
        """Go's ``v, ok := <-ch``: ``(None, False)`` once closed and drained."""
        return self._recv(timeout)

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

    def _abort_recv(self, w: _Waiter) -> bool:
        with self._lock:
            try:
                self._recvq.remove(w)
            except ValueError:
                return False
            return True

    # -- coroutine forms

    def asend(self, value: T, timeout: float | None = None) -> Any:
        """Coroutine form of ``send``: ``await ch.asend(v)``."""
        return self._asend(value, timeout)

    @types.coroutine
    def _asend(self, value: T, timeout: float | None) -> Generator[Any, Any]:
        lock = self._lock
        lock.acquire()
        try:
            r = self._send_now(value)
            if r is False:
                if timeout is not None and timeout <= 0:
                    raise TimeoutError("send timed out")
                m = _runtime._tls.m
                cg = m.cg if m is not None else None
                if cg is not None:
                    w = _Waiter(cg._wake, value)
                else:
                    wake, fut = _aio.waker()
                    w = _Waiter(wake, value)
                self._sendq.append(w)
        except BaseException:
            lock.release()
            raise
        if r is not False:
            lock.release()
            if r is not True:
                r.wake()
            return
        if cg is not None and timeout is None:  # the common case, inlined
            cg._wait_reason = "chan send"
            cg._timed_park = False
            yield (lock,)
        elif not (yield from _aio.suspend((lock,), None if cg is not None else fut, timeout,
                                          self._abort_send, w, "chan send")):
            raise TimeoutError("send timed out")
        if not w.ok:
            raise ChanClosed("send on closed channel")

    @types.coroutine
    def _arecv(self, timeout: float | None, value_only: bool) -> Generator[Any, Any, Any]:
        lock = self._lock
        lock.acquire()
        try:
            v, ok, s = self._recv_now()
            if v is _NOT_READY:
                if timeout is not None and timeout <= 0:
                    raise TimeoutError("receive timed out")
                m = _runtime._tls.m
                cg = m.cg if m is not None else None
                if cg is not None:
                    w = _Waiter(cg._wake)
                else:
                    wake, fut = _aio.waker()
                    w = _Waiter(wake)
                self._recvq.append(w)
        except BaseException:
            lock.release()
            raise
        if v is _NOT_READY:
            if cg is not None and timeout is None:  # the common case, inlined
                cg._wait_reason = "chan receive"
                cg._timed_park = False
                yield (lock,)
            elif not (yield from _aio.suspend((lock,), None if cg is not None else fut,
                                              timeout, self._abort_recv, w, "chan receive")):
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

    def arecv_ok(self, timeout: float | None = None) -> Any:
        """Coroutine form of ``recv_ok``: ``v, ok = await ch.arecv_ok()``."""
        return self._arecv(timeout, False)

    def arecv(self, timeout: float | None = None) -> Any:
        """Coroutine form of ``recv``: ``v = await ch.arecv()``."""
        return self._arecv(timeout, True)

    # -- close

    def close(self) -> None:
        """Close the channel.  Blocked receivers get ``ok == False``, blocked
        senders raise ``ChanClosed``; buffered values are still delivered.
        """
        with self._lock:
            if self._closed:
                raise ChanClosed("close of closed channel")
            self._closed = True
            woken: list[_Waiter] = []
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
        from ._select import RecvCase
        return RecvCase(self)

    def send_case(self, value: T) -> SendCase[T]:
        """A send case for ``gort.select``."""
        from ._select import SendCase
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
        return self._cap

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._buf)

    def statistics(self) -> ChanStatistics:
        with self._lock:
            return ChanStatistics(cap=self._cap, len=len(self._buf), closed=self._closed,
                                  senders_waiting=len(self._sendq),
                                  receivers_waiting=len(self._recvq))

    def __repr__(self) -> str:
        closed = " closed" if self._closed else ""
        return (f"<Chan cap={self._cap} len={len(self._buf)} sendq={len(self._sendq)} "
                f"recvq={len(self._recvq)}{closed}>")


class _RecvView(RecvChan[T]):
    __slots__ = ("_ch", "arecv", "arecv_ok", "recv", "recv_case", "recv_ok", "try_recv")

    def __init__(self, ch: Chan[T]) -> None:
        self._ch = ch
        self.arecv = ch.arecv  # type: ignore[method-assign]
        self.arecv_ok = ch.arecv_ok  # type: ignore[method-assign]
        self.recv = ch.recv  # type: ignore[method-assign]
        self.recv_ok = ch.recv_ok  # type: ignore[method-assign]
        self.try_recv = ch.try_recv  # type: ignore[method-assign]
        self.recv_case = ch.recv_case  # type: ignore[method-assign]

    @property
    def cap(self) -> int:
        return self._ch.cap

    @property
    def closed(self) -> bool:
        return self._ch.closed

    def __len__(self) -> int:
        return len(self._ch)

    def __repr__(self) -> str:
        return "<RecvChan of " + repr(self._ch)[1:]


class _SendView(SendChan[T]):
    __slots__ = ("_ch", "asend", "close", "send", "send_case", "try_send")

    def __init__(self, ch: Chan[T]) -> None:
        self._ch = ch
        self.asend = ch.asend  # type: ignore[method-assign]
        self.send = ch.send  # type: ignore[method-assign]
        self.try_send = ch.try_send  # type: ignore[method-assign]
        self.send_case = ch.send_case  # type: ignore[method-assign]
        self.close = ch.close  # type: ignore[method-assign]

    @property
    def cap(self) -> int:
        return self._ch.cap

    @property
    def closed(self) -> bool:
        return self._ch.closed

    def __len__(self) -> int:
        return len(self._ch)

    def __repr__(self) -> str:
        return "<SendChan of " + repr(self._ch)[1:]
