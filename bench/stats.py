"""Ratios with 95% bootstrap confidence intervals, paired where the data allow.

The unit of resampling is a worker process (a pyperf run): values within one
process share its warm-up, memory layout and whatever else the machine did at
that moment, so they are not independent; processes are.

* **Paired**: when both benchmarks' runs carry ``gort_round`` metadata (the
  driver's interleaved pass ran them A B, B A, ... in alternating processes, see
  ``runner.paired_pass``), round *i* of A is paired with round *i* of B, the
  per-round ratio is what is resampled, and machine drift, which moves both sides
  of a round alike, cancels.
* **Unpaired** otherwise: each side's process means are resampled independently.

Either way the interval is the 2.5th-97.5th percentile of the ratio of means
over ``RESAMPLES`` resamples with a fixed seed, so the same files always give the
same interval.  With fewer than two processes on a side there is no interval.
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
from typing import Any

RESAMPLES = 2000
SEED = 20240613  # fixed: the same data give the same interval, the report is stable
LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """A ratio, its 95% confidence interval, and how it was obtained."""

    ratio: float
    lo: float | None  # None: too few processes for an interval
    hi: float | None
    paired: bool
    pairs: int  # rounds (paired) or the smaller side's process count

    @property
    def known(self) -> bool:
        """Whether there is an interval at all."""
        return self.lo is not None and self.hi is not None

    def inverted(self) -> Interval:
        """The interval of 1 / ratio (a throughput ratio from a time ratio)."""
        return Interval(1.0 / self.ratio, None if self.hi is None else 1.0 / self.hi,
                        None if self.lo is None else 1.0 / self.lo, self.paired, self.pairs)

    def excludes(self, value: float) -> bool:
        """Whether ``value`` lies outside the whole interval."""
        return self.known and not (self.lo <= value <= self.hi)  # type: ignore[operator]


def run_means(bench: Any) -> list[tuple[int | None, float]]:
    """(round or None, mean of its values) for each run of a pyperf benchmark that
    has values (calibration runs have none)."""
    out = []
    for run in bench.get_runs():
        values = run.values
        if not values:
            continue
        rnd = run.get_metadata().get("gort_round")
        out.append((None if rnd is None else int(rnd), statistics.fmean(values)))
    return out


def _percentiles(samples: list[float]) -> tuple[float, float]:
    samples.sort()
    k = len(samples)
    lo = samples[max(0, math.floor((1 - LEVEL) / 2 * k))]
    hi = samples[min(k - 1, math.ceil((1 + LEVEL) / 2 * k) - 1)]
    return lo, hi


@dataclasses.dataclass(frozen=True)
class _Sides:
    """The process means of two benchmarks, paired by round when possible."""

    xa: list[float]
    xb: list[float]
    paired: bool

    @classmethod
    def of(cls, a: Any, b: Any) -> _Sides:
        ma, mb = run_means(a), run_means(b)
        ra = {r: m for r, m in ma if r is not None}
        rb = {r: m for r, m in mb if r is not None}
        common = sorted(set(ra) & set(rb))
        if len(common) >= 2:
            return cls([ra[r] for r in common], [rb[r] for r in common], True)
        return cls([m for _, m in ma], [m for _, m in mb], False)

    @property
    def enough(self) -> bool:
        return len(self.xa) >= 2 and len(self.xb) >= 2

    def draw(self, rng: random.Random) -> float:
        """One bootstrap replicate of mean(a) / mean(b)."""
        if self.paired:
            n = len(self.xa)
            idx = [rng.randrange(n) for _ in range(n)]
            return sum(self.xa[i] for i in idx) / sum(self.xb[i] for i in idx)
        na, nb = len(self.xa), len(self.xb)
        sa = sum(self.xa[rng.randrange(na)] for _ in range(na)) / na
        sb = sum(self.xb[rng.randrange(nb)] for _ in range(nb)) / nb
        return sa / sb


def ratio_interval(a: Any, b: Any) -> Interval:
    """mean(a) / mean(b) of two pyperf benchmarks, with its bootstrap interval."""
    sides = _Sides.of(a, b)
    if sides.paired:
        point = statistics.fmean(sides.xa) / statistics.fmean(sides.xb)
    else:
        point = a.mean() / b.mean()
    n = min(len(sides.xa), len(sides.xb))
    if not sides.enough:
        return Interval(point, None, None, sides.paired, n)
    rng = random.Random(SEED)
    lo, hi = _percentiles([sides.draw(rng) for _ in range(RESAMPLES)])
    return Interval(point, lo, hi, sides.paired, n)


def change_interval(base: tuple[Any, Any], head: tuple[Any, Any]
                    ) -> tuple[float, float] | None:
    """The 95% interval of the relative change of a ratio, ratio(head) / ratio(base)
    - 1, each ratio being mean(gort) / mean(baseline) of a (gort, baseline) pair of
    pyperf benchmarks; both files' processes are resampled (paired rounds where
    they exist).  None when either side has too few processes."""
    sb, sh = _Sides.of(*base), _Sides.of(*head)
    if not (sb.enough and sh.enough):
        return None
    rng = random.Random(SEED + 1)
    return _percentiles([sh.draw(rng) / sb.draw(rng) - 1.0 for _ in range(RESAMPLES)])


# Student's t distribution, two-tailed 95%: the critical value for 1-30 degrees
# of freedom (exact to three decimals; any t table).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_critical_95(df: int) -> float:
    """The two-tailed 95% critical value of Student's t with ``df`` degrees of
    freedom: the table up to 30, beyond it the Cornish-Fisher expansion around
    the normal quantile (within 0.001 of the exact value there, 1.960 at the limit)."""
    if df < 1:
        raise ValueError(f"{df} degrees of freedom")
    if df <= len(_T95):
        return _T95[df - 1]
    z = 1.959964
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def significant(a: list[float], b: list[float]) -> bool | None:
    """Whether the means of ``a`` and ``b`` differ at the 95% level: Student's
    two-sample, two-tailed t-test with pooled variance (the test ``pyperf
    compare_to`` uses; unlike pyperf's, the samples may differ in size).  None
    with fewer than two values on a side."""
    if len(a) < 2 or len(b) < 2:
        return None
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    df = len(a) + len(b) - 2
    pooled = (math.fsum((x - ma) ** 2 for x in a) + math.fsum((x - mb) ** 2 for x in b)) / df
    if pooled == 0.0:  # no spread on either side: any difference is real
        return ma != mb
    t = (ma - mb) / math.sqrt(pooled * (1 / len(a) + 1 / len(b)))
    return abs(t) >= t_critical_95(df)
