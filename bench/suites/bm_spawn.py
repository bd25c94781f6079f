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
import threading
import time

from common import bench_time, make_runner, scaled

import gort

N = scaled(2_000, 200)  # tasks per loop
N_ASYNC = scaled(2_000, 200)  # coroutine goroutines per loop
N_THREADS = scaled(100, 20)  # OS threads are ~100x dearer: fewer per loop


def noop() -> None:
    pass


def spawn_gort(loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        gs = [gort.go(noop) for _ in range(N)]
        for g in gs:
            g.join()
    return time.perf_counter() - t0


def spawn_tpe(loops: int, pool: concurrent.futures.ThreadPoolExecutor) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        fs = [pool.submit(noop) for _ in range(N)]
        for f in fs:
            f.result()
    return time.perf_counter() - t0


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


def spawn_gort_async(loops: int) -> float:
    async def spawner() -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            gs = [gort.go(_noop_async) for _ in range(N_ASYNC)]
            for g in gs:
                await g
        return time.perf_counter() - t0

    return gort.go(spawner).result()  # type: ignore[no-any-return]


def spawn_asyncio(loops: int) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            await asyncio.gather(*[asyncio.create_task(_noop_async()) for _ in range(N)])
        return time.perf_counter() - t0

    return asyncio.run(main())


if __name__ == "__main__":
    runner = make_runner(__doc__.splitlines()[0])
    bench_time(runner, "spawn[gort]", spawn_gort, inner_loops=N,
               description="gort.go + join, per goroutine")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=gort.max_procs())
    bench_time(runner, "spawn[futures]", spawn_tpe, pool, inner_loops=N,
               description="ThreadPoolExecutor(max_procs).submit + result, per task")
    bench_time(runner, "spawn[threading]", spawn_threading, inner_loops=N_THREADS,
               description="threading.Thread start + join, per thread")
    bench_time(runner, "spawn[gort-async]", spawn_gort_async, inner_loops=N_ASYNC,
               description="gort.go(async fn) + await, from a coroutine goroutine, per goroutine")
    bench_time(runner, "spawn[asyncio]", spawn_asyncio, inner_loops=N,
               description="asyncio create_task + gather, per task")
