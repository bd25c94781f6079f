"""Instruction counts per operation: ``nox -s bench -- --mode instructions``.

Times on a shared machine move with everything else the machine does; the number
of instructions an operation executes does not.  Like CodSpeed, this mode runs
each single-threaded microbenchmark under ``valgrind --tool=callgrind`` and reports
instructions per operation, a number that two runs of the same commit reproduce,
so CI can gate on a few percent.  Measured on this project's machine: the
single-threaded operations agree within 0.01% between runs (mutex 3,516.3 and
3,515.9; chan_buffered 12,816.6 and 12,817.6), but one run of chan_buffered once
gave 13,593 (+6%) for a reason not yet found, so a gate failure on a single
operation deserves a rerun; spawn+join and timer, which hand over between threads,
agree within about 3% and say so in their ``noise``.

**The N-differential.**  Each operation's loop runs in a fresh interpreter at
two counts, ``n1`` and ``n2``; everything else the process does (start-up,
imports, gort's set-up, exit) is the same in both and cancels in

    instructions per op = (I(n2) - I(n1)) / (n2 - n1).

``n1`` is large enough that the interpreter has specialised the loop's bytecode
before the counted part begins.  The count includes the loop's own ``for``
(a few dozen instructions).  ``PYTHONHASHSEED=0`` and a native warm-up run (which
also writes the bytecode caches) keep the two processes alike.

**What it covers, and why only that.**  The operations below never wait for
another thread: spawn+join on one proc (the goroutine runs while the spawner
waits, with nobody to race), an uncontended Mutex, a buffered send+recv by one
goroutine, a select with default on an empty channel, an atomic add, a timer
created and stopped.  A contended operation (ping-pong, a contended Mutex,
P -> P channels) is a race between threads: callgrind runs one thread at a time,
so its count depends on where the scheduler switches threads and how long a
waiter spins or sleeps, and measures callgrind's schedule, not gort.  Those
stay with the time and ratio modes.

The result is one pyperf file per build, ``<machine>/<build>.instructions.json``
(unit ``integer``, one value per benchmark, ``gort_mode=instructions``), which
``pyperf show`` reads and ``python -m bench compare --fail-on-regression``
gates on: a change counts as significant when it exceeds ``NOISE``.

"""

from __future__ import annotations

# Only what the counted worker process needs is imported at the top: every module
# imported here is start-up that callgrind executes twice per operation.
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITES_DIR = Path(__file__).resolve().parent / "suites"

# Two runs of the same code differ by less than this (relative); compare treats a
# larger change of an instruction count as significant.  An operation that hands
# over between threads (spawn+join, a timer's wake-up of the timer thread) varies
# more under callgrind's thread schedule: it states its own, measured, noise.
NOISE = 0.005
COUNTS = (1_000, 11_000)  # n1, n2 of the differential
QUICK = 5  # --smoke and the tests divide the counts by this
RUN_TIMEOUT = 600  # one callgrind run, seconds


@dataclasses.dataclass(frozen=True)
class Op:
    """One counted operation: ``loop(n)`` runs it ``n`` times."""

    name: str
    description: str
    loop: Callable[[int], None]
    env: tuple[tuple[str, str], ...] = ()  # extra environment for its process
    counts: tuple[int, int] = COUNTS  # n1, n2
    noise: float = NOISE  # run-to-run difference beyond which a change is real


def _noop() -> None:
    pass


def _spawn(n: int) -> None:
    import gort
    for _ in range(n):
        gort.go(_noop).join()


def _mutex(n: int) -> None:
    import gort
    mu = gort.Mutex()
    for _ in range(n):
        mu.lock()
        mu.unlock()


def _chan_buffered(n: int) -> None:
    import gort
    ch: gort.Chan[int] = gort.Chan(1)
    for i in range(n):
        ch.send(i)
        ch.recv()


def _select_default(n: int) -> None:
    import gort
    ch: gort.Chan[int] = gort.Chan(1)
    for _ in range(n):
        gort.select(ch.recv_case(), default=True)


def _atomic_add(n: int) -> None:
    import gort
    x = gort.atomic.Int64()
    for _ in range(n):
        x.add(1)


def _timer(n: int) -> None:
    import gort
    for _ in range(n):
        gort.Timer(3600.0).stop()


OPS = (
    # ~150,000 instructions each (two threads hand over twice): fewer of them.
    # Two runs of one commit: 138,781 and 142,644 (2.8%).
    Op("spawn[gort]", "go(no-op) + join, one proc", _spawn, (("GORT_MAXPROCS", "1"),),
       (200, 2_200), noise=0.05),
    Op("mutex[gort]", "Mutex lock + unlock, uncontended", _mutex),
    Op("chan_buffered[gort]", "Chan(1) send + recv by one goroutine", _chan_buffered),
    Op("select_default[gort]", "2-case select with default, nothing ready", _select_default),
    Op("atomic_add[gort]", "atomic.Int64.add(1)", _atomic_add),
    # Two runs of one commit: 114,106 and 112,997 (1.0%).
    Op("timer[gort]", "Timer(3600) created + stopped", _timer, noise=0.03),
)
BY_NAME = {op.name: op for op in OPS}


class CounterError(RuntimeError):
    """callgrind is missing, or a counted run failed; the message says which and why."""


def worker(name: str, n: int) -> None:
    """Run operation ``name`` ``n`` times in this process (what callgrind counts)."""
    BY_NAME[name].loop(n)


def _count(python: str, env: dict[str, str], name: str, n: int, tmp: Path) -> int:
    """Instructions executed by a whole process that runs ``name`` ``n`` times."""
    import re
    import shutil
    import subprocess
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise CounterError("valgrind not found: --mode instructions needs callgrind "
                           "(Debian: apt-get install valgrind)")
    out = tmp / f"callgrind.{n}.out"
    # --fair-sched: threads take turns in a fixed order (a ticket lock), so the
    # hand-offs of spawn+join interleave the same way in every run (0.3% -> 0.07%).
    cmd = [valgrind, "--tool=callgrind", "--fair-sched=yes", f"--callgrind-out-file={out}",
           python, str(Path(__file__).resolve()), "--worker", name, str(n)]
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CounterError(f"{name}: callgrind run of {n} ops timed out after "
                           f"{RUN_TIMEOUT} s") from None
    if r.returncode != 0:
        raise CounterError(f"{name}: callgrind run of {n} ops failed (exit {r.returncode}): "
                           f"{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}")
    m = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(errors="replace"), re.MULTILINE)
    if not m:
        raise CounterError(f"{name}: no instruction total in {out}")
    return int(m.group(1))


@dataclasses.dataclass(frozen=True)
class Count:
    """The differential of one operation."""

    name: str
    per_op: float
    counts: tuple[int, int]
    totals: tuple[int, int]
    seconds: float


def measure(python: str, env: dict[str, str], name: str, quick: bool = False) -> Count:
    """Instructions per operation of ``name`` on interpreter ``python`` with ``env``;
    ``quick``: at a fifth of the counts."""
    import subprocess
    import tempfile
    op = BY_NAME[name]
    counts = (op.counts[0] // QUICK, op.counts[1] // QUICK) if quick else op.counts
    env = {**env, **dict(op.env), "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(SUITES_DIR),
                                         *filter(None, [env.get("PYTHONPATH")])])}
    t0 = time.monotonic()
    # Natively first: checks the op runs, and writes the bytecode caches that a
    # counted run would otherwise write in one of the two processes only.
    r = subprocess.run([python, str(Path(__file__).resolve()), "--worker", name, "1"],
                       env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise CounterError(f"{name}: the operation fails: "
                           f"{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}")
    with tempfile.TemporaryDirectory(prefix="gort-callgrind-") as d:
        i1 = _count(python, env, name, counts[0], Path(d))
        i2 = _count(python, env, name, counts[1], Path(d))
    return Count(name, (i2 - i1) / (counts[1] - counts[0]), counts, (i1, i2),
                 time.monotonic() - t0)


def to_benchmark(c: Count, label: str, python: str, command: str) -> object:
    """A pyperf Benchmark (unit ``integer``, one value) for one count."""
    import pyperf
    op = BY_NAME[c.name]
    md: dict[str, str | int | float] = {
        "name": c.name, "unit": "integer", "description": f"instructions per op: "
        f"{op.description}", "gort_mode": "instructions", "gort_counter": "callgrind",
        "gort_suite": "instructions", "gort_counts": f"{c.counts[0]},{c.counts[1]}",
        "gort_totals": f"{c.totals[0]},{c.totals[1]}", "python_build_label": label,
        "gort_noise": op.noise,
        "python_executable": python, "gort_command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    return pyperf.Benchmark([pyperf.Run([c.per_op], metadata=md, collect_metadata=False)])


def is_instruction_count(bench: object) -> bool:
    """Whether a pyperf benchmark is an instruction count of this mode."""
    get = getattr(bench, "get_metadata", None)
    return bool(get and get().get("gort_mode") == "instructions")


def run(builds: list[tuple[str, str, str]], patterns: list[str], out_dir: Path, command: str,
        quick: bool = False) -> int:
    """Count every operation matching ``patterns`` (all if none) on each build
    (label, PYTHON_GIL value, python) into ``out_dir/<machine>/<label>.instructions.json``
    and rewrite the report.  Returns the exit status: 0, 1 if a count failed,
    2 when nothing matches or callgrind is missing."""
    import shutil

    import pyperf

    from . import report, runner
    ops = [op for op in OPS
           if not patterns or any(runner.name_matches(op.name, p) for p in patterns)]
    if not ops:
        print(f"error: no instruction benchmark matches {', '.join(patterns)}; valid: "
              f"{', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    if shutil.which("valgrind") is None:
        print("error: valgrind not found: --mode instructions needs callgrind "
              "(Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    target = out_dir / runner.machine_label()
    target.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHON_GIL", "GORT_MAXPROCS")}
    failed: list[str] = []
    start = time.monotonic()
    print(f"gort bench --mode instructions: {len(builds)} build(s) x {len(ops)} operation(s) "
          f"under callgrind, results in {target}", flush=True)
    for label, gil, python in builds:
        env = {**base_env, **({"PYTHON_GIL": gil} if gil else {})}
        benches = []
        for op in ops:
            try:
                c = measure(python, env, op.name, quick)
            except CounterError as e:
                failed.append(f"{label}: {e}")
                print(f"    FAILED {label}: {e}", flush=True)
                continue
            print(f"    {label}: {op.name}: {c.per_op:,.0f} instructions per op "
                  f"({c.seconds:.0f} s)", flush=True)
            benches.append(to_benchmark(c, label, python, command))
        if benches:
            path = target / f"{label}.instructions.json"
            suite = pyperf.BenchmarkSuite(benches)
            if path.exists():  # keep the operations this command did not count
                fresh = {op.name for op in ops}
                for b in pyperf.BenchmarkSuite.load(str(path)).get_benchmarks():
                    if b.get_name() not in fresh:
                        suite.add_benchmark(b)
            suite.dump(str(path), replace=True)
    report.write_report(out_dir)
    print(f"done in {time.monotonic() - start:.0f} s; report: {out_dir / 'README.md'}")
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]))
    else:
        print("usage: instructions.py --worker NAME N   (python -m bench run --mode "
              "instructions counts them)", file=sys.stderr)
        sys.exit(2)
