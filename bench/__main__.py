"""``python -m bench``: run the suites, or rebuild the report.

    python -m bench run --build-python LABEL:GIL:PYTHON [...] [--suite a,b]
                        [--bench 'pingpong*'] [--rigorous | --smoke] [--out results]
                        [--strict] [--paired-rounds N] [--sampling-budget S]
                        [--mode time|instructions]
    python -m bench report [results]
    python -m bench compare BASE.json HEAD.json [...] [--mode absolute|ratio]
                        [--format md|text|json] [--fail-on-regression 10%]
    python -m bench list               # the suites and their benchmarks
    python -m bench migrate [results]  # fold old *.extra.json sidecars into the JSON
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import SUITES, compare, instructions, report, runner


def _csv(values: list[str]) -> list[str]:
    return [v for item in values for v in runner.split_patterns(item)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run benchmark suites")
    r.add_argument("--build-python", action="append", default=[], metavar="LABEL:GIL:PYTHON",
                   help="a build to run on (nox -s bench passes these)")
    r.add_argument("--suite", action="append", default=[], help="suites, comma-separated")
    r.add_argument("--bench", action="append", default=[], help="benchmark name patterns")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--rigorous", action="store_true", help="publication-grade pyperf runs")
    g.add_argument("--smoke", action="store_true", help="one value per benchmark, tiny loops")
    r.add_argument("--mode", choices=("time", "instructions"), default="time",
                   help="instructions: count instructions per operation of the "
                        "single-threaded microbenchmarks under callgrind (reproducible "
                        "on shared machines; see bench/instructions.py)")
    r.add_argument("--out", default="results", type=Path)
    r.add_argument("--paired-rounds", type=int, metavar="N",
                   help="rounds of the interleaved pass that measures the headline "
                        "comparisons (default: 4, --rigorous 10, --smoke 0; 0 or 1: none)")
    r.add_argument("--sampling-budget", type=float, metavar="SECONDS",
                   help="adaptive sampling: seconds per benchmark, pooled per suite, for "
                        "more processes of the benchmarks that fail pyperf check's sample "
                        "rule (default: 0.75, --rigorous 5, io 0, --smoke none; "
                        "bench/sampling.py)")
    r.add_argument("--strict", action="store_true",
                   help="a suite disturbed by other load or throttling fails instead of "
                        "being published with a warning")
    r.add_argument("--command", default="python -m bench run", help=argparse.SUPPRESS)
    rep = sub.add_parser("report", help="regenerate results/README.md from result JSON")
    rep.add_argument("dir", nargs="?", default="results", type=Path)
    sub.add_parser("list", help="list suites and benchmarks")
    mig = sub.add_parser("migrate", help="fold the *.extra.json memory sidecars of older "
                         "runs into their pyperf result files (byte-unit benchmarks)")
    mig.add_argument("dir", nargs="?", default="results", type=Path)
    c = sub.add_parser("compare", help="compare result files; gate on regressions")
    c.add_argument("base", type=Path)
    c.add_argument("heads", type=Path, nargs="+")
    c.add_argument("--mode", choices=("absolute", "ratio"), default="absolute",
                   help="ratio: gort / its baseline within each run (recommended on "
                        "shared CI runners)")
    c.add_argument("--format", choices=("md", "text", "json"), default="md")
    c.add_argument("--fail-on-regression", metavar="PCT",
                   help="exit 1 if a significant change is larger than this (e.g. 10%%)")
    args = ap.parse_args(argv)

    if args.cmd == "list":
        for s in SUITES:
            suite = runner.common.load(s)
            print(f"{s}: {', '.join(b.name for b in suite.runnable())}")
            for b in suite.skipped():
                print(f"  skipped here: {b.name}: {b.skip}")
        print(f"--mode instructions: {', '.join(instructions.BY_NAME)}")
        return 0
    if args.cmd == "migrate":
        for sidecar in sorted(args.dir.glob("*/*.extra.json")):
            result = sidecar.with_name(sidecar.name.removesuffix(".extra.json") + ".json")
            if not result.exists():
                print(f"error: {sidecar}: no {result.name} to fold it into", file=sys.stderr)
                return 1
            runner.fold_legacy_sidecar(result)
            print(f"folded {sidecar} into {result}")
        return 0
    if args.cmd == "compare":
        return compare.main(args.base, args.heads, args.mode, args.format,
                            args.fail_on_regression)
    if args.cmd == "report":
        print(report.write_report(args.dir))
        return 0
    if not args.build_python:
        ap.error("no build to run on: pass --build-python (nox -s bench does)")
    builds = [runner.BuildSpec.parse(b) for b in args.build_python]
    if args.mode == "instructions":
        if args.suite or args.rigorous or args.strict:
            ap.error("--mode instructions takes no --suite, --rigorous or --strict: it "
                     "counts the operations of bench/instructions.py (select with --bench)")
        return instructions.run([(b.label, b.gil, b.python) for b in builds], _csv(args.bench),
                                args.out, args.command, quick=args.smoke)
    suites = _csv(args.suite) or list(SUITES)
    profile = "rigorous" if args.rigorous else "smoke" if args.smoke else "default"
    return runner.run(builds, suites, _csv(args.bench), profile, args.out, args.command,
                      quick=args.smoke, strict=args.strict, paired_rounds=args.paired_rounds,
                      sampling_seconds=args.sampling_budget)


if __name__ == "__main__":
    sys.exit(main())
