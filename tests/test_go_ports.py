"""Ports of Go's own channel tests (``test/chan/*.go`` in the Go repository, and
``TestSelectFairness`` from ``runtime/chan_test.go``) to gort.

Each test names the Go file it ports.  Go's ``nil`` channel becomes a ``None``
select case, a panic becomes an exception (``ChanClosed``), and "blocks" is
checked with the operation's own timeout (``TimeoutError``, channel unchanged)
or by watching the goroutine park; "never blocks" is checked with
``timeout=0``, which raises at once if the operation would have to wait.
Goroutines are ordered by the runtime's state (waiter counts), never by sleeping.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

import gort
from gort import Chan, ChanClosed, Goroutine, aselect, select
from tests.helpers import wait_recv_waiting, wait_send_waiting, wait_until
from tests.worlds import Handle, World

JOIN = 30.0  # generous bound on any goroutine's life; a deadlock fails the test
BLOCK = 0.02  # how long an operation that must block is given before it times out

PRIMES_100 = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71,
    73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163,
    167, 173, 179, 181, 191, 193, 197, 199, 211, 223, 227, 229, 233, 239, 241, 251, 257,
    263, 269, 271, 277, 281, 283, 293, 307, 311, 313, 317, 331, 337, 347, 349, 353, 359,
    367, 373, 379, 383, 389, 397, 401, 409, 419, 421, 431, 433, 439, 443, 449, 457, 461,
    463, 467, 479, 487, 491, 499, 503, 509, 521, 523, 541,
]


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def test_primes_table() -> None:
    assert len(PRIMES_100) == 100
    assert PRIMES_100 == [n for n in range(2, 542) if _is_prime(n)]


def finish(*gs: Goroutine[Any]) -> list[Any]:
    """Join every goroutine (a deadlock fails fast) and return their results."""
    for g in gs:
        assert g.join(JOIN), f"{g!r} did not finish within {JOIN}s"
    return [g.result(0) for g in gs]


def assert_blocks(op: Callable[..., Any], ch: Chan[Any] | None = None) -> None:
    """``op(timeout=...)`` must block: it times out and leaves ``ch`` as it was."""
    before = ch.statistics() if ch is not None else None
    with pytest.raises(TimeoutError):
        op(timeout=BLOCK)
    if ch is not None:
        assert ch.statistics() == before


class _Quit(Exception):
    """Raised inside a pipeline goroutine once its quit channel is closed."""


def _send_or_quit(ch: Chan[Any], v: Any, quit: Chan[None]) -> None:
    if select(ch.send_case(v), quit.recv_case()).index == 1:
        raise _Quit


def _recv_or_quit(ch: Chan[Any], quit: Chan[None]) -> Any:
    s = select(ch.recv_case(), quit.recv_case())
    if s.index == 1:
        raise _Quit
    assert s.ok, "pipeline channels are never closed"
    return s.value


def _until_quit(fn: Callable[..., None]) -> Callable[..., None]:
    def run(*args: Any) -> None:
        try:
            fn(*args)
        except _Quit:
            pass

    return run


# --------------------------------------------------------------------------- fifo.go

FIFO_N = 10


def test_fifo_async() -> None:
    """fifo.go AsynchFifo: a buffered channel hands values out in send order."""
    ch: Chan[int] = Chan(FIFO_N)
    for i in range(FIFO_N):
        ch.send(i, timeout=0)
    assert len(ch) == FIFO_N
    assert [ch.recv(timeout=0) for _ in range(FIFO_N)] == list(range(FIFO_N))
    assert len(ch) == 0


def test_fifo_async_large_with_wraparound() -> None:
    """fifo.go AsynchFifo, interleaving sends and receives so the ring wraps."""
    ch: Chan[int] = Chan(7)
    sent = received = 0
    out: list[int] = []
    while received < 1000:
        while sent < 1000 and ch.try_send(sent):
            sent += 1
        for _ in range(3):
            v, ok = ch.try_recv()
            if ok:
                out.append(v)  # type: ignore[arg-type]
                received += 1
    assert out == list(range(1000))


@pytest.mark.parametrize("n", [FIFO_N, 200])
def test_fifo_sync_chain(n: int) -> None:
    """fifo.go SynchFifo: a daisy chain of goroutines reads an unbuffered
    channel's values in sequence; each link checks it got the value it expects."""
    ch: Chan[int] = Chan()
    failures: list[tuple[int, int]] = []

    def link(val: int, inp: Chan[int], out: Chan[int]) -> None:
        inp.recv()
        got = ch.recv()
        if got != val:
            failures.append((val, got))
        out.send(1)

    start: Chan[int] = Chan()
    inp = start
    gs = []
    for i in range(n):
        out: Chan[int] = Chan()
        gs.append(gort.go(link, i, inp, out))
        inp = out
    start.send(0, timeout=JOIN)
    for i in range(n):
        ch.send(i, timeout=JOIN)
    assert inp.recv(timeout=JOIN) == 1
    finish(*gs)
    assert failures == []


def test_fifo_sync_blocked_senders_served_in_order() -> None:
    """fifo.go, sync side: senders blocked on an unbuffered channel are served
    first-come first-served (each is queued before the next one starts)."""
    ch: Chan[int] = Chan()
    gs = []
    for i in range(20):
        gs.append(gort.go(ch.send, i))
        wait_send_waiting(ch, i + 1)
    assert [ch.recv(timeout=JOIN) for _ in range(20)] == list(range(20))
    finish(*gs)


def test_fifo_blocked_receivers_served_in_order() -> None:
    """fifo.go, receive side: receivers blocked on a channel get the values in
    the order they started waiting."""
    for cap in (0, 4):
        ch: Chan[int] = Chan(cap)
        gs = []
        for i in range(20):
            gs.append(gort.go(ch.recv))
            wait_recv_waiting(ch, i + 1)
        for i in range(20):
            ch.send(i, timeout=JOIN)
        assert finish(*gs) == list(range(20))


def test_fifo_buffered_with_blocked_senders_keeps_order() -> None:
    """fifo.go, both sides at once: a full buffer plus queued senders still
    yields the values in the order they were sent."""
    ch: Chan[int] = Chan(3)
    for i in range(3):
        ch.send(i, timeout=0)
    gs = []
    for i in range(3, 10):
        gs.append(gort.go(ch.send, i))
        wait_send_waiting(ch, i - 2)
    assert [ch.recv(timeout=JOIN) for _ in range(10)] == list(range(10))
    finish(*gs)
    assert len(ch) == 0


# --------------------------------------------------------------------------- nonblock.go

NONBLOCK_VALUES = [123, 2**40 + 7, True, "hello", 3.25]


@pytest.mark.parametrize("buffer", [0, 1, 10])
@pytest.mark.parametrize("value", NONBLOCK_VALUES, ids=lambda v: type(v).__name__)
def test_nonblock(buffer: int, value: Any) -> None:
    """nonblock.go: non-blocking receive on an empty channel fails; non-blocking
    send succeeds once a receiver waits (or the buffer has room); non-blocking
    receive succeeds once a sender waits (or the buffer holds a value).  Go
    retries in a loop with sleeps; here the ordering comes from waiter counts."""
    c: Chan[Any] = Chan(buffer)
    sync: Chan[bool] = Chan()

    assert c.try_recv() == (None, False)
    assert select(c.recv_case(), default=True) == (-1, None, False)

    def receiver() -> None:
        assert c.recv() == value
        sync.send(True)

    def sender() -> None:
        c.send(value)
        sync.send(True)

    g = gort.go(receiver)
    wait_recv_waiting(c, 1)
    assert select(c.send_case(value), default=True) == (0, None, True)
    assert sync.recv(timeout=JOIN) is True
    finish(g)

    g = gort.go(sender)
    if buffer > 0:
        assert sync.recv(timeout=JOIN) is True  # the send went into the buffer
    else:
        wait_send_waiting(c, 1)
    s = select(c.recv_case(), default=True)
    assert s == (0, value, True)
    assert type(s.value) is type(value)
    if buffer == 0:
        assert sync.recv(timeout=JOIN) is True
    finish(g)

    # The same, through try_send / try_recv.
    g = gort.go(receiver)
    wait_recv_waiting(c, 1)
    assert c.try_send(value) is True
    assert sync.recv(timeout=JOIN) is True
    finish(g)
    g = gort.go(sender)
    if buffer > 0:
        assert sync.recv(timeout=JOIN) is True
    else:
        wait_send_waiting(c, 1)
    assert c.try_recv() == (value, True)
    if buffer == 0:
        assert sync.recv(timeout=JOIN) is True
    finish(g)
    assert c.statistics() == gort.ChanStatistics(buffer, 0, False, 0, 0)


@pytest.mark.parametrize("buffer", [0, 1, 10])
def test_nonblock_send_fails_without_room_or_receiver(buffer: int) -> None:
    """nonblock.go: a non-blocking send fails when it would block, and sends
    nothing."""
    c: Chan[int] = Chan(buffer)
    for i in range(buffer):
        assert c.try_send(i)
    assert c.try_send(99) is False
    assert select(c.send_case(99), default=True) == (-1, None, False)
    assert len(c) == buffer
    assert [c.try_recv() for _ in range(buffer)] == [(i, True) for i in range(buffer)]
    assert c.try_recv() == (None, False)


# --------------------------------------------------------------------------- select3.go

@pytest.fixture
def closedch() -> Chan[int]:
    ch: Chan[int] = Chan()
    ch.close()
    return ch


def test_select3_nil_cases_are_never_selected() -> None:
    """select3.go: a nil channel case in a select with default is never chosen."""
    for _ in range(100):
        assert select(None, default=True) == (-1, None, False)
        assert select(None, None, default=True) == (-1, None, False)


def test_select3_send_with_free_buffer_space_never_blocks() -> None:
    """select3.go: sending to an async channel with free buffer space never blocks."""
    ch: Chan[int] = Chan(1)

    def body() -> None:
        ch.send(7, timeout=0)

    finish(gort.go(body))
    assert ch.recv(timeout=0) == 7


def test_select3_recv_from_closed_never_blocks(closedch: Chan[int]) -> None:
    """select3.go: receiving from a closed channel never blocks (gort reports
    it by raising ChanClosed from recv, and ok == False from recv_ok)."""

    def body() -> None:
        for _ in range(10):
            with pytest.raises(ChanClosed):
                closedch.recv(timeout=0)
            assert closedch.recv_ok(timeout=0) == (None, False)
            with pytest.raises(ChanClosed):
                closedch.try_recv()

    finish(gort.go(body))


def test_select3_recv_from_non_ready_always_blocks() -> None:
    """select3.go: receiving from a non-ready channel always blocks."""
    for cap in (0, 1, 5):
        ch: Chan[int] = Chan(cap)
        assert_blocks(ch.recv, ch)
        assert_blocks(ch.recv_ok, ch)


def test_select3_send_to_full_always_blocks() -> None:
    """select3.go (send side): sending with no receiver and no room blocks, and
    a timed-out send leaves nothing behind."""
    for cap in (0, 1, 5):
        ch: Chan[int] = Chan(cap)
        for i in range(cap):
            ch.send(i, timeout=0)
        assert_blocks(lambda timeout, ch=ch: ch.send(-1, timeout=timeout), ch)
        assert [ch.recv(timeout=0) for _ in range(cap)] == list(range(cap))


def test_select3_empty_select_always_blocks() -> None:
    """select3.go: ``select {}`` blocks forever."""
    assert_blocks(select)


def test_select3_select_with_only_nil_channels_always_blocks() -> None:
    """select3.go: selects with only nil channels always block."""
    assert_blocks(lambda timeout: select(None, timeout=timeout))
    assert_blocks(lambda timeout: select(None, None, None, timeout=timeout))


def test_select3_select_on_non_ready_channels_always_blocks() -> None:
    """select3.go: selects with non-ready non-nil channels always block."""
    ch: Chan[int] = Chan()
    assert_blocks(lambda timeout: select(ch.recv_case(), timeout=timeout), ch)
    assert_blocks(lambda timeout: select(None, ch.recv_case(), None, timeout=timeout), ch)
    assert_blocks(lambda timeout: select(ch.send_case(1), timeout=timeout), ch)


def test_select3_blocked_select_parks_its_goroutine() -> None:
    """select3.go testBlock, literally: a goroutine running a select on a
    non-ready channel (next to nil cases) parks until the channel is ready."""
    ch: Chan[int] = Chan()
    g = gort.go(lambda: select(None, ch.recv_case(), None))
    wait_recv_waiting(ch, 1)
    wait_until(lambda: g.state is gort.GState.PARKED, what="select goroutine parked")
    assert not g.done()
    ch.send(5, timeout=JOIN)
    assert finish(g) == [(1, 5, True)]
    assert ch.statistics().receivers_waiting == 0


def test_select3_selects_with_default_never_block() -> None:
    """select3.go: selects with default cases don't block."""
    ch: Chan[int] = Chan()

    def body() -> list[gort.Selected]:
        return [
            select(default=True),
            select(None, default=True),
            select(ch.recv_case(), default=True),
            select(ch.send_case(7), default=True),
        ]

    assert finish(gort.go(body)) == [[(-1, None, False)] * 4]
    assert ch.statistics() == gort.ChanStatistics(0, 0, False, 0, 0)


def test_select3_selects_with_ready_channels_never_block() -> None:
    """select3.go: selects with ready channels don't block (and don't take the
    default)."""
    ch: Chan[int] = Chan(1)
    assert select(ch.send_case(7), default=True) == (0, None, True)
    assert select(ch.recv_case(), default=True) == (0, 7, True)
    assert select(ch.send_case(8), timeout=0) == (0, None, True)
    assert select(None, ch.recv_case(), timeout=0) == (1, 8, True)


def test_select3_selects_on_closed_channels_behave_like_ordinary_operations(
        closedch: Chan[int]) -> None:
    """select3.go: a receive case on a closed channel is always ready and
    yields ok == False; a send case on it panics (raises ChanClosed)."""
    for _ in range(10):
        assert select(closedch.recv_case(), timeout=0) == (0, None, False)
        assert select(None, closedch.recv_case()) == (1, None, False)
        assert select(closedch.recv_case(), default=True) == (0, None, False)
    with pytest.raises(ChanClosed):
        select(closedch.send_case(7))
    with pytest.raises(ChanClosed):
        select(closedch.send_case(7), default=True)
    with pytest.raises(ChanClosed):
        closedch.send(7)
    with pytest.raises(ChanClosed):
        closedch.try_send(7)
    with pytest.raises(ChanClosed):
        closedch.close()


def test_select3_closed_recv_beats_blocked_cases(closedch: Chan[int]) -> None:
    """select3.go: a closed channel is ready, so a select over it and a
    non-ready channel never blocks, and always picks the closed one."""
    ch: Chan[int] = Chan()
    for _ in range(50):
        assert select(ch.recv_case(), closedch.recv_case(), timeout=0) == (1, None, False)
    assert ch.statistics().receivers_waiting == 0


def test_select3_select_does_not_get_confused_if_it_sees_itself() -> None:
    """select3.go: a select that sends to and receives from the same unbuffered
    channel must not rendezvous with itself: it blocks."""
    c: Chan[int] = Chan()
    assert_blocks(lambda timeout: select(c.send_case(1), c.recv_case(), timeout=timeout), c)
    # Its waiters are gone: a plain receiver now blocks as well.
    assert_blocks(c.recv, c)


def test_select3_self_select_pairs_with_another_goroutine() -> None:
    """select3.go, continued: the self-seeing select completes with a peer."""
    c: Chan[int] = Chan()
    g = gort.go(lambda: select(c.send_case(1), c.recv_case()))
    wait_send_waiting(c, 1)
    wait_recv_waiting(c, 1)
    assert c.recv(timeout=JOIN) == 1
    assert finish(g) == [(0, None, True)]
    g = gort.go(lambda: select(c.send_case(1), c.recv_case()))
    wait_recv_waiting(c, 1)
    c.send(2, timeout=JOIN)
    assert finish(g) == [(1, 2, True)]
    assert c.statistics() == gort.ChanStatistics(0, 0, False, 0, 0)


# --------------------------------------------------------------------------- select.go

def test_select_evaluates_every_case_and_nil_disables() -> None:
    """select.go: each select evaluates every send expression once; a case whose
    channel was set to nil never fires again; default ends the loop."""
    counter = 0
    shift = 0

    def get_value() -> int:
        nonlocal counter
        counter += 1
        return 1 << shift

    def send(a: Chan[int] | None, b: Chan[int] | None) -> int:
        nonlocal shift
        i = 0
        while True:
            # Go evaluates every send expression, even for a nil channel.
            va, vb = get_value(), get_value()
            s = select(a.send_case(va) if a is not None else None,
                       b.send_case(vb) if b is not None else None,
                       default=True)
            if s.index == 0:
                i += 1
                a = None
            elif s.index == 1:
                i += 1
                b = None
            else:
                return i
            shift += 1

    a: Chan[int] = Chan(1)
    b: Chan[int] = Chan(1)
    assert send(a, b) == 2
    assert a.recv(timeout=0) | b.recv(timeout=0) == 1 | 2
    assert send(a, None) == 1
    assert a.recv(timeout=0) == 1 << 2
    assert counter == 10


# --------------------------------------------------------------------------- select4.go

def test_select4_select_proceeds_when_a_value_is_ready() -> None:
    """select4.go: a select proceeds with the ready case and its value."""
    c: Chan[int] = Chan(1)
    c1: Chan[int] = Chan()
    c.send(42)
    assert select(c1.recv_case(), c.recv_case()) == (1, 42, True)
    assert c1.statistics().receivers_waiting == 0


# --------------------------------------------------------------------------- select6.go

def test_select6_failed_cases_do_not_corrupt_queues() -> None:
    """select6.go (Go issue 2075): a select that loses on c1 while last in c1's
    queue must leave the queue intact so later waiters on c1 still wake."""
    c1: Chan[bool] = Chan()
    c2: Chan[bool] = Chan()
    c3: Chan[bool] = Chan()

    def second() -> None:
        s = select(c1.recv_case(), c2.recv_case())
        assert s.index == 1, "dummy"
        c3.send(True)
        c1.recv()

    g1 = gort.go(c1.recv)
    wait_recv_waiting(c1, 1)
    g2 = gort.go(second)
    wait_recv_waiting(c1, 2)  # the select's waiter is last in c1's queue
    wait_recv_waiting(c2, 1)
    g3 = gort.go(c2.send, True)
    assert c3.recv(timeout=JOIN) is True
    c1.send(True, timeout=JOIN)
    c1.send(True, timeout=JOIN)
    assert finish(g1, g2, g3) == [True, None, None]
    assert c1.statistics().receivers_waiting == 0


# --------------------------------------------------------------------------- select7.go

def _recv1(c: Chan[int]) -> int:
    return c.recv()


def _recv2(c: Chan[int]) -> int:
    return select(c.recv_case()).value  # type: ignore[no-any-return]


def _recv3(c: Chan[int]) -> int:
    c2: Chan[int] = Chan()
    s = select(c.recv_case(), c2.recv_case())
    assert s.index == 0
    return s.value  # type: ignore[no-any-return]


def _send1(c: Chan[int]) -> None:
    c.send(1, timeout=JOIN)


def _send2(c: Chan[int]) -> None:
    assert select(c.send_case(1), timeout=JOIN) == (0, None, True)


def _send3(c: Chan[int]) -> None:
    c2: Chan[int] = Chan()
    assert select(c.send_case(1), c2.send_case(1), timeout=JOIN) == (0, None, True)


@pytest.mark.parametrize("recv", [_recv1, _recv2, _recv3], ids=lambda f: f.__name__[1:])
@pytest.mark.parametrize("send", [_send1, _send2, _send3], ids=lambda f: f.__name__[1:])
def test_select7(send: Callable[[Chan[int]], None], recv: Callable[[Chan[int]], int]) -> None:
    """select7.go: every pairing of plain/select send and receive completes
    against a receiver that is already blocked."""
    c: Chan[int] = Chan()
    g = gort.go(recv, c)
    wait_recv_waiting(c, 1)  # Go: runtime.Gosched()
    send(c)
    assert finish(g) == [1]


# --------------------------------------------------------------------------- sendstmt.go

def test_sendstmt_chan_of_chan() -> None:
    """sendstmt.go chanchan: send to a channel received from a channel of
    channels, inside a select."""
    cc: Chan[Chan[int]] = Chan(1)
    c: Chan[int] = Chan(1)
    cc.send(c)
    assert select(cc.recv(timeout=0).send_case(2), default=True).index == 0
    assert c.recv(timeout=0) == 2


# --------------------------------------------------------------------------- perm.go

def test_perm_channel_directions() -> None:
    """perm.go (compile-time in Go): a send-only view cannot receive, a
    receive-only view cannot send or close; both share the channel."""
    c: Chan[int] = Chan(1)
    cs = c.send_only()
    cr = c.recv_only()
    for name in ("recv", "recv_ok", "try_recv", "recv_case"):
        assert not hasattr(cs, name), name
    for name in ("send", "try_send", "send_case", "close"):
        assert not hasattr(cr, name), name
    cs.send(3)
    assert (len(cs), len(cr), cs.cap, cr.cap) == (1, 1, 1, 1)
    assert cr.recv(timeout=0) == 3
    cs.close()
    assert cr.closed and c.closed
    assert list(cr) == []


# --------------------------------------------------------------------------- doubleselect.go

def _doubleselect(senders: int, n: int, coroutines: bool = False) -> None:
    """With ``coroutines``, odd senders and muxes are ``async def`` goroutines."""
    chans: list[Chan[int]] = [Chan() for _ in range(4)]
    cmux: Chan[int] = Chan()
    done: Chan[bool] = Chan()

    def sender(base: int) -> None:
        # If two cases fired in one select, one value would arrive twice.
        try:
            for i in range(base, base + n):
                select(*(c.send_case(i) for c in chans))
        finally:
            done.send(True)

    async def asender(base: int) -> None:
        try:
            for i in range(base, base + n):
                await aselect(*(c.send_case(i) for c in chans))
        finally:
            await done.asend(True)

    def mux(inp: Chan[int]) -> None:
        for v in inp:
            cmux.send(v)

    async def amux(inp: Chan[int]) -> None:
        async for v in inp:
            await cmux.asend(v)

    def closer() -> None:
        for _ in range(senders):
            done.recv()
        for c in chans:
            c.close()

    gs = [gort.go(asender if coroutines and k % 2 else sender, k * n) for k in range(senders)]
    muxes = [gort.go(amux if coroutines and i % 2 else mux, c) for i, c in enumerate(chans)]

    def close_cmux() -> None:
        finish(*muxes)
        cmux.close()

    gs += [gort.go(closer), gort.go(close_cmux)]
    seen: Counter[int] = Counter()
    for v in cmux:
        assert seen[v] == 0, f"got {v} twice"
        seen[v] += 1
    finish(*gs, *muxes)
    assert seen == Counter(range(senders * n))


@pytest.mark.timeout(60)
def test_doubleselect() -> None:
    """doubleselect.go: one sender selects over four unbuffered channels, four
    muxes forward onto one channel; every value arrives exactly once."""
    gort.set_max_procs(2)  # as the Go test does
    _doubleselect(senders=1, n=4000)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("procs", [1, 4])
@pytest.mark.parametrize("coroutines", [False, True], ids=["plain", "coroutines"])
def test_doubleselect_many_senders(procs: int, coroutines: bool) -> None:
    """doubleselect.go with several senders racing on the same four channels
    (half of them, and half of the muxes, ``async def`` goroutines)."""
    gort.set_max_procs(procs)
    _doubleselect(senders=4, n=750, coroutines=coroutines)


# --------------------------------------------------------------------------- sieve1.go

@pytest.mark.timeout(60)
def test_sieve1(world: World) -> None:
    """sieve1.go: the concurrent prime sieve, a pipeline of filter goroutines
    over unbuffered channels; the first 100 primes come out in order.  (Go's
    goroutines are left running; here a quit channel tears the pipeline down.)
    Every stage runs in the world under test: as coroutine goroutines the
    hundred blocked filters hold no thread."""
    quit: Chan[None] = Chan()
    hs: list[Handle] = []

    async def send_or_quit(ch: Chan[Any], v: Any) -> None:
        if (await world.select(ch.send_case(v), quit.recv_case())).index == 1:
            raise _Quit

    async def recv_or_quit(ch: Chan[Any]) -> Any:
        s = await world.select(ch.recv_case(), quit.recv_case())
        if s.index == 1:
            raise _Quit
        assert s.ok, "pipeline channels are never closed"
        return s.value

    async def generate(ch: Chan[int]) -> None:
        try:
            for i in itertools.count(2):
                await send_or_quit(ch, i)
        except _Quit:
            pass

    async def filter_(inp: Chan[int], out: Chan[int], prime: int) -> None:
        try:
            while True:
                i = await recv_or_quit(inp)
                if i % prime != 0:
                    await send_or_quit(out, i)
        except _Quit:
            pass

    async def sieve(primes: Chan[int]) -> None:
        ch: Chan[int] = Chan()
        hs.append(world.go(generate, ch))
        try:
            while True:
                prime = await recv_or_quit(ch)
                await send_or_quit(primes, prime)
                ch1: Chan[int] = Chan()
                hs.append(world.go(filter_, ch, ch1, prime))
                ch = ch1
        except _Quit:
            pass

    primes: Chan[int] = Chan()
    top = world.go(sieve, primes)
    got = [primes.recv(timeout=JOIN) for _ in range(len(PRIMES_100))]
    quit.close()
    assert top.result(timeout=JOIN) is None
    assert got == PRIMES_100
    assert len(hs) == 1 + len(PRIMES_100)
    assert [h.result(timeout=JOIN) for h in hs] == [None] * len(hs)


# --------------------------------------------------------------------------- sieve2.go

@pytest.mark.timeout(60)
def test_sieve2() -> None:
    """sieve2.go: an Eratosthenes sieve of odd candidates; composites are the
    heap-merged streams of multiples p*p, p*p+2p, ... of the primes fed back to
    the merger through an ever-growing proxy (a select whose send case is nil
    while its buffer is empty).  The first 100 primes come out in order."""
    quit: Chan[None] = Chan()
    gs: list[Goroutine[None]] = []  # started by the merger and the sieve

    def spawn(fn: Callable[..., None], *args: Any) -> None:
        gs.append(gort.go(_until_quit(fn), *args))

    def odds() -> Chan[int]:
        out: Chan[int] = Chan(50)

        def run() -> None:
            for n in itertools.count(5, 2):
                _send_or_quit(out, n, quit)

        spawn(run)
        return out

    def multiples(p: int) -> Chan[int]:
        out: Chan[int] = Chan(10)

        def run() -> None:
            for n in itertools.count(p * p, 2 * p):
                _send_or_quit(out, n, quit)

        spawn(run)
        return out

    def sendproxy(out: Chan[int]) -> Chan[int]:
        """A channel whose sends never block for long: a goroutine buffers the
        values without bound and forwards them to ``out``."""
        proxy: Chan[int] = Chan(10)

        def run() -> None:
            buf: list[int] = []
            head = 0
            while True:
                send = out.send_case(buf[head]) if head < len(buf) else None
                s = select(proxy.recv_case(), send, quit.recv_case())
                if s.index == 0:
                    buf.append(s.value)
                elif s.index == 1:
                    head += 1
                else:
                    raise _Quit

        spawn(run)
        return proxy

    out: Chan[int] = Chan(10)
    out.send(2)
    out.send(3)
    composites: Chan[int] = Chan(50)
    primes_fb: Chan[int] = Chan(10)
    primes_fb.send(3)
    seq = itertools.count()

    def merge() -> None:
        heap: list[tuple[int, int, Chan[int]]] = []
        last = 0

        def emit(c: int) -> None:
            nonlocal last
            if c > last:  # streams overlap (45 = 9*5 = 15*3): emit once
                _send_or_quit(composites, c, quit)
                last = c

        while True:
            m = multiples(_recv_or_quit(primes_fb, quit))
            head = _recv_or_quit(m, quit)  # p*p
            while heap and heap[0][0] < head:
                c, _, mc = heapq.heappop(heap)
                emit(c)
                heapq.heappush(heap, (_recv_or_quit(mc, quit), next(seq), mc))
            emit(head)
            heapq.heappush(heap, (_recv_or_quit(m, quit), next(seq), m))

    def sieve() -> None:
        primes = sendproxy(primes_fb)
        candidates = odds()
        p = _recv_or_quit(candidates, quit)
        while True:
            c = _recv_or_quit(composites, quit)
            while p < c:
                _send_or_quit(primes, p, quit)
                _send_or_quit(out, p, quit)
                p = _recv_or_quit(candidates, quit)
            if p == c:
                p = _recv_or_quit(candidates, quit)

    top = [gort.go(_until_quit(merge)), gort.go(_until_quit(sieve))]
    got = [out.recv(timeout=JOIN) for _ in range(len(PRIMES_100))]
    quit.close()
    # The merger and the sieve start all the others: once they are done, gs is complete.
    assert finish(*top) == [None, None]
    assert got == PRIMES_100
    assert len(gs) >= 3  # odds, the proxy, the multiples of 3 at least
    assert finish(*gs) == [None] * len(gs)


# --------------------------------------------------------------------------- goroutines.go

@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1000])
def test_goroutines_long_chain(n: int) -> None:
    """goroutines.go: a lot of goroutines threaded together by unbuffered
    channels, each forwarding what it receives on its right to its left."""
    token = object()

    def f(left: Chan[object], right: Chan[object]) -> None:
        left.send(right.recv())

    leftmost: Chan[object] = Chan()
    left = right = leftmost
    gs = []
    for _ in range(n):
        right = Chan()
        gs.append(gort.go(f, left, right))
        left = right
    gs.append(gort.go(right.send, token))
    assert leftmost.recv(timeout=JOIN) is token
    assert finish(*gs) == [None] * (n + 1)


@pytest.mark.timeout(60)
def test_goroutines_long_chain_coroutines() -> None:
    """goroutines.go at Go's default size, 10,000 links, with ``async def``
    goroutines: parked coroutines hold no thread, so the pool stays small."""
    n = 10_000
    token = object()
    threads_before = gort.sched_statistics().threads

    async def f(left: Chan[object], right: Chan[object]) -> None:
        await left.asend(await right.arecv())

    leftmost: Chan[object] = Chan()
    left = right = leftmost
    gs = []
    for _ in range(n):
        right = Chan()
        gs.append(gort.go(f, left, right))
        left = right
    wait_recv_waiting(right, 1)  # the last link is parked
    assert gort.sched_statistics().threads <= threads_before + 4 * gort.max_procs()
    right.send(token, timeout=JOIN)
    assert leftmost.recv(timeout=JOIN) is token
    assert finish(*gs) == [None] * n


# --------------------------------------------------------------------------- zerosize.go

@pytest.mark.parametrize("cap", [0, 1])
@pytest.mark.parametrize("value", [None, ()], ids=["None", "empty_tuple"])
def test_zerosize(cap: int, value: tuple[()] | None) -> None:
    """zerosize.go: channels of a zero-size type (struct{}, [0]byte) work; here
    their elements are None or () and must not be mistaken for "no value"."""
    ch: Chan[Any] = Chan(cap)
    assert ch.cap == cap
    if cap:
        ch.send(value, timeout=0)
        assert len(ch) == 1
        assert ch.try_recv() == (value, True)
        assert ch.try_recv() == (None, False)
    g = gort.go(ch.send, value)
    if cap == 0:
        wait_send_waiting(ch, 1)
    v, ok = ch.recv_ok(timeout=JOIN)
    assert ok is True and v is value
    finish(g)
    r = gort.go(ch.recv_ok)
    wait_recv_waiting(ch, 1)
    assert select(ch.send_case(value), timeout=JOIN) == (0, None, True)
    assert finish(r) == [(value, True)]
    ch.close()
    assert ch.recv_ok(timeout=0) == (None, False)
    assert select(ch.recv_case(), timeout=0) == (0, None, False)


def test_zerosize_iteration_does_not_stop_at_none() -> None:
    """zerosize.go: ``for range ch`` over a chan struct{} sees every element."""
    ch: Chan[None] = Chan(5)
    for _ in range(5):
        ch.send(None)
    ch.close()
    assert list(ch) == [None] * 5
    unbuf: Chan[tuple[()]] = Chan()

    def produce() -> None:
        for _ in range(7):
            unbuf.send(())
        unbuf.close()

    g = gort.go(produce)
    assert list(unbuf) == [()] * 7
    finish(g)


# --------------------------------------------------------------------------- fairness

FAIR_TRIALS = 10_000


@pytest.mark.timeout(60)
def test_select_fairness() -> None:
    """runtime/chan_test.go TestSelectFairness (the Go spec: among ready cases
    one is chosen uniformly at random): a goroutine selects over two never-ready
    and two always-ready channels; each ready one wins about half the time."""
    c1: Chan[int] = Chan(FAIR_TRIALS + 1)
    c2: Chan[int] = Chan(FAIR_TRIALS + 1)
    for _ in range(FAIR_TRIALS + 1):
        c1.send(1, timeout=0)
        c2.send(2, timeout=0)
    c3: Chan[int] = Chan()
    c4: Chan[int] = Chan()
    out: Chan[int] = Chan()
    done: Chan[None] = Chan()

    def picker() -> None:
        while True:
            b = select(c3.recv_case(), c4.recv_case(), c1.recv_case(), c2.recv_case()).value
            if select(out.send_case(b), done.recv_case()).index == 1:
                return

    g = gort.go(picker)
    counts: Counter[int] = Counter(out.recv(timeout=JOIN) for _ in range(FAIR_TRIALS))
    done.close()
    finish(g)
    assert set(counts) <= {1, 2}, counts
    assert 0.40 <= counts[1] / FAIR_TRIALS <= 0.60, counts
    assert c3.statistics().receivers_waiting == c4.statistics().receivers_waiting == 0


def test_select_fairness_send_and_recv_cases() -> None:
    """Go spec, select: a ready send case and a ready receive case are chosen
    uniformly at random, as are three ready receive cases."""
    inp: Chan[int] = Chan(FAIR_TRIALS)
    out: Chan[int] = Chan(FAIR_TRIALS)
    for i in range(FAIR_TRIALS):
        inp.send(i, timeout=0)
    picks = Counter(select(inp.recv_case(), out.send_case(0), timeout=0).index
                    for _ in range(FAIR_TRIALS // 2))
    assert picks[0] + picks[1] == FAIR_TRIALS // 2
    assert 0.40 <= picks[0] / (FAIR_TRIALS // 2) <= 0.60, picks
    assert len(inp) == FAIR_TRIALS - picks[0] and len(out) == picks[1]

    chans: list[Chan[int]] = [Chan(1) for _ in range(3)]
    picks = Counter()
    for _ in range(9000):
        for c in chans:
            c.try_send(0)
        picks[select(*(c.recv_case() for c in chans)).index] += 1
    assert sum(picks.values()) == 9000
    for i in range(3):
        assert 0.27 <= picks[i] / 9000 <= 0.40, picks


def test_select_fairness_ignores_nil_and_blocked_positions() -> None:
    """The position of the ready cases among nil and blocked ones does not bias
    the choice."""
    a: Chan[int] = Chan(1)
    b: Chan[int] = Chan(1)
    never: Chan[int] = Chan()
    picks: Counter[int] = Counter()
    for _ in range(FAIR_TRIALS):
        a.try_send(1)
        b.try_send(2)
        s = select(a.recv_case(), None, never.recv_case(), None, b.recv_case())
        picks[s.value] += 1
    assert set(picks) == {1, 2}
    assert 0.40 <= picks[1] / FAIR_TRIALS <= 0.60, picks
