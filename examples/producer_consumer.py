"""Producer-consumer over a buffered channel; close() signals the end.

Go:
    items := make(chan int, 3)
    go produce(items)          // sends 1..10, then close(items)
    for it := range items { ... }
"""

from __future__ import annotations

import gort


def produce(items: gort.SendChan[int], n: int) -> None:
    for i in range(1, n + 1):
        items.send(i)  # blocks while the buffer is full
    items.close()


def consume(items: gort.RecvChan[int], done: gort.SendChan[int]) -> None:
    total = 0
    for item in items:  # ends when the channel is closed and drained
        print(f"consumed {item}")
        total += item
    done.send(total)


def main() -> None:
    items: gort.Chan[int] = gort.Chan(3)
    done: gort.Chan[int] = gort.Chan()
    gort.go(produce, items.send_only(), 10)
    gort.go(consume, items.recv_only(), done.send_only())
    print(f"total: {done.recv()}")


if __name__ == "__main__":
    main()
