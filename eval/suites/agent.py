"""Agent suite: data lines {"messages": [{"role": "user", "content": ...}, ...], "user_id": optional,
"expect": {...}}. The user turns are played in order in one session; `expect` applies to the last turn:

- tools_called: tool names that must appear in the last turn's trace
- tools_not_called: names that must not appear anywhere in the last turn's trace (tools and model steps)
- intent: the predicted intent label of the last message
- product_constraints: color, brand, price_min, price_max, category_contains — every returned product must meet them
- min_products: at least this many products
- reply_language: zh or en
- reply_contains_any: the reply contains at least one of these strings
- reply_not_contains: the reply contains none of these strings (case-insensitive)
- action: what the last turn did (search, compare, product_info, clarify, service, smalltalk)
- kind_pattern / not_kind_pattern: a regex that every product's title or category must match / none may match
  (the kind of product the shopper named, e.g. a keyboard and not a keyboard cover)
- field_below_previous / field_above_previous: a product field (weight_g, screen_size_in, storage_gb, price)
  that every product must have, below (above) the median of the previous turn's products' values
- reply_grounded: the reply passes the reply checks against the shown products (no price, claim or language
  that the product data and the conversation do not give)
- suggestions_language: every chip is in this language (zh: has Chinese, en: none)

A case with `"via": "messages"` plays the earlier user turns as history sent with the last message (as an
OpenAI-compatible client does): the agent rebuilds the conversation from them without a stored session.

Metrics: pass rate (and per check), tool-call validity (model-written calls whose arguments validated), fallback
rate, answered rate (products, a clarifying question or an answer), latency per turn and to the first token."""

from __future__ import annotations

import re
import statistics
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from eval.datasets import Dataset
from eval.metrics import percentile
from eval.records import CaseCallback, CaseRecord, SuiteResult, case_id, error_text, notify
from tools.colors import canonical_color, color_in_title
from tools.text import has_cjk

NAME = "agent"
NEEDS_CATALOG = True


class Message(BaseModel):
    """One message of the conversation (only user turns are played)."""

    role: Literal["user", "assistant", "system"]
    content: str


class ProductConstraints(BaseModel):
    """What every product of the last reply must satisfy."""

    model_config = ConfigDict(extra="forbid")

    color: str | None = None
    brand: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    category_contains: str | None = None
    exclude_brand: str | None = None


class Expect(BaseModel):
    """Checks on the last reply (all optional)."""

    model_config = ConfigDict(extra="forbid")

    tools_called: list[str] = Field(default_factory=list)
    tools_not_called: list[str] = Field(default_factory=list)
    intent: str | None = None
    product_constraints: ProductConstraints | None = None
    min_products: int | None = Field(default=None, ge=0)
    reply_language: Literal["zh", "en"] | None = None
    reply_contains_any: list[str] = Field(default_factory=list)
    reply_not_contains: list[str] = Field(default_factory=list)
    action: str | None = None
    kind_pattern: str | None = None
    not_kind_pattern: str | None = None
    field_below_previous: str | None = None
    field_above_previous: str | None = None
    reply_grounded: bool = False
    suggestions_language: Literal["zh", "en"] | None = None


class Case(BaseModel):
    """One conversation with expectations on its last turn."""

    id: str | None = None
    messages: list[Message] = Field(min_length=1)
    user_id: str | None = None
    expect: Expect = Field(default_factory=Expect)
    via: Literal["session", "messages"] = "session"


def product_problem(card: Any, rule: ProductConstraints) -> str | None:
    """Why a returned product breaks the constraints (None when it meets them)."""
    if rule.color:
        colour = canonical_color(card.color) or color_in_title(card.title)
        if colour != canonical_color(rule.color):
            return f"{card.id} colour {colour or 'none'} != {rule.color}"
    if rule.brand:
        brand = (card.brand or "").lower()
        if rule.brand.lower() not in brand and rule.brand.lower() not in card.title.lower():
            return f"{card.id} brand {card.brand} != {rule.brand}"
    if rule.price_min is not None and (card.price is None or card.price < rule.price_min):
        return f"{card.id} price {card.price} < {rule.price_min}"
    if rule.price_max is not None and (card.price is None or card.price > rule.price_max):
        return f"{card.id} price {card.price} > {rule.price_max}"
    if rule.category_contains:
        needle = rule.category_contains.lower()
        if needle not in (card.category or "").lower() and needle not in card.title.lower():
            return f"{card.id} category {card.category} lacks {rule.category_contains!r}"
    if rule.exclude_brand and rule.exclude_brand.lower() in f"{card.brand or ''} {card.title}".lower():
        return f"{card.id} is {rule.exclude_brand}"
    return None


def _kind_checks(turn: Any, expect: Expect) -> dict[str, str | None]:
    """The kind of product: every title/category matches the pattern, none the accessory pattern."""
    out: dict[str, str | None] = {}
    if expect.kind_pattern:
        wanted = re.compile(expect.kind_pattern, re.I)
        off = [c.id for c in turn.products if not wanted.search(f"{c.title} {c.category or ''}")]
        out["kind"] = f"not of the kind: {off[:3]}" if off else (None if turn.products else "no products")
    if expect.not_kind_pattern:
        banned = re.compile(expect.not_kind_pattern, re.I)
        off = [c.id for c in turn.products if banned.search(f"{c.title} {c.category or ''}")]
        out["not_kind"] = f"accessories or other kinds: {off[:3]}" if off else None
    return out


# a screen size its title states ('24-inch', '27 inch', '23.8"'): read here on its own, not by the product's parser
_TITLE_INCHES = re.compile(r"(?<![\d.])(\d{1,2}(?:\.\d)?)\s*(?:-\s*inch|\s?inch(?:es)?\b|\"|″)", re.I)


def field_value(card: Any, name: str) -> float | None:
    """A product's number for a comparative check: price, a numeric attribute, or a screen size in its title."""
    value = card.price if name == "price" else (card.attributes or {}).get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if name == "screen_size_in" and (m := _TITLE_INCHES.search(getattr(card, "title", "") or "")):
        return float(m.group(1))
    return None


def _comparative_checks(turn: Any, previous: Any, expect: Expect) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, name, below in (("field_below_previous", expect.field_below_previous, True),
                             ("field_above_previous", expect.field_above_previous, False)):
        if not name:
            continue
        before = [v for v in (field_value(c, name) for c in (previous.products if previous else [])) if v is not None]
        if not before:
            out[key] = f"the previous turn showed no {name}"
            continue
        line = statistics.median(before)
        now = [field_value(c, name) for c in turn.products]
        bad = [c.id for c, v in zip(turn.products, now, strict=True)
               if v is None or (v >= line if below else v <= line)]
        out[key] = (f"{bad[:3]} not {'below' if below else 'above'} {line:g} {name}" if bad else
                    None if turn.products else "no products")
    return out


def _grounding_check(turn: Any, said: list[str]) -> str | None:
    """Why the reply is not grounded in the shown products and the conversation (None when it is)."""
    from assistant.reply_checks import reply_problem
    from tools.core.types import Product

    products = [Product(id=c.id, title=c.title, brand=c.brand, category=c.category, price=c.price,
                        currency=c.currency, color=c.color) for c in turn.products]
    context = " ".join([*said, (turn.filters.model_dump_json() if turn.filters else "")])
    return reply_problem(turn.reply, turn.lang, products, context)


def _tool_checks(turn: Any, expect: Expect) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    if expect.tools_called:
        called = turn.tools_called()
        missing = [t for t in expect.tools_called if t not in called]
        out["tools_called"] = f"missing {missing} (called {called})" if missing else None
    if expect.tools_not_called:
        seen = [s.name for s in turn.trace]
        banned = [t for t in expect.tools_not_called if t in seen]
        out["tools_not_called"] = f"called {banned}" if banned else None
    return out


def _reply_checks(turn: Any, expect: Expect) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    reply = turn.reply.lower()
    if expect.reply_language:
        lang = "zh" if has_cjk(turn.reply) else "en"
        out["reply_language"] = None if lang == expect.reply_language else f"reply in {lang}"
    if expect.reply_contains_any:
        hit = any(s.lower() in reply for s in expect.reply_contains_any)
        out["reply_contains_any"] = None if hit else "none of the strings in the reply"
    if expect.reply_not_contains:
        found = [s for s in expect.reply_not_contains if s.lower() in reply]
        out["reply_not_contains"] = f"reply contains {found}" if found else None
    return out


def check(turn: Any, expect: Expect, previous: Any = None, said: list[str] | None = None) -> dict[str, str | None]:
    """Each expectation -> None when met, else why not (`previous`: the turn before; `said`: the user turns)."""
    out = _tool_checks(turn, expect)
    if expect.action:
        out["action"] = None if turn.action == expect.action else f"action {turn.action} != {expect.action}"
    out.update(_kind_checks(turn, expect))
    out.update(_comparative_checks(turn, previous, expect))
    if expect.reply_grounded:
        out["reply_grounded"] = _grounding_check(turn, said or [turn.message])
    if expect.suggestions_language:
        off = [s.label for s in turn.suggestions if has_cjk(s.label) != (expect.suggestions_language == "zh")]
        out["suggestions_language"] = f"chips in another language: {off[:3]}" if off else None
    if expect.intent:
        out["intent"] = None if turn.intent == expect.intent else f"intent {turn.intent} != {expect.intent}"
    if expect.min_products is not None:
        n = len(turn.products)
        out["min_products"] = None if n >= expect.min_products else f"{n} products < {expect.min_products}"
    if expect.product_constraints is not None:
        problems = [p for p in (product_problem(c, expect.product_constraints) for c in turn.products) if p]
        out["product_constraints"] = "; ".join(problems[:3]) or None
    out.update(_reply_checks(turn, expect))
    return out


class _Tally:
    """Counts over every played turn (for the aggregate metrics)."""

    def __init__(self) -> None:
        self.turn_ms: list[float] = []
        self.first_ms: list[float] = []
        self.turns = self.fallbacks = self.answered = self.model_turns = 0
        self.calls_valid = self.calls_total = 0
        self.rewrite_asked = self.rewrite_used = 0
        self.reasons: dict[str, int] = {}

    def add(self, turn: Any, ms: float) -> None:
        """Count one turn."""
        self.turn_ms.append(ms)
        if turn.first_token_ms is not None:
            self.first_ms.append(turn.first_token_ms)
        self.turns += 1
        self.answered += bool(turn.products or turn.clarification or turn.reply.strip())
        self.model_turns += any(s.kind == "model" for s in turn.trace)
        self.fallbacks += turn.fallback is not None
        if turn.fallback:
            key = turn.fallback.split("(")[0].strip()
            self.reasons[key] = self.reasons.get(key, 0) + 1
        model_calls = [s for s in turn.trace if s.kind == "model" and s.name == "search_catalog"]
        self.calls_total += len(model_calls)
        self.calls_valid += sum(1 for s in model_calls if s.error is None)
        self.rewrite_asked += bool(model_calls)
        rejected = any(s.kind == "note" and s.name == "rewrite_rejected" for s in turn.trace)
        self.rewrite_used += any(s.error is None for s in model_calls) and not rejected


def _output(turn: Any) -> dict[str, Any]:
    """What the last turn produced, as recorded in the run."""
    return {
        "reply": turn.reply, "products": [c.id for c in turn.products], "intent": turn.intent,
        "action": turn.action, "tools_called": turn.tools_called(), "used_model": turn.used_model,
        "fallback": turn.fallback,
        "model_calls": [{"name": s.name, "args": s.args, "error": s.error} for s in turn.trace if s.kind == "model"],
    }


def _play(agent: Any, case: Case, tally: _Tally) -> tuple[Any, Any]:
    """Play the user turns; the last turn and the one before it (None when there is none)."""
    said = [m.content for m in case.messages if m.role == "user"]
    if not said:
        raise ValueError("the conversation has no user message")
    if case.via == "messages":
        return _play_history(agent, case, said, tally), None
    session = None
    last = previous = None
    for text in said:
        start = time.perf_counter()
        previous, last = last, agent.respond(text, session_id=session, user_id=case.user_id)
        tally.add(last, (time.perf_counter() - start) * 1000)
        session = last.session_id
    return last, previous


def _play_history(agent: Any, case: Case, said: list[str], tally: _Tally) -> Any:
    """The last user turn with the earlier ones as history and no stored session (an OpenAI-style client)."""
    history = [(m.role, m.content) for m in case.messages[:-1] if m.role in ("user", "assistant")]
    start = time.perf_counter()
    respond_with = getattr(agent, "respond_with_history", None)
    if respond_with is not None:
        last = respond_with(said[-1], history, user_id=case.user_id)
    else:  # an agent that cannot read history answers the last message alone
        last = agent.respond(said[-1], user_id=case.user_id)
    tally.add(last, (time.perf_counter() - start) * 1000)
    return last


def run_case(agent: Any, case: Case, index: int, tally: _Tally) -> CaseRecord:
    """Play one conversation and score its last turn; an exception becomes a failed record."""
    base = {"id": case_id(case, index, NAME), "input": [m.content for m in case.messages if m.role == "user"],
            "expected": case.expect.model_dump(exclude_defaults=True)}
    start = time.perf_counter()
    try:
        last, previous = _play(agent, case, tally)
    except Exception as exc:  # noqa: BLE001 - a broken case is recorded and the run goes on
        return CaseRecord(**base, passed=False, error=error_text(exc),
                          latency_ms=round((time.perf_counter() - start) * 1000, 1))
    results = check(last, case.expect, previous, base["input"])
    labels = {"expected": case.expect.intent, "predicted": last.intent} if case.expect.intent else {}
    return CaseRecord(**base, passed=all(p is None for p in results.values()),
                      scores={k: v is None for k, v in results.items()},
                      latency_ms=round((time.perf_counter() - start) * 1000, 1), output=_output(last),
                      labels=labels, failures=[f"{k}: {v}" for k, v in results.items() if v])


def _metrics(records: list[CaseRecord], tally: _Tally, agent: Any, use_model: bool) -> dict[str, Any]:
    n = len(records)
    per_check: dict[str, list[bool]] = {}
    for r in records:
        for name, ok in r.scores.items():
            per_check.setdefault(name, []).append(bool(ok))
    failures = [{"id": r.id, "error": r.error} if r.error else
                {"id": r.id, "problems": dict(f.split(": ", 1) for f in r.failures)}
                for r in records if not r.passed]
    t = tally
    return {
        "cases": n, "pass_rate": round(sum(r.passed for r in records) / n, 3) if n else 0.0,
        "failed": sum(r.error is not None for r in records), "turns": t.turns,
        **{f"check_{k}": round(sum(v) / len(v), 3) for k, v in sorted(per_check.items())},
        "tool_call_validity": round(t.calls_valid / t.calls_total, 3) if t.calls_total else None,
        "model_tool_calls": t.calls_total,
        "model_rewrite_turns": t.rewrite_asked, "model_rewrite_used": t.rewrite_used,
        "fallback_rate": round(t.fallbacks / t.model_turns, 3) if t.model_turns else 0.0,
        "fallback_reasons": dict(sorted(t.reasons.items(), key=lambda kv: -kv[1])),
        "answered_rate": round(t.answered / t.turns, 3) if t.turns else 0.0,
        "turn_p50_ms": round(percentile(t.turn_ms, 50), 1) if t.turn_ms else None,
        "turn_p95_ms": round(percentile(t.turn_ms, 95), 1) if t.turn_ms else None,
        "first_token_p50_ms": round(percentile(t.first_ms, 50), 1) if t.first_ms else None,
        "first_token_p95_ms": round(percentile(t.first_ms, 95), 1) if t.first_ms else None,
        "use_model": use_model, "tool_calls": agent.tool_calls,
        "failures": failures,
    }


def run_cases(assistant: Any, dataset: Dataset, use_model: bool = True, tool_calls: str | None = None,
              on_case: CaseCallback | None = None, **_: Any) -> SuiteResult:
    """Play every conversation; per-case records plus pass rates, validity, fallback and latency figures."""
    from assistant.agent import Agent

    agent = Agent(assistant, use_model=use_model, tool_calls=tool_calls)  # type: ignore[arg-type]
    if any((c.user_id or "").startswith("demo-") for c in dataset.cases):
        assistant.ensure_demo_users()  # the demo shoppers' synthetic histories, reset before every run
    tally = _Tally()
    records = [notify(on_case, run_case(agent, case, i, tally)) for i, case in enumerate(dataset.cases)]
    return SuiteResult(metrics=_metrics(records, tally, agent, use_model), cases=records)


def run(assistant: Any, dataset: Dataset, progress: bool = False, use_model: bool = True,
        tool_calls: str | None = None, **options: Any) -> dict[str, Any]:
    """Play every conversation; return pass rates, validity, fallback and latency figures."""
    return run_cases(assistant, dataset, use_model=use_model, tool_calls=tool_calls, **options).metrics
