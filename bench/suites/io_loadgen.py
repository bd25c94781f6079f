"""io_loadgen: a closed-loop TCP echo load generator that runs in a process of its own.

The ``io`` suite (bm_io.py) drives every echo server it measures with this one
generator, started as a separate process so that the client's own Python work
never shares the server's interpreter (or its GIL, where there is one).

Each of ``--connections`` connections sends a ``--size``-byte message, waits
until the whole echo is back, records the round trip and sends again (a closed
loop: one request in flight per connection).  The run has three phases:

1. *connect*: at most ``CONNECT_BATCH`` connects in flight at once, so that a
   thousand connections do not overflow the server's accept queue (a dropped
   SYN is retried after a second, which would swamp the measurement);
2. *prime*: one untimed round trip per connection, so that the timed phase
   starts only once the server has accepted and is serving every connection;
3. *timed*: requests until ``--duration`` seconds have passed or
   ``--max-requests`` requests have been started, whichever comes first; the
   requests in flight then finish, within a grace period after which they count
   as ``unfinished``.

Every loop is bounded in count and in time: a server that stops answering makes
the generator exit with an error, never hang.  The result is one JSON object on
stdout: requests, elapsed seconds (from the start of the timed phase to the last
reply), requests/s, latency percentiles (seconds), errors.  Latencies go into a
log-linear histogram (64 buckets per power of two, about 1.1% wide), so the
``--procs`` worker processes of one run merge exactly, whatever the request count.

It uses ``selectors`` (epoll on Linux) with non-blocking sockets rather than
asyncio: fewer Python instructions per request, so the generator saturates
later than the servers it measures.  It deliberately speaks only this echo
protocol; HTTP is loaded by wrk.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import math
import os
import resource
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONNECT_BATCH = 64  # connects in flight at once
BUCKETS_PER_OCTAVE = 64  # latency histogram resolution: 2 ** (1 / 64) ~ 1.1%
GRACE = 5.0  # seconds the requests in flight at the end may take to finish
READ_SIZE = 65536


class LoadError(RuntimeError):
    """The load could not be generated: a connection could not be opened, the
    server closed or reset one, or it stopped answering within the time limits."""


@dataclasses.dataclass
class LoadResult:
    """What one load run measured.  Latencies are in seconds."""

    connections: int
    requests: int  # round trips completed in the timed phase
    elapsed: float  # seconds from the start of the timed phase to the last reply
    unfinished: int  # requests still unanswered when the grace period ended
    errors: int  # connections the server closed or reset during the timed phase
    histogram: dict[int, int]  # bucket -> count; see bucket_of()

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float:
        """The latency below which a fraction ``q`` (0 < q <= 1) of the requests
        fall, in seconds (the middle of its histogram bucket); 0.0 without requests."""
        if not 0.0 < q <= 1.0:
            raise ValueError(f"percentile fraction must be in (0, 1], got {q!r}")
        total = sum(self.histogram.values())
        if not total:
            return 0.0
        rank = math.ceil(q * total)
        seen = 0
        for b in sorted(self.histogram):
            seen += self.histogram[b]
            if seen >= rank:
                return bucket_value(b)
        raise AssertionError("unreachable: the ranks add up to the total")

    def merge(self, other: LoadResult, sequential: bool = False) -> LoadResult:
        """Two results as one: of two worker processes of one run (their timed
        phases start together: the run lasts as long as the longer one), or with
        ``sequential``, of two runs one after the other (their times add up)."""
        hist = dict(self.histogram)
        for b, n in other.histogram.items():
            hist[b] = hist.get(b, 0) + n
        return LoadResult(self.connections + other.connections, self.requests + other.requests,
                          self.elapsed + other.elapsed if sequential
                          else max(self.elapsed, other.elapsed),
                          self.unfinished + other.unfinished,
                          self.errors + other.errors, hist)

    def to_json(self) -> dict[str, Any]:
        return {"connections": self.connections, "requests": self.requests,
                "elapsed": self.elapsed, "requests_per_s": self.requests_per_s,
                "p50": self.percentile(0.5), "p90": self.percentile(0.9),
                "p99": self.percentile(0.99), "unfinished": self.unfinished,
                "errors": self.errors,
                "histogram": {str(b): n for b, n in sorted(self.histogram.items())}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LoadResult:
        """The inverse of ``to_json`` (its derived fields are recomputed)."""
        return cls(int(d["connections"]), int(d["requests"]), float(d["elapsed"]),
                   int(d["unfinished"]), int(d["errors"]),
                   {int(b): int(n) for b, n in dict(d["histogram"]).items()})


def bucket_of(latency_ns: int) -> int:
    """The histogram bucket of a latency in nanoseconds (log-linear)."""
    return int(math.log2(max(latency_ns, 1)) * BUCKETS_PER_OCTAVE)


def bucket_value(bucket: int) -> float:
    """The middle of a histogram bucket, in seconds."""
    return float(2.0 ** ((bucket + 0.5) / BUCKETS_PER_OCTAVE) / 1e9)


def raise_fd_limit(wanted: int) -> None:
    """Raise the soft open-file limit towards ``wanted`` (never above the hard
    limit); a thousand connections need more than the common default of 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class _Conn:
    __slots__ = ("got", "sent_at", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sent_at = 0
        self.got = 0


def _connect(host: str, port: int, n: int, deadline: float) -> list[_Conn]:
    """Open ``n`` connections, at most CONNECT_BATCH in flight at once."""
    sel = selectors.DefaultSelector()
    conns: list[_Conn] = []
    in_flight = 0
    try:
        while len(conns) < n:
            while in_flight < CONNECT_BATCH and len(conns) + in_flight < n:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                err = s.connect_ex((host, port))
                if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                    s.close()
                    raise LoadError(f"connect to {host}:{port} failed: {os.strerror(err)}")
                sel.register(s, selectors.EVENT_WRITE)
                in_flight += 1
            left = deadline - time.monotonic()
            if left <= 0:
                raise LoadError(f"only {len(conns)} of {n} connections to {host}:{port} "
                                "were established before the connect deadline")
            for key, _ in sel.select(left):
                s = key.fileobj  # type: ignore[assignment]
                sel.unregister(s)
                in_flight -= 1
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    s.close()
                    raise LoadError(f"connect to {host}:{port} failed: {os.strerror(err)}")
                conns.append(_Conn(s))
    except BaseException:
        for key in list(sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        for c in conns:
            c.sock.close()
        raise
    finally:
        sel.close()
    return conns


def _round_trips(conns: list[_Conn], msg: bytes, duration: float, max_requests: int,
                 deadline_after: float) -> tuple[int, float, int, int, dict[int, int]]:
    """Closed-loop round trips on every connection until ``duration`` seconds or
    ``max_requests`` requests; returns (requests, elapsed, unfinished, errors,
    histogram).  ``deadline_after``: seconds the requests in flight may take."""
    size = len(msg)
    sel = selectors.DefaultSelector()
    hist: dict[int, int] = {}
    clock = time.perf_counter_ns
    t0 = clock()
    end = t0 + int(duration * 1e9)
    started = 0
    done = 0
    errors = 0
    last = t0
    live = 0
    try:
        for c in conns:
            if started >= max_requests:
                break
            c.got = 0
            c.sent_at = clock()
            if c.sock.send(msg) != size:
                raise LoadError(f"a {size}-byte request was only partly sent")
            started += 1
            live += 1
            sel.register(c.sock, selectors.EVENT_READ, c)
        hard_end = time.monotonic() + duration + deadline_after
        while live:
            left = hard_end - time.monotonic()
            if left <= 0:
                break
            for key, _ in sel.select(min(left, 1.0)):
                c = key.data
                try:
                    data = c.sock.recv(READ_SIZE)
                except ConnectionError:
                    data = b""
                if not data:  # the server closed or reset the connection
                    errors += 1
                    live -= 1
                    sel.unregister(c.sock)
                    continue
                c.got += len(data)
                if c.got < size:
                    continue
                now = clock()
                lat = now - c.sent_at
                b = int(math.log2(lat if lat > 0 else 1) * BUCKETS_PER_OCTAVE)
                hist[b] = hist.get(b, 0) + 1
                done += 1
                last = now
                if now < end and started < max_requests:
                    c.got -= size
                    c.sent_at = now
                    if c.sock.send(msg) != size:
                        raise LoadError(f"a {size}-byte request was only partly sent")
                    started += 1
                else:
                    live -= 1
                    sel.unregister(c.sock)
    finally:
        sel.close()
    return done, (last - t0) / 1e9, live, errors, hist


def generate(host: str, port: int, connections: int, size: int = 64, duration: float = 1.0,
             max_requests: int = 10_000_000, connect_timeout: float = 30.0,
             gate: Sequence[str] | None = None) -> LoadResult:
    """One load run in this process (see the module docstring).  ``gate``: when
    given, print ``ready`` once connected and primed, then wait for one line on
    stdin before the timed phase (how ``--procs`` starts its workers together)."""
    if connections < 1:
        raise ValueError(f"connections must be >= 1, got {connections}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if duration <= 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    raise_fd_limit(connections + 64)
    msg = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    conns = _connect(host, port, connections, time.monotonic() + connect_timeout)
    try:
        n, _, unfinished, errors, _ = _round_trips(conns, msg, 1e-9, connections,
                                                   connect_timeout)
        if unfinished or errors or n != connections:
            raise LoadError(f"priming: {n} of {connections} connections answered "
                            f"({errors} closed by the server) within {connect_timeout} s")
        if gate is not None:
            print("ready", flush=True)
            sys.stdin.readline()
        requests, elapsed, unfinished, errors, hist = _round_trips(
            conns, msg, duration, max_requests, GRACE)
    finally:
        for c in conns:
            c.sock.close()
    return LoadResult(connections, requests, elapsed, unfinished, errors, hist)


def generate_in_processes(host: str, port: int, connections: int, procs: int, size: int = 64,
                          duration: float = 1.0, max_requests: int = 10_000_000,
                          connect_timeout: float = 30.0) -> LoadResult:
    """One load run spread over ``procs`` worker processes of this interpreter;
    their timed phases start together (each prints ``ready`` and waits for a line
    on stdin) and their results merge."""
    if procs < 1:
        raise ValueError(f"procs must be >= 1, got {procs}")
    procs = min(procs, connections)
    if procs == 1:
        return generate(host, port, connections, size, duration, max_requests, connect_timeout)
    shares = [connections // procs + (i < connections % procs) for i in range(procs)]
    caps = [max_requests // procs + (i < max_requests % procs) for i in range(procs)]
    workers = [subprocess.Popen(
        [sys.executable, __file__, host, str(port), "--connections", str(n), "--size", str(size),
         "--duration", str(duration), "--max-requests", str(cap),
         "--connect-timeout", str(connect_timeout), "--gate"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n, cap in zip(shares, caps, strict=True)]
    try:
        for w in workers:
            assert w.stdout is not None
            line = w.stdout.readline()  # bounded: the worker's connect deadline
            if line.strip() != "ready":
                w.wait(timeout=10)
                err = w.stderr.read() if w.stderr else ""
                raise LoadError(f"a load worker did not get ready: {err.strip() or line!r}")
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        result: LoadResult | None = None
        for w in workers:
            out, err = w.communicate(timeout=duration + GRACE + 30)
            if w.returncode:
                raise LoadError(f"a load worker failed (exit {w.returncode}): {err.strip()}")
            part = LoadResult.from_json(json.loads(out.strip().splitlines()[-1]))
            result = part if result is None else result.merge(part)
        assert result is not None
        return result
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()


def run_subprocess(host: str, port: int, connections: int, *, procs: int = 1, size: int = 64,
                   duration: float = 1.0, max_requests: int = 10_000_000,
                   connect_timeout: float = 30.0, python: str | None = None,
                   env: dict[str, str] | None = None) -> LoadResult:
    """Run this generator as a separate process (``python``, default this
    interpreter) and return its result; raises ``LoadError`` when it fails."""
    cmd = [python or sys.executable, str(Path(__file__).resolve()), host, str(port),
           "--connections", str(connections), "--procs", str(procs), "--size", str(size),
           "--duration", str(duration), "--max-requests", str(max_requests),
           "--connect-timeout", str(connect_timeout)]
    limit = connect_timeout * 2 + duration + GRACE + 30
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired:
        raise LoadError(f"the load generator did not finish within {limit:.0f} s") from None
    if r.returncode:
        lines = r.stderr.strip().splitlines()
        raise LoadError(f"the load generator failed (exit {r.returncode}): "
                        f"{lines[-1] if lines else 'no output'}")
    try:
        return LoadResult.from_json(json.loads(r.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError, KeyError, TypeError) as e:
        raise LoadError(f"unreadable load generator output {r.stdout!r}: {e}") from None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--procs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--size", type=int, default=64, help="message size in bytes")
    p.add_argument("--duration", type=float, default=1.0, help="timed phase, seconds")
    p.add_argument("--max-requests", type=int, default=10_000_000)
    p.add_argument("--connect-timeout", type=float, default=30.0,
                   help="seconds for the connect and prime phases")
    p.add_argument("--gate", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    try:
        if a.gate:
            r = generate(a.host, a.port, a.connections, a.size, a.duration, a.max_requests,
                         a.connect_timeout, gate=("go",))
        else:
            r = generate_in_processes(a.host, a.port, a.connections, a.procs, a.size,
                                      a.duration, a.max_requests, a.connect_timeout)
    except (LoadError, OSError, ValueError) as e:
        print(f"io_loadgen: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(r.to_json()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
