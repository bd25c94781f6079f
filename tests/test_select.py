"""select: Go's select statement over channel cases.

Every blocking select is tested in each world (``world`` fixture,
``tests/worlds.py``): ``gort.select`` in a plain goroutine and a foreign thread,
``await gort.aselect`` in a coroutine goroutine and an asyncio task."""

from __future__ import annotations

from typing import Any

import pytest

import gort
from gort import Chan, ChanClosed, Selected, select
from tests.helpers import run_concurrently, wait_recv_waiting, wait_send_waiting, wait_until
from tests.worlds import World

JOIN = 10.0


def waiting(ch: Chan[Any]) -> tuple[int, int]:
    s = ch.statistics()
    return s.senders_waiting, s.receivers_waiting


# --------------------------------------------------------------------------- ready cases

def test_recv_case_ready() -> None:
    ch: Chan[int] = Chan(1)
    ch.send(5)
    assert select(ch.recv_case()) == Selected(0, 5, True)
    assert len(ch) == 0


def test_send_case_ready() -> None:
    ch: Chan[int] = Chan(1)
    assert select(ch.send_case(8)) == Selected(0, None, True)
    assert ch.recv() == 8


def test_send_case_to_a_blocked_receiver() -> None:
    ch: Chan[int] = Chan()
    g = gort.go(ch.recv)
    wait_recv_waiting(ch, 1)
    assert select(ch.send_case(3), timeout=JOIN) == Selected(0, None, True)
    assert g.result(timeout=JOIN) == 3


def test_recv_case_from_a_blocked_sender() -> None:
    ch: Chan[int] = Chan()
    g = gort.go(ch.send, 4)
    wait_send_waiting(ch, 1)
    assert select(ch.recv_case(), timeout=JOIN) == Selected(0, 4, True)
    assert g.result(timeout=JOIN) is None


def test_index_counts_none_cases() -> None:
    a: Chan[int] = Chan(1)
    b: Chan[int] = Chan(1)
    b.send(1)
    assert select(None, a.recv_case(), None, b.recv_case()) == Selected(3, 1, True)


def test_none_cases_never_fire() -> None:
    ch: Chan[int] = Chan(1)
    ch.send(1)
    for _ in range(50):
        assert select(None, None, default=True) == Selected(-1, None, False)
    with pytest.raises(TimeoutError, match=r"^select timed out$"):
        select(None, timeout=0.01)
    assert select(None, ch.recv_case(), None) == Selected(1, 1, True)


def test_selected_fields() -> None:
    s = Selected(2, "v", True)
    assert (s.index, s.value, s.ok) == (2, "v", True)
    assert s._fields == ("index", "value", "ok")


def test_case_reprs() -> None:
    ch: Chan[int] = Chan()
    assert repr(ch.recv_case()) == "<RecvCase <Chan cap=0 len=0 sendq=0 recvq=0>>"
    assert repr(ch.send_case(1)) == "<SendCase 1 -> <Chan cap=0 len=0 sendq=0 recvq=0>>"


# --------------------------------------------------------------------------- default

def test_default_when_nothing_is_ready() -> None:
    a: Chan[int] = Chan()
    b: Chan[int] = Chan(1)
    b.send(0)  # full: a send case on b is not ready
    assert select(a.recv_case(), b.send_case(1), default=True) == Selected(-1, None, False)
    assert waiting(a) == (0, 0)
    assert waiting(b) == (0, 0)
    assert b.recv() == 0 and len(b) == 0


def test_default_is_not_taken_when_a_case_is_ready() -> None:
    a: Chan[int] = Chan()
    b: Chan[int] = Chan(1)
    b.send(9)
    assert select(a.recv_case(), b.recv_case(), default=True) == Selected(1, 9, True)


def test_default_and_ready_cases(world: World) -> None:
    a: Chan[int] = Chan(1)
    b: Chan[int] = Chan(1)

    async def body() -> list[Selected]:
        out = [await world.select(a.recv_case(), b.recv_case(), default=True)]
        await world.send(b, 5)
        out.append(await world.select(a.recv_case(), None, b.recv_case()))
        out.append(await world.select(a.send_case(6), default=True))
        out.append(await world.select(a.send_case(7), default=True))
        return out

    assert world.run(body) == [(-1, None, False), (2, 5, True), (0, None, True),
                               (-1, None, False)]
    assert a.recv() == 6


def test_no_cases() -> None:
    assert select(default=True) == Selected(-1, None, False)
    with pytest.raises(TimeoutError, match=r"^select timed out$"):
        select(timeout=0.02)
    with pytest.raises(TimeoutError, match=r"^select timed out$"):
        select(timeout=0)


# --------------------------------------------------------------------------- timeout

def test_timeout_leaves_no_waiters_and_consumes_nothing(world: World) -> None:
    a: Chan[int] = Chan()
    b: Chan[int] = Chan(1)
    b.send(0)  # full: its send case blocks
    c: Chan[int] = Chan()

    async def body() -> None:
        for t in (0, 0.02):
            with pytest.raises(TimeoutError, match=r"^select timed out$"):
                await world.select(a.recv_case(), b.send_case(1), c.send_case(2), timeout=t)
        with pytest.raises(TimeoutError, match=r"^select timed out$"):
            await world.select(timeout=0.02)  # no cases at all
        with pytest.raises(TimeoutError, match=r"^select timed out$"):
            await world.select(None, None, timeout=0.02)

    world.run(body)
    for ch in (a, b, c):
        assert waiting(ch) == (0, 0)
    # The timed-out send cases are not delivered to a later receiver ...
    assert b.recv() == 0
    assert b.try_recv() == (None, False)
    assert c.try_recv() == (None, False)
    # ... and the timed-out receive case does not take a later value.
    g = gort.go(a.send, 2)
    wait_send_waiting(a, 1)
    assert a.recv(timeout=JOIN) == 2
    g.result(timeout=JOIN)


def test_timeout_zero_polls_once() -> None:
    ch: Chan[int] = Chan(1)
    with pytest.raises(TimeoutError, match=r"^select timed out$"):
        select(ch.recv_case(), timeout=0)
    ch.send(1)
    assert select(ch.recv_case(), timeout=0) == Selected(0, 1, True)


def test_timeout_not_hit_when_woken_in_time(world: World) -> None:
    ch: Chan[int] = Chan()
    h = world.go(world.select, ch.recv_case(), timeout=JOIN)
    wait_recv_waiting(ch, 1)
    ch.send(6, timeout=JOIN)
    assert h.result(timeout=JOIN) == Selected(0, 6, True)


# --------------------------------------------------------------------------- closed channels

def test_recv_on_closed_fires_with_ok_false() -> None:
    a: Chan[int] = Chan()
    b: Chan[int] = Chan()
    b.close()
    assert select(a.recv_case(), b.recv_case()) == Selected(1, None, False)
    assert select(a.recv_case(), b.recv_case(), default=True) == Selected(1, None, False)


def test_recv_on_closed_buffered_delivers_values_first() -> None:
    ch: Chan[int] = Chan(2)
    ch.send(1)
    ch.close()
    assert select(ch.recv_case()) == Selected(0, 1, True)
    assert select(ch.recv_case()) == Selected(0, None, False)


def test_select_on_closed_channels(world: World) -> None:
    closed: Chan[int] = Chan()
    closed.close()
    never: Chan[int] = Chan()
    buffered: Chan[int] = Chan(1)
    buffered.send(1)
    buffered.close()

    async def body() -> None:
        assert await world.select(never.recv_case(), closed.recv_case()) == (1, None, False)
        assert await world.select(buffered.recv_case()) == (0, 1, True)
        assert await world.select(buffered.recv_case()) == (0, None, False)
        for kw in ({}, {"default": True}):
            with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
                await world.select(closed.send_case(1), **kw)

    world.run(body)
    assert waiting(never) == (0, 0)


def test_send_case_on_closed_raises() -> None:
    ch: Chan[int] = Chan(1)
    ch.close()
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        select(ch.send_case(1))
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        select(ch.send_case(1), default=True)
    # The select released every lock it took: the channel is still usable.
    assert ch.recv_ok(timeout=0) == (None, False)
    other: Chan[int] = Chan(1)
    assert select(other.send_case(2), timeout=1) == Selected(0, None, True)


def test_blocked_send_case_raises_when_channel_closed(world: World) -> None:
    a: Chan[int] = Chan()
    b: Chan[int] = Chan()
    h = world.go(world.select, a.send_case(1), b.recv_case())
    wait_send_waiting(a, 1)
    wait_recv_waiting(b, 1)
    a.close()
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        h.result(timeout=JOIN)
    assert waiting(b) == (0, 0)


# --------------------------------------------------------------------------- blocking

def test_blocked_select_woken_by_a_sender(world: World) -> None:
    a: Chan[str] = Chan()
    b: Chan[str] = Chan()
    h = world.go(world.select, a.recv_case(), b.recv_case())
    wait_recv_waiting(a, 1)
    wait_recv_waiting(b, 1)
    assert not h.done()
    b.send("hello", timeout=JOIN)
    assert h.result(timeout=JOIN) == Selected(1, "hello", True)
    # The losing case's waiter was taken off its channel.
    assert waiting(a) == (0, 0)
    assert waiting(b) == (0, 0)
    assert a.try_send("x") is False


def test_blocked_select_woken_by_a_receiver(world: World) -> None:
    a: Chan[str] = Chan()
    b: Chan[str] = Chan()
    h = world.go(world.select, a.send_case("to-a"), b.send_case("to-b"))
    wait_send_waiting(a, 1)
    wait_send_waiting(b, 1)
    assert not h.done()
    assert a.recv(timeout=JOIN) == "to-a"
    assert h.result(timeout=JOIN) == Selected(0, None, True)
    assert waiting(b) == (0, 0)
    assert b.try_recv() == (None, False)


def test_blocked_select_woken_by_a_buffered_receiver(world: World) -> None:
    full: Chan[int] = Chan(1)
    full.send(1)
    h = world.go(world.select, full.send_case(2))
    wait_send_waiting(full, 1)
    assert full.recv(timeout=JOIN) == 1
    assert h.result(timeout=JOIN) == Selected(0, None, True)
    assert full.recv(timeout=0) == 2


def test_blocked_select_woken_by_close(world: World) -> None:
    a: Chan[int] = Chan()
    b: Chan[int] = Chan()
    hs = [world.go(world.select, a.send_case(1), b.recv_case()) for _ in range(2)]
    wait_send_waiting(a, 2)
    wait_recv_waiting(b, 2)
    b.close()  # the receive case fires for both
    assert [h.result(timeout=JOIN) for h in hs] == [Selected(1, None, False)] * 2
    assert waiting(a) == (0, 0)


def test_blocked_select_woken_by_a_goroutine(world: World) -> None:
    ch: Chan[int] = Chan()

    def later() -> None:
        wait_recv_waiting(ch, 1)
        ch.send(11)

    g = gort.go(later)
    assert world.run(world.select, ch.recv_case(), timeout=JOIN) == Selected(0, 11, True)
    g.result(timeout=JOIN)


def test_two_selects_pair_with_each_other(world: World) -> None:
    ch: Chan[int] = Chan()
    receiver = world.go(world.select, ch.recv_case())
    wait_recv_waiting(ch, 1)
    assert select(ch.send_case(21), timeout=JOIN) == Selected(0, None, True)
    assert receiver.result(timeout=JOIN) == Selected(0, 21, True)

    sender = world.go(world.select, ch.send_case(22))
    wait_send_waiting(ch, 1)
    assert select(ch.recv_case(), timeout=JOIN) == Selected(0, 22, True)
    assert sender.result(timeout=JOIN) == Selected(0, None, True)


# --------------------------------------------------------------------------- one case only

def test_exactly_one_ready_case_fires() -> None:
    a: Chan[int] = Chan(1)
    b: Chan[int] = Chan(1)
    out: Chan[int] = Chan(1)
    a.send(1)
    b.send(2)
    s = select(a.recv_case(), b.recv_case(), out.send_case(3))
    assert s.index in (0, 1, 2)
    remaining = len(a) + len(b)
    assert remaining == (1 if s.index in (0, 1) else 2)
    assert len(out) == (1 if s.index == 2 else 0)


def test_ready_cases_are_chosen_at_random() -> None:
    a: Chan[int] = Chan(1)
    b: Chan[int] = Chan(1)
    counts = [0, 0]
    for _ in range(200):
        if len(a) == 0:
            a.send(0)
        if len(b) == 0:
            b.send(1)
        s = select(a.recv_case(), b.recv_case())
        assert s.value == s.index
        counts[s.index] += 1
    # Each case is chosen with probability 1/2; 200 draws all alike has p = 2**-199.
    assert counts[0] > 0 and counts[1] > 0


def test_same_channel_twice_takes_one_value() -> None:
    ch: Chan[int] = Chan(2)
    ch.send(1)
    ch.send(2)
    s = select(ch.recv_case(), ch.recv_case())
    assert s.value == 1 and s.index in (0, 1)
    assert len(ch) == 1


def test_blocked_select_fires_one_case_when_two_become_ready() -> None:
    a: Chan[int] = Chan(1)
    b: Chan[int] = Chan(1)
    g = gort.go(select, a.recv_case(), b.recv_case())
    wait_recv_waiting(a, 1)
    wait_recv_waiting(b, 1)

    def put(i: int) -> bool:
        return (a, b)[i].try_send(i)

    # Both sends succeed (into the waiter or into the buffer), but the select
    # takes exactly one value.
    assert run_concurrently(put, 2) == [True, True]
    s = g.result(timeout=JOIN)
    assert s.ok
    assert len(a) + len(b) == 1
    assert (a, b)[1 - s.index].try_recv() == (1 - s.index, True)


# --------------------------------------------------------------------------- send+recv, one channel

def test_send_and_recv_on_same_unbuffered_channel_do_not_pair_with_themselves() -> None:
    ch: Chan[int] = Chan()
    with pytest.raises(TimeoutError, match=r"^select timed out$"):
        select(ch.send_case(1), ch.recv_case(), timeout=0.02)
    assert select(ch.send_case(1), ch.recv_case(), default=True) == Selected(-1, None, False)
    assert waiting(ch) == (0, 0)


def test_send_and_recv_on_same_channel_woken_by_receiver() -> None:
    ch: Chan[int] = Chan()
    g = gort.go(select, ch.send_case(1), ch.recv_case())
    wait_send_waiting(ch, 1)
    wait_recv_waiting(ch, 1)
    assert ch.recv(timeout=JOIN) == 1
    assert g.result(timeout=JOIN) == Selected(0, None, True)
    assert waiting(ch) == (0, 0)


def test_send_and_recv_on_same_channel_woken_by_sender() -> None:
    ch: Chan[int] = Chan()
    g = gort.go(select, ch.send_case(1), ch.recv_case())
    wait_send_waiting(ch, 1)
    wait_recv_waiting(ch, 1)
    ch.send(2, timeout=JOIN)
    assert g.result(timeout=JOIN) == Selected(1, 2, True)
    assert waiting(ch) == (0, 0)


def test_send_and_recv_on_same_buffered_channel() -> None:
    ch: Chan[int] = Chan(1)
    assert select(ch.send_case(1), ch.recv_case()) == Selected(0, None, True)  # empty
    assert select(ch.send_case(2), ch.recv_case()) == Selected(1, 1, True)  # full
    assert len(ch) == 0


def test_two_selects_each_sending_and_receiving_on_one_channel() -> None:
    # Go's classic: two goroutines each select {send, recv} on the same channel;
    # they must pair up, one sending and one receiving.
    for _ in range(20):
        ch: Chan[str] = Chan()
        a = gort.go(select, ch.send_case("a"), ch.recv_case())
        b = gort.go(select, ch.send_case("b"), ch.recv_case())
        ra, rb = a.result(timeout=JOIN), b.result(timeout=JOIN)
        assert {ra.index, rb.index} == {0, 1}
        sent_by_a = ra.index == 0
        assert (rb if sent_by_a else ra).value == ("a" if sent_by_a else "b")
        assert waiting(ch) == (0, 0)


# --------------------------------------------------------------------------- errors

def test_bad_case_type_error() -> None:
    ch: Chan[int] = Chan(1)
    ch.send(1)
    msg = r"^select case must be a recv_case\(\), send_case\(\) or None, got int$"
    with pytest.raises(TypeError, match=msg):
        select(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=msg):
        select(ch.recv_case(), 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^select case must be .* or None, got Chan$"):
        select(ch)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^select case must be .* or None, got bool$"):
        select(False, default=True)  # type: ignore[arg-type]
    assert len(ch) == 1  # the valid case did not fire


def test_bad_case_type_error_in_every_world(world: World) -> None:
    with pytest.raises(TypeError, match=r"^select case must be .* or None, got Chan$"):
        world.run(world.select, Chan())


# --------------------------------------------------------------------------- races

def test_two_selects_race_for_one_value() -> None:
    for _ in range(30):
        ch: Chan[int] = Chan()
        quit_: Chan[None] = Chan()
        racers = [gort.go(select, ch.recv_case(), quit_.recv_case()) for _ in range(2)]
        wait_recv_waiting(ch, 2)
        ch.send(42, timeout=JOIN)
        wait_until(lambda racers=racers: any(g.done() for g in racers))  # type: ignore[misc]
        quit_.close()
        results = sorted((g.result(timeout=JOIN) for g in racers), key=lambda s: s.index)
        assert results == [Selected(0, 42, True), Selected(1, None, False)]
        assert waiting(ch) == (0, 0)


def test_select_receivers_share_values_without_loss_or_duplication() -> None:
    a: Chan[int] = Chan()
    b: Chan[int] = Chan(2)
    done: Chan[None] = Chan()

    def consume() -> list[int]:
        got: list[int] = []
        while True:
            s = select(a.recv_case(), b.recv_case(), done.recv_case())
            if s.index == 2:
                return got
            got.append(s.value)

    def produce(ch: Chan[int], base: int) -> None:
        for i in range(600):
            ch.send(base + i)

    consumers = [gort.go(consume) for _ in range(4)]
    producers = [gort.go(produce, a, 0), gort.go(produce, b, 1000)]
    for g in producers:
        g.result(timeout=30)
    wait_until(lambda: len(b) == 0)  # buffered values have been taken too
    done.close()
    got = sorted(v for g in consumers for v in g.result(timeout=JOIN))
    assert got == [*range(600), *range(1000, 1600)]


def test_select_senders_and_receivers_race() -> None:
    # Selecting senders against selecting receivers on two unbuffered channels.
    a: Chan[int] = Chan()
    b: Chan[int] = Chan()

    def send_all(base: int) -> None:
        for i in range(400):
            select(a.send_case(base + i), b.send_case(base + i))

    def recv_n(n: int) -> list[int]:
        return [select(a.recv_case(), b.recv_case()).value for _ in range(n)]

    senders = [gort.go(send_all, k * 1000) for k in range(2)]
    receivers = [gort.go(recv_n, 400) for _ in range(2)]
    got = sorted(v for g in receivers for v in g.result(timeout=30))
    for g in senders:
        g.result(timeout=JOIN)
    assert got == [*range(400), *range(1000, 1400)]
    assert waiting(a) == (0, 0) and waiting(b) == (0, 0)


def test_racing_select_timeouts_never_lose_or_duplicate_values() -> None:
    # Selects with tiny timeouts race each other: a select that timed out did
    # nothing, one that returned did exactly its case.
    a: Chan[int] = Chan()
    b: Chan[int] = Chan()

    def sender(i: int) -> list[int]:
        sent = []
        for k in range(300):
            v = i * 1000 + k
            try:
                select(a.send_case(v), b.send_case(v), timeout=0.0005)
            except TimeoutError:
                continue
            sent.append(v)
        return sent

    def receiver(_: int) -> list[int]:
        got = []
        for _ in range(300):
            try:
                got.append(select(a.recv_case(), b.recv_case(), timeout=0.0005).value)
            except TimeoutError:
                pass
        return got

    results = run_concurrently(lambda i: sender(i) if i < 2 else receiver(i), 4)
    sent = sorted(results[0] + results[1])
    assert sent, "no select ever paired"
    assert sent == sorted(results[2] + results[3])
    wait_until(lambda: waiting(a) == (0, 0) and waiting(b) == (0, 0))


# --------------------------------------------------------------------------- poll order

@pytest.mark.parametrize("ways", [2, 3, 4, 5])
def test_ready_cases_are_chosen_uniformly(ways: int) -> None:
    chans: list[Chan[int]] = [Chan(1) for _ in range(ways)]
    cases = [c.recv_case() for c in chans]
    draws = 1000 * ways
    counts = [0] * ways
    for _ in range(draws):
        for i, c in enumerate(chans):
            if len(c) == 0:
                c.send(i)
        s = select(*cases)
        assert s.value == s.index
        counts[s.index] += 1
    # Each count is Binomial(draws, 1/ways): mean 1000, sd < 32; 800..1200 is
    # more than 6 sd either side, so a fair choice fails this once in ~10**9.
    assert all(800 <= n <= 1200 for n in counts), counts


def test_select_over_one_channel_twice_locks_it_once() -> None:
    ch: Chan[int] = Chan(2)
    ch.send(7)
    seen = set()
    for _ in range(200):  # would deadlock on the second acquire of one lock
        s = select(ch.recv_case(), ch.recv_case(), ch.send_case(8))
        seen.add(s.index)
        if s.index == 2:
            assert len(ch) == 2 and ch.recv() == 7 and ch.recv() == 8
        else:
            assert s == Selected(s.index, 7, True) and len(ch) == 0
        ch.send(7)
    assert seen == {0, 1, 2}
    # Two cases on one channel: its lock is taken once (the two-case path).
    for _ in range(50):
        r = select(ch.recv_case(), ch.send_case(9))
        assert r in (Selected(0, 7, True), Selected(1, None, True))
        if r.index == 1:
            assert ch.recv() == 7 and ch.recv() == 9
        ch.send(7)


# --------------------------------------------------------------------------- one case

def test_one_case_select_is_the_plain_operation() -> None:
    ch: Chan[int] = Chan()
    g = gort.go(lambda: select(None, ch.recv_case(), None))
    wait_recv_waiting(ch, 1)
    wait_until(lambda: g.state is gort.GState.PARKED, JOIN, "the receiver parked")
    # It waits as a plain receive does (a select would say "[select]").
    assert f"goroutine {g.id} [chan receive]: " in gort.dump()
    ch.send(5)
    assert g.result(timeout=JOIN) == Selected(1, 5, True)
    g = gort.go(lambda: select(None, ch.send_case(6)))
    assert ch.recv(timeout=JOIN) == 6
    assert g.result(timeout=JOIN) == Selected(1, None, True)
    ch.close()
    assert select(ch.recv_case()) == Selected(0, None, False)
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        select(None, ch.send_case(1))
    with pytest.raises(TypeError, match=r"^select case must be .* or None, got int$"):
        select(None, 3)  # type: ignore[arg-type]


def test_one_case_select_in_every_world(world: World) -> None:
    ch: Chan[int] = Chan()
    h = world.go(world.select, ch.recv_case(), None)
    wait_recv_waiting(ch, 1)
    ch.send(4)
    assert h.result(timeout=JOIN) == Selected(0, 4, True)
    h = world.go(world.select, None, None, ch.send_case(9))
    assert ch.recv(timeout=JOIN) == 9
    assert h.result(timeout=JOIN) == Selected(2, None, True)
    ch.close()
    assert world.run(world.select, ch.recv_case(), None) == Selected(0, None, False)
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        world.run(world.select, None, None, ch.send_case(9))


def test_one_case_select_with_timeout_still_times_out() -> None:
    ch: Chan[int] = Chan()
    with pytest.raises(TimeoutError, match=r"^select timed out$"):
        select(ch.recv_case(), timeout=0.01)
    assert waiting(ch) == (0, 0)
