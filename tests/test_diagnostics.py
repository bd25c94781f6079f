"""Diagnostics: num_goroutine, dump, deadlock detection, the leak checker and its
pytest plugin, and GORT_PANIC=exit.

Deadlock detection only ever concerns the main thread, so those tests run small
programs in subprocesses; they are started together (they spend most of their
time waiting) and each test collects its own.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

import gort
from gort import Chan, GState
from gort.testing import GoroutineLeak, leaked, verify_none
from tests.helpers import wait_until

pytest_plugins = ["pytester"]

JOIN = 10.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blocks(text: str) -> dict[int, str]:
    """dump() output split into one block per goroutine, by id."""
    out = {}
    for block in text.strip().split("\n\n"):
        head = block.split("\n", 1)[0]
        assert head.startswith("goroutine "), block
        out[int(head.split()[1])] = block
    return out


# --------------------------------------------------------------------------- num_goroutine

def test_num_goroutine_counts_live_goroutines() -> None:
    base = gort.num_goroutine()
    gate: Chan[None] = Chan()
    gs = [gort.go(gate.recv_ok) for _ in range(7)]
    wait_until(lambda: all(g.state is GState.PARKED for g in gs), JOIN, "7 parked")
    assert gort.num_goroutine() >= 7
    assert gort.num_goroutine() == len(gort._runtime.live_goroutines())
    assert gort.sched_statistics().goroutines >= 7
    gate.close()
    for g in gs:
        g.join(timeout=JOIN)
    wait_until(lambda: gort.num_goroutine() <= base, JOIN, "back to the baseline")


def test_num_goroutine_counts_coroutine_goroutines() -> None:
    gate: Chan[None] = Chan()

    async def waiter() -> None:
        await gate.arecv_ok()

    base = gort.num_goroutine()
    gs = [gort.go(waiter) for _ in range(50)]
    wait_until(lambda: all(g.state is GState.PARKED for g in gs), JOIN, "50 parked")
    assert gort.num_goroutine() >= 50
    gate.close()
    for g in gs:
        g.result(timeout=JOIN)
    wait_until(lambda: gort.num_goroutine() <= base, JOIN, "back to the baseline")


# --------------------------------------------------------------------------- dump

def test_dump_shows_each_goroutines_state_and_frame() -> None:
    ch: Chan[int] = Chan()
    other: Chan[int] = Chan()
    mu = gort.Mutex()
    wg = gort.WaitGroup()
    wg.add(1)
    sem = gort.Semaphore(1)
    sem.acquire()
    spinning = gort.atomic.Bool()
    stop_spin = gort.atomic.Bool()
    mu.lock()

    def dump_receiver() -> None:
        ch.recv_ok()

    def dump_sender() -> None:
        other.send(1)

    def dump_selector() -> None:
        gort.select(ch.recv_case(), Chan[int]().recv_case())

    def dump_locker() -> None:
        mu.lock()
        mu.unlock()

    def dump_sleeper() -> None:
        gort.sleep(1.5)

    def dump_waiter() -> None:
        wg.wait()

    def dump_acquirer() -> None:
        sem.acquire()
        sem.release()

    def dump_spinner() -> None:
        spinning.store(True)
        while not stop_spin.load():
            pass

    async def dump_coro() -> None:
        await ch.arecv_ok()

    async def dump_coro_sleeper() -> None:
        await gort.asleep(1.5)

    expect = {
        dump_receiver: "chan receive",
        dump_sender: "chan send",
        dump_selector: "select",
        dump_locker: "sync.Mutex.Lock",
        dump_sleeper: "sleep",
        dump_waiter: "sync.WaitGroup.Wait",
        dump_acquirer: "semacquire",
        dump_coro: "chan receive, async",
        dump_coro_sleeper: "sleep, async",
    }
    gort.set_max_procs(2)
    gs = {fn: gort.go(fn) for fn in expect}
    spinner = gort.go(dump_spinner)
    try:
        wait_until(lambda: all(g.state is GState.PARKED for g in gs.values()), JOIN,
                   "every goroutine parked")
        wait_until(spinning.load, JOIN, "spinner running")
        text = gort.dump()
        assert text.endswith("\n")
        by_id = blocks(text)
        for fn, reason in expect.items():
            g = gs[fn]
            block = by_id[g.id]
            head, *frames = block.split("\n")
            assert head == f"goroutine {g.id} [{reason}]: {g.name}", block
            assert g.name.endswith(fn.__name__)
            # its own frame, not the scheduler's
            assert any(f"in {fn.__name__}" in line for line in frames), block
            assert __file__ in block
            assert "_runtime.py" not in block and "threading.py" not in block
        block = by_id[spinner.id]
        assert block.startswith(f"goroutine {spinner.id} [running]: ")
        assert "in dump_spinner" in block
    finally:
        stop_spin.store(True)
        ch.close()
        other.recv(timeout=JOIN)
        mu.unlock()
        wg.done()
        sem.release()
        for g in [*gs.values(), spinner]:
            g.join(timeout=JOIN)


def test_dump_of_no_goroutines_and_of_finished_ones() -> None:
    g = gort.go(lambda: 1)
    g.result(timeout=JOIN)
    assert f"goroutine {g.id} " not in gort.dump()
    assert isinstance(gort.dump(), str)


def test_install_dump_signal(capsys: pytest.CaptureFixture[str]) -> None:
    import signal

    old = signal.getsignal(signal.SIGUSR1)
    gate: Chan[None] = Chan()

    def signalled_one() -> None:
        gate.recv_ok()

    g = gort.go(signalled_one)
    try:
        wait_until(lambda: g.state is GState.PARKED, JOIN, "parked")
        gort.install_dump_signal(signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
        wait_until(lambda: "signalled_one" in capsys.readouterr().err, JOIN,
                   "the dump on stderr")
    finally:
        signal.signal(signal.SIGUSR1, old)
        gate.close()
        g.join(timeout=JOIN)


# --------------------------------------------------------------------------- subprocesses

PROGRAMS: dict[str, str] = {
    # real deadlocks
    "main_alone": """
        import gort
        try:
            gort.Chan().recv()
        except gort.Deadlock as e:
            print(str(e))
    """,
    "two_goroutines": """
        import gort
        a, b, out = gort.Chan(), gort.Chan(), gort.Chan()
        def first_waits_on_a():
            a.recv()
            b.send(1)
        def second_waits_on_b():
            b.recv()
            a.send(1)
        g1, g2 = gort.go(first_waits_on_a), gort.go(second_waits_on_b)
        try:
            out.recv()
        except gort.Deadlock as e:
            print(g1.id, g2.id)
            print(str(e))
    """,
    "waitgroup": """
        import gort
        wg = gort.WaitGroup()
        wg.add(1)
        async def forgot_done():
            await gort.Chan().arecv()
        gort.go(forgot_done)
        try:
            wg.wait()
        except gort.Deadlock as e:
            print(str(e))
    """,
    "uncaught": """
        import gort
        mu = gort.Mutex()
        mu.lock()
        mu.lock()
    """,
    "empty_select": """
        import gort
        try:
            gort.select()
        except gort.Deadlock as e:
            print(str(e))
    """,
    # no false positives: something can still wake the main thread
    "timer": """
        import time, gort
        t0 = time.monotonic()
        v = gort.after(1.5).recv()
        print("woken", v - t0 >= 1.5)
    """,
    "outside_thread": """
        import threading, time, gort
        ch = gort.Chan()
        def later():
            time.sleep(1.5)
            ch.send("from a thread")
        threading.Thread(target=later).start()
        print(ch.recv())
    """,
    "busy_goroutine": """
        import time, gort
        ch = gort.Chan()
        def crunch():
            t = time.monotonic()
            n = 0
            while time.monotonic() - t < 1.5:  # plain Python, no gort call
                n += 1
            ch.send("crunched")
        gort.go(crunch)
        print(ch.recv())
    """,
    "timed_goroutine": """
        import gort
        ch, never = gort.Chan(), gort.Chan()
        def waits_with_a_timeout():
            try:
                never.recv(timeout=1.5)
            except TimeoutError:
                ch.send("timed out")
        gort.go(waits_with_a_timeout)
        print(ch.recv())
    """,
    # GORT_PANIC
    "panic_exit": """
        import gort
        def explode():
            raise ValueError("boom")
        gort.go(explode)
        gort.Chan().recv(timeout=30)
        print("not reached")
    """,
    "panic_default": """
        import gc, gort
        def explode():
            raise ValueError("boom")
        g = gort.go(explode)
        g.join(timeout=30)
        del g
        gc.collect()
        print("still running")
    """,
}
ENVS: dict[str, dict[str, str]] = {"panic_exit": {"GORT_PANIC": "exit"}}


class Runs:
    """The PROGRAMS, started all at once on first use."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.results: dict[str, tuple[int, str, str]] = {}

    def start(self) -> None:
        for name, code in PROGRAMS.items():
            env = dict(os.environ)
            env.pop("GORT_PANIC", None)
            env.update(ENVS.get(name, {}))
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def get(self, name: str) -> tuple[int, str, str]:
        if name not in self.results:
            p = self.procs[name]
            try:
                out, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                pytest.fail(f"{name}: still running after 60 s\n{out}\n{err}")
            self.results[name] = (p.returncode, out, err)
        return self.results[name]

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    r = Runs()
    r.start()
    yield r
    r.stop()


HEADER = "all goroutines are asleep - deadlock!"


def test_deadlock_of_the_main_thread_alone(runs: Runs) -> None:
    rc, out, err = runs.get("main_alone")
    assert rc == 0, err
    assert out.startswith(HEADER + "\n\nmain thread [chan receive]"), out


def test_deadlock_lists_the_parked_goroutines(runs: Runs) -> None:
    rc, out, err = runs.get("two_goroutines")
    assert rc == 0, err
    ids, msg = out.split("\n", 1)
    id1, id2 = map(int, ids.split())
    assert msg.startswith(HEADER + "\n\nmain thread [chan receive]")
    by_id = blocks(msg.split("\n\n", 2)[2])
    assert set(by_id) == {id1, id2}
    assert by_id[id1].startswith(f"goroutine {id1} [chan receive]: first_waits_on_a")
    assert "in first_waits_on_a" in by_id[id1]
    assert by_id[id2].startswith(f"goroutine {id2} [chan receive]: second_waits_on_b")
    assert "in second_waits_on_b" in by_id[id2]


def test_deadlock_in_waitgroup_wait_with_a_parked_coroutine(runs: Runs) -> None:
    rc, out, err = runs.get("waitgroup")
    assert rc == 0, err
    assert out.startswith(HEADER + "\n\nmain thread [sync.WaitGroup.Wait]"), out
    assert "[chan receive, async]: forgot_done" in out


def test_deadlock_of_an_empty_select(runs: Runs) -> None:
    rc, out, err = runs.get("empty_select")
    assert rc == 0, err
    assert out.startswith(HEADER + "\n\nmain thread [select (no cases)]"), out


def test_uncaught_deadlock_ends_the_program(runs: Runs) -> None:
    rc, _, err = runs.get("uncaught")
    assert rc == 1
    assert "Deadlock: " + HEADER in err
    assert "main thread [sync.Mutex.Lock]" in err


def test_no_deadlock_while_a_timer_is_pending(runs: Runs) -> None:
    rc, out, err = runs.get("timer")
    assert (rc, out, err) == (0, "woken True\n", "")


def test_no_deadlock_while_an_outside_thread_may_send(runs: Runs) -> None:
    rc, out, err = runs.get("outside_thread")
    assert (rc, out, err) == (0, "from a thread\n", "")


def test_no_deadlock_while_a_goroutine_runs_plain_code(runs: Runs) -> None:
    rc, out, err = runs.get("busy_goroutine")
    assert (rc, out, err) == (0, "crunched\n", "")


def test_no_deadlock_while_a_goroutine_waits_with_a_timeout(runs: Runs) -> None:
    rc, out, err = runs.get("timed_goroutine")
    assert (rc, out, err) == (0, "timed out\n", "")


def test_gort_panic_exit(runs: Runs) -> None:
    rc, out, err = runs.get("panic_exit")
    assert rc == 2
    assert out == ""
    assert "panic: goroutine 1 (explode) raised ValueError: boom" in err
    assert "Traceback (most recent call last):" in err
    assert 'raise ValueError("boom")' in err
    assert err.rstrip().endswith("ValueError: boom")


def test_without_gort_panic_the_excepthook_reports(runs: Runs) -> None:
    rc, out, err = runs.get("panic_default")
    assert rc == 0
    assert out == "still running\n"
    assert "Exception in goroutine 1 (explode), never retrieved:" in err
    assert err.rstrip().endswith("ValueError: boom")
    assert "panic:" not in err


# --------------------------------------------------------------------------- leak checker

def test_verify_none_catches_a_planted_leak() -> None:
    before = gort._runtime.live_goroutines()
    gate: Chan[None] = Chan()

    def planted_leak() -> None:
        gate.recv_ok()

    g = gort.go(planted_leak)
    try:
        wait_until(lambda: g.state is GState.PARKED, JOIN, "parked")
        t0 = time.monotonic()
        with pytest.raises(GoroutineLeak) as ei:
            verify_none(timeout=0.2, before=before)
        assert time.monotonic() - t0 >= 0.2  # it waited the whole timeout first
        msg = str(ei.value)
        assert msg.startswith("found 1 leaked goroutine(s) after 0.2 s:")
        assert f"goroutine {g.id} [chan receive]: " in msg
        assert "planted_leak" in msg
        assert "in planted_leak" in msg  # with its stack
        assert isinstance(ei.value, AssertionError)
        assert leaked(before=before) == [g]
        assert leaked(ignore=["*planted_*"], before=before) == []
        verify_none(timeout=0.01, ignore=["*.planted_leak"], before=before)
    finally:
        gate.close()
    verify_none(timeout=JOIN, before=before)


def test_verify_none_waits_for_goroutines_that_are_ending() -> None:
    before = gort._runtime.live_goroutines()
    gs = [gort.go(gort.sleep, 0.3) for _ in range(5)]
    assert len(leaked(before=before)) == 5
    verify_none(timeout=JOIN, before=before)  # they end within the timeout: no leak
    assert all(g.done() for g in gs)


def test_verify_none_without_before_counts_everything() -> None:
    gate: Chan[None] = Chan()
    g = gort.go(gate.recv_ok)
    try:
        with pytest.raises(GoroutineLeak, match=f"goroutine {g.id} "):
            verify_none(timeout=0.05)
    finally:
        gate.close()
        g.join(timeout=JOIN)


# --------------------------------------------------------------------------- pytest plugin

def _plugin_autoloaded() -> bool:
    eps = importlib.metadata.entry_points(group="pytest11")
    return any(ep.value == "gort.testing._pytest_plugin" for ep in eps)


# The plugin is meant to be found through its entry point; where the installed
# metadata lacks it, load it by name.
PLUGIN = ([] if _plugin_autoloaded() else ["-p", "gort.testing._pytest_plugin"]) + [
    "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]  # (hypothesis: 2 s a run)


class Gate:
    """A plugin giving the inner tests a ``gate`` fixture: a channel the outer
    test closes afterwards, so the goroutines they leak on purpose end."""

    def __init__(self) -> None:
        self.chan: Chan[None] = Chan()

    @pytest.fixture(scope="session")
    def gate(self) -> Chan[None]:
        return self.chan


INNER = """
    import gort
    import pytest

    def leaky_blocker(gate):
        gate.recv_ok()

    def test_clean():
        gort.go(lambda: None).join()

    def test_leaks(gate, {fixture}):
        gort.go(leaky_blocker, gate)

    def test_ends_in_time({fixture}):
        gort.go(gort.sleep, 0.2)
"""


def run_inner(pytester: pytest.Pytester, body: str, *args: str,
              ini: str = "") -> tuple[pytest.RunResult, Gate]:
    if ini:
        pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile(test_inner=textwrap.dedent(body))
    gate = Gate()
    try:
        result = pytester.runpytest(*PLUGIN, *args, plugins=[gate])
    finally:
        gate.chan.close()
    return result, gate


def test_plugin_fixture(pytester: pytest.Pytester) -> None:
    body = INNER.replace("{fixture}", "gort_leakcheck").replace(
        "import pytest", "import pytest\n    pytestmark = pytest.mark.gort_leakcheck(timeout=0.3)")
    result, _ = run_inner(pytester, body)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*GoroutineLeak: found 1 leaked goroutine(s) after 0.3 s*",
                                 "*leaky_blocker*"])
    assert "test_leaks" in "\n".join(result.stdout.lines)


def test_plugin_fixture_uses_the_ini_defaults(pytester: pytest.Pytester) -> None:
    body = INNER.replace("{fixture}", "gort_leakcheck")
    result, _ = run_inner(pytester, body, ini="gort_leak_timeout = 0.3\n")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*found 1 leaked goroutine(s) after 0.3 s*"])


def test_plugin_ini_ignore(pytester: pytest.Pytester) -> None:
    body = INNER.replace("{fixture}", "gort_leakcheck")
    result, _ = run_inner(pytester, body,
                          ini="gort_leak_timeout = 0.3\ngort_leak_ignore =\n    leaky_*\n")
    result.assert_outcomes(passed=3)


def test_plugin_marker(pytester: pytest.Pytester) -> None:
    body = """
        import gort
        import pytest

        def leaky_blocker(gate):
            gate.recv_ok()

        @pytest.mark.gort_leakcheck(timeout=0.2)
        def test_marked_leak(gate):
            gort.go(leaky_blocker, gate)

        @pytest.mark.gort_leakcheck(timeout=0.2, ignore=["leaky_*"])
        def test_marked_but_ignored(gate):
            gort.go(leaky_blocker, gate)

        def test_unmarked_leak_is_not_checked(gate):
            gort.go(leaky_blocker, gate)

        @pytest.mark.gort_leakcheck(timeout=5)
        def test_marked_ends_in_time():
            gort.go(gort.sleep, 0.2)
    """
    result, _ = run_inner(pytester, body, "--strict-markers")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_marked_leak*",
                                 "*found 1 leaked goroutine(s) after 0.2 s*"])


def test_plugin_option_checks_every_test(pytester: pytest.Pytester) -> None:
    body = """
        import gort

        def leaky_blocker(gate):
            gate.recv_ok()

        def test_one(gate):
            gort.go(leaky_blocker, gate)

        def test_two(gate):
            gort.go(leaky_blocker, gate)

        def test_three():
            gort.go(gort.sleep, 0.1)
    """
    result, _ = run_inner(pytester, body, "--gort-leakcheck", ini="gort_leak_timeout = 0.2\n")
    result.assert_outcomes(passed=3, errors=2)
    result, _ = run_inner(pytester, body)  # without the option: nothing checked
    result.assert_outcomes(passed=3)


def test_plugin_ignores_goroutines_alive_before_the_test(pytester: pytest.Pytester) -> None:
    body = """
        import gort
        import pytest

        @pytest.fixture(scope="module")
        def background_worker(gate):
            return gort.go(gate.recv_ok)

        def test_uses_it(background_worker, gort_leakcheck):
            assert not background_worker.done()
    """
    result, _ = run_inner(pytester, body, ini="gort_leak_timeout = 0.2\n")
    result.assert_outcomes(passed=1)


def test_plugin_registers_its_option_and_marker(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*PLUGIN, "--markers")
    result.stdout.fnmatch_lines(["*gort_leakcheck(timeout=None, ignore=()): *"])
    result = pytester.runpytest(*PLUGIN, "--help")
    result.stdout.fnmatch_lines(["*--gort-leakcheck*", "*gort_leak_timeout*",
                                 "*gort_leak_ignore*"])

