"""Resident memory of the embedded stack, part by part: the lazy parts of an Assistant are loaded one at a time
and the growth of the process's resident set (RSS) is printed after each, then after a few conversation turns.

    .venv/bin/python -m eval.bench_memory [--turns 4] [--no-model] [--json]

Uses the configured data dir (the demo catalog is loaded if the store is empty). RSS counts the pages a process
has touched, so a part's figure is what loading it added to this process, in this order."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from assistant.app import Assistant
from assistant.settings import load_settings
from eval.bench_agent import current_rss_mb

MESSAGES = ["我想买件T恤", "蓝色的, 100块以内", "wireless mouse", "black ones under $40"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--turns", type=int, default=4, help="conversation turns played after loading (0: none)")
    p.add_argument("--no-model", action="store_true", help="leave the chat model out")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def peak_mb() -> float:
    """The highest resident memory this process has had, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parts(assistant: Assistant, use_model: bool, turns: int) -> list[tuple[str, Callable[[], Any]]]:
    """The steps, in load order: (name, what loads it)."""
    settings = assistant.settings
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("embedder (e5)", lambda: assistant.embedder.embed_queries(["warm up"])),
        ("catalog store + index", lambda: (assistant.ensure_catalog(progress=False), assistant.store.index)),
    ]
    if settings.parse_attributes:
        steps.append(("attribute parser", lambda: assistant.attribute_parser))
    if settings.correct_spelling:
        steps.append(("spell corrector", lambda: assistant.corrector))
    if settings.classify_intent:
        steps.append(("intent classifier", lambda: assistant.intent_classifier.predict("warm up")))
    if settings.uses_expander:
        steps.append(("expander + query log", lambda: _expander(assistant)))
    steps.append(("history + sessions", lambda: (assistant.history, assistant.sessions)))
    if use_model:
        steps.append(("chat model (llama.cpp)", lambda: assistant.chat_model.load()))
    if turns:
        steps.append((f"{turns} conversation turns", lambda: _turns(assistant, use_model, turns)))
    return steps


def _expander(assistant: Assistant) -> Any:
    expander = assistant.expander
    return expander.query_log.vectors if expander.query_log is not None else expander


def _turns(assistant: Assistant, use_model: bool, turns: int) -> None:
    from assistant.agent import Agent

    agent = Agent(assistant, use_model=use_model, reply_tokens=40)
    session = None
    for message in (MESSAGES * (turns // len(MESSAGES) + 1))[:turns]:
        session = agent.respond(message, session_id=session).session_id


def measure(use_model: bool, turns: int) -> dict[str, Any]:
    """Load the parts one by one; RSS after each, its growth, seconds, the peak and the final figure."""
    assistant = Assistant(load_settings())
    before = current_rss_mb()
    rows = [{"part": "python + imports + settings", "delta_mb": round(before), "rss_mb": round(before), "s": 0.0}]
    for name, load in parts(assistant, use_model, turns):
        start = time.perf_counter()
        load()
        now = current_rss_mb()
        rows.append({"part": name, "delta_mb": round(now - before), "rss_mb": round(now),
                     "s": round(time.perf_counter() - start, 2)})
        before = now
    return {"rows": rows, "rss_mb": round(current_rss_mb()), "peak_rss_mb": round(peak_mb())}


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print a table (or JSON)."""
    args = parse_args(argv)
    result = measure(not args.no_model, args.turns)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{'part':<32} {'+RSS MB':>8} {'RSS MB':>8} {'load s':>7}")
    for row in result["rows"]:
        print(f"{row['part']:<32} {row['delta_mb']:>8} {row['rss_mb']:>8} {row['s']:>7}")
    print(f"resident now {result['rss_mb']} MB; peak {result['peak_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
