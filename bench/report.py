"""results/README.md from the pyperf JSON files of a run (tables, ratios, plots).

Benchmarks are named ``what[implementation]`` (``pingpong[gort]``,
``pingpong[asyncio]``, ``scaling[gort,procs=2]``); the tables group by ``what``.
Every number comes from the JSON files; nothing is typed in by hand.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

import pyperf
from tabulate import tabulate

try:  # pyperf's own significance test (Student's two-sample t-test)
    from pyperf._utils import is_significant as _pyperf_significant
except ImportError:  # pragma: no cover - older or newer pyperf
    _pyperf_significant = None

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
)
# Memory targets: RSS growth per parked task, from the scale suite.
MEMORY_TARGETS = (("1,000,000 parked coroutine goroutines <= 2 KB each",
                   "parked[gort-async,n=1000000]", 2048),)


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


def load(machine_dir: Path) -> dict[str, dict[str, Result]]:
    """{build: {benchmark name: Result}} for one machine's folder."""
    out: dict[str, dict[str, Result]] = {}
    for path in sorted(machine_dir.glob("*.json")):
        if path.name == "run.json" or path.name.endswith(".extra.json"):
            continue
        build = path.stem
        suite = pyperf.BenchmarkSuite.load(str(path))
        out[build] = {b.get_name(): Result(build, b.get_name(), b) for b in suite.get_benchmarks()}
    return out


def build_sort_key(label: str) -> tuple[int, str]:
    return (BUILD_ORDER.index(label) if label in BUILD_ORDER else len(BUILD_ORDER), label)


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def fmt_result(r: Result) -> str:
    vals = r.values
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{fmt_time(r.mean)} ± {fmt_time(std)}"


def significant(a: Result, b: Result) -> bool | None:
    va, vb = a.values, b.values
    if len(va) < 2 or len(vb) < 2:
        return None
    if _pyperf_significant is not None:
        return bool(_pyperf_significant(va, vb)[0])
    ma, mb = statistics.mean(va), statistics.mean(vb)
    se = math.sqrt(statistics.variance(va) / len(va) + statistics.variance(vb) / len(vb))
    return se > 0 and abs(ma - mb) / se > 2.0


def ratio_cell(a: Result, b: Result, invert: bool = False) -> str:
    r = (b.mean / a.mean) if invert else (a.mean / b.mean)
    sig = significant(a, b)
    tag = "" if sig else (" (not significant)" if sig is False else " (too few values)")
    return f"{r:.2f}×{tag}"


def split_name(name: str) -> tuple[str, str, str]:
    m = NAME_RE.match(name)
    if not m:
        return name, "", ""
    return m["what"], m["impl"], m["param"] or ""


def suite_tables(data: dict[str, dict[str, Result]]) -> str:
    builds = sorted(data, key=build_sort_key)
    names = sorted({n for d in data.values() for n in d}, key=lambda n: split_name(n))
    rows = []
    for name in names:
        row = [name]
        for b in builds:
            r = data[b].get(name)
            row.append(fmt_result(r) if r else "—")
        desc = next((data[b][name].bench.get_metadata().get("description", "")
                     for b in builds if name in data[b]), "")
        row.append(desc)
        rows.append(row)
    return tabulate(rows, headers=["benchmark (time per op)", *builds, "what"],
                    tablefmt="github")


def baseline_ratios(data: dict[str, dict[str, Result]]) -> str:
    """gort / baseline on the same build: below 1.0× means gort is faster."""
    builds = sorted(data, key=build_sort_key)
    rows = []
    pairs: set[tuple[str, str]] = set()
    for d in data.values():
        for name in d:
            what, impl, param = split_name(name)
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
        if not split_name(name)[1].startswith("gort"):
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


def scaling_table(data: dict[str, dict[str, Result]]) -> str:
    rows = [(b, impl, p, f"{s:.2f}×", f"{e:.0%}") for b, impl, p, s, e in scaling_rows(data)]
    return tabulate(rows, headers=["build", "implementation", "procs", "speedup t1/tP",
                                   "efficiency"], tablefmt="github")


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
            r = a.mean / base.mean if t.lower_is_better else base.mean / a.mean
            ok = r <= t.limit if t.lower_is_better else r >= t.limit
            row.append(f"{r:.2f}× {'✅' if ok else '❌'}")
        rows.append(row)
    return tabulate(rows, headers=["target", *builds], tablefmt="github")


def memory_table(data: dict[str, dict[str, Result]], machine_dir: Path) -> str:
    """RSS growth per parked task, from the scale suite's extra measurements."""
    rows = []
    for b in sorted(data, key=build_sort_key):
        path = machine_dir / f"{b}.extra.json"
        if not path.exists():
            continue
        for item in json.loads(path.read_text()):
            if "rss_per_task" not in item:
                continue
            r = data[b].get(str(item["name"]))
            rows.append([b, item["name"], f"{int(item['rss_per_task']):,} B",
                         fmt_time(r.mean) if r else "—"])
    if not rows:
        return "_(no scale results)_"
    table = tabulate(rows, headers=["build", "benchmark", "RSS per task", "time per task"],
                     tablefmt="github")
    checks = []
    for text, name, limit in MEMORY_TARGETS:
        for b, n, rss, _ in rows:
            if n == name:
                v = int(rss.split()[0].replace(",", ""))
                checks.append(f"- {text}: {b}: {v:,} B {'✅' if v <= limit else '❌'}")
    return table + ("\n\n" + "\n".join(checks) if checks else "")


def plot(data: dict[str, dict[str, Result]], out: Path) -> list[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    rows = scaling_rows(data)
    if rows:
        fig, ax = plt.subplots(figsize=(6, 4))
        for key in sorted({(b, i) for b, i, *_ in rows}):
            pts = sorted((p, s) for b, i, p, s, _ in rows if (b, i) == key)
            ax.plot([p for p, _ in pts], [s for _, s in pts], marker="o",
                    label=f"{key[1]} {key[0]}")
        ax.set_xlabel("procs")
        ax.set_ylabel("speedup t1/tP")
        ax.set_title("CPU-bound scaling")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "scaling.png", dpi=100)
        plt.close(fig)
        made.append("scaling.png")
    return made


def write_report(results_dir: Path) -> Path:
    sections = ["# gort benchmark results", "",
                "Generated by `python -m bench report results` from the pyperf JSON files "
                "below; do not edit by hand. Times are per operation (mean ± standard "
                "deviation over all values of all worker processes).", ""]
    for machine_dir in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        data = load(machine_dir)
        if not data:
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
                f"{md.get('gort_max_procs', '?')}, gort {md.get('gort_version', '?')}")
        for m in meta.get("missing", []):
            sections.append(f"- **missing** (crashed or timed out): {m}")
        sections += ["", "### Performance targets of the issues", "", target_table(data), "",
                     "### gort against the baselines, same build", "",
                     "A time ratio per operation; below 1.0× gort is faster. "
                     "“not significant” is pyperf's t-test verdict.", "",
                     baseline_ratios(data), "", "### Scaling", "", scaling_table(data), "",
                     "### Memory: many parked goroutines", "",
                     "RSS growth per parked task (psutil); Go's minimum stack is 2 KB.", "",
                     memory_table(data, machine_dir), "",
                     "### Builds compared (gort benchmarks)", "", build_ratios(data), "",
                     "### All benchmarks", "", suite_tables(data), ""]
        for img in plot(data, machine_dir):
            sections += [f"![{img}]({machine_dir.name}/{img})", ""]
    path = results_dir / "README.md"
    path.write_text("\n".join(sections))
    return path
