"""Shared test helpers.  Tests order goroutines by the runtime's own state, never
by sleeping: ``wait_until`` polls a predicate on that state (channel waiter
counts, goroutine states, WaitGroup counters) with a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import gort
from gort import _runtime, atomic

BUILD = os.environ.get("GORT_BUILD", "")
GIL_OFF = gort.free_threading()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``pred`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.0001
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or pred}")
        time.sleep(delay)  # polling interval only: ordering comes from pred
        delay = min(delay * 2, 0.01)


def parked_goroutines() -> int:
    return sum(1 for g in _runtime.live_goroutines() if g.state is gort.GState.PARKED)


def wait_parked(n: int, timeout: float = 10.0) -> None:
    """Wait until at least ``n`` goroutines are parked in gort operations."""
    wait_until(lambda: parked_goroutines() >= n, timeout, f"{n} parked goroutines")


def wait_recv_waiting(ch: gort.Chan[Any], n: int, timeout: float = 10.0) -> None:
    wait_until(lambda: ch.statistics().receivers_waiting >= n, timeout,
               f"{n} receivers waiting on {ch!r}")


def wait_send_waiting(ch: gort.Chan[Any], n: int, timeout: float = 10.0) -> None:
    wait_until(lambda: ch.statistics().senders_waiting >= n, timeout,
               f"{n} senders waiting on {ch!r}")


def run_concurrently(fn: Callable[[int], Any], n: int, timeout: float = 60.0) -> list[Any]:
    """Run fn(0..n-1) on n plain threads released together; re-raise any error."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            pytest.fail(f"run_concurrently: a thread did not finish within {timeout}s")
    if errors:
        raise errors[0]
    return results


class Peak:
    """Counts goroutines inside a region and remembers the most seen at once."""

    def __init__(self) -> None:
        self.inside = atomic.Int64()
        self.peak = atomic.Int64()

    def enter(self) -> None:
        n = self.inside.add(1)
        while True:
            m = self.peak.load()
            if n <= m or self.peak.compare_and_swap(m, n):
                return

    def leave(self) -> None:
        self.inside.add(-1)


def run_python(code: str, env: dict[str, str | None] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of the same build (GIL setting inherited).

    ``env`` entries override the environment; a None value removes the variable.
    """
    full_env = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            full_env.pop(k, None)
        else:
            full_env[k] = v
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def spin(n: int = 1_000_000) -> int:
    """CPU work that never calls into gort."""
    return sum(range(n))
