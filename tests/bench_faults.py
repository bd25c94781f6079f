"""Faults planted in real benchmark runs, for the tests of the regression gate
and of the driver's crash handling; the shipped harness knows nothing of them.

``plant(tmp, crash=..., slowdown=...)`` writes a directory holding this file as
``sitecustomize.py`` and the faults as ``faults.json``, and returns it: put it
on ``PYTHONPATH`` of ``python -m bench run`` (the driver keeps the variable for
its suite processes, pyperf passes it to its workers), and every Python process
started there imports it at start-up.  It wraps ``pyperf.Runner.bench_time_func``
(pyperf's public API, not the harness's) so that a matching benchmark

* ``crash``: raises instead of measuring (``gort.ChanClosed``, not an
  ``...Error`` name: the driver must find the root cause anyway);
* ``slowdown`` ``{pattern: factor}``: takes ``factor`` times as long, by a busy
  wait after each timed run, so the measurement is what a slower gort would give;
* ``instructions`` ``{name: k}``: a process of ``--mode instructions`` that runs
  operation ``name`` n times (``bench/instructions.py --worker NAME N``) also
  runs n x k iterations of an empty loop: callgrind counts the whole process and
  the mode takes the difference of two counts, so the operation's count grows
  as if each operation ran a k-iteration loop.

Patterns are the harness's (``fnmatch``, brackets literal).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FAULTS = "faults.json"
CRASH_MESSAGE = "planted crash: this benchmark crashes on purpose"


def plant(directory: Path, crash: str | None = None, slowdown: dict[str, float] | None = None,
          instructions: dict[str, int] | None = None) -> str:
    """The directory to prepend to ``PYTHONPATH`` for a run with these faults."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(__file__, directory / "sitecustomize.py")
    (directory / FAULTS).write_text(json.dumps({"crash": crash, "slowdown": slowdown or {},
                                                "instructions": instructions or {}}))
    return str(directory)


def _slowed(func: Callable[..., float], factor: float) -> Callable[..., float]:
    def run(loops: int, *args: Any) -> float:
        dt = func(loops, *args)
        b0 = time.perf_counter()
        end = b0 + dt * (factor - 1.0)
        while time.perf_counter() < end:
            pass
        return dt + (time.perf_counter() - b0)

    return run


def _crashing(loops: int, *args: Any) -> float:
    import gort
    raise gort.ChanClosed(CRASH_MESSAGE)


def _install() -> None:
    spec = json.loads((Path(__file__).with_name(FAULTS)).read_text())
    import sys
    argv = sys.argv
    if len(argv) == 4 and argv[0].endswith("instructions.py") and argv[1] == "--worker":
        k = spec["instructions"].get(argv[2], 0)
        for _ in range(int(argv[3]) * k):  # (nothing else: callgrind counts all of it)
            pass
        return
    import pyperf
    from common import name_matches  # the suites' directory is on PYTHONPATH too

    original = pyperf.Runner.bench_time_func

    def bench_time_func(self: pyperf.Runner, name: str, func: Callable[..., float],
                        *args: Any, **kwargs: Any) -> Any:
        if spec["crash"] and name_matches(name, spec["crash"]):
            func = _crashing
        for pattern, factor in spec["slowdown"].items():
            if name_matches(name, pattern):
                func = _slowed(func, factor)
        return original(self, name, func, *args, **kwargs)

    pyperf.Runner.bench_time_func = bench_time_func  # type: ignore[method-assign]


if __name__ == "sitecustomize":
    _install()
