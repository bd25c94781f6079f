"""Goroutines blocked outside gort do not stall the others (Go's entersyscall and
sysmon's retake): a goroutine waiting in ``time.sleep``, a socket or any foreign
call has its processor handed to waiting work after ~10 ms, or at once inside
``gort.blocking()``; a CPU-bound goroutine keeps its processor; a goroutine whose
processor was taken waits for one at its next entry into gort.

Ordering comes from runtime state (goroutine states, ``_runtime._retakes``) and
from foreign events the test controls, never from sleeping.
"""

from __future__ import annotations

import random
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

import gort
from gort import _runtime
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(120)


class Foreign:
    """A blocking call foreign to gort that the test ends: ``wait()`` blocks in
    ``socket.recv`` until ``set()`` (a socket, not a lock: with the GIL a thread
    asleep on a futex may be waiting for the GIL itself, and is left its P)."""

    def __init__(self) -> None:
        self.a, self.b = socket.socketpair()
        self.released = False

    def wait(self, _timeout: float = 60) -> bool:
        return self.a.recv(1) == b"x"

    def set(self) -> None:
        if not self.released:
            self.released = True
            self.b.sendall(b"x" * 64)

    def is_set(self) -> bool:
        return self.released


@pytest.fixture
def release() -> Any:
    """A foreign blocking call that blocked goroutines wait in; ended at teardown."""
    f = Foreign()
    yield f
    f.set()
    f.a.close()
    f.b.close()


def test_sleepers_do_not_stall_a_new_goroutine(release: Foreign) -> None:
    gort.set_max_procs(2)
    blockers = [gort.go(release.wait, 60) for _ in range(2)]  # foreign blocking calls
    wait_until(lambda: all(g.state is gort.GState.RUNNING for g in blockers), what="blockers run")
    t0 = time.perf_counter()
    assert gort.go(lambda: 42).result(timeout=30) == 42
    latency = time.perf_counter() - t0
    # It ran while both blockers still held their calls: their Ps were handed off.
    assert not release.is_set() and not any(g.done() for g in blockers)
    assert any(g.state is gort.GState.SYSCALL for g in blockers)
    release.set()
    for g in blockers:
        assert g.result(timeout=30) is True
    assert latency < 5.0, latency  # ~15 ms on a quiet machine; generous for a loaded one


def test_the_issue_program_time_sleep() -> None:
    gort.set_max_procs(2)
    sleepers = [gort.go(time.sleep, 3.0) for _ in range(2)]
    wait_until(lambda: all(g.state is not gort.GState.RUNNABLE for g in sleepers))
    assert gort.go(lambda: 42).result(timeout=30) == 42
    assert not all(g.done() for g in sleepers), "the trivial goroutine waited for the sleepers"
    for g in sleepers:
        g.result(timeout=30)


def test_goroutines_blocked_in_socket_recv_do_not_stall_a_new_one() -> None:
    gort.set_max_procs(2)
    pairs = [socket.socketpair() for _ in range(4)]
    try:
        readers = [gort.go(a.recv, 16) for a, _ in pairs]
        wait_until(lambda: sum(g.state is gort.GState.SYSCALL for g in readers) >= 2,
                   30, "two readers handed their Ps off")
        assert gort.go(lambda: "ran").result(timeout=30) == "ran"
        assert not any(g.done() for g in readers)
        for i, (_, b) in enumerate(pairs):
            b.sendall(bytes([i]))
        assert [g.result(timeout=30) for g in readers] == [bytes([i]) for i in range(4)]
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def _spin(seconds: float, other_ran: list[bool]) -> bool:
    """Pure Python for ``seconds``, never entering gort; was the other goroutine
    run meanwhile?"""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pass
    return other_ran[0]


def test_a_cpu_bound_goroutine_keeps_its_processor() -> None:
    gort.set_max_procs(1)
    other_ran = [False]
    started = threading.Event()

    def spin() -> bool:
        started.set()
        return _spin(1.0, other_ran)

    retakes, threads = _runtime._retakes, gort.sched_statistics().threads
    spinner = gort.go(spin)
    assert started.wait(30)
    waiting = gort.go(other_ran.__setitem__, 0, True)  # queued behind the spinner
    assert spinner.result(timeout=60) is False, "the spinner lost its P"
    waiting.result(timeout=30)
    assert _runtime._retakes == retakes
    assert gort.sched_statistics().threads <= max(threads, 2)


def test_blocking_hands_the_processor_off_at_once(release: Foreign) -> None:
    gort.set_max_procs(1)
    entered = threading.Event()

    def blocked() -> str:
        with gort.blocking():
            entered.set()
            release.wait(60)
        return "back"

    retakes = _runtime._retakes
    g = gort.go(blocked)
    assert entered.wait(30)
    assert g.state is gort.GState.SYSCALL
    assert gort.go(lambda: 1).result(timeout=30) == 1
    assert _runtime._retakes == retakes, "handed off by blocking(), not by sysmon"
    release.set()
    assert g.result(timeout=30) == "back"


def test_blocking_off_the_pool_and_nested_does_nothing() -> None:
    with gort.blocking():
        with gort.blocking():
            pass

    def nested() -> str:
        with gort.blocking():
            with gort.blocking():
                time.sleep(0.001)
            assert gort.current_goroutine().state is gort.GState.SYSCALL  # type: ignore[union-attr]
        assert gort.current_goroutine().state is gort.GState.RUNNING  # type: ignore[union-attr]
        return "ok"

    assert gort.go(nested).result(timeout=30) == "ok"


def test_a_retaken_goroutine_waits_for_a_processor_at_its_next_gort_call(
        release: Foreign) -> None:
    gort.set_max_procs(1)
    stop = threading.Event()
    continued = [False]

    def blocked() -> None:
        release.wait(60)  # foreign: its P is retaken while a spinner waits
        gort.gosched()  # the next entry into gort: it must wait for a P first
        continued[0] = True

    def spinner() -> None:
        while not stop.is_set():  # CPU-bound, holds the only P once it has it
            pass

    b = gort.go(blocked)
    wait_until(lambda: b.state is gort.GState.RUNNING)
    s = gort.go(spinner)
    try:
        wait_until(lambda: s.state is gort.GState.RUNNING, 30, "the spinner got the retaken P")
        assert b.state is gort.GState.SYSCALL
        release.set()
        wait_until(lambda: b.state is gort.GState.RUNNABLE, 30, "the blocked one waits for a P")
        assert not continued[0]
    finally:
        stop.set()
    b.result(timeout=30)
    s.result(timeout=30)
    assert continued[0]


def test_many_blocked_goroutines_all_finish() -> None:
    gort.set_max_procs(2)
    done = gort.WaitGroup()
    n = 50

    def sleeper() -> None:
        time.sleep(0.05)
        done.done()

    done.add(n)
    for _ in range(n):
        gort.go(sleeper)
    assert done.wait(timeout=60)
    wait_until(lambda: gort.sched_statistics().idle_procs == 2, 30, "every P idle again")


def test_an_idle_process_costs_no_cpu() -> None:
    """After a coroutine goroutine ran, the monitor sleeps: < 0.1% of a core."""
    code = textwrap.dedent("""
        import resource, time, gort
        async def f():
            await gort.asleep(0.001)
            return 1
        assert gort.go(f).result(timeout=30) == 1
        time.sleep(0.5)  # let everything fall asleep
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.monotonic()
        time.sleep(3.0)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        print(cpu / (time.monotonic() - t0))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    share = float(out.stdout.strip())
    assert share < 0.001, f"an idle process used {share:.2%} of a core"
    assert resource.RUSAGE_SELF is not None


def test_stress_retakes_lose_no_processor() -> None:
    """Goroutines mixing foreign blocking calls, gort operations, blocking(),
    gosched and CPU bursts while max_procs changes: afterwards every processor is
    idle exactly once, none lost or duplicated."""
    rng = random.Random(1234)
    ch: gort.Chan[int] = gort.Chan(4)
    wg = gort.WaitGroup()
    n = 120

    def busy(seconds: float) -> None:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            pass

    def worker(seed: int) -> None:
        r = random.Random(seed)
        for _ in range(15):
            k = r.randrange(5)
            if k == 0:
                time.sleep(r.random() * 0.002)
            elif k == 1:
                ch.send(1)
                ch.recv()
            elif k == 2:
                with gort.blocking():
                    time.sleep(r.random() * 0.001)
            elif k == 3:
                gort.gosched()
            else:
                busy(r.random() * 0.0005)
        wg.done()

    wg.add(n)
    for _ in range(n):
        gort.go(worker, rng.randrange(1 << 30))
    for procs in (1, 3, 2, 1, 2):
        gort.set_max_procs(procs)
        time.sleep(0.01)  # not ordering: lets the mix run at this setting a while
    assert wg.wait(timeout=120)

    def consistent() -> bool:
        try:
            idle = list(_runtime._idle_p)
        except RuntimeError:  # mutated while we copied it: not quiet yet
            return False
        allp = list(_runtime._allp)
        return (len(idle) == len(allp) == gort.max_procs()
                and set(map(id, idle)) == set(map(id, allp)) and not _runtime._runq)

    wait_until(consistent, 30, "every processor idle exactly once")


def test_a_gort_wait_inside_blocking_loses_no_processor() -> None:
    gort.set_max_procs(2)

    def f() -> tuple[bool, int]:
        with gort.blocking():
            gort.sleep(0.001)  # a parking gort call inside the block
        m = _runtime._tls.m
        assert m is not None
        return m.p is not None and m.pt == [m.p], len(m.pt)

    assert gort.go(f).result(timeout=30) == (True, 1)

    async def g() -> str:
        with gort.blocking():
            await gort.asleep(0.001)  # may resume on another worker
        return "ok"

    assert gort.go(g).result(timeout=30) == "ok"
    wait_until(lambda: len(_runtime._idle_p) == len(_runtime._allp) == 2, 30,
               "every processor idle again")


def test_a_coroutine_woken_after_a_retake_is_run(release: Foreign) -> None:
    """A coroutine goroutine whose P was retaken wakes another one: it must not
    be queued on the P it lost (nobody would run it)."""
    gort.set_max_procs(1)
    ch: gort.Chan[int] = gort.Chan()
    ran = Foreign()

    async def receiver() -> None:
        await ch.arecv()
        ran.set()

    async def sender() -> bool:
        release.wait()  # foreign: its P is retaken for the goroutine below
        await ch.asend(1)  # wakes the receiver
        return ran.wait()  # foreign again: the receiver must run meanwhile

    r = gort.go(receiver)
    wait_until(lambda: r.state is gort.GState.PARKED)
    s = gort.go(sender)
    wait_until(lambda: s.state is gort.GState.RUNNING)
    assert gort.go(lambda: "x").result(timeout=30) == "x"  # ran on the retaken P
    release.set()
    try:
        assert s.result(timeout=30) is True
        r.result(timeout=30)
    finally:
        ran.set()
        ran.a.close()
        ran.b.close()
