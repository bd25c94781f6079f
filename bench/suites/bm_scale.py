"""scale: many parked goroutines at once, and many pending timers.

N coroutine goroutines are started, each parks receiving from one channel;
once all are parked the resident set size (psutil) is read, the channel is
closed and every goroutine is joined.  The time is per goroutine (spawn, park,
wake, end); the RSS growth per parked goroutine (``rss_per_task``, bytes) is
recorded with ``record_extra`` and shown in the report's memory table.  The same for
plain goroutines (each holds an OS thread while parked, so far fewer), for
asyncio tasks parked on a future (the reference), and for 100,000 pending
``gort.Timer``s.  Go's minimum goroutine stack is 2 KB.

This suite runs single-shot (one process, one value): a million goroutines is
not something to repeat twenty times.
"""

from __future__ import annotations

import asyncio
import gc
import time

import psutil
from common import bench, main, record_extra, scaled

import gort

N = scaled(100_000, 500)  # tasks (or timers) per loop
N_ASYNC = (N, scaled(1_000_000, 1_000))  # coroutine goroutines per loop
N_THREADS = scaled(2_000, 50)  # plain goroutines: one OS thread each

_proc = psutil.Process()


def _rss() -> int:
    gc.collect()
    return int(_proc.memory_info().rss)


def _record(name: str, n: int, before: int, after: int) -> None:
    record_extra(name, rss_per_task=max(0, (after - before) // n), tasks=n)


def parked_gort_async(loops: int, n: int) -> float:
    total = 0.0
    for _ in range(loops):
        gate: gort.Chan[None] = gort.Chan()

        async def park(gate: gort.Chan[None] = gate) -> None:
            await gate.arecv_ok()

        before = _rss()
        t0 = time.perf_counter()
        gs = [gort.go(park) for _ in range(n)]
        while gate.statistics().receivers_waiting < n:
            time.sleep(0.01)
        t1 = time.perf_counter()
        after = _rss()
        t2 = time.perf_counter()
        gate.close()
        for g in gs:
            g.join()
        total += (t1 - t0) + (time.perf_counter() - t2)
        _record(f"parked[gort-async,n={n}]", n, before, after)
        del gs
    return total


for _n in N_ASYNC:
    bench("parked", f"gort-async,n={_n}", _n, inner_loops=_n,
          description=f"{_n:,} coroutine goroutines parked on a channel, per goroutine"
          )(parked_gort_async)


@bench("parked", f"gort,n={N_THREADS}", N_THREADS, inner_loops=N_THREADS,
       description=f"{N_THREADS:,} plain goroutines parked (one OS thread each)")
def parked_gort(loops: int, n: int) -> float:
    total = 0.0
    for _ in range(loops):
        gate: gort.Chan[None] = gort.Chan()
        before = _rss()
        t0 = time.perf_counter()
        gs = [gort.go(gate.recv_ok) for _ in range(n)]
        while gate.statistics().receivers_waiting < n:
            time.sleep(0.01)
        t1 = time.perf_counter()
        after = _rss()
        t2 = time.perf_counter()
        gate.close()
        for g in gs:
            g.join()
        total += (t1 - t0) + (time.perf_counter() - t2)
        _record(f"parked[gort,n={n}]", n, before, after)
    return total


@bench("parked", f"asyncio,n={N}", N, inner_loops=N,
       description=f"{N:,} asyncio tasks parked on a future, per task")
def parked_asyncio(loops: int, n: int) -> float:
    async def main() -> float:
        total = 0.0
        for _ in range(loops):
            loop = asyncio.get_running_loop()
            gate: asyncio.Future[None] = loop.create_future()

            async def park(gate: asyncio.Future[None] = gate) -> None:
                await gate

            before = _rss()
            t0 = time.perf_counter()
            tasks = [asyncio.create_task(park()) for _ in range(n)]
            await asyncio.sleep(0)
            t1 = time.perf_counter()
            after = _rss()
            t2 = time.perf_counter()
            gate.set_result(None)
            await asyncio.gather(*tasks)
            total += (t1 - t0) + (time.perf_counter() - t2)
            _record(f"parked[asyncio,n={n}]", n, before, after)
        return total

    return asyncio.run(main())


@bench("timers", f"gort,n={N}", N, inner_loops=N,
       description=f"{N:,} pending gort.Timers, created then stopped, per timer")
def timers_gort(loops: int, n: int) -> float:
    total = 0.0
    for _ in range(loops):
        before = _rss()
        t0 = time.perf_counter()
        ts = [gort.Timer(3600.0) for _ in range(n)]
        t1 = time.perf_counter()
        after = _rss()
        t2 = time.perf_counter()
        for t in ts:
            t.stop()
        total += (t1 - t0) + (time.perf_counter() - t2)
        _record(f"timers[gort,n={n}]", n, before, after)
    return total


if __name__ == "__main__":
    main(__doc__)
