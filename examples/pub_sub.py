"""Publish-subscribe: every subscriber gets every message, in order.

gort.patterns.Broadcaster gives each subscriber its own channel; its policy
decides what a slow subscriber costs ("block" here: publish waits for it).
"""

from __future__ import annotations

import gort
from gort.patterns import Broadcaster


def subscriber(name: str, c: gort.RecvChan[str], out: gort.SendChan[str]) -> None:
    got = list(c)  # until the broadcaster is closed
    out.send(f"{name} got {len(got)}: {', '.join(got)}")


def main() -> None:
    news: Broadcaster[str] = Broadcaster()
    out: gort.Chan[str] = gort.Chan(3)
    for name in ("alice", "bob", "carol"):
        sub = news.subscribe(cap=1, policy="block", timeout=None)
        gort.go(subscriber, name, sub.c, out.send_only())
    for i in range(1, 5):
        n = news.publish(f"news {i}")
        print(f"published news {i} to {n} subscribers")
    news.close()
    for line in sorted(out.recv() for _ in range(3)):
        print(line)

    # A subscriber that never reads, with a dropping policy, costs nothing.
    ticker: Broadcaster[int] = Broadcaster()
    lazy = ticker.subscribe(cap=2, policy="drop_newest")
    for i in range(5):
        ticker.publish(i)
    ticker.close()
    print(f"lazy subscriber kept {list(lazy.c)}, dropped {lazy.dropped}")


if __name__ == "__main__":
    main()
