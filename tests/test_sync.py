"""gort's sync primitives: WaitGroup, Mutex, RWMutex, Once, Cond, Semaphore."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import gort
from gort import (
    Chan,
    Cond,
    GState,
    Mutex,
    MutexStatistics,
    Once,
    RWMutex,
    RWMutexStatistics,
    Semaphore,
    SemaphoreStatistics,
    WaitGroup,
    atomic,
)
from tests.helpers import Peak, wait_until

JOIN = 10.0


def wait_all_parked(gs: list[gort.Goroutine[Any]], timeout: float = 10.0) -> None:
    wait_until(lambda: all(g.state is GState.PARKED for g in gs), timeout,
               f"{len(gs)} goroutines parked")


def join_all(gs: list[gort.Goroutine[Any]], timeout: float = JOIN) -> list[Any]:
    return [g.result(timeout=timeout) for g in gs]


# --------------------------------------------------------------------------- WaitGroup

def test_waitgroup_add_done_wait() -> None:
    wg = WaitGroup()
    assert wg.count == 0
    assert wg.wait() is True  # zero: returns at once
    wg.add(3)
    assert wg.count == 3
    assert repr(wg) == "<WaitGroup count=3 waiters=0>"
    gate: Chan[None] = Chan()

    def work() -> None:
        gate.recv()
        wg.done()

    workers = [gort.go(work) for _ in range(3)]
    waiters = [gort.go(wg.wait) for _ in range(2)]
    wait_all_parked(waiters)
    assert repr(wg) == "<WaitGroup count=3 waiters=2>"
    gate.send(None, timeout=JOIN)
    gate.send(None, timeout=JOIN)
    wait_until(lambda: wg.count == 1)
    assert not any(g.done() for g in waiters)
    gate.send(None, timeout=JOIN)
    assert join_all(waiters) == [True, True]
    join_all(workers)
    assert wg.count == 0
    assert repr(wg) == "<WaitGroup count=0 waiters=0>"


def test_waitgroup_add_n_and_negative_add() -> None:
    wg = WaitGroup()
    wg.add(5)
    wg.add(-4)
    assert wg.count == 1
    wg.add()
    assert wg.count == 2
    wg.done()
    wg.done()
    assert wg.count == 0 and wg.wait(timeout=0)


def test_waitgroup_negative_counter() -> None:
    wg = WaitGroup()
    with pytest.raises(ValueError, match=r"^negative WaitGroup counter$"):
        wg.done()
    assert wg.count == 0
    wg.add(2)
    with pytest.raises(ValueError, match=r"^negative WaitGroup counter$"):
        wg.add(-3)
    assert wg.count == 2  # unchanged


def test_waitgroup_wait_timeout() -> None:
    wg = WaitGroup()
    wg.add(1)
    assert wg.wait(timeout=0.02) is False
    assert wg.wait(timeout=0) is False
    assert wg.wait(timeout=-1) is False
    assert repr(wg) == "<WaitGroup count=1 waiters=0>"  # the timed-out waiter left
    wg.done()
    assert wg.wait(timeout=0) is True


def test_waitgroup_wait_with_timeout_woken_in_time() -> None:
    wg = WaitGroup()
    wg.add(1)
    g = gort.go(wg.wait, timeout=JOIN)
    wait_all_parked([g])
    wg.done()
    assert g.result(timeout=JOIN) is True


def test_waitgroup_go() -> None:
    wg = WaitGroup()
    total = atomic.Int64()

    def work(n: int, *, times: int) -> int:
        total.add(n * times)
        return n

    handles = [wg.go(work, i, times=2) for i in range(10)]
    assert wg.wait(timeout=JOIN)
    assert total.load() == 90
    assert wg.count == 0
    assert [g.result(timeout=JOIN) for g in handles] == list(range(10))
    assert handles[0].name == work.__qualname__


def test_waitgroup_go_counts_down_when_fn_raises() -> None:
    wg = WaitGroup()

    def fail() -> None:
        raise KeyError("x")

    g = wg.go(fail)
    assert wg.wait(timeout=JOIN)
    with pytest.raises(KeyError):
        g.result(timeout=JOIN)


def test_waitgroup_reuse() -> None:
    wg = WaitGroup()
    for _ in range(3):
        for _ in range(5):
            wg.go(lambda: None)
        assert wg.wait(timeout=JOIN)
        assert wg.count == 0


# --------------------------------------------------------------------------- Mutex

def test_mutex_lock_unlock_try_lock() -> None:
    mu = Mutex()
    assert not mu.locked()
    assert repr(mu) == "<Mutex unlocked waiters=0>"
    mu.lock()
    assert mu.locked()
    assert mu.try_lock() is False
    assert repr(mu) == "<Mutex locked waiters=0>"
    assert mu.statistics() == MutexStatistics(locked=True, waiters=0, starving=False)
    mu.unlock()
    assert mu.try_lock() is True
    mu.unlock()
    assert mu.statistics() == MutexStatistics(locked=False, waiters=0, starving=False)


def test_mutex_with() -> None:
    mu = Mutex()
    with mu:
        assert mu.locked()
    assert not mu.locked()
    with pytest.raises(ZeroDivisionError), mu:
        1 / 0  # noqa: B018
    assert not mu.locked()


def test_mutex_unlock_of_unlocked() -> None:
    mu = Mutex()
    with pytest.raises(RuntimeError, match=r"^unlock of unlocked Mutex$"):
        mu.unlock()
    mu.lock()
    mu.unlock()
    with pytest.raises(RuntimeError, match=r"^unlock of unlocked Mutex$"):
        mu.unlock()


def test_mutex_blocks_and_any_goroutine_may_unlock() -> None:
    mu = Mutex()
    mu.lock()
    g = gort.go(mu.lock)
    wait_all_parked([g])
    assert mu.statistics().waiters == 1
    assert repr(mu) == "<Mutex locked waiters=1>"
    assert not g.done()
    mu.unlock()
    assert g.join(timeout=JOIN)
    assert mu.locked()  # now held by g, which has finished: Go allows that
    mu.unlock()  # unlocked by another goroutine, as in Go
    assert not mu.locked()


def test_mutex_mutual_exclusion_under_contention() -> None:
    mu = Mutex()
    peak = Peak()
    state = [0]

    def work() -> None:
        for i in range(1500):
            with mu:
                peak.enter()
                v = state[0]
                if i % 50 == 0:
                    gort.gosched()  # let others try while we hold it
                state[0] = v + 1
                peak.leave()

    gs = [gort.go(work) for _ in range(8)]
    join_all(gs, timeout=60)
    assert state[0] == 8 * 1500
    assert peak.peak.load() == 1
    assert not mu.locked()
    assert mu.statistics().waiters == 0


def test_mutex_mutual_exclusion_between_plain_threads_and_goroutines() -> None:
    from tests.helpers import run_concurrently

    mu = Mutex()
    state = [0]

    def work(_: int = 0) -> None:
        for _ in range(2000):
            mu.lock()
            state[0] = state[0] + 1
            mu.unlock()

    gs = [gort.go(work) for _ in range(3)]
    run_concurrently(work, 3)
    join_all(gs, timeout=60)
    assert state[0] == 6 * 2000


def test_mutex_waiter_is_served_while_others_hammer() -> None:
    # Starvation freedom: goroutines that hold the Mutex almost all the time and
    # re-lock it right after unlocking (barging) must not keep a waiting goroutine
    # out: once it has waited STARVATION_THRESHOLD (1 ms), Go's starvation mode
    # hands the lock to it.  Measured in hammer rounds that pass while it waits:
    # a handful with hand-off, up to thousands without (a round is >= 0.1 ms).
    hammers = 2
    gort.set_max_procs(hammers + 2)  # the waiter has a processor of its own
    mu = Mutex()
    stop = atomic.Bool()
    rounds = atomic.Int64()

    def hammer() -> None:
        while not stop.load():
            with mu:
                rounds.add(1)
                sum(range(20_000))  # hold it most of the time, re-lock at once

    def waiter() -> int:
        before = rounds.load()
        with mu:
            return rounds.load() - before

    gs = [gort.go(hammer) for _ in range(hammers)]
    waited: list[int] = []
    try:
        wait_until(lambda: rounds.load() > 50, what="hammers running")
        for _ in range(10):
            w = gort.go(waiter)
            assert w.join(timeout=JOIN), "a waiting goroutine starved behind the hammers"
            waited.append(w.result())
        still_hammering = not any(g.done() for g in gs)
    finally:
        stop.store(True)
        join_all(gs)
    assert still_hammering
    assert max(waited) < 500, f"hammer rounds that overtook each waiter: {waited}"


# --------------------------------------------------------------------------- RWMutex

def test_rwmutex_many_readers_at_once() -> None:
    rw = RWMutex()
    release: Chan[None] = Chan()

    def reader() -> None:
        rw.rlock()
        try:
            release.recv_ok()
        finally:
            rw.runlock()

    readers = [gort.go(reader) for _ in range(6)]
    wait_until(lambda: rw.statistics().readers == 6, what="6 readers inside")
    assert rw.try_lock() is False
    assert rw.try_rlock() is True  # one more
    rw.runlock()
    release.close()
    join_all(readers)
    assert rw.statistics() == RWMutexStatistics(0, False, 0, 0)


def test_rwmutex_waiting_writer_blocks_new_readers() -> None:
    rw = RWMutex()
    rw.rlock()  # the main thread reads
    writer = gort.go(rw.lock)
    wait_until(lambda: rw.statistics().writers_waiting == 1)
    assert rw.try_rlock() is False  # a waiting writer blocks new readers
    late_reader = gort.go(rw.rlock)
    wait_until(lambda: rw.statistics().readers_waiting == 1)
    assert rw.statistics() == RWMutexStatistics(readers=1, writer=False, readers_waiting=1,
                                                writers_waiting=1)
    assert repr(rw) == "<RWMutex readers=1 writer=False readers_waiting=1 writers_waiting=1>"
    rw.runlock()
    assert writer.join(timeout=JOIN)  # the writer went before the late reader
    assert rw.statistics() == RWMutexStatistics(0, True, 1, 0)
    assert not late_reader.done()
    rw.unlock()  # on behalf of the writer goroutine
    assert late_reader.join(timeout=JOIN)
    assert rw.statistics() == RWMutexStatistics(1, False, 0, 0)
    rw.runlock()


def test_rwmutex_readers_queued_behind_a_writer_go_before_the_next_writer() -> None:
    rw = RWMutex()
    rw.lock()
    r1 = gort.go(rw.rlock)
    wait_until(lambda: rw.statistics().readers_waiting == 1)
    w2 = gort.go(rw.lock)
    wait_until(lambda: rw.statistics().writers_waiting == 1)
    r2 = gort.go(rw.rlock)
    wait_until(lambda: rw.statistics().readers_waiting == 2)
    rw.unlock()
    assert r1.join(timeout=JOIN) and r2.join(timeout=JOIN)
    assert not w2.done()
    assert rw.statistics() == RWMutexStatistics(2, False, 0, 1)
    rw.runlock()
    assert not w2.done()
    rw.runlock()
    assert w2.join(timeout=JOIN)
    rw.unlock()
    assert rw.statistics() == RWMutexStatistics(0, False, 0, 0)


def test_rwmutex_writer_excludes_everyone() -> None:
    rw = RWMutex()
    with rw:
        assert rw.try_lock() is False
        assert rw.try_rlock() is False
        assert rw.statistics().writer
    assert rw.try_lock() is True
    rw.unlock()


def test_rwmutex_unlock_errors() -> None:
    rw = RWMutex()
    with pytest.raises(RuntimeError, match=r"^runlock of unlocked RWMutex$"):
        rw.runlock()
    with pytest.raises(RuntimeError, match=r"^unlock of unlocked RWMutex$"):
        rw.unlock()
    rw.rlock()
    with pytest.raises(RuntimeError, match=r"^unlock of unlocked RWMutex$"):
        rw.unlock()  # a read lock is not a write lock
    rw.runlock()
    rw.lock()
    with pytest.raises(RuntimeError, match=r"^runlock of unlocked RWMutex$"):
        rw.runlock()
    rw.unlock()
    assert rw.statistics() == RWMutexStatistics(0, False, 0, 0)


def test_rwmutex_rlocker() -> None:
    rw = RWMutex()
    rl = rw.rlocker()
    assert rw.rlocker() is rl
    rl.lock()
    rl.lock()
    assert rw.statistics().readers == 2
    assert rw.try_lock() is False
    rl.unlock()
    rl.unlock()
    with rl:
        assert rw.statistics().readers == 1
    assert rw.statistics().readers == 0
    assert repr(rl) == "<RLocker of <RWMutex readers=0 writer=False readers_waiting=0 " \
                       "writers_waiting=0>>"
    with pytest.raises(RuntimeError, match=r"^runlock of unlocked RWMutex$"):
        rl.unlock()


def test_rwmutex_stress_invariants() -> None:
    rw = RWMutex()
    readers_in = atomic.Int64()
    writers_in = atomic.Int64()
    violations = atomic.Int64()
    state = [0]

    def reader() -> None:
        for _ in range(500):
            with rw.rlocker():
                readers_in.add(1)
                if writers_in.load():
                    violations.add(1)
                readers_in.add(-1)

    def writer() -> None:
        for _ in range(300):
            with rw:
                if writers_in.add(1) != 1 or readers_in.load():
                    violations.add(1)
                state[0] = state[0] + 1
                writers_in.add(-1)

    gs = [gort.go(reader) for _ in range(4)] + [gort.go(writer) for _ in range(3)]
    join_all(gs, timeout=60)
    assert violations.load() == 0
    assert state[0] == 900
    assert rw.statistics() == RWMutexStatistics(0, False, 0, 0)


# --------------------------------------------------------------------------- Once

def test_once_runs_once_under_concurrency() -> None:
    once = Once()
    calls = atomic.Int64()
    entered: Chan[None] = Chan()
    release: Chan[None] = Chan()

    def f() -> None:
        calls.add(1)
        entered.close()
        release.recv_ok()

    callers = [gort.go(once.do, f) for _ in range(10)]
    assert entered.recv_ok(timeout=JOIN) == (None, False)
    wait_all_parked(callers)  # one inside f, nine waiting for it
    assert not once.done
    assert not any(g.done() for g in callers)
    release.close()
    join_all(callers)
    assert calls.load() == 1
    assert once.done
    once.do(f)
    assert calls.load() == 1
    assert repr(once) == "<Once done=True>"


def test_once_exception_propagates_and_once_is_done() -> None:
    once = Once()
    assert repr(once) == "<Once done=False>"

    def boom() -> None:
        raise ValueError("once failed")

    with pytest.raises(ValueError, match=r"^once failed$"):
        once.do(boom)
    assert once.done
    called = []
    once.do(lambda: called.append(1))
    assert called == []


# --------------------------------------------------------------------------- Cond

def test_cond_needs_a_locker() -> None:
    with pytest.raises(TypeError, match=r"^Cond needs a Locker with lock\(\) and unlock\(\), "
                                        r"got int$"):
        Cond(1)  # type: ignore[arg-type]


def test_cond_signal_wakes_one_broadcast_wakes_all() -> None:
    mu = Mutex()
    cond = Cond(mu)
    assert cond.L is mu
    woken = atomic.Int64()

    def waiter() -> bool:
        with mu:
            r = cond.wait()
            assert mu.locked()
            woken.add(1)
            return r

    gs = [gort.go(waiter) for _ in range(3)]
    wait_until(lambda: repr(cond) == "<Cond waiters=3>")
    wait_all_parked(gs)
    with mu:
        cond.signal()
        assert repr(cond) == "<Cond waiters=2>"
    wait_until(lambda: woken.load() == 1)
    assert sum(g.done() for g in gs) == 1
    cond.broadcast()
    assert repr(cond) == "<Cond waiters=0>"
    assert join_all(gs) == [True, True, True]
    assert woken.load() == 3


def test_cond_signal_and_broadcast_without_waiters() -> None:
    cond = Cond(Mutex())
    cond.signal()
    cond.broadcast()
    assert repr(cond) == "<Cond waiters=0>"


def test_cond_wait_timeout() -> None:
    mu = Mutex()
    cond = Cond(mu)
    mu.lock()
    assert cond.wait(timeout=0.02) is False
    assert mu.locked()  # relocked
    assert repr(cond) == "<Cond waiters=0>"
    mu.unlock()


def test_cond_predicate_loop_producer_consumer() -> None:
    mu = Mutex()
    cond = Cond(mu)
    queue: list[int] = []

    def consumer() -> list[int]:
        got: list[int] = []
        while len(got) < 50:
            with mu:
                while not queue:
                    assert cond.wait(timeout=JOIN)
                got.append(queue.pop(0))
        return got

    c = gort.go(consumer)
    for i in range(50):
        with mu:
            queue.append(i)
            cond.signal()
    assert c.result(timeout=JOIN) == list(range(50))


def test_cond_with_rlocker() -> None:
    rw = RWMutex()
    cond = Cond(rw.rlocker())
    ready = atomic.Bool()

    def waiter() -> None:
        rw.rlock()
        while not ready.load():
            cond.wait()
        rw.runlock()

    gs = [gort.go(waiter) for _ in range(2)]
    wait_until(lambda: repr(cond) == "<Cond waiters=2>")
    rw.lock()  # possible: the waiters released their read locks
    ready.store(True)
    rw.unlock()
    cond.broadcast()
    join_all(gs)
    assert rw.statistics() == RWMutexStatistics(0, False, 0, 0)


def test_cond_wait_without_holding_the_lock_leaves_no_stale_waiter() -> None:
    # Regression (fixed): Cond.wait enqueues its waiter before L.unlock(); when L is not held,
    # unlock raises and the waiter stays queued.  A later signal() then releases
    # the caller's parker, so the caller's *next* blocking operation returns at
    # once with garbage: here an empty, open channel's recv_ok reports (None,
    # False) as if it were closed, and leaves a dead receiver on the channel.
    mu = Mutex()
    cond = Cond(mu)
    with pytest.raises(RuntimeError, match=r"^unlock of unlocked Mutex$"):
        cond.wait()
    cond.signal()
    ch: Chan[int] = Chan()
    with pytest.raises(TimeoutError, match=r"^receive timed out$"):
        ch.recv_ok(timeout=0.02)  # with the bug: returns (None, False) at once
    assert ch.statistics().receivers_waiting == 0
    assert repr(cond) == "<Cond waiters=0>"


# --------------------------------------------------------------------------- Semaphore

def test_semaphore_constructor_and_weight_errors() -> None:
    with pytest.raises(TypeError, match=r"^Semaphore size must be an int, got str$"):
        Semaphore("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^Semaphore size must be an int, got bool$"):
        Semaphore(True)
    with pytest.raises(ValueError, match=r"^Semaphore size must be >= 0, got -1$"):
        Semaphore(-1)
    sem = Semaphore(3)
    # x/sync: a request larger than the size never succeeds, and blocks nobody.
    assert sem.try_acquire(5) is False
    assert sem.acquire(5, timeout=0.001) is False
    assert sem.statistics() == gort.SemaphoreStatistics(3, 0, 0)
    with pytest.raises(TypeError, match=r"^Semaphore weight must be an int, got float$"):
        sem.acquire(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^Semaphore weight must be >= 0, got -1$"):
        sem.try_acquire(-1)
    assert sem.statistics() == SemaphoreStatistics(size=3, held=0, waiters=0)


def test_semaphore_acquire_release() -> None:
    sem = Semaphore(3)
    assert sem.acquire() is True
    assert sem.acquire(2) is True
    assert sem.statistics() == SemaphoreStatistics(3, 3, 0)
    assert repr(sem) == "<Semaphore size=3 held=3 waiters=0>"
    assert sem.try_acquire() is False
    assert sem.acquire(timeout=0) is False
    sem.release(2)
    assert sem.try_acquire(2) is True
    sem.release(3)
    assert sem.statistics() == SemaphoreStatistics(3, 0, 0)
    with sem:
        assert sem.statistics().held == 1
    assert sem.statistics().held == 0


def test_semaphore_released_more_than_held() -> None:
    sem = Semaphore(3)
    with pytest.raises(ValueError, match=r"^Semaphore released more than held$"):
        sem.release()
    sem.acquire(2)
    with pytest.raises(ValueError, match=r"^Semaphore released more than held$"):
        sem.release(3)
    with pytest.raises(ValueError, match=r"^Semaphore weight must be >= 0, got -1$"):
        sem.release(-1)
    with pytest.raises(TypeError, match=r"^Semaphore weight must be an int, got float$"):
        sem.release(0.5)  # type: ignore[arg-type]
    assert sem.statistics().held == 2


def test_semaphore_timeout_returns_false() -> None:
    sem = Semaphore(1)
    sem.acquire()
    assert sem.acquire(timeout=0.02) is False
    assert sem.statistics() == SemaphoreStatistics(1, 1, 0)
    sem.release()


def test_semaphore_large_request_at_head_is_not_overtaken() -> None:
    sem = Semaphore(3)
    sem.acquire(2)
    big = gort.go(sem.acquire, 3)
    wait_until(lambda: sem.statistics().waiters == 1)
    # One unit is free, but the head waiter needs three: a newcomer must queue.
    assert sem.try_acquire(1) is False
    small = gort.go(sem.acquire, 1)
    wait_until(lambda: sem.statistics().waiters == 2)
    assert not big.done() and not small.done()
    sem.release(2)
    assert big.result(timeout=JOIN) is True
    assert sem.statistics() == SemaphoreStatistics(3, 3, 1)
    assert not small.done()
    sem.release(3)
    assert small.result(timeout=JOIN) is True
    assert sem.statistics() == SemaphoreStatistics(3, 1, 0)
    sem.release(1)


def test_semaphore_head_timing_out_lets_smaller_waiters_through() -> None:
    sem = Semaphore(3)
    sem.acquire(2)
    big = gort.go(sem.acquire, 3, timeout=0.05)
    wait_until(lambda: sem.statistics().waiters == 1)
    small = gort.go(sem.acquire, 1)
    wait_until(lambda: sem.statistics().waiters == 2)
    assert big.result(timeout=JOIN) is False
    assert small.result(timeout=JOIN) is True
    assert sem.statistics() == SemaphoreStatistics(3, 3, 0)
    sem.release(3)


def test_semaphore_waiters_served_in_fifo_order() -> None:
    sem = Semaphore(1)
    sem.acquire()
    order: list[int] = []
    gs = []
    for i in range(4):
        def take(i: int = i) -> None:
            sem.acquire()
            order.append(i)
            sem.release()
        gs.append(gort.go(take))
        wait_until(lambda i=i: sem.statistics().waiters == i + 1)  # type: ignore[misc]
    sem.release()
    join_all(gs)
    assert order == [0, 1, 2, 3]


def test_semaphore_bounds_concurrency() -> None:
    sem = Semaphore(3)
    peak = Peak()

    def work() -> None:
        for _ in range(100):
            with sem:
                peak.enter()
                gort.gosched()
                peak.leave()

    gs = [gort.go(work) for _ in range(8)]
    join_all(gs, timeout=60)
    assert 1 <= peak.peak.load() <= 3
    assert sem.statistics() == SemaphoreStatistics(3, 0, 0)


# --------------------------------------------------------------------------- statistics

@pytest.mark.parametrize("make", [
    lambda: Mutex().statistics(),
    lambda: RWMutex().statistics(),
    lambda: Semaphore(1).statistics(),
])
def test_statistics_are_frozen(make: Callable[[], Any]) -> None:
    s = make()
    with pytest.raises(AttributeError):
        s.waiters = 5


def test_waitgroup_add_needs_an_int() -> None:
    wg = gort.WaitGroup()
    with pytest.raises(TypeError, match=r"^WaitGroup delta must be an int, got float$"):
        wg.add(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^WaitGroup delta must be an int, got bool$"):
        wg.add(True)
    assert wg.count == 0 and wg.wait(timeout=0)


def test_semaphore_larger_than_size_does_not_block_others() -> None:
    sem = Semaphore(2)
    big = gort.go(sem.acquire, 3, 5.0)  # can never succeed: waits, queued nowhere
    assert sem.acquire(2, timeout=5.0)  # not stuck behind the doomed request
    sem.release(2)
    assert big.result(timeout=30) is False
