"""spawn: start and join N no-op tasks; the time per task.

What it shows: what one goroutine costs to create, schedule, run and join (a
plain one, and a coroutine goroutine spawned and awaited by another),
against the alternatives a Python programmer has: a ThreadPoolExecutor task
(submit + result), an OS thread (start + join) and an asyncio task
(create_task + gather).  Go's reference is CreateGoroutines in proc_test.go.
All N tasks are started first and then joined, as a fan-out would do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time

from common import bench, main, scaled

import gort

N = scaled(2_000, 200)  # tasks per loop
N_ASYNC = scaled(2_000, 200)  # coroutine goroutines per loop
N_THREADS = scaled(100, 20)  # OS threads are ~100x dearer: fewer per loop


def noop() -> None:
    pass


@bench("spawn", "gort", inner_loops=N, description="gort.go + join, per goroutine")
def spawn_gort(loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        gs = [gort.go(noop) for _ in range(N)]
        for g in gs:
            g.join()
    return time.perf_counter() - t0


@functools.cache
def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """One pool per process, its threads kept from one timed run to the next."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=gort.max_procs())


@bench("spawn", "futures", inner_loops=N,
       description="ThreadPoolExecutor(max_procs).submit + result, per task")
def spawn_tpe(loops: int) -> float:
    pool = _pool()
    t0 = time.perf_counter()
    for _ in range(loops):
        fs = [pool.submit(noop) for _ in range(N)]
        for f in fs:
            f.result()
    return time.perf_counter() - t0


@bench("spawn", "threading", inner_loops=N_THREADS,
       description="threading.Thread start + join, per thread")
def spawn_threading(loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        ts = [threading.Thread(target=noop) for _ in range(N_THREADS)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return time.perf_counter() - t0


async def _noop_async() -> None:
    pass


@bench("spawn", "gort-async", inner_loops=N_ASYNC,
       description="gort.go(async fn) + await, from a coroutine goroutine, per goroutine")
def spawn_gort_async(loops: int) -> float:
    async def spawner() -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            gs = [gort.go(_noop_async) for _ in range(N_ASYNC)]
            for g in gs:
                await g
        return time.perf_counter() - t0

    return gort.go(spawner).result()


@bench("spawn", "asyncio", inner_loops=N, description="asyncio create_task + gather, per task")
def spawn_asyncio(loops: int) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            await asyncio.gather(*[asyncio.create_task(_noop_async()) for _ in range(N)])
        return time.perf_counter() - t0

    return asyncio.run(main())


if __name__ == "__main__":
    main(__doc__)
