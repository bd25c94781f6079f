"""gort.synctest: Go 1.25's testing/synctest (fake time in a bubble).

The Go tests followed: synctest_test.go's TestTime/TestTimer*/TestWait*,
TestDeadlock*, TestGoroutineLeak-style checks (the bubble's goroutines must end),
TestChannelFromOutsideBubble, TestNestedBubbles.  Fake time is checked exactly
(bubble clocks only move to the next timer); the real time of each test is
bounded loosely (a loaded machine) but far below the fake minutes it covers, so
a test that really slept would fail.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

import gort
from gort import _runtime, synctest

pytestmark = pytest.mark.timeout(60)

E = synctest.EPOCH
REAL = 20.0  # seconds: a loose bound on real time for minutes of fake time


@pytest.fixture(params=["plain", "coroutine"])
def world(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_sleep_moves_the_fake_clock_only(world: str) -> None:
    def plain() -> list[float]:
        out = [synctest.now()]
        gort.sleep(90)
        out.append(synctest.now())
        gort.sleep(0.25)
        out.append(synctest.now())
        return out

    async def coro() -> list[float]:
        out = [synctest.now()]
        await gort.asleep(90)
        out.append(synctest.now())
        await gort.asleep(0.25)
        out.append(synctest.now())
        return out

    t0 = time.monotonic()
    got = synctest.run(plain if world == "plain" else coro)
    assert got == [E, E + 90, E + 90.25]
    assert time.monotonic() - t0 < REAL
    assert abs(synctest.now() - time.monotonic()) < 1  # outside: the real clock


def test_timers_tickers_and_after() -> None:
    def body() -> list[tuple[str, float]]:
        trace: list[tuple[str, float]] = []
        t = gort.Timer(5)
        trace.append(("timer", t.c.recv() - E))
        t.reset(3)
        assert t.stop() is True  # stopped before it fired
        tk = gort.Ticker(2)
        for _ in range(3):
            trace.append(("tick", tk.c.recv() - E))
        tk.stop()
        trace.append(("after", gort.after(10).recv() - E))
        fired: gort.Chan[float] = gort.Chan(1)
        gort.after_func(1, lambda: fired.send(synctest.now() - E))
        trace.append(("after_func", fired.recv()))
        return trace

    assert synctest.run(body) == [("timer", 5), ("tick", 7), ("tick", 9), ("tick", 11),
                                  ("after", 21), ("after_func", 22)]


def test_timeouts_of_blocking_operations(world: str) -> None:
    def plain() -> list[float]:
        ch: gort.Chan[int] = gort.Chan()
        mu = gort.Mutex()
        sem = gort.Semaphore(0)
        wg = gort.WaitGroup()
        wg.add(1)
        out = []
        with pytest.raises(TimeoutError):
            ch.recv(timeout=5)
        out.append(synctest.now() - E)
        with pytest.raises(TimeoutError):
            gort.select(ch.recv_case(), ch.send_case(1), timeout=7)
        out.append(synctest.now() - E)
        assert sem.acquire(timeout=1) is False
        out.append(synctest.now() - E)
        assert wg.wait(timeout=2) is False
        out.append(synctest.now() - E)
        mu.lock()
        g = gort.go(mu.lock)
        assert g.join(timeout=4) is False
        mu.unlock()
        g.result(timeout=1)
        mu.unlock()
        out.append(synctest.now() - E)
        return out

    async def coro() -> list[float]:
        ch: gort.Chan[int] = gort.Chan()
        sem = gort.Semaphore(0)
        wg = gort.WaitGroup()
        wg.add(1)
        out = []
        with pytest.raises(TimeoutError):
            await ch.arecv(timeout=5)
        out.append(synctest.now() - E)
        with pytest.raises(TimeoutError):
            await gort.aselect(ch.recv_case(), ch.send_case(1), timeout=7)
        out.append(synctest.now() - E)
        assert await sem.aacquire(timeout=1) is False
        out.append(synctest.now() - E)
        assert await wg.await_(timeout=2) is False
        out.append(synctest.now() - E)

        async def sleeper() -> None:
            await gort.asleep(10)
        g = gort.go(sleeper)
        assert await g.ajoin(timeout=4) is False
        await g
        out.append(synctest.now() - E)
        return out

    got = synctest.run(plain if world == "plain" else coro)
    assert got == ([5, 12, 13, 15, 19] if world == "plain" else [5, 12, 13, 15, 25])


def _retry_program() -> list[tuple[float, str]]:
    """A 30-second context timeout, a ticker and retry-with-backoff: the issue's
    program.  Returns its trace of (fake time, event)."""
    trace: list[tuple[float, str]] = []
    lock = threading.Lock()

    def log(what: str) -> None:
        with lock:
            trace.append((synctest.now() - E, what))

    ctx, cancel = gort.with_timeout(gort.background(), 30)
    attempts: gort.Chan[int] = gort.Chan()

    def flaky_server() -> None:
        n = 0
        for _ in attempts:
            n += 1
            log(f"attempt {n}")

    def client() -> None:
        delay = 0.5
        while True:
            attempts.send(1)
            r = gort.select(ctx.done().recv_case(), gort.after(delay).recv_case())
            if r.index == 0:
                log("gave up: " + str(ctx.err()))
                attempts.close()
                return
            delay = min(delay * 2, 8)

    async def heartbeat() -> None:
        tk = gort.Ticker(10)
        while True:
            r = await gort.aselect(ctx.done().recv_case(), tk.c.recv_case())
            if r.index == 0:
                tk.stop()
                return
            log("heartbeat")

    gs = [gort.go(flaky_server), gort.go(client), gort.go(heartbeat)]
    for g in gs:
        g.result()
    cancel()
    return trace


def test_retry_with_backoff_is_fast_and_deterministic() -> None:
    t0 = time.monotonic()
    first = synctest.run(_retry_program)
    assert time.monotonic() - t0 < REAL
    assert first[-1] == (30, "gave up: context deadline exceeded")
    # Attempts at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 23.5 (the backoff caps at 8).
    assert [t for t, e in first if e.startswith("attempt")] == [0, 0.5, 1.5, 3.5, 7.5, 15.5,
                                                                  23.5]
    assert [t for t, e in first if e == "heartbeat"] == [10, 20]
    for _ in range(99):
        assert synctest.run(_retry_program) == first


def test_many_sleepers_wake_in_deadline_order_every_time() -> None:
    def body() -> list[int]:
        out: gort.Chan[int] = gort.Chan(100)

        def sleeper(i: int) -> None:
            gort.sleep((i * 7919) % 100 / 10)  # distinct deadlines, scrambled
            out.send(i)

        async def asleeper(i: int) -> None:
            await gort.asleep((i * 7919) % 100 / 10)
            await out.asend(i)

        for i in range(100):
            gort.go(sleeper if i % 2 else asleeper, i)
        return [out.recv() for _ in range(100)]

    want = sorted(range(100), key=lambda i: (i * 7919) % 100)
    for _ in range(20):
        assert synctest.run(body) == want


def test_wait_returns_once_the_others_are_durably_blocked(world: str) -> None:
    def plain() -> list[str]:
        ch: gort.Chan[int] = gort.Chan()
        seen: list[str] = []
        gort.go(lambda: seen.append(f"got {ch.recv()}"))
        synctest.wait()
        seen.append("blocked")
        ch.send(1)
        synctest.wait()  # the receiver has ended
        seen.append("after")
        return seen

    async def coro() -> list[str]:
        ch: gort.Chan[int] = gort.Chan()
        seen: list[str] = []

        async def rx() -> None:
            seen.append(f"got {await ch.arecv()}")
        gort.go(rx)
        await synctest.await_()
        seen.append("blocked")
        await ch.asend(1)
        await synctest.await_()
        seen.append("after")
        return seen

    for _ in range(20):
        assert synctest.run(plain if world == "plain" else coro) == ["blocked", "got 1", "after"]


def test_wait_does_not_move_the_clock() -> None:
    def body() -> tuple[float, float]:
        g = gort.go(gort.sleep, 5)
        synctest.wait()
        waited = synctest.now() - E
        g.join()
        return waited, synctest.now() - E

    assert synctest.run(body) == (0, 5)


def test_a_deadlock_in_the_bubble_is_reported(world: str) -> None:
    def plain() -> None:
        ch: gort.Chan[int] = gort.Chan()
        ch.recv()

    async def coro() -> None:
        ch: gort.Chan[int] = gort.Chan()
        mu = gort.Mutex()
        await mu.alock()

        async def stuck() -> None:
            await mu.alock()
        gort.go(stuck)
        await ch.arecv()

    with pytest.raises(gort.Deadlock, match="durably blocked and no timer is pending") as e:
        synctest.run(plain if world == "plain" else coro)
    assert ("chan receive" in str(e.value))
    if world == "coroutine":
        assert "stuck" in str(e.value)


def test_a_goroutine_that_outlives_fn_is_an_error() -> None:
    def body() -> int:
        ch: gort.Chan[int] = gort.Chan()

        async def forgotten() -> None:
            await ch.arecv()
        gort.go(forgotten)
        return 1

    with pytest.raises(synctest.BubbleError, match="still blocked after its function") as e:
        synctest.run(body)
    assert "forgotten" in str(e.value)


def test_goroutines_that_end_on_their_own_after_fn_are_fine() -> None:
    def body() -> int:
        ctx, cancel = gort.with_cancel(gort.background())
        for _ in range(4):
            gort.go(lambda: ctx.done().recv_ok())
        cancel()
        return 7  # the four end by themselves: not a leak

    assert synctest.run(body) == 7


def test_fn_exception_is_raised() -> None:
    def body() -> None:
        gort.sleep(3)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        synctest.run(body)


def test_a_real_wait_is_not_durable() -> None:
    """time.sleep and I/O are not durable: the clock does not move meanwhile."""
    def body() -> list[tuple[str, float]]:
        trace: list[tuple[str, float]] = []
        a, b = socket.socketpair()

        def real() -> None:
            time.sleep(0.05)
            trace.append(("real sleep done", synctest.now() - E))
            b.send(b"x")

        def io() -> None:
            gort.wait_readable(a)
            trace.append(("readable", synctest.now() - E))

        gs = [gort.go(real), gort.go(io)]
        gort.sleep(1)  # may fire only when the others are durably blocked (ended)
        trace.append(("fake sleep done", synctest.now() - E))
        for g in gs:
            g.result()
        a.close()
        b.close()
        return sorted(trace, key=lambda x: x[1])

    for _ in range(3):
        got = synctest.run(body)
        assert got[-1] == ("fake sleep done", 1.0)
        assert sorted(got[:2]) == [("readable", 0.0), ("real sleep done", 0.0)]


def test_a_bubble_channel_cannot_be_used_from_outside() -> None:
    ch: gort.Chan[int] = synctest.run(lambda: gort.Chan(4))
    for op in (lambda: ch.send(1), lambda: ch.try_send(1), lambda: ch.try_recv(),
               lambda: ch.recv(timeout=0.01), ch.close,
               lambda: gort.select(ch.recv_case(), default=True)):
        with pytest.raises(synctest.BubbleError, match="used from outside"):
            op()
    # Channels made outside work inside and out (not durable inside).
    out: gort.Chan[int] = gort.Chan(1)
    synctest.run(out.send, 5)
    assert out.recv() == 5


def test_nesting_and_wait_outside_a_bubble_are_errors() -> None:
    with pytest.raises(synctest.BubbleError, match="inside a synctest bubble"):
        synctest.run(synctest.run, lambda: None)
    with pytest.raises(synctest.BubbleError, match="outside a synctest bubble"):
        synctest.wait()
    with pytest.raises(synctest.BubbleError, match="outside a synctest bubble"):
        gort.go(synctest.wait).result(10)


def test_context_deadlines_and_causes_on_the_fake_clock() -> None:
    def body() -> list[Any]:
        parent, cancel_parent = gort.with_timeout(gort.background(), 60)
        child, cancel = gort.with_timeout_cause(parent, 20, LookupError("slow"))
        out: list[Any] = [parent.deadline() - E, child.deadline() - E]  # type: ignore[operator]
        child.done().recv_ok()
        out += [synctest.now() - E, type(gort.cause(child)).__name__]
        parent.done().recv_ok()
        out += [synctest.now() - E, type(parent.err()).__name__]
        cancel()
        cancel_parent()
        return out

    assert synctest.run(body) == [60, 20, 20, "LookupError", 60, "DeadlineExceeded"]


def test_other_goroutines_keep_the_real_clock() -> None:
    """While a bubble waits (not durably) on a channel made outside, a goroutine
    outside the bubble sleeps on the real clock and ends the bubble's wait."""
    ch: gort.Chan[float] = gort.Chan()

    def outside() -> None:
        t = time.monotonic()
        gort.sleep(0.02)
        ch.send(time.monotonic() - t)

    g = gort.go(outside)
    assert synctest.run(ch.recv) >= 0.02
    g.result(10)


def test_decorator_runs_in_a_bubble() -> None:
    @synctest.test
    def body(x: int) -> float:
        gort.sleep(x)
        return synctest.now() - E

    assert body(42) == 42


@pytest.mark.gort_synctest
def test_marker_runs_a_plain_test_in_a_bubble() -> None:
    assert synctest.now() == E
    gort.sleep(3600)
    assert synctest.now() == E + 3600


@pytest.mark.gort_synctest
async def test_marker_runs_an_async_test_in_a_bubble() -> None:
    assert synctest.now() == E
    await gort.asleep(86400)
    assert synctest.now() == E + 86400


def test_a_ticker_nobody_reads_is_a_deadlock_not_a_hang(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synctest, "_IDLE_FIRINGS", 1000)  # (100,000 by default)

    def body() -> None:
        tk = gort.Ticker(1)
        gort.Chan[int]().recv()  # blocked for ever, the ticker ticking into a full channel
        tk.stop()

    with pytest.raises(gort.Deadlock, match="timer firings woke none of them"):
        synctest.run(body)


def test_a_ticker_nobody_reads_does_not_hide_a_later_timer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synctest, "_IDLE_FIRINGS", 1000)  # (100,000 by default)

    def body() -> float:
        tk = gort.Ticker(0.001)
        gort.sleep(5)  # 5,000 ticks first, none of them read: five times the limit
        tk.stop()
        return synctest.now() - E

    assert synctest.run(body) == 5


# Found in review: waits that are durable or not by where their object was made.

def test_joining_a_goroutine_from_outside_the_bubble_is_not_durable() -> None:
    release: gort.Chan[None] = gort.Chan()
    outside = gort.go(release.recv_ok)  # blocked until the bubble's caller lets it go

    def body() -> bool:
        joined = gort.go(outside.join)  # not durable: the clock must not move for it
        gort.sleep(1)
        return joined.result()

    # Without the outside goroutine ending the bubble can only wait (no Deadlock).
    def let_go() -> None:
        deadline = time.monotonic() + 10
        while (outside._joiners is None or not outside._joiners.live()) \
                and time.monotonic() < deadline:
            time.sleep(0.001)  # polling only: the order comes from the joiner count
        release.close()

    t = threading.Thread(target=let_go)
    t.start()
    assert synctest.run(body) is True
    t.join()


def test_a_coroutine_waiting_on_a_mutex_from_outside_is_not_durable() -> None:
    mu = gort.Mutex()
    mu.lock()

    async def body() -> str:
        await mu.alock()  # released by the outside thread once we wait
        mu.unlock()
        return "ok"

    def release() -> None:
        deadline = time.monotonic() + 10
        while mu.statistics().waiters == 0 and time.monotonic() < deadline:
            time.sleep(0.001)  # polling only: the order comes from the waiter count
        mu.unlock()

    t = threading.Thread(target=release)
    t.start()
    assert synctest.run(body) == "ok"
    t.join()


def test_a_coroutine_waiting_on_a_bubble_mutex_is_durable() -> None:
    async def body() -> float:
        mu = gort.Mutex()
        await mu.alock()

        async def later() -> None:
            await gort.asleep(3)
            mu.unlock()
        gort.go(later)
        await mu.alock()  # durable: the clock moves to the sleeper's wake-up
        mu.unlock()
        return synctest.now() - E

    assert synctest.run(body) == 3


def test_background_done_in_a_select_is_durable(world: str) -> None:
    def plain() -> tuple[int, float]:
        r = gort.select(gort.background().done().recv_case(), gort.after(1).recv_case())
        return r.index, synctest.now() - E

    async def coro() -> tuple[int, float]:
        r = await gort.aselect(gort.background().done().recv_case(), gort.after(1).recv_case())
        return r.index, synctest.now() - E

    assert synctest.run(plain if world == "plain" else coro) == (1, 1)


def test_an_io_timeout_in_a_bubble_is_on_the_real_clock(world: str) -> None:
    ln = gort.net.listen("127.0.0.1", 0)

    def plain() -> str:
        c = gort.net.dial(*ln.addr)
        with c, ln.accept() as s:
            with pytest.raises(TimeoutError):
                s.recv(10, timeout=0.05)  # nobody sends
            return "timed out"

    async def coro() -> str:
        c = await gort.net.adial(*ln.addr)
        with c, await ln.aaccept() as s:
            with pytest.raises(TimeoutError):
                await s.arecv(10, timeout=0.05)
            return "timed out"

    try:
        assert synctest.run(plain if world == "plain" else coro) == "timed out"
    finally:
        ln.close()


def test_many_stopped_timers_leave_no_heap_behind(world: str) -> None:
    def plain() -> tuple[int, int]:
        ch: gort.Chan[int] = gort.Chan()
        for i in range(1000):
            gort.Timer(3600).stop()  # armed in the bubble's heap, then cancelled
            g = gort.go(ch.send, i)
            assert ch.recv(timeout=3600) == i  # maybe a timed park: armed, cancelled
            g.join()
        b = _runtime.current_bubble()
        return len(b.heap), b.cancelled

    async def coro() -> tuple[int, int]:
        for _ in range(1000):
            gort.Timer(3600).stop()
            await gort.asleep(0.001)  # fired, not cancelled
        b = _runtime.current_bubble()
        return len(b.heap), b.cancelled

    heap, cancelled = synctest.run(plain if world == "plain" else coro)
    assert heap < 200 and 0 <= cancelled <= heap


def test_the_clock_resolves_nanoseconds() -> None:
    def body() -> float:
        for _ in range(1000):
            gort.sleep(5e-8)
        return synctest.now() - E

    assert synctest.run(body) == pytest.approx(5e-5, rel=1e-6)
