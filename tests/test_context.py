"""Go's ``context`` package: the context tree, cancellation, deadlines and values."""

from __future__ import annotations

import asyncio
import functools
import gc
import threading
import time
import weakref
from typing import Any

import pytest

import gort
from gort import Canceled, Chan, DeadlineExceeded, GState, _timers
from tests.conftest import run_concurrently, wait_until

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

def test_with_timeout_expires() -> None:
    t0 = time.monotonic()
    ctx, cancel = gort.with_timeout(gort.background(), 0.1)
    dl = ctx.deadline()
    assert dl is not None and t0 + 0.1 <= dl <= time.monotonic() + 0.1
    assert_not_done(ctx)
    assert "deadline in" in repr(ctx)
    assert ctx.done().recv_ok(timeout=JOIN) == (None, False)
    assert time.monotonic() - t0 >= 0.1
    err = ctx.err()
    assert type(err) is DeadlineExceeded
    assert isinstance(err, TimeoutError)
    assert str(err) == "context deadline exceeded"
    cancel()  # after expiry: a no-op
    assert ctx.err() is err


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


def test_child_deadline_earlier_than_parent_fires_alone() -> None:
    parent, pcancel = gort.with_timeout(gort.background(), 600)
    child, ccancel = gort.with_timeout(parent, 0.05)
    assert_done(child)
    assert type(child.err()) is DeadlineExceeded
    assert_not_done(parent)
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
