"""sync: the cost of gort's Mutex and atomics against threading's Lock.

Uncontended lock + unlock (the common case: a mutex protecting rarely-shared
state), contended lock by P goroutines, the atomic counter of the Go
concurrency overview (50 goroutines x 1,000 increments), and WaitGroup.
"""

from __future__ import annotations

import threading
import time

from common import bench_time, make_runner, scaled

import gort
from gort import atomic

OPS = scaled(10_000, 100)


def mutex_gort(loops: int) -> float:
    mu = gort.Mutex()
    lock, unlock = mu.lock, mu.unlock
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        lock()
        unlock()
    return time.perf_counter() - t0


def mutex_with_gort(loops: int) -> float:
    mu = gort.Mutex()
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        with mu:
            pass
    return time.perf_counter() - t0


def mutex_threading(loops: int) -> float:
    mu = threading.Lock()
    lock, unlock = mu.acquire, mu.release
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        lock()
        unlock()
    return time.perf_counter() - t0


def mutex_with_threading(loops: int) -> float:
    mu = threading.Lock()
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        with mu:
            pass
    return time.perf_counter() - t0


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


def atomic_threading(loops: int) -> float:
    c = _LockedCounter()
    lock = c.lock
    t0 = time.perf_counter()
    for _ in range(loops * OPS):
        with lock:
            c.n += 1
    return time.perf_counter() - t0


GOROUTINES, INCREMENTS = 50, scaled(1_000, 20)


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


if __name__ == "__main__":
    runner = make_runner(__doc__.splitlines()[0])
    bench_time(runner, "mutex[gort]", mutex_gort, inner_loops=OPS,
               description="Mutex lock() + unlock(), uncontended")
    bench_time(runner, "mutex[threading]", mutex_threading, inner_loops=OPS,
               description="threading.Lock acquire() + release(), uncontended")
    bench_time(runner, "mutex_with[gort]", mutex_with_gort, inner_loops=OPS,
               description="with Mutex: pass, uncontended")
    bench_time(runner, "mutex_with[threading]", mutex_with_threading, inner_loops=OPS,
               description="with threading.Lock: pass, uncontended")
    bench_time(runner, "atomic_add[gort]", atomic_gort, inner_loops=OPS,
               description="atomic.Int64.add(1)")
    bench_time(runner, "atomic_add[threading]", atomic_threading, inner_loops=OPS,
               description="with lock: n += 1")
    procs = gort.max_procs()
    bench_time(runner, "mutex_contended[gort]", contended_gort, procs, inner_loops=OPS,
               description=f"{procs} goroutines lock + unlock one Mutex, per op")
    bench_time(runner, "mutex_contended[threading]", contended_threading, procs,
               inner_loops=OPS, description=f"{procs} threads acquire + release one Lock, per op")
    bench_time(runner, "counter[gort]", counter_gort,
               description="the overview's atomic counter: 50 goroutines x 1,000 add(1)")
    bench_time(runner, "counter[threading]", counter_threading,
               description="50 threads x 1,000 locked increments")
