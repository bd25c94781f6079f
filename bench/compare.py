"""Compare result files and gate on regressions: ``python -m bench compare``.

Two modes:

* ``absolute`` (default): each benchmark's mean time in HEAD against BASE, the
  change in percent and pyperf's significance verdict (a t-test on the values).
  Right for one quiet machine; on shared CI runners two runs at different times
  differ by more than most regressions.
* ``ratio`` (recommended on shared runners): gort's time divided by its own
  baseline measured in the same run on the same interpreter
  (``pingpong[gort] / pingpong[threading]``, ``spawn[gort-async] / spawn[asyncio]``,
  ...).  Noise that slows the whole machine slows both sides and cancels out;
  a regression in gort does not.  A ratio change counts as significant when its
  95% bootstrap interval (``bench/stats.py``: worker processes of both files
  resampled, paired by round where the driver interleaved the two sides)
  excludes zero; the interval is printed next to the change.  A side measured
  while the machine was disturbed is flagged ⚠.

Instruction counts (``--mode instructions`` result files) compare in absolute
mode; they are deterministic, so a change counts as significant when it exceeds
the counter's run-to-run noise (``gort_noise``: 0.5% for a single-threaded
operation, more for the two that hand over between threads).

``--fail-on-regression 10%`` exits 1 only for a change that is both significant
and larger than the threshold, in the direction that is worse: more time, more
bytes, fewer requests per second (the io suite's ``*_requests_per_s`` records).
Ratio mode pairs times only.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pyperf
from tabulate import tabulate

from .instructions import NOISE as INSTRUCTION_NOISE
from .instructions import is_instruction_count
from .report import NAME_RE, fmt_value, significant
from .stats import change_interval, ratio_interval

Row = dict[str, object]


@dataclass
class Change:
    name: str
    base: float  # seconds per op (or the unit's value), a ratio in ratio mode
    head: float
    significant: bool | None
    unit: str = "second"  # pyperf's unit; "ratio" in ratio mode
    lo: float | None = None  # 95% interval of the change (ratio mode)
    hi: float | None = None
    disturbed: bool = False  # a side carries gort_disturbed (contention, throttling)
    higher_is_better: bool = False  # a throughput (requests/s), not a cost

    @property
    def change(self) -> float:
        return self.head / self.base - 1.0

    @property
    def loss(self) -> float:
        """How much worse HEAD is than BASE (negative: better)."""
        return self.base / self.head - 1.0 if self.higher_is_better else self.change


# The record_extra measurements where more is better (runner.EXTRA_KEYS).
HIGHER_IS_BETTER = frozenset({"requests_per_s"})


class NotAResultFile(ValueError):
    """A file given to compare is not a pyperf result file (run.json, a sidecar...)."""


def _load(path: Path) -> dict[str, pyperf.Benchmark]:
    """{name: benchmark} of a pyperf result file; raises ``NotAResultFile``."""
    try:
        suite = pyperf.BenchmarkSuite.load(str(path))
    except OSError as e:
        raise NotAResultFile(f"{path}: cannot read it: {e.strerror or e}") from None
    except Exception as e:  # pyperf raises whatever its parser meets
        raise NotAResultFile(f"{path}: not a pyperf result file "
                             f"({type(e).__name__}: {e})") from None
    return {b.get_name(): b for b in suite.get_benchmarks()}


def absolute_changes(base: dict[str, pyperf.Benchmark],
                     head: dict[str, pyperf.Benchmark]) -> list[Change]:
    from .report import Result
    out = []
    for name in sorted(set(base) & set(head)):
        b, h = base[name], head[name]
        if is_instruction_count(b) and is_instruction_count(h):
            # Deterministic up to the operation's stated run-to-run noise.
            noise = float(h.get_metadata().get("gort_noise", INSTRUCTION_NOISE))
            sig: bool | None = abs(h.mean() / b.mean() - 1.0) > noise
        else:
            sig = significant(Result("base", name, b), Result("head", name, h))
        more = b.get_metadata().get("gort_extra_key") in HIGHER_IS_BETTER
        out.append(Change(name, b.mean(), h.mean(), sig, b.get_unit(), higher_is_better=more))
    return out


def ratio_pairs(bench: dict[str, pyperf.Benchmark]) -> list[tuple[str, str]]:
    """(gort benchmark, baseline benchmark) pairs present in one result file."""
    pairs = []
    for name in bench:
        if bench[name].get_unit() != "second":  # a ratio of throughputs reads the other way
            continue
        m = NAME_RE.match(name)
        if not m or not m["impl"].startswith("gort") or m["param"]:
            continue
        for other in sorted(bench):
            o = NAME_RE.match(other)
            if o and o["what"] == m["what"] and not o["param"] \
                    and not o["impl"].startswith("gort"):
                pairs.append((name, other))
    return sorted(pairs)


def ratio_changes(base: dict[str, pyperf.Benchmark],
                  head: dict[str, pyperf.Benchmark]) -> list[Change]:
    out = []
    for g, ref in ratio_pairs(head):
        if g not in base or ref not in base:
            continue
        rb = ratio_interval(base[g], base[ref]).ratio
        rh = ratio_interval(head[g], head[ref]).ratio
        iv = change_interval((base[g], base[ref]), (head[g], head[ref]))
        sig = None if iv is None else not (iv[0] <= 0.0 <= iv[1])
        disturbed = any(x.get_metadata().get("gort_disturbed")
                        for x in (base[g], base[ref], head[g], head[ref]))
        lo, hi = iv if iv is not None else (None, None)
        out.append(Change(f"{g} / {ref}", rb, rh, sig, "ratio", lo, hi, disturbed))
    return out


def geomean(changes: list[Change]) -> float | None:
    if not changes:
        return None
    return math.exp(sum(math.log(c.head / c.base) for c in changes) / len(changes))


def regressions(changes: list[Change], threshold: float) -> list[Change]:
    return [c for c in changes if c.significant and c.loss > threshold]


def _fmt_value(v: float, unit: str) -> str:
    """A ratio as ``1.234×``, any other value in its pyperf unit, as pyperf prints it."""
    return f"{v:.3f}×" if unit == "ratio" else fmt_value(v, unit)


def render(changes: list[Change], mode: str, fmt: str, base_name: str, head_name: str) -> str:
    gm = geomean(changes)
    if fmt == "json":
        return json.dumps({"mode": mode, "base": base_name, "head": head_name,
                           "changes": [{**asdict(c), "change": c.change} for c in changes],
                           "geomean": gm}, indent=2)
    rows = []
    for c in changes:
        verdict = {True: "significant", False: "not significant", None: "too few values"}
        change = f"{c.change:+.1%}"
        if c.lo is not None and c.hi is not None:
            change += f" [{c.lo:+.1%}, {c.hi:+.1%}]"
        rows.append([c.name, _fmt_value(c.base, c.unit), _fmt_value(c.head, c.unit),
                     change, verdict[c.significant] + (" ⚠ disturbed" if c.disturbed else "")])
    if gm is not None:
        rows.append(["geometric mean", "", "", f"{gm - 1:+.1%}", ""])
    what = "gort / baseline (same run)" if mode == "ratio" else "benchmark"
    headers = [what, base_name, head_name,
               "change [95% interval]" if mode == "ratio" else "change", "verdict"]
    return tabulate(rows, headers=headers, tablefmt="github" if fmt == "md" else "simple")


def parse_threshold(text: str) -> float:
    t = text.strip()
    value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    if value < 0:
        raise ValueError(f"threshold must be >= 0, got {text!r}")
    return value


def main(base: Path, heads: list[Path], mode: str, fmt: str, fail_on: str | None) -> int:
    threshold = parse_threshold(fail_on) if fail_on else None
    try:
        b = _load(base)
        loaded = [(head, _load(head)) for head in heads]
    except NotAResultFile as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed: list[str] = []
    for head, h in loaded:
        changes = ratio_changes(b, h) if mode == "ratio" else absolute_changes(b, h)
        print(render(changes, mode, fmt, base.name, head.name))
        if fmt != "json":
            print()
        if threshold is not None:
            for c in regressions(changes, threshold):
                failed.append(f"{head.name}: {c.name} {c.change:+.1%} "
                              f"(threshold {threshold:.0%})")
    if failed:
        print("REGRESSION:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0
