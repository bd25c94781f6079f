"""gort.atomic: Go's sync/atomic types, including Go's fixed-width wrapping."""

from __future__ import annotations

from typing import Any

import pytest

import gort
from gort import atomic
from tests.helpers import run_concurrently

INT_TYPES: list[tuple[type[Any], int, int]] = [
    (atomic.Int64, -(1 << 63), (1 << 63) - 1),
    (atomic.Int32, -(1 << 31), (1 << 31) - 1),
    (atomic.Uint64, 0, (1 << 64) - 1),
    (atomic.Uint32, 0, (1 << 32) - 1),
]
INT_IDS = [t.__name__ for t, _, _ in INT_TYPES]


# --------------------------------------------------------------------------- integers

@pytest.mark.parametrize(("cls", "lo", "hi"), INT_TYPES, ids=INT_IDS)
def test_int_load_store_swap_cas_add(cls: type[atomic.Int64], lo: int, hi: int) -> None:
    a = cls()
    assert a.load() == 0
    a = cls(7)
    assert a.load() == 7
    a.store(11)
    assert a.load() == 11
    assert a.swap(12) == 11
    assert a.load() == 12
    assert a.compare_and_swap(11, 99) is False
    assert a.load() == 12
    assert a.compare_and_swap(12, 13) is True
    assert a.load() == 13
    assert a.add(5) == 18
    assert a.add(-3) == 15
    assert a.load() == 15
    assert repr(a) == f"<atomic.{cls.__name__} 15>"


@pytest.mark.parametrize(("cls", "lo", "hi"), INT_TYPES, ids=INT_IDS)
def test_int_wraps_on_add(cls: type[atomic.Int64], lo: int, hi: int) -> None:
    a = cls(hi)
    assert a.add(1) == lo
    assert a.load() == lo
    assert a.add(-1) == hi
    assert a.load() == hi
    a.store(lo)
    assert a.add(-2) == hi - 1
    # Adding a multiple of 2**bits is a no-op, as in Go.
    span = hi - lo + 1
    a.store(5)
    assert a.add(span) == 5
    assert a.add(-3 * span) == 5
    assert a.add(span + 1) == 6


@pytest.mark.parametrize(("cls", "lo", "hi"), INT_TYPES, ids=INT_IDS)
def test_int_wraps_on_construct_store_swap_and_cas_new(
        cls: type[atomic.Int64], lo: int, hi: int) -> None:
    assert cls(hi + 1).load() == lo
    assert cls(lo - 1).load() == hi
    a = cls()
    a.store(hi + 1)
    assert a.load() == lo
    assert a.swap(hi + 2) == lo
    assert a.load() == lo + 1
    assert a.compare_and_swap(lo + 1, lo - 1) is True
    assert a.load() == hi


def test_go_edge_values() -> None:
    # int32: MaxInt32 + 1 == MinInt32, MinInt32 - 1 == MaxInt32
    i32 = atomic.Int32(2**31 - 1)
    assert i32.add(1) == -(2**31)
    assert i32.add(-1) == 2**31 - 1
    # uint32: 0 - 1 == MaxUint32
    u32 = atomic.Uint32(0)
    assert u32.add(-1) == 2**32 - 1
    assert u32.add(1) == 0
    # uint64: 0 - 1 == MaxUint64, MaxUint64 + 2 == 1
    u64 = atomic.Uint64()
    assert u64.add(-1) == 2**64 - 1
    assert u64.add(2) == 1
    # int64: MinInt64 - 1 == MaxInt64; -MinInt64 overflows back to MinInt64
    i64 = atomic.Int64(-(2**63))
    assert i64.add(-1) == 2**63 - 1
    assert atomic.Int64(2**63).load() == -(2**63)
    # A uint32 constructed from -1 is MaxUint32, an int32 from 2**32-1 is -1.
    assert atomic.Uint32(-1).load() == 2**32 - 1
    assert atomic.Int32(2**32 - 1).load() == -1
    # Huge deltas wrap modulo 2**bits.
    assert atomic.Int32(0).add(2**100 + 3) == 3
    assert atomic.Uint64(0).add(-(2**100) - 1) == 2**64 - 1


@pytest.mark.parametrize("cls", [t for t, _, _ in INT_TYPES], ids=INT_IDS)
def test_int_type_errors(cls: type[atomic.Int64]) -> None:
    name = cls.__name__
    with pytest.raises(TypeError, match=rf"^{name} needs an int, got str$"):
        cls("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"^{name} needs an int, got float$"):
        cls(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"^{name} needs an int, got bool$"):
        cls(True)
    a = cls(3)
    with pytest.raises(TypeError, match=rf"^{name} needs an int, got float$"):
        a.store(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"^{name} needs an int, got NoneType$"):
        a.swap(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"^{name} needs an int, got str$"):
        a.compare_and_swap(3, "4")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"^{name}\.add needs an int, got float$"):
        a.add(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"^{name}\.add needs an int, got bool$"):
        a.add(True)
    assert a.load() == 3  # nothing changed


# --------------------------------------------------------------------------- Bool

def test_bool() -> None:
    b = atomic.Bool()
    assert b.load() is False
    b.store(True)
    assert b.load() is True
    assert b.swap(False) is True
    assert b.load() is False
    assert b.compare_and_swap(True, True) is False
    assert b.load() is False
    assert b.compare_and_swap(False, True) is True
    assert b.load() is True
    assert repr(b) == "<atomic.Bool True>"
    assert atomic.Bool(True).load() is True


# --------------------------------------------------------------------------- Value

def test_value_load_store_swap() -> None:
    v: atomic.Value[list[int]] = atomic.Value()
    assert v.load() is None
    a = [1]
    v.store(a)
    assert v.load() is a
    b = [2]
    assert v.swap(b) is a
    assert v.load() is b
    assert repr(v) == "<atomic.Value [2]>"


def test_value_cas_compares_by_identity() -> None:
    a = [1, 2]
    equal_but_not_a = [1, 2]
    v = atomic.Value(a)
    new = [3]
    assert v.compare_and_swap(equal_but_not_a, new) is False
    assert v.load() is a
    assert v.compare_and_swap(a, new) is True
    assert v.load() is new
    # None is compared by identity too.
    empty: atomic.Value[object] = atomic.Value()
    assert empty.compare_and_swap(None, new) is True
    assert empty.load() is new


def test_value_cas_by_identity_even_when_eq_lies() -> None:
    class AlwaysEqual:
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    x = AlwaysEqual()
    v: atomic.Value[object] = atomic.Value(x)
    assert v.compare_and_swap(AlwaysEqual(), 1) is False
    assert v.load() is x


# --------------------------------------------------------------------------- concurrency

@pytest.mark.parametrize("attempt", range(3))
def test_50_goroutines_add_1000_each(attempt: int) -> None:
    counter = atomic.Int64()
    wg = gort.WaitGroup()

    def work() -> None:
        for _ in range(1000):
            counter.add(1)

    for _ in range(50):
        wg.go(work)
    assert wg.wait(timeout=30), "goroutines did not finish"
    assert counter.load() == 50_000


def test_cas_loop_increments_are_not_lost() -> None:
    counter = atomic.Uint32()
    wins = atomic.Int64()

    def work(_: int) -> None:
        for _ in range(2000):
            while True:
                old = counter.load()
                if counter.compare_and_swap(old, old + 1):
                    wins.add(1)
                    break

    run_concurrently(work, 8)
    assert counter.load() == 8 * 2000
    assert wins.load() == 8 * 2000


def test_swap_hands_each_token_out_once() -> None:
    # Every value ever stored is returned by exactly one swap (or is the last).
    slot = atomic.Value[int](-1)
    seen: list[list[int | None]] = [[] for _ in range(8)]

    def work(i: int) -> None:
        for k in range(1000):
            seen[i].append(slot.swap(i * 1000 + k))

    run_concurrently(work, 8)
    returned = [x for s in seen for x in s] + [slot.load()]
    assert sorted(x for x in returned if x is not None) == [-1, *range(8000)]


def test_bool_cas_elects_exactly_one_winner() -> None:
    for _ in range(20):
        flag = atomic.Bool()
        winners = atomic.Int32()

        def work(_: int, flag: atomic.Bool = flag, winners: atomic.Int32 = winners) -> None:
            if flag.compare_and_swap(False, True):
                winners.add(1)

        run_concurrently(work, 8)
        assert winners.load() == 1
