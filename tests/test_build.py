"""The interpreter each nox build runs on is really the build it claims to be."""

from __future__ import annotations

import sys
import sysconfig

import pytest

import gort
from tests.helpers import BUILD

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


@pytest.mark.skipif(not (BUILD.endswith("t") and "+gil" not in BUILD),
                    reason="only on a free-threaded build with the GIL off")
def test_gil_is_off_on_3_13t() -> None:
    assert FREE_THREADED
    assert sys._is_gil_enabled() is False
    assert gort.free_threading() is True


@pytest.mark.skipif(not BUILD.endswith("+gil"),
                    reason="only on a free-threaded build with PYTHON_GIL=1")
def test_gil_is_on_with_python_gil_1() -> None:
    assert FREE_THREADED
    assert sys._is_gil_enabled() is True
    assert gort.free_threading() is False


@pytest.mark.skipif(BUILD.endswith("t") or "+gil" in BUILD or not BUILD,
                    reason="only on a standard build")
def test_standard_build_has_a_gil() -> None:
    assert not FREE_THREADED
    assert gort.free_threading() is False
