"""What every benchmark script shares: a pyperf Runner that records the build.

Each script is run by pyperf in fresh worker processes of one interpreter build.
The metadata records what was actually observed in the worker (free-threaded
build or not, GIL enabled at run time, gort's max_procs), not what was asked for.
``GORT_BENCH_FILTER`` (fnmatch patterns, comma-separated) selects benchmarks by
name; ``GORT_BENCH_QUICK=1`` shrinks the work per loop (the smoke test uses it).
"""

from __future__ import annotations

import fnmatch
import os
import platform
import re
import sys
import sysconfig
import time
from collections.abc import Callable
from typing import Any

import pyperf

import gort

INHERITED_ENV = ("PYTHON_GIL,GORT_MAXPROCS,GORT_BENCH_FILTER,GORT_BENCH_QUICK,"
                 "GORT_BENCH_SLOWDOWN,GORT_BENCH_CRASH,GORT_BENCH_EXTRA,GORT_BUILD_LABEL")
QUICK = os.environ.get("GORT_BENCH_QUICK") == "1"
_LIST = os.environ.get("GORT_BENCH_LIST") == "1"  # print the names, measure nothing


def split_patterns(text: str) -> list[str]:
    """Comma-separated patterns; a comma inside [...] belongs to its name
    (``scaling[gort,procs=2]``)."""
    return [p for p in re.split(r",(?![^\[]*\])", text) if p]


_FILTER = split_patterns(os.environ.get("GORT_BENCH_FILTER", ""))


def record_extra(name: str, **values: float | int | str) -> None:
    """Measurements that are not times (``rss_per_task`` bytes, ``latency_p50``
    seconds, ``requests_per_s``; context such as ``tasks``), as JSON lines in
    ``$GORT_BENCH_EXTRA``; the driver folds them into the suite's pyperf result
    file as benchmarks in their own units (``runner.EXTRA_KEYS``,
    ``runner.memory_benchmarks``), so every number is in pyperf JSON.  Without the
    driver they are not recorded."""
    path = os.environ.get("GORT_BENCH_EXTRA")
    if not path:
        return
    import json
    with open(path, "a") as f:
        f.write(json.dumps({"name": name, **values}) + "\n")


def scaled(n: int, quick: int) -> int:
    """``n`` units of work per loop, or ``quick`` in smoke-test mode."""
    return quick if QUICK else n


def build_info() -> dict[str, str]:
    """How this interpreter was built: its configure arguments, and whether they
    include profile-guided optimisation (``--enable-optimizations``) and link-time
    optimisation (``--with-lto``, or ``-flto`` in the compiler flags).  A
    distribution's Python has both; one built from the tarball with defaults has
    neither and runs Python code measurably slower."""
    args = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    cflags = str(sysconfig.get_config_var("PY_CFLAGS") or "")
    return {"python_config_args": args[:1000] or "unknown",
            "python_cflags": cflags[:300] or "unknown",
            "python_pgo": str("--enable-optimizations" in args),
            "python_lto": str("--with-lto" in args or "-flto" in cflags)}


def make_runner(description: str) -> pyperf.Runner:
    """A pyperf Runner whose metadata records the build as observed in the worker."""
    # pyperf passes only a few variables to its workers; the GIL setting must
    # reach them or a 3.13t+gil run would silently measure 3.13t.
    argv = sys.argv[1:]
    if not any(a.startswith("--inherit-environ") for a in argv):
        sys.argv[1:1] = [f"--inherit-environ={INHERITED_ENV}"]
    runner = pyperf.Runner()
    is_gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)
    runner.metadata["description"] = description
    # The suite a benchmark belongs to (bm_switch.py -> "switch"), for the report.
    runner.metadata["gort_suite"] = os.path.basename(sys.argv[0])[3:].removesuffix(".py")
    runner.metadata["gort_version"] = gort.__version__
    runner.metadata["free_threaded_build"] = str(bool(sysconfig.get_config_var("Py_GIL_DISABLED")))
    runner.metadata["gil_enabled"] = str(is_gil_enabled())
    runner.metadata["gort_max_procs"] = str(gort.max_procs())
    runner.metadata["python_build_label"] = os.environ.get("GORT_BUILD_LABEL") or "unnamed"
    runner.metadata["python_implementation_version"] = platform.python_version()
    runner.metadata.update(build_info())
    return runner


def name_matches(name: str, pattern: str) -> bool:
    """fnmatch with ``[`` and ``]`` taken literally (they are part of our names)."""
    pattern = pattern.replace("[", "\x00").replace("]", "[]]").replace("\x00", "[[]")
    return fnmatch.fnmatchcase(name, pattern)


def selected(name: str) -> bool:
    return not _FILTER or any(name_matches(name, p) for p in _FILTER)


def _slowdown(name: str) -> float:
    """GORT_BENCH_SLOWDOWN="pattern=1.3": make matching benchmarks 30% slower.

    For testing the regression gate only: the delay is real (a busy wait after
    each timed run), so the measurement is what a slower gort would give.
    """
    spec = os.environ.get("GORT_BENCH_SLOWDOWN", "")
    for item in spec.split(","):
        if "=" in item:
            pat, factor = item.rsplit("=", 1)
            if name_matches(name, pat):
                return float(factor)
    return 1.0


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
    # Not an ...Error name on purpose: the driver must find the root cause anyway.
    raise gort.ChanClosed("GORT_BENCH_CRASH: this benchmark crashes on purpose")


def bench_time(runner: pyperf.Runner, name: str, func: Callable[..., float], *args: Any,
               inner_loops: int = 1, description: str = "") -> None:
    """``runner.bench_time_func`` for the benchmarks the filter selects."""
    if not selected(name):
        return
    if _LIST:
        print(name)
        return
    crash = os.environ.get("GORT_BENCH_CRASH", "")
    if crash and name_matches(name, crash):  # for testing the driver only
        func = _crashing
    factor = _slowdown(name)
    if factor != 1.0:
        func = _slowed(func, factor)
    meta = {"description": description} if description else None
    runner.bench_time_func(name, func, *args, inner_loops=inner_loops, metadata=meta)
