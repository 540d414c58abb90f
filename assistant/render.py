"""Terminal output: the analysis table and the interactive chat loop."""

from __future__ import annotations

import sys

from assistant.chat import answer_question
from assistant.errors import InputError
from assistant.types import QueryAnalysis


def print_analysis(analysis: QueryAnalysis) -> None:
    """Print the products found and the time each stage took."""
    print(f"query: {analysis.query}")
    for note in analysis.notes:
        print(f"note: {note}")
    for i, hit in enumerate(analysis.products, start=1):
        p = hit.product
        price = f"{p.price:.2f} {p.currency or ''}".strip() if p.price is not None else "-"
        print(f"{i:>2}. [{p.id}] {p.title[:80]}  | {p.brand or '-'} | {p.category or '-'} | {price}")
    timings = ", ".join(f"{t.stage} {t.ms:.1f} ms" for t in analysis.timings)
    print(f"timings: {timings} (total {analysis.total_ms:.1f} ms)")


def chat_loop(assistant, max_tokens: int = 200) -> int:
    """Read questions from stdin and answer them until EOF or 'exit'."""
    from assistant.llm import describe_model

    print(f"shopquery chat — model: {describe_model(assistant.settings)}; "
          f"{assistant.store.count()} products. Type a question (exit to quit).")
    while True:
        try:
            question = input("> ")
        except EOFError:
            print()
            return 0
        if question.strip().lower() in {"exit", "quit", ":q"}:
            return 0
        if not question.strip():
            continue
        try:
            turn = answer_question(assistant, question, on_token=_write, max_tokens=max_tokens)
        except InputError as exc:
            print(f"(!) {exc}")
            continue
        if not turn.used_model:
            print(turn.reply)
        for note in turn.notes:
            print(f"(note: {note})", file=sys.stderr)
        print()


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
