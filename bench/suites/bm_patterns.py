"""patterns: the Go concurrency overview's patterns, end to end.

* ``prodcons``: producer -> consumer with a done channel (``patterns.generate``
  with a context, buffer 16), per item.
* ``workerpool``: ``WORK`` iterations of CPU work per job, mapped over P
  workers (``patterns.worker_pool``; ``ThreadPoolExecutor.map`` with
  ``os.cpu_count()`` threads; P asyncio tasks, which cannot run in parallel),
  per job.
* ``pubsub``: one publisher -> ``SUBSCRIBERS`` subscribers (``Broadcaster``
  with blocking subscriptions of 16 slots; one 16-slot queue per subscriber
  for the baselines), per published value.
* ``pipeline``: generate -> 3 stages (``patterns.stage``, each adds 1) ->
  consumer, 16-slot channels, per item.
* ``cancel``: cancellation latency: ``CANCEL_WORKERS`` workers parked in a
  select on a job channel and a context's done channel (threads waiting on one
  ``threading.Event``; asyncio tasks waiting in ``Queue.get()``, cancelled with
  ``Task.cancel()``); the time from ``cancel()`` until every worker has
  stopped.  The clock starts once every worker is seen parked.

The coroutine forms (``[gort-async]``) are written by hand with ``async``
channel operations: the ``patterns`` helpers start plain goroutines.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from common import bench, main, scaled

import gort
from gort import patterns

ITEMS = scaled(500, 100)
JOBS = scaled(500, 40)
WORK = 200
PUBLISHES = scaled(200, 20)
SUBSCRIBERS = 8
CAP = 16
CANCEL_WORKERS = scaled(100, 10)
PROCS, THREADS = gort.max_procs(), os.cpu_count() or 1


def _work(v: int) -> int:
    x = v
    for i in range(WORK):
        x += i
    return x


# -- producer -> consumer ----------------------------------------------------

@bench("prodcons", "gort", inner_loops=ITEMS,
       description=f"patterns.generate(cap={CAP}, ctx) -> consumer, per item")
def prodcons_gort(loops: int) -> float:
    n = loops * ITEMS

    def consumer() -> float:
        ctx, cancel = gort.with_cancel(gort.background())
        t0 = time.perf_counter()
        count = 0
        for _ in patterns.generate(range(n), cap=CAP, ctx=ctx):
            count += 1
        dt = time.perf_counter() - t0
        cancel()
        assert count == n
        return dt

    return gort.go(consumer).result()


@bench("prodcons", "gort-async", inner_loops=ITEMS,
       description="coroutine producer (aselect on send and done) -> consumer")
def prodcons_gort_async(loops: int) -> float:
    n = loops * ITEMS

    async def consumer() -> float:
        ctx, cancel = gort.with_cancel(gort.background())
        ch: gort.Chan[int] = gort.Chan(CAP)
        done = ctx.done()

        async def producer() -> None:
            try:
                for v in range(n):
                    if (await gort.aselect(ch.send_case(v), done.recv_case())).index == 1:
                        return
            finally:
                ch.close()

        t0 = time.perf_counter()
        gort.go(producer)
        count = 0
        async for _ in ch:
            count += 1
        dt = time.perf_counter() - t0
        cancel()
        assert count == n
        return dt

    return gort.go(consumer).result()


@bench("prodcons", "threading", inner_loops=ITEMS,
       description=f"thread -> queue.Queue({CAP}) -> consumer, per item")
def prodcons_queue(loops: int) -> float:
    n = loops * ITEMS
    q: queue.Queue[int | None] = queue.Queue(CAP)
    stop = threading.Event()

    def producer() -> None:
        put = q.put
        for v in range(n):
            if stop.is_set():
                break
            put(v)
        put(None)

    t0 = time.perf_counter()
    t = threading.Thread(target=producer)
    t.start()
    count = 0
    get = q.get
    while get() is not None:
        count += 1
    dt = time.perf_counter() - t0
    stop.set()
    t.join()
    assert count == n
    return dt


@bench("prodcons", "asyncio", inner_loops=ITEMS,
       description=f"task -> asyncio.Queue({CAP}) -> consumer, per item")
def prodcons_asyncio(loops: int) -> float:
    n = loops * ITEMS

    async def main() -> float:
        q: asyncio.Queue[int | None] = asyncio.Queue(CAP)
        stop = asyncio.Event()

        async def producer() -> None:
            for v in range(n):
                if stop.is_set():  # the done check every other form pays too
                    break
                await q.put(v)
            await q.put(None)

        t0 = time.perf_counter()
        task = asyncio.create_task(producer())
        count = 0
        while await q.get() is not None:
            count += 1
        stop.set()
        await task
        dt = time.perf_counter() - t0
        assert count == n
        return dt

    return asyncio.run(main())


# -- worker pool -------------------------------------------------------------

@bench("workerpool", "gort", PROCS, inner_loops=JOBS,
       description=f"patterns.worker_pool, {PROCS} workers, {WORK}-iteration jobs")
def workerpool_gort(loops: int, procs: int) -> float:
    n = loops * JOBS

    def main() -> float:
        t0 = time.perf_counter()
        jobs = patterns.generate(range(n), cap=CAP)
        count = 0
        for r in patterns.worker_pool(_work, jobs, procs, cap=CAP):
            assert not isinstance(r, patterns.Failed)
            count += 1
        dt = time.perf_counter() - t0
        assert count == n
        return dt

    return gort.go(main).result()


@bench("workerpool", "gort-async", PROCS, inner_loops=JOBS,
       description=f"{PROCS} coroutine workers over Chan({CAP})s")
def workerpool_gort_async(loops: int, procs: int) -> float:
    n = loops * JOBS

    async def main() -> float:
        jobs: gort.Chan[int] = gort.Chan(CAP)
        results: gort.Chan[int] = gort.Chan(CAP)
        wg = gort.WaitGroup()

        async def producer() -> None:
            for v in range(n):
                await jobs.asend(v)
            jobs.close()

        async def worker() -> None:
            async for v in jobs:
                await results.asend(_work(v))

        async def closer() -> None:
            await wg
            results.close()

        t0 = time.perf_counter()
        gort.go(producer)
        for _ in range(procs):
            wg.go(worker)
        gort.go(closer)
        count = 0
        async for _ in results:
            count += 1
        dt = time.perf_counter() - t0
        assert count == n
        return dt

    return gort.go(main).result()


@bench("workerpool", "futures", THREADS, inner_loops=JOBS,
       description=f"ThreadPoolExecutor({THREADS}).map, per job")
def workerpool_futures(loops: int, threads: int) -> float:
    n = loops * JOBS
    with ThreadPoolExecutor(threads) as pool:
        t0 = time.perf_counter()
        count = sum(1 for _ in pool.map(_work, range(n)))
        dt = time.perf_counter() - t0
    assert count == n
    return dt


@bench("workerpool", "asyncio", PROCS, inner_loops=JOBS,
       description=f"{PROCS} asyncio worker tasks over asyncio.Queue({CAP})s")
def workerpool_asyncio(loops: int, procs: int) -> float:
    n = loops * JOBS

    async def main() -> float:
        jobs: asyncio.Queue[int | None] = asyncio.Queue(CAP)
        results: asyncio.Queue[int | None] = asyncio.Queue(CAP)

        async def producer() -> None:
            for v in range(n):
                await jobs.put(v)
            for _ in range(procs):
                await jobs.put(None)

        async def worker() -> None:
            while (v := await jobs.get()) is not None:
                await results.put(_work(v))
            await results.put(None)

        t0 = time.perf_counter()
        tasks = [asyncio.create_task(producer())]
        tasks += [asyncio.create_task(worker()) for _ in range(procs)]
        count, live = 0, procs
        while live:
            if await results.get() is None:
                live -= 1
            else:
                count += 1
        await asyncio.gather(*tasks)
        dt = time.perf_counter() - t0
        assert count == n
        return dt

    return asyncio.run(main())


# -- pub-sub 1 -> N ----------------------------------------------------------

@bench("pubsub", "gort", inner_loops=PUBLISHES,
       description=f"Broadcaster -> {SUBSCRIBERS} blocking subscribers, per publish")
def pubsub_gort(loops: int) -> float:
    n = loops * PUBLISHES
    b: patterns.Broadcaster[int] = patterns.Broadcaster()
    subs = [b.subscribe(CAP, "block", timeout=None) for _ in range(SUBSCRIBERS)]

    def subscriber(c: gort.RecvChan[int]) -> int:
        return sum(1 for _ in c)

    gs = [gort.go(subscriber, s.c) for s in subs]

    def publisher() -> float:
        t0 = time.perf_counter()
        for v in range(n):
            b.publish(v)
        b.close()
        got = sum(g.result() for g in gs)
        dt = time.perf_counter() - t0
        assert got == n * SUBSCRIBERS
        return dt

    return gort.go(publisher).result()


@bench("pubsub", "gort-async", inner_loops=PUBLISHES,
       description=f"coroutine publisher -> {SUBSCRIBERS} Chan({CAP}) subscribers")
def pubsub_gort_async(loops: int) -> float:
    n = loops * PUBLISHES
    chans: list[gort.Chan[int]] = [gort.Chan(CAP) for _ in range(SUBSCRIBERS)]

    async def subscriber(c: gort.Chan[int]) -> int:
        count = 0
        async for _ in c:
            count += 1
        return count

    gs = [gort.go(subscriber, c) for c in chans]

    async def publisher() -> float:
        t0 = time.perf_counter()
        for v in range(n):
            for c in chans:
                await c.asend(v)
        for c in chans:
            c.close()
        got = 0
        for g in gs:
            got += await g
        dt = time.perf_counter() - t0
        assert got == n * SUBSCRIBERS
        return dt

    return gort.go(publisher).result()


@bench("pubsub", "threading", inner_loops=PUBLISHES,
       description=f"thread -> {SUBSCRIBERS} queue.Queue({CAP}) subscriber threads")
def pubsub_queue(loops: int) -> float:
    n = loops * PUBLISHES
    qs: list[queue.Queue[int | None]] = [queue.Queue(CAP) for _ in range(SUBSCRIBERS)]
    counts: list[int] = []

    def subscriber(q: queue.Queue[int | None]) -> None:
        count = 0
        while q.get() is not None:
            count += 1
        counts.append(count)

    ts = [threading.Thread(target=subscriber, args=(q,)) for q in qs]
    for t in ts:
        t.start()
    t0 = time.perf_counter()
    for v in range(n):
        for q in qs:
            q.put(v)
    for q in qs:
        q.put(None)
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    assert sum(counts) == n * SUBSCRIBERS
    return dt


@bench("pubsub", "asyncio", inner_loops=PUBLISHES,
       description=f"task -> {SUBSCRIBERS} asyncio.Queue({CAP}) subscriber tasks")
def pubsub_asyncio(loops: int) -> float:
    n = loops * PUBLISHES

    async def main() -> float:
        qs: list[asyncio.Queue[int | None]] = [asyncio.Queue(CAP) for _ in range(SUBSCRIBERS)]

        async def subscriber(q: asyncio.Queue[int | None]) -> int:
            count = 0
            while await q.get() is not None:
                count += 1
            return count

        tasks = [asyncio.create_task(subscriber(q)) for q in qs]
        t0 = time.perf_counter()
        for v in range(n):
            for q in qs:
                await q.put(v)
        for q in qs:
            await q.put(None)
        got = sum(await asyncio.gather(*tasks))
        dt = time.perf_counter() - t0
        assert got == n * SUBSCRIBERS
        return dt

    return asyncio.run(main())


# -- 3-stage pipeline --------------------------------------------------------

def _inc(v: int) -> int:
    return v + 1


@bench("pipeline", "gort", inner_loops=ITEMS,
       description="generate -> 3 x patterns.stage -> consumer, per item")
def pipeline_gort(loops: int) -> float:
    n = loops * ITEMS

    def main() -> float:
        t0 = time.perf_counter()
        c = patterns.generate(range(n), cap=CAP)
        for _ in range(3):
            c = patterns.stage(_inc, c, cap=CAP)
        total = sum(c)
        dt = time.perf_counter() - t0
        assert total == n * (n - 1) // 2 + 3 * n
        return dt

    return gort.go(main).result()


@bench("pipeline", "gort-async", inner_loops=ITEMS,
       description="4 coroutine goroutines chained by Chan(16)s, per item")
def pipeline_gort_async(loops: int) -> float:
    n = loops * ITEMS

    async def main() -> float:
        async def source(out: gort.Chan[int]) -> None:
            for v in range(n):
                await out.asend(v)
            out.close()

        async def stage(src: gort.Chan[int], out: gort.Chan[int]) -> None:
            async for v in src:
                await out.asend(v + 1)
            out.close()

        t0 = time.perf_counter()
        chans: list[gort.Chan[int]] = [gort.Chan(CAP) for _ in range(4)]
        gort.go(source, chans[0])
        for i in range(3):
            gort.go(stage, chans[i], chans[i + 1])
        total = 0
        async for v in chans[3]:
            total += v
        dt = time.perf_counter() - t0
        assert total == n * (n - 1) // 2 + 3 * n
        return dt

    return gort.go(main).result()


@bench("pipeline", "threading", inner_loops=ITEMS,
       description="4 threads chained by queue.Queue(16)s, per item")
def pipeline_queue(loops: int) -> float:
    n = loops * ITEMS
    qs: list[queue.Queue[int | None]] = [queue.Queue(CAP) for _ in range(4)]

    def source() -> None:
        for v in range(n):
            qs[0].put(v)
        qs[0].put(None)

    def stage(src: queue.Queue[int | None], out: queue.Queue[int | None]) -> None:
        while (v := src.get()) is not None:
            out.put(v + 1)
        out.put(None)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=source)]
    ts += [threading.Thread(target=stage, args=(qs[i], qs[i + 1])) for i in range(3)]
    for t in ts:
        t.start()
    total = 0
    while (v := qs[3].get()) is not None:
        total += v
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    assert total == n * (n - 1) // 2 + 3 * n
    return dt


@bench("pipeline", "asyncio", inner_loops=ITEMS,
       description="4 asyncio tasks chained by asyncio.Queue(16)s, per item")
def pipeline_asyncio(loops: int) -> float:
    n = loops * ITEMS

    async def main() -> float:
        qs: list[asyncio.Queue[int | None]] = [asyncio.Queue(CAP) for _ in range(4)]

        async def source() -> None:
            for v in range(n):
                await qs[0].put(v)
            await qs[0].put(None)

        async def stage(src: asyncio.Queue[int | None], out: asyncio.Queue[int | None]) -> None:
            while (v := await src.get()) is not None:
                await out.put(v + 1)
            await out.put(None)

        t0 = time.perf_counter()
        tasks = [asyncio.create_task(source())]
        tasks += [asyncio.create_task(stage(qs[i], qs[i + 1])) for i in range(3)]
        total = 0
        while (v := await qs[3].get()) is not None:
            total += v
        await asyncio.gather(*tasks)
        dt = time.perf_counter() - t0
        assert total == n * (n - 1) // 2 + 3 * n
        return dt

    return asyncio.run(main())


# -- cancellation latency ----------------------------------------------------

def _wait_for(pred: Callable[[], bool]) -> None:
    """Setup, outside the timed region: poll until every worker is parked."""
    deadline = time.monotonic() + 30
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not park within 30 s")
        time.sleep(0.0002)


def _cancel_once_gort(coroutines: bool) -> float:
    ctx, cancel = gort.with_cancel(gort.background())
    jobs: gort.Chan[int] = gort.Chan()
    parked = gort.WaitGroup()
    stopped = gort.WaitGroup()
    parked.add(CANCEL_WORKERS)

    def worker() -> None:
        parked.done()
        r = gort.select(jobs.recv_case(), ctx.done().recv_case())
        assert r.index == 1

    async def aworker() -> None:
        parked.done()
        r = await gort.aselect(jobs.recv_case(), ctx.done().recv_case())
        assert r.index == 1

    for _ in range(CANCEL_WORKERS):
        stopped.go(aworker if coroutines else worker)
    parked.wait()
    done_chan = ctx.done().recv_case().chan
    _wait_for(lambda: done_chan.statistics().receivers_waiting == CANCEL_WORKERS)
    t0 = time.perf_counter()
    cancel()
    stopped.wait()
    return time.perf_counter() - t0


@bench("cancel", "gort",
       description=f"cancel() until {CANCEL_WORKERS} goroutines parked in select on ctx.done() "
                   "have stopped")
def cancel_gort(loops: int) -> float:
    return sum(_cancel_once_gort(False) for _ in range(loops))


@bench("cancel", "gort-async",
       description=f"cancel() until {CANCEL_WORKERS} coroutine goroutines have stopped")
def cancel_gort_async(loops: int) -> float:
    return sum(_cancel_once_gort(True) for _ in range(loops))


def _cancel_once_threading() -> float:
    cancelled = threading.Event()
    parked = threading.Barrier(CANCEL_WORKERS + 1)

    def worker() -> None:
        parked.wait()
        cancelled.wait()

    ts = [threading.Thread(target=worker) for _ in range(CANCEL_WORKERS)]
    for t in ts:
        t.start()
    parked.wait()
    waiters = cancelled._cond._waiters  # type: ignore[attr-defined]  # CPython's Event
    _wait_for(lambda: len(waiters) == CANCEL_WORKERS)
    t0 = time.perf_counter()
    cancelled.set()
    for t in ts:
        t.join()
    return time.perf_counter() - t0


@bench("cancel", "threading",
       description=f"Event.set() until {CANCEL_WORKERS} waiting threads have joined")
def cancel_threading(loops: int) -> float:
    return sum(_cancel_once_threading() for _ in range(loops))


@bench("cancel", "asyncio",
       description=f"cancel() {CANCEL_WORKERS} tasks waiting in Queue.get() until gathered")
def cancel_asyncio(loops: int) -> float:
    async def main() -> float:
        total = 0.0
        for _ in range(loops):
            jobs: asyncio.Queue[int] = asyncio.Queue()
            tasks = [asyncio.create_task(jobs.get()) for _ in range(CANCEL_WORKERS)]
            await asyncio.sleep(0)  # every task now waits in get()
            t0 = time.perf_counter()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            total += time.perf_counter() - t0
        return total

    return asyncio.run(main())


if __name__ == "__main__":
    main(__doc__)
