"""Context cancellation, coroutine form: ``await gort.aselect(...)``."""

from __future__ import annotations

import gort


async def worker(ctx: gort.Context, jobs: gort.Chan[int], handled: gort.Chan[str]) -> str:
    while True:
        r = await gort.aselect(ctx.done().recv_case(), jobs.recv_case())
        if r.index == 0:
            return f"worker stopped: {ctx.err()}"
        await handled.asend(f"handled job {r.value} for {ctx.value('user')}")


async def slow_operation(ctx: gort.Context) -> str:
    r = await gort.aselect(ctx.done().recv_case(), gort.after(10).recv_case())
    return "finished" if r.index == 1 else f"gave up: {ctx.err()}"


async def amain() -> None:
    root = gort.with_value(gort.background(), "user", "gopher")
    ctx, cancel = gort.with_cancel(root)
    jobs: gort.Chan[int] = gort.Chan()
    handled: gort.Chan[str] = gort.Chan()
    g = gort.go(worker, ctx, jobs, handled)
    for j in range(1, 4):
        await jobs.asend(j)
        print(await handled.arecv())
    cancel()
    print(await g)

    tctx, tcancel = gort.with_timeout(root, 0.05)
    print(await slow_operation(tctx))
    tcancel()
    print(f"is the deadline error a TimeoutError? {isinstance(tctx.err(), TimeoutError)}")


def main() -> None:
    gort.go(amain).result()


if __name__ == "__main__":
    main()
