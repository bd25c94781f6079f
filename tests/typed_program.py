"""A small program that uses gort's public API with precise types: checked by
``tests/test_typing.py`` with mypy: each ``reveal_type`` must show the type
its comment states.  It is never run."""

from __future__ import annotations

from typing import reveal_type

import gort
from gort import net


def square(x: int) -> int:
    return x * x


async def asquare(x: int) -> int:
    return x * x


async def main() -> None:
    ch: gort.Chan[int] = gort.Chan(1)
    reveal_type(await ch.arecv())  # E: int
    reveal_type(await ch.arecv_ok())  # E: tuple[int | None, bool]
    reveal_type(await ch.asend(1))  # E: None
    reveal_type(ch.recv_only())  # E: gort._chan.RecvChan[int]
    reveal_type(await ch.recv_only().arecv())  # E: int
    g = gort.go(square, 3)
    reveal_type(g)  # E: gort._goroutine.Goroutine[int]
    reveal_type(g.result())  # E: int
    reveal_type(await g.ajoin())  # E: bool
    reveal_type(gort.go(asquare, 3))  # E: gort._goroutine.Goroutine[int]
    reveal_type(gort.go(asquare(3)))  # E: gort._goroutine.Goroutine[int]
    reveal_type(await gort.to_thread(square, 2))  # E: int
    # (Selected.value is Any: the cases of one select may carry different types.)
    sel = await gort.aselect(ch.recv_case())
    reveal_type(sel)  # E: tuple[int, Any, bool, fallback=gort._select.Selected]
    wg = gort.WaitGroup()
    reveal_type(await wg.await_())  # E: bool
    reveal_type(wg.go(square, 3))  # E: gort._goroutine.Goroutine[int]
    reveal_type(wg.go(asquare, 3))  # E: gort._goroutine.Goroutine[int]
    mu = gort.Mutex()
    reveal_type(await mu.alock())  # E: None
    sem = gort.Semaphore(2)
    reveal_type(await sem.aacquire())  # E: bool
    reveal_type(await gort.asleep(0))  # E: None
    conn = await net.adial("localhost", 1)
    reveal_type(conn)  # E: gort.net.Conn
    reveal_type(await conn.arecv())  # E: bytes
