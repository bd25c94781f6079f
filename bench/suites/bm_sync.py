"""sync: the cost of gort's Mutex, RWMutex, WaitGroup and atomics.

Uncontended lock + unlock (the common case: a mutex protecting rarely-shared
state), contended lock by P goroutines (and P coroutines against asyncio.Lock
between tasks), RWMutex read-mostly (P goroutines, one write in every
``WRITE_EVERY`` operations, ``CS_WORK`` iterations of work inside each critical
section, so readers can overlap; the stdlib has no reader/writer lock, so the
baseline is one threading.Lock for both), the atomic counter of the Go
concurrency overview (50 goroutines x 1,000 increments), and WaitGroup
``add(1)`` + ``done()`` by one and by P goroutines (no stdlib counterpart),
and ``gort.Map`` (Go's sync.Map: lock-free loads, striped writes) against a dict
guarded by one threading.Lock, P workers over ``MAP_KEYS`` keys, read-mostly
(``MAP_READ_MOSTLY`` of the operations are writes) and write-heavy
(``MAP_WRITE_HEAVY``).
Go's reference: BenchmarkMutexUncontended, BenchmarkMutex, BenchmarkRWMutexWorkRead,
BenchmarkWaitGroupUncontended / AddDone in sync's tests, BenchmarkLoadMostlyHits and
BenchmarkLoadOrStoreBalanced-style mixes in sync's map_bench_test.go.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time

from common import bench, main, scaled

import gort
from gort import atomic

OPS = scaled(2_000, 100)
PROCS = gort.max_procs()  # goroutines (and coroutines, tasks) of the contended cases
THREADS = os.cpu_count() or 1


@bench("mutex", "gort", inner_loops=OPS, description="Mutex lock() + unlock(), uncontended")
def mutex_gort(loops: int) -> float:
    mu = gort.Mutex()
    lock, unlock = mu.lock, mu.unlock
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        lock()
        unlock()
    return time.perf_counter() - t0


@bench("mutex_with", "gort", inner_loops=OPS, description="with Mutex: pass, uncontended")
def mutex_with_gort(loops: int) -> float:
    mu = gort.Mutex()
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        with mu:
            pass
    return time.perf_counter() - t0


@bench("mutex", "threading", inner_loops=OPS,
       description="threading.Lock acquire() + release(), uncontended")
def mutex_threading(loops: int) -> float:
    mu = threading.Lock()
    lock, unlock = mu.acquire, mu.release
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        lock()
        unlock()
    return time.perf_counter() - t0


@bench("mutex_with", "threading", inner_loops=OPS,
       description="with threading.Lock: pass, uncontended")
def mutex_with_threading(loops: int) -> float:
    mu = threading.Lock()
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        with mu:
            pass
    return time.perf_counter() - t0


@bench("atomic_add", "gort", inner_loops=OPS, description="atomic.Int64.add(1)")
def atomic_gort(loops: int) -> float:
    n = atomic.Int64()
    add = n.add
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        add(1)
    return time.perf_counter() - t0


class _LockedCounter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.n = 0


@bench("atomic_add", "threading", inner_loops=OPS, description="with lock: n += 1")
def atomic_threading(loops: int) -> float:
    c = _LockedCounter()
    lock = c.lock
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        with lock:
            c.n += 1
    return time.perf_counter() - t0


GOROUTINES, INCREMENTS = 50, scaled(1_000, 20)


@bench("counter", "gort",
       description="the overview's atomic counter: 50 goroutines x 1,000 add(1)")
def counter_gort(loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        n = atomic.Int64()
        wg = gort.WaitGroup()

        def work(n: atomic.Int64 = n) -> None:
            add = n.add
            for _ in range(INCREMENTS):
                add(1)

        for _ in range(GOROUTINES):
            wg.go(work)
        wg.wait()
        assert n.load() == GOROUTINES * INCREMENTS
    return time.perf_counter() - t0


@bench("counter", "threading", description="50 threads x 1,000 locked increments")
def counter_threading(loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        c = _LockedCounter()

        def work(c: _LockedCounter = c) -> None:
            lock = c.lock
            for _ in range(INCREMENTS):
                with lock:
                    c.n += 1

        ts = [threading.Thread(target=work) for _ in range(GOROUTINES)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert c.n == GOROUTINES * INCREMENTS
    return time.perf_counter() - t0


@bench("mutex_contended", "gort", PROCS, inner_loops=OPS,
       description=f"{PROCS} goroutines lock + unlock one Mutex, per op")
def contended_gort(loops: int, procs: int) -> float:
    mu = gort.Mutex()
    per = loops * OPS // procs

    def work() -> None:
        lock, unlock = mu.lock, mu.unlock
        for _ in range(per):
            lock()
            unlock()

    t0 = time.perf_counter()
    gs = [gort.go(work) for _ in range(procs)]
    for g in gs:
        g.result()
    return time.perf_counter() - t0


@bench("mutex_contended", "threading", PROCS, inner_loops=OPS,
       description=f"{PROCS} threads acquire + release one Lock, per op")
def contended_threading(loops: int, procs: int) -> float:
    mu = threading.Lock()
    per = loops * OPS // procs

    def work() -> None:
        lock, unlock = mu.acquire, mu.release
        for _ in range(per):
            lock()
            unlock()

    ts = [threading.Thread(target=work) for _ in range(procs)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


@bench("mutex_contended", "gort-async", PROCS, inner_loops=OPS,
       description=f"{PROCS} coroutine goroutines alock + unlock one Mutex, "
                   "yielding every 8 ops, per op")
def contended_gort_async(loops: int, procs: int) -> float:
    mu = gort.Mutex()
    per = loops * OPS // procs

    async def work() -> None:
        alock, unlock = mu.alock, mu.unlock
        for i in range(per):
            await alock()
            unlock()
            if i % 8 == 0:  # coroutines are not preempted: let the others run
                await gort.gosched()

    t0 = time.perf_counter()
    gs = [gort.go(work) for _ in range(procs)]
    for g in gs:
        g.result()
    return time.perf_counter() - t0


@bench("mutex_contended", "asyncio", PROCS, inner_loops=OPS,
       description=f"{PROCS} asyncio tasks acquire + release one asyncio.Lock, "
                   "yielding every 8 ops")
def contended_asyncio(loops: int, procs: int) -> float:
    per = loops * OPS // procs

    async def main() -> float:
        mu = asyncio.Lock()

        async def work() -> None:
            for i in range(per):
                await mu.acquire()
                mu.release()
                if i % 8 == 0:
                    await asyncio.sleep(0)

        t0 = time.perf_counter()
        await asyncio.gather(*(work() for _ in range(procs)))
        return time.perf_counter() - t0

    return asyncio.run(main())


RW_OPS = scaled(4_000, 100)
WRITE_EVERY, CS_WORK = 100, 50
_shared = [0]


def _critical(x: int) -> int:
    for i in range(CS_WORK):
        x += i
    return x


@bench("rwmutex_read", "gort", PROCS, inner_loops=RW_OPS,
       description=f"{PROCS} goroutines, RWMutex, 1 write per {WRITE_EVERY} ops, per op")
def rwmutex_gort(loops: int, procs: int) -> float:
    rw = gort.RWMutex()
    per = loops * RW_OPS // procs

    def work() -> None:
        rlock, runlock, lock, unlock = rw.rlock, rw.runlock, rw.lock, rw.unlock
        for i in range(per):
            if i % WRITE_EVERY == 0:
                lock()
                _shared[0] = _critical(_shared[0]) & 0xFFFF
                unlock()
            else:
                rlock()
                _critical(_shared[0])
                runlock()

    t0 = time.perf_counter()
    gs = [gort.go(work) for _ in range(procs)]
    for g in gs:
        g.result()
    return time.perf_counter() - t0


@bench("rwmutex_read", "threading", THREADS, inner_loops=RW_OPS,
       description=f"{THREADS} threads, one threading.Lock for reads and writes")
def rwmutex_threading(loops: int, threads: int) -> float:
    mu = threading.Lock()
    per = loops * RW_OPS // threads

    def work() -> None:
        lock, unlock = mu.acquire, mu.release
        for i in range(per):
            lock()
            if i % WRITE_EVERY == 0:
                _shared[0] = _critical(_shared[0]) & 0xFFFF
            else:
                _critical(_shared[0])
            unlock()

    ts = [threading.Thread(target=work) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


@bench("waitgroup", "gort", inner_loops=OPS, description="WaitGroup add(1) + done(), uncontended")
def waitgroup_gort(loops: int) -> float:
    wg = gort.WaitGroup()
    add, done = wg.add, wg.done
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        add(1)
        done()
    wg.wait()
    return time.perf_counter() - t0


@bench("waitgroup_contended", "gort", PROCS, inner_loops=OPS,
       description=f"{PROCS} goroutines add(1) + done() on one WaitGroup, per op")
def waitgroup_contended_gort(loops: int, procs: int) -> float:
    wg = gort.WaitGroup()
    per = loops * OPS // procs

    def work() -> None:
        add, done = wg.add, wg.done
        for _ in range(per):
            add(1)
            done()

    t0 = time.perf_counter()
    gs = [gort.go(work) for _ in range(procs)]
    for g in gs:
        g.result()
    wg.wait()
    return time.perf_counter() - t0


MAP_OPS = scaled(4_000, 100)
MAP_KEYS = 1_024
MAP_READ_MOSTLY, MAP_WRITE_HEAVY = 0.01, 0.9  # fraction of operations that are writes
_PATTERN = 4_096  # each worker cycles through this many (write?, key) operations


def _map_ops(seed: int, writes: float) -> list[tuple[bool, int]]:
    """A worker's operations, the same for gort and the baseline (fixed seed)."""
    rng = random.Random(seed)
    return [(rng.random() < writes, rng.randrange(MAP_KEYS)) for _ in range(_PATTERN)]


def syncmap_gort(loops: int, procs: int, writes: float) -> float:
    m: gort.Map[int, int] = gort.Map()
    for k in range(MAP_KEYS):
        m.store(k, k)
    per = loops * MAP_OPS // procs
    patterns = [_map_ops(i, writes) for i in range(procs)]

    def work(ops: list[tuple[bool, int]]) -> None:
        load, store = m.load, m.store
        for i in range(per):
            write, k = ops[i % _PATTERN]
            if write:
                store(k, i)
            else:
                load(k)

    t0 = time.perf_counter()
    gs = [gort.go(work, ops) for ops in patterns]
    for g in gs:
        g.result()
    return time.perf_counter() - t0


for _what, _writes in (("syncmap_read", MAP_READ_MOSTLY), ("syncmap_write", MAP_WRITE_HEAVY)):
    bench(_what, "gort", PROCS, _writes, inner_loops=MAP_OPS,
          description=f"{PROCS} goroutines, gort.Map load/store, {_writes:.0%} writes, "
                      "per op")(syncmap_gort)


def syncmap_threading(loops: int, threads: int, writes: float) -> float:
    d = {k: k for k in range(MAP_KEYS)}
    lock = threading.Lock()
    per = loops * MAP_OPS // threads
    patterns = [_map_ops(i, writes) for i in range(threads)]

    def work(ops: list[tuple[bool, int]]) -> None:
        get = d.get
        for i in range(per):
            write, k = ops[i % _PATTERN]
            if write:
                with lock:
                    d[k] = i
            else:
                with lock:
                    get(k)

    ts = [threading.Thread(target=work, args=(ops,)) for ops in patterns]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


for _what, _writes in (("syncmap_read", MAP_READ_MOSTLY), ("syncmap_write", MAP_WRITE_HEAVY)):
    bench(_what, "threading", PROCS, _writes, inner_loops=MAP_OPS,
          description=f"{PROCS} threads, dict + threading.Lock, {_writes:.0%} writes, "
                      "per op")(syncmap_threading)


if __name__ == "__main__":
    main(__doc__)
