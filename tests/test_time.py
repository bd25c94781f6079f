"""Go's ``time`` package: sleep/asleep, after, tick, Timer, after_func, Ticker.

Timing assertions are loose on purpose (the test machines are slow and noisy):
lower bounds are exact, upper bounds generous.  Where a test needs time to pass
it waits on a gort timer (``gort.after``), which also orders it after every
timer callback due earlier (the timer thread runs due callbacks in order).
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import threading
import time
import weakref
from typing import Any

import pytest

import gort
from gort import Chan, GState, Ticker, Timer, _timers, atomic, synctest
from tests.helpers import wait_until

JOIN = 10.0
SLACK = 5.0  # generous upper bound for anything timed


def settle(seconds: float = 0.05) -> None:
    """Let timer callbacks due before now + seconds run (orders after them)."""
    gort.after(seconds).recv(timeout=JOIN + seconds)


def stop_tick(c: gort.RecvChan[Any]) -> None:
    """Stop the Ticker behind a ``gort.tick`` channel (tick has no stop, as in Go):
    a timer's channel holds its timer (which is what keeps it alive)."""
    ticker = c._ch._timer  # type: ignore[attr-defined]
    assert isinstance(ticker, Ticker) and ticker.c is c
    ticker.stop()


# --------------------------------------------------------------------------- sleep

def test_sleep_waits_at_least_its_duration() -> None:
    t0 = time.monotonic()
    gort.sleep(0.1)
    assert 0.1 <= time.monotonic() - t0 < 0.1 + SLACK

    def napper() -> float:
        t = time.monotonic()
        gort.sleep(0.1)
        return time.monotonic() - t

    assert 0.1 <= gort.go(napper).result(timeout=JOIN) < 0.1 + SLACK


def test_sleep_zero_or_negative_returns() -> None:
    gort.sleep(0)
    gort.sleep(-1)
    assert gort.go(gort.sleep, 0).result(timeout=JOIN) is None
    assert gort.go(gort.sleep, -0.5).result(timeout=JOIN) is None


def test_a_sleeping_goroutine_gives_up_its_processor() -> None:
    gort.set_max_procs(1)
    sleeper = gort.go(gort.sleep, 1.0)
    wait_until(lambda: sleeper.state is GState.PARKED, JOIN, "sleeper parked")
    assert sleeper._wait_reason == "sleep"
    wait_until(lambda: gort.sched_statistics().idle_procs == 1, JOIN, "the P given back")
    # with the only processor free, other goroutines run while it sleeps
    assert gort.go(sum, range(1000)).result(timeout=JOIN) == 499500
    assert gort.go(lambda: "ran").result(timeout=JOIN) == "ran"
    sleeper.result(timeout=JOIN + 1)


def test_many_sleepers_sleep_in_parallel() -> None:
    t0 = time.monotonic()
    gs = [gort.go(gort.sleep, 0.3) for _ in range(50)]
    for g in gs:
        g.result(timeout=JOIN)
    elapsed = time.monotonic() - t0
    # Not one after the other (50 * 0.3 s).  Not "about 0.3 s" either: on a
    # loaded 2-core machine starting 50 worker threads alone took seconds.
    assert 0.3 <= elapsed < 50 * 0.3


def test_asleep_in_coroutine_goroutines() -> None:
    async def napper(i: int) -> int:
        await gort.asleep(0.2)
        await gort.asleep(0)  # a yield
        await gort.asleep(-1)
        return i

    threads_before = gort.sched_statistics().threads
    t0 = time.monotonic()
    gs = [gort.go(napper, i) for i in range(500)]
    wait_until(lambda: sum(g.state is GState.PARKED for g in gs) + sum(g.done() for g in gs)
               == 500, JOIN, "500 coroutines asleep")
    parked = [g for g in gs if g.state is GState.PARKED]
    assert all(g._wait_reason == "sleep" for g in parked)
    # parked coroutines hold no thread: the pool did not grow by hundreds
    assert gort.sched_statistics().threads <= max(threads_before, 2 * gort.max_procs()) + 4
    assert [g.result(timeout=JOIN) for g in gs] == list(range(500))
    assert 0.2 <= time.monotonic() - t0 < 0.2 + SLACK


def test_asleep_in_an_asyncio_task() -> None:
    async def main() -> float:
        t = time.monotonic()
        await gort.asleep(0.05)
        await gort.asleep(-1)
        return time.monotonic() - t

    assert 0.05 <= asyncio.run(main()) < 0.05 + SLACK


# --------------------------------------------------------------------------- after, tick

def test_after_delivers_the_time_once() -> None:
    t0 = time.monotonic()
    c = gort.after(0.05)
    assert isinstance(c, gort.RecvChan)
    assert c.cap == 1
    v = c.recv(timeout=JOIN)
    assert isinstance(v, float)
    assert t0 + 0.05 <= v <= time.monotonic()
    with pytest.raises(TimeoutError):
        c.recv(timeout=0.05)  # only once, and never closed
    assert not c.closed


def test_after_as_a_select_timeout() -> None:
    never: Chan[int] = Chan()
    t0 = time.monotonic()
    r = gort.select(never.recv_case(), gort.after(0.05).recv_case(), timeout=JOIN)
    assert r.index == 1 and r.ok
    assert time.monotonic() - t0 >= 0.05


def test_tick_ticks_repeatedly() -> None:
    t0 = time.monotonic()
    c = gort.tick(0.02)
    try:
        vals = [c.recv(timeout=JOIN) for _ in range(4)]
    finally:
        stop_tick(c)
    assert vals == sorted(vals)
    assert vals[0] >= t0 + 0.02
    assert vals[3] >= t0 + 0.08  # on the grid or later, never earlier


def test_type_errors() -> None:
    # None is not here: by gort's one rule for durations it means "never fires".
    for bad in ("1", True, [1]):
        with pytest.raises(TypeError, match="Timer duration must be a number"):
            Timer(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="Ticker duration must be a number"):
            Ticker(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            gort.after(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Timer

def test_timer_fires_once() -> None:
    t0 = time.monotonic()
    t = Timer(0.05)
    assert "pending" in repr(t)
    v = t.c.recv(timeout=JOIN)
    assert t0 + 0.05 <= v < t0 + 0.05 + SLACK
    assert "fired" in repr(t)
    assert t.stop() is False  # fired and received: no longer active
    assert t.c.try_recv() == (None, False)


def test_timer_with_zero_or_negative_duration_fires_at_once() -> None:
    for d in (0, -1, 0.0):
        assert isinstance(Timer(d).c.recv(timeout=JOIN), float)


def test_stop_before_firing() -> None:
    base = _timers.pending()
    t = Timer(600)
    entry = t._entry
    assert t.stop() is True
    assert entry.state == _timers.CANCELLED
    assert _timers.pending() <= base
    assert t.stop() is False  # already stopped
    assert t.c.try_recv() == (None, False)
    assert "cancelled" in repr(t)


def test_stop_after_firing_but_before_receiving_drains_the_value() -> None:
    t = Timer(0)
    wait_until(lambda: len(t.c) == 1, JOIN, "timer fired")
    assert t.stop() is True  # Go 1.23: not received yet, so it was still active
    assert t.c.try_recv() == (None, False)  # no stale value after stop
    settle()
    assert t.c.try_recv() == (None, False)
    assert t.stop() is False


def test_stopped_timer_never_fires() -> None:
    t = Timer(0.02)
    assert t.stop() is True
    settle(0.1)  # well past its original deadline
    assert t.c.try_recv() == (None, False)


def test_reset_a_pending_timer() -> None:
    t = Timer(600)
    t0 = time.monotonic()
    assert t.reset(0.05) is True
    v = t.c.recv(timeout=JOIN)
    assert v >= t0 + 0.05
    with pytest.raises(TimeoutError):
        t.c.recv(timeout=0.05)  # the 600 s arming is gone, not merely late


def test_reset_a_fired_unreceived_timer_drops_the_stale_value() -> None:
    t = Timer(0)
    wait_until(lambda: len(t.c) == 1, JOIN, "timer fired")
    stale = t.c._ch._buf[0]  # type: ignore[attr-defined]
    t0 = time.monotonic()
    assert t.reset(0.05) is True
    assert t.c.try_recv() == (None, False)
    v = t.c.recv(timeout=JOIN)
    assert v > stale
    assert v >= t0 + 0.05


def test_reset_a_stopped_or_received_timer_rearms_it() -> None:
    t = Timer(600)
    t.stop()
    assert t.reset(0.01) is False
    t.c.recv(timeout=JOIN)
    assert t.reset(0.01) is False  # fired and received
    t.c.recv(timeout=JOIN)
    t.reset(600)
    assert t.stop() is True


def test_reset_pending_timer_repeatedly_leaves_one_entry() -> None:
    base = _timers.pending()
    t = Timer(600)
    for _ in range(1000):
        assert t.reset(600) is True
    assert _timers.pending() <= base + 1
    assert t.stop() is True
    assert _timers.pending() <= base


def test_after_func_runs_in_a_goroutine() -> None:
    out: Chan[tuple[Any, bool]] = Chan(1)
    caller = threading.get_ident()

    def f() -> None:
        g = gort.current_goroutine()
        out.send((g.name if g is not None else None, threading.get_ident() != caller))

    t0 = time.monotonic()
    t = gort.after_func(0.05, f)
    assert isinstance(t, Timer)
    name, other_thread = out.recv(timeout=JOIN)
    assert time.monotonic() - t0 >= 0.05
    assert name is not None and name.endswith("f")
    assert other_thread
    assert t.stop() is False  # already ran
    assert t.c.try_recv() == (None, False)  # an after_func timer sends nothing


def test_after_func_runs_even_if_it_blocks() -> None:
    """The function runs in its own goroutine, so blocking does not stall the timers."""
    gate: Chan[None] = Chan()
    ran: Chan[int] = Chan(2)
    gort.after_func(0, lambda: (gate.recv_ok(), ran.send(1)))
    gort.after_func(0.01, lambda: ran.send(2))
    assert ran.recv(timeout=JOIN) == 2
    gate.close()
    assert ran.recv(timeout=JOIN) == 1


def test_after_func_stop_and_reset() -> None:
    calls = atomic.Int64()
    t = gort.after_func(600, lambda: calls.add(1))
    assert t.stop() is True
    assert t.reset(0.01) is False
    wait_until(lambda: calls.load() == 1, JOIN, "after_func ran")
    assert t.reset(0.01) is False
    wait_until(lambda: calls.load() == 2, JOIN, "after_func ran again")
    t.reset(600)
    assert t.stop() is True
    settle()
    assert calls.load() == 2


def test_100k_pending_timers_are_cheap() -> None:
    base = _timers.pending()
    heap0 = len(_timers._heap)
    t0 = time.monotonic()
    timers = [Timer(600 + i * 1e-6) for i in range(100_000)]
    assert _timers.pending() >= base + 100_000 - 10
    assert _timers._thread is not None and _timers._thread.is_alive()
    random.Random(1).shuffle(timers)  # stop in an order unrelated to the heap's
    half = len(timers) // 2
    assert all(t.stop() for t in timers[:half])
    # compaction: the heap holds about the live entries, not every stopped one
    assert len(_timers._heap) <= heap0 + half + 2 * 64 + 16
    assert all(t.stop() for t in timers[half:])
    assert _timers.pending() <= base
    assert len(_timers._heap) <= heap0 + 2 * 64 + 16
    assert time.monotonic() - t0 < 60
    # and the timer thread still serves new timers promptly
    assert isinstance(gort.after(0.01).recv(timeout=JOIN), float)


def test_stop_and_reset_race_from_several_goroutines() -> None:
    """Every arming of a timer ends exactly once: its value is received, or a later
    stop()/reset() reports it active.  Nothing is left pending afterwards."""
    base = _timers.pending()
    for trial in range(3):
        t = Timer(0)
        arms = atomic.Int64(1)
        trues = atomic.Int64()
        received = atomic.Int64()
        quit: Chan[None] = Chan()

        def receiver(t: Timer = t, quit: Chan[None] = quit, received: Any = received) -> None:
            while gort.select(t.c.recv_case(), quit.recv_case()).index == 0:
                received.add(1)

        def fiddler(seed: int, t: Timer = t, arms: Any = arms, trues: Any = trues) -> None:
            rnd = random.Random(seed)
            for _ in range(1500):
                x = rnd.random()
                if x < 0.6:
                    active = t.reset(0 if x < 0.4 else 0.0002)
                    arms.add(1)
                else:
                    active = t.stop()
                if active:
                    trues.add(1)

        rg = gort.go(receiver)
        gs = [gort.go(fiddler, trial * 10 + i) for i in range(4)]
        for g in gs:
            g.result(timeout=60)
        if t.stop():
            trues.add(1)
        quit.close()
        rg.result(timeout=JOIN)
        settle()
        assert t.c.try_recv() == (None, False)  # nothing after the final stop
        assert t._entry.state != _timers.PENDING
        # each arming accounted for exactly once: never lost (see
        # test_stop_reports_a_fired_but_undelivered_timer_active), never twice
        assert received.load() + trues.load() == arms.load()
    assert _timers.pending() <= base


@pytest.mark.parametrize("how", ["stop", "reset"])
def test_stop_reports_a_fired_but_undelivered_timer_active(how: str) -> None:
    # Regression: stop()/reset() once returned False when the timer thread had
    # popped the timer's entry (state FIRED) but not yet run its _fire callback;
    # _fire then saw the bumped generation and sent nothing, so the arming was
    # neither delivered nor reported active (Go 1.23: "if the program has not
    # received from t.C already and the timer is running, Stop is guaranteed to
    # return true"), and ``if not t.stop(): t.c.recv()`` blocked forever.
    # Deterministic: stall the timer thread in a callback due in the same batch,
    # ahead of the timer.
    entered0, release0 = threading.Event(), threading.Event()
    entered1, release1 = threading.Event(), threading.Event()

    def stall(ev: tuple[threading.Event, threading.Event]) -> None:
        ev[0].set()
        ev[1].wait(JOIN)

    try:
        _timers.add(time.monotonic(), stall, (entered0, release0))
        assert entered0.wait(JOIN)  # the timer thread is busy
        _timers.add(time.monotonic(), stall, (entered1, release1))
        t = Timer(0)  # due too: popped in the same batch, right after the staller
        release0.set()
        assert entered1.wait(JOIN)
        assert t._entry.state == _timers.FIRED  # popped, but _fire has not run
        active = t.stop() if how == "stop" else t.reset(600)
    finally:
        release0.set()
        release1.set()
    settle()
    assert active is True, "the arming vanished: stop() said inactive, no value came"
    assert t.c.try_recv() == (None, False)  # and the discarded firing sent nothing
    assert t.stop() is (how == "reset")  # a reset arming is pending again


# --------------------------------------------------------------------------- Ticker

# These run in a synctest bubble: fake time, so the grid is exact and a slow
# receiver is slow for exactly as long as it says (timers due at the same
# instant fire in the order they were armed).  The real timer thread's side
# is covered by the tests around them.

@pytest.mark.gort_synctest
def test_ticker_ticks_on_its_grid() -> None:
    t0 = synctest.now()
    tk = Ticker(0.25)
    vals = [tk.c.recv() for _ in range(5)]
    tk.stop()
    assert vals == [t0 + k * 0.25 for k in range(1, 6)]
    assert "stopped" in repr(tk)


@pytest.mark.gort_synctest
def test_ticker_drops_ticks_for_a_slow_receiver() -> None:
    t0 = synctest.now()
    tk = Ticker(0.25)
    assert tk.c.cap == 1
    assert tk.c.recv() == t0 + 0.25
    gort.sleep(8 * 0.25)  # not receiving for eight periods (to t0 + 2.25)
    assert len(tk.c) == 1  # one tick buffered (t0 + 0.5), not eight queued
    assert tk.c.recv() == t0 + 0.5
    # The tick due with the sleeper's wake-up was dropped (the channel was full
    # when it fired): the next one is fresh.
    assert tk.c.recv() == t0 + 2.5
    tk.stop()


@pytest.mark.gort_synctest
def test_ticker_keeps_ticking_after_being_drained_late() -> None:
    t0 = synctest.now()
    tk = Ticker(0.25)
    gort.sleep(2.5)
    assert [tk.c.recv() for _ in range(3)] == [t0 + 0.25, t0 + 2.75, t0 + 3.0]
    tk.stop()


@pytest.mark.gort_synctest
def test_ticker_reset_changes_the_period() -> None:
    tk = Ticker(600)
    gort.sleep(1)
    t0 = synctest.now()
    tk.reset(0.25)
    assert [tk.c.recv() for _ in range(3)] == [t0 + 0.25, t0 + 0.5, t0 + 0.75]
    assert "every 0.25s" in repr(tk)
    tk.reset(600)
    assert tk.c.try_recv() == (None, False)  # reset drains
    gort.sleep(599)
    assert tk.c.try_recv() == (None, False)
    assert tk.c.recv() == t0 + 0.75 + 600
    tk.stop()


def test_ticker_stop() -> None:
    base = _timers.pending()
    tk = Ticker(0.01)
    tk.c.recv(timeout=JOIN)
    wait_until(lambda: len(tk.c) == 1, JOIN, "a buffered tick")
    tk.stop()
    assert tk.c.try_recv() == (None, False)  # drained: no stale tick
    settle(0.05)
    assert tk.c.try_recv() == (None, False)  # and no new ones
    assert _timers.pending() <= base
    tk.stop()  # idempotent
    assert not tk.c.closed  # as in Go, stop does not close the channel


def test_ticker_reset_restarts_a_stopped_ticker() -> None:
    tk = Ticker(0.01)
    tk.stop()
    tk.reset(0.01)
    try:
        assert isinstance(tk.c.recv(timeout=JOIN), float)
    finally:
        tk.stop()


def test_ticker_non_positive_interval() -> None:
    for bad in (0, 0.0, -1):
        with pytest.raises(ValueError, match="non-positive interval for Ticker: ") as ei:
            Ticker(bad)
        # Go prints the duration as given; gort prints it after float(): "0.0", "-1.0"
        assert str(ei.value).startswith(f"non-positive interval for Ticker: {bad}")
    with pytest.raises(ValueError, match="non-positive interval for Ticker: 0"):
        Ticker(0)
    tk = Ticker(600)
    with pytest.raises(ValueError, match="non-positive interval for Ticker"):
        tk.reset(0)
    tk.stop()


def test_ticker_in_a_coroutine_goroutine() -> None:
    tk = Ticker(0.01)
    never: Chan[int] = Chan()

    async def count() -> int:
        n = 0
        while n < 3:
            r = await gort.aselect(tk.c.recv_case(), never.recv_case())
            assert r.index == 0
            n += 1
        return n

    try:
        assert gort.go(count).result(timeout=JOIN) == 3
    finally:
        tk.stop()


def test_many_tickers_stopped_from_many_goroutines() -> None:
    base = _timers.pending()

    def run(i: int) -> int:
        tk = Ticker(0.001 + i * 1e-4)
        n = 0
        for _ in range(3):
            tk.c.recv(timeout=JOIN)
            n += 1
        tk.stop()
        return n

    gs = [gort.go(run, i) for i in range(40)]
    assert sum(g.result(timeout=30) for g in gs) == 120
    assert _timers.pending() <= base


def test_tick_with_a_non_positive_interval_raises() -> None:
    # Go's time.Tick returns nil for d <= 0; gort raises ValueError instead
    # (tick is typed and used as a channel; see its docstring).
    for bad in (0, 0.0, -1, -0.5, -math.inf):
        with pytest.raises(ValueError, match=r"^tick: non-positive interval ") as ei:
            gort.tick(bad)
        assert f"interval {float(bad)} " in str(ei.value)
        assert "Go's time.Tick returns nil" in str(ei.value)
    with pytest.raises(ValueError, match="NaN"):
        gort.tick(math.nan)
    with pytest.raises(TypeError):
        gort.tick("1")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- garbage collection
#
# Go 1.23 (time's TestTimerGC-style checks, and the release notes): a Timer or
# Ticker that nobody references is collected, stopped or not.  gort's heap holds
# channel timers weakly; their channel holds them strongly, so whoever can still
# receive keeps them alive.

def collect() -> None:
    for _ in range(3):  # cycles (a timer and its channel) may need more than one pass
        gc.collect()


def test_unreferenced_tickers_and_timers_are_collected() -> None:
    collect()
    base = _timers.pending()
    refs = [weakref.ref(Ticker(0.5)) for _ in range(1000)]
    refs += [weakref.ref(Timer(600)) for _ in range(1000)]
    refs += [weakref.ref(gort.after(600)._ch._timer)  # type: ignore[attr-defined]
             for _ in range(100)]
    refs += [weakref.ref(gort.tick(600)._ch._timer)  # type: ignore[attr-defined]
             for _ in range(100)]
    collect()
    assert sum(r() is not None for r in refs) == 0
    # Their heap entries went with them: nothing left that could wake anyone
    # (the deadlock detector reads pending()).
    assert _timers.pending() <= base


def test_a_ticker_that_ticked_is_still_collected() -> None:
    tk = Ticker(0.005)
    tk.c.recv(timeout=JOIN)
    tk.c.recv(timeout=JOIN)  # re-armed by the timer thread at least once
    ref = weakref.ref(tk)
    del tk
    collect()
    assert ref() is None


def test_a_referenced_timer_still_fires_after_collection() -> None:
    t0 = time.monotonic()
    t = Timer(0.05)
    tk = Ticker(0.02)
    collect()
    assert t.c.recv(timeout=JOIN) >= t0 + 0.05
    for _ in range(3):
        collect()
        tk.c.recv(timeout=JOIN)
    tk.stop()


def test_a_timer_referenced_only_by_its_channel_still_fires() -> None:
    c = Timer(0.05).c
    ch_only = gort.tick(0.02)
    collect()
    assert isinstance(c.recv(timeout=JOIN), float)
    for _ in range(2):
        collect()
        ch_only.recv(timeout=JOIN)
    stop_tick(ch_only)


def _parked_on_after(body: Any) -> None:
    """Run ``body(publish)`` in a goroutine that waits on an after() channel it
    alone references; collect while it is parked; the timer must survive (the
    waiter's channel keeps it alive) and then fire."""
    refs: list[weakref.ref[Timer]] = []
    g = gort.go(body, refs.append)
    wait_until(lambda: refs and g.state is GState.PARKED, JOIN, "the waiter parked")
    collect()
    timer = refs[0]()
    assert timer is not None, "the timer a goroutine waits on was collected"
    # Make it due now (a reference is held only for this call): the heap fires it.
    timer.reset(0.001)
    del timer
    assert isinstance(g.result(timeout=JOIN), float)


def test_an_after_channel_a_plain_goroutine_waits_on_fires() -> None:
    def waiter(publish: Any) -> float:
        c = gort.after(600)
        publish(weakref.ref(c._ch._timer))
        return c.recv()  # type: ignore[no-any-return]

    _parked_on_after(waiter)


def test_an_after_channel_a_coroutine_goroutine_waits_on_fires() -> None:
    async def waiter(publish: Any) -> float:
        c = gort.after(600)
        publish(weakref.ref(c._ch._timer))  # type: ignore[attr-defined]
        return await c.arecv()  # type: ignore[no-any-return]

    _parked_on_after(waiter)


def test_an_after_channel_in_a_select_fires() -> None:
    never: Chan[int] = Chan()

    def waiter(publish: Any) -> float:
        case = gort.after(600).recv_case()
        publish(weakref.ref(case.chan._timer))  # type: ignore[attr-defined]
        r = gort.select(never.recv_case(), case)
        assert r.index == 1
        return r.value  # type: ignore[no-any-return]

    _parked_on_after(waiter)


def test_an_unreferenced_after_func_still_runs() -> None:
    # Go's AfterFunc timers run whether or not anyone references the Timer.
    ran: Chan[str] = Chan(1)
    gort.after_func(0.02, lambda: ran.send("ran"))
    collect()
    assert ran.recv(timeout=JOIN) == "ran"


def test_a_collection_on_a_thread_holding_the_heap_lock_does_not_deadlock() -> None:
    # The weak reference's callback runs wherever the collection runs: here,
    # on a thread inside the heap's lock.  It must not take that lock.
    base = _timers.pending()
    tickers = [Ticker(600) for _ in range(100)]
    refs = [weakref.ref(t) for t in tickers]
    with _timers._cond:
        del tickers
        collect()
        assert all(r() is None for r in refs)
    assert _timers.pending() <= base  # buried outside the lock
