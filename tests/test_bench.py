"""The benchmark suite: every script runs (tiny loops), the report generator works
on JSON from a real pyperf run, and the driver rejects unknown names clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "bench" / "suites"
sys.path.insert(0, str(ROOT))

from bench import report, runner  # noqa: E402

pyperf = pytest.importorskip("pyperf")


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SUITES)]),
           "GORT_BENCH_QUICK": "1", **extra}
    return env


def _run_suite(suite: str, out: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(SUITES / f"bm_{suite}.py"), "-o", str(out), "--quiet", *args]
    return subprocess.run(cmd, env=_env(**env), capture_output=True, text=True, timeout=600)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("suite", runner.SUITES)
def test_every_benchmark_script_runs_once(suite: str, tmp_path: Path) -> None:
    out = tmp_path / f"{suite}.json"
    r = _run_suite(suite, out, "--processes=1", "--values=1", "--warmups=0", "--loops=1")
    assert r.returncode == 0, r.stderr[-3000:]
    names = {b.get_name() for b in pyperf.BenchmarkSuite.load(str(out)).get_benchmarks()}
    assert names, "the suite produced no benchmark"
    fixed = {n for n in runner.suite_benchmarks(suite) if "{" not in n}
    assert fixed <= names  # every benchmark with a fixed name ran
    meta = pyperf.BenchmarkSuite.load(str(out)).get_benchmarks()[0].get_metadata()
    is_gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)
    assert meta["gil_enabled"] == str(is_gil_enabled())  # observed in the worker


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two builds' worth of real pyperf results (the same interpreter twice)."""
    root = tmp_path_factory.mktemp("results")
    machine = root / "test-machine"
    machine.mkdir()
    for label in ("3.13", "3.13t"):
        r = _run_suite("sync", machine / f"{label}.json", "--processes=1", "--values=3",
                       "--warmups=0", "--loops=2",
                       GORT_BENCH_FILTER="mutex[*],atomic_add[*]")
        assert r.returncode == 0, r.stderr[-3000:]
    (machine / "run.json").write_text(json.dumps({
        "command": "pytest", "profile": "test", "cpu": "test cpu", "cpus": 2, "os": "test os",
        "date": "today", "missing": ["3.13t+gil: sync (exit 1: boom)"]}))
    return root


def test_report_from_real_pyperf_json(results_dir: Path) -> None:
    path = report.write_report(results_dir)
    text = path.read_text()
    assert "## Machine `test-machine`" in text
    assert "- produced by: `pytest`" in text
    assert "**missing** (crashed or timed out): 3.13t+gil: sync (exit 1: boom)" in text
    # A suite table with both builds as columns and units.
    assert "| mutex[gort]" in text and "| 3.13t" in text
    assert "µs" in text or "ns" in text
    # The ratio table pairs gort with its threading baseline on the same build.
    assert "mutex[gort] / mutex[threading]" in text
    assert "Mutex lock+unlock <= 2x threading.Lock" in text
    # The builds table compares 3.13t against 3.13 for gort's benchmarks.
    assert "time vs 3.13" in text


def test_report_ratios_are_computed_from_the_data(results_dir: Path) -> None:
    data = report.load(results_dir / "test-machine")
    g, t = data["3.13"]["mutex[gort]"], data["3.13"]["mutex[threading]"]
    cell = report.ratio_cell(g, t)
    assert cell.startswith(f"{g.mean / t.mean:.2f}×")


def test_driver_rejects_unknown_suite_and_benchmark(tmp_path: Path) -> None:
    build = f"--build-python=x::{sys.executable}"
    r = subprocess.run([sys.executable, "-m", "bench", "run", build, "--suite", "nope",
                        "--out", str(tmp_path)], cwd=ROOT, env=_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "unknown suite(s) nope; valid: spawn, switch, channels, sync, scaling, scale" in r.stderr
    r = subprocess.run([sys.executable, "-m", "bench", "run", build, "--bench", "zzz*",
                        "--out", str(tmp_path)], cwd=ROOT, env=_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "no benchmark matches zzz*; valid:" in r.stderr
