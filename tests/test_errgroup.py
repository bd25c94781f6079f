"""ErrGroup (Go's golang.org/x/sync/errgroup): goroutines that fail as one."""

from __future__ import annotations

from typing import Any

import pytest

import gort
from gort import Canceled, Chan, ErrGroup, GState, atomic
from tests.helpers import Peak, wait_until

JOIN = 10.0


def wait_in_goroutine(group: ErrGroup) -> gort.Goroutine[Any]:
    """Run group.wait() in a goroutine; its result is the exception or None."""
    def waiter() -> BaseException | None:
        try:
            group.wait()
        except BaseException as e:
            return e
        return None

    return gort.go(waiter)


# --------------------------------------------------------------------------- basics

def test_wait_with_no_goroutines_returns_and_cancels_ctx() -> None:
    group = ErrGroup()
    assert group.ctx.err() is None
    group.wait()
    assert type(group.ctx.err()) is Canceled
    group.wait()  # again: still fine


def test_all_succeed() -> None:
    group = ErrGroup()
    total = atomic.Int64()
    for i in range(100):
        group.go(total.add, i)
    group.go(lambda *, k: total.add(k), k=1000)  # kwargs are passed
    group.wait()
    assert total.load() == sum(range(100)) + 1000
    assert type(group.ctx.err()) is Canceled  # the group's ctx ends with wait()
    assert "active=0" in repr(group)


def test_wait_reraises_the_first_exception() -> None:
    group = ErrGroup()
    first = ValueError("first")

    def fail_first() -> None:
        raise first

    def fail_later() -> None:
        group.ctx.done().recv_ok(timeout=JOIN)  # runs until the first failure cancels
        raise RuntimeError("second")

    for _ in range(5):
        group.go(fail_later)
    group.go(fail_first)
    with pytest.raises(ValueError, match="first") as ei:
        group.wait()
    assert ei.value is first
    assert "err=ValueError('first')" in repr(group)
    with pytest.raises(ValueError):
        group.wait()  # the error stays


def test_wait_returns_only_after_every_goroutine_returned() -> None:
    group = ErrGroup()
    gate: Chan[None] = Chan()
    finished = atomic.Int64()

    def slow() -> None:
        gate.recv_ok()
        finished.add(1)

    def boom() -> None:
        raise KeyError("boom")

    for _ in range(3):
        group.go(slow)
    group.go(boom)
    wait_until(lambda: group.ctx.err() is not None, JOIN, "the failure cancelled ctx")
    w = wait_in_goroutine(group)
    wait_until(lambda: w.state is GState.PARKED, JOIN, "wait() blocked")
    assert not w.done()  # the error is known, but three goroutines still run
    assert finished.load() == 0
    gate.close()
    err = w.result(timeout=JOIN)
    assert isinstance(err, KeyError)
    assert finished.load() == 3


def test_ctx_is_cancelled_on_the_first_error() -> None:
    group = ErrGroup()
    seen: Chan[str] = Chan(10)

    def watcher() -> None:
        group.ctx.done().recv_ok(timeout=JOIN)
        seen.send(str(group.ctx.err()))

    for _ in range(4):
        group.go(watcher)
    wait_until(lambda: group._wg.count == 4, JOIN)
    assert group.ctx.err() is None
    group.go(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        group.wait()
    assert [seen.recv(timeout=JOIN) for _ in range(4)] == ["context canceled"] * 4


def test_base_exceptions_are_kept_too() -> None:
    group = ErrGroup()

    def exit_() -> None:
        raise SystemExit(3)

    group.go(exit_)
    with pytest.raises(SystemExit):
        group.wait()


def test_group_ctx_derives_from_a_parent() -> None:
    parent, cancel = gort.with_cancel(gort.with_value(gort.background(), "k", "v"))
    group = ErrGroup(parent)
    assert group.ctx.value("k") == "v"
    stopped: Chan[str] = Chan(1)

    def worker() -> None:
        group.ctx.done().recv_ok(timeout=JOIN)
        stopped.send(str(group.ctx.err()))

    group.go(worker)
    cancel()  # cancelling the parent stops the group's goroutines
    group.wait()  # the worker returned normally: no error
    assert stopped.recv(timeout=JOIN) == "context canceled"
    assert parent.err() is not None


def test_group_ctx_does_not_cancel_the_parent() -> None:
    parent, cancel = gort.with_cancel(gort.background())
    group = ErrGroup(parent)
    group.go(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        group.wait()
    assert parent.err() is None
    cancel()


def test_many_failures_from_parallel_goroutines_keep_exactly_one() -> None:
    group = ErrGroup()
    start: Chan[None] = Chan()
    errors = [ValueError(i) for i in range(64)]

    def fail(e: ValueError) -> None:
        start.recv_ok()
        raise e

    for e in errors:
        group.go(fail, e)
    start.close()
    with pytest.raises(ValueError) as ei:
        group.wait()
    assert any(ei.value is e for e in errors)
    assert group._err is ei.value


# --------------------------------------------------------------------------- limits

def test_set_limit_bounds_concurrency() -> None:
    group = ErrGroup()
    group.set_limit(3)
    assert "limit=3" in repr(group)
    peak = Peak()
    done = atomic.Int64()

    def task() -> None:
        peak.enter()
        for _ in range(20):
            gort.gosched()
        peak.leave()
        done.add(1)

    for _ in range(60):
        group.go(task)  # blocks for a slot while 3 run
    group.wait()
    assert done.load() == 60
    assert 1 <= peak.peak.load() <= 3


def test_limit_is_reached_and_go_blocks_for_a_slot() -> None:
    group = ErrGroup()
    group.set_limit(2)
    gate: Chan[None] = Chan()
    running = atomic.Int64()

    def blocker() -> None:
        running.add(1)
        gate.recv_ok()

    group.go(blocker)
    group.go(blocker)
    wait_until(lambda: running.load() == 2, JOIN, "two running")
    assert group.try_go(blocker) is False  # full
    third = gort.go(group.go, blocker)  # blocks in go() for a slot
    wait_until(lambda: third.state is GState.PARKED, JOIN, "go() waiting for a slot")
    assert third._wait_reason == "semacquire"
    assert running.load() == 2
    gate.close()
    third.result(timeout=JOIN)
    group.wait()
    assert running.load() == 3


def test_try_go() -> None:
    group = ErrGroup()
    ran = atomic.Int64()
    assert all(group.try_go(ran.add, 1) for _ in range(10))  # no limit: always
    group.wait()
    assert ran.load() == 10

    group = ErrGroup()
    group.set_limit(1)
    gate: Chan[None] = Chan()
    assert group.try_go(gate.recv_ok) is True
    assert group.try_go(ran.add, 1) is False
    assert group.try_go(ran.add, 1) is False
    gate.close()
    wait_until(lambda: group._wg.count == 0, JOIN, "slot freed")
    assert group.try_go(ran.add, 1) is True
    group.wait()
    assert ran.load() == 11


def test_modifying_the_limit_while_active_raises() -> None:
    group = ErrGroup()
    gate: Chan[None] = Chan()
    group.go(gate.recv_ok)
    group.go(gate.recv_ok)
    with pytest.raises(RuntimeError) as ei:
        group.set_limit(5)
    assert str(ei.value) == ("errgroup: modify limit while 2 goroutines in the group "
                             "are still active")
    gate.close()
    group.wait()
    group.set_limit(5)  # fine once idle


def test_negative_limit_removes_it() -> None:
    group = ErrGroup()
    group.set_limit(1)
    group.set_limit(-1)
    assert "limit" not in repr(group)
    gate: Chan[None] = Chan()
    for _ in range(10):
        assert group.try_go(gate.recv_ok)
    gate.close()
    group.wait()


def test_limit_with_failures_releases_slots() -> None:
    group = ErrGroup()
    group.set_limit(2)
    for i in range(20):
        group.go(lambda i=i: 1 / (i % 5))  # some fail; the slots still come back
    with pytest.raises(ZeroDivisionError):
        group.wait()
    assert group._sem is not None and group._sem.statistics().held == 0


# --------------------------------------------------------------------------- async

def test_async_functions_run_as_coroutine_goroutines() -> None:
    group = ErrGroup()
    total = atomic.Int64()

    async def work(i: int) -> None:
        await gort.asleep(0.001)
        assert gort.current_goroutine() is not None
        total.add(i)

    for i in range(50):
        group.go(work, i)
    group.wait()
    assert total.load() == sum(range(50))


def test_async_failure_cancels_ctx_and_is_reraised() -> None:
    group = ErrGroup()

    async def waiter() -> None:
        r = await gort.aselect(group.ctx.done().recv_case())
        assert not r.ok

    async def fail() -> None:
        await gort.asleep(0.001)
        raise LookupError("async failure")

    for _ in range(5):
        group.go(waiter)
    group.go(fail)
    with pytest.raises(LookupError, match="async failure"):
        group.wait()


def test_await_in_a_coroutine_goroutine() -> None:
    async def main() -> tuple[int, str]:
        group = ErrGroup()
        total = atomic.Int64()
        for i in range(10):
            group.go(total.add, i)  # plain ones

        async def aw(i: int) -> None:
            total.add(i)

        for i in range(10):
            group.go(aw, 100 + i)
        await group.await_()
        ok = total.load()

        group2 = ErrGroup()

        async def fail() -> None:
            raise OSError("nope")

        group2.go(fail)
        try:
            await group2.await_()
        except OSError as e:
            return ok, str(e)
        return ok, ""

    assert gort.go(main).result(timeout=JOIN) == (sum(range(10)) + sum(range(100, 110)), "nope")


def test_async_limit() -> None:
    group = ErrGroup()
    group.set_limit(4)
    peak = Peak()

    async def task() -> None:
        peak.enter()
        await gort.asleep(0.002)
        peak.leave()

    for _ in range(40):
        group.go(task)
    group.wait()
    assert 1 <= peak.peak.load() <= 4


def test_goroutine_names_are_the_functions() -> None:
    group = ErrGroup()
    gate: Chan[None] = Chan()

    def my_task() -> None:
        gate.recv_ok()

    async def my_async_task() -> None:
        await gate.arecv_ok()

    before = {g.id for g in gort._runtime.live_goroutines()}
    group.go(my_task)
    group.go(my_async_task)
    wait_until(lambda: len({g.id for g in gort._runtime.live_goroutines()} - before) == 2, JOIN)
    names = {g.name for g in gort._runtime.live_goroutines() if g.id not in before}
    assert any(n.endswith("my_task") for n in names)
    assert any(n.endswith("my_async_task") for n in names)
    gate.close()
    group.wait()


# --------------------------------------------------------------------------- Go's limit 0

def test_go_try_go() -> None:
    # x/sync errgroup_test.go TestTryGo, ending with "Block all calls":
    # g.SetLimit(0), then TryGo fails every time and Wait returns.
    group = ErrGroup()
    n = 42
    group.set_limit(n)
    ch: Chan[None] = Chan()

    def fn() -> None:
        ch.send(None)

    for i in range(n):
        assert group.try_go(fn), f"TryGo should succeed but failed at call {i}"
    assert not group.try_go(fn), "TryGo is expected to fail but succeeded"

    def drain(k: int) -> None:
        for _ in range(k):
            ch.recv()

    gort.go(drain, n)
    group.wait()
    assert group.try_go(fn), "TryGo should succeed after all goroutines"
    gort.go(drain, 1)
    group.wait()
    # Switch limit.
    group.set_limit(1)
    assert group.try_go(fn)
    assert not group.try_go(fn)
    gort.go(drain, 1)
    group.wait()
    # Block all calls.
    group.set_limit(0)
    assert "limit=0" in repr(group)
    for _ in range(1 << 10):
        assert group.try_go(fn) is False
    group.wait()


def test_go_with_limit_zero_blocks() -> None:
    # Go: with SetLimit(0), Go blocks (g.sem <- token{} on a zero-capacity
    # channel nobody receives from); it must not raise.
    group = ErrGroup()
    group.set_limit(0)
    ran = atomic.Int64()
    blocked = gort.go(group.go, ran.add, 1)
    wait_until(lambda: blocked.state is GState.PARKED, JOIN, "go() blocked at limit 0")
    assert ran.load() == 0
    assert group.try_go(ran.add, 1) is False
    assert group._wg.count == 0
    group.wait()  # nothing in the group: returns
    # Only for this test's cleanup: end the blocked call.
    group._zero.close()  # type: ignore[union-attr]
    with pytest.raises(gort.ChanClosed):
        blocked.result(timeout=JOIN)
    assert ran.load() == 0


def test_limit_zero_does_not_depend_on_semaphore_semantics(monkeypatch: Any) -> None:
    # Whether Semaphore raises or waits for a weight beyond its size, limit 0
    # never asks it: no Semaphore(0) is made.
    made: list[int] = []
    real = gort._errgroup.Semaphore

    def spy(n: int) -> Any:
        made.append(n)
        return real(n)

    monkeypatch.setattr(gort._errgroup, "Semaphore", spy)
    group = ErrGroup()
    group.set_limit(0)
    assert made == []
    assert group.try_go(lambda: None) is False
    group.set_limit(2)
    assert made == [2]
    assert group.try_go(lambda: None) is True
    group.wait()


def test_set_limit_takes_an_int() -> None:
    group = ErrGroup()
    for bad in (1.5, "3", None, True):
        with pytest.raises(TypeError, match="errgroup: limit must be an int"):
            group.set_limit(bad)  # type: ignore[arg-type]


def test_a_goroutine_that_fails_to_start_gives_its_slot_back(monkeypatch: Any) -> None:
    group = ErrGroup()
    group.set_limit(1)
    real_go = gort._errgroup.go

    def refuse(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(gort._errgroup, "go", refuse)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        group.go(lambda: None)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        group.try_go(lambda: None)
    monkeypatch.setattr(gort._errgroup, "go", real_go)
    assert group._wg.count == 0
    ran = atomic.Int64()
    assert group.try_go(ran.add, 1) is True  # the slot is free again
    assert wait_in_goroutine(group).result(timeout=JOIN) is None
    assert ran.load() == 1


# --------------------------------------------------------------------------- cause (x/sync)

class Doom(Exception):
    pass


@pytest.mark.parametrize("errs", [[], [None], ["doom"], ["doom", None]],
                         ids=["none", "nil", "doom", "doom,nil"])
def test_x_sync_cancel_cause(errs: list[str | None]) -> None:
    # x/sync's TestCancelCause: the group's ctx is cancelled with the first
    # error as its cause; without one, wait() cancels it with Canceled.
    doom = Doom("group_test: doomed")
    group = ErrGroup()

    def run(err: str | None) -> None:
        if err is not None:
            raise doom

    for err in errs:
        assert group.try_go(run, err)
    want: BaseException | None = doom if "doom" in errs else None
    if want is None:
        group.wait()
    else:
        with pytest.raises(Doom) as ei:
            group.wait()
        assert ei.value is want
    got = gort.cause(group.ctx)
    if want is None:
        assert type(got) is Canceled and got is group.ctx.err()
    else:
        assert got is want
        assert type(group.ctx.err()) is Canceled


def test_the_cause_is_visible_before_wait_returns() -> None:
    group = ErrGroup()
    doom = Doom("first")
    seen: Chan[BaseException | None] = Chan(1)

    def watcher() -> None:
        group.ctx.done().recv_ok()
        seen.send(gort.cause(group.ctx))

    def fail() -> None:
        raise doom

    group.go(watcher)
    group.go(fail)
    assert seen.recv(timeout=JOIN) is doom
    with pytest.raises(Doom):
        group.wait()


def test_async_failure_is_the_cause() -> None:
    group = ErrGroup()
    doom = Doom("async")

    async def fail() -> None:
        raise doom

    async def main() -> BaseException | None:
        group.go(fail)
        try:
            await group.await_()
        except Doom:
            pass
        return gort.cause(group.ctx)

    assert gort.go(main).result(timeout=JOIN) is doom
