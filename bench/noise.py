"""What else the machine was doing while a benchmark ran: contention and throttling.

A benchmark measured while other processes compete for the CPUs, while the
hypervisor steals time, or while the CPU runs slower than it can, gives a number
that says more about the machine than about gort.  The driver takes a
``Snapshot`` before a suite, after each benchmark's result line and after the
suite, and runs a short single-thread ``calibrate`` loop before and after it.
From two snapshots a ``Window`` gives:

* **foreign CPU**: CPU time used by processes outside the benchmark's own
  process tree (the driver, the suite's pyperf master and its workers), as a
  fraction of the machine's capacity over the window: all CPU time the kernel
  counts as busy (``/proc/stat`` via psutil) minus the tree's own (its live
  processes, plus the children each has reaped), so processes that came and
  went in between are counted too; the busiest of them are named;
* **steal**: time the hypervisor gave to other guests, same fraction;
* **load average** (1 min; informational: it counts the benchmark's own threads).

``disturbance`` turns these into reasons against fixed thresholds; the driver
stores every figure in the pyperf metadata (``gort_noise_*``) and the reasons in
``gort_disturbed``, which the report marks ⚠ and keeps out of its verdicts.

It does not detect a machine that was uniformly slow for the whole run (the
calibration compares with the best seen in the same run), nor contention on
memory bandwidth or caches that costs no CPU time.
"""

from __future__ import annotations

import dataclasses
import os
import time

import psutil

# A window is disturbed when other processes used more than this fraction of the
# machine's CPU capacity (on 2 CPUs: a fifth of one CPU, busy all the time) ...
FOREIGN_CPU_LIMIT = 0.10
# ... when the hypervisor stole more than this fraction ...
STEAL_LIMIT = 0.02
# ... or when the calibration loop ran this much slower than its best in the run,
# before or after the suite (throttling, a slower core, a noisy neighbour).
CALIBRATION_LIMIT = 1.10
# Process times are counted in clock ticks (10 ms) and a snapshot takes a moment
# on a loaded machine: a benchmark's window shorter than this falls back to its
# whole suite's.
MIN_WINDOW = 0.5


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Cumulative CPU counters at one moment."""

    wall: float  # time.monotonic()
    busy: float  # CPU-seconds of all CPUs not idle, in I/O wait or stolen
    steal: float  # CPU-seconds stolen by the hypervisor
    own: float  # CPU-seconds of the process tree rooted at ``root``
    others: dict[tuple[int, float], tuple[str, float]]  # (pid, created): (name, CPU-s)
    load1: float


@dataclasses.dataclass(frozen=True)
class Window:
    """What happened between two snapshots."""

    seconds: float
    foreign_cpu: float  # fraction of the machine's capacity used by other processes
    steal: float  # fraction of capacity stolen
    load1: float  # the higher of the two 1-minute load averages
    top: tuple[tuple[str, int, float], ...]  # (name, pid, fraction of one CPU), busiest first


def _tree(root: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(root)
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu(p: psutil.Process, children: bool) -> float:
    t = p.cpu_times()
    total = t.user + t.system
    if children:
        total += t.children_user + t.children_system
    return float(total)


def snapshot(root: int | None = None) -> Snapshot:
    """The counters now; ``root`` is the benchmark tree's top process (default: this one)."""
    root = os.getpid() if root is None else root
    # The tree first, then the machine's counters at once: the two are subtracted,
    # and a gap between reading them (the tree walk on a loaded machine) would
    # count the tree's CPU time in that gap as its own but not as busy.
    own = 0.0
    mine: set[int] = set()
    for p in _tree(root):
        try:
            # A live process's own time plus what it has reaped: each CPU-second of
            # the tree is counted once, in the process or in the parent that waited.
            own += _cpu(p, children=True)
            mine.add(p.pid)
        except psutil.Error:
            pass
    ct = psutil.cpu_times()
    wall = time.monotonic()
    steal = float(getattr(ct, "steal", 0.0))
    busy = float(sum(getattr(ct, f) for f in ("user", "nice", "system", "irq", "softirq")
                     if hasattr(ct, f)))
    others: dict[tuple[int, float], tuple[str, float]] = {}
    for p in psutil.process_iter(["name", "create_time"]):
        if p.pid in mine or p.pid == 0:
            continue
        try:
            others[(p.pid, p.info["create_time"] or 0.0)] = (p.info["name"] or "?",
                                                              _cpu(p, children=False))
        except psutil.Error:
            pass
    return Snapshot(wall, busy, steal, own, others, os.getloadavg()[0])


def window(a: Snapshot, b: Snapshot, cpus: int | None = None) -> Window:
    """What happened between snapshots ``a`` and ``b`` (``b`` later)."""
    cpus = cpus or os.cpu_count() or 1
    seconds = max(b.wall - a.wall, 1e-9)
    capacity = seconds * cpus
    foreign = max(0.0, (b.busy - a.busy) - (b.own - a.own))
    top = []
    for key, (name, cpu) in b.others.items():
        before = a.others.get(key)
        used = cpu - before[1] if before else 0.0  # a process born in between: in foreign
        if used > 0.01 * seconds:
            top.append((name, key[0], used / seconds))
    top.sort(key=lambda t: -t[2])
    return Window(seconds, min(foreign / capacity, 1.0), max(0.0, b.steal - a.steal) / capacity,
                  max(a.load1, b.load1), tuple(top[:3]))


def calibrate(rounds: int = 5, n: int = 100_000) -> float:
    """Seconds for a fixed single-thread pure-Python loop, best of ``rounds``
    (about 5 ms each on a 2020s CPU): what one core can do right now."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        x = 0
        for i in range(n):
            x += i & 7
        best = min(best, time.perf_counter() - t0)
    return best


def disturbance(w: Window, calibration: tuple[float, float], best: float) -> list[str]:
    """The reasons a measurement over ``w`` is not to be trusted, [] if none:
    ``calibration`` is the loop's time (before, after) the suite, ``best`` the
    fastest it ran in this run."""
    reasons = []
    if w.seconds >= MIN_WINDOW and w.foreign_cpu > FOREIGN_CPU_LIMIT:
        who = ", ".join(f"{name} (pid {pid}) {frac:.0%}" for name, pid, frac in w.top)
        reasons.append(f"busy machine: other processes used {w.foreign_cpu:.0%} of the CPUs"
                       + (f" ({who} of a CPU)" if who else ""))
    if w.seconds >= MIN_WINDOW and w.steal > STEAL_LIMIT:
        reasons.append(f"hypervisor stole {w.steal:.0%} of the CPU time")
    slow = max(calibration) / best if best > 0 else 1.0
    if slow > CALIBRATION_LIMIT:
        reasons.append(f"CPU slower: the calibration loop took {slow:.2f}× its best time "
                       "in this run")
    return reasons


def metadata(w: Window, calibration: tuple[float, float], best: float) -> dict[str, str | float]:
    """The figures and the verdict as pyperf metadata (``gort_disturbed`` only when
    there is a reason)."""
    md: dict[str, str | float] = {
        "gort_noise_window_s": round(w.seconds, 3),
        "gort_noise_foreign_cpu": round(w.foreign_cpu, 4),
        "gort_noise_steal": round(w.steal, 4),
        "gort_noise_load_avg": round(w.load1, 2),
        "gort_noise_calibration_s": f"{calibration[0]:.6f}/{calibration[1]:.6f}",
        "gort_noise_calibration_best_s": round(best, 6),
    }
    if w.top:
        md["gort_noise_top"] = "; ".join(f"{n} (pid {p}) {f:.0%}" for n, p, f in w.top)
    reasons = disturbance(w, calibration, best)
    if reasons:
        md["gort_disturbed"] = "; ".join(reasons)
    return md


class Monitor:
    """Snapshots over one suite: ``start()``, ``mark(name)`` as each benchmark's
    result arrives, ``stop()``; ``window_of(name)`` then covers that benchmark alone
    (from the previous mark), falling back to the whole suite."""

    def __init__(self, root: int | None = None) -> None:
        self.root = root
        self.marks: list[tuple[str, Snapshot]] = []
        self.first: Snapshot | None = None
        self.last: Snapshot | None = None

    def start(self) -> None:
        """Take the first snapshot."""
        self.first = self.last = snapshot(self.root)

    def mark(self, name: str) -> None:
        """A benchmark's result has just arrived."""
        self.marks.append((name, snapshot(self.root)))

    def stop(self) -> None:
        """Take the last snapshot."""
        self.last = snapshot(self.root)

    def suite_window(self) -> Window:
        """The whole suite, start to stop."""
        assert self.first is not None and self.last is not None, "start() and stop() first"
        return window(self.first, self.last)

    def window_of(self, name: str) -> Window:
        """The window of one benchmark: from the mark before its result to its
        result.  A benchmark measured in several runs (interleaved rounds,
        adaptive sampling's batches) has one per run, and its values are as
        trustworthy as its worst: the busiest of them (foreign CPU plus steal)
        long enough to say anything, else the whole suite's."""
        assert self.first is not None
        prev = self.first
        found: list[Window] = []
        for n, snap in self.marks:
            if n == name:
                w = window(prev, snap)
                if w.seconds >= MIN_WINDOW:
                    found.append(w)
            prev = snap
        if not found:
            return self.suite_window()
        return max(found, key=lambda w: w.foreign_cpu + w.steal)
