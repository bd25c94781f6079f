"""Worker pool: a fixed number of goroutines share a channel of jobs.

Go (Go by Example, "Worker Pools"):
    for w := 1; w <= 3; w++ { go worker(w, jobs, results) }
    for j := 1; j <= 9; j++ { jobs <- j }
    close(jobs)
"""

from __future__ import annotations

import gort
from gort.patterns import Failed, generate, worker_pool


def worker(jobs: gort.RecvChan[int], results: gort.SendChan[tuple[int, int]]) -> None:
    for j in jobs:
        gort.sleep(0.001)  # the work
        results.send((j, j * 2))


def main() -> None:
    jobs: gort.Chan[int] = gort.Chan(100)
    results: gort.Chan[tuple[int, int]] = gort.Chan(100)
    wg = gort.WaitGroup()
    for _ in range(3):
        wg.go(worker, jobs.recv_only(), results.send_only())
    for j in range(1, 10):
        jobs.send(j)
    jobs.close()
    wg.wait()
    results.close()
    for j, r in sorted(results):  # results arrive in any order
        print(f"job {j} -> {r}")

    # The same with gort.patterns.worker_pool; a failing job becomes a Failed result.
    def inverse(x: int) -> tuple[int, float]:
        return x, 1 / x

    lines = []
    for r in worker_pool(inverse, generate([4, 0, 2, 1]), workers=2):
        if isinstance(r, Failed):
            lines.append(f"1/{r.job} failed ({type(r.error).__name__})")
        else:
            lines.append(f"1/{r[0]} = {r[1]}")
    print("worker_pool:", ", ".join(sorted(lines)))

if __name__ == "__main__":
    main()
