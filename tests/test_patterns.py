"""gort.patterns: generate, merge, fan_out, worker_pool, stage, Broadcaster, Server.

Every test accounts for each value exactly (nothing lost, nothing duplicated)
and ends with a leak check: the goroutines a helper started must all end once
its input is closed or its context cancelled.
"""

from __future__ import annotations

import collections
import gc
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

import gort
from gort import Chan, ChanClosed, GState, atomic
from gort.patterns import (
    Broadcaster,
    Failed,
    Server,
    fan_out,
    generate,
    merge,
    stage,
    worker_pool,
)
from gort.testing import verify_none
from tests.helpers import Peak, run_python, wait_until

JOIN = 10.0


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if goroutines it started are still alive 10 s after it ends."""
    before = gort._runtime.live_goroutines()
    yield
    verify_none(timeout=10, before=before)


def collect(c: gort.RecvChan[Any], timeout: float = JOIN) -> list[Any]:
    """Every value of c until it is closed (each receive bounded)."""
    out = []
    while True:
        v, ok = c.recv_ok(timeout=timeout)
        if not ok:
            return out
        out.append(v)


def collect_in_goroutine(c: gort.RecvChan[Any]) -> gort.Goroutine[list[Any]]:
    return gort.go(collect, c)


# --------------------------------------------------------------------------- generate

def test_generate(no_leaks: None) -> None:
    assert collect(generate(range(1000))) == list(range(1000))
    c = generate(iter("abc"), cap=5)
    assert c.cap == 5
    assert collect(c) == ["a", "b", "c"]
    assert collect(generate([])) == []


def test_generate_stops_on_cancel(no_leaks: None) -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    c = generate(itertools.count(), ctx=ctx)
    assert [c.recv(timeout=JOIN) for _ in range(10)] == list(range(10))
    cancel()
    # closed soon: with a receiver waiting, each select may still pick the send
    # (Go's random choice), but never for long, and never out of order
    rest = collect(c)
    assert rest == list(range(10, 10 + len(rest)))


def test_generate_many_concurrent_readers_get_each_value_once(no_leaks: None) -> None:
    c = generate(range(8_000), cap=8)
    gs = [collect_in_goroutine(c) for _ in range(4)]
    got = [v for g in gs for v in g.result(timeout=60)]
    assert sorted(got) == list(range(8_000))


# --------------------------------------------------------------------------- merge

def test_merge_fans_in_every_value(no_leaks: None) -> None:
    srcs = [generate(range(k * 10_000, k * 10_000 + 1_000)) for k in range(4)]
    merged = merge(*srcs, cap=4)
    got = collect(merged, timeout=60)
    assert len(got) == 4_000
    assert collections.Counter(got) == collections.Counter(
        v for k in range(4) for v in range(k * 10_000, k * 10_000 + 1_000))
    # each source's order survives the merge
    for k in range(4):
        mine = [v for v in got if k * 10_000 <= v < (k + 1) * 10_000]
        assert mine == sorted(mine)


def test_merge_of_nothing_is_closed(no_leaks: None) -> None:
    assert collect(merge()) == []


def test_merge_closes_only_when_every_input_is_closed(no_leaks: None) -> None:
    a: Chan[int] = Chan()
    b: Chan[int] = Chan()
    merged = merge(a, b)
    a.send(1, timeout=JOIN)
    assert merged.recv(timeout=JOIN) == 1
    a.close()
    with pytest.raises(TimeoutError):
        merged.recv(timeout=0.05)  # b is still open
    b.send(2, timeout=JOIN)
    assert merged.recv(timeout=JOIN) == 2
    b.close()
    assert merged.recv_ok(timeout=JOIN) == (None, False)


def test_merge_stops_on_cancel_with_busy_inputs(no_leaks: None) -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    srcs = [generate(zip(itertools.repeat(k), itertools.count()), ctx=ctx) for k in range(3)]
    merged = merge(*srcs, ctx=ctx)
    got = [merged.recv(timeout=JOIN) for _ in range(30)]
    assert len(got) == 30
    cancel()
    rest = collect(merged)  # closed soon after (random select may pass a few more)
    assert len(set(got + rest)) == len(got + rest)


def test_merge_stops_on_cancel_with_idle_inputs(no_leaks: None) -> None:
    # Regression: merge's forwarders once blocked in ``for v in c``, looking at
    # ctx only when sending, so a cancelled merge over an idle, open input never
    # closed its output and its goroutines leaked.
    idle: Chan[int] = Chan()
    ctx, cancel = gort.with_cancel(gort.background())
    merged = merge(idle, ctx=ctx)
    cancel()
    try:
        assert merged.recv_ok(timeout=2) == (None, False)
    finally:
        idle.close()  # let the leaked goroutines go, whatever happened


# --------------------------------------------------------------------------- fan_out

def test_fan_out_gives_each_value_to_exactly_one(no_leaks: None) -> None:
    outs = fan_out(generate(range(5_000)), 4, cap=2)
    assert len(outs) == 4
    gs = [collect_in_goroutine(o) for o in outs]
    parts = [g.result(timeout=60) for g in gs]
    got = [v for p in parts for v in p]
    assert sorted(got) == list(range(5_000))  # none lost, none twice
    for p in parts:
        assert p == sorted(p)


def test_fan_out_a_slow_consumer_does_not_hold_the_others(no_leaks: None) -> None:
    src: Chan[int] = Chan()
    fast, slow = fan_out(src.recv_only(), 2)
    def feed() -> None:
        for i in range(100):
            src.send(i)
        src.close()

    feeder = gort.go(feed)
    got = [fast.recv(timeout=JOIN) for _ in range(100)]  # slow never receives
    assert got == list(range(100))
    feeder.result(timeout=JOIN)
    assert collect(slow) == []
    assert collect(fast) == []


def test_fan_out_validates_n() -> None:
    with pytest.raises(ValueError, match="fan_out needs n >= 1, got 0"):
        fan_out(Chan[int]().recv_only(), 0)


# --------------------------------------------------------------------------- worker_pool

def test_worker_pool_maps_every_job(no_leaks: None) -> None:
    peak = Peak()

    def square(x: int) -> int:
        peak.enter()
        gort.gosched()
        peak.leave()
        return x * x

    results = worker_pool(square, generate(range(2_000)), workers=4, cap=8)
    got = collect(results, timeout=60)
    assert sorted(got) == [x * x for x in range(2_000)]
    assert 1 <= peak.peak.load() <= 4


def test_worker_pool_delivers_failures_as_results(no_leaks: None) -> None:
    def inv(x: int) -> float:
        if x % 10 == 0:
            raise ZeroDivisionError(f"job {x}")
        return 1 / x

    got = collect(worker_pool(inv, generate(range(1_000)), workers=3), timeout=60)
    assert len(got) == 1_000
    failed = [r for r in got if isinstance(r, Failed)]
    ok = [r for r in got if not isinstance(r, Failed)]
    assert sorted(f.job for f in failed) == list(range(0, 1_000, 10))
    assert all(isinstance(f.error, ZeroDivisionError) for f in failed)
    assert all(str(f.error) == f"job {f.job}" for f in failed)
    assert sorted(ok) == sorted(1 / x for x in range(1_000) if x % 10)


def test_worker_pool_stops_on_cancel(no_leaks: None) -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    jobs: Chan[int] = Chan()  # stays open: only ctx stops the pool
    results = worker_pool(lambda x: x + 1, jobs.recv_only(), workers=4, ctx=ctx)
    for i in range(10):
        jobs.send(i, timeout=JOIN)
        assert results.recv(timeout=JOIN) == i + 1
    cancel()
    assert collect(results) == []


def test_worker_pool_cancel_with_unread_results(no_leaks: None) -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    results = worker_pool(lambda x: x, generate(itertools.count(), ctx=ctx), workers=3, ctx=ctx)
    first = results.recv(timeout=JOIN)
    cancel()  # workers blocked sending results give up
    rest = collect(results)
    assert len(set([first, *rest])) == 1 + len(rest)


def test_worker_pool_validates_workers() -> None:
    with pytest.raises(ValueError, match="worker_pool needs workers >= 1, got 0"):
        worker_pool(str, Chan[int]().recv_only(), 0)


# --------------------------------------------------------------------------- stage

def test_stage_pipeline_in_order(no_leaks: None) -> None:
    src = generate(range(1_500))
    sq = stage(lambda x: x * x, src)
    plus = stage(lambda x: x + 1, sq, cap=16)
    text = stage(str, plus)
    assert collect(text, timeout=60) == [str(x * x + 1) for x in range(1_500)]


def test_stage_pipelines_run_in_parallel(no_leaks: None) -> None:
    pipes = [stage(lambda x: -x, stage(lambda x: x * 2, generate(range(k, 2_000, 4))))
             for k in range(4)]
    got = [v for vs in (collect_in_goroutine(p).result(timeout=60) for p in pipes) for v in vs]
    assert sorted(got) == sorted(-2 * x for x in range(2_000))


def test_stage_stops_on_cancel_with_a_busy_source(no_leaks: None) -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    out = stage(lambda x: x, generate(itertools.count(), ctx=ctx), ctx=ctx)
    assert [out.recv(timeout=JOIN) for _ in range(5)] == list(range(5))
    cancel()
    rest = collect(out)
    assert rest == list(range(5, 5 + len(rest)))


def test_stage_stops_on_cancel_with_an_idle_source(no_leaks: None) -> None:
    # Regression: like merge, stage once blocked in ``for v in src`` and leaked
    # its goroutine when cancelled over an idle, open source.
    idle: Chan[int] = Chan()
    ctx, cancel = gort.with_cancel(gort.background())
    out = stage(str, idle, ctx=ctx)
    cancel()
    try:
        assert out.recv_ok(timeout=2) == (None, False)
    finally:
        idle.close()


def test_stage_exception_closes_the_output(no_leaks: None,
                                          hook_calls: list[gort.ExceptHookArgs]) -> None:
    src = generate([1, 2, 0, 4])
    out = stage(lambda x: 10 // x, src)
    # the stage's goroutine raises at 0: its output is closed (finally), and
    # the exception is the goroutine's, reported through gort.excepthook
    assert collect(out) == [10, 5]
    def reported() -> bool:
        gc.collect()  # the failed goroutine's handle sits in a cycle with its traceback
        return len(hook_calls) == 1

    wait_until(reported, JOIN, "the exception reported")
    assert hook_calls[0].exc_type is ZeroDivisionError
    assert hook_calls[0].goroutine is not None
    assert hook_calls[0].goroutine.name == "stage.<locals>.run"
    assert collect(src) == [4]  # the producer was blocked on its next send


# --------------------------------------------------------------------------- Broadcaster

def test_broadcast_to_subscribers_that_keep_up(no_leaks: None) -> None:
    b: Broadcaster[int] = Broadcaster()
    subs = [b.subscribe(cap=0, policy="block", timeout=None) for _ in range(4)]
    gs = [collect_in_goroutine(s.c) for s in subs]
    n = 2_000
    delivered = sum(b.publish(i) for i in range(n))
    assert delivered == 4 * n
    b.close()
    for g in gs:
        assert g.result(timeout=60) == list(range(n))
    assert all(s.dropped == 0 for s in subs)
    assert "closed=True" in repr(b)


def test_drop_newest_policy(no_leaks: None) -> None:
    b: Broadcaster[int] = Broadcaster()
    s = b.subscribe(cap=2, policy="drop_newest")
    assert [b.publish(i) for i in range(5)] == [1, 1, 0, 0, 0]
    assert s.dropped == 3
    b.close()
    assert collect(s.c) == [0, 1]
    assert "drop_newest" in repr(s)


def test_drop_oldest_policy_keeps_the_newest(no_leaks: None) -> None:
    b: Broadcaster[int] = Broadcaster()
    s = b.subscribe(cap=2, policy="drop_oldest")
    assert [b.publish(i) for i in range(5)] == [1, 1, 1, 1, 1]
    b.close()
    assert collect(s.c) == [3, 4]


def test_drop_oldest_counts_the_values_it_drops(no_leaks: None) -> None:
    # Regression: evictions were once not counted (dropped stayed 0 here).
    b: Broadcaster[int] = Broadcaster()
    s = b.subscribe(cap=2, policy="drop_oldest")
    for i in range(5):
        b.publish(i)
    assert s.dropped == 3


def test_block_policy_with_a_timeout_drops_for_a_stuck_subscriber(no_leaks: None) -> None:
    b: Broadcaster[int] = Broadcaster()
    stuck = b.subscribe(cap=1, policy="block", timeout=0.02)
    fast = b.subscribe(cap=0, policy="block", timeout=None)
    g = collect_in_goroutine(fast.c)
    results = [b.publish(i) for i in range(6)]
    # the stuck one takes the first value into its buffer, then each publish
    # waits 0.02 s for it and gives up: the others still get every value
    assert results == [2, 1, 1, 1, 1, 1]
    assert stuck.dropped == 5
    assert fast.dropped == 0
    b.close()
    assert g.result(timeout=JOIN) == list(range(6))
    assert collect(stuck.c) == [0]


def slow_reader(s: Any, stop: Chan[None]) -> list[Any]:
    """Receive from a subscription slowly until ``stop`` closes, then drain it."""
    out = []
    while True:
        r = gort.select(s.c.recv_case(), stop.recv_case())
        if r.index == 1:
            return out + collect(s.c)
        if not r.ok:
            return out
        out.append(r.value)
        for _ in range(50):
            gort.gosched()


def check_order(got: list[tuple[int, int]], npub: int) -> None:
    assert len(set(got)) == len(got)  # no duplicates
    for p in range(npub):  # each publisher's values in publish order
        mine = [i for q, i in got if q == p]
        assert mine == sorted(mine)


def test_a_slow_subscriber_never_blocks_the_others(no_leaks: None) -> None:
    """Every policy at once, exact accounting (one publisher: see the next tests)."""
    b: Broadcaster[tuple[int, int]] = Broadcaster()
    keepers = [b.subscribe(cap=4, policy="block", timeout=None) for _ in range(2)]
    newest = b.subscribe(cap=4, policy="drop_newest")
    oldest = b.subscribe(cap=4, policy="drop_oldest")
    stuck = b.subscribe(cap=2, policy="block", timeout=0.001)  # never reads until the end
    keeper_gs = [collect_in_goroutine(s.c) for s in keepers]
    stop: Chan[None] = Chan()
    newest_g = gort.go(slow_reader, newest, stop)
    oldest_g = gort.go(slow_reader, oldest, stop)
    total = 600

    def publisher() -> int:
        return sum(b.publish((0, i)) for i in range(total))

    delivered = gort.go(publisher).result(timeout=60)
    stop.close()
    b.close()
    for g in keeper_gs:
        assert g.result(timeout=JOIN) == [(0, i) for i in range(total)]
    assert all(s.dropped == 0 for s in keepers)
    new_got = newest_g.result(timeout=JOIN)
    old_got = oldest_g.result(timeout=JOIN)
    stuck_got = collect(stuck.c)
    assert len(new_got) + newest.dropped == total
    assert len(stuck_got) + stuck.dropped == total
    assert stuck_got == [(0, 0), (0, 1)]
    assert len(old_got) + oldest.dropped == total
    assert old_got[-4:] == [(0, i) for i in range(total - 4, total)] or \
        old_got[-1] == (0, total - 1)  # drop_oldest always keeps the newest
    for got in (new_got, old_got, stuck_got):
        check_order(got, 1)
    # what publish() reported delivered is exactly what the subscribers can receive
    # (drop_oldest reports its value delivered, and evicts an older one instead)
    assert delivered == 2 * total + len(new_got) + len(stuck_got) + total


def test_concurrent_publishers_with_dropping_subscribers(no_leaks: None) -> None:
    b: Broadcaster[tuple[int, int]] = Broadcaster()
    newest = b.subscribe(cap=8, policy="drop_newest")
    oldest = b.subscribe(cap=8, policy="drop_oldest")
    roomy = b.subscribe(cap=4_000, policy="drop_newest")  # room for everything
    stop: Chan[None] = Chan()
    newest_g = gort.go(slow_reader, newest, stop)
    oldest_g = gort.go(slow_reader, oldest, stop)
    npub, per = 4, 500
    delivered = atomic.Int64()

    def publisher(p: int) -> None:
        for i in range(per):
            delivered.add(b.publish((p, i)))

    for g in [gort.go(publisher, p) for p in range(npub)]:
        g.result(timeout=60)
    stop.close()
    b.close()
    total = npub * per
    roomy_got = collect(roomy.c)
    assert sorted(roomy_got) == sorted((p, i) for p in range(npub) for i in range(per))
    assert roomy.dropped == 0
    new_got = newest_g.result(timeout=JOIN)
    old_got = oldest_g.result(timeout=JOIN)
    assert len(new_got) + newest.dropped == total
    assert len(old_got) + oldest.dropped == total
    for got in (roomy_got, new_got, old_got):
        check_order(got, npub)
    assert delivered.load() == total + len(new_got) + total


def test_concurrent_publishers_with_a_blocking_subscriber_do_not_deadlock() -> None:
    # Regression: publish once serialized publishers with a threading.Lock held
    # while a "block" subscriber's send parked; a second publisher goroutine then
    # blocked on it *holding its processor*, and once every P was held that way
    # the reader could never run: the whole runtime wedged.  In a subprocess,
    # because that would wedge the scheduler of the process it happens in.
    r = run_python("""
        import gort
        from gort.patterns import Broadcaster
        gort.set_max_procs(1)
        b = Broadcaster()
        s = b.subscribe(cap=0, policy="block", timeout=None)
        reader = gort.go(lambda: sum(1 for _ in s.c))
        def publish_100():
            for i in range(100):
                b.publish(i)
        pubs = [gort.go(publish_100) for _ in range(2)]
        if all(p.join(timeout=2) for p in pubs):
            b.close()
            print("received", reader.result(timeout=3))
        else:
            print("stuck")
    """)
    assert r.stdout.strip() == "received 200", r.stdout + r.stderr


def test_unsubscribe(no_leaks: None) -> None:
    b: Broadcaster[int] = Broadcaster()
    a = b.subscribe()
    c = b.subscribe()
    assert b.publish(1) == 2
    b.unsubscribe(a)
    assert collect(a.c) == [1]  # its channel is closed after what it had
    assert b.publish(2) == 1
    b.unsubscribe(a)  # twice: a no-op
    assert "subscribers=1" in repr(b)
    b.close()
    assert collect(c.c) == [1, 2]


def test_unsubscribe_releases_a_blocked_publisher(no_leaks: None) -> None:
    b: Broadcaster[int] = Broadcaster()
    s = b.subscribe(cap=0, policy="block", timeout=None)
    pub = gort.go(b.publish, 1)
    wait_until(lambda: pub.state is GState.PARKED, JOIN, "publish blocked")
    b.unsubscribe(s)
    assert pub.result(timeout=JOIN) == 0
    assert s.dropped == 1
    b.close()


def test_close(no_leaks: None) -> None:
    b: Broadcaster[int] = Broadcaster()
    subs = [b.subscribe(policy=p) for p in ("block", "drop_newest", "drop_oldest")]
    b.publish(7)
    b.close()
    b.close()  # idempotent
    for s in subs:
        assert collect(s.c) == [7]
    with pytest.raises(ChanClosed, match="publish on closed Broadcaster"):
        b.publish(8)
    with pytest.raises(ChanClosed, match="subscribe to closed Broadcaster"):
        b.subscribe()


def test_subscribe_validation() -> None:
    b: Broadcaster[int] = Broadcaster()
    with pytest.raises(ValueError, match="unknown policy 'lifo'"):
        b.subscribe(policy="lifo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a dropping subscription needs cap >= 1"):
        b.subscribe(cap=0, policy="drop_newest")
    with pytest.raises(ValueError, match="needs cap >= 1"):
        b.subscribe(cap=0, policy="drop_oldest")
    b.subscribe(cap=0, policy="block")  # unbuffered is fine when blocking


def test_broadcast_to_coroutine_subscribers(no_leaks: None) -> None:
    b: Broadcaster[int] = Broadcaster()
    subs = [b.subscribe(cap=0, policy="block", timeout=None) for _ in range(3)]
    never: Chan[None] = Chan()

    async def reader(s: Any) -> list[int]:
        out = []
        while True:
            r = await gort.aselect(s.c.recv_case(), never.recv_case())
            if not r.ok:
                return out
            out.append(r.value)

    gs = [gort.go(reader, s) for s in subs]
    for i in range(500):
        assert b.publish(i) == 3
    b.close()
    for g in gs:
        assert g.result(timeout=JOIN) == list(range(500))


# --------------------------------------------------------------------------- Server

def test_server_serves_until_jobs_close(no_leaks: None) -> None:
    jobs: Chan[int] = Chan(4)
    total = atomic.Int64()
    srv = Server(lambda j: total.add(j), jobs.recv_only(), workers=3)
    for i in range(1_000):
        jobs.send(i, timeout=JOIN)
    jobs.close()
    assert srv.wait(timeout=JOIN) is True
    assert srv.handled == 1_000
    assert total.load() == sum(range(1_000))
    assert srv.ctx.err() is None  # stopped by its input, not cancelled


def test_server_graceful_shutdown_finishes_jobs_in_hand(no_leaks: None) -> None:
    jobs: Chan[int] = Chan()
    started: Chan[int] = Chan(10)
    gate: Chan[None] = Chan()
    finished = atomic.Int64()

    def handle(j: int) -> None:
        started.send(j)
        gate.recv_ok()  # a slow job
        finished.add(1)

    srv = Server(handle, jobs.recv_only(), workers=3)
    for i in range(3):
        jobs.send(i, timeout=JOIN)
    in_hand = sorted(started.recv(timeout=JOIN) for _ in range(3))
    assert in_hand == [0, 1, 2]
    assert srv.shutdown(timeout=0.05) is False  # the jobs in hand are still running
    assert srv.ctx.err() is not None
    # no worker takes a new job once shutting down
    assert jobs.try_send(99) is False
    gate.close()
    assert srv.shutdown(timeout=JOIN) is True
    assert finished.load() == 3
    assert srv.handled == 3
    assert started.try_recv() == (None, False)


def test_server_stops_with_its_parent_context(no_leaks: None) -> None:
    parent, cancel = gort.with_cancel(gort.background())
    jobs: Chan[int] = Chan()
    srv = Server(lambda j: None, jobs.recv_only(), workers=2, ctx=parent)
    jobs.send(1, timeout=JOIN)
    cancel()
    assert srv.wait(timeout=JOIN) is True
    assert srv.handled == 1


def test_server_takes_no_new_job_once_cancelled(no_leaks: None) -> None:
    # Regression: a worker once chose with ``select(done, jobs)`` alone, and
    # with both ready select picks at random, so after a cancel a worker took
    # another queued job half of the time (and again...).
    handled = []
    for _ in range(10):  # a fair select passes this with probability 2**-10
        jobs: Chan[int] = Chan(50)
        for i in range(50):
            jobs.send(i)
        started: Chan[int] = Chan(1)
        gate: Chan[None] = Chan()

        def handle(j: int, started: Chan[int] = started, gate: Chan[None] = gate) -> None:
            if j == 0:
                started.send(j)
                gate.recv_ok()

        srv = Server(handle, jobs.recv_only(), workers=1)
        assert started.recv(timeout=JOIN) == 0
        srv._cancel()  # shutdown's first step, then let the job in hand finish
        gate.close()
        assert srv.wait(timeout=JOIN) is True
        handled.append(srv.handled)
    assert handled == [1] * 10


def test_patterns_without_a_context_never_queue_on_a_done_channel() -> None:
    # Go's Background().Done() is a nil channel: a select on it costs nothing.
    # A pipeline without ctx must not enqueue waiters on background's channel
    # (that one channel would be shared, and locked, by every such pipeline).
    from gort._context import _done_case
    bg = gort.background()
    assert _done_case(None) is None
    assert _done_case(bg) is None
    assert _done_case(gort.with_value(bg, "k", 1)) is None
    ctx, cancel = gort.with_cancel(bg)
    case = _done_case(gort.with_value(ctx, "k", 1))
    assert case is not None and case.chan is ctx.done().recv_case().chan
    cancel()
    bg_chan = bg.done().recv_case().chan
    before = bg_chan.statistics().receivers_waiting  # 0 unless an earlier test leaked
    src: Chan[int] = Chan()
    out = gort.patterns.worker_pool(lambda v: v + 1, gort.patterns.stage(lambda v: v * 2, src), 3)
    # The stage and 3 workers are blocked in their receive, and not on background.
    wait_until(lambda: src.statistics().receivers_waiting == 1, 10.0, "stage waiting")
    assert bg_chan.statistics().receivers_waiting == before
    total = gort.go(lambda: sum(out))
    for v in range(100):
        src.send(v)
    src.close()
    assert total.result(timeout=JOIN) == 2 * 99 * 50 + 100


def test_patterns_honour_a_users_own_context() -> None:
    # Only background (and values over it) count as never done; a Context
    # subclass of the user's own, or a duck-typed one, is selected on.
    done: Chan[None] = Chan()

    class Mine(gort.Context):
        def done(self) -> gort.RecvChan[None]:
            return done.recv_only()

    class Duck:
        def done(self) -> gort.RecvChan[None]:
            return done.recv_only()

    for ctx in (Mine(), Duck()):
        src: Chan[int] = Chan()
        out = gort.patterns.stage(lambda v: v, src, ctx=ctx)  # type: ignore[arg-type]
        wait_until(lambda: done.statistics().receivers_waiting == 1, JOIN, "stage selecting")
        assert src.statistics().receivers_waiting == 1
        if isinstance(ctx, Duck):
            done.close()
        else:
            done.send(None)  # wakes the stage's select on done: it stops
        assert out.recv_ok(timeout=JOIN) == (None, False)
