"""What every benchmark script shares: the registry of its benchmarks, and the
pyperf Runner that runs them and records the build.

A suite is a module ``bm_<suite>.py`` whose benchmark functions carry their
names::

    @bench("mutex", "gort", inner_loops=OPS, description="Mutex lock() + unlock()")
    def mutex_gort(loops: int) -> float: ...

    if __name__ == "__main__":
        main(__doc__)

Importing a suite (``load``) registers its benchmarks and runs nothing, so the
driver and ``python -m bench list`` read the names without a subprocess.  Run as
a script, ``main`` is a pyperf Runner with three options of ours, passed on to
its worker processes: ``--bench PATTERNS`` (fnmatch, comma-separated) selects
benchmarks by name, ``--quick`` shrinks the work per loop (the smoke runs), and
``--extra-out PATH`` is where ``record_extra`` writes.  The metadata records what
was observed in the worker (free-threaded build or not, GIL enabled at run time,
gort's max_procs), not what was asked for.

The work per loop is a module constant of the suite (``OPS = scaled(2_000,
100)``), so a suite module is executed in one mode, and ``load(suite, quick)``
executes it afresh for each.  Run as a script, it is executed twice: as
``__main__`` (in the default mode; what it registers there is not used), then by
``main``, once pyperf has parsed ``--quick``.  A suite must therefore do nothing
at import but define and register (no Runner, no threads, no measurement).
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import importlib.util
import json
import os
import platform
import re
import sys
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pyperf

import gort

SUITES_DIR = Path(__file__).resolve().parent
# Environment the worker processes need: the GIL setting (a 3.13t+gil run must
# not silently measure 3.13t), gort's max_procs, and the build's label.
INHERITED_ENV = ("PYTHON_GIL", "GORT_MAXPROCS", "GORT_BUILD_LABEL")

QUICK = False  # the mode of the suite being loaded (see ``load``)
_EXTRA_OUT: str | None = None  # --extra-out of this process

TimeFunc = TypeVar("TimeFunc", bound=Callable[..., float])


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One registered benchmark: ``func(loops, *args)`` returns the seconds that
    ``loops`` loops of ``inner_loops`` operations took."""

    name: str  # "group[variant]", e.g. "mutex[gort]" or "scaling[gort,procs=2]"
    func: Callable[..., float]
    args: tuple[Any, ...] = ()
    inner_loops: int = 1
    description: str = ""
    skip: str | None = None  # why this gort or this machine cannot run it


_registry: list[Benchmark] = []  # where the module being executed registers


def bench(group: str, variant: str, *args: Any, inner_loops: int = 1, description: str = "",
          skip: str | None = None) -> Callable[[TimeFunc], TimeFunc]:
    """Register the decorated function as the benchmark ``group[variant]``,
    called as ``func(loops, *args)``.  Several registrations of one function
    (``bench("chan_1", "gort", 1)(chan_gort)`` in a loop) are several benchmarks;
    they run in the order registered.  ``skip``: the reason it cannot run here
    (it is listed as skipped, never run)."""

    def register(func: TimeFunc) -> TimeFunc:
        _registry.append(Benchmark(f"{group}[{variant}]", func, args, inner_loops,
                                   description, skip))
        return func

    return register


@dataclasses.dataclass(frozen=True)
class Suite:
    """What a suite module registered when loaded in one mode."""

    name: str
    description: str  # the first line of its docstring
    benchmarks: tuple[Benchmark, ...]  # including the skipped ones
    module: ModuleType

    def runnable(self, patterns: Sequence[str] = ()) -> list[Benchmark]:
        return [b for b in self.benchmarks if b.skip is None and selected(b.name, patterns)]

    def skipped(self, patterns: Sequence[str] = ()) -> list[Benchmark]:
        return [b for b in self.benchmarks if b.skip is not None and selected(b.name, patterns)]


def load(suite: str, quick: bool = False, path: Path | None = None) -> Suite:
    """Execute ``bm_<suite>.py`` (or ``path``) as a fresh module in ``quick`` mode
    and return what it registered.  Nothing is measured."""
    global QUICK, _registry
    path = path or SUITES_DIR / f"bm_{suite}.py"
    spec = importlib.util.spec_from_file_location(f"bm_{suite}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    saved = QUICK, _registry, sys.modules.get(spec.name)
    QUICK, _registry = quick, []
    sys.modules[spec.name] = module  # while it runs: dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        found = tuple(_registry)
    finally:
        QUICK, _registry, previous = saved
        if previous is None:
            del sys.modules[spec.name]
        else:
            sys.modules[spec.name] = previous
    names = [b.name for b in found]
    if len(names) != len(set(names)):
        raise ValueError(f"bm_{suite}.py registers a name twice: {names}")
    doc = (module.__doc__ or suite).strip().splitlines()[0]
    return Suite(suite, doc, found, module)


def split_patterns(text: str) -> list[str]:
    """Comma-separated patterns; a comma inside [...] belongs to its name
    (``scaling[gort,procs=2]``)."""
    return [p for p in re.split(r",(?![^\[]*\])", text) if p]


def name_matches(name: str, pattern: str) -> bool:
    """fnmatch with ``[`` and ``]`` taken literally (they are part of our names)."""
    pattern = pattern.replace("[", "\x00").replace("]", "[]]").replace("\x00", "[[]")
    return fnmatch.fnmatchcase(name, pattern)


def selected(name: str, patterns: Sequence[str]) -> bool:
    """Whether ``name`` matches one of ``patterns`` (no patterns: every name)."""
    return not patterns or any(name_matches(name, p) for p in patterns)


def record_extra(name: str, **values: float | int | str) -> None:
    """Measurements that are not times (``rss_per_task`` bytes, ``latency_p50``
    seconds, ``requests_per_s``; context such as ``tasks``), as JSON lines in the
    file of ``--extra-out``; the driver folds them into the suite's pyperf result
    file as benchmarks in their own units (``runner.EXTRA_KEYS``,
    ``runner.memory_benchmarks``), so every number is in pyperf JSON.  Without the
    option they are not recorded."""
    if not _EXTRA_OUT:
        return
    with open(_EXTRA_OUT, "a") as f:
        f.write(json.dumps({"name": name, **values}) + "\n")


def scaled(n: int, quick: int) -> int:
    """``n`` units of work per loop, or ``quick`` in quick mode."""
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


def _pass_options(cmd: list[str], args: argparse.Namespace) -> None:
    """pyperf's ``add_cmdline_args``: our options, for a worker's command line."""
    for pattern in args.bench:
        cmd.extend(("--bench", pattern))
    if args.quick:
        cmd.append("--quick")
    if args.extra_out:
        cmd.extend(("--extra-out", args.extra_out))


def make_runner(description: str, suite: str) -> pyperf.Runner:
    """A pyperf Runner with our options, whose metadata records the build as
    observed in the worker."""
    runner = pyperf.Runner(add_cmdline_args=_pass_options)
    ap = runner.argparser
    ap.add_argument("--bench", action="append", default=[], metavar="PATTERNS",
                    type=split_patterns, help="only the benchmarks whose names match one "
                    "of these fnmatch patterns (comma-separated; [ and ] are literal)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny work per loop: whether it runs, not how fast")
    ap.add_argument("--extra-out", metavar="PATH",
                    help="append the measurements that are not times here (JSON lines)")
    ap.set_defaults(inherit_environ=list(INHERITED_ENV))
    is_gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)
    md = runner.metadata
    md["description"] = description
    md["gort_suite"] = suite  # the report's section
    md["gort_version"] = gort.__version__
    md["free_threaded_build"] = str(bool(sysconfig.get_config_var("Py_GIL_DISABLED")))
    md["gil_enabled"] = str(is_gil_enabled())
    md["gort_max_procs"] = str(gort.max_procs())
    md["python_build_label"] = os.environ.get("GORT_BUILD_LABEL") or "unnamed"
    md["python_implementation_version"] = platform.python_version()
    md.update(build_info())
    return runner


def main(doc: str | None) -> None:
    """Run the calling script's benchmarks (those ``--bench`` selects) under pyperf.

    A suite may define ``setup(args)``: called with pyperf's parsed arguments in
    every process before its benchmarks are registered with pyperf."""
    global _EXTRA_OUT
    script = Path(sys.argv[0]).resolve()
    name = script.stem.removeprefix("bm_")
    runner = make_runner((doc or name).strip().splitlines()[0], name)
    args = runner.parse_args()
    # A user's --inherit-environ adds to ours instead of replacing it.
    args.inherit_environ = sorted({*INHERITED_ENV, *(args.inherit_environ or ())})
    patterns = [p for ps in args.bench for p in ps]
    args.bench = patterns
    _EXTRA_OUT = args.extra_out
    suite = load(name, quick=args.quick, path=script)
    if not args.worker:  # said once, in pyperf's main process (the driver shows it)
        for b in suite.skipped(patterns):
            print(f"{name}: skipped {b.name}: {b.skip}", flush=True)
    setup = getattr(suite.module, "setup", None)
    if setup is not None:
        setup(args)
    for b in suite.runnable(patterns):
        meta = {"description": b.description} if b.description else None
        runner.bench_time_func(b.name, b.func, *b.args, inner_loops=b.inner_loops,
                               metadata=meta)
