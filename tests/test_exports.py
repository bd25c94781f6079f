"""The public namespace: ``gort.__all__`` is exactly what gort exports (after Trio's
``test_exports``)."""

from __future__ import annotations
import __future__

import types

import pytest

import gort
from gort import atomic


def test_all_is_a_tuple_without_duplicates() -> None:
    assert isinstance(gort.__all__, tuple)
    assert len(set(gort.__all__)) == len(gort.__all__)
    assert all(isinstance(name, str) for name in gort.__all__)


@pytest.mark.parametrize("name", gort.__all__)
def test_every_name_in_all_exists(name: str) -> None:
    assert hasattr(gort, name), name
    assert not name.startswith("_")


def _public_runtime_names(module: types.ModuleType) -> set[str]:
    names = set()
    for name in dir(module):
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            continue
        # ``from __future__ import annotations`` leaves a compiler-directive object
        # named ``annotations`` in the namespace; it is not part of the API.
        if isinstance(obj, __future__._Feature):
            continue
        names.add(name)
    return names


def test_every_public_attribute_is_in_all() -> None:
    missing = _public_runtime_names(gort) - set(gort.__all__)
    assert not missing, f"public but not in gort.__all__: {sorted(missing)}"


def test_all_matches_the_public_namespace_exactly() -> None:
    # Modules may be exported on purpose (``gort.atomic``); everything else public
    # must be listed, and everything listed must be a real attribute.
    listed = {name for name in gort.__all__
              if not isinstance(getattr(gort, name), types.ModuleType)}
    assert listed == _public_runtime_names(gort)


def test_exported_objects_claim_to_live_in_gort() -> None:
    # Exceptions say gort (a traceback shows gort.ChanClosed); other classes and
    # functions keep their defining module, where their annotations resolve.
    for name in gort.__all__:
        obj = getattr(gort, name)
        if isinstance(obj, types.ModuleType):
            assert obj.__name__ == f"gort.{name}", name
        elif isinstance(obj, type) and issubclass(obj, BaseException):
            assert obj.__module__ == "gort", (name, obj.__module__)
        else:
            assert str(getattr(obj, "__module__", "")).startswith("gort."), name


def test_public_objects_pickle_and_have_type_hints() -> None:
    import pickle
    import typing
    for name in gort.__all__:
        obj = getattr(gort, name)
        if isinstance(obj, types.ModuleType):
            continue
        assert pickle.loads(pickle.dumps(obj)) is obj, name
        if isinstance(obj, (type, types.FunctionType)):
            typing.get_type_hints(obj)  # its annotations resolve
    e = pickle.loads(pickle.dumps(gort.ChanClosed("closed")))
    assert type(e) is gort.ChanClosed and str(e) == "closed"
    assert pickle.loads(pickle.dumps(gort.Selected(1, "v", True))) == (1, "v", True)


def test_atomic_all() -> None:
    assert isinstance(atomic.__all__, tuple)
    assert len(set(atomic.__all__)) == len(atomic.__all__)
    for name in atomic.__all__:
        assert hasattr(atomic, name), name
    assert _public_runtime_names(atomic) - {"Any", "Generic", "TypeVar", "T"} == set(
        atomic.__all__)


def test_version() -> None:
    assert isinstance(gort.__version__, str)
    assert gort.__version__.count(".") == 2
