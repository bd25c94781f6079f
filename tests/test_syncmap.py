"""gort.Map: Go's sync.Map (the method semantics of sync's map_test.go and
map_reference_test.go), checked against a dict model, and linearizable under
concurrent use with the GIL off."""

from __future__ import annotations

import random
import threading
from typing import Any, assert_type

import pytest

import gort
from gort import atomic
from tests.helpers import run_concurrently

M = gort.Map


# --------------------------------------------------------------------------- method semantics

def test_load_and_store() -> None:
    m: gort.Map[str, int] = M()
    assert m.load("a") == (None, False)
    m.store("a", 1)
    v, ok = m.load("a")
    assert_type(v, int | None)
    assert (v, ok) == (1, True)
    m.store("a", 2)
    assert m.load("a") == (2, True)
    m.store("none", None)  # type: ignore[arg-type]
    assert m.load("none") == (None, True)  # a stored None is present: ok tells


def test_load_or_store() -> None:
    m: gort.Map[str, list[int]] = M()
    first, second = [1], [2]
    v, loaded = m.load_or_store("k", first)
    assert_type(v, list[int])
    assert v is first and loaded is False
    v, loaded = m.load_or_store("k", second)
    assert v is first and loaded is True
    assert m.load("k")[0] is first


def test_load_and_delete() -> None:
    m: gort.Map[str, int] = M()
    assert m.load_and_delete("k") == (None, False)
    m.store("k", 5)
    assert m.load_and_delete("k") == (5, True)
    assert m.load("k") == (None, False)
    assert m.load_and_delete("k") == (None, False)


def test_delete() -> None:
    m: gort.Map[int, str] = M()
    m.delete(1)  # absent: nothing happens
    m.store(1, "a")
    m.delete(1)
    assert m.load(1) == (None, False)


def test_swap() -> None:
    m: gort.Map[str, int] = M()
    assert m.swap("k", 1) == (None, False)
    assert m.swap("k", 2) == (1, True)
    assert m.load("k") == (2, True)


def test_compare_and_swap() -> None:
    m: gort.Map[str, Any] = M()
    # Go's TestCompareAndSwap_NonExistingKey: no entry, no swap, nothing created.
    assert m.compare_and_swap("k", None, 42) is False
    assert m.load("k") == (None, False)
    m.store("k", 1)
    assert m.compare_and_swap("k", 2, 3) is False
    assert m.load("k") == (1, True)
    assert m.compare_and_swap("k", 1, 3) is True
    assert m.load("k") == (3, True)


def test_compare_and_delete() -> None:
    m: gort.Map[str, int] = M()
    assert m.compare_and_delete("k", 1) is False
    m.store("k", 1)
    assert m.compare_and_delete("k", 2) is False
    assert m.load("k") == (1, True)
    assert m.compare_and_delete("k", 1) is True
    assert m.load("k") == (None, False)


def test_compare_uses_equality_as_go_does() -> None:
    # Go compares interface values with ==: equal strings and numbers match even
    # when they are different objects.
    m: gort.Map[str, Any] = M()
    big = 10**30
    m.store("n", big)
    assert m.compare_and_swap("n", int(str(big)), 1)  # equal, another object
    s = "".join(["ab", "cd"])
    m.store("s", s)
    assert m.compare_and_delete("s", "abcd")
    m.store("f", 1)
    assert m.compare_and_swap("f", 1.0, 2)  # 1 == 1.0, as Go would not (types differ)


def test_range_visits_every_entry_and_stops_on_false() -> None:
    m: gort.Map[int, int] = M()
    for i in range(100):
        m.store(i, i * i)
    seen: dict[int, int] = {}
    m.range(lambda k, v: seen.__setitem__(k, v))  # returns None: goes on
    assert seen == {i: i * i for i in range(100)}
    count = 0

    def first_ten(k: int, v: int) -> bool:
        nonlocal count
        count += 1
        return count < 10

    m.range(first_ten)
    assert count == 10


def test_go_map_range_nested_call() -> None:
    # Go's TestMapRangeNestedCall: range inside range, and writes from f.
    m: gort.Map[int, str] = M()
    for i, v in enumerate(["hello", "world", "Go"]):
        m.store(i, v)

    def outer(key: int, value: str) -> bool:
        def inner(k: int, v: str) -> bool:
            # Load, LoadOrStore, LoadAndDelete and Store from inside Range.
            assert m.load(k) == (v, True)
            assert m.load_or_store(k, "dummy") == (v, True)
            m.store(42, "dummy")
            assert m.load_and_delete(42) == ("dummy", True)
            return True
        m.range(inner)
        m.delete(key)  # deleting the key being visited is fine
        return True

    m.range(outer)
    left: list[int] = []
    m.range(lambda k, v: left.append(k))
    assert left == []


def test_clear() -> None:
    m: gort.Map[int, int] = M()
    for i in range(50):
        m.store(i, i)
    m.clear()
    assert all(m.load(i) == (None, False) for i in range(50))
    m.clear()  # empty: fine
    m.store(1, 1)
    assert m.load(1) == (1, True)


def test_unhashable_key_raises_before_anything_happens() -> None:
    m: gort.Map[Any, int] = M()
    for op in (lambda: m.store([], 1), lambda: m.load([]), lambda: m.swap({}, 1),
               lambda: m.load_or_store([], 1), lambda: m.compare_and_swap([], 1, 2),
               lambda: m.delete([]), lambda: m.load_and_delete([])):
        with pytest.raises(TypeError, match="unhashable"):
            op()
    # No stripe was left held: every write still works.
    for i in range(64):
        m.store(i, i)
    m.clear()


def test_repr() -> None:
    m: gort.Map[str, int] = M()
    m.store("a", 1)
    assert repr(m) == "<Map len=1>"


# --------------------------------------------------------------------------- against a model
#
# Go's TestMapMatchesRWMutex/DeepCopy: random operation sequences give the
# same results on Map and on a reference implementation (here a dict).

def _apply_model(d: dict[int, int], op: str, k: int, v: int, old: int) -> Any:
    missing = k not in d
    if op == "load":
        return (None, False) if missing else (d[k], True)
    if op == "store":
        d[k] = v
        return None
    if op == "load_or_store":
        if missing:
            d[k] = v
            return (v, False)
        return (d[k], True)
    if op == "load_and_delete":
        return (None, False) if missing else (d.pop(k), True)
    if op == "delete":
        d.pop(k, None)
        return None
    if op == "swap":
        prev = (None, False) if missing else (d[k], True)
        d[k] = v
        return prev
    if op == "compare_and_swap":
        if not missing and d[k] == old:
            d[k] = v
            return True
        return False
    if op == "compare_and_delete":
        if not missing and d[k] == old:
            del d[k]
            return True
        return False
    if op == "clear":
        d.clear()
        return None
    raise AssertionError(op)


def _apply_map(m: gort.Map[int, int], op: str, k: int, v: int, old: int) -> Any:
    if op in ("load", "load_and_delete", "delete"):
        return getattr(m, op)(k)
    if op in ("store", "load_or_store", "swap"):
        return getattr(m, op)(k, v)
    if op == "compare_and_swap":
        return m.compare_and_swap(k, old, v)
    if op == "compare_and_delete":
        return m.compare_and_delete(k, old)
    m.clear()
    return None


OPS = ("load", "store", "load_or_store", "load_and_delete", "delete", "swap",
       "compare_and_swap", "compare_and_delete", "clear")


def test_random_operations_match_a_dict() -> None:
    rng = random.Random(1)
    for _ in range(200):
        m: gort.Map[int, int] = M()
        d: dict[int, int] = {}
        for _ in range(50):
            op = rng.choice(OPS[:-1]) if rng.random() > 0.02 else "clear"
            k, v, old = rng.randrange(8), rng.randrange(4), rng.randrange(4)
            assert _apply_map(m, op, k, v, old) == _apply_model(d, op, k, v, old), op
        snapshot: dict[int, int] = {}
        m.range(snapshot.__setitem__)  # returns None: goes on
        assert snapshot == d


# --------------------------------------------------------------------------- concurrency

N = 8


def test_concurrent_compare_and_swap_increments_are_never_lost() -> None:
    m: gort.Map[str, int] = M()
    m.store("n", 0)
    per = 500

    def inc(_: int) -> int:
        done = retries = 0
        while done < per:
            v, _ok = m.load("n")
            assert v is not None
            if m.compare_and_swap("n", v, v + 1):
                done += 1
            else:
                retries += 1
        return retries

    run_concurrently(inc, N)
    assert m.load("n") == (N * per, True)


def test_concurrent_load_or_store_agrees_on_one_value() -> None:
    for round_ in range(50):
        m: gort.Map[int, object] = M()
        mine = [object() for _ in range(N)]
        results = run_concurrently(
            lambda i, m=m, k=round_, mine=mine: m.load_or_store(k, mine[i]), N)
        winners = [v for v, loaded in results if not loaded]
        assert len(winners) == 1
        assert all(v is winners[0] for v, _ in results)
        assert m.load(round_)[0] is winners[0]


def test_concurrent_load_and_delete_deletes_once() -> None:
    for _ in range(50):
        m: gort.Map[str, int] = M()
        m.store("k", 7)
        results = run_concurrently(lambda i, m=m: m.load_and_delete("k"), N)
        assert sorted(results, key=lambda r: r[1]) == [(None, False)] * (N - 1) + [(7, True)]


def test_concurrent_swaps_hand_each_value_on_once() -> None:
    m: gort.Map[str, int] = M()
    per = 300

    def swapper(i: int) -> list[int]:
        got = []
        for j in range(per):
            prev, loaded = m.swap("k", i * per + j)
            if loaded:
                assert prev is not None
                got.append(prev)
        return got

    results = run_concurrently(swapper, N)
    last, _ = m.load("k")
    assert last is not None
    handed = sorted([v for got in results for v in got] + [last])
    assert handed == list(range(N * per))  # every stored value came back exactly once


def test_concurrent_compare_and_delete_against_stores() -> None:
    # A delete succeeds only against the value it compared: writers tag values
    # with their id, deleters delete only their own tag.
    m: gort.Map[int, int] = M()
    deleted = atomic.Int64()

    def work(i: int) -> None:
        for j in range(300):
            key = j % 4
            m.store(key, i)
            if m.compare_and_delete(key, i):
                deleted.add(1)
            v, ok = m.load(key)
            assert not ok or v in range(N)

    run_concurrently(work, N)
    assert deleted.load() > 0


def test_go_concurrent_range() -> None:
    # Go's TestConcurrentRange: ranging while writers run sees each key at most
    # once, each with a value some writer stored for it.
    m: gort.Map[int, int] = M()
    keys = 64
    for k in range(1, keys + 1):
        m.store(k, k)
    stop = threading.Event()

    def writer(i: int) -> None:
        rng = random.Random(i)
        while not stop.is_set():
            k = rng.randrange(1, keys + 1)
            m.store(k, k * rng.randrange(1, 100))

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(200):
            seen: set[int] = set()

            def visit(k: int, v: int, seen: set[int] = seen) -> bool:
                assert k not in seen, f"key {k} visited twice"
                seen.add(k)
                assert v % k == 0, f"value {v} was never stored for key {k}"
                return True

            m.range(visit)
            assert seen == set(range(1, keys + 1))
    finally:
        stop.set()
        for t in threads:
            t.join(10)


def test_go_concurrent_clear() -> None:
    # Go's TestConcurrentClear: clears racing stores and loads; afterwards the
    # map holds only what was stored after the last clear.
    m: gort.Map[int, int] = M()

    def work(i: int) -> None:
        for j in range(200):
            if i == 0 and j % 20 == 0:
                m.clear()
            else:
                m.store(j % 16, j)
                m.load(j % 16)

    run_concurrently(work, 4)
    m.clear()
    found: list[int] = []
    m.range(lambda k, v: found.append(k))
    assert found == []
