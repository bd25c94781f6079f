"""Chan: Go's channel semantics, error paths with their exact messages."""

from __future__ import annotations

import os
from typing import Any

import pytest

import gort
from gort import Chan, ChanClosed, ChanStatistics
from tests.helpers import run_concurrently, wait_recv_waiting, wait_send_waiting

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

def test_send_on_closed() -> None:
    ch: Chan[int] = Chan(1)
    ch.close()
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        ch.send(1)
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        ch.send(1, timeout=0)
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        ch.try_send(1)
    assert len(ch) == 0


def test_double_close() -> None:
    ch: Chan[int] = Chan()
    ch.close()
    with pytest.raises(ChanClosed, match=r"^close of closed channel$"):
        ch.close()
    assert ch.closed


def test_recv_on_closed_and_drained() -> None:
    ch: Chan[int] = Chan()
    ch.close()
    with pytest.raises(ChanClosed, match=r"^receive from closed channel$"):
        ch.recv()
    with pytest.raises(ChanClosed, match=r"^receive from closed channel$"):
        ch.recv(timeout=0)
    with pytest.raises(ChanClosed, match=r"^receive from closed channel$"):
        ch.try_recv()
    assert ch.recv_ok() == (None, False)
    assert ch.recv_ok(timeout=0) == (None, False)


def test_buffered_values_are_delivered_after_close() -> None:
    ch: Chan[str] = Chan(3)
    ch.send("a")
    ch.send("b")
    ch.send("c")
    ch.close()
    assert ch.recv() == "a"
    assert ch.recv_ok() == ("b", True)
    assert ch.try_recv() == ("c", True)
    assert len(ch) == 0
    assert ch.recv_ok() == (None, False)
    with pytest.raises(ChanClosed, match=r"^receive from closed channel$"):
        ch.recv()


def test_close_wakes_every_blocked_sender() -> None:
    ch: Chan[int] = Chan()
    senders = [gort.go(ch.send, i) for i in range(4)]
    wait_send_waiting(ch, 4)
    ch.close()
    for g in senders:
        with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
            g.result(timeout=JOIN)
    assert stats(ch) == (0, 0, True, 0, 0)


def test_close_wakes_blocked_sender_on_full_buffer_and_keeps_buffer() -> None:
    ch: Chan[str] = Chan(1)
    ch.send("kept")
    g = gort.go(ch.send, "dropped")
    wait_send_waiting(ch, 1)
    ch.close()
    with pytest.raises(ChanClosed, match=r"^send on closed channel$"):
        g.result(timeout=JOIN)
    assert list(ch) == ["kept"]


def test_close_wakes_every_blocked_receiver() -> None:
    ch: Chan[int] = Chan()
    raising = [gort.go(ch.recv) for _ in range(3)]
    wait_recv_waiting(ch, 3)
    ok_style = [gort.go(ch.recv_ok) for _ in range(3)]
    wait_recv_waiting(ch, 6)
    ch.close()
    for g in raising:
        with pytest.raises(ChanClosed, match=r"^receive from closed channel$"):
            g.result(timeout=JOIN)
    for h in ok_style:
        assert h.result(timeout=JOIN) == (None, False)
    assert stats(ch) == (0, 0, True, 0, 0)


def test_close_from_a_goroutine_wakes_main_thread() -> None:
    ch: Chan[int] = Chan()

    def close_later() -> None:
        wait_recv_waiting(ch, 1)
        ch.close()

    closer = gort.go(close_later)
    assert ch.recv_ok(timeout=JOIN) == (None, False)
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


def test_try_send_unbuffered_needs_a_waiting_receiver() -> None:
    ch: Chan[str] = Chan()
    assert ch.try_send("nobody") is False
    assert stats(ch) == (0, 0, False, 0, 0)
    g = gort.go(ch.recv)
    wait_recv_waiting(ch, 1)
    assert ch.try_send("x") is True
    assert g.result(timeout=JOIN) == "x"


def test_try_recv_unbuffered_takes_from_a_waiting_sender() -> None:
    ch: Chan[str] = Chan()
    assert ch.try_recv() == (None, False)
    g = gort.go(ch.send, "y")
    wait_send_waiting(ch, 1)
    assert ch.try_recv() == ("y", True)
    assert g.result(timeout=JOIN) is None
    assert ch.try_recv() == (None, False)


def test_try_recv_on_full_buffer_admits_a_blocked_sender() -> None:
    ch: Chan[int] = Chan(1)
    ch.send(1)
    g = gort.go(ch.send, 2)
    wait_send_waiting(ch, 1)
    assert ch.try_recv() == (1, True)
    assert g.result(timeout=JOIN) is None
    assert stats(ch) == (1, 1, False, 0, 0)
    assert ch.try_recv() == (2, True)


def test_none_is_a_value_not_a_closed_signal() -> None:
    ch: Chan[None] = Chan(1)
    ch.send(None)
    assert ch.try_recv() == (None, True)
    ch.send(None)
    assert ch.recv_ok() == (None, True)


# --------------------------------------------------------------------------- rendezvous

def test_unbuffered_send_waits_for_a_receiver() -> None:
    ch: Chan[str] = Chan()
    g = gort.go(ch.send, "v")
    wait_send_waiting(ch, 1)
    assert not g.done()
    assert g.state is gort.GState.PARKED
    assert len(ch) == 0
    assert ch.recv(timeout=JOIN) == "v"
    assert g.join(timeout=JOIN)
    assert g.result() is None


def test_unbuffered_recv_waits_for_a_sender() -> None:
    ch: Chan[str] = Chan()
    g = gort.go(ch.recv)
    wait_recv_waiting(ch, 1)
    assert not g.done()
    ch.send("w", timeout=JOIN)
    assert g.result(timeout=JOIN) == "w"


def test_buffered_send_returns_without_receiver_until_full() -> None:
    ch: Chan[int] = Chan(2)
    ch.send(1, timeout=0)
    ch.send(2, timeout=0)
    g = gort.go(ch.send, 3)
    wait_send_waiting(ch, 1)
    assert not g.done()
    assert ch.recv() == 1
    assert g.result(timeout=JOIN) is None
    assert [ch.recv(), ch.recv()] == [2, 3]


def test_ping_pong_between_goroutines() -> None:
    ping: Chan[int] = Chan()
    pong: Chan[int] = Chan()

    def player() -> int:
        n = 0
        for v in ping:
            pong.send(v + 1)
            n += 1
        return n

    g = gort.go(player)
    v = 0
    for _ in range(500):
        ping.send(v, timeout=JOIN)
        v = pong.recv(timeout=JOIN)
    ping.close()
    assert v == 500
    assert g.result(timeout=JOIN) == 500


# --------------------------------------------------------------------------- FIFO

def test_fifo_values_buffered() -> None:
    ch: Chan[int] = Chan(100)
    for i in range(100):
        ch.send(i)
    assert [ch.recv() for _ in range(100)] == list(range(100))


def test_fifo_blocked_senders_unbuffered() -> None:
    ch: Chan[int] = Chan()
    senders = []
    for i in range(5):
        senders.append(gort.go(ch.send, i))
        wait_send_waiting(ch, i + 1)  # enqueue them in a known order
    assert [ch.recv(timeout=JOIN) for _ in range(5)] == [0, 1, 2, 3, 4]
    for g in senders:
        assert g.result(timeout=JOIN) is None


def test_fifo_blocked_senders_behind_a_full_buffer() -> None:
    ch: Chan[str] = Chan(2)
    ch.send("a")
    ch.send("b")
    senders = []
    for i, v in enumerate("cde"):
        senders.append(gort.go(ch.send, v))
        wait_send_waiting(ch, i + 1)
    got = [ch.recv(timeout=JOIN) for _ in range(5)]
    assert got == ["a", "b", "c", "d", "e"]
    for g in senders:
        assert g.result(timeout=JOIN) is None


def test_fifo_blocked_senders_released_in_order() -> None:
    # Each receive releases exactly the oldest blocked sender.
    ch: Chan[int] = Chan(1)
    ch.send(-1)
    senders = []
    for i in range(4):
        senders.append(gort.go(ch.send, i))
        wait_send_waiting(ch, i + 1)
    for i in range(4):
        ch.recv(timeout=JOIN)
        assert senders[i].join(timeout=JOIN)
        assert all(not g.done() for g in senders[i + 1:])
        assert ch.statistics().senders_waiting == 3 - i


def test_fifo_blocked_receivers() -> None:
    ch: Chan[int] = Chan()
    receivers = []
    for i in range(5):
        receivers.append(gort.go(ch.recv))
        wait_recv_waiting(ch, i + 1)
    for i in range(5):
        ch.send(i * 10, timeout=JOIN)
        assert receivers[i].result(timeout=JOIN) == i * 10
        assert all(not g.done() for g in receivers[i + 1:])


def test_fifo_per_sender_under_concurrency() -> None:
    # Several producers: each producer's values arrive in the order it sent them.
    ch: Chan[tuple[int, int]] = Chan(4)

    def produce(p: int) -> None:
        for k in range(500):
            ch.send((p, k))

    producers = [gort.go(produce, p) for p in range(4)]
    last = [-1] * 4
    for _ in range(4 * 500):
        p, k = ch.recv(timeout=JOIN)
        assert k == last[p] + 1
        last[p] = k
    for g in producers:
        g.result(timeout=JOIN)
    assert last == [499] * 4


# --------------------------------------------------------------------------- timeouts

def test_recv_timeout_leaves_channel_unchanged() -> None:
    ch: Chan[int] = Chan()
    with pytest.raises(TimeoutError, match=r"^receive timed out$"):
        ch.recv(timeout=0.02)
    with pytest.raises(TimeoutError, match=r"^receive timed out$"):
        ch.recv_ok(timeout=0.02)
    with pytest.raises(TimeoutError, match=r"^receive timed out$"):
        ch.recv(timeout=0)
    with pytest.raises(TimeoutError, match=r"^receive timed out$"):
        ch.recv(timeout=-1)
    assert stats(ch) == (0, 0, False, 0, 0)
    # A later send is not swallowed by the timed-out receiver.
    g = gort.go(ch.send, 5)
    wait_send_waiting(ch, 1)
    assert ch.recv(timeout=JOIN) == 5
    g.result(timeout=JOIN)


def test_send_timeout_unbuffered_is_not_delivered_later() -> None:
    ch: Chan[str] = Chan()
    with pytest.raises(TimeoutError, match=r"^send timed out$"):
        ch.send("stale", timeout=0.02)
    with pytest.raises(TimeoutError, match=r"^send timed out$"):
        ch.send("stale0", timeout=0)
    assert stats(ch) == (0, 0, False, 0, 0)
    assert ch.try_recv() == (None, False)
    g = gort.go(ch.recv)
    wait_recv_waiting(ch, 1)
    ch.send("fresh", timeout=JOIN)
    assert g.result(timeout=JOIN) == "fresh"


def test_send_timeout_on_full_buffer_leaves_buffer_as_it_was() -> None:
    ch: Chan[str] = Chan(1)
    ch.send("a")
    with pytest.raises(TimeoutError, match=r"^send timed out$"):
        ch.send("b", timeout=0.02)
    assert stats(ch) == (1, 1, False, 0, 0)
    assert ch.recv() == "a"
    assert ch.try_recv() == (None, False)
    assert len(ch) == 0


def test_send_with_timeout_succeeds_when_received_in_time() -> None:
    ch: Chan[int] = Chan()
    g = gort.go(ch.send, 7, timeout=JOIN)
    wait_send_waiting(ch, 1)
    assert ch.recv(timeout=JOIN) == 7
    assert g.result(timeout=JOIN) is None


def test_timed_out_waiter_between_others_keeps_their_order() -> None:
    ch: Chan[int] = Chan()
    first = gort.go(ch.send, 1)
    wait_send_waiting(ch, 1)
    middle = gort.go(ch.send, 2, timeout=0.05)
    wait_send_waiting(ch, 2)
    with pytest.raises(TimeoutError, match=r"^send timed out$"):
        middle.result(timeout=JOIN)
    last = gort.go(ch.send, 3)
    wait_send_waiting(ch, 2)
    assert ch.statistics().senders_waiting == 2
    assert [ch.recv(timeout=JOIN), ch.recv(timeout=JOIN)] == [1, 3]
    first.result(timeout=JOIN)
    last.result(timeout=JOIN)


def test_racing_timeouts_never_lose_or_duplicate_values() -> None:
    # Senders with short timeouts race receivers with short timeouts: every value
    # whose send succeeded is received exactly once, and no other value is.
    ch: Chan[int] = Chan()

    def sender(i: int) -> list[int]:
        sent = []
        for k in range(300):
            v = i * 1000 + k
            try:
                ch.send(v, timeout=0.0005)
            except TimeoutError:
                continue
            sent.append(v)
        return sent

    def receiver(_: int) -> list[int]:
        got = []
        for _ in range(300):
            try:
                got.append(ch.recv(timeout=0.0005))
            except TimeoutError:
                pass
        return got

    results = run_concurrently(lambda i: sender(i) if i < 2 else receiver(i), 4)
    sent = sorted(results[0] + results[1])
    received = sorted(results[2] + results[3])
    assert sent == received
    assert sent, "no send ever met a receiver"
    assert stats(ch) == (0, 0, False, 0, 0)


# --------------------------------------------------------------------------- iteration

def test_iteration_until_closed() -> None:
    ch: Chan[int] = Chan(5)

    def produce() -> None:
        for i in range(100):
            ch.send(i)
        ch.close()

    g = gort.go(produce)
    assert list(ch) == list(range(100))
    g.result(timeout=JOIN)
    assert list(ch) == []


def test_iteration_of_closed_buffered_channel() -> None:
    ch: Chan[int] = Chan(3)
    for i in range(3):
        ch.send(i)
    ch.close()
    assert [v for v in ch] == [0, 1, 2]


def test_iteration_in_several_goroutines_shares_the_values() -> None:
    ch: Chan[int] = Chan()

    def consume() -> list[int]:
        return list(ch)

    consumers = [gort.go(consume) for _ in range(3)]
    for i in range(300):
        ch.send(i, timeout=JOIN)
    ch.close()
    got = sorted(v for g in consumers for v in g.result(timeout=JOIN))
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


def test_views_share_state_across_goroutines() -> None:
    ch: Chan[int] = Chan()
    tx, rx = ch.send_only(), ch.recv_only()

    def produce(out: gort.SendChan[int]) -> None:
        for i in range(10):
            out.send(i)
        out.close()

    g = gort.go(produce, tx)
    assert list(rx) == list(range(10))
    g.result(timeout=JOIN)


# --------------------------------------------------------------------------- stress

@pytest.mark.parametrize("cap", [0, 1, 16])
def test_many_senders_many_receivers_no_loss_no_duplicates(cap: int) -> None:
    ch: Chan[int] = Chan(cap)
    n_send, n_recv, per = 4, 4, 500
    done = gort.WaitGroup()

    def sender(i: int) -> None:
        for k in range(per):
            ch.send(i * per + k)

    receivers: list[gort.Goroutine[list[int]]] = [gort.go(list, ch) for _ in range(n_recv)]
    for i in range(n_send):
        done.go(sender, i)
    assert done.wait(timeout=30)
    ch.close()
    got = sorted(v for g in receivers for v in g.result(timeout=JOIN))
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
