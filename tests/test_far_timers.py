"""Timers that far out never fire, and nothing kills the timer thread (issue 11, item 2).

``math.inf`` is the natural way to say "no timeout", so every timed thing of the
timer heap (``Timer``, ``after``, ``after_func``, ``Ticker``, ``tick``,
``with_timeout``/``with_deadline``, ``_timers.add``) takes it, or anything too
far for the platform to sleep until, as "never fires" (Go's TestOverflowSleep),
with no heap entry; NaN is a ValueError before anything is armed.  The timer
thread serves on whatever a callback raises, and a fork child gets fresh timer
state.

What kills the thread is process-wide, so those checks run in a fresh
interpreter (``run_python``); the rest look at the heap entries directly.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import pytest

import gort
from gort import Chan, Ticker, Timer, _timers, atomic
from gort._timeout import FOREVER
from tests.helpers import run_python, wait_until

JOIN = 10.0
GO_BIG = (2**63 - 1) / 1e9  # Go's largest Duration, in seconds (~292 years)
FAR = (math.inf, 1e10, 1e300, 10**400, GO_BIG, FOREVER, None)


def in_heap(entry: _timers.TimerEntry) -> bool:
    with _timers._cond:
        return any(e is entry for _, _, e in _timers._heap)


def assert_never(entry: _timers.TimerEntry) -> None:
    """A never-firing entry: pending, deadline +inf, not in the heap."""
    assert entry.when == math.inf
    assert entry.state == _timers.PENDING
    assert not in_heap(entry)
    assert "never fires" in repr(entry)


# --------------------------------------------------------------------------- the kill

@pytest.mark.timeout(120)
def test_far_and_nan_timers_never_kill_the_timer_thread() -> None:
    # Before: the thread's Condition.wait(inf - now) raised OverflowError, the
    # thread died and no timer of the process fired again (NaN spun a core).
    code = """
        import math, sys, threading, time
        import gort
        from gort import _timers

        bg = gort.background()
        big = (2**63 - 1) / 1e9

        def alive(what):
            v, ok = gort.after(0.01).recv_ok(timeout=10)
            assert ok, what
            assert _timers._thread is not None and _timers._thread.is_alive(), what

        keep = []
        for far in (math.inf, 1e10, 1e300, 10**400, big, None):
            keep.append(gort.Timer(far)); alive(("Timer", far))
            keep.append(gort.after(far)); alive(("after", far))
            keep.append(gort.after_func(far, print)); alive(("after_func", far))
            keep.append(gort.Ticker(far)); alive(("Ticker", far))
            keep.append(gort.tick(far)); alive(("tick", far))
            keep.append(gort.with_timeout(bg, far)); alive(("with_timeout", far))
            keep.append(gort.with_deadline(bg, far)); alive(("with_deadline", far))
            keep.append(_timers.add(far if far is not None else math.inf, print))
            alive(("add", far))
        for bad in (math.nan, float("nan")):
            for make in (gort.Timer, gort.after, gort.Ticker, gort.tick,
                         lambda s: gort.after_func(s, print),
                         lambda s: gort.with_timeout(bg, s),
                         lambda s: gort.with_deadline(bg, s),
                         lambda s: _timers.add(s, print)):
                try:
                    make(bad)
                except ValueError:
                    pass
                else:
                    raise AssertionError(f"{make} took NaN")
                alive(("nan", make))

        # Go's TestOverflowSleep: a huge timeout never fires, a huge negative
        # one fires at once, and neither disturbs the other timers.
        r = gort.select(gort.after(big).recv_case(), gort.after(0.025).recv_case(), timeout=10)
        assert r.index == 1, r
        r = gort.select(gort.after(-big).recv_case(), gort.after(10).recv_case(), timeout=20)
        assert r.index == 0, r

        # A timer that was forever, reset to 10 ms, fires.
        t = gort.Timer(math.inf)
        assert t.reset(0.01) is True
        t.c.recv(timeout=10)
        print("ok")
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout == "ok\n"
    assert r.stderr == ""


@pytest.mark.timeout(120)
def test_the_timer_thread_survives_whatever_a_callback_raises() -> None:
    # Before: a callback's exception was reported with print(); when reporting
    # failed too (a broken sys.stderr), the exception ended the timer thread.
    code = """
        import sys, time
        import gort
        from gort import _timers

        class Broken:
            def write(self, s): raise OSError("stderr is gone")
            def flush(self): raise OSError("stderr is gone")

        ran = []
        def boom(kind):
            ran.append(kind)
            raise kind("from a timer callback")

        real = sys.stderr
        sys.stderr = Broken()
        try:
            for kind in (ValueError, SystemExit, KeyboardInterrupt, GeneratorExit):
                _timers.add(time.monotonic(), boom, kind)
            # Due later than the callbacks above, so it runs after them.
            v, ok = gort.after(0.02).recv_ok(timeout=10)
        finally:
            sys.stderr = real
        assert ok and len(ran) == 4, ran
        _timers.add(time.monotonic(), boom, RuntimeError)  # reported, to stderr
        v, ok = gort.after(0.02).recv_ok(timeout=10)
        assert ok and len(ran) == 5, ran
        assert _timers._thread.is_alive()
        print("ok")
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout == "ok\n"
    assert "RuntimeError: from a timer callback" in r.stderr
    assert "exception in a timer callback" in r.stderr


# --------------------------------------------------------------------------- no heap entry

@pytest.mark.timeout(60)
def test_timers_add_takes_no_heap_entry_for_a_far_deadline() -> None:
    before = _timers.pending()
    for far in (math.inf, 1e300, 10**400, FOREVER, time.monotonic() + FOREVER):
        e = _timers.add(far, print)
        assert_never(e)
        assert e.cancel() is True  # it was pending
        assert e.state == _timers.CANCELLED
        assert e.cancel() is False
    with pytest.raises(ValueError, match="NaN"):
        _timers.add(math.nan, print)
    with pytest.raises(TypeError):
        _timers.add("soon", print)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _timers.add(None, print)  # type: ignore[arg-type]
    # Cancelling never-firing entries does not skew the heap's accounting.
    assert _timers.pending() == before
    # -inf is in the past: it fires at once.
    fired: Chan[int] = Chan(1)
    _timers.add(-math.inf, fired.try_send, 7)
    assert fired.recv(timeout=JOIN) == 7


@pytest.mark.timeout(60)
@pytest.mark.parametrize("far", FAR, ids=repr)
def test_a_far_timer_never_fires_and_stop_and_reset_still_work(far: Any) -> None:
    t = Timer(far)
    assert_never(t._entry)
    assert "never fires" in repr(t)
    assert t.stop() is True  # it was active, as a pending timer is
    assert t.stop() is False
    assert t.reset(far) is False  # stopped: not active; armed again, forever
    assert_never(t._entry)
    assert t.reset(0.01) is True  # forever -> 10 ms: fires
    t.c.recv(timeout=JOIN)
    assert t.reset(far) is False
    assert t.c.try_recv() == (None, False)
    assert t.stop() is True


@pytest.mark.timeout(60)
def test_go_overflow_sleep() -> None:
    # Go's time/sleep_test.go TestOverflowSleep.
    big = gort.after(GO_BIG)
    r = gort.select(big.recv_case(), gort.after(0.025).recv_case(), timeout=JOIN)
    assert r.index == 1  # the huge timer did not fire; the small one did
    # (Go races it against a 1 s timer; a long one keeps a descheduled test
    # from seeing both ready.)
    r = gort.select(gort.after(-GO_BIG).recv_case(), gort.after(JOIN).recv_case(),
                    timeout=2 * JOIN)
    assert r.index == 0  # a huge negative duration fires at once
    t0 = time.monotonic()
    gort.sleep(-GO_BIG)  # returns at once
    assert time.monotonic() - t0 < JOIN


@pytest.mark.timeout(60)
def test_after_and_after_func_far_out() -> None:
    for far in FAR:
        c = gort.after(far)
        assert c.try_recv() == (None, False)
    ran = atomic.Int64()
    f = gort.after_func(math.inf, lambda: ran.add(1))
    assert_never(f._entry)
    assert f.reset(0.01) is True  # forever -> 10 ms: the function runs
    wait_until(lambda: ran.load() == 1, JOIN, "after_func reset from forever ran")
    g = gort.after_func(None, lambda: ran.add(100))
    assert g.stop() is True
    gort.after(0.02).recv(timeout=JOIN)  # orders after anything due by now
    assert ran.load() == 1


@pytest.mark.timeout(60)
def test_ticker_and_tick_far_out() -> None:
    for far in FAR:
        tk = Ticker(far)
        assert_never(tk._entry)
        assert "never ticks" in repr(tk)
        tk.reset(0.01)  # forever -> every 10 ms
        tk.c.recv(timeout=JOIN)
        tk.c.recv(timeout=JOIN)
        tk.reset(far)  # and back
        assert_never(tk._entry)
        assert tk.c.try_recv() == (None, False)
        tk.stop()
        assert tk._entry.state == _timers.CANCELLED
    c = gort.tick(math.inf)
    assert c.try_recv() == (None, False)


@pytest.mark.timeout(60)
def test_nan_is_rejected_before_anything_is_armed() -> None:
    before = _timers.pending()
    for make in (Timer, gort.after, Ticker, gort.tick,
                 lambda s: gort.after_func(s, print)):
        with pytest.raises(ValueError, match="NaN"):
            make(math.nan)
    t = Timer(600)
    with pytest.raises(ValueError, match="NaN"):
        t.reset(math.nan)
    assert in_heap(t._entry)  # the failed reset left the timer as it was
    assert t.stop() is True
    tk = Ticker(600)
    with pytest.raises(ValueError, match="NaN"):
        tk.reset(math.nan)
    assert in_heap(tk._entry)
    tk.stop()
    assert _timers.pending() == before


# --------------------------------------------------------------------------- contexts

@pytest.mark.timeout(60)
@pytest.mark.parametrize("far", FAR, ids=repr)
def test_with_timeout_far_out_is_no_deadline(far: Any) -> None:
    for ctx, cancel in (gort.with_timeout(gort.background(), far),
                        gort.with_deadline(gort.background(), far)):
        assert ctx.deadline() is None  # no deadline at all, as with_cancel
        assert ctx._timer is None  # type: ignore[attr-defined]
        assert ctx.err() is None
        cancel()
        assert type(ctx.err()) is gort.Canceled
    # Under a parent with a deadline, the child keeps the parent's.
    parent, pcancel = gort.with_timeout(gort.background(), 600)
    child, ccancel = gort.with_timeout(parent, far)
    assert child.deadline() == parent.deadline()
    pcancel()
    assert type(child.err()) is gort.Canceled
    ccancel()


@pytest.mark.timeout(60)
def test_with_timeout_and_deadline_reject_nan_and_non_numbers() -> None:
    bg = gort.background()
    with pytest.raises(ValueError, match="NaN"):
        gort.with_timeout(bg, math.nan)
    with pytest.raises(ValueError, match="NaN"):
        gort.with_deadline(bg, math.nan)
    for bad in ("1", [1], True):
        with pytest.raises(TypeError):
            gort.with_timeout(bg, bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            gort.with_deadline(bg, bad)  # type: ignore[arg-type]
    # -inf and 0 are in the past: exceeded at once.
    for past in (-math.inf, 0, -1):
        ctx, cancel = gort.with_timeout(bg, past)
        assert type(ctx.err()) is gort.DeadlineExceeded
        cancel()


# --------------------------------------------------------------------------- patterns

@pytest.mark.timeout(60)
def test_broadcaster_block_policy_with_an_infinite_timeout_waits() -> None:
    b: gort.patterns.Broadcaster[int] = gort.patterns.Broadcaster()
    with pytest.raises(ValueError, match="NaN"):
        b.subscribe(0, "block", timeout=math.nan)
    sub = b.subscribe(0, "block", timeout=math.inf)
    assert sub.timeout is None  # inf: wait forever
    pub = gort.go(b.publish, 42)
    wait_until(lambda: sub._ch.statistics().senders_waiting == 1, JOIN, "publish waiting")
    assert sub.c.recv(timeout=JOIN) == 42
    assert pub.result(timeout=JOIN) == 1
    b.close()


@pytest.mark.timeout(60)
def test_server_shutdown_with_nan_cancels_nothing() -> None:
    jobs: Chan[int] = Chan()
    srv = gort.patterns.Server(lambda _: None, jobs, 2)
    with pytest.raises(ValueError, match="NaN"):
        srv.shutdown(math.nan)
    assert srv.ctx.err() is None
    with pytest.raises(ValueError, match="NaN"):
        srv.wait(math.nan)
    assert srv.shutdown(math.inf) is True


# --------------------------------------------------------------------------- fork

@pytest.mark.timeout(120)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_child_gets_fresh_timer_state() -> None:
    # Before: the child inherited the parent's timer thread object (a thread
    # that does not exist there), so no timer ever fired in the child.
    code = """
        import os, sys, warnings
        import gort
        from gort import _timers
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads

        gort.after(0.01).recv(timeout=10)  # the timer thread runs
        pending = gort.Timer(600)
        assert _timers._thread is not None
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                assert _timers._thread is None
                assert _timers._heap == [] and _timers.pending() == 0
                assert pending._entry.state == _timers.CANCELLED  # the parent's
                v, ok = gort.after(0.01).recv_ok(timeout=10)  # a new thread serves
                assert ok
                t = gort.Timer(0.01)
                t.c.recv(timeout=10)
                os.write(w, b"child ok")
            except BaseException as e:
                os.write(w, repr(e).encode())
            finally:
                os._exit(0)
        os.close(w)
        got = os.read(r, 1000).decode()
        os.waitpid(pid, 0)
        assert got == "child ok", got
        # The parent's timers are untouched.
        assert pending._entry.state == _timers.PENDING
        assert pending.stop() is True
        gort.after(0.01).recv(timeout=10)
        print("ok")
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout == "ok\n"
