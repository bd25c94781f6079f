"""Atomic counters: 50 goroutines each add 1 a thousand times, in parallel.

Go:
    var ops atomic.Uint64
    for range 50 { wg.Go(func() { for range 1000 { ops.Add(1) } }) }
    wg.Wait(); fmt.Println("ops:", ops.Load())
"""

from __future__ import annotations

import gort
from gort import atomic


def main() -> None:
    ops = atomic.Uint64()
    wg = gort.WaitGroup()

    def work() -> None:
        for _ in range(1000):
            ops.add(1)

    for _ in range(50):
        wg.go(work)
    wg.wait()
    print("ops:", ops.load())


if __name__ == "__main__":
    main()
