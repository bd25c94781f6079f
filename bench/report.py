"""results/README.md from the pyperf JSON files of a run (tables, ratios, plots).

Benchmarks are named ``what[implementation]`` (``pingpong[gort]``,
``pingpong[asyncio]``, ``scaling[gort,procs=2]``); "All benchmarks" has one table per
suite (the ``gort_suite`` metadata each benchmark carries).
Every number comes from the JSON files; nothing is typed in by hand.
"""

from __future__ import annotations

import functools
import json
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyperf
from tabulate import tabulate

from . import SUITES, sampling, stats
from .stats import Interval, ratio_interval

BUILD_ORDER = ("3.13", "3.13t", "3.13t+gil", "3.14", "3.14t", "3.14t+gil")
NAME_RE = re.compile(r"^(?P<what>[^\[]+)\[(?P<impl>[^\],]+)(?:,(?P<param>[^\]]+))?\]$")


@dataclass(frozen=True)
class Target:
    """A performance target of an issue: gort / baseline must be <= (or >=) limit."""

    text: str
    gort: str
    baseline: str
    limit: float
    lower_is_better: bool = True  # ratio of times; False: ratio of throughputs


# The targets of the runtime-core issue, checked on every build they apply to.
TARGETS = (
    Target("spawn+join <= 1.0x ThreadPoolExecutor", "spawn[gort]", "spawn[futures]", 1.0),
    Target("spawn+join <= 0.05x threading.Thread", "spawn[gort]", "spawn[threading]", 0.05),
    Target("ping-pong <= 1.3x two-Lock hand-off", "pingpong[gort]", "pingpong[lock]", 1.3),
    Target("ping-pong <= 0.8x queue.Queue(1)", "pingpong[gort]", "pingpong[threading]", 0.8),
    Target("Chan(128) >= 1.5x queue.Queue(128) throughput", "chan_128[gort]",
           "chan_128[threading]", 1.5, lower_is_better=False),
    Target("8 CPU items: 2 procs >= 1.8x faster than 1", "scaling[gort,procs=2]",
           "scaling[gort,procs=1]", 1.8, lower_is_better=False),
    Target("Mutex lock+unlock <= 2x threading.Lock", "mutex[gort]", "mutex[threading]", 2.0),
    Target("atomic.Int64.add <= 2x with lock: n += 1", "atomic_add[gort]",
           "atomic_add[threading]", 2.0),
    # The coroutine-goroutine issue.
    Target("async spawn+join <= 0.5x asyncio create_task+gather", "spawn[gort-async]",
           "spawn[asyncio]", 0.5),
    Target("async ping-pong <= 0.5x asyncio.Queue(1)", "pingpong[gort-async]",
           "pingpong[asyncio]", 0.5),
    Target("8 CPU coroutines: 2 procs >= 1.8x faster than 1", "scaling[gort-async,procs=2]",
           "scaling[gort-async,procs=1]", 1.8, lower_is_better=False),
    # The I/O issue (#10): the io suite's values are times per request, so a ratio
    # of requests/s is the inverse ratio of times.
    Target("echo+work c100: gort-async >= 1.5x asyncio req/s", "echo_work_c100[gort-async]",
           "echo_work_c100[asyncio]", 1.5, lower_is_better=False),
    Target("echo+work c1000: gort-async >= 1.5x asyncio req/s", "echo_work_c1000[gort-async]",
           "echo_work_c1000[asyncio]", 1.5, lower_is_better=False),
)
# Memory targets: RSS growth per parked task, from the scale suite (byte-unit
# benchmarks, see runner.memory_benchmarks).
MEMORY_TARGETS = (("1,000,000 parked coroutine goroutines <= 2 KB each",
                   "parked_rss_per_task[gort-async,n=1000000]", 2048),)


@dataclass
class Result:
    build: str
    name: str
    bench: pyperf.Benchmark

    @property
    def mean(self) -> float:
        return self.bench.mean()

    @property
    def values(self) -> list[float]:
        return list(self.bench.get_values())

    @property
    def warnings(self) -> list[str]:
        """Why this value is not to be trusted (``gort_disturbed``: contention or
        throttling while it was measured), [] if nothing is known against it."""
        text = self.bench.get_metadata().get("gort_disturbed")
        return str(text).split("; ") if text else []

    @property
    def spread(self) -> float | None:
        """Standard deviation over the mean of the values (None with one value)."""
        vals = self.values
        if len(vals) < 2 or not self.mean:
            return None
        return statistics.stdev(vals) / self.mean

    @functools.cached_property
    def check(self) -> sampling.Check:
        """pyperf check's verdict (``bench/sampling.py``).  A record folded in
        beside a time (RSS, latency, requests/s: one value per run) is judged on
        its spread and outliers alone: its runs are not worker processes."""
        if self.bench.get_metadata().get("gort_memory_of"):
            return sampling.check([self.values])
        return sampling.check_benchmark(self.bench)

    @property
    def unstable(self) -> bool:
        """Whether it fails pyperf check: a standard deviation of 10% of the mean
        or more, a value 50% or more from the mean, a raw value under 1 ms, or
        fewer worker processes than its spread between processes needs."""
        return not self.check.passed

    @property
    def gil_enabled(self) -> bool | None:
        """Whether the worker ran with the GIL (observed), None if not recorded."""
        v = self.bench.get_metadata().get("gil_enabled")
        return None if v is None else v == "True"


WARN = "⚠"
# A speedup above this with the GIL cannot come from parallel Python code: it is noise.
GIL_SPEEDUP_LIMIT = 1.2


def stability_text(results: dict[str, Result]) -> str:
    """"112 of 126 benchmarks stable (89%)": the time benchmarks of one build
    that pass pyperf check (records folded in beside them not counted)."""
    timed = [r for r in results.values() if r.bench.get_unit() == "second"
             and not r.bench.get_metadata().get("gort_memory_of")]
    stable = sum(1 for r in timed if not r.unstable)
    return (f"{stable} of {len(timed)} benchmarks stable ({stable / max(1, len(timed)):.0%}, "
            "pyperf check)")


def warnings_of(*results: Result) -> list[str]:
    """The warnings of several results, each once, in order."""
    out: list[str] = []
    for r in results:
        out += [w for w in r.warnings if w not in out]
    return out


def load(machine_dir: Path) -> dict[str, dict[str, Result]]:
    """{build: {benchmark name: Result}} for one machine's folder."""
    out: dict[str, dict[str, Result]] = {}
    for path in sorted(machine_dir.glob("*.json")):
        if path.name == "run.json" or path.name.endswith((".extra.json", INSTRUCTIONS_SUFFIX)):
            continue
        build = path.stem
        suite = pyperf.BenchmarkSuite.load(str(path))
        out[build] = {b.get_name(): Result(build, b.get_name(), b) for b in suite.get_benchmarks()}
    return out


INSTRUCTIONS_SUFFIX = ".instructions.json"  # bench/instructions.py's result files


def load_instructions(machine_dir: Path) -> dict[str, dict[str, Result]]:
    """{build: {operation: Result}} of the instruction counts in one machine's folder."""
    out: dict[str, dict[str, Result]] = {}
    for path in sorted(machine_dir.glob("*" + INSTRUCTIONS_SUFFIX)):
        build = path.name.removesuffix(INSTRUCTIONS_SUFFIX)
        suite = pyperf.BenchmarkSuite.load(str(path))
        out[build] = {b.get_name(): Result(build, b.get_name(), b) for b in suite.get_benchmarks()}
    return out


def instruction_table(counts: dict[str, dict[str, Result]]) -> str:
    """Instructions per operation, rows = operations, columns = builds."""
    builds = sorted(counts, key=build_sort_key)
    names = sorted({n for d in counts.values() for n in d}, key=split_name)
    rows = []
    for name in names:
        row = [name] + [f"{counts[b][name].mean:,.0f}" if name in counts[b] else "—"
                        for b in builds]
        desc = next((counts[b][name].bench.get_metadata().get("description", "")
                     for b in builds if name in counts[b]), "")
        rows.append([*row, str(desc).removeprefix("instructions per op: ")])
    return tabulate(rows, headers=["instructions per op", *builds, "what"],
                    tablefmt="github", disable_numparse=True)


INSTRUCTIONS_TEXT = (
    "Counted by `nox -s bench -- --mode instructions` under callgrind: (I(n2) − I(n1)) / "
    "(n2 − n1) over two processes that run the operation n1 and n2 times, so start-up "
    "cancels. Reproducible on a busy machine (single-threaded operations: two runs "
    "within 0.5%; spawn and timer, which hand over between threads, within their stated "
    "noise), hence CI's regression gate; it covers only operations that never wait for "
    "another thread: a contended one measures callgrind's thread schedule, not gort.")


def build_sort_key(label: str) -> tuple[int, str]:
    return (BUILD_ORDER.index(label) if label in BUILD_ORDER else len(BUILD_ORDER), label)


@functools.cache
def _in_unit(unit: str) -> pyperf.Benchmark:
    """A benchmark of ``unit``, for its ``format_value`` (pyperf formats by unit)."""
    return pyperf.Benchmark([pyperf.Run([1.0], metadata={"name": unit, "unit": unit},
                                        collect_metadata=False)])


def fmt_value(value: float, unit: str = "second") -> str:
    """``value`` in pyperf's ``unit`` (second, byte, integer) as ``pyperf show``
    prints it: ``15.0 us``, ``1.2 KiB``."""
    return _in_unit(unit).format_value(value)


def fmt_result(r: Result) -> str:
    """``mean ± std`` in the benchmark's unit, in one scale (one value: the value
    alone), as pyperf formats them."""
    if len(r.values) < 2:
        return r.bench.format_value(r.mean)
    return " ± ".join(r.bench.format_values([r.mean, statistics.stdev(r.values)]))


def significant(a: Result, b: Result) -> bool | None:
    """Whether the values of ``a`` and ``b`` differ (``stats.significant``)."""
    return stats.significant(a.values, b.values)


def fmt_interval(iv: Interval) -> str:
    """``[lo, hi]`` of a ratio's 95% interval, "paired" when the sides interleaved."""
    if not iv.known:
        return ""
    return (f" [{fmt_ratio(iv.lo)}, {fmt_ratio(iv.hi)}]"  # type: ignore[arg-type]
            + (" paired" if iv.paired else ""))


def ratio_cell(a: Result, b: Result, invert: bool = False) -> str:
    """``a / b`` (or ``b / a``) with its 95% bootstrap interval; "not significant"
    when the interval includes 1.0; ⚠ first when either side was disturbed."""
    iv = ratio_interval(a.bench, b.bench)
    if invert:
        iv = iv.inverted()
    tag = (" (too few values)" if not iv.known
           else "" if iv.excludes(1.0) else " (not significant)")
    warn = f"{WARN} " if warnings_of(a, b) else ""
    return f"{warn}{fmt_ratio(iv.ratio)}×{fmt_interval(iv)}{tag}"


def target_verdict(t: Target, iv: Interval) -> str:
    """✅ when the whole 95% interval meets the target, ❌ when the whole interval
    misses it, otherwise ❔ (the data cannot tell)."""
    if not iv.known:
        return "❔ (too few values for an interval)"
    assert iv.lo is not None and iv.hi is not None
    if t.lower_is_better:
        return "✅" if iv.hi <= t.limit else "❌" if iv.lo > t.limit else "❔"
    return "✅" if iv.lo >= t.limit else "❌" if iv.hi < t.limit else "❔"


def fmt_ratio(r: float) -> str:
    """Two decimals; below 0.1, two significant digits (0.00038, not 0.00)."""
    if r <= 0 or r >= 0.0995:
        return f"{r:.2f}"
    return f"{r:.{1 - math.floor(math.log10(r))}f}"


def split_name(name: str) -> tuple[str, str, str]:
    m = NAME_RE.match(name)
    if not m:
        return name, "", ""
    return m["what"], m["impl"], m["param"] or ""


OTHER_SUITE = "other"  # benchmarks without "gort_suite" metadata (older result files)


def suite_of(data: dict[str, dict[str, Result]], name: str) -> str:
    """The ``gort_suite`` metadata of a benchmark (first build in build order that has
    it), or OTHER_SUITE."""
    for b in sorted(data, key=build_sort_key):
        r = data[b].get(name)
        if r is not None:
            suite = r.bench.get_metadata().get("gort_suite")
            if suite:
                return str(suite)
    return OTHER_SUITE


def suite_sort_key(suite: str) -> tuple[int, str]:
    """The order of the per-suite subsections of "All benchmarks": SUITES', then
    any other suite in alphabetical order, then OTHER_SUITE."""
    if suite in SUITES:
        return (SUITES.index(suite), suite)
    return (len(SUITES) + (suite == OTHER_SUITE), suite)


def suite_table(data: dict[str, dict[str, Result]], names: list[str]) -> str:
    """Rows = the benchmarks ``names``, columns = builds (mean ± std, with units)."""
    builds = sorted(data, key=build_sort_key)
    rows = []
    for name in sorted(names, key=split_name):
        row = [name]
        for b in builds:
            r = data[b].get(name)
            row.append((fmt_result(r) + (f" {WARN}" if r.warnings else "")
                        + (f" (unstable: {r.check.brief()})" if r.unstable else ""))
                       if r else "—")
        desc = next((data[b][name].bench.get_metadata().get("description", "")
                     for b in builds if name in data[b]), "")
        row.append(desc)
        rows.append(row)
    return tabulate(rows, headers=["benchmark (time per op)", *builds, "what"],
                    tablefmt="github")


def suite_tables(data: dict[str, dict[str, Result]]) -> str:
    """One ``#### suite`` subsection per suite, in SUITES' order, each with its table."""
    by_suite: dict[str, list[str]] = {}
    for name in sorted({n for d in data.values() for n in d}):
        by_suite.setdefault(suite_of(data, name), []).append(name)
    parts = []
    for suite in sorted(by_suite, key=suite_sort_key):
        parts += [f"#### {suite}", "", suite_table(data, by_suite[suite]), ""]
    return "\n".join(parts).rstrip("\n")


def baseline_ratios(data: dict[str, dict[str, Result]]) -> str:
    """gort / baseline on the same build: below 1.0× means gort is faster."""
    builds = sorted(data, key=build_sort_key)
    rows = []
    pairs: set[tuple[str, str]] = set()
    for d in data.values():
        for name in d:
            what, impl, param = split_name(name)
            # Times only: a ratio of requests/s (unit integer) reads the other way.
            if d[name].bench.get_unit() != "second":
                continue
            if impl and not impl.startswith("gort") and not param:
                for mine in ("gort", "gort-async"):
                    g = f"{what}[{mine}]"
                    if g in d:
                        pairs.add((g, name))
    for g, base in sorted(pairs):
        row = [f"{g} / {base}"]
        for b in builds:
            d = data[b]
            row.append(ratio_cell(d[g], d[base]) if g in d and base in d else "—")
        rows.append(row)
    return tabulate(rows, headers=["time ratio (lower is better for gort)", *builds],
                    tablefmt="github")


def build_ratios(data: dict[str, dict[str, Result]], base: str = "3.13") -> str:
    """Each build against ``base`` for gort's own benchmarks (time ratio)."""
    builds = [b for b in sorted(data, key=build_sort_key) if b != base]
    if base not in data or not builds:
        return "_(needs a 3.13 run and at least one other build)_"
    rows = []
    for name in sorted(data[base], key=split_name):
        if not split_name(name)[1].startswith("gort") \
                or data[base][name].bench.get_unit() != "second":
            continue
        row = [name]
        for b in builds:
            r = data[b].get(name)
            row.append(ratio_cell(r, data[base][name]) if r else "—")
        rows.append(row)
    return tabulate(rows, headers=[f"time vs {base}", *builds], tablefmt="github")


def scaling_rows(data: dict[str, dict[str, Result]]) -> list[tuple[str, str, int, float, float]]:
    """(build, implementation, procs, speedup, efficiency) for every scaling result."""
    out = []
    for b in sorted(data, key=build_sort_key):
        d = data[b]
        for name, r in d.items():
            what, impl, param = split_name(name)
            if what != "scaling" or not param.startswith("procs="):
                continue
            p = int(param.split("=")[1])
            one = d.get(f"scaling[{impl},procs=1]")
            if one is None:
                continue
            speedup = one.mean / r.mean
            out.append((b, impl, p, speedup, speedup / p))
    return sorted(out, key=lambda t: (build_sort_key(t[0]), t[1], t[2]))


def scaling_warnings(data: dict[str, dict[str, Result]], build: str, impl: str, procs: int,
                     speedup: float) -> list[str]:
    """Why a scaling point is not to be trusted: its measurements were disturbed,
    or it claims a speedup that a GIL build cannot have."""
    d = data[build]
    one, p = d.get(f"scaling[{impl},procs=1]"), d.get(f"scaling[{impl},procs={procs}]")
    rs = [r for r in (one, p) if r is not None]
    out = warnings_of(*rs)
    if procs > 1 and speedup > GIL_SPEEDUP_LIMIT and any(r.gil_enabled for r in rs):
        out.append(f"{speedup:.2f}× speedup with the GIL enabled is impossible "
                   f"(> {GIL_SPEEDUP_LIMIT}×): noise")
    return out


def scaling_table(data: dict[str, dict[str, Result]]) -> str:
    """Speedup and efficiency of every scaling point, ⚠ with the reason where it
    is not to be trusted."""
    rows = []
    for b, impl, p, s, e in scaling_rows(data):
        warn = scaling_warnings(data, b, impl, p, s)
        rows.append((b, impl, p, f"{WARN + ' ' if warn else ''}{s:.2f}×", f"{e:.0%}",
                     "; ".join(warn)))
    return tabulate(rows, headers=["build", "implementation", "procs", "speedup t1/tP",
                                   "efficiency", "warning"], tablefmt="github")


def target_table(data: dict[str, dict[str, Result]]) -> str:
    builds = sorted(data, key=build_sort_key)
    rows = []
    for t in TARGETS:
        row = [t.text]
        for b in builds:
            d = data[b]
            if t.gort not in d or t.baseline not in d:
                row.append("—")
                continue
            a, base = d[t.gort], d[t.baseline]
            iv = ratio_interval(a.bench, base.bench)
            if not t.lower_is_better:
                iv = iv.inverted()
            r = iv.ratio
            warn = target_warnings(data, b, t, r)
            if warn:  # no verdict on a value that is not to be trusted
                row.append(f"{WARN} {r:.2f}×{fmt_interval(iv)} (no verdict: {'; '.join(warn)})")
                continue
            row.append(f"{r:.2f}×{fmt_interval(iv)} {target_verdict(t, iv)}")
        rows.append(row)
    return tabulate(rows, headers=["target", *builds], tablefmt="github")


def target_warnings(data: dict[str, dict[str, Result]], build: str, t: Target,
                    ratio: float) -> list[str]:
    """Why a target's value on ``build`` gets no ✅/❌."""
    d = data[build]
    m, o = NAME_RE.match(t.gort), NAME_RE.match(t.baseline)
    if m and o and m["what"] == o["what"] == "scaling" and not t.lower_is_better:
        procs = int(m["param"].split("=")[1])
        return scaling_warnings(data, build, m["impl"], procs, ratio)
    return warnings_of(d[t.gort], d[t.baseline])


def disturbed_list(data: dict[str, dict[str, Result]]) -> str:
    """Every value marked ⚠ for contention or throttling, grouped by build and reason."""
    groups: dict[tuple[str, str], list[str]] = {}
    for b in sorted(data, key=build_sort_key):
        for name in sorted(data[b], key=split_name):
            for w in data[b][name].warnings:
                groups.setdefault((b, w), []).append(name)
    if not groups:
        return ""
    lines = [f"- {WARN} `{b}`: {w}: {', '.join(names)}" for (b, w), names in groups.items()]
    return "\n".join(lines)


def memory_table(data: dict[str, dict[str, Result]]) -> str:
    """RSS growth per parked task: the scale suite's byte-unit benchmarks, each next
    to the time of the benchmark it was measured in."""
    rows = []
    values: dict[tuple[str, str], float] = {}
    for b in sorted(data, key=build_sort_key):
        for name in sorted(data[b], key=split_name):
            r = data[b][name]
            md = r.bench.get_metadata()
            of = md.get("gort_memory_of")
            if md.get("gort_extra_key", "rss_per_task") != "rss_per_task" or not of:
                continue
            t = data[b].get(str(of))
            values[(b, name)] = r.mean
            rows.append([b, str(of), fmt_value(r.mean, "byte"),
                         fmt_value(t.mean) if t else "—"])
    if not rows:
        return "_(no scale results)_"
    table = tabulate(rows, headers=["build", "benchmark", "RSS per task", "time per task"],
                     tablefmt="github")
    checks = [f"- {text}: {b}: {fmt_value(v, 'byte')} {'✅' if v <= limit else '❌'}"
              for text, name, limit in MEMORY_TARGETS
              for (b, n), v in values.items() if n == name]
    return table + ("\n\n" + "\n".join(checks) if checks else "")


def io_table(data: dict[str, dict[str, Result]]) -> str:
    """The io suite's request benchmarks (those with latency records: echo, HTTP):
    requests/s (1 / the mean time per request) with the median and 99th percentile
    latency of the sibling benchmarks ``<what>_latency_p50[...]`` (the mean of the
    per-value percentiles), one row per benchmark and build."""
    rows = []
    for b in sorted(data, key=build_sort_key):
        d = data[b]
        for name in sorted(d, key=split_name):
            r = d[name]
            md = r.bench.get_metadata()
            if md.get("gort_suite") != "io" or md.get("gort_memory_of") \
                    or r.bench.get_unit() != "second":
                continue
            p50, p99 = (d.get(memory_name(name, k)) for k in ("latency_p50", "latency_p99"))
            if p50 is None and p99 is None:  # a wall time (the fan-outs), not per request
                continue
            parts = [x for x in (r, p50, p99) if x is not None]
            warn = f" {WARN}" if warnings_of(*parts) else ""
            # The context of a record (connections) is in its benchmarks' metadata.
            conns = parts[1].bench.get_metadata().get("gort_connections", "—")
            rows.append([name, b, f"{1.0 / r.mean:,.0f}{warn}",
                         fmt_value(p50.mean) if p50 else "—", fmt_value(p99.mean) if p99 else "—",
                         str(conns)])
    if not rows:
        return "_(no io results)_"
    return tabulate(rows, headers=["benchmark", "build", "requests/s", "p50 latency",
                                   "p99 latency", "connections"],
                    tablefmt="github", disable_numparse=True)


def memory_name(name: str, key: str) -> str:
    """The benchmark name of a ``record_extra`` measurement ``key`` of benchmark
    ``name``: ``parked[gort-async,n=100]`` -> ``parked_rss_per_task[gort-async,n=100]``,
    ``echo_c100[gort]`` -> ``echo_c100_latency_p50[gort]``."""
    what, bracket, rest = name.partition("[")
    return f"{what}_{key}{bracket}{rest}"


# No "Software" version stamp in the PNGs: the same data gives the same file.
PNG_METADATA = {"Software": None}


def bar_rows(data: dict[str, dict[str, Result]], whats: tuple[str, ...] = ("pingpong", "spawn"),
             ) -> dict[str, dict[str, dict[str, float]]]:
    """{what: {benchmark name: {build: mean µs per op}}} for the unparameterised
    ``what[impl]`` benchmarks measured in seconds (``pingpong[gort]``, ``spawn[asyncio]``)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for b in sorted(data, key=build_sort_key):
        for name, r in sorted(data[b].items()):
            what, impl, param = split_name(name)
            if what in whats and impl and not param and r.bench.get_unit() == "second":
                out.setdefault(what, {}).setdefault(name, {})[b] = r.mean * 1e6
    return {w: out[w] for w in whats if w in out}


def _plot_scaling(plt: Any, data: dict[str, dict[str, Result]], path: Path) -> bool:
    rows = scaling_rows(data)
    if not rows:
        return False
    # One colour per implementation, one line style and marker per build: with
    # several builds there are more lines than the default colour cycle has colours.
    impls = sorted({i for _, i, *_ in rows})
    builds = sorted({b for b, *_ in rows}, key=build_sort_key)
    styles = ("-", "--", ":", "-.")
    markers = ("o", "s", "^", "D", "v", "P")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    procs = sorted({p for _, _, p, *_ in rows})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(procs, procs, color="grey", linewidth=0.8, label="ideal (speedup = procs)")
    for bi, b in enumerate(builds):
        for ii, impl in enumerate(impls):
            pts = sorted((p, s) for bb, i, p, s, _ in rows if (bb, i) == (b, impl))
            if not pts:
                continue
            ax.plot([p for p, _ in pts], [s for _, s in pts], label=f"{impl} {b}",
                    color=colors[ii % len(colors)], linestyle=styles[bi % len(styles)],
                    marker=markers[bi % len(markers)])
    ax.set_xticks(procs)
    ax.set_xlabel("procs")
    ax.set_ylabel("speedup t1/tP")
    ax.set_title("CPU-bound scaling")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
    return True


def _plot_bars(plt: Any, data: dict[str, dict[str, Result]], path: Path) -> bool:
    groups = bar_rows(data)
    if not groups:
        return False
    builds = sorted({b for g in groups.values() for v in g.values() for b in v},
                    key=build_sort_key)
    values = [v for g in groups.values() for by in g.values() for v in by.values() if v > 0]
    log = bool(values) and max(values) / min(values) > 20
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4), squeeze=False)
    width = 0.8 / len(builds)
    for ax, (what, by_name) in zip(axes[0], groups.items(), strict=True):
        names = sorted(by_name, key=split_name)
        for j, b in enumerate(builds):
            xs = [i + (j - (len(builds) - 1) / 2) * width
                  for i, n in enumerate(names) if b in by_name[n]]
            ys = [by_name[n][b] for n in names if b in by_name[n]]
            ax.bar(xs, ys, width, label=b)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([split_name(n)[1] for n in names], rotation=30, ha="right",
                           fontsize=8)
        ax.set_title(f"{what} (time per op)")
        ax.set_ylabel("µs per op" + (" (log scale)" if log else ""))
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
    return True


def plot(data: dict[str, dict[str, Result]], out: Path) -> list[str]:
    """Draw the plots into ``out`` and return their file names; none (tables only)
    when matplotlib (the optional ``plot`` extra) is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    for name, draw in (("scaling.png", _plot_scaling), ("pingpong_spawn.png", _plot_bars)):
        if draw(plt, data, out / name):
            made.append(name)
    return made


def build_flags(md: dict[str, Any]) -> str:
    """How a build was compiled, from the ``python_pgo``/``python_lto`` metadata
    (``common.build_info``); "" for results from before it was recorded."""
    if "python_pgo" not in md:
        return ""
    pgo, lto = md["python_pgo"] == "True", md["python_lto"] == "True"
    if pgo and lto:
        return "; built with PGO + LTO"
    missing = " or ".join(x for x, on in (("PGO (--enable-optimizations)", pgo),
                                          ("LTO (--with-lto)", lto)) if not on)
    return (f"; built **without** {missing}: slower than a distribution's build "
            f"(configure: `{md.get('python_config_args', '?')}`)")


def write_report(results_dir: Path) -> Path:
    sections = ["# gort benchmark results", "",
                "Generated by `python -m bench report results` from the pyperf JSON files "
                "below; do not edit by hand. Times are per operation (mean ± standard "
                "deviation over all values of all worker processes); “unstable”: it fails "
                "`pyperf check` (a standard deviation of 10% of the mean or more, a value "
                "50% or more from the mean, a raw value under 1 ms, or fewer worker "
                "processes than the spread of their means needs for 95% certainty of a "
                "mean within 1%), with the first reason; "
                "⚠: measured while the machine was busy or throttled.", ""]
    for machine_dir in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        data = load(machine_dir)
        counts = load_instructions(machine_dir)
        if not data and not counts:
            continue
        if not data:
            sections += [f"## Machine `{machine_dir.name}`", "",
                         "### Instruction counts (callgrind)", "", INSTRUCTIONS_TEXT, "",
                         instruction_table(counts), ""]
            continue
        meta_path = machine_dir / "run.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        sections += [f"## Machine `{machine_dir.name}`", ""]
        if meta:
            cmds = meta.get("commands") or [meta.get("command", "?")]
            sections += [f"- produced by: {', then '.join(f'`{c}`' for c in cmds)} "
                         f"(profile {meta.get('profile')}; a later command replaces only "
                         "the benchmarks it ran)",
                         f"- CPU: {meta.get('cpu')} ({meta.get('cpus')} logical CPUs)",
                         f"- OS: {meta.get('os')}", f"- date: {meta.get('date')}"]
        for b in sorted(data, key=build_sort_key):
            any_r = next(iter(data[b].values()))
            md = any_r.bench.get_metadata()
            sections.append(
                f"- build `{b}`: Python {md.get('python_implementation_version', '?')}, "
                f"free-threaded build: {md.get('free_threaded_build', '?')}, GIL enabled "
                f"(observed in the worker): {md.get('gil_enabled', '?')}, gort max_procs "
                f"{md.get('gort_max_procs', '?')}, gort {md.get('gort_version', '?')}"
                f"{build_flags(md)}; {stability_text(data[b])}")
        for m in meta.get("missing", []):
            sections.append(f"- **missing** (crashed or timed out): {m}")
        for m in meta.get("disturbed", []):
            sections.append(f"- {WARN} **the machine was busy or throttled** during {m}: "
                            "its values are marked ⚠ and get no ✅/❌")
        marked = disturbed_list(data)
        if marked:
            sections += ["", "### ⚠ Values measured while the machine was disturbed", "",
                         "Measured while other processes used the CPUs, the hypervisor "
                         "stole time or the CPU ran slower (`bench/noise.py`); not to be "
                         "trusted, and never given a ✅/❌.", "", marked]
        sections += ["", "### Performance targets of the issues", "",
                     "Each ratio with its 95% bootstrap interval: ✅ only when the whole "
                     "interval meets the target, ❌ when the whole interval misses it, "
                     "❔ when it straddles the target (more values needed).", "",
                     target_table(data), "",
                     "### gort against the baselines, same build", "",
                     "A time ratio per operation; below 1.0× gort is faster. In brackets "
                     "its 95% bootstrap interval over worker processes (“paired”: the "
                     "two sides ran interleaved, round by round); “not significant”: "
                     "the interval includes 1.0×.", "",
                     baseline_ratios(data), "", "### Scaling", "", scaling_table(data), "",
                     "### Memory: many parked goroutines", "",
                     "RSS growth per parked task (psutil); Go's minimum stack is 2 KB.", "",
                     memory_table(data), "",
                     "### I/O", "",
                     "The io suite's servers under load: requests/s is 1 / the mean time "
                     "per request; p50 and p99 are request latencies seen by the load "
                     "generator (wrk for HTTP), the mean over values.", "",
                     io_table(data), "",
                     "### Builds compared (gort benchmarks)", "", build_ratios(data), "",
                     *(["### Instruction counts (callgrind)", "", INSTRUCTIONS_TEXT, "",
                        instruction_table(counts), ""] if counts else []),
                     "### All benchmarks", "", suite_tables(data), ""]
        images = plot(data, machine_dir)
        if images:
            # Saved next to the JSON files; links are relative to results/README.md.
            sections += ["### Plots", ""]
        for img in images:
            sections += [f"![{img}]({machine_dir.name}/{img})", ""]
    path = results_dir / "README.md"
    path.write_text("\n".join(sections))
    return path
