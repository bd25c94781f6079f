"""WaitGroup: wait for a set of goroutines to finish.

Go:
    var wg sync.WaitGroup
    for i := 1; i <= 5; i++ { wg.Go(func() { worker(i) }) }
    wg.Wait()
"""

from __future__ import annotations

import gort


def worker(i: int, results: list[str]) -> None:
    gort.sleep(0.01 * (6 - i))  # the last ones started finish first
    results[i - 1] = f"worker {i} done: {i} squared is {i * i}"


def main() -> None:
    results = [""] * 5
    wg = gort.WaitGroup()
    for i in range(1, 6):
        wg.go(worker, i, results)  # add(1), run, done() when it returns
    wg.wait()
    print("\n".join(results))
    print(f"all {len(results)} workers done")


if __name__ == "__main__":
    main()
