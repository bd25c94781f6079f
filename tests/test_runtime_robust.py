"""Nothing of the scheduler is lost, whatever happens to a goroutine: RecursionError
near the limit inside the runtime's own code, a thread the OS refuses to start,
``os.fork()``, interpreter exit with goroutines parked, a signal handler that
feeds the main thread, huge ``set_max_procs``, failed goroutines (no reference
cycle), an idle sysmon.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any

import pytest

import gort
from gort import Chan, _runtime
from tests.helpers import wait_recv_waiting, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code: str, timeout: float = 60,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this build (GIL setting inherited)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def procs_consistent() -> bool:
    """Every P is idle exactly once (nothing runs, none lost, none duplicated)."""
    try:
        idle = list(_runtime._idle_p)
    except RuntimeError:  # mutated while we copied it: not quiet yet
        return False
    allp = list(_runtime._allp)
    return len(idle) == len(allp) and set(map(id, idle)) == set(map(id, allp))


def wait_quiet() -> None:
    """Wait until no goroutine runs and every P is back in the idle set."""
    wait_until(lambda: not _runtime.live_goroutines() and procs_consistent()
               and not _runtime._runq, 20, "every P idle and no goroutine left")


def at_every_depth(op: Callable[[], Any], stats: dict[str, int]) -> None:
    """Recurse to the recursion limit, then call ``op`` at every depth on the way
    back; count how often it completed and how often it raised RecursionError."""
    def dive() -> None:
        try:
            dive()
        except RecursionError:
            pass
        try:
            op()
        except RecursionError:
            stats["recursion"] += 1
        else:
            stats["ok"] += 1
    dive()


# --------------------------------------------------------------------------- RecursionError

@pytest.mark.timeout(120)
@pytest.mark.parametrize("procs", [1, 2])
@pytest.mark.parametrize("what", ["gosched", "go", "send", "recv", "ready", "all"])
def test_recursion_limit_inside_the_runtime_loses_no_processor_and_no_worker(
        what: str, procs: int) -> None:
    # With 2 processors one is idle: go() and a wake-up hand it over (and may
    # start a worker thread) near the limit; with 1 they only queue.
    gort.set_max_procs(procs)
    wait_quiet()
    ran = gort.atomic.Int64()
    ch: Chan[int] = Chan(100_000)
    parked: list[gort.Goroutine[Any]] = []
    wake_ch: Chan[int] = Chan()

    async def waiter() -> None:
        while await wake_ch.arecv() >= 0:
            ran.add(1)

    if what in ("ready", "all"):
        parked.append(gort.go(waiter))
        wait_recv_waiting(wake_ch, 1)

    def noop() -> None:
        ran.add(1)

    started: list[int] = []  # list.append: a C-level call, it cannot fail for lack of stack

    def go_noop() -> None:
        gort.go(noop)
        started.append(1)

    def wake_coroutine() -> None:
        if wake_ch.try_send(1):
            started.append(1)

    ops: dict[str, Callable[[], Any]] = {
        "gosched": gort.gosched, "go": go_noop, "send": lambda: ch.send(1),
        "recv": lambda: ch.try_recv(), "ready": wake_coroutine,
    }
    chosen = list(ops.values()) if what == "all" else [ops[what]]

    def op() -> None:
        for f in chosen:
            f()

    stats = {"ok": 0, "recursion": 0}

    def deep() -> None:
        at_every_depth(op, stats)

    threads = _runtime._nthreads
    g = gort.go(deep)
    assert g.exception(timeout=60) is None
    assert stats["ok"] > 0 and stats["recursion"] > 0, stats
    if what in ("ready", "all"):
        wake_ch.send(-1, timeout=20)
        parked[0].result(timeout=20)
    # Every goroutine that go() started (and every wake-up sent) ran exactly once.
    wait_until(lambda: ran.load() == len(started), 20, "the started goroutines to run")
    wait_quiet()
    assert _runtime._nthreads >= threads  # no worker died
    # Anything still runs, on every processor: none was lost.
    gort.set_max_procs(1)
    assert gort.go(lambda: 42).result(timeout=20) == 42
    wait_quiet()


def test_defer_wake_calls_on_sysmon() -> None:
    gort.go(lambda: None).join(timeout=20)  # sysmon runs
    called = threading.Event()
    where: list[str] = []

    def fn() -> None:
        where.append(threading.current_thread().name)
        called.set()

    _runtime.defer_wake(fn)
    assert called.wait(20)
    assert where == ["gort-sysmon"]


def test_defer_wake_works_at_the_recursion_limit_itself() -> None:
    gort.go(lambda: None).join(timeout=20)
    called = threading.Event()
    seen: list[bool] = []

    def dive() -> None:
        try:
            dive()
        except RecursionError:
            if not seen:
                seen.append(True)
                try:
                    called.is_set()  # a Python-level call fails here ...
                except RecursionError:
                    _runtime.defer_wake(called.set)  # ... a C-level one does not
                else:
                    seen.clear()  # not the deepest frame yet

    dive()
    assert seen
    assert called.wait(20)


def test_defer_wake_survives_a_raising_call(capsys: pytest.CaptureFixture[str]) -> None:
    gort.go(lambda: None).join(timeout=20)
    done = threading.Event()

    def boom() -> None:
        raise ValueError("deferred boom")

    _runtime.defer_wake(boom)
    _runtime.defer_wake(done.set)
    assert done.wait(20)
    assert "deferred boom" in capsys.readouterr().err


def test_worker_survives_an_error_in_the_runtime(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    gort.set_max_procs(1)
    wait_quiet()
    real = _runtime._find_work
    fail = [True]

    def flaky(p: Any) -> Any:
        if fail and _runtime._tls.m is not None:
            fail.clear()
            raise AssertionError("planted")
        return real(p)

    monkeypatch.setattr(_runtime, "_find_work", flaky)
    g = gort.go(lambda: gort.gosched() or 7)  # the worker schedules again: planted error
    assert g.result(timeout=20) == 7
    monkeypatch.setattr(_runtime, "_find_work", real)
    assert gort.go(lambda: 8).result(timeout=20) == 8
    wait_quiet()
    assert "planted" in capsys.readouterr().err


# --------------------------------------------------------------------------- threads refused

REFUSE = """
    import threading, time
    import gort
    from gort import _runtime

    def refuse(self, *a, **k):
        raise RuntimeError("can't start new thread")

    def consistent():
        try:
            idle = list(_runtime._idle_p)
        except RuntimeError:  # mutated while we copied it: not quiet yet
            return False
        return len(idle) == len(_runtime._allp) and len(set(map(id, idle))) == len(idle)

    def wait(pred, what):
        deadline = time.monotonic() + 30
        while not pred():
            assert time.monotonic() < deadline, what
            time.sleep(0.001)

    def occupy_idle_workers(hold):
        # Park goroutines on hold until no worker thread is idle; return them.
        gs = []
        base = hold.statistics().receivers_waiting
        while True:
            wait(lambda: hold.statistics().receivers_waiting == base + len(gs)
                 and consistent(), "holders parked")
            if not _runtime._idle_m:
                return gs
            gs.append(gort.go(hold.recv))
"""


def test_go_raises_runtime_error_when_the_os_refuses_a_thread() -> None:
    code = REFUSE + """
    gort.set_max_procs(2)
    ch = gort.Chan()
    blocked = occupy_idle_workers(ch) + [gort.go(ch.recv) for _ in range(3)]
    wait(lambda: ch.statistics().receivers_waiting == len(blocked), "receivers")
    blocked += occupy_idle_workers(ch)
    n = len(blocked)
    real = threading.Thread.start
    threading.Thread.start = refuse

    async def anever():
        print("never")

    # A plain function, an async def function, a coroutine object: each refused
    # goroutine is forgotten, and its coroutine closed (never "never awaited").
    for start in (lambda: gort.go(print, "never"), lambda: gort.go(anever),
                  lambda: gort.go(anever())):
        for _ in range(3):
            try:
                start()
            except RecursionError:
                raise
            except RuntimeError as e:
                assert "can't start new thread" in str(e), e
            else:
                raise AssertionError("go() did not raise")
    assert gort.num_goroutine() == n, _runtime.live_goroutines()
    assert consistent() and not _runtime._runq
    threading.Thread.start = real
    assert gort.go(lambda: 5).result(timeout=30) == 5
    for i in range(n):
        ch.send(i)
    assert sorted(g.result(timeout=30) for g in blocked) == list(range(n))
    wait(consistent, "every P idle")
    print("ok")
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n", r.stdout
    assert "never" not in r.stdout and "never awaited" not in r.stderr, r.stderr


def test_work_queued_while_threads_are_refused_runs_once_they_are_not() -> None:
    # A plain goroutine woken while the OS refuses threads (its worker waits for
    # a P) and goroutines made runnable by a wake-up are retried by sysmon.
    code = REFUSE + """
    gort.set_max_procs(2)
    ch = gort.Chan()
    out = gort.Chan(100)

    async def areceiver():
        await out.asend(await ch.arecv())

    receivers = [gort.go(areceiver) for _ in range(4)]
    wait(lambda: ch.statistics().receivers_waiting == 4, "receivers")
    hold = gort.Chan()
    holders = occupy_idle_workers(hold)
    real = threading.Thread.start
    threading.Thread.start = refuse
    for i in range(4):
        ch.send(i)  # wakes a coroutine: it needs a worker thread
    wait(lambda: _runtime._refused > 0, "a refusal")
    wait(consistent, "no P lost (sysmon may be retrying one)")
    assert len(out) == 0
    threading.Thread.start = real
    got = sorted(out.recv(timeout=30) for _ in range(4))
    assert got == [0, 1, 2, 3], got
    for i in range(len(holders)):
        hold.send(i)
    for g in receivers + holders:
        g.result(timeout=30)
    wait(consistent, "every P idle")
    print("ok")
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n", r.stdout


def test_go_with_a_real_thread_limit() -> None:
    # RLIMIT_AS leaves no room for another thread stack: pthread_create fails.
    code = """
    import resource, threading
    import gort
    threading.stack_size(64 << 20)
    ch = gort.Chan()
    gs = []
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as f:
        vm = next(int(l.split()[1]) for l in f if l.startswith("VmSize:")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + (400 << 20), hard))
    err = None
    try:
        for _ in range(1000):
            gs.append(gort.go(ch.recv))
            while ch.statistics().receivers_waiting < len(gs):
                gort.gosched()
    except RuntimeError as e:
        err = e
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert err is not None and not isinstance(err, RecursionError), err
    assert gort.num_goroutine() == len(gs), (gort.num_goroutine(), len(gs))
    threading.stack_size(0)
    for i in range(len(gs)):
        ch.send(i)
    assert sorted(g.result(timeout=30) for g in gs) == list(range(len(gs)))
    print("ok", len(gs))
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("needs /proc and RLIMIT_AS")
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok "), r.stdout


# --------------------------------------------------------------------------- fork

def _pool_task(n: int) -> tuple[list[int], int, int]:
    """In a fork-pool worker: goroutines and a channel, then the runtime's counts."""
    ch: Chan[int] = Chan()

    def send(i: int) -> None:
        ch.send(i * i)

    async def asend(i: int) -> None:
        await ch.asend(i * i)

    gs = [gort.go(asend if i % 2 else send, i) for i in range(n)]
    got = sorted(ch.recv(timeout=20) for _ in range(n))
    for g in gs:
        g.result(timeout=20)
    return got, gort.num_goroutine(), os.getpid()


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_fork_pool_worker_gets_a_fresh_runtime() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    # The parent's runtime is busy: goroutines parked, workers idle, sysmon running.
    hold: Chan[int] = Chan()
    parked = [gort.go(hold.recv) for _ in range(3)]
    wait_recv_waiting(hold, 3)
    assert [gort.go(lambda i=i: i).result(timeout=20) for i in range(8)] == list(range(8))
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map_async(_pool_task, [10, 20, 30, 40]).get(timeout=60)
    for (got, live, pid), n in zip(results, [10, 20, 30, 40], strict=True):
        assert got == sorted(i * i for i in range(n))
        assert live == 0
        assert pid != os.getpid()
    for i in range(3):
        hold.send(i)
    assert sorted(g.result(timeout=20) for g in parked) == [0, 1, 2]


@pytest.mark.timeout(60)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_resets_the_runtime_and_runs_the_hooks() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    hold: Chan[int] = Chan()
    parked = gort.go(hold.recv)
    wait_recv_waiting(hold, 1)
    calls: list[int] = []
    _runtime._at_fork_child_hooks.append(lambda: calls.append(os.getpid()))
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, and never return into pytest
            code = 1
            try:
                st = gort.sched_statistics()
                fresh = (st.threads == 0 and st.goroutines == 0 and st.runnable == 0
                         and st.idle_procs == gort.max_procs() and calls == [os.getpid()]
                         and _runtime._sysmon is None and not _runtime._idle_m)
                ok = gort.go(lambda: 6 * 7).result(timeout=20) == 42
                code = 0 if fresh and ok else 3
                os.write(w, f"{fresh} {ok} {st}".encode())
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r) as f:
            report = f.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, report
    finally:
        _runtime._at_fork_child_hooks.pop()
    assert calls == []
    hold.send(1)
    assert parked.result(timeout=20) == 1


@pytest.mark.timeout(60)
def test_a_fork_child_does_not_report_the_parents_failures() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    code = """
        import gc, os, sys, warnings
        import gort
        warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process

        def boom():
            raise ValueError("the parent's failure")

        g = gort.go(boom)
        g.join(timeout=20)
        pid = os.fork()
        if pid == 0:
            gort.excepthook = lambda args: print("child reported", args.exc_value, flush=True)
            del g  # the parent reports it, not the child
            gc.collect()
            print("child done", flush=True)
            sys.exit(0)  # a normal exit: at-exit reports and teardown run
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert isinstance(g.exception(timeout=20), ValueError)
        print("parent done", flush=True)
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert "child done" in r.stdout and "parent done" in r.stdout, r.stdout
    assert "child reported" not in r.stdout and "Exception ignored" not in r.stderr, (
        r.stdout + r.stderr)


def test_fork_inside_a_goroutine() -> None:
    # The forking thread is a worker: in the child it is an ordinary thread.
    code = """
    import os
    import gort
    def child_side():
        pid = os.fork()
        if pid == 0:
            try:
                ok = gort.current_goroutine() is None and \\
                    gort.go(lambda: 5).result(timeout=20) == 5
            finally:
                os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    print(gort.go(child_side).result(timeout=30))
    """
    r = run_python(code, env={"PYTHONWARNINGS": "ignore::DeprecationWarning"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "0\n"


# --------------------------------------------------------------------------- exit

EXIT_WITH_PARKED = """
    import time
    import gort
    ch = gort.Chan()
    mu = gort.Mutex()
    mu.lock()
    wg = gort.WaitGroup()
    wg.add(1)

    async def arecv():
        await ch.arecv()

    gs = [gort.go(ch.recv) for _ in range(5)] + [gort.go(arecv) for _ in range(3)]
    gs += [gort.go(mu.lock), gort.go(wg.wait),
           gort.go(gort.select, ch.recv_case()), gort.go(gs[0].join)]
    deadline = time.monotonic() + 30
    while not all(g.state is gort.GState.PARKED for g in gs):
        assert time.monotonic() < deadline, gs
        time.sleep(0.001)
    done = gort.go(lambda: None)
    done.result(timeout=30)  # its worker goes idle as the main thread exits
    print("exiting")
"""


@pytest.mark.timeout(180)
def test_exit_with_parked_goroutines_never_crashes() -> None:
    # On 3.13t with PYTHON_GIL=1 this crashed (SIGSEGV in drop_gil) in about 1 run
    # in 5-100: a worker falling asleep while the interpreter finalized read its
    # thread state after the main thread had freed it.  With glibc's
    # MALLOC_MMAP_THRESHOLD_=0 every allocation is its own mapping and every free
    # unmaps it, so such a read always crashes: about 1 run in 3 did.
    glibc = {"MALLOC_MMAP_THRESHOLD_": "0"}
    envs: list[dict[str, str]] = [{}, glibc]
    if hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled():
        envs.append({"PYTHON_GIL": "1", **glibc})  # a free-threaded build: its GIL mode too
    runs = 50
    batch = 10
    failures: list[str] = []
    code = textwrap.dedent(EXIT_WITH_PARKED)
    for start in range(0, runs, batch):
        procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                                  env={**os.environ, **envs[(start + i) % len(envs)]},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(batch)]
        for p in procs:
            try:
                out, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                failures.append(f"hung: {err[-500:]}")
                continue
            if p.returncode != 0 or out != "exiting\n" or err:
                failures.append(f"rc={p.returncode} out={out!r} err={err[-500:]!r}")
    assert not failures, f"{len(failures)} of {runs} runs failed:\n" + "\n".join(failures)


# --------------------------------------------------------------------------- signal.Notify

def test_a_signal_handler_feeding_the_main_thread_is_no_deadlock() -> None:
    # Go's signal.Notify pattern: the main thread waits on a channel that only a
    # signal handler fills.  The signal comes from another process, well after
    # the deadlock detector would have given up (about 0.35 s).
    code = """
    import os, signal, subprocess, sys
    import gort
    ch = gort.Chan(1)
    signal.signal(signal.SIGUSR1, lambda *a: ch.try_send("usr1"))
    gort.go(lambda: None).join()  # the runtime has run
    sender = subprocess.Popen([sys.executable, "-c",
                               "import os, sys, time; time.sleep(1.5); "
                               "os.kill(int(sys.argv[1]), int(sys.argv[2]))",
                               str(os.getpid()), str(int(signal.SIGUSR1))])
    print(ch.recv())
    sender.wait()
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "usr1\n"


def test_deadlock_detection_ignores_gorts_own_and_default_handlers() -> None:
    code = """
    import signal
    import gort
    gort.install_dump_signal(signal.SIGUSR2)  # gort's dump handler wakes nobody
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ch = gort.Chan()
    try:
        ch.recv()
    except gort.Deadlock:
        print("deadlock")
    """
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "deadlock\n"


def test_which_signal_handlers_count() -> None:
    from gort import _deadlock, _ki
    for h in (None, signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler, _ki._sigint):
        assert _deadlock._no_wake_handler(h), h
    assert not _deadlock._no_wake_handler(lambda *a: None)
    old = signal.getsignal(signal.SIGUSR1)
    try:
        gort.install_dump_signal(signal.SIGUSR1)
        assert _deadlock._no_wake_handler(signal.getsignal(signal.SIGUSR1))
        signal.signal(signal.SIGUSR1, lambda *a: None)
        assert _deadlock._signal_handler_installed()
        assert not _deadlock._deadlocked()
    finally:
        signal.signal(signal.SIGUSR1, old)


# --------------------------------------------------------------------------- max_procs

def test_set_max_procs_has_a_cap() -> None:
    assert _runtime.MAX_PROCS >= 1024
    with pytest.raises(ValueError, match=f"<= {_runtime.MAX_PROCS}"):
        gort.set_max_procs(_runtime.MAX_PROCS + 1)
    with pytest.raises(ValueError):
        gort.set_max_procs(1_000_000)
    assert gort.max_procs() <= _runtime.MAX_PROCS


def test_gort_maxprocs_above_the_cap_is_refused() -> None:
    r = run_python("import gort", env={"GORT_MAXPROCS": str(_runtime.MAX_PROCS + 1)})
    assert r.returncode == 1
    assert r.stderr.rstrip().endswith(
        f"ValueError: GORT_MAXPROCS must be at most {_runtime.MAX_PROCS}, "
        f"got '{_runtime.MAX_PROCS + 1}'")


@pytest.mark.timeout(120)
def test_shrinking_max_procs_is_linear() -> None:
    before = gort.max_procs()
    wait_quiet()
    t0 = time.perf_counter()
    gort.set_max_procs(_runtime.MAX_PROCS)
    grow = time.perf_counter() - t0
    assert len(_runtime._allp) == _runtime.MAX_PROCS and procs_consistent()
    t0 = time.perf_counter()
    gort.set_max_procs(2)
    shrink = time.perf_counter() - t0
    assert len(_runtime._allp) == 2 and procs_consistent()
    # Linear: shrinking costs about what growing did, not MAX_PROCS times more
    # (the old list.remove per P made 100,000 -> 2 take over a minute).
    assert shrink < 20 * grow + 0.5, (grow, shrink)
    assert [gort.go(lambda i=i: i).result(timeout=20) for i in range(4)] == [0, 1, 2, 3]
    gort.set_max_procs(before)


def test_lowering_max_procs_while_processors_are_held_retires_them_later() -> None:
    gort.set_max_procs(4)
    wait_quiet()
    stop = threading.Event()
    entered = gort.atomic.Int64()

    def hold() -> None:
        entered.add(1)
        stop.wait(30)  # not a gort operation: holds its P

    gs = [gort.go(hold) for _ in range(3)]
    wait_until(lambda: entered.load() == 3, 20, "3 holders running")
    gort.set_max_procs(1)  # 3 Ps held: retired as they come back
    assert _runtime._p_debt == 2, _runtime._p_debt
    stop.set()
    for g in gs:
        g.result(timeout=20)
    wait_until(lambda: _runtime._p_debt == 0 and len(_runtime._allp) == 1, 20, "Ps retired")
    wait_quiet()


# --------------------------------------------------------------------------- no cycle

def _boom() -> None:
    raise ValueError("boom")


async def _aboom() -> None:
    raise ValueError("aboom")


def _retrieve(ref: weakref.ref[gort.Goroutine[Any]], how: str) -> BaseException | None:
    """Retrieve the exception without this frame holding the goroutine."""
    if how == "exception":
        return ref().exception(timeout=20)  # type: ignore[union-attr]
    try:
        ref().result(timeout=20)  # type: ignore[union-attr]
    except ValueError as e:
        return e
    return None


@pytest.mark.parametrize("fn", [_boom, _aboom], ids=["plain", "coroutine"])
@pytest.mark.parametrize("how", ["exception", "result", "result-twice"])
def test_a_failed_goroutine_is_freed_by_refcounting(fn: Callable[[], Any], how: str,
                                                    hook_calls: list[Any]) -> None:
    gc.collect()
    gc.disable()
    try:
        g = gort.go(fn)
        g.join(timeout=20)
        ref = weakref.ref(g)
        exc = _retrieve(ref, how.split("-")[0])
        if how == "result-twice":
            exc = _retrieve(ref, "result")
        assert isinstance(exc, ValueError)
        names = [f.name for f in traceback.extract_tb(exc.__traceback__)]
        assert fn.__name__ in names  # the goroutine's own frames are kept
        assert "_run" not in names and "_step" not in names  # the scheduler's are not
        del g
        # With the collector off only refcounting can free it: a cycle never would.
        # The worker that ran it may still hold it for a moment after waking us.
        wait_until(lambda: ref() is None, 10, "the goroutine to be freed")
    finally:
        gc.enable()
    assert hook_calls == []


@pytest.mark.parametrize("fn", [_boom, _aboom], ids=["plain", "coroutine"])
def test_an_unretrieved_failure_is_reported_when_its_handle_is_dropped(
        fn: Callable[[], Any], hook_calls: list[Any]) -> None:
    gc.collect()
    gc.disable()
    try:
        g = gort.go(fn)
        g.join(timeout=20)
        del g  # no cycle: reported at once, not at the next collection
        assert len(hook_calls) == 1
        assert isinstance(hook_calls[0].exc_value, ValueError)
    finally:
        gc.enable()


# --------------------------------------------------------------------------- idle sysmon

def test_sysmon_sleeps_when_there_is_nothing_to_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_runtime, "_SYSMON_IDLE", 60.0)  # below, only a kick wakes it

    async def pingpong(ch: Chan[int], n: int) -> None:
        for i in range(n):
            await ch.asend(i)

    async def drain(ch: Chan[int], n: int) -> None:
        for _ in range(n):
            await ch.arecv()

    ch: Chan[int] = Chan()
    gs = [gort.go(pingpong, ch, 2000), gort.go(drain, ch, 2000)]  # local queues busy
    for g in gs:
        g.result(timeout=30)
    wait_quiet()
    w0 = _runtime._sysmon_wakeups
    _runtime._sysmon_q.put(None)  # a kick: it looks, finds nothing, sleeps (60 s now)
    wait_until(lambda: _runtime._sysmon_wakeups > w0 and _runtime._sysmon_sleeping, 20,
               "sysmon asleep")
    before = _runtime._sysmon_wakeups
    time.sleep(0.5)  # measuring idleness: sysmon must not tick meanwhile
    woke = _runtime._sysmon_wakeups - before
    assert woke <= 1, woke  # it ticked every ms before (~500 here)
    # Work queued on a P's local queue kicks it awake.
    gs = [gort.go(pingpong, ch, 200), gort.go(drain, ch, 200)]
    for g in gs:
        g.result(timeout=30)
    wait_until(lambda: _runtime._sysmon_wakeups > before + woke, 20, "sysmon kicked")
