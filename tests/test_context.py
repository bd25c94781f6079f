"""Go's ``context`` package: the context tree, cancellation, deadlines and values."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from typing import Any

import pytest

import gort
from gort import Canceled, Chan, DeadlineExceeded, GState, _timers
from tests.conftest import wait_until

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
