"""Every public name has a docstring: what ``nox -s docs`` (pdoc) builds the API
reference from.

Public means: every name in ``gort.__all__``, in ``gort.atomic.__all__``,
``gort.net.__all__`` and
``gort.testing.__all__``, the functions and classes defined in ``gort.patterns``
(which has no ``__all__``), and, for each public class, its public methods and
properties defined in gort (inherited from a private gort base included).  Enum
members and data fields are described by their class's docstring.
"""

from __future__ import annotations

import ast
import enum
import inspect
import textwrap
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gort
import gort.atomic
import gort.net
import gort.patterns
import gort.testing


def _in_gort(obj: object) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "gort"


def _module_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    # No __all__ (gort.patterns): the functions and classes defined in the module,
    # as pdoc shows them.
    return [name for name, obj in vars(module).items()
            if not name.startswith("_")
            and (inspect.isclass(obj) or inspect.isfunction(obj))
            and obj.__module__ == module.__name__]


def _own_doc(obj: object) -> str | None:
    """The docstring written for obj, or None: not one inherited from a base class,
    and not the signature line that dataclasses and namedtuples generate."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return None
    name = getattr(obj, "__name__", "")
    if inspect.isclass(obj) and doc.startswith(f"{name}("):
        return None  # dataclass / NamedTuple placeholder
    return doc


def _member_doc(cls: type, name: str, attr: Any) -> str | None:
    if isinstance(attr, (staticmethod, classmethod)):
        attr = attr.__func__
    if isinstance(attr, property):
        return _own_doc(attr.fget) or _own_doc(attr)
    doc = _own_doc(attr)
    if doc is None:
        # An override documented once on a gort base class (pdoc inherits it too).
        for base in cls.__mro__[1:]:
            if _in_gort(base) and name in vars(base):
                return _member_doc(base, name, vars(base)[name])
    return doc


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods and properties of cls defined in gort, each once (the
    definition that applies, as the MRO finds it)."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not _in_gort(klass):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(attr, (staticmethod, classmethod, property)) or inspect.isfunction(attr):
                yield name, attr


def _undocumented_callable_slots(cls: type) -> list[str]:
    """Per-instance methods declared as ``name: Callable[...]`` in the class body
    (``Mutex.lock``): pdoc documents them from the string literal that follows."""
    if issubclass(cls, BaseException):
        return []  # (no such slots; and gort's say they live in gort, not in a file)
    # A class whose source cannot be read fails here: skipping it would hide
    # every slot it has.
    source = textwrap.dedent(inspect.getsource(cls))
    body = next((node for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.ClassDef) and node.name == cls.__name__), None)
    assert body is not None, f"no class {cls.__name__} in its source"
    missing = []
    for stmt, nxt in zip(body.body, [*body.body[1:], None], strict=True):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and not stmt.target.id.startswith("_")
                and ast.unparse(stmt.annotation).startswith("Callable")):
            if not (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                missing.append(stmt.target.id)
    return missing


def undocumented() -> list[str]:
    missing: list[str] = []
    modules = [gort, gort.atomic, gort.net, gort.patterns, gort.synctest, gort.testing]
    for module in modules:
        for name in _module_names(module):
            obj = getattr(module, name)
            qual = f"{module.__name__}.{name}"
            if isinstance(obj, types.ModuleType):
                if _own_doc(obj) is None:
                    missing.append(qual)
                continue
            if _own_doc(obj) is None:
                missing.append(qual)
            if not inspect.isclass(obj):
                continue
            if issubclass(obj, enum.Enum):
                continue  # members are described by the class docstring
            for mname, attr in _members(obj):
                if _member_doc(obj, mname, attr) is None:
                    missing.append(f"{qual}.{mname}")
            missing.extend(f"{qual}.{mname}" for mname in _undocumented_callable_slots(obj))
    return missing


def test_every_public_name_has_a_docstring() -> None:
    missing = undocumented()
    assert not missing, (f"{len(missing)} public names without a docstring:\n  "
                         + "\n  ".join(missing))


def test_the_walk_sees_methods_and_properties() -> None:
    # The check above is only as good as its walk: it must reach members that are
    # methods, properties and inherited from private bases.
    walked = {name for name, _ in _members(gort.Chan)}
    assert {"send", "recv", "close", "cap"} <= walked
    assert "load" in {name for name, _ in _members(gort.atomic.Int64)}
    assert "do" in {name for name, _ in _members(gort.Once)}


class _Bare:
    lock: Callable[[], None]
    unlock: Callable[[], None]
    """Documented."""


def test_the_walk_sees_per_instance_methods() -> None:
    assert _undocumented_callable_slots(_Bare) == ["lock"]


def test_the_front_page_include_finds_its_readme_section() -> None:
    # gort's docstring includes the README's tour for ``nox -s docs`` (pdoc's
    # ``.. include::`` with :start-after: / :end-before:); renaming a heading of the
    # README would silently change the API reference's front page.
    doc = gort.__doc__ or ""
    options = dict(line.strip()[1:].split(": ", 1) for line in doc.splitlines()
                   if line.strip().startswith((":start-after:", ":end-before:")))
    assert set(options) == {"start-after", "end-before"}, options
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    start = readme.find(options["start-after"])
    end = readme.find(options["end-before"])
    assert 0 <= start < end, options
