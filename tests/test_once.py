"""once_func, once_value, once_values: Go 1.21's sync.OnceFunc, OnceValue and
OnceValues (ported from sync's oncefunc_test.go), and their behaviour with
concurrent callers."""

from __future__ import annotations

import gc
import traceback
import weakref
from typing import Any, assert_type

import pytest

import gort
from gort import Chan, GState
from tests.helpers import run_concurrently, wait_until

JOIN = 10.0


def test_go_once_func() -> None:
    # Go's TestOnceFunc.
    calls = 0

    def f() -> None:
        nonlocal calls
        calls += 1

    g = gort.once_func(f)
    for _ in range(10):
        assert g() is None
    assert calls == 1


def test_go_once_value() -> None:
    # Go's TestOnceValue.
    calls = 0

    def f() -> int:
        nonlocal calls
        calls += 1
        return calls

    g = gort.once_value(f)
    values = [g() for _ in range(10)]
    assert_type(values[0], int)
    assert calls == 1
    assert values == [1] * 10


def test_go_once_values() -> None:
    # Go's TestOnceValues.
    calls = 0

    def f() -> tuple[int, str]:
        nonlocal calls
        calls += 1
        return calls, str(calls + 1)

    g = gort.once_values(f)
    for _ in range(10):
        v1, v2 = g()
        assert_type(v1, int)
        assert_type(v2, str)
        assert (v1, v2) == (1, "2")
    assert calls == 1


def _once_panic_x(calls: list[int], f: Any) -> list[BaseException]:
    """Go's testOncePanicX: every call raises the same value; f ran once."""
    raised: list[BaseException] = []
    for _ in ("first time", "second time", "third time"):
        with pytest.raises(ValueError, match=r"^x$") as ei:
            f()
        raised.append(ei.value)
    assert calls == [1]
    assert raised[0] is raised[1] is raised[2]  # Go re-panics with the same value
    return raised


def test_go_once_func_panic() -> None:
    calls: list[int] = []

    def f() -> None:
        calls.append(1)
        raise ValueError("x")

    _once_panic_x(calls, gort.once_func(f))


def test_go_once_value_panic() -> None:
    calls: list[int] = []

    def f() -> int:
        calls.append(1)
        raise ValueError("x")

    _once_panic_x(calls, gort.once_value(f))


def test_go_once_values_panic() -> None:
    calls: list[int] = []

    def f() -> tuple[int, int]:
        calls.append(1)
        raise ValueError("x")

    _once_panic_x(calls, gort.once_values(f))


def test_a_base_exception_is_reraised_too() -> None:
    # Go re-panics whatever f panicked with; a BaseException is no different.
    class Stop(BaseException):
        pass

    calls: list[int] = []

    def f() -> None:
        calls.append(1)
        raise Stop

    g = gort.once_func(f)
    for _ in range(3):
        with pytest.raises(Stop):
            g()
    assert calls == [1]


def once_func_panic() -> None:
    raise ValueError("x")


def _frames(e: BaseException) -> list[str]:
    return [fs.name for fs in traceback.extract_tb(e.__traceback__)]


def test_go_once_func_panic_traceback() -> None:
    # Go's TestOnceFuncPanicTraceback: the first call's traceback reaches the
    # origin of the exception.  The later calls' do too, and re-raising does not
    # make it grow.
    g = gort.once_func(once_func_panic)
    with pytest.raises(ValueError) as first:
        g()
    assert "once_func_panic" in _frames(first.value)
    lengths = []
    for _ in range(5):
        with pytest.raises(ValueError) as later:
            g()
        assert "once_func_panic" in _frames(later.value)
        lengths.append(len(_frames(later.value)))
    assert len(set(lengths)) == 1


class Buf:
    """Something a function captures, to watch it being collected."""


@pytest.mark.parametrize("kind", ["once_func", "once_value", "once_values"])
def test_go_once_x_gc(kind: str) -> None:
    # Go's TestOnceXGC: the function is not kept alive after the first call.
    buf = Buf()
    ref = weakref.ref(buf)

    def make(b: Buf) -> Any:
        def touch() -> None:
            b.x = 1  # type: ignore[attr-defined]

        def value() -> None:
            touch()

        def values() -> tuple[None, None]:
            touch()
            return None, None

        if kind == "once_func":
            return gort.once_func(touch)
        if kind == "once_value":
            return gort.once_value(value)
        return gort.once_values(values)

    g = make(buf)
    del buf
    gc.collect()
    assert ref() is not None, "wrapped function collected too early"
    g()
    gc.collect()
    assert ref() is None, "the wrapped function should be collected after the first call"
    g()


def test_f_must_be_callable() -> None:
    for once in (gort.once_func, gort.once_value, gort.once_values):
        with pytest.raises(TypeError, match=r"^once: f must be callable, got int$"):
            once(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- concurrency

def test_concurrent_callers_wait_for_the_single_call() -> None:
    release: Chan[None] = Chan()
    calls: list[int] = []

    def f() -> object:
        calls.append(1)
        release.recv()  # the other callers arrive while this runs
        return object()

    g = gort.once_value(f)
    gs = [gort.go(g) for _ in range(8)]
    # One caller runs f (parked on release), the seven others wait for it.
    wait_until(lambda: sum(x.state is GState.PARKED for x in gs) == 8, JOIN,
               "every caller parked")
    assert calls == [1]
    release.send(None)
    results = [x.result(timeout=JOIN) for x in gs]
    assert calls == [1]
    assert all(r is results[0] for r in results)


def test_concurrent_callers_all_get_the_exception() -> None:
    release: Chan[None] = Chan()
    boom = RuntimeError("boom")

    def f() -> int:
        release.recv()
        raise boom

    g = gort.once_value(f)

    def call() -> BaseException | None:
        try:
            g()
        except RuntimeError as e:
            return e
        return None

    gs = [gort.go(call) for _ in range(8)]
    wait_until(lambda: sum(x.state is GState.PARKED for x in gs) == 8, JOIN,
               "every caller parked")
    release.send(None)
    assert all(x.result(timeout=JOIN) is boom for x in gs)


def test_racing_threads_call_f_once() -> None:
    for _ in range(20):
        calls: list[int] = []

        def f(calls: list[int] = calls) -> int:
            calls.append(1)
            return len(calls)

        g = gort.once_value(f)
        def call(i: int, g: Any = g) -> int:
            return g()  # type: ignore[no-any-return]

        assert run_concurrently(call, 8) == [1] * 8
        assert calls == [1]
