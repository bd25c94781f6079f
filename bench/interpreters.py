"""Discover and provision the interpreter builds that gort is tested and measured on.

A *build* is an interpreter binary plus a GIL setting:

    3.13        standard CPython 3.13
    3.13t       free-threaded CPython 3.13, GIL off (PYTHON_GIL=0)
    3.13t+gil   the same free-threaded binary with PYTHON_GIL=1
    3.14, 3.14t, 3.14t+gil   likewise, wherever such interpreters exist

Interpreters are looked for on PATH, in pyenv's versions folder, among uv-managed
Pythons, and in gort's own cache of built interpreters (``~/.cache/gort/pythons``,
or ``$GORT_CACHE/pythons``).  When no free-threaded 3.13 exists, ``provision()``
obtains one: ``uv python install 3.13t`` where uv and the network allow, otherwise
a build from the CPython release tarball (fetched through Debian's source
packages when there is no direct internet), verified against its published
SHA-256 before anything is compiled.  A standard 3.13 is built from the same
tarball, so that the 3.13 vs 3.13t comparison is apples to apples.

This module is imported by ``noxfile.py`` (running on whatever Python nox runs on,
3.11 included), so it uses the standard library only.  It is also a script:

    python bench/interpreters.py list          # the builds found on this machine
    python bench/interpreters.py provision     # make sure 3.13 and 3.13t exist
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

CPYTHON_VERSION = "3.13.5"
# sha256 of upstream Python-3.13.5.tar.xz; Debian's python3.13_3.13.5.orig.tar.xz is
# byte-identical.
CPYTHON_SHA256 = "93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640"
DEBIAN_SOURCE_PACKAGE = "python3.13"
DEBIAN_SOURCE_SUITE = "trixie"

# What a build of CPython needs from Debian beyond a C compiler.
BUILD_DEPS = ("libssl-dev", "zlib1g-dev", "libffi-dev", "libbz2-dev", "liblzma-dev",
              "libsqlite3-dev", "libreadline-dev", "uuid-dev", "libncurses-dev")

_PROBE = (
    "import json, sys, sysconfig, platform;"
    "g = getattr(sys, '_is_gil_enabled', None);"
    "print(json.dumps({'version': platform.python_version(),"
    " 'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED')),"
    " 'gil_enabled': g() if g else True,"
    " 'executable': sys.executable,"
    " 'optimized': all(f in (sysconfig.get_config_var('CONFIG_ARGS') or '')"
    " for f in ('--enable-optimizations', '--with-lto')),"
    " 'implementation': sys.implementation.name}))"
)


class ProvisionError(RuntimeError):
    """Raised when an interpreter cannot be found or built; the message says why."""


@dataclasses.dataclass(frozen=True)
class Interpreter:
    """One interpreter binary, as it describes itself."""

    path: str
    version: str  # e.g. "3.13.5"
    free_threaded: bool  # built with --disable-gil
    source: str  # where it was found: path, pyenv, uv, cache
    optimized: bool = False  # built with PGO and LTO (--enable-optimizations --with-lto)

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


@dataclasses.dataclass(frozen=True)
class Build:
    """An interpreter plus the GIL setting it runs with: one column of the matrix."""

    label: str  # "3.13", "3.13t", "3.13t+gil", ...
    interpreter: Interpreter
    env: dict[str, str]  # extra environment (PYTHON_GIL) for every process of this build

    @property
    def python(self) -> str:
        return self.interpreter.path

    @property
    def gil_expected(self) -> bool:
        return not self.interpreter.free_threaded or self.env.get("PYTHON_GIL") == "1"

    def describe(self) -> str:
        kind = "free-threaded" if self.interpreter.free_threaded else "standard"
        gil = "GIL on" if self.gil_expected else "GIL off"
        opt = ", PGO+LTO" if self.interpreter.optimized else ""
        return (f"{self.label:<10} {self.interpreter.version:<8} {kind}{opt}, {gil}: "
                f"{self.python}")


def cache_dir() -> Path:
    root = os.environ.get("GORT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gort")
    return Path(root)


def pythons_dir() -> Path:
    return cache_dir() / "pythons"


# --------------------------------------------------------------------------- discovery

def probe(path: str, source: str = "path", env: dict[str, str] | None = None) -> Interpreter | None:
    """Ask an interpreter to describe itself; None if it cannot run."""
    try:
        out = subprocess.run([path, "-I", "-c", _PROBE], capture_output=True, text=True,
                             timeout=30, env={**os.environ, **(env or {})}, check=True).stdout
        info = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if info["implementation"] != "cpython":
        return None
    return Interpreter(path=os.path.realpath(path), version=info["version"],
                       free_threaded=info["free_threaded"], source=source,
                       optimized=bool(info.get("optimized")))


def _candidates() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    # Our own cache first: on a tie it is the preferred (apples-to-apples) pair.
    for p in sorted(glob.glob(str(pythons_dir() / "*" / "bin" / "python3.*"))):
        found.append((p, "cache"))
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for p in sorted(glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python3.*"))):
        found.append((p, "pyenv"))
    uv_root = os.environ.get("UV_PYTHON_INSTALL_DIR") or os.path.expanduser(
        "~/.local/share/uv/python")
    for p in sorted(glob.glob(os.path.join(uv_root, "*", "bin", "python3.*"))):
        found.append((p, "uv"))
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if "shims" in d:  # pyenv shims re-dispatch; the real binaries are seen above
            continue
        for p in sorted(glob.glob(os.path.join(d, "python3.1[3-9]*"))):
            found.append((p, "path"))
    # Keep interpreters, not their config scripts or debug variants.
    keep = []
    for p, src in found:
        name = os.path.basename(p)
        if name.endswith(("-config", "-gdb.py")) or not os.access(p, os.X_OK):
            continue
        rest = name[len("python3."):]
        if not rest.rstrip("t").isdigit():
            continue
        keep.append((p, src))
    return keep


def discover() -> list[Interpreter]:
    """Every distinct CPython >= 3.13 on this machine, cache first."""
    seen: set[str] = set()
    result: list[Interpreter] = []
    for path, source in _candidates():
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        interp = probe(path, source)
        if interp is None or tuple(map(int, interp.minor.split("."))) < (3, 13):
            continue
        result.append(interp)
    return result


def _pick(interps: list[Interpreter], minor: str, free_threaded: bool,
          optimized: bool = False) -> Interpreter | None:
    """The preferred interpreter for one build: with ``optimized``, a PGO + LTO
    one first (as distributions ship); then cached; then the newest patch."""
    cands = [i for i in interps if i.minor == minor and i.free_threaded == free_threaded]
    if not cands:
        return None
    order = {"cache": 0, "uv": 1, "pyenv": 2, "path": 3}
    return sorted(cands, key=lambda i: (optimized and not i.optimized, order.get(i.source, 9),
                                        [-int(x) for x in i.version.split(".") if x.isdigit()]))[0]


def matrix(interps: list[Interpreter] | None = None) -> list[Build]:
    """The builds available on this machine, in a stable order."""
    if interps is None:
        interps = discover()
    builds: list[Build] = []
    minors = sorted({i.minor for i in interps}, key=lambda m: tuple(map(int, m.split("."))))
    for minor in minors:
        # Optimized builds are preferred only as a pair: a PGO + LTO standard build
        # against a plain free-threaded one would credit the GIL with the compiler's
        # work (and the other way round).
        opt = all(any(i.minor == minor and i.free_threaded == ft and i.optimized
                      for i in interps) for ft in (False, True))
        std = _pick(interps, minor, False, opt)
        ft = _pick(interps, minor, True, opt)
        if std:
            builds.append(Build(minor, std, {}))
        if ft:
            builds.append(Build(minor + "t", ft, {"PYTHON_GIL": "0"}))
            builds.append(Build(minor + "t+gil", ft, {"PYTHON_GIL": "1"}))
    return builds


def build_for_path(path: str) -> Build:
    """A user-named interpreter (``--python /path``) as a build labelled after itself."""
    interp = probe(path, "user")
    if interp is None:
        raise ProvisionError(f"{path}: not a runnable CPython interpreter")
    label = interp.minor + ("t" if interp.free_threaded else "")
    env = {"PYTHON_GIL": "0"} if interp.free_threaded else {}
    return Build(f"{label}@{interp.version}", interp, env)


# --------------------------------------------------------------------------- provisioning

def _log(msg: str) -> None:
    print(f"[gort-provision] {msg}", file=sys.stderr, flush=True)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_tarball(path: Path, expected: str = CPYTHON_SHA256) -> None:
    """Refuse to build from a tarball whose hash is not the published one."""
    actual = sha256_of(path)
    if actual != expected:
        raise ProvisionError(
            f"{path}: sha256 mismatch: expected {expected}, got {actual}; "
            "refusing to build from an unverified CPython source tarball")


def _debian_sources_entry() -> str:
    """The machine's own Debian mirror entry, turned into a trixie deb-src entry."""
    for cand in ("/etc/apt/sources.list.d/debian.sources",):
        if os.path.exists(cand):
            text = Path(cand).read_text()
            for stanza in text.split("\n\n"):
                if "Types:" in stanza and "URIs:" in stanza and "security" not in stanza:
                    lines = []
                    for line in stanza.strip().splitlines():
                        if line.startswith("Types:"):
                            line = "Types: deb-src"
                        elif line.startswith("Suites:"):
                            line = f"Suites: {DEBIAN_SOURCE_SUITE}"
                        lines.append(line)
                    return "\n".join(lines) + "\n"
    raise ProvisionError("no Debian apt source entry found to fetch the CPython tarball from")


def fetch_tarball() -> Path:
    """The verified CPython source tarball, from the cache or Debian's source packages."""
    src_dir = cache_dir() / "src"
    src_dir.mkdir(parents=True, exist_ok=True)
    target = src_dir / f"Python-{CPYTHON_VERSION}.tar.xz"
    if target.exists():
        verify_tarball(target)
        return target
    override = os.environ.get("GORT_CPYTHON_TARBALL")
    if override:
        _log(f"using tarball from GORT_CPYTHON_TARBALL={override}")
        verify_tarball(Path(override))
        shutil.copyfile(override, target)
        return target
    if not shutil.which("apt-get"):
        raise ProvisionError(
            f"no CPython {CPYTHON_VERSION} source tarball: apt-get is unavailable; download "
            f"Python-{CPYTHON_VERSION}.tar.xz and set GORT_CPYTHON_TARBALL to its path")
    _log(f"fetching CPython {CPYTHON_VERSION} source through Debian's "
         f"{DEBIAN_SOURCE_SUITE} source package {DEBIAN_SOURCE_PACKAGE}")
    with tempfile.TemporaryDirectory(prefix="gort-apt-") as tmp:
        (Path(tmp) / "lists" / "partial").mkdir(parents=True)
        (Path(tmp) / "debian.sources").write_text(_debian_sources_entry())
        opts = ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={tmp}",
                "-o", f"Dir::State::Lists={tmp}/lists", "-o", "APT::Sandbox::User=root"]
        for cmd in (["apt-get", *opts, "update"],
                    ["apt-get", *opts, "source", "--download-only", "--tar-only",
                     DEBIAN_SOURCE_PACKAGE]):
            r = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
            if r.returncode != 0:
                raise ProvisionError(f"{' '.join(cmd[:1] + cmd[-2:])} failed:\n{r.stderr[-2000:]}")
        got = glob.glob(os.path.join(tmp, f"{DEBIAN_SOURCE_PACKAGE}_{CPYTHON_VERSION}.orig.tar.*"))
        if not got:
            raise ProvisionError(
                f"Debian's {DEBIAN_SOURCE_PACKAGE} source is not version {CPYTHON_VERSION}: "
                f"found {os.listdir(tmp)}")
        verify_tarball(Path(got[0]))
        shutil.move(got[0], target)
    return target


def _missing_build_deps() -> list[str]:
    if not shutil.which("dpkg-query"):
        return []
    missing = []
    for pkg in BUILD_DEPS:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                           text=True)
        if "install ok installed" not in r.stdout:
            missing.append(pkg)
    return missing


def _ensure_build_deps() -> None:
    missing = _missing_build_deps()
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        _log(f"installing build dependencies: {' '.join(missing)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        r = subprocess.run(["apt-get", "install", "-y", "-q", *missing], env=env,
                           capture_output=True, text=True)
        if r.returncode == 0:
            return
        _log(f"apt-get install failed: {r.stderr[-500:]}")
    raise ProvisionError(
        "building CPython needs these Debian packages, which are missing: "
        f"{' '.join(missing)} (install them with: apt-get install {' '.join(missing)})")


def _run_with_progress(cmd: list[str], cwd: Path, log: Path, what: str) -> None:
    """Run a long build step, logging everything and printing a heartbeat."""
    start = time.monotonic()
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(15):
                last = ""
                try:
                    with open(log, "rb") as f:
                        f.seek(max(0, f.seek(0, 2) - 400))
                        tail = f.read().decode(errors="replace").strip().splitlines()
                        last = tail[-1][:100] if tail else ""
                except OSError:
                    pass
                _log(f"  {what}: {time.monotonic() - start:4.0f}s ... {last}")

        t = threading.Thread(target=heartbeat, daemon=True)
        t.start()
        rc = proc.wait()
        stop.set()
    if rc != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise ProvisionError(f"{what} failed (exit {rc}); full log: {log}\n{tail}")
    _log(f"  {what}: done in {time.monotonic() - start:.0f}s")


def configure_args(prefix: Path, free_threaded: bool, optimized: bool) -> list[str]:
    """CPython's ``./configure`` command line for one provisioned build."""
    conf = ["./configure", f"--prefix={prefix}", "--with-ensurepip=install"]
    if free_threaded:
        conf.append("--disable-gil")
    if optimized:  # as distributions build it: profile-guided, link-time optimized
        conf += ["--enable-optimizations", "--with-lto"]
    return conf


def build_cpython(free_threaded: bool, optimized: bool = False) -> Interpreter:
    """Build CPython from the verified release tarball into the cache (idempotent);
    ``optimized``: with PGO and LTO (much longer: the profiling runs CPython's
    test suite), into its own directory ``<version>[t]-opt``."""
    name = CPYTHON_VERSION + ("t" if free_threaded else "") + ("-opt" if optimized else "")
    prefix = pythons_dir() / name
    exe = prefix / "bin" / ("python3.13t" if free_threaded else "python3.13")
    if exe.exists():
        interp = probe(str(exe), "cache")
        if interp and interp.free_threaded == free_threaded and interp.optimized == optimized:
            return interp
        _log(f"{exe} exists but does not run correctly; rebuilding")
    _ensure_build_deps()
    tarball = fetch_tarball()
    pythons_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"gort-build-{name}-", dir=pythons_dir()))
    log = pythons_dir() / f"build-{name}.log"
    log.write_text("")
    took = "30-60 minutes" if optimized else "3-4 minutes"
    _log(f"building CPython {name} into {prefix} (about {took} on 2 cores; log: {log})")
    try:
        with tarfile.open(tarball) as tf:
            if sys.version_info >= (3, 12):  # noqa: UP036 - also runs under nox on 3.11
                tf.extractall(work, filter="data")
            else:
                tf.extractall(work)
        srcdir = work / f"Python-{CPYTHON_VERSION}"
        staging = Path(str(prefix) + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        conf = configure_args(prefix, free_threaded, optimized)
        jobs = str(os.cpu_count() or 2)
        _run_with_progress(conf, srcdir, log, f"configure {name}")
        _run_with_progress(["make", f"-j{jobs}"], srcdir, log, f"make {name}")
        # Install into a staging DESTDIR first, so an interrupted install never leaves a
        # half-installed interpreter where discovery would find it.
        _run_with_progress(["make", "install", f"DESTDIR={staging}"], srcdir, log,
                           f"install {name}")
        shutil.rmtree(prefix, ignore_errors=True)
        shutil.move(str(staging) + str(prefix), prefix)
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    interp = probe(str(exe), "cache")
    if interp is None or interp.free_threaded != free_threaded or interp.optimized != optimized:
        raise ProvisionError(f"built {exe} but it does not report the expected build; see {log}")
    _log(f"built {interp.path} ({interp.version}, "
         f"{'free-threaded' if interp.free_threaded else 'standard'})")
    return interp


def _try_uv_install() -> Interpreter | None:
    uv = shutil.which("uv")
    if not uv or os.environ.get("GORT_NO_UV"):
        return None
    _log("trying: uv python install 3.13t")
    try:
        r = subprocess.run([uv, "python", "install", "3.13t"], capture_output=True, text=True,
                           timeout=300)
    except subprocess.TimeoutExpired:
        _log("uv python install timed out; building from source instead")
        return None
    if r.returncode != 0:
        _log("uv python install failed (no network?); building from source instead")
        return None
    return _pick(discover(), "3.13", True)


def provision(optimized: bool = False) -> list[Build]:
    """Make sure a standard and a free-threaded 3.13 exist; return the matrix.
    ``optimized``: make sure both are PGO + LTO builds (building them if not)."""
    interps = discover()
    if optimized:
        for free_threaded in (True, False):
            if not any(i.minor == "3.13" and i.free_threaded == free_threaded and i.optimized
                       for i in interps):
                build_cpython(free_threaded=free_threaded, optimized=True)
        interps = discover()
    if _pick(interps, "3.13", True) is None:
        _log("no free-threaded CPython 3.13 found")
        if _try_uv_install() is None:
            build_cpython(free_threaded=True)
        interps = discover()
    # The same-source standard build, for an apples-to-apples 3.13 column.
    same = [i for i in interps if i.minor == "3.13" and not i.free_threaded
            and i.source == "cache"]
    ft = _pick(interps, "3.13", True)
    if not same and ft is not None and ft.source == "cache":
        try:
            build_cpython(free_threaded=False)
        except ProvisionError as e:
            _log(f"standard 3.13 build failed, using another 3.13 if present: {e}")
        interps = discover()
    builds = matrix(interps)
    labels = {b.label for b in builds}
    for need in ("3.13", "3.13t"):
        if need not in labels:
            raise ProvisionError(f"no {need} interpreter could be found or provisioned")
    return builds


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "list"
    try:
        builds = provision("--optimized" in argv[1:]) if cmd == "provision" else matrix()
    except ProvisionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if cmd not in ("list", "provision"):
        print("usage: interpreters.py [list|provision [--optimized]]", file=sys.stderr)
        return 2
    for b in builds:
        print(b.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
