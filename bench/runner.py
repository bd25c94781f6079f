"""The driver behind ``nox -s bench``: every suite on every build, into results/.

For each build (an interpreter plus a GIL setting) and each suite script, it runs
the script under pyperf in that build's own processes, then merges the suites
into ``results/<machine>/<build>.json`` (pyperf JSON, ``pyperf compare_to``
can read it) and regenerates ``results/README.md``.  A suite that crashes or
times out is reported and the run continues; the summary names what is missing.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyperf

ROOT = Path(__file__).resolve().parent.parent
SUITES_DIR = Path(__file__).resolve().parent / "suites"
sys.path.insert(0, str(SUITES_DIR))
from common import name_matches  # noqa: E402 - the suites' own matching rule

SUITES = ("spawn", "switch", "channels", "select", "sync", "scaling", "patterns", "scale")

# pyperf settings per profile: processes, values per process, warmups, min time.
PROFILES = {
    "smoke": ["--processes=1", "--values=1", "--warmups=0", "--loops=1"],
    "default": ["--processes=2", "--values=3", "--warmups=1", "--min-time=0.05"],
    "rigorous": ["--rigorous"],
}
SUITE_TIMEOUT = {"smoke": 300, "default": 900, "rigorous": 3600}
# Suites measured once per build whatever the profile (minutes of work per value).
SINGLE_SHOT = {"scale": ["--processes=1", "--values=1", "--warmups=0", "--loops=1"]}


@dataclasses.dataclass(frozen=True)
class BuildSpec:
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
def suite_benchmarks(suite: str) -> list[str]:
    """The benchmark names a suite defines on this machine (some depend on
    ``max_procs``): its script run with ``GORT_BENCH_LIST=1`` prints them."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON_GIL", "GORT_BENCH_FILTER")}
    env.update(GORT_BENCH_LIST="1", PYTHONPATH=os.pathsep.join([str(ROOT), str(SUITES_DIR)]))
    r = subprocess.run([sys.executable, str(SUITES_DIR / f"bm_{suite}.py")], env=env,
                       capture_output=True, text=True, timeout=120)
    if r.returncode:
        raise RuntimeError(f"listing bm_{suite}.py failed: {r.stderr.strip()[-800:]}")
    return r.stdout.split()


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


def run(builds: list[BuildSpec], suites: list[str], bench_patterns: list[str], profile: str,
        out_dir: Path, command: str, quick: bool = False) -> int:
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        print(f"error: unknown suite(s) {', '.join(unknown)}; valid: {', '.join(SUITES)}",
              file=sys.stderr)
        return 2
    if bench_patterns:
        every = [b for s in suites for b in suite_benchmarks(s)]
        dead = [p for p in bench_patterns if not any(name_matches(b, p) for b in every)]
        if dead:
            print(f"error: no benchmark matches {', '.join(dead)}; valid: {', '.join(every)}",
                  file=sys.stderr)
            return 2
        suites = [s for s in suites if any(name_matches(b, p) for b in
                                           suite_benchmarks(s) for p in bench_patterns)]
    machine = machine_label()
    target = out_dir / machine
    target.mkdir(parents=True, exist_ok=True)
    jobs = [(b, s) for b in builds for s in suites]
    missing: list[str] = []
    start = time.monotonic()
    print(f"gort bench: {len(builds)} build(s) x {len(suites)} suite(s), profile {profile}, "
          f"results in {target}", flush=True)
    per_build: dict[str, list[Path]] = {b.label: [] for b in builds}
    extras: dict[str, list[dict[str, object]]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="gort-bench-"))
    for n, (build, suite) in enumerate(jobs, 1):
        elapsed = time.monotonic() - start
        eta = f", about {_fmt(elapsed / (n - 1) * (len(jobs) - n + 1))} left" if n > 1 else ""
        print(f"[{n}/{len(jobs)}] {build.label}: {suite} (elapsed {_fmt(elapsed)}{eta})",
              flush=True)
        settings = SINGLE_SHOT.get(suite, PROFILES[profile])
        out = tmp / f"{build.label}-{suite}.json"
        extra = tmp / f"{build.label}-{suite}.extra.jsonl"
        ok, why = _run_suite(build, suite, bench_patterns, settings, out, extra, quick,
                             SUITE_TIMEOUT[profile])
        outs = [out] if ok else []
        if not ok and not why.startswith("timed out"):
            # One benchmark crashed the script: run the others one by one, so
            # only the benchmark that crashes is missing.
            print(f"    FAILED: {why}\n    running {suite}'s benchmarks one at a time",
                  flush=True)
            extra.unlink(missing_ok=True)
            for name in suite_benchmarks(suite):
                if bench_patterns and not any(name_matches(name, p) for p in bench_patterns):
                    continue
                one = tmp / f"{build.label}-{suite}-{len(outs)}-{len(missing)}.json"
                # "," separates filter patterns; "?" matches the one in a name.
                b_ok, b_why = _run_suite(build, suite, [name.replace(",", "?")], settings,
                                         one, extra, quick,
                                         SUITE_TIMEOUT[profile])
                if b_ok:
                    outs.append(one)
                else:
                    missing.append(f"{build.label}: {name} ({_last_line(b_why)})")
                    print(f"    FAILED {name}: {b_why}", flush=True)
        elif not ok:
            missing.append(f"{build.label}: {suite} ({_last_line(why)})")
            print(f"    FAILED: {why}", flush=True)
        if outs and extra.exists():
            extras.setdefault(build.label, []).extend(
                json.loads(line) for line in extra.read_text().splitlines() if line)
        for o in outs:
            per_build[build.label].append(o)
            for bench in pyperf.BenchmarkSuite.load(str(o)).get_benchmarks():
                print(f"    {bench.get_name():<34} {bench.format_value(bench.mean())}",
                      flush=True)
    for label, parts in per_build.items():
        if not parts:
            continue
        path = target / f"{label}.json"
        merged = _merge(parts, keep=path if path.exists() else None)
        merged.dump(str(path), replace=True)
        if label in extras:
            extra_path = target / f"{label}.extra.json"
            old = json.loads(extra_path.read_text()) if extra_path.exists() else []
            new_names = {e["name"] for e in extras[label]}
            kept = [e for e in old if e["name"] not in new_names]
            extra_path.write_text(json.dumps(kept + extras[label], indent=1))
    run_path = target / "run.json"
    earlier = json.loads(run_path.read_text()) if run_path.exists() else {}
    commands = [c for c in earlier.get("commands", []) if c != command] + [command]
    meta = {"command": command, "commands": commands, "profile": profile,
            "machine": machine, "cpu": cpu_model(),
            "cpus": os.cpu_count(), "os": platform.platform(), "date": time.strftime(
                "%Y-%m-%d %H:%M UTC", time.gmtime()),
            "builds": [dataclasses.asdict(b) for b in builds], "missing": missing}
    (target / "run.json").write_text(json.dumps(meta, indent=2) + "\n")
    from . import report
    report.write_report(out_dir)
    print(f"done in {_fmt(time.monotonic() - start)}; report: {out_dir / 'README.md'}")
    if missing:
        print("MISSING (crashed or timed out):\n  " + "\n  ".join(missing))
        return 1
    return 0


def _last_line(why: str) -> str:
    """The first line of a failure: its exit status and root cause."""
    return why.strip().splitlines()[0] if why.strip() else ""


def _run_suite(build: BuildSpec, suite: str, patterns: list[str], settings: list[str],
               out: Path, extra: Path, quick: bool, timeout: int) -> tuple[bool, str]:
    """One suite script (or the benchmarks of it matching ``patterns``) under
    pyperf in ``build``'s own processes.  Returns (succeeded, why not)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    if build.gil:
        env["PYTHON_GIL"] = build.gil
    env["GORT_BUILD_LABEL"] = build.label
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(SUITES_DIR)])
    if patterns:
        env["GORT_BENCH_FILTER"] = ",".join(patterns)
    if quick:
        env["GORT_BENCH_QUICK"] = "1"
    env["GORT_BENCH_EXTRA"] = str(extra)
    cmd = [build.python, str(SUITES_DIR / f"bm_{suite}.py"), "-o", str(out), "--quiet",
           *settings]
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout} s"
    if r.returncode == 0 and out.exists():
        return True, ""
    text = (r.stderr or r.stdout).strip()
    # The worker's own exception comes first; pyperf's "failed with exit code" last.
    causes = re.findall(r"^(\w+(?:\.\w+)*(?:Error|Exception|Exit|Interrupt)\b.*)$", text,
                        re.MULTILINE)
    summary = causes[0] if causes else (text.splitlines()[-1] if text else "no output")
    return False, f"exit {r.returncode}: {summary}\n{text[-800:]}"


def _merge(parts: list[Path], keep: Path | None = None) -> pyperf.BenchmarkSuite:
    """One suite of this run's results, plus, from ``keep`` (an earlier result
    file of the same build), every benchmark this run did not measure again."""
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
            if b.get_name() not in fresh:
                suite.add_benchmark(b)
    return suite
