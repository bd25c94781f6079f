"""pytest plugin: goroutine leak checks (see ``gort.testing``), and the
``gort_synctest`` marker, which runs a test in a ``gort.synctest`` bubble."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .._runtime import live_goroutines
from . import verify_none


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gort")
    group.addoption("--gort-leakcheck", action="store_true", default=False,
                    help="fail every test that leaves goroutines running")
    parser.addini("gort_leak_timeout", "seconds a test's goroutines get to end", default="5.0")
    parser.addini("gort_leak_ignore", "goroutine name patterns never reported as leaks",
                  type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gort_leakcheck(timeout=None, ignore=()): fail the test if it leaves "
        "goroutines running")
    config.addinivalue_line(
        "markers", "gort_synctest: run the test (plain or async def) in a gort.synctest "
        "bubble: fake time, deadlock and leak detection")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Under ``@pytest.mark.gort_synctest``, call the test in a bubble."""
    if pyfuncitem.get_closest_marker("gort_synctest") is None:
        return None
    from .. import synctest
    names = pyfuncitem._fixtureinfo.argnames
    synctest.run(pyfuncitem.obj, **{n: pyfuncitem.funcargs[n] for n in names})
    return True


def _check(request: pytest.FixtureRequest) -> Iterator[None]:
    before = live_goroutines()
    yield
    marker = request.node.get_closest_marker("gort_leakcheck")
    kw: dict[str, Any] = dict(marker.kwargs) if marker else {}
    timeout = kw.get("timeout")
    if timeout is None:
        timeout = float(request.config.getini("gort_leak_timeout"))
    ignore = list(request.config.getini("gort_leak_ignore")) + list(kw.get("ignore", ()))
    verify_none(timeout=timeout, ignore=ignore, before=before)


@pytest.fixture
def gort_leakcheck(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if goroutines it started are still alive at its end."""
    yield from _check(request)


@pytest.fixture(autouse=True)
def _gort_auto_leakcheck(request: pytest.FixtureRequest) -> Iterator[None]:
    if (request.config.getoption("--gort-leakcheck")
            or request.node.get_closest_marker("gort_leakcheck")) \
            and "gort_leakcheck" not in request.fixturenames:
        yield from _check(request)
    else:
        yield
