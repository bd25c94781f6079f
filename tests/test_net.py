"""gort.net and the netpoller: exactly-once delivery, timeouts, cancellation,
close while waiting, a peer's reset, level-triggered ``wait_readable``, and no
descriptor or thread leak, for plain goroutines, coroutine goroutines, asyncio
tasks and foreign threads; both poller backends."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

import gort
from gort import _netpoll, net
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """An echo server: one coroutine goroutine per connection, gort.net."""
    ln = net.listen("127.0.0.1", 0)

    async def handle(conn: net.Conn) -> None:
        with conn:
            while data := await conn.arecv():
                await conn.asend_all(data)

    async def serve() -> None:
        while True:
            try:
                conn = await ln.aaccept()
            except net.ClosedError:
                return
            gort.go(handle, conn)

    g = gort.go(serve)
    yield ln.addr[0], ln.addr[1]
    ln.close()
    g.result(timeout=30)


def recv_exactly(conn: net.Conn, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf), timeout=30)
        assert chunk, "unexpected end of stream"
        buf += chunk
    return buf


async def arecv_exactly(conn: net.Conn, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = await conn.arecv(n - len(buf), timeout=30)
        assert chunk, "unexpected end of stream"
        buf += chunk
    return buf


def test_echo_plain_and_coroutine_clients_exactly_once(echo: tuple[str, int]) -> None:
    host, port = echo
    rounds = 200

    def client(i: int) -> int:
        with net.dial(host, port, timeout=30) as c:
            for j in range(rounds):
                msg = struct.pack("!II", i, j) * 8
                c.send_all(msg)
                assert recv_exactly(c, len(msg)) == msg
        return i

    async def aclient(i: int) -> int:
        c = await net.adial(host, port, timeout=30)
        with c:
            for j in range(rounds):
                msg = struct.pack("!II", i, j) * 8
                await c.asend_all(msg)
                assert await arecv_exactly(c, len(msg)) == msg
        return i

    gs = [gort.go(client, i) for i in range(8)] + [gort.go(aclient, i) for i in range(8, 16)]
    assert sorted(g.result(timeout=60) for g in gs) == list(range(16))


def test_a_large_transfer_in_order(echo: tuple[str, int]) -> None:
    host, port = echo
    data = os.urandom(4 << 20)  # more than the socket buffers: send_all must wait
    with net.dial(host, port) as c:
        sender = gort.go(c.send_all, data)
        assert recv_exactly(c, len(data)) == data
        sender.result(timeout=30)


def test_foreign_thread_and_asyncio_task(echo: tuple[str, int]) -> None:
    host, port = echo
    out: list[bytes] = []

    def in_thread() -> None:
        with net.dial(host, port) as c:
            c.send_all(b"thread")
            out.append(recv_exactly(c, 6))

    t = threading.Thread(target=in_thread)
    t.start()
    t.join(30)
    assert out == [b"thread"]

    async def task() -> bytes:
        c = await net.adial(host, port)
        with c:
            await c.asend_all(b"asyncio")
            return await arecv_exactly(c, 7)

    assert asyncio.run(task()) == b"asyncio"


@pytest.fixture
def pair() -> Iterator[tuple[net.Conn, socket.socket]]:
    """A gort connection and its raw peer socket."""
    with net.listen("127.0.0.1", 0) as ln:
        peer = socket.create_connection(ln.addr)
        conn = ln.accept(timeout=30)
    yield conn, peer
    conn.close()
    peer.close()


def test_recv_timeout_consumes_nothing(pair: tuple[net.Conn, socket.socket]) -> None:
    conn, peer = pair
    with pytest.raises(TimeoutError):
        conn.recv(timeout=0.01)
    with pytest.raises(TimeoutError):
        conn.recv(timeout=0)
    assert conn._pd.rq.live() == 0
    peer.sendall(b"late")
    assert recv_exactly(conn, 4) == b"late"


def test_coroutine_recv_timeout(pair: tuple[net.Conn, socket.socket]) -> None:
    conn, _ = pair

    async def f() -> str:
        try:
            await conn.arecv(timeout=0.01)
        except TimeoutError:
            return "timed out"
        return "received"

    assert gort.go(f).result(timeout=30) == "timed out"
    assert conn._pd.rq.live() == 0


@pytest.mark.parametrize("kind", ["plain", "coroutine"])
def test_cancelled_context_unblocks_a_pending_read(
        pair: tuple[net.Conn, socket.socket], kind: str) -> None:
    conn, peer = pair
    ctx, cancel = gort.with_cancel(gort.background())

    def plain() -> BaseException | None:
        try:
            conn.recv(ctx=ctx)
        except gort.Canceled as e:
            return e
        return None

    async def coro() -> BaseException | None:
        try:
            await conn.arecv(ctx=ctx)
        except gort.Canceled as e:
            return e
        return None

    g = gort.go(plain if kind == "plain" else coro)
    wait_until(lambda: conn._pd.rq.live() == 1, what="the reader waits")
    cancel()
    assert isinstance(g.result(timeout=30), gort.Canceled)
    assert conn._pd.rq.live() == 0
    peer.sendall(b"still works")  # nothing was consumed or broken
    assert recv_exactly(conn, 11) == b"still works"
    with pytest.raises(gort.Canceled):
        conn.recv(ctx=ctx)  # already done: at once


def test_a_deadline_context(pair: tuple[net.Conn, socket.socket]) -> None:
    conn, _ = pair
    ctx, cancel = gort.with_timeout(gort.background(), 0.01)
    with pytest.raises(gort.DeadlineExceeded):
        conn.recv(ctx=ctx)
    cancel()


@pytest.mark.parametrize("kind", ["plain", "coroutine"])
def test_close_while_reading_wakes_the_reader(
        pair: tuple[net.Conn, socket.socket], kind: str) -> None:
    conn, _ = pair

    def plain() -> BaseException | None:
        try:
            conn.recv()
        except net.ClosedError as e:
            return e
        return None

    async def coro() -> BaseException | None:
        try:
            await conn.arecv()
        except net.ClosedError as e:
            return e
        return None

    g = gort.go(plain if kind == "plain" else coro)
    wait_until(lambda: conn._pd.rq.live() == 1, what="the reader waits")
    conn.close()
    assert isinstance(g.result(timeout=30), net.ClosedError)
    with pytest.raises(net.ClosedError):
        conn.recv()
    with pytest.raises(net.ClosedError):
        conn.send_all(b"x")
    conn.close()  # idempotent


def test_a_peer_reset(pair: tuple[net.Conn, socket.socket]) -> None:
    conn, peer = pair
    g = gort.go(conn.recv)
    wait_until(lambda: conn._pd.rq.live() == 1, what="the reader waits")
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()  # an RST
    with pytest.raises(ConnectionResetError):
        g.result(timeout=30)


def test_end_of_stream(pair: tuple[net.Conn, socket.socket]) -> None:
    conn, peer = pair
    peer.sendall(b"bye")
    peer.shutdown(socket.SHUT_WR)
    assert recv_exactly(conn, 3) == b"bye"
    assert conn.recv(timeout=30) == b""


def test_listener_close_wakes_accept() -> None:
    ln = net.listen("127.0.0.1", 0)
    g = gort.go(ln.accept)
    wait_until(lambda: ln._pd.rq.live() == 1, what="accept waits")
    ln.close()
    with pytest.raises(net.ClosedError):
        g.result(timeout=30)


def test_dial_refused_and_timeout_arguments() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    with pytest.raises(ConnectionRefusedError):
        net.dial("127.0.0.1", port, timeout=30)
    with pytest.raises(ValueError):
        net.dial("127.0.0.1", port, timeout=float("nan"))


def test_wait_readable_is_level_triggered() -> None:
    a, b = socket.socketpair()
    try:
        with pytest.raises(TimeoutError):
            gort.wait_readable(a, timeout=0.01)
        b.sendall(b"abc")
        gort.wait_readable(a, timeout=30)
        gort.wait_readable(a, timeout=30)  # still readable: no edge needed
        assert a.recv(1) == b"a"
        gort.wait_readable(a.fileno(), timeout=30)
        gort.wait_writable(b, timeout=30)

        async def f() -> bytes:
            await gort.await_readable(a, timeout=30)
            return a.recv(10)

        assert gort.go(f).result(timeout=30) == b"bc"
        g = gort.go(gort.wait_readable, a, 30)
        wait_until(lambda: _netpoll._pds[a.fileno()].rq.live() == 1, what="the wait")
        b.sendall(b"!")
        g.result(timeout=30)
    finally:
        a.close()
        b.close()
    with pytest.raises(TypeError):
        gort.wait_readable("nope")  # type: ignore[arg-type]


def test_a_reused_descriptor_number_does_not_hang() -> None:
    """A socket closed behind gort's back and a new one with the same number."""
    a, b = socket.socketpair()
    b.sendall(b"x")
    gort.wait_readable(a, timeout=30)
    fd = a.fileno()
    a.close()
    b.close()
    c, d = socket.socketpair()
    try:
        assert fd in (c.fileno(), d.fileno())
        r, w = (c, d) if c.fileno() == fd else (d, c)
        g = gort.go(gort.wait_readable, r, 30)
        wait_until(lambda: fd in _netpoll._pds and _netpoll._pds[fd].rq.live() == 1)
        w.sendall(b"y")
        g.result(timeout=30)
    finally:
        c.close()
        d.close()


def test_no_descriptor_or_thread_leak_after_10000_connections(echo: tuple[str, int]) -> None:
    host, port = echo
    proc = psutil.Process()

    async def one() -> None:
        c = await net.adial(host, port, timeout=30)
        with c:
            await c.asend_all(b"ping")
            assert await arecv_exactly(c, 4) == b"ping"

    def batch(n: int) -> None:
        gs = [gort.go(one) for _ in range(n)]
        for g in gs:
            g.result(timeout=60)

    batch(200)  # warm up: the poller thread and the worker pool exist now
    wait_until(lambda: not _open_conns(port), 30, "warm-up connections closed")
    fds, threads = proc.num_fds(), proc.num_threads()
    for _ in range(49):
        batch(200)
    wait_until(lambda: not _open_conns(port), 30, "every connection closed")
    wait_until(lambda: proc.num_fds() <= fds, 30, f"fds back to {fds}")
    assert proc.num_threads() <= threads + 2 * gort.max_procs()
    wait_until(lambda: len(_netpoll._pds) < 10, 30, "the closed sockets' PollDescs dropped")


def _open_conns(port: int) -> list[Any]:
    """This process's TCP sockets of connections to or from ``port`` (the client
    ends and the echo server's ends; not the listener)."""
    return [c for c in psutil.Process().net_connections("tcp")
            if c.status != psutil.CONN_LISTEN
            and ((c.laddr and c.laddr[1] == port) or (c.raddr and c.raddr[1] == port))]


def test_the_portable_backend() -> None:
    """The same checks on the selectors backend (GORT_NETPOLL=selectors)."""
    env = {**os.environ, "GORT_NETPOLL": "selectors"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        __file__, "-k", "not portable and not 10000"],
                       capture_output=True, text=True, timeout=110, env=env,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "passed" in r.stdout


def test_the_backend_in_use() -> None:
    expected = "_Selector" if os.environ.get("GORT_NETPOLL") == "selectors" or \
        not hasattr(__import__("select"), "epoll") else "_Epoll"
    assert type(_netpoll._backend).__name__ == expected




def test_a_listener_made_before_fork_accepts_in_the_child() -> None:
    """The pre-fork server: the child registers what it inherited with its own
    poller (it shares the parent's epoll instance otherwise)."""
    code = textwrap.dedent("""
        import os, socket, gort
        from gort import net
        ln = net.listen("127.0.0.1", 0)
        try:
            ln.accept(timeout=0.001)  # the parent waited on it once: registered
        except TimeoutError:
            pass
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                conn = ln.accept(timeout=30)  # waits: the connection comes later
                conn.send_all(b"from the child")
                conn.close()
                os._exit(0)
            except BaseException:
                os._exit(1)
        os.close(w)
        s = socket.create_connection(ln.addr)
        data = s.recv(100)
        _, st = os.waitpid(pid, 0)
        print(data.decode(), os.waitstatus_to_exitcode(st))
    """)
    for backend in ("epoll", "selectors"):
        env = {**os.environ, "GORT_NETPOLL": backend}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=90, env=env)
        assert r.stdout.strip() == "from the child 0", (backend, r.stdout, r.stderr[-2000:])
