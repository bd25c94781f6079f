"""Fixtures and hooks only; the shared helpers live in ``tests/helpers.py``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

import gort
from tests.helpers import BUILD
from tests.worlds import WORLDS, World, make_world


@pytest.fixture(autouse=True)
def _restore_max_procs() -> Any:
    before = gort.max_procs()
    yield
    if gort.max_procs() != before:
        gort.set_max_procs(before)


@pytest.fixture
def hook_calls(monkeypatch: pytest.MonkeyPatch) -> list[gort.ExceptHookArgs]:
    """Replace gort.excepthook with one that records its calls."""
    calls: list[gort.ExceptHookArgs] = []
    monkeypatch.setattr(gort, "excepthook", calls.append)
    return calls


@pytest.fixture(params=WORLDS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """Each world a blocking operation runs in (see ``tests/worlds.py``); narrow it
    with ``@pytest.mark.parametrize("world", [...], indirect=True)``."""
    yield from make_world(request.param)


def pytest_report_header(config: pytest.Config) -> str:
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return (f"gort build={BUILD or '?'} python={sys.version.split()[0]} "
            f"gil_enabled={gil} max_procs={gort.max_procs()}")
