"""Publish-subscribe, coroutine form: subscribers are coroutines reading their
subscription with ``async for``."""

from __future__ import annotations

import gort
from gort.patterns import Broadcaster


async def subscriber(name: str, c: gort.RecvChan[str], out: gort.Chan[str]) -> None:
    got = [msg async for msg in c]  # until the broadcaster is closed
    await out.asend(f"{name} got {len(got)}: {', '.join(got)}")


def main() -> None:
    news: Broadcaster[str] = Broadcaster()
    out: gort.Chan[str] = gort.Chan(3)
    for name in ("alice", "bob", "carol"):
        sub = news.subscribe(cap=1, policy="block", timeout=None)
        gort.go(subscriber, name, sub.c, out)
    for i in range(1, 5):
        n = news.publish(f"news {i}")  # publish blocks: call it from plain code
        print(f"published news {i} to {n} subscribers")
    news.close()
    for line in sorted(out.recv() for _ in range(3)):
        print(line)

    ticker: Broadcaster[int] = Broadcaster()
    lazy = ticker.subscribe(cap=2, policy="drop_newest")
    for i in range(5):
        ticker.publish(i)
    ticker.close()
    print(f"lazy subscriber kept {list(lazy.c)}, dropped {lazy.dropped}")


if __name__ == "__main__":
    main()
