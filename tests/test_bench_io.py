"""The io benchmark suite's plumbing: the load generator (its numbers, bounds,
errors and worker processes), every server the suite measures (it answers and
shuts down within its time limits), the suite's listing, and the latency records
it writes beside pyperf's values.  Tiny counts throughout; the suite's own
numbers are not checked here."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "bench" / "suites"
sys.path.insert(0, str(SUITES))

pytest.importorskip("pyperf")  # bm_io's common imports it

import bm_io  # noqa: E402
import common  # noqa: E402
import io_loadgen  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SUITES)]), **extra}


@pytest.fixture
def asyncio_echo() -> Iterator[tuple[str, int]]:
    """An asyncio echo server on a thread of this process (not one of the suite's)."""
    ready = threading.Event()
    box: dict[str, object] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        stop = asyncio.Event()
        box.update(loop=asyncio.get_running_loop(), stop=stop,
                   addr=server.sockets[0].getsockname()[:2])
        ready.set()
        await stop.wait()
        server.close()
        server.close_clients()

    t = threading.Thread(target=asyncio.run, args=(main(),))
    t.start()
    assert ready.wait(10)
    yield box["addr"]  # type: ignore[misc]
    box["loop"].call_soon_threadsafe(box["stop"].set)  # type: ignore[attr-defined]
    t.join(10)
    assert not t.is_alive()


# -- the load generator ---------------------------------------------------------

def test_loadgen_against_asyncio_echo_for_half_a_second(asyncio_echo: tuple[str, int]) -> None:
    host, port = asyncio_echo
    r = io_loadgen.run_subprocess(host, port, 20, duration=0.5, max_requests=10_000_000)
    assert (r.connections, r.errors, r.unfinished) == (20, 0, 0)
    assert r.requests >= 20  # every connection at least once, on any machine
    assert 0.45 <= r.elapsed <= 0.5 + io_loadgen.GRACE
    assert r.requests_per_s == pytest.approx(r.requests / r.elapsed)
    assert sum(r.histogram.values()) == r.requests
    p50, p99 = r.percentile(0.5), r.percentile(0.99)
    assert 0 < p50 <= p99 <= r.elapsed  # one round trip takes less than the run


def test_loadgen_stops_at_max_requests(asyncio_echo: tuple[str, int]) -> None:
    r = io_loadgen.run_subprocess(*asyncio_echo, 5, duration=30.0, max_requests=40)
    assert (r.requests, r.unfinished, r.errors) == (40, 0, 0)
    assert r.elapsed < 30.0  # the count bound came first


def test_loadgen_worker_processes_merge(asyncio_echo: tuple[str, int]) -> None:
    r = io_loadgen.run_subprocess(*asyncio_echo, 7, procs=2, duration=0.2)
    assert (r.connections, r.errors, r.unfinished) == (7, 0, 0)
    assert r.requests >= 7 and sum(r.histogram.values()) == r.requests


def test_loadgen_fails_clearly_when_nothing_listens() -> None:
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(io_loadgen.LoadError, match=r"exit 1\): io_loadgen: error: connect to "
                       rf"127\.0\.0\.1:{port} failed: Connection refused"):
        io_loadgen.run_subprocess("127.0.0.1", port, 3, duration=0.1, connect_timeout=5)


def test_loadgen_fails_clearly_when_the_server_hangs_up() -> None:
    ln = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def hang_up() -> None:
        ln.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = ln.accept()
            except TimeoutError:
                continue
            conn.close()

    t = threading.Thread(target=hang_up)
    t.start()
    try:
        with pytest.raises(io_loadgen.LoadError,
                           match=r"priming: 0 of 3 connections answered \(3 closed by the "
                                 r"server\) within 5\.0 s"):
            io_loadgen.run_subprocess("127.0.0.1", ln.getsockname()[1], 3, duration=0.1,
                                      connect_timeout=5.0)
    finally:
        stop.set()
        t.join(5)
        ln.close()


def test_load_result_percentiles_merge_and_json() -> None:
    ms = 1_000_000  # ns
    a = io_loadgen.LoadResult(2, 4, 1.0, 0, 0, {})
    for lat in (1 * ms, 2 * ms, 3 * ms, 100 * ms):
        b = io_loadgen.bucket_of(lat)
        a.histogram[b] = a.histogram.get(b, 0) + 1
    assert a.percentile(0.5) == pytest.approx(0.002, rel=0.012)  # the 2nd of 4
    assert a.percentile(0.75) == pytest.approx(0.003, rel=0.012)
    assert a.percentile(0.99) == pytest.approx(0.1, rel=0.012)
    assert io_loadgen.LoadResult(1, 0, 0.0, 0, 0, {}).percentile(0.5) == 0.0
    with pytest.raises(ValueError, match=r"percentile fraction must be in \(0, 1\], got 0"):
        a.percentile(0)
    b2 = io_loadgen.LoadResult(3, 6, 2.0, 1, 1, {io_loadgen.bucket_of(ms): 6})
    together = a.merge(b2)
    assert (together.connections, together.requests, together.elapsed,
            together.unfinished, together.errors) == (5, 10, 2.0, 1, 1)
    assert a.merge(b2, sequential=True).elapsed == 3.0
    assert together.percentile(0.5) == pytest.approx(0.001, rel=0.012)
    back = io_loadgen.LoadResult.from_json(json.loads(json.dumps(together.to_json())))
    assert back == together


def test_loadgen_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="connections must be >= 1, got 0"):
        io_loadgen.generate("127.0.0.1", 1, 0)
    with pytest.raises(ValueError, match="duration must be > 0, got 0"):
        io_loadgen.generate("127.0.0.1", 1, 1, duration=0)


# -- the servers the suite measures ---------------------------------------------

@pytest.mark.parametrize("impl", sorted(bm_io.ECHO_SERVERS))
@pytest.mark.parametrize("work", [0, 10])
def test_echo_server_answers_and_shuts_down(impl: str, work: int) -> None:
    if impl == "gort-async" and not bm_io.HAS_NET:
        pytest.skip("no gort.net in this gort")
    with bm_io.ECHO_SERVERS[impl](work) as (host, port):
        r = io_loadgen.run_subprocess(host, port, 8, duration=10.0, max_requests=64)
    assert (r.requests, r.unfinished, r.errors) == (64, 0, 0)


@pytest.mark.parametrize("impl", sorted(bm_io.ECHO_SERVERS))
def test_echo_server_ends_connections_left_open(impl: str) -> None:
    """A client that never closes does not keep the teardown waiting forever."""
    if impl == "gort-async" and not bm_io.HAS_NET:
        pytest.skip("no gort.net in this gort")
    old = bm_io.TEARDOWN
    bm_io.TEARDOWN = 0.2
    try:
        with bm_io.ECHO_SERVERS[impl](0) as addr:
            client = socket.create_connection(addr, timeout=10)
            client.sendall(b"x")
            assert client.recv(1) == b"x"  # served, and left open
        assert client.recv(1) == b""  # the server ended it
        client.close()
    finally:
        bm_io.TEARDOWN = old


@pytest.mark.parametrize("impl", sorted(bm_io.HTTP_SERVERS))
def test_http_server_answers_pipelined_keep_alive_requests(impl: str) -> None:
    if impl == "gort-async" and not bm_io.HAS_NET:
        pytest.skip("no gort.net in this gort")
    with bm_io.HTTP_SERVERS[impl]() as addr, socket.create_connection(addr, timeout=10) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        got = b""
        while got.count(bm_io.HTTP_BODY) < 2:
            chunk = c.recv(65536)
            assert chunk, f"closed after {got!r}"
            got += chunk
        assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.count(b"HTTP/1.1 200 OK") == 2
        assert got.endswith(bm_io.HTTP_BODY)


def test_http_request_splitting() -> None:
    buf = bytearray(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\n\r\nGET / HT")
    assert bm_io._http_requests(buf) == 2
    assert buf == b"GET / HT"  # the incomplete one waits for more
    with pytest.raises(ConnectionError, match=r"unexpected request 'POST / HTTP/1\.1'"):
        bm_io._http_requests(bytearray(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"))


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_output_is_read() -> None:
    with bm_io.HTTP_SERVERS["threading"]() as (host, port):
        requests, seconds, p50, p99, errors = bm_io.run_wrk(host, port, 2, 1, threads=1)
    assert requests > 0 and errors == 0
    assert 0.9 <= seconds <= 5.0
    assert 0 < p50 <= p99


# -- the suite --------------------------------------------------------------------

def _listing(monkeypatch: pytest.MonkeyPatch, path: str | None = None) -> common.Suite:
    """The io suite loaded in quick mode, with ``PATH`` set to ``path``."""
    if path is not None:
        monkeypatch.setenv("PATH", path)
    return common.load("io", quick=True)


def test_the_suite_lists_its_benchmarks(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [b.name for b in _listing(monkeypatch).runnable()]
    assert len(names) == len(set(names))
    conns = (10, 30)  # quick mode
    impls = ["gort-async", "gort", "asyncio", "threading"]
    if not bm_io.HAS_NET:
        impls.remove("gort-async")
    echo = [f"echo{w}_c{c}[{i}]" for c in conns for w in ("", "_work") for i in impls]
    fanout = ["sleep_fanout[gort]", "sleep_fanout[gort-blocking]", "sleep_fanout[futures]",
              "sleep_fanout[asyncio]", "asleep_fanout[gort-async]", "asleep_fanout[asyncio]"]
    http = [f"http_hello[{i}]" for i in ("gort-async", "gort", "threading")
            if i in impls] if shutil.which("wrk") else []
    assert names == echo + fanout + http


def test_without_wrk_the_http_benchmarks_are_left_out_and_said_so(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    suite = _listing(monkeypatch, path=os.path.dirname(sys.executable))  # nothing else on PATH
    assert not [b for b in suite.runnable() if b.name.startswith("http_hello")]
    (http,) = [b for b in suite.skipped() if b.name == "http_hello[threading]"]
    assert http.skip == "wrk is not on PATH (Debian: apt-get install wrk)"
    # Said when the suite runs (its main process), not as a failure.
    r = subprocess.run(
        [sys.executable, str(SUITES / "bm_io.py"), "-o", str(tmp_path / "io.json"), "--quiet",
         "--quick", "--bench", "http_hello[*],sleep_fanout[futures]", "--processes=1",
         "--values=1", "--warmups=0", "--loops=1"],
        env=_env(PATH=os.path.dirname(sys.executable)), capture_output=True, text=True,
        timeout=110)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "io: skipped http_hello[threading]: wrk is not on PATH (Debian: apt-get install " \
           "wrk)" in r.stdout.splitlines()


def test_latency_records_beside_each_measured_value(tmp_path: Path) -> None:
    """One record per pyperf value, the warmup's left out."""
    out, extra = tmp_path / "io.json", tmp_path / "extra.jsonl"
    r = subprocess.run(
        [sys.executable, str(SUITES / "bm_io.py"), "-o", str(out), "--quiet", "--quick",
         "--bench", "echo_c10[asyncio]", "--extra-out", str(extra),
         "--processes=1", "--values=2", "--warmups=1", "--loops=1"],
        env=_env(),
        capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stderr[-3000:]
    import pyperf
    bench = pyperf.BenchmarkSuite.load(str(out)).get_benchmark("echo_c10[asyncio]")
    assert bench.get_nvalue() == 2
    assert bench.get_metadata()["gort_suite"] == "io"
    records = [json.loads(line) for line in extra.read_text().splitlines()]
    assert [x["name"] for x in records] == ["echo_c10[asyncio]"] * 2
    for x in records:
        assert 0 < x["latency_p50"] <= x["latency_p99"]
        assert x["requests_per_s"] > 0 and x["connections"] == 10
        assert 0 < x["requests"] <= 500  # quick mode's count bound


@pytest.mark.timeout(300)
def test_an_interleaved_io_pass_keeps_what_each_side_records(tmp_path: Path) -> None:
    """An io benchmark's process also writes its requests/s and latencies as
    benchmarks of their own: the interleaved pass keeps them, tagged by round
    (it used to expect one benchmark per file and crashed the whole run)."""
    import pyperf

    from bench import runner
    group = ["echo_c10[gort-async]", "echo_c10[asyncio]"]
    build = runner.BuildSpec("x", "", sys.executable)
    path = runner.paired_pass(build, "io", group, 2, runner.PROFILES["smoke"], tmp_path,
                              True, 200, lambda line: None)
    assert isinstance(path, Path), path
    benches = {b.get_name(): b for b in pyperf.BenchmarkSuite.load(str(path)).get_benchmarks()}
    for name in group:
        base, impl = name.split("[")
        for n in (name, *(f"{base}_{key}[{impl}" for key in
                          ("requests_per_s", "latency_p50", "latency_p99"))):
            assert {r.get_metadata()["gort_round"] for r in benches[n].get_runs()
                    if r.values} == {0, 1}, (n, sorted(benches))
