"""Fetch many: 1,000 concurrent requests from plain goroutines that make
ordinary blocking socket calls (``socket.create_connection``, ``sendall``,
``recv``), as any existing client library does.

A goroutine blocked in a call outside gort does not keep its processor: it is
handed to another goroutine, and the pool of threads grows as Go's does.  So a
thousand goroutines can wait on the network together while only
``gort.max_procs()`` of them run Python code at a time.  The runtime notices a
blocked call by itself (within about a millisecond, while other goroutines wait
for a processor); ``with gort.blocking():`` around a call known to block hands
the processor over at once.

The server, started here on a coroutine goroutine per connection (``gort.net``),
answers no request until all 1,000 are waiting: the program finishes only
because they really are all in flight at once.  (Without the hand-off it hangs
behind the first ``max_procs`` requests.)
"""

from __future__ import annotations

import resource
import socket

import gort
import gort.net

N = 1000
TIMEOUT = 60.0  # seconds: a broken run fails instead of hanging


async def answer(conn: gort.net.Conn, arrived: gort.WaitGroup) -> None:
    """Read ``SQUARE <n>``, wait until every request has arrived, reply ``n*n``."""
    with conn:
        request = b""
        while not request.endswith(b"\n"):
            chunk = await conn.arecv(1024, timeout=TIMEOUT)
            if not chunk:
                return
            request += chunk
        arrived.done()
        if not await arrived.await_(TIMEOUT):
            raise TimeoutError(f"only {N - arrived.count} of {N} requests arrived")
        n = int(request.split()[1])
        await conn.asend_all(f"{n * n}\n".encode(), timeout=TIMEOUT)


async def serve(ln: gort.net.Listener, arrived: gort.WaitGroup) -> None:
    for _ in range(N):
        gort.go(answer, await ln.aaccept(timeout=TIMEOUT), arrived)


def fetch(addr: tuple[str, int], n: int) -> int:
    """One "request", written as any blocking client would be."""
    with socket.create_connection(addr, timeout=TIMEOUT) as s:
        s.sendall(f"SQUARE {n}\n".encode())
        reply = b""
        while chunk := s.recv(1024):
            reply += chunk
    return int(reply)


def main() -> None:
    # Both ends of 1,000 connections live in this process: 2,000 descriptors.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 2 * N + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2 * N + 100, hard), hard))
    arrived = gort.WaitGroup()
    arrived.add(N)
    with gort.net.listen("127.0.0.1", 0, backlog=N) as ln:
        server = gort.go(serve, ln, arrived)
        requests = [gort.go(fetch, ln.addr, n) for n in range(1, N + 1)]
        answers = [g.result(timeout=TIMEOUT) for g in requests]
        server.result(timeout=TIMEOUT)
    print(f"{len(answers)} requests, all in flight at once, all answered")
    print(f"sum of the answers: {sum(answers)} (expected {N * (N + 1) * (2 * N + 1) // 6})")


if __name__ == "__main__":
    main()
