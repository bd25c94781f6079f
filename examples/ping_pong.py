"""Ping over a channel: two goroutines take turns, synchronised by unbuffered
channels (a send waits for its receiver).

Go:
    pings := make(chan string); pongs := make(chan string)
    go ponger(pings, pongs)
    for i := 0; i < 3; i++ { pings <- "ping"; fmt.Println(<-pongs) }
"""

from __future__ import annotations

import gort


def ponger(pings: gort.RecvChan[str], pongs: gort.SendChan[str]) -> None:
    for msg in pings:  # until pings is closed
        print(f"  got {msg}")
        pongs.send(msg.replace("ping", "pong"))
    print("  ponger: no more pings")


def main() -> None:
    pings: gort.Chan[str] = gort.Chan()
    pongs: gort.Chan[str] = gort.Chan()
    g = gort.go(ponger, pings.recv_only(), pongs.send_only())
    for i in range(1, 4):
        pings.send(f"ping {i}")
        print(f"got {pongs.recv()}")
    pings.close()
    g.join()
    print("main: done")


if __name__ == "__main__":
    main()
