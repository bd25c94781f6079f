"""WaitGroup, coroutine form: ``wg.go(async_fn)`` and ``await wg``."""

from __future__ import annotations

import gort


async def worker(i: int, results: list[str]) -> None:
    await gort.asleep(0.01 * (6 - i))
    results[i - 1] = f"worker {i} done: {i} squared is {i * i}"


async def amain() -> None:
    results = [""] * 5
    wg = gort.WaitGroup()
    for i in range(1, 6):
        wg.go(worker, i, results)
    await wg
    print("\n".join(results))
    print(f"all {len(results)} workers done")


def main() -> None:
    gort.go(amain).result()


if __name__ == "__main__":
    main()
