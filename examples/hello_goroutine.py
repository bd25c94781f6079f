"""Hello, goroutine: start a function concurrently and wait for it to finish.

Go:
    go hello("goroutine", done)
    <-done
"""

from __future__ import annotations

import gort


def hello(name: str, done: gort.Chan[None]) -> None:
    print(f"hello from a {name}!")
    done.close()  # closing a channel wakes every receiver


def main() -> None:
    done: gort.Chan[None] = gort.Chan()
    gort.go(hello, "goroutine", done)
    done.recv_ok()  # wait until hello has finished
    g = gort.go(lambda: 6 * 7)  # a goroutine's handle also gives its result
    print(f"the answer, computed in a goroutine: {g.result()}")
    print("main: done")


if __name__ == "__main__":
    main()
