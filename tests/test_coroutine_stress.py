"""Stress tests for coroutine goroutines, meaningful with the GIL off.

Values ``(producer, seq)`` move between four kinds of worker, the worlds of
``tests/worlds.py``: coroutine goroutines, plain goroutines, plain threads and
asyncio tasks (each ``asyncio.run`` on a thread of its own).  Each worker body
is written once, as an ``async def`` over its world: in a coroutine goroutine
or an asyncio task it awaits the coroutine forms (``asend``, ``arecv_ok``,
``async for``, ``aselect``), elsewhere it calls the blocking forms, so every
pairing of waker and waiter is exercised.  Each
test checks the exact multiset that arrived: every value a send reported as
delivered is received exactly once and nothing else is.  Workers are joined
with timeouts, so a lost wake-up fails fast instead of hanging; nothing is
ordered by sleeping.

aselect is stressed without timeouts only: an aselect timeout can fire before
its goroutine has parked (see test_coroutines.py::
test_aselect_timeout_firing_before_the_goroutine_parks), which would make a
timeout race here flaky rather than show anything new.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gort
from gort import Chan, ChanClosed
from gort.atomic import Int64
from tests.helpers import run_concurrently, wait_recv_waiting, wait_send_waiting, wait_until
from tests.worlds import (
    CoroutineWorld,
    GoroutineWorld,
    Handle,
    LoopPerBodyWorld,
    ThreadWorld,
    World,
)

pytestmark = [pytest.mark.stress, pytest.mark.timeout(120)]

JOIN = 30.0

Kind = Literal["coroutine", "goroutine", "thread", "asyncio"]
Item = tuple[int, int]  # (producer id, sequence number): unique per value

ALL: list[Kind] = ["coroutine", "goroutine", "thread", "asyncio"]

STRESS = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


WORLDS: dict[Kind, World] = {
    "coroutine": CoroutineWorld(), "goroutine": GoroutineWorld(), "thread": ThreadWorld(),
    "asyncio": LoopPerBodyWorld(),
}  # stateless: one of each serves every test


class Worker:
    """One worker of the given kind running ``body(world, *args)`` in its world."""

    def __init__(self, kind: Kind, body: Callable[..., Any], *args: Any) -> None:
        self.kind = kind
        w = WORLDS[kind]
        self._h: Handle = w.go(body, w, *args)

    def result(self, timeout: float = JOIN) -> Any:
        return self._h.result(timeout)


def spawn(kinds: Sequence[Kind], body: Callable[..., Any],
          args: Iterable[tuple[Any, ...]]) -> list[Worker]:
    return [Worker(kinds[i % len(kinds)], body, *a) for i, a in enumerate(args)]


def results(workers: Iterable[Worker]) -> list[Any]:
    return [w.result() for w in workers]


def assert_exactly_once(received: Iterable[Item], expected: Iterable[Item]) -> None:
    got = Counter(received)
    want = Counter(expected)
    dupes = {v: n for v, n in got.items() if n > 1}
    assert not dupes, f"received more than once: {sorted(dupes)[:10]}"
    assert got == want, (f"missing {sorted(want - got)[:10]}, "
                         f"unexpected {sorted(got - want)[:10]}")


def assert_per_producer_order(batches: Iterable[list[Item]]) -> None:
    """One consumer sees each producer's values in the order they were sent."""
    for batch in batches:
        last: dict[int, int] = {}
        for p, i in batch:
            assert i > last.get(p, -1), f"producer {p}: {i} after {last[p]}"
            last[p] = i


def assert_idle(*chans: Chan[Any]) -> None:
    for ch in chans:
        s = ch.statistics()
        assert (s.len, s.senders_waiting, s.receivers_waiting) == (0, 0, 0), s


# --------------------------------------------------------------------------- workers

async def produce(w: World, ch: Chan[Item], pid: int, k: int) -> None:
    for i in range(k):
        await w.send(ch, (pid, i))


async def consume(w: World, ch: Chan[Item]) -> list[Item]:
    return [v async for v in w.iter(ch)]


async def consume_ok(w: World, ch: Chan[Item]) -> list[Item]:
    got: list[Item] = []
    while True:
        v, ok = await w.recv_ok(ch)
        if not ok:
            return got
        got.append(v)


def kinds_for(mode: str, offset: int = 0) -> list[Kind]:
    if mode == "coroutine":
        return ["coroutine"]
    return ALL[offset:] + ALL[:offset]


# --------------------------------------------------------------------------- N x M x K

def run_mpmc(cap: int, producers: int, consumers: int, k: int, pkinds: Sequence[Kind],
             ckinds: Sequence[Kind]) -> None:
    ch: Chan[Item] = Chan(cap)
    cons = spawn(ckinds, consume, [(ch,)] * (consumers // 2)) + \
        spawn(ckinds[::-1], consume_ok, [(ch,)] * (consumers - consumers // 2))
    prods = spawn(pkinds, produce, [(ch, p, k) for p in range(producers)])
    assert results(prods) == [None] * producers
    ch.close()
    batches = results(cons)
    assert_exactly_once(itertools.chain.from_iterable(batches),
                        ((p, i) for p in range(producers) for i in range(k)))
    assert_per_producer_order(batches)
    assert_idle(ch)


@pytest.mark.parametrize("cap", [0, 1, 64])
@pytest.mark.parametrize("mode", ["coroutine", "mixed"])
def test_mpmc_exactly_once(cap: int, mode: str) -> None:
    """4 producers x 4 consumers x 3000 values through one channel."""
    run_mpmc(cap, 4, 4, 3000, kinds_for(mode), kinds_for(mode, 1))


@pytest.mark.parametrize("procs", [1, 4])
def test_mpmc_coroutines_on_other_max_procs(procs: int) -> None:
    gort.set_max_procs(procs)
    run_mpmc(0, 3, 3, 3000, ["coroutine"], ["coroutine", "goroutine"])


@STRESS
@given(cap=st.sampled_from([0, 1, 2, 64]), producers=st.integers(1, 5),
       consumers=st.integers(1, 5), k=st.integers(0, 300),
       pkinds=st.lists(st.sampled_from(ALL), min_size=1, max_size=4),
       ckinds=st.lists(st.sampled_from(ALL), min_size=1, max_size=4),
       procs=st.sampled_from([1, 2, 4]))
def test_mpmc_hypothesis(cap: int, producers: int, consumers: int, k: int,
                         pkinds: list[Kind], ckinds: list[Kind], procs: int) -> None:
    gort.set_max_procs(procs)
    run_mpmc(cap, producers, consumers, k, pkinds, ckinds)


def test_mixed_plain_and_coroutine_ping_pong_pairs() -> None:
    """8 pairs bounce a counter 500 times each; in half of them the plain
    goroutine serves, in the other half the coroutine does."""
    n = 500

    def plain_serve(a: Chan[int], b: Chan[int]) -> int:
        for _ in range(n):
            b.send(a.recv() + 1)
        return n

    async def coro_serve(a: Chan[int], b: Chan[int]) -> int:
        for _ in range(n):
            await b.asend(await a.arecv() + 1)
        return n

    def plain_hit(a: Chan[int], b: Chan[int]) -> int:
        v = 0
        for _ in range(n):
            a.send(v)
            v = b.recv()
        return v

    async def coro_hit(a: Chan[int], b: Chan[int]) -> int:
        v = 0
        for _ in range(n):
            await a.asend(v)
            v = await b.arecv()
        return v

    gs = []
    for i in range(8):
        a: Chan[int] = Chan(i % 2)
        b: Chan[int] = Chan()
        if i % 2:
            gs += [gort.go(plain_serve, a, b), gort.go(coro_hit, a, b)]
        else:
            gs += [gort.go(coro_serve, a, b), gort.go(plain_hit, a, b)]
    assert [g.result(timeout=JOIN) for g in gs] == [n] * 16


# --------------------------------------------------------------------------- close races

def run_close_race(cap: int, senders: int, receivers: int, threshold: int,
                   skinds: Sequence[Kind], rkinds: Sequence[Kind]) -> None:
    """Senders and receivers run until a close that races with them: every
    delivered value is received once, and the send refused by the close
    (ChanClosed) is never delivered."""
    ch: Chan[Item] = Chan(cap)
    received = Int64()

    async def sender(w: World, pid: int) -> tuple[list[Item], Item]:
        delivered: list[Item] = []
        for i in itertools.count():
            v = (pid, i)
            try:
                await w.send(ch, v)
            except ChanClosed:
                return delivered, v
            delivered.append(v)
        raise AssertionError("unreachable")

    async def receiver(w: World, rid: int) -> list[Item]:
        # Half the receivers iterate, half receive until ChanClosed.
        got: list[Item] = []
        if rid % 2:
            async for v in w.iter(ch):
                got.append(v)
                received.add(1)
            return got
        while True:
            try:
                v = await w.recv(ch)
            except ChanClosed:
                return got
            got.append(v)
            received.add(1)

    rs = spawn(rkinds, receiver, [(r,) for r in range(receivers)])
    ss = spawn(skinds, sender, [(p,) for p in range(senders)])
    if senders and receivers:
        wait_until(lambda: received.load() >= threshold, JOIN, f"{threshold} received")
    elif senders:
        wait_send_waiting(ch, senders, JOIN)  # the buffer is full, every sender blocked
    else:
        wait_recv_waiting(ch, receivers, JOIN)
    ch.close()
    sent = results(ss)
    got = results(rs)
    delivered = [v for d, _ in sent for v in d]
    refused = [v for _, v in sent]
    if receivers:
        assert_exactly_once(itertools.chain.from_iterable(got), delivered)
        assert_per_producer_order(got)
    else:
        assert len(ch) == len(delivered) == cap
        assert_exactly_once(list(ch), delivered)
    assert not set(refused) & set(delivered)
    assert_idle(ch)


@pytest.mark.parametrize("cap", [0, 1, 64])
@pytest.mark.parametrize("mode", ["coroutine", "mixed"])
def test_close_races_with_blocked_asend_and_arecv(cap: int, mode: str) -> None:
    run_close_race(cap, 4, 3, 2000, kinds_for(mode), kinds_for(mode, 2))
    run_close_race(cap, 4, 0, 0, kinds_for(mode, 1), [])
    run_close_race(cap, 0, 4, 0, [], kinds_for(mode, 3))


@pytest.mark.parametrize("cap", [0, 2])
def test_close_wakes_every_parked_coroutine(cap: int) -> None:
    """Two closes at once, from two threads, while 20 coroutine senders park on
    one channel and 20 coroutine receivers (arecv_ok, arecv and aselect) on the
    other."""
    full: Chan[Item] = Chan(cap)
    empty: Chan[Item] = Chan(cap)
    never: Chan[Item] = Chan()
    for i in range(cap):
        full.send((-1, i))

    async def blocked_send(pid: int) -> str:
        try:
            if pid % 2:
                await gort.aselect(full.send_case((pid, 0)), never.recv_case())
            else:
                await full.asend((pid, 0))
        except ChanClosed:
            return "closed"
        return "sent"

    async def blocked_recv(pid: int) -> tuple[Any, bool]:
        if pid % 3 == 0:
            s = await gort.aselect(never.recv_case(), empty.recv_case())
            return s.value, s.ok
        if pid % 3 == 1:
            try:
                return await empty.arecv(), True
            except ChanClosed:
                return None, False
        return await empty.arecv_ok()  # type: ignore[no-any-return]

    ss = [gort.go(blocked_send, p) for p in range(20)]
    rs = [gort.go(blocked_recv, p) for p in range(20)]
    wait_send_waiting(full, 20)
    wait_recv_waiting(empty, 20)

    def close(i: int) -> None:
        (full, empty)[i].close()

    run_concurrently(close, 2)
    assert [g.result(timeout=JOIN) for g in ss] == ["closed"] * 20
    assert [g.result(timeout=JOIN) for g in rs] == [(None, False)] * 20
    assert list(full) == [(-1, i) for i in range(cap)]
    wait_until(lambda: never.statistics().receivers_waiting == 0, what="aselects cleaned up")
    assert_idle(full, empty, never)


# --------------------------------------------------------------------------- timeouts vs delivery

def run_timeout_race(cap: int, senders: int, receivers: int, attempts: int,
                     send_timeouts: Sequence[float], recv_timeouts: Sequence[float],
                     skinds: Sequence[Kind], rkinds: Sequence[Kind]) -> None:
    """Senders and receivers with short timeouts race each other: a send that
    timed out is never delivered, a receive that timed out consumes nothing,
    so the values received are exactly the sends that succeeded."""
    ch: Chan[Item] = Chan(cap)

    async def sender(w: World, pid: int) -> tuple[list[Item], list[Item]]:
        ok: list[Item] = []
        timed_out: list[Item] = []
        for i in range(attempts):
            v = (pid, i)
            try:
                await w.send(ch, v, send_timeouts[(pid + i) % len(send_timeouts)])
            except TimeoutError:
                timed_out.append(v)
            else:
                ok.append(v)
        return ok, timed_out

    async def receiver(w: World, rid: int) -> list[Item]:
        got: list[Item] = []
        for i in itertools.count():
            t = recv_timeouts[(rid + i) % len(recv_timeouts)]
            try:
                if i % 2:
                    v, ok = await w.recv_ok(ch, t)
                else:
                    v, ok = await w.recv(ch, t), True
            except TimeoutError:
                continue
            except ChanClosed:
                return got
            if not ok:
                return got
            got.append(v)
        raise AssertionError("unreachable")

    rs = spawn(rkinds, receiver, [(r,) for r in range(receivers)])
    ss = spawn(skinds, sender, [(p,) for p in range(senders)])
    sent = results(ss)
    ch.close()
    got = results(rs)
    ok = [v for o, _ in sent for v in o]
    timed_out = {v for _, t in sent for v in t}
    assert len(ok) + len(timed_out) == senders * attempts
    assert not timed_out & set(itertools.chain.from_iterable(got)), \
        "a send that timed out was delivered"
    assert_exactly_once(itertools.chain.from_iterable(got), ok)
    assert_per_producer_order(got)
    assert_idle(ch)


@pytest.mark.parametrize("cap", [0, 1, 16])
@pytest.mark.parametrize("mode", ["coroutine", "mixed"])
def test_timeouts_race_with_delivery(cap: int, mode: str) -> None:
    run_timeout_race(cap, 4, 3, 500, [0.0, 0.0002, 0.001, 0.0005],
                     [0.0003, 0.001, 0.002], kinds_for(mode), kinds_for(mode, 1))


@STRESS
@given(cap=st.sampled_from([0, 1, 2, 16]), senders=st.integers(1, 4),
       receivers=st.integers(1, 4), attempts=st.integers(1, 100),
       send_timeouts=st.lists(st.floats(0.0, 0.003), min_size=1, max_size=4),
       recv_timeouts=st.lists(st.floats(0.0002, 0.003), min_size=1, max_size=4),
       skinds=st.lists(st.sampled_from(ALL), min_size=1, max_size=3),
       rkinds=st.lists(st.sampled_from(ALL), min_size=1, max_size=3))
def test_timeout_race_hypothesis(cap: int, senders: int, receivers: int, attempts: int,
                                 send_timeouts: list[float], recv_timeouts: list[float],
                                 skinds: list[Kind], rkinds: list[Kind]) -> None:
    run_timeout_race(cap, senders, receivers, attempts, send_timeouts, recv_timeouts,
                     skinds, rkinds)


# --------------------------------------------------------------------------- aselect

def run_fan_in(caps: Sequence[int], consumers: int, k: int, pkinds: Sequence[Kind],
               ckinds: Sequence[Kind]) -> None:
    """One producer per channel sends k values then closes it; consumers select
    (aselect in coroutines) over every channel, dropping a case once its channel
    is closed, until all are."""
    chans: list[Chan[Item]] = [Chan(c) for c in caps]

    async def producer(w: World, pid: int) -> None:
        await produce(w, chans[pid], pid, k)
        chans[pid].close()

    async def consumer(w: World) -> list[Item]:
        got: list[Item] = []
        cases: list[Any] = [c.recv_case() for c in chans]
        while any(cases):
            s = await w.select(*cases)
            if s.ok:
                got.append(s.value)
            else:
                cases[s.index] = None
        return got

    cons = spawn(ckinds, consumer, [()] * consumers)
    prods = spawn(pkinds, producer, [(p,) for p in range(len(chans))])
    assert results(prods) == [None] * len(chans)
    batches = results(cons)
    assert_exactly_once(itertools.chain.from_iterable(batches),
                        ((p, i) for p in range(len(chans)) for i in range(k)))
    assert_per_producer_order(batches)
    assert_idle(*chans)


@pytest.mark.parametrize("mode", ["coroutine", "mixed"])
def test_aselect_fan_in_exactly_once(mode: str) -> None:
    run_fan_in([0, 1, 0, 8], 4, 2000, kinds_for(mode), kinds_for(mode, 2))


@STRESS
@given(caps=st.lists(st.sampled_from([0, 1, 4]), min_size=1, max_size=5),
       consumers=st.integers(1, 4), k=st.integers(0, 200),
       pkinds=st.lists(st.sampled_from(ALL), min_size=1, max_size=3),
       ckinds=st.lists(st.sampled_from(ALL), min_size=1, max_size=3))
def test_aselect_fan_in_hypothesis(caps: list[int], consumers: int, k: int,
                                   pkinds: list[Kind], ckinds: list[Kind]) -> None:
    run_fan_in(caps, consumers, k, pkinds, ckinds)


def run_racing_selects(caps: tuple[int, int], workers: int, k: int,
                       kinds: Sequence[Kind]) -> None:
    """Selects and aselects that send on either of two channels race selects
    and aselects that receive from either: every value arrives exactly once."""
    a: Chan[Item] = Chan(caps[0])
    b: Chan[Item] = Chan(caps[1])

    # Workers list the two channels in either order (by their id's parity).
    async def sender(w: World, pid: int) -> None:
        for i in range(k):
            chans = (a, b) if pid % 2 else (b, a)
            s = await w.select(*(c.send_case((pid, i)) for c in chans))
            assert s.index in (0, 1) and s.ok

    async def receiver(w: World, rid: int) -> list[Item]:
        got: list[Item] = []
        cases: list[Any] = [a.recv_case(), b.recv_case()] if rid % 2 else \
            [b.recv_case(), a.recv_case()]
        while any(cases):
            s = await w.select(*cases)
            if s.ok:
                got.append(s.value)
            else:
                cases[s.index] = None
        return got

    rs = spawn(kinds[::-1], receiver, [(r,) for r in range(workers)])
    ss = spawn(kinds, sender, [(p,) for p in range(workers)])
    assert results(ss) == [None] * workers
    a.close()
    b.close()
    got = results(rs)
    assert_exactly_once(itertools.chain.from_iterable(got),
                        ((p, i) for p in range(workers) for i in range(k)))
    assert_idle(a, b)


@pytest.mark.parametrize("caps", [(0, 0), (0, 1), (4, 4)])
@pytest.mark.parametrize("mode", ["coroutine", "mixed"])
def test_select_and_aselect_race_exactly_once(caps: tuple[int, int], mode: str) -> None:
    run_racing_selects(caps, 4, 1500,
                       ["coroutine", "goroutine"] if mode == "mixed" else ["coroutine"])


def test_select_and_aselect_with_asyncio_tasks() -> None:
    run_racing_selects((0, 1), 4, 500, ALL)


# --------------------------------------------------------------------------- scale

@pytest.mark.timeout(120)
def test_100000_coroutines_parked_at_once_then_released() -> None:
    if os.environ.get("GORT_DEBUG") == "1":
        pytest.skip("GORT_DEBUG=1 checks every queued waiter after each channel operation "
                    "(100,000 sends x 100,000 waiters), and the thread bound assumes "
                    "operations of normal cost")
    n = 100_000
    before = gort.sched_statistics().threads
    limit = before + gort.max_procs() + 2
    gate: Chan[int] = Chan()

    async def parked(i: int) -> tuple[int, Any, bool]:
        v, ok = await gate.arecv_ok()
        return i, v, ok

    gs = [gort.go(parked, i) for i in range(n)]
    wait_recv_waiting(gate, n, timeout=90)
    stats = gort.sched_statistics()
    assert stats.goroutines >= n
    assert stats.threads <= limit, stats
    half = n // 2
    for v in range(half):  # each send hands its value to a parked receiver
        gate.send(v, timeout=JOIN)
    gate.close()
    out = [g.result(timeout=60) for g in gs]
    assert [i for i, _, _ in out] == list(range(n))
    values = [v for _, v, ok in out if ok]
    assert sorted(values) == list(range(half))
    assert sum(1 for _, v, ok in out if not ok and v is None) == n - half
    assert gort.sched_statistics().threads <= limit
    assert_idle(gate)
