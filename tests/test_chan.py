"""Chan: Go's channel semantics, error paths with their exact messages.

Every blocking operation is tested in each world (``world`` fixture,
``tests/worlds.py``): a plain goroutine, a coroutine goroutine, an asyncio task
and a foreign thread, one test body for all four."""

from __future__ import annotations

import os
from typing import Any

import pytest

import gort
from gort import Chan, ChanClosed, ChanStatistics
from tests.helpers import wait_recv_waiting, wait_send_waiting
from tests.worlds import World

JOIN = 10.0  # bound on every wait for a goroutine in this file


def stats(ch: Chan[Any]) -> tuple[int, int, bool, int, int]:
    s = ch.statistics()
    return s.cap, s.len, s.closed, s.senders_waiting, s.receivers_waiting


# --------------------------------------------------------------------------- construction

def test_capacity_type_error() -> None:
    with pytest.raises(TypeError, match=r"^Chan capacity must be an int, got str$"):
        Chan("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^Chan capacity must be an int, got float$"):
        Chan(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^Chan capacity must be an int, got bool$"):
        Chan(True)
    with pytest.raises(TypeError, match=r"^Chan capacity must be an int, got NoneType$"):
        Chan(None)  # type: ignore[arg-type]


def test_capacity_value_error() -> None:
    with pytest.raises(ValueError, match=r"^Chan capacity must be >= 0, got -1$"):
        Chan(-1)


def test_generic_subscription() -> None:
    ch = Chan[int](3)
    assert isinstance(ch, Chan)
    assert ch.cap == 3
    assert Chan[str]().cap == 0
    assert Chan().cap == 0


def test_len_cap_closed() -> None:
    ch: Chan[int] = Chan(3)
    assert (len(ch), ch.cap, ch.closed) == (0, 3, False)
    ch.send(1)
    ch.send(2)
    assert len(ch) == 2
    ch.close()
    assert (len(ch), ch.cap, ch.closed) == (2, 3, True)
    ch.recv()
    assert len(ch) == 1


def test_repr_and_statistics() -> None:
    ch: Chan[int] = Chan(2)
    assert repr(ch) == "<Chan cap=2 len=0 sendq=0 recvq=0>"
    ch.send(1)
    assert repr(ch) == "<Chan cap=2 len=1 sendq=0 recvq=0>"
    s = ch.statistics()
    assert s == ChanStatistics(cap=2, len=1, closed=False, senders_waiting=0,
                               receivers_waiting=0)
    with pytest.raises(AttributeError):
        s.len = 5  # type: ignore[misc]  # frozen
    ch.close()
    assert repr(ch) == "<Chan cap=2 len=1 sendq=0 recvq=0 closed>"
    assert ch.statistics().closed is True


def test_repr_and_statistics_count_waiters() -> None:
    ch: Chan[int] = Chan()
    senders = [gort.go(ch.send, i) for i in range(2)]
    wait_send_waiting(ch, 2)
    assert repr(ch) == "<Chan cap=0 len=0 sendq=2 recvq=0>"
    assert stats(ch) == (0, 0, False, 2, 0)
    assert sorted([ch.recv(timeout=JOIN), ch.recv(timeout=JOIN)]) == [0, 1]
    for g in senders:
        assert g.result(timeout=JOIN) is None

    other: Chan[int] = Chan()
    receivers = [gort.go(other.recv) for _ in range(3)]
    wait_recv_waiting(other, 3)
    assert repr(other) == "<Chan cap=0 len=0 sendq=0 recvq=3>"
    assert stats(other) == (0, 0, False, 0, 3)
    other.close()
    for r in receivers:
        with pytest.raises(ChanClosed):
            r.result(timeout=JOIN)


# --------------------------------------------------------------------------- closed channels
# Each blocking operation runs in every world (tests/worlds.py); the other side
# of it is this test's thread, and the order comes from the channel's waiter counts.

def test_send_on_closed(world: World) -> None:
    ch: Chan[int] = Chan(1)
    ch.close()

    async def body() -> None:
        for t in (None, 0):
            with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
                await world.send(ch, 1, t)

    world.run(body)
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        ch.try_send(1)
    assert len(ch) == 0


def test_double_close() -> None:
    ch: Chan[int] = Chan()
    ch.close()
    with pytest.raises(ChanClosed, match=r"^close of closed channel$"):
        ch.close()
    assert ch.closed


def test_recv_on_closed_and_drained(world: World) -> None:
    ch: Chan[int] = Chan()
    ch.close()

    async def body() -> None:
        for t in (None, 0):
            with pytest.raises(ChanClosed, match=r"^receive from closed channel$"):
                await world.recv(ch, t)
            assert await world.recv_ok(ch, t) == (None, False)

    world.run(body)
    with pytest.raises(ChanClosed, match=r"^receive from closed channel$"):
        ch.try_recv()


def test_buffered_values_are_delivered_after_close(world: World) -> None:
    ch: Chan[str] = Chan(3)
    ch.send("a")
    ch.send("b")
    ch.send("c")
    ch.close()

    async def body() -> None:
        assert await world.recv(ch) == "a"
        assert await world.recv_ok(ch) == ("b", True)
        assert ch.try_recv() == ("c", True)
        assert len(ch) == 0
        assert await world.recv_ok(ch) == (None, False)
        with pytest.raises(ChanClosed, match=r"^receive from closed channel$"):
            await world.recv(ch)

    world.run(body)


@pytest.mark.parametrize("cap", [0, 1])
def test_close_wakes_every_blocked_sender_and_receiver(world: World, cap: int) -> None:
    full: Chan[int] = Chan(cap)
    empty: Chan[int] = Chan(cap)
    for i in range(cap):
        full.send(-1 - i)
    senders = [world.go(world.send, full, i) for i in range(4)]
    raising = [world.go(world.recv, empty) for _ in range(3)]
    ok_style = [world.go(world.recv_ok, empty) for _ in range(3)]
    wait_send_waiting(full, 4)
    wait_recv_waiting(empty, 6)
    full.close()
    empty.close()
    for h in senders:
        with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
            h.result(timeout=JOIN)
    for h in raising:
        with pytest.raises(ChanClosed, match=r"^receive from closed channel$"):
            h.result(timeout=JOIN)
    for h in ok_style:
        assert h.result(timeout=JOIN) == (None, False)
    assert list(full) == [-1 - i for i in range(cap)]  # the buffered values survive
    assert stats(full) == (cap, 0, True, 0, 0)
    assert stats(empty) == (cap, 0, True, 0, 0)


def test_close_from_a_goroutine_wakes_a_receiver(world: World) -> None:
    ch: Chan[int] = Chan()

    def close_later() -> None:
        wait_recv_waiting(ch, 1)
        ch.close()

    closer = gort.go(close_later)
    assert world.run(world.recv_ok, ch, JOIN) == (None, False)
    closer.result(timeout=JOIN)


# --------------------------------------------------------------------------- try operations

def test_try_send_and_try_recv_buffered() -> None:
    ch: Chan[int] = Chan(2)
    assert ch.try_recv() == (None, False)
    assert ch.try_send(1) is True
    assert ch.try_send(2) is True
    assert ch.try_send(3) is False  # full: nothing happens
    assert len(ch) == 2
    assert ch.try_recv() == (1, True)
    assert ch.try_recv() == (2, True)
    assert ch.try_recv() == (None, False)
    ch.close()
    with pytest.raises(ChanClosed, match=r"^receive from closed channel$"):
        ch.try_recv()
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        ch.try_send(4)


def test_try_send_unbuffered_needs_a_waiting_receiver(world: World) -> None:
    ch: Chan[str] = Chan()
    assert ch.try_send("nobody") is False
    assert stats(ch) == (0, 0, False, 0, 0)
    h = world.go(world.recv, ch)
    wait_recv_waiting(ch, 1)
    assert ch.try_send("x") is True
    assert h.result(timeout=JOIN) == "x"


def test_try_recv_unbuffered_takes_from_a_waiting_sender(world: World) -> None:
    ch: Chan[str] = Chan()
    assert ch.try_recv() == (None, False)
    h = world.go(world.send, ch, "y")
    wait_send_waiting(ch, 1)
    assert ch.try_recv() == ("y", True)
    assert h.result(timeout=JOIN) is None
    assert ch.try_recv() == (None, False)


def test_try_recv_on_full_buffer_admits_a_blocked_sender(world: World) -> None:
    ch: Chan[int] = Chan(1)
    ch.send(1)
    h = world.go(world.send, ch, 2)
    wait_send_waiting(ch, 1)
    assert ch.try_recv() == (1, True)
    assert h.result(timeout=JOIN) is None
    assert stats(ch) == (1, 1, False, 0, 0)
    assert ch.try_recv() == (2, True)


def test_none_is_a_value_not_a_closed_signal(world: World) -> None:
    ch: Chan[None] = Chan(1)
    ch.send(None)
    assert ch.try_recv() == (None, True)
    ch.send(None)
    assert world.run(world.recv_ok, ch) == (None, True)
    h = world.go(world.recv_ok, ch)  # parked, then handed None directly
    wait_recv_waiting(ch, 1)
    ch.send(None)
    assert h.result(timeout=JOIN) == (None, True)


# --------------------------------------------------------------------------- rendezvous

def test_unbuffered_send_waits_for_a_receiver(world: World) -> None:
    ch: Chan[str] = Chan()
    h = world.go(world.send, ch, "v")
    wait_send_waiting(ch, 1)
    assert not h.done()
    if isinstance(h, gort.Goroutine):
        assert h.state is gort.GState.PARKED
    assert len(ch) == 0
    assert ch.recv(timeout=JOIN) == "v"
    assert h.result(timeout=JOIN) is None


def test_unbuffered_recv_waits_for_a_sender(world: World) -> None:
    ch: Chan[str] = Chan()
    h = world.go(world.recv, ch)
    wait_recv_waiting(ch, 1)
    assert not h.done()
    ch.send("w", timeout=JOIN)
    assert h.result(timeout=JOIN) == "w"


def test_buffered_send_returns_without_receiver_until_full(world: World) -> None:
    ch: Chan[int] = Chan(2)

    async def body() -> None:
        await world.send(ch, 1, 0)
        await world.send(ch, 2, 0)

    world.run(body)
    h = world.go(world.send, ch, 3)
    wait_send_waiting(ch, 1)
    assert not h.done()
    assert ch.recv() == 1
    assert h.result(timeout=JOIN) is None
    assert [ch.recv(), ch.recv()] == [2, 3]


def test_ping_pong_with_the_test_thread(world: World) -> None:
    ping: Chan[int] = Chan()
    pong: Chan[int] = Chan()

    async def player() -> int:
        n = 0
        async for v in world.iter(ping):
            await world.send(pong, v + 1)
            n += 1
        return n

    h = world.go(player)
    v = 0
    for _ in range(500):
        ping.send(v, timeout=JOIN)
        v = pong.recv(timeout=JOIN)
    ping.close()
    assert v == 500
    assert h.result(timeout=JOIN) == 500


@pytest.mark.parametrize("cap", [0, 1, 8])
def test_producer_and_consumer_in_one_world(world: World, cap: int) -> None:
    ch: Chan[int] = Chan(cap)

    async def producer() -> None:
        for i in range(200):
            await world.send(ch, i)
        ch.close()

    async def consumer() -> list[int]:
        got: list[int] = []
        while True:
            v, ok = await world.recv_ok(ch)
            if not ok:
                return got
            got.append(v)

    c = world.go(consumer)
    p = world.go(producer)
    assert p.result(timeout=JOIN) is None
    assert c.result(timeout=JOIN) == list(range(200))


# --------------------------------------------------------------------------- FIFO

def test_fifo_values_buffered() -> None:
    ch: Chan[int] = Chan(100)
    for i in range(100):
        ch.send(i)
    assert [ch.recv() for _ in range(100)] == list(range(100))


@pytest.mark.parametrize("cap", [0, 3])
def test_fifo_blocked_senders(world: World, cap: int) -> None:
    # Behind a full buffer or on a rendezvous channel, blocked senders are
    # served in the order they blocked.
    ch: Chan[int] = Chan(cap)
    for i in range(cap):
        ch.send(i)
    senders = []
    for i in range(cap, cap + 5):
        senders.append(world.go(world.send, ch, i))
        wait_send_waiting(ch, i - cap + 1)  # enqueue them in a known order
    assert [ch.recv(timeout=JOIN) for _ in range(cap + 5)] == list(range(cap + 5))
    for h in senders:
        assert h.result(timeout=JOIN) is None


def test_fifo_blocked_senders_released_in_order(world: World) -> None:
    # Each receive releases exactly the oldest blocked sender.
    ch: Chan[int] = Chan(1)
    ch.send(-1)
    senders = []
    for i in range(4):
        senders.append(world.go(world.send, ch, i))
        wait_send_waiting(ch, i + 1)
    for i in range(4):
        ch.recv(timeout=JOIN)
        assert senders[i].result(timeout=JOIN) is None
        assert all(not h.done() for h in senders[i + 1:])
        assert ch.statistics().senders_waiting == 3 - i


def test_fifo_blocked_receivers(world: World) -> None:
    ch: Chan[int] = Chan()
    receivers = []
    for i in range(5):
        receivers.append(world.go(world.recv, ch))
        wait_recv_waiting(ch, i + 1)
    for i in range(5):
        ch.send(i * 10, timeout=JOIN)
        assert receivers[i].result(timeout=JOIN) == i * 10
        assert all(not h.done() for h in receivers[i + 1:])


def test_fifo_per_sender_under_concurrency(world: World) -> None:
    # Several producers: each producer's values arrive in the order it sent them.
    ch: Chan[tuple[int, int]] = Chan(4)

    async def produce(p: int) -> None:
        for k in range(500):
            await world.send(ch, (p, k))

    producers = [world.go(produce, p) for p in range(4)]
    last = [-1] * 4
    for _ in range(4 * 500):
        p, k = ch.recv(timeout=JOIN)
        assert k == last[p] + 1
        last[p] = k
    for h in producers:
        h.result(timeout=JOIN)
    assert last == [499] * 4


# --------------------------------------------------------------------------- timeouts

def test_recv_timeout_leaves_channel_unchanged(world: World) -> None:
    ch: Chan[int] = Chan()

    async def body() -> None:
        for t in (0.02, 0, -1):
            with pytest.raises(TimeoutError, match=r"^receive timed out$"):
                await world.recv(ch, t)
            with pytest.raises(TimeoutError, match=r"^receive timed out$"):
                await world.recv_ok(ch, t)

    world.run(body)
    assert stats(ch) == (0, 0, False, 0, 0)
    # Nothing was consumed and no dead waiter is left to swallow a value.
    assert not ch.try_send(1)
    g = gort.go(ch.send, 5)
    wait_send_waiting(ch, 1)
    assert ch.recv(timeout=JOIN) == 5
    g.result(timeout=JOIN)


def test_send_timeout_unbuffered_is_not_delivered_later(world: World) -> None:
    ch: Chan[str] = Chan()

    async def body() -> None:
        for v, t in (("stale", 0.02), ("stale0", 0), ("stale-1", -1)):
            with pytest.raises(TimeoutError, match=r"^send timed out$"):
                await world.send(ch, v, t)

    world.run(body)
    assert stats(ch) == (0, 0, False, 0, 0)
    assert ch.try_recv() == (None, False)
    g = gort.go(ch.recv)
    wait_recv_waiting(ch, 1)
    ch.send("fresh", timeout=JOIN)
    assert g.result(timeout=JOIN) == "fresh"


def test_send_timeout_on_full_buffer_leaves_buffer_as_it_was(world: World) -> None:
    ch: Chan[str] = Chan(2)
    ch.send("a")
    ch.send("b")
    with pytest.raises(TimeoutError, match=r"^send timed out$"):
        world.run(world.send, ch, "c", 0.02)
    assert stats(ch) == (2, 2, False, 0, 0)
    ch.close()
    assert list(ch) == ["a", "b"]


def test_send_with_timeout_succeeds_when_received_in_time(world: World) -> None:
    ch: Chan[int] = Chan()
    h = world.go(world.send, ch, 7, JOIN)
    wait_send_waiting(ch, 1)
    assert ch.recv(timeout=JOIN) == 7
    assert h.result(timeout=JOIN) is None


def test_recv_with_timeout_succeeds_when_sent_in_time(world: World) -> None:
    ch: Chan[int] = Chan()
    h = world.go(world.recv, ch, JOIN)
    wait_recv_waiting(ch, 1)
    ch.send(8, timeout=JOIN)
    assert h.result(timeout=JOIN) == 8


def test_timed_out_sender_between_others_keeps_their_order(world: World) -> None:
    ch: Chan[int] = Chan()
    first = world.go(world.send, ch, 1)
    wait_send_waiting(ch, 1)
    middle = world.go(world.send, ch, 2, 0.05)
    wait_send_waiting(ch, 2)
    with pytest.raises(TimeoutError, match=r"^send timed out$"):
        middle.result(timeout=JOIN)
    last = world.go(world.send, ch, 3)
    wait_send_waiting(ch, 2)
    assert ch.statistics().senders_waiting == 2
    assert [ch.recv(timeout=JOIN), ch.recv(timeout=JOIN)] == [1, 3]
    first.result(timeout=JOIN)
    last.result(timeout=JOIN)


def test_timed_out_receiver_between_others_keeps_their_order(world: World) -> None:
    ch: Chan[int] = Chan()
    first = world.go(world.recv, ch)
    wait_recv_waiting(ch, 1)
    middle = world.go(world.recv, ch, 0.05)
    wait_recv_waiting(ch, 2)
    with pytest.raises(TimeoutError, match=r"^receive timed out$"):
        middle.result(timeout=JOIN)
    last = world.go(world.recv, ch)
    wait_recv_waiting(ch, 2)
    assert ch.statistics().receivers_waiting == 2
    ch.send(1, timeout=JOIN)
    ch.send(2, timeout=JOIN)
    assert (first.result(timeout=JOIN), last.result(timeout=JOIN)) == (1, 2)


def test_racing_timeouts_never_lose_or_duplicate_values(world: World) -> None:
    # Senders with short timeouts race receivers with short timeouts: every value
    # whose send succeeded is received exactly once, and no other value is.
    ch: Chan[int] = Chan()

    async def sender(i: int) -> list[int]:
        sent = []
        for k in range(300):
            v = i * 1000 + k
            try:
                await world.send(ch, v, 0.0005)
            except TimeoutError:
                continue
            sent.append(v)
        return sent

    async def receiver() -> list[int]:
        got = []
        for _ in range(300):
            try:
                got.append(await world.recv(ch, 0.0005))
            except TimeoutError:
                pass
        return got

    hs = [world.go(sender, 0), world.go(sender, 1), world.go(receiver), world.go(receiver)]
    results = [h.result(timeout=60) for h in hs]
    sent = sorted(results[0] + results[1])
    received = sorted(results[2] + results[3])
    assert sent == received
    assert sent, "no send ever met a receiver"
    assert stats(ch) == (0, 0, False, 0, 0)


# --------------------------------------------------------------------------- iteration

async def drain(world: World, ch: Chan[Any] | gort.RecvChan[Any]) -> list[Any]:
    return [v async for v in world.iter(ch)]


def test_iteration_until_closed(world: World) -> None:
    ch: Chan[int] = Chan(5)

    def produce() -> None:
        for i in range(100):
            ch.send(i)
        ch.close()

    g = gort.go(produce)
    assert world.run(drain, world, ch) == list(range(100))
    g.result(timeout=JOIN)
    assert world.run(drain, world, ch) == []


def test_iteration_of_closed_buffered_channel_gets_every_value(world: World) -> None:
    ch: Chan[Any] = Chan(4)
    for v in (0, None, 2):
        ch.send(v)
    ch.close()
    assert world.run(drain, world, ch) == [0, None, 2]
    assert world.run(drain, world, ch) == []


def test_iteration_in_several_goroutines_shares_the_values(world: World) -> None:
    ch: Chan[int] = Chan()
    consumers = [world.go(drain, world, ch) for _ in range(3)]
    for i in range(300):
        ch.send(i, timeout=JOIN)
    ch.close()
    got = sorted(v for h in consumers for v in h.result(timeout=JOIN))
    assert got == list(range(300))


# --------------------------------------------------------------------------- views


def test_send_only_view() -> None:
    ch: Chan[int] = Chan(2)
    s = ch.send_only()
    assert isinstance(s, gort.SendChan)
    assert not isinstance(s, gort.RecvChan)
    assert not isinstance(s, Chan)
    s.send(1)
    assert s.try_send(2) is True
    assert s.try_send(3) is False
    assert (len(s), s.cap, s.closed) == (2, 2, False)
    assert repr(s) == "<SendChan of Chan cap=2 len=2 sendq=0 recvq=0>"
    assert isinstance(s.send_case(9), gort.SendCase)
    for name in ("recv", "recv_ok", "try_recv", "recv_case"):
        with pytest.raises(AttributeError):
            getattr(s, name)
    with pytest.raises(TypeError):
        iter(s)  # type: ignore[call-overload]
    s.close()
    assert s.closed and ch.closed
    assert list(ch) == [1, 2]


def test_recv_only_view() -> None:
    ch: Chan[int] = Chan(3)
    r = ch.recv_only()
    assert isinstance(r, gort.RecvChan)
    assert not isinstance(r, gort.SendChan)
    assert not isinstance(r, Chan)
    for name in ("send", "try_send", "send_case", "close"):
        with pytest.raises(AttributeError):
            getattr(r, name)
    ch.send(1)
    ch.send(2)
    ch.send(3)
    assert (len(r), r.cap, r.closed) == (3, 3, False)
    assert repr(r) == "<RecvChan of Chan cap=3 len=3 sendq=0 recvq=0>"
    assert r.recv() == 1
    assert r.recv_ok() == (2, True)
    assert r.try_recv() == (3, True)
    assert isinstance(r.recv_case(), gort.RecvCase)
    ch.send(4)
    ch.close()
    assert r.closed
    assert list(r) == [4]
    assert r.recv_ok() == (None, False)


def test_views_share_state_across_goroutines(world: World) -> None:
    ch: Chan[int] = Chan()
    tx, rx = ch.send_only(), ch.recv_only()

    async def produce(out: gort.SendChan[int]) -> None:
        for i in range(10):
            await world.send(out, i)
        out.close()

    h = world.go(produce, tx)
    assert list(rx) == list(range(10))
    h.result(timeout=JOIN)


def test_views_carry_every_worlds_forms(world: World) -> None:
    # Regression (coroutine forms): send_only()/recv_only() views used to bind
    # only the sync forms, so asend, arecv, arecv_ok and ``async for`` on a view
    # raised NotImplementedError.
    ch: Chan[int] = Chan(2)
    s = ch.send_only()
    r = ch.recv_only()

    async def body() -> list[Any]:
        await world.send(s, 1)
        out: list[Any] = [await world.recv(r)]
        await world.send(s, 2)
        s.close()
        out.append(await drain(world, r))
        out.append(await world.recv_ok(r))
        return out

    assert world.run(body) == [1, [2], (None, False)]


# --------------------------------------------------------------------------- many at once

@pytest.mark.parametrize("cap", [0, 1, 16])
def test_many_senders_many_receivers_no_loss_no_duplicates(world: World, cap: int) -> None:
    ch: Chan[int] = Chan(cap)
    n_send, n_recv, per = 4, 4, 500

    async def sender(i: int) -> None:
        for k in range(per):
            await world.send(ch, i * per + k)

    receivers = [world.go(drain, world, ch) for _ in range(n_recv)]
    senders = [world.go(sender, i) for i in range(n_send)]
    for h in senders:
        h.result(timeout=30)
    ch.close()
    got = sorted(v for h in receivers for v in h.result(timeout=JOIN))
    assert got == list(range(n_send * per))
    assert stats(ch) == (cap, 0, True, 0, 0)


def test_an_empty_channel_is_true() -> None:
    # ``if ch:`` asks whether there is a channel (Go's ch != nil), never whether
    # it holds values; an empty channel must not read as "no channel".
    ch: gort.Chan[int] = gort.Chan(4)
    assert len(ch) == 0 and bool(ch)
    assert bool(ch.recv_only()) and bool(ch.send_only())


def test_debug_mode_checks_invariants_after_every_operation() -> None:
    """GORT_DEBUG=1 wraps the channel operations with Go's debugChan check."""
    import subprocess
    import sys
    import textwrap
    prog = textwrap.dedent("""
        import gort
        assert hasattr(gort.Chan.send, "__wrapped__")
        ch = gort.Chan(2)
        done = gort.Chan()
        def producer():
            for i in range(200):
                ch.send(i)
            ch.close()
        gort.go(producer)
        total = sum(ch)
        ch2 = gort.Chan(1)
        ch2._buf.append(1)  # corrupt it: a full buffer...
        ch2._buf.append(2)  # ...over capacity,
        ch2._buf.append(3)  # even after one receive
        try:
            ch2.try_recv()
        except AssertionError as e:
            print(total, "caught:", e)
    """)
    env = {**os.environ, "GORT_DEBUG": "1"}
    out = subprocess.run([sys.executable, "-c", prog], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "19900 caught: buffer over capacity"
