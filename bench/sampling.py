"""Adaptive sampling: how many worker processes each benchmark gets, within a budget.

The aim is a result that passes ``pyperf check`` (``check`` below repeats its
rules, from pyperf's ``format_checks``): the standard deviation of the values
under 10% of the mean, no value 50% or more away from the mean, the shortest
raw value (one timed run of ``loops`` loops) at least 1 ms, and enough worker
processes for 95% certainty of a mean within 1%: ``required_processes`` =
ceil(4 · 1.96² · cv² / 0.01²), cv being the coefficient of variation of the
per-process means (pyperf's ``Benchmark.required_nprocesses``).  A cv of 0.36%
needs 2 processes, 1% needs 16, 2% needs 62.

Every benchmark first gets the processes of its suite's run (2 by default).
``allocate`` then stops a benchmark as soon as its check passes, stops it as
*unstable* when the check fails for a reason more processes cannot fix (a
spread or an outlier is a property of what is measured, and the raw-value
length is fixed by its loops), as *hopeless* when it needs more than
``max_processes``, and spends the rest of the budget on the others, **cheapest
first**: the one whose missing processes (required − done) cost the fewest
seconds at its own cost per process.  Every benchmark that passes counts the
same, so buying the cheapest passes first buys the most of them.  A batch is
at most ``max_batch`` processes, after which the estimate is taken again (the
cv of two or three means is a rough guess).  One whose missing processes cost
more than the budget left ends as *over budget*.  Nothing here measures: the
caller's ``measure(name, k)`` runs ``k`` more processes and says how long they
took, so the rule is tested on synthetic values.

Deliberately not done: stopping as soon as a check passes is optional
stopping, and a benchmark whose first means happen to agree passes on two
processes; the check is pyperf's, applied as pyperf applies it to any result.
With one process pyperf's sample rule does not apply at all (there is no
between-process variation to estimate): a suite run with one process per
benchmark (io) can only fail on spread, outliers or short raw values.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

Z = 1.96  # 95% certainty ...
W = 0.01  # ... of a mean within 1% (pyperf's required_nprocesses)
SPREAD_LIMIT = 0.10  # the standard deviation of the values, over the mean
OUTLIER_LIMIT = 0.50  # a minimum or maximum this far from the mean
SHORTEST_RAW = 1e-3  # seconds: the shortest raw value pyperf accepts

# How sampling of a benchmark ended (the ``gort_sampling`` metadata).
PASSED = "passed"  # pyperf check passes
UNSTABLE = "unstable"  # spread, outlier or short raw value: more processes would not help
HOPELESS = "hopeless"  # needs more than max_processes
OVER_BUDGET = "over budget"  # its missing processes cost more than the budget left
FIXED = "fixed"  # not sampled adaptively (smoke, single-shot, interleaved, a failed top-up)


def required_processes(means: Sequence[float]) -> int | None:
    """pyperf's ``required_nprocesses`` of per-process means: None with fewer than two."""
    if len(means) < 2:
        return None
    mean = math.fsum(means) / len(means)
    cv = statistics.stdev(means) / mean
    return math.ceil(4 * Z ** 2 * cv ** 2 / W ** 2)


@dataclasses.dataclass(frozen=True)
class Check:
    """What ``pyperf check`` says of a set of values."""

    processes: int  # worker processes with values
    required: int | None  # required_processes of their means (None: fewer than two)
    problems: tuple[str, ...]  # spread, outliers, short raw values: more processes won't help
    spread: float  # standard deviation / mean of all values (0 with one value)

    @property
    def enough(self) -> bool:
        """Whether pyperf's sample rule is met (or cannot be applied)."""
        return self.required is None or self.required <= self.processes

    @property
    def passed(self) -> bool:
        return not self.problems and self.enough

    def brief(self) -> str:
        """Why it fails, in a few words for a table cell ("" when it passes)."""
        if self.problems:
            return self.problems[0]
        if not self.enough:
            return f"needs {self.required} processes, has {self.processes}"
        return ""


def check(runs: Sequence[Sequence[float]], shortest_raw: float | None = None,
          fmt: Callable[[float], str] = lambda v: f"{v:.3g}") -> Check:
    """pyperf check's rules on the values of each process (``runs``; processes
    without values are ignored) and the shortest raw value (None: not a time, or
    not known).  ``fmt`` formats a value in its unit for the problem texts."""
    runs = [list(r) for r in runs if r]
    values = [v for r in runs for v in r]
    problems = []
    mean = statistics.fmean(values) if values else 0.0
    spread = statistics.stdev(values) / mean if len(values) >= 2 and mean else 0.0
    required = None
    if spread >= SPREAD_LIMIT:
        problems.append(f"±{spread:.0%}")
    else:
        required = required_processes([statistics.fmean(r) for r in runs])
    for v in (min(values), max(values)) if values and mean else ():
        if abs(v - mean) / mean >= OUTLIER_LIMIT:
            problems.append(f"{'max' if v > mean else 'min'} {v / mean - 1:+.0%} from the mean")
    if shortest_raw is not None and shortest_raw < SHORTEST_RAW:
        problems.append(f"a raw value of {fmt(shortest_raw)} (< 1 ms)")
    return Check(len(runs), required, tuple(problems), spread)


def check_benchmark(bench: Any) -> Check:
    """``check`` of a pyperf benchmark (its raw values only when it is a time)."""
    return check([r.values for r in bench.get_runs()], shortest_raw(bench),
                 bench.format_value)


def shortest_raw(bench: Any) -> float | None:
    """The shortest raw value of a pyperf benchmark measured in seconds (a value
    times its run's loops and inner loops, as pyperf check takes it), else None."""
    if bench.get_unit() != "second":
        return None
    raws = [v * int(md.get("loops", 1)) * int(md.get("inner_loops", 1))
            for r in bench.get_runs() for md in (r.get_metadata(),) for v in r.values]
    return min(raws) if raws else None


@dataclasses.dataclass
class Progress:
    """One benchmark while it is sampled: its values so far and what they cost."""

    runs: list[list[float]]  # the values of each worker process
    seconds: float  # time spent measuring it so far (start-up included)
    shortest_raw: float | None = None
    ended: str | None = None  # PASSED, UNSTABLE, HOPELESS, OVER_BUDGET, FIXED
    why: str = ""  # the reason of FIXED after an error, or of UNSTABLE

    @property
    def processes(self) -> int:
        return sum(1 for r in self.runs if r)

    @property
    def cost(self) -> float:
        """Seconds per process so far."""
        return self.seconds / max(1, self.processes)

    def check(self) -> Check:
        return check(self.runs, self.shortest_raw)

    def missing(self, minimum: int) -> int:
        """Processes it still needs, by the estimate of the values so far."""
        c = self.check()
        return max(minimum, c.required or 0) - c.processes


def stop(p: Progress, minimum: int, max_processes: int) -> str | None:
    """How sampling of ``p`` ends now, or None to go on (budget aside)."""
    c = p.check()
    if c.processes < minimum:
        return None
    if c.passed:
        return PASSED
    if c.problems:
        return UNSTABLE
    assert c.required is not None  # (not enough: so there are two or more means)
    if c.required > max_processes:
        return HOPELESS
    return None


Measure = Callable[[str, int], "tuple[list[list[float]], float, float | None] | str"]


def allocate(progress: dict[str, Progress], budget: float, measure: Measure,
             minimum: int = 2, max_processes: int = 40, max_batch: int = 8) -> float:
    """Sample the benchmarks of ``progress`` (updated in place) until each has
    ended, spending at most about ``budget`` seconds, as the module docstring
    says.  ``measure(name, k)`` runs ``k`` more processes of ``name``: it
    returns (their values, the seconds they took, their shortest raw value), or
    why it failed (the benchmark then ends FIXED, its values so far kept).
    Returns the seconds spent."""
    spent = 0.0
    while True:
        for p in progress.values():
            if p.ended is None:
                p.ended = stop(p, minimum, max_processes)
                if p.ended == UNSTABLE:
                    p.why = p.check().brief()
        left = budget - spent
        open_ = {n: p for n, p in progress.items() if p.ended is None}
        cost = {n: p.missing(minimum) * p.cost for n, p in open_.items()}
        for n, p in open_.items():
            if cost[n] > left:
                p.ended = OVER_BUDGET
        open_ = {n: p for n, p in open_.items() if p.ended is None}
        if not open_:
            return spent
        name = min(open_, key=lambda n: (cost[n], n))
        p = open_[name]
        k = max(1, min(p.missing(minimum), max_batch, int(left / p.cost) if p.cost else max_batch))
        got = measure(name, k)
        if isinstance(got, str):
            p.ended, p.why = FIXED, got
            continue
        runs, seconds, raw = got
        if not any(runs):
            p.ended, p.why = FIXED, "a batch gave no values"
            continue
        p.runs.extend(runs)
        p.seconds += seconds
        spent += seconds
        if raw is not None:
            p.shortest_raw = raw if p.shortest_raw is None else min(p.shortest_raw, raw)


def metadata(p: Progress) -> dict[str, str | int]:
    """The ``gort_sampling*`` metadata of how sampling of ``p`` ended."""
    c = p.check()
    md: dict[str, str | int] = {"gort_sampling": p.ended or FIXED,
                                "gort_sampling_processes": c.processes}
    if c.required is not None:
        md["gort_sampling_required"] = c.required
    if p.why:
        md["gort_sampling_why"] = p.why
    return md
