"""Context cancellation: stop goroutines when the work is no longer wanted.

Go:
    ctx, cancel := context.WithCancel(context.Background())
    select { case <-ctx.Done(): return ctx.Err(); case job := <-jobs: ... }
"""

from __future__ import annotations

import gort


def worker(ctx: gort.Context, jobs: gort.RecvChan[int], handled: gort.SendChan[str]) -> str:
    while True:
        r = gort.select(ctx.done().recv_case(), jobs.recv_case())
        if r.index == 0:
            return f"worker stopped: {ctx.err()}"
        handled.send(f"handled job {r.value} for {ctx.value('user')}")


def slow_operation(ctx: gort.Context) -> str:
    r = gort.select(ctx.done().recv_case(), gort.after(10).recv_case())
    return "finished" if r.index == 1 else f"gave up: {ctx.err()}"


def main() -> None:
    root = gort.with_value(gort.background(), "user", "gopher")
    ctx, cancel = gort.with_cancel(root)
    jobs: gort.Chan[int] = gort.Chan()
    handled: gort.Chan[str] = gort.Chan()
    g = gort.go(worker, ctx, jobs.recv_only(), handled.send_only())
    for j in range(1, 4):
        jobs.send(j)
        print(handled.recv())
    cancel()  # every goroutine watching ctx.done() sees it
    print(g.result())

    # A deadline: the operation gives up after 50 ms instead of 10 s.
    tctx, tcancel = gort.with_timeout(root, 0.05)
    print(gort.go(slow_operation, tctx).result())
    tcancel()  # always release the context's resources
    print(f"is the deadline error a TimeoutError? {isinstance(tctx.err(), TimeoutError)}")


if __name__ == "__main__":
    main()
