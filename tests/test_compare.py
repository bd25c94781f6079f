"""python -m bench compare: tables, and the regression gate in ratio mode; and the
CI workflow that uses them names only sessions and paths that exist."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import bench_faults

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "bench" / "suites"
WORKFLOW = ROOT / ".github" / "workflows" / "bench.yml"


def _bench(out: Path) -> None:
    e = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SUITES)])}
    r = subprocess.run([sys.executable, str(SUITES / "bm_sync.py"), "-o", str(out), "--quiet",
                        "--bench", "atomic_add[*]", "--processes=6", "--values=3",
                        "--warmups=1", "--min-time=0.05"],
                       env=e, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]


def _compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", "compare", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _suite(path: Path, means: dict[str, float], spread: float = 0.01, n: int = 12) -> None:
    """A pyperf result file with exactly known values: each benchmark's n values
    alternate mean*(1-spread) and mean*(1+spread)."""
    import pyperf
    benches = []
    for name, mean in means.items():
        vals = [mean * (1 - spread if i % 2 else 1 + spread) for i in range(n)]
        runs = [pyperf.Run([v], metadata={"name": name, "unit": "second", "loops": 1},
                           collect_metadata=False) for v in vals]
        benches.append(pyperf.Benchmark(runs))
    pyperf.BenchmarkSuite(benches).dump(str(path), replace=True)


@pytest.mark.timeout(60)
def test_ratio_gate_arithmetic_on_known_values(tmp_path: Path) -> None:
    # The machine got 2x slower between the runs (both sides): no regression in
    # ratio mode, one in absolute mode.  A 20% gort-only slowdown trips a 15% gate
    # and passes a 25% one; noise (spread) large enough makes it not significant.
    base, slower_machine, slow_gort, noisy = (tmp_path / f"{n}.json" for n in
                                              ("base", "machine", "gort", "noisy"))
    _suite(base, {"op[gort]": 1e-6, "op[threading]": 2e-6, "op[gort-async]": 1e-6,
                  "op[asyncio]": 1e-6})
    _suite(slower_machine, {"op[gort]": 2e-6, "op[threading]": 4e-6, "op[gort-async]": 2e-6,
                            "op[asyncio]": 2e-6})
    _suite(slow_gort, {"op[gort]": 1.2e-6, "op[threading]": 2e-6, "op[gort-async]": 1e-6,
                       "op[asyncio]": 1e-6})
    _suite(noisy, {"op[gort]": 1.2e-6, "op[threading]": 2e-6, "op[gort-async]": 1e-6,
                   "op[asyncio]": 1e-6}, spread=0.5, n=4)

    r = _compare(str(base), str(slower_machine), "--mode", "ratio", "--fail-on-regression", "15%")
    assert r.returncode == 0, r.stderr
    r = _compare(str(base), str(slower_machine), "--fail-on-regression", "15%")
    assert r.returncode == 1 and "op[gort] +100.0%" in r.stderr, r.stderr

    r = _compare(str(base), str(slow_gort), "--mode", "ratio", "--fail-on-regression", "15%")
    assert r.returncode == 1, r.stdout
    assert r.stderr == ("REGRESSION:\n"
                        "  gort.json: op[gort] / op[asyncio] +20.0% (threshold 15%)\n"
                        "  gort.json: op[gort] / op[threading] +20.0% (threshold 15%)\n")
    r = _compare(str(base), str(slow_gort), "--mode", "ratio", "--fail-on-regression", "25%")
    assert r.returncode == 0, r.stderr
    js = json.loads(_compare(str(base), str(slow_gort), "--mode", "ratio",
                             "--format", "json").stdout)
    by = {c["name"]: c for c in js["changes"]}
    # Pairs are made only within one family of baselines' "what": op[gort] is
    # paired with both non-gort baselines, op[gort-async] too.
    assert set(by) == {"op[gort] / op[threading]", "op[gort] / op[asyncio]",
                       "op[gort-async] / op[threading]", "op[gort-async] / op[asyncio]"}
    assert by["op[gort] / op[threading]"]["change"] == pytest.approx(0.2)
    assert by["op[gort-async] / op[asyncio]"]["change"] == pytest.approx(0.0)

    r = _compare(str(base), str(noisy), "--mode", "ratio", "--fail-on-regression", "15%")
    assert r.returncode == 0, r.stderr
    assert "not significant" in r.stdout


def test_students_t_test_on_textbook_values() -> None:
    """bench.stats.significant, the test behind "significant" in the tables: two
    samples of 5 whose means differ by 2 with a pooled variance of 2.5 give t = 2,
    under the 95% critical value 2.306 for 8 degrees of freedom; a difference of
    3 gives t = 3, over it.  Samples may differ in size."""
    from bench import stats
    a = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert stats.significant(a, [3.0, 4.0, 5.0, 6.0, 7.0]) is False
    assert stats.significant(a, [4.0, 5.0, 6.0, 7.0, 8.0]) is True
    # n = 5 and 3: pooled variance (10 + 2) / 6 = 2, se = sqrt(2 (1/5 + 1/3)) = 1.033;
    # a mean difference of 3 gives t = 2.90 > 2.447 (6 degrees of freedom), 2 gives 1.94.
    assert stats.significant(a, [5.0, 6.0, 7.0]) is True
    assert stats.significant(a, [4.0, 5.0, 6.0]) is False
    assert stats.significant(a, [1.0]) is None  # too few values for a variance
    assert stats.significant([2.0, 2.0], [2.0, 2.0]) is False
    assert stats.significant([2.0, 2.0], [3.0, 3.0]) is True  # no spread: any difference
    assert stats.t_critical_95(1) == 12.706 and stats.t_critical_95(30) == 2.042
    assert stats.t_critical_95(31) == pytest.approx(2.0395, abs=1e-3)  # exact: 2.0395
    assert stats.t_critical_95(120) == pytest.approx(1.9799, abs=1e-3)
    assert stats.t_critical_95(10**6) == pytest.approx(1.960, abs=1e-3)


def _driver(out: Path, plugin: str | None = None) -> Path:
    """atomic_add[gort] and its baseline measured interleaved by the driver (6
    rounds); ``plugin``: a directory of ``bench_faults.plant`` to plant faults."""
    e = {**os.environ, "PYTHONPATH": os.pathsep.join([*filter(None, [plugin]), str(ROOT)])}
    r = subprocess.run([sys.executable, "-m", "bench", "run", f"--build-python=x::{sys.executable}",
                        "--suite", "sync", "--bench", "atomic_add[*]", "--smoke",
                        "--paired-rounds", "6", "--out", str(out)],
                       cwd=ROOT, env=e, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    (path,) = out.glob("*/x.json")
    return path


@pytest.mark.timeout(900)
def test_planted_slowdown_trips_the_ratio_gate_end_to_end(tmp_path: Path) -> None:
    # Real runs, interleaved round by round (A B, B A, ...), so that a machine
    # whose load changes from minute to minute moves both sides of each pair; the
    # plant (3x) and the gate (50%) still sit far outside what a loaded 2-core
    # machine does to one run; the arithmetic near the threshold is tested above.
    import pyperf
    base = _driver(tmp_path / "base")
    rerun = _driver(tmp_path / "rerun")
    slow = _driver(tmp_path / "slow", bench_faults.plant(tmp_path / "faults",
                                                          slowdown={"atomic_add[gort]": 3}))
    for b in pyperf.BenchmarkSuite.load(str(base)).get_benchmarks():
        rounds = {r.get_metadata().get("gort_round") for r in b.get_runs() if r.values}
        assert rounds == set(range(6)), (b.get_name(), rounds)
    r_rerun = _compare(str(base), str(rerun), "--mode", "ratio", "--fail-on-regression", "50%")
    if "disturbed" not in r_rerun.stdout:
        # Two runs of the same code pass the gate, unless the machine was so busy
        # that the driver marked them disturbed (then nothing is promised of them:
        # a loaded 2-core machine once moved this ratio by +54% between runs).
        assert r_rerun.returncode == 0, r_rerun.stdout + r_rerun.stderr
    r_slow = _compare(str(base), str(slow), "--mode", "ratio", "--fail-on-regression", "50%")
    assert r_slow.returncode == 1, r_slow.stdout
    assert "REGRESSION" in r_slow.stderr
    assert "atomic_add[gort] / atomic_add[threading]" in r_slow.stderr
    assert "atomic_add[gort] / atomic_add[threading]" in r_slow.stdout
    assert "change [95% interval]" in r_slow.stdout


def test_compare_formats_and_geomean(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _bench(a)
    _bench(b)
    md = _compare(str(a), str(b))
    assert md.returncode == 0, md.stderr
    assert "| atomic_add[gort]" in md.stdout and "geometric mean" in md.stdout
    js = _compare(str(a), str(b), "--format", "json")
    data = json.loads(js.stdout)
    names = {c["name"] for c in data["changes"]}
    assert names == {"atomic_add[gort]", "atomic_add[threading]"}
    assert data["geomean"] > 0
    text = _compare(str(a), str(b), "--format", "text", "--mode", "ratio")
    assert "atomic_add[gort] / atomic_add[threading]" in text.stdout


def _nox_sessions() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                target = d.func if isinstance(d, ast.Call) else d
                if isinstance(target, ast.Attribute) and target.attr == "session":
                    names.add(node.name)
    return names


def test_workflow_names_only_existing_sessions_and_paths() -> None:
    yaml = pytest.importorskip("yaml")
    wf = yaml.safe_load(WORKFLOW.read_text())
    jobs = wf["jobs"]
    assert {"tests", "bench"} <= set(jobs)
    for job in jobs.values():
        assert "timeout-minutes" in job
    runs = [step["run"] for job in jobs.values() for step in job["steps"] if "run" in step]
    sessions = _nox_sessions()
    called = {m for r in runs for m in re.findall(r"nox -s (\w+)", r)}
    assert called, "the workflow calls no nox session"
    assert called <= sessions, f"unknown nox sessions: {called - sessions}"
    for r in runs:
        for path in re.findall(r"(?<![\w/$.-])((?:bench|tests|gort|\.ci)/[\w./-]+)", r):
            assert (ROOT / path).exists(), f"workflow names a missing path: {path}"
    # The bench job runs all builds on one runner and gates in ratio mode.
    bench_runs = "\n".join(s.get("run", "") for s in jobs["bench"]["steps"])
    assert "nox -s bench" in bench_runs
    assert '--mode "$mode"' in bench_runs and "mode=ratio" in bench_runs
    assert "--fail-on-regression" in bench_runs


def test_workflow_hardening() -> None:
    yaml = pytest.importorskip("yaml")
    text = WORKFLOW.read_text()
    wf = yaml.safe_load(text)
    on = wf[True]  # YAML 1.1 reads the key "on" as a boolean
    assert on["push"] == {"branches": ["main"]} and "pull_request" in on
    assert wf["permissions"] == {"contents": "read"}
    assert "group" in wf["concurrency"] and "cancel-in-progress" in wf["concurrency"]
    # Pushes to main run tests and lint; the bench job only where it has a base.
    jobs = wf["jobs"]
    assert "if" not in jobs["tests"] and "if" not in jobs["lint"]
    assert jobs["bench"]["if"] == "github.event_name != 'push'"
    # No expression is interpolated into a script: values reach it through env.
    for job in jobs.values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step["run"]
    steps = jobs["bench"]["steps"]
    (upload,) = [st for st in steps if str(st.get("uses", "")).startswith(
        "actions/upload-artifact")]
    assert upload["if"] == "${{ !cancelled() }}"
    # The gate reads pyperf result files only, never run.json or a sidecar.
    (gate,) = [st for st in steps if st.get("name", "").startswith("Regression gate")]
    assert "*/run.json|*.extra.json) continue" in gate["run"]


@pytest.mark.timeout(120)
def test_workflow_passes_actionlint() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import actionlint
    try:
        r = actionlint.run()
    except actionlint.NotFound as e:
        pytest.skip(str(e))
    assert r.returncode == 0, r.stdout + r.stderr
    # It does find errors: a job with an unknown key.
    bad = WORKFLOW.read_text().replace("timeout-minutes: 15", "timeout-minutes: 15\n    bogus: 1")
    r = subprocess.run(actionlint.command([Path("/dev/stdin")]), input=bad,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and 'unexpected key "bogus"' in r.stdout, r.stdout


@pytest.mark.timeout(60)
def test_compare_refuses_a_file_that_is_not_a_result(tmp_path: Path) -> None:
    sidecar = tmp_path / "3.13.extra.json"  # the old memory sidecar format
    sidecar.write_text(json.dumps([{"name": "parked[gort,n=10]", "rss_per_task": 100}]))
    good = tmp_path / "good.json"
    _suite(good, {"op[gort]": 1e-6})
    r = _compare(str(good), str(sidecar), "--mode", "ratio")
    assert r.returncode == 2
    assert r.stderr == (f"error: {sidecar}: not a pyperf result file (AttributeError: "
                        "'list' object has no attribute 'get')\n")
    r = _compare(str(tmp_path / "nope.json"), str(good))
    assert r.returncode == 2 and "nope.json: cannot read it" in r.stderr


@pytest.mark.timeout(600)
def test_instruction_counts_gate_on_a_planted_loop(tmp_path: Path) -> None:
    import shutil
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind (callgrind) is not installed")
    import pyperf

    def count(out: Path, plugin: str | None = None) -> Path:
        r = subprocess.run([sys.executable, "-m", "bench", "run", "--mode", "instructions",
                            f"--build-python=x::{sys.executable}", "--bench", "mutex[gort]",
                            "--smoke", "--out", str(out)], cwd=ROOT, capture_output=True,
                           text=True, timeout=600, env={**os.environ, "PYTHONPATH": os.pathsep
                                                        .join([*filter(None, [plugin]),
                                                               str(ROOT)])})
        assert r.returncode == 0, r.stdout + r.stderr
        (path,) = out.glob("*/x.instructions.json")
        return path

    base = count(tmp_path / "base")
    # ~30 iterations of an empty loop: a few hundred instructions on a ~3,500 one.
    planted = count(tmp_path / "planted", bench_faults.plant(
        tmp_path / "faults", instructions={"mutex[gort]": 30}))
    (b,) = pyperf.BenchmarkSuite.load(str(base)).get_benchmarks()
    (p,) = pyperf.BenchmarkSuite.load(str(planted)).get_benchmarks()
    assert b.get_unit() == "integer" and b.get_metadata()["gort_mode"] == "instructions"
    assert 1_000 < b.mean() < 50_000, b.mean()  # per op, start-up cancelled
    assert p.mean() > b.mean() * 1.05
    show = subprocess.run([sys.executable, "-m", "pyperf", "show", str(base)],
                          capture_output=True, text=True, timeout=60)
    assert show.returncode == 0, show.stderr
    same = _compare(str(base), str(base), "--fail-on-regression", "2%")
    assert same.returncode == 0, same.stderr
    r = _compare(str(base), str(planted), "--fail-on-regression", "2%")
    assert r.returncode == 1, r.stdout
    assert r.stderr.startswith("REGRESSION:\n  x.instructions.json: mutex[gort] +"), r.stderr
    assert "| mutex[gort]" in r.stdout and "significant" in r.stdout
    text = (tmp_path / "base" / "README.md").read_text()
    assert "### Instruction counts (callgrind)" in text and "| mutex[gort] " in text


def test_fewer_requests_per_second_is_the_regression(tmp_path: Path) -> None:
    """The io suite's requests_per_s records: more is better, so the gate trips on
    a drop, not a rise; ratio mode pairs times only."""
    import pyperf

    from bench import compare

    def rps(mean: float) -> dict[str, pyperf.Benchmark]:
        md = {"name": "echo_c100_requests_per_s[gort]", "unit": "integer",
              "gort_extra_key": "requests_per_s"}
        runs = [pyperf.Run([mean * f], metadata=md, collect_metadata=False)
                for f in (0.99, 1.01) * 6]
        b = pyperf.Benchmark(runs)
        other = pyperf.Benchmark([pyperf.Run([mean * f], metadata={
            **md, "name": "echo_c100_requests_per_s[asyncio]"}, collect_metadata=False)
            for f in (0.99, 1.01) * 6])
        return {b.get_name(): b, other.get_name(): other}

    base, worse, better = rps(10_000), rps(8_000), rps(12_000)
    (down,) = [c for c in compare.absolute_changes(base, worse) if "gort" in c.name]
    assert down.higher_is_better and down.change == pytest.approx(-0.2)
    assert down.loss == pytest.approx(0.25) and compare.regressions([down], 0.10) == [down]
    (up,) = [c for c in compare.absolute_changes(base, better) if "gort" in c.name]
    assert up.loss < 0 and compare.regressions([up], 0.10) == []
    assert compare.ratio_pairs(base) == []
