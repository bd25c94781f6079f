"""The public API's types, as a user's type checker sees them: mypy checks
``tests/typed_program.py``, whose every ``reveal_type`` line states (``# E: T``)
the type it must show.  (Coroutine forms are ``Awaitable[T]``, ``go`` keeps its
function's parameters and result type through ``ParamSpec``.)"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "tests" / "typed_program.py"

pytestmark = [
    pytest.mark.timeout(300),
    # One build is enough for a static check; nox installs mypy (the ``typecheck``
    # extra) in the standard build's environment only (see pyproject.toml).
    pytest.mark.skipif(bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
                       reason="the static check runs once, on the standard build"),
]


def test_revealed_types_are_precise() -> None:
    pytest.importorskip("mypy", reason="mypy: pip install gort[typecheck]")
    want = {}
    for n, line in enumerate(PROGRAM.read_text().splitlines(), 1):
        m = re.search(r"reveal_type\(.*# E: (.+)$", line)
        if m:
            want[n] = m.group(1).strip()
    assert len(want) >= 18
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                        "--hide-error-context", "--no-error-summary", str(PROGRAM)],
                       cwd=ROOT, capture_output=True, text=True, timeout=280)
    got = {}
    other = []
    for line in r.stdout.splitlines():
        m = re.match(r".*typed_program\.py:(\d+): note: Revealed type is \"(.+)\"$", line)
        if m:
            got[int(m.group(1))] = m.group(2).replace("builtins.", "")
        elif line.strip():
            other.append(line)
    assert not other, "\n".join(other)  # no error in the program itself
    for n, t in want.items():
        assert got.get(n) == t, (n, got.get(n), t)
