"""Interrupt-safety of every blocking operation: a real SIGINT is raised at every
line that the main thread runs inside gort during the operation (``sys.settrace``
calls ``signal.raise_signal`` there), and after each run the runtime must be
intact: the operation either happened (and the KeyboardInterrupt arrives after
it) or left no trace; no waiter is left queued, no wake-up is left pending on the
thread's parker, the next operation behaves normally and no peer hangs.

gort's SIGINT handler defers the interrupt inside protected code, so this tests
exactly what a Ctrl-C can do: lines where a real signal cannot land (because it
would be deferred) deliver it later, at the next safe point.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import gort
import gort._netpoll
import gort.net
from gort import _ki, _runtime

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                       reason="signals are delivered to the main thread"),
]

GORT_DIR = os.path.dirname(gort.__file__)


@pytest.fixture(autouse=True)
def _gort_sigint() -> Any:
    old = signal.getsignal(signal.SIGINT)
    if old is not _ki._sigint:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        assert _ki.install_sigint_handler()
    yield
    signal.signal(signal.SIGINT, old)


@dataclass
class Outcome:
    completed: bool = False  # the operation returned
    interrupted: bool = False  # a KeyboardInterrupt reached the test
    result: Any = None
    fired: bool = False  # the signal was raised during the operation
    lines: int = 0


def run_with_sigint_at(k: int, op: Callable[[], Any]) -> Outcome:
    """Run op() in this (main) thread, raising SIGINT at its k-th line inside gort."""
    out = Outcome()

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line" and not out.fired:
            out.lines += 1
            if out.lines == k:
                out.fired = True
                signal.raise_signal(signal.SIGINT)
        return local

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename.startswith(GORT_DIR):
            return local(frame, event, arg)
        return None

    try:
        sys.settrace(tracer)
        try:
            out.result = op()
            out.completed = True
        finally:
            sys.settrace(None)
        deadline = time.monotonic() + 10
        while _ki.interrupt_deferred():  # it arrives at the next safe point
            assert time.monotonic() < deadline, "a deferred interrupt never arrived"
            time.sleep(0.0005)
    except KeyboardInterrupt:
        out.interrupted = True
    return out


@dataclass
class Peer:
    """A goroutine that acts once the main thread has parked (``ready()``), or
    does nothing once the main thread is past the operation (``stop``)."""

    ready: Callable[[], bool]
    act: Callable[[], Any]
    stop: threading.Event = field(default_factory=threading.Event)
    acted: Any = None
    g: Any = None

    def start(self) -> Peer:
        def body() -> None:
            while not self.stop.is_set():
                if self.ready():
                    self.acted = self.act()
                    return
                time.sleep(0.0002)  # polling only: ordering comes from ready()
        self.g = gort.go(body)
        return self

    def finish(self) -> None:
        self.stop.set()
        assert self.g.join(10), "peer hung"
        self.g.result()


def no_pending_wake() -> None:
    """The main thread's parker holds no stray wake-up (no spurious wake later)."""
    assert _runtime.current_parker().locked(), "a wake-up is pending on the main thread"


def sweep(scenario: Callable[[int], Outcome], lines: int) -> dict[str, int]:
    """Run the scenario with the signal at every line; tally what happened."""
    tally = {"completed": 0, "interrupted_clean": 0, "late_interrupt": 0}
    for k in range(1, lines + 2):
        out = scenario(k)
        no_pending_wake()
        if out.completed and out.interrupted:
            tally["late_interrupt"] += 1
        elif out.completed:
            tally["completed"] += 1
        else:
            tally["interrupted_clean"] += 1
    assert tally["interrupted_clean"] + tally["late_interrupt"] > 0, tally
    return tally


# --------------------------------------------------------------------------- scenarios

def recv_scenario(k: int) -> Outcome:
    ch: gort.Chan[int] = gort.Chan()
    peer = Peer(lambda: ch.statistics().receivers_waiting > 0, lambda: ch.try_send(42)).start()
    out = run_with_sigint_at(k, ch.recv)
    peer.finish()
    # Delivered exactly when the receive happened: never to a dead waiter.
    assert out.completed == bool(peer.acted), (k, out, peer.acted)
    if out.completed:
        assert out.result == 42
    st = ch.statistics()
    assert st.receivers_waiting == 0 and st.senders_waiting == 0, (k, st)
    ch._check_invariants()
    assert ch.try_send(1) is False  # no receiver left behind
    return out


def send_scenario(k: int) -> Outcome:
    ch: gort.Chan[int] = gort.Chan()
    peer = Peer(lambda: ch.statistics().senders_waiting > 0, ch.try_recv).start()
    out = run_with_sigint_at(k, lambda: ch.send(7))
    peer.finish()
    got = peer.acted
    assert out.completed == (got is not None and got[1]), (k, out, got)
    if out.completed:
        assert got == (7, True)
    assert ch.try_recv() == (None, False)  # an interrupted send is never delivered later
    ch._check_invariants()
    return out


def select_scenario(k: int) -> Outcome:
    a: gort.Chan[int] = gort.Chan()
    b: gort.Chan[int] = gort.Chan()
    peer = Peer(lambda: b.statistics().receivers_waiting > 0, lambda: b.try_send(9)).start()
    out = run_with_sigint_at(k, lambda: gort.select(a.recv_case(), b.recv_case()))
    peer.finish()
    assert out.completed == bool(peer.acted), (k, out, peer.acted)
    if out.completed:
        assert tuple(out.result) == (1, 9, True)
    for ch in (a, b):
        st = ch.statistics()
        assert st.receivers_waiting == 0, (k, st)
        ch._check_invariants()
    return out


def timed_recv_scenario(k: int) -> Outcome:
    ch: gort.Chan[int] = gort.Chan()
    def op() -> str:
        try:
            ch.recv_ok(timeout=0.002)
        except TimeoutError:
            return "timed out"
        return "received"

    out = run_with_sigint_at(k, op)
    assert not out.completed or out.result == "timed out"
    assert ch.statistics().receivers_waiting == 0
    return out


def mutex_scenario(k: int) -> Outcome:
    mu = gort.Mutex()
    mu.lock()
    peer = Peer(lambda: mu.statistics().waiters > 0, mu.unlock).start()
    out = run_with_sigint_at(k, mu.lock)
    peer.finish()
    if not peer.acted and peer.acted is not None:
        pass
    if out.completed:
        assert mu.locked()
        mu.unlock()
    elif mu.locked():
        mu.unlock()  # the peer never saw a waiter: the test's own lock is still held
    assert mu.statistics().waiters == 0, (k, mu)
    assert mu.try_lock()
    mu.unlock()
    return out


def semaphore_scenario(k: int) -> Outcome:
    sem = gort.Semaphore(2)
    sem.acquire(2)
    peer = Peer(lambda: sem.statistics().waiters > 0, lambda: sem.release(2)).start()
    out = run_with_sigint_at(k, lambda: sem.acquire(1))
    peer.finish()
    held = sem.statistics().held
    if peer.acted is None and not peer.g.result() and held == 2:
        sem.release(2)  # the peer never acted
        held = 0
    assert held == (1 if out.completed else 0), (k, out, sem)
    if out.completed:
        sem.release(1)
    assert sem.statistics().waiters == 0
    assert sem.try_acquire(2)
    sem.release(2)
    return out


def waitgroup_scenario(k: int) -> Outcome:
    wg = gort.WaitGroup()
    wg.add(1)
    peer = Peer(lambda: wg._waiters.live() > 0, wg.done).start()
    out = run_with_sigint_at(k, wg.wait)
    peer.finish()
    if out.completed:
        assert out.result is True and wg.count == 0
    if wg.count:
        wg.done()
    assert wg._waiters.live() == 0
    wg.add(1)
    assert wg.wait(timeout=0.001) is False  # no spurious wake-up
    wg.done()
    return out


def cond_scenario(k: int) -> Outcome:
    mu = gort.Mutex()
    cond = gort.Cond(mu)

    def signal_it() -> bool:
        with mu:
            cond.signal()
        return True

    mu.lock()
    peer = Peer(lambda: cond._waiters.live() > 0, signal_it).start()
    out = run_with_sigint_at(k, cond.wait)
    assert mu.locked(), "Cond.wait must return (or raise) with L held"
    mu.unlock()  # first: a peer that saw the waiter may be waiting for L to signal
    peer.finish()
    assert cond._waiters.live() == 0
    return out


def join_scenario(k: int) -> Outcome:
    release: gort.Chan[None] = gort.Chan()
    g = gort.go(release.recv_ok)
    peer = Peer(lambda: g._joiners is not None and g._joiners.live() > 0, release.close).start()
    out = run_with_sigint_at(k, g.join)
    peer.finish()
    if not release.closed:
        release.close()
    assert g.join(10)
    if out.completed:
        assert out.result is True
    assert g._joiners is None or g._joiners.live() == 0
    return out


def rwmutex_writer_scenario(k: int) -> Outcome:
    rw = gort.RWMutex()
    rw.rlock()
    peer = Peer(lambda: rw.statistics().writers_waiting > 0, rw.runlock).start()
    out = run_with_sigint_at(k, rw.lock)
    peer.finish()
    st = rw.statistics()
    if out.completed:
        assert st.writer
        rw.unlock()
    elif st.readers:
        rw.runlock()
    assert rw.statistics() == gort.RWMutexStatistics(0, False, 0, 0), (k, rw)
    return out


def net_recv_scenario(k: int) -> Outcome:
    a, b = socket.socketpair()
    conn = gort.net.Conn.__new__(gort.net.Conn)  # a Conn over one end of a socketpair
    _conn_over(conn, a)
    try:
        peer = Peer(lambda: conn._pd.rq.live() > 0, lambda: b.send(b"xy")).start()
        out = run_with_sigint_at(k, lambda: conn.recv(1))
        peer.finish()
        assert conn._pd.rq.live() == 0, (k, conn._pd.rq)
        # Exactly once: the byte received is not lost, the rest is still there.
        rest = b"" if peer.acted is None else conn.recv(2, timeout=10)
        got = (out.result if out.completed else b"") + rest
        assert got == (b"xy" if peer.acted else b""), (k, out, got)
        return out
    finally:
        conn.close()
        b.close()


def _conn_over(conn: Any, sock: socket.socket) -> None:
    """Conn.__init__ for a socket that is not TCP (no TCP_NODELAY, no peer name)."""
    sock.setblocking(False)
    conn._sock = sock
    conn._pd = gort._netpoll.poll_desc(sock, fresh=True)
    conn.local_addr = conn.remote_addr = ()


SCENARIOS = {
    "recv": recv_scenario,
    "send": send_scenario,
    "select": select_scenario,
    "timed_recv": timed_recv_scenario,
    "mutex": mutex_scenario,
    "semaphore": semaphore_scenario,
    "waitgroup": waitgroup_scenario,
    "cond": cond_scenario,
    "join": join_scenario,
    "rwmutex": rwmutex_writer_scenario,
    "net_recv": net_recv_scenario,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_sigint_at_every_line(name: str) -> None:
    scenario = SCENARIOS[name]
    # The number of lines varies with timing (parked or not); cover the longest.
    lines = max(scenario(10**9).lines for _ in range(3))
    lines = max(lines, 40)
    tally = sweep(scenario, lines * 2)
    assert sum(tally.values()) >= lines


def test_interrupt_while_parked_removes_the_waiter() -> None:
    """Ctrl-C while the main thread is blocked (the common case, no tracing)."""
    ch: gort.Chan[int] = gort.Chan()

    def interrupter() -> None:
        deadline = time.monotonic() + 10
        while ch.statistics().receivers_waiting == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]

    t = threading.Thread(target=interrupter)
    t.start()
    with pytest.raises(KeyboardInterrupt):
        ch.recv()
    t.join()
    assert ch.statistics().receivers_waiting == 0
    no_pending_wake()
    g = gort.go(ch.send, 5)
    assert ch.recv(timeout=10) == 5  # the next value is not lost
    g.result(10)


def _shielded() -> int:
    signal.raise_signal(signal.SIGINT)  # lands in protected code: deferred
    return 1


_ki.protect(_shielded)


def test_a_resent_signal_never_outlives_its_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    """The resender is slow to send (preempted between deciding and sending) and
    the handler is paused at each of its lines in turn: once the deferred
    interrupt is delivered, a new Ctrl-C must raise at once, and nothing may
    arrive afterwards (a stale re-sent signal would be a second KeyboardInterrupt
    where there was one Ctrl-C, and would swallow the new one)."""
    real_kill = signal.pthread_kill

    def slow_kill(ident: int, signum: int) -> None:
        time.sleep(0.01)
        real_kill(ident, signum)

    monkeypatch.setattr(signal, "pthread_kill", slow_kill)
    handler = _ki._sigint.__code__
    for k in range(1, 25):
        seen = 0

        def tracer(frame: Any, event: str, arg: Any, k: int = k) -> Any:
            nonlocal seen
            if frame.f_code is handler and event == "line":
                seen += 1
                if seen == k:
                    time.sleep(0.003)  # the resender runs meanwhile
            return tracer if frame.f_code is handler else None

        delivered = False
        sys.settrace(tracer)
        try:
            assert _shielded() == 1
            deadline = time.monotonic() + 10
            while _ki.interrupt_deferred():
                assert time.monotonic() < deadline, "a deferred interrupt never arrived"
                time.sleep(0.0005)
        except KeyboardInterrupt:
            delivered = True
        finally:
            sys.settrace(None)
        assert delivered and not _ki.interrupt_deferred(), k
        with pytest.raises(KeyboardInterrupt):  # a new Ctrl-C is not taken for ours
            signal.raise_signal(signal.SIGINT)
        quiet_until = time.monotonic() + 0.03
        while time.monotonic() < quiet_until:  # and nothing of ours is still coming
            time.sleep(0.001)
        if seen < k:
            break  # every line of the handler had its turn


@pytest.mark.parametrize("t", [math.inf, 1e10, 10**400])
def test_infinite_timeouts_mean_forever(t: float) -> None:
    ch: gort.Chan[int] = gort.Chan()
    g = gort.go(ch.recv, timeout=t)
    gort.go(lambda: None).result(10)
    deadline = time.monotonic() + 10
    while ch.statistics().receivers_waiting == 0:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    ch.send(3)
    assert g.result(10) == 3
    mu = gort.Mutex()
    assert gort.Semaphore(1).acquire(timeout=t)
    wg = gort.WaitGroup()
    assert wg.wait(timeout=t)
    with mu:
        pass


@pytest.mark.parametrize("op", ["recv", "send", "select", "wait", "acquire", "join"])
def test_nan_timeout_is_rejected_before_queuing(op: str) -> None:
    ch: gort.Chan[int] = gort.Chan()
    wg = gort.WaitGroup()
    wg.add(1)
    sem = gort.Semaphore(1)
    sem.acquire()
    blocker: gort.Chan[None] = gort.Chan()
    g = gort.go(blocker.recv_ok)
    calls: dict[str, Callable[[], Any]] = {
        "recv": lambda: ch.recv(timeout=math.nan),
        "send": lambda: ch.send(1, timeout=math.nan),
        "select": lambda: gort.select(ch.recv_case(), gort.Chan[int]().recv_case(),
                                      timeout=math.nan),
        "wait": lambda: wg.wait(timeout=math.nan),
        "acquire": lambda: sem.acquire(timeout=math.nan),
        "join": lambda: g.join(timeout=math.nan),
    }
    with pytest.raises(ValueError, match="NaN"):
        calls[op]()
    st = ch.statistics()
    assert st.receivers_waiting == st.senders_waiting == 0
    assert wg._waiters.live() == 0 and sem.statistics().waiters == 0
    blocker.close()
    g.result(10)
    no_pending_wake()


def test_recursion_limit_leaves_nothing_behind() -> None:
    """A RecursionError near the limit inside a blocking call fails before anything
    is queued (or after the operation), at every depth."""
    ch: gort.Chan[int] = gort.Chan()

    def dive(depth: int) -> None:
        if depth:
            dive(depth - 1)
            return
        try:
            ch.recv(timeout=0.0005)
        except (RecursionError, TimeoutError):
            pass
        st = ch.statistics()
        assert st.receivers_waiting == 0, st

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        base = len(_stack())
        for extra in range(0, 200 - base):
            try:
                dive(extra)
            except RecursionError:
                break
    finally:
        sys.setrecursionlimit(limit)
    assert ch.statistics().receivers_waiting == 0
    g = gort.go(ch.send, 1)
    assert ch.recv(timeout=10) == 1
    g.result(10)
    no_pending_wake()


def _stack() -> list[Any]:
    f: Any = sys._getframe()
    out = []
    while f is not None:
        out.append(f)
        f = f.f_back
    return out


@pytest.mark.parametrize("bad", ["1", b"1", True, object()])
def test_a_timeout_that_is_not_a_number_is_a_type_error(bad: Any) -> None:
    ch: gort.Chan[int] = gort.Chan()
    with pytest.raises(TypeError, match=r"^timeout must be a number or None, got "):
        ch.recv(timeout=bad)
    assert ch.statistics().receivers_waiting == 0


def test_recursion_limit_in_a_coroutine_goroutine_loses_nothing() -> None:
    """Near the recursion limit a coroutine goroutine's receive either fails before
    queuing or receives: a sender's values arrive exactly once and in order."""
    ch: gort.Chan[int] = gort.Chan()
    got: list[int] = []
    failures = [0]

    async def dive(depth: int) -> None:
        if depth:
            await dive(depth - 1)
            return
        try:
            got.append(await ch.arecv())
        except RecursionError:
            failures[0] += 1

    async def main() -> None:
        for extra in range(300):
            try:
                await dive(extra)
            except RecursionError:
                failures[0] += 1

    def sender() -> None:
        i = 0
        while True:
            try:
                ch.send(i)
            except gort.ChanClosed:
                return
            i += 1

    s = gort.go(sender)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(120)
    try:
        gort.go(main).result(60)
    finally:
        sys.setrecursionlimit(limit)
    assert failures[0] > 0  # the limit was reached
    assert got == list(range(len(got)))  # nothing lost to a dead waiter
    ch.close()
    s.result(10)
    assert ch.statistics().receivers_waiting == 0
