"""Stress tests for channels and select, meaningful with the GIL off.

Every test moves uniquely tagged values ``(producer, seq)`` between workers of
three kinds, the worlds of ``tests/worlds.py``: plain goroutines, coroutine
goroutines (``async def``, scheduled M:N) and plain ``threading.Thread``s
(foreign threads); each worker body is written once, as an ``async def`` over
its world (``await w.send(ch, v)``, ``await w.select(...)``).  Each test checks
the exact multiset that arrived: every value that a send reported as delivered is
received exactly once, and nothing else is (a send that timed out or raised
``ChanClosed`` must never be delivered, a receive that timed out must never
consume a value).  Workers are joined with timeouts, so a lost wake-up fails
fast instead of hanging.  Nothing is ordered by sleeping: the few orderings
needed come from the runtime's state (waiter counts, atomic counters).

Hypothesis randomizes the shapes (workers, capacities, timeouts, kinds of
worker, ``max_procs``) with few examples each, so the file stays fast.
"""

from __future__ import annotations

import inspect
import itertools
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gort
from gort import Chan, ChanClosed
from gort.atomic import Int64
from tests.helpers import run_concurrently, wait_recv_waiting, wait_send_waiting, wait_until
from tests.worlds import CoroutineWorld, GoroutineWorld, Handle, ThreadWorld, World

pytestmark = [pytest.mark.stress, pytest.mark.timeout(120)]

JOIN = 30.0  # bound on any worker's life: a deadlock fails the test

Kind = Literal["goroutine", "coroutine", "thread"]
Item = tuple[int, int]  # (producer id, sequence number): unique per value

STRESS = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

kinds_st = st.sampled_from(["goroutine", "coroutine", "thread"])
kinds_list_st = st.lists(kinds_st, min_size=1, max_size=4)
blocking_kind_st = st.sampled_from(["goroutine", "thread"])
procs_st = st.sampled_from([1, 2, 4])
cap_st = st.sampled_from([0, 1, 2, 64])


WORLDS: dict[Kind, World] = {
    "goroutine": GoroutineWorld(), "coroutine": CoroutineWorld(), "thread": ThreadWorld(),
}  # stateless: one of each serves every test


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class Worker:
    """A body run in the world of its kind; ``result()`` joins it, failing if
    it hangs.  A body is an ``async def body(w, *args)`` over its world, or a
    plain function (blocking kinds only) that is simply called there."""

    def __init__(self, kind: Kind, body: Callable[..., Any], *args: Any) -> None:
        self.kind = kind
        w = WORLDS[kind]
        if inspect.iscoroutinefunction(body):
            self._h: Handle = w.go(body, w, *args)
        else:
            assert not w.awaits, f"a {kind} worker needs an async body"
            self._h = w.go(_call, body, *args)

    def result(self, timeout: float = JOIN) -> Any:
        return self._h.result(timeout)


def spawn(kinds: Sequence[Kind], body: Callable[..., Any],
          args: Iterable[tuple[Any, ...]]) -> list[Worker]:
    return [Worker(kinds[i % len(kinds)], body, *a) for i, a in enumerate(args)]


MODES = ["goroutine", "coroutine", "thread", "mixed"]


def kinds_for(mode: str, offset: int = 0) -> list[Kind]:
    """Worker kinds: all of one kind, or the three kinds in turn."""
    if mode != "mixed":
        return [mode]  # type: ignore[list-item]
    kinds: list[Kind] = ["goroutine", "coroutine", "thread"]
    return kinds[offset % 3:] + kinds[:offset % 3]


def results(workers: Iterable[Worker]) -> list[Any]:
    return [w.result() for w in workers]


def assert_exactly_once(received: Iterable[Item], expected: Iterable[Item]) -> None:
    got = Counter(received)
    want = Counter(expected)
    dupes = {v: n for v, n in got.items() if n > 1}
    assert not dupes, f"received more than once: {sorted(dupes)[:10]}"
    assert got == want, (f"missing {sorted(want - got)[:10]}, "
                         f"unexpected {sorted(got - want)[:10]}")


def assert_idle(*chans: Chan[Any]) -> None:
    """Drained, nobody waiting, and every invariant holds (after every example)."""
    for ch in chans:
        s = ch.statistics()
        assert (s.len, s.senders_waiting, s.receivers_waiting) == (0, 0, 0), s
        ch._check_invariants()


def assert_per_producer_order(batches: Iterable[list[Item]]) -> None:
    """One consumer sees each producer's values in the order they were sent."""
    for batch in batches:
        last: dict[int, int] = {}
        for p, i in batch:
            assert i > last.get(p, -1), f"producer {p}: {i} after {last[p]}"
            last[p] = i


def poll_until(pred: Callable[[], bool], timeout: float = JOIN) -> None:
    """``wait_until`` that also works on a plain goroutine: there it yields its
    processor between polls (sleeping would hold it, and with max_procs(1) the
    goroutines it waits for could never run)."""
    if gort.current_goroutine() is None:
        wait_until(pred, timeout)
        return
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {pred}"
        gort.gosched()


# --------------------------------------------------------------------------- workers

async def produce(w: World, ch: Chan[Item], pid: int, k: int) -> None:
    for i in range(k):
        await w.send(ch, (pid, i))


async def produce_select(w: World, ch: Chan[Item], pid: int, k: int) -> None:
    never: Chan[Item] = Chan()
    for i in range(k):
        s = await w.select(never.recv_case(), None, ch.send_case((pid, i)))
        assert s == (2, None, True)


async def consume(w: World, ch: Chan[Item]) -> list[Item]:
    return [v async for v in w.iter(ch)]


async def consume_select(w: World, ch: Chan[Item]) -> list[Item]:
    never: Chan[Item] = Chan()
    got: list[Item] = []
    while True:
        s = await w.select(ch.recv_case(), None, never.recv_case())
        assert s.index == 0
        if not s.ok:
            return got
        got.append(s.value)


async def fan_in(w: World, chans: Sequence[Chan[Item]]) -> list[Item]:
    """Receive from all of ``chans`` until each is closed (Go's nil-ing idiom)."""
    cases: list[Any] = [c.recv_case() for c in chans]
    got: list[Item] = []
    while any(c is not None for c in cases):
        s = await w.select(*cases)
        if s.ok:
            got.append(s.value)
        else:
            cases[s.index] = None
    return got


async def produce_and_close(w: World, ch: Chan[Item], pid: int, k: int) -> None:
    try:
        await produce(w, ch, pid, k)
    finally:
        ch.close()


async def fan_out(w: World, chans: Sequence[Chan[Item]], pid: int, k: int) -> None:
    for i in range(k):
        s = await w.select(*(c.send_case((pid, i)) for c in chans))
        assert s.ok and s.value is None


# --------------------------------------------------------------------------- N x M x K

def run_mpmc(cap: int, producers: int, consumers: int, k: int,
             pkinds: Sequence[Kind], ckinds: Sequence[Kind], use_select: bool = False) -> None:
    ch: Chan[Item] = Chan(cap)
    cons = spawn(ckinds, consume_select if use_select else consume, [(ch,)] * consumers)
    prods = spawn(pkinds, produce_select if use_select else produce,
                  [(ch, p, k) for p in range(producers)])
    assert results(prods) == [None] * producers
    ch.close()
    batches = results(cons)
    assert_exactly_once(itertools.chain.from_iterable(batches),
                        ((p, i) for p in range(producers) for i in range(k)))
    assert_per_producer_order(batches)
    assert_idle(ch)


@pytest.mark.parametrize("cap", [0, 1, 64])
@pytest.mark.parametrize("mode", MODES)
def test_mpmc_exactly_once(cap: int, mode: str) -> None:
    """4 producers x 4 consumers x 1500 values through one channel."""
    run_mpmc(cap, 4, 4, 1500, kinds_for(mode), kinds_for(mode, 1))


@pytest.mark.parametrize("procs", [1, 2, 4])
@pytest.mark.parametrize("cap", [0, 1, 64])
def test_mpmc_max_procs(procs: int, cap: int) -> None:
    """Goroutines only, under max_procs 1, 2 and 4: blocked plain goroutines
    must hand their processor on, or the run deadlocks."""
    gort.set_max_procs(procs)
    run_mpmc(cap, 3, 5, 300, ["goroutine"], ["goroutine"])
    run_mpmc(cap, 5, 3, 300, ["goroutine", "coroutine"], ["coroutine", "goroutine"],
             use_select=True)
    run_mpmc(cap, 4, 4, 300, ["coroutine"], ["coroutine"])


@pytest.mark.parametrize("cap", [0, 64])
def test_mpmc_with_select_cases(cap: int) -> None:
    """Producers and consumers use select (with nil and never-ready cases)."""
    run_mpmc(cap, 3, 3, 400, kinds_for("mixed"), kinds_for("mixed", 1), use_select=True)


@STRESS
@given(cap=cap_st, producers=st.integers(1, 4), consumers=st.integers(1, 4),
       k=st.integers(0, 150), pkinds=kinds_list_st, ckinds=kinds_list_st, procs=procs_st,
       use_select=st.booleans())
def test_mpmc_hypothesis(cap: int, producers: int, consumers: int, k: int,
                         pkinds: list[Kind], ckinds: list[Kind], procs: int,
                         use_select: bool) -> None:
    gort.set_max_procs(procs)
    run_mpmc(cap, producers, consumers, k, pkinds, ckinds, use_select)


def test_mpmc_while_max_procs_changes() -> None:
    """Traffic keeps flowing, exactly once, while max_procs goes up and down
    (lowering it leaves a debt that running goroutines pay as they park)."""
    ch: Chan[Item] = Chan(4)
    received = Int64()
    total = 6 * 400

    async def counting_consumer(w: World) -> list[Item]:
        got: list[Item] = []
        async for v in w.iter(ch):
            got.append(v)
            received.add(1)
        return got

    cons = spawn(["goroutine", "coroutine", "thread"], counting_consumer, [()] * 6)
    prods = spawn(["goroutine", "thread", "coroutine"], produce,
                  [(ch, p, 400) for p in range(6)])
    for procs in itertools.cycle([1, 4, 2, 3]):
        gort.set_max_procs(procs)
        n = received.load()
        if n == total:
            break
        wait_until(lambda n=n: received.load() >= min(n + 100, total),  # type: ignore[misc]
                   what=f"progress under max_procs={procs}")
    assert results(prods) == [None] * 6
    ch.close()
    batches = results(cons)
    assert_exactly_once(itertools.chain.from_iterable(batches),
                        ((p, i) for p in range(6) for i in range(400)))
    assert_per_producer_order(batches)


# ------------------------------------------------------------------------ select fan-in / fan-out

def run_fan_in(caps: Sequence[int], consumers: int, k: int, pkinds: Sequence[Kind],
               ckinds: Sequence[Kind]) -> None:
    chans: list[Chan[Item]] = [Chan(c) for c in caps]
    cons = spawn(ckinds, fan_in, [(chans,)] * consumers)
    prods = spawn(pkinds, produce_and_close, [(c, p, k) for p, c in enumerate(chans)])
    results(prods)
    batches = results(cons)
    assert_exactly_once(itertools.chain.from_iterable(batches),
                        ((p, i) for p in range(len(chans)) for i in range(k)))
    assert_per_producer_order(batches)
    assert_idle(*chans)


@pytest.mark.parametrize("mode", MODES)
def test_select_fan_in_exactly_once(mode: str) -> None:
    """6 producers on their own channels, 3 consumers selecting over all six."""
    run_fan_in([0, 1, 64, 0, 2, 0], 3, 400, kinds_for(mode), kinds_for(mode, 1))


@STRESS
@given(caps=st.lists(cap_st, min_size=1, max_size=6), consumers=st.integers(1, 4),
       k=st.integers(0, 150), pkinds=kinds_list_st, ckinds=kinds_list_st, procs=procs_st)
def test_select_fan_in_hypothesis(caps: list[int], consumers: int, k: int,
                                  pkinds: list[Kind], ckinds: list[Kind],
                                  procs: int) -> None:
    gort.set_max_procs(procs)
    run_fan_in(caps, consumers, k, pkinds, ckinds)


@pytest.mark.parametrize("caps", [(0, 0, 0), (1, 0, 64)], ids=str)
def test_select_fan_out_exactly_once(caps: tuple[int, ...]) -> None:
    """6 producers each select a send over three channels; two consumers per
    channel.  No select may deliver its value on two channels."""
    chans: list[Chan[Item]] = [Chan(c) for c in caps]
    cons = spawn(kinds_for("mixed", 2), consume, [(c,) for c in chans for _ in range(2)])
    prods = spawn(kinds_for("mixed"), fan_out, [(chans, p, 300) for p in range(6)])
    results(prods)
    for c in chans:
        c.close()
    batches = results(cons)
    assert_exactly_once(itertools.chain.from_iterable(batches),
                        ((p, i) for p in range(6) for i in range(300)))
    assert_idle(*chans)


# --------------------------------------------------------------------------- racing selects

def run_racing_selects(caps: Sequence[int], workers: int, drainers: int, k: int,
                       wkinds: Sequence[Kind], dkinds: Sequence[Kind]) -> None:
    """``workers`` each select over a send case and a receive case on every
    channel at once, until their own k values are sent; drainers receive until
    the channels are closed.  Sent and received multisets match."""
    chans: list[Chan[Item]] = [Chan(c) for c in caps]
    n = len(chans)

    async def worker(w: World, pid: int) -> tuple[list[Item], list[Item]]:
        sent: list[Item] = []
        got: list[Item] = []
        while len(sent) < k:
            v = (pid, len(sent))
            s = await w.select(*[c.send_case(v) for c in chans], *[c.recv_case() for c in chans])
            if s.index < n:
                assert (s.value, s.ok) == (None, True)
                sent.append(v)
            else:
                assert s.ok, "no channel is closed while workers run"
                got.append(s.value)
        return sent, got

    async def drainer(w: World) -> tuple[list[Item], list[Item]]:
        return [], await fan_in(w, chans)

    drains = spawn(dkinds, drainer, [()] * drainers)
    ws = spawn(wkinds, worker, [(p,) for p in range(workers)])
    out = results(ws)
    for c in chans:
        c.close()
    out += results(drains)
    sent = [v for s, _ in out for v in s]
    got = [v for _, g in out for v in g]
    assert_exactly_once(sent, ((p, i) for p in range(workers) for i in range(k)))
    assert_exactly_once(got, sent)
    assert_idle(*chans)


@pytest.mark.parametrize("caps", [(0,), (0, 0), (1, 0), (64, 2)], ids=str)
@pytest.mark.parametrize("mode", ["goroutine", "coroutine", "mixed"])
def test_racing_selects_send_and_recv(caps: tuple[int, ...], mode: str) -> None:
    """Selects that can both send and receive on the same channels race each
    other (a select may rendezvous with another select, never with itself)."""
    run_racing_selects(caps, 6, 2, 250, kinds_for(mode), kinds_for(mode, 1))


@STRESS
@given(caps=st.lists(cap_st, min_size=1, max_size=3), workers=st.integers(1, 6),
       drainers=st.integers(1, 3), k=st.integers(0, 150), wkinds=kinds_list_st,
       dkinds=kinds_list_st, procs=procs_st)
def test_racing_selects_hypothesis(caps: list[int], workers: int, drainers: int, k: int,
                                   wkinds: list[Kind], dkinds: list[Kind],
                                   procs: int) -> None:
    gort.set_max_procs(procs)
    run_racing_selects(caps, workers, drainers, k, wkinds, dkinds)


def run_close_vs_mixed_selects(caps: Sequence[int], workers: int, drainers: int, k: int,
                               threshold: int, wkinds: Sequence[Kind],
                               dkinds: Sequence[Kind], closer: Kind) -> None:
    """Racing send-and-receive selects while one of their channels is closed
    under them: a select whose send case hit the closed channel raised
    ChanClosed and delivered its value nowhere; a receive case on it reports
    ok == False.  Workers drop the closed channel and carry on until each has
    sent k values; sent and received multisets match exactly."""
    chans: list[Chan[Item]] = [Chan(c) for c in caps]
    n_sent = Int64()

    class State:
        def __init__(self) -> None:
            self.sent: list[Item] = []
            self.got: list[Item] = []
            self.refused: list[Item] = []
            self.sends = list(chans)
            self.recvs = list(chans)

        def cases(self, v: Item) -> list[Any]:
            return [c.send_case(v) for c in self.sends] + [c.recv_case() for c in self.recvs]

        def refuse(self, v: Item) -> None:
            self.refused.append(v)
            assert any(c.closed for c in self.sends)
            self.sends = [c for c in self.sends if not c.closed]

        def fired(self, v: Item, s: gort.Selected) -> None:
            if s.index < len(self.sends):
                self.sent.append(v)
                n_sent.add(1)
            elif s.ok:
                self.got.append(s.value)
            else:
                del self.recvs[s.index - len(self.sends)]

        def out(self) -> tuple[list[Item], list[Item], list[Item]]:
            return self.sent, self.got, self.refused

    async def worker(w: World, pid: int) -> tuple[list[Item], list[Item], list[Item]]:
        st_ = State()
        for i in itertools.count():
            if len(st_.sent) == k:
                return st_.out()
            v = (pid, i)
            try:
                s = await w.select(*st_.cases(v))
            except ChanClosed:
                st_.refuse(v)
                continue
            st_.fired(v, s)
        raise AssertionError("unreachable")

    def close_first() -> None:
        poll_until(lambda: n_sent.load() >= threshold)
        chans[0].close()

    async def drainer(w: World) -> tuple[list[Item], list[Item], list[Item]]:
        return [], await fan_in(w, chans), []

    drains = spawn(dkinds, drainer, [()] * drainers)
    ws = spawn(wkinds, worker, [(p,) for p in range(workers)])
    closing = Worker(closer, close_first)
    out = results(ws)
    closing.result()
    for c in chans[1:]:
        c.close()
    out += results(drains)
    sent = [v for s, _, _ in out for v in s]
    got = [v for _, g, _ in out for v in g]
    refused = {v for _, _, r in out for v in r}
    assert len(sent) == workers * k
    assert_exactly_once(got, sent)
    assert not refused & set(sent)
    assert_idle(*chans)


@pytest.mark.parametrize("caps", [(0, 0), (1, 0, 64), (8, 0)], ids=str)
@pytest.mark.parametrize("mode", ["goroutine", "coroutine", "mixed"])
def test_close_races_with_mixed_selects(caps: tuple[int, ...], mode: str) -> None:
    run_close_vs_mixed_selects(caps, 5, 2, 300, 5 * 300 // 3, kinds_for(mode),
                               kinds_for(mode, 1), "thread")


@STRESS
@given(caps=st.lists(cap_st, min_size=2, max_size=3), workers=st.integers(1, 5),
       drainers=st.integers(1, 3), k=st.integers(0, 150), frac=st.floats(0.0, 1.0),
       wkinds=kinds_list_st, dkinds=kinds_list_st, closer=blocking_kind_st, procs=procs_st)
def test_close_races_with_mixed_selects_hypothesis(
        caps: list[int], workers: int, drainers: int, k: int, frac: float,
        wkinds: list[Kind], dkinds: list[Kind], closer: Kind, procs: int) -> None:
    gort.set_max_procs(procs)
    run_close_vs_mixed_selects(caps, workers, drainers, k, int(frac * workers * k),
                               wkinds, dkinds, closer)


# --------------------------------------------------------------------------- close races

def run_close_race(cap: int, senders: int, receivers: int, threshold: int,
                   skinds: Sequence[Kind], rkinds: Sequence[Kind], use_select: bool,
                   closer: Kind) -> None:
    """Senders send until the channel is closed, receivers receive until it is
    closed and drained; a closer closes it once ``threshold`` values arrived.
    Every send that returned was received exactly once; the send that raised
    ChanClosed was not; everybody finishes."""
    ch: Chan[Item] = Chan(cap)
    received = Int64()

    async def sender(w: World, pid: int) -> tuple[list[Item], Item]:
        delivered: list[Item] = []
        never: Chan[Item] = Chan()
        for i in itertools.count():
            v = (pid, i)
            try:
                if use_select and i % 2:
                    assert await w.select(ch.send_case(v), never.recv_case()) == (0, None, True)
                else:
                    await w.send(ch, v)
            except ChanClosed:
                return delivered, v
            delivered.append(v)
        raise AssertionError("unreachable")

    async def receiver(w: World) -> list[Item]:
        got: list[Item] = []
        never: Chan[Item] = Chan()
        for i in itertools.count():
            if use_select and i % 2:
                _, v, ok = await w.select(never.recv_case(), ch.recv_case())
            else:
                v, ok = await w.recv_ok(ch)
            if not ok:
                return got
            got.append(v)
            received.add(1)
        raise AssertionError("unreachable")

    def close() -> None:
        if senders and receivers:
            poll_until(lambda: received.load() >= threshold)
        elif senders:
            # The buffer is full and every sender blocked.
            poll_until(lambda: ch.statistics().senders_waiting >= senders)
        else:
            poll_until(lambda: ch.statistics().receivers_waiting >= receivers)
        ch.close()

    rs = spawn(rkinds, receiver, [()] * receivers)
    ss = spawn(skinds, sender, [(p,) for p in range(senders)])
    Worker(closer, close).result()
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
    assert ch.closed
    assert_idle(ch)


@pytest.mark.parametrize("cap", [0, 1, 64])
@pytest.mark.parametrize("use_select", [False, True], ids=["plain", "select"])
def test_close_races_with_senders_and_receivers(cap: int, use_select: bool) -> None:
    run_close_race(cap, 6, 3, 200, kinds_for("mixed"), kinds_for("mixed", 1), use_select,
                   "thread")
    run_close_race(cap, 6, 0, 0, kinds_for("mixed"), [], use_select, "goroutine")
    run_close_race(cap, 0, 6, 0, [], kinds_for("mixed"), use_select, "goroutine")


@STRESS
@given(cap=cap_st, senders=st.integers(0, 4), receivers=st.integers(0, 4),
       threshold=st.integers(0, 100), skinds=kinds_list_st, rkinds=kinds_list_st,
       use_select=st.booleans(), closer=blocking_kind_st, procs=procs_st)
def test_close_race_hypothesis(cap: int, senders: int, receivers: int, threshold: int,
                               skinds: list[Kind], rkinds: list[Kind], use_select: bool,
                               closer: Kind, procs: int) -> None:
    gort.set_max_procs(procs)
    if senders or receivers:
        run_close_race(cap, senders, receivers, threshold, skinds, rkinds, use_select,
                       closer)


@pytest.mark.parametrize("cap", [0, 2])
def test_close_wakes_every_blocked_sender_and_receiver(cap: int) -> None:
    """Closing two channels at once, from two threads, while 9 senders block on
    one and 9 receivers (plain and select, of every kind) block on the other."""
    full: Chan[Item] = Chan(cap)
    empty: Chan[Item] = Chan(cap)
    for i in range(cap):
        full.send((-1, i), timeout=0)

    async def blocked_send(w: World, pid: int) -> str:
        try:
            if pid % 2:
                await w.select(full.send_case((pid, 0)))
            else:
                await w.send(full, (pid, 0))
        except ChanClosed:
            return "closed"
        return "sent"

    async def blocked_recv(w: World, pid: int) -> tuple[Any, bool]:
        if pid % 2:
            _, v, ok = await w.select(empty.recv_case(), None)
            return v, ok
        return await w.recv_ok(empty)

    ss = spawn(kinds_for("mixed"), blocked_send, [(p,) for p in range(9)])
    rs = spawn(kinds_for("mixed", 1), blocked_recv, [(p,) for p in range(9)])
    wait_send_waiting(full, 9)
    wait_recv_waiting(empty, 9)

    def close(i: int) -> None:
        (full, empty)[i].close()

    run_concurrently(close, 2)
    assert results(ss) == ["closed"] * 9
    assert results(rs) == [(None, False)] * 9
    assert list(full) == [(-1, i) for i in range(cap)]
    assert_idle(full, empty)


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
            t = send_timeouts[(pid + i) % len(send_timeouts)]
            try:
                if i % 2:
                    s = await w.select(ch.send_case(v), None, timeout=t)
                    assert s == (0, None, True)
                else:
                    await w.send(ch, v, t)
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
                    _, v, ok = await w.select(None, ch.recv_case(), timeout=t)
                else:
                    v, ok = await w.recv_ok(ch, t)
            except TimeoutError:
                continue
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
@pytest.mark.parametrize("mode", MODES)
def test_timeouts_race_with_delivery(cap: int, mode: str) -> None:
    run_timeout_race(cap, 4, 2, 150, [0.0, 0.0002, 0.001, 0.0005],
                     [0.0003, 0.001, 0.002], kinds_for(mode), kinds_for(mode, 1))


@STRESS
@given(cap=cap_st, senders=st.integers(1, 4), receivers=st.integers(1, 4),
       attempts=st.integers(1, 150),
       send_timeouts=st.lists(st.floats(0.0, 0.003), min_size=1, max_size=4),
       recv_timeouts=st.lists(st.floats(0.0002, 0.003), min_size=1, max_size=4),
       skinds=kinds_list_st, rkinds=kinds_list_st, procs=procs_st)
def test_timeout_race_hypothesis(cap: int, senders: int, receivers: int, attempts: int,
                                 send_timeouts: list[float], recv_timeouts: list[float],
                                 skinds: list[Kind], rkinds: list[Kind], procs: int) -> None:
    gort.set_max_procs(procs)
    run_timeout_race(cap, senders, receivers, attempts, send_timeouts, recv_timeouts,
                     skinds, rkinds)


def test_timed_out_select_over_many_channels_takes_nothing() -> None:
    """Selects over four receive cases with tiny timeouts race pushers that use
    try_send: a value is either still buffered or received exactly once."""
    chans: list[Chan[Item]] = [Chan(1) for _ in range(4)]
    cases = [c.recv_case() for c in chans]

    async def selector(w: World, rid: int) -> list[Item]:
        # (A coroutine form's timeout is never 0 here: it can fire before the
        # goroutine parks, see the module docstring of test_coroutine_stress.)
        step = rid % 3 + (1 if w.awaits else 0)
        got: list[Item] = []
        for _ in range(300):
            try:
                got.append((await w.select(*cases, timeout=0.0002 * step)).value)
            except TimeoutError:
                pass
        return got

    def pusher(pid: int) -> list[Item]:
        pushed: list[Item] = []
        for i in range(300):
            v = (pid, i)
            if chans[i % 4].try_send(v):
                pushed.append(v)
            else:
                gort.gosched()
        return pushed

    sels = spawn(kinds_for("mixed"), selector, [(r,) for r in range(3)])
    pushers = spawn(["thread", "goroutine"], pusher, [(p,) for p in range(3)])
    pushed = [v for p in results(pushers) for v in p]
    got = [v for g in results(sels) for v in g]
    left = [c.try_recv() for c in chans]
    assert_exactly_once(got + [v for v, ok in left if ok], pushed)
    assert_idle(*chans)


# --------------------------------------------------------------------------- interpreter exit

EXIT_SCRIPT = """
import threading
import gort

locals_ = [threading.local() for _ in range(100)]

def link(left, right):
    for loc in locals_:  # every worker thread gets a slot in each threading.local
        loc.x = 1
    left.send(right.recv())

leftmost = left = gort.Chan()
for _ in range(1000):
    right = gort.Chan()
    gort.go(link, left, right)
    left = right
right.send(1)
assert leftmost.recv() == 1
print("ok", flush=True)
"""


@pytest.mark.timeout(120)
def test_interpreter_exit_with_a_thousand_idle_workers_does_not_hang() -> None:
    """Regression: a program that leaves 1000 idle workers behind exits.

    An earlier gort woke every idle worker from its atexit hook so that it would
    exit; those daemon threads then tore down their thread states while the
    interpreter finalized, and CPython 3.13.5t with the GIL off deadlocked in
    ``_Py_Finalize`` (a lock handed to a daemon thread that hangs on re-attach)
    in 8 runs out of 8 of this script.
    """
    for _ in range(2):
        try:
            r = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], capture_output=True,
                               text=True, timeout=45, cwd=Path(__file__).parent.parent)
        except subprocess.TimeoutExpired:
            pytest.fail("the interpreter hung at exit with 1000 idle gort workers")
        assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr[-2000:]
