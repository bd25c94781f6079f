"""The benchmark suite: every script runs (tiny loops), the report generator works
on JSON from a real pyperf run, and the driver rejects unknown names clearly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "bench" / "suites"
sys.path.insert(0, str(ROOT))

from bench import SUITES as SUITE_NAMES  # noqa: E402
from bench import report, runner, sampling  # noqa: E402
from tests import bench_faults  # noqa: E402

pyperf = pytest.importorskip("pyperf")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SUITES)]), **extra}


def _run_suite(suite: str, out: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A suite script in quick mode, with pyperf's (and our) options ``args``."""
    cmd = [sys.executable, str(SUITES / f"bm_{suite}.py"), "-o", str(out), "--quiet", "--quick",
           *args]
    return subprocess.run(cmd, env=_env(**env), capture_output=True, text=True, timeout=600)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("suite", SUITE_NAMES)
def test_every_benchmark_script_runs_once(suite: str, tmp_path: Path) -> None:
    out = tmp_path / f"{suite}.json"
    r = _run_suite(suite, out, "--processes=1", "--values=1", "--warmups=0", "--loops=1",
                   GORT_BUILD_LABEL="smoke-label")
    assert r.returncode == 0, r.stderr[-3000:]
    benches = pyperf.BenchmarkSuite.load(str(out)).get_benchmarks()
    names = {b.get_name() for b in benches}
    assert names, "the suite produced no benchmark"
    # What runs is what is listed: scale's names depend on --quick, which the
    # workers get from pyperf with our other options.
    assert set(runner.suite_benchmarks(suite, quick=True)) == names
    is_gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)
    for b in benches:
        md = b.get_metadata()
        assert md["gil_enabled"] == str(is_gil_enabled())  # observed in the worker
        assert md["gort_suite"] == suite
        # The build's label reaches the workers (the Runner's --inherit-environ).
        assert md["python_build_label"] == "smoke-label", b.get_name()


def test_a_suite_is_a_registry_read_without_running_it() -> None:
    """Loading a suite registers its benchmarks, in the mode asked for, and
    measures nothing: no pyperf Runner, no subprocess."""
    import common
    created = set(pyperf.Runner._created)
    full, quick = common.load("scale"), common.load("scale", quick=True)
    assert pyperf.Runner._created == created
    assert [b.name for b in quick.benchmarks] == [
        "parked[gort-async,n=500]", "parked[gort-async,n=1000]", "parked[gort,n=50]",
        "parked[asyncio,n=500]", "timers[gort,n=500]"]
    assert [b.name for b in full.benchmarks][:2] == ["parked[gort-async,n=100000]",
                                                      "parked[gort-async,n=1000000]"]
    b = quick.benchmarks[0]
    assert (b.args, b.inner_loops, b.skip) == ((500,), 500, None)
    assert b.description == "500 coroutine goroutines parked on a channel, per goroutine"
    assert quick.description == "scale: many parked goroutines at once, and many pending timers."
    # Each load is a module of its own, with that mode's constants.
    assert b.func.__globals__["N"] == 500 and full.benchmarks[0].func.__globals__["N"] == 100_000
    assert quick.runnable(["parked[gort*"]) == list(quick.benchmarks[:3])


def test_bench_list_reads_the_registries() -> None:
    r = subprocess.run([sys.executable, "-m", "bench", "list"], cwd=ROOT, env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    listed = dict(line.split(": ", 1) for line in r.stdout.splitlines()
                  if not line.startswith((" ", "--mode")))
    assert list(listed) == list(SUITE_NAMES)
    for suite, names in listed.items():
        assert runner.split_patterns(names.replace(", ", ",")) == \
            runner.suite_benchmarks(suite), suite


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two builds' worth of real pyperf results (the same interpreter twice)."""
    root = tmp_path_factory.mktemp("results")
    machine = root / "test-machine"
    machine.mkdir()
    for label in ("3.13", "3.13t"):
        r = _run_suite("sync", machine / f"{label}.json", "--processes=1", "--values=3",
                       "--warmups=0", "--loops=2", "--bench", "mutex[*],atomic_add[*]")
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
    # Under its suite's heading: the gort_suite metadata reaches the JSON.
    assert "#### sync\n" in text and "#### other" not in text
    assert " us ± " in text or " ns ± " in text
    # The ratio table pairs gort with its threading baseline on the same build.
    assert "mutex[gort] / mutex[threading]" in text
    assert "Mutex lock+unlock <= 2x threading.Lock" in text
    # The builds table compares 3.13t against 3.13 for gort's benchmarks.
    assert "time vs 3.13" in text
    # How the interpreter was built, from its sysconfig (recorded in the worker).
    import sysconfig
    args = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    optimized = "--enable-optimizations" in args and ("--with-lto" in args or "-flto" in str(
        sysconfig.get_config_var("PY_CFLAGS") or ""))
    assert ("; built with PGO + LTO" if optimized else "; built **without** ") in text


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
    assert ("unknown suite(s) nope; valid: spawn, switch, channels, select, sync, scaling, "
            "patterns, scale") in r.stderr
    r = subprocess.run([sys.executable, "-m", "bench", "run", build, "--bench", "zzz*",
                        "--out", str(tmp_path)], cwd=ROOT, env=_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert "no benchmark matches zzz*; valid:" in r.stderr


def _write_results(machine: Path, builds: dict[str, dict[str, tuple[str | None, float]]],
                   extra_md: dict[str, dict[str, object]] | None = None) -> None:
    """pyperf JSON files made directly: {build: {name: (gort_suite or None, mean s)}},
    plus metadata per benchmark name from ``extra_md``."""
    machine.mkdir(parents=True)
    for build, benches in builds.items():
        out = []
        for name, (suite, mean) in benches.items():
            md: dict[str, object] = {"name": name, "unit": "second", "loops": 1,
                                     "description": f"what {name} does",
                                     **(extra_md or {}).get(name, {})}
            if suite is not None:
                md["gort_suite"] = suite
            runs = [pyperf.Run([mean * f for f in (0.9, 1.0, 1.1)], metadata=md,
                               collect_metadata=False) for _ in range(2)]
            out.append(pyperf.Benchmark(runs))
        pyperf.BenchmarkSuite(out).dump(str(machine / f"{build}.json"))


SYNTHETIC = {
    "pingpong[gort]": ("switch", 20e-6),
    "pingpong[lock]": ("switch", 30e-6),
    "spawn[gort]": ("spawn", 15e-6),
    "spawn[threading]": ("spawn", 400e-6),
    "spawn[gort,n=10]": ("spawn", 1e-3),
    "scaling[gort,procs=1]": ("scaling", 0.2),
    "scaling[gort,procs=2]": ("scaling", 0.11),
    "mutex[gort]": ("sync", 500e-9),
    "legacy[gort]": (None, 1e-3),  # a result file from before gort_suite
}


@pytest.fixture
def synthetic_results(tmp_path: Path) -> Path:
    _write_results(tmp_path / "test-machine", {
        "3.13": SYNTHETIC,
        "3.13t": {n: (s, m * 1.5) for n, (s, m) in SYNTHETIC.items()},
    })
    return tmp_path


@pytest.mark.timeout(60)
def test_report_has_one_table_per_suite_in_order(synthetic_results: Path) -> None:
    text = report.write_report(synthetic_results).read_text()
    body = text[text.index("### All benchmarks"):]
    order = ["spawn", "switch", "sync", "scaling", "other"]
    heads = [body.index(f"\n#### {s}\n") for s in order]
    assert heads == sorted(heads), "suite sections out of order"
    assert "#### channels" not in body  # no empty sections
    bounds = [*heads, len(body)]
    for name, (suite, _) in SYNTHETIC.items():
        i = order.index(suite or "other")
        section = body[bounds[i]:bounds[i + 1]]
        assert f"| {name} " in section, f"{name} not under #### {suite or 'other'}"
        assert body.count(f"| {name} ") == 1
    # Columns are builds, cells mean ± std with units.
    spawn = body[bounds[0]:bounds[1]]
    assert "| 3.13 " in spawn and "| 3.13t " in spawn
    assert "15.0 us ± 1.3 us" in spawn and "22.5 us ± 2.0 us" in spawn  # pyperf's format
    # Deterministic: the same files give the same README.
    assert report.write_report(synthetic_results).read_text() == text


@pytest.mark.timeout(120)
def test_report_plots_with_matplotlib(synthetic_results: Path) -> None:
    pytest.importorskip("matplotlib")
    text = report.write_report(synthetic_results).read_text()
    machine = synthetic_results / "test-machine"
    for img in ("scaling.png", "pingpong_spawn.png"):
        data = (machine / img).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, img
        assert f"![{img}](test-machine/{img})" in text  # relative to results/README.md
        assert (synthetic_results / "test-machine" / img).exists()
    # Parameterised names (with a comma) are not bars.
    bars = report.bar_rows(report.load(machine))
    assert list(bars) == ["pingpong", "spawn"]
    assert sorted(bars["spawn"]) == ["spawn[gort]", "spawn[threading]"]
    assert bars["spawn"]["spawn[gort]"] == pytest.approx({"3.13": 15.0, "3.13t": 22.5})


@pytest.mark.timeout(60)
def test_report_without_matplotlib_has_tables_only(synthetic_results: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    text = report.write_report(synthetic_results).read_text()
    assert "#### spawn" in text and "| pingpong[gort] " in text
    assert "![" not in text and "### Plots" not in text
    assert not list((synthetic_results / "test-machine").glob("*.png"))


@pytest.mark.timeout(60)
def test_plots_skip_missing_data(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _write_results(tmp_path / "m", {"3.13": {"mutex[gort]": ("sync", 1e-6)}})
    text = report.write_report(tmp_path).read_text()
    assert "![" not in text
    assert not list((tmp_path / "m").glob("*.png"))


def test_small_ratios_keep_their_digits() -> None:
    assert report.fmt_ratio(1.456) == "1.46"
    assert report.fmt_ratio(0.1) == "0.10"
    assert report.fmt_ratio(0.0004321) == "0.00043"
    assert report.fmt_ratio(0.0996) == "0.10"
    assert report.fmt_ratio(0.0123) == "0.012"
    assert report.fmt_ratio(0.000043) == "0.000043"
    assert report.fmt_ratio(160.4) == "160.40"


@pytest.mark.timeout(600)
def test_two_interleaved_groups_in_one_suite(tmp_path: Path) -> None:
    """spawn has two headline groups (plain: gort/futures/threading; coroutine:
    gort-async/asyncio): both interleaved passes run (the second used to find the
    first's round files and fail), and every run is tagged with its round."""
    build = f"--build-python=x::{sys.executable}"
    r = subprocess.run([sys.executable, "-m", "bench", "run", build, "--suite", "spawn",
                        "--smoke", "--paired-rounds", "2", "--out", str(tmp_path)], cwd=ROOT,
                       env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("interleaving ") == 2 and "FAILED" not in r.stdout, r.stdout
    (machine,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    benches = {b.get_name(): b for b in pyperf.BenchmarkSuite.load(str(machine / "x.json"))
               .get_benchmarks()}
    for name in ("spawn[gort]", "spawn[futures]", "spawn[gort-async]", "spawn[asyncio]"):
        rounds = {run.get_metadata().get("gort_round") for run in benches[name].get_runs()
                  if run.values}
        assert rounds == {0, 1}, (name, rounds)


@pytest.mark.timeout(600)
def test_driver_keeps_every_benchmark_but_the_one_that_crashes(tmp_path: Path) -> None:
    build = f"--build-python=x::{sys.executable}"
    plugin = bench_faults.plant(tmp_path / "faults", crash="atomic_add[gort]")
    r = subprocess.run([sys.executable, "-m", "bench", "run", build, "--suite", "sync,spawn",
                        "--bench", "mutex[*],atomic_add[*],spawn[gort]", "--smoke",
                        "--out", str(tmp_path / "out")], cwd=ROOT,
                       env=_env(PYTHONPATH=os.pathsep.join([plugin, str(ROOT), str(SUITES)])),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    # mutex[*] ran before the crash and is kept; the rest run one at a time.
    assert "running the 2 benchmark(s) not measured one at a time" in r.stdout
    import gort
    error = f"{gort.ChanClosed.__module__}.{gort.ChanClosed.__qualname__}"  # as the traceback
    assert ("MISSING (crashed or timed out):\n  x: atomic_add[gort] (exit 1: "
            f"{error}: {bench_faults.CRASH_MESSAGE})") in r.stdout
    (machine,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    names = {b.get_name() for b in pyperf.BenchmarkSuite.load(str(machine / "x.json"))
             .get_benchmarks()}
    assert names == {"mutex[gort]", "mutex[threading]", "atomic_add[threading]", "spawn[gort]"}
    run = json.loads((machine / "run.json").read_text())
    assert [m.split(" (")[0] for m in run["missing"]] == ["x: atomic_add[gort]"]
    assert "**missing** (crashed or timed out): x: atomic_add[gort]" in \
        (tmp_path / "out" / "README.md").read_text()


def test_patterns_split_on_commas_outside_brackets() -> None:
    assert runner.split_patterns("scaling[gort,procs=2],pingpong*") == \
        ["scaling[gort,procs=2]", "pingpong*"]
    assert runner.split_patterns("a,,b") == ["a", "b"]


@pytest.mark.timeout(120)
def test_a_suite_past_its_timeout_is_killed_and_reported(tmp_path: Path) -> None:
    build = runner.BuildSpec("x", "", sys.executable)
    seen: list[str] = []
    t0 = time.monotonic()
    # Left alone, its worker would run for a minute or more.
    failure = runner._run_suite(build, "scaling", [], ["--processes=1", "--values=400"],
                                tmp_path / "out.json", False, 2, seen.append)
    assert failure == runner.Failure("x", "scaling", "timed out after 2 s")
    # Killed with its workers, not waited for (their pipe would stay open).
    assert time.monotonic() - t0 < 30
    if sys.platform == "linux" and shutil.which("ps"):  # the workers were killed too
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert str(tmp_path / "out.json") not in ps and "bm_scaling.py --worker" not in ps


@pytest.mark.timeout(300)
def test_memory_results_are_pyperf_benchmarks(tmp_path: Path) -> None:
    build = f"--build-python=x::{sys.executable}"
    # A few hundred parked tasks sometimes grow the RSS by nothing measurable (the
    # allocator reuses freed memory), and pyperf stores positive values only: such
    # a record is left out, so try a few times for one that grew.
    for attempt in range(10):
        out = tmp_path / str(attempt)
        r = subprocess.run([sys.executable, "-m", "bench", "run", build, "--suite", "scale",
                            "--bench", "parked[asyncio*", "--smoke", "--out", str(out)],
                           cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        (machine,) = [p for p in out.iterdir() if p.is_dir()]
        assert sorted(p.name for p in machine.glob("*.json")) == ["run.json", "x.json"]
        benches = {b.get_name(): b for b in
                   pyperf.BenchmarkSuite.load(str(machine / "x.json")).get_benchmarks()}
        (timed,) = [n for n in benches if n.startswith("parked[asyncio,")]
        if runner.memory_name(timed, "rss_per_task") in benches:
            break
    assert runner.memory_name(timed, "rss_per_task") in benches, r.stdout + r.stderr
    mem = benches[runner.memory_name(timed, "rss_per_task")]
    assert mem.get_unit() == "byte" and mem.get_metadata()["gort_memory_of"] == timed
    assert mem.get_metadata()["gort_suite"] == "scale"
    show = subprocess.run([sys.executable, "-m", "pyperf", "show", str(machine / "x.json")],
                          capture_output=True, text=True, timeout=60)
    assert show.returncode == 0 and "bytes" in show.stdout, show.stderr
    text = (out / "README.md").read_text()
    section = text[text.index("### Memory"):text.index("### Builds compared")]
    assert f"| x       | {timed} " in section and " bytes " in section


def test_legacy_memory_sidecar_is_folded_into_the_result_file(tmp_path: Path) -> None:
    _write_results(tmp_path / "m", {"3.13": {"parked[gort,n=10]": ("scale", 1e-6),
                                             "mutex[gort]": ("sync", 1e-6)}})
    sidecar = tmp_path / "m" / "3.13.extra.json"
    sidecar.write_text(json.dumps([{"name": "parked[gort,n=10]", "rss_per_task": 1234,
                                    "tasks": 10},
                                   {"name": "gone[gort]", "rss_per_task": 1}]))
    r = subprocess.run([sys.executable, "-m", "bench", "migrate", str(tmp_path)], cwd=ROOT,
                       env=_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert not sidecar.exists()
    benches = {b.get_name(): b for b in pyperf.BenchmarkSuite.load(
        str(tmp_path / "m" / "3.13.json")).get_benchmarks()}
    mem = benches["parked_rss_per_task[gort,n=10]"]
    assert mem.get_unit() == "byte" and mem.mean() == 1234
    assert mem.get_metadata()["gort_tasks"] == 10
    assert set(benches) == {"parked[gort,n=10]", "mutex[gort]",
                            "parked_rss_per_task[gort,n=10]"}  # no time, no memory row
    text = report.write_report(tmp_path).read_text()
    assert "3.13 | parked[gort,n=10] | 1234 bytes " in text


def test_noise_window_arithmetic() -> None:
    from bench import noise
    others0 = {(10, 1.0): ("spinner", 5.0), (11, 2.0): ("idle", 1.0)}
    others1 = {(10, 1.0): ("spinner", 6.0), (11, 2.0): ("idle", 1.0), (12, 3.0): ("new", 0.5)}
    a = noise.Snapshot(wall=100.0, busy=50.0, steal=1.0, own=20.0, others=others0, load1=1.0)
    # 1 s on 2 CPUs: 1.9 CPU-s busy, 0.7 of them ours, 0.1 stolen.
    b = noise.Snapshot(wall=101.0, busy=51.9, steal=1.1, own=20.7, others=others1, load1=3.0)
    w = noise.window(a, b, cpus=2)
    assert w.foreign_cpu == pytest.approx(0.6) and w.steal == pytest.approx(0.05)
    assert w.load1 == 3.0 and w.top == (("spinner", 10, pytest.approx(1.0)),)
    reasons = noise.disturbance(w, (0.010, 0.0105), best=0.010)
    assert reasons == ["busy machine: other processes used 60% of the CPUs "
                       "(spinner (pid 10) 100% of a CPU)",
                       "hypervisor stole 5% of the CPU time"]
    quiet = noise.Snapshot(101.0, 50.2, 1.0, 20.15, others0, 0.5)
    assert noise.disturbance(noise.window(a, quiet, cpus=2), (0.01, 0.0125), 0.01) == [
        "CPU slower: the calibration loop took 1.25× its best time in this run"]
    md = noise.metadata(noise.window(a, quiet, cpus=2), (0.01, 0.0101), 0.01)
    assert "gort_disturbed" not in md and md["gort_noise_foreign_cpu"] == 0.025


def test_a_benchmark_measured_in_several_runs_is_as_disturbed_as_its_worst() -> None:
    """Interleaved rounds and sampling's batches mark a benchmark once per run: its
    window is the busiest of them, not the last (a quiet top-up must not hide a
    busy first run)."""
    from bench import noise

    def snap(wall: float, busy: float) -> noise.Snapshot:
        return noise.Snapshot(wall=wall, busy=busy, steal=0.0, own=0.0, others={}, load1=0.0)

    m = noise.Monitor()
    m.first = snap(100.0, 0.0)
    m.marks = [("a", snap(101.0, 1.0)), ("b", snap(102.0, 1.0)), ("a", snap(103.0, 1.1)),
               ("c", snap(103.1, 1.2))]
    m.last = snap(104.0, 2.0)
    # The first run of a (1 CPU-s of others' work in 1 s), not its last (0.1 CPU-s).
    assert m.window_of("a") == noise.window(m.first, m.marks[0][1])
    assert m.window_of("b").foreign_cpu == 0.0
    assert m.window_of("c") == m.suite_window()  # its own is too short to say anything


def test_disturbed_values_get_a_warning_and_no_verdict(tmp_path: Path) -> None:
    busy = "busy machine: other processes used 60% of the CPUs"
    _write_results(tmp_path / "m", {
        "3.13": {"pingpong[gort]": ("switch", 20e-6), "pingpong[lock]": ("switch", 30e-6),
                 "mutex[gort]": ("sync", 1e-6), "mutex[threading]": ("sync", 1e-6),
                 "scaling[gort,procs=1]": ("scaling", 0.2),
                 "scaling[gort,procs=2]": ("scaling", 0.1)},
    }, extra_md={"pingpong[lock]": {"gort_disturbed": busy},
                 **{f"scaling[gort,procs={p}]": {"gil_enabled": "True"} for p in (1, 2)}})
    text = report.write_report(tmp_path).read_text()
    targets = text[text.index("### Performance targets"):text.index("### gort against")]
    row = next(line for line in targets.splitlines() if line.startswith("| ping-pong <= 1.3x"))
    assert f"⚠ 0.67× [0.67, 0.67] (no verdict: {busy})" in row
    assert "✅" not in row and "❌" not in row
    row = next(line for line in targets.splitlines() if "2 procs >= 1.8x" in line
               and "coroutines" not in line)
    assert "⚠ 2.00× [2.00, 2.00] (no verdict: 2.00× speedup with the GIL enabled is " \
        "impossible" in row
    row = next(line for line in targets.splitlines() if line.startswith("| Mutex"))
    assert "1.00× [1.00, 1.00] ✅" in row  # undisturbed: a verdict
    assert "| ⚠ 0.67× [0.67, 0.67]" in text  # the ratio table
    assert f"- ⚠ `3.13`: {busy}: pingpong[lock]" in text
    # pyperf check's rule: values of 0.9, 1.0, 1.1 x the mean are not unstable.
    assert "unstable: ±" not in text[text.index("### All benchmarks"):]
    scaling = text[text.index("### Scaling"):text.index("### Memory")]
    assert "⚠ 2.00×" in scaling and "impossible" in scaling


@pytest.mark.timeout(180)
def test_planted_foreign_load_marks_the_suite_and_strict_fails_it(tmp_path: Path) -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # spinning before the suite starts
        build = f"--build-python=x::{sys.executable}"
        cmd = [sys.executable, "-m", "bench", "run", build, "--suite", "sync",
               "--bench", "atomic_add[gort]"]  # the default profile: a window of seconds
        # Full-size work (not --smoke's quick mode): the suite's window must be
        # long enough (noise.MIN_WINDOW) for the driver to judge it at all.
        r = subprocess.run([*cmd, "--out", str(tmp_path / "a")], cwd=ROOT, env=_env(),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "THE MACHINE WAS BUSY during 1 of 1 suite run(s)" in r.stdout
        (machine,) = [p for p in (tmp_path / "a").iterdir() if p.is_dir()]
        (b,) = pyperf.BenchmarkSuite.load(str(machine / "x.json")).get_benchmarks()
        md = b.get_metadata()
        assert "busy machine: other processes used " in md["gort_disturbed"], md
        assert md["gort_noise_foreign_cpu"] > 0.1 and "gort_noise_load_avg" in md
        text = (tmp_path / "a" / "README.md").read_text()
        assert "⚠ **the machine was busy or throttled** during x: sync" in text
        (row,) = [line for line in text.splitlines() if line.startswith("| atomic_add[gort] ")]
        assert " ⚠ |" in row or " ⚠ (unstable: " in row, row  # marked (and maybe unstable)

        r = subprocess.run([*cmd, "--strict", "--out", str(tmp_path / "b")], cwd=ROOT,
                           env=_env(), capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 1, r.stdout + r.stderr
        missing = r.stdout[r.stdout.index("MISSING"):]
        assert missing.startswith("MISSING (crashed or timed out):\n  x: sync (disturbed, "
                                  "--strict: "), r.stdout
        assert "busy machine: other processes used " in missing
        (machine,) = [p for p in (tmp_path / "b").iterdir() if p.is_dir()]
        assert not (machine / "x.json").exists()
    finally:
        spinner.kill()
        spinner.wait(timeout=10)


def _bench_of(name: str, rounds: list[list[float]], paired: bool) -> object:
    """A pyperf benchmark with one run per element of ``rounds`` (its values),
    tagged ``gort_round`` when ``paired``."""
    runs = []
    for i, values in enumerate(rounds):
        md: dict[str, object] = {"name": name, "unit": "second", "loops": 1}
        if paired:
            md["gort_round"] = i
        runs.append(pyperf.Run(values, metadata=md, collect_metadata=False))
    return pyperf.Benchmark(runs)


def test_paired_rounds_cancel_drift_that_unpaired_intervals_cannot() -> None:
    from bench import stats
    # The machine drifts 3x slower over the rounds; gort is 0.5x its baseline in
    # every round.  Paired, the interval is exactly 0.5; unpaired, it is wide.
    drift = [1.0, 1.5, 2.0, 2.5, 3.0]
    a = [[0.5 * d, 0.5 * d] for d in drift]
    b = [[1.0 * d, 1.0 * d] for d in drift]
    paired = stats.ratio_interval(_bench_of("x[gort]", a, True), _bench_of("x[t]", b, True))
    assert paired.paired and paired.pairs == 5
    assert (paired.ratio, paired.lo, paired.hi) == pytest.approx((0.5, 0.5, 0.5))
    loose = stats.ratio_interval(_bench_of("x[gort]", a, False), _bench_of("x[t]", b, False))
    assert not loose.paired and loose.ratio == pytest.approx(0.5)
    assert loose.lo < 0.4 and loose.hi > 0.6  # type: ignore[operator]
    # Deterministic: the same data, the same interval.
    again = stats.ratio_interval(_bench_of("x[gort]", a, False), _bench_of("x[t]", b, False))
    assert again == loose
    one = stats.ratio_interval(_bench_of("x[gort]", a[:1], False), _bench_of("x[t]", b, False))
    assert not one.known and one.ratio == pytest.approx(0.5 / 2.0)


def test_a_target_is_met_only_when_its_whole_interval_is(tmp_path: Path) -> None:
    t = report.TARGETS[2]  # ping-pong <= 1.3x two-Lock hand-off
    from bench.stats import Interval
    assert report.target_verdict(t, Interval(1.2, 1.1, 1.29, True, 5)) == "✅"
    assert report.target_verdict(t, Interval(1.2, 1.1, 1.35, True, 5)) == "❔"
    assert report.target_verdict(t, Interval(1.5, 1.31, 1.6, True, 5)) == "❌"
    assert report.target_verdict(t, Interval(1.2, None, None, False, 1)).startswith("❔")
    thr = next(t for t in report.TARGETS if t.limit == 1.8)  # a speedup: higher is better
    assert report.target_verdict(thr, Interval(2.0, 1.85, 2.2, True, 5)) == "✅"
    assert report.target_verdict(thr, Interval(2.0, 1.7, 2.2, True, 5)) == "❔"


def test_unstable_values_are_marked(tmp_path: Path) -> None:
    machine = tmp_path / "m"
    machine.mkdir()
    md = {"name": "mutex[gort]", "unit": "second", "loops": 1, "gort_suite": "sync"}
    runs = [pyperf.Run([v], metadata=md, collect_metadata=False) for v in (1.0, 1.5, 0.6, 1.2)]
    pyperf.BenchmarkSuite([pyperf.Benchmark(runs)]).dump(str(machine / "3.13.json"))
    text = report.write_report(tmp_path).read_text()
    assert "(unstable: ±35%)" in text


def test_latency_records_become_benchmarks_in_their_units() -> None:
    md = {"name": "echo[gort]", "unit": "second", "loops": 4, "gort_suite": "io",
          "description": "echo"}
    timed = {"echo[gort]": pyperf.Benchmark([pyperf.Run([1e-4], metadata=md,
                                                          collect_metadata=False)])}
    records = [{"name": "echo[gort]", "latency_p50": 1e-4, "latency_p99": 5e-4,
                "requests_per_s": 9000.5, "requests": 1000, "connections": 10},
               {"name": "echo[gort]", "latency_p50": 2e-4, "latency_p99": 6e-4,
                "requests_per_s": 8000.0, "requests": 1000, "connections": 10},
               {"name": "not-kept[gort]", "latency_p50": 1.0}]
    out = {b.get_name(): b for b in runner.memory_benchmarks(records, timed)}
    assert set(out) == {"echo_latency_p50[gort]", "echo_latency_p99[gort]",
                        "echo_requests_per_s[gort]"}
    p50 = out["echo_latency_p50[gort]"]
    assert p50.get_unit() == "second" and list(p50.get_values()) == [1e-4, 2e-4]
    assert out["echo_requests_per_s[gort]"].get_unit() == "integer"
    md50 = p50.get_metadata()
    assert md50["gort_connections"] == 10 and md50["gort_suite"] == "io"
    assert md50["description"] == "median request latency: echo" and "loops" not in md50
    p99 = out["echo_latency_p99[gort]"]
    assert p99.get_unit() == "second" and list(p99.get_values()) == [5e-4, 6e-4]
    assert p99.get_metadata()["description"] == "99th percentile request latency: echo"
    rps = out["echo_requests_per_s[gort]"].get_metadata()
    assert rps["description"] == "requests per second: echo"
    assert rps["gort_extra_key"] == "requests_per_s" and rps["gort_memory_of"] == "echo[gort]"


@pytest.mark.timeout(60)
def test_folded_latencies_keep_their_units_in_the_file(tmp_path: Path) -> None:
    """Through the file, as the driver folds them: seconds stay seconds (pyperf
    show prints them as times), and a description says what the value is, not
    what its time benchmark measured ("; time per request")."""
    machine = tmp_path / "m"
    _write_results(machine, {"3.13t": {"echo_c100[gort]": ("io", 1e-4)}}, extra_md={
        "echo_c100[gort]": {"description": "TCP echo, 100 connections; time per request"}})
    records = tmp_path / "extra.jsonl"
    records.write_text("".join(json.dumps({"name": "echo_c100[gort]", "latency_p50": p,
                                           "latency_p99": 4 * p, "requests_per_s": 1 / p,
                                           "connections": 100}) + "\n" for p in (1e-4, 2e-4)))
    runner.fold_memory(machine / "3.13t.json", records)
    benches = {b.get_name(): b for b in
               pyperf.BenchmarkSuite.load(str(machine / "3.13t.json")).get_benchmarks()}
    assert {n: b.get_unit() for n, b in benches.items()} == {
        "echo_c100[gort]": "second", "echo_c100_latency_p50[gort]": "second",
        "echo_c100_latency_p99[gort]": "second", "echo_c100_requests_per_s[gort]": "integer"}
    assert benches["echo_c100_latency_p99[gort]"].get_metadata()["description"] == \
        "99th percentile request latency: TCP echo, 100 connections"
    show = subprocess.run([sys.executable, "-m", "pyperf", "show", "--quiet",
                           str(machine / "3.13t.json")],
                          capture_output=True, text=True, timeout=50)
    assert show.returncode == 0, show.stderr
    assert "echo_c100_latency_p99[gort]: Mean +- std dev: 600 us +- 283 us" in show.stdout


def test_io_has_profiles_of_its_own() -> None:
    io, smoke = runner.SUITE_PROFILES["io"], runner.PROFILES["smoke"]
    assert runner.suite_settings("io", "default") == io["default"] == [
        "--processes=1", "--values=3", "--warmups=1", "--loops=1"]
    assert runner.suite_settings("io", "rigorous") == io["rigorous"] == [
        "--processes=3", "--values=5", "--warmups=1", "--loops=1"]
    assert runner.suite_settings("io", "smoke") == smoke
    for profile in ("smoke", "default", "rigorous"):
        assert runner.suite_settings("sync", profile) == runner.PROFILES[profile]
        assert runner.suite_settings("scale", profile) == runner.SINGLE_SHOT["scale"]
        assert runner.paired_settings("sync", profile) == (runner.PAIRED_ROUNDS[profile],
                                                           runner.PAIRED_ROUND[profile])
    assert runner.paired_settings("io", "default") == (3, runner.SUITE_PAIRED_ROUND["io"][
        "default"])
    assert runner.paired_settings("io", "smoke") == (0, runner.PAIRED_ROUND["smoke"])


IO_NAMES = ["echo_c100[gort-async]", "echo_c100[asyncio]", "echo_work_c100[gort-async]",
            "echo_work_c100[asyncio]", "sleep_fanout[gort]"]


def _fake_driver(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str], list[str]]]:
    """The driver with a fake suite (IO_NAMES, each a tiny pyperf result): returns
    the list that collects (suite, patterns, pyperf settings) of every suite run."""
    monkeypatch.setattr(runner, "suite_benchmarks", lambda suite, quick=False: IO_NAMES)
    calls: list[tuple[str, list[str], list[str]]] = []

    def run_suite(build: object, suite: str, patterns: list[str], settings: list[str],
                  out: Path, quick: bool, timeout: int, show: object = None) -> None:
        calls.append((suite, list(patterns), list(settings)))
        names = [n for n in IO_NAMES if not patterns
                 or any(runner.name_matches(n, p) for p in patterns)]
        pyperf.BenchmarkSuite([pyperf.Benchmark([pyperf.Run(
            [1e-5, 1.1e-5], metadata={"name": n, "unit": "second", "loops": 1,
                                      "gort_suite": suite}, collect_metadata=False)])
            for n in names]).dump(str(out), replace=True)

    monkeypatch.setattr(runner, "_run_suite", run_suite)
    return calls


@pytest.mark.timeout(60)
@pytest.mark.parametrize("profile", ["default", "smoke"])
def test_the_driver_runs_io_with_its_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             profile: str) -> None:
    calls = _fake_driver(monkeypatch)
    build = runner.BuildSpec("x", "", sys.executable)
    assert runner.run([build], ["io"], [], profile, tmp_path, "pytest",
                      quick=profile == "smoke") == 0
    *paired, (suite, patterns, settings) = calls
    assert suite == "io" and settings == runner.suite_settings("io", profile)
    if profile == "smoke":  # no interleaved pass
        assert paired == [] and patterns == []
        return
    # The echo+work c100 target's two sides, 3 rounds in alternating order, each
    # with io's round settings (the loops fixed after the first round).
    rounds, round_settings = runner.paired_settings("io", "default")
    sides = ["echo_work_c100[gort-async]", "echo_work_c100[asyncio]"]
    assert [p for _, (p,), _ in paired] == [*sides, *sides[::-1], *sides][:2 * rounds]
    assert all(s[:len(round_settings)] == round_settings for _, _, s in paired)
    assert sorted(patterns) == sorted(n for n in IO_NAMES if n not in sides)



@pytest.mark.timeout(60)
def test_a_suite_without_headline_comparisons_still_runs(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """No --bench and nothing to interleave: the whole suite runs (once, it ran
    nothing and called that a success)."""
    calls = _fake_driver(monkeypatch)
    monkeypatch.setattr(runner, "suite_benchmarks", lambda suite, quick=False: IO_NAMES[:2])
    build = runner.BuildSpec("x", "", sys.executable)
    assert runner.run([build], ["io"], [], "default", tmp_path, "pytest") == 0
    assert calls == [("io", [], runner.suite_settings("io", "default"))]
    (machine,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(pyperf.BenchmarkSuite.load(str(machine / "x.json")).get_benchmarks()) == 5


def _io_results(root: Path) -> Path:
    """Synthetic io results of two builds, latency records folded in as the
    driver does: echo+work c100 gort-async at 2x asyncio's requests/s (a met
    target), c1000 at 1.2x (a missed one); a fan-out without records."""
    means = {"echo_work_c100[gort-async]": 50e-6, "echo_work_c100[asyncio]": 100e-6,
             "echo_work_c1000[gort-async]": 100e-6, "echo_work_c1000[asyncio]": 120e-6,
             "sleep_fanout[gort]": 0.02}
    machine = root / "m"
    _write_results(machine, {b: {n: ("io", m * f) for n, m in means.items()}
                             for b, f in (("3.13", 1.0), ("3.13t", 0.5))})
    for b, f in (("3.13", 1.0), ("3.13t", 0.5)):
        records = root / f"{b}.jsonl"
        records.write_text("".join(
            json.dumps({"name": n, "latency_p50": 4 * m * f * k, "latency_p99": 20 * m * f * k,
                        "requests_per_s": 1 / (m * f),
                        "connections": 100 if "c100[" in n else 1000}) + "\n"
            for n, m in means.items() if n.startswith("echo") for k in (0.5, 1.5)))
        runner.fold_memory(machine / f"{b}.json", records)
    return machine


@pytest.mark.timeout(60)
def test_io_table_and_targets(tmp_path: Path) -> None:
    _io_results(tmp_path)
    text = report.write_report(tmp_path).read_text()
    section = text[text.index("### I/O"):text.index("### Builds compared")]
    rows = {tuple(c.strip() for c in line.strip("|").split("|"))[:2]:
            [c.strip() for c in line.strip("|").split("|")][2:]
            for line in section.splitlines() if line.startswith("| echo")}
    # One row per request benchmark and build; the fan-out is a wall time, not here.
    assert len(rows) == 8 and "sleep_fanout" not in section
    # 1 / 25 µs per request; p50 = mean of 50 and 150 µs; p99 = 5x that.
    assert rows["echo_work_c100[gort-async]", "3.13t"] == ["40,000", "100 us", "500 us", "100"]
    assert rows["echo_work_c1000[asyncio]", "3.13"] == ["8,333", "480 us", "2.40 ms", "1000"]
    targets = text[text.index("### Performance targets"):text.index("### gort against")]
    c100 = next(r for r in targets.splitlines()
                if r.startswith("| echo+work c100: gort-async >= 1.5x asyncio req/s"))
    assert c100.count("2.00× [2.00, 2.00] ✅") == 2  # both builds
    c1000 = next(r for r in targets.splitlines() if r.startswith("| echo+work c1000:"))
    assert c1000.count("1.20× [1.20, 1.20] ❌") == 2
    # Throughput is compared as times (lower is better) and never as requests/s.
    ratios = text[text.index("### gort against"):text.index("### Scaling")]
    assert "echo_work_c100[gort-async] / echo_work_c100[asyncio]" in ratios
    assert "requests_per_s" not in ratios
    assert "#### io" in text and "| echo_work_c100_latency_p99[asyncio] " in text


def test_io_targets_need_the_whole_interval() -> None:
    from bench.stats import Interval
    t = next(t for t in report.TARGETS if t.gort == "echo_work_c100[gort-async]")
    assert (t.baseline, t.limit, t.lower_is_better) == ("echo_work_c100[asyncio]", 1.5, False)
    assert report.target_verdict(t, Interval(1.7, 1.55, 1.9, True, 3)) == "✅"
    assert report.target_verdict(t, Interval(1.7, 1.45, 1.9, True, 3)) == "❔"
    assert report.target_verdict(t, Interval(1.3, 1.2, 1.45, True, 3)) == "❌"
    # Interleaved by the driver like every target: its two sides form a group.
    assert runner.paired_groups(["echo_work_c1000[asyncio]", "echo_work_c1000[gort-async]",
                                 "echo_c100[gort]"]) == [["echo_work_c1000[gort-async]",
                                                          "echo_work_c1000[asyncio]"]]


def _bench_runs(name: str, runs: list[list[float]], loops: int = 1000) -> Any:
    md = {"name": name, "unit": "second", "loops": loops}
    return pyperf.Benchmark([pyperf.Run(v, metadata=md, collect_metadata=False) for v in runs])


def _alternating(mean: float, cv: float, processes: int, values: int = 3,
                 within: float = 0.001) -> list[list[float]]:
    """Values of ``processes`` processes whose means alternate mean x (1 ± cv),
    each process's values within ±``within`` of its mean: a between-process
    coefficient of variation of ~cv, known exactly."""
    out = []
    for i in range(processes):
        m = mean * (1 + cv * (-1) ** i)
        out.append([m * (1 + within * ((j % 3) - 1)) for j in range(values)])
    return out


def test_check_says_what_pyperf_check_says() -> None:
    """bench/sampling.py repeats pyperf's rules: cross-checked against pyperf's own
    ``format_checks`` and ``required_nprocesses`` on synthetic benchmarks."""
    from pyperf._cli import format_checks  # pyperf's own check, to compare with
    cases = {
        "stable": (_alternating(1e-4, 0.002, 2), 1000),
        "needs processes": (_alternating(1e-4, 0.02, 2), 1000),
        "enough processes": (_alternating(1e-4, 0.005, 8), 1000),
        "spread": ([[1.0, 1.3, 0.7], [1.2, 0.8, 1.0]], 1),
        "outlier": ([[1.0, 1.0, 1.0]] * 26 + [[1.0, 1.0, 1.6]], 1),
        "short raw values": (_alternating(1e-6, 0.001, 2), 10),
        "one process": ([[1.0, 1.02, 0.98]], 1),
    }
    verdicts = {}
    for case, (runs, loops) in cases.items():
        b = _bench_runs(case, runs, loops)
        ours = sampling.check_benchmark(b)
        assert ours.passed == (not format_checks(b)), (case, ours, format_checks(b))
        assert ours.required == (None if ours.spread >= 0.1 else b.required_nprocesses()), case
        verdicts[case] = ours.brief()
    assert verdicts == {
        "stable": "", "needs processes": "needs 123 processes, has 2",
        "enough processes": "", "spread": "±23%", "outlier": "max +59% from the mean",
        "short raw values": "a raw value of 9.98 us (< 1 ms)", "one process": ""}
    assert sampling.required_processes([1.0]) is None
    assert sampling.required_processes([1.0, 1.0]) == 0


class _Synthetic:
    """``measure`` for sampling.allocate: each benchmark's processes alternate
    around its mean by its cv, and cost its seconds per process."""

    def __init__(self, benches: dict[str, tuple[float, float]]) -> None:
        self.benches = benches  # name: (cv between processes, seconds per process)
        self.calls: list[tuple[str, int]] = []
        self.done: dict[str, int] = {}

    def first(self, minimum: int = 2) -> dict[str, sampling.Progress]:
        out = {}
        for name, (cv, cost) in self.benches.items():
            out[name] = sampling.Progress(_alternating(1e-4, cv, minimum), cost * minimum, 0.1)
            self.done[name] = minimum
        return out

    def __call__(self, name: str, k: int) -> tuple[list[list[float]], float, float | None]:
        self.calls.append((name, k))
        cv, cost = self.benches[name]
        start = self.done[name]
        self.done[name] += k
        runs = _alternating(1e-4, cv, start + k)[start:]
        return runs, cost * k, 0.1


def test_sampling_stops_the_stable_at_the_minimum_and_the_spread_at_once() -> None:
    measure = _Synthetic({"steady": (0.002, 0.5), "wild": (0.0, 0.5)})
    progress = measure.first()
    progress["wild"].runs = [[1.0, 1.4, 0.8], [0.9, 1.2, 0.7]]
    spent = sampling.allocate(progress, 100.0, measure)
    assert spent == 0.0 and measure.calls == []
    assert progress["steady"].ended == sampling.PASSED
    assert progress["wild"].ended == sampling.UNSTABLE
    assert sampling.metadata(progress["wild"]) == {
        "gort_sampling": "unstable", "gort_sampling_processes": 2, "gort_sampling_why": "±26%"}
    assert sampling.metadata(progress["steady"]) == {
        "gort_sampling": "passed", "gort_sampling_processes": 2, "gort_sampling_required": 2}


def test_sampling_buys_processes_cheapest_first_within_the_budget() -> None:
    """cv 1%: 18 processes pass (two estimate 31, ten 18); cv 3% needs ~140,
    past the limit of 40: hopeless at once.  With budget for one of the two 1% benchmarks,
    the cheaper is bought, in batches of at most 8, and the other ends over budget."""
    measure = _Synthetic({"cheap": (0.01, 0.5), "dear": (0.01, 1.0), "hopeless": (0.03, 0.1)})
    progress = measure.first()
    spent = sampling.allocate(progress, 16.0, measure)
    ended = {n: (p.ended, p.processes) for n, p in progress.items()}
    assert ended == {"cheap": (sampling.PASSED, 18), "dear": (sampling.OVER_BUDGET, 2),
                     "hopeless": (sampling.HOPELESS, 2)}
    assert measure.calls == [("cheap", 8), ("cheap", 8)]  # re-estimated after each batch
    assert spent == pytest.approx(8.0)
    # With enough budget both pass; the cheap one is served first.
    measure = _Synthetic({"cheap": (0.01, 0.5), "dear": (0.01, 1.0)})
    progress = measure.first()
    sampling.allocate(progress, 100.0, measure)
    assert [n for n, _ in measure.calls] == ["cheap", "cheap", "dear", "dear"]
    assert all(p.ended == sampling.PASSED for p in progress.values())
    # No budget: everything that needs more processes is marked, nothing is run.
    measure = _Synthetic({"a": (0.01, 0.5), "b": (0.002, 0.5)})
    progress = measure.first()
    assert sampling.allocate(progress, 0.0, measure) == 0.0
    assert [p.ended for p in progress.values()] == [
        sampling.OVER_BUDGET, sampling.PASSED]
    # A batch that fails ends the benchmark with its values kept.
    progress = _Synthetic({"a": (0.01, 0.5)}).first()
    sampling.allocate(progress, 100.0, lambda name, k: "exit 1: boom")
    assert (progress["a"].ended, progress["a"].why) == (
        sampling.FIXED, "exit 1: boom")


def test_budgets_per_profile_and_suite() -> None:
    assert runner.sampling_budget("sync", "default") == runner.SAMPLING_BUDGET["default"]
    assert runner.sampling_budget("sync", "smoke") is None
    assert runner.sampling_budget("scale", "default") is None
    assert runner.sampling_budget("io", "default") == 0.0
    assert runner.process_count(runner.PROFILES["default"]) == 2
    assert runner.process_count(["--rigorous"]) == 40
    assert runner.top_up_settings(runner.PROFILES["default"], 3, 128) == [
        "--values=3", "--warmups=1", "--processes=3", "--loops=128"]
    assert runner.top_up_settings(["--rigorous"], 5, 7) == ["--processes=5", "--loops=7"]
    build = runner.BuildSpec("x", "", sys.executable)
    (job,) = runner.plan([build], ["sync"], ["mutex[*]", "waitgroup*"], "default", paired_rounds=4)
    # The interleaved mutex pair is not sampled; the rest's budget is per benchmark.
    waitgroups = len([n for n in runner.suite_benchmarks("sync") if n.startswith("waitgroup")])
    assert job.budget == pytest.approx(runner.SAMPLING_BUDGET["default"] * waitgroups)
    # --sampling-budget sets it, even for a smoke run; never for a single-shot suite.
    sync, scale = runner.plan([build], ["sync", "scale"], [], "smoke", sampling_seconds=2.0)
    assert sync.budget == pytest.approx(2.0 * len(runner.suite_benchmarks("sync")))
    assert scale.budget is None


@pytest.mark.timeout(600)
def test_adaptive_sampling_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A real default-profile run of two quick benchmarks, with a stop rule that
    asks for 4 processes (whatever the machine's noise): each gets a top-up batch
    of 2 at its calibrated loops, its file holds all 4 processes and says how
    sampling ended, and the summary and run.json count what passes."""
    monkeypatch.setattr(sampling, "SPREAD_LIMIT", 100.0)  # a busy machine's spread is no
    monkeypatch.setattr(sampling, "OUTLIER_LIMIT", 100.0)  # concern of this test
    monkeypatch.setattr(sampling, "required_processes",
                        lambda means: None if len(means) < 2 else 4 if len(means) < 4 else 1)
    build = runner.BuildSpec("x", "", sys.executable)
    assert runner.run([build], ["sync"], ["mutex[*]"], "default", tmp_path, "pytest",
                      quick=True, paired_rounds=0, sampling_seconds=60.0) == 0
    out = capsys.readouterr().out
    assert "adaptive sampling: " in out and "2 passed" in out, out
    assert "x: 2 of 2 benchmarks stable (100%)" in out, out
    (machine,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    for b in pyperf.BenchmarkSuite.load(str(machine / "x.json")).get_benchmarks():
        md = b.get_metadata()
        assert (md["gort_sampling"], md["gort_sampling_processes"]) == ("passed", 4), md
        runs = [r for r in b.get_runs() if r.values]
        assert len(runs) == 4
        assert len({r.get_metadata()["loops"] for r in runs}) == 1  # fixed across batches
    run = json.loads((machine / "run.json").read_text())
    assert run["stability"] == {"x": {"stable": 2, "benchmarks": 2, "unstable": {}}}
    assert "2 of 2 benchmarks stable (100%, pyperf check)" in (tmp_path / "README.md").read_text()


def test_the_summary_counts_what_passes_and_says_how_the_rest_ended(tmp_path: Path) -> None:
    def bench(name: str, runs: list[list[float]], **md: object) -> Any:
        meta = {"name": name, "unit": "second", "loops": 1000, **md}
        return pyperf.Benchmark([pyperf.Run(v, metadata=meta, collect_metadata=False)
                                 for v in runs])

    path = tmp_path / "x.json"
    pyperf.BenchmarkSuite([
        bench("steady[gort]", _alternating(1e-4, 0.001, 2), gort_sampling="passed"),
        bench("drift[gort]", _alternating(1e-4, 0.02, 2), gort_sampling="over budget"),
        bench("pair[gort]", _alternating(1e-4, 0.05, 4), gort_sampling="fixed",
              gort_sampling_why="interleaved in 4 rounds"),
        bench("old[gort]", _alternating(1e-4, 0.05, 2)),  # from before gort_sampling
        bench("rss[gort]", [[1.0], [3.0]], gort_memory_of="steady[gort]"),  # not a time
    ]).dump(str(path))
    counts = runner.stability([path])
    assert counts == (1, 4, {"over budget": 1, "interleaved in 4 rounds (not sampled)": 1,
                             "an older run (not sampled)": 1})
    assert runner.stability_line("x", *counts) == (
        "x: 1 of 4 benchmarks stable (25%); 3 unstable (sampling ended: 1 an older run "
        "(not sampled), 1 interleaved in 4 rounds (not sampled), 1 over budget)")
