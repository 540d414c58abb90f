"""The `shopquery` command line: ingest, analyze, chat, demo, eval."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.errors import ShopqueryError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopquery", description="Query assistant for e-commerce search.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="load a catalog file (JSONL/CSV/TSV) into the store")
    p.add_argument("file", type=Path)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--show-errors", type=int, default=50, metavar="N", help="print at most N bad rows")

    p = sub.add_parser("analyze", help="the fast path: search one query, with timings")
    p.add_argument("query")
    p.add_argument("--user", default=None)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid")
    p.add_argument("--json", action="store_true", help="print the QueryAnalysis as JSON")

    p = sub.add_parser("chat", help="chat in the terminal")
    p.add_argument("--max-tokens", type=int, default=200)
    p = sub.add_parser("demo", help="load the demo catalog if needed, then chat in the terminal")
    p.add_argument("--max-tokens", type=int, default=200)

    p = sub.add_parser("add-term", help="teach the spell corrector terms (brands, product names)")
    p.add_argument("terms", nargs="+")
    p.add_argument("--protected", action="store_true", help="never change these terms")
    p = sub.add_parser("rebuild-spelling", help="rebuild the spelling dictionaries from the catalog and query logs")
    p.add_argument("--query-log", type=Path, action="append", default=[], metavar="FILE",
                   help="id<TAB>query lines, one query per line, or JSONL with \"query\"; repeatable")

    p = sub.add_parser("train-intent", help="fine-tune the intent classifier on the bundled zh+en data")
    p.add_argument("--data-dir", type=Path, default=None, help="folder with intent_train.jsonl and intent_dev.jsonl")
    p.add_argument("--out", type=Path, default=None, help="checkpoint folder (default: DATA_DIR/intent)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--max-minutes", type=float, default=9.0)
    p.add_argument("--limit", type=int, default=None, help="train on at most N examples")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("eval", help="run an eval suite on a JSONL dataset")
    p.add_argument("suite")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--catalog", type=Path, default=None, help="ingest this catalog into a separate store first")
    p.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid")
    p.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        from assistant.settings import load_settings

        settings = load_settings()
        return COMMANDS[args.command](settings, args)
    except ShopqueryError as exc:
        print(f"shopquery: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def cmd_ingest(settings, args) -> int:
    """shopquery ingest FILE"""
    from assistant.app import Assistant

    result = Assistant(settings).ingest(args.file, progress=not args.quiet)
    for err in result.errors[: args.show_errors]:
        print(f"{args.file}:{err.line}: skipped: {err.reason}", file=sys.stderr)
    if result.skipped > args.show_errors:
        print(f"... and {result.skipped - args.show_errors} more bad rows", file=sys.stderr)
    print(result.summary())
    return 0 if result.loaded or not result.rows else 1


def cmd_analyze(settings, args) -> int:
    """shopquery analyze QUERY"""
    from assistant.app import Assistant

    assistant = Assistant(settings)
    assistant.ensure_catalog()
    print(f"(loaded in {assistant.warm_up():.1f} s)", file=sys.stderr)
    analysis = assistant.analyze(args.query, user_id=args.user, k=args.k, mode=args.mode)
    if args.json:
        print(analysis.model_dump_json(indent=2))
        return 0
    from assistant.render import print_analysis

    print_analysis(analysis)
    return 0


def cmd_chat(settings, args) -> int:
    """shopquery chat"""
    from assistant.app import Assistant
    from assistant.render import chat_loop

    assistant = Assistant(settings)
    assistant.ensure_catalog()
    return chat_loop(assistant, max_tokens=args.max_tokens)


def cmd_eval(settings, args) -> int:
    """shopquery eval SUITE --data FILE [--catalog FILE] [--json]"""
    from eval.harness import run_suite

    result = run_suite(settings, args.suite, args.data, args.catalog, progress=not args.json, mode=args.mode)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")
    return 0


def cmd_add_term(settings, args) -> int:
    """shopquery add-term TERM... [--protected]"""
    from tools.spelling import remember_terms

    path = remember_terms(settings.data_dir, args.terms, protected=args.protected)
    print(f"saved {len(args.terms)} term(s) to {path}; the corrector uses them from its next load")
    return 0


def cmd_rebuild_spelling(settings, args) -> int:
    """shopquery rebuild-spelling [--query-log FILE]..."""
    from assistant.app import Assistant
    from tools.spelling import build_default_corrector, remember_query_logs

    assistant = Assistant(settings)
    assistant.ensure_catalog()
    if args.query_log:
        remember_query_logs(settings.data_dir, args.query_log)
    build_default_corrector(assistant.store.index.products, settings.data_dir, force=True)
    print("spelling dictionaries rebuilt")
    return 0


def cmd_train_intent(settings, args) -> int:
    """shopquery train-intent [--epochs N] [--max-minutes M] [--limit N] [--out DIR]"""
    from tools.intent import DEFAULT_DATA_DIR, train_intent

    out = args.out or settings.data_dir / "intent"
    metrics = train_intent(args.data_dir or DEFAULT_DATA_DIR, out, epochs=args.epochs,
                           max_minutes=args.max_minutes, progress=not args.quiet, limit=args.limit)
    print(json.dumps(metrics, indent=2))
    print(f"saved the intent classifier to {out}")
    return 0


COMMANDS = {"ingest": cmd_ingest, "analyze": cmd_analyze, "chat": cmd_chat, "demo": cmd_chat, "eval": cmd_eval,
            "add-term": cmd_add_term, "rebuild-spelling": cmd_rebuild_spelling,
            "train-intent": cmd_train_intent}

if __name__ == "__main__":
    sys.exit(main())
