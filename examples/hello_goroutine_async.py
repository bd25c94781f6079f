"""Hello, goroutine, coroutine form: an ``async def`` function is a goroutine too
(scheduled M:N: while it waits it holds no thread)."""

from __future__ import annotations

import gort


async def hello(name: str, done: gort.Chan[None]) -> None:
    print(f"hello from a {name}!")
    done.close()


async def answer() -> int:
    await gort.asleep(0.01)
    return 6 * 7


async def amain() -> None:
    done: gort.Chan[None] = gort.Chan()
    gort.go(hello, "goroutine", done)
    await done.arecv_ok()
    g = gort.go(answer)
    print(f"the answer, computed in a goroutine: {await g}")
    print("main: done")


def main() -> None:
    gort.go(amain).result()


if __name__ == "__main__":
    main()
