"""switch: context-switch latency, as a ping-pong round trip between two tasks.

Two tasks pass a token back and forth over two unbuffered channels (for the
baselines: two one-slot queues, or two bare locks); the time is per round trip,
i.e. two switches.  ``pingpong[lock]`` is the floor for waking an OS thread from
Python: two threads handing two ``threading.Lock``s back and forth, with no
queue or value at all.  Go's reference is ChanSync / PingPongHog (proc_test.go).

``pingpong_hog`` is the same round trip while CPU hogs keep every processor
busy: ``max_procs()`` hog goroutines (``os.cpu_count()`` hog threads, one hog
task for asyncio) that each run chunks of ``HOG_CHUNK`` loop iterations.  gort
does not preempt Python code (Go before 1.14 did not either), so the gort and
asyncio hogs yield between chunks (``gort.gosched()``, ``asyncio.sleep(0)``);
OS threads are preempted by the kernel.  It measures fairness: how long a
ready goroutine waits behind busy ones.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time

from common import bench, main, scaled

import gort

ROUNDS = scaled(1_000, 50)  # round trips per loop
HOG_ROUNDS = scaled(40, 10)
# Kernel-scheduled threads behind busy hogs wait for a time slice (tens of ms
# per round trip on a 2-core machine): fewer rounds keep the suite short.
HOG_ROUNDS_THREADS = scaled(1, 1)
HOG_CHUNK = 1_000  # loop iterations between two yields of a cooperative hog


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i
    return x


@bench("pingpong", "gort", inner_loops=ROUNDS,
       description="two goroutines, two unbuffered Chans, per round trip")
def pingpong_gort(loops: int, rounds: int = ROUNDS) -> float:
    ping: gort.Chan[int] = gort.Chan()
    pong: gort.Chan[int] = gort.Chan()
    n = loops * rounds

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


@bench("pingpong", "gort-async", inner_loops=ROUNDS,
       description="two coroutine goroutines, two unbuffered Chans, per round trip")
def pingpong_gort_async(loops: int, rounds: int = ROUNDS) -> float:
    ping: gort.Chan[int] = gort.Chan()
    pong: gort.Chan[int] = gort.Chan()
    n = loops * rounds

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
    return gort.go(driver).result()


@bench("pingpong", "lock", inner_loops=ROUNDS,
       description="two threads, two threading.Locks, per round trip (the floor)")
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


@bench("pingpong", "threading", inner_loops=ROUNDS,
       description="two threads, two queue.Queue(1), per round trip")
def pingpong_queue(loops: int, rounds: int = ROUNDS) -> float:
    ping: queue.Queue[int | None] = queue.Queue(1)
    pong: queue.Queue[int] = queue.Queue(1)
    n = loops * rounds

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


async def _pingpong_asyncio(n: int) -> float:
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


@bench("pingpong", "asyncio", inner_loops=ROUNDS,
       description="two asyncio tasks, two asyncio.Queue(1), per round trip")
def pingpong_asyncio(loops: int) -> float:
    return asyncio.run(_pingpong_asyncio(loops * ROUNDS))


@bench("pingpong_hog", "gort", inner_loops=HOG_ROUNDS,
       description="ping-pong round trip while max_procs() hog goroutines run")
def pingpong_hog_gort(loops: int) -> float:
    stop = [False]

    def hog() -> None:
        while not stop[0]:
            _spin(HOG_CHUNK)
            gort.gosched()

    hogs = [gort.go(hog) for _ in range(gort.max_procs())]
    try:
        return pingpong_gort(loops, HOG_ROUNDS)
    finally:
        stop[0] = True
        for g in hogs:
            g.result()


@bench("pingpong_hog", "gort-async", inner_loops=HOG_ROUNDS,
       description="coroutine ping-pong while max_procs() hog coroutines run")
def pingpong_hog_gort_async(loops: int) -> float:
    stop = [False]

    async def hog() -> None:
        while not stop[0]:
            _spin(HOG_CHUNK)
            await gort.gosched()

    hogs = [gort.go(hog) for _ in range(gort.max_procs())]
    try:
        return pingpong_gort_async(loops, HOG_ROUNDS)
    finally:
        stop[0] = True
        for g in hogs:
            g.result()


@bench("pingpong_hog", "threading", inner_loops=HOG_ROUNDS_THREADS,
       description="queue.Queue(1) ping-pong while cpu_count() hog threads run")
def pingpong_hog_queue(loops: int) -> float:
    stop = [False]

    def hog() -> None:
        while not stop[0]:
            _spin(HOG_CHUNK)

    hogs = [threading.Thread(target=hog) for _ in range(os.cpu_count() or 1)]
    for t in hogs:
        t.start()
    try:
        return pingpong_queue(loops, HOG_ROUNDS_THREADS)
    finally:
        stop[0] = True
        for t in hogs:
            t.join()


@bench("pingpong_hog", "asyncio", inner_loops=HOG_ROUNDS,
       description="asyncio.Queue(1) ping-pong while a hog task runs")
def pingpong_hog_asyncio(loops: int) -> float:
    n = loops * HOG_ROUNDS

    async def main() -> float:
        stop = False

        async def hog() -> None:
            while not stop:
                _spin(HOG_CHUNK)
                await asyncio.sleep(0)

        hog_task = asyncio.create_task(hog())
        dt = await _pingpong_asyncio(n)
        stop = True
        await hog_task
        return dt

    return asyncio.run(main())


if __name__ == "__main__":
    main(__doc__)
