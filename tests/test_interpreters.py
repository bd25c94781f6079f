"""The interpreter discovery and provisioning helpers (bench/interpreters.py)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import interpreters


def test_wrong_tarball_hash_is_refused_naming_the_expected_hash(tmp_path: Path) -> None:
    fake = tmp_path / "Python-3.13.5.tar.xz"
    fake.write_bytes(b"not the CPython release")
    actual = hashlib.sha256(b"not the CPython release").hexdigest()
    with pytest.raises(interpreters.ProvisionError) as info:
        interpreters.verify_tarball(fake)
    msg = str(info.value)
    assert interpreters.CPYTHON_SHA256 in msg
    assert f"expected {interpreters.CPYTHON_SHA256}, got {actual}" in msg


def test_cached_tarball_with_wrong_hash_stops_provisioning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GORT_CACHE", str(tmp_path))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "Python-3.13.5.tar.xz").write_bytes(b"tampered")
    with pytest.raises(interpreters.ProvisionError, match=interpreters.CPYTHON_SHA256):
        interpreters.fetch_tarball()


def test_this_interpreter_describes_itself() -> None:
    me = interpreters.probe(sys.executable)
    assert me is not None
    assert me.version.startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    import sysconfig
    assert me.free_threaded == bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def test_matrix_labels_gil_settings() -> None:
    std = interpreters.Interpreter("/x/python3.13", "3.13.5", False, "cache")
    ft = interpreters.Interpreter("/x/python3.13t", "3.13.5", True, "cache")
    ft14 = interpreters.Interpreter("/y/python3.14t", "3.14.0", True, "pyenv")
    builds = interpreters.matrix([std, ft, ft14])
    assert [b.label for b in builds] == ["3.13", "3.13t", "3.13t+gil", "3.14t", "3.14t+gil"]
    by = {b.label: b for b in builds}
    assert by["3.13t"].env == {"PYTHON_GIL": "0"} and not by["3.13t"].gil_expected
    assert by["3.13t+gil"].env == {"PYTHON_GIL": "1"} and by["3.13t+gil"].gil_expected
    assert by["3.13"].gil_expected


def test_matrix_prefers_the_cached_same_source_build() -> None:
    pyenv = interpreters.Interpreter("/p/python3.13", "3.13.0", False, "pyenv")
    cache = interpreters.Interpreter("/c/python3.13", "3.13.5", False, "cache")
    (b,) = interpreters.matrix([pyenv, cache])
    assert b.interpreter is cache


def test_provisioning_is_idempotent_when_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second provision() finds the cached builds and builds nothing."""
    builds = interpreters.matrix()
    if not any(b.label == "3.13t" for b in builds):
        pytest.skip("no 3.13t on this machine yet")

    def no_build(free_threaded: bool, optimized: bool = False) -> None:
        raise AssertionError("provision() rebuilt an interpreter that exists")

    monkeypatch.setattr(interpreters, "build_cpython", no_build)
    labels = {b.label for b in interpreters.provision()}
    assert {"3.13", "3.13t", "3.13t+gil"} <= labels


def test_the_probe_reports_how_the_interpreter_was_built() -> None:
    import sysconfig
    me = interpreters.probe(sys.executable)
    assert me is not None
    args = sysconfig.get_config_var("CONFIG_ARGS") or ""
    assert me.optimized == ("--enable-optimizations" in args and "--with-lto" in args)


def test_optimized_configure_adds_pgo_and_lto(tmp_path: Path) -> None:
    plain = interpreters.configure_args(tmp_path, True, False)
    opt = interpreters.configure_args(tmp_path, True, True)
    assert "--disable-gil" in plain and "--enable-optimizations" not in plain
    assert opt == [*plain, "--enable-optimizations", "--with-lto"]


def test_matrix_prefers_an_optimized_pair_and_never_mixes() -> None:
    def i(path: str, ft: bool, source: str, opt: bool) -> interpreters.Interpreter:
        return interpreters.Interpreter(path, "3.13.5", ft, source, opt)

    std, ft = i("/c/3.13", False, "cache", False), i("/c/3.13t", True, "cache", False)
    std_opt, ft_opt = i("/o/3.13", False, "cache", True), i("/o/3.13t", True, "cache", True)
    distro = i("/usr/bin/python3.13", False, "path", True)
    by = {b.label: b.interpreter for b in interpreters.matrix([std, ft, std_opt, ft_opt])}
    assert by["3.13"] is std_opt and by["3.13t"] is ft_opt and by["3.13t+gil"] is ft_opt
    # An optimized standard build alone (a distribution's) is not paired with a
    # plain free-threaded one: the cached same-source pair is kept.
    by = {b.label: b.interpreter for b in interpreters.matrix([std, ft, distro])}
    assert by["3.13"] is std and by["3.13t"] is ft


def test_provision_optimized_builds_only_what_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    have = [interpreters.Interpreter("/o/3.13", "3.13.5", False, "cache", True),
            interpreters.Interpreter("/c/3.13t", "3.13.5", True, "cache", False)]
    built: list[tuple[bool, bool]] = []

    def fake_build(free_threaded: bool, optimized: bool = False) -> interpreters.Interpreter:
        built.append((free_threaded, optimized))
        made = interpreters.Interpreter("/o/3.13t", "3.13.5", free_threaded, "cache", optimized)
        have.append(made)
        return made

    monkeypatch.setattr(interpreters, "discover", lambda: list(have))
    monkeypatch.setattr(interpreters, "build_cpython", fake_build)
    builds = interpreters.provision(optimized=True)
    assert built == [(True, True)]  # the free-threaded one; the standard one was there
    assert {b.label: b.interpreter.optimized for b in builds} == {
        "3.13": True, "3.13t": True, "3.13t+gil": True}
