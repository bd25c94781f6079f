"""Go's ``context`` package: the context tree, cancellation, deadlines and values."""

from __future__ import annotations

import asyncio
import functools
import gc
import math
import threading
import time
import weakref
from typing import Any

import pytest

import gort
from gort import Canceled, Chan, DeadlineExceeded, GState, _timers, atomic
from tests.helpers import run_concurrently, wait_until

JOIN = 10.0


def assert_done(ctx: gort.Context) -> None:
    """ctx.done() is closed: a receive returns at once with ok False."""
    v, ok = ctx.done().recv_ok(timeout=JOIN)
    assert (v, ok) == (None, False)
    assert ctx.done().closed


def assert_not_done(ctx: gort.Context) -> None:
    assert ctx.err() is None
    assert ctx.done().try_recv() == (None, False)
    assert not ctx.done().closed


def children(ctx: gort.Context) -> Any:
    return ctx._children  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- background

def test_background_and_todo() -> None:
    bg = gort.background()
    assert gort.background() is bg
    assert gort.todo() is bg
    assert isinstance(bg, gort.Context)
    assert bg.err() is None
    assert bg.deadline() is None
    assert bg.value("anything") is None
    assert_not_done(bg)
    assert isinstance(bg.done(), gort.RecvChan)
    assert repr(bg) == "context.Background"


def test_background_done_never_fires_in_select() -> None:
    ch: Chan[int] = Chan(1)
    ch.send(7)
    r = gort.select(gort.background().done().recv_case(), ch.recv_case(), timeout=JOIN)
    assert (r.index, r.value, r.ok) == (1, 7, True)
    r = gort.select(gort.background().done().recv_case(), default=True)
    assert r.index == -1


def test_parent_must_be_a_context() -> None:
    with pytest.raises(TypeError, match="parent must be a gort context, got NoneType"):
        gort.with_cancel(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got str"):
        gort.with_timeout("ctx", 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gort.with_deadline(object(), time.monotonic())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gort.with_value(42, "k", "v")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- with_cancel

def test_with_cancel_basics() -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    assert_not_done(ctx)
    assert ctx.deadline() is None
    assert "active" in repr(ctx)
    cancel()
    assert_done(ctx)
    err = ctx.err()
    assert type(err) is Canceled
    assert isinstance(err, Exception)
    assert not isinstance(err, TimeoutError)
    assert str(err) == "context canceled"
    assert "context canceled" in repr(ctx)


def test_done_is_a_receive_only_channel() -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    done = ctx.done()
    assert isinstance(done, gort.RecvChan)
    assert not isinstance(done, gort.SendChan)
    assert not hasattr(done, "send")
    assert not hasattr(done, "close")
    assert done.cap == 0
    assert len(done) == 0
    assert ctx.done() is done  # the same channel every time
    cancel()
    assert done.closed
    assert list(done) == []  # iterating a closed channel ends at once


def test_cancel_wakes_every_waiter_on_done() -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    n = 20
    gs = [gort.go(ctx.done().recv_ok) for _ in range(n)]
    wait_until(lambda: all(g.state is GState.PARKED for g in gs), JOIN, "waiters parked")
    assert ctx._done.statistics().receivers_waiting == n  # type: ignore[attr-defined]
    cancel()
    assert [g.result(timeout=JOIN) for g in gs] == [(None, False)] * n


def test_done_in_select_with_other_cases() -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    work: Chan[int] = Chan()
    got: list[int] = []

    def worker() -> str:
        while True:
            r = gort.select(ctx.done().recv_case(), work.recv_case())
            if r.index == 0:
                assert not r.ok
                return "stopped: " + str(ctx.err())
            got.append(r.value)

    g = gort.go(worker)
    for i in range(100):
        work.send(i, timeout=JOIN)
    cancel()
    assert g.result(timeout=JOIN) == "stopped: context canceled"
    assert got == list(range(100))


def test_cancel_is_idempotent() -> None:
    parent, pcancel = gort.with_cancel(gort.background())
    ctx, cancel = gort.with_cancel(parent)
    cancel()
    err = ctx.err()
    cancel()
    cancel()
    assert ctx.err() is err  # the first error stays
    pcancel()
    assert ctx.err() is err  # a later parent cancel does not overwrite it
    assert type(parent.err()) is Canceled


def test_concurrent_cancels_close_done_once() -> None:
    for _ in range(50):
        ctx, cancel = gort.with_cancel(gort.background())
        start: Chan[None] = Chan()
        wg = gort.WaitGroup()

        def canceller(start: Chan[None], cancel: Any) -> None:
            start.recv_ok()
            cancel()

        for _ in range(8):
            wg.go(canceller, start, cancel)
        start.close()
        assert wg.wait(timeout=JOIN)
        assert type(ctx.err()) is Canceled
        assert_done(ctx)


# --------------------------------------------------------------------------- tree

def build_tree(root: gort.Context, depth: int, width: int) -> list[tuple[gort.Context, Any]]:
    """Every node below root: a mix of cancel, timeout and value contexts."""
    nodes: list[tuple[gort.Context, Any]] = []
    level = [root]
    for d in range(depth):
        nxt = []
        for parent in level:
            for w in range(width):
                kind = (d + w) % 3
                if kind == 0:
                    ctx, cancel = gort.with_cancel(parent)
                elif kind == 1:
                    ctx, cancel = gort.with_timeout(parent, 600)
                else:
                    ctx, cancel = gort.with_value(parent, (d, w), "v"), None
                nodes.append((ctx, cancel))
                nxt.append(ctx)
        level = nxt
    return nodes


def test_cancelling_a_parent_cancels_every_descendant() -> None:
    root, cancel = gort.with_cancel(gort.background())
    nodes = build_tree(root, depth=4, width=3)
    assert len(nodes) == 3 + 9 + 27 + 81
    waiters = [gort.go(ctx.done().recv_ok) for ctx, _ in nodes[-20:]]
    for ctx, _ in nodes:
        assert_not_done(ctx)
    cancel()
    for ctx, _ in nodes:
        assert_done(ctx)
        assert type(ctx.err()) is Canceled
    for g in waiters:
        assert g.result(timeout=JOIN) == (None, False)
    assert children(root) is None


def test_cancelling_a_child_never_cancels_its_parent_or_siblings() -> None:
    root, rcancel = gort.with_cancel(gort.background())
    a, acancel = gort.with_cancel(root)
    b, bcancel = gort.with_timeout(root, 600)
    a1, a1cancel = gort.with_cancel(a)
    a2 = gort.with_value(a, "k", 1)
    a2c, a2ccancel = gort.with_cancel(a2)
    acancel()
    for ctx in (a, a1, a2, a2c):
        assert type(ctx.err()) is Canceled
    for ctx in (root, b):
        assert_not_done(ctx)
    bcancel()
    assert_not_done(root)
    rcancel()
    a1cancel()
    a2ccancel()


def test_child_of_a_cancelled_parent_is_born_cancelled() -> None:
    parent, cancel = gort.with_cancel(gort.background())
    cancel()
    for child, ccancel in (gort.with_cancel(parent), gort.with_timeout(parent, 600),
                           gort.with_deadline(parent, time.monotonic() + 600)):
        assert child.err() is parent.err()  # the parent's error, as in Go
        assert_done(child)
        ccancel()
    assert gort.with_value(parent, "k", "v").err() is parent.err()


def test_children_attach_to_the_nearest_cancellable_ancestor() -> None:
    root, cancel = gort.with_cancel(gort.background())
    v1 = gort.with_value(root, "a", 1)
    v2 = gort.with_value(v1, "b", 2)
    child, ccancel = gort.with_cancel(v2)
    assert children(root) == {child}
    ccancel()
    assert children(root) == set()
    child2, _ = gort.with_cancel(v2)
    cancel()
    assert type(child2.err()) is Canceled


def test_parent_holds_no_reference_to_a_cancelled_child() -> None:
    root, rcancel = gort.with_cancel(gort.background())
    kids = [gort.with_cancel(root) for _ in range(10)] + \
        [gort.with_timeout(root, 600) for _ in range(10)]
    assert len(children(root)) == 20
    for i, (ctx, cancel) in enumerate(kids):
        cancel()
        assert ctx not in children(root)
        assert len(children(root)) == 19 - i
    # and the child can then be collected
    ctx, cancel = gort.with_timeout(root, 600)
    ref = weakref.ref(ctx)
    cancel()
    del ctx, cancel, kids
    gc.collect()
    assert ref() is None
    rcancel()


def test_an_expired_child_detaches_itself() -> None:
    root, rcancel = gort.with_cancel(gort.background())
    ctx, cancel = gort.with_timeout(root, 0.05)
    assert ctx in children(root)
    assert_done(ctx)
    wait_until(lambda: ctx not in children(root), JOIN, "expired child detached")
    cancel()
    rcancel()


def test_concurrent_derivation_and_cancellation() -> None:
    """Children derived while the parent is being cancelled all end up cancelled."""
    for _ in range(10):
        root, cancel = gort.with_cancel(gort.background())
        made: list[gort.Context] = []
        start: Chan[None] = Chan()
        wg = gort.WaitGroup()

        def derive(start: Chan[None], root: gort.Context, made: list[gort.Context]) -> None:
            start.recv_ok()
            for i in range(200):
                if i % 2:
                    made.append(gort.with_cancel(root)[0])
                else:
                    made.append(gort.with_timeout(root, 600)[0])

        for _ in range(4):
            wg.go(derive, start, root, made)
        start.close()
        cancel()
        assert wg.wait(timeout=JOIN)
        assert len(made) == 800
        for ctx in made:
            assert type(ctx.err()) is Canceled
        assert children(root) is None


# --------------------------------------------------------------------------- deadlines

@pytest.mark.gort_synctest
def test_with_timeout_expires() -> None:
    """(In a synctest bubble: the deadline and the expiry are exact.)"""
    t0 = gort.synctest.now()
    ctx, cancel = gort.with_timeout(gort.background(), 30)
    assert ctx.deadline() == t0 + 30
    gort.sleep(29.5)
    assert_not_done(ctx)
    assert "deadline in 0.500s" in repr(ctx)
    assert ctx.done().recv_ok() == (None, False)
    assert gort.synctest.now() == t0 + 30
    err = ctx.err()
    assert type(err) is DeadlineExceeded
    assert isinstance(err, TimeoutError)
    assert str(err) == "context deadline exceeded"
    cancel()  # after expiry: a no-op
    assert ctx.err() is err


def test_with_timeout_expires_on_the_real_clock() -> None:
    t0 = time.monotonic()
    ctx, cancel = gort.with_timeout(gort.background(), 0.1)
    dl = ctx.deadline()
    assert dl is not None and t0 + 0.1 <= dl <= time.monotonic() + 0.1
    assert ctx.done().recv_ok(timeout=JOIN) == (None, False)
    assert time.monotonic() - t0 >= 0.1
    assert type(ctx.err()) is DeadlineExceeded
    cancel()


def test_with_deadline_expires_in_a_select() -> None:
    ctx, cancel = gort.with_deadline(gort.background(), time.monotonic() + 0.05)
    never: Chan[int] = Chan()
    r = gort.select(never.recv_case(), ctx.done().recv_case(), timeout=JOIN)
    assert r.index == 1 and not r.ok
    assert type(ctx.err()) is DeadlineExceeded
    cancel()


def test_deadline_in_the_past_is_exceeded_at_once() -> None:
    base = _timers.pending()
    for ctx, cancel in (gort.with_deadline(gort.background(), time.monotonic() - 1),
                        gort.with_timeout(gort.background(), 0),
                        gort.with_timeout(gort.background(), -5)):
        assert type(ctx.err()) is DeadlineExceeded
        assert_done(ctx)
        cancel()
        assert type(ctx.err()) is DeadlineExceeded
    assert _timers.pending() <= base


def test_cancel_before_the_deadline_gives_canceled() -> None:
    ctx, cancel = gort.with_timeout(gort.background(), 600)
    cancel()
    assert type(ctx.err()) is Canceled


def test_a_childs_deadline_never_exceeds_its_parents() -> None:
    parent, pcancel = gort.with_timeout(gort.background(), 100)
    pd = parent.deadline()
    assert pd is not None
    later, c1 = gort.with_timeout(parent, 1000)
    assert later.deadline() == pd
    later2, c2 = gort.with_deadline(parent, pd + 1)
    assert later2.deadline() == pd
    same, c3 = gort.with_deadline(parent, pd)
    assert same.deadline() == pd
    plain, c4 = gort.with_cancel(parent)
    assert plain.deadline() == pd
    val = gort.with_value(parent, "k", "v")
    assert val.deadline() == pd
    under_val, c5 = gort.with_timeout(val, 1000)
    assert under_val.deadline() == pd
    earlier, c6 = gort.with_timeout(parent, 10)
    ed = earlier.deadline()
    assert ed is not None and ed < pd
    grandchild, c7 = gort.with_timeout(earlier, 50)
    assert grandchild.deadline() == ed
    for c in (c1, c2, c3, c4, c5, c6, c7, pcancel):
        c()


def test_parent_deadline_cancels_children_with_deadline_exceeded() -> None:
    parent, pcancel = gort.with_timeout(gort.background(), 0.1)
    child, ccancel = gort.with_timeout(parent, 600)
    plain, c2 = gort.with_cancel(gort.with_value(parent, "k", 1))
    assert_done(child)
    assert_done(plain)
    assert type(parent.err()) is DeadlineExceeded
    assert child.err() is parent.err()
    assert plain.err() is parent.err()
    for c in (ccancel, c2, pcancel):
        c()


@pytest.mark.gort_synctest
def test_child_deadline_earlier_than_parent_fires_alone() -> None:
    t0 = gort.synctest.now()
    parent, pcancel = gort.with_timeout(gort.background(), 600)
    child, ccancel = gort.with_timeout(parent, 0.05)
    child.done().recv_ok()
    assert gort.synctest.now() == t0 + 0.05
    assert type(child.err()) is DeadlineExceeded
    assert_not_done(parent)
    parent.done().recv_ok()
    assert gort.synctest.now() == t0 + 600
    ccancel()
    pcancel()


# --------------------------------------------------------------------------- timers

def test_cancel_leaves_no_timer_pending() -> None:
    base = _timers.pending()
    ctx, cancel = gort.with_timeout(gort.background(), 600)
    entry = ctx._timer  # type: ignore[attr-defined]
    assert entry is not None and entry.state == _timers.PENDING
    assert _timers.pending() >= base + 1
    cancel()
    assert ctx._timer is None  # type: ignore[attr-defined]
    assert entry.state == _timers.CANCELLED
    assert _timers.pending() <= base


def test_parent_cancel_stops_every_descendants_timer() -> None:
    base = _timers.pending()
    root, cancel = gort.with_timeout(gort.background(), 600)
    nodes = build_tree(root, depth=3, width=4)
    # every with_timeout below a 600 s parent asks for 600 s: the parent's comes first
    # or ties, so some descendants may have no timer of their own; none may be left.
    entries = [ctx._timer for ctx, _ in nodes if getattr(ctx, "_timer", None) is not None]
    cancel()
    assert all(e.state == _timers.CANCELLED for e in entries)
    assert all(getattr(ctx, "_timer", None) is None for ctx, _ in nodes)
    assert _timers.pending() <= base


def test_100k_short_lived_timeout_contexts_leave_nothing_behind() -> None:
    root, rcancel = gort.with_cancel(gort.background())
    base = _timers.pending()
    heap_before = len(_timers._heap)
    refs: list[weakref.ref[gort.Context]] = []

    def churn(n: int) -> None:
        for i in range(n):
            ctx, cancel = gort.with_timeout(root, 600)
            if i % 1000 == 0:
                refs.append(weakref.ref(ctx))
            cancel()

    # four goroutines share the parent, so the parent's child set is contended
    gs = [gort.go(churn, 25_000) for _ in range(4)]
    for g in gs:
        g.result(timeout=120)
    assert children(root) == set()
    assert _timers.pending() <= base
    # compaction keeps the heap near its live size, not 100,000 entries
    assert len(_timers._heap) <= max(2 * heap_before, heap_before + 200)
    gc.collect()
    assert sum(1 for r in refs if r() is not None) == 0
    rcancel()


# --------------------------------------------------------------------------- values

def test_value_lookup_through_the_chain() -> None:
    root = gort.background()
    a = gort.with_value(root, "user", "alice")
    b, bcancel = gort.with_cancel(a)
    c = gort.with_value(b, "request", 17)
    d, dcancel = gort.with_timeout(c, 600)
    e = gort.with_value(d, "user", "bob")  # shadows the outer binding
    assert e.value("user") == "bob"
    assert e.value("request") == 17
    assert d.value("user") == "alice"
    assert d.value("request") == 17
    assert b.value("request") is None
    assert e.value("missing") is None
    assert root.value("user") is None
    assert "'user'='bob'" in repr(e)
    dcancel()
    bcancel()


def test_value_keys_compare_by_equality_and_any_object_works() -> None:
    class Key:
        pass

    k1, k2 = Key(), Key()
    ctx = gort.with_value(gort.with_value(gort.background(), k1, "one"), k2, "two")
    assert ctx.value(k1) == "one"
    assert ctx.value(k2) == "two"
    assert ctx.value(Key()) is None
    ctx = gort.with_value(ctx, ("tuple", 1), [1, 2])
    assert ctx.value(("tuple", 1)) == [1, 2]
    ctx = gort.with_value(ctx, "none", None)
    assert ctx.value("none") is None


def test_value_context_follows_its_parents_cancellation() -> None:
    parent, cancel = gort.with_cancel(gort.background())
    v = gort.with_value(parent, "k", "v")
    assert v.done() is parent.done()
    assert v.err() is None
    assert v.deadline() is None
    cancel()
    assert v.err() is parent.err()
    assert_done(v)


def test_values_are_visible_from_goroutines() -> None:
    ctx = gort.with_value(gort.background(), "id", 99)

    def handler(c: gort.Context) -> Any:
        return c.value("id")

    gs = [gort.go(handler, gort.with_value(ctx, "n", i)) for i in range(10)]
    assert [g.result(timeout=JOIN) for g in gs] == [99] * 10


# --------------------------------------------------------------------------- coroutines

def test_done_awaited_in_a_coroutine_goroutine() -> None:
    # ctx.done() is a recv_only() view: this once raised NotImplementedError,
    # when the views lacked the coroutine forms (arecv/arecv_ok).
    ctx, cancel = gort.with_cancel(gort.background())

    async def waiter() -> tuple[Any, bool]:
        return await ctx.done().arecv_ok()  # type: ignore[no-any-return]

    gs = [gort.go(waiter) for _ in range(10)]
    wait_until(lambda: all(g.state is GState.PARKED or g.done() for g in gs), JOIN,
               "coroutine waiters parked")
    cancel()
    assert [g.result(timeout=JOIN) for g in gs] == [(None, False)] * 10


def test_done_in_an_aselect_of_a_coroutine_goroutine() -> None:
    ctx, cancel = gort.with_timeout(gort.background(), 0.05)
    never: Chan[int] = Chan()

    async def waiter() -> tuple[int, bool, str]:
        r = await gort.aselect(never.recv_case(), ctx.done().recv_case())
        return r.index, r.ok, str(ctx.err())

    assert gort.go(waiter).result(timeout=JOIN) == (1, False, "context deadline exceeded")
    cancel()


def test_done_awaited_in_an_asyncio_task() -> None:
    # (see test_done_awaited_in_a_coroutine_goroutine: the asyncio side)
    ctx, cancel = gort.with_timeout(gort.background(), 0.05)

    async def main() -> tuple[Any, bool]:
        return await ctx.done().arecv_ok()  # type: ignore[no-any-return]

    assert asyncio.run(main()) == (None, False)
    assert type(ctx.err()) is DeadlineExceeded
    cancel()


# --------------------------------------------------------------------------- contexts not ours
#
# Go's context_test.go runs its cases with "otherContext", a Context that is not
# one of the package's own types, and propagateCancel follows any parent whose
# Done() closes.  Two kinds here: OtherContext wraps one of gort's contexts and
# delegates to it (Go's otherContext/myCtx, which embed one); UserContext has a
# done channel of its own, closed by its cancel() (Go's myDoneCtx, and any
# context a user writes from scratch).

class OtherContext(gort.Context):
    """Go's ``otherContext{ctx}``: every method delegates to ``inner``."""

    def __init__(self, inner: gort.Context) -> None:
        self.inner = inner

    def done(self) -> gort.RecvChan[None]:
        return self.inner.done()

    def err(self) -> BaseException | None:
        return self.inner.err()

    def deadline(self) -> float | None:
        return self.inner.deadline()

    def value(self, key: Any) -> Any:
        return self.inner.value(key)


class UserContext(OtherContext):
    """A context with its own done channel, closed by ``cancel``; the rest
    delegates to ``inner`` (Go's ``myDoneCtx``)."""

    def __init__(self, inner: gort.Context | None = None) -> None:
        super().__init__(inner or gort.background())
        self._ch: Chan[None] = Chan()
        self._view = self._ch.recv_only()
        self._err: BaseException | None = None
        self._lock = threading.Lock()

    def done(self) -> gort.RecvChan[None]:
        return self._view

    def err(self) -> BaseException | None:
        return self._err

    def cancel(self, err: BaseException | None = None) -> None:
        with self._lock:
            if self._err is None:
                self._err = err if err is not None else Canceled("user context canceled")
                self._ch.close()


def watchers() -> int:
    """Live watcher goroutines (Go's propagateCancel goroutine)."""
    return sum(1 for g in gort._runtime.live_goroutines()
               if g.name == "context.propagate_cancel")


def started_watchers() -> int:
    return gort._context._goroutines


def test_go_with_cancel_propagates_through_other_context() -> None:
    # Go's TestWithCancel: c2 := WithCancel(otherContext{c1}); cancel c1.
    c1, cancel = gort.with_cancel(gort.background())
    o = OtherContext(c1)
    c2, cancel2 = gort.with_cancel(o)
    for c in (c1, o, c2):
        assert_not_done(c)
    cancel()
    for c in (c1, o, c2):
        assert_done(c)
        assert c.err() is c1.err()
        assert type(c.err()) is Canceled
    cancel2()


def test_go_parent_finishes_child_with_a_user_context() -> None:
    # Go's TestParentFinishesChild, the parent being a context that is not ours:
    # parent -> cancel_child; parent -> value_child -> timer_child.
    parent = UserContext()
    cancel_child, stop1 = gort.with_cancel(parent)
    value_child = gort.with_value(parent, "key", "value")
    timer_child, stop2 = gort.with_timeout(value_child, 10000 * 3600)
    for c in (parent, cancel_child, value_child, timer_child):
        assert_not_done(c)
    err = Canceled("the user's own error")
    parent.cancel(err)
    for c in (parent, cancel_child, value_child, timer_child):
        assert_done(c)
        assert c.err() is err  # the parent's err, as Go's child.cancel(parent.Err())
    assert timer_child._timer is None  # type: ignore[attr-defined]
    # WithCancel of a cancelled parent returns a cancelled context at once.
    precancelled, stop3 = gort.with_cancel(parent)
    assert precancelled.err() is err
    assert precancelled.done().closed
    wait_until(lambda: watchers() == 0, JOIN, "the watchers ended")
    stop1()
    stop2()
    stop3()


def test_go_with_cancel_canceled_parent_not_ours() -> None:
    # Go's TestWithCancelCanceledParent with a parent of the user's: done
    # already closed, so the child is born cancelled and no goroutine starts.
    parent = UserContext()
    parent.cancel(DeadlineExceeded())
    n = started_watchers()
    for child, cancel in (gort.with_cancel(parent), gort.with_timeout(parent, 600),
                          gort.with_deadline(parent, time.monotonic() + 600)):
        assert child.err() is parent.err()
        assert_done(child)
        cancel()
    assert started_watchers() == n


def test_go_child_finishes_first_with_a_user_parent() -> None:
    # Go's TestChildFinishesFirst: cancelling the child leaves the parent alone,
    # and the watcher goroutine ends with the child.
    parent = UserContext()
    child, cancel = gort.with_cancel(parent)
    wait_until(lambda: watchers() == 1, JOIN, "one watcher")
    cancel()
    assert type(child.err()) is Canceled
    assert_not_done(parent)
    wait_until(lambda: watchers() == 0, JOIN, "the watcher ended with the child")
    parent.cancel()
    assert type(child.err()) is Canceled  # still its own error


def test_go_deadline_and_timeout_through_other_context() -> None:
    # Go's TestDeadline/TestTimeout "WithDeadline+otherContext+WithDeadline":
    # the parent's earlier deadline reaches the child through the wrapper.
    c, cancel = gort.with_timeout(gort.background(), 0.05)
    o = OtherContext(c)
    c2, cancel2 = gort.with_timeout(o, 600)
    assert c2.deadline() == c.deadline()
    _, ok = c2.done().recv_ok(timeout=JOIN)
    assert not ok
    assert type(c2.err()) is DeadlineExceeded
    cancel()
    cancel2()
    c3, cancel3 = gort.with_deadline(OtherContext(gort.with_timeout(gort.background(), 0.05)[0]),
                                     time.monotonic() + 600)
    c3.done().recv_ok(timeout=JOIN)
    assert type(c3.err()) is DeadlineExceeded
    cancel3()


def test_go_canceled_timeout_through_other_context() -> None:
    # Go's TestCanceledTimeout.
    c, cancel = gort.with_timeout(gort.background(), 1)
    o = OtherContext(c)
    c2, cancel2 = gort.with_timeout(o, 2)
    cancel2()
    assert_done(c2)
    assert type(c2.err()) is Canceled
    assert_not_done(c)
    cancel()


def test_go_custom_context_goroutines() -> None:
    # Go's TestCustomContextGoroutines: a watcher goroutine is started only for
    # a parent whose done channel is its own; a wrapper around one of ours is
    # followed to it directly.
    g = started_watchers()

    def created() -> None:
        nonlocal g
        assert started_watchers() == g + 1
        g += 1

    def none() -> None:
        assert started_watchers() == g

    _, cancel0 = gort.with_cancel(UserContext())
    cancel0()
    created()
    _, cancel0 = gort.with_timeout(UserContext(), 3600)
    cancel0()
    created()
    none()

    ctx1, cancel1 = gort.with_cancel(gort.background())
    none()
    ctx2 = OtherContext(ctx1)  # Go's myCtx: provides ctx1's Done
    ctx3, cancel3 = gort.with_cancel(ctx2)
    none()
    assert ctx3 in children(ctx1)  # attached straight to ctx1
    _, cancel3b = gort.with_cancel(UserContext(ctx2))
    created()  # ctx1 is not providing Done: it must not be used
    ctx4, cancel4 = gort.with_timeout(ctx3, 3600)
    none()
    ctx5, cancel5 = gort.with_cancel(ctx4)
    none()
    cancel5()
    none()
    _, cancel6 = gort.with_timeout(ctx5, 3600)
    none()
    cancel6()
    cancel1()
    _, cancel7 = gort.with_cancel(ctx5)
    none()
    for c in (cancel3, cancel3b, cancel4, cancel7):
        c()
    assert children(ctx1) is None  # cancelled: it let go of every child
    wait_until(lambda: watchers() == 0, JOIN, "every watcher ended")


def test_a_child_of_a_wrapper_detaches_from_the_wrapped_context() -> None:
    root, rcancel = gort.with_cancel(gort.background())
    child, cancel = gort.with_cancel(OtherContext(gort.with_value(root, "k", 1)))
    assert children(root) == {child}
    assert child.value("k") == 1
    cancel()
    assert children(root) == set()  # no reference left behind
    rcancel()


def test_user_context_with_a_nil_done_is_never_cancelled() -> None:
    class Never(OtherContext):
        def done(self) -> Any:
            return None  # Go: a nil Done() means "never canceled"

    n = started_watchers()
    child, cancel = gort.with_cancel(Never(gort.background()))
    assert started_watchers() == n
    assert_not_done(child)
    cancel()
    assert type(child.err()) is Canceled


def test_children_of_a_user_context_cancelled_while_being_derived() -> None:
    """Children derived while a foreign parent is cancelled all end up cancelled."""
    def derive(i: int, parent: UserContext, made: list[tuple[gort.Context, Any]],
               lock: threading.Lock) -> None:
        for j in range(30):
            if i == 0 and j == 10:
                parent.cancel()
            pair = gort.with_cancel(parent) if j % 2 else gort.with_timeout(parent, 600)
            with lock:
                made.append(pair)

    for _ in range(5):
        parent = UserContext()
        made: list[tuple[gort.Context, Any]] = []
        lock = threading.Lock()
        run_concurrently(functools.partial(derive, parent=parent, made=made, lock=lock), 4)
        for child, _ in made:
            _, ok = child.done().recv_ok(timeout=JOIN)
            assert not ok
            assert child.err() is parent.err()
        for _, cancel in made:
            cancel()
    wait_until(lambda: watchers() == 0, JOIN, "every watcher ended")


def test_a_user_context_deep_in_a_chain() -> None:
    # ours -> user's -> value -> ours -> ours: cancelling the user's context
    # reaches the bottom, cancelling the top too (through the user's done).
    top, tcancel = gort.with_cancel(gort.background())
    user = UserContext(top)  # its own done: closed by its cancel only

    def follow_top() -> None:
        top.done().recv_ok()
        user.cancel(top.err())

    gort.go(follow_top)
    mid, mcancel = gort.with_cancel(gort.with_value(user, "k", "v"))
    bottom, bcancel = gort.with_timeout(mid, 600)
    assert bottom.value("k") == "v"
    assert mid.value("k") == "v"
    tcancel()
    _, ok = bottom.done().recv_ok(timeout=JOIN)
    assert not ok
    assert bottom.err() is top.err()
    assert mid.err() is top.err()
    mcancel()
    bcancel()
    wait_until(lambda: watchers() == 0, JOIN, "every watcher ended")


# --------------------------------------------------------------------------- with_value keys

def test_with_value_rejects_a_none_key() -> None:
    # Go's TestWithValueChecksKey: WithValue(ctx, nil, v) panics "nil key".
    with pytest.raises(TypeError, match=r"^nil key: with_value's key must not be None$"):
        gort.with_value(gort.background(), None, "bar")
    ctx, cancel = gort.with_cancel(gort.background())
    with pytest.raises(TypeError, match="nil key"):
        gort.with_value(ctx, None, None)
    cancel()
    # Any other key is fine, a falsy one too.
    for key in (0, "", (), False, b""):
        assert gort.with_value(gort.background(), key, "v").value(key) == "v"


# --------------------------------------------------------------------------- causes (Go 1.20/1.21)

class Because(Exception):
    pass


FOREVER_S = 1e6  # Go's ``forever`` in TestCause


def _cause_cases() -> dict[str, tuple[Any, Any, Any]]:
    """Go's TestCause table: name -> (make ctx, its err type or None, its cause).

    A cause given as a string names the exception made by the case; a type means
    "an instance of that type" (gort's Canceled/DeadlineExceeded are not
    singletons as Go's are)."""
    parent_cause, child_cause = Because("parentCause"), Because("childCause")
    too_slow, finished_early = Because("tooSlow"), Because("finishedEarly")

    def cancelled() -> gort.Context:
        ctx, cancel = gort.with_cancel(gort.background())
        cancel()
        return ctx

    def cancel_cause() -> gort.Context:
        ctx, cancel = gort.with_cancel_cause(gort.background())
        cancel(parent_cause)
        return ctx

    def cancel_cause_none() -> gort.Context:
        ctx, cancel = gort.with_cancel_cause(gort.background())
        cancel(None)
        return ctx

    def parent_cause_before_child() -> gort.Context:
        ctx, cancel_parent = gort.with_cancel_cause(gort.background())
        ctx, cancel_child = gort.with_cancel_cause(ctx)
        cancel_parent(parent_cause)
        cancel_child(child_cause)
        return ctx

    def parent_cause_after_child() -> gort.Context:
        ctx, cancel_parent = gort.with_cancel_cause(gort.background())
        ctx, cancel_child = gort.with_cancel_cause(ctx)
        cancel_child(child_cause)
        cancel_parent(parent_cause)
        return ctx

    def parent_cause_before_nil() -> gort.Context:
        ctx, cancel_parent = gort.with_cancel_cause(gort.background())
        ctx, cancel_child = gort.with_cancel(ctx)
        cancel_parent(parent_cause)
        cancel_child()
        return ctx

    def parent_cause_after_nil() -> gort.Context:
        ctx, cancel_parent = gort.with_cancel_cause(gort.background())
        ctx, cancel_child = gort.with_cancel(ctx)
        cancel_child()
        cancel_parent(parent_cause)
        return ctx

    def child_cause_after_nil() -> gort.Context:
        ctx, cancel_parent = gort.with_cancel(gort.background())
        ctx, cancel_child = gort.with_cancel_cause(ctx)
        cancel_parent()
        cancel_child(child_cause)
        return ctx

    def child_cause_before_nil() -> gort.Context:
        ctx, cancel_parent = gort.with_cancel(gort.background())
        ctx, cancel_child = gort.with_cancel_cause(ctx)
        cancel_child(child_cause)
        cancel_parent()
        return ctx

    def timeout() -> gort.Context:
        ctx, cancel = gort.with_timeout(gort.background(), 0)
        cancel()
        return ctx

    def timeout_canceled() -> gort.Context:
        ctx, cancel = gort.with_timeout(gort.background(), FOREVER_S)
        cancel()
        return ctx

    def timeout_cause() -> gort.Context:
        ctx, cancel = gort.with_timeout_cause(gort.background(), 0, too_slow)
        cancel()
        return ctx

    def timeout_cause_canceled() -> gort.Context:
        ctx, cancel = gort.with_timeout_cause(gort.background(), FOREVER_S, too_slow)
        cancel()
        return ctx

    def timeout_cause_stacked() -> gort.Context:
        ctx, cancel = gort.with_cancel_cause(gort.background())
        ctx, _ = gort.with_timeout_cause(ctx, 0, too_slow)
        cancel(finished_early)
        return ctx

    def timeout_cause_stacked_canceled() -> gort.Context:
        ctx, cancel = gort.with_cancel_cause(gort.background())
        ctx, _ = gort.with_timeout_cause(ctx, FOREVER_S, too_slow)
        cancel(finished_early)
        return ctx

    def without_cancel() -> gort.Context:
        return gort.without_cancel(gort.background())

    def without_cancel_canceled() -> gort.Context:
        ctx, cancel = gort.with_cancel_cause(gort.background())
        ctx = gort.without_cancel(ctx)
        cancel(finished_early)
        return ctx

    def without_cancel_timeout() -> gort.Context:
        ctx, cancel = gort.with_timeout_cause(gort.background(), 0, too_slow)
        ctx = gort.without_cancel(ctx)
        cancel()
        return ctx

    return {
        "Background": (gort.background, None, None),
        "TODO": (gort.todo, None, None),
        "WithCancel": (cancelled, Canceled, Canceled),
        "WithCancelCause": (cancel_cause, Canceled, parent_cause),
        "WithCancelCause nil": (cancel_cause_none, Canceled, Canceled),
        "WithCancelCause: parent cause before child": (parent_cause_before_child, Canceled,
                                                        parent_cause),
        "WithCancelCause: parent cause after child": (parent_cause_after_child, Canceled,
                                                       child_cause),
        "WithCancelCause: parent cause before nil": (parent_cause_before_nil, Canceled,
                                                      parent_cause),
        "WithCancelCause: parent cause after nil": (parent_cause_after_nil, Canceled, Canceled),
        "WithCancelCause: child cause after nil": (child_cause_after_nil, Canceled, Canceled),
        "WithCancelCause: child cause before nil": (child_cause_before_nil, Canceled,
                                                     child_cause),
        "WithTimeout": (timeout, DeadlineExceeded, DeadlineExceeded),
        "WithTimeout canceled": (timeout_canceled, Canceled, Canceled),
        "WithTimeoutCause": (timeout_cause, DeadlineExceeded, too_slow),
        "WithTimeoutCause canceled": (timeout_cause_canceled, Canceled, Canceled),
        "WithTimeoutCause stacked": (timeout_cause_stacked, DeadlineExceeded, too_slow),
        "WithTimeoutCause stacked canceled": (timeout_cause_stacked_canceled, Canceled,
                                              finished_early),
        "WithoutCancel": (without_cancel, None, None),
        "WithoutCancel canceled": (without_cancel_canceled, None, None),
        "WithoutCancel timeout": (without_cancel_timeout, None, None),
    }


@pytest.mark.parametrize("name", list(_cause_cases()))
def test_go_cause(name: str) -> None:
    # Go's TestCause, case by case.
    make, err_type, want = _cause_cases()[name]
    ctx = make()
    err = ctx.err()
    if err_type is None:
        assert err is None
    else:
        assert type(err) is err_type
    got = gort.cause(ctx)
    if isinstance(want, type):
        assert type(got) is want
        assert got is err  # no cause given: the cause is the error itself
    else:
        assert got is want


def test_go_with_cancel_canceled_parent_keeps_the_cause() -> None:
    # Go's TestWithCancelCanceledParent.
    parent, pcancel = gort.with_cancel_cause(gort.background())
    why = Because("Because!")
    pcancel(why)
    c, cancel = gort.with_cancel(parent)
    assert_done(c)
    assert type(c.err()) is Canceled
    assert gort.cause(c) is why
    cancel()


def test_go_with_cancel_simultaneously_canceled_parent() -> None:
    # Go's TestWithCancelSimultaneouslyCanceledParent: cancel the parent from a
    # goroutine while a child is being created.
    for _ in range(100):
        parent, pcancel = gort.with_cancel_cause(gort.background())
        why = Because("Because!")
        gort.go(pcancel, why)
        c, cancel = gort.with_cancel(parent)
        c.done().recv_ok(timeout=JOIN)
        assert type(c.err()) is Canceled
        assert gort.cause(c) is why
        cancel()


def test_go_cause_race() -> None:
    # Go's TestCauseRace: poll cause() (not done()) while another goroutine
    # cancels: the cause is never seen half-set.
    why = Because("TestCauseRace")
    ctx, cancel = gort.with_cancel_cause(gort.background())
    g = gort.go(cancel, why)
    deadline = time.monotonic() + JOIN
    while (got := gort.cause(ctx)) is None:
        assert time.monotonic() < deadline, "cancel never took effect"
        gort.gosched()
    assert got is why
    assert type(ctx.err()) is Canceled
    g.result(timeout=JOIN)


def test_cause_reaches_grandchildren_and_value_contexts() -> None:
    root, cancel = gort.with_cancel_cause(gort.background())
    mid = gort.with_value(root, "k", "v")
    leaf, lcancel = gort.with_timeout(mid, 600)
    why = Because("root")
    cancel(why)
    assert_done(leaf)
    for c in (root, mid, leaf):
        assert type(c.err()) is Canceled
        assert gort.cause(c) is why
    lcancel()


def test_cause_of_an_active_context_is_none() -> None:
    ctx, cancel = gort.with_cancel_cause(gort.background())
    assert gort.cause(ctx) is None
    assert gort.cause(gort.with_value(ctx, "k", 1)) is None
    cancel()


def test_only_the_first_cancellation_sets_the_cause() -> None:
    ctx, cancel = gort.with_cancel_cause(gort.background())
    first, second = Because("first"), Because("second")
    cancel(first)
    cancel(second)
    assert gort.cause(ctx) is first


def test_concurrent_cancels_agree_on_one_cause() -> None:
    for _ in range(20):
        ctx, cancel = gort.with_cancel_cause(gort.background())
        child, ccancel = gort.with_cancel(ctx)
        whys = [Because(str(i)) for i in range(4)]
        run_concurrently(lambda i, cancel=cancel, whys=whys: cancel(whys[i]), 4)
        got = gort.cause(ctx)
        assert got in whys
        assert gort.cause(child) is got  # the child got the winner's cause
        ccancel()


def test_cancel_cause_rejects_a_non_exception() -> None:
    ctx, cancel = gort.with_cancel_cause(gort.background())
    with pytest.raises(TypeError, match=r"^cause must be an exception or None, got str$"):
        cancel("because")  # type: ignore[arg-type]
    assert ctx.err() is None  # nothing happened
    with pytest.raises(TypeError, match="got int"):
        gort.with_timeout_cause(gort.background(), 1, 42)  # type: ignore[arg-type]
    cancel()


def test_with_deadline_cause_expires_with_its_cause() -> None:
    why = Because("too slow")
    ctx, cancel = gort.with_deadline_cause(gort.background(), time.monotonic() + 0.05, why)
    assert ctx.err() is None and gort.cause(ctx) is None
    assert_done(ctx)
    assert type(ctx.err()) is DeadlineExceeded
    assert gort.cause(ctx) is why
    cancel()
    assert gort.cause(ctx) is why  # a later cancel changes nothing


def test_with_timeout_cause_when_the_parent_deadline_comes_first() -> None:
    # Go: the child is with_cancel(parent); the parent's expiry and cause reach it.
    parent_why, child_why = Because("parent"), Because("child")
    parent, pcancel = gort.with_timeout_cause(gort.background(), 0.05, parent_why)
    child, ccancel = gort.with_timeout_cause(parent, 600, child_why)
    assert child.deadline() == parent.deadline()
    assert_done(child)
    assert type(child.err()) is DeadlineExceeded
    assert gort.cause(child) is parent_why
    pcancel()
    ccancel()


def test_with_timeout_cause_far_out_is_no_deadline() -> None:
    ctx, cancel = gort.with_timeout_cause(gort.background(), math.inf, Because("never"))
    assert ctx.deadline() is None
    assert ctx._timer is None  # type: ignore[attr-defined]
    cancel()
    assert type(gort.cause(ctx)) is Canceled


def test_go_custom_context_propagation() -> None:
    # Go's TestCustomContextPropagation: a wrapper with its own done channel
    # over a cause context; the child gets the wrapped context's cause.
    why = Because("TestCustomContextPropagation")
    ctx1, cancel1 = gort.with_cancel_cause(gort.background())

    class CustomDone(OtherContext):
        def __init__(self, inner: gort.Context) -> None:
            super().__init__(inner)
            self.donec: Chan[None] = Chan()

        def done(self) -> gort.RecvChan[None]:
            return self.donec.recv_only()

    ctx2 = CustomDone(ctx1)
    ctx3, cancel3 = gort.with_cancel(ctx2)
    cancel1(why)
    ctx2.donec.close()
    assert_done(ctx3)
    assert type(ctx3.err()) is Canceled
    assert gort.cause(ctx3) is why
    cancel3()
    wait_until(lambda: watchers() == 0, JOIN, "the watcher ended")


def test_go_custom_context_cause() -> None:
    # Go's TestCustomContextCause.
    def ccc_cancel(ccc: UserContext) -> None:
        ccc.cancel(Canceled())

    ccc = UserContext()
    ccc_cancel(ccc)
    assert type(ccc.err()) is Canceled
    assert gort.cause(ccc) is ccc.err()

    # A cause child of a custom context: its own cause; the parent is untouched.
    ccc = UserContext()
    ctx, cause_func = gort.with_cancel_cause(ccc)
    why = Because("TestCustomContextCause")
    cause_func(why)
    assert type(ctx.err()) is Canceled
    assert gort.cause(ctx) is why
    assert ccc.err() is None and gort.cause(ccc) is None
    ccc_cancel(ccc)
    assert gort.cause(ctx) is why
    assert type(ccc.err()) is Canceled and gort.cause(ccc) is ccc.err()

    # Cancelling the custom context cancels a plain child: cause = its err.
    ccc = UserContext()
    ctx, cancel = gort.with_cancel(ccc)
    ccc_cancel(ccc)
    assert_done(ctx)
    assert type(ctx.err()) is Canceled
    assert gort.cause(ctx) is ctx.err()
    cancel()
    wait_until(lambda: watchers() == 0, JOIN, "every watcher ended")


# --------------------------------------------------------------------------- without_cancel

def test_go_without_cancel() -> None:
    # Go's TestWithoutCancel.
    ctx = gort.without_cancel(gort.with_value(gort.background(), "key", "value"))
    assert ctx.deadline() is None
    assert_not_done(ctx)
    assert ctx.err() is None
    assert ctx.value("key") == "value"
    assert repr(ctx).endswith(".WithoutCancel")


def test_without_cancel_outlives_its_parent_and_keeps_its_values() -> None:
    parent, cancel = gort.with_timeout(gort.with_value(gort.background(), "k", "v"), 600)
    detached = gort.without_cancel(parent)
    child, ccancel = gort.with_cancel(detached)
    assert children(parent) == set()  # nothing attached through the cut
    cancel()
    assert_done(parent)
    for c in (detached, child):
        assert_not_done(c)
        assert c.value("k") == "v"
        assert c.deadline() is None
    n = started_watchers()
    _, gcancel = gort.with_timeout(detached, 600)
    assert started_watchers() == n  # never cancelled: nothing to watch
    ccancel()
    gcancel()
    assert type(child.err()) is Canceled
    assert_not_done(detached)


def test_without_cancel_done_never_fires_in_select() -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    detached = gort.without_cancel(ctx)
    cancel()
    r = gort.select(detached.done().recv_case(), default=True)
    assert r.index == -1


def test_without_cancel_rejects_a_non_context() -> None:
    with pytest.raises(TypeError, match="parent must be a gort context, got NoneType"):
        gort.without_cancel(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- context_after_func

def test_go_after_func_called_after_cancel() -> None:
    # Go's TestAfterFuncCalledAfterCancel (ordered by state, not by a short wait:
    # the function's goroutine does not exist before cancel).
    ctx, cancel = gort.with_cancel(gort.background())
    donec: Chan[None] = Chan()
    stop = gort.context_after_func(ctx, donec.close)
    assert len(children(ctx)) == 1  # a hidden child waits; no goroutine started
    assert not donec.closed
    cancel()
    donec.recv_ok(timeout=JOIN)
    assert donec.closed
    assert stop() is False


def test_go_after_func_called_after_timeout() -> None:
    # Go's TestAfterFuncCalledAfterTimeout.
    ctx, cancel = gort.with_timeout(gort.background(), 0.02)
    donec: Chan[None] = Chan()
    gort.context_after_func(ctx, donec.close)
    _, ok = donec.recv_ok(timeout=JOIN)
    assert not ok
    cancel()


def test_go_after_func_called_immediately() -> None:
    # Go's TestAfterFuncCalledImmediately.
    ctx, cancel = gort.with_cancel(gort.background())
    cancel()
    donec: Chan[None] = Chan()
    stop = gort.context_after_func(ctx, donec.close)
    _, ok = donec.recv_ok(timeout=JOIN)
    assert not ok
    assert stop() is False


def test_go_after_func_not_called_after_stop() -> None:
    # Go's TestAfterFuncNotCalledAfterStop.
    ctx, cancel = gort.with_cancel(gort.background())
    called = atomic.Bool()
    stop = gort.context_after_func(ctx, lambda: called.store(True))
    assert stop() is True
    assert children(ctx) == set()  # stop() let go of ctx
    cancel()
    assert stop() is False
    # Nothing was started: no goroutine could set it later either.
    assert not called.load()


def test_go_after_func_called_asynchronously() -> None:
    # Go's TestAfterFuncCalledAsynchronously: cancel does not wait for f (which
    # blocks until we receive from donec, after cancel returned).
    ctx, cancel = gort.with_cancel(gort.background())
    donec: Chan[None] = Chan()
    stop = gort.context_after_func(ctx, lambda: donec.send(None))
    cancel()
    assert donec.recv(timeout=JOIN) is None
    stop()


def test_after_func_runs_once_for_a_tree_cancel_and_an_async_f() -> None:
    root, cancel = gort.with_cancel_cause(gort.background())
    mid, mcancel = gort.with_timeout(root, 600)
    runs = atomic.Int64()
    got: Chan[Any] = Chan(2)

    async def af() -> None:
        runs.add(1)
        await got.asend(gort.cause(mid))

    stop = gort.context_after_func(mid, af)
    why = Because("shutdown")
    cancel(why)
    mcancel()
    assert got.recv(timeout=JOIN) is why
    assert stop() is False
    assert runs.load() == 1


def test_after_func_stop_races_cancel_exactly_one_wins() -> None:
    for _ in range(50):
        ctx, cancel = gort.with_cancel(gort.background())
        ran: Chan[int] = Chan(1)
        stop = gort.context_after_func(ctx, functools.partial(ran.send, 1))
        results = run_concurrently(
            lambda i, stop=stop, cancel=cancel: stop() if i == 0 else cancel(), 2)
        stopped = results[0]
        if stopped:
            assert ran.try_recv() == (None, False)
        else:
            assert ran.recv(timeout=JOIN) == 1


def test_after_func_on_background_never_runs_and_stop_is_true() -> None:
    n = started_watchers()
    stop = gort.context_after_func(gort.background(), lambda: None)
    assert started_watchers() == n
    assert stop() is True
    assert stop() is False


def test_after_func_on_a_user_context_watches_its_done() -> None:
    parent = UserContext()
    donec: Chan[None] = Chan()
    gort.context_after_func(parent, donec.close)
    wait_until(lambda: watchers() == 1, JOIN, "one watcher")
    parent.cancel()
    donec.recv_ok(timeout=JOIN)
    wait_until(lambda: watchers() == 0, JOIN, "the watcher ended")


def test_after_func_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="f must be callable, got int"):
        gort.context_after_func(gort.background(), 42)  # type: ignore[arg-type]


def test_after_func_keeps_nothing_after_it_ran() -> None:
    ctx, cancel = gort.with_cancel(gort.background())
    ran = gort.WaitGroup()
    ran.add(1)

    class F:
        def __call__(self) -> None:
            ran.done()

    f = F()
    ref = weakref.ref(f)
    stop = gort.context_after_func(ctx, f)
    del f
    gc.collect()
    assert ref() is not None  # held until it runs
    cancel()
    assert ran.wait(timeout=JOIN)
    wait_until(lambda: (gc.collect(), ref() is None)[1], JOIN, "f collected")
    assert stop() is False


# Go's afterFuncContext (afterfunc_test.go): a user's context that is not ours,
# with an ``after_func(f) -> stop`` method (Go's afterFuncer).  Its done channel
# is never closed: only the registered functions tell children it ended.

class AfterFuncContext(gort.Context):
    def __init__(self) -> None:
        self.mu = threading.Lock()
        self.after_funcs: dict[object, Any] = {}
        self._done: Chan[None] = Chan()
        self._err: BaseException | None = None

    def done(self) -> gort.RecvChan[None]:
        return self._done.recv_only()

    def err(self) -> BaseException | None:
        with self.mu:
            return self._err

    def deadline(self) -> float | None:
        return None

    def value(self, key: Any) -> Any:
        return None

    def after_func(self, f: Any) -> Any:
        k = object()
        with self.mu:
            self.after_funcs[k] = f

        def stop() -> bool:
            with self.mu:
                return self.after_funcs.pop(k, None) is not None
        return stop

    def cancel(self, err: BaseException) -> None:
        with self.mu:
            if self._err is not None:
                return
            self._err = err
            fs, self.after_funcs = list(self.after_funcs.values()), {}
        for f in fs:
            gort.go(f)


def test_go_custom_context_after_func_cancel() -> None:
    ctx0 = AfterFuncContext()
    ctx1, cancel = gort.with_cancel(ctx0)
    ctx0.cancel(Canceled())
    assert_done(ctx1)
    assert ctx1.err() is ctx0.err()
    cancel()


def test_go_custom_context_after_func_timeout() -> None:
    ctx0 = AfterFuncContext()
    ctx1, cancel = gort.with_timeout(ctx0, 600)
    ctx0.cancel(Canceled())
    assert_done(ctx1)
    cancel()


def test_go_custom_context_after_func_after_func() -> None:
    ctx0 = AfterFuncContext()
    donec: Chan[None] = Chan()
    stop = gort.context_after_func(ctx0, donec.close)
    ctx0.cancel(Canceled())
    donec.recv_ok(timeout=JOIN)
    assert stop() is False


def test_go_custom_context_after_func_unregister() -> None:
    # Go's TestCustomContextAfterFuncUnregister{Cancel,Timeout,AfterFunc}.
    n = started_watchers()
    ctx0 = AfterFuncContext()
    _, cancel1 = gort.with_cancel(ctx0)
    _, cancel2 = gort.with_cancel(ctx0)
    assert len(ctx0.after_funcs) == 2
    cancel1()
    cancel2()
    assert len(ctx0.after_funcs) == 0
    _, cancel = gort.with_timeout(ctx0, 600)
    assert len(ctx0.after_funcs) == 1
    cancel()
    assert len(ctx0.after_funcs) == 0
    stop = gort.context_after_func(ctx0, lambda: None)
    assert len(ctx0.after_funcs) == 1
    assert stop() is True
    assert len(ctx0.after_funcs) == 0
    assert started_watchers() == n  # no goroutine was needed for any of them
