"""TCP networking on gort's netpoller (Go's ``net`` package, the TCP part).

    ln = gort.net.listen("127.0.0.1", 0)
    host, port = ln.addr

    async def handle(conn: gort.net.Conn) -> None:      # one coroutine goroutine
        with conn:                                      # per connection: no thread
            while data := await conn.arecv():           # is held while it waits
                await conn.asend_all(data)

    async def serve() -> None:
        while True:
            gort.go(handle, await ln.aaccept())

Every operation has a plain form (``recv``, ``send_all``, ``accept``, ``dial``),
for plain goroutines and any thread, which parks the calling thread with its
processor given away, and a coroutine form (``arecv``, ...), which suspends a
coroutine goroutine (or an asyncio task) without holding a thread.  Sockets are
non-blocking; a call tries the system call first and waits on the netpoller
only when it would block.

Each call takes ``timeout`` (seconds; ``TimeoutError``, nothing consumed) and
``ctx`` (a ``gort.Context``: once it is done the call raises its error,
``Canceled`` or ``DeadlineExceeded``).  Closing a connection or a listener
wakes every call waiting on it with ``ClosedError``; a peer's reset raises
``ConnectionResetError``.  At end of stream ``recv`` returns ``b""``.

Locks: a ``Conn`` has none of its own; its socket's state is the kernel's and
its waits are the ``PollDesc``'s (see ``_netpoll``).  ``close`` is idempotent
and may race with calls in other goroutines: they raise ``ClosedError``.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import time
import types
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Self, TypeVar

from . import _runtime
from ._context import Context
from ._ki import protect
from ._netpoll import ClosedError, PollDesc, poll_desc
from ._timeout import timeout as _check_timeout
from ._waitq import run

__all__ = ["ClosedError", "Conn", "Listener", "adial", "dial", "listen"]

_RECV_DEFAULT = 65536
R = TypeVar("R")


def _deadline(timeout: float | None) -> float | None:
    t = _check_timeout(timeout)
    return None if t is None else time.monotonic() + t


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class _Endpoint:
    """What a connection and a listener share: a non-blocking socket, its
    PollDesc, the system-call rule, ``close`` and ``with``."""

    __slots__ = ("_sock", "_pd")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._pd: PollDesc = poll_desc(sock, fresh=True)

    def _try(self, call: Callable[..., R], *args: Any) -> R | None:
        """One non-blocking system call: its result, or None if it would block.
        On a closed endpoint its error becomes ``ClosedError``."""
        try:
            return call(*args)
        except BlockingIOError:
            return None
        except OSError:
            if self._pd.closed:
                raise ClosedError("use of closed network connection") from None
            raise

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return self._pd.closed

    def close(self) -> None:
        """Close it: calls waiting on it raise ``ClosedError``."""
        self._pd.close()
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Conn(_Endpoint):
    """A TCP connection (Go's ``net.Conn``).  Use it from any goroutine or
    thread; it is a context manager that closes it."""

    __slots__ = ("local_addr", "remote_addr")

    def __init__(self, sock: socket.socket) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock)
        self.local_addr: tuple[Any, ...] = sock.getsockname()
        """The local address, ``(host, port)``."""
        self.remote_addr: tuple[Any, ...] = sock.getpeername()
        """The peer's address, ``(host, port)``."""

    @types.coroutine
    def _recv(self, n: int, timeout: float | None, ctx: Context | None,
              sync: bool) -> Generator[Any, Any, bytes]:
        """The one body of a receive, in every world."""
        deadline = _deadline(timeout)
        while (data := self._try(self._sock.recv, n)) is None:
            yield from self._pd.wait(False, _left(deadline), ctx, sync, False)
        return data

    def recv(self, n: int = _RECV_DEFAULT, timeout: float | None = None,
             ctx: Context | None = None) -> bytes:
        """Receive up to ``n`` bytes, blocking until some arrive; ``b""`` at the
        end of the stream."""
        if ctx is None and timeout is None:
            data = self._try(self._sock.recv, n)  # the fast path: data is there
            if data is not None:
                return data
        return run(self._recv(n, timeout, ctx, True))

    def arecv(self, n: int = _RECV_DEFAULT, timeout: float | None = None,
              ctx: Context | None = None) -> Awaitable[bytes]:
        """Coroutine form of ``recv``: ``await conn.arecv()``."""
        return self._recv(n, timeout, ctx, False)

    @types.coroutine
    def _send_all(self, data: bytes | bytearray | memoryview, timeout: float | None,
                  ctx: Context | None, sync: bool) -> Generator[Any, Any]:
        """The one body of ``send_all``, in every world."""
        deadline = _deadline(timeout)
        view = memoryview(data).cast("B")
        while view:
            sent = self._try(self._sock.send, view)
            if sent is None:
                yield from self._pd.wait(True, _left(deadline), ctx, sync, False)
            else:
                view = view[sent:]

    def send_all(self, data: bytes | bytearray | memoryview, timeout: float | None = None,
                 ctx: Context | None = None) -> None:
        """Send all of ``data``, blocking while the socket's buffer is full.
        On a timeout or cancellation an unknown prefix may have been sent."""
        if ctx is None and timeout is None:
            sent = self._try(self._sock.send, data)  # the fast path: it all fits
            if sent == (len(data) if type(data) is bytes else memoryview(data).nbytes):
                return
            data = memoryview(data).cast("B")[sent or 0:]
        run(self._send_all(data, timeout, ctx, True))

    def asend_all(self, data: bytes | bytearray | memoryview, timeout: float | None = None,
                  ctx: Context | None = None) -> Awaitable[None]:
        """Coroutine form of ``send_all``: ``await conn.asend_all(data)``."""
        return self._send_all(data, timeout, ctx, False)

    def close_write(self) -> None:
        """Shut down the sending side (the peer reads ``b""``); Go's CloseWrite."""
        self._try(self._sock.shutdown, socket.SHUT_WR)

    def __repr__(self) -> str:
        state = "closed" if self._pd.closed else f"{self.local_addr} -> {self.remote_addr}"
        return f"<gort.net.Conn {state}>"


class Listener(_Endpoint):
    """A TCP listener (Go's ``net.Listener``); a context manager that closes it."""

    __slots__ = ("addr",)

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.addr: tuple[Any, ...] = sock.getsockname()
        """The address it listens on, ``(host, port)`` (the port chosen when 0)."""

    @types.coroutine
    def _accept(self, timeout: float | None, ctx: Context | None,
                sync: bool) -> Generator[Any, Any, Conn]:
        """The one body of ``accept``, in every world."""
        deadline = _deadline(timeout)
        while (pair := self._try(self._sock.accept)) is None:
            yield from self._pd.wait(False, _left(deadline), ctx, sync, False)
        sock = pair[0]
        try:
            return Conn(sock)
        except BaseException:
            sock.close()
            raise

    def accept(self, timeout: float | None = None, ctx: Context | None = None) -> Conn:
        """Wait for the next connection and return it."""
        return run(self._accept(timeout, ctx, True))

    def aaccept(self, timeout: float | None = None, ctx: Context | None = None) -> Awaitable[Conn]:
        """Coroutine form of ``accept``: ``conn = await ln.aaccept()``."""
        return self._accept(timeout, ctx, False)

    def __repr__(self) -> str:
        return f"<gort.net.Listener {'closed' if self._pd.closed else self.addr}>"


def listen(host: str, port: int, backlog: int = 128) -> Listener:
    """Listen for TCP connections on ``host:port`` (port 0: any free port;
    ``Listener.addr`` tells which)."""
    family = socket.AF_INET6 if _is_ipv6(host) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        return Listener(sock)
    except BaseException:
        sock.close()
        raise


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _resolve(host: str, port: int) -> tuple[int, tuple[Any, ...]]:
    """The first address of host (a name lookup blocks: done outside the P)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return (socket.AF_INET6, (host, port, 0, 0)) if ip.version == 6 else \
            (socket.AF_INET, (host, port))
    with _runtime.blocking():
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:  # pragma: no cover - getaddrinfo raises instead
        raise OSError(f"no address for {host!r}")
    family, _, _, _, addr = infos[0]
    return family, addr


@types.coroutine
def _dial(host: str, port: int, timeout: float | None, ctx: Context | None,
          sync: bool) -> Generator[Any, Any, Conn]:
    """The one body of ``dial``, in every world."""
    deadline = _deadline(timeout)
    family, addr = _resolve(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        err = sock.connect_ex(addr)
        if err and err not in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            raise OSError(err, f"dial {host}:{port}: {os.strerror(err)}")
        if err:
            pd = poll_desc(sock, fresh=True)
            try:
                yield from pd.wait(True, _left(deadline), ctx, sync, False)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:  # OSError picks the subclass: ConnectionRefusedError, ...
                    raise OSError(err, f"dial {host}:{port}: {os.strerror(err)}")
            except BaseException:
                pd.close()
                raise
        return Conn(sock)  # (it takes over the descriptor's PollDesc afresh)
    except BaseException:
        sock.close()
        raise


def dial(host: str, port: int, timeout: float | None = None,
         ctx: Context | None = None) -> Conn:
    """Connect to ``host:port`` over TCP (Go's ``net.Dial("tcp", ...)``)."""
    return run(_dial(host, port, timeout, ctx, True))


def adial(host: str, port: int, timeout: float | None = None,
          ctx: Context | None = None) -> Awaitable[Conn]:
    """Coroutine form of ``dial``: ``conn = await gort.net.adial(host, port)``."""
    return _dial(host, port, timeout, ctx, False)


# An interrupt landing in these frames after the system call returned would lose
# the bytes received or the connection accepted: it is deferred (see _waitq).
for _fn in (Conn._recv, Conn.recv, Conn._send_all, Conn.send_all, Listener._accept,
            Listener.accept, _dial, dial):
    protect(_fn)
