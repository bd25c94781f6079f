"""scaling: a fixed amount of pure-Python CPU work split over 1, 2, ... procs.

WORK_ITEMS items of CPU-bound pure-Python work (no I/O, no gort calls) are run
as goroutines with ``max_procs`` set to 1, 2, N (= cores) and 2N, and on a
ThreadPoolExecutor with as many workers; ``scaling[asyncio]`` runs them as
asyncio tasks on one thread, the single-thread reference.  The report derives
speedup (t1 / tP) and efficiency (speedup / P).  On builds with a GIL the
speedup stays near 1.0x: that is the point of the comparison.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time

from common import bench, main, scaled

import gort

WORK_ITEMS = 8
SPIN = scaled(40_000, 500)  # iterations of the inner loop per work item


def proc_counts() -> list[int]:
    cores = getattr(os, "process_cpu_count", os.cpu_count)() or 1
    return sorted({1, 2, cores, 2 * cores})


PROC_COUNTS = proc_counts()


def work(n: int = SPIN) -> int:
    acc = 0
    for i in range(n):
        acc = (acc + i * i) % 1_000_003
    return acc


def scaling_gort(loops: int, procs: int) -> float:
    old = gort.set_max_procs(procs)
    try:
        t0 = time.perf_counter()
        for _ in range(loops):
            gs = [gort.go(work) for _ in range(WORK_ITEMS)]
            for g in gs:
                g.result()
        return time.perf_counter() - t0
    finally:
        gort.set_max_procs(old)


for _p in PROC_COUNTS:
    bench("scaling", f"gort,procs={_p}", _p,
          description=f"{WORK_ITEMS} CPU-bound goroutines on max_procs={_p}, per batch"
          )(scaling_gort)


async def _work_async() -> int:
    return work()


def scaling_gort_async(loops: int, procs: int) -> float:
    old = gort.set_max_procs(procs)
    try:
        t0 = time.perf_counter()
        for _ in range(loops):
            gs = [gort.go(_work_async) for _ in range(WORK_ITEMS)]
            for g in gs:
                g.result()
        return time.perf_counter() - t0
    finally:
        gort.set_max_procs(old)


for _p in PROC_COUNTS:
    bench("scaling", f"gort-async,procs={_p}", _p,
          description=f"{WORK_ITEMS} CPU-bound coroutine goroutines, max_procs={_p}"
          )(scaling_gort_async)


def scaling_futures(loops: int, workers: int) -> float:
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        t0 = time.perf_counter()
        for _ in range(loops):
            for f in [pool.submit(work) for _ in range(WORK_ITEMS)]:
                f.result()
        return time.perf_counter() - t0


for _p in PROC_COUNTS:
    bench("scaling", f"futures,procs={_p}", _p,
          description=f"{WORK_ITEMS} CPU-bound tasks on ThreadPoolExecutor({_p})")(scaling_futures)


@bench("scaling", "asyncio,procs=1",
       description=f"{WORK_ITEMS} CPU-bound asyncio tasks on one thread")
def scaling_asyncio(loops: int) -> float:
    async def item() -> int:
        return work()

    async def main() -> float:
        t0 = time.perf_counter()
        for _ in range(loops):
            await asyncio.gather(*[item() for _ in range(WORK_ITEMS)])
        return time.perf_counter() - t0

    return asyncio.run(main())


if __name__ == "__main__":
    main(__doc__)
