"""Test helpers for programs that use gort: goroutine leak checks.

``verify_none(timeout=5.0, ignore=())`` waits until every goroutine has ended
and raises ``GoroutineLeak`` (listing each leaked goroutine with its stack) if
some are still alive when ``timeout`` expires.  It waits on a deadline, not a
fixed number of retries (uber-go/goleak's retry budget is a known source of
flaky failures on slow machines): a goroutine that is about to end gets the
whole timeout to do so.

The pytest plugin (installed with gort) offers the same as the fixture
``gort_leakcheck``, the marker ``@pytest.mark.gort_leakcheck(timeout=..., ignore=[...])``
and the option ``--gort-leakcheck`` (every test); ``gort_leak_timeout`` and
``gort_leak_ignore`` in the pytest ini set the defaults.  Goroutines alive
before a test began are not counted against it.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable
from typing import Any

from .._diag import describe
from .._goroutine import Goroutine
from .._runtime import live_goroutines

__all__ = ("GoroutineLeak", "verify_none")


class GoroutineLeak(AssertionError):
    """Raised by ``verify_none`` when goroutines outlive the check's timeout."""


def _ignored(g: Goroutine[Any], ignore: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(g.name, pat) for pat in ignore)


def leaked(ignore: Iterable[str] = (),
           before: Iterable[Goroutine[Any]] = ()) -> list[Goroutine[Any]]:
    """Live goroutines that are not ignored and were not alive in ``before``."""
    old = {id(g) for g in before}
    pats = tuple(ignore)
    return [g for g in live_goroutines() if id(g) not in old and not _ignored(g, pats)]


def verify_none(timeout: float = 5.0, ignore: Iterable[str] = (),
                before: Iterable[Goroutine[Any]] = ()) -> None:
    """Raise ``GoroutineLeak`` if goroutines are still alive after ``timeout`` s.

    ``ignore``: fnmatch patterns of goroutine names (their function's qualified
    name) to leave out; ``before``: goroutines that existed before, to leave out.
    """
    before = list(before)
    pats = tuple(ignore)
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        left = leaked(pats, before)
        if not left:
            return
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 2, 0.05)
    report = "\n\n".join(describe(g) for g in sorted(left, key=lambda g: g.id))
    raise GoroutineLeak(f"found {len(left)} leaked goroutine(s) after {timeout} s:\n\n{report}")
