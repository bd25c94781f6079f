"""Echo server: one coroutine goroutine per connection, on ``gort.net``.

A goroutine waiting in ``await conn.arecv()`` is parked on the netpoller and
holds no thread, so a server can keep a goroutine for each of thousands of
connections (Go's model: write straight-line code, one goroutine per client).
A few clients, coroutine goroutines too, talk to it; then the listener is
closed, which wakes the accept loop with ``gort.net.ClosedError``.
"""

from __future__ import annotations

import gort
import gort.net

TIMEOUT = 10.0  # seconds: a broken run fails instead of hanging
CLIENTS = {
    "alice": ["hello", "how are you?", "bye"],
    "bob": ["ping", "pong"],
    "carol": ["one line only"],
}


async def handle(conn: gort.net.Conn, served: gort.atomic.Int64) -> None:
    """Echo everything back until the client closes its side."""
    with conn:
        while data := await conn.arecv(timeout=TIMEOUT):
            await conn.asend_all(data, timeout=TIMEOUT)
    served.add(1)


async def serve(ln: gort.net.Listener, handlers: gort.WaitGroup,
                served: gort.atomic.Int64) -> None:
    """Accept until the listener is closed; a goroutine per connection."""
    while True:
        try:
            conn = await ln.aaccept()
        except gort.net.ClosedError:
            return
        handlers.go(handle, conn, served)


async def client(addr: tuple[str, int], lines: list[str]) -> list[str]:
    """Send each line and read its echo back."""
    echoes = []
    with await gort.net.adial(addr[0], addr[1], timeout=TIMEOUT) as conn:
        for line in lines:
            data = (line + "\n").encode()
            await conn.asend_all(data, timeout=TIMEOUT)
            echo = b""
            while len(echo) < len(data):
                chunk = await conn.arecv(timeout=TIMEOUT)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                echo += chunk
            echoes.append(echo.decode().rstrip("\n"))
    return echoes


async def amain() -> None:
    served = gort.atomic.Int64()
    handlers = gort.WaitGroup()
    ln = gort.net.listen("127.0.0.1", 0)
    server = gort.go(serve, ln, handlers, served)
    talks = {name: gort.go(client, ln.addr, lines) for name, lines in CLIENTS.items()}
    for name, g in talks.items():  # in a fixed order, whichever finishes first
        print(f"{name} got back: {' | '.join(await g)}")
    ln.close()
    await server
    await handlers  # each handler ends once its client has closed
    print(f"server: listener closed after serving {served.load()} connections")


def main() -> None:
    gort.go(amain).result(timeout=2 * TIMEOUT)


if __name__ == "__main__":
    main()
