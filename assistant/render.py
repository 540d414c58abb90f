"""Terminal output: the analysis table and the interactive chat loop. Catalog, shopper and model text is printed
through `plain`, so escape sequences or control characters inside it cannot drive the terminal."""

from __future__ import annotations

import json
import re
import sys

from tools.core.errors import InputError
from tools.core.types import QueryAnalysis

# ANSI/VT escape sequences (CSI, OSC, other ESC forms), then any remaining C0/C1 control character and the Unicode
# bidirectional overrides that can make text display differently from what it is
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(text: object, newlines: bool = False) -> str:
    """Text safe to print on a terminal: escape sequences and control characters removed (tabs become spaces;
    newlines are kept only when `newlines` is set)."""
    text = _ESCAPES.sub("", str(text)).replace("\t", " ")
    text = _CONTROLS.sub("", text)
    return text if newlines else text.replace("\n", " ")


def print_analysis(analysis: QueryAnalysis) -> None:
    """Print the products found and the time each stage took."""
    print(f"query: {plain(analysis.query)}")
    for note in analysis.notes:
        print(f"note: {plain(note)}")
    if analysis.product_kind:
        print(f"kind: {plain(analysis.product_kind)}")
    for i, hit in enumerate(analysis.products, start=1):
        p = hit.product
        price = f"{p.price:.2f} {p.currency or ''}".strip() if p.price is not None else "-"
        kind = hit.kind or p.category or "-"
        print(plain(f"{i:>2}. [{p.id}] {p.title[:80]}  | {p.brand or '-'} | {kind} | {price}"))
    timings = ", ".join(f"{t.stage} {t.ms:.1f} ms" for t in analysis.timings)
    print(f"timings: {timings} (total {analysis.total_ms:.1f} ms)")


def print_trace(turn) -> None:
    """The turn's tool calls, model calls and fallbacks, one line each (to stderr)."""
    for step in turn.trace:
        args = json.dumps(step.args, ensure_ascii=False)[:160] if step.args else ""
        outcome = f"error: {step.error}" if step.error else (step.result or "")
        who = "model" if step.source == "model" else step.kind
        print(plain(f"  [{who}] {step.name} {args} -> {outcome} ({step.ms:.0f} ms)"), file=sys.stderr)
    first = f"first token {turn.first_token_ms:.0f} ms, " if turn.first_token_ms is not None else ""
    print(f"  ({first}turn {turn.total_ms:.0f} ms)", file=sys.stderr)


def print_products(turn) -> None:
    """The products of a turn as structured lines: id, title, price, brand, and why it is shown."""
    for i, card in enumerate(turn.products, start=1):
        price = f"{card.price:.2f} {card.currency or ''}".strip() if card.price is not None else "-"
        reason = f" — {card.reason}" if card.reason else ""
        print(plain(f"  {i}. [{card.id}] {card.title[:70]} | {card.brand or '-'} | {price}{reason}"))
    if turn.suggestions:
        print(plain("  try: " + " · ".join(s.label for s in turn.suggestions)))


HELP = "commands: /new (new conversation), /users (demo shoppers), /user ID (shop as one), /trace on|off, exit"


def chat_loop(assistant, max_tokens: int = 200, user_id: str | None = None, trace: bool = True) -> int:
    """Converse on stdin/stdout until EOF or 'exit': the reply streams, then the products and the trace."""
    from assistant.agent import Agent
    from assistant.llm import describe_model

    agent = Agent(assistant, reply_tokens=max_tokens)
    print(f"shopquery chat — model: {describe_model(assistant.settings)}; "
          f"{assistant.store.count()} products. Type a question. {HELP}")
    session_id: str | None = None
    while True:
        try:
            message = input("> ")
        except EOFError:
            print()
            return 0
        command = message.strip()
        if command.lower() in {"exit", "quit", ":q"}:
            return 0
        if not command:
            continue
        if command.startswith("/"):
            session_id, user_id, trace = _command(command, session_id, user_id, trace)
            continue
        try:
            turn = agent.respond(message, session_id=session_id, user_id=user_id, on_token=_write)
        except InputError as exc:
            print(plain(f"(!) {exc}"))
            continue
        session_id = turn.session_id
        print()
        if turn.reply_replaced:
            print(plain(f"(the model's reply was replaced: {turn.fallback})"), file=sys.stderr)
        print_products(turn)
        for note in turn.notes:
            print(plain(f"(note: {note})"), file=sys.stderr)
        if trace:
            print_trace(turn)
        print()


def _command(command: str, session_id: str | None, user_id: str | None,
             trace: bool) -> tuple[str | None, str | None, bool]:
    name, _, arg = command.partition(" ")
    if name == "/new":
        print("(new conversation)")
        return None, user_id, trace
    if name == "/user":
        print(f"(shopping as {arg.strip() or 'a guest'}; new conversation)")
        return None, arg.strip() or None, trace
    if name == "/users":
        from tools.demo_users import load_demo_users

        for user in load_demo_users():
            print(f"  {user.id}: {user.description['en']} / {user.description['zh']}")
        return session_id, user_id, trace
    if name == "/trace":
        return session_id, user_id, arg.strip().lower() != "off"
    print(HELP)
    return session_id, user_id, trace


def _write(text: str) -> None:
    sys.stdout.write(plain(text, newlines=True))
    sys.stdout.flush()
