"""channels: throughput of one producer -> one consumer, and P -> P, per item.

gort channels with buffers 0, 1 and 128 against ``queue.Queue`` of the same
size (``threading``) and ``asyncio.Queue``.  ``chan_pp_*`` has P producers and
P consumers on one channel (P = ``max_procs()``; ``os.cpu_count()`` threads for
the baseline); ``chan_work_*`` adds a little CPU work per item in the consumer
(``WORK`` loop iterations; Go's ChanProdConsWork also works in the producer),
where parallel consumers can pay off.  The P -> P times include starting the
producers and consumers, for every implementation.  Go's reference is
ChanProdCons0/10/100 and ChanProdConsWork0/10/100 in chan_test.go.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time

from common import bench, main, scaled

import gort

ITEMS = scaled(2_000, 200)  # items per loop
WORK = 100  # loop iterations of work per item in chan_work_*
CAPS = (0, 1, 128)  # 1 -> 1: queue.Queue(0) is unbounded, not a rendezvous: no baseline for 0
PP_CASES = ((0, False), (128, False), (0, True), (128, True))  # P -> P: (cap, work)
PROCS, THREADS = gort.max_procs(), os.cpu_count() or 1


def _work(v: int) -> int:
    x = v
    for i in range(WORK):
        x += i
    return x


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


for _cap in CAPS:
    bench(f"chan_{_cap}", "gort", _cap, inner_loops=ITEMS,
          description=f"Chan({_cap}), 1 producer -> 1 consumer goroutine, per item")(chan_gort)


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
    return c.result()


for _cap in CAPS:
    bench(f"chan_{_cap}", "gort-async", _cap, inner_loops=ITEMS,
          description=f"Chan({_cap}), 1 -> 1 coroutine goroutine, per item")(chan_gort_async)


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


for _cap in CAPS[1:]:
    bench(f"chan_{_cap}", "threading", _cap, inner_loops=ITEMS,
          description=f"queue.Queue({_cap}), 1 producer -> 1 consumer thread")(chan_queue)


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


for _cap in CAPS[1:]:
    bench(f"chan_{_cap}", "asyncio", _cap, inner_loops=ITEMS,
          description=f"asyncio.Queue({_cap}), 1 producer -> 1 consumer task")(chan_asyncio)


def _pp_name(cap: int, work: bool) -> str:
    return f"chan_{'work' if work else 'pp'}_{cap}"


def _per(work: bool) -> str:
    return f", {WORK} iterations of work per item" if work else ""


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def pp_gort(loops: int, cap: int, procs: int, work: bool) -> float:
    ch: gort.Chan[int] = gort.Chan(cap)
    n = loops * ITEMS
    wg = gort.WaitGroup()

    def producer(k: int) -> None:
        send = ch.send
        for i in range(k):
            send(i)

    def consumer() -> int:
        count = 0
        if work:
            for v in ch:
                _work(v)
                count += 1
        else:
            for _ in ch:
                count += 1
        return count

    t0 = time.perf_counter()
    cs = [gort.go(consumer) for _ in range(procs)]
    for k in _split(n, procs):
        wg.go(producer, k)
    wg.wait()
    ch.close()
    assert sum(c.result() for c in cs) == n
    return time.perf_counter() - t0


for _cap, _work_ in PP_CASES:
    bench(_pp_name(_cap, _work_), "gort", _cap, PROCS, _work_, inner_loops=ITEMS,
          description=f"Chan({_cap}), {PROCS} -> {PROCS} goroutines{_per(_work_)}")(pp_gort)


def pp_gort_async(loops: int, cap: int, procs: int, work: bool) -> float:
    ch: gort.Chan[int] = gort.Chan(cap)
    n = loops * ITEMS
    wg = gort.WaitGroup()

    async def producer(k: int) -> None:
        send = ch.asend
        for i in range(k):
            await send(i)

    async def consumer() -> int:
        count = 0
        if work:
            async for v in ch:
                _work(v)
                count += 1
        else:
            async for _ in ch:
                count += 1
        return count

    t0 = time.perf_counter()
    cs = [gort.go(consumer) for _ in range(procs)]
    for k in _split(n, procs):
        wg.go(producer, k)
    wg.wait()
    ch.close()
    assert sum(c.result() for c in cs) == n
    return time.perf_counter() - t0


for _cap, _work_ in PP_CASES:
    bench(_pp_name(_cap, _work_), "gort-async", _cap, PROCS, _work_, inner_loops=ITEMS,
          description=f"Chan({_cap}), {PROCS} -> {PROCS} coroutine goroutines{_per(_work_)}"
          )(pp_gort_async)


def pp_queue(loops: int, cap: int, procs: int, work: bool) -> float:
    q: queue.Queue[int | None] = queue.Queue(cap)
    n = loops * ITEMS
    counts: list[int] = []

    def producer(k: int) -> None:
        put = q.put
        for i in range(k):
            put(i)

    def consumer() -> None:
        get = q.get
        count = 0
        while (v := get()) is not None:
            if work:
                _work(v)
            count += 1
        counts.append(count)

    ps = [threading.Thread(target=producer, args=(k,)) for k in _split(n, procs)]
    cs = [threading.Thread(target=consumer) for _ in range(procs)]
    t0 = time.perf_counter()
    for t in cs + ps:
        t.start()
    for t in ps:
        t.join()
    for _ in cs:
        q.put(None)
    for t in cs:
        t.join()
    dt = time.perf_counter() - t0
    assert sum(counts) == n
    return dt


for _cap, _work_ in PP_CASES[1::2]:
    bench(_pp_name(_cap, _work_), "threading", _cap, THREADS, _work_, inner_loops=ITEMS,
          description=f"queue.Queue({_cap}), {THREADS} -> {THREADS} threads{_per(_work_)}"
          )(pp_queue)


def pp_asyncio(loops: int, cap: int, procs: int, work: bool) -> float:
    n = loops * ITEMS

    async def main() -> float:
        q: asyncio.Queue[int | None] = asyncio.Queue(cap)

        async def producer(k: int) -> None:
            for i in range(k):
                await q.put(i)

        async def consumer() -> int:
            count = 0
            while (v := await q.get()) is not None:
                if work:
                    _work(v)
                count += 1
            return count

        t0 = time.perf_counter()
        cs = [asyncio.create_task(consumer()) for _ in range(procs)]
        await asyncio.gather(*(producer(k) for k in _split(n, procs)))
        for _ in cs:
            await q.put(None)
        assert sum(await asyncio.gather(*cs)) == n
        return time.perf_counter() - t0

    return asyncio.run(main())


for _cap, _work_ in PP_CASES[1::2]:
    bench(_pp_name(_cap, _work_), "asyncio", _cap, PROCS, _work_, inner_loops=ITEMS,
          description=f"asyncio.Queue({_cap}), {PROCS} -> {PROCS} tasks{_per(_work_)}")(pp_asyncio)


if __name__ == "__main__":
    main(__doc__)
