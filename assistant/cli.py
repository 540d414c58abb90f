"""The `shopquery` command line: ingest, analyze, chat, demo, eval, serve, ui, history, training and spelling.

Exit codes: 0 ok; 1 a check failed (nothing could be loaded, an eval comparison found a regression); 2 usage (a bad
option, argument, input or setting); 3 runtime error (a store, database or model that cannot be used); 130
interrupted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.cli_help import (  # noqa: F401 - the exit codes are part of this module's API
    EXIT_CODES,
    EXIT_FAILED_CHECK,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNTIME,
    EXIT_USAGE,
    HelpFormatter,
    settings_epilog,
    version,
)
from tools.core.errors import ConfigError, InputError, ShopqueryError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopquery", description="Query assistant for e-commerce search.",
                                     epilog=settings_epilog(), formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"shopquery {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="load a catalog file (JSONL/CSV/TSV/XLSX) into the store",
                       formatter_class=HelpFormatter, epilog=EXIT_CODES)
    p.add_argument("file", type=Path, help="the catalog: JSONL, CSV or TSV in any common encoding, or .xlsx")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--show-errors", type=int, default=50, metavar="N", help="print at most N bad rows")

    p = sub.add_parser("analyze", help="the fast path: search one query, with timings", formatter_class=HelpFormatter)
    p.add_argument("query", help="the shopper's query, Chinese or English")
    p.add_argument("--user", default=None, help="the shopper id (re-ranks by their history)")
    p.add_argument("-k", type=int, default=10, help="how many products to show")
    p.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid", help="retrieval mode")
    p.add_argument("--json", action="store_true", help="print the QueryAnalysis as JSON")

    for name, text in (("chat", "chat in the terminal"),
                       ("demo", "load the demo catalog if needed, then chat in the terminal")):
        p = sub.add_parser(name, help=text, formatter_class=HelpFormatter)
        p.add_argument("--max-tokens", type=int, default=200, help="the longest model reply, in tokens")
        p.add_argument("--user", default=None, help="shop as this user (demo users: see `history show`)")
        p.add_argument("--no-trace", action="store_true", help="do not print tool calls after each reply")

    p = sub.add_parser("add-term", help="teach the spell corrector terms (brands, product names)",
                       formatter_class=HelpFormatter)
    p.add_argument("terms", nargs="+", help="the terms, e.g. a brand the corrector must know")
    p.add_argument("--protected", action="store_true", help="never change these terms")
    p = sub.add_parser("rebuild-spelling", help="rebuild the spelling dictionaries from the catalog and query logs",
                       formatter_class=HelpFormatter)
    p.add_argument("--query-log", type=Path, action="append", default=[], metavar="FILE",
                   help="id<TAB>query lines, one query per line, or JSONL with \"query\"; repeatable")

    p = sub.add_parser("train-intent", help="fine-tune the intent classifier on the bundled zh+en data",
                       formatter_class=HelpFormatter)
    p.add_argument("--data-dir", type=Path, default=None, help="folder with intent_train.jsonl and intent_dev.jsonl")
    p.add_argument("--out", type=Path, default=None, help="checkpoint folder (default: DATA_DIR/intent)")
    p.add_argument("--epochs", type=int, default=3, help="passes over the training data")
    p.add_argument("--max-minutes", type=float, default=9.0, help="stop training after this long")
    p.add_argument("--limit", type=int, default=None, help="train on at most N examples")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    _add_eval_parser(sub)
    _add_history_parser(sub)
    _add_ui_parser(sub)
    _add_serve_parser(sub)
    return parser


def _add_eval_parser(sub) -> None:
    """`shopquery eval run|compare|history|SUITE_KIND` (the sub-commands are defined in eval/commands.py)."""
    from eval.commands import add_eval_subcommands

    p = sub.add_parser("eval", help="evaluate: run suite files (run), compare runs (compare), list past runs "
                                    "(history), or one suite kind on one dataset",
                       description="Eval harness: `eval run SUITE_OR_DIR`, `eval compare RUN_A RUN_B`, "
                                   "`eval history SUITE`, or `eval SUITE_KIND --data FILE`. "
                                   "`shopquery eval COMMAND -h` shows each one's options.",
                       formatter_class=HelpFormatter)
    add_eval_subcommands(p)


def _add_history_parser(sub) -> None:
    """`shopquery history record|show|seed-demo`."""
    p = sub.add_parser("history", help="record and inspect shopper history (events, profile, demo shoppers)",
                       formatter_class=HelpFormatter)
    hist = p.add_subparsers(dest="history_command", required=True)
    r = hist.add_parser("record", help="record one event", formatter_class=HelpFormatter)
    r.add_argument("--user", required=True, help="the shopper id")
    r.add_argument("--type", required=True, choices=["search", "view", "click", "add_to_cart", "purchase"],
                   help="what the shopper did")
    r.add_argument("--product", default=None, help="product id (every type but search)")
    r.add_argument("--query", default=None, help="the query typed (search)")
    s = hist.add_parser("show", help="a shopper's profile and latest events", formatter_class=HelpFormatter)
    s.add_argument("user", help="the shopper id")
    s.add_argument("-n", type=int, default=10, help="how many latest events to list")
    s.add_argument("--json", action="store_true", help="print the profile and events as JSON")
    hist.add_parser("seed-demo", help="give the demo shoppers their synthetic histories (re-seeding resets them)",
                    formatter_class=HelpFormatter)


def _add_serve_parser(sub) -> None:
    """`shopquery serve`: the HTTP API."""
    p = sub.add_parser("serve", help="serve the HTTP API (analyze, chat, OpenAI-compatible chat, events)",
                       formatter_class=HelpFormatter)
    p.add_argument("--host", default=None, help="address to bind (default: SHOPQUERY_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: SHOPQUERY_API_PORT, 8080)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="the least severe log lines written (format: SHOPQUERY_LOG_FORMAT)")


def _add_ui_parser(sub) -> None:
    """`shopquery ui`: the Gradio chat widget."""
    p = sub.add_parser("ui", help="the chat widget in the browser (Gradio), on 127.0.0.1 by default",
                       formatter_class=HelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    p.add_argument("--user", default=None, help="start as this shopper (demo users are listed in the page)")
    p.add_argument("--concurrency", type=int, default=1, metavar="N",
                   help="turns answered at once (1 for the embedded model; more for a model server)")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        from assistant.settings import load_settings

        settings = load_settings()
        return COMMANDS[args.command](settings, args)
    except (InputError, ConfigError) as exc:
        print(f"shopquery: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ShopqueryError as exc:
        print(f"shopquery: error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def cmd_ingest(settings, args) -> int:
    """shopquery ingest FILE"""
    from assistant.app import Assistant

    if not args.file.is_file():
        print(f"shopquery: error: catalog file not found: {args.file}", file=sys.stderr)
        return EXIT_USAGE
    result = Assistant(settings).ingest(args.file, progress=not args.quiet)
    for err in result.errors[: args.show_errors]:
        print(f"{args.file}:{err.line}: skipped: {err.reason}", file=sys.stderr)
    if result.skipped > args.show_errors:
        print(f"... and {result.skipped - args.show_errors} more bad rows", file=sys.stderr)
    print(result.summary())
    return EXIT_OK if result.loaded or not result.rows else EXIT_FAILED_CHECK


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
    loaded = assistant.ensure_catalog()
    if args.command == "demo" or loaded is not None:
        try:
            seeded = assistant.ensure_demo_users()
            if any(seeded.values()):
                print(f"(seeded {sum(seeded.values())} synthetic history events for {len(seeded)} demo users)",
                      file=sys.stderr)
        except ShopqueryError as exc:
            print(f"(demo users not available: {exc})", file=sys.stderr)
    print(f"(loaded in {assistant.warm_up(model=True):.1f} s)", file=sys.stderr)
    return chat_loop(assistant, max_tokens=args.max_tokens, user_id=args.user, trace=not args.no_trace)


def cmd_eval(settings, args) -> int:
    """shopquery eval run|compare|history|SUITE_KIND ... (see eval/commands.py)"""
    from eval.commands import cmd_eval as run_eval_command

    return run_eval_command(settings, args)


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


def cmd_history(settings, args) -> int:
    """shopquery history record|show|seed-demo"""
    from tools.history import HistoryStore

    history = HistoryStore.from_settings(settings)
    try:
        return HISTORY_COMMANDS[args.history_command](settings, history, args)
    finally:
        history.close()


def _history_record(settings, history, args) -> int:
    event_id = history.record({"user_id": args.user, "type": args.type, "product_id": args.product,
                               "query": args.query})
    print(f"recorded event {event_id} ({args.type}) for {args.user}")
    return 0


def _product_lookup(settings):
    """Products by id from the catalog store's index, or the bundled demo catalog before anything is ingested."""
    from assistant.app import DEMO_CATALOG
    from tools.catalog_store import LexicalIndex
    from tools.core.types import Product

    try:
        index, _ = LexicalIndex.load(settings.catalog_dir / "index")
        return {p.id: p for p in index.products}
    except (OSError, ValueError, KeyError):
        print("(no catalog store yet: product details come from the bundled demo catalog)", file=sys.stderr)
        with DEMO_CATALOG.open(encoding="utf-8") as fh:
            return {p.id: p for p in (Product.model_validate_json(line) for line in fh)}


def _history_show(settings, history, args) -> int:
    products = _product_lookup(settings)
    profile = history.profile(args.user, products)
    events = history.events(args.user, args.n)
    if args.json:
        print(json.dumps({"profile": profile.model_dump(mode="json"),
                          "events": [e.model_dump(mode="json") for e in events]}, ensure_ascii=False, indent=2))
        return 0
    if profile.is_empty:
        print(f"{args.user}: no history")
        return 0
    print(f"{args.user}: {profile.event_count} events")
    print("  recent queries: " + ", ".join(profile.recent_queries))
    for label, prefs in (("brands", profile.preferred_brands), ("categories", profile.preferred_categories)):
        print(f"  {label}: " + ", ".join(f"{p.name} ({p.weight:.2f}{', bought' if p.purchased else ''})"
                                         for p in prefs))
    for band in profile.price_bands.values():
        print(f"  price band {band.currency}: {band.low:g}-{band.high:g} (median {band.median:g}, {band.n} products)")
    for e in events:
        target = e.query if e.type == "search" else f"{e.product_id} {products[e.product_id].title[:50]}" \
            if e.product_id in products else e.product_id
        print(f"  {e.ts:%Y-%m-%d %H:%M} {e.type.value:<11} {target}")
    return 0


def _history_seed_demo(settings, history, args) -> int:
    from assistant.app import DEMO_CATALOG
    from tools.core.types import Product
    from tools.demo_users import load_demo_users, seed_demo_users

    with DEMO_CATALOG.open(encoding="utf-8") as fh:
        products = [Product.model_validate_json(line) for line in fh]
    counts = seed_demo_users(history, products)
    for user in load_demo_users():
        print(f"{user.id:<16} {counts[user.id]:>3} events  {user.description['en']}")
    print(f"seeded {len(counts)} demo shoppers with synthetic events into {history.display_url}")
    return 0


def cmd_serve(settings, args) -> int:
    """shopquery serve [--host H] [--port P]"""
    from assistant.api import serve

    serve(settings, host=args.host, port=args.port, log_level=args.log_level)
    return 0


HISTORY_COMMANDS = {"record": _history_record, "show": _history_show, "seed-demo": _history_seed_demo}


COMMANDS = {"ingest": cmd_ingest, "analyze": cmd_analyze, "chat": cmd_chat, "demo": cmd_chat, "eval": cmd_eval,
            "add-term": cmd_add_term, "rebuild-spelling": cmd_rebuild_spelling,
            "train-intent": cmd_train_intent, "history": cmd_history,
            "serve": cmd_serve}

def cmd_ui(settings, args) -> int:
    """shopquery ui [--host 127.0.0.1] [--port 7860] [--user ID]"""
    from assistant.app import Assistant
    from assistant.ui import launch

    assistant = Assistant(settings)
    loaded = assistant.ensure_catalog()
    _ensure_demo_histories(assistant, force=loaded is not None)
    print(f"(loaded in {assistant.warm_up(model=True):.1f} s)", file=sys.stderr)
    launch(assistant, host=args.host, port=args.port, user_id=args.user, concurrency=max(1, args.concurrency))
    return 0


def _ensure_demo_histories(assistant, force: bool) -> None:
    """Give the demo shoppers their synthetic histories when none of them has one yet (or `force`)."""
    from tools.demo_users import load_demo_users

    try:
        if not force and any(assistant.history.events(u.id, 1) for u in load_demo_users()):
            return
        seeded = assistant.ensure_demo_users()
        print(f"(seeded {sum(seeded.values())} synthetic history events for {len(seeded)} demo users)",
              file=sys.stderr)
    except ShopqueryError as exc:
        print(f"(demo users not available: {exc})", file=sys.stderr)


COMMANDS["ui"] = cmd_ui

if __name__ == "__main__":
    sys.exit(main())
