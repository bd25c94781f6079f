"""Worker pool, coroutine form: the workers are coroutines, which hold no thread
while they wait for a job."""

from __future__ import annotations

import gort


async def worker(jobs: gort.Chan[int], results: gort.Chan[tuple[int, int]]) -> None:
    async for j in jobs:
        await gort.asleep(0.001)
        await results.asend((j, j * 2))


async def amain() -> None:
    jobs: gort.Chan[int] = gort.Chan(100)
    results: gort.Chan[tuple[int, int]] = gort.Chan(100)
    wg = gort.WaitGroup()
    for _ in range(3):
        wg.go(worker, jobs, results)
    for j in range(1, 10):
        await jobs.asend(j)
    jobs.close()
    await wg
    results.close()
    got = [r async for r in results]
    for j, r in sorted(got):
        print(f"job {j} -> {r}")


def main() -> None:
    gort.go(amain).result()


if __name__ == "__main__":
    main()
