"""The patterns of the Go concurrency overview, as small reusable functions.

* ``merge(*chans)``: fan-in: one channel carrying every value of several,
  closed when all of them are closed.
* ``fan_out(src, n)``: n channels that share src's values between them
  (each value goes to exactly one), all closed when src is.
* ``worker_pool(fn, jobs, workers)``: map fn over a channel of jobs with a
  fixed number of goroutines into a channel of results (unordered; an
  exception is delivered as a ``Failed`` result instead of killing the pool).
* ``stage(fn, src)``: one pipeline stage: a goroutine applying fn to every
  value of src into a new channel; chain stages to build a pipeline.
* ``Broadcaster``: publisher-subscriber.  Each subscriber gets its own
  buffered channel.  Policy for a slow subscriber, chosen per subscription:
  ``"block"`` (publish waits for it, up to ``timeout``, then drops the value
  for that subscriber), ``"drop_newest"`` (the value it has no room for is
  dropped) or ``"drop_oldest"`` (its oldest queued value is dropped to make
  room).  Drops are counted per subscriber, so a slow subscriber can never
  block the others forever.
* ``serve(ctx, fn, jobs)`` / graceful shutdown: workers stop taking new jobs
  when ``ctx`` is cancelled and finish the one in hand; ``shutdown`` returns
  once every worker has stopped.

Each function also takes ``ctx`` where stopping early makes sense; every
goroutine it starts ends when its input is closed or its context cancelled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from ._chan import Chan, RecvChan
from ._context import Context, _done_case, background
from ._errors import ChanClosed
from ._goroutine import Goroutine, go
from ._select import select
from ._sync import Mutex, WaitGroup
from ._timeout import timeout as _check_timeout

T = TypeVar("T")
U = TypeVar("U")


def generate(values: Iterable[T], cap: int = 0, ctx: Context | None = None) -> RecvChan[T]:
    """A channel fed with ``values`` by a goroutine, closed at the end."""
    out: Chan[T] = Chan(cap)
    done = _done_case(ctx)

    def run() -> None:
        try:
            for v in values:
                if select(out.send_case(v), done).index == 1:
                    return
        finally:
            out.close()

    go(run)
    return out.recv_only()


def merge(*chans: RecvChan[T], cap: int = 0, ctx: Context | None = None) -> RecvChan[T]:
    """Fan-in: every value of ``chans`` on one channel, closed when all are."""
    out: Chan[T] = Chan(cap)
    wg = WaitGroup()
    done = _done_case(ctx)

    def forward(c: RecvChan[T]) -> None:
        src = c.recv_case()
        while True:
            r = select(src, done)
            if r.index == 1 or not r.ok:
                return
            if select(out.send_case(r.value), done).index == 1:
                return

    for c in chans:
        wg.go(forward, c)

    def closer() -> None:
        wg.wait()
        out.close()

    go(closer)
    return out.recv_only()


def fan_out(src: RecvChan[T], n: int, cap: int = 0) -> list[RecvChan[T]]:
    """Fan-out: n channels sharing src's values (each value to exactly one)."""
    if n < 1:
        raise ValueError(f"fan_out needs n >= 1, got {n}")
    outs: list[Chan[T]] = [Chan(cap) for _ in range(n)]

    def run() -> None:
        try:
            for v in src:
                select(*(o.send_case(v) for o in outs))
        finally:
            for o in outs:
                o.close()

    go(run)
    return [o.recv_only() for o in outs]


@dataclass(frozen=True)
class Failed:
    """A worker_pool result for a job whose function raised."""

    job: Any
    error: BaseException


def worker_pool(fn: Callable[[T], U], jobs: RecvChan[T], workers: int, cap: int = 0,
                ctx: Context | None = None) -> RecvChan[U | Failed]:
    """Map ``fn`` over ``jobs`` with ``workers`` goroutines; results unordered.

    The result channel is closed once every job is done (or ctx is cancelled).
    """
    if workers < 1:
        raise ValueError(f"worker_pool needs workers >= 1, got {workers}")
    results: Chan[U | Failed] = Chan(cap)
    done = _done_case(ctx)
    wg = WaitGroup()

    def worker() -> None:
        src = jobs.recv_case()
        while True:
            r = select(src, done)
            if r.index == 1 or not r.ok:
                return
            try:
                out: U | Failed = fn(r.value)
            except Exception as e:  # delivered, not lost: the pool keeps going
                out = Failed(r.value, e)
            if select(results.send_case(out), done).index == 1:
                return

    for _ in range(workers):
        wg.go(worker)

    def closer() -> None:
        wg.wait()
        results.close()

    go(closer)
    return results.recv_only()


def stage(fn: Callable[[T], U], src: RecvChan[T], cap: int = 0,
          ctx: Context | None = None) -> RecvChan[U]:
    """A pipeline stage: ``fn`` applied to every value of ``src``, in order."""
    out: Chan[U] = Chan(cap)
    done = _done_case(ctx)

    def run() -> None:
        src_case = src.recv_case()
        try:
            while True:
                r = select(src_case, done)
                if r.index == 1 or not r.ok:
                    return
                if select(out.send_case(fn(r.value)), done).index == 1:
                    return
        finally:
            out.close()

    go(run)
    return out.recv_only()


Policy = Literal["block", "drop_newest", "drop_oldest"]
"""What a Broadcaster does with a value for a subscriber whose buffer is full
(see the module docstring)."""


class Subscription(Generic[T]):
    """One subscriber of a Broadcaster: receive from ``c``; ``dropped`` counts the
    values it missed under its ``policy``."""

    __slots__ = ("_ch", "c", "policy", "timeout", "dropped")

    def __init__(self, cap: int, policy: Policy, timeout: float | None) -> None:
        self._ch: Chan[T] = Chan(cap)
        self.c: RecvChan[T] = self._ch.recv_only()
        self.policy = policy
        self.timeout = timeout
        self.dropped = 0  # values this subscriber missed (guarded by Broadcaster._lock)

    def __repr__(self) -> str:
        return f"<Subscription {self.policy} {self._ch!r} dropped={self.dropped}>"


class Broadcaster(Generic[T]):
    """Publisher-subscriber: every published value goes to every subscriber.

    Publishing is serialized (one publish at a time, so every subscriber sees
    values in publish order).  A subscriber's policy decides what happens
    when its buffer is full; see the module docstring.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _subs and _closed (never held across a wait)
        self._publish = Mutex()  # one publish at a time; parks, giving the processor away
        self._subs: list[Subscription[T]] = []
        self._closed = False

    def subscribe(self, cap: int = 16, policy: Policy = "drop_oldest",
                  timeout: float | None = 1.0) -> Subscription[T]:
        """A new subscriber with a buffer of ``cap`` and the given ``policy`` (``timeout``:
        how long a ``"block"`` publish waits for it).  Raises ``ChanClosed`` once closed."""
        if policy not in ("block", "drop_newest", "drop_oldest"):
            raise ValueError(f"unknown policy {policy!r}")
        if policy != "block" and cap < 1:
            raise ValueError("a dropping subscription needs cap >= 1")
        # gort's one rule, checked here and not at the first slow publish:
        # inf means block forever, NaN is an error.
        timeout = _check_timeout(timeout)
        sub: Subscription[T] = Subscription(cap, policy, timeout)
        with self._lock:
            if self._closed:
                raise ChanClosed("subscribe to closed Broadcaster")
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription[T]) -> None:
        """Remove ``sub`` and close its channel; does nothing if it is not subscribed."""
        with self._lock:
            if sub not in self._subs:
                return
            self._subs.remove(sub)
        sub._ch.close()

    def publish(self, value: T) -> int:
        """Deliver ``value`` to every subscriber; returns how many got it."""
        with self._publish:
            with self._lock:
                if self._closed:
                    raise ChanClosed("publish on closed Broadcaster")
                subs = list(self._subs)
            delivered = 0
            for sub in subs:
                ok, lost = self._deliver(sub, value)
                delivered += ok
                if lost:
                    with self._lock:
                        sub.dropped += lost
            return delivered

    @staticmethod
    def _deliver(sub: Subscription[T], value: T) -> tuple[bool, int]:
        """(delivered, how many values the subscriber lost)."""
        ch = sub._ch
        try:
            if sub.policy == "block":
                try:
                    ch.send(value, timeout=sub.timeout)
                    return True, 0
                except TimeoutError:
                    return False, 1
            if ch.try_send(value):
                return True, 0
            if sub.policy == "drop_newest":
                return False, 1
            # drop_oldest: evict one (unless a receiver made room meanwhile).
            _, evicted = ch.try_recv()
            if ch.try_send(value):
                return True, int(evicted)
            return False, int(evicted) + 1
        except ChanClosed:
            return False, 1  # unsubscribed meanwhile: this value never reached it

    def close(self) -> None:
        """Close every subscriber's channel; later publishes raise ChanClosed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            subs, self._subs = self._subs, []
        for sub in subs:
            sub._ch.close()

    def __repr__(self) -> str:
        return f"<Broadcaster subscribers={len(self._subs)} closed={self._closed}>"


class Server:
    """Graceful shutdown: ``workers`` goroutines serve ``jobs`` until ``ctx`` is done.

    Each worker finishes the job in hand and stops taking new ones once the
    context is cancelled (or ``jobs`` is closed); ``shutdown(timeout)`` cancels
    and waits for all of them, returning False if they did not stop in time.
    """

    def __init__(self, fn: Callable[[Any], Any], jobs: RecvChan[Any], workers: int,
                 ctx: Context | None = None) -> None:
        from ._context import with_cancel
        self.ctx, self._cancel = with_cancel(ctx or background())
        self._wg = WaitGroup()
        self.handled = 0
        self._lock = threading.Lock()
        done = self.ctx.done()

        def worker() -> None:
            while True:
                if self.ctx.err() is not None:
                    return  # cancelled: take no new job (select would pick at random)
                r = select(done.recv_case(), jobs.recv_case())
                if r.index == 0 or not r.ok:
                    return
                fn(r.value)
                with self._lock:
                    self.handled += 1

        self._workers: list[Goroutine[Any]] = [self._wg.go(worker) for _ in range(workers)]

    def shutdown(self, timeout: float | None = None) -> bool:
        """Cancel the server's context and wait for the workers to finish the jobs
        in hand; False if they did not stop within ``timeout`` seconds."""
        timeout = _check_timeout(timeout)  # a bad timeout cancels nothing
        self._cancel()
        return self._wg.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the workers to stop by themselves (jobs closed)."""
        return self._wg.wait(_check_timeout(timeout))
