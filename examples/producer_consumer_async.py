"""Producer-consumer, coroutine form."""

from __future__ import annotations

import gort


async def produce(items: gort.Chan[int], n: int) -> None:
    for i in range(1, n + 1):
        await items.asend(i)
    items.close()


async def consume(items: gort.Chan[int], done: gort.Chan[int]) -> None:
    total = 0
    async for item in items:
        print(f"consumed {item}")
        total += item
    await done.asend(total)


async def amain() -> None:
    items: gort.Chan[int] = gort.Chan(3)
    done: gort.Chan[int] = gort.Chan()
    gort.go(produce, items, 10)
    gort.go(consume, items, done)
    print(f"total: {await done.arecv()}")


def main() -> None:
    gort.go(amain).result()


if __name__ == "__main__":
    main()
