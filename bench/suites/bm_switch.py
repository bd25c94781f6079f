"""switch: context-switch latency, as a ping-pong round trip between two tasks.

Two tasks pass a token back and forth over two unbuffered channels (for the
baselines: two one-slot queues, or two bare locks); the time is per round trip,
i.e. two switches.  ``pingpong[lock]`` is the floor for waking an OS thread from
Python: two threads handing two ``threading.Lock``s back and forth, with no
queue or value at all.  Go's reference is ChanSync / PingPongHog (proc_test.go).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time

from common import bench_time, make_runner, scaled

import gort

ROUNDS = scaled(2_000, 50)  # round trips per loop


def pingpong_gort(loops: int) -> float:
    ping: gort.Chan[int] = gort.Chan()
    pong: gort.Chan[int] = gort.Chan()
    n = loops * ROUNDS

    def echo() -> None:
        for v in ping:
            pong.send(v)

    def driver() -> float:
        t0 = time.perf_counter()
        for i in range(n):
            ping.send(i)
            pong.recv()
        dt = time.perf_counter() - t0
        ping.close()
        return dt

    gort.go(echo)
    return gort.go(driver).result()


def pingpong_gort_async(loops: int) -> float:
    ping: gort.Chan[int] = gort.Chan()
    pong: gort.Chan[int] = gort.Chan()
    n = loops * ROUNDS

    async def echo() -> None:
        async for v in ping:
            await pong.asend(v)

    async def driver() -> float:
        t0 = time.perf_counter()
        for i in range(n):
            await ping.asend(i)
            await pong.arecv()
        dt = time.perf_counter() - t0
        ping.close()
        return dt

    gort.go(echo)
    return gort.go(driver).result()  # type: ignore[no-any-return]


def pingpong_lock(loops: int) -> float:
    a = threading.Lock()
    b = threading.Lock()
    a.acquire()
    b.acquire()
    n = loops * ROUNDS

    def echo() -> None:
        for _ in range(n):
            a.acquire()
            b.release()

    t = threading.Thread(target=echo)
    t.start()
    t0 = time.perf_counter()
    for _ in range(n):
        a.release()
        b.acquire()
    dt = time.perf_counter() - t0
    t.join()
    return dt


def pingpong_queue(loops: int) -> float:
    ping: queue.Queue[int | None] = queue.Queue(1)
    pong: queue.Queue[int] = queue.Queue(1)
    n = loops * ROUNDS

    def echo() -> None:
        while (v := ping.get()) is not None:
            pong.put(v)

    t = threading.Thread(target=echo)
    t.start()
    t0 = time.perf_counter()
    for i in range(n):
        ping.put(i)
        pong.get()
    dt = time.perf_counter() - t0
    ping.put(None)
    t.join()
    return dt


def pingpong_asyncio(loops: int) -> float:
    n = loops * ROUNDS

    async def main() -> float:
        ping: asyncio.Queue[int | None] = asyncio.Queue(1)
        pong: asyncio.Queue[int] = asyncio.Queue(1)

        async def echo() -> None:
            while (v := await ping.get()) is not None:
                await pong.put(v)

        task = asyncio.create_task(echo())
        t0 = time.perf_counter()
        for i in range(n):
            await ping.put(i)
            await pong.get()
        dt = time.perf_counter() - t0
        await ping.put(None)
        await task
        return dt

    return asyncio.run(main())


if __name__ == "__main__":
    runner = make_runner(__doc__.splitlines()[0])
    bench_time(runner, "pingpong[gort]", pingpong_gort, inner_loops=ROUNDS,
               description="two goroutines, two unbuffered Chans, per round trip")
    bench_time(runner, "pingpong[gort-async]", pingpong_gort_async, inner_loops=ROUNDS,
               description="two coroutine goroutines, two unbuffered Chans, per round trip")
    bench_time(runner, "pingpong[lock]", pingpong_lock, inner_loops=ROUNDS,
               description="two threads, two threading.Locks, per round trip (the floor)")
    bench_time(runner, "pingpong[threading]", pingpong_queue, inner_loops=ROUNDS,
               description="two threads, two queue.Queue(1), per round trip")
    bench_time(runner, "pingpong[asyncio]", pingpong_asyncio, inner_loops=ROUNDS,
               description="two asyncio tasks, two asyncio.Queue(1), per round trip")
