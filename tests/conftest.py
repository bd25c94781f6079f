"""Fixtures and hooks only; the shared helpers live in ``tests/helpers.py``."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import gort
from tests.helpers import BUILD


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


def pytest_report_header(config: pytest.Config) -> str:
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return (f"gort build={BUILD or '?'} python={sys.version.split()[0]} "
            f"gil_enabled={gil} max_procs={gort.max_procs()}")
