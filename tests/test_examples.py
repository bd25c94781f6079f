"""The example programs in examples/: each runs in a fresh interpreter of the
current build (GIL setting inherited) and must print exactly what it promises.

All of them are started at once (module fixture) and each test collects its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

HELLO = """\
hello from a goroutine!
the answer, computed in a goroutine: 42
main: done
"""
PING_PONG = """\
  got ping 1
got pong 1
  got ping 2
got pong 2
  got ping 3
got pong 3
  ponger: no more pings
main: done
"""
WAITGROUP = "".join(f"worker {i} done: {i} squared is {i * i}\n" for i in range(1, 6)) + \
    "all 5 workers done\n"
ATOMIC = "ops: 50000\n"
PRODUCER_CONSUMER = "".join(f"consumed {i}\n" for i in range(1, 11)) + "total: 55\n"
WORKER_POOL = "".join(f"job {j} -> {2 * j}\n" for j in range(1, 10))
PUB_SUB = "".join(f"published news {i} to 3 subscribers\n" for i in range(1, 5)) + "".join(
    f"{name} got 4: news 1, news 2, news 3, news 4\n" for name in ("alice", "bob", "carol")) + \
    "lazy subscriber kept [0, 1], dropped 3\n"
CONTEXT = """\
handled job 1 for gopher
handled job 2 for gopher
handled job 3 for gopher
worker stopped: context canceled
gave up: context deadline exceeded
is the deadline error a TimeoutError? True
"""
FETCH_MANY = """\
1000 requests, all in flight at once, all answered
sum of the answers: 333833500 (expected 333833500)
"""
ECHO_SERVER = """\
alice got back: hello | how are you? | bye
bob got back: ping | pong
carol got back: one line only
server: listener closed after serving 3 connections
"""

EXPECTED = {
    "hello_goroutine": HELLO,
    "hello_goroutine_async": HELLO,
    "ping_pong": PING_PONG,
    "ping_pong_async": PING_PONG,
    "waitgroup_workers": WAITGROUP,
    "waitgroup_workers_async": WAITGROUP,
    "atomic_counter": ATOMIC,
    "producer_consumer": PRODUCER_CONSUMER,
    "producer_consumer_async": PRODUCER_CONSUMER,
    "worker_pool": WORKER_POOL + "worker_pool: 1/0 failed (ZeroDivisionError), "
                                 "1/1 = 1.0, 1/2 = 0.5, 1/4 = 0.25\n",
    "worker_pool_async": WORKER_POOL,
    "pub_sub": PUB_SUB,
    "pub_sub_async": PUB_SUB,
    "context_cancellation": CONTEXT,
    "context_cancellation_async": CONTEXT,
    "fetch_many": FETCH_MANY,
    "echo_server": ECHO_SERVER,
}


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, subprocess.Popen[str]]]:
    env = dict(os.environ)
    env.pop("GORT_PANIC", None)
    procs = {name: subprocess.Popen([sys.executable, str(EXAMPLES / f"{name}.py")], env=env,
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
             for name in EXPECTED}
    yield procs
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.communicate()


def test_every_example_is_tested() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example(name: str, runs: dict[str, subprocess.Popen[str]]) -> None:
    p = runs[name]
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"{name} still running after 60 s:\n{out}\n{err}")
    assert (p.returncode, err) == (0, "")
    assert out == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_has_a_main(name: str) -> None:
    src = (EXAMPLES / f"{name}.py").read_text()
    assert "\ndef main() -> None:\n" in src
    assert src.rstrip().endswith('if __name__ == "__main__":\n    main()')
