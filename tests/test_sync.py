"""gort's sync primitives: WaitGroup, Mutex, RWMutex, Once, Cond, Semaphore.

Every blocking operation is tested in each world (``world`` fixture,
``tests/worlds.py``): a plain goroutine, a coroutine goroutine, an asyncio task
and a foreign thread, one test body for all four."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from tests.worlds import Handle, World

JOIN = 10.0


def wait_all_parked(gs: list[gort.Goroutine[Any]], timeout: float = 10.0) -> None:
    wait_until(lambda: all(g.state is GState.PARKED for g in gs), timeout,
               f"{len(gs)} goroutines parked")


def join_all(gs: Sequence[Handle], timeout: float = JOIN) -> list[Any]:
    return [g.result(timeout=timeout) for g in gs]


# --------------------------------------------------------------------------- WaitGroup

def test_waitgroup_add_done_wait(world: World) -> None:
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
    waiters = [world.go(world.wait, wg) for _ in range(2)]
    wait_until(lambda: repr(wg) == "<WaitGroup count=3 waiters=2>", what="2 waiters")
    gate.send(None, timeout=JOIN)
    gate.send(None, timeout=JOIN)
    wait_until(lambda: wg.count == 1)
    assert not any(h.done() for h in waiters)
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


def test_waitgroup_wait_timeout(world: World) -> None:
    wg = WaitGroup()
    wg.add(1)

    async def body() -> list[bool]:
        return [await world.wait(wg, t) for t in (0.02, 0, -1)]

    assert world.run(body) == [False, False, False]
    assert repr(wg) == "<WaitGroup count=1 waiters=0>"  # the timed-out waiters left
    wg.done()
    assert world.run(world.wait, wg, 0) is True


def test_waitgroup_wait_with_timeout_woken_in_time(world: World) -> None:
    wg = WaitGroup()
    gate: Chan[None] = Chan()

    async def worker() -> None:
        await world.recv_ok(gate)
        wg.done()

    async def waiter() -> list[bool]:
        out = [await world.wait(wg, 0), await world.wait(wg, 0.02)]
        gate.close()
        out.append(await world.wait(wg, JOIN))
        out.append(await world.wait(wg))
        out.append(await world.wait(wg, 1))
        return out

    wg.add(5)
    workers = [world.go(worker) for _ in range(5)]
    assert world.run(waiter) == [False, False, True, True, True]
    join_all(workers)
    assert wg.count == 0


def test_waitgroup_wakes_many_waiters(world: World) -> None:
    wg = WaitGroup()
    wg.add(1)
    hs = [world.go(world.wait, wg) for _ in range(20)]
    wait_until(lambda: repr(wg) == "<WaitGroup count=1 waiters=20>", what="20 waiters")
    wg.done()
    assert join_all(hs) == [True] * 20


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


def test_mutex_blocks_and_any_goroutine_may_unlock(world: World) -> None:
    mu = Mutex()
    mu.lock()
    h = world.go(world.lock, mu)
    wait_until(lambda: mu.statistics().waiters == 1, what="a locker waiting")
    assert repr(mu) == "<Mutex locked waiters=1>"
    if isinstance(h, gort.Goroutine):
        assert h.state is GState.PARKED
    assert not h.done()
    mu.unlock()
    assert h.result(timeout=JOIN) is None
    assert mu.locked()  # now held by the body, which has finished: Go allows that
    mu.unlock()  # unlocked by another goroutine, as in Go
    assert not mu.locked()


def test_mutex_mutual_exclusion_under_contention(world: World) -> None:
    # Bodies of this world and plain goroutines contend for one Mutex, and the
    # bodies yield while they hold it.
    mu = Mutex()
    peak = Peak()
    state = [0]

    async def work() -> None:
        for i in range(1000):
            async with world.locked(mu):
                peak.enter()
                v = state[0]
                if i % 50 == 0:
                    await world.sleep(0)  # let others try while we hold it
                state[0] = v + 1
                peak.leave()

    def plain() -> None:
        for _ in range(1000):
            with mu:
                peak.enter()
                state[0] += 1
                peak.leave()

    hs: list[Handle] = [world.go(work) for _ in range(6)]
    hs += [gort.go(plain) for _ in range(2)]
    join_all(hs, timeout=60)
    assert state[0] == 8 * 1000
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

def test_rwmutex_many_readers_at_once(world: World) -> None:
    rw = RWMutex()
    release: Chan[None] = Chan()

    async def reader() -> None:
        await world.rlock(rw)
        try:
            await world.recv_ok(release)
        finally:
            rw.runlock()

    readers = [world.go(reader) for _ in range(6)]
    wait_until(lambda: rw.statistics().readers == 6, what="6 readers inside")
    assert rw.try_lock() is False
    assert rw.try_rlock() is True  # one more
    rw.runlock()
    release.close()
    join_all(readers)
    assert rw.statistics() == RWMutexStatistics(0, False, 0, 0)


def test_rwmutex_waiting_writer_blocks_new_readers(world: World) -> None:
    rw = RWMutex()
    rw.rlock()  # the test's thread reads
    writer = world.go(world.lock, rw)
    wait_until(lambda: rw.statistics().writers_waiting == 1)
    assert rw.try_rlock() is False  # a waiting writer blocks new readers
    late_reader = world.go(world.rlock, rw)
    wait_until(lambda: rw.statistics().readers_waiting == 1)
    assert rw.statistics() == RWMutexStatistics(readers=1, writer=False, readers_waiting=1,
                                                writers_waiting=1)
    assert repr(rw) == "<RWMutex readers=1 writer=False readers_waiting=1 writers_waiting=1>"
    rw.runlock()
    assert writer.result(timeout=JOIN) is None  # the writer went before the late reader
    assert rw.statistics() == RWMutexStatistics(0, True, 1, 0)
    assert not late_reader.done()
    rw.unlock()  # on behalf of the writer
    assert late_reader.result(timeout=JOIN) is None
    assert rw.statistics() == RWMutexStatistics(1, False, 0, 0)
    rw.runlock()


def test_rwmutex_readers_queued_behind_a_writer_go_before_the_next_writer(world: World) -> None:
    rw = RWMutex()
    rw.lock()
    r1 = world.go(world.rlock, rw)
    wait_until(lambda: rw.statistics().readers_waiting == 1)
    w2 = world.go(world.lock, rw)
    wait_until(lambda: rw.statistics().writers_waiting == 1)
    r2 = world.go(world.rlock, rw)
    wait_until(lambda: rw.statistics().readers_waiting == 2)
    rw.unlock()
    assert r1.result(timeout=JOIN) is None and r2.result(timeout=JOIN) is None
    assert not w2.done()
    assert rw.statistics() == RWMutexStatistics(2, False, 0, 1)
    rw.runlock()
    assert not w2.done()
    rw.runlock()
    assert w2.result(timeout=JOIN) is None
    rw.unlock()
    assert rw.statistics() == RWMutexStatistics(0, False, 0, 0)


def test_rwmutex_readers_share_and_writers_exclude(world: World) -> None:
    rw = RWMutex()
    gate: Chan[None] = Chan()
    readers = Peak()
    writers = Peak()

    async def reader() -> None:
        async with world.locked(rw.rlocker()):
            readers.enter()
            await world.recv_ok(gate)  # hold the read lock until the gate closes
            readers.leave()

    async def writer() -> None:
        async with world.locked(rw):
            writers.enter()
            assert readers.inside.load() == 0
            await world.sleep(0)
            writers.leave()

    rs = [world.go(reader) for _ in range(4)]
    wait_until(lambda: rw.statistics().readers == 4, what="4 readers inside")
    ws = [world.go(writer) for _ in range(3)]
    wait_until(lambda: rw.statistics().writers_waiting == 3, what="3 writers waiting")
    assert readers.peak.load() == 4
    late = world.go(reader)  # a waiting writer blocks new readers
    wait_until(lambda: rw.statistics().readers_waiting == 1, what="late reader waiting")
    gate.close()
    join_all(rs + ws + [late])
    assert writers.peak.load() == 1
    assert rw.statistics() == RWMutexStatistics(0, False, 0, 0)


def test_rwmutex_lock_and_rlock_through_the_rlocker(world: World) -> None:
    rw = RWMutex()

    async def body() -> list[Any]:
        await world.rlock(rw)
        await world.lock(rw.rlocker())
        out: list[Any] = [rw.statistics().readers]
        rw.runlock()
        rw.runlock()
        await world.lock(rw)
        out.append(rw.statistics().writer)
        rw.unlock()
        return out

    assert world.run(body) == [2, True]


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


def test_rwmutex_stress_invariants(world: World) -> None:
    rw = RWMutex()
    readers_in = atomic.Int64()
    writers_in = atomic.Int64()
    violations = atomic.Int64()
    state = [0]

    async def reader() -> None:
        for _ in range(500):
            async with world.locked(rw.rlocker()):
                readers_in.add(1)
                if writers_in.load():
                    violations.add(1)
                readers_in.add(-1)

    async def writer() -> None:
        for _ in range(300):
            async with world.locked(rw):
                if writers_in.add(1) != 1 or readers_in.load():
                    violations.add(1)
                state[0] = state[0] + 1
                writers_in.add(-1)

    hs = [world.go(reader) for _ in range(4)] + [world.go(writer) for _ in range(3)]
    join_all(hs, timeout=60)
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


def test_cond_signal_wakes_one_broadcast_wakes_all(world: World) -> None:
    mu = Mutex()
    cond = Cond(mu)
    assert cond.L is mu
    woken = atomic.Int64()

    async def waiter() -> bool:
        async with world.locked(mu):
            r = await world.cond_wait(cond)
            assert mu.locked()  # relocked on wake-up
            woken.add(1)
            return r

    hs = [world.go(waiter) for _ in range(3)]
    wait_until(lambda: repr(cond) == "<Cond waiters=3>", what="3 cond waiters")
    with mu:
        cond.signal()
        assert repr(cond) == "<Cond waiters=2>"
    wait_until(lambda: woken.load() == 1, what="one waiter woken")
    wait_until(lambda: sum(h.done() for h in hs) == 1, what="one waiter done")
    cond.broadcast()
    assert repr(cond) == "<Cond waiters=0>"
    assert join_all(hs) == [True, True, True]
    assert woken.load() == 3
    assert not mu.locked()


def test_cond_signal_and_broadcast_without_waiters() -> None:
    cond = Cond(Mutex())
    cond.signal()
    cond.broadcast()
    assert repr(cond) == "<Cond waiters=0>"


def test_cond_wait_timeout_relocks(world: World) -> None:
    mu = Mutex()
    cond = Cond(mu)

    async def waiter() -> tuple[bool, bool]:
        async with world.locked(mu):
            woken = await world.cond_wait(cond, 0.02)
            return woken, mu.locked()

    assert world.run(waiter) == (False, True)
    assert repr(cond) == "<Cond waiters=0>"
    assert not mu.locked()


def test_cond_predicate_loop_producer_consumer(world: World) -> None:
    mu = Mutex()
    cond = Cond(mu)
    queue: list[int] = []

    async def consumer() -> list[int]:
        got: list[int] = []
        while len(got) < 50:
            async with world.locked(mu):
                while not queue:
                    assert await world.cond_wait(cond, JOIN)
                got.append(queue.pop(0))
        return got

    c = world.go(consumer)
    for i in range(50):
        with mu:
            queue.append(i)
            cond.signal()
    assert c.result(timeout=JOIN) == list(range(50))


def test_cond_with_rlocker(world: World) -> None:
    rw = RWMutex()
    cond = Cond(rw.rlocker())
    ready = atomic.Bool()

    async def waiter() -> int:
        async with world.locked(rw.rlocker()):
            while not ready.load():
                await world.cond_wait(cond)
            return rw.statistics().readers

    hs = [world.go(waiter) for _ in range(2)]
    wait_until(lambda: repr(cond) == "<Cond waiters=2>", what="2 cond waiters")
    rw.lock()  # possible: the waiters released their read locks
    ready.store(True)
    rw.unlock()
    cond.broadcast()
    assert all(r >= 1 for r in join_all(hs))
    assert rw.statistics() == RWMutexStatistics(0, False, 0, 0)


def test_cond_wait_without_holding_the_lock_leaves_no_stale_waiter(world: World) -> None:
    # Regression (fixed): Cond.wait enqueued its waiter before L.unlock(); when L is
    # not held, unlock raised and the waiter stayed queued.  A later signal() then
    # released the caller's parker, so the caller's *next* blocking operation
    # returned at once with garbage: here an empty, open channel's recv_ok
    # reported (None, False) as if it were closed, and left a dead receiver.
    mu = Mutex()
    cond = Cond(mu)
    ch: Chan[int] = Chan()

    async def body() -> None:
        with pytest.raises(RuntimeError, match=r"^unlock of unlocked Mutex$"):
            await world.cond_wait(cond)
        cond.signal()
        with pytest.raises(TimeoutError, match=r"^receive timed out$"):
            await world.recv_ok(ch, 0.02)  # with the bug: (None, False) at once

    world.run(body)
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


def test_semaphore_timeout_returns_false(world: World) -> None:
    sem = Semaphore(4)
    assert sem.try_acquire(3)

    async def body() -> list[bool]:
        return [await world.acquire(sem, 2, 0), await world.acquire(sem, 2, 0.02),
                await world.acquire(sem, 1, 0)]

    assert world.run(body) == [False, False, True]
    assert sem.statistics() == SemaphoreStatistics(4, 4, 0)
    sem.release(4)
    # x/sync: a request larger than the size waits for its timeout, queued nowhere.
    assert world.run(world.acquire, sem, 5, 0.001) is False
    assert sem.statistics() == SemaphoreStatistics(4, 0, 0)


def test_semaphore_large_request_at_head_is_not_overtaken(world: World) -> None:
    sem = Semaphore(3)
    sem.acquire(2)
    big = world.go(world.acquire, sem, 3)
    wait_until(lambda: sem.statistics().waiters == 1, what="big waiter")
    # One unit is free, but the head waiter needs three: a newcomer must queue.
    assert sem.try_acquire(1) is False
    small = world.go(world.acquire, sem, 1)
    wait_until(lambda: sem.statistics().waiters == 2, what="small waiter")
    if isinstance(small, gort.Goroutine):
        assert small.state is GState.PARKED
    assert not big.done() and not small.done()
    sem.release(2)
    assert big.result(timeout=JOIN) is True
    assert sem.statistics() == SemaphoreStatistics(3, 3, 1)
    assert not small.done()
    sem.release(3)
    assert small.result(timeout=JOIN) is True
    assert sem.statistics() == SemaphoreStatistics(3, 1, 0)
    sem.release(1)


def test_semaphore_head_timing_out_lets_smaller_waiters_through(world: World) -> None:
    sem = Semaphore(3)
    sem.acquire(2)
    big = world.go(world.acquire, sem, 3, 0.05)
    wait_until(lambda: sem.statistics().waiters == 1, what="big waiter")
    small = world.go(world.acquire, sem, 1)
    wait_until(lambda: sem.statistics().waiters == 2, what="small waiter")
    assert big.result(timeout=JOIN) is False
    assert small.result(timeout=JOIN) is True
    assert sem.statistics() == SemaphoreStatistics(3, 3, 0)
    sem.release(3)


def test_semaphore_waiters_served_in_fifo_order(world: World) -> None:
    sem = Semaphore(1)
    sem.acquire()
    order: list[int] = []

    async def take(i: int) -> None:
        await world.acquire(sem)
        order.append(i)
        sem.release()

    hs = []
    for i in range(4):
        hs.append(world.go(take, i))
        wait_until(lambda i=i: sem.statistics().waiters == i + 1)  # type: ignore[misc]
    sem.release()
    join_all(hs)
    assert order == [0, 1, 2, 3]


def test_semaphore_bounds_concurrency(world: World) -> None:
    sem = Semaphore(3)
    peak = Peak()

    async def work() -> None:
        for _ in range(50):
            async with world.locked(sem):
                peak.enter()
                await world.sleep(0)
                peak.leave()

    join_all([world.go(work) for _ in range(8)], timeout=60)
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
