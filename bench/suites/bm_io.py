"""io: network and blocking-call workloads, loopback only.

What it shows: whether goroutines that wait on sockets or on blocking calls
leave the processors to the others (issue #10: the hand-off of a blocked P,
the netpoller, ``gort.net``), against what a Python programmer has today.

* ``echo_c<N>[impl]``: a TCP echo server, 64-byte messages, N concurrent
  connections (100 and 1,000), each a closed loop (one request in flight).
  ``gort-async``: one coroutine goroutine per connection on ``gort.net``;
  ``gort``: one plain goroutine per connection on a blocking socket, its
  ``recv`` inside ``with gort.blocking()`` (the processor is handed to others
  while it waits); ``asyncio``: ``asyncio.start_server`` streams on one event
  loop; ``threading``: ``socketserver.ThreadingTCPServer``, a thread per
  connection.  Time per request (the inverse of requests/s).
* ``echo_work_c<N>[impl]``: the same with ``WORK`` iterations of pure-Python
  work per request (about 50 µs on 3.13t): where free threading lets a server
  use every core and single-threaded asyncio cannot.
* ``sleep_fanout[impl]``: ``FANOUT`` tasks each making a ``SLEEP``-second
  blocking call (``time.sleep``), wall time until all are done: plain
  goroutines relying on the automatic hand-off (``gort``) or announcing it with
  ``gort.blocking()`` (``gort-blocking``), ``ThreadPoolExecutor()`` and
  ``asyncio.to_thread`` with their default worker counts.
* ``asleep_fanout[impl]``: ``ASLEEP_N`` coroutine goroutines in
  ``gort.asleep(SLEEP)`` against as many asyncio tasks in ``asyncio.sleep``,
  wall time from the first spawn until all are done.
* ``http_hello[impl]``: an HTTP/1.1 keep-alive hello-world loaded by wrk
  (``HTTP_CONNS`` connections, ``HTTP_SECONDS`` s), time per request:
  ``gort-async`` (coroutine goroutines on ``gort.net``), ``gort`` (plain
  goroutines on blocking sockets) and ``threading``
  (``http.server.ThreadingHTTPServer``).  gort's servers split requests at the
  blank line and parse the request line and headers by hand; http.server also
  builds a ``Date`` header and an ``email.message`` per request, so this
  compares servers as a user would write them, not the runtimes alone.
  Skipped (with a message) when wrk is not on PATH.

The echo load comes from io_loadgen.py, started as a separate process for every
measured run (the same generator for every server, ``LOADGEN_PROCS`` processes):
it connects and primes every connection before its timed phase, so a value is
the steady state, not the accept storm.  A run ends after ``REQUESTS`` requests
or ``DURATION`` seconds, whichever comes first; its pyperf value is the time per
request (pyperf sees the run's real duration, scaled to ``REQUESTS`` requests
when the time limit came first).  Every loop is bounded in count and in time; a
server that stops answering fails its benchmark instead of hanging it.

Latency percentiles (p50/p99, seconds) and requests/s of every measured run
(pyperf's warmups left out) go beside the times as ``record_extra`` lines
(``latency_p50``, ``latency_p99``, ``requests_per_s``, keyed by benchmark name,
one line per pyperf value, like the times).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import re
import shutil
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import io_loadgen
from common import QUICK, bench, main, record_extra, scaled

import gort

try:
    import gort.net as gnet
except ImportError:  # a gort without the netpoller: its benchmarks are not listed
    gnet = None  # type: ignore[assignment]
HAS_NET = gnet is not None

HOST = "127.0.0.1"
MSG = 64  # bytes per echo request
WORK = 1000  # iterations of ``x += i`` per request: ~50 µs on 3.13t, ~32 µs on 3.13
CONNS = (scaled(100, 10), scaled(1000, 30))  # concurrent connections
REQUESTS = scaled(10_000, 500)  # requests per measured run, at most ...
DURATION = 0.1 if QUICK else 0.5  # ... and seconds of load per measured run, at most
BACKLOG = 2048  # room in the accept queue for every connect at once
READ_SIZE = 65536
FANOUT = scaled(1000, 50)  # blocking calls per sleep fan-out
ASLEEP_N = scaled(100_000, 2_000)  # coroutine goroutines per asleep fan-out
SLEEP = 0.01  # seconds per blocking call / asleep
HTTP_CONNS = scaled(100, 10)
HTTP_SECONDS = 1  # wrk's shortest run (wrk is bounded by time only)
# Processes of the load generator (and wrk threads): a quarter of the CPUs,
# the rest for the server; one on a small machine.
LOADGEN_PROCS = max(1, (os.cpu_count() or 1) // 4)
RUN_LIMIT = 60.0  # seconds one measured run may take before it fails
TEARDOWN = 5.0  # seconds a server may take to end its connections
WRK = shutil.which("wrk")
HTTP_BODY = b"Hello, world!\n"
HTTP_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                 + str(len(HTTP_BODY)).encode() + b"\r\n\r\n" + HTTP_BODY)

_warmups = 0  # pyperf's warmup runs per worker process (set from its arguments)


def _work(n: int) -> int:
    """The pure-Python work of one request."""
    x = 0
    for i in range(n):
        x += i
    return x


# -- what every server shares --------------------------------------------------

class _Live:
    """The connections a server is serving, so that its teardown can wait for
    them to end (the load generator closes them) and end the stragglers."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: set[Any] = set()

    def add(self, item: Any) -> None:
        with self._cond:
            self._items.add(item)

    def discard(self, item: Any) -> None:
        with self._cond:
            self._items.discard(item)
            if not self._items:
                self._cond.notify_all()

    def drain(self, end: Callable[[Any], None], what: str) -> None:
        """Wait until every connection has ended; after TEARDOWN seconds end the
        rest with ``end``; raise if they still have not ended TEARDOWN later."""
        with self._cond:
            if self._cond.wait_for(lambda: not self._items, TEARDOWN):
                return
            stragglers = list(self._items)
        for item in stragglers:
            with contextlib.suppress(OSError):
                end(item)
        with self._cond:
            if not self._cond.wait_for(lambda: not self._items, TEARDOWN):
                raise RuntimeError(f"{what}: {len(self._items)} connection handlers still "
                                   f"running {2 * TEARDOWN:.0f} s after the load ended")


def _shutdown(sock: socket.socket) -> None:
    """End a blocking socket's connection from another thread (wakes its recv)."""
    sock.shutdown(socket.SHUT_RDWR)


def _nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@contextlib.contextmanager
def _gort_net_server(serve: Callable[[Any], Awaitable[None]]) -> Iterator[tuple[str, int]]:
    """``serve(conn)`` in one coroutine goroutine per connection on gort.net."""
    assert gnet is not None
    ln = gnet.listen(HOST, 0, backlog=BACKLOG)
    live = _Live()

    async def handle(conn: Any) -> None:
        try:
            await serve(conn)
        except ConnectionError:  # reset by the peer, or closed at teardown
            pass
        finally:
            conn.close()
            live.discard(conn)

    async def accept_loop() -> None:
        while True:
            try:
                conn = await ln.aaccept()
            except OSError:  # the listener was closed: the server is done
                return
            live.add(conn)
            gort.go(handle, conn)

    acceptor = gort.go(accept_loop)
    try:
        yield ln.addr
    finally:
        ln.close()
        if not acceptor.join(timeout=TEARDOWN):
            raise RuntimeError("gort.net server: the accept loop did not end after close()")
        acceptor.result()
        live.drain(lambda c: c.close(), "gort.net server")


@contextlib.contextmanager
def _gort_blocking_server(serve: Callable[[socket.socket], None]) -> Iterator[tuple[str, int]]:
    """``serve(sock)`` in one plain goroutine per connection on a blocking socket."""
    lsock = socket.create_server((HOST, 0), backlog=BACKLOG)
    lsock.settimeout(0.1)  # the accept loop looks at ``stop`` this often
    stop = threading.Event()
    live = _Live()

    def handle(sock: socket.socket) -> None:
        try:
            serve(sock)
        except ConnectionError:
            pass
        finally:
            sock.close()
            live.discard(sock)

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                with gort.blocking():
                    sock, _ = lsock.accept()
            except TimeoutError:
                continue
            _nodelay(sock)
            live.add(sock)
            gort.go(handle, sock)

    acceptor = gort.go(accept_loop)
    try:
        yield lsock.getsockname()[:2]
    finally:
        stop.set()
        joined = acceptor.join(timeout=TEARDOWN)
        lsock.close()
        if not joined:
            raise RuntimeError("gort blocking server: the accept loop did not end")
        acceptor.result()
        live.drain(_shutdown, "gort blocking server")


# -- echo ----------------------------------------------------------------------

def _echo_gort_async(work: int) -> contextlib.AbstractContextManager[tuple[str, int]]:
    async def serve(conn: Any) -> None:
        while data := await conn.arecv(READ_SIZE):
            if work:
                _work(work)
            await conn.asend_all(data)

    return _gort_net_server(serve)


def _echo_gort(work: int) -> contextlib.AbstractContextManager[tuple[str, int]]:
    def serve(sock: socket.socket) -> None:
        while True:
            with gort.blocking():
                data = sock.recv(READ_SIZE)
            if not data:
                return
            if work:
                _work(work)
            sock.sendall(data)

    return _gort_blocking_server(serve)


@contextlib.contextmanager
def _echo_asyncio(work: int) -> Iterator[tuple[str, int]]:
    """``asyncio.start_server`` on an event loop in a thread of its own."""
    started = threading.Event()
    box: dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(READ_SIZE):
                if work:
                    _work(work)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, HOST, 0, backlog=BACKLOG)
        stop = asyncio.Event()
        box.update(loop=asyncio.get_running_loop(), stop=stop,
                   addr=server.sockets[0].getsockname()[:2])
        started.set()
        await stop.wait()
        server.close()
        server.close_clients()
        await asyncio.wait_for(server.wait_closed(), TEARDOWN)

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as e:
            box["error"] = e
            started.set()

    t = threading.Thread(target=run, name="asyncio-echo")
    t.start()
    try:
        if not started.wait(TEARDOWN) or "error" in box:
            raise RuntimeError(f"asyncio server did not start: {box.get('error')!r}")
        yield box["addr"]
    finally:
        if "loop" in box:
            box["loop"].call_soon_threadsafe(box["stop"].set)
        t.join(2 * TEARDOWN)
        if t.is_alive():
            raise RuntimeError("asyncio server: its loop did not stop")
        if "error" in box:
            raise RuntimeError(f"asyncio server failed: {box['error']!r}") from box["error"]


class _QuietPeers:
    """A client that leaves mid-request (wrk stops in the middle of its
    requests) is not a server error: no traceback for a ConnectionError."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[misc]


class _ThreadingServer(_QuietPeers, socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True  # drained through _Live instead, with a time limit
    request_queue_size = BACKLOG


def _run_socketserver(server: socketserver.TCPServer,
                      live: _Live) -> contextlib.AbstractContextManager[tuple[str, int]]:
    @contextlib.contextmanager
    def cm() -> Iterator[tuple[str, int]]:
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                             name="socketserver")
        t.start()
        try:
            host, port = server.server_address[:2]
            yield str(host), int(port)
        finally:
            server.shutdown()
            server.server_close()
            t.join(TEARDOWN)
            live.drain(_shutdown, type(server).__name__)

    return cm()


def _echo_threading(work: int) -> contextlib.AbstractContextManager[tuple[str, int]]:
    live = _Live()

    class Echo(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            _nodelay(sock)
            live.add(sock)
            try:
                while data := sock.recv(READ_SIZE):
                    if work:
                        _work(work)
                    sock.sendall(data)
            except ConnectionError:
                pass
            finally:
                live.discard(sock)

    return _run_socketserver(_ThreadingServer((HOST, 0), Echo), live)


ECHO_SERVERS: dict[str, Callable[[int], contextlib.AbstractContextManager[tuple[str, int]]]] = {
    "gort-async": _echo_gort_async,
    "gort": _echo_gort,
    "asyncio": _echo_asyncio,
    "threading": _echo_threading,
}


# -- measurements and their percentiles ------------------------------------------

_calls: dict[str, int] = {}  # calls of each benchmark function in this process so far


def _record(name: str, connections: int, requests: int, seconds: float, p50: float,
            p99: float) -> None:
    """The latency percentiles (seconds) and throughput of one pyperf value (one
    call of a benchmark function, all its loops), with ``record_extra``: one
    line per value; the warmups of this worker process are left out."""
    n = _calls[name] = _calls.get(name, 0) + 1
    if n <= _warmups:
        return
    record_extra(name, latency_p50=p50, latency_p99=p99, requests_per_s=requests / seconds,
                 requests=requests, connections=connections)


def _scaled_time(name: str, elapsed: float, requests: int) -> float:
    """The time of one run, as pyperf's value for ``REQUESTS`` requests: exact
    when the run answered them all, extrapolated at its rate when the time limit
    came first.  (A run's real duration, so pyperf's loop calibration stops at
    one loop.)"""
    if not requests:
        raise RuntimeError(f"{name}: no request was answered")
    return elapsed * REQUESTS / requests


def echo_bench(loops: int, name: str, impl: str, conns: int, work: int) -> float:
    """``loops`` load runs, each against a fresh server."""
    total = 0.0
    merged: io_loadgen.LoadResult | None = None
    for _ in range(loops):
        with ECHO_SERVERS[impl](work) as (host, port):
            r = io_loadgen.run_subprocess(host, port, conns, procs=LOADGEN_PROCS, size=MSG,
                                          duration=DURATION, max_requests=REQUESTS)
        if r.errors or r.unfinished:
            raise RuntimeError(f"{name}: {r.requests} requests answered, {r.unfinished} "
                               f"unanswered after {io_loadgen.GRACE} s, {r.errors} "
                               "connections closed by the server")
        total += _scaled_time(name, r.elapsed, r.requests)
        merged = r if merged is None else merged.merge(r, sequential=True)
    assert merged is not None
    _record(name, conns, merged.requests, merged.elapsed, merged.percentile(0.5),
            merged.percentile(0.99))
    return total


# -- blocking fan-out ----------------------------------------------------------

def _join_all(gs: list[gort.Goroutine[Any]], deadline: float, what: str) -> None:
    for g in gs:
        if not g.join(timeout=max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"{what}: not done within {RUN_LIMIT} s")
        g.result()


def _sleep_blocking() -> None:
    with gort.blocking():
        time.sleep(SLEEP)


def sleep_fanout_gort(loops: int, announced: bool) -> float:
    fn: Callable[[], Any] = _sleep_blocking if announced else lambda: time.sleep(SLEEP)
    total = 0.0
    for _ in range(loops):
        deadline = time.monotonic() + RUN_LIMIT
        t0 = time.perf_counter()
        gs = [gort.go(fn) for _ in range(FANOUT)]
        _join_all(gs, deadline, f"{FANOUT} goroutines in time.sleep({SLEEP})")
        total += time.perf_counter() - t0
    return total


def sleep_fanout_futures(loops: int) -> float:
    total = 0.0
    for _ in range(loops):
        t0 = time.perf_counter()
        with ThreadPoolExecutor() as pool:
            fs = [pool.submit(time.sleep, SLEEP) for _ in range(FANOUT)]
            for f in fs:
                f.result(timeout=RUN_LIMIT)
        total += time.perf_counter() - t0
    return total


def sleep_fanout_asyncio(loops: int) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(
            *[asyncio.to_thread(time.sleep, SLEEP) for _ in range(FANOUT)]), RUN_LIMIT)
        return time.perf_counter() - t0

    return sum(asyncio.run(main()) for _ in range(loops))


async def _asleeper() -> None:
    await gort.asleep(SLEEP)


def asleep_fanout_gort_async(loops: int) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        wg = gort.WaitGroup()
        for _ in range(ASLEEP_N):
            wg.go(_asleeper)
        if not await wg.await_(RUN_LIMIT):
            raise TimeoutError(f"{ASLEEP_N} coroutine goroutines in asleep({SLEEP}): "
                               f"not done within {RUN_LIMIT} s")
        return time.perf_counter() - t0

    return sum(float(gort.go(main).result(timeout=RUN_LIMIT + TEARDOWN)) for _ in range(loops))


def asleep_fanout_asyncio(loops: int) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(asyncio.sleep(SLEEP)) for _ in range(ASLEEP_N)]
        await asyncio.wait_for(asyncio.gather(*tasks), RUN_LIMIT)
        return time.perf_counter() - t0

    return sum(asyncio.run(main()) for _ in range(loops))


# -- HTTP hello-world under wrk ---------------------------------------------------

def _http_requests(buf: bytearray) -> int:
    """Take the complete requests (GET, no body) off the front of ``buf``; parse
    each one's request line and headers as a minimal server must."""
    n = 0
    while (end := buf.find(b"\r\n\r\n")) >= 0:
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[:end + 4]
        method, _target, version = head[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in head[1:])}
        if method != "GET" or not version.startswith("HTTP/1.") or "content-length" in headers:
            raise ConnectionError(f"unexpected request {head[0]!r}")
        n += 1
    return n


def _http_gort_async() -> contextlib.AbstractContextManager[tuple[str, int]]:
    async def serve(conn: Any) -> None:
        buf = bytearray()
        while data := await conn.arecv(READ_SIZE):
            buf += data
            if n := _http_requests(buf):
                await conn.asend_all(HTTP_RESPONSE * n)

    return _gort_net_server(serve)


def _http_gort() -> contextlib.AbstractContextManager[tuple[str, int]]:
    def serve(sock: socket.socket) -> None:
        buf = bytearray()
        while True:
            with gort.blocking():
                data = sock.recv(READ_SIZE)
            if not data:
                return
            buf += data
            if n := _http_requests(buf):
                sock.sendall(HTTP_RESPONSE * n)

    return _gort_blocking_server(serve)


class _HTTPServer(_QuietPeers, http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG


def _http_threading() -> contextlib.AbstractContextManager[tuple[str, int]]:
    live = _Live()

    class Hello(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
        # Headers and body leave in two writes: with Nagle's algorithm the body
        # waits for the client's delayed ACK (~40 ms a request).
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            live.add(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                live.discard(self.connection)

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(HTTP_BODY)))
            self.end_headers()
            self.wfile.write(HTTP_BODY)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return _run_socketserver(_HTTPServer((HOST, 0), Hello), live)


HTTP_SERVERS: dict[str, Callable[[], contextlib.AbstractContextManager[tuple[str, int]]]] = {
    "gort-async": _http_gort_async,
    "gort": _http_gort,
    "threading": _http_threading,
}

# wrk calls done() once at the end; latencies and the duration are in µs.
WRK_SCRIPT = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "GORT_WRK requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""
_WRK_LINE = re.compile(r"GORT_WRK requests=(\d+) duration_us=(\d+) p50_us=(\d+) "
                       r"p99_us=(\d+) errors=(\d+)")


def run_wrk(host: str, port: int, conns: int, seconds: int,
            threads: int = LOADGEN_PROCS) -> tuple[int, float, float, float, int]:
    """wrk against ``http://host:port/``: (requests, seconds, p50, p99, errors)."""
    if WRK is None:
        raise RuntimeError("wrk is not on PATH")
    with tempfile.TemporaryDirectory() as d:
        script = Path(d) / "report.lua"
        script.write_text(WRK_SCRIPT)
        cmd = [WRK, f"-t{min(threads, conns)}", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s",
               "-s", str(script), f"http://{host}:{port}/"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    m = _WRK_LINE.search(r.stdout)
    if r.returncode or m is None:
        raise RuntimeError(f"wrk failed (exit {r.returncode}): "
                           f"{(r.stderr or r.stdout).strip()[-500:]}")
    requests, dur, p50, p99, errors = (int(g) for g in m.groups())
    return requests, dur / 1e6, p50 / 1e6, p99 / 1e6, errors


def http_bench(loops: int, name: str, impl: str) -> float:
    """``loops`` wrk runs, each against a fresh server (the percentiles of one
    value: the mean of its runs', as wrk reports no histogram)."""
    total = 0.0
    runs: list[tuple[int, float, float, float]] = []
    for _ in range(loops):
        with HTTP_SERVERS[impl]() as (host, port):
            requests, seconds, p50, p99, errors = run_wrk(host, port, HTTP_CONNS, HTTP_SECONDS)
        if errors:
            raise RuntimeError(f"{name}: wrk counted {errors} errors in {requests} requests")
        total += _scaled_time(name, seconds, requests)
        runs.append((requests, seconds, p50, p99))
    _record(name, HTTP_CONNS, sum(r[0] for r in runs), sum(r[1] for r in runs),
            statistics.fmean(r[2] for r in runs), statistics.fmean(r[3] for r in runs))
    return total


# -- the suite -----------------------------------------------------------------

# Why a variant cannot run with this gort (None: it can); the skipped ones are
# listed as such, and said once when the suite runs.
MISSING = {
    "gort-async": None if HAS_NET else
    "gort.net is not available in this gort (the netpoller of issue #10)",
    "gort": None if hasattr(gort, "blocking") else
    "gort.blocking is not available in this gort (the hand-off of issue #10)",
}
NO_WRK = None if WRK else "wrk is not on PATH (Debian: apt-get install wrk)"

for _conns in CONNS:
    for _work_ in (0, WORK):
        _what = f"echo{'_work' if _work_ else ''}_c{_conns}"
        _extra = f", {WORK} iterations of work per request" if _work_ else ""
        for _impl in ECHO_SERVERS:
            bench(_what, _impl, f"{_what}[{_impl}]", _impl, _conns, _work_, inner_loops=REQUESTS,
                  description=f"TCP echo, {MSG}-byte messages, {_conns} connections{_extra}; "
                              "time per request", skip=MISSING.get(_impl))(echo_bench)
bench("sleep_fanout", "gort", False, skip=MISSING["gort"],
      description=f"{FANOUT} goroutines in time.sleep({SLEEP}) (automatic hand-off), wall time"
      )(sleep_fanout_gort)
bench("sleep_fanout", "gort-blocking", True, skip=MISSING["gort"],
      description=f"{FANOUT} goroutines in time.sleep({SLEEP}) inside gort.blocking(), wall time"
      )(sleep_fanout_gort)
bench("sleep_fanout", "futures",
      description=f"{FANOUT} x time.sleep({SLEEP}) on ThreadPoolExecutor() (default workers), "
                  "wall time")(sleep_fanout_futures)
bench("sleep_fanout", "asyncio",
      description=f"{FANOUT} x asyncio.to_thread(time.sleep, {SLEEP}) (default executor), "
                  "wall time")(sleep_fanout_asyncio)
# Not gort.net: coroutine goroutines in asleep need nothing new.
bench("asleep_fanout", "gort-async",
      description=f"{ASLEEP_N:,} coroutine goroutines in gort.asleep({SLEEP}), wall time"
      )(asleep_fanout_gort_async)
bench("asleep_fanout", "asyncio",
      description=f"{ASLEEP_N:,} asyncio tasks in asyncio.sleep({SLEEP}), wall time"
      )(asleep_fanout_asyncio)
for _impl in HTTP_SERVERS:
    bench("http_hello", _impl, f"http_hello[{_impl}]", _impl, inner_loops=REQUESTS,
          description=f"HTTP/1.1 hello world, wrk -c{HTTP_CONNS} -d{HTTP_SECONDS}s; "
                      "time per request", skip=NO_WRK or MISSING.get(_impl))(http_bench)


def setup(args: Any) -> None:
    """Before the benchmarks run (``common.main``, in every process): the warmup
    count that ``_record`` leaves out, and room for every connection's fds."""
    global _warmups
    # Every run of a worker that calibrates is a warmup; pyperf passes the
    # others their warmup count.
    calibrating = (args.calibrate_loops or args.recalibrate_loops
                   or args.calibrate_warmups or args.recalibrate_warmups)
    _warmups = sys.maxsize if calibrating else args.warmups or 0
    io_loadgen.raise_fd_limit(2 * max(CONNS) + 256)


if __name__ == "__main__":
    main(__doc__)
