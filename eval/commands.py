"""`shopquery eval run` and `shopquery eval compare` (the legacy `shopquery eval SUITE --data FILE` stays in
assistant/cli.py). Exit codes of `eval run`: 0 every threshold held, 1 a threshold failed (or a cell could not run),
2 bad input (unknown suite, bad suite or variant file, bad model spec)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ACTIONS = ("run", "compare")


def run_parser() -> argparse.ArgumentParser:
    """Arguments of `shopquery eval run`."""
    p = argparse.ArgumentParser(prog="shopquery eval run",
                                description="Run eval suites over prompt variants x models; write RUN_DIR/result.json "
                                            "and reports; exit 1 when a threshold fails.")
    p.add_argument("suite", metavar="SUITE_OR_DIR", help="a suite name (eval/suites/NAME.yaml), a suite YAML file "
                                                         "or a folder of suite files")
    p.add_argument("--variants", nargs="+", type=Path, default=[], metavar="FILE",
                   help="prompt variant files (prompts/variants/*.yaml); 'default' (prompts as shipped) is always "
                        "run too unless --no-default")
    p.add_argument("--no-default", action="store_true", help="leave the shipped prompts out of the matrix")
    p.add_argument("--models", default=None, metavar="SPECS",
                   help="comma-separated: embedded:qwen2.5-coder-0.5b, embedded:/path/model.gguf, "
                        "openai:http://host:8000/v1#name (default: the configured model)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: DATA_DIR/eval-runs/<time>-<suite>; "
                                                          "with several suites, one sub-folder per suite)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N cases of each suite")
    p.add_argument("--no-cache", action="store_true", help="call the models for every case (cache not read/written)")
    p.add_argument("--judge", default=None, metavar="MODEL", help="also grade replies with this model (a model spec)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def compare_parser() -> argparse.ArgumentParser:
    """Arguments of `shopquery eval compare` (the same flags as `python -m eval.compare`)."""
    from eval.compare import add_arguments
    return add_arguments(argparse.ArgumentParser(prog="shopquery eval compare",
                                                 description="What got better or worse between runs."))


def eval_action(settings: Any, action: str, argv: list[str]) -> int:
    """Dispatch `shopquery eval run|compare ...`."""
    if action == "compare":
        from eval.compare import run_from_args
        return int(run_from_args(compare_parser().parse_args(argv)))
    return cmd_eval_run(settings, run_parser().parse_args(argv))


def _write_reports(run_dir: Path) -> list[Path]:
    """report.md / report.html through eval.report when it is installed (paths written, if any)."""
    try:
        from eval.report import write_reports
    except ImportError:
        print("(eval.report is not available: result.json only)", file=sys.stderr)
        return []
    written = write_reports(run_dir)
    if isinstance(written, dict):
        return [Path(p) for p in written.values()]
    if isinstance(written, list | tuple):
        return [Path(p) for p in written]
    return [p for p in (run_dir / "report.md", run_dir / "report.html") if p.is_file()]


def cmd_eval_run(settings: Any, args: argparse.Namespace) -> int:
    """shopquery eval run SUITE_OR_DIR [--variants ...] [--models ...] [--out DIR] [--limit N] [--no-cache]"""
    from eval.run_output import summary_table
    from eval.runner import RunOptions, failed_thresholds, plan, run_matrix
    from eval.specs import resolve_suites

    specs = resolve_suites(args.suite)
    base = RunOptions(variants=args.variants, include_default=not args.no_default, models=args.models,
                      limit=args.limit, cache=not args.no_cache, judge=args.judge, progress=not args.quiet)
    for spec in specs:  # every file and spec is checked before the first case runs
        plan(settings, spec, base)
    failures: list[str] = []
    for spec in specs:
        out = args.out / spec.name if args.out and len(specs) > 1 else args.out
        run_dir, result = run_matrix(settings, spec, base.model_copy(update={"out": out}))
        reports = _write_reports(run_dir)
        print(f"\n{spec.name} ({result['suite']['cases']} cases)")
        print(summary_table(result))
        for path in [run_dir / "result.json", *reports]:
            print(f"  {path}")
        failures.extend(f"{spec.name}: {f}" for f in failed_thresholds(result))
    for line in failures:
        print(f"threshold failed: {line}", file=sys.stderr)
    return 1 if failures else 0
