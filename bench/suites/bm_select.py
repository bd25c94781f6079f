"""select: 2- and 4-way select throughput, and a select with default.

``select2`` / ``select4``: one consumer selects over 2 (4) channels of 128
slots, each fed by its own producer, until all are closed; a closed case is
replaced by a receive on a channel that never becomes ready, so every select
stays 2- (4-) way to the end; the time is per item received, producers'
start included.
asyncio's nearest equivalent is ``asyncio.wait(..., FIRST_COMPLETED)`` over one
pending ``get()`` task per queue.  ``threading`` has no select.

``select_default``: a select with ``default`` over two empty channels, the
non-blocking poll; the baselines poll two empty queues with ``get_nowait()``.
Go's reference is SelectUncontended, SelectSyncContended, SelectProdCons and
SelectNonblock in chan_test.go.
"""

from __future__ import annotations

import asyncio
import queue
import time

from common import bench, main, scaled

import gort

ITEMS = scaled(1_200, 240)  # items per loop; a multiple of 4
POLLS = scaled(5_000, 100)
WAYS = (2, 4)


def select_gort(loops: int, ways: int) -> float:
    chans: list[gort.Chan[int]] = [gort.Chan(128) for _ in range(ways)]
    per = loops * ITEMS // ways

    def producer(ch: gort.Chan[int]) -> None:
        send = ch.send
        for i in range(per):
            send(i)
        ch.close()

    def consumer() -> float:
        cases = [c.recv_case() for c in chans]
        never = gort.Chan[int]().recv_case()  # replaces a closed case
        select = gort.select
        count, open_ = 0, ways
        t0 = time.perf_counter()
        for ch in chans:
            gort.go(producer, ch)
        while open_:
            idx, _, ok = select(*cases)
            if ok:
                count += 1
            else:
                cases[idx] = never
                open_ -= 1
        dt = time.perf_counter() - t0
        assert count == per * ways
        return dt

    return gort.go(consumer).result()


for _ways in WAYS:
    bench(f"select{_ways}", "gort", _ways, inner_loops=ITEMS,
          description=f"{_ways}-way select over Chan(128)s, {_ways} producers, per item"
          )(select_gort)


def select_gort_async(loops: int, ways: int) -> float:
    chans: list[gort.Chan[int]] = [gort.Chan(128) for _ in range(ways)]
    per = loops * ITEMS // ways

    async def producer(ch: gort.Chan[int]) -> None:
        send = ch.asend
        for i in range(per):
            await send(i)
        ch.close()

    async def consumer() -> float:
        cases = [c.recv_case() for c in chans]
        never = gort.Chan[int]().recv_case()  # replaces a closed case
        aselect = gort.aselect
        count, open_ = 0, ways
        t0 = time.perf_counter()
        for ch in chans:
            gort.go(producer, ch)
        while open_:
            idx, _, ok = await aselect(*cases)
            if ok:
                count += 1
            else:
                cases[idx] = never
                open_ -= 1
        dt = time.perf_counter() - t0
        assert count == per * ways
        return dt

    return gort.go(consumer).result()


for _ways in WAYS:
    bench(f"select{_ways}", "gort-async", _ways, inner_loops=ITEMS,
          description=f"{_ways}-way aselect over Chan(128)s, coroutines, per item"
          )(select_gort_async)


def select_asyncio(loops: int, ways: int) -> float:
    per = loops * ITEMS // ways

    async def main() -> float:
        qs: list[asyncio.Queue[int | None]] = [asyncio.Queue(128) for _ in range(ways)]

        async def producer(q: asyncio.Queue[int | None]) -> None:
            for i in range(per):
                await q.put(i)
            await q.put(None)

        t0 = time.perf_counter()
        ps = [asyncio.create_task(producer(q)) for q in qs]
        pending = {asyncio.ensure_future(q.get()): q for q in qs}
        count = 0
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                q = pending.pop(t)
                if t.result() is not None:
                    count += 1
                    pending[asyncio.ensure_future(q.get())] = q
        await asyncio.gather(*ps)
        dt = time.perf_counter() - t0
        assert count == per * ways
        return dt

    return asyncio.run(main())


for _ways in WAYS:
    bench(f"select{_ways}", "asyncio", _ways, inner_loops=ITEMS,
          description=f"asyncio.wait(FIRST_COMPLETED) over {_ways} queue get() tasks, "
                      "per item")(select_asyncio)


@bench("select_default", "gort", inner_loops=POLLS,
       description="select(2 empty Chans, default=True), nothing ready")
def select_default_gort(loops: int) -> float:
    a: gort.Chan[int] = gort.Chan()
    b: gort.Chan[int] = gort.Chan()
    cases = (a.recv_case(), b.recv_case())
    select = gort.select

    def poll() -> float:
        t0 = time.perf_counter()
        for _ in range(loops * POLLS):
            select(*cases, default=True)
        return time.perf_counter() - t0

    return gort.go(poll).result()


@bench("select_default", "gort-async", inner_loops=POLLS,
       description="await aselect(2 empty Chans, default=True)")
def select_default_gort_async(loops: int) -> float:
    a: gort.Chan[int] = gort.Chan()
    b: gort.Chan[int] = gort.Chan()
    cases = (a.recv_case(), b.recv_case())
    aselect = gort.aselect

    async def poll() -> float:
        t0 = time.perf_counter()
        for _ in range(loops * POLLS):
            await aselect(*cases, default=True)
        return time.perf_counter() - t0

    return gort.go(poll).result()


@bench("select_default", "threading", inner_loops=POLLS,
       description="get_nowait() on 2 empty queue.Queues")
def select_default_queue(loops: int) -> float:
    a: queue.Queue[int] = queue.Queue()
    b: queue.Queue[int] = queue.Queue()
    get_a, get_b, empty = a.get_nowait, b.get_nowait, queue.Empty
    t0 = time.perf_counter()
    for _ in range(loops * POLLS):
        try:
            get_a()
        except empty:
            try:
                get_b()
            except empty:
                pass
    return time.perf_counter() - t0


@bench("select_default", "asyncio", inner_loops=POLLS,
       description="get_nowait() on 2 empty asyncio.Queues")
def select_default_asyncio(loops: int) -> float:
    async def main() -> float:
        a: asyncio.Queue[int] = asyncio.Queue()
        b: asyncio.Queue[int] = asyncio.Queue()
        get_a, get_b, empty = a.get_nowait, b.get_nowait, asyncio.QueueEmpty
        t0 = time.perf_counter()
        for _ in range(loops * POLLS):
            try:
                get_a()
            except empty:
                try:
                    get_b()
                except empty:
                    pass
        return time.perf_counter() - t0

    return asyncio.run(main())


if __name__ == "__main__":
    main(__doc__)
