"""Diagnostics: goroutine counts and dumps (Go's NumGoroutine and SIGQUIT dump).

Reading another goroutine's state is racy by nature: a dump is a snapshot in
which each goroutine is described from its own fields and its thread's or
coroutine's current frames, each read once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
import types
from typing import TYPE_CHECKING, Any

from . import _runtime
from ._runtime import GState

if TYPE_CHECKING:
    from ._goroutine import Goroutine


def num_goroutine() -> int:
    """How many goroutines exist (started and not yet ended), like Go's."""
    with _runtime._live_lock:
        return len(_runtime._live)


def _coro_frames(coro: Any) -> list[types.FrameType]:
    """The frames of a suspended coroutine, outermost first, along its await chain."""
    frames = []
    seen = 0
    while coro is not None and seen < 100:
        seen += 1
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


_GORT_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_THREADING = os.path.abspath(threading.__file__)


def _internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_GORT_DIR) or \
        os.path.abspath(filename) == _THREADING


def _trim(summary: traceback.StackSummary) -> list[str]:
    """Drop the scheduler's frames around the goroutine's own."""
    frames = list(summary)
    while frames and _internal(frames[0].filename):
        frames.pop(0)
    while frames and _internal(frames[-1].filename):
        frames.pop()
    return traceback.StackSummary.from_list(frames).format()


def stack(g: Goroutine[Any]) -> list[str]:
    """Formatted stack lines of goroutine ``g`` (empty if it has none right now)."""
    coro = g._coro
    if coro is not None:
        entries: list[traceback.FrameSummary] = []
        for f in _coro_frames(coro):
            entries.extend(traceback.extract_stack(f, limit=1))
        return _trim(traceback.StackSummary.from_list(entries))
    m = g._m
    if m is None or m.thread is None or m.thread.ident is None:
        return []
    # A running thread's stack is sampled while it runs: the frame caught may be
    # one returning that instant (its chain already cut), which leaves nothing
    # once gort's own frames are trimmed.  Sample again, a few times.
    for _ in range(5):
        frame = sys._current_frames().get(m.thread.ident)
        if frame is None:
            return []
        summary = traceback.extract_stack(frame)
        lines = _trim(summary)
        if lines or len(summary) > 2:
            return lines  # a whole stack inside gort (patterns' goroutines) shows nothing
        time.sleep(0)  # a cut chain: let the thread move on, then sample again
    return []


def describe(g: Goroutine[Any]) -> str:
    state = g._state
    if state is GState.PARKED:
        what = g._wait_reason or "parked"
    else:
        what = state.value
    kind = ", async" if g._coro is not None else ""
    lines = [f"goroutine {g.id} [{what}{kind}]: {g.name}"]
    lines.extend(line.rstrip("\n") for line in stack(g))
    return "\n".join(lines)


def dump() -> str:
    """Every live goroutine with its state and stack, like Go's SIGQUIT dump."""
    gs = sorted(_runtime.live_goroutines(), key=lambda g: g.id)
    return "\n\n".join(describe(g) for g in gs) + ("\n" if gs else "")


def install_dump_signal(signum: int = getattr(signal, "SIGQUIT", signal.SIGTERM)) -> None:
    """Print ``dump()`` to stderr when the process receives ``signum`` (main thread)."""

    def handler(sig: int, frame: Any) -> None:
        print(f"gort: {num_goroutine()} goroutines\n\n{dump()}", file=sys.stderr, flush=True)

    handler._gort_no_wake = True  # type: ignore[attr-defined]  # no false "not deadlocked"
    signal.signal(signum, handler)
