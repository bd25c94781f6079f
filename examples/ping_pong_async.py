"""Ping over a channel, coroutine form: ``await ch.asend(v)``, ``async for``."""

from __future__ import annotations

import gort


async def ponger(pings: gort.Chan[str], pongs: gort.Chan[str]) -> None:
    async for msg in pings:
        print(f"  got {msg}")
        await pongs.asend(msg.replace("ping", "pong"))
    print("  ponger: no more pings")


async def amain() -> None:
    pings: gort.Chan[str] = gort.Chan()
    pongs: gort.Chan[str] = gort.Chan()
    g = gort.go(ponger, pings, pongs)
    for i in range(1, 4):
        await pings.asend(f"ping {i}")
        print(f"got {await pongs.arecv()}")
    pings.close()
    await g
    print("main: done")


def main() -> None:
    gort.go(amain).result()


if __name__ == "__main__":
    main()
