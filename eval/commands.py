"""The `shopquery eval` sub-commands: `run` (suite files over rows x prompt variants x models, with reports
compared with a baseline run), `compare` (the CI gate between two runs), `history` (past runs of a suite) and the
one-suite form `shopquery eval SUITE_KIND --data FILE`.

Exit codes of `eval run`: 0 every threshold held, 1 a threshold failed (or a cell could not run), 2 bad input
(unknown suite, bad suite or variant file, bad model spec, missing real data)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

LEGACY_KINDS = ("spelling", "attributes", "intent", "retrieval", "expansion", "agent")
RAW = argparse.RawDescriptionHelpFormatter


def add_run_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of `shopquery eval run`."""
    p.add_argument("suite", metavar="SUITE_OR_DIR", help="a suite name (eval/suites/NAME.yaml), a suite YAML file "
                                                         "or a folder of suite files (real-data suites run first; "
                                                         "those whose data is absent are skipped)")
    p.add_argument("--variants", nargs="+", type=Path, default=[], metavar="FILE",
                   help="prompt variant files (prompts/variants/*.yaml); 'default' (prompts as shipped) is always "
                        "run too unless --no-default")
    p.add_argument("--no-default", action="store_true", help="leave the shipped prompts out of the matrix")
    p.add_argument("--models", default=None, metavar="SPECS",
                   help="comma-separated: embedded:qwen2.5-coder-0.5b, embedded:/path/model.gguf, "
                        "openai:http://host:8000/v1#name (default: the configured model)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: DATA_DIR/eval-runs/<time>-<suite>; "
                                                          "with several suites, one sub-folder per suite)")
    p.add_argument("--baseline", type=Path, default=None, metavar="RUN_DIR",
                   help="compare the report with this run (its folder or result.json; for a folder of suites, "
                        "RUN_DIR/<suite> is used). Default: the latest earlier complete run of the same suite "
                        "in DATA_DIR/eval-runs")
    p.add_argument("--no-baseline", action="store_true", help="do not compare the report with any run")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N cases of each suite")
    p.add_argument("--no-cache", action="store_true", help="call the models for every case (cache not read/written)")
    p.add_argument("--judge", default=None, metavar="MODEL", help="also grade replies with this model (a model spec)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def add_history_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of `shopquery eval history`."""
    p.add_argument("suite", metavar="SUITE", help="the suite's name (as in its file's `name:`), e.g. "
                                                  "relevance_en_chorus_dev")
    p.add_argument("--runs", type=Path, default=None, metavar="DIR",
                   help="folder of run folders (default: DATA_DIR/eval-runs)")
    p.add_argument("-n", type=int, default=20, metavar="N", help="list at most the N newest runs (default 20)")
    p.add_argument("--json", action="store_true", help="print the runs as one JSON array")
    return p


def add_legacy_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of `shopquery eval SUITE_KIND --data FILE` (one suite kind on one dataset, metrics only)."""
    p.add_argument("--data", type=Path, required=True, help="the dataset (JSONL; see eval/data/README.md)")
    p.add_argument("--catalog", type=Path, default=None, help="ingest this catalog into a separate store first")
    p.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid", help="retrieval mode")
    p.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    p.add_argument("--no-model", action="store_true", help="agent suite: templated replies, no chat model")
    p.add_argument("--tool-calls", choices=["auto", "always", "never"], default=None,
                   help="agent suite: when the model writes the search call (default: the setting)")
    return p


def add_eval_subcommands(parser: argparse.ArgumentParser) -> None:
    """`run`, `compare`, `history` and the suite kinds as sub-commands of `shopquery eval`."""
    from eval.compare import add_arguments

    sub = parser.add_subparsers(dest="eval_command", required=True, metavar="{run,compare,history,SUITE_KIND}")
    add_run_arguments(sub.add_parser(
        "run", help="run suite files; write result.json, report.md and report.html", formatter_class=RAW,
        description="Run eval suites over their rows x prompt variants x models; write RUN_DIR/result.json, "
                    "report.md and report.html (compared with a baseline run); exit 1 when a threshold fails.",
        epilog="examples:\n  shopquery eval run eval/suites/                    every suite, real-data ones first\n"
               "  shopquery eval run relevance_en_chorus_dev --limit 20\n"
               "  shopquery eval run agent --variants prompts/variants/terse.yaml --baseline RUN_DIR"))
    add_arguments(sub.add_parser(
        "compare", help="what got better or worse between two runs (exit 1 on a regression: a CI gate)",
        description="Compare run B against run A cell by cell and case by case; exit 0 when nothing regressed, "
                    "1 when anything did, 2 when the runs cannot be read or compared."))
    add_history_arguments(sub.add_parser(
        "history", help="past runs of a suite with their headline metrics",
        description="List past runs of a suite (newest first), one line per cell: headline metrics, data hash, "
                    "prompt-set digest, model and the run each was compared with."))
    for kind in LEGACY_KINDS:
        add_legacy_arguments(sub.add_parser(
            kind, help=f"the {kind} suite on one dataset (metrics only; no report)",
            description=f"Run the {kind} suite on one JSONL dataset and print its metrics."))


def cmd_eval(settings: Any, args: argparse.Namespace) -> int:
    """Dispatch `shopquery eval ...` after parsing."""
    if args.eval_command == "compare":
        from eval.compare import run_from_args
        return int(run_from_args(args))
    if args.eval_command == "history":
        return cmd_eval_history(settings, args)
    if args.eval_command == "run":
        return cmd_eval_run(settings, args)
    return cmd_eval_suite(settings, args)


def cmd_eval_suite(settings: Any, args: argparse.Namespace) -> int:
    """shopquery eval SUITE_KIND --data FILE [--catalog FILE] [--json]"""
    from eval.harness import run_suite

    kind = args.eval_command
    options = {"use_model": not args.no_model, "tool_calls": args.tool_calls} if kind == "agent" else {}
    result = run_suite(settings, kind, args.data, args.catalog, progress=not args.json, mode=args.mode, **options)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")
    return 0


def cmd_eval_history(settings: Any, args: argparse.Namespace) -> int:
    """shopquery eval history SUITE [--runs DIR] [-n N] [--json]"""
    from eval.history import find_runs, history_json, history_table, runs_folder

    folder = args.runs or runs_folder(settings)
    runs = find_runs(folder, args.suite)[: max(1, args.n)]
    if args.json:
        print(history_json(runs))
        return 0
    if not runs:
        print(f"no runs of {args.suite} in {folder}")
        return 0
    print(f"{args.suite}: {len(runs)} run(s) in {folder}, newest first")
    print(history_table(runs))
    return 0


def _write_reports(run_dir: Path, baseline: Path | None) -> list[Path]:
    """report.md / report.html (paths written)."""
    from eval.report import write_reports

    return list(write_reports(run_dir, baseline).values())


def choose_baseline(settings: Any, args: argparse.Namespace, suite: str, run_dir: Path,
                    created: str, several: bool) -> Path | None:
    """The run to compare with: --baseline (RUN_DIR/<suite> for a folder of suites), else the latest earlier
    complete run of the suite under DATA_DIR/eval-runs; None with --no-baseline or when there is none."""
    from eval.history import latest_before, runs_folder
    from eval.report_record import RESULT_FILE

    if args.no_baseline:
        return None
    if args.baseline is not None:
        given = Path(args.baseline)
        if several and (given / suite / RESULT_FILE).is_file():
            return given / suite
        return given
    return latest_before(runs_folder(settings), suite, created, exclude=run_dir)


def record_baseline(run_dir: Path, result: dict[str, Any], baseline: Path) -> None:
    """Name the baseline run in result.json (so reports written again compare with it too)."""
    from eval.report_record import RunRecordError, load_run, result_path

    try:
        base = load_run(baseline)
    except RunRecordError as exc:
        print(f"(baseline {baseline} not used: {exc})", file=sys.stderr)
        return
    result["baseline"] = {"run_id": base.run_id, "path": str(result_path(baseline).parent.resolve()),
                          "created": base.created}
    path = run_dir / "result.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


def cmd_eval_run(settings: Any, args: argparse.Namespace) -> int:
    """shopquery eval run SUITE_OR_DIR [--variants ...] [--models ...] [--out DIR] [--baseline RUN_DIR] ..."""
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
        baseline = choose_baseline(settings, args, spec.name, run_dir, result["created"], len(specs) > 1)
        if baseline is not None:
            record_baseline(run_dir, result, baseline)
        reports = _write_reports(run_dir, None)
        print(f"\n{spec.name} ({result['suite']['cases']} cases)"
              + (f", compared with {result['baseline']['run_id']}" if result.get("baseline") else ""))
        print(summary_table(result))
        for path in [run_dir / "result.json", *reports]:
            print(f"  {path}")
        failures.extend(f"{spec.name}: {f}" for f in failed_thresholds(result))
    for line in failures:
        print(f"threshold failed: {line}", file=sys.stderr)
    return 1 if failures else 0
