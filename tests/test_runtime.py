"""The runtime: goroutines, their handles, the scheduler's processor limit,
exception reporting and interpreter exit."""

from __future__ import annotations

import contextvars
import functools
import gc
import subprocess
import sys
import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any

import pytest

import gort
from gort import Chan, ExceptHookArgs, Goroutine, GState, SchedStatistics, _runtime, atomic
from tests.helpers import Peak, run_python, spin, wait_recv_waiting, wait_until

JOIN = 10.0


def wait_parked(gs: list[Goroutine[Any]], timeout: float = 10.0) -> None:
    wait_until(lambda: all(g.state is GState.PARKED for g in gs), timeout,
               f"{len(gs)} goroutines parked")


# --------------------------------------------------------------------------- go and handles

def test_go_returns_at_once() -> None:
    gate: Chan[int] = Chan()
    g = gort.go(gate.recv)
    assert isinstance(g, Goroutine)
    assert not g.done()
    wait_parked([g])
    assert not g.done()
    assert g.join(timeout=0.02) is False
    gate.send(5, timeout=JOIN)
    assert g.join(timeout=JOIN) is True
    assert g.done()
    assert g.result() == 5


def test_go_passes_args_and_kwargs() -> None:
    def f(a: int, b: int, *, c: int = 0) -> tuple[int, int, int]:
        return a, b, c

    assert gort.go(f, 1, 2, c=3).result(timeout=JOIN) == (1, 2, 3)
    # ``fn`` is positional-only: a keyword named fn goes to the goroutine.
    assert gort.go(lambda **kw: kw, fn=1).result(timeout=JOIN) == {"fn": 1}


def test_go_needs_a_callable() -> None:
    with pytest.raises(TypeError, match=r"^go\(\) needs a callable, got int$"):
        gort.go(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^go\(\) needs a callable, got NoneType$"):
        gort.go(None)  # type: ignore[arg-type]


def test_ids_are_unique_and_increasing() -> None:
    gs = [gort.go(lambda: None) for _ in range(20)]
    ids = [g.id for g in gs]
    assert ids == sorted(ids)
    assert len(set(ids)) == 20
    for g in gs:
        g.result(timeout=JOIN)


def test_names() -> None:
    def work() -> None:
        pass

    class Callable_:
        def __call__(self) -> None:
            pass

        def __repr__(self) -> str:
            return "<callable object>"

    assert gort.go(work).name == "test_names.<locals>.work"
    assert gort.go(lambda: None).name == "test_names.<locals>.<lambda>"
    assert gort.go(Callable_()).name == "<callable object>"
    p = functools.partial(work)
    assert gort.go(p).name == repr(p)
    assert gort.go(spin, 1).name == "spin"


def test_state_and_repr() -> None:
    gate: Chan[None] = Chan()

    def blocked() -> None:
        gate.recv_ok()

    g = gort.go(blocked)
    wait_parked([g])
    assert g.state is GState.PARKED
    assert repr(g) == f"<Goroutine {g.id} test_state_and_repr.<locals>.blocked parked>"
    gate.close()
    assert g.join(timeout=JOIN)
    assert g.state.value == "done"
    assert repr(g) == f"<Goroutine {g.id} test_state_and_repr.<locals>.blocked done>"

    def fail() -> None:
        raise KeyError("k")

    f = gort.go(fail)
    assert f.join(timeout=JOIN)
    assert repr(f) == f"<Goroutine {f.id} test_state_and_repr.<locals>.fail done raised KeyError>"
    assert isinstance(f.exception(), KeyError)


def test_state_is_running_while_running() -> None:
    seen: list[GState] = []

    def me() -> None:
        g = gort.current_goroutine()
        assert g is not None
        seen.append(g.state)

    gort.go(me).result(timeout=JOIN)
    assert seen == [GState.RUNNING]


def test_current_goroutine() -> None:
    assert gort.current_goroutine() is None  # the main thread is not a goroutine
    box: list[Any] = []
    g = gort.go(lambda: box.append(gort.current_goroutine()))
    g.result(timeout=JOIN)
    assert box == [g]


def test_goroutines_spawn_and_join_goroutines() -> None:
    def fib(n: int) -> int:
        if n < 2:
            return n
        a = gort.go(fib, n - 1)
        b = gort.go(fib, n - 2)
        return a.result(timeout=JOIN) + b.result(timeout=JOIN)

    assert gort.go(fib, 10).result(timeout=30) == 55


def test_result_re_raises_with_the_goroutines_traceback() -> None:
    def inner() -> None:
        raise ValueError("deep failure")

    def outer() -> None:
        inner()

    g = gort.go(outer)
    with pytest.raises(ValueError, match=r"^deep failure$") as ei:
        g.result(timeout=JOIN)
    names = [frame.name for frame in traceback.extract_tb(ei.value.__traceback__)]
    assert "inner" in names and "outer" in names
    assert names.index("outer") < names.index("inner")
    assert names[-1] == "inner"  # the raising frame is the innermost one
    assert g.exception() is ei.value


def test_result_re_raises_base_exceptions() -> None:
    g = gort.go(sys.exit, 3)
    with pytest.raises(SystemExit) as ei:
        g.result(timeout=JOIN)
    assert ei.value.code == 3


def test_exception_returns_none_on_success() -> None:
    g = gort.go(lambda: 1)
    assert g.exception(timeout=JOIN) is None
    assert g.result() == 1


def test_result_and_exception_timeout() -> None:
    gate: Chan[None] = Chan()
    g = gort.go(gate.recv_ok)
    wait_parked([g])
    with pytest.raises(TimeoutError, match=rf"^goroutine {g.id} did not finish within 0.02 s$"):
        g.result(timeout=0.02)
    with pytest.raises(TimeoutError, match=rf"^goroutine {g.id} did not finish within 0 s$"):
        g.exception(timeout=0)
    assert not g.done()
    gate.close()
    assert g.result(timeout=JOIN) == (None, False)


def test_many_joiners() -> None:
    gate: Chan[None] = Chan()

    def slow() -> str:
        gate.recv_ok()
        return "finished"

    target = gort.go(slow)
    joiners = [gort.go(target.result) for _ in range(5)]
    wait_parked(joiners)
    gate.close()
    assert [j.result(timeout=JOIN) for j in joiners] == ["finished"] * 5


def test_join_timeout_then_join_again() -> None:
    gate: Chan[None] = Chan()
    g = gort.go(gate.recv_ok)
    for _ in range(3):
        assert g.join(timeout=0.005) is False
    gate.close()
    assert g.join(timeout=JOIN) is True
    assert g.join(timeout=0) is True


# --------------------------------------------------------------------------- excepthook

def _collect_until_gone(ref: weakref.ref[Any]) -> None:
    def gone() -> bool:
        gc.collect()
        return ref() is None

    wait_until(gone, what="the goroutine handle to be collected")


def _failing(exc: BaseException) -> Callable[[], None]:
    def raiser() -> None:
        raise exc

    return raiser


def test_unretrieved_exception_reported_when_handle_dropped(
        hook_calls: list[ExceptHookArgs]) -> None:
    g = gort.go(_failing(ValueError("never looked at")))
    assert g.join(timeout=JOIN)
    gid, name = g.id, g.name
    ref = weakref.ref(g)
    del g
    _collect_until_gone(ref)
    wait_until(lambda: len(hook_calls) == 1, what="one excepthook call")
    args = hook_calls[0]
    assert isinstance(args, ExceptHookArgs)
    assert args.exc_type is ValueError
    assert isinstance(args.exc_value, ValueError)
    assert str(args.exc_value) == "never looked at"
    assert args.exc_traceback is args.exc_value.__traceback__
    assert traceback.extract_tb(args.exc_traceback)[-1].name == "raiser"
    assert args.goroutine is not None
    assert (args.goroutine.id, args.goroutine.name) == (gid, name)


def _retrieve_with_result(g: Goroutine[Any]) -> None:
    try:
        g.result(timeout=JOIN)
    except ValueError:
        pass


@pytest.mark.parametrize("how", ["result", "exception"])
def test_retrieved_exception_is_not_reported(hook_calls: list[ExceptHookArgs],
                                             how: str) -> None:
    g = gort.go(_failing(ValueError("looked at")))
    if how == "result":
        _retrieve_with_result(g)
    else:
        assert isinstance(g.exception(timeout=JOIN), ValueError)
    ref = weakref.ref(g)
    del g
    _collect_until_gone(ref)  # __del__ has run
    assert hook_calls == []


def test_successful_goroutine_is_not_reported(hook_calls: list[ExceptHookArgs]) -> None:
    g = gort.go(lambda: 1)
    assert g.join(timeout=JOIN)
    ref = weakref.ref(g)
    del g
    _collect_until_gone(ref)
    assert hook_calls == []


def test_default_excepthook_format(capsys: pytest.CaptureFixture[str]) -> None:
    g = gort.go(_failing(RuntimeError("shown")))
    exc = g.exception(timeout=JOIN)
    assert exc is not None
    gort.excepthook(ExceptHookArgs(type(exc), exc, exc.__traceback__, g))
    err = capsys.readouterr().err
    assert err.startswith(f"Exception in goroutine {g.id} ({g.name}), never retrieved:\n"
                          "Traceback (most recent call last):\n")
    assert 'in raiser\n' in err
    assert err.endswith("RuntimeError: shown\n")


def test_failing_excepthook_falls_back_to_the_default(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken_hook(args: ExceptHookArgs) -> None:
        raise OSError("hook is broken")

    monkeypatch.setattr(gort, "excepthook", broken_hook)
    g = gort.go(_failing(LookupError("still reported")))
    assert g.join(timeout=JOIN)
    gid = g.id
    ref = weakref.ref(g)
    del g
    _collect_until_gone(ref)
    err = capsys.readouterr().err
    assert f"Exception in goroutine {gid} (" in err
    assert "LookupError: still reported" in err
    assert "hook is broken" not in err


# --------------------------------------------------------------------------- contextvars

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def test_goroutine_runs_in_a_copy_of_the_spawners_context() -> None:
    token = VAR.set("spawner")
    try:
        gate: Chan[None] = Chan()

        def child() -> tuple[str, str]:
            seen = VAR.get()
            gate.recv_ok()
            VAR.set("child")  # does not leak out
            return seen, VAR.get()

        g = gort.go(child)
        VAR.set("changed after go")  # the copy was taken at go() time
        wait_parked([g])
        gate.close()
        assert g.result(timeout=JOIN) == ("spawner", "child")
        assert VAR.get() == "changed after go"
    finally:
        VAR.reset(token)


def test_sibling_goroutines_have_separate_contexts() -> None:
    def child(name: str) -> str:
        VAR.set(name)
        gort.gosched()
        return VAR.get()

    gs = [gort.go(child, f"g{i}") for i in range(8)]
    assert [g.result(timeout=JOIN) for g in gs] == [f"g{i}" for i in range(8)]
    assert VAR.get() == "unset"


def test_nested_goroutine_inherits_from_its_goroutine_parent() -> None:
    def parent() -> str:
        VAR.set("parent")
        return gort.go(VAR.get).result(timeout=JOIN)

    assert gort.go(parent).result(timeout=JOIN) == "parent"


# --------------------------------------------------------------------------- procs

def test_free_threading_matches_the_interpreter() -> None:
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    expected = is_gil_enabled is not None and not is_gil_enabled()
    assert gort.free_threading() is expected


def test_max_procs_and_set_max_procs() -> None:
    before = gort.max_procs()
    assert isinstance(before, int) and before >= 1
    assert gort.set_max_procs(3) == before
    assert gort.max_procs() == 3
    assert gort.set_max_procs(1) == 3
    assert gort.max_procs() == 1
    assert gort.set_max_procs(before) == 1
    wait_until(lambda: gort.sched_statistics().idle_procs == before,
               what="all processors idle again")


def test_set_max_procs_errors() -> None:
    before = gort.max_procs()
    with pytest.raises(TypeError, match=r"^max_procs must be an int, got str$"):
        gort.set_max_procs("2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^max_procs must be an int, got bool$"):
        gort.set_max_procs(True)
    with pytest.raises(TypeError, match=r"^max_procs must be an int, got float$"):
        gort.set_max_procs(2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^max_procs must be >= 1, got 0$"):
        gort.set_max_procs(0)
    with pytest.raises(ValueError, match=r"^max_procs must be >= 1, got -3$"):
        gort.set_max_procs(-3)
    assert gort.max_procs() == before


def _peak_running(n: int, limit: int) -> int:
    """Release n CPU-bound goroutines together; the most that ran at once.

    Each spins (never calling into gort) until more than ``limit`` are inside
    at once or 0.1 s has passed, so a broken limit shows up however fast the
    machine is, and a kept one is reached unless the OS starves a thread.
    """
    peak = Peak()
    gate: Chan[None] = Chan()

    def work() -> None:
        gate.recv_ok()
        peak.enter()
        deadline = time.monotonic() + 0.1
        while peak.peak.load() <= limit and time.monotonic() < deadline:
            pass
        peak.leave()

    gs = [gort.go(work) for _ in range(n)]
    wait_recv_waiting(gate, n)
    gate.close()
    for g in gs:
        g.result(timeout=60)
    return peak.peak.load()


def test_max_procs_bounds_how_many_goroutines_run_at_once() -> None:
    gort.set_max_procs(2)
    assert _peak_running(6, limit=2) == 2
    gort.set_max_procs(1)
    assert _peak_running(3, limit=1) == 1
    # The measurement can see more: with 6 processors, more than 2 overlap.
    gort.set_max_procs(6)
    assert _peak_running(6, limit=2) > 2


def test_raising_max_procs_starts_queued_goroutines() -> None:
    gort.set_max_procs(1)
    started = atomic.Bool()
    flag = atomic.Bool()

    def hog() -> bool:
        # Holds the only processor: never calls into gort.
        started.store(True)
        deadline = time.monotonic() + JOIN
        while not flag.load():
            if time.monotonic() > deadline:
                return False
        return True

    h = gort.go(hog)
    wait_until(started.load, what="the hog to run")
    setter = gort.go(flag.store, True)
    assert setter.state is GState.RUNNABLE
    assert gort.sched_statistics().runnable >= 1
    assert not setter.done()
    gort.set_max_procs(2)
    assert setter.join(timeout=JOIN)
    assert h.result(timeout=JOIN + 5) is True


def test_lowering_max_procs_while_processors_are_held() -> None:
    # Lowering the count below the number of busy processors destroys the
    # surplus as the busy goroutines give theirs back.
    gort.set_max_procs(2)
    release = atomic.Bool()
    running = atomic.Int64()

    def hog() -> bool:
        running.add(1)
        deadline = time.monotonic() + JOIN
        while not release.load():
            if time.monotonic() > deadline:
                return False
        return True

    hogs = [gort.go(hog) for _ in range(2)]
    wait_until(lambda: running.load() == 2, what="two hogs holding both processors")
    assert gort.sched_statistics().idle_procs == 0
    assert gort.set_max_procs(1) == 2
    release.store(True)
    assert [h.result(timeout=JOIN + 5) for h in hogs] == [True, True]
    wait_until(lambda: gort.sched_statistics().idle_procs == 1, what="one idle processor")
    idle_while_running = gort.go(lambda: gort.sched_statistics().idle_procs).result(timeout=JOIN)
    assert idle_while_running == 0  # the one remaining P is the one running us
    assert gort.set_max_procs(3) == 1
    wait_until(lambda: gort.sched_statistics().idle_procs == 3, what="three idle processors")


def test_a_blocked_goroutine_gives_its_processor_away() -> None:
    gort.set_max_procs(1)
    gate: Chan[int] = Chan()
    blocked = []
    for i in range(5):
        # Each of these can only start if the previous one gave its P away.
        blocked.append(gort.go(gate.recv))
        wait_parked(blocked)
        assert len(blocked) == i + 1
    assert gort.go(spin, 1000).result(timeout=JOIN) == sum(range(1000))
    for i in range(5):
        gate.send(i, timeout=JOIN)
    assert sorted(g.result(timeout=JOIN) for g in blocked) == list(range(5))


@pytest.fixture
def fast_retire(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the extra idle workers a test creates retire after 0.2 s instead of 30 s.

    A test that leaves thousands of idle worker threads behind makes interpreter
    exit slow (seconds per thousand threads) and, on 3.13t, prone to hang: see
    ``test_exit_after_many_goroutines_does_not_hang``.
    """
    monkeypatch.setattr(_runtime, "_IDLE_RETIRE", 0.2)


def wait_threads_retired(limit: int) -> None:
    wait_until(lambda: gort.sched_statistics().threads <= limit, 30,
               f"worker threads to retire down to {limit}")


@pytest.mark.timeout(120)
def test_5000_blocked_goroutines_neither_deadlock_nor_starve_others(fast_retire: None) -> None:
    n = 5000
    threads_before = gort.sched_statistics().threads
    ch: Chan[int] = Chan()
    gs = [gort.go(ch.recv) for _ in range(n)]
    wait_recv_waiting(ch, n, timeout=90)
    # Every blocked goroutine holds a thread of its own.
    assert gort.sched_statistics().threads >= n
    # Everything is blocked on one channel; other goroutines still run.
    others = [gort.go(spin, 10_000) for _ in range(20)]
    assert [g.result(timeout=30) for g in others] == [sum(range(10_000))] * 20
    assert gort.sched_statistics().goroutines >= n
    for i in range(n):
        ch.send(i, timeout=30)
    wait_until(lambda: all(g.done() for g in gs), 90, f"{n} released goroutines to finish")
    got = [g.result() for g in gs]
    assert sorted(got) == list(range(n))
    assert ch.statistics().receivers_waiting == 0
    # The idle threads beyond 2 * max_procs retire.
    wait_threads_retired(threads_before + 2 * gort.max_procs())


def test_goroutine_waiting_for_one_spawned_after_100_blocked_ones_completes(
        fast_retire: None) -> None:
    gort.set_max_procs(2)
    threads_before = gort.sched_statistics().threads
    link: Chan[int] = Chan()
    handles: Chan[Goroutine[int]] = Chan(1)

    def a() -> int:
        b = handles.recv()
        return link.recv() + b.result(timeout=JOIN)

    def b() -> int:
        link.send(1)
        return 2

    ga = gort.go(a)
    gate: Chan[None] = Chan()
    blocked = [gort.go(gate.recv_ok) for _ in range(100)]
    wait_recv_waiting(gate, 100)
    gb = gort.go(b)
    handles.send(gb)
    assert ga.result(timeout=JOIN) == 3
    assert gb.result(timeout=JOIN) == 2
    gate.close()
    assert all(g.result(timeout=JOIN) == (None, False) for g in blocked)
    wait_threads_retired(threads_before + 2 * gort.max_procs())


def test_gosched_off_the_pool_returns() -> None:
    gort.gosched()  # the main thread holds no processor: nothing to yield


def test_gosched_lets_a_queued_goroutine_run_first() -> None:
    gort.set_max_procs(1)
    log: list[str] = []

    def a() -> None:
        b = gort.go(log.append, "b")  # queued: a holds the only processor
        assert b.state is GState.RUNNABLE
        gort.gosched()
        log.append("a")

    gort.go(a).result(timeout=JOIN)
    assert log == ["b", "a"]


def test_gosched_ping_pong_on_one_processor() -> None:
    gort.set_max_procs(1)
    turn = atomic.Int64()

    def player(me: int) -> int:
        deadline = time.monotonic() + JOIN
        for _ in range(100):
            while turn.load() % 2 != me:
                if time.monotonic() > deadline:
                    return -1  # the other player never got the processor
                gort.gosched()
            turn.add(1)
        return me

    gs = [gort.go(player, 0), gort.go(player, 1)]
    assert [g.result(timeout=30) for g in gs] == [0, 1]
    assert turn.load() == 200


def test_sched_statistics() -> None:
    gort.set_max_procs(3)
    s = gort.sched_statistics()
    assert isinstance(s, SchedStatistics)
    assert s.max_procs == 3
    with pytest.raises(AttributeError):
        s.threads = 0  # type: ignore[misc]  # frozen
    gate: Chan[None] = Chan()
    gs = [gort.go(gate.recv_ok) for _ in range(4)]
    wait_recv_waiting(gate, 4)
    wait_until(lambda: gort.sched_statistics().idle_procs == 3, what="3 idle processors")
    s = gort.sched_statistics()
    assert s.goroutines >= 4  # every live goroutine, blocked ones included
    assert s.threads >= 4  # a blocked goroutine occupies its thread
    assert 0 <= s.idle_threads <= s.threads
    assert s.runnable >= 0
    gate.close()
    for g in gs:
        g.result(timeout=JOIN)
    wait_until(lambda: gort.sched_statistics().idle_threads >= 4, what="4 idle threads")


# --------------------------------------------------------------------------- subprocesses

def test_gort_maxprocs_env_var() -> None:
    code = """
        import gort
        s = gort.sched_statistics()
        print(gort.max_procs(), s.max_procs, s.idle_procs)
    """
    r = run_python(code, {"GORT_MAXPROCS": "3"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["3", "3", "3"]
    r = run_python("import os, gort; print(gort.max_procs(), os.process_cpu_count())",
                   {"GORT_MAXPROCS": None})
    assert r.returncode == 0, r.stderr
    procs, cpus = r.stdout.split()
    assert procs == cpus


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_gort_maxprocs_env_var_invalid(value: str) -> None:
    r = run_python("import gort", {"GORT_MAXPROCS": value})
    assert r.returncode == 1
    assert r.stderr.rstrip().endswith(
        f"ValueError: GORT_MAXPROCS must be a positive int, got {value!r}")


def test_gort_maxprocs_env_var_limits_parallelism() -> None:
    code = """
        import gort
        from gort import atomic
        inside, peak = atomic.Int64(), atomic.Int64()
        gate = gort.Chan()
        def work():
            gate.recv_ok()
            n = inside.add(1)
            while (m := peak.load()) < n and not peak.compare_and_swap(m, n):
                pass
            sum(range(1_000_000))
            inside.add(-1)
        gs = [gort.go(work) for _ in range(4)]
        while gate.statistics().receivers_waiting < 4:
            gort.gosched()
        gate.close()
        for g in gs:
            g.result(timeout=30)
        print(peak.load())
    """
    r = run_python(code, {"GORT_MAXPROCS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_exit_with_blocked_goroutines_is_clean() -> None:
    code = """
        import time
        import gort
        ch = gort.Chan()
        mu = gort.Mutex()
        mu.lock()
        wg = gort.WaitGroup()
        wg.add(1)
        gs = [gort.go(ch.recv) for _ in range(5)]
        gs += [gort.go(mu.lock), gort.go(wg.wait),
               gort.go(gort.select, ch.recv_case()), gort.go(gs[0].join)]
        deadline = time.monotonic() + 30
        while not all(g.state is gort.GState.PARKED for g in gs):
            assert time.monotonic() < deadline, gs
            time.sleep(0.001)
        done = gort.go(lambda: None)
        done.result(timeout=30)  # an idle worker exists too
        print("exiting")
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "exiting\n"
    assert r.stderr == ""


def test_unretrieved_exception_is_printed_at_exit() -> None:
    code = """
        import gort
        def boom():
            raise ValueError("kaboom")
        g = gort.go(boom)
        g.join()
        ok = gort.go(lambda: 1)
        ok.join()
        print("exiting")
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "exiting\n"
    assert r.stderr.startswith("Exception in goroutine 1 (boom), never retrieved:\n"
                               "Traceback (most recent call last):\n")
    assert ", in boom\n" in r.stderr
    assert r.stderr.rstrip().endswith("ValueError: kaboom")
    assert r.stderr.count("never retrieved") == 1


def test_retrieved_exception_is_not_printed_at_exit() -> None:
    code = """
        import gort
        def boom():
            raise ValueError("kaboom")
        g = gort.go(boom)
        assert isinstance(g.exception(), ValueError)
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_exit_after_many_goroutines_does_not_hang() -> None:
    # Regression test (bug fixed): on 3.13t (free-threaded 3.13.5), interpreter exit after ~1000+
    # goroutines have run sometimes hangs forever (all threads in futex waits,
    # 0% CPU).  gort's atexit hook wakes every idle worker and returns at once,
    # so thousands of daemon workers run Python code and tear down their
    # threading.local (_runtime._tls) state while the interpreter finalizes;
    # the main thread then blocks in _PyThreadState_DeleteList -> clear_locals
    # -> PyDict_Pop on the threading.local's dict, whose lock a hung daemon
    # thread holds (a CPython shutdown bug that gort's exit path triggers).
    # Seen in about 1 of 5-12 runs of this script; the full test_runtime.py run
    # hung at exit 2 of 3 times before the 5000-goroutine test let its threads
    # retire.  Three tries keep this test short, so it fails only sometimes.
    code = """
        import gort
        ch = gort.Chan()
        gs = [gort.go(ch.recv) for _ in range(1000)]
        while ch.statistics().receivers_waiting < 1000:
            gort.gosched()
        for i in range(1000):
            ch.send(i)
        assert sorted(g.result() for g in gs) == list(range(1000))
        print("exiting")
    """
    for _ in range(3):
        try:
            r = run_python(code, timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("the interpreter hung at exit after 1000 goroutines")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "exiting\n"


def test_idle_pool_keeps_2_max_procs_threads_after_a_burst() -> None:
    # Regression (fixed): the docstring says idle threads "beyond 2 * max_procs() retire",
    # but _idle_wait decides to retire when a thread *goes* idle (``_nthreads >
    # 2 * _nprocs`` at that moment), so after a burst every thread of the burst
    # retires and the pool drops to 0 threads instead of 2 * max_procs.
    code = """
        import time
        import gort
        from gort import _runtime
        _runtime._IDLE_RETIRE = 0.2
        gate = gort.Chan()
        gs = [gort.go(gate.recv_ok) for _ in range(20)]
        while gate.statistics().receivers_waiting < 20:
            time.sleep(0.001)
        gate.close()
        for g in gs:
            g.result(timeout=30)
        deadline = time.monotonic() + 30
        while gort.sched_statistics().threads > 2 * gort.max_procs():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(1.0)  # 5x the retire delay: any further retirement has happened
        print(gort.sched_statistics().threads)
    """
    r = run_python(code, {"GORT_MAXPROCS": "2"})
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == 4
