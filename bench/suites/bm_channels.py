"""channels: throughput of one producer -> one consumer, per item.

gort channels with buffers 0, 1 and 128 against ``queue.Queue`` of the same
size (``threading``) and ``asyncio.Queue``.  Go's reference is ChanProdCons0,
ChanProdCons10 and ChanProdCons100 in chan_test.go.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time

from common import bench_time, make_runner, scaled

import gort

ITEMS = scaled(20_000, 200)  # items per loop


def chan_gort(loops: int, cap: int) -> float:
    ch: gort.Chan[int] = gort.Chan(cap)
    n = loops * ITEMS

    def producer() -> None:
        send = ch.send
        for i in range(n):
            send(i)
        ch.close()

    def consumer() -> float:
        t0 = time.perf_counter()
        count = 0
        for _ in ch:
            count += 1
        dt = time.perf_counter() - t0
        assert count == n
        return dt

    c = gort.go(consumer)
    gort.go(producer)
    return c.result()


def chan_gort_async(loops: int, cap: int) -> float:
    ch: gort.Chan[int] = gort.Chan(cap)
    n = loops * ITEMS

    async def producer() -> None:
        send = ch.asend
        for i in range(n):
            await send(i)
        ch.close()

    async def consumer() -> float:
        t0 = time.perf_counter()
        count = 0
        async for _ in ch:
            count += 1
        dt = time.perf_counter() - t0
        assert count == n
        return dt

    c = gort.go(consumer)
    gort.go(producer)
    return c.result()  # type: ignore[no-any-return]


def chan_queue(loops: int, cap: int) -> float:
    q: queue.Queue[int | None] = queue.Queue(cap)
    n = loops * ITEMS

    def producer() -> None:
        put = q.put
        for i in range(n):
            put(i)
        put(None)

    t = threading.Thread(target=producer)
    t0 = time.perf_counter()
    t.start()
    get = q.get
    while get() is not None:
        pass
    dt = time.perf_counter() - t0
    t.join()
    return dt


def chan_asyncio(loops: int, cap: int) -> float:
    n = loops * ITEMS

    async def main() -> float:
        q: asyncio.Queue[int | None] = asyncio.Queue(cap)

        async def producer() -> None:
            for i in range(n):
                await q.put(i)
            await q.put(None)

        t0 = time.perf_counter()
        task = asyncio.create_task(producer())
        while await q.get() is not None:
            pass
        await task
        return time.perf_counter() - t0

    return asyncio.run(main())


if __name__ == "__main__":
    runner = make_runner(__doc__.splitlines()[0])
    for cap in (0, 1, 128):
        bench_time(runner, f"chan_{cap}[gort]", chan_gort, cap, inner_loops=ITEMS,
                   description=f"Chan({cap}), 1 producer -> 1 consumer goroutine, per item")
        bench_time(runner, f"chan_{cap}[gort-async]", chan_gort_async, cap, inner_loops=ITEMS,
                   description=f"Chan({cap}), 1 -> 1 coroutine goroutine, per item")
        if cap:  # queue.Queue(0) is unbounded, not a rendezvous: no baseline for 0
            bench_time(runner, f"chan_{cap}[threading]", chan_queue, cap, inner_loops=ITEMS,
                       description=f"queue.Queue({cap}), 1 producer -> 1 consumer thread")
            bench_time(runner, f"chan_{cap}[asyncio]", chan_asyncio, cap, inner_loops=ITEMS,
                       description=f"asyncio.Queue({cap}), 1 producer -> 1 consumer task")
