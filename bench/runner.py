"""The driver behind ``nox -s bench``: every suite on every build, into results/.

For each build (an interpreter plus a GIL setting) and each suite script, it runs
the script under pyperf in that build's own processes, then merges the suites
into ``results/<machine>/<build>.json`` (pyperf JSON, ``pyperf compare_to``
can read it) and regenerates ``results/README.md``.  A suite that crashes or
times out is reported and the run continues; the summary names what is missing.
Measurements that are not times become pyperf benchmarks in their own unit in
the same file (RSS per parked task in bytes, request latency percentiles in
seconds, requests per second): there is no other result format.

``run`` is three steps: ``plan`` (which suites, which benchmarks, which of them
interleaved; names checked against the suites' registries, loaded in this
process), ``execute`` (the pyperf processes, then more of them for the
benchmarks whose results do not pass ``pyperf check`` yet, within a time budget:
``top_up``, ``bench/sampling.py``; what failed becomes a ``Failure``), and
``persist`` (the result files, ``run.json`` and the report).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyperf

ROOT = Path(__file__).resolve().parent.parent
SUITES_DIR = Path(__file__).resolve().parent / "suites"
sys.path.insert(0, str(SUITES_DIR))
import common as common  # noqa: E402 - the suites' registry (re-exported)
from common import name_matches as name_matches  # noqa: E402 - the suites' own rules,
from common import split_patterns as split_patterns  # noqa: E402 - re-exported

from . import SUITES, noise, sampling  # noqa: E402
from .report import memory_name  # noqa: E402 - a measurement's benchmark name

# pyperf settings per profile: processes, values per process, warmups, min time.
PROFILES = {
    "smoke": ["--processes=1", "--values=1", "--warmups=0", "--loops=1"],
    "default": ["--processes=2", "--values=3", "--warmups=1", "--min-time=0.05"],
    "rigorous": ["--rigorous"],
}
SUITE_TIMEOUT = {"smoke": 300, "default": 900, "rigorous": 3600}
BENCH_TIMEOUT = {"smoke": 120, "default": 300, "rigorous": 1800}  # one benchmark alone
# The headline comparisons are measured interleaved (runner.paired_pass): this many
# rounds, each one process per side, in alternating order (A B, B A, ...).
PAIRED_ROUNDS = {"smoke": 0, "default": 4, "rigorous": 10}
# One round of one side: pyperf settings (the loops are fixed after the first round).
PAIRED_ROUND = {"smoke": ["--processes=1", "--values=1", "--warmups=0"],
                "default": ["--processes=1", "--values=3", "--warmups=1", "--min-time=0.05"],
                "rigorous": ["--processes=1", "--values=5", "--warmups=2", "--min-time=0.1"]}
# Adaptive sampling (bench/sampling.py): after its suite's run gives every benchmark
# the profile's processes, a suite gets this many seconds per benchmark it ran, as
# one pool, for more processes of the benchmarks that fail pyperf check's sample
# rule, cheapest first.  Default: 0.75 s (about one more process of a fast
# benchmark): ~70 such benchmarks per build (of 126: the rest are interleaved, io
# or single-shot) make ~1 minute per build, ~3 minutes for three builds on top of the
# 17 the default run took before (the budget: ~20 minutes).  No entry: no
# adaptivity (smoke: one value, whether it runs, not how fast).
SAMPLING_BUDGET = {"default": 0.75, "rigorous": 5.0}
# The most processes a benchmark may need before it is given up as hopeless.
MAX_PROCESSES = {"default": 40, "rigorous": 400}
# Processes one top-up batch runs at most (the estimate is taken again after it).
MAX_BATCH = {"default": 8, "rigorous": 20}
# Seconds a worker process takes beyond its own run (interpreter, pyperf and gort
# imports: ~0.25 s on this project's 2 cores), for the cost estimate of a
# benchmark's first processes; a top-up's own wall time replaces it as it comes.
PROCESS_START = 0.3
# Suites whose adaptive budget is their own ({suite: {profile: seconds per
# benchmark}}): io's values are long and its ~3 minutes per build are spent by its
# own profile (one process, three values): none by default.
SUITE_SAMPLING_BUDGET = {"io": {"default": 0.0, "rigorous": 10.0}}
# Suites measured once per build whatever the profile (minutes of work per value).
SINGLE_SHOT = {"scale": ["--processes=1", "--values=1", "--warmups=0", "--loops=1"]}
# Suites whose values are long enough to need profiles of their own: {suite:
# {profile: pyperf settings}}; a profile not named here is the general one.  An io
# value is a run of up to half a second of load against a fresh server (one loop,
# never calibrated): with the general default profile the suite took ~330 s per
# build on 2 cores, with these ~150 s (the limit is 3 minutes, issue #10).
SUITE_PROFILES = {
    "io": {"default": ["--processes=1", "--values=3", "--warmups=1", "--loops=1"],
           "rigorous": ["--processes=3", "--values=5", "--warmups=1", "--loops=1"]},
}
# The same for the interleaved pass of the headline comparisons: rounds, and the
# pyperf settings of one side's round.  io: its two echo+work targets (4 benchmarks)
# in 3 rounds of 2 values each, so the suite stays within its 3 minutes.
SUITE_PAIRED_ROUNDS = {"io": {"smoke": 0, "default": 3, "rigorous": 6}}
SUITE_PAIRED_ROUND = {
    "io": {"default": ["--processes=1", "--values=2", "--warmups=1", "--loops=1"],
           "rigorous": ["--processes=1", "--values=3", "--warmups=1", "--loops=1"]},
}


def suite_settings(suite: str, profile: str) -> list[str]:
    """The pyperf settings of ``suite`` in ``profile``: a single-shot suite's, else
    the suite's own for that profile (``SUITE_PROFILES``), else the profile's."""
    if suite in SINGLE_SHOT:
        return SINGLE_SHOT[suite]
    return SUITE_PROFILES.get(suite, {}).get(profile, PROFILES[profile])


def sampling_budget(suite: str, profile: str) -> float | None:
    """Seconds of adaptive sampling per benchmark of ``suite`` in ``profile``
    (None: not adaptive, as single-shot suites and the smoke profile are)."""
    if suite in SINGLE_SHOT:
        return None
    return SUITE_SAMPLING_BUDGET.get(suite, {}).get(profile, SAMPLING_BUDGET.get(profile))


def process_count(settings: list[str]) -> int:
    """The worker processes that pyperf ``settings`` ask for (pyperf's default
    20, doubled by ``--rigorous``)."""
    n = 20
    for s in settings:
        if s.startswith("--processes="):
            n = int(s.split("=", 1)[1])
    return 40 if "--rigorous" in settings else n


def top_up_settings(settings: list[str], processes: int, loops: int) -> list[str]:
    """pyperf settings for ``processes`` more processes of a benchmark whose first
    run had ``settings``: the same values and warm-ups, its calibrated ``loops``
    (values stay comparable across batches); ``--rigorous`` would override the
    process count, so its values and warm-ups are spelled out instead."""
    keep = [s for s in settings if not s.startswith(("--processes=", "--loops=", "--min-time="))
            and s != "--rigorous"]
    return [*keep, f"--processes={processes}", f"--loops={loops}"]


def paired_settings(suite: str, profile: str) -> tuple[int, list[str]]:
    """(rounds, pyperf settings of one side's round) of ``suite``'s interleaved
    pass in ``profile``."""
    rounds = SUITE_PAIRED_ROUNDS.get(suite, {}).get(profile, PAIRED_ROUNDS[profile])
    return rounds, SUITE_PAIRED_ROUND.get(suite, {}).get(profile, PAIRED_ROUND[profile])


@dataclasses.dataclass(frozen=True)
class BuildSpec:
    """An interpreter and its GIL setting, as ``--build-python LABEL:GIL:PYTHON``."""

    label: str
    gil: str  # "", "0" or "1": the PYTHON_GIL setting
    python: str

    @classmethod
    def parse(cls, text: str) -> BuildSpec:
        label, gil, python = text.split(":", 2)
        return cls(label, gil, python)


def machine_label() -> str:
    cpu = cpu_model()
    slug = re.sub(r"[^a-z0-9]+", "-", cpu.lower()).strip("-")[:40] or platform.machine()
    return f"{slug}-{os.cpu_count()}cpu"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def suite_benchmarks(suite: str, quick: bool = False) -> list[str]:
    """The benchmark names a suite defines on this machine (some depend on
    ``max_procs``, some on quick mode), those it skips here left out: its
    registry, the module loaded in this process (nothing is measured).  Raises
    ``ListingError`` when the module cannot be loaded."""
    try:
        return [b.name for b in common.load(suite, quick).runnable()]
    except Exception as e:
        raise ListingError(f"loading bm_{suite}.py failed: {type(e).__name__}: {e}") from e


class ListingError(RuntimeError):
    """A suite module could not be loaded to list its benchmarks."""


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why benchmarks of one build have no value from this run."""

    build: str  # the build's label
    subject: str  # what the summary names: a benchmark, or a whole suite
    reason: str  # one line: "exit 1: ValueError: boom", "timed out after 300 s"
    benchmarks: tuple[str, ...] = ()  # left without a value (their earlier ones are dropped)
    output: str = ""  # the tail of what the process wrote

    def __str__(self) -> str:
        """The line of the summary and of ``run.json``'s ``missing``."""
        return f"{self.build}: {self.subject} ({self.reason})"


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


def paired_groups(names: list[str]) -> list[list[str]]:
    """The headline comparisons among ``names`` (a suite's selected benchmarks), as
    groups to interleave: each gort benchmark of a report target with every
    baseline it is compared with (``spawn[gort]``, ``spawn[futures]``,
    ``spawn[threading]``)."""
    from .report import TARGETS
    groups: dict[str, list[str]] = {}
    for t in TARGETS:
        if t.gort in names and t.baseline in names:
            g = groups.setdefault(t.gort, [t.gort])
            if t.baseline not in g:
                g.append(t.baseline)
    return list(groups.values())


def paired_pass(build: BuildSpec, suite: str, group: list[str], rounds: int,
                settings: list[str], tmp: Path, quick: bool, timeout: int,
                show: Callable[[str], None]) -> Path | Failure:
    """Measure the benchmarks of ``group`` interleaved: ``rounds`` rounds, each
    running every member in a process of its own, in alternating order, so that
    drift of the machine hits every side of a round alike.  Each run is tagged
    ``gort_round`` (``bench/stats.py`` pairs by it).  Returns a result file with
    one benchmark per member, and what each records beside itself (an io
    benchmark's requests/s and latencies), or why there is none: a ``Failure``
    that leaves every member missing."""
    runs: dict[str, list[pyperf.Run]] = {n: [] for n in group}
    loops: dict[str, int] = {}

    def failed(name: str, i: int, why: str, output: str = "") -> Failure:
        return Failure(build.label, suite, f"interleaved pass: {name} (round {i + 1} of "
                       f"{rounds}): {why}", tuple(group), output)

    for i in range(rounds):
        order = group if i % 2 == 0 else group[::-1]
        for j, name in enumerate(order):
            out = tmp / f"{build.label}-{suite}-pair{i}-{j}.json"
            out.unlink(missing_ok=True)  # the previous group's (pyperf will not overwrite)
            fixed = [f"--loops={loops[name]}"] if name in loops else []
            f = _run_suite(build, suite, [name], [*settings, *fixed], out, quick, timeout, show)
            if f is not None:
                return failed(name, i, f.reason, f.output)
            try:
                measured = pyperf.BenchmarkSuite.load(str(out)).get_benchmarks()
            except Exception as e:  # a result file it cannot read
                return failed(name, i, f"{type(e).__name__}: {e}")
            if name not in {b.get_name() for b in measured}:
                return failed(name, i, "no result for it")
            for b in measured:
                for r in b.get_runs():
                    md = r.get_metadata()
                    if b.get_name() == name and r.values and "loops" in md:
                        loops.setdefault(name, int(md["loops"]))
                    runs.setdefault(b.get_name(), []).append(
                        pyperf.Run(r.values, warmups=r.warmups,
                                   metadata={**md, "gort_round": i}, collect_metadata=False))
    path = tmp / f"{build.label}-{suite}-paired-{group[0]}.json"
    pyperf.BenchmarkSuite([pyperf.Benchmark(rs) for rs in runs.values()]).dump(
        str(path), replace=True)
    return path


# --------------------------------------------------------------------------- plan

@dataclasses.dataclass(frozen=True)
class Job:
    """One suite on one build, as planned."""

    build: BuildSpec
    suite: str
    names: list[str] | None  # the selected benchmarks (None: the suite cannot list them)
    patterns: list[str]  # --bench of the suite's own run ([]: every benchmark)
    groups: list[list[str]]  # interleaved first, each in ``rounds`` rounds
    rest: bool  # whether any selected benchmark is left for the suite's own run
    settings: list[str]  # pyperf settings of the suite's own run
    rounds: int
    round_settings: list[str]
    budget: float | None = None  # seconds of adaptive sampling (None: not adaptive)


class PlanError(ValueError):
    """An unknown suite, or a pattern that matches no benchmark."""


def plan(builds: list[BuildSpec], suites: list[str], bench_patterns: list[str], profile: str,
         quick: bool = False, paired_rounds: int | None = None,
         sampling_seconds: float | None = None) -> list[Job]:
    """The jobs of a run, build by build, suite by suite: the suites with a
    benchmark the patterns select, and for each, the headline comparisons
    (``paired_groups``) to interleave in ``paired_rounds`` rounds (default:
    ``PAIRED_ROUNDS`` of the profile; 0: with the rest of their suite), and the
    budget of adaptive sampling, ``sampling_seconds`` per benchmark (default:
    ``sampling_budget``; it makes even a smoke run adaptive).  Raises
    ``PlanError`` for an unknown name."""
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise PlanError(f"unknown suite(s) {', '.join(unknown)}; valid: {', '.join(SUITES)}")
    if bench_patterns:
        try:
            every = [b for s in suites for b in suite_benchmarks(s, quick)]
        except ListingError as e:
            raise PlanError(str(e)) from None
        dead = [p for p in bench_patterns if not any(name_matches(b, p) for b in every)]
        if dead:
            raise PlanError(f"no benchmark matches {', '.join(dead)}; valid: {', '.join(every)}")
        suites = [s for s in suites if any(name_matches(b, p) for b in
                                           suite_benchmarks(s, quick) for p in bench_patterns)]
    jobs = []
    for build in builds:
        for suite in suites:
            try:
                names: list[str] | None = [
                    b for b in suite_benchmarks(suite, quick)
                    if common.selected(b, bench_patterns)]
            except ListingError:  # it will fail when run, and be reported then
                names = None
            rounds, round_settings = paired_settings(suite, profile)
            if paired_rounds is not None:
                rounds = paired_rounds
            groups: list[list[str]] = []
            patterns, rest = bench_patterns, True
            if rounds >= 2 and suite not in SINGLE_SHOT and names:
                groups = paired_groups(names)
                in_groups = {n for g in groups for n in g}
                if in_groups:
                    patterns = [n for n in names if n not in in_groups]
                    rest = bool(patterns)
            per_bench = sampling_budget(suite, profile)
            if sampling_seconds is not None and suite not in SINGLE_SHOT:
                per_bench = sampling_seconds
            in_rest = [n for n in names or () if common.selected(n, patterns)] if rest else []
            budget = None if per_bench is None else per_bench * len(in_rest)
            jobs.append(Job(build, suite, names, patterns, groups, rest,
                            suite_settings(suite, profile), rounds, round_settings, budget))
    return jobs


# --------------------------------------------------------------------------- execute

@dataclasses.dataclass
class Outcome:
    """What ``execute`` measured, and what it could not."""

    results: dict[str, list[Path]]  # per build label: this run's result files
    failures: list[Failure]
    disturbed: list[str]  # "build: suite (reasons)" of each disturbed suite run


def execute(jobs: list[Job], profile: str, tmp: Path, quick: bool = False,
            strict: bool = False) -> Outcome:
    """Run ``jobs`` in order into ``tmp``, watching each for contention and
    throttling (``bench/noise.py``): a disturbed benchmark carries
    ``gort_disturbed`` in its metadata, and with ``strict`` a disturbed suite
    fails like a crashed one."""
    outcome = Outcome({j.build.label: [] for j in jobs}, [], [])
    best_calibration = float("inf")
    start = time.monotonic()
    for n, job in enumerate(jobs, 1):
        build, suite = job.build, job.suite
        elapsed = time.monotonic() - start
        eta = f", about {_fmt(elapsed / (n - 1) * (len(jobs) - n + 1))} left" if n > 1 else ""
        print(f"[{n}/{len(jobs)}] {build.label}: {suite} (elapsed {_fmt(elapsed)}{eta})",
              flush=True)
        out = tmp / f"{build.label}-{suite}.json"
        monitor = noise.Monitor()
        progress = _progress(len(job.names) if job.names is not None else 0)

        def show(line: str, progress: Callable[[str], None] = progress,
                 monitor: noise.Monitor = monitor) -> None:
            head = line.split(": ", 1)[0]
            if "[" in head:  # a benchmark's result line: it has just finished
                monitor.mark(head)
            progress(line)

        cal_before = noise.calibrate()
        monitor.start()
        outs: list[Path] = []
        for group in job.groups:
            print(f"    interleaving {' / '.join(group)}: {job.rounds} rounds", flush=True)
            got = paired_pass(build, suite, group, job.rounds, job.round_settings, tmp,
                              quick, BENCH_TIMEOUT[profile], show)
            if isinstance(got, Failure):
                print(f"    FAILED: {got.reason}", flush=True)
                # Every member: none may keep an earlier value beside "missing".
                outcome.failures.extend(dataclasses.replace(got, subject=name,
                                                            benchmarks=(name,))
                                        for name in group)
            else:
                outs.append(got)
        interleaved = list(outs)
        failure = (_run_suite(build, suite, job.patterns, job.settings, out, quick,
                              SUITE_TIMEOUT[profile], show)
                   if job.rest else None)  # (else every selected one was interleaved)
        done: set[str] = set()
        if failure is not None and out.exists():  # pyperf writes the file after each benchmark
            try:
                done = set(pyperf.BenchmarkSuite.load(str(out)).get_benchmark_names())
            except Exception:  # a file cut short: nothing to keep
                done = set()
        if (failure is None and job.rest and out.exists()) or done:
            outs.append(out)
        if failure is not None:
            print(f"    FAILED: {failure.reason}" + (f"\n{failure.output}" if failure.output
                                                      else ""), flush=True)
            outcome.failures.extend(_salvage(job, profile, tmp, quick, done, outs, failure,
                                             show))
        if job.budget is not None:
            top_up(job, profile, [o for o in outs if o not in interleaved], tmp, quick, show)
        _mark_fixed(interleaved, f"interleaved in {job.rounds} rounds")
        _mark_fixed(outs, "single-shot suite" if suite in SINGLE_SHOT else f"{profile} profile")
        monitor.stop()
        calibration = (cal_before, noise.calibrate())
        best_calibration = min(best_calibration, *calibration)
        reasons = _annotate(outs, monitor, calibration, best_calibration)
        if reasons:
            text = f"{build.label}: {suite} ({'; '.join(reasons)})"
            outcome.disturbed.append(text)
            print(f"    ⚠ DISTURBED: {text}", flush=True)
            if strict:
                dropped = tuple(name for o in outs for name in
                                pyperf.BenchmarkSuite.load(str(o)).get_benchmark_names())
                outcome.failures.append(Failure(build.label, suite, "disturbed, --strict: "
                                                + "; ".join(reasons), dropped))
                outs = []
        outcome.results[build.label].extend(outs)
    return outcome


# --------------------------------------------------------------------------- sampling

def _is_time(b: pyperf.Benchmark) -> bool:
    """A benchmark the driver samples: a time, not a record folded in beside one."""
    return b.get_unit() == "second" and not b.get_metadata().get("gort_memory_of")


def _progress_of(b: pyperf.Benchmark) -> sampling.Progress:
    """What the suite's run gave ``b``: its values, and their cost estimated from
    pyperf's ``duration`` of each process with values plus PROCESS_START (a top-up
    does not calibrate: the calibration run is not part of its cost)."""
    runs = [r for r in b.get_runs() if r.values]
    seconds = sum(float(r.get_metadata().get("duration", 0.0)) + PROCESS_START for r in runs)
    return sampling.Progress([list(r.values) for r in runs], seconds, sampling.shortest_raw(b))


def top_up(job: Job, profile: str, outs: list[Path], tmp: Path, quick: bool,
           show: Callable[[str], None]) -> None:
    """Adaptive sampling of the benchmarks in ``outs`` (the suite's own run):
    ``sampling.allocate`` with the job's budget, each batch one pyperf run of
    one benchmark with its calibrated loops; the new processes are added to the
    benchmark in its file, with how sampling ended (``gort_sampling*``)."""
    build, suite = job.build, job.suite
    where: dict[str, Path] = {}
    progress: dict[str, sampling.Progress] = {}
    loops: dict[str, int] = {}
    for o in outs:
        for b in pyperf.BenchmarkSuite.load(str(o)).get_benchmarks():
            name = b.get_name()
            if not _is_time(b):
                continue
            where[name], progress[name] = o, _progress_of(b)
            loops[name] = next((int(r.get_metadata()["loops"]) for r in b.get_runs()
                                if r.values and "loops" in r.get_metadata()), 1)
    if not progress:
        return
    batches: dict[str, list[Path]] = {}

    def measure(name: str, k: int) -> tuple[list[list[float]], float, float | None] | str:
        out = tmp / f"{build.label}-{suite}-topup{sum(map(len, batches.values()))}.json"
        out.unlink(missing_ok=True)
        t0 = time.monotonic()
        f = _run_suite(build, suite, [name], top_up_settings(job.settings, k, loops[name]),
                       out, quick, BENCH_TIMEOUT[profile], show)
        seconds = time.monotonic() - t0
        if f is not None:
            print(f"    top-up of {name} FAILED ({f.reason}): its first values are kept",
                  flush=True)
            return f"a top-up failed: {f.reason}"
        got = {b.get_name(): b for b in pyperf.BenchmarkSuite.load(str(out)).get_benchmarks()}
        if name not in got:
            return "a top-up gave no result"
        batches.setdefault(name, []).append(out)
        b = got[name]
        return [list(r.values) for r in b.get_runs() if r.values], seconds, \
            sampling.shortest_raw(b)

    budget = job.budget or 0.0
    spent = sampling.allocate(progress, budget, measure, minimum=process_count(job.settings),
                              max_processes=MAX_PROCESSES.get(profile, 40),
                              max_batch=MAX_BATCH.get(profile, 8))
    ended: dict[str, int] = {}
    for p in progress.values():
        ended[p.ended or sampling.FIXED] = ended.get(p.ended or sampling.FIXED, 0) + 1
    print(f"    adaptive sampling: {spent:.0f} of {budget:.0f} s spent; "
          + ", ".join(f"{n} {e}" for e, n in sorted(ended.items())), flush=True)
    for o in outs:
        result = pyperf.BenchmarkSuite.load(str(o))
        mine = {b.get_name(): b for b in result.get_benchmarks()}
        for name, b in list(mine.items()):
            if where.get(name) != o:
                continue
            for path in batches.get(name, []):
                for extra in pyperf.BenchmarkSuite.load(str(path)).get_benchmarks():
                    # The benchmark, and what its new processes recorded beside it.
                    if extra.get_name() in mine:
                        mine[extra.get_name()].add_runs(extra)
                    else:
                        result.add_benchmark(extra)
                        mine[extra.get_name()] = extra
            b.update_metadata(sampling.metadata(progress[name]))
        result.dump(str(o), replace=True)


def _mark_fixed(outs: list[Path], why: str) -> None:
    """``gort_sampling`` FIXED (with ``why``) for each time benchmark of ``outs``
    that has no ``gort_sampling`` yet."""
    for o in outs:
        result = pyperf.BenchmarkSuite.load(str(o))
        changed = False
        for b in result.get_benchmarks():
            if _is_time(b) and "gort_sampling" not in b.get_metadata():
                b.update_metadata(sampling.metadata(sampling.Progress(
                    [list(r.values) for r in b.get_runs() if r.values], 0.0,
                    ended=sampling.FIXED, why=why)))
                changed = True
        if changed:
            result.dump(str(o), replace=True)


def stability(paths: list[Path]) -> tuple[int, int, dict[str, int]]:
    """(benchmarks that pass pyperf check, time benchmarks, {how sampling ended:
    count} of those that do not) over the result files ``paths``."""
    stable = total = 0
    ended: dict[str, int] = {}
    for path in paths:
        for b in pyperf.BenchmarkSuite.load(str(path)).get_benchmarks():
            if not _is_time(b):
                continue
            total += 1
            if sampling.check_benchmark(b).passed:
                stable += 1
            else:
                md = b.get_metadata()
                e = str(md.get("gort_sampling", sampling.FIXED))
                if e == sampling.FIXED:  # why it was not sampled ("interleaved in 4 rounds")
                    e = f"{md.get('gort_sampling_why', 'an older run')} (not sampled)"
                ended[e] = ended.get(e, 0) + 1
    return stable, total, ended


def stability_line(label: str, stable: int, total: int, ended: dict[str, int]) -> str:
    """"3.13t: 112 of 126 benchmarks stable (89%); 14 unstable: ..." """
    line = f"{label}: {stable} of {total} benchmarks stable ({stable / max(1, total):.0%})"
    if ended:
        line += (f"; {total - stable} unstable (sampling ended: "
                 + ", ".join(f"{n} {e}" for e, n in sorted(ended.items())) + ")")
    return line


# --------------------------------------------------------------------------- persist

def persist(outcome: Outcome, builds: list[BuildSpec], target: Path, command: str,
            profile: str) -> None:
    """Merge each build's results into ``target/<build>.json`` (keeping what
    this run did not measure again, except what failed in it), write
    ``target/run.json``, and regenerate the report next to ``target``."""
    for label, parts in outcome.results.items():
        if not parts:
            continue
        path = target / f"{label}.json"
        # A benchmark that failed in this run loses its earlier value too: a stale
        # number next to "missing" would look current.
        failed = {b for f in outcome.failures if f.build == label for b in f.benchmarks}
        if path.exists():
            fold_legacy_sidecar(path)
        merged = _merge(parts, keep=path if path.exists() else None, drop=failed)
        merged.dump(str(path), replace=True)
    run_path = target / "run.json"
    earlier = json.loads(run_path.read_text()) if run_path.exists() else {}
    commands = [c for c in earlier.get("commands", []) if c != command] + [command]
    meta = {"command": command, "commands": commands, "profile": profile,
            "machine": target.name, "cpu": cpu_model(),
            "cpus": os.cpu_count(), "os": platform.platform(), "date": time.strftime(
                "%Y-%m-%d %H:%M UTC", time.gmtime()),
            "builds": [dataclasses.asdict(b) for b in builds],
            "missing": [str(f) for f in outcome.failures], "disturbed": outcome.disturbed,
            "stability": {label: dict(zip(("stable", "benchmarks", "unstable"),
                                          stability(parts), strict=True))
                          for label, parts in outcome.results.items() if parts}}
    run_path.write_text(json.dumps(meta, indent=2) + "\n")
    from . import report
    report.write_report(target.parent)


def run(builds: list[BuildSpec], suites: list[str], bench_patterns: list[str], profile: str,
        out_dir: Path, command: str, quick: bool = False, strict: bool = False,
        paired_rounds: int | None = None, sampling_seconds: float | None = None) -> int:
    """Run ``suites`` on ``builds`` into ``out_dir/<machine>/``; write the report
    (``plan``, ``execute``, ``persist``).  Returns the exit status: 0, 1 when
    something is missing, 2 for an unknown name."""
    try:
        jobs = plan(builds, suites, bench_patterns, profile, quick, paired_rounds,
                    sampling_seconds)
    except PlanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    target = out_dir / machine_label()
    target.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    print(f"gort bench: {len(builds)} build(s) x {len(jobs) // max(1, len(builds))} suite(s), "
          f"profile {profile}, results in {target}", flush=True)
    outcome = execute(jobs, profile, Path(tempfile.mkdtemp(prefix="gort-bench-")), quick, strict)
    persist(outcome, builds, target, command, profile)
    print(f"done in {_fmt(time.monotonic() - start)}; report: {out_dir / 'README.md'}")
    print("pyperf check (this run's time benchmarks; sampling as bench/sampling.py says):\n  "
          + "\n  ".join(stability_line(label, *stability(parts))
                         for label, parts in outcome.results.items() if parts))
    if outcome.disturbed:
        print(f"THE MACHINE WAS BUSY during {len(outcome.disturbed)} of {len(jobs)} suite "
              "run(s); their values are marked ⚠ in the report and left out of its verdicts"
              + (" (--strict: dropped)" if strict else "") + ":\n  "
              + "\n  ".join(outcome.disturbed))
    else:
        print(f"The machine was quiet during all {len(jobs)} suite run(s) "
              f"(no other process above {noise.FOREIGN_CPU_LIMIT:.0%} of the CPUs, "
              f"no steal above {noise.STEAL_LIMIT:.0%}, no calibration drift).")
    if outcome.failures:
        print("MISSING (crashed or timed out):\n  " + "\n  ".join(map(str, outcome.failures)))
        return 1
    return 0


def _annotate(outs: list[Path], monitor: noise.Monitor, calibration: tuple[float, float],
              best: float) -> list[str]:
    """Write the noise figures of each benchmark's window (``gort_noise_*``, and
    ``gort_disturbed`` with its reasons) into the result files ``outs``.  Returns
    the reasons against the suite as a whole ([] if none): those of its whole
    window, else how many of its benchmarks were disturbed and the first reason."""
    flagged: list[tuple[str, str]] = []
    total = 0
    for o in outs:
        suite = pyperf.BenchmarkSuite.load(str(o))
        for b in suite.get_benchmarks():
            total += 1
            # A memory result was measured in its time benchmark's window.
            of = str(b.get_metadata().get("gort_memory_of") or b.get_name())
            md = noise.metadata(monitor.window_of(of), calibration, best)
            b.update_metadata(md)
            if "gort_disturbed" in md:
                flagged.append((b.get_name(), str(md["gort_disturbed"])))
        suite.dump(str(o), replace=True)
    whole = noise.disturbance(monitor.suite_window(), calibration, best) if outs else []
    if whole or not flagged:
        return whole
    name, why = flagged[0]
    return [f"{len(flagged)} of {total} benchmarks disturbed, e.g. {name}: {why}"]


def _progress(n: int) -> Callable[[str], None]:
    """Print each benchmark's result line as it arrives, numbered k/n in its suite
    (n = 0: not known)."""
    seen: list[str] = []

    def show(line: str) -> None:
        head = line.split(": ", 1)[0]
        if "[" in head:  # "name[impl]: Mean +- std dev: ..."
            if head not in seen:  # an interleaved benchmark reports once per round
                seen.append(head)
            print(f"    ({seen.index(head) + 1}/{n or '?'}) {line}", flush=True)
        else:
            print(f"    {line}", flush=True)

    return show


def _salvage(job: Job, profile: str, tmp: Path, quick: bool, done: set[str], outs: list[Path],
             failure: Failure, show: Callable[[str], None]) -> list[Failure]:
    """A suite crashed or hung: run each benchmark it did not finish on its own,
    so that only the ones that fail themselves are missing.  Returns what is."""
    build, suite = job.build, job.suite
    if job.names is None:
        try:
            suite_benchmarks(suite, quick)
        except ListingError as e:
            return [dataclasses.replace(failure, reason=f"{failure.reason}; {e}")]
    names = [n for n in job.names or () if n not in done
             and (not job.patterns or common.selected(n, job.patterns))]
    if not names:
        return [failure]
    print(f"    running the {len(names)} benchmark(s) not measured one at a time", flush=True)
    failed: list[Failure] = []
    for i, name in enumerate(names):
        one = tmp / f"{build.label}-{suite}-{i}.json"
        f = _run_suite(build, suite, [name], job.settings, one, quick, BENCH_TIMEOUT[profile],
                       show)
        if f is None:
            outs.append(one)
        else:
            failed.append(dataclasses.replace(f, subject=name, benchmarks=(name,)))
            print(f"    FAILED {name}: {f.reason}", flush=True)
    if len(failed) == len(names) > 1 and len({f.reason for f in failed}) == 1:
        # One cause: said once, for the suite.
        return [dataclasses.replace(failed[0], subject=suite,
                                    benchmarks=tuple(n for f in failed for n in f.benchmarks))]
    return failed


def _root_cause(text: str) -> str:
    """The exception line of the first traceback in ``text`` (the worker's own;
    pyperf's "failed with exit code" comes last), else the last line."""
    lines = text.strip().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            for later in lines[i + 1:]:
                if later and not later[0].isspace():
                    return later
    return lines[-1] if lines else "no output"


def _run_suite(build: BuildSpec, suite: str, patterns: list[str], settings: list[str],
               out: Path, quick: bool, timeout: int,
               show: Callable[[str], None] | None = None) -> Failure | None:
    """One suite script (or the benchmarks of it matching ``patterns``) under
    pyperf in ``build``'s own processes, passing each line it prints (a
    benchmark's result, as it finishes) to ``show``.  What the script records with
    ``record_extra`` is folded into ``out`` as benchmarks in their own units
    (``EXTRA_KEYS``).  Returns why it failed (naming the suite), or None."""
    extra = out.with_name(out.name + ".extra.jsonl")
    extra.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    if build.gil:
        env["PYTHON_GIL"] = build.gil
    env["GORT_BUILD_LABEL"] = build.label
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(SUITES_DIR),
                                         *filter(None, [os.environ.get("PYTHONPATH")])])
    cmd = [build.python, str(SUITES_DIR / f"bm_{suite}.py"), "-o", str(out), "--quiet",
           *settings, "--extra-out", str(extra), *(a for p in patterns for a in ("--bench", p)),
           *(["--quick"] if quick else [])]
    # Its own process group, so a timeout kills pyperf's worker processes too.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=os.name == "posix")
    err: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    stderr = proc.stderr
    reader = threading.Thread(target=lambda: err.append(stderr.read()))
    reader.start()
    expired: list[bool] = []

    def expire() -> None:
        expired.append(True)
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except ProcessLookupError:
            pass

    killer = threading.Timer(timeout, expire)
    killer.start()
    lines: list[str] = []
    try:
        for line in proc.stdout:  # pyperf prints each benchmark's result when done
            lines.append(line)
            if show is not None and line.strip():
                show(line.rstrip("\n"))
        rc = proc.wait()
    finally:
        killer.cancel()
        reader.join()
        proc.stdout.close()
        stderr.close()
    if out.exists() and extra.exists():
        try:
            fold_memory(out, extra)
        except Exception as e:  # a result file cut short by a crash: keep what pyperf wrote
            print(f"    (record_extra measurements not kept: {type(e).__name__}: {e})",
                  flush=True)
    if expired and rc != 0:  # (a timer firing just after a clean exit killed nothing)
        return Failure(build.label, suite, f"timed out after {timeout} s")
    if rc == 0 and out.exists():
        return None
    text = ("".join(err) or "".join(lines)).strip()
    if rc == 0:
        return Failure(build.label, suite, "exit 0 but no result: no benchmark matched the filter")
    return Failure(build.label, suite, f"exit {rc}: {_root_cause(text)}", output=text[-800:])


# --------------------------------------------------------------------------- extras

# The record_extra() keys that are measurements: the pyperf unit of each, and what
# it is (the start of its benchmark's description).  pyperf knows three units:
# second, byte and integer (a count; requests per second is a rate, not a whole
# number, but pyperf stores any float).  Any other numeric key of a record
# (``tasks``, ``connections``, ``requests``) is context: metadata ``gort_<key>``.
EXTRA_KEYS = {
    "rss_per_task": ("byte", "RSS growth per task"),
    "latency_p50": ("second", "median request latency"),
    "latency_p99": ("second", "99th percentile request latency"),
    "requests_per_s": ("integer", "requests per second"),
}
MEMORY_KEYS = {k: v[0] for k, v in EXTRA_KEYS.items() if v[0] == "byte"}


def memory_benchmarks(records: list[dict[str, Any]],
                      timed: dict[str, pyperf.Benchmark]) -> list[pyperf.Benchmark]:
    """pyperf benchmarks (one value per record, in each key's unit: bytes of RSS,
    seconds of latency, requests per second) from the records that
    ``common.record_extra`` wrote, for the benchmarks in ``timed`` only (a record of
    a benchmark whose time was not kept has nothing to stand next to).  Each
    carries its time benchmark's metadata plus ``gort_memory_of`` (that name; the
    key predates latencies) and ``gort_extra_key``."""
    by: dict[tuple[str, str], list[float]] = {}
    context: dict[str, dict[str, int | float]] = {}
    for rec in records:
        name = str(rec.get("name", ""))
        if name not in timed:
            continue
        for key, value in rec.items():
            if key in EXTRA_KEYS:
                by.setdefault((name, key), []).append(float(value))
            elif key != "name" and isinstance(value, int | float):
                context.setdefault(name, {})[f"gort_{key}"] = value
    out = []
    for (name, key), values in sorted(by.items()):
        unit, what = EXTRA_KEYS[key]
        md = dict(timed[name].get_metadata())
        for k in ("inner_loops", "loops", "warmups", "calibrate_loops", "recalibrate_loops"):
            md.pop(k, None)
        md.update(context.get(name, {}))
        # "...; time per request" describes the time benchmark, not this one.
        of = re.sub(r"[;,] (time per \w+|wall time)$", "", str(md.get("description", name)))
        md.update(name=memory_name(name, key), unit=unit, gort_memory_of=name,
                  gort_extra_key=key, description=f"{what}: {of}")
        # pyperf keeps positive values only: an RSS that did not grow (0) cannot
        # be stored, so it is left out (its time benchmark and siblings are kept).
        runs = [pyperf.Run([v], metadata=md, collect_metadata=False) for v in values if v > 0]
        if runs:
            out.append(pyperf.Benchmark(runs))
    return out


def _read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fold_memory(result: Path, records: Path) -> None:
    """Add the ``record_extra`` measurements of ``records`` (JSON lines: memory,
    latencies, throughput) to the pyperf file ``result``, each in its unit."""
    suite = pyperf.BenchmarkSuite.load(str(result))
    timed = {b.get_name(): b for b in suite.get_benchmarks()}
    for b in memory_benchmarks(_read_records(records), timed):
        if b.get_name() not in timed:
            suite.add_benchmark(b)
    suite.dump(str(result), replace=True)


def fold_legacy_sidecar(result: Path) -> bool:
    """Move an older run's ``<build>.extra.json`` (a JSON list of memory records)
    into ``<build>.json`` as byte-unit benchmarks and delete it.  Returns whether
    there was one.  Records of benchmarks that already have a memory benchmark, or
    whose time is not in the file, are dropped."""
    sidecar = result.with_name(result.stem + ".extra.json")
    if not sidecar.exists():
        return False
    suite = pyperf.BenchmarkSuite.load(str(result))
    timed = {b.get_name(): b for b in suite.get_benchmarks()}
    have = set(timed)
    for b in memory_benchmarks(json.loads(sidecar.read_text()), timed):
        if b.get_name() not in have:
            suite.add_benchmark(b)
    suite.dump(str(result), replace=True)
    sidecar.unlink()
    return True


def _merge(parts: list[Path], keep: Path | None = None,
           drop: frozenset[str] | set[str] = frozenset()) -> pyperf.BenchmarkSuite:
    """One suite of this run's results, plus, from ``keep`` (an earlier result
    file of the same build), every benchmark this run did not measure again,
    except those in ``drop`` (they failed in this run) and their memory results."""
    suite: pyperf.BenchmarkSuite | None = None
    for p in parts:
        s = pyperf.BenchmarkSuite.load(str(p))
        if suite is None:
            suite = s
        else:
            for b in s.get_benchmarks():
                suite.add_benchmark(b)
    assert suite is not None
    if keep is not None:
        fresh = set(suite.get_benchmark_names())
        for b in pyperf.BenchmarkSuite.load(str(keep)).get_benchmarks():
            name = b.get_name()
            if name not in fresh and name not in drop \
                    and b.get_metadata().get("gort_memory_of") not in drop:
                suite.add_benchmark(b)
    return suite
